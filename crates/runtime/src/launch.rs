//! What to start: the program, its arguments, its whole environment and its directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dotenv;
use crate::error::RuntimeError;

/// A resolved launch description. The environment is complete: the keeper clears its own
/// and gives the instance exactly this one, so a keeper started long ago never leaks stale
/// variables into a new instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// Program and arguments; a shell string is `["/bin/sh", "-c", script]`.
    pub argv: Vec<String>,
    /// The instance's entire environment.
    pub env: BTreeMap<String, String>,
    /// Working directory; `None` keeps the keeper's.
    pub workdir: Option<PathBuf>,
}

impl Launch {
    /// A launch of this argv with an empty environment.
    pub fn new<I, S>(argv: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Launch {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Launch::default()
        }
    }

    /// A launch of a stack file's command (exec form, or a string through `/bin/sh -c`).
    pub fn from_command(command: &orco_spec::Command) -> Launch {
        Launch::new(command.argv())
    }

    /// Adds this process's own environment (UTF-8 variables only), under what is set already.
    pub fn inherit_env(mut self) -> Launch {
        for (k, v) in std::env::vars() {
            self.env.entry(k).or_insert(v);
        }
        self
    }

    /// Sets one variable, replacing an earlier value.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Launch {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Reads env files in order (later files win) and sets their variables; then `explicit`
    /// is set over them, as a service's `env` wins over its `envFromFile`.
    pub fn env_files(
        mut self,
        files: &[impl AsRef<Path>],
        explicit: &BTreeMap<String, String>,
    ) -> Result<Launch, RuntimeError> {
        for file in files {
            for (k, v) in dotenv::read(file.as_ref())? {
                self.env.insert(k, v);
            }
        }
        for (k, v) in explicit {
            self.env.insert(k.clone(), v.clone());
        }
        Ok(self)
    }

    /// Sets the working directory.
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Launch {
        self.workdir = Some(dir.into());
        self
    }

    /// The program to run; an error for an empty argv.
    pub fn program(&self) -> Result<&str, RuntimeError> {
        self.argv
            .first()
            .map(String::as_str)
            .ok_or(RuntimeError::EmptyCommand)
    }
}

/// Checks an instance name: 1-128 of `[A-Za-z0-9._-]`, not starting with `.`
/// (it names a directory in the keeper's state).
pub fn check_instance_name(name: &str) -> Result<(), RuntimeError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::BadInstanceName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_string_runs_through_bin_sh() {
        let launch = Launch::from_command(&orco_spec::Command::Shell("echo hi".into()));
        assert_eq!(launch.argv, vec!["/bin/sh", "-c", "echo hi"]);
        let launch = Launch::from_command(&orco_spec::Command::Exec(vec!["a".into(), "b".into()]));
        assert_eq!(launch.argv, vec!["a", "b"]);
    }

    #[test]
    fn explicit_env_wins_over_env_files_and_later_files_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.env");
        std::fs::write(&a, "X=a\nY=a\nZ=a\n").expect("write");
        std::fs::write(&b, "Y=b\nZ=b\n").expect("write");
        let explicit = BTreeMap::from([("Z".to_string(), "explicit".to_string())]);
        let launch = Launch::new(["true"])
            .env_files(&[&a, &b], &explicit)
            .expect("files exist");
        assert_eq!(launch.env["X"], "a");
        assert_eq!(launch.env["Y"], "b");
        assert_eq!(launch.env["Z"], "explicit");
    }

    #[test]
    fn a_missing_env_file_is_an_error_naming_it() {
        let err = Launch::new(["true"])
            .env_files(&["/nonexistent/x.env"], &BTreeMap::new())
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/x.env"));
    }

    #[test]
    fn instance_names_that_could_escape_the_state_directory_are_refused() {
        assert!(check_instance_name("web-0").is_ok());
        assert!(check_instance_name("job.task_1").is_ok());
        for bad in ["", "..", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(check_instance_name(bad).is_err(), "{bad}");
        }
    }
}

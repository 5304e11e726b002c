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
    /// Working directory; `None` keeps the keeper's (for a container: the image's).
    pub workdir: Option<PathBuf>,
    /// Run a container of this image instead of a local process (the docker runtime); an
    /// empty `argv` then keeps the image's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
}

/// What a container instance needs beyond argv, environment and workdir.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The image, e.g. `busybox:1.36` or `registry:5000/app`.
    pub image: String,
    /// The stack it belongs to: it joins the stack's network.
    pub stack: String,
    /// Its service: the name other containers of the stack reach it by.
    pub service: String,
    /// Published ports; without an ip they are published on 127.0.0.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<orco_spec::PortMapping>,
    /// Bind mounts and named volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Replaces the image's entrypoint when set (`[]` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The most cpu and memory the container may use, enforced by the engine.
    #[serde(default, skip_serializing_if = "orco_spec::Limits::is_empty")]
    pub limits: orco_spec::Limits,
}

/// A bind mount (an absolute host path) or a named volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// An absolute host path (a bind mount) or a volume name.
    pub source: String,
    /// The path inside the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

impl Volume {
    /// Whether the source is a host path (a bind mount) rather than a volume name.
    pub fn is_bind(&self) -> bool {
        self.source.starts_with('/')
    }
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

    /// Runs a container instead of a local process (see [`Container`]).
    pub fn container(mut self, container: Container) -> Launch {
        self.container = Some(container);
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

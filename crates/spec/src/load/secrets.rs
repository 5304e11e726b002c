//! The top-level `secrets:`: each name a valid identifier, each source exactly one of `file`
//! and `env`, and (for a stack file) the file there or the variable set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{Cx, join, keys};
use crate::model::Secret;
use crate::node::Node;
use crate::secret::{SecretSourceError, read_value, valid_secret_name};

impl Cx<'_> {
    /// Reads `secrets:` and records its names for the references of services and tasks.
    pub(super) fn secrets(&mut self, n: &Node) -> BTreeMap<String, Secret> {
        let errors = self.error_count();
        let mut out = BTreeMap::new();
        let mut names = BTreeSet::new();
        for (k, name, v) in self.named(n, "secrets", "secrets") {
            let path = join("secrets", &name);
            names.insert(name.clone());
            if !valid_secret_name(&name) {
                let hint = Some(
                    "a secret name starts with a letter or `_`, then letters, digits, `_`, `-` or `.`, at most 63 characters".into(),
                );
                self.error(
                    k,
                    &path,
                    format!("`{name}` is not a valid secret name"),
                    hint,
                );
                continue;
            }
            let Some(f) = self.fields(v, &path, "a secret", keys::SECRET) else {
                continue;
            };
            let file = f
                .get("file")
                .and_then(|v| self.nonempty_string(v, &join(&path, "file")))
                .map(PathBuf::from);
            let env = f
                .get("env")
                .and_then(|v| self.nonempty_string(v, &join(&path, "env")));
            let secret = match (f.get("file"), f.get("env")) {
                (Some(_), Some(second)) => {
                    let hint = Some("keep `file` or `env`, not both".to_string());
                    let message = format!("secret `{name}` has both `file` and `env`");
                    self.error(second, &join(&path, "env"), message, hint);
                    continue;
                }
                (None, None) => {
                    let hint = Some(format!(
                        "write `{name}: {{file: PATH}}` or `{name}: {{env: VAR}}`"
                    ));
                    self.error(
                        k,
                        &path,
                        format!("secret `{name}` has neither `file` nor `env`"),
                        hint,
                    );
                    continue;
                }
                _ => Secret { file, env },
            };
            if secret.file.is_none() && secret.env.is_none() {
                continue; // an empty string, reported above
            }
            if self.check_sources
                && let Err(e) = read_value(&secret, &self.dir)
            {
                let (at, key) = match f.get("file") {
                    Some(at) => (at, "file"),
                    None => (f.get("env").unwrap_or(v), "env"),
                };
                let hint = match &e {
                    SecretSourceError::NoFile(_) => Some(format!(
                        "paths are relative to stack.workdir ({})",
                        self.dir.display()
                    )),
                    SecretSourceError::Unset(var) => Some(format!(
                        "set `{var}` in the environment of the command that applies the stack"
                    )),
                    _ => None,
                };
                self.error(at, &join(&path, key), e.to_string(), hint);
                continue;
            }
            out.insert(name, secret);
        }
        // References are checked against every name written, valid or not, so that a bad
        // secret is reported once, where it is declared.
        self.secret_names = (self.error_count() == errors || !names.is_empty()).then_some(names);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The errors of `text` (loaded from `dir`) as (line, column, path, message).
    fn errors(text: &str, dir: &Path) -> Vec<(u32, u32, String, String)> {
        match crate::load_str(Path::new("t.yaml"), text, dir) {
            Ok(_) => Vec::new(),
            Err(report) => report
                .errors()
                .map(|d| (d.line, d.column, d.path.clone(), d.message.clone()))
                .collect(),
        }
    }

    fn stack(secrets: &str, service: &str) -> String {
        format!(
            "version: 0.1\nstack: {{name: s}}\nsecrets:\n{secrets}services:\n  web:\n    command: [\"true\"]\n{service}"
        )
    }

    #[test]
    fn a_secret_from_a_file_and_one_from_the_environment_load_and_are_referenced() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pw.txt"), "hunter2").expect("write");
        let path = std::env::var("PATH").expect("PATH is set");
        let text = stack(
            "  pw: {file: pw.txt}\n  token: {env: PATH}\n",
            "    env: {A: b, PW: {secret: pw}}\n    secrets: [token]\n",
        );
        let loaded = crate::load_str(Path::new("t.yaml"), &text, dir.path()).expect("loads");
        let web = &loaded.stack.services["web"];
        let names: Vec<_> = web.secret_use().names().into_iter().collect();
        assert_eq!(names, ["pw", "token"]);
        assert_eq!(web.secret_use().env().collect::<Vec<_>>(), [("PW", "pw")]);
        assert_eq!(web.secret_use().plain_env()["A"], "b");
        assert!(!web.secret_use().plain_env().contains_key("PW"));
        assert_eq!(web.env["PW"].to_string(), "<secret pw>");
        // The stack holds the sources, never the values.
        let json = serde_json::to_string(&loaded.stack).expect("json");
        assert!(!json.contains("hunter2") && !json.contains(&path), "{json}");
    }

    #[test]
    fn each_bad_secret_is_reported_at_its_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = stack(
            concat!(
                "  missing: {file: nope.txt}\n",
                "  unset: {env: ORCO_SPEC_TEST_NEVER_SET}\n",
                "  both: {file: a, env: B}\n",
                "  9lives: {env: X}\n",
                "  none: {}\n",
            ),
            "    env: {PW: {secret: pasword}}\n    secrets: [missing, nope]\n",
        );
        let errs = errors(&text, dir.path());
        let expect = [
            (
                4,
                19,
                "secrets.missing.file",
                "secret file `nope.txt` does not exist",
            ),
            (
                5,
                16,
                "secrets.unset.env",
                "environment variable `ORCO_SPEC_TEST_NEVER_SET` is not set",
            ),
            (
                6,
                24,
                "secrets.both.env",
                "secret `both` has both `file` and `env`",
            ),
            (
                7,
                3,
                "secrets.9lives",
                "`9lives` is not a valid secret name",
            ),
            (
                8,
                3,
                "secrets.none",
                "secret `none` has neither `file` nor `env`",
            ),
            (
                12,
                24,
                "services.web.env.PW.secret",
                "unknown secret `pasword`",
            ),
            (13, 24, "services.web.secrets[1]", "unknown secret `nope`"),
        ];
        for (line, column, path, message) in expect {
            assert!(
                errs.iter().any(
                    |e| (e.0, e.1, e.2.as_str(), e.3.as_str()) == (line, column, path, message)
                ),
                "no {line}:{column} {path}: {message} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    }

    #[test]
    fn a_submitted_stack_does_not_look_for_the_sources_of_its_secrets() {
        let text = stack(
            "  pw: {file: /nowhere/pw.txt}\n",
            "    env: {PW: {secret: pw}}\n",
        );
        assert!(crate::load_str(Path::new("t"), &text, Path::new("/")).is_err());
        crate::load::load_submitted(Path::new("t"), &text, Path::new("/")).expect("loads");
    }
}

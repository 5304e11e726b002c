//! What a service and a task both run: `command`, `env`, `envFromFile`, `workdir` and
//! `timeout`, read by one reader so that both report the same problem the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Cx, Fields, join};
use crate::duration::Duration;
use crate::model::{Command, EnvValue, SecretRef};
use crate::node::{Node, Value};

/// The fields a service and a task share, as read from either.
#[derive(Debug)]
pub(super) struct Process {
    /// `command`: `None` when absent or invalid (its problem is reported).
    pub(super) command: Option<Command>,
    /// `env` (empty when absent).
    pub(super) env: BTreeMap<String, EnvValue>,
    /// `secrets` (empty when absent): names of the stack's secrets, each checked to exist.
    pub(super) secrets: Vec<String>,
    /// `envFromFile`, as written (each checked to exist and to read).
    pub(super) env_from_file: Vec<PathBuf>,
    /// `workdir`.
    pub(super) workdir: Option<PathBuf>,
    /// `timeout` (only a task's keys allow it): `Some(None)` when absent, `None` when invalid.
    pub(super) timeout: Option<Option<Duration>>,
}

impl Cx<'_> {
    /// Reads `command`, `env`, `envFromFile`, `workdir` and `timeout` of the mapping `f` at
    /// `path`. `command_of` names the owner when it must have a `command` (a task: "task
    /// `job/name` has no `command`"); a service's is checked against its runtime instead.
    pub(super) fn process(
        &mut self,
        f: &Fields<'_>,
        path: &str,
        command_of: Option<&str>,
    ) -> Process {
        let p = |k: &str| join(path, k);
        let command = match command_of {
            Some(owner) => self.required(f, "command", path, owner),
            None => f.get("command"),
        }
        .and_then(|v| self.command(v, &p("command")));
        let env = f
            .get("env")
            .map(|v| self.env(v, &p("env")))
            .unwrap_or_default();
        let secrets = f
            .get("secrets")
            .map(|v| self.secret_list(v, &p("secrets")))
            .unwrap_or_default();
        let env_from_file = f
            .get("envFromFile")
            .map(|v| self.env_files(v, &p("envFromFile")))
            .unwrap_or_default();
        let workdir = f
            .get("workdir")
            .and_then(|v| self.nonempty_string(v, &p("workdir")))
            .map(PathBuf::from);
        let timeout = match f.get("timeout") {
            Some(v) => self.duration(v, &p("timeout")).map(Some),
            None => Some(None),
        };
        Process {
            command,
            env,
            secrets,
            env_from_file,
            workdir,
            timeout,
        }
    }

    /// `env`: each variable a value, or `{secret: NAME}` naming one of the stack's secrets.
    fn env(&mut self, n: &Node, path: &str) -> BTreeMap<String, EnvValue> {
        let mut out = BTreeMap::new();
        for (k, name, v) in self.named(n, path, "environment variables") {
            let p = join(path, &name);
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                let message = format!("`{name}` is not a valid environment variable name");
                self.error(k, &p, message, None);
                continue;
            }
            if let Value::Map(_) = &v.value {
                let Some(f) = self.fields(v, &p, "a secret reference", super::keys::SECRET_REF)
                else {
                    continue;
                };
                let Some(secret) = self.required(&f, "secret", &p, "a secret reference") else {
                    continue;
                };
                if let Some(secret) = self.secret_name(secret, &join(&p, "secret")) {
                    out.insert(name, EnvValue::Secret(SecretRef { secret }));
                }
                continue;
            }
            match v.scalar_text() {
                Some(value) => {
                    out.insert(name, EnvValue::Value(value));
                }
                None if v.value == Value::Null => {
                    let hint = Some(format!("write `{name}: \"\"` for an empty value"));
                    self.error(v, &p, format!("`{p}` has no value"), hint);
                }
                None => self.type_error(v, &p, "a string or `{secret: NAME}`"),
            }
        }
        out
    }

    /// `secrets`: a list of names of the stack's secrets.
    fn secret_list(&mut self, n: &Node, path: &str) -> Vec<String> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of secret names");
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            if let Some(name) = self.secret_name(item, &p) {
                if out.contains(&name) {
                    self.error(item, &p, format!("secret `{name}` is listed twice"), None);
                } else {
                    out.push(name);
                }
            }
        }
        out
    }

    /// A reference to one of the stack's secrets: a string naming a secret that exists.
    fn secret_name(&mut self, n: &Node, path: &str) -> Option<String> {
        let name = self.string(n, path)?;
        let Some(known) = &self.secret_names else {
            // The stack's `secrets` has an error of its own: it is reported there.
            return Some(name);
        };
        if known.contains(&name) {
            return Some(name);
        }
        let hint = super::suggest(&name, known.iter().map(String::as_str)).or_else(|| {
            Some(if known.is_empty() {
                format!("declare it at the top level: `secrets: {{{name}: {{file: PATH}}}}`")
            } else {
                format!(
                    "the stack's secrets are: {}",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
        });
        self.error(n, path, format!("unknown secret `{name}`"), hint);
        None
    }

    /// A command: a shell string, or a list of arguments (neither empty).
    pub(super) fn command(&mut self, n: &Node, path: &str) -> Option<Command> {
        match &n.value {
            Value::Str(s) if s.trim().is_empty() => {
                self.error(n, path, format!("`{path}` is an empty command"), None);
                None
            }
            Value::Str(s) => Some(Command::Shell(s.clone())),
            Value::Seq(items) if items.is_empty() => {
                let hint = Some("write e.g. [\"./server\", \"--port\", \"8080\"]".to_string());
                self.error(n, path, format!("`{path}` is an empty command"), hint);
                None
            }
            Value::Seq(items) => {
                let mut args = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.scalar_text() {
                        Some(a) => args.push(a),
                        None => self.type_error(item, &format!("{path}[{i}]"), "a string"),
                    }
                }
                (args.len() == items.len()).then_some(Command::Exec(args))
            }
            _ => {
                self.type_error(n, path, "a list of arguments or a shell string");
                None
            }
        }
    }

    /// `envFromFile`: one path or a list, each an existing file whose lines parse (read now so
    /// that a bad line stops the apply before anything runs).
    fn env_files(&mut self, n: &Node, path: &str) -> Vec<PathBuf> {
        let items: Vec<(String, &Node)> = match &n.value {
            Value::Str(_) => vec![(path.to_string(), n)],
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item))
                .collect(),
            _ => {
                self.type_error(n, path, "a path or a list of paths");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (p, item) in items {
            let Some(file) = self.nonempty_string(item, &p) else {
                continue;
            };
            let resolved = self.dir.join(&file);
            if !resolved.is_file() {
                let hint = Some(format!(
                    "paths are relative to stack.workdir ({})",
                    self.dir.display()
                ));
                self.error(item, &p, format!("env file `{file}` does not exist"), hint);
            } else if let Err(e) = crate::dotenv::read(&resolved) {
                // Read now, so that a bad line stops the apply before anything runs; the
                // values themselves are read again when an instance starts, and never kept.
                let message = match e {
                    crate::dotenv::DotenvError::Line { line, message, .. } => {
                        format!("env file `{file}`, line {line}: {message}")
                    }
                    crate::dotenv::DotenvError::TooLarge { .. } => format!(
                        "env file `{file}` is larger than the {}-byte limit",
                        crate::dotenv::MAX_ENV_FILE_BYTES
                    ),
                    crate::dotenv::DotenvError::Read { source, .. } => {
                        format!("cannot read env file `{file}`: {source}")
                    }
                };
                self.error(item, &p, message, None);
            }
            out.push(PathBuf::from(file));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The errors of `text` as (line, column, path, message).
    fn errors(text: &str) -> Vec<(u32, u32, String, String)> {
        match crate::load_str(Path::new("t.yaml"), text, &std::env::temp_dir()) {
            Ok(_) => Vec::new(),
            Err(report) => report
                .errors()
                .map(|d| (d.line, d.column, d.path.clone(), d.message.clone()))
                .collect(),
        }
    }

    /// A service and a task, each with `field` (a line of YAML) after a valid `command`.
    fn service_and_task(field: &str) -> (String, String) {
        let service = format!(
            "version: 0.1\nstack: {{name: s}}\nservices:\n  web:\n    command: [\"true\"]\n    {field}\n"
        );
        let task = format!(
            "version: 0.1\nstack: {{name: s}}\njobs:\n  j:\n    tasks:\n      t:\n        command: [\"true\"]\n        {field}\n"
        );
        (service, task)
    }

    /// Each error of `text` with its position taken relative to the line and column where
    /// `field` starts, and its path's owner (`services.web`, `jobs.j.tasks.t`) left out.
    fn relative(text: &str, field: &str, owner: &str) -> Vec<(u32, u32, String, String)> {
        let (line, col) = text
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(field).map(|c| (i as u32 + 1, c as u32 + 1)))
            .unwrap_or((0, 0));
        errors(text)
            .into_iter()
            .map(|(l, c, path, message)| {
                (
                    l - line,
                    c - col,
                    path.replacen(owner, "OWNER", 1),
                    message.replace(owner, "OWNER"),
                )
            })
            .collect()
    }

    #[test]
    fn a_service_and_a_task_report_the_same_error_for_the_same_bad_field() {
        let fields = [
            "command: []",
            "command: \"  \"",
            "command: [\"a\", {b: c}]",
            "command: {a: b}",
            "env: {A: }",
            "env: {\"A=B\": x}",
            "env: [A]",
            "envFromFile: no-such-file.env",
            "env: {A: {secret: nope}}",
            "env: {A: {secret: [x]}}",
            "env: {A: {secrets: x}}",
            "secrets: [nope]",
            "secrets: nope",
            "envFromFile: [\"\"]",
            "envFromFile: {a: b}",
            "workdir: \"\"",
            "workdir: [a]",
        ];
        for field in fields {
            let (service, task) = service_and_task(field);
            // The command field replaces the valid one.
            let (service, task) = if field.starts_with("command") {
                (
                    service.replace("    command: [\"true\"]\n", ""),
                    task.replace("        command: [\"true\"]\n", ""),
                )
            } else {
                (service, task)
            };
            let from_service = relative(&service, field, "services.web");
            let from_task = relative(&task, field, "jobs.j.tasks.t");
            assert!(
                !from_service.is_empty(),
                "{field}: no error for the service"
            );
            assert_eq!(from_service, from_task, "{field}");
        }
    }

    #[test]
    fn a_task_without_a_command_is_told_so_and_a_service_by_its_runtime() {
        let task =
            "version: 0.1\nstack: {name: s}\njobs:\n  j:\n    tasks:\n      t: {env: {A: b}}\n";
        let errs = errors(task);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].3, "task `j/t` has no `command`");
        let service = "version: 0.1\nstack: {name: s}\nservices:\n  web: {env: {A: b}}\n";
        let errs = errors(service);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].3, "process service `web` has no `command`");
    }

    #[test]
    fn a_task_timeout_is_read_and_a_bad_one_is_located() {
        let text = "version: 0.1\nstack: {name: s}\njobs:\n  j:\n    tasks:\n      t: {command: x, timeout: 5x}\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!((errs[0].0, errs[0].1), (6, 32));
        assert_eq!(errs[0].2, "jobs.j.tasks.t.timeout");
        let ok = text.replace("5x", "1m30s");
        let loaded = crate::load_str(Path::new("t.yaml"), &ok, &std::env::temp_dir());
        let timeout = loaded
            .ok()
            .and_then(|l| l.stack.jobs["j"].tasks["t"].timeout);
        assert_eq!(timeout, Some("1m30s".parse().ok()).flatten());
    }
}

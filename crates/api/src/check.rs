//! Validating a [`Stack`] value that did not come from a file (a stack submitted to the API).
//!
//! A resolved stack serializes to the stack file's own keys (`camelCase`, durations as
//! `1m30s`, ports as `"8080:80"`), and JSON is YAML, so the value is checked by the loader
//! itself: the same rules, the same messages and the same YAML paths as for a file. The
//! only rule added here is that `stack.workdir` must be absolute, since a submitted stack has
//! no file for a relative one to start from.

use std::path::Path;

use orco_spec::Stack;
use orco_spec::diag::{Diagnostic, Report, Severity};
#[cfg(test)]
use orco_spec::load_str;
use orco_spec::load_submitted;

/// Checks `stack` by every rule the loader applies to a stack file; the stack as the loader
/// resolves it, or every problem found (each with its YAML path, e.g.
/// `services.api.dependsOn[0].target`). `name` labels the report (e.g. `request body`).
pub fn check_stack(name: &Path, stack: &Stack) -> Result<Stack, Report> {
    // The digests of secrets are no keys of the stack file: they are taken out for the
    // loader, then put back and checked here.
    let mut bare = stack.clone();
    for s in bare.services.values_mut() {
        s.secret_digests.clear();
    }
    for t in bare.jobs.values_mut().flat_map(|j| j.tasks.values_mut()) {
        t.secret_digests.clear();
    }
    let text = match serde_json::to_string(&bare) {
        Ok(text) => text,
        Err(e) => {
            return Err(single(
                name,
                "",
                format!("the stack cannot be serialized: {e}"),
            ));
        }
    };
    if !stack.stack.workdir.is_absolute() {
        return Err(single(
            name,
            "stack.workdir",
            format!(
                "stack.workdir `{}` is relative: a submitted stack needs an absolute workdir (the CLI resolves it from the stack file's directory)",
                stack.stack.workdir.display()
            ),
        ));
    }
    let mut loaded = load_submitted(name, &text, Path::new("/"))?.stack;
    let mut problems = Vec::new();
    for (n, s) in &mut loaded.services {
        if let Some(given) = stack.services.get(n) {
            s.secret_digests = given.secret_digests.clone();
        }
        unstamped(&format!("services.{n}"), s.secret_use(), &mut problems);
    }
    for (j, job) in &mut loaded.jobs {
        for (n, t) in &mut job.tasks {
            if let Some(given) = stack.jobs.get(j).and_then(|g| g.tasks.get(n)) {
                t.secret_digests = given.secret_digests.clone();
            }
            unstamped(
                &format!("jobs.{j}.tasks.{n}"),
                t.secret_use(),
                &mut problems,
            );
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(Report::new(name, String::new(), problems))
    }
}

/// A problem for each secret `used` receives without the digest of a value the daemon holds.
/// No route takes secret values yet, so every stack that uses a secret is refused rather
/// than run without it.
fn unstamped(path: &str, used: orco_spec::SecretUse<'_>, problems: &mut Vec<Diagnostic>) {
    for name in used.names() {
        if used.digest(name).is_none() {
            problems.push(Diagnostic {
                severity: Severity::Error,
                line: 0,
                column: 0,
                path: format!("{path}.secretDigests.{name}"),
                message: format!(
                    "secret `{name}` has no digest of a value held by the daemon: this version validates secrets but does not deliver them yet, so a stack that uses one is refused"
                ),
                hint: None,
            });
        }
    }
}

fn single(name: &Path, path: &str, message: String) -> Report {
    let diagnostic = Diagnostic {
        severity: Severity::Error,
        line: 0,
        column: 0,
        path: path.to_string(),
        message,
        hint: None,
    };
    Report::new(name, String::new(), vec![diagnostic])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submitted_workflow_of_ten_thousand_tasks_passes_the_check() {
        let mut text = String::from(
            "version: 0.1\nstack: {name: dag}\njobs:\n  dag:\n    parallelism: 100\n    tasks:\n",
        );
        for layer in 0..100 {
            for i in 0..100 {
                let deps = if layer == 0 {
                    String::new()
                } else {
                    format!(
                        ", dependsOn: [{{target: t{}_{i}}}, {{target: t{}_{}}}]",
                        layer - 1,
                        layer - 1,
                        (i + 1) % 100
                    )
                };
                text.push_str(&format!(
                    "      t{layer}_{i}: {{command: [\"true\"]{deps}}}\n"
                ));
            }
        }
        let mut stack = example(&text);
        stack.stack.workdir = std::path::PathBuf::from("/tmp");
        match check_stack(Path::new("request body"), &stack) {
            Ok(checked) => assert_eq!(checked.jobs["dag"].tasks.len(), 10_000),
            Err(report) => panic!("{}", report.render(false)),
        }
    }

    fn example(text: &str) -> Stack {
        let dir = std::env::temp_dir();
        match load_str(Path::new("t.yaml"), text, &dir) {
            Ok(loaded) => loaded.stack,
            Err(report) => panic!("{}", report.render(false)),
        }
    }

    const FULL: &str = r#"
version: 0.1
stack: {name: demo}
defaults: {restartPolicy: {mode: on-failure, backoff: {min: 500ms, max: 1m30s}}}
services:
  db:
    command: ["sleep", "1000"]
    ports: ["127.0.0.1:5432:5432"]
    health: {tcp: {host: 127.0.0.1, port: 5432}, interval: 1s}
  web:
    command: "python3 -m http.server 8080"
    replicas: 2
    env: {A: "1"}
    dependsOn: [{target: db, require: ready, timeout: 30s}]
    health:
      http: {url: "http://127.0.0.1:8080/"}
      log: {pattern: "Serving"}
      expression: "http || log"
jobs:
  backup:
    tasks:
      dump: {command: ["true"], timeout: 1h}
      upload: {command: ["true"], dependsOn: [{target: dump}]}
"#;

    #[test]
    fn a_resolved_stack_checks_back_to_itself() {
        let stack = example(FULL);
        let checked = check_stack(Path::new("body"), &stack).unwrap();
        assert_eq!(checked, stack);
    }

    #[test]
    fn a_secret_received_without_a_digest_is_refused_and_with_one_it_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pw"), "hunter2").expect("write");
        let text = "version: 0.1\nstack: {name: s}\nsecrets:\n  pw: {file: pw}\nservices:\n  web:\n    command: [\"true\"]\n    env: {PW: {secret: pw}}\n";
        let mut stack = load_str(Path::new("t.yaml"), text, dir.path())
            .expect("loads")
            .stack;
        let report = check_stack(Path::new("body"), &stack).unwrap_err();
        let paths: Vec<_> = report.errors().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["services.web.secretDigests.pw"]);
        orco_spec::stamp_secret_digests(
            &mut stack,
            &std::collections::BTreeMap::from([("pw".to_string(), "abc".to_string())]),
        );
        // Checked where the file is not: the daemon never reads the source.
        std::fs::remove_file(dir.path().join("pw")).expect("remove");
        let checked = check_stack(Path::new("body"), &stack).expect("checks");
        assert_eq!(
            checked.services["web"].secret_use().digest("pw"),
            Some("abc")
        );
        assert_eq!(checked, stack);
    }

    #[test]
    fn a_dangling_dependency_is_reported_with_its_path() {
        let mut stack = example(FULL);
        let web = stack.services.get_mut("web").unwrap();
        web.depends_on[0].target = "nope".into();
        let report = check_stack(Path::new("body"), &stack).unwrap_err();
        let paths: Vec<_> = report.errors().map(|d| d.path.as_str()).collect();
        assert!(
            paths.contains(&"services.web.dependsOn[0].target"),
            "{paths:?}"
        );
    }

    #[test]
    fn a_bad_name_is_reported_with_its_path() {
        let mut stack = example(FULL);
        let db = stack.services.remove("db").unwrap();
        stack.services.insert("Bad Name".into(), db);
        let report = check_stack(Path::new("body"), &stack).unwrap_err();
        assert!(
            report.errors().any(|d| d.path.contains("Bad Name")),
            "{:?}",
            report.diagnostics
        );
    }

    #[test]
    fn a_relative_workdir_is_refused() {
        let mut stack = example(FULL);
        stack.stack.workdir = "rel".into();
        let report = check_stack(Path::new("body"), &stack).unwrap_err();
        assert_eq!(report.diagnostics[0].path, "stack.workdir");
    }
}

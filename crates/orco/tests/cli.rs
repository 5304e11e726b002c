//! The `orco` binary end to end: validate, graph, schema, completions, version, discovery and
//! exit codes, run as a user would run them.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn seed() -> PathBuf {
    root().join("examples/seed/stack.yaml")
}

fn orco(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orco"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_seed_example_validates_with_exit_code_zero() {
    let out = orco(&["validate", "-f", seed().to_str().unwrap()], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stack `seed` is valid: 3 services, 0 jobs, 3 start layers")
    );
}

#[test]
fn an_invalid_file_exits_with_code_two_and_every_problem_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yaml");
    std::fs::write(
        &file,
        "version: 0.1\nstack: {name: demo}\nservices:\n  web:\n    comand: x\n    replicas: -1\n",
    )
    .unwrap();
    let out = orco(&["validate"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "errors go to stderr only");
    let err = text(&out.stderr);
    assert!(
        err.contains("stack.yaml:5:5 (services.web.comand)"),
        "{err}"
    );
    assert!(err.contains("did you mean `command`?"), "{err}");
    assert!(
        err.contains("stack.yaml:6:15 (services.web.replicas)"),
        "{err}"
    );
    assert!(
        err.contains("process service `web` has no `command`"),
        "{err}"
    );
    assert!(err.contains("stack.yaml: 3 errors"), "{err}");
    assert!(
        !err.contains('\x1b'),
        "NO_COLOR output has no escape codes: {err:?}"
    );
}

#[test]
fn validate_json_lists_diagnostics_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.yaml"),
        "version: 0.1\nstack: {name: demo}\nservices:\n  web: {}\n",
    )
    .unwrap();
    let out = orco(&["validate", "-o", "json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(d["path"], "services.web");
    assert_eq!(d["severity"], "error");
}

#[test]
fn a_missing_stack_file_says_what_was_looked_for_and_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let out = orco(&["graph"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("looked for stack.yaml, orco.yaml, compose.yaml, docker-compose.yml")
    );
}

#[test]
fn a_compose_file_is_told_from_a_stack_and_converted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nginx\n",
    )
    .unwrap();
    let out = orco(&["validate"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("is valid: 1 service"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn discovery_prefers_stack_yaml_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orco.yaml"),
        "version: 0.1\nstack: {name: second}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stack.yaml"),
        "version: 0.1\nstack: {name: first}\n",
    )
    .unwrap();
    let out = orco(&["validate"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stack `first`"));
}

#[test]
fn graph_prints_start_layers_by_default() {
    let out = orco(&["graph", "-f", seed().to_str().unwrap()], &root());
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    let (db, api, web) = (
        s.find("  db ").unwrap(),
        s.find("  api ").unwrap(),
        s.find("  web ").unwrap(),
    );
    assert!(db < api && api < web, "{s}");
    assert!(s.contains("layer 2"), "{s}");
    assert!(s.contains("<- db (ready, timeout 1m)"), "{s}");
}

#[test]
fn graph_dot_of_the_seed_renders_with_graphviz_and_shows_db_api_web() {
    let out = orco(&["graph", "--dot", "-f", seed().to_str().unwrap()], &root());
    assert_eq!(out.status.code(), Some(0));
    let dot_text = text(&out.stdout);
    assert!(dot_text.contains("\"db\" -> \"api\""), "{dot_text}");
    assert!(dot_text.contains("\"api\" -> \"web\""), "{dot_text}");
    // Graphviz must accept it; `.ci/run` installs graphviz.
    let mut child = Command::new("dot")
        .arg("-Tplain")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("graphviz `dot` must be installed (the test command installs it)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), dot_text.as_bytes()).unwrap();
    let rendered = child.wait_with_output().unwrap();
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let plain = text(&rendered.stdout);
    // `-Tplain` lists nodes and edges: "edge db api ..." and "edge api web ...".
    assert!(plain.contains("edge db api"), "{plain}");
    assert!(plain.contains("edge api web"), "{plain}");
    assert!(
        !plain.contains("edge web"),
        "web has no dependents: {plain}"
    );
}

#[test]
fn graph_mermaid_and_json_show_the_same_edges() {
    let out = orco(
        &["graph", "--mermaid", "-f", seed().to_str().unwrap()],
        &root(),
    );
    let m = text(&out.stdout);
    assert!(m.starts_with("flowchart LR"), "{m}");
    assert!(
        m.contains("db -->|ready| api") && m.contains("api -->|ready| web"),
        "{m}"
    );
    let out = orco(
        &["graph", "-o", "json", "-f", seed().to_str().unwrap()],
        &root(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["layers"], serde_json::json!([["db"], ["api"], ["web"]]));
}

#[test]
fn a_cycle_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.yaml"),
        "version: 0.1\nstack: {name: c}\nservices:\n  a: {command: x, dependsOn: [{target: b, require: started}]}\n  b: {command: x, dependsOn: [{target: a, require: started}]}\n",
    )
    .unwrap();
    let out = orco(&["graph"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("dependency cycle: a -> b -> a"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn schema_is_json_schema_naming_every_top_level_key() {
    let out = orco(&["schema"], &root());
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    for key in ["version", "stack", "defaults", "services", "jobs"] {
        assert!(v["properties"].get(key).is_some(), "missing {key}");
    }
}

#[test]
fn completions_are_printed_for_bash_and_a_bad_shell_is_a_usage_error() {
    let out = orco(&["completions", "bash"], &root());
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("_orco()"));
    let out = orco(&["completions", "tcsh"], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid value 'tcsh'"));
}

#[test]
fn version_and_unknown_flags() {
    let out = orco(&["--version"], &root());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("orco {}", env!("CARGO_PKG_VERSION"))
    );
    let out = orco(&["validate", "--bogus"], &root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--bogus'"));
}

#[test]
fn yaml_output_parses_and_matches_json_output() {
    let seed = seed();
    let json = orco(
        &["graph", "-o", "json", "-f", seed.to_str().unwrap()],
        &root(),
    );
    let yaml = orco(
        &["graph", "-o", "yaml", "-f", seed.to_str().unwrap()],
        &root(),
    );
    let from_json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let from_yaml: serde_json::Value = serde_saphyr::from_slice(&yaml.stdout).unwrap();
    assert_eq!(from_json, from_yaml);
}

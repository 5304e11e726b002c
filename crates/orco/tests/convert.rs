#![allow(clippy::unwrap_used)]
//! `orco convert` and compose files given to the stack verbs, through the real binary.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn orco(args: &[&str], dir: &Path) -> Output {
    Command::cargo_bin("orco")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const COMPOSE: &str = "\
name: shop
services:
  db:
    image: postgres:16
    user: postgres
    healthcheck:
      test: [\"CMD\", \"pg_isready\"]
      interval: 5s
  api:
    image: \"api:${TAG:-1}\"
    restart: always
    ports: [\"8080:80\"]
    depends_on:
      db: {condition: service_healthy}
";

#[test]
fn convert_prints_a_stack_file_that_validates_and_lists_unsupported_keys_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).unwrap();
    let out = orco(&["convert", "compose.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stack = text(&out.stdout);
    assert!(stack.starts_with("version: 0.1\nstack:\n"), "{stack}");
    assert!(stack.contains("name: shop"), "{stack}");
    assert!(stack.contains("image: api:1"), "{stack}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("compose.yaml:5:5"), "{stderr}");
    assert!(stderr.contains("`user` is not supported"), "{stderr}");
    std::fs::write(dir.path().join("stack.yaml"), &stack).unwrap();
    let out = orco(&["validate", "-f", "stack.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn graph_reads_a_compose_file_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), COMPOSE).unwrap();
    let out = orco(&["graph", "-o", "json"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let graph: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        graph["layers"],
        serde_json::json!([["db"], ["api"]]),
        "{graph}"
    );
}

#[test]
fn a_compose_file_with_a_bad_dependency_is_refused_with_its_compose_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  api:\n    image: x\n    depends_on: [nope]\n",
    )
    .unwrap();
    for verb in [&["convert", "compose.yaml"][..], &["validate"][..]] {
        let out = orco(verb, dir.path());
        assert_eq!(out.status.code(), Some(2), "{verb:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("compose.yaml:4:"), "{verb:?}: {stderr}");
        assert!(stderr.contains("nope"), "{stderr}");
    }
}

#[test]
fn convert_of_a_missing_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = orco(&["convert", "nope.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the compose file"));
}

#[test]
fn config_prints_the_resolved_model_with_includes_extends_and_profiles_applied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "include: [db.yaml]\nservices:\n  web:\n    extends: base\n    environment: [B=2]\n  base:\n    image: busybox\n    environment: {A: \"1\"}\n  debug:\n    image: busybox\n    profiles: [debug]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("db.yaml"),
        "services:\n  db:\n    image: pg:${PG:-16}\n    ports: [\"5432\"]\n",
    )
    .unwrap();
    let out = orco(&["config"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(yaml.starts_with("name: "), "{yaml}");
    for needle in [
        "image: pg:16",
        "A: \"1\"",
        "B: \"2\"",
        "target: 5432",
        "mode: ingress",
    ] {
        assert!(yaml.contains(needle), "no `{needle}` in\n{yaml}");
    }
    assert!(
        !yaml.contains("debug:") && !yaml.contains("include"),
        "{yaml}"
    );
    let names = orco(&["config", "--services", "--profile", "debug"], dir.path());
    assert_eq!(text(&names.stdout), "web\nbase\ndebug\ndb\n");
    // A stack file is not a compose file.
    std::fs::write(
        dir.path().join("stack.yaml"),
        "version: 0.1\nstack: {name: s}\nservices: {}\n",
    )
    .unwrap();
    let out = orco(&["config", "-f", "stack.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a compose file"),
        "{}",
        text(&out.stderr)
    );
    // An error of an included file names it.
    std::fs::write(dir.path().join("db.yaml"), "services:\n  db: [oops\n").unwrap();
    let out = orco(&["config", "-f", "compose.yaml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("db.yaml:2:"),
        "{}",
        text(&out.stderr)
    );
}

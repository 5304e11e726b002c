//! What a new user meets in the repository before running anything: how to install the
//! binary, a release profile that ships it without debug info, examples that can run side by
//! side (each its own stack name), and a benchmark script whose `--help` installs nothing.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

#[test]
fn the_readme_says_how_to_install_the_binary() {
    let readme = read("README.md");
    assert!(readme.contains("cargo install --path crates/orco"));
    assert!(readme.contains("target/release/orco"));
}

#[test]
fn the_readme_says_how_to_stop_the_daemon_as_root_and_as_a_user() {
    let readme = read("README.md");
    assert!(readme.contains("orco daemon stop"));
    assert!(readme.contains("/var/lib/orco/daemon.lock"));
    assert!(readme.contains("${XDG_DATA_HOME:-$HOME/.local/share}/orco/daemon.lock"));
}

#[test]
fn the_release_profile_strips_debug_info() {
    let manifest = read("Cargo.toml");
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    let settings: BTreeMap<&str, &str> = release
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    assert!(
        matches!(
            settings.get("strip"),
            Some(&"\"debuginfo\"" | &"\"symbols\"" | &"true")
        ),
        "{release}"
    );
    assert!(
        matches!(settings.get("debug"), None | Some(&"false" | &"0")),
        "{release}"
    );
}

#[test]
fn every_example_has_a_stack_name_of_its_own() {
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let file = entry.unwrap().path().join("stack.yaml");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let name = value["stack"]["name"].as_str().unwrap().to_string();
        if let Some(other) = names.insert(name.clone(), file.clone()) {
            panic!(
                "{} and {} share the stack name `{name}`",
                other.display(),
                file.display()
            );
        }
    }
    assert!(names.len() >= 3, "{names:?}");
}

#[test]
fn bench_run_help_installs_builds_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = dir.path().join("called");
    let python = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v python3"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fake = |name: &str, body: &str| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let record = format!("echo \"$0 $*\" >> {}; exit 1", marker.display());
    for tool in [
        "apt-get",
        "sudo",
        "cargo",
        "dockerd",
        "docker",
        "pip",
        "runsv",
        "s6-svscan",
    ] {
        fake(tool, &record);
    }
    // python3 may only print bench.py's help.
    fake(
        "python3",
        &format!(
            "case \"$*\" in *bench.py*--help*) exec {} \"$@\";; esac\n{record}",
            python.trim()
        ),
    );
    let out = std::process::Command::new("sh")
        .arg(root().join("bench/run.sh"))
        .arg("--help")
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("ORCO_BENCH_VENV", dir.path().join("venv"))
        .output()
        .unwrap();
    let called = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(called.is_empty(), "bench/run.sh --help ran: {called}");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage"));
}

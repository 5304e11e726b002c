//! Secrets as this version has them: validated with their position, never sent or stored,
//! and a stack that uses one refused by the daemon rather than run without it.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

const CANARY: &str = "canary-7f3a9c1e-secret-value";

fn stack(secret_file: &str) -> String {
    format!(
        "version: 0.1\nstack: {{name: vault}}\nsecrets:\n  pw: {{file: {secret_file}}}\nservices:\n  api:\n    command: [sleep, '1000']\n    env: {{PW: {{secret: pw}}}}\n"
    )
}

/// Every file under `dir` whose raw bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if kind.is_file()
            && let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn a_missing_secret_file_is_an_error_at_its_line_and_column() {
    let world = common::World::new();
    let file = world.file("stack.yaml", &stack("nope.txt"));
    let out = world.orco(&["validate", "-f", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("secret file `nope.txt` does not exist") && stderr.contains(":4:"),
        "{stderr}"
    );
}

#[test]
fn a_stack_that_uses_a_secret_is_refused_and_its_value_is_found_nowhere() {
    let world = common::World::new();
    world.file("pw.txt", CANARY);
    let file = world.file("stack.yaml", &stack("pw.txt"));
    let file = file.to_str().unwrap();
    world.ok(&["validate", "-f", file]);
    world.start_daemon();
    world.wait_answering();
    let out = world.orco(&["apply", "-f", file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("secret `pw`") && stderr.contains("does not deliver"),
        "{stderr}"
    );
    // Nothing was applied: no stack, no instance.
    let ps = world.orco(&["ps", "-o", "json"]);
    let ps = format!(
        "{}{}",
        String::from_utf8_lossy(&ps.stdout),
        String::from_utf8_lossy(&ps.stderr)
    );
    assert!(ps.contains("no stack is applied"), "{ps}");
    let mut seen = format!("{stdout}{stderr}{ps}");
    let events = world.orco(&["events", "-o", "json"]);
    seen.push_str(&String::from_utf8_lossy(&events.stdout));
    seen.push_str(&String::from_utf8_lossy(&events.stderr));
    assert!(!seen.contains(CANARY), "{seen}");
    // The value is in no file of the data dir (the event store included) nor the daemon's
    // log; only the secret's own file holds it.
    let found = files_containing(world.dir.path(), CANARY.as_bytes());
    assert_eq!(
        found,
        [world.dir.path().join("pw.txt").display().to_string()],
        "the canary was found in {found:?}"
    );
}

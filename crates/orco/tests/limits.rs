//! Hostile YAML — an alias bomb, 10,000-deep nesting, a 100 MB scalar — is rejected with the
//! parser's limit error while `orco validate` runs under a memory limit (RLIMIT_AS via
//! `ulimit -v`) and a generous watchdog. Nothing here asserts on time.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Address-space limit for the child, in KiB (512 MiB).
const MEMORY_LIMIT_KIB: u64 = 512 * 1024;
/// The watchdog: far beyond what any of these needs.
const WATCHDOG: Duration = Duration::from_secs(120);

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn validate_under_limits(file: &Path) -> Outcome {
    let orco = env!("CARGO_BIN_EXE_orco");
    let script = format!("ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" validate -f \"$1\"");
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script, orco])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr_pipe, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = reader.join().unwrap();
            return Outcome {
                code: status.code(),
                stderr,
            };
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "orco validate {} did not finish within the watchdog",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_alias_bomb_is_rejected_by_the_alias_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bomb.yaml");
    let mut text = String::from("version: 0.1\nstack: {name: bomb}\n");
    text.push_str("l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for i in 1..10 {
        let refs = vec![format!("*l{}", i - 1); 10].join(",");
        text.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    std::fs::write(&file, text).unwrap();
    let out = validate_under_limits(&file);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("alias replay limit exceeded").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("bomb.yaml:"), "{}", out.stderr);
}

#[test]
fn ten_thousand_levels_of_flow_nesting_are_rejected_by_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.yaml");
    let text = format!(
        "version: 0.1\nx: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    std::fs::write(&file, text).unwrap();
    let out = validate_under_limits(&file);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("recursion limit exceeded"),
        "{}",
        out.stderr
    );
}

#[test]
fn ten_thousand_levels_of_block_nesting_are_rejected_by_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep-block.yaml");
    let mut text = String::from("version: 0.1\n");
    for i in 0..10_000 {
        text.push_str(&" ".repeat(i));
        text.push_str("k:\n");
    }
    std::fs::write(&file, text).unwrap();
    let out = validate_under_limits(&file);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("nests deeper than 64 levels") && !out.stderr.contains("Depth"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_hundred_megabyte_scalar_is_rejected_by_the_input_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    let mut f = std::fs::File::create(&file).unwrap();
    f.write_all(b"version: 0.1\nx: \"").unwrap();
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..100 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\"\n").unwrap();
    drop(f);
    let out = validate_under_limits(&file);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("input size limit") && !out.stderr.contains("IO error"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_large_scalar_under_the_file_limit_is_rejected_by_the_scalar_limit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scalar.yaml");
    let text = format!("version: 0.1\nx: \"{}\"\n", "a".repeat(3 * 1024 * 1024));
    std::fs::write(&file, text).unwrap();
    let out = validate_under_limits(&file);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("Scalar") || out.stderr.contains("scalar"),
        "{}",
        out.stderr
    );
}

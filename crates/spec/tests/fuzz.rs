//! The loader never panics: 10,000+ generated YAML-ish documents, and random edits of a real
//! stack file, each either load or give diagnostics with positions inside the text.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::path::Path;

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "\n",
    "\n",
    "\n",
    "  ",
    "  ",
    "    ",
    "- ",
    ": ",
    ":",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a",
    "<<: *a",
    "\"",
    "'",
    "# c",
    "~",
    "null",
    "true",
    "yes",
    "0.1",
    "-1",
    "0",
    "1",
    "65536",
    "1e309",
    "1s",
    "1m30s",
    "500ms",
    "5",
    "-1s",
    "x",
    "version",
    "stack",
    "name",
    "demo",
    "workdir",
    "defaults",
    "services",
    "jobs",
    "web",
    "db",
    "web-0",
    "command",
    "image",
    "runtime",
    "docker",
    "process",
    "env",
    "envFromFile",
    "ports",
    "\"8080:80\"",
    "proxy",
    "replicas",
    "dependsOn",
    "target",
    "require",
    "ready",
    "succeeded",
    "failed",
    "timeout",
    "restart",
    "health",
    "http",
    "url",
    "http://127.0.0.1:1/",
    "tcp",
    "port",
    "cmd",
    "log",
    "pattern",
    "(",
    ")",
    "expression",
    "http || log",
    "&&",
    "||",
    "gracePeriod",
    "interval",
    "restartPolicy",
    "backoff",
    "min",
    "max",
    "factor",
    "stop",
    "signal",
    "SIGTERM",
    "update",
    "maxSurge",
    "maxUnavailable",
    "tasks",
    "retry",
    "schedule",
    "cron",
    "*/5 * * * *",
    "\t",
    "é",
    "\u{feff}",
    "---",
    "...",
    "!!str ",
    "!tag ",
    "|",
    ">",
    "%YAML 1.2",
];

fn document() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just(String::new()),
        Just("version: 0.1\nstack: {name: demo}\n".to_string()),
        Just("version: 0.1\nstack: {name: demo}\nservices:\n  web:\n".to_string()),
    ];
    let body = proptest::collection::vec(proptest::sample::select(TOKENS), 0..80)
        .prop_map(|tokens| tokens.concat());
    (prefix, body).prop_map(|(p, b)| p + &b)
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let result = orco_spec::load_str(Path::new("fuzz.yaml"), text, Path::new("/nonexistent"));
    if let Err(report) = result {
        prop_assert!(report.has_errors());
        let lines = text.lines().count().max(1) as u32 + 1;
        for d in &report.diagnostics {
            prop_assert!(
                d.line <= lines,
                "line {} beyond the text ({} lines)",
                d.line,
                lines
            );
        }
        // Rendering must not panic either (columns past the end, odd characters).
        let _ = report.render(true);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn generated_yaml_never_panics_the_loader(text in document()) {
        check(&text)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_edits_of_the_seed_example_never_panic_the_loader(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let seed = include_str!("../../../examples/seed/stack.yaml");
        let mut bytes = seed.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if !bytes.is_empty() => { bytes.remove(i.min(bytes.len() - 1)); }
                1 => bytes.insert(i, byte % 128),
                _ if !bytes.is_empty() => { let j = i.min(bytes.len() - 1); bytes[j] = byte % 128; }
                _ => {}
            }
        }
        check(&String::from_utf8_lossy(&bytes))?;
    }
}

#![allow(clippy::unwrap_used)]
//! The converter never panics: generated compose-ish documents and random edits of the
//! corpus files each convert or give diagnostics with positions inside the text.

use std::collections::BTreeMap;
use std::path::Path;

use orco_compose::{Options, convert_str};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "\n",
    "\n",
    "  ",
    "    ",
    "      ",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "\"",
    "'",
    "~",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "70000",
    "80:80",
    "1-3:4-6",
    "[::1]:80:80/udp",
    "services",
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "depends_on",
    "condition",
    "service_healthy",
    "service_completed_successfully",
    "healthcheck",
    "test",
    "CMD",
    "CMD-SHELL",
    "NONE",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "restart",
    "on-failure:2",
    "deploy",
    "replicas",
    "scale",
    "stop_grace_period",
    "stop_signal",
    "SIGTERM",
    "10s",
    "1m30x",
    "${A}",
    "${A:-d}",
    "${B:?need}",
    "$$",
    "${",
    "$",
    "x-ext",
    "name",
    "version",
    "a",
    "b",
    "web",
    "db",
    "target",
    "published",
    "host_ip",
    "protocol",
    "path",
    "required",
];

fn options<'a>(env: &'a BTreeMap<String, String>, exists: &'a dyn Fn(&str) -> bool) -> Options<'a> {
    Options {
        project: Some("fuzz"),
        env,
        image_exists: exists,
        profiles: &[],
        services: &[],
    }
}

fn check(text: &str) {
    let env = BTreeMap::from([("A".to_string(), "1".to_string())]);
    let exists = |_: &str| false;
    let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
    let report = match convert_str(
        Path::new("compose.yaml"),
        text,
        Path::new("."),
        &options(&env, &exists),
    ) {
        Ok(c) => c.loaded.warnings,
        Err(report) => report,
    };
    for d in &report.diagnostics {
        assert!(d.line <= lines, "{d:?} is outside the text:\n{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_convert_or_give_diagnostics(tokens in prop::collection::vec(0..TOKENS.len(), 0..60)) {
        let text: String = tokens.iter().map(|&i| TOKENS[i]).collect();
        check(&text);
    }

    #[test]
    fn edited_corpus_files_convert_or_give_diagnostics(
        file in 0usize..5,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..TOKENS.len(), any::<bool>()), 1..6),
    ) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat");
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        names.sort();
        let mut text = std::fs::read_to_string(&names[file % names.len()]).unwrap();
        for (at, token, delete) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let i = boundaries[at.index(boundaries.len())];
            if delete && i < text.len() {
                let end = boundaries.iter().copied().find(|&b| b > i).unwrap_or(text.len());
                text.replace_range(i..end, "");
            } else {
                text.insert_str(i, TOKENS[token]);
            }
        }
        check(&text);
    }
}

#![allow(clippy::unwrap_used, clippy::print_stderr)]
//! The data-driven corpus: each folder of tests/cases/ holds a `compose.yaml` (and the files
//! it includes or extends), an optional `options.yaml` (`env`, `profiles`, `services`,
//! `project`), and `expected.txt`: the converted stack with its warnings, or the errors; a
//! case that converts also has `config.txt`, its resolved model as `orco config` prints it.
//! `ORCO_BLESS=1 cargo test -p orco-compose --test cases` rewrites the expectations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orco_compose::{Options, load_config, load_file};
use orco_spec::node::{Node, Value};

/// The home every case runs with (for `~`).
const HOME: &str = "/home/user";

fn strings(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
        _ => Vec::new(),
    }
}

/// What converting the case in `dir` gives, as text with the case's path as `$CASE`; and
/// its resolved model, when it converts.
fn run(dir: &Path) -> (bool, String, Option<String>) {
    let options = std::fs::read_to_string(dir.join("options.yaml")).unwrap_or_default();
    let options = orco_spec::node::parse_str(&options).unwrap();
    let mut env = BTreeMap::from([("HOME".to_string(), HOME.to_string())]);
    if let Some(Value::Map(entries)) = options.get("env").map(|n| &n.value) {
        for (k, v) in entries {
            env.insert(
                k.scalar_text().unwrap(),
                v.scalar_text().unwrap_or_default(),
            );
        }
    }
    let profiles = strings(options.get("profiles"));
    let services = strings(options.get("services"));
    let project = options.get("project").and_then(Node::scalar_text);
    let local = ["busybox:local"];
    let exists = |image: &str| local.contains(&image);
    let opts = Options {
        project: project.as_deref(),
        env: &env,
        image_exists: &exists,
        profiles: &profiles,
        services: &services,
    };
    let file = dir.join("compose.yaml");
    let (ok, out) = match load_file(&file, &opts) {
        Ok(c) => {
            let mut out = c.yaml.clone();
            let warnings = c.loaded.warnings.render(false);
            if !warnings.is_empty() {
                out.push_str("--- warnings\n");
                out.push_str(&warnings);
            }
            (true, out)
        }
        Err(report) => (false, format!("--- errors\n{}", report.render(false))),
    };
    let config = ok.then(|| match load_config(&file, &opts) {
        Ok(c) => c.yaml,
        Err(report) => format!("--- errors\n{}", report.render(false)),
    });
    let case = dir.canonicalize().unwrap();
    let strip = |text: String| {
        text.replace(&case.display().to_string(), "$CASE")
            .replace(&dir.display().to_string(), "$CASE")
    };
    (ok, strip(out), config.map(strip))
}

/// `text` with YAML's folded scalars (`>-` and the line it folds) on one line: whether the
/// serializer folds a value depends on its length, and a path's length on where the
/// checkout is, so the comparison must not.
fn unfold(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        match line.strip_suffix(">-") {
            Some(head) => {
                let next = lines.next().unwrap_or_default().trim_start();
                out.push(format!("{head}{next}"));
            }
            None => out.push(line.to_string()),
        }
    }
    out.join("\n")
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_case_of_the_corpus_converts_or_fails_as_expected() {
    let bless = std::env::var_os("ORCO_BLESS").is_some();
    let mut failures = Vec::new();
    let (mut converted, mut refused) = (0, 0);
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (ok, got, config) = run(&dir);
        if ok {
            converted += 1;
        } else {
            refused += 1;
        }
        let expected_path = dir.join("expected.txt");
        let config_path = dir.join("config.txt");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            if let Some(config) = &config {
                std::fs::write(&config_path, config).unwrap();
            }
            continue;
        }
        if let Some(config) = config {
            let expected = std::fs::read_to_string(&config_path).unwrap_or_default();
            if unfold(&expected) != unfold(&config) {
                failures.push(format!(
                    "== {name} (config)\n-- expected\n{expected}\n-- got\n{config}"
                ));
            }
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if unfold(&expected) != unfold(&got) {
            failures.push(format!("== {name}\n-- expected\n{expected}\n-- got\n{got}"));
        }
        // A case named `refused-…` must fail, any other must convert.
        if name.starts_with("refused-") == ok {
            failures.push(format!("== {name}: converted = {ok}"));
        }
    }
    eprintln!("corpus: {converted} converted, {refused} refused with a reason");
    assert!(converted + refused >= 20, "the corpus is missing");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

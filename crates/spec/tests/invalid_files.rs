//! Invalid stack files, each carrying the diagnostics it must produce in `# expect:` lines
//! written by hand: `# expect: LINE:COLUMN FRAGMENT`, where FRAGMENT appears in the message or
//! the hint of an error at that position. Every error must be expected, and every expectation
//! met: a file with several problems proves that all of them are reported.

#![allow(clippy::unwrap_used)] // a test helper that fails should panic

use std::path::{Path, PathBuf};

use orco_spec::diag::Diagnostic;

struct Expect {
    line: u32,
    column: u32,
    fragment: String,
}

fn expectations(text: &str) -> Vec<Expect> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (pos, fragment) = rest.split_once(' ').expect("`LINE:COLUMN FRAGMENT`");
            let (line, column) = pos.split_once(':').expect("`LINE:COLUMN`");
            Expect {
                line: line.parse().expect("line"),
                column: column.parse().expect("column"),
                fragment: fragment.to_string(),
            }
        })
        .collect()
}

fn files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn matches(d: &Diagnostic, e: &Expect) -> bool {
    d.line == e.line
        && d.column == e.column
        && (d.message.contains(&e.fragment)
            || d.hint.as_ref().is_some_and(|h| h.contains(&e.fragment)))
}

#[test]
fn there_are_at_least_thirty_invalid_files_each_with_expectations() {
    let files = files();
    assert!(files.len() >= 30, "only {} invalid files", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !expectations(&text).is_empty(),
            "{} has no `# expect:` line",
            f.display()
        );
    }
}

#[test]
fn every_invalid_file_reports_exactly_its_expected_errors() {
    let mut failures = Vec::new();
    for file in files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = expectations(&text);
        let report = match orco_spec::load_file(&file) {
            Ok(_) => {
                failures.push(format!("{}: loaded without error", file.display()));
                continue;
            }
            Err(report) => report,
        };
        let errors: Vec<&Diagnostic> = report.errors().collect();
        for e in &expected {
            if !errors.iter().any(|d| matches(d, e)) {
                failures.push(format!(
                    "{}: expected an error at {}:{} containing {:?}",
                    file.display(),
                    e.line,
                    e.column,
                    e.fragment
                ));
            }
        }
        for d in &errors {
            if !expected.iter().any(|e| matches(d, e)) {
                failures.push(format!(
                    "{}: unexpected error at {}:{}: {} (hint: {:?})",
                    file.display(),
                    d.line,
                    d.column,
                    d.message,
                    d.hint
                ));
            }
        }
        // Every diagnostic names its position and shows the offending source line.
        let rendered = report.render(false);
        for d in &errors {
            let at = format!("{}:{}:{}", file.display(), d.line, d.column);
            assert!(rendered.contains(&at), "{rendered}");
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

//! Diagnostics: every problem found in a stack file, with its position, YAML path and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted; something may not do what was meant.
    Warning,
}

/// One problem in a stack file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line (0 when the problem has no position, e.g. a missing file).
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// YAML path of the offending value, e.g. `services.api.dependsOn[0].target`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// All the problems of one file, with the text needed to show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The file, as the user named it.
    pub file: PathBuf,
    /// Its text (for the source lines shown under each problem).
    pub source: String,
    /// The problems, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report for `file` with `source` text.
    pub fn new(file: &Path, source: String, mut diagnostics: Vec<Diagnostic>) -> Report {
        diagnostics.sort_by_key(|a| (a.line, a.column, a.severity));
        diagnostics.dedup();
        Report {
            file: file.to_path_buf(),
            source,
            diagnostics,
        }
    }

    /// The errors (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// Renders every diagnostic, optionally with ANSI colours.
    pub fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            render_one(&mut out, &self.file, &self.source, d, colour);
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        if errors > 0 {
            let s = if errors == 1 { "" } else { "s" };
            out.push_str(&format!("{}: {errors} error{s}", self.file.display()));
            if warnings > 0 {
                out.push_str(&format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                ));
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

fn render_one(out: &mut String, file: &Path, source: &str, d: &Diagnostic, colour: bool) {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let (label, code) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    out.push_str(&format!(
        "{}: {}\n",
        paint(code, label),
        paint("1", &d.message)
    ));
    let at = if d.line > 0 {
        format!("{}:{}:{}", file.display(), d.line, d.column)
    } else {
        file.display().to_string()
    };
    let path = if d.path.is_empty() {
        String::new()
    } else {
        format!(" ({})", d.path)
    };
    out.push_str(&format!("  {} {at}{path}\n", paint("34", "-->")));
    if d.line > 0
        && let Some(text) = source.lines().nth(d.line as usize - 1)
    {
        let num = d.line.to_string();
        let pad = " ".repeat(num.len());
        let shown: String = text.chars().take(160).collect();
        let caret_at = (d.column.max(1) as usize - 1).min(shown.chars().count());
        let width = caret_width(&shown, caret_at);
        out.push_str(&format!("  {pad} {}\n", paint("34", "|")));
        out.push_str(&format!(
            "  {} {} {shown}\n",
            paint("34", &num),
            paint("34", "|")
        ));
        let marker = format!("{}{}", " ".repeat(caret_at), "^".repeat(width));
        out.push_str(&format!(
            "  {pad} {} {}\n",
            paint("34", "|"),
            paint(code, &marker)
        ));
    }
    if let Some(hint) = &d.hint {
        out.push_str(&format!("  = {}: {hint}\n", paint("1", "hint")));
    }
    out.push('\n');
}

/// Underlines the token that starts at `start`: a word, a quoted string, or one character.
fn caret_width(line: &str, start: usize) -> usize {
    let rest: Vec<char> = line.chars().skip(start).collect();
    match rest.first() {
        None => 1,
        Some(q @ ('"' | '\'')) => rest
            .iter()
            .skip(1)
            .position(|c| c == q)
            .map_or(rest.len(), |p| p + 2),
        Some(_) => {
            let n = rest
                .iter()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ':' | ',' | ']' | '}' | '#'))
                .count();
            n.max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_shows_file_line_column_path_source_and_hint() {
        let source = "services:\n  api:\n    helth: {}\n".to_string();
        let d = Diagnostic {
            severity: Severity::Error,
            line: 3,
            column: 5,
            path: "services.api.helth".into(),
            message: "unknown key `helth` in service `api`".into(),
            hint: Some("did you mean `health`?".into()),
        };
        let text = Report::new(Path::new("stack.yaml"), source, vec![d]).render(false);
        assert!(
            text.contains("error: unknown key `helth` in service `api`"),
            "{text}"
        );
        assert!(
            text.contains("--> stack.yaml:3:5 (services.api.helth)"),
            "{text}"
        );
        assert!(text.contains("3 |     helth: {}"), "{text}");
        assert!(text.contains("|     ^^^^^\n"), "{text}");
        assert!(text.contains("= hint: did you mean `health`?"), "{text}");
        assert!(text.ends_with("stack.yaml: 1 error\n"), "{text}");
    }
}

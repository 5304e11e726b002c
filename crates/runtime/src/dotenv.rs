//! Env files in dotenv form: `KEY=value`, `export KEY=value`, `# comments`, quotes.
//!
//! Single quotes keep their content as is; double quotes understand `\n`, `\t`, `\"` and `\\`;
//! an unquoted value ends at ` #` (a comment) and is trimmed. No variable expansion.

use std::path::Path;

use crate::error::RuntimeError;

/// Parses dotenv text; `path` only names the file in errors. Later keys win.
pub fn parse(path: &Path, text: &str) -> Result<Vec<(String, String)>, RuntimeError> {
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |message: String| RuntimeError::Dotenv {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err(err(format!("expected KEY=value, found `{line}`")));
        };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_key {
            return Err(err(format!(
                "`{key}` is not a variable name: use letters, digits and `_`"
            )));
        }
        vars.push((key.to_string(), value_of(value.trim_start()).map_err(err)?));
    }
    Ok(vars)
}

fn value_of(text: &str) -> Result<String, String> {
    if let Some(rest) = text.strip_prefix('\'') {
        let end = rest
            .find('\'')
            .ok_or_else(|| "unterminated single quote: add the closing `'`".to_string())?;
        return Ok(rest[..end].to_string());
    }
    if let Some(rest) = text.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Ok(out),
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some(other) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        return Err("unterminated double quote: add the closing `\"`".to_string());
    }
    let value = match text.find(" #") {
        Some(at) => &text[..at],
        None => text,
    };
    Ok(value.trim_end().to_string())
}

/// Reads and parses an env file.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|source| RuntimeError::EnvFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(Path::new("t.env"), text).expect("valid dotenv")
    }

    #[test]
    fn plain_exported_quoted_and_commented_values_parse() {
        let text = "# a comment\n\nA=1\nexport B = two words # note\nC='single $x # kept'\nD=\"line\\nnext \\\"q\\\"\"\nE=\n";
        assert_eq!(
            vars(text),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "single $x # kept".into()),
                ("D".into(), "line\nnext \"q\"".into()),
                ("E".into(), "".into()),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_reported_with_its_file_and_line_number() {
        let err = parse(Path::new("app.env"), "A=1\nnot a pair\n")
            .expect_err("second line is bad")
            .to_string();
        assert!(err.starts_with("app.env:2: expected KEY=value"), "{err}");
        let err = parse(Path::new("x.env"), "A='open\n").expect_err("unterminated");
        assert!(
            err.to_string()
                .contains("x.env:1: unterminated single quote")
        );
        assert!(parse(Path::new("x.env"), "1A=b").is_err());
    }
}

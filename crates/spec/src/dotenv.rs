//! Env files in dotenv form: `KEY=value`, `export KEY=value`, `# comments`, quotes.
//!
//! Single quotes keep their content as is; double quotes understand `\n`, `\t`, `\"` and `\\`;
//! an unquoted value ends at ` #` (a comment) and is trimmed. No variable expansion.
//!
//! An env file holds secrets: an error names the file and the line number and says what is
//! wrong, never what the line holds (not its key either: a line without `=` may be a bare
//! secret).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest env file read, in bytes.
pub const MAX_ENV_FILE_BYTES: u64 = 1024 * 1024;

/// Why an env file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DotenvError {
    /// The file could not be read.
    #[error("cannot read env file {}: {source}; check that the file exists", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_ENV_FILE_BYTES`].
    #[error("env file {} is larger than the {MAX_ENV_FILE_BYTES}-byte limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A line is not `KEY=value`.
    #[error("{}:{line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the line's content).
        message: String,
    },
}

/// Parses dotenv text; `path` only names the file in errors. Later keys win.
pub fn parse(path: &Path, text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |message: &str| DotenvError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("{message} (the line is not shown: it may hold a secret)"),
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err(err("expected KEY=value, found no `=`"));
        };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid_key {
            return Err(err(
                "the name before `=` is not a variable name: use letters, digits and `_`, not starting with a digit",
            ));
        }
        vars.push((key.to_string(), value_of(value.trim_start()).map_err(err)?));
    }
    Ok(vars)
}

fn value_of(text: &str) -> Result<String, &'static str> {
    if let Some(rest) = text.strip_prefix('\'') {
        let end = rest
            .find('\'')
            .ok_or("unterminated single quote: add the closing `'`")?;
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
        return Err("unterminated double quote: add the closing `\"`");
    }
    let value = match text.find(" #") {
        Some(at) => &text[..at],
        None => text,
    };
    Ok(value.trim_end().to_string())
}

/// Reads and parses an env file (at most [`MAX_ENV_FILE_BYTES`]).
pub fn read(path: &Path) -> Result<Vec<(String, String)>, DotenvError> {
    let read_error = |source| DotenvError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_ENV_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_ENV_FILE_BYTES {
        return Err(DotenvError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        DotenvError::Line {
            path: path.to_path_buf(),
            line,
            message: "the line is not valid UTF-8".to_string(),
        }
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

    #[test]
    fn an_error_never_shows_what_the_line_holds() {
        for text in [
            "A=1\nhunter2-password\n",
            "A=1\nmy hunter2=x\n",
            "A=1\nB='hunter2\n",
            "A=1\nB=\"hunter2\n",
        ] {
            let err = parse(Path::new("secrets.env"), text)
                .expect_err("a bad line")
                .to_string();
            assert!(err.starts_with("secrets.env:2: "), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn a_file_above_the_limit_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("big.env");
        let line = "A=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
        std::fs::write(&path, line.repeat(20_000)).expect("write");
        let err = read(&path).expect_err("too large");
        assert!(matches!(err, DotenvError::TooLarge { .. }), "{err}");
    }
}

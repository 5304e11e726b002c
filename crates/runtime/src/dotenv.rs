//! Env files in dotenv form, read when an instance starts: the parser is the stack file's
//! (`orco_spec::dotenv`, which validation uses too), its errors as [`RuntimeError`]s.

use std::path::Path;

use orco_spec::dotenv::DotenvError;

use crate::error::RuntimeError;

fn runtime_error(e: DotenvError) -> RuntimeError {
    match e {
        DotenvError::Read { path, source } => RuntimeError::EnvFile { path, source },
        DotenvError::TooLarge { path } => RuntimeError::Dotenv {
            path,
            line: 0,
            message: format!(
                "the file is larger than the {}-byte limit",
                orco_spec::dotenv::MAX_ENV_FILE_BYTES
            ),
        },
        DotenvError::Line {
            path,
            line,
            message,
        } => RuntimeError::Dotenv {
            path,
            line,
            message,
        },
    }
}

/// Parses dotenv text; `path` only names the file in errors. Later keys win.
pub fn parse(path: &Path, text: &str) -> Result<Vec<(String, String)>, RuntimeError> {
    orco_spec::dotenv::parse(path, text).map_err(runtime_error)
}

/// Reads and parses an env file.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, RuntimeError> {
    orco_spec::dotenv::read(path).map_err(runtime_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_reported_with_its_file_and_line_number_and_not_its_content() {
        let err = parse(Path::new("app.env"), "A=1\nsecret-hunter2\n")
            .expect_err("second line is bad")
            .to_string();
        assert!(err.starts_with("app.env:2: expected KEY=value"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

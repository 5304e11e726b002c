//! Finding and loading the stack file (DESIGN.md §9): `-f FILE`, or the first of the known
//! names in the current directory; an orco stack is told from a compose file by its `stack:` key.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use orco_spec::Loaded;

use crate::exit;

/// The file names looked for, in order.
pub(crate) const CANDIDATES: &[&str] = &[
    "stack.yaml",
    "orco.yaml",
    "compose.yaml",
    "docker-compose.yml",
];

/// Why no stack could be loaded; carries the exit code.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) u8);

/// Finds the stack file: the given one, or the first candidate in `dir`.
pub(crate) fn find(given: Option<&Path>, dir: &Path) -> Result<PathBuf, String> {
    if let Some(path) = given {
        return Ok(path.to_path_buf());
    }
    CANDIDATES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| p.strip_prefix(dir).map(Path::to_path_buf).unwrap_or(p))
        .ok_or_else(|| {
            format!(
                "no stack file here ({}): looked for {}; pass one with -f FILE",
                dir.display(),
                CANDIDATES.join(", ")
            )
        })
}

/// Which services of a compose file run: active profiles and services named on the command
/// line (with their dependencies, whatever their profiles).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Selection<'a> {
    pub(crate) profiles: &'a [String],
    pub(crate) services: &'a [String],
}

/// Converts a compose file into a stack (interpolating from this process's environment and
/// the file's `.env`); `project` overrides the stack name.
pub(crate) fn convert_compose(
    path: &Path,
    project: Option<&str>,
    selection: Selection<'_>,
) -> Result<orco_compose::Converted, orco_spec::diag::Report> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let options = orco_compose::Options {
        project,
        env: &env,
        image_exists: &orco_docker::local_image_exists,
        profiles: selection.profiles,
        services: selection.services,
    };
    orco_compose::load_file(path, &options)
}

/// Loads a stack file or, told apart by content, a compose file converted into a stack.
pub(crate) fn load_path(
    path: &Path,
    selection: Selection<'_>,
) -> Result<Loaded, orco_spec::diag::Report> {
    if orco_compose::is_compose_file(path) {
        convert_compose(path, None, selection).map(|c| c.loaded)
    } else if let Some(name) = selection.services.first() {
        let d = orco_spec::diag::Diagnostic {
            severity: orco_spec::diag::Severity::Error,
            line: 0,
            column: 0,
            path: String::new(),
            message: format!(
                "`{name}`: naming services picks them out of a compose file; this is a stack file"
            ),
            hint: Some("run the whole stack, or `orco start SERVICE` once it is applied".into()),
        };
        Err(orco_spec::diag::Report::new(path, String::new(), vec![d]))
    } else {
        orco_spec::load_file(path)
    }
}

/// Reads and validates a file of jobs (`orco job submit FILE`), where `stack:` may be left
/// out (see [`orco_spec::load_jobs_file`]); problems are printed as by [`load`]. It is always
/// read as a stack file: compose files have no jobs.
pub(crate) fn load_jobs(path: &Path) -> Result<Loaded, Failure> {
    report(orco_spec::load_jobs_file(path))
}

/// Prints a load's warnings, or its errors and fails.
fn report(result: Result<Loaded, orco_spec::diag::Report>) -> Result<Loaded, Failure> {
    let colour = colour_stderr();
    match result {
        Ok(loaded) => {
            if !loaded.warnings.diagnostics.is_empty() {
                eprint!("{}", loaded.warnings.render(colour));
            }
            Ok(loaded)
        }
        Err(report) => {
            eprint!("{}", report.render(colour));
            Err(Failure(exit::USAGE))
        }
    }
}

/// Finds, reads and validates the stack file, printing every problem to stderr. Warnings are
/// printed too; the stack is returned only when there is no error.
pub(crate) fn load(given: Option<&Path>) -> Result<Loaded, Failure> {
    load_selected(given, Selection::default())
}

/// [`load`] with the compose services picked by `selection`.
pub(crate) fn load_selected(
    given: Option<&Path>,
    selection: Selection<'_>,
) -> Result<Loaded, Failure> {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let path = find(given, &dir).map_err(|e| {
        eprintln!("error: {e}");
        Failure(exit::USAGE)
    })?;
    report(load_path(&path, selection))
}

/// Colour on stderr: only on a terminal, and never with `NO_COLOR` set.
pub(crate) fn colour_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_takes_the_first_known_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
        assert_eq!(
            find(None, dir.path()).unwrap(),
            PathBuf::from("compose.yaml")
        );
        std::fs::write(dir.path().join("orco.yaml"), "").unwrap();
        assert_eq!(find(None, dir.path()).unwrap(), PathBuf::from("orco.yaml"));
        std::fs::write(dir.path().join("stack.yaml"), "").unwrap();
        assert_eq!(find(None, dir.path()).unwrap(), PathBuf::from("stack.yaml"));
    }

    #[test]
    fn no_stack_file_names_what_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let err = find(None, dir.path()).unwrap_err();
        assert!(
            err.contains("stack.yaml, orco.yaml, compose.yaml, docker-compose.yml"),
            "{err}"
        );
    }

    #[test]
    fn a_compose_file_is_told_from_a_stack_by_its_stack_key() {
        let dir = tempfile::tempdir().unwrap();
        let compose = dir.path().join("a.yaml");
        std::fs::write(&compose, "services:\n  web:\n    image: nginx\n").unwrap();
        assert!(orco_compose::is_compose_file(&compose));
        let stack = dir.path().join("b.yaml");
        std::fs::write(&stack, "version: 0.1\nstack: {name: x}\nservices: {}\n").unwrap();
        assert!(!orco_compose::is_compose_file(&stack));
    }
}

//! Compose files as they are: a compose file converted into orco's stack model.
//!
//! `load_file` reads a compose file, interpolates `${VAR:-default}` from the environment and
//! `.env`, converts every key orco understands into the same `orco_spec::Stack` that
//! `orco_spec::load_file` produces (validated by the same loader), and reports every key it
//! does not support as a warning with its line. Nothing is dropped silently.
//!
//! - [`convert`]: the conversion, key by key.
//! - [`interpolate`]: `${VAR}` interpolation.
//! - [`words`]: compose's splitting of a command string into arguments.
//! - [`render`]: the converted stack as stack-file YAML (`orco convert`).
//! - `resolve`: compose's model before conversion: `include`, `extends`, `profiles`, `~`.
//! - `config`: that model as `docker compose config` prints it ([`load_config`]).

mod config;
pub mod convert;
pub mod interpolate;
pub mod render;
mod resolve;
pub mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orco_spec::Loaded;
use orco_spec::diag::{Diagnostic, Report, Severity};

/// What a conversion needs from outside the file.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The stack name; default: the file's `name:`, else `COMPOSE_PROJECT_NAME`, else the
    /// name of the file's directory.
    pub project: Option<&'a str>,
    /// The environment for interpolation (it wins over `.env`).
    pub env: &'a BTreeMap<String, String>,
    /// Whether an image is on this machine (asked for services with `build:`).
    pub image_exists: &'a dyn Fn(&str) -> bool,
    /// Profiles activated (`--profile`), besides `COMPOSE_PROFILES`.
    pub profiles: &'a [String],
    /// Services named on the command line: kept with their dependencies whatever their
    /// profiles.
    pub services: &'a [String],
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("project", &self.project)
            .field("env", &self.env.len())
            .field("profiles", &self.profiles)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

/// A converted compose file.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The stack as `orco_spec::load_file` would give it, with the compose file's warnings.
    pub loaded: Loaded,
    /// The same stack written as a stack file (what `orco convert` prints).
    pub yaml: String,
}

/// Whether `text` is a compose file rather than an orco stack file: it has `services:` and
/// no top-level `stack:` key.
pub fn is_compose(text: &str) -> bool {
    let has = |key: &str| text.lines().any(|l| l.starts_with(key));
    !has("stack:") && has("services:")
}

/// Whether the file at `path` is a compose file (see [`is_compose`]); false if unreadable.
pub fn is_compose_file(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| is_compose(&t))
}

/// The resolved compose model of a file, as `docker compose config` prints it.
#[derive(Debug, Clone)]
pub struct ComposeConfig {
    /// The model as YAML (`orco config`).
    pub yaml: String,
    /// The names of its services (`orco config --services`).
    pub services: Vec<String>,
    /// What resolving it warned about.
    pub warnings: Report,
}

/// Reads and parses a compose file: its text and tree, or the report of why not.
fn parse(path: &Path) -> Result<(String, orco_spec::node::Node), Report> {
    match orco_spec::node::parse_file(path) {
        Ok(parsed) => Ok(parsed),
        Err(orco_spec::node::ParseFileError::Io(e)) => {
            let d = error_at(0, 0, "", format!("cannot read the compose file: {e}"));
            Err(Report::new(path, String::new(), vec![d]))
        }
        Err(orco_spec::node::ParseFileError::Syntax(text, e)) => {
            let d = error_at(e.line, e.column, "", e.message);
            Err(Report::new(path, text, vec![d]))
        }
    }
}

/// Reads a compose file and resolves its model (interpolation, `include`, `extends`,
/// `profiles`) without converting it; errors as [`load_file`] reports them.
pub fn load_config(path: &Path, options: &Options<'_>) -> Result<ComposeConfig, Report> {
    let (text, root) = parse(path)?;
    let dir = file_dir(path);
    let request = resolve::Request {
        env: options.env,
        profiles: options.profiles,
        services: options.services,
    };
    let model = resolve::resolve(path, text.clone(), root, &dir, &request);
    let project = project_of(&model, options, &dir);
    let diags = model.sources.relocate(model.diags);
    let report = Report::new(path, text, diags);
    if report.has_errors() {
        return Err(report);
    }
    let abs = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    let cx = config::Context {
        project: &project,
        dir: &abs,
        vars: &model.vars,
    };
    let services = model
        .root
        .get("services")
        .map(|s| match &s.value {
            orco_spec::node::Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, _)| k.scalar_text())
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    Ok(ComposeConfig {
        yaml: config::to_yaml(&model.root, &cx),
        services,
        warnings: report,
    })
}

fn file_dir(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// The stack (project) name: `-p`, else the file's `name:`, else `COMPOSE_PROJECT_NAME`, else
/// the directory's name.
fn project_of(model: &resolve::Model, options: &Options<'_>, dir: &Path) -> String {
    let raw = match options.project {
        Some(p) => p.to_string(),
        None => model
            .root
            .get("name")
            .and_then(orco_spec::node::Node::scalar_text)
            .or_else(|| model.vars.get("COMPOSE_PROJECT_NAME").cloned())
            .unwrap_or_else(|| {
                let abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
                abs.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }),
    };
    let project = project_name(&raw);
    if project.is_empty() {
        "default".into()
    } else {
        project
    }
}

/// Reads and converts a compose file; `.env` is read from its directory.
pub fn load_file(path: &Path, options: &Options<'_>) -> Result<Converted, Report> {
    let (text, root) = parse(path)?;
    let dir = file_dir(path);
    convert_tree(path, text, &root, &dir, options)
}

/// Converts compose text; relative paths (and `.env`) start from `dir`.
pub fn convert_str(
    name: &Path,
    text: &str,
    dir: &Path,
    options: &Options<'_>,
) -> Result<Converted, Report> {
    match orco_spec::node::parse_str(text) {
        Ok(root) => convert_tree(name, text.to_string(), &root, dir, options),
        Err(e) => {
            let d = error_at(e.line, e.column, "", e.message);
            Err(Report::new(name, text.to_string(), vec![d]))
        }
    }
}

fn error_at(line: u32, column: u32, path: &str, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        line,
        column,
        path: path.to_string(),
        message,
        hint: None,
    }
}

/// The project (stack) name as orco accepts it: lower case, `[a-z0-9_-]`.
pub fn project_name(raw: &str) -> String {
    raw.to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .chars()
        .take(63)
        .collect()
}

fn convert_tree(
    name: &Path,
    text: String,
    root: &orco_spec::node::Node,
    dir: &Path,
    options: &Options<'_>,
) -> Result<Converted, Report> {
    let request = resolve::Request {
        env: options.env,
        profiles: options.profiles,
        services: options.services,
    };
    let model = resolve::resolve(name, text.clone(), root.clone(), dir, &request);
    let project = project_of(&model, options, dir);
    let resolve::Model {
        root,
        vars,
        mut diags,
        sources,
    } = model;
    let mut converter = convert::Converter::new(convert::Input {
        vars: &vars,
        project,
        image_exists: options.image_exists,
        dir,
    });
    let stack = converter.stack(&root);
    diags.append(&mut converter.diags);
    let sites = std::mem::take(&mut converter.sites);
    let diags = sources.relocate(diags);
    let report = Report::new(name, text.clone(), diags.clone());
    if report.has_errors() {
        return Err(report);
    }
    let yaml = render::to_yaml(&stack);
    match orco_spec::load_str(name, &yaml, dir) {
        Ok(mut loaded) => {
            // The stack loader's warnings are about the converted stack: shown at the compose
            // line they come from.
            let mut all = diags;
            all.extend(
                sources.relocate(
                    loaded
                        .warnings
                        .diagnostics
                        .iter()
                        .map(|d| located(d, &sites))
                        .collect(),
                ),
            );
            loaded.warnings = Report::new(name, text, all);
            Ok(Converted { loaded, yaml })
        }
        Err(stack_report) => {
            let mut all = diags;
            all.extend(
                sources.relocate(
                    stack_report
                        .diagnostics
                        .iter()
                        .map(|d| located(d, &sites))
                        .collect(),
                ),
            );
            Err(Report::new(name, text, all))
        }
    }
}

/// A diagnostic of the converted stack, moved to the compose line its path comes from.
fn located(d: &Diagnostic, sites: &[convert::Site]) -> Diagnostic {
    let best = sites
        .iter()
        .filter(|(orco, ..)| {
            d.path == *orco
                || d.path
                    .strip_prefix(orco.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
        .max_by_key(|(orco, ..)| orco.len());
    match best {
        Some((_, line, column, compose)) => Diagnostic {
            line: *line,
            column: *column,
            path: compose.clone(),
            ..d.clone()
        },
        None => Diagnostic {
            line: 0,
            column: 0,
            ..d.clone()
        },
    }
}

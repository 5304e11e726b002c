//! The loader: YAML tree → [`Stack`], reporting every problem at once with its position.
//!
//! Parse (serde-saphyr, with limits) → merge `defaults` into services → convert field by field,
//! collecting diagnostics instead of stopping at the first → check the whole stack (names,
//! dependency targets, instance-name collisions, ports, cycles).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Report, Severity};
use crate::model::*;
use crate::node::{self, Node, ParseFileError, Value};

mod dependency;
mod health;
mod job;
pub mod keys;
mod policy;
mod process;
mod read;
mod resources;
mod secrets;
mod service;
mod stack;

pub use policy::SIGNALS;
use read::{Cx, Fields};

/// A stack file that loaded, with its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved stack; `stack.workdir` is absolute (the stack file's directory joined
    /// with the `stack.workdir` written in it).
    pub stack: Stack,
    /// Warnings (the file is accepted).
    pub warnings: Report,
}

/// Loads and validates a stack file.
pub fn load_file(path: &Path) -> Result<Loaded, Report> {
    load_file_with(path, None)
}

/// Loads and validates a file of jobs (`orco job submit FILE`): as [`load_file`], except that
/// a file whose workloads are only jobs may leave out `stack:`. Its stack is then named after
/// the file (`nightly-backup.yaml` → `nightly-backup`, lowercased, other characters than
/// letters, digits, `-` and `_` made `-`) and its workdir is the file's directory.
pub fn load_jobs_file(path: &Path) -> Result<Loaded, Report> {
    let stem = path
        .file_stem()
        .map(|s| sanitize(&s.to_string_lossy()))
        .unwrap_or_default();
    load_file_with(path, Some(stem))
}

fn load_file_with(path: &Path, jobs_stack: Option<String>) -> Result<Loaded, Report> {
    let (text, root) = match node::parse_file(path) {
        Ok(parsed) => parsed,
        Err(ParseFileError::Io(e)) => {
            let d = diagnostic(0, 0, "", format!("cannot read the stack file: {e}"), None);
            return Err(Report::new(path, String::new(), vec![d]));
        }
        Err(ParseFileError::Syntax(text, e)) => {
            let d = diagnostic(e.line, e.column, "", e.message, None);
            return Err(Report::new(path, text, vec![d]));
        }
    };
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    load_tree(path, text, &root, &dir, jobs_stack, true)
}

/// Loads and validates stack-file text; relative paths start from `dir`.
pub fn load_str(name: &Path, text: &str, dir: &Path) -> Result<Loaded, Report> {
    load_text(name, text, dir, true)
}

/// Loads and validates a stack submitted to the API (as JSON, which is YAML): as
/// [`load_str`], except that the sources of secrets (their files, their environment
/// variables) are not looked for, since the CLI that applied the stack read the values.
pub fn load_submitted(name: &Path, text: &str, dir: &Path) -> Result<Loaded, Report> {
    load_text(name, text, dir, false)
}

fn load_text(name: &Path, text: &str, dir: &Path, check_sources: bool) -> Result<Loaded, Report> {
    match node::parse_str(text) {
        Ok(root) => load_tree(name, text.to_string(), &root, dir, None, check_sources),
        Err(e) => {
            let d = diagnostic(e.line, e.column, "", e.message, None);
            Err(Report::new(name, text.to_string(), vec![d]))
        }
    }
}

fn load_tree(
    name: &Path,
    text: String,
    root: &Node,
    dir: &Path,
    jobs_stack: Option<String>,
    check_sources: bool,
) -> Result<Loaded, Report> {
    let mut cx = Cx {
        diags: Vec::new(),
        source: &text,
        dir: dir.to_path_buf(),
        edges: HashMap::new(),
        jobs_stack,
        secret_names: Some(Default::default()),
        check_sources,
    };
    let stack = cx.stack(root);
    let report = Report::new(name, text.clone(), std::mem::take(&mut cx.diags));
    match stack {
        Some(mut stack) if !report.has_errors() => {
            // Relative paths of the stack start here, wherever orco later runs from.
            let workdir = cx.dir.canonicalize().unwrap_or(cx.dir);
            stack.stack.workdir = workdir;
            Ok(Loaded {
                stack,
                warnings: report,
            })
        }
        _ => Err(report),
    }
}

fn diagnostic(
    line: u32,
    column: u32,
    path: &str,
    message: String,
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        line,
        column,
        path: path.to_string(),
        message,
        hint,
    }
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Whether `name` is a valid stack, service, job or task name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Where a dependency edge was written: (line, column, path).
type Site = (u32, u32, String);

/// What the whole-stack checks need to know about each workload before converting it.
struct Names {
    kinds: BTreeMap<String, WorkloadKind>,
    has_health: BTreeMap<String, bool>,
}

/// The dependency graph of a stack's workloads.
pub fn graph(stack: &Stack) -> orco_dag::Graph {
    let mut g = orco_dag::Graph::new();
    for (name, _, deps) in stack.dependencies() {
        g.add_node(name);
        for d in deps {
            g.add_edge(name, d.target.as_str());
        }
    }
    g
}

/// The key node of an entry of a mapping.
fn key_of<'n>(root: &'n Node, key: &str) -> Option<&'n Node> {
    match &root.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.value == Value::Str(key.into()))
            .map(|(k, _)| k),
        _ => None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .trim_start_matches(['-', '_'])
        .chars()
        .take(63)
        .collect::<String>();
    if s.is_empty() { "name".into() } else { s }
}

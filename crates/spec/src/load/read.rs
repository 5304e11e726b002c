//! The readers every section shares: the loader's context, mappings with their known keys,
//! and scalar values (strings, integers, booleans, durations, words), each reporting a
//! problem with its position instead of stopping.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::{Site, diagnostic, join, suggest};
use crate::diag::{Diagnostic, Severity};
use crate::duration::{Duration, DurationError};
use crate::node::{Node, Value};

/// The entries of a mapping that passed the unknown-key check.
pub(super) struct Fields<'n> {
    pub(super) entries: Vec<(&'n str, &'n Node)>,
    /// Where "missing key" problems point: the mapping's own key when known.
    pub(super) at: &'n Node,
}

impl<'n> Fields<'n> {
    pub(super) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// The loader's context: the problems found so far and what the whole-stack checks collect.
pub(super) struct Cx<'s> {
    pub(super) diags: Vec<Diagnostic>,
    pub(super) source: &'s str,
    pub(super) dir: PathBuf,
    /// (dependent, dependency) → where the edge was written, for cycle reports.
    pub(super) edges: HashMap<(String, String), Site>,
    /// The stack's name when a file of jobs alone has no `stack:` (see [`load_jobs_file`]).
    pub(super) jobs_stack: Option<String>,
    /// The names of the stack's `secrets`, once read (`None` while unread or when the
    /// section has an error of its own, so that references are not reported twice).
    pub(super) secret_names: Option<std::collections::BTreeSet<String>>,
    /// Whether each secret's source (its file, its environment variable) must be there: true
    /// for a stack file, false for a stack submitted to the API (the CLI read the values).
    pub(super) check_sources: bool,
}

impl Cx<'_> {
    pub(super) fn error(
        &mut self,
        n: &Node,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags
            .push(diagnostic(n.line, n.column, path, message.into(), hint));
    }

    pub(super) fn warn(
        &mut self,
        n: &Node,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let mut d = diagnostic(n.line, n.column, path, message.into(), hint);
        d.severity = Severity::Warning;
        self.diags.push(d);
    }

    pub(super) fn type_error(&mut self, n: &Node, path: &str, expected: &str) {
        let hint = match &n.value {
            Value::Str(s) if expected.contains("integer") && s.trim().parse::<i64>().is_ok() => {
                Some(format!("write the number without quotes: {}", s.trim()))
            }
            Value::Null => Some("the value is missing after the colon".to_string()),
            _ => None,
        };
        let message = format!("`{path}` must be {expected}, found {}", n.value.kind());
        self.error(n, path, message, hint);
    }

    /// A mapping whose keys are all in `known`; reports every unknown key.
    pub(super) fn fields<'n>(
        &mut self,
        n: &'n Node,
        path: &str,
        what: &str,
        known: &[&str],
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &n.value else {
            self.type_error(n, path, &format!("a mapping ({what})"));
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let Value::Str(key) = &k.value else {
                let shown = k.scalar_text().unwrap_or_default();
                self.error(
                    k,
                    path,
                    format!("key `{shown}` in {what} must be a string"),
                    None,
                );
                continue;
            };
            if known.contains(&key.as_str()) {
                out.push((key.as_str(), v));
            } else {
                let key_path = join(path, key);
                let hint = suggest(key, known.iter().copied())
                    .or_else(|| Some(format!("known keys: {}", known.join(", "))));
                self.error(k, &key_path, format!("unknown key `{key}` in {what}"), hint);
            }
        }
        Some(Fields {
            entries: out,
            at: n,
        })
    }

    /// A mapping from names to nodes (services, jobs, tasks, env).
    pub(super) fn named<'n>(
        &mut self,
        n: &'n Node,
        path: &str,
        what: &str,
    ) -> Vec<(&'n Node, String, &'n Node)> {
        match &n.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| match k.scalar_text() {
                    Some(name) => Some((k, name, v)),
                    None => {
                        self.error(k, path, format!("a key of {what} must be a name"), None);
                        None
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.type_error(n, path, &format!("a mapping of {what}"));
                Vec::new()
            }
        }
    }

    pub(super) fn required<'n>(
        &mut self,
        f: &Fields<'n>,
        key: &str,
        path: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let found = f.get(key);
        if found.is_none() {
            let message = format!("{what} has no `{key}`");
            self.error(f.at, path, message, Some(format!("add `{key}:`")));
        }
        found
    }

    pub(super) fn string(&mut self, n: &Node, path: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    pub(super) fn nonempty_string(&mut self, n: &Node, path: &str) -> Option<String> {
        let s = self.string(n, path)?;
        if s.trim().is_empty() {
            self.error(n, path, format!("`{path}` is empty"), None);
            return None;
        }
        Some(s)
    }

    pub(super) fn int(
        &mut self,
        n: &Node,
        path: &str,
        min: i128,
        max: i128,
        what: &str,
    ) -> Option<i128> {
        match &n.value {
            Value::Int(i) if (min..=max).contains(i) => Some(*i),
            Value::Int(i) => {
                let message = if *i < min && min == 0 {
                    format!("`{path}` is {i}, but {what} must be 0 or more")
                } else {
                    format!("`{path}` is {i}, but {what} must be between {min} and {max}")
                };
                self.error(n, path, message, None);
                None
            }
            _ => {
                self.type_error(n, path, "an integer");
                None
            }
        }
    }

    pub(super) fn u32(&mut self, n: &Node, path: &str, what: &str) -> Option<u32> {
        self.int(n, path, 0, u32::MAX.into(), what)
            .and_then(|i| u32::try_from(i).ok())
    }

    pub(super) fn positive(&mut self, n: &Node, path: &str, what: &str) -> Option<u32> {
        self.int(n, path, 1, u32::MAX.into(), what)
            .and_then(|i| u32::try_from(i).ok())
    }

    pub(super) fn bool(&mut self, n: &Node, path: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.type_error(n, path, "`true` or `false`");
                None
            }
        }
    }

    pub(super) fn float(&mut self, n: &Node, path: &str) -> Option<f64> {
        match &n.value {
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => {
                self.type_error(n, path, "a number");
                None
            }
        }
    }

    pub(super) fn duration(&mut self, n: &Node, path: &str) -> Option<Duration> {
        let text = match &n.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => n.scalar_text().unwrap_or_default(),
            _ => {
                self.type_error(n, path, "a duration such as `500ms`, `1s` or `1m30s`");
                return None;
            }
        };
        match text.parse::<Duration>() {
            Ok(d) => Some(d),
            Err(e) => {
                let hint = match e {
                    DurationError::MissingUnit(_) => None,
                    _ => Some("units: h, m, s, ms, us, ns; combine them as in `1m30s`".to_string()),
                };
                self.error(n, path, format!("bad duration at `{path}`: {e}"), hint);
                None
            }
        }
    }

    pub(super) fn word<T: Copy>(&mut self, n: &Node, path: &str, words: &[(&str, T)]) -> Option<T> {
        let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
        let text = match &n.value {
            Value::Str(s) => s.clone(),
            _ => {
                self.type_error(n, path, &format!("one of {}", names.join(", ")));
                return None;
            }
        };
        match words.iter().find(|(w, _)| *w == text) {
            Some((_, v)) => Some(*v),
            None => {
                let message = format!("`{text}` is not one of {}", names.join(", "));
                let hint = suggest(&text, names.iter().copied());
                self.error(n, path, message, hint);
                None
            }
        }
    }

    pub(super) fn string_map(
        &mut self,
        n: &Node,
        path: &str,
        what: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, name, v) in self.named(n, path, &format!("{what}s")) {
            let p = join(path, &name);
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.error(k, &p, format!("`{name}` is not a valid {what} name"), None);
                continue;
            }
            match v.scalar_text() {
                Some(value) => {
                    out.insert(name, value);
                }
                None if v.value == Value::Null => {
                    let hint = Some(format!("write `{name}: \"\"` for an empty value"));
                    self.error(v, &p, format!("`{p}` has no value"), hint);
                }
                None => self.type_error(v, &p, "a string"),
            }
        }
        out
    }

    pub(super) fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub(super) fn source_char(&self, line: u32, column: u32) -> Option<char> {
        let text = self.source.lines().nth((line as usize).checked_sub(1)?)?;
        text.chars().nth((column as usize).checked_sub(1)?)
    }
}

//! The loader: YAML tree → [`Stack`], reporting every problem at once with its position.
//!
//! Parse (serde-saphyr, with limits) → merge `defaults` into services → convert field by field,
//! collecting diagnostics instead of stopping at the first → check the whole stack (names,
//! dependency targets, instance-name collisions, ports, cycles).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Report, Severity};
use crate::duration::{Duration, DurationError};
use crate::expr::Expr;
use crate::model::*;
use crate::node::{self, Node, ParseFileError, Value};

mod resources;

/// A stack file that loaded, with its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved stack; `stack.workdir` is absolute (the stack file's directory joined
    /// with the `stack.workdir` written in it).
    pub stack: Stack,
    /// Warnings (the file is accepted).
    pub warnings: Report,
}

/// Keys of each section, in the order the docs list them. The schema test checks that these
/// and the JSON Schema name the same keys.
pub mod keys {
    /// Top level.
    pub const STACK: &[&str] = &["version", "stack", "defaults", "services", "jobs"];
    /// `stack:`.
    pub const META: &[&str] = &["name", "workdir"];
    /// `defaults:`.
    pub const DEFAULTS: &[&str] = &["restartPolicy", "health", "stop"];
    /// A service.
    pub const SERVICE: &[&str] = &[
        "runtime",
        "command",
        "image",
        "env",
        "envFromFile",
        "workdir",
        "ports",
        "entrypoint",
        "volumes",
        "proxy",
        "replicas",
        "dependsOn",
        "health",
        "restartPolicy",
        "stop",
        "update",
        "resources",
        "placement",
        "onDisconnect",
    ];
    /// A `dependsOn` entry of a service or job.
    pub const DEPENDENCY: &[&str] = &["target", "require", "timeout", "restart"];
    /// `health:`.
    pub const HEALTH: &[&str] = &[
        "http",
        "tcp",
        "cmd",
        "log",
        "expression",
        "gracePeriod",
        "interval",
        "timeout",
        "successThreshold",
        "failureThreshold",
        "onFailure",
    ];
    /// `health.http`.
    pub const HTTP: &[&str] = &["url", "expectStatus", "headers"];
    /// `health.tcp`.
    pub const TCP: &[&str] = &["host", "port"];
    /// `health.cmd`.
    pub const CMD: &[&str] = &["command"];
    /// `health.log`.
    pub const LOG: &[&str] = &["pattern", "sources"];
    /// `restartPolicy:`.
    pub const RESTART: &[&str] = &["mode", "maxRetries", "backoff", "resetAfter"];
    /// `backoff:`.
    pub const BACKOFF: &[&str] = &["min", "max", "factor"];
    /// `stop:`.
    pub const STOP: &[&str] = &["signal", "timeout"];
    /// `update:`.
    pub const UPDATE: &[&str] = &["strategy", "maxUnavailable", "maxSurge"];
    /// A job.
    pub const JOB: &[&str] = &[
        "priority",
        "parallelism",
        "continueOnFailure",
        "schedule",
        "tasks",
        "dependsOn",
        "resources",
        "placement",
    ];
    /// `schedule:`.
    pub const SCHEDULE: &[&str] = &["cron", "timezone", "overlap"];
    /// A task.
    pub const TASK: &[&str] = &[
        "command",
        "env",
        "envFromFile",
        "workdir",
        "timeout",
        "retry",
        "dependsOn",
        "resources",
        "placement",
    ];
    /// `retry:`.
    pub const RETRY: &[&str] = &["maxRetries", "backoff"];
    /// A task's `dependsOn` entry.
    pub const TASK_DEPENDENCY: &[&str] = &["target", "require"];
    /// `resources:`.
    pub const RESOURCES: &[&str] = &["cpu", "memory", "limits"];
    /// `resources.limits:`.
    pub const LIMITS: &[&str] = &["cpu", "memory"];
    /// `placement:`.
    pub const PLACEMENT: &[&str] = &[
        "nodeSelector",
        "anchor",
        "antiAffinity",
        "spread",
        "tolerations",
        "strategy",
    ];
    /// `placement.spread:`.
    pub const SPREAD: &[&str] = &["by", "maxSkew", "hard"];
}

/// Signals a stop policy may name.
pub const SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGWINCH",
    "SIGPWR", "SIGCONT", "SIGSTOP",
];

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
    load_tree(path, text, &root, &dir, jobs_stack)
}

/// Loads and validates stack-file text; relative paths start from `dir`.
pub fn load_str(name: &Path, text: &str, dir: &Path) -> Result<Loaded, Report> {
    match node::parse_str(text) {
        Ok(root) => load_tree(name, text.to_string(), &root, dir, None),
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
) -> Result<Loaded, Report> {
    let mut cx = Cx {
        diags: Vec::new(),
        source: &text,
        dir: dir.to_path_buf(),
        edges: HashMap::new(),
        jobs_stack,
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

/// The entries of a mapping that passed the unknown-key check.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node)>,
    /// Where "missing key" problems point: the mapping's own key when known.
    at: &'n Node,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// Where a dependency edge was written: (line, column, path).
type Site = (u32, u32, String);

/// What the whole-stack checks need to know about each workload before converting it.
struct Names {
    kinds: BTreeMap<String, WorkloadKind>,
    has_health: BTreeMap<String, bool>,
}

struct Cx<'s> {
    diags: Vec<Diagnostic>,
    source: &'s str,
    dir: PathBuf,
    /// (dependent, dependency) → where the edge was written, for cycle reports.
    edges: HashMap<(String, String), Site>,
    /// The stack's name when a file of jobs alone has no `stack:` (see [`load_jobs_file`]).
    jobs_stack: Option<String>,
}

impl Cx<'_> {
    fn error(&mut self, n: &Node, path: &str, message: impl Into<String>, hint: Option<String>) {
        self.diags
            .push(diagnostic(n.line, n.column, path, message.into(), hint));
    }

    fn warn(&mut self, n: &Node, path: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = diagnostic(n.line, n.column, path, message.into(), hint);
        d.severity = Severity::Warning;
        self.diags.push(d);
    }

    fn type_error(&mut self, n: &Node, path: &str, expected: &str) {
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
    fn fields<'n>(
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
            let key_path = join(path, key);
            if known.contains(&key.as_str()) {
                out.push((key.as_str(), v));
            } else {
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
    fn named<'n>(
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

    fn required<'n>(
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

    fn string(&mut self, n: &Node, path: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(n, path, "a string");
                None
            }
        }
    }

    fn nonempty_string(&mut self, n: &Node, path: &str) -> Option<String> {
        let s = self.string(n, path)?;
        if s.trim().is_empty() {
            self.error(n, path, format!("`{path}` is empty"), None);
            return None;
        }
        Some(s)
    }

    fn int(&mut self, n: &Node, path: &str, min: i128, max: i128, what: &str) -> Option<i128> {
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

    fn u32(&mut self, n: &Node, path: &str, what: &str) -> Option<u32> {
        self.int(n, path, 0, u32::MAX.into(), what)
            .and_then(|i| u32::try_from(i).ok())
    }

    fn positive(&mut self, n: &Node, path: &str, what: &str) -> Option<u32> {
        self.int(n, path, 1, u32::MAX.into(), what)
            .and_then(|i| u32::try_from(i).ok())
    }

    fn bool(&mut self, n: &Node, path: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.type_error(n, path, "`true` or `false`");
                None
            }
        }
    }

    fn float(&mut self, n: &Node, path: &str) -> Option<f64> {
        match &n.value {
            Value::Float(f) if f.is_finite() => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => {
                self.type_error(n, path, "a number");
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, path: &str) -> Option<Duration> {
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

    fn word<T: Copy>(&mut self, n: &Node, path: &str, words: &[(&str, T)]) -> Option<T> {
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

    fn command(&mut self, n: &Node, path: &str) -> Option<Command> {
        match &n.value {
            Value::Str(s) if s.trim().is_empty() => {
                self.error(n, path, format!("`{path}` is an empty command"), None);
                None
            }
            Value::Str(s) => Some(Command::Shell(s.clone())),
            Value::Seq(items) if items.is_empty() => {
                let hint = Some("write e.g. [\"./server\", \"--port\", \"8080\"]".to_string());
                self.error(n, path, format!("`{path}` is an empty command"), hint);
                None
            }
            Value::Seq(items) => {
                let mut args = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.scalar_text() {
                        Some(a) => args.push(a),
                        None => self.type_error(item, &format!("{path}[{i}]"), "a string"),
                    }
                }
                (args.len() == items.len()).then_some(Command::Exec(args))
            }
            _ => {
                self.type_error(n, path, "a list of arguments or a shell string");
                None
            }
        }
    }

    fn string_map(&mut self, n: &Node, path: &str, what: &str) -> BTreeMap<String, String> {
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

    fn env_files(&mut self, n: &Node, path: &str) -> Vec<PathBuf> {
        let items: Vec<(String, &Node)> = match &n.value {
            Value::Str(_) => vec![(path.to_string(), n)],
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item))
                .collect(),
            _ => {
                self.type_error(n, path, "a path or a list of paths");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (p, item) in items {
            let Some(file) = self.nonempty_string(item, &p) else {
                continue;
            };
            let resolved = self.dir.join(&file);
            if !resolved.is_file() {
                let hint = Some(format!(
                    "paths are relative to stack.workdir ({})",
                    self.dir.display()
                ));
                self.error(item, &p, format!("env file `{file}` does not exist"), hint);
            } else if let Err(e) = crate::dotenv::read(&resolved) {
                // Read now, so that a bad line stops the apply before anything runs; the
                // values themselves are read again when an instance starts, and never kept.
                let message = match e {
                    crate::dotenv::DotenvError::Line { line, message, .. } => {
                        format!("env file `{file}`, line {line}: {message}")
                    }
                    crate::dotenv::DotenvError::TooLarge { .. } => format!(
                        "env file `{file}` is larger than the {}-byte limit",
                        crate::dotenv::MAX_ENV_FILE_BYTES
                    ),
                    crate::dotenv::DotenvError::Read { source, .. } => {
                        format!("cannot read env file `{file}`: {source}")
                    }
                };
                self.error(item, &p, message, None);
            }
            out.push(PathBuf::from(file));
        }
        out
    }

    /// Checks the stack's size against [`crate::limits`] before anything of it is converted;
    /// `false` (with the error) when it is too large.
    fn within_counts(
        &mut self,
        f: &Fields<'_>,
        services: &[(&Node, String, &Node)],
        jobs: &[(&Node, String, &Node)],
    ) -> bool {
        use crate::limits::{MAX_SERVICES, MAX_TASKS};
        let mut ok = true;
        if services.len() > MAX_SERVICES
            && let Some(n) = f.get("services")
        {
            let message = format!(
                "the stack has {} services, above the limit of {MAX_SERVICES} per stack",
                services.len()
            );
            let hint = Some("split it into several stacks".to_string());
            self.error(n, "services", message, hint);
            ok = false;
        }
        let tasks: usize = jobs
            .iter()
            .map(|(_, _, job)| match job.get("tasks").map(|t| &t.value) {
                Some(Value::Map(entries)) => entries.len(),
                _ => 0,
            })
            .sum();
        if tasks > MAX_TASKS
            && let Some(n) = f.get("jobs")
        {
            let message =
                format!("the stack has {tasks} tasks, above the limit of {MAX_TASKS} per stack");
            let hint = Some("split the jobs into several stacks".to_string());
            self.error(n, "jobs", message, hint);
            ok = false;
        }
        ok
    }

    fn stack(&mut self, root: &Node) -> Option<Stack> {
        if root.value == Value::Null {
            self.error(
                root,
                "",
                "the stack file is empty",
                Some("start with `version: 0.1`".into()),
            );
            return None;
        }
        let f = self.fields(root, "", "the stack file", keys::STACK)?;
        let version = match self.required(&f, "version", "", "the stack file") {
            Some(n) => self.version(n),
            None => None,
        };
        let jobs_only = f.get("services").is_none() && f.get("jobs").is_some();
        let meta = match (f.get("stack"), self.jobs_stack.clone()) {
            (None, Some(name)) if jobs_only => {
                let hint = "add `stack: {name: NAME}`, or rename the file".to_string();
                if valid_name(&name) {
                    Some(StackMeta {
                        name,
                        workdir: PathBuf::from("./"),
                    })
                } else {
                    self.error(
                        root,
                        "stack",
                        format!(
                            "the file has no `stack:` and its name does not make a stack name (`{name}`)"
                        ),
                        Some(hint),
                    );
                    None
                }
            }
            _ => match self.required(&f, "stack", "", "the stack file") {
                Some(n) => self.meta(key_of(root, "stack").unwrap_or(n), n),
                None => None,
            },
        };
        if let Some(meta) = &meta {
            self.dir = self.dir.join(&meta.workdir);
        }
        let (defaults, default_nodes) = match f.get("defaults") {
            Some(n) => self.defaults(n),
            None => (Defaults::default(), Vec::new()),
        };

        let service_nodes = f
            .get("services")
            .map(|n| self.named(n, "services", "services"))
            .unwrap_or_default();
        let job_nodes = f
            .get("jobs")
            .map(|n| self.named(n, "jobs", "jobs"))
            .unwrap_or_default();
        if !self.within_counts(&f, &service_nodes, &job_nodes) {
            return None;
        }
        let merged: Vec<(&Node, String, Node)> = service_nodes
            .iter()
            .map(|(k, name, n)| (*k, name.clone(), merge_defaults(n, &default_nodes)))
            .collect();

        let mut names = Names {
            kinds: BTreeMap::new(),
            has_health: BTreeMap::new(),
        };
        for (k, name, n) in &merged {
            self.name(k, &join("services", name), name, "service");
            let health = n
                .get("health")
                .is_some_and(|h| ProbeKind::ALL.iter().any(|p| h.get(p.as_str()).is_some()));
            names.kinds.insert(name.clone(), WorkloadKind::Service);
            names.has_health.insert(name.clone(), health);
        }
        for (k, name, _) in &job_nodes {
            self.name(k, &join("jobs", name), name, "job");
            if names.kinds.contains_key(name) {
                let message = format!("`{name}` names both a service and a job");
                let hint = Some("services and jobs share one namespace: rename one".into());
                self.error(k, &join("jobs", name), message, hint);
            }
            names.kinds.entry(name.clone()).or_insert(WorkloadKind::Job);
            names.has_health.entry(name.clone()).or_insert(false);
        }
        self.instance_collisions(&merged, &job_nodes, &names);

        let mut services = BTreeMap::new();
        // A service's own (unmerged) node, by name: looked up once per service, so a stack
        // of thousands of services is not a quadratic search.
        let own: std::collections::HashMap<&str, &Node> = service_nodes
            .iter()
            .map(|(_, s, n)| (s.as_str(), *n))
            .collect();
        for (key, name, n) in &merged {
            let own_health = own.get(name.as_str()).and_then(|n| key_of(n, "health"));
            if let Some(s) = self.service(key, n, name, own_health, &names) {
                services.insert(name.clone(), s);
            }
        }
        let mut jobs = BTreeMap::new();
        for (key, name, n) in &job_nodes {
            if let Some(j) = self.job(key, n, name, &names) {
                jobs.insert(name.clone(), j);
            }
        }
        if services.is_empty()
            && jobs.is_empty()
            && service_nodes.is_empty()
            && job_nodes.is_empty()
        {
            self.warn(root, "", "the stack has no services and no jobs", None);
        }
        self.ports(&services, &merged);
        // From the edges as written, so that a cycle is reported with the other errors even
        // when one of its services has an error of its own (a bad `require`).
        self.cycles();

        let stack = Stack {
            version: version?,
            stack: meta?,
            defaults,
            services,
            jobs,
        };
        Some(stack)
    }

    fn version(&mut self, n: &Node) -> Option<String> {
        let text = match &n.value {
            Value::Float(f) if (*f - 0.1).abs() < f64::EPSILON => VERSION.to_string(),
            Value::Str(s) => s.clone(),
            _ => n.scalar_text().unwrap_or_default(),
        };
        if text == VERSION {
            Some(text)
        } else {
            let message = format!(
                "unsupported stack-file version `{text}`: this orco reads version {VERSION}"
            );
            self.error(
                n,
                "version",
                message,
                Some(format!("write `version: {VERSION}`")),
            );
            None
        }
    }

    fn meta(&mut self, key: &Node, n: &Node) -> Option<StackMeta> {
        let mut f = self.fields(n, "stack", "`stack`", keys::META)?;
        f.at = key;
        let name = self.required(&f, "name", "stack", "`stack`").and_then(|n| {
            let name = self.string(n, "stack.name")?;
            self.name(n, "stack.name", &name, "stack").then_some(name)
        });
        let workdir = match f.get("workdir") {
            Some(n) => PathBuf::from(self.nonempty_string(n, "stack.workdir")?),
            None => PathBuf::from("./"),
        };
        if let Some(wd) = f.get("workdir")
            && !self.dir.join(&workdir).is_dir()
        {
            let message = format!("stack.workdir `{}` is not a directory", workdir.display());
            let hint = Some(format!(
                "it is relative to the stack file's directory ({})",
                self.dir.display()
            ));
            self.error(wd, "stack.workdir", message, hint);
        }
        Some(StackMeta {
            name: name?,
            workdir,
        })
    }

    fn name(&mut self, n: &Node, path: &str, name: &str, what: &str) -> bool {
        if valid_name(name) {
            return true;
        }
        let hint = Some(format!(
            "use lowercase letters, digits, `-` and `_`, starting with a letter or digit, at most 63 characters (e.g. `{}`)",
            sanitize(name)
        ));
        self.error(
            n,
            path,
            format!("`{name}` is not a valid {what} name"),
            hint,
        );
        false
    }

    fn defaults(&mut self, n: &Node) -> (Defaults, Vec<(String, Node)>) {
        let mut defaults = Defaults::default();
        let mut nodes = Vec::new();
        let Some(f) = self.fields(n, "defaults", "`defaults`", keys::DEFAULTS) else {
            return (defaults, nodes);
        };
        for (key, value) in &f.entries {
            let before = self.error_count();
            let path = join("defaults", key);
            match *key {
                "restartPolicy" => defaults.restart_policy = self.restart_policy(value, &path),
                "stop" => defaults.stop = self.stop(value, &path),
                _ => {
                    let all = ProbeKind::ALL.to_vec();
                    defaults.health = self.health(value, &path, "defaults", &all, true);
                }
            }
            // Only a default that is valid on its own is merged, so its problems show once.
            if self.error_count() == before {
                nodes.push((key.to_string(), (*value).clone()));
            }
        }
        (defaults, nodes)
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn instance_collisions(
        &mut self,
        merged: &[(&Node, String, Node)],
        jobs: &[(&Node, String, &Node)],
        names: &Names,
    ) {
        let all = merged
            .iter()
            .map(|(k, n, _)| (*k, n.as_str(), "services"))
            .chain(jobs.iter().map(|(k, n, _)| (*k, n.as_str(), "jobs")));
        for (k, name, section) in all {
            let Some((base, index)) = name.rsplit_once('-') else {
                continue;
            };
            if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if names.kinds.get(base) == Some(&WorkloadKind::Service) {
                let message = format!(
                    "`{name}` collides with an instance name of service `{base}` ({base}-0, {base}-1, …)"
                );
                let hint = Some(format!(
                    "rename `{name}`, e.g. to `{base}-{index}x` or `{base}{index}`"
                ));
                self.error(k, &join(section, name), message, hint);
            }
        }
    }

    fn service(
        &mut self,
        key: &Node,
        n: &Node,
        name: &str,
        own_health: Option<&Node>,
        names: &Names,
    ) -> Option<Service> {
        let path = join("services", name);
        let what = format!("service `{name}`");
        let mut f = self.fields(n, &path, &what, keys::SERVICE)?;
        f.at = key;
        let p = |k: &str| join(&path, k);
        let mut ok = true;

        let image = f
            .get("image")
            .and_then(|v| self.nonempty_string(v, &p("image")));
        let command = f
            .get("command")
            .and_then(|v| self.command(v, &p("command")));
        let runtime = match f.get("runtime") {
            Some(v) => self.word(
                v,
                &p("runtime"),
                &[
                    ("process", RuntimeKind::Process),
                    ("docker", RuntimeKind::Docker),
                ],
            ),
            None if f.get("image").is_some() => Some(RuntimeKind::Docker),
            None => Some(RuntimeKind::Process),
        };
        match runtime {
            Some(RuntimeKind::Docker) if f.get("image").is_none() => {
                let hint = Some("add `image: …`, or set `runtime: process` and a `command`".into());
                self.error(
                    key,
                    &path,
                    format!("docker service `{name}` has no `image`"),
                    hint,
                );
                ok = false;
            }
            Some(RuntimeKind::Process) if f.get("command").is_none() => {
                let hint = Some(
                    "add `command: [\"program\", \"arg\"]`, or an `image:` to run a container"
                        .into(),
                );
                self.error(
                    key,
                    &path,
                    format!("process service `{name}` has no `command`"),
                    hint,
                );
                ok = false;
            }
            Some(RuntimeKind::Process) => {
                if let Some(img) = f.get("image") {
                    let hint = Some("remove `image`, or set `runtime: docker`".into());
                    self.error(
                        img,
                        &p("image"),
                        format!(
                            "`image` is only for docker services, and `{name}` is a process service"
                        ),
                        hint,
                    );
                    ok = false;
                }
            }
            _ => {}
        }
        let env = f
            .get("env")
            .map(|v| self.string_map(v, &p("env"), "environment variable"))
            .unwrap_or_default();
        let env_from_file = f
            .get("envFromFile")
            .map(|v| self.env_files(v, &p("envFromFile")))
            .unwrap_or_default();
        let workdir = f
            .get("workdir")
            .and_then(|v| self.nonempty_string(v, &p("workdir")))
            .map(PathBuf::from);
        let ports = match f.get("ports") {
            Some(v) => self.port_list(v, &p("ports")),
            None => Vec::new(),
        };
        // `entrypoint: []` clears the image's entrypoint.
        let entrypoint = f.get("entrypoint").and_then(|v| match &v.value {
            Value::Seq(items) if items.is_empty() => Some(Command::Exec(Vec::new())),
            _ => self.command(v, &p("entrypoint")),
        });
        let volumes = match f.get("volumes") {
            Some(v) => self.mount_list(v, &p("volumes")),
            None => Vec::new(),
        };
        if runtime == Some(RuntimeKind::Process) {
            for key in ["entrypoint", "volumes"] {
                if let Some(v) = f.get(key) {
                    let hint = Some(format!(
                        "remove `{key}`, or run `{name}` as a container with `image: …`"
                    ));
                    self.error(
                        v,
                        &p(key),
                        format!(
                            "`{key}` is only for docker services, and `{name}` is a process service"
                        ),
                        hint,
                    );
                    ok = false;
                }
            }
        }
        let proxy = match f.get("proxy") {
            Some(v) => match &v.value {
                Value::Bool(true) => ProxyMode::Always,
                Value::Bool(false) => ProxyMode::Never,
                Value::Str(s) if s == "auto" => ProxyMode::Auto,
                _ => {
                    self.type_error(v, &p("proxy"), "`auto`, `true` or `false`");
                    ok = false;
                    ProxyMode::Auto
                }
            },
            None => ProxyMode::Auto,
        };
        let replicas = match f.get("replicas") {
            Some(v) => match &v.value {
                Value::Int(_) | Value::Float(_)
                    if v.scalar_text().is_some_and(|t| {
                        t.parse::<f64>()
                            .is_ok_and(|n| n > f64::from(crate::limits::MAX_REPLICAS))
                    }) =>
                {
                    let i = v.scalar_text().unwrap_or_default();
                    let message = format!(
                        "`{}` is {i}, above the limit of {} replicas per service",
                        p("replicas"),
                        crate::limits::MAX_REPLICAS
                    );
                    let hint = Some("run fewer, or split the service".to_string());
                    self.error(v, &p("replicas"), message, hint);
                    None
                }
                _ => self.u32(v, &p("replicas"), "replicas"),
            },
            None => Some(1),
        };
        let depends_on = match f.get("dependsOn") {
            Some(v) => self.dependencies(v, &p("dependsOn"), name, names),
            None => Some(Vec::new()),
        };
        let health = match f.get("health") {
            Some(v) => {
                let configured = health_probes(v);
                let h = self.health(v, &p("health"), name, &configured, false);
                if configured.is_empty() {
                    if let Some(own) = own_health {
                        let hint = Some(
                            "add one of `http`, `tcp`, `cmd`, `log`, or remove `health`".into(),
                        );
                        self.error(
                            own,
                            &p("health"),
                            format!("the health of `{name}` configures no probe"),
                            hint,
                        );
                        ok = false;
                    }
                    None
                } else {
                    if h.is_none() {
                        ok = false;
                    }
                    h
                }
            }
            None => None,
        };
        let restart_policy = match f.get("restartPolicy") {
            Some(v) => self.restart_policy(v, &p("restartPolicy")),
            None => Some(RestartPolicy::default()),
        };
        let stop = match f.get("stop") {
            Some(v) => self.stop(v, &p("stop")),
            None => Some(StopPolicy::default()),
        };
        let update = match f.get("update") {
            Some(v) => self.update(v, &p("update")),
            None => Some(UpdatePolicy::default()),
        };
        let (resources, placement) = self.resources_and_placement(&f, &path, name, names);
        let on_disconnect = match f.get("onDisconnect") {
            Some(v) => self.on_disconnect(v, &p("onDisconnect")),
            None => Some(OnDisconnect::default()),
        };
        self.warn_not_acted_on(
            &f,
            &path,
            resources.as_ref(),
            runtime == Some(RuntimeKind::Docker),
        );
        if !ok {
            return None;
        }
        Some(Service {
            runtime: runtime?,
            command,
            image,
            env,
            env_from_file,
            workdir,
            ports,
            entrypoint,
            volumes,
            proxy,
            replicas: replicas?,
            depends_on: depends_on?,
            health,
            restart_policy: restart_policy?,
            stop: stop?,
            update: update?,
            resources: resources?,
            placement: placement?,
            on_disconnect: on_disconnect?,
        })
    }

    fn port_list(&mut self, n: &Node, path: &str) -> Vec<PortMapping> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of ports such as [\"8080:80\"]");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(text) = item.scalar_text() else {
                self.type_error(item, &p, "a port such as \"8080:80\"");
                continue;
            };
            match text.parse::<PortMapping>() {
                Ok(m) => out.push(m),
                Err(e) => {
                    let hint = Some(
                        "write `\"[ip:]published:target[/tcp|udp]\"`, e.g. \"127.0.0.1:8080:80\""
                            .into(),
                    );
                    self.error(item, &p, format!("bad port `{text}`: {e}"), hint);
                }
            }
        }
        out
    }

    fn mount_list(&mut self, n: &Node, path: &str) -> Vec<Mount> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of mounts such as [\"./data:/data\"]");
            return Vec::new();
        };
        let mut out: Vec<Mount> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Value::Str(text) = &item.value else {
                self.type_error(item, &p, "a mount such as \"./data:/data\"");
                continue;
            };
            match text.parse::<Mount>() {
                Ok(m) if out.iter().any(|o| o.target == m.target) => {
                    let message = format!("`{}` is mounted twice", m.target);
                    let hint = Some("mount one source at each path".into());
                    self.error(item, &p, message, hint);
                }
                Ok(m) => out.push(m),
                Err(e) => {
                    let hint = Some(
                        "write `\"./host/dir:/path[:ro]\"` for a host directory or `\"name:/path[:ro]\"` for a named volume"
                            .into(),
                    );
                    self.error(item, &p, format!("bad mount `{text}`: {e}"), hint);
                }
            }
        }
        out
    }

    fn dependencies(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        names: &Names,
    ) -> Option<Vec<Dependency>> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of dependencies (`- target: NAME`)");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut seen: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            if let Value::Str(s) = &item.value {
                let hint = Some(format!("write `- target: {s}`"));
                self.error(item, &p, "a dependency must be a mapping", hint);
                ok = false;
                continue;
            }
            let Some(f) = self.fields(item, &p, "a dependency", keys::DEPENDENCY) else {
                ok = false;
                continue;
            };
            let target_node = self.required(&f, "target", &p, "a dependency");
            let target = target_node.and_then(|t| self.string(t, &join(&p, "target")));
            let kind = target.as_ref().and_then(|t| names.kinds.get(t).copied());
            let require = match f.get("require") {
                Some(v) => self.word(
                    v,
                    &join(&p, "require"),
                    &[
                        ("exists", Require::Exists),
                        ("started", Require::Started),
                        ("ready", Require::Ready),
                        ("succeeded", Require::Succeeded),
                        ("completed", Require::Completed),
                        ("failed", Require::Failed),
                    ],
                ),
                None if kind == Some(WorkloadKind::Job) => Some(Require::Succeeded),
                None => Some(Require::Ready),
            };
            let timeout = match f.get("timeout") {
                Some(v) => self.duration(v, &join(&p, "timeout")).map(Some),
                None => Some(None),
            };
            let restart = match f.get("restart") {
                Some(v) => self.bool(v, &join(&p, "restart")),
                None => Some(false),
            };
            let (Some(target), Some(target_node)) = (target, target_node) else {
                ok = false;
                continue;
            };
            let tpath = join(&p, "target");
            match kind {
                None => {
                    let hint =
                        suggest(&target, names.kinds.keys().map(String::as_str)).or_else(|| {
                            Some("a dependency names a service or job of this stack".into())
                        });
                    self.error(target_node, &tpath, format!("`{owner}` depends on `{target}`, which is not a service or job of this stack"), hint);
                    ok = false;
                }
                Some(_) if target == owner => {
                    self.error(
                        target_node,
                        &tpath,
                        format!("`{owner}` depends on itself"),
                        None,
                    );
                    ok = false;
                }
                Some(kind) => {
                    if seen.contains(&target) {
                        self.error(
                            target_node,
                            &tpath,
                            format!("`{owner}` lists `{target}` twice in dependsOn"),
                            Some("merge the two entries".into()),
                        );
                        ok = false;
                    }
                    seen.push(target.clone());
                    self.edges
                        .entry((owner.to_string(), target.clone()))
                        .or_insert((target_node.line, target_node.column, tpath.clone()));
                    if let Some(r) = require {
                        let rnode = f.get("require").unwrap_or(target_node);
                        let rpath = if f.get("require").is_some() {
                            join(&p, "require")
                        } else {
                            tpath.clone()
                        };
                        if !self.require_fits(rnode, &rpath, owner, &target, kind, r, names) {
                            ok = false;
                        }
                    }
                }
            }
            match (require, timeout, restart) {
                (Some(require), Some(timeout), Some(restart)) => out.push(Dependency {
                    target,
                    require,
                    timeout,
                    restart,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn require_fits(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        target: &str,
        kind: WorkloadKind,
        r: Require,
        names: &Names,
    ) -> bool {
        let problem = match (kind, r) {
            (_, Require::Failed) => Some((
                format!(
                    "`require: failed` is only for dependencies between tasks of a job, and `{owner}` → `{target}` is not one"
                ),
                "use `completed` to wait for an exit either way".to_string(),
            )),
            (WorkloadKind::Job, Require::Ready) => Some((
                format!(
                    "`{owner}` requires job `{target}` to be ready, but a job has no readiness"
                ),
                "use `require: succeeded` (or `completed`)".to_string(),
            )),
            (WorkloadKind::Service, Require::Ready)
                if !names.has_health.get(target).copied().unwrap_or(false) =>
            {
                Some((
                    format!(
                        "`{owner}` requires `{target}` to be ready, but `{target}` has no health probe"
                    ),
                    format!("add `health:` to `{target}`, or use `require: started`"),
                ))
            }
            _ => None,
        };
        match problem {
            Some((message, hint)) => {
                self.error(n, path, message, Some(hint));
                false
            }
            None => true,
        }
    }

    /// Converts a `health` mapping. `configured` are the probes the service ends up with
    /// (after defaults are merged), against which an `expression` is checked.
    fn health(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        configured: &[ProbeKind],
        is_default: bool,
    ) -> Option<Health> {
        let f = self.fields(n, path, "`health`", keys::HEALTH)?;
        let before = self.error_count();
        let p = |k: &str| join(path, k);
        let http = f.get("http").and_then(|v| self.http(v, &p("http")));
        let tcp = f.get("tcp").and_then(|v| self.tcp(v, &p("tcp")));
        let cmd = f.get("cmd").and_then(|v| {
            let cf = self.fields(v, &p("cmd"), "a cmd probe", keys::CMD)?;
            let c = self.required(&cf, "command", &p("cmd"), "a cmd probe")?;
            Some(CmdProbe {
                command: self.command(c, &join(&p("cmd"), "command"))?,
            })
        });
        let log = f.get("log").and_then(|v| self.log(v, &p("log")));
        let expression = f
            .get("expression")
            .and_then(|v| self.expression(v, &p("expression"), owner, configured, is_default));
        let duration = |cx: &mut Self, key: &str, default: Duration| match f.get(key) {
            Some(v) => cx.duration(v, &p(key)),
            None => Some(default),
        };
        let grace_period = duration(self, "gracePeriod", Duration::zero());
        let interval = duration(self, "interval", Duration::from_secs(2));
        let timeout = duration(self, "timeout", Duration::from_secs(1));
        for (key, value) in [("interval", interval), ("timeout", timeout)] {
            if value == Some(Duration::zero())
                && let Some(v) = f.get(key)
            {
                self.error(
                    v,
                    &p(key),
                    format!("`{}` must be more than 0s", p(key)),
                    None,
                );
            }
        }
        let success_threshold = match f.get("successThreshold") {
            Some(v) => self.positive(v, &p("successThreshold"), "successThreshold"),
            None => Some(1),
        };
        let failure_threshold = match f.get("failureThreshold") {
            Some(v) => self.positive(v, &p("failureThreshold"), "failureThreshold"),
            None => Some(3),
        };
        let on_failure = match f.get("onFailure") {
            Some(v) => self.word(
                v,
                &p("onFailure"),
                &[("none", OnFailure::None), ("restart", OnFailure::Restart)],
            ),
            None => Some(OnFailure::None),
        };
        if self.error_count() > before {
            return None;
        }
        Some(Health {
            http,
            tcp,
            cmd,
            log,
            expression,
            grace_period: grace_period?,
            interval: interval?,
            timeout: timeout?,
            success_threshold: success_threshold?,
            failure_threshold: failure_threshold?,
            on_failure: on_failure?,
        })
    }

    fn http(&mut self, n: &Node, path: &str) -> Option<HttpProbe> {
        let f = self.fields(n, path, "an http probe", keys::HTTP)?;
        let url_node = self.required(&f, "url", path, "an http probe")?;
        let url = self.nonempty_string(url_node, &join(path, "url"))?;
        if let Err(why) = check_http_url(&url) {
            self.error(
                url_node,
                &join(path, "url"),
                format!("bad probe url `{url}`: {why}"),
                Some("write e.g. `http://127.0.0.1:8080/health`".into()),
            );
            return None;
        }
        let expect_status = match f.get("expectStatus") {
            None => vec![200],
            Some(v) => {
                let items: Vec<(String, &Node)> = match &v.value {
                    Value::Seq(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (format!("{path}.expectStatus[{i}]"), x))
                        .collect(),
                    _ => vec![(join(path, "expectStatus"), v)],
                };
                if items.is_empty() {
                    self.error(
                        v,
                        &join(path, "expectStatus"),
                        "`expectStatus` is empty",
                        Some("list the status codes that count as success, e.g. [200, 204]".into()),
                    );
                    return None;
                }
                let mut codes = Vec::new();
                for (p, item) in items {
                    let code = self.int(item, &p, 100, 599, "an HTTP status code")?;
                    codes.push(u16::try_from(code).ok()?);
                }
                codes
            }
        };
        let headers = f
            .get("headers")
            .map(|v| self.string_map(v, &join(path, "headers"), "header"))
            .unwrap_or_default();
        Some(HttpProbe {
            url,
            expect_status,
            headers,
        })
    }

    fn tcp(&mut self, n: &Node, path: &str) -> Option<TcpProbe> {
        let f = self.fields(n, path, "a tcp probe", keys::TCP)?;
        let host = match f.get("host") {
            Some(v) => self.nonempty_string(v, &join(path, "host"))?,
            None => "127.0.0.1".into(),
        };
        let port = self.required(&f, "port", path, "a tcp probe")?;
        let port = self.int(port, &join(path, "port"), 1, 65535, "a port")?;
        Some(TcpProbe {
            host,
            port: u16::try_from(port).ok()?,
        })
    }

    fn log(&mut self, n: &Node, path: &str) -> Option<LogProbe> {
        let f = self.fields(n, path, "a log probe", keys::LOG)?;
        let pattern_node = self.required(&f, "pattern", path, "a log probe")?;
        let pattern = self.nonempty_string(pattern_node, &join(path, "pattern"))?;
        if let Err(e) = regex::Regex::new(&pattern) {
            let detail = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string();
            self.error(
                pattern_node,
                &join(path, "pattern"),
                format!("bad log pattern: {detail}"),
                Some("the pattern is a regular expression (Rust regex syntax)".into()),
            );
            return None;
        }
        let sources = match f.get("sources") {
            None => vec![LogSource::Stdout, LogSource::Stderr],
            Some(v) => {
                let Value::Seq(items) = &v.value else {
                    self.type_error(v, &join(path, "sources"), "a list of `stdout`, `stderr`");
                    return None;
                };
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.word(
                        item,
                        &format!("{path}.sources[{i}]"),
                        &[("stdout", LogSource::Stdout), ("stderr", LogSource::Stderr)],
                    )?);
                }
                if out.is_empty() {
                    self.error(
                        v,
                        &join(path, "sources"),
                        "`sources` is empty",
                        Some("list `stdout`, `stderr` or both".into()),
                    );
                    return None;
                }
                out
            }
        };
        Some(LogProbe { pattern, sources })
    }

    fn expression(
        &mut self,
        n: &Node,
        path: &str,
        owner: &str,
        configured: &[ProbeKind],
        is_default: bool,
    ) -> Option<Expr> {
        let text = self.string(n, path)?;
        match Expr::parse(&text) {
            Err(e) => {
                // Point at the offending character: skip an opening quote.
                let quoted = self
                    .source_char(n.line, n.column)
                    .is_some_and(|c| c == '"' || c == '\'');
                let column = n.column + u32::from(quoted) + e.offset as u32;
                let hint = Some("an expression has probe names (http, tcp, cmd, log), `||`, `&&` and parentheses".into());
                self.diags.push(diagnostic(
                    n.line,
                    column,
                    path,
                    format!("bad health expression: {e}"),
                    hint,
                ));
                None
            }
            Ok(expr) => {
                if is_default {
                    return Some(expr);
                }
                let mut ok = true;
                for kind in expr.probes() {
                    if !configured.contains(&kind) {
                        let k = kind.as_str();
                        let message = format!(
                            "the health expression of `{owner}` names `{k}`, but no {k} probe is configured"
                        );
                        self.error(
                            n,
                            path,
                            message,
                            Some(format!(
                                "configure `health.{k}`, or remove `{k}` from the expression"
                            )),
                        );
                        ok = false;
                    }
                }
                ok.then_some(expr)
            }
        }
    }

    fn source_char(&self, line: u32, column: u32) -> Option<char> {
        let text = self.source.lines().nth((line as usize).checked_sub(1)?)?;
        text.chars().nth((column as usize).checked_sub(1)?)
    }

    fn restart_policy(&mut self, n: &Node, path: &str) -> Option<RestartPolicy> {
        let f = self.fields(n, path, "`restartPolicy`", keys::RESTART)?;
        let mode = match f.get("mode") {
            Some(v) => self.word(
                v,
                &join(path, "mode"),
                &[
                    ("always", RestartMode::Always),
                    ("on-failure", RestartMode::OnFailure),
                    ("never", RestartMode::Never),
                ],
            ),
            None => Some(RestartMode::Always),
        };
        let max_retries = match f.get("maxRetries") {
            Some(v) => self.u32(v, &join(path, "maxRetries"), "maxRetries"),
            None => Some(5),
        };
        let backoff = match f.get("backoff") {
            Some(v) => self.backoff(v, &join(path, "backoff")),
            None => Some(Backoff::default()),
        };
        let reset_after = match f.get("resetAfter") {
            Some(v) => self.duration(v, &join(path, "resetAfter")),
            None => Some(Duration::from_secs(10)),
        };
        Some(RestartPolicy {
            mode: mode?,
            max_retries: max_retries?,
            backoff: backoff?,
            reset_after: reset_after?,
        })
    }

    fn backoff(&mut self, n: &Node, path: &str) -> Option<Backoff> {
        let f = self.fields(n, path, "`backoff`", keys::BACKOFF)?;
        let d = Backoff::default();
        let min = f
            .get("min")
            .map_or(Some(d.min), |v| self.duration(v, &join(path, "min")));
        let max = f
            .get("max")
            .map_or(Some(d.max), |v| self.duration(v, &join(path, "max")));
        let factor = f
            .get("factor")
            .map_or(Some(d.factor), |v| self.float(v, &join(path, "factor")));
        if let Some(fac) = factor
            && fac < 1.0
        {
            let v = f.get("factor").unwrap_or(n);
            self.error(
                v,
                &join(path, "factor"),
                format!("backoff factor {fac} is less than 1.0: delays would shrink"),
                Some("use 1.0 for a constant delay, 2.0 to double it".into()),
            );
            return None;
        }
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            let v = f.get("max").or(f.get("min")).unwrap_or(n);
            self.error(
                v,
                &join(path, "max"),
                format!("backoff max ({hi}) is less than min ({lo})"),
                Some("raise `max` or lower `min`".into()),
            );
            return None;
        }
        Some(Backoff {
            min: min?,
            max: max?,
            factor: factor?,
        })
    }

    fn stop(&mut self, n: &Node, path: &str) -> Option<StopPolicy> {
        let f = self.fields(n, path, "`stop`", keys::STOP)?;
        let signal = match f.get("signal") {
            Some(v) => {
                let raw = self.nonempty_string(v, &join(path, "signal"))?;
                let upper = raw.to_ascii_uppercase();
                let canonical = if upper.starts_with("SIG") {
                    upper
                } else {
                    format!("SIG{upper}")
                };
                if !SIGNALS.contains(&canonical.as_str()) {
                    let hint = suggest(&canonical, SIGNALS.iter().copied())
                        .or_else(|| Some(format!("one of {}", SIGNALS.join(", "))));
                    self.error(
                        v,
                        &join(path, "signal"),
                        format!("`{raw}` is not a signal orco can send"),
                        hint,
                    );
                    return None;
                }
                canonical
            }
            None => "SIGTERM".into(),
        };
        let timeout = f.get("timeout").map_or(Some(Duration::from_secs(10)), |v| {
            self.duration(v, &join(path, "timeout"))
        });
        Some(StopPolicy {
            signal,
            timeout: timeout?,
        })
    }

    fn update(&mut self, n: &Node, path: &str) -> Option<UpdatePolicy> {
        let f = self.fields(n, path, "`update`", keys::UPDATE)?;
        let strategy = f
            .get("strategy")
            .map_or(Some(UpdateStrategy::Rolling), |v| {
                self.word(
                    v,
                    &join(path, "strategy"),
                    &[
                        ("rolling", UpdateStrategy::Rolling),
                        ("recreate", UpdateStrategy::Recreate),
                    ],
                )
            });
        let max_unavailable = f.get("maxUnavailable").map_or(Some(0), |v| {
            self.u32(v, &join(path, "maxUnavailable"), "maxUnavailable")
        });
        let max_surge = f.get("maxSurge").map_or(Some(1), |v| {
            self.u32(v, &join(path, "maxSurge"), "maxSurge")
        });
        if strategy == Some(UpdateStrategy::Rolling)
            && max_unavailable == Some(0)
            && max_surge == Some(0)
        {
            let at = f.get("maxSurge").or(f.get("maxUnavailable")).unwrap_or(n);
            self.error(at, path, "`maxUnavailable` and `maxSurge` are both 0: a rolling update could never make progress", Some("allow one extra instance (`maxSurge: 1`) or one unavailable (`maxUnavailable: 1`)".into()));
            return None;
        }
        Some(UpdatePolicy {
            strategy: strategy?,
            max_unavailable: max_unavailable?,
            max_surge: max_surge?,
        })
    }

    fn job(&mut self, key: &Node, n: &Node, name: &str, names: &Names) -> Option<Job> {
        let path = join("jobs", name);
        let mut f = self.fields(n, &path, &format!("job `{name}`"), keys::JOB)?;
        f.at = key;
        let p = |k: &str| join(&path, k);
        let priority = f.get("priority").map_or(Some(0), |v| {
            self.int(
                v,
                &p("priority"),
                i32::MIN.into(),
                i32::MAX.into(),
                "priority",
            )
            .and_then(|i| i32::try_from(i).ok())
        });
        let parallelism = f
            .get("parallelism")
            .map_or(Some(0), |v| self.u32(v, &p("parallelism"), "parallelism"));
        let continue_on_failure = f
            .get("continueOnFailure")
            .map_or(Some(false), |v| self.bool(v, &p("continueOnFailure")));
        let schedule = match f.get("schedule") {
            Some(v) => self.schedule(v, &p("schedule")).map(Some),
            None => Some(None),
        };
        let depends_on = match f.get("dependsOn") {
            Some(v) => self.dependencies(v, &p("dependsOn"), name, names),
            None => Some(Vec::new()),
        };
        let (resources, placement) = self.resources_and_placement(&f, &path, name, names);
        self.warn_not_acted_on(&f, &path, resources.as_ref(), false);
        let tasks_node = self.required(&f, "tasks", &path, &format!("job `{name}`"))?;
        let task_nodes = self.named(tasks_node, &p("tasks"), "tasks");
        if task_nodes.is_empty() && matches!(tasks_node.value, Value::Map(_) | Value::Null) {
            self.error(
                tasks_node,
                &p("tasks"),
                format!("job `{name}` has no tasks"),
                Some("add at least one task with a `command`".into()),
            );
            return None;
        }
        let task_names: Vec<String> = task_nodes.iter().map(|(_, t, _)| t.clone()).collect();
        let siblings = Siblings {
            set: task_names.iter().map(String::as_str).collect(),
            names: &task_names,
        };
        let mut tasks = BTreeMap::new();
        let mut ok = true;
        for (k, task, tn) in &task_nodes {
            let tpath = join(&p("tasks"), task);
            if !self.name(k, &tpath, task, "task") {
                ok = false;
            }
            match self.task(k, tn, &tpath, name, task, &siblings, names) {
                Some(t) => {
                    tasks.insert(task.clone(), t);
                }
                None => ok = false,
            }
        }
        if ok {
            let mut g = orco_dag::Graph::new();
            for (t, task) in &tasks {
                g.add_node(t.clone());
                for d in &task.depends_on {
                    g.add_edge(t.clone(), d.target.clone());
                }
            }
            if let Some(cycle) = g.find_cycle() {
                let at = task_nodes
                    .iter()
                    .find(|(_, t, _)| Some(t) == cycle.path.first())
                    .map_or(tasks_node, |(k, _, _)| *k);
                self.error(
                    at,
                    &p("tasks"),
                    format!("tasks of job `{name}` form a {cycle}"),
                    Some("remove one of these dependsOn entries".into()),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(Job {
            priority: priority?,
            parallelism: parallelism?,
            continue_on_failure: continue_on_failure?,
            schedule: schedule?,
            tasks,
            depends_on: depends_on?,
            resources: resources?,
            placement: placement?,
            graph: Default::default(),
        })
    }

    fn schedule(&mut self, n: &Node, path: &str) -> Option<Schedule> {
        let f = self.fields(n, path, "`schedule`", keys::SCHEDULE)?;
        let cron_node = self.required(&f, "cron", path, "`schedule`")?;
        let cron = self.nonempty_string(cron_node, &join(path, "cron"))?;
        if let Err(why) = orco_cron::Cron::parse(&cron) {
            self.error(
                cron_node,
                &join(path, "cron"),
                format!("bad cron expression `{cron}`: {why}"),
                Some(
                    "five fields `minute hour day-of-month month day-of-week` (e.g. `*/5 * * * *`), \
                     or six with seconds first (e.g. `*/2 * * * * *`)"
                        .into(),
                ),
            );
            return None;
        }
        let timezone = match f.get("timezone") {
            Some(v) => {
                let tz = self.nonempty_string(v, &join(path, "timezone"))?;
                if jiff::tz::TimeZone::get(&tz).is_err() {
                    self.error(
                        v,
                        &join(path, "timezone"),
                        format!("unknown time zone `{tz}`"),
                        Some("use an IANA name such as `UTC` or `Europe/Berlin`".into()),
                    );
                    return None;
                }
                tz
            }
            None => "UTC".into(),
        };
        let overlap = f.get("overlap").map_or(Some(Overlap::Skip), |v| {
            self.word(
                v,
                &join(path, "overlap"),
                &[
                    ("skip", Overlap::Skip),
                    ("queue", Overlap::Queue),
                    ("allow", Overlap::Allow),
                ],
            )
        });
        Some(Schedule {
            cron,
            timezone,
            overlap: overlap?,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn task(
        &mut self,
        key: &Node,
        n: &Node,
        path: &str,
        job: &str,
        name: &str,
        siblings: &Siblings,
        names: &Names,
    ) -> Option<Task> {
        let mut f = self.fields(n, path, &format!("task `{job}/{name}`"), keys::TASK)?;
        f.at = key;
        let p = |k: &str| join(path, k);
        let command = self
            .required(&f, "command", path, &format!("task `{job}/{name}`"))
            .and_then(|v| self.command(v, &p("command")));
        let env = f
            .get("env")
            .map(|v| self.string_map(v, &p("env"), "environment variable"))
            .unwrap_or_default();
        let env_from_file = f
            .get("envFromFile")
            .map(|v| self.env_files(v, &p("envFromFile")))
            .unwrap_or_default();
        let workdir = f
            .get("workdir")
            .and_then(|v| self.nonempty_string(v, &p("workdir")))
            .map(PathBuf::from);
        let timeout = match f.get("timeout") {
            Some(v) => self.duration(v, &p("timeout")).map(Some),
            None => Some(None),
        };
        let retry = match f.get("retry") {
            Some(v) => self
                .fields(v, &p("retry"), "`retry`", keys::RETRY)
                .and_then(|rf| {
                    let max_retries = rf.get("maxRetries").map_or(Some(0), |x| {
                        self.u32(x, &join(&p("retry"), "maxRetries"), "maxRetries")
                    });
                    let backoff = rf.get("backoff").map_or(Some(Backoff::default()), |x| {
                        self.backoff(x, &join(&p("retry"), "backoff"))
                    });
                    Some(Retry {
                        max_retries: max_retries?,
                        backoff: backoff?,
                    })
                }),
            None => Some(Retry::default()),
        };
        let depends_on = match f.get("dependsOn") {
            Some(v) => self.task_dependencies(v, &p("dependsOn"), job, name, siblings, names),
            None => Some(Vec::new()),
        };
        let (resources, placement) = self.resources_and_placement(&f, path, job, names);
        let resources = resources.map(|r| f.get("resources").map(|_| r));
        let placement = placement.map(|pl| f.get("placement").map(|_| pl));
        self.warn_not_acted_on(&f, path, resources.as_ref().and_then(Option::as_ref), false);
        Some(Task {
            command: command?,
            env,
            env_from_file,
            workdir,
            timeout: timeout?,
            retry: retry?,
            depends_on: depends_on?,
            resources: resources?,
            placement: placement?,
        })
    }

    fn task_dependencies(
        &mut self,
        n: &Node,
        path: &str,
        job: &str,
        task: &str,
        siblings: &Siblings,
        names: &Names,
    ) -> Option<Vec<TaskDependency>> {
        let Value::Seq(items) = &n.value else {
            self.type_error(n, path, "a list of dependencies (`- target: TASK`)");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let Some(f) = self.fields(item, &p, "a task dependency", keys::TASK_DEPENDENCY) else {
                ok = false;
                continue;
            };
            let target_node = self.required(&f, "target", &p, "a task dependency");
            let target = target_node.and_then(|t| self.string(t, &join(&p, "target")));
            let require = f.get("require").map_or(Some(Require::Succeeded), |v| {
                self.word(
                    v,
                    &join(&p, "require"),
                    &[
                        ("succeeded", Require::Succeeded),
                        ("failed", Require::Failed),
                        ("completed", Require::Completed),
                    ],
                )
            });
            let (Some(target), Some(tn), Some(require)) = (target, target_node, require) else {
                ok = false;
                continue;
            };
            let tpath = join(&p, "target");
            let other_job = target
                .split_once('/')
                .map(|(j, t)| (j.to_string(), t.to_string()));
            if target == task {
                self.error(
                    tn,
                    &tpath,
                    format!("task `{job}/{task}` depends on itself"),
                    None,
                );
                ok = false;
            } else if siblings.set.contains(target.as_str()) {
                out.push(TaskDependency { target, require });
                continue;
            } else if let Some((j, _)) =
                other_job.filter(|(j, _)| j != job && names.kinds.contains_key(j))
            {
                let message =
                    format!("task `{job}/{task}` depends on `{target}`, a task of another job");
                let hint = Some(format!(
                    "a task may depend only on tasks of its own job; make job `{job}` depend on job `{j}` instead"
                ));
                self.error(tn, &tpath, message, hint);
                ok = false;
            } else {
                let hint =
                    suggest(&target, siblings.names.iter().map(String::as_str)).or_else(|| {
                        Some(format!(
                            "tasks of job `{job}`: {}",
                            siblings.names.join(", ")
                        ))
                    });
                self.error(tn, &tpath, format!("task `{job}/{task}` depends on `{target}`, which is not a task of job `{job}`"), hint);
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn ports(&mut self, services: &BTreeMap<String, Service>, merged: &[(&Node, String, Node)]) {
        let mut owners: HashMap<(u16, Protocol), &str> = HashMap::new();
        for (name, s) in services {
            for (i, port) in s.ports.iter().enumerate() {
                let key = (port.published, port.protocol);
                match owners.get(&key) {
                    Some(other) if *other != name.as_str() => {
                        let node =
                            merged
                                .iter()
                                .find(|(_, n, _)| n == name)
                                .and_then(|(_, _, n)| match n.get("ports").map(|p| &p.value) {
                                    Some(Value::Seq(items)) => items.get(i).cloned(),
                                    _ => None,
                                });
                        if let Some(node) = node {
                            let proto = if port.protocol == Protocol::Udp {
                                "udp"
                            } else {
                                "tcp"
                            };
                            let message = format!(
                                "port {}/{proto} is published by both `{other}` and `{name}`",
                                port.published
                            );
                            self.error(
                                &node,
                                &format!("services.{name}.ports[{i}]"),
                                message,
                                Some("publish a different host port".into()),
                            );
                        }
                    }
                    _ => {
                        owners.insert(key, name.as_str());
                    }
                }
            }
        }
    }

    fn cycles(&mut self) {
        let mut edges: Vec<&(String, String)> = self.edges.keys().collect();
        edges.sort();
        let mut g = orco_dag::Graph::new();
        for (dependent, dependency) in &edges {
            g.add_node(dependent);
            g.add_node(dependency);
        }
        for (dependent, dependency) in edges {
            g.add_edge(dependent, dependency);
        }
        if let Some(cycle) = g.find_cycle() {
            let (a, b) = (
                cycle.path[0].clone(),
                cycle.path.get(1).cloned().unwrap_or_default(),
            );
            let (line, column, path) =
                self.edges
                    .get(&(a, b))
                    .cloned()
                    .unwrap_or((0, 0, String::new()));
            let hint =
                Some("remove one of these dependsOn entries; each name depends on the next".into());
            self.diags
                .push(diagnostic(line, column, &path, cycle.to_string(), hint));
        }
    }
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

fn health_probes(n: &Node) -> Vec<ProbeKind> {
    ProbeKind::ALL
        .into_iter()
        .filter(|k| n.get(k.as_str()).is_some())
        .collect()
}

fn merge_defaults(service: &Node, defaults: &[(String, Node)]) -> Node {
    if defaults.is_empty() || !matches!(service.value, Value::Map(_)) {
        return service.clone();
    }
    let base = Node {
        value: Value::Map(
            defaults
                .iter()
                .map(|(k, v)| {
                    (
                        Node {
                            value: Value::Str(k.clone()),
                            line: v.line,
                            column: v.column,
                        },
                        v.clone(),
                    )
                })
                .collect(),
        ),
        line: service.line,
        column: service.column,
    };
    service.merged_over(&base)
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

fn check_http_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            "https probes are not supported; probe the plain-HTTP port, or use a tcp probe".into()
        } else {
            "it must start with `http://`".into()
        });
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("it has no host".into());
    }
    let port = if authority.starts_with('[') {
        authority.rsplit_once("]:").map(|(_, p)| p)
    } else {
        authority.rsplit_once(':').map(|(_, p)| p)
    };
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return Err(format!("`{p}` is not a port number"));
    }
    Ok(())
}

/// The tasks of one job, in file order and as a set for lookups (a job may have
/// thousands).
struct Siblings<'a> {
    names: &'a [String],
    set: HashSet<&'a str>,
}

//! The compose model as compose builds it before anything runs: every file interpolated with
//! its own variables, `include`d files merged in, `extends` resolved, paths of other files
//! made absolute, `~` expanded, and `profiles` applied.
//!
//! Every file read gets an index; the lines of file `k` are stored as `k * FILE_LINES + line`
//! so that one tree can hold nodes of several files and each diagnostic still says where it
//! comes from ([`Sources::relocate`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use orco_spec::diag::{Diagnostic, Severity};
use orco_spec::node::{Node, Value};

use crate::interpolate::{Problem, interpolate};

/// Lines per file in the combined numbering (a file has fewer: it is at most 4 MiB).
pub(crate) const FILE_LINES: u32 = 1 << 23;

/// How deep includes and extends may nest.
const MAX_DEPTH: usize = 32;

/// The files read, by index (0: the file given).
#[derive(Debug, Default)]
pub(crate) struct Sources {
    files: Vec<(PathBuf, String)>,
}

impl Sources {
    /// Moves diagnostics of other files than the first to line 0, their file, line and
    /// column written at the head of the message (a report shows the lines of one file).
    pub(crate) fn relocate(&self, diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
        diags
            .into_iter()
            .map(|mut d| {
                let index = (d.line / FILE_LINES) as usize;
                if index > 0 {
                    let line = d.line % FILE_LINES;
                    let name = self
                        .files
                        .get(index)
                        .map_or_else(String::new, |(n, _)| n.display().to_string());
                    d.message = if line > 0 {
                        format!("{name}:{line}:{}: {}", d.column, d.message)
                    } else {
                        format!("{name}: {}", d.message)
                    };
                    d.line = 0;
                    d.column = 0;
                }
                d
            })
            .collect()
    }
}

/// The resolved model of a compose file.
#[derive(Debug)]
pub(crate) struct Model {
    /// The merged tree (`include` and `extends` gone, disabled services removed).
    pub(crate) root: Node,
    /// The main file's variables (its `.env` under the environment).
    pub(crate) vars: BTreeMap<String, String>,
    /// Problems found on the way (positions in the combined numbering).
    pub(crate) diags: Vec<Diagnostic>,
    /// The files read.
    pub(crate) sources: Sources,
}

/// What resolving needs from outside.
pub(crate) struct Request<'a> {
    /// The process environment.
    pub(crate) env: &'a BTreeMap<String, String>,
    /// `--profile` names.
    pub(crate) profiles: &'a [String],
    /// Services named on the command line: enabled with their dependencies whatever their
    /// profiles.
    pub(crate) services: &'a [String],
}

/// One file's model as loaded: its tree and the directory its paths are relative to.
#[derive(Clone)]
struct FileModel {
    root: Node,
    dir: PathBuf,
    path: PathBuf,
}

struct Resolver<'a> {
    request: &'a Request<'a>,
    main_dir: PathBuf,
    shown_from: PathBuf,
    diags: Vec<Diagnostic>,
    sources: Sources,
    /// Files loaded for `extends: {file: …}`, by absolute path.
    extended: BTreeMap<PathBuf, FileModel>,
}

fn key_text(node: &Node) -> String {
    node.scalar_text().unwrap_or_default()
}

fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.value {
        Value::Map(entries) => entries,
        _ => &[],
    }
}

fn entries_mut(node: &mut Node) -> Option<&mut Vec<(Node, Node)>> {
    match &mut node.value {
        Value::Map(entries) => Some(entries),
        _ => None,
    }
}

fn str_node(text: String, at: &Node) -> Node {
    Node {
        value: Value::Str(text),
        line: at.line,
        column: at.column,
    }
}

/// Whether two trees hold the same values (positions aside).
pub(crate) fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        (x, y) => x == y,
    }
}

/// `path` without `.` and with `..` applied where it can be (no file system access).
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn absolute(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|cwd| clean(&cwd.join(dir)))
            .unwrap_or_else(|_| dir.to_path_buf())
    })
}

/// The variables of a file in `dir`: `.env` there (or the given env files), under the
/// environment.
fn read_vars(
    env: &BTreeMap<String, String>,
    dir: &Path,
    env_files: Option<&[PathBuf]>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut vars = BTreeMap::new();
    let mut problems = Vec::new();
    let default = [dir.join(".env")];
    let (files, optional) = match env_files {
        Some(files) => (files, false),
        None => (&default[..], true),
    };
    for file in files {
        if optional && !file.is_file() {
            continue;
        }
        match orco_runtime::dotenv::read(file) {
            Ok(pairs) => vars.extend(pairs),
            Err(e) => problems.push(format!("cannot read {}: {e}", file.display())),
        }
    }
    vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    (vars, problems)
}

/// Resolves the main file's tree `root` (read from `name` in `dir`).
pub(crate) fn resolve(
    name: &Path,
    text: String,
    root: Node,
    dir: &Path,
    request: &Request<'_>,
) -> Model {
    let main_dir = absolute(dir);
    let mut resolver = Resolver {
        request,
        main_dir: main_dir.clone(),
        shown_from: main_dir.clone(),
        diags: Vec::new(),
        sources: Sources {
            files: vec![(name.to_path_buf(), text)],
        },
        extended: BTreeMap::new(),
    };
    let (vars, problems) = read_vars(request.env, &main_dir, None);
    for p in problems {
        resolver.error(&root, "", p, None);
    }
    let main_path = main_dir.join(name.file_name().unwrap_or_default());
    let main_path = main_path.canonicalize().unwrap_or(main_path);
    let mut chain = vec![main_path.clone()];
    let root = resolver.file_model(root, &main_dir, &main_path, &vars, &mut chain);
    let root = resolver.profiles(root, &vars);
    Model {
        root,
        vars,
        diags: resolver.diags,
        sources: resolver.sources,
    }
}

impl Resolver<'_> {
    fn push(
        &mut self,
        severity: Severity,
        at: &Node,
        path: &str,
        message: String,
        hint: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            severity,
            line: at.line,
            column: at.column,
            path: path.to_string(),
            message,
            hint,
        });
    }

    fn error(&mut self, at: &Node, path: &str, message: String, hint: Option<String>) {
        self.push(Severity::Error, at, path, message, hint);
    }

    fn warn(&mut self, at: &Node, path: &str, message: String, hint: Option<String>) {
        self.push(Severity::Warning, at, path, message, hint);
    }

    /// A file's name as shown: relative to the main file's directory when under it.
    fn shown(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.shown_from)
            .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
    }

    /// Reads another file into the combined numbering; `None` (with an error at `at`) when
    /// it cannot be read or parsed.
    fn read_other(&mut self, path: &Path, at: &Node, at_path: &str, what: &str) -> Option<Node> {
        let shown = self.shown(path);
        let index = self.sources.files.len();
        let Ok(index) = u32::try_from(index) else {
            return None;
        };
        if index >= u32::MAX / FILE_LINES {
            self.error(
                at,
                at_path,
                format!("too many files: {} not read", shown.display()),
                None,
            );
            return None;
        }
        if path.exists() && !path.is_file() {
            self.error(
                at,
                at_path,
                format!("the {what} {} is not a regular file", shown.display()),
                None,
            );
            return None;
        }
        match orco_spec::node::parse_file(path) {
            Ok((text, mut root)) => {
                offset(&mut root, index * FILE_LINES);
                self.sources.files.push((shown, text));
                Some(root)
            }
            Err(orco_spec::node::ParseFileError::Io(e)) => {
                self.error(
                    at,
                    at_path,
                    format!("cannot read the {what} {}: {e}", shown.display()),
                    None,
                );
                None
            }
            Err(orco_spec::node::ParseFileError::Syntax(text, e)) => {
                self.sources.files.push((shown, text));
                let at = Node {
                    value: Value::Null,
                    line: index * FILE_LINES + e.line,
                    column: e.column,
                };
                self.error(&at, "", e.message, None);
                None
            }
        }
    }

    /// One file's model: interpolated with `vars`, paths made absolute unless the file
    /// is in the main directory, `extends` resolved, includes merged in.
    fn file_model(
        &mut self,
        mut root: Node,
        dir: &Path,
        path: &Path,
        vars: &BTreeMap<String, String>,
        chain: &mut Vec<PathBuf>,
    ) -> Node {
        self.interpolate(&mut root, "", vars);
        if !matches!(root.value, Value::Map(_)) {
            return root;
        }
        self.paths(&mut root, dir, vars);
        let model = FileModel {
            root: root.clone(),
            dir: dir.to_path_buf(),
            path: path.to_path_buf(),
        };
        self.extends_all(&mut root, &model, vars);
        self.includes(&mut root, dir, chain);
        root
    }

    /// Interpolates every string value of the tree in place (keys stay as written).
    fn interpolate(&mut self, node: &mut Node, path: &str, vars: &BTreeMap<String, String>) {
        match &mut node.value {
            Value::Str(text) => {
                let (out, problems) = interpolate(text, vars);
                *text = out;
                let at = Node {
                    value: Value::Null,
                    line: node.line,
                    column: node.column,
                };
                for problem in problems {
                    match problem {
                        Problem::Unset(var) => self.warn(
                            &at,
                            path,
                            format!("variable `{var}` is not set: it is read as an empty string"),
                            Some(format!(
                                "set it in the environment or in .env, or write `${{{var}:-default}}`"
                            )),
                        ),
                        Problem::Required { var, message } => self.error(
                            &at,
                            path,
                            if message.is_empty() {
                                format!("required variable `{var}` is not set")
                            } else {
                                format!("required variable `{var}` is not set: {message}")
                            },
                            Some("set it in the environment or in .env".into()),
                        ),
                        Problem::Syntax(message) => self.error(
                            &at,
                            path,
                            format!("bad interpolation: {message}"),
                            Some("write `$$` for a literal `$`".into()),
                        ),
                    }
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.interpolate(item, &format!("{path}[{i}]"), vars);
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    let key = key_text(k);
                    let p = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    self.interpolate(v, &p, vars);
                }
            }
            _ => {}
        }
    }

    /// `~` expanded in bind sources; relative bind sources, env files and build contexts
    /// of a file outside the main directory made absolute.
    fn paths(&mut self, root: &mut Node, dir: &Path, vars: &BTreeMap<String, String>) {
        let rebase = dir != self.main_dir;
        let home = vars.get("HOME").cloned();
        let Some(services) = root_services_mut(root) else {
            return;
        };
        let mut errors = Vec::new();
        for (svc_key, svc) in services.iter_mut() {
            let sp = format!("services.{}", key_text(svc_key));
            let Some(keys) = entries_mut(svc) else {
                continue;
            };
            for (k, v) in keys.iter_mut() {
                let p = format!("{sp}.{}", key_text(k));
                match key_text(k).as_str() {
                    "volumes" => {
                        let Value::Seq(items) = &mut v.value else {
                            continue;
                        };
                        for (i, item) in items.iter_mut().enumerate() {
                            let ip = format!("{p}[{i}]");
                            match &mut item.value {
                                Value::Str(text) => {
                                    let Some((source, rest)) = text.split_once(':') else {
                                        continue;
                                    };
                                    let bind = source.starts_with(['.', '/', '~']);
                                    if !bind {
                                        continue;
                                    }
                                    match fix_path(source, dir, rebase, home.as_deref()) {
                                        Ok(source) => *text = format!("{source}:{rest}"),
                                        Err(e) => errors.push((item.line, item.column, ip, e)),
                                    }
                                }
                                Value::Map(fields) => {
                                    let bind = fields.iter().any(|(k, v)| {
                                        key_text(k) == "type" && key_text(v) == "bind"
                                    });
                                    for (fk, fv) in fields.iter_mut() {
                                        if key_text(fk) != "source" || !bind {
                                            continue;
                                        }
                                        if let Value::Str(source) = &mut fv.value {
                                            match fix_path(source, dir, rebase, home.as_deref()) {
                                                Ok(fixed) => *source = fixed,
                                                Err(e) => errors.push((
                                                    fv.line,
                                                    fv.column,
                                                    format!("{ip}.source"),
                                                    e,
                                                )),
                                            }
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    "env_file" if rebase => rebase_env_files(v, dir),
                    "build" if rebase => match &mut v.value {
                        Value::Str(context) => *context = rebase_context(context, dir),
                        Value::Map(fields) => {
                            for (fk, fv) in fields.iter_mut() {
                                if key_text(fk) == "context"
                                    && let Value::Str(context) = &mut fv.value
                                {
                                    *context = rebase_context(context, dir);
                                }
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        for (line, column, path, message) in errors {
            let at = Node {
                value: Value::Null,
                line,
                column,
            };
            self.error(
                &at,
                &path,
                message,
                Some("write `~/dir` (the home of the user running orco), or a path".into()),
            );
        }
    }
}

fn root_services_mut(root: &mut Node) -> Option<&mut Vec<(Node, Node)>> {
    let entries = entries_mut(root)?;
    entries
        .iter_mut()
        .find(|(k, _)| key_text(k) == "services")
        .and_then(|(_, v)| entries_mut(v))
}

/// A bind source with `~` expanded and, with `rebase`, made absolute from `dir`.
fn fix_path(source: &str, dir: &Path, rebase: bool, home: Option<&str>) -> Result<String, String> {
    if let Some(rest) = source.strip_prefix('~') {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(format!(
                "`{source}`: orco expands `~` only for the user running it, not `~user`"
            ));
        }
        let Some(home) = home.filter(|h| !h.is_empty()) else {
            return Err(format!(
                "`{source}`: `~` cannot be expanded: HOME is not set"
            ));
        };
        let rest = rest.trim_start_matches('/');
        let path = if rest.is_empty() {
            PathBuf::from(home)
        } else {
            Path::new(home).join(rest)
        };
        return Ok(clean(&path).display().to_string());
    }
    if rebase && !source.starts_with('/') {
        return Ok(clean(&dir.join(source)).display().to_string());
    }
    Ok(source.to_string())
}

fn rebase_context(context: &str, dir: &Path) -> String {
    if context.contains("://") || context.starts_with('/') || context.starts_with("git@") {
        context.to_string()
    } else {
        clean(&dir.join(context)).display().to_string()
    }
}

fn rebase_env_files(node: &mut Node, dir: &Path) {
    let fix = |n: &mut Node| match &mut n.value {
        Value::Str(p) if !p.starts_with('/') => *p = clean(&dir.join(&*p)).display().to_string(),
        Value::Map(fields) => {
            for (k, v) in fields.iter_mut() {
                if key_text(k) == "path"
                    && let Value::Str(p) = &mut v.value
                    && !p.starts_with('/')
                {
                    *p = clean(&dir.join(&*p)).display().to_string();
                }
            }
        }
        _ => {}
    };
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(fix),
        _ => fix(node),
    }
}

/// Adds `by` to every line of the tree.
fn offset(node: &mut Node, by: u32) {
    node.line = node.line.saturating_add(by);
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| offset(n, by)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            offset(k, by);
            offset(v, by);
        }),
        _ => {}
    }
}

/// The dependencies a service declares: (target, where, required).
fn dependencies(service: &Node) -> Vec<(String, Node, bool)> {
    let Some(deps) = service.get("depends_on") else {
        return Vec::new();
    };
    match &deps.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|n| n.scalar_text().map(|t| (t, n.clone(), true)))
            .collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let required = v
                    .get("required")
                    .is_none_or(|r| r.value != Value::Bool(false));
                (key_text(k), k.clone(), required)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A service's `profiles`, or an error message when it is not a list of names.
fn profiles_of(service: &Node) -> Result<Vec<String>, (Node, String)> {
    let Some(list) = service.get("profiles") else {
        return Ok(Vec::new());
    };
    match &list.value {
        Value::Seq(items) => items
            .iter()
            .map(|n| match &n.value {
                Value::Str(s) if !s.is_empty() => Ok(s.clone()),
                other => Err((
                    n.clone(),
                    format!("expected a profile name, found {}", other.kind()),
                )),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => Err((
            list.clone(),
            format!("expected a list of profile names, found {}", other.kind()),
        )),
    }
}

/// The active profiles: `--profile` names and `COMPOSE_PROFILES` (comma-separated).
pub(crate) fn active_profiles(
    flags: &[String],
    vars: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut active: BTreeSet<String> = flags.iter().filter(|p| !p.is_empty()).cloned().collect();
    if let Some(env) = vars.get("COMPOSE_PROFILES") {
        active.extend(
            env.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from),
        );
    }
    active
}

impl Resolver<'_> {
    /// Keeps the services an active profile enables (or that have none), and the services
    /// named on the command line with their dependencies whatever their profiles.
    fn profiles(&mut self, mut root: Node, vars: &BTreeMap<String, String>) -> Node {
        let active = active_profiles(self.request.profiles, vars);
        let every = active.contains("*");
        let Some(services) = root.get("services").cloned() else {
            if let Some(name) = self.request.services.first() {
                self.error(
                    &root,
                    "services",
                    format!("no service `{name}` in the compose file"),
                    None,
                );
            }
            return root;
        };
        let mut profiles = BTreeMap::new();
        for (k, v) in entries(&services) {
            let name = key_text(k);
            match profiles_of(v) {
                Ok(list) => {
                    profiles.insert(name, list);
                }
                Err((at, message)) => {
                    self.error(&at, &format!("services.{name}.profiles"), message, None);
                    profiles.insert(name, Vec::new());
                }
            }
        }
        let mut keep: BTreeSet<String> = profiles
            .iter()
            .filter(|(_, list)| list.is_empty() || every || list.iter().any(|p| active.contains(p)))
            .map(|(name, _)| name.clone())
            .collect();
        // Named services and, transitively, what they depend on.
        let mut todo: Vec<String> = Vec::new();
        for name in self.request.services {
            if profiles.contains_key(name) {
                todo.push(name.clone());
            } else {
                let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
                let hint =
                    orco_spec::did_you_mean(name, known).map(|k| format!("did you mean `{k}`?"));
                let at = Node {
                    value: Value::Null,
                    line: 0,
                    column: 0,
                };
                self.error(
                    &at,
                    "",
                    format!("no service `{name}` in the compose file"),
                    hint,
                );
            }
        }
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            keep.insert(name.clone());
            if let Some(svc) = services.get(&name) {
                for (target, _, _) in dependencies(svc) {
                    if profiles.contains_key(&target) {
                        todo.push(target);
                    }
                }
            }
        }
        // A kept service may not need one left out.
        for name in &keep {
            let Some(svc) = services.get(name) else {
                continue;
            };
            for (target, at, required) in dependencies(svc) {
                if !required || keep.contains(&target) {
                    continue;
                }
                let Some(list) = profiles.get(&target) else {
                    continue;
                };
                let names: Vec<String> = list.iter().map(|p| format!("`{p}`")).collect();
                let first = list.first().cloned().unwrap_or_default();
                self.error(
                    &at,
                    &format!("services.{name}.depends_on.{target}"),
                    format!(
                        "service `{name}` depends on `{target}`, which is not enabled: its profiles ({}) are not active",
                        names.join(", ")
                    ),
                    Some(format!(
                        "activate one with `--profile {first}` or COMPOSE_PROFILES={first}, or mark the dependency `required: false`"
                    )),
                );
            }
        }
        if let Some(entries) = root_services_mut(&mut root) {
            entries.retain(|(k, _)| keep.contains(&key_text(k)));
        }
        root
    }

    /// Resolves `extends` of every service of `root` (the tree of `model`).
    fn extends_all(&mut self, root: &mut Node, model: &FileModel, vars: &BTreeMap<String, String>) {
        let names: Vec<(String, Node)> = root
            .get("services")
            .map(entries)
            .unwrap_or_default()
            .iter()
            .filter(|(_, v)| v.get("extends").is_some())
            .map(|(k, _)| (key_text(k), k.clone()))
            .collect();
        for (name, at) in names {
            let mut seen = Vec::new();
            let path = format!("services.{name}");
            let resolved = self.extended_service(model, &name, vars, &mut seen, &at, &path);
            let Some(services) = root_services_mut(root) else {
                continue;
            };
            match resolved {
                Some(resolved) => {
                    if let Some((_, slot)) = services.iter_mut().find(|(k, _)| key_text(k) == name)
                    {
                        *slot = resolved;
                    }
                }
                // Its error is reported; the service is not converted half-resolved.
                None => services.retain(|(k, _)| key_text(k) != name),
            }
        }
    }

    /// Another file's model for `extends: {file: …}`, read once.
    fn extended_model(
        &mut self,
        path: &Path,
        at: &Node,
        at_path: &str,
        vars: &BTreeMap<String, String>,
    ) -> Option<FileModel> {
        if let Some(model) = self.extended.get(path) {
            return Some(model.clone());
        }
        let mut root = self.read_other(path, at, at_path, "extended file")?;
        let dir = path
            .parent()
            .map_or_else(|| self.main_dir.clone(), Path::to_path_buf);
        self.interpolate(&mut root, "", vars);
        self.paths(&mut root, &dir, vars);
        let model = FileModel {
            root,
            dir,
            path: path.to_path_buf(),
        };
        self.extended.insert(path.to_path_buf(), model.clone());
        Some(model)
    }

    /// Service `name` of `model` with its `extends` chain merged in, compose's way.
    fn extended_service(
        &mut self,
        model: &FileModel,
        name: &str,
        vars: &BTreeMap<String, String>,
        seen: &mut Vec<(PathBuf, String)>,
        at: &Node,
        at_path: &str,
    ) -> Option<Node> {
        let Some(service) = model
            .root
            .get("services")
            .and_then(|s| s.get(name))
            .cloned()
        else {
            let file = self.shown(&model.path);
            self.error(
                at,
                at_path,
                format!(
                    "extends a service `{name}` that {} does not define",
                    file.display()
                ),
                None,
            );
            return None;
        };
        let here = (model.path.clone(), name.to_string());
        if seen.contains(&here) || seen.len() > MAX_DEPTH {
            let mut chain: Vec<String> = seen.iter().map(|(_, n)| n.clone()).collect();
            chain.push(name.to_string());
            self.error(
                at,
                at_path,
                format!("extends cycle: {}", chain.join(" → ")),
                Some("a service cannot extend itself, directly or through others".into()),
            );
            return None;
        }
        let Some(ext) = service.get("extends").cloned() else {
            return Some(service);
        };
        let ext_path = format!("services.{name}.extends");
        let (base_name, file) = match &ext.value {
            Value::Str(s) => (s.clone(), None),
            Value::Map(_) => {
                let Some(base) = ext.get("service").and_then(Node::scalar_text) else {
                    self.error(&ext, &ext_path, "`extends` needs a `service`".into(), None);
                    return None;
                };
                for (k, _) in entries(&ext) {
                    let key = key_text(k);
                    if !matches!(key.as_str(), "service" | "file") {
                        self.error(
                            k,
                            &format!("{ext_path}.{key}"),
                            format!("unknown key `{key}` in `extends`"),
                            Some("`extends` takes `service` and `file`".into()),
                        );
                    }
                }
                (base, ext.get("file").and_then(Node::scalar_text))
            }
            other => {
                self.error(
                    &ext,
                    &ext_path,
                    format!(
                        "expected a service name or a mapping, found {}",
                        other.kind()
                    ),
                    None,
                );
                return None;
            }
        };
        seen.push(here);
        let base = match file {
            Some(file) => {
                let path = clean(&model.dir.join(&file));
                let at_file = ext.get("file").cloned().unwrap_or_else(|| ext.clone());
                match self.extended_model(&path, &at_file, &format!("{ext_path}.file"), vars) {
                    Some(other) => {
                        self.extended_service(&other, &base_name, vars, seen, &ext, &ext_path)
                    }
                    None => None,
                }
            }
            None => self.extended_service(model, &base_name, vars, seen, &ext, &ext_path),
        };
        seen.pop();
        let base = base?;
        Some(merge_service(&base, &service))
    }

    /// Merges the files of top-level `include` into `root`.
    fn includes(&mut self, root: &mut Node, dir: &Path, chain: &mut Vec<PathBuf>) {
        let Some(entries) = entries_mut(root) else {
            return;
        };
        let Some(at) = entries.iter().position(|(k, _)| key_text(k) == "include") else {
            return;
        };
        let (_, include) = entries.remove(at);
        let Value::Seq(items) = &include.value else {
            self.error(
                &include,
                "include",
                format!("expected a list of files, found {}", include.value.kind()),
                None,
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let p = format!("include[{i}]");
            let mut paths = Vec::new();
            let mut project_dir = None;
            let mut env_files = None;
            match &item.value {
                Value::Str(s) => paths.push(s.clone()),
                Value::Map(fields) => {
                    for (k, v) in fields {
                        let key = key_text(k);
                        let kp = format!("{p}.{key}");
                        let strings = |v: &Node| -> Option<Vec<String>> {
                            match &v.value {
                                Value::Str(s) => Some(vec![s.clone()]),
                                Value::Seq(items) => items.iter().map(Node::scalar_text).collect(),
                                _ => None,
                            }
                        };
                        match key.as_str() {
                            "path" => match strings(v) {
                                Some(list) => paths.extend(list),
                                None => self.error(
                                    v,
                                    &kp,
                                    "expected a file or a list of files".into(),
                                    None,
                                ),
                            },
                            "project_directory" => project_dir = v.scalar_text(),
                            "env_file" => match strings(v) {
                                Some(list) => {
                                    env_files = Some(
                                        list.iter()
                                            .map(|f| clean(&dir.join(f)))
                                            .collect::<Vec<_>>(),
                                    );
                                }
                                None => self.error(
                                    v,
                                    &kp,
                                    "expected a file or a list of files".into(),
                                    None,
                                ),
                            },
                            _ => self.error(
                                k,
                                &kp,
                                format!("unknown key `{key}` in an include"),
                                Some(
                                    "an include takes `path`, `project_directory` and `env_file`"
                                        .into(),
                                ),
                            ),
                        }
                    }
                    if paths.is_empty() {
                        self.error(item, &p, "an include needs a `path`".into(), None);
                    }
                }
                other => {
                    self.error(
                        item,
                        &p,
                        format!("expected a file or a mapping, found {}", other.kind()),
                        None,
                    );
                }
            }
            for file in paths {
                // Through symbolic links too, a file met again is a cycle.
                let path = clean(&dir.join(&file));
                let path = path.canonicalize().unwrap_or(path);
                if chain.contains(&path) || chain.len() > MAX_DEPTH {
                    let mut names: Vec<String> = chain
                        .iter()
                        .map(|f| self.shown(f).display().to_string())
                        .collect();
                    names.push(self.shown(&path).display().to_string());
                    self.error(
                        item,
                        &p,
                        format!("include cycle: {}", names.join(" → ")),
                        Some("a file cannot include itself, directly or through others".into()),
                    );
                    continue;
                }
                let Some(other) = self.read_other(&path, item, &p, "included file") else {
                    continue;
                };
                let other_dir = match &project_dir {
                    Some(d) => clean(&dir.join(d)),
                    None => path
                        .parent()
                        .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
                };
                let (other_vars, problems) =
                    read_vars(self.request.env, &other_dir, env_files.as_deref());
                for problem in problems {
                    self.error(item, &p, problem, None);
                }
                chain.push(path.clone());
                let other = self.file_model(other, &other_dir, &path, &other_vars, chain);
                chain.pop();
                let shown = self.shown(&path);
                self.merge_included(root, &other, item, &p, &shown);
            }
        }
    }

    /// Adds the resources of an included file; one defined both here and there differently
    /// is an error, as in compose.
    fn merge_included(
        &mut self,
        root: &mut Node,
        other: &Node,
        at: &Node,
        at_path: &str,
        shown: &Path,
    ) {
        for (section_key, section) in entries(other) {
            let s = key_text(section_key);
            if matches!(s.as_str(), "name" | "version" | "include")
                || !matches!(section.value, Value::Map(_))
            {
                continue;
            }
            let Some(top) = entries_mut(root) else { return };
            let index = match top.iter().position(|(k, _)| key_text(k) == s) {
                Some(i) => i,
                None => {
                    let empty = Node {
                        value: Value::Map(Vec::new()),
                        line: section_key.line,
                        column: section_key.column,
                    };
                    top.push((section_key.clone(), empty));
                    top.len() - 1
                }
            };
            let mut conflicts = Vec::new();
            if let Some(mine) = entries_mut(&mut top[index].1) {
                for (k, v) in entries(section) {
                    match mine.iter().find(|(mk, _)| key_text(mk) == key_text(k)) {
                        Some((_, existing)) if !same(existing, v) => conflicts.push(key_text(k)),
                        Some(_) => {}
                        None => mine.push((k.clone(), v.clone())),
                    }
                }
            } else if matches!(top[index].1.value, Value::Null) {
                top[index].1 = section.clone();
            }
            for name in conflicts {
                self.error(
                    at,
                    at_path,
                    format!(
                        "{s}.{name} conflicts with imported resource: {} defines it too",
                        shown.display()
                    ),
                    Some("include does not override: rename it in one of the files".into()),
                );
            }
        }
    }
}

/// A list of `KEY=VALUE` (or `KEY`) as a mapping; a mapping as it is.
fn as_mapping(node: &Node, depends_on: bool) -> Node {
    let Value::Seq(items) = &node.value else {
        return node.clone();
    };
    let entries = items
        .iter()
        .map(|item| {
            let text = key_text(item);
            if depends_on {
                let cond = Node {
                    value: Value::Map(vec![(
                        str_node("condition".into(), item),
                        str_node("service_started".into(), item),
                    )]),
                    line: item.line,
                    column: item.column,
                };
                return (str_node(text, item), cond);
            }
            match text.split_once('=') {
                Some((k, v)) => (str_node(k.to_string(), item), str_node(v.to_string(), item)),
                None => (
                    str_node(text, item),
                    Node {
                        value: Value::Null,
                        line: item.line,
                        column: item.column,
                    },
                ),
            }
        })
        .collect();
    Node {
        value: Value::Map(entries),
        line: node.line,
        column: node.column,
    }
}

/// Mappings merged key by key (`local` wins), sequences appended (without repeating an
/// item), anything else replaced. With `replace_seqs`, sequences are replaced too.
fn merge_generic(base: &Node, local: &Node, replace_seqs: bool) -> Node {
    match (&base.value, &local.value) {
        (Value::Map(b), Value::Map(l)) => {
            let mut out = b.clone();
            for (k, v) in l {
                match out.iter_mut().find(|(ok, _)| key_text(ok) == key_text(k)) {
                    Some((_, slot)) => *slot = merge_generic(slot, v, replace_seqs),
                    None => out.push((k.clone(), v.clone())),
                }
            }
            Node {
                value: Value::Map(out),
                line: local.line,
                column: local.column,
            }
        }
        (Value::Seq(b), Value::Seq(l)) if !replace_seqs => {
            let mut out = b.clone();
            for item in l {
                if !out.iter().any(|o| same(o, item)) {
                    out.push(item.clone());
                }
            }
            Node {
                value: Value::Seq(out),
                line: local.line,
                column: local.column,
            }
        }
        _ => local.clone(),
    }
}

/// The container path of a volume entry (its unique key when merging).
fn volume_target(item: &Node) -> Option<String> {
    match &item.value {
        Value::Str(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(if parts.len() >= 2 { parts[1] } else { parts[0] }.to_string())
        }
        Value::Map(_) => item.get("target").and_then(Node::scalar_text),
        _ => None,
    }
}

/// A service extended by `local`, by compose's merge rules: mappings merged, sequences
/// appended (`volumes` unique by target), `command`, `entrypoint` and `healthcheck.test`
/// replaced; `extends` itself dropped.
pub(crate) fn merge_service(base: &Node, local: &Node) -> Node {
    let mut out: Vec<(Node, Node)> = entries(base)
        .iter()
        .filter(|(k, _)| key_text(k) != "extends")
        .cloned()
        .collect();
    for (k, v) in entries(local) {
        let key = key_text(k);
        if key == "extends" {
            continue;
        }
        let Some((_, slot)) = out.iter_mut().find(|(ok, _)| key_text(ok) == key) else {
            out.push((k.clone(), v.clone()));
            continue;
        };
        *slot = match key.as_str() {
            "command" | "entrypoint" => v.clone(),
            "healthcheck" => merge_generic(slot, v, true),
            "environment" | "labels" | "annotations" | "sysctls" => {
                merge_generic(&as_mapping(slot, false), &as_mapping(v, false), false)
            }
            "depends_on" => merge_generic(&as_mapping(slot, true), &as_mapping(v, true), false),
            "volumes" => match (&slot.value, &v.value) {
                (Value::Seq(b), Value::Seq(l)) => {
                    let targets: Vec<Option<String>> = l.iter().map(volume_target).collect();
                    let mut items: Vec<Node> = b
                        .iter()
                        .filter(|i| {
                            let t = volume_target(i);
                            t.is_none() || !targets.contains(&t)
                        })
                        .cloned()
                        .collect();
                    items.extend(l.iter().cloned());
                    Node {
                        value: Value::Seq(items),
                        line: v.line,
                        column: v.column,
                    }
                }
                _ => v.clone(),
            },
            _ => merge_generic(slot, v, false),
        };
    }
    Node {
        value: Value::Map(out),
        line: local.line,
        column: local.column,
    }
}

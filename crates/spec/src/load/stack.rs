//! The stack as a whole: the top-level keys and `stack:`, `defaults` merged into services,
//! the size limits, names, instance-name collisions, published ports and dependency cycles.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::{Cx, Fields, Names, diagnostic, join, key_of, keys, sanitize, valid_name};
use crate::model::*;
use crate::node::{Node, Value};

impl Cx<'_> {
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

    pub(super) fn stack(&mut self, root: &Node) -> Option<Stack> {
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
        let secrets = match f.get("secrets") {
            Some(n) => self.secrets(n),
            None => BTreeMap::new(),
        };
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
        let merged: Vec<(&Node, String, Cow<'_, Node>)> = service_nodes
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
            secrets,
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

    pub(super) fn name(&mut self, n: &Node, path: &str, name: &str, what: &str) -> bool {
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

    fn instance_collisions(
        &mut self,
        merged: &[(&Node, String, Cow<'_, Node>)],
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

    fn ports(
        &mut self,
        services: &BTreeMap<String, Service>,
        merged: &[(&Node, String, Cow<'_, Node>)],
    ) {
        let mut owners: HashMap<(u16, Protocol), &str> = HashMap::new();
        for (name, s) in services {
            for (i, port) in s.ports.iter().enumerate() {
                // A port chosen at start clashes with nothing.
                if port.is_ephemeral() {
                    continue;
                }
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

/// `service` with the stack's `defaults` merged under it; itself (not a copy) when there are
/// none to merge.
fn merge_defaults<'n>(service: &'n Node, defaults: &[(String, Node)]) -> Cow<'n, Node> {
    if defaults.is_empty() || !matches!(service.value, Value::Map(_)) {
        return Cow::Borrowed(service);
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
    Cow::Owned(service.merged_over(&base))
}

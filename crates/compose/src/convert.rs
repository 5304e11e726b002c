//! The conversion itself: a compose file's YAML tree → orco's [`Stack`], with a diagnostic
//! (and its line) for every key orco does not support and every value it cannot take.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

use orco_spec::diag::{Diagnostic, Severity};
use orco_spec::node::{Node, Value};
use orco_spec::{
    CmdProbe, Command, Dependency, Duration, Health, Mount, OnFailure, PortMapping, Require,
    RestartMode, RestartPolicy, RuntimeKind, Service, Stack, StackMeta,
};

use crate::words;

mod resources;

/// Compose's healthcheck defaults: `interval` and `timeout` 30s, `retries` 3.
const HEALTH_INTERVAL: u64 = 30;
const HEALTH_TIMEOUT: u64 = 30;
const HEALTH_RETRIES: u32 = 3;

/// The compose service keys orco converts or knows, for "did you mean" on a typo.
const SERVICE_KEYS: [&str; 21] = [
    "image",
    "profiles",
    "extends",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "scale",
    "stop_grace_period",
    "stop_signal",
    "working_dir",
    "expose",
    "container_name",
];

/// The other service keys of the compose specification (orco ignores them with a warning):
/// a real key is never taken for a typo of one of [`SERVICE_KEYS`].
const OTHER_SERVICE_KEYS: [&str; 70] = [
    "annotations",
    "attach",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "hostname",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "post_start",
    "pre_stop",
    "privileged",
    "provider",
    "pull_policy",
    "read_only",
    "runtime",
    "security_opt",
    "shm_size",
    "stdin_open",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes_from",
];

/// What the conversion needs from outside: the variables for interpolation and whether an
/// image exists on this machine (for services with `build:`).
pub(crate) struct Input<'a> {
    pub(crate) vars: &'a BTreeMap<String, String>,
    pub(crate) project: String,
    pub(crate) image_exists: &'a dyn Fn(&str) -> bool,
    /// The main file's directory (relative env files are looked for from it).
    pub(crate) dir: &'a std::path::Path,
}

/// Where an orco path came from in the compose file: (orco path, line, column, compose path).
pub(crate) type Site = (String, u32, u32, String);

/// The converter: diagnostics and sites collected along the way.
pub(crate) struct Converter<'a> {
    input: Input<'a>,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) sites: Vec<Site>,
    /// The compose names of the services of the model.
    known: std::collections::BTreeSet<String>,
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

/// A compose service name as an orco name: lower case, `.` as `-`.
pub(crate) fn orco_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('.', "-")
}

impl<'a> Converter<'a> {
    pub(crate) fn new(input: Input<'a>) -> Converter<'a> {
        Converter {
            input,
            diags: Vec::new(),
            sites: Vec::new(),
            known: std::collections::BTreeSet::new(),
        }
    }

    fn push(
        &mut self,
        severity: Severity,
        node: &Node,
        path: &str,
        message: String,
        hint: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            severity,
            line: node.line,
            column: node.column,
            path: path.to_string(),
            message,
            hint,
        });
    }

    fn error(&mut self, node: &Node, path: &str, message: String, hint: Option<String>) {
        self.push(Severity::Error, node, path, message, hint);
    }

    fn warn(&mut self, node: &Node, path: &str, message: String, hint: Option<String>) {
        self.push(Severity::Warning, node, path, message, hint);
    }

    fn unsupported(&mut self, key: &Node, path: &str, why: &str) {
        let name = key_text(key);
        self.warn(
            key,
            path,
            format!("`{name}` is not supported by orco and is ignored{why}"),
            None,
        );
    }

    fn site(&mut self, orco: String, node: &Node, compose: &str) {
        self.sites
            .push((orco, node.line, node.column, compose.to_string()));
    }

    /// A scalar as interpolated text; `None` (with an error) for lists, mappings and null.
    fn text(&mut self, node: &Node, path: &str) -> Option<String> {
        let Some(raw) = node.scalar_text() else {
            self.error(
                node,
                path,
                format!("expected a string, found {}", node.value.kind()),
                None,
            );
            return None;
        };
        // Strings were interpolated when the model was resolved.
        Some(raw)
    }

    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = self.text(node, path)?;
        match Duration::from_str(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(node, path, e.to_string(), None);
                None
            }
        }
    }

    fn count(&mut self, node: &Node, path: &str) -> Option<u32> {
        let parsed = match &node.value {
            Value::Int(i) => u32::try_from(*i).ok(),
            Value::Str(_) => self.text(node, path).and_then(|t| t.trim().parse().ok()),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                node,
                path,
                "expected a whole number of 0 or more".into(),
                None,
            );
        }
        parsed
    }

    fn list<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            _ => {
                self.error(
                    node,
                    path,
                    format!("expected a list, found {}", node.value.kind()),
                    None,
                );
                &[]
            }
        }
    }

    /// Converts the whole file.
    pub(crate) fn stack(&mut self, root: &Node) -> Stack {
        let mut services = BTreeMap::new();
        let mut secrets = BTreeMap::new();
        if !matches!(root.value, Value::Map(_)) {
            self.error(
                root,
                "",
                format!(
                    "a compose file is a mapping with `services:`, found {}",
                    root.value.kind()
                ),
                None,
            );
        }
        let mut networks = Vec::new();
        self.known = root
            .get("services")
            .map(entries)
            .unwrap_or_default()
            .iter()
            .map(|(k, _)| key_text(k))
            .collect();
        for (key, value) in entries(root) {
            let name = key_text(key);
            match name.as_str() {
                "services" => {
                    if !matches!(value.value, Value::Map(_) | Value::Null) {
                        self.error(
                            value,
                            "services",
                            format!(
                                "expected a mapping of services, found {}",
                                value.value.kind()
                            ),
                            None,
                        );
                    }
                    for (svc_key, svc) in entries(value) {
                        let raw = key_text(svc_key);
                        let path = format!("services.{raw}");
                        let name = orco_name(&raw);
                        if !orco_spec::load::valid_name(&name) {
                            self.error(
                                svc_key,
                                &path,
                                format!("`{raw}` cannot be an orco service name"),
                                Some("use letters, digits, `_` and `-`, at most 63, starting with a letter or digit".into()),
                            );
                            continue;
                        }
                        if name != raw {
                            self.warn(
                                svc_key,
                                &path,
                                format!("service `{raw}` is called `{name}` in orco"),
                                Some("orco names are lower case without dots".into()),
                            );
                        }
                        self.site(format!("services.{name}"), svc_key, &path);
                        if let Some(service) = self.service(&name, svc, &path) {
                            services.insert(name, service);
                        }
                    }
                }
                "name" | "version" if !matches!(value.value, Value::Map(_)) => {
                    if name == "version" {
                        self.warn(
                            key,
                            "version",
                            "`version` is obsolete in compose files and is ignored".into(),
                            None,
                        );
                    }
                }
                "networks" | "volumes" if !matches!(value.value, Value::Map(_) | Value::Null) => {
                    self.error(
                        value,
                        &name,
                        format!("expected a mapping, found {}", value.value.kind()),
                        None,
                    );
                }
                "networks" => {
                    for (net_key, net) in entries(value) {
                        let net_name = key_text(net_key);
                        networks.push((net_key, net_name.clone()));
                        for (k, v) in entries(net) {
                            let path = format!("networks.{net_name}.{}", key_text(k));
                            let bridge = key_text(k) == "driver"
                                && v.scalar_text().as_deref() == Some("bridge");
                            if !bridge {
                                self.unsupported(
                                    k,
                                    &path,
                                    ": each stack has one bridge network of orco's own",
                                );
                            }
                        }
                    }
                }
                "volumes" => {
                    for (vol_key, vol) in entries(value) {
                        for (k, _) in entries(vol) {
                            let path = format!("volumes.{}.{}", key_text(vol_key), key_text(k));
                            self.unsupported(k, &path, ": volumes are the engine's local volumes");
                        }
                    }
                }
                "secrets" => secrets = self.secrets(value),
                other if other.starts_with("x-") => {}
                _ => self.unsupported(key, &name, ""),
            }
        }
        if networks.len() > 1 {
            let names: Vec<String> = networks.iter().map(|(_, n)| format!("`{n}`")).collect();
            let first = networks[0].0;
            self.warn(
                first,
                "networks",
                format!(
                    "orco puts every service of a stack on one network: {} are merged into it",
                    names.join(", ")
                ),
                Some("services that must not reach each other belong in different stacks".into()),
            );
        }
        if root.get("services").is_none() && matches!(root.value, Value::Map(_)) {
            self.error(
                root,
                "services",
                "a compose file needs `services:`".into(),
                None,
            );
        }
        Stack {
            version: orco_spec::VERSION.to_string(),
            stack: StackMeta {
                name: self.input.project.clone(),
                workdir: PathBuf::from("./"),
            },
            defaults: orco_spec::Defaults::default(),
            services,
            jobs: BTreeMap::new(),
            secrets,
        }
    }

    /// The top-level `secrets:`: `file` and `environment` become the stack's secrets (the
    /// same names); `external` and `name` have no orco meaning and are warned about.
    fn secrets(&mut self, node: &Node) -> BTreeMap<String, orco_spec::Secret> {
        let mut out = BTreeMap::new();
        if !matches!(node.value, Value::Map(_) | Value::Null) {
            let message = format!("expected a mapping of secrets, found {}", node.value.kind());
            self.error(node, "secrets", message, None);
            return out;
        }
        for (key, value) in entries(node) {
            let name = key_text(key);
            let path = format!("secrets.{name}");
            self.site(path.clone(), key, &path);
            let mut secret = orco_spec::Secret {
                file: None,
                env: None,
            };
            for (k, v) in entries(value) {
                let field = key_text(k);
                let p = format!("{path}.{field}");
                match field.as_str() {
                    "file" => {
                        self.site(format!("{path}.file"), v, &p);
                        secret.file = self.text(v, &p).map(PathBuf::from);
                    }
                    "environment" => {
                        self.site(format!("{path}.env"), v, &p);
                        secret.env = self.text(v, &p);
                    }
                    _ => self.unsupported(
                        k,
                        &p,
                        ": a secret's value is a `file` or an `environment` variable",
                    ),
                }
            }
            out.insert(name, secret);
        }
        out
    }

    /// A service's `secrets:`: each a name (or `{source: NAME}`), received as
    /// `/run/secrets/NAME`; `target`, `uid`, `gid` and `mode` are warned about.
    fn service_secrets(&mut self, name: &str, node: &Node, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, item) in self.list(node, path).iter().enumerate() {
            let p = format!("{path}[{i}]");
            let source = if let Value::Map(_) = item.value {
                let mut source = None;
                for (k, v) in entries(item) {
                    let field = key_text(k);
                    let kp = format!("{p}.{field}");
                    match field.as_str() {
                        "source" => source = self.text(v, &kp),
                        "target" if v.scalar_text() == source => {}
                        _ => self.unsupported(
                            k,
                            &kp,
                            ": a secret is mounted at /run/secrets/NAME, read-only, as the instance's user",
                        ),
                    }
                }
                if source.is_none() {
                    self.error(item, &p, "a secret entry needs a `source`".into(), None);
                }
                source
            } else {
                self.text(item, &p)
            };
            if let Some(source) = source {
                self.site(format!("services.{name}.secrets[{}]", out.len()), item, &p);
                out.push(source);
            }
        }
        out
    }

    fn service(&mut self, name: &str, node: &Node, path: &str) -> Option<Service> {
        let mut s = blank_service();
        s.runtime = RuntimeKind::Docker;
        // Compose restarts nothing unless told to.
        s.restart_policy.mode = RestartMode::Never;
        let mut build = None;
        if !matches!(node.value, Value::Map(_)) {
            self.error(
                node,
                path,
                format!("expected a mapping, found {}", node.value.kind()),
                None,
            );
            return None;
        }
        for (key, value) in entries(node) {
            let k = key_text(key);
            let p = format!("{path}.{k}");
            match k.as_str() {
                "image" => s.image = self.text(value, &p),
                "build" => build = Some((key, value)),
                // Applied (and checked) when the model was resolved.
                "profiles" | "extends" => {}
                "command" => s.command = self.command(value, &p),
                "entrypoint" => {
                    self.site(format!("services.{name}.entrypoint"), key, &p);
                    s.entrypoint = self.entrypoint(value, &p);
                }
                "environment" => self.environment(value, &p, &mut s.env),
                "secrets" => s.secrets = self.service_secrets(name, value, &p),
                "env_file" => {
                    let files = self.env_files(value, &p);
                    for (i, (file, at)) in files.into_iter().enumerate() {
                        self.site(format!("services.{name}.envFromFile[{i}]"), at, &p);
                        s.env_from_file.push(file);
                    }
                }
                "ports" => {
                    let ports = self.ports(value, &p);
                    for (port, at) in ports {
                        let i = s.ports.len();
                        self.site(format!("services.{name}.ports[{i}]"), at, &p);
                        s.ports.push(port);
                    }
                }
                "volumes" => {
                    for (mount, at) in self.mounts(value, &p) {
                        let i = s.volumes.len();
                        self.site(format!("services.{name}.volumes[{i}]"), at, &p);
                        s.volumes.push(mount);
                    }
                }
                "networks" => self.service_networks(value, &p),
                "depends_on" => {
                    self.site(format!("services.{name}.dependsOn"), key, &p);
                    s.depends_on = self.depends_on(name, value, &p);
                }
                "healthcheck" => {
                    self.site(format!("services.{name}.health"), key, &p);
                    s.health = self.healthcheck(value, &p);
                }
                "restart" => {
                    if let Some(policy) = self.restart(value, &p) {
                        s.restart_policy = policy;
                    }
                }
                "deploy" => {
                    for (dk, dv) in entries(value) {
                        let dp = format!("{p}.{}", key_text(dk));
                        match key_text(dk).as_str() {
                            "replicas" => {
                                if let Some(n) = self.count(dv, &dp) {
                                    s.replicas = n;
                                }
                            }
                            "resources" => {
                                self.site_once(format!("services.{name}.resources"), dk, &dp);
                                self.deploy_resources(&mut s, dv, &dp);
                            }
                            "placement" => {
                                self.site(format!("services.{name}.placement"), dk, &dp);
                                self.deploy_placement(&mut s, name, dv, &dp);
                            }
                            _ => self.unsupported(dk, &dp, ""),
                        }
                    }
                }
                "cpus" => {
                    self.site_once(format!("services.{name}.resources"), key, &p);
                    s.resources.limits.cpu = self.compose_cpus(value, &p);
                }
                "mem_limit" => {
                    self.site_once(format!("services.{name}.resources"), key, &p);
                    s.resources.limits.memory = self.compose_memory(value, &p);
                }
                "mem_reservation" => {
                    self.site_once(format!("services.{name}.resources"), key, &p);
                    if let Some(m) = self.compose_memory(value, &p) {
                        s.resources.memory = m;
                    }
                }
                "scale" => {
                    if let Some(n) = self.count(value, &p) {
                        s.replicas = n;
                    }
                }
                "stop_grace_period" => {
                    if let Some(d) = self.duration(value, &p) {
                        s.stop.timeout = d;
                    }
                }
                "stop_signal" => {
                    if let Some(sig) = self.signal(value, &p) {
                        s.stop.signal = sig;
                    }
                }
                "working_dir" => s.workdir = self.text(value, &p).map(PathBuf::from),
                "expose" => self.warn(
                    key,
                    &p,
                    "`expose` is not needed and is ignored: containers of a stack reach every port of each other on the stack network".into(),
                    None,
                ),
                "container_name" | "hostname" => self.unsupported(
                    key,
                    &p,
                    ": containers are named by orco and reached by their service name",
                ),
                other if other.starts_with("x-") => {}
                other if OTHER_SERVICE_KEYS.contains(&other) => {
                    self.unsupported(key, &p, "");
                }
                other => match orco_spec::did_you_mean(other, SERVICE_KEYS) {
                    // A typo of a key orco converts (`depend_on`) must not pass as merely
                    // unsupported.
                    Some(known) => self.warn(
                        key,
                        &p,
                        format!("`{other}` is not a compose service key and is ignored"),
                        Some(format!("did you mean `{known}`?")),
                    ),
                    None => self.unsupported(key, &p, ""),
                },
            }
        }
        if let Some((key, value)) = build {
            let image = s
                .image
                .clone()
                .unwrap_or_else(|| format!("{}-{name}", self.input.project));
            let context = match &value.value {
                Value::Map(_) => value.get("context").and_then(Node::scalar_text),
                _ => value.scalar_text(),
            }
            .unwrap_or_else(|| ".".into());
            if (self.input.image_exists)(&image) {
                self.warn(
                    key,
                    &format!("{path}.build"),
                    format!("orco does not build images: it runs the existing image `{image}`"),
                    Some(format!("rebuild it with `docker build -t {image} {context}` when its sources change")),
                );
            } else {
                self.warn(
                    key,
                    &format!("{path}.build"),
                    format!("orco does not build images, and image `{image}` is not on this machine: `{name}` will fail to start until it is"),
                    Some(format!("build it first with `docker build -t {image} {context}`")),
                );
            }
            s.image = Some(image);
        }
        if s.image.is_none() {
            self.error(
                node,
                path,
                format!("service `{name}` has no `image`"),
                Some("give it an `image` (orco runs containers of existing images)".into()),
            );
            return None;
        }
        Some(s)
    }

    fn command(&mut self, node: &Node, path: &str) -> Option<Command> {
        match &node.value {
            Value::Seq(items) => {
                let args: Option<Vec<String>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.text(n, &format!("{path}[{i}]")))
                    .collect();
                args.map(Command::Exec)
            }
            Value::Null => None,
            _ => {
                let text = self.text(node, path)?;
                match words::split(&text) {
                    Ok(args) => Some(Command::Exec(args)),
                    Err(e) => {
                        self.error(node, path, e, None);
                        None
                    }
                }
            }
        }
    }

    /// Compose's `entrypoint`: a list, or a string split into words; an empty one clears the
    /// image's entrypoint.
    fn entrypoint(&mut self, node: &Node, path: &str) -> Option<Command> {
        let empty = match &node.value {
            Value::Seq(items) => items.is_empty(),
            Value::Str(text) => text.trim().is_empty(),
            _ => false,
        };
        if empty {
            return Some(Command::Exec(Vec::new()));
        }
        self.command(node, path)
    }

    /// `volumes` of a service, short (`./host:/path:ro`, `name:/path`) and long form
    /// (`type: bind|volume`, `source`, `target`, `read_only`); anonymous volumes, tmpfs and
    /// options orco does not take are warnings.
    fn mounts<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(Mount, &'n Node)> {
        let mut out = Vec::new();
        for (i, item) in self.list(node, path).iter().enumerate() {
            let p = format!("{path}[{i}]");
            let text = match &item.value {
                Value::Map(_) => self.long_mount(item, &p),
                _ => self
                    .text(item, &p)
                    .and_then(|t| self.short_mount(item, &p, &t)),
            };
            let Some(text) = text else { continue };
            match Mount::from_str(&text) {
                Ok(mount) => out.push((mount, item)),
                Err(e) => self.error(
                    item,
                    &p,
                    format!("bad volume `{text}`: {e}"),
                    Some("write `./host/dir:/path[:ro]` or `name:/path[:ro]`".into()),
                ),
            }
        }
        out
    }

    /// A short-form mount as orco's `source:target[:ro]`, `None` (with a warning) when orco
    /// cannot take it.
    fn short_mount(&mut self, item: &Node, path: &str, text: &str) -> Option<String> {
        let mut parts: Vec<&str> = text.split(':').collect();
        if parts.len() == 1 {
            self.warn(
                item,
                path,
                format!("the anonymous volume `{text}` is not supported by orco and is ignored"),
                Some(format!("name it: `data:{text}`")),
            );
            return None;
        }
        if parts.len() == 3 {
            let options: Vec<&str> = parts[2].split(',').collect();
            let read_only = options.contains(&"ro");
            let ignored: Vec<&str> = options
                .iter()
                .copied()
                .filter(|o| !matches!(*o, "ro" | "rw"))
                .collect();
            if !ignored.is_empty() {
                self.warn(
                    item,
                    path,
                    format!(
                        "volume options `{}` are not supported by orco and are ignored",
                        ignored.join(",")
                    ),
                    None,
                );
            }
            parts.truncate(2);
            if read_only {
                parts.push("ro");
            }
        }
        Some(parts.join(":"))
    }

    /// A long-form mount as orco's `source:target[:ro]`.
    fn long_mount(&mut self, node: &Node, path: &str) -> Option<String> {
        let mut kind = None;
        let mut source = None;
        let mut target = None;
        let mut read_only = false;
        for (k, v) in entries(node) {
            let key = key_text(k);
            let p = format!("{path}.{key}");
            match key.as_str() {
                "type" => kind = self.text(v, &p),
                "source" => source = self.text(v, &p),
                "target" => target = self.text(v, &p),
                "read_only" => read_only = v.value == Value::Bool(true),
                _ => self.unsupported(k, &p, ""),
            }
        }
        let Some(target) = target else {
            self.error(
                node,
                path,
                "a long-form volume needs a `target`".into(),
                None,
            );
            return None;
        };
        let source = match (kind.as_deref(), source) {
            (Some("bind" | "volume") | None, Some(source)) => source,
            (Some("volume") | None, None) => {
                self.warn(
                    node,
                    path,
                    format!(
                        "the anonymous volume at `{target}` is not supported by orco and is ignored"
                    ),
                    Some("give it a `source` name".into()),
                );
                return None;
            }
            (Some("bind"), None) => {
                self.error(node, path, "a bind mount needs a `source`".into(), None);
                return None;
            }
            (Some(other), _) => {
                self.warn(
                    node,
                    path,
                    format!("volumes of type `{other}` are not supported by orco and are ignored"),
                    None,
                );
                return None;
            }
        };
        // A relative bind source is relative to the compose file, as `./` is in orco.
        let source = if kind.as_deref() == Some("bind")
            && !source.starts_with('/')
            && !source.starts_with('.')
        {
            format!("./{source}")
        } else {
            source
        };
        Some(if read_only {
            format!("{source}:{target}:ro")
        } else {
            format!("{source}:{target}")
        })
    }

    fn environment(
        &mut self,
        node: &Node,
        path: &str,
        env: &mut BTreeMap<String, orco_spec::EnvValue>,
    ) {
        match &node.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    let key = key_text(k);
                    let p = format!("{path}.{key}");
                    match &v.value {
                        Value::Null => {
                            if let Some(value) = self.input.vars.get(&key) {
                                env.insert(key, value.clone().into());
                            }
                        }
                        Value::Seq(_) | Value::Map(_) => self.error(
                            v,
                            &p,
                            format!("expected a string, found {}", v.value.kind()),
                            None,
                        ),
                        _ => {
                            if let Some(value) = self.text(v, &p) {
                                env.insert(key, value.into());
                            }
                        }
                    }
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    let Some(text) = self.text(item, &p) else {
                        continue;
                    };
                    match text.split_once('=') {
                        Some((k, v)) => {
                            env.insert(k.to_string(), v.into());
                        }
                        None => {
                            if let Some(value) = self.input.vars.get(&text) {
                                env.insert(text, value.clone().into());
                            }
                        }
                    }
                }
            }
            Value::Null => {}
            _ => self.error(
                node,
                path,
                format!("expected a mapping or a list, found {}", node.value.kind()),
                None,
            ),
        }
    }

    fn env_files<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(PathBuf, &'n Node)> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let p = format!("{path}[{i}]");
            let file = match &item.value {
                Value::Map(_) => {
                    let mut required = true;
                    for (k, v) in entries(item) {
                        let kp = format!("{p}.{}", key_text(k));
                        match (key_text(k).as_str(), &v.value) {
                            ("required", Value::Bool(b)) => required = *b,
                            ("required", other) => self.error(
                                v,
                                &kp,
                                format!("expected true or false, found {}", other.kind()),
                                None,
                            ),
                            ("path", _) => {}
                            ("format", _) => self.unsupported(k, &kp, ""),
                            _ => self.unsupported(k, &kp, ""),
                        }
                    }
                    let file = match item.get("path") {
                        Some(path_node) => self.text(path_node, &format!("{p}.path")),
                        None => {
                            self.error(item, &p, "an env_file entry needs a `path`".into(), None);
                            None
                        }
                    };
                    // An optional file that is not there is left out, as compose does.
                    file.filter(|f| required || self.input.dir.join(f).is_file())
                }
                _ => self.text(item, &p),
            };
            if let Some(file) = file {
                out.push((PathBuf::from(file), item));
            }
        }
        out
    }

    fn ports<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(PortMapping, &'n Node)> {
        let mut out = Vec::new();
        for (i, item) in self.list(node, path).iter().enumerate() {
            let p = format!("{path}[{i}]");
            match &item.value {
                Value::Map(_) => {
                    if let Some(port) = self.long_port(item, &p) {
                        out.push((port, item));
                    }
                }
                Value::Int(_) | Value::Str(_) => {
                    let Some(text) = self.text(item, &p) else {
                        continue;
                    };
                    match short_ports(&text) {
                        Ok(ports) => out.extend(ports.into_iter().map(|port| (port, item))),
                        Err(e) => self.error(
                            item,
                            &p,
                            e,
                            Some("write `[ip:]published:target[/tcp|udp]`".into()),
                        ),
                    }
                }
                _ => self.error(
                    item,
                    &p,
                    format!("expected a port, found {}", item.value.kind()),
                    None,
                ),
            }
        }
        out
    }

    fn long_port(&mut self, node: &Node, path: &str) -> Option<PortMapping> {
        let mut target = None;
        let mut published = None;
        let mut ip = None;
        let mut protocol = "tcp".to_string();
        for (k, v) in entries(node) {
            let key = key_text(k);
            let p = format!("{path}.{key}");
            match key.as_str() {
                "target" => target = self.text(v, &p),
                "published" => published = self.text(v, &p),
                "host_ip" => ip = self.text(v, &p),
                "protocol" => protocol = self.text(v, &p).unwrap_or_default(),
                "mode" | "name" | "app_protocol" => self.unsupported(k, &p, ""),
                _ => self.unsupported(k, &p, ""),
            }
        }
        let Some(target) = target else {
            self.error(node, path, "a long-form port needs a `target`".into(), None);
            return None;
        };
        // No host port: one is chosen at start.
        let published = published.unwrap_or_else(|| "0".into());
        let mut text = format!("{published}:{target}/{protocol}");
        if let Some(ip) = ip {
            text = if ip.contains(':') {
                format!("[{ip}]:{text}")
            } else {
                format!("{ip}:{text}")
            };
        }
        match PortMapping::from_str(&text) {
            Ok(port) => Some(port),
            Err(e) => {
                self.error(node, path, e, None);
                None
            }
        }
    }

    fn service_networks(&mut self, node: &Node, path: &str) {
        match &node.value {
            Value::Seq(_) | Value::Null => {}
            Value::Map(entries) => {
                for (net, cfg) in entries {
                    for (k, _) in orco_entries(cfg) {
                        let p = format!("{path}.{}.{}", key_text(net), key_text(k));
                        self.unsupported(k, &p, ": a container is reached by its service name");
                    }
                }
            }
            _ => self.error(
                node,
                path,
                format!("expected a list or a mapping, found {}", node.value.kind()),
                None,
            ),
        }
    }

    fn depends_on(&mut self, name: &str, node: &Node, path: &str) -> Vec<Dependency> {
        let mut deps = Vec::new();
        let mut add =
            |cx: &mut Self, target: String, require: Require, restart: bool, at: &Node| {
                let i = deps.len();
                cx.site(format!("services.{name}.dependsOn[{i}]"), at, path);
                deps.push(Dependency {
                    target: orco_name(&target),
                    require,
                    timeout: None,
                    restart,
                });
            };
        match &node.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(target) = self.text(item, &format!("{path}[{i}]")) {
                        add(self, target, Require::Started, false, item);
                    }
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries {
                    let target = key_text(k);
                    let p = format!("{path}.{target}");
                    let mut require = Require::Started;
                    let mut restart = false;
                    let mut required = true;
                    for (ck, cv) in orco_entries(v) {
                        let cp = format!("{p}.{}", key_text(ck));
                        match key_text(ck).as_str() {
                            "condition" => match self.text(cv, &cp).as_deref() {
                                Some("service_started") => require = Require::Started,
                                Some("service_healthy") => require = Require::Ready,
                                Some("service_completed_successfully") => {
                                    require = Require::Succeeded;
                                }
                                Some(other) => self.error(
                                    cv,
                                    &cp,
                                    format!("unknown condition `{other}`"),
                                    Some("use service_started, service_healthy or service_completed_successfully".into()),
                                ),
                                None => {}
                            },
                            "restart" => restart = cv.value == Value::Bool(true),
                            "required" => match cv.value {
                                Value::Bool(b) => required = b,
                                _ => self.error(
                                    cv,
                                    &cp,
                                    format!("expected true or false, found {}", cv.value.kind()),
                                    None,
                                ),
                            },
                            _ => self.unsupported(ck, &cp, ""),
                        }
                    }
                    if !required && !self.known.contains(&target) {
                        self.warn(
                            k,
                            &p,
                            format!("`{target}` is not a service of the stack (or not enabled): this optional dependency is left out"),
                            None,
                        );
                        continue;
                    }
                    add(self, target, require, restart, k);
                }
            }
            _ => self.error(
                node,
                path,
                format!("expected a list or a mapping, found {}", node.value.kind()),
                None,
            ),
        }
        deps
    }

    fn healthcheck(&mut self, node: &Node, path: &str) -> Option<Health> {
        let mut command = None;
        let mut disabled = false;
        let mut interval = Duration::from_secs(HEALTH_INTERVAL);
        let mut timeout = Duration::from_secs(HEALTH_TIMEOUT);
        let mut grace = Duration::zero();
        let mut retries = HEALTH_RETRIES;
        for (k, v) in entries(node) {
            let key = key_text(k);
            let p = format!("{path}.{key}");
            match key.as_str() {
                "test" => match &v.value {
                    Value::Seq(items) => {
                        let parts: Option<Vec<String>> = items
                            .iter()
                            .enumerate()
                            .map(|(i, n)| self.text(n, &format!("{p}[{i}]")))
                            .collect();
                        let parts = parts.unwrap_or_default();
                        match parts.split_first() {
                            Some((first, rest)) if first == "CMD" && !rest.is_empty() => {
                                command = Some(Command::Exec(rest.to_vec()));
                            }
                            Some((first, rest)) if first == "CMD-SHELL" && !rest.is_empty() => {
                                command = Some(Command::Shell(rest.join(" ")));
                            }
                            Some((first, _)) if first == "NONE" => disabled = true,
                            _ => self.error(
                                v,
                                &p,
                                "a healthcheck test list starts with CMD, CMD-SHELL or NONE and has a command".into(),
                                None,
                            ),
                        }
                    }
                    _ => command = self.text(v, &p).map(Command::Shell),
                },
                "disable" => disabled = v.value == Value::Bool(true),
                "interval" => interval = self.duration(v, &p).unwrap_or(interval),
                "timeout" => timeout = self.duration(v, &p).unwrap_or(timeout),
                "start_period" => grace = self.duration(v, &p).unwrap_or(grace),
                // The probe interval during `start_period`: orco probes faster than any
                // interval until the first success anyway, so it is checked and kept by that.
                "start_interval" => {
                    self.duration(v, &p);
                }
                "retries" => retries = self.count(v, &p).unwrap_or(retries).max(1),
                _ => self.unsupported(k, &p, ""),
            }
        }
        if disabled {
            return None;
        }
        let Some(command) = command else {
            self.error(node, path, "a healthcheck needs a `test`".into(), None);
            return None;
        };
        Some(Health {
            http: None,
            tcp: None,
            cmd: Some(CmdProbe { command }),
            log: None,
            expression: None,
            grace_period: grace,
            interval,
            timeout,
            success_threshold: 1,
            failure_threshold: retries,
            on_failure: OnFailure::None,
        })
    }

    fn restart(&mut self, node: &Node, path: &str) -> Option<RestartPolicy> {
        let text = self.text(node, path)?;
        let (mode, retries) = match text.as_str() {
            "no" => (RestartMode::Never, 0),
            "always" | "unless-stopped" => (RestartMode::Always, 0),
            "on-failure" => (RestartMode::OnFailure, 0),
            other => match other.strip_prefix("on-failure:").map(str::parse::<u32>) {
                Some(Ok(n)) => (RestartMode::OnFailure, n),
                _ => {
                    self.error(
                        node,
                        path,
                        format!("unknown restart policy `{other}`"),
                        Some("use no, always, unless-stopped, on-failure or on-failure:N".into()),
                    );
                    return None;
                }
            },
        };
        Some(RestartPolicy {
            mode,
            max_retries: retries,
            ..RestartPolicy::default()
        })
    }

    fn signal(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.text(node, path)?;
        let upper = text.trim().to_ascii_uppercase();
        let name = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        if orco_spec::load::SIGNALS.contains(&name.as_str()) {
            Some(name)
        } else {
            self.error(
                node,
                path,
                format!("`{text}` is not a signal orco can send"),
                Some(format!(
                    "use one of {}",
                    orco_spec::load::SIGNALS.join(", ")
                )),
            );
            None
        }
    }
}

fn orco_entries(node: &Node) -> &[(Node, Node)] {
    entries(node)
}

/// A service with every default of the stack-file model.
pub(crate) fn blank_service() -> Service {
    Service::default()
}

/// Parses compose's short port syntax: `80`, `8080:80`, `127.0.0.1:8080:80`, `ip::80`,
/// ranges `8000-8002:9000-9002`, each with an optional `/tcp|udp`. Answers the mappings;
/// a port without a host port (one, or each of a range) is `0:PORT`, chosen at start, as
/// compose leaves it to chance.
pub(crate) fn short_ports(text: &str) -> Result<Vec<PortMapping>, String> {
    let (body, proto) = match text.rsplit_once('/') {
        Some((body, proto)) => (body, format!("/{proto}")),
        None => (text, String::new()),
    };
    // `[ipv6]:…` or `ipv4:…` (three parts) or `published:target` or `target`.
    let (ip, ports) = if let Some(rest) = body.strip_prefix('[') {
        let (ip, ports) = rest
            .split_once("]:")
            .ok_or_else(|| format!("`{text}`: an IPv6 address is written `[addr]:`"))?;
        (Some(format!("[{ip}]")), ports.to_string())
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts.as_slice() {
            [ip, published, target] => (Some((*ip).to_string()), format!("{published}:{target}")),
            _ => (None, body.to_string()),
        }
    };
    let (published, target) = match ports.split_once(':') {
        Some((p, t)) => (p.to_string(), t.to_string()),
        None => (String::new(), ports.clone()),
    };
    let random = published.is_empty();
    let range = |r: &str| -> Result<(u32, u32), String> {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let a: u32 = a
            .trim()
            .parse()
            .map_err(|_| format!("`{r}` is not a port or a port range"))?;
        let b: u32 = b
            .trim()
            .parse()
            .map_err(|_| format!("`{r}` is not a port or a port range"))?;
        if b < a || b - a > 1000 {
            return Err(format!("`{r}` is not a port range"));
        }
        Ok((a, b))
    };
    let (t0, t1) = range(&target)?;
    // Without a host port, each port gets one chosen at start (`0`).
    let (p0, p1) = if random { (0, 0) } else { range(&published)? };
    if p1 - p0 != t1 - t0 && p0 != p1 {
        return Err(format!(
            "`{text}`: the published and target ranges differ in size"
        ));
    }
    let mut out = Vec::new();
    for (n, t) in (t0..=t1).enumerate() {
        let n = u32::try_from(n).unwrap_or(0);
        let p = if p0 == p1 { p0 } else { p0 + n };
        let ip = ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .map(|ip| format!("{ip}:"))
            .unwrap_or_default();
        let mapping = format!("{ip}{p}:{t}{proto}");
        out.push(PortMapping::from_str(&mapping).map_err(|e| format!("`{text}`: {e}"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports_cover_single_pairs_ips_ranges_and_protocols() {
        let one =
            |t: &str| short_ports(t).map(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>());
        assert_eq!(one("8080:80"), Ok(vec!["8080:80".into()]));
        assert_eq!(one("80"), Ok(vec!["0:80".into()]));
        assert_eq!(one("8000-8001"), Ok(vec!["0:8000".into(), "0:8001".into()]));
        assert_eq!(
            one("127.0.0.1:8080:80"),
            Ok(vec!["127.0.0.1:8080:80".into()])
        );
        assert_eq!(one("127.0.0.1::80"), Ok(vec!["127.0.0.1:0:80".into()]));
        assert_eq!(one("53/udp"), Ok(vec!["0:53/udp".into()]));
        assert_eq!(one("5000:5000/udp"), Ok(vec!["5000:5000/udp".into()]));
        assert_eq!(
            one("9090-9091:8080-8081"),
            Ok(vec!["9090:8080".into(), "9091:8081".into()])
        );
        assert!(short_ports("x:80").is_err());
        assert!(short_ports("1-2:1-5").is_err());
        assert!(short_ports("70000").is_err());
    }
}

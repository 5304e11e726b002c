//! The stack file's model: every key of DESIGN.md §8, with its default, as the loader resolves it.
//!
//! These types are both the loader's output (defaults merged, every optional value filled in)
//! and the source of the JSON Schema (`orco schema`): the doc comment of a field is its
//! description there, so the schema, `docs/stack-file.md` and the code cannot drift apart.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::expr::Expr;
pub use crate::resources::{
    Cpu, Limits, Memory, OnDisconnect, Placement, QuantityError, Resources, Spread, SpreadBy,
    Strategy, Toleration,
};

/// The supported stack-file version.
pub const VERSION: &str = "0.1";

/// One stack file's contents: services and jobs that are applied, run and stopped together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "orco stack file")]
pub struct Stack {
    /// Version of the stack-file format. Only `0.1` exists.
    #[schemars(with = "VersionSchema")]
    pub version: String,
    /// The stack's name and working directory.
    pub stack: StackMeta,
    /// Settings merged into every service; a service's own keys win, key by key.
    #[serde(default, skip_serializing_if = "Defaults::is_empty")]
    pub defaults: Defaults,
    /// Long-running workloads, by name.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Workloads that run to completion, by name; each is a graph of tasks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub jobs: BTreeMap<String, Job>,
    /// Secrets the workloads may receive, by name: where the CLI that applies the stack reads
    /// each value (`{file: PATH}` or `{env: VAR}`). A workload receives a secret it names in
    /// `env` (`{secret: NAME}`) or `secrets`; the value itself is never part of the stack.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
}

/// Where a secret's value comes from: exactly one of `file` and `env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(with = "SecretSchema")]
pub struct Secret {
    /// A file whose whole content is the value (at most 1 MiB), relative to `stack.workdir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// An environment variable of the CLI that applies the stack, holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// A secret's source: `{file: PATH}` or `{env: VAR}`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, unreachable_pub)]
enum SecretSchema {
    /// `{file: PATH}`: the file's whole content, relative to `stack.workdir`.
    File {
        /// The file holding the value.
        file: PathBuf,
    },
    /// `{env: VAR}`: an environment variable of the CLI that applies the stack.
    Env {
        /// The variable holding the value.
        env: String,
    },
}

/// The value of an environment variable: written in the stack file, or a secret's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvValue {
    /// The value as written.
    Value(String),
    /// `{secret: NAME}`: the value of the stack's secret `NAME`, given to the instance only.
    Secret(SecretRef),
}

/// `{secret: NAME}` in `env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// A name of the stack's `secrets`.
    pub secret: String,
}

impl EnvValue {
    /// The written value, or `None` for a secret.
    pub fn value(&self) -> Option<&str> {
        match self {
            EnvValue::Value(v) => Some(v),
            EnvValue::Secret(_) => None,
        }
    }

    /// The secret's name, for `{secret: NAME}`.
    pub fn secret(&self) -> Option<&str> {
        match self {
            EnvValue::Value(_) => None,
            EnvValue::Secret(r) => Some(&r.secret),
        }
    }
}

impl fmt::Display for EnvValue {
    /// The value as written, or `<secret NAME>`: what views show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Value(v) => f.write_str(v),
            EnvValue::Secret(r) => write!(f, "<secret {}>", r.secret),
        }
    }
}

impl PartialEq<&str> for EnvValue {
    /// A written value equal to the text (a secret equals no text).
    fn eq(&self, other: &&str) -> bool {
        self.value() == Some(*other)
    }
}

impl From<&str> for EnvValue {
    fn from(v: &str) -> EnvValue {
        EnvValue::Value(v.to_string())
    }
}

impl From<String> for EnvValue {
    fn from(v: String) -> EnvValue {
        EnvValue::Value(v)
    }
}

/// What a service or a task receives of the stack's secrets, from its `env`, `secrets` and
/// `secretDigests`.
#[derive(Debug, Clone, Copy)]
pub struct SecretUse<'a> {
    env: &'a BTreeMap<String, EnvValue>,
    secrets: &'a [String],
    digests: &'a BTreeMap<String, String>,
}

impl<'a> SecretUse<'a> {
    /// The environment variables written as values (no secret among them).
    pub fn plain_env(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.value()?.to_string())))
            .collect()
    }

    /// `(VAR, secret name)` of each `{secret: NAME}` in `env`.
    pub fn env(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        self.env
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.secret()?)))
    }

    /// Every secret received (each delivered as a file): those of `env` and of `secrets`.
    pub fn names(&self) -> std::collections::BTreeSet<&'a str> {
        self.env()
            .map(|(_, n)| n)
            .chain(self.secrets.iter().map(String::as_str))
            .collect()
    }

    /// The digest of each received secret's value, as stamped at apply (`None` before).
    pub fn digest(&self, name: &str) -> Option<&'a str> {
        self.digests.get(name).map(String::as_str)
    }
}

/// Stamps `digests` (secret name → digest of its value) into every workload that receives
/// those secrets, so that a changed value changes the workload's spec (the restart rule,
/// [`Service::replaced_by`]). Digests of secrets a workload does not receive are left out.
pub fn stamp_secret_digests(stack: &mut Stack, digests: &BTreeMap<String, String>) {
    fn pick(
        names: std::collections::BTreeSet<&str>,
        digests: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        names
            .into_iter()
            .filter_map(|n| Some((n.to_string(), digests.get(n)?.clone())))
            .collect()
    }
    for s in stack.services.values_mut() {
        s.secret_digests = pick(s.secret_use().names(), digests);
    }
    for j in stack.jobs.values_mut() {
        for t in j.tasks.values_mut() {
            t.secret_digests = pick(t.secret_use().names(), digests);
        }
    }
}

/// `version` accepts the number `0.1` or the string `"0.1"`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, unreachable_pub)]
enum VersionSchema {
    Number(f64),
    Text(String),
}

/// The `stack:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackMeta {
    /// The stack's name: `[a-z0-9_-]`, at most 63 characters. Several stacks run side by side,
    /// told apart by name.
    pub name: String,
    /// Directory that relative paths (`workdir`, `envFromFile`) start from; itself relative to
    /// the stack file's directory. Default: `./`.
    #[serde(default = "default_workdir")]
    pub workdir: PathBuf,
}

fn default_workdir() -> PathBuf {
    PathBuf::from("./")
}

/// The `defaults:` section: merged into every service, key by key (the service's keys win).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Defaults {
    /// Default restart policy for services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Default probe settings for services (timings, thresholds, even probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Default stop settings for services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopPolicy>,
}

impl Defaults {
    /// Whether no default is set.
    pub fn is_empty(&self) -> bool {
        self.restart_policy.is_none() && self.health.is_none() && self.stop.is_none()
    }
}

/// A long-running workload: a local process or a container, with replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    /// How instances run: `process` (a local process) or `docker` (a container).
    /// Default: `docker` when `image` is set, else `process`.
    #[serde(default)]
    pub runtime: RuntimeKind,
    /// What to run: an argument list (exec form) or a string run through `/bin/sh -c`.
    /// Required for process services; for docker services it overrides the image's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Container image (docker services only, where it is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Environment variables: a value, or `{secret: NAME}` for the value of a stack's secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// Dotenv files read into the environment (before `env`, which wins); a path or a list,
    /// relative to `stack.workdir`. A missing file is an error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "OneOrMany<PathBuf>")]
    pub env_from_file: Vec<PathBuf>,
    /// Names of the stack's secrets each instance receives as a file only (those of `env`
    /// are received as files too): `/run/secrets/NAME` in a container, `$ORCO_SECRETS_DIR/NAME`
    /// for a process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The digest (an HMAC under the daemon's key) of each secret received, stamped when the
    /// stack is applied: a changed value is a changed spec. Not a key of the stack file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub secret_digests: BTreeMap<String, String>,
    /// Working directory, relative to `stack.workdir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Published ports: `"[ip:]published:target[/tcp|udp]"`, or `"port"` for the same on both
    /// sides; a published `0` is a free port chosen when each run starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub ports: Vec<PortMapping>,
    /// Replaces the image's entrypoint (docker services only): an argument list, or a string
    /// run through `/bin/sh -c`; `command` then gives its arguments. `[]` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Command>,
    /// Mounted into the container (docker services only): `"./host/dir:/path[:ro]"` (a bind
    /// mount, relative to `stack.workdir`, or an absolute host path) or `"name:/path[:ro]"` (a
    /// named volume of the stack, kept across `orco down`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub volumes: Vec<Mount>,
    /// Whether orco's built-in proxy owns the published TCP ports: `auto` (when several
    /// instances share one port), `true` or `false`.
    #[serde(default)]
    pub proxy: ProxyMode,
    /// Number of instances (`NAME-0` … `NAME-(N-1)`); 0 defines the service without running it.
    #[serde(default = "one")]
    pub replicas: u32,
    /// What must hold for other workloads before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// Readiness (and, with `onFailure: restart`, liveness) probes. It must configure at least
    /// one probe, counting those from `defaults.health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// When and how fast an exited instance is started again.
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// How an instance is stopped.
    #[serde(default)]
    pub stop: StopPolicy,
    /// How a changed service replaces its instances.
    #[serde(default)]
    pub update: UpdatePolicy,
    /// What each instance requests and may use at most.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Which nodes the instances may run on, and how nodes are ranked.
    #[serde(default, skip_serializing_if = "Placement::is_empty")]
    pub placement: Placement,
    /// What a node cut off from the servers does with the instances: `stop` or `keep`.
    /// Default: `stop`.
    #[serde(default, skip_serializing_if = "is_stop")]
    pub on_disconnect: OnDisconnect,
}

fn one() -> u32 {
    1
}

impl Default for Service {
    /// A process service with every default of the stack file and nothing to run.
    fn default() -> Service {
        Service {
            runtime: RuntimeKind::Process,
            command: None,
            image: None,
            env: BTreeMap::new(),
            env_from_file: Vec::new(),
            secrets: Vec::new(),
            secret_digests: BTreeMap::new(),
            workdir: None,
            ports: Vec::new(),
            entrypoint: None,
            volumes: Vec::new(),
            proxy: ProxyMode::Auto,
            replicas: one(),
            depends_on: Vec::new(),
            health: None,
            restart_policy: RestartPolicy::default(),
            stop: StopPolicy::default(),
            update: UpdatePolicy::default(),
            resources: Resources::default(),
            placement: Placement::default(),
            on_disconnect: OnDisconnect::Stop,
        }
    }
}

fn is_stop(o: &OnDisconnect) -> bool {
    *o == OnDisconnect::Stop
}

/// `envFromFile` accepts one path or a list of paths.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, unreachable_pub)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// Where a workload's instances run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// A local process in its own process group.
    #[default]
    Process,
    /// A Docker container.
    Docker,
}

impl RuntimeKind {
    /// The name used in the stack file.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Process => "process",
            RuntimeKind::Docker => "docker",
        }
    }
}

/// A command: exec form (argument list) or shell form (a string for `/bin/sh -c`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Command {
    /// `["bin", "arg"]`: run directly, no shell.
    Exec(Vec<String>),
    /// `"bin arg && other"`: run through `/bin/sh -c`.
    Shell(String),
}

impl Command {
    /// The argument vector to execute: the exec form as is, the shell form through `/bin/sh -c`.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Exec(args) => args.clone(),
            Command::Shell(script) => vec!["/bin/sh".into(), "-c".into(), script.clone()],
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Exec(args) => f.write_str(&args.join(" ")),
            Command::Shell(script) => f.write_str(script),
        }
    }
}

impl Service {
    /// The published TCP port orco's built-in proxy owns for this service, if any: `proxy:
    /// true`, or `auto` with more than one replica. The first published TCP port; a proxied
    /// docker service publishes its target port on each instance's own loopback port.
    pub fn proxied_port(&self) -> Option<PortMapping> {
        // A port whose host port is chosen at start is each instance's own: never proxied.
        let port = self
            .ports
            .iter()
            .find(|p| p.protocol == Protocol::Tcp && p.published != 0)
            .copied()?;
        let wanted = match self.proxy {
            ProxyMode::Always => true,
            ProxyMode::Never => false,
            ProxyMode::Auto => self.replicas > 1,
        };
        wanted.then_some(port)
    }

    /// The spec as its instances run it: with `proxy: auto` and a published TCP port, the
    /// proxy decision that the replica count makes is written down (`true` with more than
    /// one replica, else `false`), so that the spec alone says how an instance runs
    /// whatever the replica count becomes.
    pub fn pinned(&self) -> Service {
        let mut pinned = self.clone();
        if pinned.proxy == ProxyMode::Auto
            && pinned.ports.iter().any(|p| p.protocol == Protocol::Tcp)
        {
            pinned.proxy = if pinned.replicas > 1 {
                ProxyMode::Always
            } else {
                ProxyMode::Never
            };
        }
        pinned
    }

    /// The restart rule: whether an instance running `self` must be replaced (stopped and
    /// started again) to run `next`. It must when the two differ in anything but the
    /// replica count, or when the replica count moves the service behind the built-in proxy
    /// or out of it (its instances then listen on other ports). The state's revisions (and
    /// so rollouts and the node agent) and the plan of `orco apply` all decide by this rule.
    pub fn replaced_by(&self, next: &Service) -> bool {
        self.replacement(next).is_some()
    }

    /// Why an instance running `self` is replaced to run `next` ([`Service::replaced_by`]),
    /// in words: `its spec changed`, or `it moves behind the built-in proxy on port 8080
    /// (replicas 1 -> 2)`.
    pub fn replacement(&self, next: &Service) -> Option<String> {
        let (mut a, mut b) = (self.pinned(), next.pinned());
        a.replicas = 0;
        b.replicas = 0;
        if a == b {
            return None;
        }
        let (was, is) = (a.proxy, b.proxy);
        a.proxy = ProxyMode::Auto;
        b.proxy = ProxyMode::Auto;
        if a != b || was == is {
            return Some("its spec changed".into());
        }
        let port = next
            .ports
            .iter()
            .find(|p| p.protocol == Protocol::Tcp)
            .map_or(0, |p| p.published);
        let (from, to) = (self.replicas, next.replicas);
        Some(
            if self.proxy == ProxyMode::Auto && next.proxy == ProxyMode::Auto {
                if is == ProxyMode::Always {
                    format!(
                        "it moves behind the built-in proxy on port {port} (replicas {from} -> {to})"
                    )
                } else {
                    format!("it leaves the built-in proxy on port {port} (replicas {from} -> {to})")
                }
            } else if is == ProxyMode::Always {
                format!("it moves behind the built-in proxy on port {port}")
            } else {
                format!("it leaves the built-in proxy on port {port}")
            },
        )
    }

    /// Whether a second instance can run beside the first during an update: it is proxied,
    /// or publishes no TCP port that the two would both listen on.
    pub fn can_surge(&self) -> bool {
        self.proxied_port().is_some()
            || self.runtime == RuntimeKind::Docker && self.ports.is_empty()
            || self.runtime == RuntimeKind::Process
                && !self.ports.iter().any(|p| p.protocol == Protocol::Tcp)
    }
}

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortMapping {
    /// Address the port is published on; `None` means 127.0.0.1 for docker services and the
    /// process's own choice for process services.
    pub ip: Option<IpAddr>,
    /// Port on the host; 0: a free port chosen when each run starts (written `0:80`,
    /// compose's `"80"`), TCP and one per service.
    pub published: u16,
    /// Port inside the container or instance.
    pub target: u16,
    /// Transport protocol.
    pub protocol: Protocol,
}

impl PortMapping {
    /// Whether the host port is chosen when each run starts (`0:80`).
    pub fn is_ephemeral(&self) -> bool {
        self.published == 0
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(f, "{}:{}", self.published, self.target)?;
        if self.protocol == Protocol::Udp {
            f.write_str("/udp")?;
        }
        Ok(())
    }
}

impl From<PortMapping> for String {
    fn from(p: PortMapping) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for PortMapping {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for PortMapping {
    type Err = String;

    /// Parses `[ip:]published:target[/tcp|udp]` or a single `port`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (rest, protocol) = match s.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Protocol::Tcp),
            Some((rest, "udp")) => (rest, Protocol::Udp),
            Some((_, other)) => {
                return Err(format!(
                    "unknown protocol `{other}`: expected `tcp` or `udp`"
                ));
            }
            None => (s, Protocol::Tcp),
        };
        let port = |p: &str| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(0) | Err(_) => Err(format!("`{p}` is not a port number (1-65535)")),
                Ok(n) => Ok(n),
            }
        };
        // An IPv6 address is written in brackets: `[::1]:8080:80`.
        let (ip, ports) = if let Some(after) = rest.strip_prefix('[') {
            let (ip, ports) = after
                .split_once("]:")
                .ok_or_else(|| "an IPv6 address must be written as `[addr]:`".to_string())?;
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| format!("`{ip}` is not an IP address"))?;
            (Some(ip), ports)
        } else {
            match rest.matches(':').count() {
                0 | 1 => (None, rest),
                2 => {
                    let (ip, ports) = rest.split_once(':').unwrap_or_default();
                    let ip: IpAddr = ip
                        .parse()
                        .map_err(|_| format!("`{ip}` is not an IP address"))?;
                    (Some(ip), ports)
                }
                _ => return Err("expected `[ip:]published:target[/tcp|udp]`".into()),
            }
        };
        let (published, target) = match ports.split_once(':') {
            // `0:80`: the host port is chosen when the instance starts.
            Some(("0", t)) => (0, port(t)?),
            Some((p, t)) => (port(p)?, port(t)?),
            None => {
                let p = port(ports)?;
                (p, p)
            }
        };
        Ok(PortMapping {
            ip,
            published,
            target,
            protocol,
        })
    }
}

/// A mount of a docker service: a host directory or a named volume at a path inside the
/// container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mount {
    /// What is mounted.
    pub source: MountSource,
    /// The absolute path inside the container.
    pub target: String,
    /// Mounted read-only (`:ro`).
    pub read_only: bool,
}

/// What a [`Mount`] mounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MountSource {
    /// A host path: absolute, or relative to `stack.workdir` (written with a leading `.`).
    Bind(PathBuf),
    /// A named volume of the stack (`[A-Za-z0-9][A-Za-z0-9_.-]*`).
    Volume(String),
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            MountSource::Bind(path) => write!(f, "{}", path.display())?,
            MountSource::Volume(name) => f.write_str(name)?,
        }
        write!(f, ":{}", self.target)?;
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

impl From<Mount> for String {
    fn from(m: Mount) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Mount {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// Whether `name` can name a volume: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 bytes.
pub fn valid_volume_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl std::str::FromStr for Mount {
    type Err = String;

    /// Parses `source:target[:ro|rw]`, where a source starting with `/` or `.` is a host path
    /// and any other is a volume name.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, read_only) = match parts.as_slice() {
            [source, target] => (*source, *target, false),
            [source, target, "ro"] => (*source, *target, true),
            [source, target, "rw"] => (*source, *target, false),
            [_, _, mode] => {
                return Err(format!("unknown mode `{mode}`: expected `ro` or `rw`"));
            }
            [_] => {
                return Err(
                    "a mount needs a source and a target: `source:/path/in/container`".into(),
                );
            }
            _ => return Err("expected `source:target[:ro|rw]`".into()),
        };
        if !target.starts_with('/') {
            return Err(format!(
                "the target `{target}` must be an absolute path inside the container"
            ));
        }
        let source = if source.starts_with('/') || source.starts_with('.') {
            MountSource::Bind(PathBuf::from(source))
        } else if valid_volume_name(source) {
            MountSource::Volume(source.to_string())
        } else if source.is_empty() {
            return Err("the source is empty".into());
        } else {
            return Err(format!(
                "`{source}` is neither a host path (starting with `/` or `.`) nor a volume name (letters, digits, `_`, `.`, `-`)"
            ));
        };
        Ok(Mount {
            source,
            target: target.to_string(),
            read_only,
        })
    }
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default); may be proxied.
    Tcp,
    /// UDP; never proxied.
    Udp,
}

/// Whether the built-in proxy owns a service's published TCP ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "ProxyRepr", into = "ProxyRepr")]
#[schemars(with = "ProxyRepr")]
pub enum ProxyMode {
    /// When several instances need one published port (replicas > 1, or a surging update).
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How `proxy` is written: `auto`, `true` or `false`.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum ProxyRepr {
    Bool(bool),
    Auto(AutoWord),
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum AutoWord {
    Auto,
}

impl From<ProxyRepr> for ProxyMode {
    fn from(r: ProxyRepr) -> Self {
        match r {
            ProxyRepr::Bool(true) => ProxyMode::Always,
            ProxyRepr::Bool(false) => ProxyMode::Never,
            ProxyRepr::Auto(AutoWord::Auto) => ProxyMode::Auto,
        }
    }
}

impl From<ProxyMode> for ProxyRepr {
    fn from(m: ProxyMode) -> Self {
        match m {
            ProxyMode::Auto => ProxyRepr::Auto(AutoWord::Auto),
            ProxyMode::Always => ProxyRepr::Bool(true),
            ProxyMode::Never => ProxyRepr::Bool(false),
        }
    }
}

/// An edge of the dependency graph: this workload waits until `target` meets `require`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    /// A service or job of this stack.
    pub target: String,
    /// The condition: `exists`, `started`, `ready` (every replica), `succeeded` or `completed`
    /// (`failed` is only for task dependencies). Default: `ready` for a service target,
    /// `succeeded` for a job target.
    #[serde(default = "ready")]
    pub require: Require,
    /// How long to wait before the dependent is reported blocked; default: wait forever (and
    /// show why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Restart this workload when the target is restarted or replaced.
    #[serde(default)]
    pub restart: bool,
}

/// A condition on a dependency's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    /// The instance was created.
    Exists,
    /// Its process or container runs.
    Started,
    /// Its health passes, for every replica.
    Ready,
    /// It exited with status 0 (one-shot services, jobs, tasks).
    Succeeded,
    /// It exited with a non-zero status or was killed (tasks only: a cleanup step).
    Failed,
    /// It exited, either way.
    Completed,
}

impl Require {
    /// The name used in the stack file.
    pub fn as_str(self) -> &'static str {
        match self {
            Require::Exists => "exists",
            Require::Started => "started",
            Require::Ready => "ready",
            Require::Succeeded => "succeeded",
            Require::Failed => "failed",
            Require::Completed => "completed",
        }
    }
}

/// Probes and their timing. Readiness gates dependents and feeds the READY column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Health {
    /// An HTTP GET that must answer with one of `expectStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// A TCP connect that must be accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpProbe>,
    /// A command that must exit 0 (inside the container for docker services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<CmdProbe>,
    /// A regular expression that must match a line of output (passes from then on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogProbe>,
    /// How the configured probes combine: probe names, `||`, `&&` and parentheses.
    /// Default: all configured probes must pass (`&&`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub expression: Option<Expr>,
    /// Failures before this much time after start do not count; probing starts at once.
    #[serde(default = "Duration::zero")]
    pub grace_period: Duration,
    /// Steady-state period between probes; before the first success orco probes faster.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// How long one probe may take before it counts as failed.
    #[serde(default = "default_probe_timeout")]
    pub timeout: Duration,
    /// Consecutive successes that make an instance ready.
    #[serde(default = "one")]
    pub success_threshold: u32,
    /// Consecutive failures that make a ready instance unready.
    #[serde(default = "three")]
    pub failure_threshold: u32,
    /// What happens when a ready instance fails `failureThreshold` times: `none` (it is only
    /// marked unready) or `restart` (liveness).
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_interval() -> Duration {
    Duration::from_secs(2)
}
fn default_probe_timeout() -> Duration {
    Duration::from_secs(1)
}
fn three() -> u32 {
    3
}

impl Health {
    /// The kinds of probes configured, in the order http, tcp, cmd, log.
    pub fn probes(&self) -> Vec<ProbeKind> {
        let mut kinds = Vec::new();
        if self.http.is_some() {
            kinds.push(ProbeKind::Http);
        }
        if self.tcp.is_some() {
            kinds.push(ProbeKind::Tcp);
        }
        if self.cmd.is_some() {
            kinds.push(ProbeKind::Cmd);
        }
        if self.log.is_some() {
            kinds.push(ProbeKind::Log);
        }
        kinds
    }
}

/// The four probe kinds, also the names an `expression` may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// `http`
    Http,
    /// `tcp`
    Tcp,
    /// `cmd`
    Cmd,
    /// `log`
    Log,
}

impl ProbeKind {
    /// Every kind, in order.
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::Http,
        ProbeKind::Tcp,
        ProbeKind::Cmd,
        ProbeKind::Log,
    ];

    /// The name used in the stack file and in expressions.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Cmd => "cmd",
            ProbeKind::Log => "log",
        }
    }
}

/// An HTTP probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpProbe {
    /// `http://host:port/path`; a URL aimed at a proxied published port is retargeted to each
    /// instance's own port.
    pub url: String,
    /// Status codes that count as success (100–599): one code or a list. Default: `[200]`.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}

/// A TCP probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpProbe {
    /// Host to connect to. Default: `127.0.0.1`.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port to connect to.
    pub port: u16,
}

fn default_host() -> String {
    "127.0.0.1".into()
}

/// A command probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CmdProbe {
    /// The command; exit status 0 is success.
    pub command: Command,
}

/// A log probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogProbe {
    /// Regular expression matched against each raw output line.
    pub pattern: String,
    /// Which streams to watch. Default: both.
    #[serde(default = "default_sources")]
    pub sources: Vec<LogSource>,
}

fn default_sources() -> Vec<LogSource> {
    vec![LogSource::Stdout, LogSource::Stderr]
}

/// An output stream of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// What a failing ready instance leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Only mark it unready.
    #[default]
    None,
    /// Restart it (liveness).
    Restart,
}

/// When and how fast exited instances are started again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestartPolicy {
    /// `always`, `on-failure` (only after a non-zero exit or a signal) or `never`.
    #[serde(default)]
    pub mode: RestartMode,
    /// Consecutive failed runs of one instance before it is Failed; 0 = unlimited.
    #[serde(default = "five")]
    pub max_retries: u32,
    /// Delay before each restart: exponential with jitter.
    #[serde(default)]
    pub backoff: Backoff,
    /// Uptime after which the failure count starts again from zero.
    #[serde(default = "default_reset_after")]
    pub reset_after: Duration,
}

fn five() -> u32 {
    5
}
fn default_reset_after() -> Duration {
    Duration::from_secs(10)
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            mode: RestartMode::default(),
            max_retries: five(),
            backoff: Backoff::default(),
            reset_after: default_reset_after(),
        }
    }
}

/// When an exited instance is restarted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartMode {
    /// After every exit.
    #[default]
    Always,
    /// After a non-zero exit or a signal.
    OnFailure,
    /// Never.
    Never,
}

/// Exponential backoff: `min`, then ×`factor` per consecutive failure up to `max`, with jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Backoff {
    /// First delay; `0s` restarts at once.
    #[serde(default = "default_backoff_min")]
    pub min: Duration,
    /// Largest delay.
    #[serde(default = "default_backoff_max")]
    pub max: Duration,
    /// Growth per consecutive failure (≥ 1.0).
    #[serde(default = "default_factor")]
    pub factor: f64,
}

fn default_backoff_min() -> Duration {
    Duration::from_secs(1)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_factor() -> f64 {
    2.0
}

impl Backoff {
    /// The delay before a restart after `failures` consecutive failed runs (or restarts
    /// asked for by a dependency): `min`, then ×`factor` per further one, up to `max`;
    /// `jitter` (0..1, 0.5 = none) spreads it by up to ±20 % within `[min, max]`.
    pub fn delay(&self, failures: u32, jitter: f64) -> std::time::Duration {
        let min = self.min.get().as_secs_f64();
        let max = self.max.get().as_secs_f64();
        let steps = failures.saturating_sub(1).min(64) as i32;
        let base = (min * self.factor.max(1.0).powi(steps)).min(max);
        let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let seconds = (base * spread).clamp(min, max);
        std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::ZERO)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: default_backoff_min(),
            max: default_backoff_max(),
            factor: default_factor(),
        }
    }
}

/// How an instance is stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopPolicy {
    /// Signal sent to the instance's process group (or container) first, e.g. `SIGTERM`.
    #[serde(default = "default_signal")]
    pub signal: String,
    /// Time between the signal and SIGKILL.
    #[serde(default = "default_stop_timeout")]
    pub timeout: Duration,
}

fn default_signal() -> String {
    "SIGTERM".into()
}
fn default_stop_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for StopPolicy {
    fn default() -> Self {
        StopPolicy {
            signal: default_signal(),
            timeout: default_stop_timeout(),
        }
    }
}

/// How a changed service replaces its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePolicy {
    /// `rolling` (new instances ready before old ones stop) or `recreate` (stop, then start).
    #[serde(default)]
    pub strategy: UpdateStrategy,
    /// Instances that may be unready during a rolling update.
    #[serde(default)]
    pub max_unavailable: u32,
    /// Extra instances a rolling update may start above `replicas`.
    #[serde(default = "one")]
    pub max_surge: u32,
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        UpdatePolicy {
            strategy: UpdateStrategy::Rolling,
            max_unavailable: 0,
            max_surge: 1,
        }
    }
}

/// Update strategy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpdateStrategy {
    /// Replace instances in steps bounded by `maxSurge` and `maxUnavailable`.
    #[default]
    Rolling,
    /// Stop all old instances, then start the new ones.
    Recreate,
}

/// A workload that runs to completion: a graph of tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Job {
    /// Higher-priority jobs' ready tasks run first when task slots are scarce.
    #[serde(default)]
    pub priority: i32,
    /// Most tasks of this job running at once; 0 = limited only by the daemon's task slots.
    #[serde(default)]
    pub parallelism: u32,
    /// Keep running independent tasks after one fails; the job then succeeds when all ran.
    #[serde(default)]
    pub continue_on_failure: bool,
    /// Run the job periodically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The tasks, by name.
    pub tasks: BTreeMap<String, Task>,
    /// What must hold for other workloads before this job starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// What each task requests and may use at most (a task may override it).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Which nodes the tasks may run on (a task may override it).
    #[serde(default, skip_serializing_if = "Placement::is_empty")]
    pub placement: Placement,
    /// The tasks' graph by index, derived from `tasks` on first use.
    #[serde(skip)]
    #[schemars(skip)]
    pub graph: TaskGraphCell,
}

impl Job {
    /// The tasks' graph by index (in the order of [`Job::tasks`]), built on the first call:
    /// what a scheduler walks instead of looking tasks up by name. `tasks` must not change
    /// after the first call (a clone of the job builds its own).
    pub fn graph(&self) -> &TaskGraph {
        self.graph.0.get_or_init(|| TaskGraph::of(&self.tasks))
    }
}

/// A job's tasks as indices into [`Job::tasks`] (in its order, by name).
#[derive(Debug, Clone)]
pub struct TaskGraph {
    /// Tells this graph from every other built in this process (a clone of a job builds
    /// its own): what derived data built against it records.
    pub id: u64,
    /// The task names, in order: `names[i]` is task `i`.
    pub names: Vec<String>,
    /// For each task, its dependencies: the index of the task depended on (`None` when no
    /// task has that name, which validation rejects) and the condition.
    pub deps: Vec<Vec<(Option<usize>, Require)>>,
    /// Every task index, each after all of its dependencies (with a cycle, which validation
    /// rejects, the name order).
    pub order: Vec<usize>,
    /// Some task waits for another to fail (`require: failed`): a success can then skip it.
    pub awaits_failure: bool,
}

impl TaskGraph {
    fn of(tasks: &BTreeMap<String, Task>) -> TaskGraph {
        static BUILT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let names: Vec<&str> = tasks.keys().map(String::as_str).collect();
        let deps: Vec<Vec<(Option<usize>, Require)>> = tasks
            .values()
            .map(|task| {
                task.depends_on
                    .iter()
                    .map(|d| (names.binary_search(&d.target.as_str()).ok(), d.require))
                    .collect()
            })
            .collect();
        // The dependency graph's topological order (with a cycle, which validation rejects,
        // the name order: the scheduler then repeats its pass until nothing changes).
        let mut graph = orco_dag::Graph::new();
        for (name, task) in tasks {
            graph.add_node(name.as_str());
            for d in task
                .depends_on
                .iter()
                .filter(|d| tasks.contains_key(&d.target))
            {
                graph.add_edge(name.as_str(), d.target.as_str());
            }
        }
        let order = match graph.order() {
            Ok(order) => order
                .iter()
                .filter_map(|n| names.binary_search(&n.as_str()).ok())
                .collect(),
            Err(_) => (0..names.len()).collect(),
        };
        TaskGraph {
            id: BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            names: names.iter().map(|n| n.to_string()).collect(),
            awaits_failure: deps
                .iter()
                .flatten()
                .any(|(_, require)| *require == Require::Failed),
            deps,
            order,
        }
    }
}

/// Holds a [`TaskGraph`] once built. It is derived data: never serialized, equal to every
/// other cell, and empty in a clone (so that a clone whose tasks change builds its own).
#[derive(Debug, Default)]
pub struct TaskGraphCell(std::sync::OnceLock<TaskGraph>);

impl Clone for TaskGraphCell {
    fn clone(&self) -> TaskGraphCell {
        TaskGraphCell::default()
    }
}

impl PartialEq for TaskGraphCell {
    fn eq(&self, _: &TaskGraphCell) -> bool {
        true
    }
}

/// A periodic schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Schedule {
    /// Cron expression: five fields (minute hour day-of-month month day-of-week), or six
    /// with seconds first; lists, ranges, steps, month and day names, `@daily` and the like.
    pub cron: String,
    /// IANA time zone the expression is read in. Default: `UTC`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// What happens when a run is due while the previous one still runs.
    #[serde(default)]
    pub overlap: Overlap,
    /// `cron` parsed in `timezone`, once: when the stack file is loaded, or on the first
    /// [`Schedule::when`] of a schedule read back from the log.
    #[serde(skip)]
    #[schemars(skip)]
    pub parsed: ParsedSchedule,
}

fn default_timezone() -> String {
    "UTC".into()
}

impl Schedule {
    /// The expression parsed in its time zone: parsed on the first call and kept with the
    /// schedule (a clone keeps it), so that the engine does not parse it again on every pass.
    /// `None` when either does not parse, which validation refuses. Should `cron` or
    /// `timezone` change after the first call, they are parsed again on each call.
    pub fn when(&self) -> Option<std::borrow::Cow<'_, When>> {
        let kept = self
            .parsed
            .0
            .get_or_init(|| When::parse(&self.cron, &self.timezone));
        match kept {
            Some(w) if w.cron_text == self.cron && w.timezone_text == self.timezone => {
                Some(std::borrow::Cow::Borrowed(w))
            }
            Some(_) => When::parse(&self.cron, &self.timezone).map(std::borrow::Cow::Owned),
            None => None,
        }
    }

    /// A schedule from an expression parsed already (the loader's).
    pub(crate) fn parsed_as(when: When, overlap: Overlap) -> Schedule {
        let schedule = Schedule {
            cron: when.cron_text.clone(),
            timezone: when.timezone_text.clone(),
            overlap,
            parsed: ParsedSchedule::default(),
        };
        let _ = schedule.parsed.0.set(Some(when));
        schedule
    }

    /// Whether [`Schedule::when`] has parsed the expression already (tests use it).
    pub fn is_parsed(&self) -> bool {
        self.parsed.0.get().is_some()
    }
}

/// A schedule's cron expression parsed in its time zone.
#[derive(Debug, Clone)]
pub struct When {
    /// The expression.
    pub cron: orco_cron::Cron,
    /// The time zone it is read in.
    pub zone: jiff::tz::TimeZone,
    cron_text: String,
    timezone_text: String,
}

impl When {
    /// `expr` and `zone`, parsed from `cron` and `timezone`.
    pub(crate) fn new(
        cron: String,
        timezone: String,
        expr: orco_cron::Cron,
        zone: jiff::tz::TimeZone,
    ) -> When {
        When {
            cron: expr,
            zone,
            cron_text: cron,
            timezone_text: timezone,
        }
    }

    fn parse(cron: &str, timezone: &str) -> Option<When> {
        Some(When {
            cron: orco_cron::Cron::parse(cron).ok()?,
            zone: jiff::tz::TimeZone::get(timezone).ok()?,
            cron_text: cron.to_string(),
            timezone_text: timezone.to_string(),
        })
    }
}

/// Holds a [`Schedule`]'s parsed expression once parsed. It is derived data: never
/// serialized and equal to every other.
#[derive(Debug, Default, Clone)]
pub struct ParsedSchedule(std::sync::OnceLock<Option<When>>);

impl PartialEq for ParsedSchedule {
    fn eq(&self, _: &ParsedSchedule) -> bool {
        true
    }
}

/// Overlap policy of a scheduled job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Skip the new run.
    #[default]
    Skip,
    /// Start it after the previous one ends.
    Queue,
    /// Run both.
    Allow,
}

/// One step of a job: a subprocess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Task {
    /// What to run (as for services).
    pub command: Command,
    /// Environment variables: a value, or `{secret: NAME}` (as for services).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// Dotenv files (as for services).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "OneOrMany<PathBuf>")]
    pub env_from_file: Vec<PathBuf>,
    /// Names of the stack's secrets received as files only (as for services).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The digest of each secret received, stamped at apply (as for services).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub secret_digests: BTreeMap<String, String>,
    /// Working directory, relative to `stack.workdir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Longest a run may take before it is stopped and counts as failed; default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Retries after a failed run.
    #[serde(default)]
    pub retry: Retry,
    /// Tasks of the same job that must reach a condition first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<TaskDependency>,
    /// Overrides the job's `resources` for this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Overrides the job's `placement` for this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Retries of a task (restartPolicy's shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Retry {
    /// Retries after the first failed run; 0 = none.
    #[serde(default)]
    pub max_retries: u32,
    /// Delay before each retry.
    #[serde(default)]
    pub backoff: Backoff,
}

/// An edge between tasks of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDependency {
    /// A task of the same job.
    pub target: String,
    /// `succeeded` (default), `failed` or `completed`.
    #[serde(default = "succeeded")]
    pub require: Require,
}

fn ready() -> Require {
    Require::Ready
}

fn succeeded() -> Require {
    Require::Succeeded
}

/// A workload is a service or a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// A long-running service.
    Service,
    /// A job that runs to completion.
    Job,
}

impl Service {
    /// What the service receives of the stack's secrets.
    pub fn secret_use(&self) -> SecretUse<'_> {
        SecretUse {
            env: &self.env,
            secrets: &self.secrets,
            digests: &self.secret_digests,
        }
    }
}

impl Task {
    /// What the task receives of the stack's secrets.
    pub fn secret_use(&self) -> SecretUse<'_> {
        SecretUse {
            env: &self.env,
            secrets: &self.secrets,
            digests: &self.secret_digests,
        }
    }
}

impl Stack {
    /// The kind of the workload called `name`, if there is one.
    pub fn workload_kind(&self, name: &str) -> Option<WorkloadKind> {
        if self.services.contains_key(name) {
            Some(WorkloadKind::Service)
        } else if self.jobs.contains_key(name) {
            Some(WorkloadKind::Job)
        } else {
            None
        }
    }

    /// Every workload's dependencies, services and jobs alike, by name.
    pub fn dependencies(&self) -> impl Iterator<Item = (&str, WorkloadKind, &[Dependency])> {
        let services = self
            .services
            .iter()
            .map(|(n, s)| (n.as_str(), WorkloadKind::Service, &s.depends_on[..]));
        let jobs = self
            .jobs
            .iter()
            .map(|(n, j)| (n.as_str(), WorkloadKind::Job, &j.depends_on[..]));
        services.chain(jobs)
    }
}

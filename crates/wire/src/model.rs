//! The API's request and response bodies: what the CLI and every other client read and send.
//!
//! Reads return views computed from the state at the moment asked for; lists
//! carry the `revision` they answer for and `as_of`, the moment ages are measured to.

use std::collections::BTreeMap;

use jiff::Timestamp;
use orco_spec::{Require, RuntimeKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::event::EventType;
use crate::state::{
    ClusterMode, HealthStatus, InstancePhase, NodeStatus, RolloutStatus, WorkloadKind,
    WorkloadState,
};

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `healthy` when the daemon answers.
    pub status: HealthStatus,
}

/// The answer to a write: the revision of its last event, on disk when this is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The revision of the last event appended (the head, when nothing changed).
    pub revision: u64,
    /// How many events were appended (0: the request changed nothing).
    pub events: u32,
}

/// Where the instances of a stack would run if it were applied now (`orco apply --dry-run`
/// on a cluster): each instance with its node, or why it would wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlacementPreview {
    /// Each instance of the stack, by id. Empty on a single machine.
    pub items: Vec<PlannedPlacement>,
}

/// One instance of a [`PlacementPreview`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedPlacement {
    /// The instance (`STACK/SERVICE-N`).
    pub instance: String,
    /// The node it would run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why it would wait instead (no node fits, or its dependencies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An applied stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StackView {
    /// Its name.
    pub name: String,
    /// Where its relative paths start (absolute).
    pub workdir: String,
    /// When it was last applied.
    #[schema(value_type = String, format = DateTime)]
    pub applied_at: Timestamp,
    /// How many times it has been applied.
    pub generation: u64,
    /// Its services' names.
    pub services: Vec<String>,
    /// Its jobs' names.
    pub jobs: Vec<String>,
    /// How many instances it has.
    pub instances: u32,
    /// Replica counts set by `scale` since the last apply.
    pub scale: BTreeMap<String, u32>,
    /// Services stopped by `stop` since the last apply.
    pub stopped: Vec<String>,
}

/// `GET /api/v1/stacks/{name}`: a stack with its resolved stack file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StackDetail {
    /// The revision this answers for.
    pub revision: u64,
    /// The stack.
    #[serde(flatten)]
    pub stack: StackView,
    /// The resolved stack as applied (the stack file's keys; see `orco schema`).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// `GET /api/v1/stacks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StackList {
    /// The revision this answers for.
    pub revision: u64,
    /// The moment ages are measured to.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// The stacks, by name.
    pub items: Vec<StackView>,
}

/// A workload (service or job) and a summary of its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadView {
    /// `STACK/NAME`.
    pub id: String,
    /// Its stack.
    pub stack: String,
    /// Its name in the stack.
    pub name: String,
    /// `service` or `job`.
    pub kind: WorkloadKind,
    /// A one-word summary: `pending`, `starting`, `running`, `degraded`, `restarting`,
    /// `failed`, `succeeded`, `stopped`, `scaled-to-zero` (jobs: `not-run`, `running`,
    /// `succeeded`, `failed`, `cancelled`).
    pub state: WorkloadState,
    /// Instances running and ready.
    pub ready: u32,
    /// Desired instances (a `scale` override, else the stack file's `replicas`; 0 for jobs).
    pub replicas: u32,
    /// Instances that exist.
    pub instances: u32,
    /// Restarts of its current instances, summed.
    pub restarts: u32,
    /// Since when it is in this state: its oldest instance's creation, else its stack's apply.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// Why it is not all well, when it is not (the first instance with a reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `process` or `docker` (services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub runtime: Option<RuntimeKind>,
    /// What it runs: the command, else the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Whether `stop` stopped it (until `start` or the next apply).
    pub stopped: bool,
    /// Why it waits, when an instance of it (or its latest run) waits for a dependency:
    /// `message` says the same in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
    /// Its dependencies (`dependsOn`) and whether each one's condition holds at the moment
    /// the view answers for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<DependencyView>,
}

/// Why a workload waits: the first dependency whose `require` does not hold, as the
/// reconciler's dependency gate decides it at the moment the view answers for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Blocked {
    /// What waits: the instance (`SERVICE-N`) or the job run (`JOB#RUN`).
    pub waiting: String,
    /// The dependency waited for (a service or job of the stack).
    pub dependency: String,
    /// The condition on it that does not hold.
    #[schema(value_type = String)]
    pub require: Require,
    /// What the dependency's state says, when that helps (`1/2 ready`, a probe failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Since when it waits.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// The dependency's timeout, as written (`60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// When the timeout falls due (`since` + `timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    /// Whether the timeout had passed at the moment the view answers for.
    pub timed_out: bool,
}

/// One dependency of a workload and whether its condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DependencyView {
    /// The service or job depended on.
    pub target: String,
    /// The condition.
    #[schema(value_type = String)]
    pub require: Require,
    /// Whether the condition holds.
    pub holds: bool,
    /// When it does not: what the target's state says, when that helps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /api/v1/workloads/{id}`: a workload, its spec and its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadDetail {
    /// The revision this answers for.
    pub revision: u64,
    /// The moment ages are measured to.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// The workload.
    pub workload: WorkloadView,
    /// Its resolved spec (a service or a job of the stack file).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// Its instances.
    pub instances: Vec<InstanceView>,
}

/// `GET /api/v1/workloads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadList {
    /// The revision this answers for.
    pub revision: u64,
    /// The moment ages are measured to.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// The workloads, by stack then name.
    pub items: Vec<WorkloadView>,
}

/// `POST /api/v1/workloads`: add (or replace) one service in a stack, creating the stack
/// when it does not exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadCreate {
    /// The stack to add it to.
    pub stack: String,
    /// The service's name.
    pub name: String,
    /// The service, with the stack file's keys (`command`, `replicas`, `restartPolicy`, …).
    #[schema(value_type = Object)]
    pub service: orco_spec::Service,
    /// The new stack's workdir (absolute) when the stack does not exist yet; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
}

/// `PATCH /api/v1/workloads/{id}/scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    /// The new number of replicas.
    pub replicas: u32,
}

/// `POST /api/v1/workloads/{id}/rollback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The revision of the service's spec to return to; default: the one before the current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
}

/// A service's spec revisions and its latest rollout (`GET /api/v1/workloads/{id}/rollout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutView {
    /// The event-log revision this answers for.
    pub revision: u64,
    /// `STACK/NAME`.
    pub workload: String,
    /// The current revision of its spec (1 for the first).
    pub current: u32,
    /// Every revision of its spec, oldest first.
    pub revisions: Vec<SpecRevision>,
    /// The replica count.
    pub replicas: u32,
    /// The latest rollout, if the spec ever changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutState>,
    /// Each instance: `NAME`, the revision it runs, whether it is ready.
    pub instances: Vec<RolloutInstance>,
}

/// One revision of a service's spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpecRevision {
    /// Its number.
    pub revision: u32,
    /// The spec.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutState {
    /// The revision the instances ran.
    pub from: u32,
    /// The revision they are replaced with.
    pub to: u32,
    /// `progressing`, `complete`, `rolling_back` or `rolled_back`.
    pub status: RolloutStatus,
    /// Why it was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it began.
    #[schema(value_type = String)]
    pub started_at: Timestamp,
    /// Replica slots that run `to` and are ready.
    pub updated: u32,
}

/// One instance in a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutInstance {
    /// `SERVICE-N`.
    pub name: String,
    /// The revision of the spec it runs.
    pub revision: u32,
    /// Whether it is ready.
    pub ready: bool,
}

/// One instance (replica slot) of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceView {
    /// `STACK/SERVICE-N`.
    pub id: String,
    /// `STACK/SERVICE`.
    pub workload: String,
    /// `SERVICE-N`.
    pub name: String,
    /// The replica slot N.
    pub replica: u32,
    /// `pending`, `starting`, `running`, `stopping`, `stopped`, `succeeded` or `failed`.
    pub phase: InstancePhase,
    /// Whether it runs and its health passes.
    pub ready: bool,
    /// When it entered its phase.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The node it is placed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pid of its current (or last) run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The container id of its current (or last) run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The host ports it publishes, `IP:HOST->TARGET/PROTO`; a port chosen at start
    /// (compose's `"80"`) shows the port its run was given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// How its last run ended: `exit 0`, `signal 9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    /// Why it last failed, became unready or was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Starts after the first one.
    pub restarts: u32,
    /// Consecutive failed runs.
    pub failures: u32,
    /// When a pending restart is due, while backing off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub backoff_until: Option<Timestamp>,
    /// Restarts asked for by hand.
    pub restart_requests: u32,
}

/// `GET /api/v1/instances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InstanceList {
    /// The revision this answers for.
    pub revision: u64,
    /// The moment ages are measured to.
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// The instances, by id.
    pub items: Vec<InstanceView>,
}

/// A node and its capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeView {
    /// Its name (the host name).
    pub name: String,
    /// `ready` while the daemon answers.
    pub status: NodeStatus,
    /// CPUs available to the daemon.
    pub cpus: u32,
    /// Memory, from /proc/meminfo `MemTotal`, in bytes.
    pub memory_bytes: u64,
    /// Memory available now, from /proc/meminfo `MemAvailable`, in bytes.
    pub memory_available_bytes: u64,
    /// Instances placed on it (on one machine: all of them).
    pub instances: u32,
    /// The orco version it runs.
    pub version: String,
    /// The operating system and architecture.
    pub os: String,
    /// The address its agent connected from (cluster nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Thousandths of a core instances may request (cluster nodes: capacity minus reserve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable_cpu_millis: Option<u64>,
    /// Bytes of memory instances may request (cluster nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable_memory_bytes: Option<u64>,
    /// Its labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its taints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<String>,
    /// Cordoned: it takes no new instance.
    #[serde(default)]
    pub cordoned: bool,
    /// Being drained: its instances move to other nodes.
    #[serde(default)]
    pub draining: bool,
    /// Raised each time it is declared lost.
    #[serde(default)]
    pub epoch: u64,
}

/// `POST /api/v1/nodes/{name}/labels` and `…/taints`: edits of a node's labels
/// (`KEY=VALUE`, `KEY-`) or taints (`KEY[=VALUE][:NoSchedule|NoExecute]`, `KEY-`), applied
/// in order, all or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeEdits {
    /// The edits.
    pub edits: Vec<String>,
}

/// `POST /api/v1/cluster/join`: a node asks for its certificate with a join token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JoinRequest {
    /// The token's id.
    pub token_id: String,
    /// The token's secret.
    pub secret: String,
    /// The node's name (the CSR's common name).
    pub node: String,
    /// The node's certificate signing request, PEM.
    pub csr: String,
}

/// `POST /api/v1/node/certificate`: a node with a valid certificate asks for a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CertificateRequest {
    /// The node's certificate signing request, PEM.
    pub csr: String,
}

/// A node's certificate, signed by the cluster's CA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeCertificate {
    /// The certificate, PEM.
    pub certificate: String,
    /// The cluster CA's certificate, PEM.
    pub ca: String,
}

/// `POST /api/v1/cluster/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// How long it is accepted, in seconds (default a day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// Whether several nodes may join with it.
    #[serde(default)]
    pub reusable: bool,
}

/// A join token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Its id.
    pub id: String,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it stops being accepted.
    #[schema(value_type = String, format = DateTime)]
    pub expires: Timestamp,
    /// Whether several nodes may join with it.
    pub reusable: bool,
    /// The nodes that joined with it.
    pub used_by: Vec<String>,
    /// `valid`, `expired`, `used` or `revoked`.
    pub status: String,
}

/// `POST /api/v1/cluster/tokens`'s answer: the token, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The whole token, `orco1.ID.PIN.SECRET`.
    pub token: String,
    /// The token as listed.
    pub view: TokenView,
}

/// `GET /api/v1/cluster/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// The tokens.
    pub items: Vec<TokenView>,
}

/// `GET /api/v1/cluster/members`: the SWIM group as the server sees it (a hint), beside each
/// node's lease status (the decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberList {
    /// Every member: the server first, then the others by role and name.
    pub items: Vec<MemberView>,
    /// Gossip datagrams the server dropped: a wrong key, garbage, or unreadable.
    pub dropped: u64,
}

/// One member of the SWIM group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// The node's name (a server: its host name).
    pub name: String,
    /// `server` or `agent`.
    pub role: crate::MemberRole,
    /// Where it gossips (UDP).
    pub address: String,
    /// What the group says of it: `alive`, `suspect` or `down`.
    pub swim: crate::SwimState,
    /// How often it refuted a suspicion.
    pub incarnation: u16,
    /// The node's status by its lease (what decides); none for a server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<crate::NodeStatus>,
}

/// `POST /api/v1/tokens`: a new API token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenRequest {
    /// What it may do.
    pub role: crate::Role,
    /// Its name, shown in `orco history` for what it changes (default: `ROLE-ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How long it is accepted, in seconds (default: until revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenView {
    /// Its name.
    pub name: String,
    /// Its id (the second part of the token).
    pub id: String,
    /// What it may do.
    pub role: crate::Role,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it stops being accepted (never when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires: Option<Timestamp>,
    /// Who created it (a token's name, or `socket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// `valid`, `expired` or `revoked`.
    pub status: String,
}

/// `POST /api/v1/tokens`'s answer: the token, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenCreated {
    /// The whole token, `orcot1.ID.SECRET`: the log keeps only a hash of its secret.
    pub token: String,
    /// The token as listed.
    pub view: ApiTokenView,
}

/// `GET /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenList {
    /// The tokens, by name.
    pub items: Vec<ApiTokenView>,
}

/// `GET /api/v1/nodes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeList {
    /// The revision this answers for.
    pub revision: u64,
    /// The nodes.
    pub items: Vec<NodeView>,
}

/// One event of the log, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Its revision.
    pub revision: u64,
    /// When it happened.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Its kind (`stack_applied`, `instance_started`, …).
    pub kind: EventType,
    /// The object it is mostly about (`demo`, `demo/web`, `demo/web-0`).
    pub object: String,
    /// One line for people.
    pub summary: String,
    /// Who asked for it through the API: a token's name, or `socket` (absent for what orco
    /// did by itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The event itself (`{"at": …, "kind": {…}}`).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

/// `GET /api/v1/history/{object}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    /// The object (`demo`, `demo/web`, `demo/web-0`).
    pub object: String,
    /// Events at or before this revision were compacted away.
    pub horizon: u64,
    /// The events that touched it, oldest first.
    pub items: Vec<EventView>,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterInfo {
    /// The daemon's orco version.
    pub version: String,
    /// The API version.
    pub api: String,
    /// `single-node` (`orco daemon`) or `server` (`orco server`).
    pub mode: ClusterMode,
    /// The log's head revision.
    pub revision: u64,
    /// The compaction horizon.
    pub horizon: u64,
    /// When the daemon started.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// Whether the engine (reconciler and agent) runs in this daemon.
    pub engine: bool,
    /// Applied stacks.
    pub stacks: u32,
    /// Workloads of all stacks.
    pub workloads: u32,
    /// Instances of all stacks.
    pub instances: u32,
    /// Nodes.
    pub nodes: u32,
}

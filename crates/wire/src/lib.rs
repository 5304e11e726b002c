//! orco's wire types: everything that crosses the REST API between the daemon and its
//! clients (CLI, TUI, web), shared by both sides so that they cannot disagree. No server
//! here: the daemon's `orco-api` serves these types, `orco-client` reads them.
//!
//! - [`model`]: request and response bodies (stacks, workloads, instances, nodes, events,
//!   history, cluster), with [`Blocked`](model::Blocked): why a workload waits.
//! - [`job`]: job runs, their tasks and schedules.
//! - [`state`]: every state, phase and kind as an enum ([`WorkloadState`],
//!   [`InstancePhase`], [`JobState`], …); [`event`]: [`EventType`], an event's kind.
//! - [`error`]: the JSON error body.
//! - [`route`]: the route templates and the paths a client sends.
//! - [`version`]: the `Orco-Version` exchange; [`paths`]: the default data dir and socket.
//! - [`level`]: a log record's [`Level`].

pub mod error;
pub mod event;
pub mod job;
pub mod level;
pub mod model;
pub mod paths;
pub mod route;
pub mod state;
pub mod version;

pub use error::{ErrorBody, ErrorDetail, FieldProblem};
pub use event::EventType;
pub use level::Level;
pub use state::{
    ClusterMode, HealthStatus, InstancePhase, JobState, MemberRole, NodeStatus, Role,
    RolloutStatus, SwimState, TaskState, WorkloadKind, WorkloadState,
};
pub use version::{API_PREFIX, VERSION, VERSION_HEADER};

/// How often a stream (the event watch, a log follow) sends a keep-alive when it has nothing
/// else to send, so that a client tells a quiet stream from a daemon that stopped answering.
pub const STREAM_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

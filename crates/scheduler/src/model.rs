//! What the scheduler reads: nodes, workloads with their requests and constraints, placed instances.

use std::collections::BTreeMap;
use std::fmt;

pub use orco_spec::{Placement, Spread, SpreadBy, Strategy, Toleration};

/// Cores in thousandths (`500m` = 500) and memory in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// Thousandths of a core.
    pub cpu_millis: u64,
    /// Bytes.
    pub memory: u64,
}

impl Resources {
    /// `cpu_millis` thousandths of a core and `memory` bytes.
    pub fn new(cpu_millis: u64, memory: u64) -> Resources {
        Resources { cpu_millis, memory }
    }

    /// Whether `need` fits in `self` in both dimensions.
    pub fn fits(&self, need: &Resources) -> bool {
        need.cpu_millis <= self.cpu_millis && need.memory <= self.memory
    }

    /// `self - other`, never below zero.
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory: self.memory.saturating_sub(other.memory),
        }
    }

    /// `self + other`, never overflowing.
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory: self.memory.saturating_add(other.memory),
        }
    }
}

/// A node's state as the control plane sees it (DESIGN.md §11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    /// Its lease is current: it takes new instances unless cordoned.
    #[default]
    Ready,
    /// Its lease lapsed: no new instance until it is back.
    Unreachable,
    /// Declared lost: its instances are rescheduled.
    Lost,
    /// Removed on purpose.
    Left,
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeStatus::Ready => "ready",
            NodeStatus::Unreachable => "unreachable",
            NodeStatus::Lost => "lost",
            NodeStatus::Left => "left",
        })
    }
}

/// What a taint keeps away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Effect {
    /// No new instance without a toleration.
    #[default]
    NoSchedule,
    /// No new instance, and running ones that do not tolerate it are moved.
    NoExecute,
}

/// A node taint, `key=value[:NoSchedule|NoExecute]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    /// The taint's key.
    pub key: String,
    /// Its value (may be empty).
    pub value: String,
    /// What it keeps away.
    pub effect: Effect,
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)?;
        if !self.value.is_empty() {
            write!(f, "={}", self.value)?;
        }
        match self.effect {
            Effect::NoSchedule => Ok(()),
            Effect::NoExecute => f.write_str(":NoExecute"),
        }
    }
}

impl std::str::FromStr for Taint {
    type Err = String;

    /// `key=value[:NoSchedule|NoExecute]`, or `key[:effect]`.
    fn from_str(s: &str) -> Result<Taint, String> {
        let (body, effect) = match s.rsplit_once(':') {
            Some((body, "NoSchedule")) => (body, Effect::NoSchedule),
            Some((body, "NoExecute")) => (body, Effect::NoExecute),
            Some((_, other)) => {
                return Err(format!(
                    "taint {s:?}: unknown effect {other:?} (NoSchedule or NoExecute)"
                ));
            }
            None => (s, Effect::NoSchedule),
        };
        let (key, value) = body.split_once('=').unwrap_or((body, ""));
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(format!(
                "taint {s:?}: the key must be letters, digits, `-`, `_`, `.` or `/` (key=value[:NoSchedule|NoExecute])"
            ));
        }
        Ok(Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect,
        })
    }
}

/// One machine the scheduler may place on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Its unique name.
    pub name: String,
    /// Capacity minus the reserve: what instances' requests may add up to.
    pub allocatable: Resources,
    /// Labels, static and dynamic.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// Whether it is reachable.
    pub status: NodeStatus,
    /// A cordoned node takes no new instance.
    pub cordoned: bool,
}

/// A workload of a stack: `STACK` and the service's or job's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkloadRef {
    /// The stack.
    pub stack: String,
    /// The service or job (a task that overrides resources or placement: `JOB/TASK`).
    pub name: String,
}

impl WorkloadRef {
    /// `stack` / `name`.
    pub fn new(stack: impl Into<String>, name: impl Into<String>) -> WorkloadRef {
        WorkloadRef {
            stack: stack.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.stack, self.name)
    }
}

/// A workload as the scheduler sees it: what each instance requests and where it may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// Which workload.
    pub id: WorkloadRef,
    /// Requested per instance (counted, not measured).
    pub requests: Resources,
    /// Constraints and strategy, as the stack file's `placement`.
    pub placement: Placement,
    /// Host ports each instance holds on its node (not proxied).
    pub host_ports: Vec<u16>,
}

/// An instance already on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Instance name (`SERVICE-N`).
    pub instance: String,
    /// Index into [`Snapshot::workloads`].
    pub workload: usize,
    /// Index into [`Snapshot::nodes`].
    pub node: usize,
    /// Whether its health passes (anchors: a follower's first placement waits for one).
    pub ready: bool,
}

/// An instance that needs a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Instance name (`SERVICE-N`); unique among pending and placed instances.
    pub instance: String,
    /// Index into [`Snapshot::workloads`].
    pub workload: usize,
}

/// Everything the scheduler reads. Indices in `placed` and `pending` refer to `nodes` and
/// `workloads`; an index out of range makes that instance unplaceable, never a panic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every node, in any order.
    pub nodes: Vec<Node>,
    /// Every workload referred to.
    pub workloads: Vec<Workload>,
    /// Instances already placed.
    pub placed: Vec<Placed>,
}

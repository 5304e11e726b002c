//! The stack's shape as the TUI needs it: each workload's dependencies (from the applied
//! stack file), why a waiting workload is blocked, and the dependency graph as lines.

use std::collections::BTreeMap;

use orco_api::model::WorkloadView;
use orco_spec::{Require, Stack};

/// One dependency edge: the workload waits until `target` meets `require`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The service or job waited for.
    pub target: String,
    /// The condition.
    pub require: Require,
    /// The dependency's timeout, as written (`60s`).
    pub timeout: Option<String>,
}

/// The workloads' dependencies, their jobs' tasks and the start layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// Each workload's dependencies, by workload name.
    pub deps: BTreeMap<String, Vec<Dep>>,
    /// Each job's task names.
    pub tasks: BTreeMap<String, Vec<String>>,
    /// Start layers (each one starts after the ones above it); empty on a cycle.
    pub layers: Vec<Vec<String>>,
}

impl Topology {
    /// The topology of an applied stack.
    pub fn of(stack: &Stack) -> Topology {
        let dep = |d: &orco_spec::Dependency| Dep {
            target: d.target.clone(),
            require: d.require,
            timeout: d.timeout.map(|t| t.to_string()),
        };
        let mut deps = BTreeMap::new();
        for (name, service) in &stack.services {
            deps.insert(name.clone(), service.depends_on.iter().map(dep).collect());
        }
        let mut tasks = BTreeMap::new();
        for (name, job) in &stack.jobs {
            deps.insert(name.clone(), job.depends_on.iter().map(dep).collect());
            tasks.insert(name.clone(), job.tasks.keys().cloned().collect());
        }
        let layers = orco_spec::graph(stack).layers().unwrap_or_default();
        Topology {
            deps,
            tasks,
            layers,
        }
    }

    /// The topology of a stack as the API returns it (`StackDetail::spec`); empty when the
    /// value is not a stack this version understands.
    pub fn from_json(spec: &serde_json::Value) -> Topology {
        serde_json::from_value::<Stack>(spec.clone())
            .map(|stack| Topology::of(&stack))
            .unwrap_or_default()
    }

    /// The dependency graph, one line per workload grouped by start layer, each with what
    /// it waits for and whether that holds now.
    pub fn lines(&self, workloads: &[WorkloadView]) -> Vec<String> {
        let mut out = Vec::new();
        if self.layers.is_empty() {
            out.push("no dependency graph (no stack, or a cycle)".to_string());
            return out;
        }
        for (i, layer) in self.layers.iter().enumerate() {
            out.push(format!("layer {i}"));
            for name in layer {
                let deps = self.deps.get(name).map(Vec::as_slice).unwrap_or_default();
                if deps.is_empty() {
                    out.push(format!("  {name}"));
                    continue;
                }
                let parts: Vec<String> = deps
                    .iter()
                    .map(|d| {
                        let mark = if holds(d, workloads) { "✓" } else { "…" };
                        format!("{} {} {mark}", d.target, d.require.as_str())
                    })
                    .collect();
                out.push(format!("  {name} ← {}", parts.join(", ")));
            }
        }
        out
    }
}

fn find<'a>(workloads: &'a [WorkloadView], name: &str) -> Option<&'a WorkloadView> {
    workloads.iter().find(|w| w.name == name)
}

/// Whether `dep`'s condition holds, judged from the target's view.
pub fn holds(dep: &Dep, workloads: &[WorkloadView]) -> bool {
    let Some(target) = find(workloads, &dep.target) else {
        return false;
    };
    let state = target.state.as_str();
    match dep.require {
        Require::Exists => target.instances > 0 || target.kind == "job" && state != "not-run",
        Require::Started => matches!(
            state,
            "running" | "starting" | "degraded" | "succeeded" | "failed"
        ),
        Require::Ready => target.replicas > 0 && target.ready >= target.replicas,
        Require::Succeeded => state == "succeeded",
        Require::Failed => state == "failed",
        Require::Completed => matches!(state, "succeeded" | "failed" | "cancelled"),
    }
}

/// Why `workload` waits, in the reconciler's words (`api blocked: dependency db not ready
/// (timeout 60s, db: starting)`), when it is waiting on a dependency: the daemon's own
/// message when it says so, else the first dependency whose condition does not hold.
pub fn blocked_reason(
    topology: &Topology,
    workloads: &[WorkloadView],
    workload: &WorkloadView,
) -> Option<String> {
    if let Some(message) = &workload.message
        && message.contains("blocked")
    {
        return Some(message.clone());
    }
    if !matches!(workload.state.as_str(), "pending" | "not-run") {
        return None;
    }
    let deps = topology.deps.get(&workload.name)?;
    let dep = deps.iter().find(|d| !holds(d, workloads))?;
    let condition = match dep.require {
        Require::Exists => "created",
        Require::Started => "started",
        Require::Ready => "ready",
        Require::Succeeded => "succeeded",
        Require::Failed => "failed",
        Require::Completed => "completed",
    };
    let mut notes = Vec::new();
    if let Some(t) = &dep.timeout {
        notes.push(format!("timeout {t}"));
    }
    match find(workloads, &dep.target) {
        Some(target) => {
            let mut note = format!("{}: {}", target.name, target.state);
            if let Some(m) = &target.message {
                note.push_str(&format!(" — {m}"));
            }
            notes.push(note);
        }
        None => notes.push(format!("{} is not in the stack", dep.target)),
    }
    Some(format!(
        "{} blocked: dependency {} not {condition} ({})",
        workload.name,
        dep.target,
        notes.join(", ")
    ))
}

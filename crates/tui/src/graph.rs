//! The stack's shape as the TUI needs it: each workload's dependencies (from the applied
//! stack file) and the dependency graph as lines. Whether a dependency holds, and why a
//! workload waits, is the daemon's to say (`WorkloadView::dependencies`, `blocked`).

use std::collections::BTreeMap;

use orco_spec::{Require, Stack};
use orco_wire::model::WorkloadView;

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
    /// it waits for and whether that holds now, as the daemon's views say.
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
                        let mark = if holds(name, d, workloads) {
                            "✓"
                        } else {
                            "…"
                        };
                        format!("{} {} {mark}", d.target, d.require.as_str())
                    })
                    .collect();
                out.push(format!("  {name} ← {}", parts.join(", ")));
            }
        }
        out
    }
}

/// Whether `workload`'s dependency `dep` holds, as the daemon's view of `workload` says
/// (not while the view does not list it).
fn holds(workload: &str, dep: &Dep, workloads: &[WorkloadView]) -> bool {
    workloads
        .iter()
        .find(|w| w.name == workload)
        .and_then(|w| {
            w.dependencies
                .iter()
                .find(|d| d.target == dep.target && d.require == dep.require)
        })
        .is_some_and(|d| d.holds)
}

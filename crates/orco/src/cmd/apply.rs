//! `orco apply -f FILE [--dry-run]`: validate the stack file here, compare it with the running
//! stack, then print the plan (`--dry-run`, which changes nothing) or submit the stack and
//! print what it changed.

use std::collections::{BTreeMap, BTreeSet};

use comfy_table::Cell;
use orco_change::{Plan, Running, WorkloadPlan};
use orco_client::{Client, ClientError};
use orco_spec::Stack;
use serde::Serialize;

use crate::args::ApplyArgs;
use crate::remote::{self, Failure};
use crate::{discover, exit};

/// The running stack as the daemon answers for it.
struct Current {
    spec: Stack,
    scale: BTreeMap<String, u32>,
    stopped: BTreeSet<String>,
}

/// What `apply --dry-run -o json|yaml` prints: the plan and, on a cluster, where each
/// instance would run.
#[derive(Debug, Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    /// Each instance with its node or why it would wait (a cluster only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    placements: Vec<orco_wire::model::PlannedPlacement>,
}

/// What `apply -o json|yaml` prints: the write's answer and its plan.
#[derive(Debug, Serialize)]
struct Applied<'a> {
    /// The revision of the last event appended (the head, when nothing changed).
    revision: u64,
    /// How many events were appended.
    events: u32,
    /// What the apply changed.
    plan: &'a Plan,
}

pub(crate) fn run(args: &ApplyArgs) -> anyhow::Result<u8> {
    let loaded = match discover::load_selected(
        args.file.file.as_deref(),
        discover::Selection {
            profiles: &args.file.profiles,
            services: &[],
        },
    ) {
        Ok(loaded) => loaded,
        Err(discover::Failure(code)) => return Ok(code),
    };
    remote::run(async move {
        // A dry run changes nothing, so it never starts a daemon.
        let client = if args.dry_run {
            remote::waiting_client(&args.connect)?
        } else {
            crate::autostart::client(&args.connect).await?
        };
        let timeout = remote::wait_timeout(&args.connect, crate::cmd::rollout::FOLLOW)?;
        let name = &loaded.stack.stack.name;
        let current = current(&client, name).await?;
        let plan = orco_change::plan(
            current.as_ref().map(|c| Running {
                spec: &c.spec,
                scale: &c.scale,
                stopped: &c.stopped,
            }),
            &loaded.stack,
        );
        if args.dry_run {
            // On a cluster, the server's reconciler and scheduler say where each would run.
            let placements = client.placements(&loaded.stack).await?.items;
            let dry = DryRun {
                plan: &plan,
                placements,
            };
            if remote::print_structured(&dry, args.format.output)? {
                return Ok(exit::OK);
            }
            if plan.is_empty() {
                println!("stack {name}: no changes (dry run)");
            } else {
                print_plan(&plan);
                println!("stack {name}: {} (dry run)", plan.summary());
            }
            print_placements(&dry.placements);
            return Ok(exit::OK);
        }
        let accepted = client.apply(&loaded.stack).await?;
        let applied = Applied {
            revision: accepted.revision,
            events: accepted.events,
            plan: &plan,
        };
        if remote::print_structured(&applied, args.format.output)? {
            return Ok(exit::OK);
        }
        if accepted.events == 0 {
            println!("stack {name} unchanged (revision {})", accepted.revision);
        } else {
            if !plan.is_empty() {
                print_plan(&plan);
            }
            println!("stack {name} applied (revision {})", accepted.revision);
            println!("stack {name}: {}", plan.summary());
        }
        if args.detach {
            return Ok(exit::OK);
        }
        // Follow the rollout of every service whose instances the apply replaces.
        let mut code = exit::OK;
        for w in &plan.workloads {
            if w.kind == orco_change::Kind::Service && w.action == orco_change::Action::Replace {
                let id = format!("{name}/{}", w.name);
                let followed = crate::cmd::rollout::follow(&client, &id, timeout).await?;
                code = code.max(followed);
            }
        }
        Ok::<u8, Failure>(code)
    })
}

/// The running stack named `name`, `None` when none runs under that name.
async fn current(client: &Client, name: &str) -> Result<Option<Current>, Failure> {
    let detail = match client.stack(name, None).await {
        Ok(detail) => detail,
        Err(e @ ClientError::Api { status: 404, .. }) if e.code() == Some("stack_not_found") => {
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let spec: Stack = serde_json::from_value(detail.spec).map_err(|e| {
        Failure::Client(ClientError::Protocol {
            host: client.host().to_string(),
            detail: format!("the running stack `{name}` cannot be read: {e}"),
        })
    })?;
    Ok(Some(Current {
        spec,
        scale: detail.stack.scale,
        stopped: detail.stack.stopped.into_iter().collect(),
    }))
}

/// The plan as a table: one line per changed workload, then the stack's own changes.
fn print_plan(plan: &Plan) {
    let mut table = remote::table(&["WORKLOAD", "KIND", "ACTION", "INSTANCES", "CHANGES"]);
    for change in &plan.stack_changes {
        table.add_row(vec![
            Cell::new(format!("(stack {})", plan.stack)),
            Cell::new("stack"),
            Cell::new("change"),
            Cell::new(""),
            Cell::new(change.to_string()),
        ]);
    }
    for w in &plan.workloads {
        let mut changes: Vec<String> = w.changes.iter().map(ToString::to_string).collect();
        if let Some(why) = w.why.as_deref().filter(|why| *why != "its spec changed") {
            changes.push(format!("{} replaced: {why}", w.replace.join(", ")));
        }
        table.add_row(vec![
            Cell::new(&w.name),
            Cell::new(w.kind.as_str()),
            Cell::new(w.action.as_str()),
            Cell::new(instances(w)),
            Cell::new(changes.join("; ")),
        ]);
    }
    remote::print_table(&table);
}

/// `INSTANCE NODE` rows: the node each instance would run on, or `pending: WHY`.
fn print_placements(placements: &[orco_wire::model::PlannedPlacement]) {
    if placements.is_empty() {
        return;
    }
    let mut table = remote::table(&["INSTANCE", "NODE"]);
    for p in placements {
        let node = match (&p.node, &p.reason) {
            (Some(node), _) => node.clone(),
            (None, Some(why)) => format!("pending: {why}"),
            (None, None) => "pending".to_string(),
        };
        table.add_row(vec![Cell::new(&p.instance), Cell::new(node)]);
    }
    remote::print_table(&table);
}

/// `create web-1, web-2; replace api-0`.
fn instances(w: &WorkloadPlan) -> String {
    [
        ("create", &w.create),
        ("replace", &w.replace),
        ("remove", &w.remove),
        ("start", &w.start),
    ]
    .iter()
    .filter(|(_, names)| !names.is_empty())
    .map(|(verb, names)| format!("{verb} {}", names.join(", ")))
    .collect::<Vec<_>>()
    .join("; ")
}

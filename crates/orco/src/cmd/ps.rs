//! `orco ps`: one line per instance — INSTANCE PHASE READY PID RESTARTS AGE REASON (and
//! PORTS where an instance publishes one) — of the
//! stack picked, or of every stack, grouped by stack.

use comfy_table::Cell;
use orco_wire::model::InstanceList;

use crate::args::{Format, StatusArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &StatusArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let stacks = remote::stacks(&client, &args.stack, args.at.as_deref()).await?;
        let mut lists = Vec::new();
        for stack in &stacks {
            let workload = args.service.as_deref().map(|s| remote::qualify(stack, s));
            match client
                .instances(Some(stack), workload.as_deref(), args.at.as_deref())
                .await
            {
                Ok(list) => lists.push((stack.clone(), list)),
                // With several stacks, SERVICE is looked for in each.
                Err(e) if stacks.len() > 1 && e.code() == Some("workload_not_found") => {}
                Err(e) => return Err(e.into()),
            }
        }
        if lists.is_empty()
            && let Some(service) = &args.service
        {
            return Err(Failure::Usage(format!(
                "no stack has a workload `{service}`"
            )));
        }
        if let Some(list) = remote::merged(&lists)
            && remote::print_structured(&list, args.format.output)?
        {
            return Ok(exit::OK);
        }
        remote::print_grouped(&lists, |stack, list| print_stack(args, stack, list));
        Ok::<u8, Failure>(exit::OK)
    })
}

/// One stack's table.
fn print_stack(args: &StatusArgs, stack: &str, list: &InstanceList) {
    let wide = args.format.output == Format::Wide;
    let mut header = vec![
        "INSTANCE", "PHASE", "READY", "PID", "RESTARTS", "AGE", "REASON",
    ];
    // PORTS only where some instance publishes one.
    let ports = list.items.iter().any(|i| !i.ports.is_empty());
    if ports {
        header.push("PORTS");
    }
    // NODE where the instances run on more than one node (a cluster); always when wide.
    let nodes: std::collections::BTreeSet<&str> = list
        .items
        .iter()
        .filter_map(|i| i.node.as_deref())
        .collect();
    let node = !wide && nodes.len() > 1;
    if node {
        header.push("NODE");
    }
    if wide {
        header.extend(["NODE", "LAST EXIT", "CONTAINER"]);
    }
    let mut table = remote::table(&header);
    for i in &list.items {
        let mut row = vec![
            Cell::new(&i.name),
            remote::state_cell(i.phase),
            Cell::new(if i.ready { "yes" } else { "no" }),
            Cell::new(i.pid.map_or_else(|| "-".to_string(), |p| p.to_string())),
            Cell::new(i.restarts),
            Cell::new(remote::age(i.since, list.as_of)),
            Cell::new(i.reason.as_deref().unwrap_or("")),
        ];
        if ports {
            row.push(Cell::new(i.ports.join(", ")));
        }
        if node {
            row.push(Cell::new(i.node.as_deref().unwrap_or("-")));
        }
        if wide {
            row.extend([
                Cell::new(i.node.as_deref().unwrap_or("-")),
                Cell::new(i.last_exit.as_deref().unwrap_or("-")),
                Cell::new(remote::short_container(i.container.as_deref())),
            ]);
        }
        table.add_row(row);
    }
    if let Some(at) = &args.at {
        println!("stack {stack} at {at} (revision {})", list.revision);
    }
    remote::print_table(&table);
}

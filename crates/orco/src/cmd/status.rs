//! `orco status`: one line per workload — SERVICE STATE READY REPL RESTARTS AGE MESSAGE —
//! of the stack picked, or of every stack, grouped by stack.

use comfy_table::Cell;
use orco_wire::WorkloadKind;
use orco_wire::model::WorkloadList;

use crate::args::{Format, StatusArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &StatusArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let stacks = remote::stacks(&client, &args.stack, args.at.as_deref()).await?;
        let mut lists = Vec::new();
        for stack in &stacks {
            let mut list = client.workloads(Some(stack), args.at.as_deref()).await?;
            if let Some(service) = &args.service {
                list.items
                    .retain(|w| &w.name == service || &w.id == service);
            }
            lists.push((stack.clone(), list));
        }
        if let Some(service) = &args.service
            && lists.iter().all(|(_, l)| l.items.is_empty())
        {
            return Err(Failure::Usage(match stacks.as_slice() {
                [one] => format!("stack {one} has no workload `{service}`"),
                _ => format!("no stack has a workload `{service}`"),
            }));
        }
        if args.service.is_some() {
            // Only the stacks that have it.
            lists.retain(|(_, l)| !l.items.is_empty());
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
fn print_stack(args: &StatusArgs, stack: &str, list: &WorkloadList) {
    let wide = args.format.output == Format::Wide;
    let mut header = vec![
        "SERVICE", "STATE", "READY", "REPL", "RESTARTS", "AGE", "MESSAGE",
    ];
    if wide {
        header.extend(["KIND", "RUNTIME", "COMMAND"]);
    }
    let mut table = remote::table(&header);
    for w in &list.items {
        let (ready, replicas) = if w.kind == WorkloadKind::Service {
            (
                format!("{}/{}", w.ready, w.replicas),
                w.replicas.to_string(),
            )
        } else {
            ("-".to_string(), "-".to_string())
        };
        let mut row = vec![
            Cell::new(&w.name),
            remote::state_cell(w.state),
            Cell::new(ready),
            Cell::new(replicas),
            Cell::new(w.restarts),
            Cell::new(remote::age(w.since, list.as_of)),
            Cell::new(w.message.as_deref().unwrap_or("")),
        ];
        if wide {
            row.extend([
                Cell::new(w.kind),
                Cell::new(w.runtime.map_or("-", |r| r.as_str())),
                Cell::new(w.command.as_deref().unwrap_or("-")),
            ]);
        }
        table.add_row(row);
    }
    if let Some(at) = &args.at {
        println!("stack {stack} at {at} (revision {})", list.revision);
    }
    remote::print_table(&table);
}

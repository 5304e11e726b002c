//! `orco status`: one line per workload — SERVICE STATE READY REPL RESTARTS AGE MESSAGE.

use comfy_table::Cell;

use crate::args::{Format, StatusArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &StatusArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let stack = remote::stack(&client, &args.stack).await?;
        let mut list = client.workloads(Some(&stack), args.at.as_deref()).await?;
        if let Some(service) = &args.service {
            list.items
                .retain(|w| &w.name == service || &w.id == service);
            if list.items.is_empty() {
                return Err(Failure::Usage(format!(
                    "stack {stack} has no workload `{service}`"
                )));
            }
        }
        if remote::print_structured(&list, args.format.output)? {
            return Ok(exit::OK);
        }
        let wide = args.format.output == Format::Wide;
        let mut header = vec![
            "SERVICE", "STATE", "READY", "REPL", "RESTARTS", "AGE", "MESSAGE",
        ];
        if wide {
            header.extend(["KIND", "RUNTIME", "COMMAND"]);
        }
        let mut table = remote::table(&header);
        for w in &list.items {
            let (ready, replicas) = if w.kind == "service" {
                (
                    format!("{}/{}", w.ready, w.replicas),
                    w.replicas.to_string(),
                )
            } else {
                ("-".to_string(), "-".to_string())
            };
            let mut row = vec![
                Cell::new(&w.name),
                remote::state_cell(&w.state),
                Cell::new(ready),
                Cell::new(replicas),
                Cell::new(w.restarts),
                Cell::new(remote::age(w.since, list.as_of)),
                Cell::new(w.message.as_deref().unwrap_or("")),
            ];
            if wide {
                row.extend([
                    Cell::new(&w.kind),
                    Cell::new(w.runtime.as_deref().unwrap_or("-")),
                    Cell::new(w.command.as_deref().unwrap_or("-")),
                ]);
            }
            table.add_row(row);
        }
        if let Some(at) = &args.at {
            println!("stack {stack} at {at} (revision {})", list.revision);
        }
        remote::print_table(&table);
        Ok::<u8, Failure>(exit::OK)
    })
}

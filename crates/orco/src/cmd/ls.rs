//! `orco ls`: one line per stack applied — STACK SERVICES JOBS INSTANCES APPLIED.

use comfy_table::Cell;

use crate::args::PlainArgs;
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &PlainArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let mut list = client.stacks(None).await?;
        list.items.sort_by(|a, b| a.name.cmp(&b.name));
        if remote::print_structured(&list, args.format.output)? {
            return Ok(exit::OK);
        }
        let mut table = remote::table(&["STACK", "SERVICES", "JOBS", "INSTANCES", "APPLIED"]);
        for stack in &list.items {
            table.add_row(vec![
                Cell::new(&stack.name),
                Cell::new(stack.services.len()),
                Cell::new(stack.jobs.len()),
                Cell::new(stack.instances),
                Cell::new(format!("{} ago", remote::age(stack.applied_at, list.as_of))),
            ]);
        }
        remote::print_table(&table);
        Ok::<u8, Failure>(exit::OK)
    })
}

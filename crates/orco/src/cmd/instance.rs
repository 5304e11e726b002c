//! `orco instance list`: instances of every stack (or of `--stack`), with `-o wide` their
//! container ids; `orco instance logs`: one instance's logs.

use comfy_table::Cell;

use crate::args::{InstanceArgs, InstanceListArgs, InstanceVerb};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &InstanceArgs) -> anyhow::Result<u8> {
    match &args.verb {
        InstanceVerb::List(list) => remote::run(self::list(list)),
        InstanceVerb::Logs(logs) => remote::run(crate::cmd::logs::logs(
            &logs.logs,
            None,
            Some(logs.instance.as_str()),
        )),
    }
}

async fn list(args: &InstanceListArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let list = client
        .instances(
            args.stack.as_deref(),
            args.workload.as_deref(),
            args.at.as_deref(),
        )
        .await?;
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let wide = args.format.output == crate::args::Format::Wide;
    let mut header = vec![
        "INSTANCE", "PHASE", "READY", "PID", "RESTARTS", "AGE", "NODE",
    ];
    if wide {
        header.push("CONTAINER");
    }
    let mut table = remote::table(&header);
    for i in &list.items {
        let mut row = vec![
            Cell::new(&i.id),
            remote::state_cell(i.phase),
            Cell::new(if i.ready { "yes" } else { "no" }),
            Cell::new(i.pid.map_or_else(|| "-".to_string(), |p| p.to_string())),
            Cell::new(i.restarts),
            Cell::new(remote::age(i.since, list.as_of)),
            Cell::new(i.node.as_deref().unwrap_or("-")),
        ];
        if wide {
            row.push(Cell::new(remote::short_container(i.container.as_deref())));
        }
        table.add_row(row);
    }
    remote::print_table(&table);
    Ok(exit::OK)
}

//! `orco node list|describe`: the nodes and their capacity.

use comfy_table::Cell;

use orco_wire::model::NodeView;

use crate::args::{NodeArgs, NodeNameArgs, NodeVerb, PlainArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &NodeArgs) -> anyhow::Result<u8> {
    match &args.verb {
        NodeVerb::List(plain) => remote::run(list(plain)),
        NodeVerb::Describe(name) => remote::run(describe(name)),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

async fn list(args: &PlainArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let list = client.nodes(None).await?;
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let mut table = remote::table(&["NODE", "STATUS", "CPUS", "MEMORY", "AVAILABLE", "INSTANCES"]);
    for n in &list.items {
        table.add_row(vec![
            Cell::new(&n.name),
            remote::state_cell(n.status),
            Cell::new(n.cpus),
            Cell::new(gib(n.memory_bytes)),
            Cell::new(gib(n.memory_available_bytes)),
            Cell::new(n.instances),
        ]);
    }
    remote::print_table(&table);
    Ok(exit::OK)
}

fn print(n: &NodeView) {
    println!("Node:       {}", n.name);
    println!("Status:     {}", n.status);
    println!("CPUs:       {}", n.cpus);
    println!("Memory:     {}", gib(n.memory_bytes));
    println!("Available:  {}", gib(n.memory_available_bytes));
    println!("Instances:  {}", n.instances);
    println!("Version:    {}", n.version);
    println!("OS:         {}", n.os);
}

async fn describe(args: &NodeNameArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let node = client.node(&args.name).await?;
    if !remote::print_structured(&node, args.format.output)? {
        print(&node);
    }
    Ok(exit::OK)
}

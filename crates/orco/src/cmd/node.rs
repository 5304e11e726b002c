//! `orco node list|describe|cordon|uncordon|remove`: the nodes, their capacity, and what a
//! cluster's admin does with them.

use comfy_table::Cell;

use orco_wire::model::NodeView;

use crate::args::{NodeArgs, NodeNameArgs, NodeVerb, PlainArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &NodeArgs) -> anyhow::Result<u8> {
    match &args.verb {
        NodeVerb::List(plain) => remote::run(list(plain)),
        NodeVerb::Describe(name) => remote::run(describe(name)),
        NodeVerb::Cordon(name) => remote::run(cordon(name, true)),
        NodeVerb::Uncordon(name) => remote::run(cordon(name, false)),
        NodeVerb::Remove(name) => remote::run(remove(name)),
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
        let status = if n.cordoned {
            Cell::new(format!("{},cordoned", n.status))
        } else {
            remote::state_cell(n.status)
        };
        table.add_row(vec![
            Cell::new(&n.name),
            status,
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
    if let Some(address) = &n.address {
        println!("Address:    {address}");
    }
    if let (Some(cpu), Some(memory)) = (n.allocatable_cpu_millis, n.allocatable_memory_bytes) {
        println!("Allocatable: {} cpu, {}", cpu as f64 / 1000.0, gib(memory));
    }
    if !n.labels.is_empty() {
        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("Labels:     {}", labels.join(", "));
    }
    if !n.taints.is_empty() {
        println!("Taints:     {}", n.taints.join(", "));
    }
    if n.cordoned {
        println!("Cordoned:   yes");
    }
    if n.epoch > 0 {
        println!("Epoch:      {}", n.epoch);
    }
    if !n.version.is_empty() {
        println!("Version:    {}", n.version);
    }
    if !n.os.is_empty() {
        println!("OS:         {}", n.os);
    }
}

async fn cordon(args: &NodeNameArgs, cordoned: bool) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    client.cordon_node(&args.name, cordoned).await?;
    let word = if cordoned { "cordoned" } else { "uncordoned" };
    println!("node {} {word}", args.name);
    Ok(exit::OK)
}

async fn remove(args: &NodeNameArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    client.remove_node(&args.name).await?;
    println!(
        "node {} removed: its instances are placed elsewhere",
        args.name
    );
    Ok(exit::OK)
}

async fn describe(args: &NodeNameArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let node = client.node(&args.name).await?;
    if !remote::print_structured(&node, args.format.output)? {
        print(&node);
    }
    Ok(exit::OK)
}

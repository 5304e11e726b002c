//! `orco node list|describe|cordon|uncordon|drain|label|taint|remove`: the nodes, their
//! capacity, and what a cluster's admin does with them.

use comfy_table::Cell;

use orco_wire::model::NodeView;

use std::time::{Duration, Instant};

use orco_client::Client;
use orco_wire::InstancePhase;

use crate::args::{NodeArgs, NodeDrainArgs, NodeEditArgs, NodeNameArgs, NodeVerb, PlainArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &NodeArgs) -> anyhow::Result<u8> {
    match &args.verb {
        NodeVerb::List(plain) => remote::run(list(plain)),
        NodeVerb::Describe(name) => remote::run(describe(name)),
        NodeVerb::Cordon(name) => remote::run(cordon(name, true)),
        NodeVerb::Uncordon(name) => remote::run(cordon(name, false)),
        NodeVerb::Remove(name) => remote::run(remove(name)),
        NodeVerb::Drain(drain_args) => remote::run(drain(drain_args)),
        NodeVerb::Label(edit) => remote::run(label(edit)),
        NodeVerb::Taint(edit) => remote::run(taint(edit)),
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
        let status = if n.draining {
            Cell::new(format!("{},draining", n.status))
        } else if n.cordoned {
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
    if n.draining {
        println!("Draining:   yes");
    } else if n.cordoned {
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

async fn label(args: &NodeEditArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let done = client.label_node(&args.name, &args.edits).await?;
    let node = client.node(&args.name).await?;
    let labels: Vec<String> = node
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let word = if done.events == 0 {
        "unchanged"
    } else {
        "labeled"
    };
    println!("node {} {word}: {}", args.name, or_none(&labels));
    Ok(exit::OK)
}

async fn taint(args: &NodeEditArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let done = client.taint_node(&args.name, &args.edits).await?;
    let node = client.node(&args.name).await?;
    let word = if done.events == 0 {
        "unchanged"
    } else {
        "tainted"
    };
    println!("node {} {word}: {}", args.name, or_none(&node.taints));
    Ok(exit::OK)
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// How long `orco node drain` waits for the node to be empty, without `--timeout`.
const DRAIN_WAIT: Duration = Duration::from_secs(600);

/// The instances still on `node`: (instance, phase), a one-shot service's finished run
/// left out (it stays where it ran).
async fn still_on(client: &Client, node: &str) -> Result<Vec<(String, InstancePhase)>, Failure> {
    let list = client.instances(None, None, None).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|i| i.node.as_deref() == Some(node) && i.phase != InstancePhase::Succeeded)
        .map(|i| (i.id, i.phase))
        .collect())
}

async fn drain(args: &NodeDrainArgs) -> Result<u8, Failure> {
    let client = remote::waiting_client(&args.connect)?;
    let wait = remote::wait_timeout(&args.connect, DRAIN_WAIT)?;
    let name = &args.name;
    let before = still_on(&client, name).await?;
    client.drain_node(name).await?;
    if args.force {
        println!(
            "node {name} is draining: {} instance(s) to move (not waiting)",
            before.len()
        );
        return Ok(exit::OK);
    }
    println!("node {name} cordoned: moving {} instance(s)", before.len());
    let deadline = Instant::now() + wait;
    let mut shown: Option<Vec<(String, InstancePhase)>> = None;
    loop {
        let left = still_on(&client, name).await?;
        if left.is_empty() {
            println!("node {name} drained: every instance runs on another node");
            return Ok(exit::OK);
        }
        if shown.as_ref() != Some(&left) {
            let what: Vec<String> = left.iter().map(|(id, p)| format!("{id} {p}")).collect();
            println!("  {} left on {name}: {}", left.len(), what.join(", "));
            shown = Some(left.clone());
        }
        let node = client.node(name).await?;
        if !node.draining {
            eprintln!(
                "error: the drain of node {name} stopped (the node was uncordoned or removed): {} instance(s) stay on it",
                left.len()
            );
            return Ok(exit::FAILURE);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "error: node {name} still runs {} instance(s) after {}s; the drain goes on (see `orco node describe {name}`)",
                left.len(),
                wait.as_secs()
            );
            return Ok(exit::FAILURE);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

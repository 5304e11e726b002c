//! `orco workload create -f|list|describe|delete|scale`: the RustOrchestration seed's
//! noun-verb forms.

use comfy_table::Cell;

use crate::args::{Format, WorkloadArgs, WorkloadListArgs, WorkloadNameArgs, WorkloadVerb};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &WorkloadArgs) -> anyhow::Result<u8> {
    match &args.verb {
        WorkloadVerb::Create(apply) => super::apply::run(apply),
        WorkloadVerb::List(list) => remote::run(self::list(list)),
        WorkloadVerb::Describe(name) => remote::run(describe(name)),
        WorkloadVerb::Delete(name) => remote::run(delete(name)),
        WorkloadVerb::Scale(scale) => super::scale::run(scale),
    }
}

async fn list(args: &WorkloadListArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let list = client
        .workloads(args.stack.as_deref(), args.at.as_deref())
        .await?;
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let wide = args.format.output == Format::Wide;
    let mut header = vec!["WORKLOAD", "KIND", "STATE", "READY", "REPL", "AGE"];
    if wide {
        header.extend(["RUNTIME", "COMMAND"]);
    }
    let mut table = remote::table(&header);
    for w in &list.items {
        let mut row = vec![
            Cell::new(&w.id),
            Cell::new(w.kind),
            remote::state_cell(w.state),
            Cell::new(format!("{}/{}", w.ready, w.replicas)),
            Cell::new(w.replicas),
            Cell::new(remote::age(w.since, list.as_of)),
        ];
        if wide {
            row.extend([
                Cell::new(w.runtime.map_or("-", |r| r.as_str())),
                Cell::new(w.command.as_deref().unwrap_or("-")),
            ]);
        }
        table.add_row(row);
    }
    remote::print_table(&table);
    Ok(exit::OK)
}

async fn resolve(client: &orco_client::Client, args: &WorkloadNameArgs) -> Result<String, Failure> {
    if args.name.contains('/') {
        return Ok(args.name.clone());
    }
    let stack = remote::stack(client, &args.stack).await?;
    Ok(remote::qualify(&stack, &args.name))
}

async fn describe(args: &WorkloadNameArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let id = resolve(&client, args).await?;
    let detail = client.workload(&id, None).await?;
    if remote::print_structured(&detail, args.format.output)? {
        return Ok(exit::OK);
    }
    let w = &detail.workload;
    println!("Workload:  {}", w.id);
    println!("Kind:      {}", w.kind);
    println!("State:     {}", w.state);
    if w.kind == orco_wire::WorkloadKind::Service {
        println!("Ready:     {}/{}", w.ready, w.replicas);
        println!("Restarts:  {}", w.restarts);
        println!("Runtime:   {}", w.runtime.map_or("-", |r| r.as_str()));
        println!("Command:   {}", w.command.as_deref().unwrap_or("-"));
    }
    if let Some(message) = &w.message {
        println!("Message:   {message}");
    }
    println!("Revision:  {}", detail.revision);
    println!("Spec:");
    let spec = serde_saphyr::to_string(&detail.spec)
        .map_err(|e| Failure::Usage(format!("cannot print the spec: {e}")))?;
    for line in spec.lines() {
        println!("  {line}");
    }
    if !detail.instances.is_empty() {
        println!("Instances:");
        let mut table = remote::table(&["INSTANCE", "PHASE", "READY", "PID", "RESTARTS"]);
        for i in &detail.instances {
            table.add_row(vec![
                Cell::new(&i.name),
                remote::state_cell(i.phase),
                Cell::new(if i.ready { "yes" } else { "no" }),
                Cell::new(i.pid.map_or_else(|| "-".to_string(), |p| p.to_string())),
                Cell::new(i.restarts),
            ]);
        }
        remote::print_table(&table);
    }
    Ok(exit::OK)
}

async fn delete(args: &WorkloadNameArgs) -> Result<u8, Failure> {
    let client = crate::autostart::client(&args.connect).await?;
    let id = resolve(&client, args).await?;
    let accepted = client.delete_workload(&id).await?;
    if remote::print_structured(&accepted, args.format.output)? {
        return Ok(exit::OK);
    }
    println!("{id} deleted (revision {})", accepted.revision);
    Ok(exit::OK)
}

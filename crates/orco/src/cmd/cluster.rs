//! `orco cluster info|health`: the daemon's version, mode and contents; whether it answers.

use crate::args::{ClusterArgs, ClusterVerb, PlainArgs};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &ClusterArgs) -> anyhow::Result<u8> {
    match &args.verb {
        ClusterVerb::Info(plain) => remote::run(info(plain)),
        ClusterVerb::Health(plain) => remote::run(health(plain)),
    }
}

async fn info(args: &PlainArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let info = client.cluster(None).await?;
    if remote::print_structured(&info, args.format.output)? {
        return Ok(exit::OK);
    }
    println!("Daemon:     orco {} at {}", info.version, client.host());
    println!("API:        {}", info.api);
    println!("Mode:       {}", info.mode);
    println!(
        "Engine:     {}",
        if info.engine {
            "running"
        } else {
            "not running in this daemon"
        }
    );
    println!(
        "Revision:   {} (compacted to {})",
        info.revision, info.horizon
    );
    println!("Started:    {}", info.started_at);
    println!(
        "Holds:      {} stacks, {} workloads, {} instances on {} node(s)",
        info.stacks, info.workloads, info.instances, info.nodes
    );
    Ok(exit::OK)
}

async fn health(args: &PlainArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let health = client.health().await?;
    if !remote::print_structured(&health, args.format.output)? {
        println!("{}: {}", client.host(), health.status);
    }
    Ok(exit::OK)
}

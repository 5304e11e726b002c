//! `orco cluster info|health|token|members`: the daemon's version, mode and contents;
//! whether it answers; a server's join tokens; its SWIM group beside each node's lease.

use comfy_table::Cell;
use orco_wire::model::TokenRequest;

use crate::args::{ClusterArgs, ClusterVerb, PlainArgs, TokenCreateArgs, TokenIdArgs, TokenVerb};
use crate::exit;
use crate::remote::{self, Failure};

pub(crate) fn run(args: &ClusterArgs) -> anyhow::Result<u8> {
    match &args.verb {
        ClusterVerb::Info(plain) => remote::run(info(plain)),
        ClusterVerb::Health(plain) => remote::run(health(plain)),
        ClusterVerb::Members(plain) => remote::run(members(plain)),
        ClusterVerb::Token(token) => match &token.verb {
            TokenVerb::Create(create) => remote::run(create_token(create)),
            TokenVerb::List(plain) => remote::run(list_tokens(plain)),
            TokenVerb::Revoke(id) => remote::run(revoke_token(id)),
        },
    }
}

/// Prints the token alone on stdout (for `> token && chmod 600 token`).
async fn create_token(args: &TokenCreateArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let ttl = std::time::Duration::from(args.ttl);
    let created = client
        .create_token(&TokenRequest {
            ttl_seconds: Some(ttl.as_secs().max(1)),
            reusable: args.reusable,
        })
        .await?;
    println!("{}", created.token);
    eprintln!(
        "join token {} valid until {}{}",
        created.view.id,
        created.view.expires,
        if created.view.reusable {
            " (reusable)"
        } else {
            " (one node)"
        }
    );
    Ok(exit::OK)
}

async fn list_tokens(args: &PlainArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let list = client.tokens().await?;
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let mut table = remote::table(&["ID", "STATUS", "EXPIRES", "REUSABLE", "USED BY"]);
    for t in &list.items {
        table.add_row(vec![
            Cell::new(&t.id),
            Cell::new(&t.status),
            Cell::new(t.expires),
            Cell::new(if t.reusable { "yes" } else { "no" }),
            Cell::new(t.used_by.join(",")),
        ]);
    }
    remote::print_table(&table);
    Ok(exit::OK)
}

/// The SWIM view (a hint) beside each node's lease status (the decision).
async fn members(args: &PlainArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let list = client.members().await?;
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let mut table = remote::table(&["NAME", "ROLE", "ADDRESS", "SWIM", "LEASE"]);
    for m in &list.items {
        table.add_row(vec![
            Cell::new(&m.name),
            Cell::new(m.role.as_str()),
            Cell::new(&m.address),
            Cell::new(m.swim.as_str()),
            Cell::new(m.lease.map_or("-", |l| l.as_str())),
        ]);
    }
    remote::print_table(&table);
    if list.dropped > 0 {
        eprintln!(
            "{} gossip datagram(s) dropped (a wrong key, or not gossip)",
            list.dropped
        );
    }
    Ok(exit::OK)
}

async fn revoke_token(args: &TokenIdArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    client.revoke_token(&args.id).await?;
    println!("join token {} revoked", args.id);
    Ok(exit::OK)
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

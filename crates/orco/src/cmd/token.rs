//! `orco token create|list|revoke`: API tokens with a role (`read`, `operate`, `admin`) for
//! the daemon's TCP listener. A token's secret is printed once, at its creation.

use clap::{Args, Subcommand};
use comfy_table::Cell;
use orco_wire::Role;
use orco_wire::model::ApiTokenRequest;

use crate::args::{ConnectArgs, FormatArg, PlainArgs};
use crate::exit;
use crate::remote::{self, Failure};

/// `orco token …`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    pub(crate) verb: TokenVerb,
}

/// The token verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenVerb {
    /// Create a token and print it alone on stdout (shown this once; the daemon keeps only a
    /// hash of its secret).
    Create(TokenCreateArgs),
    /// List tokens: name, role, status, expiry, who made them (never their secrets).
    List(PlainArgs),
    /// Revoke a token by name: it is refused from the next request on.
    Revoke(TokenNameArgs),
}

/// `orco token create`.
#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// What it may do: read (GET, watches, logs, metrics), operate (plus apply, remove,
    /// start, stop, restart, scale, rollback, jobs), admin (plus tokens, nodes, cluster).
    #[arg(long, value_parser = parse_role)]
    pub(crate) role: Role,
    /// How long it is accepted (`30m`, `24h`, `90d`); default: until revoked.
    #[arg(long, value_name = "DURATION")]
    pub(crate) ttl: Option<orco_spec::Duration>,
    /// Its name, which `orco history` shows for what it changes (default: ROLE-ID).
    #[arg(long)]
    pub(crate) name: Option<String>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

/// `orco token revoke NAME`.
#[derive(Debug, Args)]
pub(crate) struct TokenNameArgs {
    /// The token's name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

pub(crate) fn run(args: &TokenArgs) -> anyhow::Result<u8> {
    match &args.verb {
        TokenVerb::Create(create) => remote::run(create_token(create)),
        TokenVerb::List(plain) => remote::run(list_tokens(plain)),
        TokenVerb::Revoke(name) => remote::run(revoke_token(name)),
    }
}

/// Prints the token alone on stdout (for `> token && chmod 600 token`), or the whole answer
/// with `-o json|yaml`.
async fn create_token(args: &TokenCreateArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let created = client
        .create_api_token(&ApiTokenRequest {
            role: args.role,
            name: args.name.clone(),
            // Whole seconds, rounded up; `0s` is sent as 0, which the daemon refuses.
            ttl_seconds: args.ttl.map(|ttl| {
                let ttl = std::time::Duration::from(ttl);
                ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
            }),
        })
        .await?;
    if remote::print_structured(&created, args.format.output)? {
        return Ok(exit::OK);
    }
    println!("{}", created.token);
    let until = created
        .view
        .expires
        .map_or_else(|| "until revoked".to_string(), |e| format!("until {e}"));
    eprintln!(
        "token {} ({}) valid {until}: shown this once, keep it in a file only you can read",
        created.view.name, created.view.role
    );
    Ok(exit::OK)
}

async fn list_tokens(args: &PlainArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let list = client.api_tokens().await?;
    if remote::print_structured(&list, args.format.output)? {
        return Ok(exit::OK);
    }
    let mut table = remote::table(&["NAME", "ROLE", "STATUS", "EXPIRES", "CREATED BY", "ID"]);
    for t in &list.items {
        table.add_row(vec![
            Cell::new(&t.name),
            Cell::new(t.role),
            Cell::new(&t.status),
            Cell::new(
                t.expires
                    .map_or_else(|| "never".to_string(), |e| e.to_string()),
            ),
            Cell::new(t.created_by.as_deref().unwrap_or("-")),
            Cell::new(&t.id),
        ]);
    }
    remote::print_table(&table);
    Ok(exit::OK)
}

async fn revoke_token(args: &TokenNameArgs) -> Result<u8, Failure> {
    let client = remote::client(&args.connect)?;
    let accepted = client.revoke_api_token(&args.name).await?;
    if accepted.events == 0 {
        println!("token {} was already revoked", args.name);
    } else {
        println!("token {} revoked", args.name);
    }
    Ok(exit::OK)
}

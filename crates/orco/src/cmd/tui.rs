//! `orco tui` (also `orco up --tui`, and a bare `orco` on a terminal): the terminal UI over
//! the daemon's API.

use std::io::IsTerminal;
use std::sync::Arc;

use clap::CommandFactory;
use orco_client::{Client, Host};
use orco_tui::{ApiLogs, Options, TuiError};

use crate::args::{ConnectArgs, TuiArgs};
use crate::cli::{Cli, UpArgs};
use crate::remote::{self, Failure};
use crate::{discover, exit};

/// Log lines of history the pane starts with.
const HISTORY: usize = 500;

pub(crate) fn run(args: &TuiArgs) -> anyhow::Result<u8> {
    remote::run(async move {
        let client = remote::client(&args.connect)?;
        let stack = if args.stack.stack.is_some() || args.stack.file.is_some() {
            Some(remote::stack(&client, &args.stack).await?)
        } else {
            None
        };
        open(client, stack).await
    })
}

/// Opens the TUI on `stack` (default: the only stack applied) until `q`.
pub(crate) async fn open(client: Client, stack: Option<String>) -> Result<u8, Failure> {
    let local_usage = matches!(client.host(), Host::Unix(_));
    let options = Options {
        logs: Arc::new(ApiLogs::new(client.clone(), HISTORY)),
        client,
        stack,
        local_usage,
    };
    match orco_tui::run(options).await {
        Ok(()) => Ok(exit::OK),
        Err(TuiError::Client(e)) => Err(e.into()),
        Err(e @ (TuiError::NotATerminal | TuiError::WhichStack(_))) => {
            Err(Failure::Usage(e.to_string()))
        }
        Err(e @ TuiError::Terminal(_)) => {
            eprintln!("error: {e}");
            Ok(exit::FAILURE)
        }
    }
}

/// `orco up --tui`: applies the stack file to the daemon, then opens the TUI on its stack.
pub(crate) fn up(args: &UpArgs) -> anyhow::Result<u8> {
    let loaded = match discover::load_selected(
        args.file.file.as_deref(),
        discover::Selection {
            profiles: &args.file.profiles,
            services: &args.services,
        },
    ) {
        Ok(loaded) => loaded,
        Err(discover::Failure(code)) => return Ok(code),
    };
    remote::run(async move {
        let client = remote::client(&from_env())?;
        client.apply(&loaded.stack).await?;
        let name = loaded.stack.stack.name.clone();
        let code = open(client, Some(name.clone())).await?;
        println!("stack {name} keeps running: `orco down --stack {name}` stops it");
        Ok(code)
    })
}

/// A bare `orco`: the TUI on a terminal, else the help (exit 2, as for a missing verb).
pub(crate) fn bare() -> u8 {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        let _ = Cli::command().print_help();
        return exit::USAGE;
    }
    let connect = from_env();
    match remote::run(async move { open(remote::client(&connect)?, None).await }) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::FAILURE
        }
    }
}

/// The daemon's address and token from `ORCO_HOST` and `ORCO_TOKEN` alone.
fn from_env() -> ConnectArgs {
    ConnectArgs {
        host: std::env::var("ORCO_HOST").ok().filter(|h| !h.is_empty()),
        token_file: None,
        ca_file: std::env::var("ORCO_CA").ok().filter(|v| !v.is_empty()),
        ca_pin: std::env::var("ORCO_CA_PIN").ok().filter(|v| !v.is_empty()),
        timeout: None,
    }
}

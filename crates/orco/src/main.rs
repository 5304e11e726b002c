//! The `orco` binary: parses arguments and dispatches to one verb per module.

mod cli;
mod cmd;
mod discover;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Validate(args) => cmd::validate::run(&args),
        Command::Graph(args) => cmd::graph::run(&args),
        Command::Schema => cmd::schema::run(),
        Command::Completions(args) => cmd::completions::run(&args),
        Command::Up(args) => cmd::up::run(&args),
        Command::Keeper { args } => cmd::keeper::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

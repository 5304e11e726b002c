//! The `orco` binary: parses arguments and dispatches to one verb per module.

// `println!` and `print!` for the whole crate (declared before the modules, so they shadow
// std's in every one of them): like std's, but a closed stdout — a pipe whose reader left, as
// in `orco events | head -1` — ends the process quietly instead of panicking.
macro_rules! println {
    () => {
        $crate::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}

macro_rules! print {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}

mod args;
mod autostart;
mod cli;
mod cmd;
mod discover;
mod exit;
mod hoist;
mod output;
mod printer;
mod remote;
mod stdout;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    if std::env::args_os().len() <= 1 {
        return ExitCode::from(cmd::tui::bare());
    }
    let args = hoist::connection_flags_after_the_verb(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
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
        Command::Convert(args) => cmd::convert::run(&args),
        Command::Config(args) => cmd::config::run(&args),
        Command::Schema => cmd::schema::run(),
        Command::Completions(args) => cmd::completions::run(&args),
        Command::Up(args) => cmd::up::run(&args),
        Command::Keeper { args } => cmd::keeper::run(&args),
        Command::Daemon(args) => cmd::daemon::run(&args),
        Command::Server(args) => cmd::daemon::run_server(&args),
        Command::Agent(args) => cmd::agent::run(&args),
        Command::Apply(args) => cmd::apply::run(&args),
        Command::Down(args) => cmd::down::run(&args),
        Command::Status(args) => cmd::status::run(&args),
        Command::Ls(args) => cmd::ls::run(&args),
        Command::Ps(args) => cmd::ps::run(&args),
        Command::Port(args) => cmd::port::run(&args),
        Command::Restart(args) => cmd::restart::run(&args),
        Command::Stop(args) => cmd::stop::run(&args),
        Command::Start(args) => cmd::start::run(&args),
        Command::Scale(args) => cmd::scale::run(&args),
        Command::Rollout(args) => cmd::rollout::run(&args),
        Command::Rollback(args) => cmd::rollback::run(&args),
        Command::Logs(args) => cmd::logs::run(&args),
        Command::Events(args) => cmd::events::run(&args),
        Command::Tui(args) => cmd::tui::run(&args),
        Command::History(args) => cmd::history::run(&args),
        Command::Run(args) => cmd::run::run(&args),
        Command::Workload(args) => cmd::workload::run(&args),
        Command::Instance(args) => cmd::instance::run(&args),
        Command::Job(args) => cmd::job::run(&args),
        Command::Node(args) => cmd::node::run(&args),
        Command::Cluster(args) => cmd::cluster::run(&args),
        Command::Token(args) => cmd::token::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

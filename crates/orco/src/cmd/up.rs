//! `orco up`: applies the stack and stays attached, printing each instance's output prefixed by
//! its name and every state change; Ctrl-C or SIGTERM stops the stack in reverse dependency
//! order and exits 0. The engine runs inside this process, over a node keeper that owns the
//! instances' processes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use orco_agent::Output;
use orco_control::{Engine, Handle, MemoryJournal};
use orco_runtime::ProcessRuntime;
use orco_state::{Event, EventKind, StackName, State};
use tokio::sync::{broadcast, mpsc};

use crate::cli::UpArgs;
use crate::discover::{self, Failure};
use crate::exit;
use crate::printer::Printer;

pub(crate) fn run(args: &UpArgs) -> anyhow::Result<u8> {
    if args.tui {
        return crate::cmd::tui::up(args);
    }
    let loaded = match discover::load(args.file.file.as_deref()) {
        Ok(loaded) => loaded,
        Err(Failure(code)) => return Ok(code),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(up(loaded.stack))
}

/// The keeper's directory for a stack run by `orco up` without a daemon: under
/// `$XDG_RUNTIME_DIR/orco` when set, else `/run/orco` as root, else `/tmp/orco-UID`.
fn keeper_dir(stack: &str) -> PathBuf {
    let base = if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        PathBuf::from(dir).join("orco")
    } else if nix::unistd::Uid::effective().is_root() {
        PathBuf::from("/run/orco")
    } else {
        PathBuf::from(format!("/tmp/orco-{}", nix::unistd::Uid::effective()))
    };
    base.join(format!("up-{stack}"))
}

async fn up(stack: orco_spec::Stack) -> anyhow::Result<u8> {
    let name = StackName::new(stack.stack.name.clone()).context("invalid stack name")?;
    let dir = keeper_dir(name.as_str());
    let exe = std::env::current_exe().context("cannot find the orco executable")?;
    let keeper_args = [
        "keeper".into(),
        "--dir".into(),
        dir.clone().into_os_string(),
    ];
    let runtime = ProcessRuntime::connect_or_start(&dir, &exe, &keeper_args)
        .await
        .with_context(|| format!("cannot start the node keeper in {}", dir.display()))?;
    let (output_tx, output_rx) = mpsc::channel(16_384);
    let engine = Engine::start(
        MemoryJournal::new(),
        runtime,
        Some(std::sync::Arc::new(output_tx)),
    )
    .await?;
    let events = engine.events();
    engine
        .submit(vec![EventKind::StackApplied {
            stack: Box::new(stack),
        }])
        .await?;

    let mut printer = Printer::new();
    let stopped = attach(&engine, events, output_rx, &mut printer).await;
    printer.orco("stopping the stack in reverse dependency order");
    let stop = engine.stop_stack(&name);
    let mut events = engine.events();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            result = &mut stop => {
                result?;
                break;
            }
            Ok((_, event)) = events.recv() => printer.event(&event),
        }
    }
    // The keeper of an `up` session ends with it (it refuses while anything still runs).
    if let Ok(keeper) = ProcessRuntime::connect(&dir).await {
        let _ = keeper.shutdown(false).await;
    }
    printer.orco(&format!("stopped ({stopped})"));
    Ok(exit::OK)
}

/// Prints output and events until Ctrl-C or SIGTERM; says which one it was.
async fn attach(
    engine: &Handle,
    mut events: broadcast::Receiver<(u64, Event)>,
    mut output: mpsc::Receiver<Output>,
    printer: &mut Printer,
) -> &'static str {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return "cannot listen for SIGTERM";
    };
    let mut blocked: BTreeSet<String> = BTreeSet::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return "interrupted",
            _ = term.recv() => return "terminated",
            Some(out) = output.recv() => printer.output(&out),
            event = events.recv() => match event {
                Ok((_, event)) => {
                    printer.event(&event);
                    report_blocked(&engine.state(), &mut blocked, printer);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    printer.orco(&format!("{n} state changes not shown (output too slow)"));
                }
                Err(broadcast::error::RecvError::Closed) => return "the engine stopped",
            },
        }
    }
}

/// Prints why each waiting instance waits, once per distinct reason.
fn report_blocked(state: &State, shown: &mut BTreeSet<String>, printer: &mut Printer) {
    let plan = orco_reconciler::reconcile(state, jiff::Timestamp::now());
    for b in plan.blocked {
        let line = b.to_string();
        if shown.insert(line.clone()) {
            printer.orco(&line);
        }
    }
}

impl Printer {
    fn output(&mut self, out: &Output) {
        let name = format!("{}-{}", out.instance.workload.name, out.instance.replica);
        let text = out.line.text().into_owned();
        self.line(&name, &text);
    }

    fn event(&mut self, event: &Event) {
        if let Some(text) = describe(&event.kind) {
            self.orco(&text);
        }
    }
}

/// A state change in words, for people; `None` for what is not worth a line.
fn describe(kind: &EventKind) -> Option<String> {
    let short = |i: &orco_state::InstanceId| format!("{}-{}", i.workload.name, i.replica);
    Some(match kind {
        EventKind::StackApplied { stack } => format!("stack {} applied", stack.stack.name),
        EventKind::InstanceStarting {
            instance,
            attempt: 0,
        } => format!("{} starting", short(instance)),
        EventKind::InstanceStarting { instance, attempt } => {
            format!("{} restarting (restart {attempt})", short(instance))
        }
        EventKind::InstanceStarted {
            instance,
            pid: Some(pid),
            ..
        } => format!("{} running (pid {pid})", short(instance)),
        EventKind::InstanceReady { instance } => format!("{} ready", short(instance)),
        EventKind::InstanceUnready { instance, reason } => {
            format!("{} not ready: {reason}", short(instance))
        }
        EventKind::InstanceStopping { instance, reason } => {
            format!("{} stopping ({reason})", short(instance))
        }
        EventKind::InstanceExited { instance, status } => match status {
            orco_state::ExitStatus::Code(c) => format!("{} exited with code {c}", short(instance)),
            orco_state::ExitStatus::Signal(s) => {
                format!("{} killed by signal {s}", short(instance))
            }
        },
        EventKind::InstanceFailed { instance, reason } => {
            format!("{} failed: {reason}", short(instance))
        }
        EventKind::InstanceBackoff {
            instance,
            failures,
            delay_ms,
            ..
        } => {
            format!(
                "{} restarts in {delay_ms}ms (consecutive failures: {failures})",
                short(instance)
            )
        }
        EventKind::InstanceStopped { instance } => format!("{} stopped", short(instance)),
        _ => return None,
    })
}

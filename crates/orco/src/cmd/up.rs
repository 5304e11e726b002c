//! `orco up`: applies the stack to the daemon (starting one in the background when none
//! answers) and stays attached, printing each instance's output prefixed by its name and every
//! state change of the stack; Ctrl-C or SIGTERM stops the stack's services (the reconciler
//! stops dependents first) and exits 0 once none runs. `-d` returns after the apply;
//! `--wait` returns once every service is ready, showing what it still waits for and the
//! progress of image pulls (on stderr).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use orco_client::sse::SseReader;
use orco_client::{Client, LineReader};
use orco_logs::Record;
use orco_wire::model::{EventView, WorkloadView};
use orco_wire::{EventType, WorkloadKind, WorkloadState};

use crate::autostart;
use crate::cli::UpArgs;
use crate::discover;
use crate::exit;
use crate::printer::Printer;
use crate::remote::{self, Failure};

/// How often `--wait` and the stop after Ctrl-C look at the stack.
const POLL: Duration = Duration::from_millis(100);

pub(crate) fn run(args: &UpArgs) -> anyhow::Result<u8> {
    if args.tui {
        return crate::cmd::tui::up(args);
    }
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
    remote::run(up(args, loaded.stack))
}

/// How long `--wait` waits unless `--timeout` says otherwise.
const WAIT: Duration = Duration::from_secs(300);

async fn up(args: &UpArgs, stack: orco_spec::Stack) -> Result<u8, Failure> {
    let timeout = remote::wait_timeout(&args.connect, WAIT)?;
    let client = autostart::client(&args.connect).await?;
    let name = stack.stack.name.clone();
    let since = jiff::Timestamp::now().to_string();
    let accepted = client.apply(&stack).await?;
    if args.wait {
        let events = client
            .events(accepted.revision.saturating_sub(1), true, &[])
            .await
            .ok();
        let mut pulls = Pulls {
            stack: &name,
            events,
            seen: 0,
        };
        return wait_ready(&client, &name, timeout, &mut pulls).await;
    }
    if args.detach {
        println!("stack {name} applied (revision {})", accepted.revision);
        return Ok(exit::OK);
    }
    let logs = client
        .logs(&[
            ("stack", Some(&name)),
            ("since", Some(&since)),
            ("follow", Some("true")),
        ])
        .await?;
    let events = client
        .events(accepted.revision.saturating_sub(1), true, &[])
        .await?;
    let mut attached = Attached {
        client: &client,
        stack: &name,
        printer: Printer::new(),
        logs: Some(logs),
        events: Some(events),
    };
    let why = attached.until_signal().await?;
    attached
        .printer
        .orco("stopping the stack (dependents first)");
    client.stop_stack(&name).await?;
    attached.until_stopped().await?;
    attached.printer.orco(&format!("stopped ({why})"));
    Ok(exit::OK)
}

/// An attached `up`: the stack's log and event streams, printed as they come.
struct Attached<'a> {
    client: &'a Client,
    stack: &'a str,
    printer: Printer,
    logs: Option<LineReader>,
    events: Option<SseReader>,
}

impl Attached<'_> {
    /// Prints until Ctrl-C or SIGTERM; says which one it was.
    async fn until_signal(&mut self) -> Result<&'static str, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        // Both streams live across iterations: a signal that arrives while a line is being
        // printed is kept for the next poll, never lost with a dropped future.
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| Failure::Usage(format!("cannot listen for SIGTERM: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| Failure::Usage(format!("cannot listen for SIGINT: {e}")))?;
        loop {
            tokio::select! {
                _ = int.recv() => return Ok("interrupted"),
                _ = term.recv() => return Ok("terminated"),
                () = self.step() => {}
            }
        }
    }

    /// Prints until no instance of the stack runs.
    async fn until_stopped(&mut self) -> Result<(), Failure> {
        loop {
            let list = self.client.instances(Some(self.stack), None, None).await?;
            let live = list.items.iter().any(|i| i.phase.is_live());
            if !live {
                // What is already on its way is still shown.
                let settle = tokio::time::sleep(Duration::from_millis(200));
                tokio::pin!(settle);
                loop {
                    tokio::select! {
                        () = &mut settle => return Ok(()),
                        () = self.step() => {}
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.step() => {}
            }
        }
    }

    /// Waits for the next log line or event and prints it. A stream that ends or breaks is
    /// dropped (said once); with both gone this waits forever.
    async fn step(&mut self) {
        let logs = async {
            match self.logs.as_mut() {
                Some(r) => r.next().await,
                None => std::future::pending().await,
            }
        };
        let events = async {
            match self.events.as_mut() {
                Some(r) => r.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = logs => match line {
                Ok(Some(line)) => self.log_line(&line),
                Ok(None) | Err(_) => {
                    self.logs = None;
                    self.printer.orco("the log stream ended");
                }
            },
            message = events => match message {
                Ok(Some(message)) if message.event == "event" => {
                    if let Ok(view) = serde_json::from_str::<EventView>(&message.data) {
                        self.event(&view);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    self.events = None;
                    self.printer.orco("the event stream ended");
                }
            },
        }
    }

    fn log_line(&mut self, line: &[u8]) {
        if let Some(record) = Record::from_json_line(line) {
            let name = record.instance.unwrap_or_else(|| "orco".into());
            self.printer.line(&name, &record.msg);
        } else if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line)
            && let Some(n) = v.get("lost").and_then(serde_json::Value::as_u64)
        {
            self.printer
                .orco(&format!("{n} log records not shown (output too slow)"));
        }
    }

    fn event(&mut self, view: &EventView) {
        if of_stack(view, self.stack) {
            let prefix = format!("{}/", self.stack);
            let text = view.summary.replace(&prefix, "");
            self.printer.orco(&text);
        }
    }
}

/// Whether `view` is about `stack` or one of its objects.
fn of_stack(view: &EventView, stack: &str) -> bool {
    view.object == stack
        || view
            .object
            .strip_prefix(stack)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `--wait`'s view of image pulls: the stack's `instance_pulling` events, each printed on
/// stderr as it comes.
struct Pulls<'a> {
    stack: &'a str,
    events: Option<SseReader>,
    /// The last revision read.
    seen: u64,
}

impl Pulls<'_> {
    /// Prints pull events for `period`.
    async fn for_a_while(&mut self, period: Duration) {
        let _ = tokio::time::timeout(period, self.forever()).await;
    }

    /// Prints pull events until the stream has passed `revision` (bounded: a stream that
    /// stalls is given up after a second).
    async fn until(&mut self, revision: u64) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while self.seen < revision && self.events.is_some() {
                self.next().await;
            }
        })
        .await;
    }

    async fn forever(&mut self) {
        loop {
            if self.events.is_none() {
                std::future::pending::<()>().await;
            }
            self.next().await;
        }
    }

    async fn next(&mut self) {
        let Some(events) = self.events.as_mut() else {
            return;
        };
        match events.next().await {
            Ok(Some(message)) if message.event == "event" => {
                if let Ok(view) = serde_json::from_str::<EventView>(&message.data) {
                    self.seen = self.seen.max(view.revision);
                    if view.kind == EventType::InstancePulling && of_stack(&view, self.stack) {
                        let prefix = format!("{}/", self.stack);
                        eprintln!("{}", view.summary.replace(&prefix, ""));
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => self.events = None,
        }
    }
}

/// `--wait`: polls the stack's services until each has all its replicas ready, printing
/// what it waits for whenever that changes, and image pulls as they go. A service that
/// failed (gave up restarting) or the timeout ends the wait with exit 1.
async fn wait_ready(
    client: &Client,
    stack: &str,
    timeout: Duration,
    pulls: &mut Pulls<'_>,
) -> Result<u8, Failure> {
    let deadline = Instant::now() + timeout;
    let mut shown = String::new();
    loop {
        let list = client.workloads(Some(stack), None).await?;
        let services: Vec<&WorkloadView> = list
            .items
            .iter()
            .filter(|w| w.kind == WorkloadKind::Service)
            .collect();
        // A service that gave up, or whose image does not exist (retrying, with backoff,
        // cannot help until it is pushed): waiting longer would only wait out the timeout.
        let failed: Vec<&&WorkloadView> = services
            .iter()
            .filter(|w| {
                w.state == WorkloadState::Failed
                    || w.message
                        .as_deref()
                        .is_some_and(|m| m.contains("image not found"))
            })
            .collect();
        if !failed.is_empty() {
            pulls.until(list.revision).await;
            for w in failed {
                eprintln!(
                    "error: {} failed: {}",
                    w.name,
                    w.message.as_deref().unwrap_or("see `orco logs`")
                );
            }
            return Ok(exit::FAILURE);
        }
        let waiting: BTreeMap<&str, String> = services
            .iter()
            .filter(|w| w.ready < w.replicas && w.state != WorkloadState::Stopped)
            .map(|w| {
                let why = w.message.clone().unwrap_or_else(|| w.state.to_string());
                (
                    w.name.as_str(),
                    format!("{}/{} ready, {why}", w.ready, w.replicas),
                )
            })
            .collect();
        if waiting.is_empty() {
            pulls.until(list.revision).await;
            println!(
                "stack {stack}: {} services ready (revision {})",
                services.len(),
                list.revision
            );
            return Ok(exit::OK);
        }
        let now = waiting
            .iter()
            .map(|(name, why)| format!("{name} ({why})"))
            .collect::<Vec<_>>()
            .join(", ");
        if now != shown {
            eprintln!(
                "waiting for {}/{} services: {now}",
                waiting.len(),
                services.len()
            );
            shown = now;
        }
        if Instant::now() >= deadline {
            eprintln!("error: not ready within {timeout:?}: {shown}");
            return Ok(exit::FAILURE);
        }
        pulls.for_a_while(POLL).await;
    }
}

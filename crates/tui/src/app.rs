//! [`run`]: the event loop. Keys, API messages, log lines and a one-second tick go into the
//! [`Model`]; the screen is redrawn only after something changed, at most every 40 ms, so an
//! idle TUI sleeps and a log flood costs one frame per batch.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream, MouseEventKind};
use futures_util::StreamExt;
use orco_client::Client;
use orco_wire::InstancePhase;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::TuiError;
use crate::feed::{self, UsageSampler};
use crate::logs::{LogLine, LogSource};
use crate::model::{Command, Model, Msg};
use crate::terminal::TerminalGuard;
use crate::view;

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(40);
/// How many queued messages are folded in before drawing.
const BATCH: usize = 4096;

/// What the TUI shows and where from.
pub struct Options {
    /// The daemon.
    pub client: Client,
    /// The stack; default: every stack applied (grouped by stack), and those applied later.
    pub stack: Option<String>,
    /// Where log lines come from.
    pub logs: Arc<dyn LogSource>,
    /// Whether instances run on this machine, so that their CPU and memory can be read from
    /// `/proc` (a unix-socket daemon).
    pub local_usage: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("client", &self.client)
            .field("stack", &self.stack)
            .field("local_usage", &self.local_usage)
            .finish_non_exhaustive()
    }
}

/// Runs the TUI until `q`; the terminal is restored however it ends.
pub async fn run(options: Options) -> Result<(), TuiError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    // Read before touching the terminal: an unreachable daemon is a plain error message.
    let first = feed::snapshots(&options.client, options.stack.as_deref()).await?;
    let after = first.iter().map(|s| s.revision).max().unwrap_or(0);
    let followed: Vec<String> = first.iter().map(|s| s.stack.clone()).collect();
    let mut model = Model::new(jiff::Timestamp::now());
    model.update(Msg::Snapshots(first));

    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let (log_tx, mut log_rx) = mpsc::channel::<LogLine>(8192);
    let watch = tokio::spawn(feed::watch(
        options.client.clone(),
        options.stack.clone(),
        after,
        tx.clone(),
    ));
    // The logs of every stack shown when the TUI opened.
    let logs: Vec<_> = followed
        .into_iter()
        .map(|s| {
            let source = Arc::clone(&options.logs);
            let tx = tx.clone();
            let log_tx = log_tx.clone();
            tokio::spawn(async move {
                if let Err(e) = source.follow(&s, log_tx).await {
                    let _ = tx.send(Msg::ActionDone(Err(format!("logs: {e}")))).await;
                }
            })
        })
        .collect();
    drop(log_tx);

    let mut guard = TerminalGuard::enter()?;
    let result = event_loop(&mut guard, &mut model, &options, &tx, &mut rx, &mut log_rx).await;
    watch.abort();
    for follower in logs {
        follower.abort();
    }
    drop(guard);
    result
}

async fn event_loop(
    guard: &mut TerminalGuard,
    model: &mut Model,
    options: &Options,
    tx: &mpsc::Sender<Msg>,
    rx: &mut mpsc::Receiver<Msg>,
    log_rx: &mut mpsc::Receiver<LogLine>,
) -> Result<(), TuiError> {
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampler = UsageSampler::default();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if dirty && last_draw.elapsed() >= FRAME {
            guard.terminal().draw(|frame| view::draw(frame, model))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let redraw_at = last_draw + FRAME;
        let mut commands = Vec::new();
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(Event::Key(key))) => {
                    commands = model.update(Msg::Key(key));
                    dirty = true;
                }
                Some(Ok(Event::Mouse(mouse))) => {
                    let code = match mouse.kind {
                        MouseEventKind::ScrollUp => Some(crossterm::event::KeyCode::Up),
                        MouseEventKind::ScrollDown => Some(crossterm::event::KeyCode::Down),
                        _ => None,
                    };
                    if let Some(code) = code {
                        commands = model.update(Msg::Key(code.into()));
                        dirty = true;
                    }
                }
                Some(Ok(_)) => dirty = true,
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(msg) = rx.recv() => {
                model.update(msg);
                for _ in 0..BATCH {
                    match rx.try_recv() {
                        Ok(msg) => { model.update(msg); }
                        Err(_) => break,
                    }
                }
                dirty = true;
            }
            Some(line) = log_rx.recv() => {
                model.update(Msg::Log(line));
                for _ in 0..BATCH {
                    match log_rx.try_recv() {
                        Ok(line) => { model.update(Msg::Log(line)); }
                        Err(_) => break,
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                model.update(Msg::Tick(jiff::Timestamp::now()));
                if options.local_usage {
                    let pids: Vec<(String, u32)> = model
                        .instances
                        .iter()
                        .flat_map(|(name, list)| {
                            list.iter()
                                .filter(|i| matches!(i.phase, InstancePhase::Running | InstancePhase::Starting))
                                .filter_map(|i| i.pid.map(|pid| (name.clone(), pid)))
                        })
                        .collect();
                    model.update(Msg::Usage(sampler.sample(&pids)));
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(redraw_at), if dirty => {}
        }
        for command in commands {
            match command {
                Command::Quit => return Ok(()),
                Command::MouseCapture(on) => guard.set_mouse(on)?,
                action => {
                    tokio::spawn(feed::act(options.client.clone(), action, tx.clone()));
                }
            }
        }
    }
}

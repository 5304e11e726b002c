//! One tokio task per task attempt: starts its process (or adopts the one a daemon before
//! this one started), waits for its end within its `timeout`, reads `PROGRESS: N message`
//! lines, and reports the result: succeeded, a retry with backoff, or failed for good.
//!
//! Exactly once: the control plane records `TaskStarting` before it assigns an attempt, the
//! process's runtime name carries the attempt, and the process's record in the runtime is
//! forgotten only once the result is on record (the attempt is no longer assigned). So a
//! restarted daemon finds the process of every attempt on record as starting or running.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orco_interface::{TaskAssignment, TaskDesired};
use orco_runtime::{InstanceInfo, Runtime};
use orco_spec::LogSource;
use orco_state::{Event, EventKind, ExitStatus, TaskId};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::supervisor::IntoState;

/// How long a cancelled task has to end after SIGTERM before SIGKILL.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// The runtime's name for a task attempt: unique on the node, e.g. `job.demo.build.3.test.0`.
pub fn runtime_name(task: &TaskId, attempt: u32) -> String {
    let job = &task.run.job;
    format!(
        "job.{}.{}.{}.{}.{attempt}",
        job.stack, job.name, task.run.run, task.task
    )
}

/// `PROGRESS: 42 copying files` → (42, "copying files"); `PROGRESS: done` → (none, "done").
pub fn parse_progress(line: &str) -> Option<(Option<u8>, Option<String>)> {
    let rest = line.trim_end().strip_prefix("PROGRESS:")?.trim_start();
    let (first, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let number = first.strip_suffix('%').unwrap_or(first);
    let (percent, message) = match number.parse::<f64>() {
        Ok(p) if p.is_finite() => (Some(p.clamp(0.0, 100.0) as u8), tail.trim()),
        _ => (None, rest.trim()),
    };
    let message = (!message.is_empty()).then(|| message.to_string());
    if percent.is_none() && message.is_none() {
        return None;
    }
    Some((percent, message))
}

pub(crate) enum TaskCommand {
    Assign(Box<TaskAssignment>),
    Remove,
}

pub(crate) struct TaskRunner<R: Runtime + 'static> {
    pub name: String,
    pub runtime: Arc<R>,
    pub events: mpsc::Sender<Event>,
    pub assignment: TaskAssignment,
    pub commands: mpsc::UnboundedReceiver<TaskCommand>,
    pub exits: mpsc::UnboundedReceiver<(i32, orco_runtime::ExitStatus)>,
    pub lines: mpsc::Receiver<(LogSource, Vec<u8>)>,
    pub adopted: Option<InstanceInfo>,
    /// The daemon's API address, given to the task as `ORCO_HOST`.
    pub api_host: Option<String>,
}

/// The process of the attempt, while it runs.
struct Running {
    pid: i32,
    deadline: Option<Instant>,
}

impl<R: Runtime + 'static> TaskRunner<R> {
    pub(crate) async fn run(mut self) {
        let mut running = self.begin().await;
        loop {
            let timeout = async {
                match running.as_ref().and_then(|r| r.deadline) {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(TaskCommand::Assign(a)) => {
                        self.assignment = *a;
                        if self.assignment.desired == TaskDesired::Stop && running.is_some() {
                            running = None;
                            let status = self.stop().await;
                            self.emit(EventKind::TaskFailed {
                                task: self.assignment.task.clone(),
                                status,
                                reason: "cancelled".into(),
                            })
                            .await;
                        }
                    }
                    Some(TaskCommand::Remove) => {
                        // No longer on record as running: its result is, or its run is gone.
                        if running.is_some() {
                            self.stop().await;
                        }
                        let _ = self.runtime.forget(&self.name).await;
                        return;
                    }
                    // The agent is gone (the daemon stops): the process keeps running for
                    // the next daemon to adopt.
                    None => return,
                },
                Some((pid, status)) = self.exits.recv() => {
                    if running.as_ref().is_some_and(|r| r.pid == pid) {
                        // Lines and the exit arrive on two channels: what the task printed
                        // before it exited (its last progress line) is read first.
                        while let Ok((_, line)) = self.lines.try_recv() {
                            self.progress(&line).await;
                        }
                        running = None;
                        self.ended(Some(status.into_state()), None).await;
                    }
                }
                Some((_, line)) = self.lines.recv() => {
                    if running.is_some() {
                        self.progress(&line).await;
                    }
                }
                () = timeout => {
                    running = None;
                    let status = self.stop().await;
                    let limit = self.assignment.spec.timeout.map(|t| t.to_string()).unwrap_or_default();
                    self.ended(status, Some(format!("timed out after {limit}"))).await;
                }
            }
        }
    }

    /// Records a `PROGRESS:` line of the task's output.
    async fn progress(&self, line: &[u8]) {
        if let Some((percent, message)) = parse_progress(&String::from_utf8_lossy(line)) {
            self.emit(EventKind::TaskProgress {
                task: self.assignment.task.clone(),
                percent,
                message,
            })
            .await;
        }
    }

    /// Adopts the attempt's process, or starts it; `None` when it has already ended.
    async fn begin(&mut self) -> Option<Running> {
        let a = &self.assignment;
        let task = a.task.clone();
        if let Some(info) = self.adopted.take() {
            let pid = u32::try_from(info.pid).ok();
            if a.pid != pid {
                self.emit(EventKind::TaskStarted {
                    task,
                    attempt: self.assignment.attempt,
                    pid,
                })
                .await;
            }
            if let Some(exit) = info.exit {
                self.ended(Some(exit.status.into_state()), None).await;
                return None;
            }
            let started_ms = i64::try_from(info.started_at_unix_ms).unwrap_or(i64::MAX);
            let started =
                Timestamp::from_millisecond(started_ms).unwrap_or_else(|_| Timestamp::now());
            return Some(Running {
                pid: info.pid,
                deadline: self.deadline(started),
            });
        }
        if a.pid.is_some() {
            self.ended(None, Some("its process was lost".into())).await;
            return None;
        }
        if a.desired == TaskDesired::Stop {
            self.emit(EventKind::TaskFailed {
                task,
                status: None,
                reason: "cancelled".into(),
            })
            .await;
            return None;
        }
        let started = match crate::launch::task(a, self.api_host.as_deref()) {
            Ok(launch) => self
                .runtime
                .start(&self.name, &launch)
                .await
                .map_err(crate::launch::LaunchError::from),
            Err(e) => Err(e),
        };
        match started {
            Ok(s) => {
                self.emit(EventKind::TaskStarted {
                    task,
                    attempt: self.assignment.attempt,
                    pid: u32::try_from(s.pid).ok(),
                })
                .await;
                Some(Running {
                    pid: s.pid,
                    deadline: self.deadline(Timestamp::now()),
                })
            }
            Err(e) => {
                self.ended(None, Some(format!("could not start: {e}")))
                    .await;
                None
            }
        }
    }

    fn deadline(&self, started: Timestamp) -> Option<Instant> {
        let timeout = self.assignment.spec.timeout?.get();
        let elapsed = Timestamp::now().duration_since(started);
        let elapsed = Duration::try_from(elapsed).unwrap_or(Duration::ZERO);
        Some(Instant::now() + timeout.saturating_sub(elapsed))
    }

    /// Stops the process (SIGTERM, then SIGKILL after the grace) and answers how it ended.
    async fn stop(&self) -> Option<ExitStatus> {
        let term = orco_runtime::Signal::SIGTERM;
        self.runtime
            .stop(&self.name, term, CANCEL_GRACE)
            .await
            .ok()
            .map(|s| s.status.into_state())
    }

    /// The attempt ended: success, a retry after backoff, or a failure for good.
    async fn ended(&self, status: Option<ExitStatus>, why: Option<String>) {
        let task = self.assignment.task.clone();
        if why.is_none() && status.is_some_and(ExitStatus::success) {
            self.emit(EventKind::TaskSucceeded { task }).await;
            return;
        }
        let reason = why.unwrap_or_else(|| match status {
            Some(ExitStatus::Code(c)) => format!("exit code {c}"),
            Some(ExitStatus::Signal(s)) => format!("killed by signal {s}"),
            Some(ExitStatus::Unknown) => {
                "exit status unknown (its keeper was restarted)".to_string()
            }
            None => "failed".into(),
        });
        let retry = &self.assignment.spec.retry;
        let used = self
            .assignment
            .attempt
            .saturating_sub(self.assignment.first_attempt);
        if used < retry.max_retries {
            let delay = retry.backoff.delay(used.saturating_add(1), rand::random());
            let span = jiff::SignedDuration::try_from(delay).unwrap_or_default();
            let now = Timestamp::now();
            self.emit(EventKind::TaskRetrying {
                task,
                status,
                reason,
                retry_at: now.checked_add(span).unwrap_or(now),
            })
            .await;
        } else {
            self.emit(EventKind::TaskFailed {
                task,
                status,
                reason,
            })
            .await;
        }
    }

    async fn emit(&self, kind: EventKind) {
        let _ = self.events.send(Event::new(Timestamp::now(), kind)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_give_a_percent_and_a_message() {
        assert_eq!(
            parse_progress("PROGRESS: 42 copying files\n"),
            Some((Some(42), Some("copying files".into())))
        );
        assert_eq!(parse_progress("PROGRESS: 100%"), Some((Some(100), None)));
        assert_eq!(
            parse_progress("PROGRESS: 250 over"),
            Some((Some(100), Some("over".into())))
        );
        assert_eq!(
            parse_progress("PROGRESS: checkpoint a"),
            Some((None, Some("checkpoint a".into())))
        );
        assert_eq!(parse_progress("PROGRESS:"), None);
        assert_eq!(parse_progress("progress 5"), None);
    }

    #[test]
    fn a_task_attempt_has_a_runtime_name_of_its_own() {
        let task: TaskId = "s/build#3/test".parse().unwrap();
        assert_eq!(runtime_name(&task, 0), "job.s.build.3.test.0");
        assert_ne!(runtime_name(&task, 0), runtime_name(&task, 1));
    }
}

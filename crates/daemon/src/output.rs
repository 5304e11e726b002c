//! `LogSink`: instances' output into the structured log of their stack, without a gap or a
//! repeat across daemon restarts.
//!
//! Every line the agent fans out goes to the [`orco_logs::Producer`] of its instance (which
//! never waits: a flood drops lines there and says so). The keeper keeps each instance's raw
//! output on disk, so a restarted daemon reads what adopted instances printed meanwhile. To
//! avoid reading everything again, the sink saves, about once a second and only after the
//! stack logs are fsynced, how far it has read each instance's output (`resume.json`); lines
//! between that point and the crash may already be in the log, so lines no newer than the
//! last record of the instance found in its stack's current log file are skipped. Once saved,
//! the positions are what the keeper is told was consumed: its spools let go of what lies
//! before.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orco_agent::{Output, OutputSink};
use orco_logs::{Logs, Origin, Producer, Record};
use orco_runtime::{InstanceInfo, OutputLine, ProcessRuntime};
use orco_state::{InstanceId, TaskId};
use serde::{Deserialize, Serialize};

/// The file, in the log directory, where read positions are saved.
pub const RESUME_FILE: &str = "resume.json";
/// How often read positions are saved.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// How far one instance's output was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The offset in the keeper's output log just past the last line handed to the log.
    offset: u64,
    /// When that line was read (nanoseconds since the Unix epoch).
    at: u64,
}

#[derive(Default)]
struct Inner {
    producers: HashMap<InstanceId, Producer>,
    /// Producers of job task output, by task.
    task_producers: HashMap<TaskId, Producer>,
    /// Read positions by runtime name.
    positions: BTreeMap<String, Position>,
    /// Adopted instances: lines read at or before this time are already in the log.
    skip_through: HashMap<String, u64>,
    /// Positions saved by an earlier daemon, until used.
    saved: BTreeMap<String, Position>,
    /// By stack: the time of each instance's last record in the current log file.
    in_log: HashMap<String, HashMap<String, u64>>,
}

impl Inner {
    /// Whether a line of the runtime's `name` is new to the log (an adopted process's lines
    /// already kept are not); if so, its position is the new read position.
    fn keep(&mut self, name: String, line: &OutputLine) -> bool {
        let at = line.at_unix_nanos;
        if let Some(through) = self.skip_through.get(&name) {
            if at <= *through {
                return false;
            }
            self.skip_through.remove(&name);
        }
        let end = line.offset
            + u64::try_from(orco_runtime::output::RECORD_HEADER + line.bytes.len()).unwrap_or(0);
        self.positions.insert(name, Position { offset: end, at });
        true
    }
}

/// A runtime name's stack and the name its records carry in the log as `instance`: an
/// instance `STACK.SERVICE-N` is `SERVICE-N`; a task attempt `job.STACK.JOB.RUN.TASK.ATTEMPT`
/// is `TASK#RUN` (names never hold a `.`).
fn log_names(runtime_name: &str) -> (String, String) {
    let parts: Vec<&str> = runtime_name.split('.').collect();
    match parts.as_slice() {
        ["job", stack, _job, run, task, _attempt] => (stack.to_string(), format!("{task}#{run}")),
        _ => match runtime_name.split_once('.') {
            Some((stack, short)) => (stack.to_string(), short.to_string()),
            None => (String::new(), runtime_name.to_string()),
        },
    }
}

/// The daemon's output sink.
#[derive(Clone)]
pub struct LogSink {
    logs: Logs,
    resume_file: PathBuf,
    inner: Arc<Mutex<Inner>>,
    /// The keeper, told how far each output is kept once the positions are saved, so that
    /// its spools let go of it.
    keeper: Option<ProcessRuntime>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("resume_file", &self.resume_file)
            .finish()
    }
}

impl LogSink {
    /// A sink into `logs`, reading the positions an earlier daemon saved in `log_dir`.
    pub fn new(logs: Logs, log_dir: &Path) -> LogSink {
        let resume_file = log_dir.join(RESUME_FILE);
        let saved = std::fs::read(&resume_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        LogSink {
            logs,
            resume_file,
            inner: Arc::new(Mutex::new(Inner {
                saved,
                ..Inner::default()
            })),
            keeper: None,
        }
    }

    /// Tells `keeper` how far each output is kept, after every save of the positions.
    pub fn with_keeper(mut self, keeper: ProcessRuntime) -> LogSink {
        keeper.ack_explicitly();
        self.keeper = Some(keeper);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Saves read positions every second until the sink's last clone is gone.
    pub fn keep_saving(&self) {
        let weak = Arc::downgrade(&self.inner);
        let logs = self.logs.clone();
        let file = self.resume_file.clone();
        let keeper = self.keeper.clone();
        tokio::spawn(async move {
            let mut last: Option<BTreeMap<String, Position>> = None;
            loop {
                tokio::time::sleep(SAVE_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                let (positions, stacks) = {
                    let inner = inner.lock().unwrap_or_else(PoisonError::into_inner);
                    let mut stacks: Vec<String> = inner
                        .producers
                        .keys()
                        .map(|id| id.workload.stack.as_str().to_string())
                        .chain(
                            inner
                                .task_producers
                                .keys()
                                .map(|t| t.run.job.stack.as_str().to_string()),
                        )
                        .collect();
                    stacks.sort();
                    stacks.dedup();
                    (inner.positions.clone(), stacks)
                };
                drop(inner);
                if last.as_ref() == Some(&positions) {
                    continue;
                }
                let logs = logs.clone();
                let file = file.clone();
                let saved = positions.clone();
                let done =
                    tokio::task::spawn_blocking(move || save(&logs, &stacks, &file, &saved)).await;
                match done {
                    Ok(Ok(())) => {
                        if let Some(keeper) = &keeper {
                            for (name, position) in &positions {
                                let known = last.as_ref().and_then(|l| l.get(name));
                                if known != Some(position) {
                                    // An instance forgotten meanwhile is unknown: nothing to do.
                                    let _ =
                                        keeper.consumed(name, position.offset, position.at).await;
                                }
                            }
                        }
                        last = Some(positions);
                    }
                    Ok(Err(e)) => tracing::warn!("cannot save log read positions: {e}"),
                    Err(e) => tracing::warn!("cannot save log read positions: {e}"),
                }
            }
        });
    }

    fn producer<'a>(&self, inner: &'a mut Inner, id: &InstanceId) -> Option<&'a mut Producer> {
        if !inner.producers.contains_key(id) {
            let log = match self.logs.stack(id.workload.stack.as_str()) {
                Ok(log) => log,
                Err(e) => {
                    tracing::warn!("cannot open the log of stack {}: {e}", id.workload.stack);
                    return None;
                }
            };
            let origin = Origin::service(
                id.workload.name.as_str(),
                format!("{}-{}", id.workload.name, id.replica),
            );
            inner.producers.insert(id.clone(), log.producer(origin));
        }
        inner.producers.get_mut(id)
    }
}

/// Syncs the stack logs (so that every line handed over before is on disk), then writes the
/// positions atomically.
fn save(
    logs: &Logs,
    stacks: &[String],
    file: &Path,
    positions: &BTreeMap<String, Position>,
) -> Result<(), String> {
    for stack in stacks {
        let log = logs.stack(stack).map_err(|e| e.to_string())?;
        log.sync().map_err(|e| e.to_string())?;
    }
    let bytes = serde_json::to_vec(positions).map_err(|e| e.to_string())?;
    let tmp = file.with_extension("json.tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))
}

/// The time of the last record of each instance in `stack`'s current log file.
fn last_records(logs: &Logs, stack: &str) -> HashMap<String, u64> {
    let mut last = HashMap::new();
    let Ok(dir) = orco_logs::files::stack_dir(&logs.config().dir, stack) else {
        return last;
    };
    let Ok(bytes) = std::fs::read(dir.join(orco_logs::files::CURRENT)) else {
        return last;
    };
    for line in bytes.split(|b| *b == b'\n') {
        if let Some(record) = Record::from_json_line(line)
            && record.source != orco_logs::Source::Orco
            && let Some(instance) = record.instance
        {
            let at = u64::try_from(record.ts.as_nanosecond()).unwrap_or(0);
            last.insert(instance, at);
        }
    }
    last
}

impl OutputSink for LogSink {
    fn line(&self, output: Output) {
        let mut inner = self.lock();
        let name = orco_agent::launch::runtime_name(&output.instance);
        if !inner.keep(name, &output.line) {
            return;
        }
        if let Some(producer) = self.producer(&mut inner, &output.instance) {
            producer.send(output.line);
        }
    }

    fn task_line(&self, task: &TaskId, line: OutputLine) {
        let mut inner = self.lock();
        // A task attempt's runtime name, as the output line carries it.
        if !inner.keep(line.instance.clone(), &line) {
            return;
        }
        if !inner.task_producers.contains_key(task) {
            let stack = task.run.job.stack.as_str();
            let log = match self.logs.stack(stack) {
                Ok(log) => log,
                Err(e) => {
                    tracing::warn!("cannot open the log of stack {stack}: {e}");
                    return;
                }
            };
            let origin = Origin::task(
                task.run.job.name.as_str(),
                task.task.as_str(),
                format!("{}#{}", task.task, task.run.run),
            );
            inner
                .task_producers
                .insert(task.clone(), log.producer(origin));
        }
        if let Some(producer) = inner.task_producers.get_mut(task) {
            producer.send(line);
        }
    }

    fn resume_offset(&self, info: &InstanceInfo) -> u64 {
        let mut inner = self.lock();
        let saved = inner.saved.remove(&info.instance);
        let (stack, short) = log_names(&info.instance);
        let logs = &self.logs;
        let in_log = inner
            .in_log
            .entry(stack.clone())
            .or_insert_with(|| last_records(logs, &stack))
            .get(&short)
            .copied();
        let started = info.started_at_unix_ms.saturating_mul(1_000_000);
        // A saved position counts only if it is about this run of the instance (a restart
        // under the same name starts a new output log).
        let saved = saved.filter(|p| p.at >= started && p.offset <= info.output_len);
        let through = [in_log, saved.map(|p| p.at)].into_iter().flatten().max();
        if let Some(through) = through {
            inner.skip_through.insert(info.instance.clone(), through);
        }
        saved.map_or(0, |p| p.offset)
    }
}

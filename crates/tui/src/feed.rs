//! The API side of the TUI: the first snapshot, the event watch (re-reading only the
//! workloads that events touch), the actions, and resource use of local instances.
//! Everything here sends [`Msg`]s; nothing here draws.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orco_client::{Client, ClientError};
use orco_wire::EventType;
use orco_wire::model::{EventView, StackView};
use tokio::sync::mpsc;

use crate::error::TuiError;
use crate::graph::Topology;
use crate::model::{Command, Connection, Msg, Snapshot, Usage};

/// How long the watch waits before reconnecting after it broke.
const RECONNECT: Duration = Duration::from_millis(500);
/// How often touched workloads are read again, at most.
const REFRESH: Duration = Duration::from_millis(100);

/// The stack to show: `wanted`, else the only one applied, else (several applied) the one
/// [`choose`] picks; `None` when none is applied.
pub async fn pick_stack(client: &Client, wanted: Option<&str>) -> Result<Option<String>, TuiError> {
    if let Some(name) = wanted {
        return Ok(Some(name.to_string()));
    }
    let stacks = client.stacks(None).await?;
    Ok(choose(&stacks.items))
}

/// Of several stacks, the one to open on: the latest applied that has services (a job file's
/// stack has none), else the latest applied.
pub fn choose(stacks: &[StackView]) -> Option<String> {
    stacks
        .iter()
        .max_by_key(|s| (!s.services.is_empty(), s.applied_at, s.name.clone()))
        .map(|s| s.name.clone())
}

/// What the TUI says when it opens on `shown` while other stacks are applied.
pub async fn others_notice(client: &Client, shown: &str) -> Option<String> {
    let stacks = client.stacks(None).await.ok()?;
    let others: Vec<&str> = stacks
        .items
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| *name != shown)
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "showing stack {shown}; also applied: {} (`orco tui --stack NAME`, or `orco status` for all)",
            others.join(", ")
        )
    })
}

/// Reads a whole view of `stack`.
pub async fn snapshot(client: &Client, stack: &str) -> Result<Snapshot, ClientError> {
    let detail = client.stack(stack, None).await?;
    let workloads = client.workloads(Some(stack), None).await?;
    let instances = client.instances(Some(stack), None, None).await?;
    Ok(Snapshot {
        stack: stack.to_string(),
        revision: workloads.revision.max(detail.revision),
        as_of: workloads.as_of,
        workloads: workloads.items,
        instances: instances.items,
        topology: Topology::from_json(&detail.spec),
    })
}

/// What an event asks of the TUI's copy of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// Nothing (another stack).
    Nothing,
    /// Read these workloads (by name) again.
    Workload(String),
    /// Read the whole stack again (applied, removed).
    Stack,
}

/// Which part of `stack` an event touched.
pub fn touched(stack: Option<&str>, event: &EventView) -> Touch {
    let object = event.object.as_str();
    let (object_stack, rest) = object.split_once('/').unwrap_or((object, ""));
    if matches!(
        event.kind,
        EventType::StackApplied | EventType::StackRemoved
    ) {
        return match stack {
            None => Touch::Stack,
            Some(s) if s == object_stack => Touch::Stack,
            Some(_) => Touch::Nothing,
        };
    }
    if stack != Some(object_stack) || rest.is_empty() {
        return Touch::Nothing;
    }
    let name = match rest.split_once('#') {
        Some((job, _)) => job,
        None => match rest.rsplit_once('-') {
            Some((name, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => rest,
        },
    };
    Touch::Workload(name.to_string())
}

/// Follows the event watch from `after`, sending each event and what it touched, re-reading
/// touched workloads at most every 100 ms, and reconnecting when the stream breaks. Ends
/// when `tx` is closed.
pub async fn watch(
    client: Client,
    mut stack: Option<String>,
    mut after: u64,
    tx: mpsc::Sender<Msg>,
) {
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    let mut reload = false;
    loop {
        let mut reader = match client.events(after, true, &[]).await {
            Ok(reader) => reader,
            Err(e) => {
                if tx
                    .send(Msg::Connection(Connection::Lost(e.to_string())))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        if tx.send(Msg::Connection(Connection::Live)).await.is_err() {
            return;
        }
        let mut flush = tokio::time::interval(REFRESH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let broke = loop {
            tokio::select! {
                message = reader.next() => match message {
                    Ok(Some(m)) if m.event == "event" => {
                        let Ok(event) = serde_json::from_str::<EventView>(&m.data) else {
                            continue;
                        };
                        after = after.max(event.revision);
                        match touched(stack.as_deref(), &event) {
                            Touch::Nothing => continue,
                            Touch::Stack => reload = true,
                            Touch::Workload(name) => {
                                dirty.insert(name);
                            }
                        }
                        if tx.send(Msg::Event(Box::new(event))).await.is_err() {
                            return;
                        }
                    }
                    Ok(Some(m)) if m.event == "error" => {
                        // `too_slow` names the revision to resume from.
                        if let Some(resume) = serde_json::from_str::<serde_json::Value>(&m.data)
                            .ok()
                            .and_then(|v| v.pointer("/error/resume_after").and_then(|r| r.as_u64()))
                        {
                            after = resume;
                        }
                        break "the event stream fell behind".to_string();
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break "the event stream ended".to_string(),
                    Err(e) => break e,
                },
                _ = flush.tick(), if reload || !dirty.is_empty() => {
                    if reload {
                        reload = false;
                        dirty.clear();
                        stack = refresh_stack(&client, stack.as_deref(), &tx).await;
                    }
                    let touched = !dirty.is_empty();
                    for name in std::mem::take(&mut dirty) {
                        let Some(s) = &stack else { break };
                        let msg = match client.workload(&format!("{s}/{name}"), None).await {
                            Ok(detail) => Msg::Workload(Box::new(detail)),
                            Err(e) if e.code() == Some("workload_not_found") => Msg::WorkloadGone(name),
                            Err(_) => {
                                dirty.insert(name);
                                continue;
                            }
                        };
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                    // What waits on what the events touched: the daemon judges it anew.
                    if touched
                        && let Some(s) = &stack
                        && let Ok(list) = client.workloads(Some(s), None).await
                        && tx.send(Msg::Workloads(list.items)).await.is_err()
                    {
                        return;
                    }
                }
            }
        };
        if tx
            .send(Msg::Connection(Connection::Lost(broke)))
            .await
            .is_err()
        {
            return;
        }
        reload = true;
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Reads the stack again (or picks it, when none was shown yet); the stack shown after.
async fn refresh_stack(
    client: &Client,
    stack: Option<&str>,
    tx: &mpsc::Sender<Msg>,
) -> Option<String> {
    let name = match stack {
        Some(s) => s.to_string(),
        None => pick_stack(client, None).await.ok().flatten()?,
    };
    match snapshot(client, &name).await {
        Ok(snap) => {
            let _ = tx.send(Msg::Snapshot(Box::new(snap))).await;
        }
        Err(e) if e.code() == Some("stack_not_found") => {
            let _ = tx
                .send(Msg::Snapshot(Box::new(Snapshot {
                    stack: name.clone(),
                    revision: 0,
                    as_of: jiff::Timestamp::now(),
                    workloads: Vec::new(),
                    instances: Vec::new(),
                    topology: Topology::default(),
                })))
                .await;
        }
        Err(_) => {}
    }
    Some(name)
}

/// Carries out one action command against `stack`, reporting how it went.
pub async fn act(client: Client, stack: String, command: Command, tx: mpsc::Sender<Msg>) {
    let (name, result) = match &command {
        Command::Restart(w) | Command::Stop(w) | Command::Start(w) => {
            let verb = match command {
                Command::Restart(_) => "restart",
                Command::Stop(_) => "stop",
                _ => "start",
            };
            let result = client
                .workload_action(&format!("{stack}/{w}"), verb)
                .await
                .map(|a| format!("{w}: {verb} requested (revision {})", a.revision));
            (w, result)
        }
        Command::Scale(w, replicas) => {
            let result = client
                .scale(&format!("{stack}/{w}"), *replicas)
                .await
                .map(|a| format!("{w}: scaled to {replicas} (revision {})", a.revision));
            (w, result)
        }
        Command::Quit | Command::MouseCapture(_) => return,
    };
    let result = result.map_err(|e| format!("{name}: {e}"));
    let _ = tx.send(Msg::ActionDone(result)).await;
}

/// CPU and memory of local instances from `/proc`, summed by workload. CPU is the share of
/// one core between two samples.
#[derive(Debug, Default)]
pub struct UsageSampler {
    last: BTreeMap<u32, (u64, std::time::Instant)>,
}

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

impl UsageSampler {
    /// Samples the given `(workload, pid)` pairs.
    pub fn sample(&mut self, pids: &[(String, u32)]) -> BTreeMap<String, Usage> {
        let now = std::time::Instant::now();
        let mut out: BTreeMap<String, Usage> = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for (workload, pid) in pids {
            let Some((ticks, rss)) = read_proc(*pid) else {
                continue;
            };
            let usage = out.entry(workload.clone()).or_default();
            usage.memory_bytes = usage.memory_bytes.saturating_add(rss);
            if let Some((before, at)) = self.last.get(pid) {
                let seconds = now.duration_since(*at).as_secs_f64();
                if seconds > 0.0 {
                    usage.cpu_percent +=
                        ticks.saturating_sub(*before) as f64 / USER_HZ / seconds * 100.0;
                }
            }
            seen.insert(*pid, (ticks, now));
        }
        self.last = seen;
        out
    }
}

/// `utime + stime` in ticks and resident memory in bytes of a process.
fn read_proc(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some((utime + stime, rss_kb * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, services: &[&str], applied: i64) -> StackView {
        StackView {
            name: name.into(),
            workdir: "/".into(),
            applied_at: jiff::Timestamp::from_second(applied).unwrap(),
            generation: 1,
            services: services.iter().map(|s| s.to_string()).collect(),
            jobs: Vec::new(),
            instances: 0,
            scale: Default::default(),
            stopped: Vec::new(),
        }
    }

    #[test]
    fn with_several_stacks_the_latest_with_services_is_shown_not_a_job_file() {
        let stacks = [
            stack("web", &["api"], 10),
            stack("batch", &[], 20),
            stack("old", &["db"], 5),
        ];
        assert_eq!(choose(&stacks).as_deref(), Some("web"));
        assert_eq!(choose(&stacks[1..2]).as_deref(), Some("batch"));
        assert_eq!(choose(&[]), None);
    }

    fn event(kind: &str, object: &str) -> EventView {
        EventView {
            revision: 1,
            at: jiff::Timestamp::UNIX_EPOCH,
            kind: kind.parse().unwrap(),
            object: object.into(),
            summary: String::new(),
            event: serde_json::Value::Null,
        }
    }

    #[test]
    fn events_touch_only_the_workload_they_are_about() {
        let s = Some("demo");
        assert_eq!(
            touched(s, &event("instance_ready", "demo/web-0")),
            Touch::Workload("web".into())
        );
        assert_eq!(
            touched(s, &event("scale_changed", "demo/web")),
            Touch::Workload("web".into())
        );
        assert_eq!(
            touched(s, &event("task_started", "demo/etl#2/load")),
            Touch::Workload("etl".into())
        );
        assert_eq!(touched(s, &event("stack_applied", "demo")), Touch::Stack);
        assert_eq!(touched(s, &event("stack_applied", "other")), Touch::Nothing);
        assert_eq!(
            touched(None, &event("stack_applied", "other")),
            Touch::Stack
        );
        assert_eq!(
            touched(s, &event("instance_ready", "other/web-0")),
            Touch::Nothing
        );
    }

    #[test]
    fn the_sampler_reads_this_process() {
        let mut sampler = UsageSampler::default();
        let pid = std::process::id();
        let usage = sampler.sample(&[("me".into(), pid)]);
        assert!(usage["me"].memory_bytes > 0);
    }
}

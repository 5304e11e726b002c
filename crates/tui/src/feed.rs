//! The API side of the TUI: the first snapshot, the event watch (re-reading only the
//! workloads that events touch), the actions, and resource use of local instances.
//! Everything here sends [`Msg`]s; nothing here draws.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orco_client::{Client, ClientError};
use orco_wire::EventType;
use orco_wire::model::EventView;
use tokio::sync::mpsc;

use crate::graph::Topology;
use crate::model::{Command, Connection, Msg, Snapshot, Usage};

/// How long the watch waits before reconnecting after it broke.
const RECONNECT: Duration = Duration::from_millis(500);
/// How often touched workloads are read again, at most.
const REFRESH: Duration = Duration::from_millis(100);

/// Whole views of the stacks to show: `wanted` alone (none when it is not applied), else
/// every applied stack.
pub async fn snapshots(
    client: &Client,
    wanted: Option<&str>,
) -> Result<Vec<Snapshot>, ClientError> {
    let names = match wanted {
        Some(name) => vec![name.to_string()],
        None => client
            .stacks(None)
            .await?
            .items
            .into_iter()
            .map(|s| s.name)
            .collect(),
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match snapshot(client, &name).await {
            Ok(snap) => out.push(snap),
            // Removed since it was listed.
            Err(e) if e.code() == Some("stack_not_found") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
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

/// What an event asks of the TUI's copy of the stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// Nothing (a stack not shown).
    Nothing,
    /// Read this workload (by id, `STACK/NAME`) again.
    Workload(String),
    /// Read this whole stack again (applied, removed).
    Stack(String),
}

/// Which part of the stacks shown an event touched: `stack` alone, or every stack (`None`).
pub fn touched(stack: Option<&str>, event: &EventView) -> Touch {
    let object = event.object.as_str();
    let (object_stack, rest) = object.split_once('/').unwrap_or((object, ""));
    if matches!(
        event.kind,
        EventType::StackApplied | EventType::StackRemoved
    ) {
        return match stack {
            Some(s) if s != object_stack => Touch::Nothing,
            _ => Touch::Stack(object_stack.to_string()),
        };
    }
    if stack.is_some_and(|s| s != object_stack) || rest.is_empty() {
        return Touch::Nothing;
    }
    let name = match rest.split_once('#') {
        Some((job, _)) => job,
        None => match rest.rsplit_once('-') {
            Some((name, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => rest,
        },
    };
    Touch::Workload(format!("{object_stack}/{name}"))
}

/// Follows the event watch from `after` for `stack` (every stack: `None`), sending each event
/// and what it touched, re-reading touched workloads at most every 100 ms, and reconnecting
/// (then reading every stack shown again) when the stream breaks. Ends when `tx` is closed.
pub async fn watch(client: Client, stack: Option<String>, mut after: u64, tx: mpsc::Sender<Msg>) {
    // Touched workloads, by id.
    let mut dirty: BTreeSet<String> = BTreeSet::new();
    // Stacks to read again.
    let mut reload: BTreeSet<String> = BTreeSet::new();
    let mut reload_all = false;
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
                            Touch::Stack(name) => {
                                reload.insert(name);
                            }
                            Touch::Workload(id) => {
                                dirty.insert(id);
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
                _ = flush.tick(), if reload_all || !reload.is_empty() || !dirty.is_empty() => {
                    if std::mem::take(&mut reload_all) {
                        reload.clear();
                        dirty.clear();
                        match snapshots(&client, stack.as_deref()).await {
                            Ok(all) => {
                                if tx.send(Msg::Snapshots(all)).await.is_err() {
                                    return;
                                }
                            }
                            Err(_) => reload_all = true,
                        }
                    }
                    for name in std::mem::take(&mut reload) {
                        dirty.retain(|id| id.split_once('/').is_none_or(|(s, _)| s != name));
                        let msg = match snapshot(&client, &name).await {
                            Ok(snap) => Msg::Snapshot(Box::new(snap)),
                            Err(e) if e.code() == Some("stack_not_found") => Msg::StackGone(name),
                            Err(_) => {
                                reload.insert(name);
                                continue;
                            }
                        };
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                    let mut stacks: BTreeSet<String> = BTreeSet::new();
                    for id in std::mem::take(&mut dirty) {
                        let msg = match client.workload(&id, None).await {
                            Ok(detail) => Msg::Workload(Box::new(detail)),
                            Err(e) if e.code() == Some("workload_not_found") => Msg::WorkloadGone(id.clone()),
                            Err(_) => {
                                dirty.insert(id);
                                continue;
                            }
                        };
                        if let Some((s, _)) = id.split_once('/') {
                            stacks.insert(s.to_string());
                        }
                        if tx.send(msg).await.is_err() {
                            return;
                        }
                    }
                    // What waits on what the events touched: the daemon judges it anew.
                    for s in stacks {
                        if let Ok(list) = client.workloads(Some(&s), None).await
                            && tx.send(Msg::Workloads(list.items)).await.is_err()
                        {
                            return;
                        }
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
        reload_all = true;
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Carries out one action command on the workload it names by id, reporting how it went.
pub async fn act(client: Client, command: Command, tx: mpsc::Sender<Msg>) {
    let (name, result) = match &command {
        Command::Restart(w) | Command::Stop(w) | Command::Start(w) => {
            let verb = match command {
                Command::Restart(_) => "restart",
                Command::Stop(_) => "stop",
                _ => "start",
            };
            let result = client
                .workload_action(w, verb)
                .await
                .map(|a| format!("{w}: {verb} requested (revision {})", a.revision));
            (w, result)
        }
        Command::Scale(w, replicas) => {
            let result = client
                .scale(w, *replicas)
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

    fn event(kind: &str, object: &str) -> EventView {
        EventView {
            revision: 1,
            at: jiff::Timestamp::UNIX_EPOCH,
            kind: kind.parse().unwrap(),
            object: object.into(),
            summary: String::new(),
            by: None,
            event: serde_json::Value::Null,
        }
    }

    #[test]
    fn events_touch_only_the_workload_they_are_about() {
        let s = Some("demo");
        assert_eq!(
            touched(s, &event("instance_ready", "demo/web-0")),
            Touch::Workload("demo/web".into())
        );
        assert_eq!(
            touched(s, &event("scale_changed", "demo/web")),
            Touch::Workload("demo/web".into())
        );
        assert_eq!(
            touched(s, &event("task_started", "demo/etl#2/load")),
            Touch::Workload("demo/etl".into())
        );
        assert_eq!(
            touched(s, &event("stack_applied", "demo")),
            Touch::Stack("demo".into())
        );
        assert_eq!(touched(s, &event("stack_applied", "other")), Touch::Nothing);
        assert_eq!(
            touched(s, &event("instance_ready", "other/web-0")),
            Touch::Nothing
        );
        // Every stack shown: each event touches its own stack's workload.
        assert_eq!(
            touched(None, &event("stack_applied", "other")),
            Touch::Stack("other".into())
        );
        assert_eq!(
            touched(None, &event("instance_ready", "other/web-0")),
            Touch::Workload("other/web".into())
        );
        assert_eq!(
            touched(None, &event("instance_ready", "demo/web-0")),
            Touch::Workload("demo/web".into())
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

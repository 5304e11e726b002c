//! The keeper's instance table: spawn, reap, signal, stop with escalation, output logs.
//!
//! Every method runs under the table's lock on the keeper's single thread and never awaits,
//! so a spawn and its entry in the table, or a reap and the exit it records, are atomic
//! with respect to everything else the keeper does.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::sync::Arc;

use tokio::sync::{Notify, oneshot};

use crate::launch::{Launch, check_instance_name};
use crate::output::{Source, encode_record, unix_nanos};
use crate::protocol::ErrorCode;
use crate::runtime::{Exit, InstanceInfo, Stopped};
use crate::status::ExitStatus;

/// A request that failed, as sent to the client.
pub(crate) type Failure = (ErrorCode, String);

#[derive(Debug)]
struct Stopping {
    forced: bool,
    waiters: Vec<oneshot::Sender<Stopped>>,
}

#[derive(Debug)]
struct Instance {
    pid: i32,
    generation: u64,
    started_at_unix_ms: u64,
    exit: Option<Exit>,
    group_alive: bool,
    /// Created at the first output: most tasks print nothing, and an instance that never
    /// prints costs no inode.
    log: Option<File>,
    log_len: u64,
    /// How far the engine has kept the log (`consumed`): the spool holds only what lies
    /// beyond, and what lies before is given back to the file system.
    consumed: u64,
    /// Lines dropped because the spool was full or the log could not be written, not yet
    /// announced in the log (a new run of the name announces what the last one lost).
    dropped: u64,
    /// Whether some of them were lost to a failed write rather than a full spool.
    unwritable: bool,
    stop: Option<Stopping>,
    /// Taken over from a keeper that died: not our child, so its end is seen through a
    /// pidfd and its exit status read from `/proc` while it is a zombie (or is unknown).
    adopted: bool,
}

/// The most output the keeper spools per instance that the engine has not yet consumed.
/// Beyond it, lines are dropped and counted, and a `dropped N lines` record follows once
/// there is room again.
pub const SPOOL_CAP: u64 = 32 << 20;

/// Room kept in a full spool for the record that announces dropped lines.
const DROPPED_NOTICE_ROOM: u64 = 256;

/// The record that announces `count` lines dropped: from a full spool, or because the
/// output log could not be written (`unwritable`: a full disk).
fn dropped_record(count: u64, unwritable: bool) -> Vec<u8> {
    let text = if unwritable {
        format!(
            "orco: dropped {count} lines: the output log could not be written (is the disk full?)"
        )
    } else {
        format!(
            "orco: dropped {count} lines: the output spool was full ({} MiB not yet read)",
            SPOOL_CAP >> 20
        )
    };
    let mut record = Vec::new();
    encode_record(
        &mut record,
        unix_nanos(),
        Source::Stderr,
        false,
        text.as_bytes(),
    );
    record
}

/// How many records `records` holds (back to back, as `encode_lines` makes them).
fn count_records(records: &[u8]) -> u64 {
    let mut at = 0usize;
    let mut count = 0u64;
    while let Some(header) = records.get(at..at + crate::output::RECORD_HEADER) {
        let len = u32::from_le_bytes([header[10], header[11], header[12], header[13]]) as usize;
        at += crate::output::RECORD_HEADER + len;
        count += 1;
    }
    count
}

/// Gives the bytes of `file` in `[from, to)` back to the file system (a hole: offsets stay
/// where they are, reads of the hole give zeros). Whole 4 KiB blocks only.
fn punch(file: &File, from: u64, to: u64) {
    use nix::fcntl::{FallocateFlags, fallocate};
    const BLOCK: u64 = 4096;
    let start = from / BLOCK * BLOCK;
    let end = to / BLOCK * BLOCK;
    if end <= start {
        return;
    }
    let (Ok(offset), Ok(len)) = (i64::try_from(start), i64::try_from(end - start)) else {
        return;
    };
    let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
    if let Err(e) = fallocate(file, flags, offset, len) {
        // A file system without holes keeps the bytes; the cap still bounds the spool's
        // growth while nobody reads it.
        if e != Errno::EOPNOTSUPP {
            eprintln!("orco keeper: cannot free consumed output: {e}");
        }
    }
}

/// A stop either answered at once or answered when the group is gone.
#[derive(Debug)]
pub(crate) enum StopAnswer {
    Now(Stopped),
    Later(oneshot::Receiver<Stopped>),
}

/// Where one instance stands, for a watcher to catch up with.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) instance: String,
    pub(crate) generation: u64,
    pub(crate) pid: i32,
    pub(crate) log_len: u64,
    /// Where the spool starts: what lies before was consumed and given back.
    pub(crate) consumed: u64,
    pub(crate) exit: Option<ExitStatus>,
    pub(crate) path: PathBuf,
}

/// The pipes of a freshly spawned instance, for the caller to pump.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: i32,
    pub(crate) generation: u64,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
}

/// An instance a previous keeper started and that still runs, taken over by this one: the
/// caller pumps its output FIFOs and watches its pidfd.
#[derive(Debug)]
pub(crate) struct Adopted {
    pub(crate) name: String,
    pub(crate) generation: u64,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
    pub(crate) pidfd: OwnedFd,
}

/// All instances this keeper started and has not forgotten.
#[derive(Debug)]
pub(crate) struct Table {
    dir: PathBuf,
    instances: BTreeMap<String, Instance>,
    by_pid: HashMap<i32, String>,
    /// One wake-up per watcher: watchers read the logs themselves, so none can lag.
    watchers: Vec<Arc<Notify>>,
    generations: u64,
}

fn unix_ms() -> u64 {
    unix_nanos() / 1_000_000
}

fn failure(code: ErrorCode, message: impl Into<String>) -> Failure {
    (code, message.into())
}

fn unknown(name: &str) -> Failure {
    failure(
        ErrorCode::UnknownInstance,
        format!("unknown instance `{name}`"),
    )
}

/// The program to execute: a bare name is looked up in the instance's own `PATH` here, once,
/// rather than by the child trying every directory of it in turn. Anything unusual (a name
/// with a slash, a relative `PATH` entry before a match, nothing found) is left to the
/// child's own lookup, which then reports what went wrong.
fn resolve(program: &str, env: &BTreeMap<String, String>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if program.is_empty() || program.contains('/') {
        return PathBuf::from(program);
    }
    // Without PATH, the C library's default.
    let path = env.get("PATH").map_or("/bin:/usr/bin", String::as_str);
    for dir in path.split(':') {
        if !dir.starts_with('/') {
            break;
        }
        let candidate = std::path::Path::new(dir).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return candidate;
        }
    }
    PathBuf::from(program)
}

/// Appends `bytes` at `len`, the log's length in whole records; a write that fails part
/// way (a full disk) is cut back, so the log never holds half a record.
fn write_at_end(log: &mut File, len: u64, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let written = log.write_all(bytes);
    if written.is_err() {
        let _ = log.set_len(len);
        let _ = log.seek(SeekFrom::Start(len));
    }
    written
}

/// Whether any process is left in the group.
fn group_exists(pgid: i32) -> bool {
    !matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

impl Table {
    pub(crate) fn new(dir: PathBuf) -> Table {
        Table {
            dir,
            instances: BTreeMap::new(),
            by_pid: HashMap::new(),
            watchers: Vec::new(),
            generations: 0,
        }
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("instances").join(name).join("output.log")
    }

    /// Records which process group runs `name`, so that a keeper started after this one
    /// died finds it (see [`sweep_orphans`]).
    fn mark(&self, name: &str, pid: i32, started_at_unix_ms: u64) {
        let dir = self.dir.join("instances").join(name);
        let text = format!(
            "{pid} {} {started_at_unix_ms}\n",
            start_time(pid).unwrap_or(0)
        );
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            let tmp = dir.join(".group.tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, dir.join(GROUP_FILE))
        });
        if let Err(e) = written {
            eprintln!("orco keeper: cannot record the group of {name}: {e}");
        }
    }

    /// Starts an instance in its own process group, stdout and stderr on pipes.
    pub(crate) fn spawn(&mut self, name: &str, launch: &Launch) -> Result<Spawned, Failure> {
        check_instance_name(name).map_err(|e| failure(ErrorCode::BadRequest, e.to_string()))?;
        self.refresh_groups();
        if let Some(old) = self.instances.get(name)
            && (old.exit.is_none() || old.group_alive)
        {
            return Err(failure(
                ErrorCode::AlreadyRunning,
                format!("instance `{name}` is still running"),
            ));
        }
        let program = launch
            .program()
            .map_err(|e| failure(ErrorCode::BadRequest, e.to_string()))?;
        // The client names the program when it reports the failure.
        let spawn_error = |message: String| failure(ErrorCode::Spawn, message);
        if let Some(dir) = &launch.workdir
            && !dir.is_dir()
        {
            return Err(spawn_error(format!(
                "working directory {} does not exist",
                dir.display()
            )));
        }
        if self
            .instances
            .get(name)
            .is_some_and(|old| old.log.is_some())
        {
            // The previous run's output is not this run's.
            let _ = std::fs::remove_file(self.log_path(name));
        }

        let instance_dir = self.dir.join("instances").join(name);
        let fifo_error = |e: std::io::Error| {
            failure(
                ErrorCode::Internal,
                format!("cannot make the output pipes of `{name}`: {e}"),
            )
        };
        std::fs::create_dir_all(&instance_dir).map_err(fifo_error)?;
        let (stdout, stdout_writer) =
            output_fifo(&instance_dir, Source::Stdout).map_err(fifo_error)?;
        let (stderr, stderr_writer) =
            output_fifo(&instance_dir, Source::Stderr).map_err(fifo_error)?;

        let mut cmd = std::process::Command::new(resolve(program, &launch.env));
        // The program sees the name it was given as its argv[0], not the path found.
        cmd.arg0(program)
            .args(&launch.argv[1..])
            .env_clear()
            .envs(&launch.env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout_writer))
            .stderr(Stdio::from(stderr_writer))
            .process_group(0);
        if let Some(dir) = &launch.workdir {
            cmd.current_dir(dir);
        }
        let spawned = cmd.spawn();
        // The keeper keeps no write end: the output ends when the instance's last writer does.
        drop(cmd);
        let child = spawned.map_err(|e| spawn_error(e.to_string()))?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        self.generations += 1;
        let generation = self.generations;
        let started_at_unix_ms = unix_ms();
        // Lines the last run lost (a full disk) are told at the head of this run's output.
        let carried = self.instances.get(name).map_or(0, |old| old.dropped);
        self.instances.insert(
            name.to_string(),
            Instance {
                pid,
                generation,
                started_at_unix_ms,
                exit: None,
                group_alive: true,
                log: None,
                log_len: 0,
                consumed: 0,
                dropped: carried,
                unwritable: carried > 0,
                stop: None,
                adopted: false,
            },
        );
        self.by_pid.insert(pid, name.to_string());
        self.mark(name, pid, started_at_unix_ms);
        // The std `Child` is dropped without waiting: the keeper reaps every child itself.
        Ok(Spawned {
            pid,
            generation,
            stdout: Some(stdout),
            stderr: Some(stderr),
        })
    }

    /// Appends back-to-back records to the instance's log and wakes every watcher.
    pub(crate) fn append_output(&mut self, name: &str, generation: u64, records: &[u8]) {
        let path = self.log_path(name);
        let Some(inst) = self.instances.get_mut(name) else {
            return;
        };
        if inst.generation != generation {
            // A grandchild of a replaced instance still holds the old pipe.
            return;
        }
        if inst.log.is_none() {
            let created = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    File::options()
                        .create(true)
                        .write(true)
                        .truncate(true)
                        .open(&path)
                });
            match created {
                Ok(file) => inst.log = Some(file),
                Err(e) => {
                    eprintln!(
                        "orco keeper: cannot create {}: {e}; lines of {name} dropped",
                        path.display()
                    );
                    inst.dropped = inst.dropped.saturating_add(count_records(records));
                    inst.unwritable = true;
                    return;
                }
            }
        }
        let pending = inst.log_len.saturating_sub(inst.consumed);
        let room = SPOOL_CAP.saturating_sub(pending);
        let notice = if inst.dropped > 0 {
            DROPPED_NOTICE_ROOM
        } else {
            0
        };
        if records.len() as u64 + notice > room {
            inst.dropped = inst.dropped.saturating_add(count_records(records));
            return;
        }
        Self::announce_dropped(name, inst);
        let Some(log) = inst.log.as_mut() else {
            return;
        };
        if let Err(e) = write_at_end(log, inst.log_len, records) {
            // Lost, but never silently: counted, and announced once the disk takes it.
            inst.dropped = inst.dropped.saturating_add(count_records(records));
            inst.unwritable = true;
            eprintln!("orco keeper: cannot append output of {name}: {e}; lines dropped");
            return;
        }
        inst.log_len += records.len() as u64;
        self.wake();
    }

    /// Writes the record of lines dropped so far, if any; they stay counted if it fails.
    fn announce_dropped(name: &str, inst: &mut Instance) {
        if inst.dropped == 0 {
            return;
        }
        let Some(log) = inst.log.as_mut() else {
            return;
        };
        let record = dropped_record(inst.dropped, inst.unwritable);
        match write_at_end(log, inst.log_len, &record) {
            Ok(()) => {
                inst.log_len += record.len() as u64;
                inst.dropped = 0;
                inst.unwritable = false;
            }
            Err(e) => eprintln!("orco keeper: cannot append output of {name}: {e}"),
        }
    }

    /// The engine has kept `name`'s output up to `offset`: the spool lets go of it, and
    /// lines dropped meanwhile are announced now that there is room.
    pub(crate) fn consumed(
        &mut self,
        name: &str,
        offset: u64,
        read_at: u64,
    ) -> Result<(), Failure> {
        let inst = self.instances.get_mut(name).ok_or_else(|| unknown(name))?;
        if read_at < inst.started_at_unix_ms.saturating_mul(1_000_000) {
            // About an earlier run of the name: its output log is gone.
            return Ok(());
        }
        let offset = offset.min(inst.log_len);
        if offset > inst.consumed {
            if let Some(log) = &inst.log {
                punch(log, inst.consumed, offset);
            }
            inst.consumed = offset;
        }
        if inst.dropped > 0 {
            Self::announce_dropped(name, inst);
            self.wake();
        }
        Ok(())
    }

    fn wake(&mut self) {
        // A watcher whose task ended holds the only other reference no more.
        self.watchers.retain(|w| Arc::strong_count(w) > 1);
        for w in &self.watchers {
            w.notify_one();
        }
    }

    /// Reaps every ended child: instances record their exit, adopted orphans just vanish.
    pub(crate) fn reap(&mut self) {
        let mut reaped = false;
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    eprintln!("orco keeper: waitpid failed: {e}");
                    break;
                }
                Ok(status) => status,
            };
            reaped = true;
            let (Some(pid), Some(exit)) = (status.pid(), ExitStatus::from_wait(status)) else {
                continue;
            };
            let Some(name) = self.by_pid.remove(&pid.as_raw()) else {
                continue;
            };
            if let Some(inst) = self.instances.get_mut(&name) {
                inst.exit = Some(Exit {
                    status: exit,
                    at_unix_ms: unix_ms(),
                });
            }
        }
        self.refresh_groups();
        if reaped {
            self.wake();
        }
    }

    /// Notices groups that emptied and answers the stops waiting for them.
    fn refresh_groups(&mut self) {
        for inst in self.instances.values_mut() {
            if inst.exit.is_some() && inst.group_alive {
                // An adopted leader may stay a zombie of an init that does not reap.
                let gone = if inst.adopted {
                    !group_alive_unreaped(inst.pid)
                } else {
                    !group_exists(inst.pid)
                };
                if gone {
                    inst.group_alive = false;
                }
            }
            if let (Some(exit), false) = (inst.exit, inst.group_alive)
                && let Some(stop) = inst.stop.take()
            {
                let stopped = Stopped {
                    status: exit.status,
                    forced: stop.forced,
                };
                for waiter in stop.waiters {
                    let _ = waiter.send(stopped);
                }
            }
        }
    }

    fn send_signal(inst: &mut Instance, signal: Signal) {
        let pid = Pid::from_raw(inst.pid);
        if !inst.group_alive {
            return;
        }
        match killpg(pid, signal) {
            // The leader left its group (setsid): it is still ours to signal.
            Err(Errno::ESRCH) if inst.exit.is_none() => {
                let _ = kill(pid, signal);
            }
            Err(Errno::ESRCH) => inst.group_alive = false,
            _ => {}
        }
    }

    /// Sends a signal to the instance's group.
    pub(crate) fn signal(&mut self, name: &str, signal: Signal) -> Result<(), Failure> {
        self.refresh_groups();
        let inst = self.instances.get_mut(name).ok_or_else(|| unknown(name))?;
        Self::send_signal(inst, signal);
        Ok(())
    }

    /// Starts (or joins) a stop. The caller arms [`Table::escalate`] after `timeout` when
    /// the answer is `Later` and `armed` is true.
    pub(crate) fn stop(
        &mut self,
        name: &str,
        signal: Signal,
    ) -> Result<(StopAnswer, Option<u64>), Failure> {
        self.refresh_groups();
        let inst = self.instances.get_mut(name).ok_or_else(|| unknown(name))?;
        if let (Some(exit), false) = (inst.exit, inst.group_alive) {
            let stopped = Stopped {
                status: exit.status,
                forced: false,
            };
            return Ok((StopAnswer::Now(stopped), None));
        }
        let (tx, rx) = oneshot::channel();
        if let Some(stop) = &mut inst.stop {
            stop.waiters.push(tx);
            return Ok((StopAnswer::Later(rx), None));
        }
        inst.stop = Some(Stopping {
            forced: false,
            waiters: vec![tx],
        });
        Self::send_signal(inst, signal);
        let generation = inst.generation;
        // The signal may already have emptied the group (e.g. the leader had exited).
        self.refresh_groups();
        Ok((StopAnswer::Later(rx), Some(generation)))
    }

    /// The stop timeout passed: SIGKILL whatever is left of the group.
    pub(crate) fn escalate(&mut self, name: &str, generation: u64) {
        if let Some(inst) = self.instances.get_mut(name)
            && inst.generation == generation
            && let Some(stop) = &mut inst.stop
        {
            stop.forced = true;
            Self::send_signal(inst, Signal::SIGKILL);
        }
        self.refresh_groups();
    }

    pub(crate) fn list(&mut self) -> Vec<InstanceInfo> {
        self.refresh_groups();
        self.instances
            .iter()
            .map(|(name, inst)| InstanceInfo {
                instance: name.clone(),
                pid: inst.pid,
                started_at_unix_ms: inst.started_at_unix_ms,
                exit: inst.exit,
                group_alive: inst.group_alive,
                output_len: inst.log_len,
                container: None,
            })
            .collect()
    }

    /// How many instances have a process left.
    pub(crate) fn alive(&mut self) -> usize {
        self.refresh_groups();
        self.instances.values().filter(|i| i.group_alive).count()
    }

    pub(crate) fn kill_all(&mut self) {
        for inst in self.instances.values_mut() {
            Self::send_signal(inst, Signal::SIGKILL);
        }
    }

    pub(crate) fn forget(&mut self, name: &str) -> Result<(), Failure> {
        self.refresh_groups();
        let inst = self.instances.get(name).ok_or_else(|| unknown(name))?;
        if inst.exit.is_none() || inst.group_alive {
            return Err(failure(
                ErrorCode::AlreadyRunning,
                format!("instance `{name}` is still running: stop it before forgetting it"),
            ));
        }
        if self.instances.remove(name).is_some()
            && let Some(dir) = self.log_path(name).parent()
        {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    /// Registers a watcher: its wake-up, woken by every output and exit.
    pub(crate) fn watch(&mut self) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        self.watchers.push(notify.clone());
        notify
    }

    /// Where every instance stands.
    pub(crate) fn snapshot(&self) -> Vec<Snapshot> {
        self.instances
            .iter()
            .map(|(name, inst)| Snapshot {
                instance: name.clone(),
                generation: inst.generation,
                pid: inst.pid,
                log_len: inst.log_len,
                consumed: inst.consumed,
                exit: inst.exit.map(|e| e.status),
                path: self.log_path(name),
            })
            .collect()
    }
}

/// The file in an instance's directory that names its process group: `PID STARTTIME`.
pub(crate) const GROUP_FILE: &str = "group";

/// When a process started (field 22 of `/proc/PID/stat`, in clock ticks since boot), which
/// tells a process from a later one that reuses its pid.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the command: state is field 3, start time field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The FIFO that carries one output stream of an instance: `DIR/instances/NAME/stdout` or
/// `stderr`. Returns the keeper's read end and the instance's end. The instance's end is
/// opened read-write, so the instance itself counts as a reader: when the keeper dies, its
/// writes wait in the pipe (at most the pipe's size, then they block) instead of raising
/// SIGPIPE, and the next keeper reopens the FIFO and reads on. The read end sees the end
/// of the stream once every process holding the instance's end has closed it.
fn output_fifo(dir: &Path, source: Source) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    let path = dir.join(fifo_name(source));
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR)?;
    let reader = open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let writer = open(&path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok((reader, writer))
}

fn fifo_name(source: Source) -> &'static str {
    match source {
        Source::Stdout => "stdout",
        Source::Stderr => "stderr",
    }
}

/// What a previous keeper recorded about one instance: `PID STARTTIME [STARTED_MS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    pid: i32,
    start_time: u64,
    started_at_unix_ms: u64,
}

impl Record {
    fn parse(text: &str) -> Option<Record> {
        let mut fields = text.split_whitespace();
        let pid = fields.next()?.parse().ok()?;
        let start_time = fields.next()?.parse().ok()?;
        let started_at_unix_ms = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        Some(Record {
            pid,
            start_time,
            started_at_unix_ms,
        })
    }
}

/// The state field of `/proc/PID/stat` and, for a zombie, its exit code field (52, the
/// `waitpid` status). `None` when the process is gone (reaped).
fn proc_state(pid: i32) -> Option<(char, Option<i32>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 52 overall is the 50th after the command (fields 1 and 2 precede it).
    let code = fields.get(49).and_then(|f| f.parse().ok());
    Some((state, code))
}

/// How an adopted leader ended: read from `/proc` while it is a zombie (its parent, not
/// being this keeper, may not have reaped it yet); unknown once someone else reaped it.
pub(crate) fn adopted_exit_status(pid: i32) -> ExitStatus {
    match proc_state(pid) {
        Some(('Z', Some(raw))) if raw & 0x7f == 0 => ExitStatus::Code((raw >> 8) & 0xff),
        Some(('Z', Some(raw))) => ExitStatus::Signal(raw & 0x7f),
        _ => ExitStatus::Unknown,
    }
}

impl Table {
    /// Takes over the instances that a previous keeper of this directory recorded and that
    /// still run: a keeper that died (SIGKILL, a crash) leaves them behind, their output in
    /// FIFOs this keeper reopens. A recorded leader counts only if its start time matches
    /// (not a reused pid). What cannot be taken over (the leader is gone but its group is
    /// not, or a recording without FIFOs) is stopped, so that a new keeper never runs a
    /// second process beside one of them. Called before the keeper accepts any request.
    /// Returns the adopted instances (for the caller to pump and watch) and the names of
    /// those stopped.
    pub(crate) fn adopt_recorded(&mut self) -> (Vec<Adopted>, Vec<String>) {
        let mut adopted = Vec::new();
        let mut stopped = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.dir.join("instances")) else {
            return (adopted, stopped);
        };
        let mut groups = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(record) = std::fs::read_to_string(entry.path().join(GROUP_FILE))
                .ok()
                .as_deref()
                .and_then(Record::parse)
            else {
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            };
            let pid = record.pid;
            let started = start_time(pid);
            let leader_runs = started == Some(record.start_time)
                && proc_state(pid).is_some_and(|(state, _)| state != 'Z');
            if pid > 1 && leader_runs {
                match self.take_over(&name, &entry.path(), record) {
                    Ok(taken) => {
                        adopted.push(taken);
                        continue;
                    }
                    Err(e) => eprintln!("orco keeper: cannot take over {name}: {e}"),
                }
            }
            // A group whose leader is gone can only be the recorded one (a pid is not
            // reused while it names a group); a leader that runs but cannot be taken over
            // is stopped with its group.
            let ours = started.is_none_or(|now| now == record.start_time);
            if pid > 1 && ours && group_alive_unreaped(pid) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                groups.push(pid);
                stopped.push(name);
            }
            let _ = std::fs::remove_dir_all(entry.path());
        }
        // They are not our children: whoever reaps them, wait (bounded) until they are gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while groups.iter().any(|&g| group_alive_unreaped(g))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        (adopted, stopped)
    }

    /// Reopens an instance's FIFOs and log and enters it in the table.
    fn take_over(&mut self, name: &str, dir: &Path, record: Record) -> std::io::Result<Adopted> {
        use nix::fcntl::{OFlag, open};
        use nix::sys::stat::Mode;
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let stdout = open(&dir.join(fifo_name(Source::Stdout)), flags, Mode::empty())?;
        let stderr = open(&dir.join(fifo_name(Source::Stderr)), flags, Mode::empty())?;
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(record.pid).ok_or(std::io::ErrorKind::InvalidInput)?,
            rustix::process::PidfdFlags::NONBLOCK,
        )?;
        let log_path = self.log_path(name);
        let log = File::options().append(true).open(&log_path).ok();
        let log_len = log
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        self.generations += 1;
        let generation = self.generations;
        self.instances.insert(
            name.to_string(),
            Instance {
                pid: record.pid,
                generation,
                started_at_unix_ms: record.started_at_unix_ms,
                exit: None,
                group_alive: true,
                log,
                log_len,
                consumed: 0,
                dropped: 0,
                unwritable: false,
                stop: None,
                adopted: true,
            },
        );
        Ok(Adopted {
            name: name.to_string(),
            generation,
            stdout,
            stderr,
            pidfd,
        })
    }

    /// Whether the leader of an adopted instance still runs (not gone, not a zombie).
    pub(crate) fn leader_runs(&self, name: &str, generation: u64) -> bool {
        self.instances.get(name).is_some_and(|inst| {
            inst.generation == generation
                && proc_state(inst.pid).is_some_and(|(state, _)| state != 'Z')
        })
    }

    /// The leader of an adopted instance ended (its pidfd became readable).
    pub(crate) fn adopted_exited(&mut self, name: &str, generation: u64) {
        let Some(inst) = self.instances.get_mut(name) else {
            return;
        };
        if inst.generation != generation || inst.exit.is_some() {
            return;
        }
        inst.exit = Some(Exit {
            status: adopted_exit_status(inst.pid),
            at_unix_ms: unix_ms(),
        });
        self.refresh_groups();
        self.wake();
    }
}

/// Whether a group has a member that is not a zombie.
fn group_alive_unreaped(pgid: i32) -> bool {
    if !group_exists(pgid) {
        return false;
    }
    // A zombie still counts for killpg: look for a live member.
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')').is_some_and(|(_, rest)| {
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.first() != Some(&"Z")
                    && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            })
        })
    })
}

/// Parses a stop timeout in milliseconds.
pub(crate) fn timeout(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Encodes the lines of one read (or the end of the stream) into back-to-back records.
pub(crate) fn encode_lines(
    splitter: &mut crate::output::LineSplitter,
    data: Option<&[u8]>,
    source: Source,
) -> Vec<u8> {
    let at = unix_nanos();
    let mut records = Vec::new();
    let mut emit = |line: &[u8], continued: bool| {
        encode_record(&mut records, at, source, continued, line);
    };
    match data {
        Some(data) => splitter.push(data, &mut emit),
        None => splitter.finish(&mut emit),
    }
    records
}

//! The node keeper: one small process per node that is the parent and subreaper of every
//! instance, holds their output pipes, logs their output and records their exits, so that
//! instances outlive the engine and a restarted engine re-attaches to them.
//!
//! The engine talks to it over `DIR/keeper.sock` with the [`crate::protocol`]. The keeper
//! holds `DIR/keeper.lock` (one keeper per directory), keeps each instance's output in
//! `DIR/instances/NAME/output.log` (created at its first line; a spool: what the engine says it
//! has consumed is given back to the file system, and at most [`SPOOL_CAP`] bytes wait to be
//! read), and runs on one thread: a SIGCHLD wakes the reaper,
//! which records the exit and tells watchers at once; nothing polls.
//!
//! Instances write their output into FIFOs in their directory (`stdout`, `stderr`), which
//! they hold open read-write: a keeper that dies takes no output pipe with it. The next
//! keeper finds the instances recorded in the directory, reopens their FIFOs and log, and
//! takes them over (it sees their end through a pidfd, not being their parent).

mod table;

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::fcntl::{Flock, FlockArg};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::unix::pipe;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, mpsc};

use crate::error::RuntimeError;
use crate::output::{LineSplitter, RECORD_HEADER, Source, decode_record};
use crate::protocol::{
    Answer, ErrorCode, KIND_JSON, Op, Request, ToClient, VERSION, json_frame, output_frame,
    read_frame,
};
use crate::status::parse_signal;
pub use table::SPOOL_CAP;
use table::{StopAnswer, Table};

/// How a keeper runs.
#[derive(Debug, Clone)]
pub struct KeeperConfig {
    /// Its state directory: socket, lock and output logs.
    pub dir: PathBuf,
    /// Leave the starter's session (`setsid`), so that a terminal's hangup or Ctrl-C never
    /// reaches the keeper or its instances.
    pub detach: bool,
    /// Print `ready VERSION PID` on stdout once the socket accepts, then point stdout at
    /// /dev/null (the starter waits for that line).
    pub notify_ready: bool,
}

impl KeeperConfig {
    /// A keeper on `dir` that detaches and notifies readiness, as the client starts it.
    pub fn new(dir: impl Into<PathBuf>) -> KeeperConfig {
        KeeperConfig {
            dir: dir.into(),
            detach: true,
            notify_ready: true,
        }
    }

    /// Parses the keeper's command line: `--dir DIR [--foreground]`.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<KeeperConfig, String> {
        let mut dir = None;
        let mut detach = true;
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--dir" => dir = it.next(),
                "--foreground" => detach = false,
                other => return Err(format!("unknown keeper argument `{other}`")),
            }
        }
        let dir = dir.ok_or("the keeper needs --dir DIR")?;
        Ok(KeeperConfig {
            detach,
            ..KeeperConfig::new(dir)
        })
    }

    /// The socket the keeper listens on.
    pub fn socket(&self) -> PathBuf {
        socket_path(&self.dir)
    }
}

/// The keeper socket in a state directory.
pub fn socket_path(dir: &std::path::Path) -> PathBuf {
    dir.join("keeper.sock")
}

#[derive(Debug)]
struct Shared {
    table: Mutex<Table>,
    shutdown: Notify,
    /// The fence: a deadline on the boot clock and the instances it kills.
    fence: Mutex<Option<(u64, Vec<String>)>>,
    fence_moved: Notify,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs a keeper until a client asks it to shut down. Returns
/// [`RuntimeError::KeeperRunning`] when another keeper holds the directory.
pub fn run(config: KeeperConfig) -> Result<(), RuntimeError> {
    let dir = &config.dir;
    std::fs::create_dir_all(dir)
        .map_err(RuntimeError::io(format!("cannot create {}", dir.display())))?;
    let lock_path = dir.join("keeper.lock");
    let lock_file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(RuntimeError::io(format!(
            "cannot open {}",
            lock_path.display()
        )))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| RuntimeError::KeeperRunning { dir: dir.clone() })?;
    if config.detach {
        // Fails only when already a session leader, which is as good.
        let _ = nix::unistd::setsid();
    }
    crate::own_log::cap_stderr();
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| RuntimeError::Keeper(format!("cannot become a subreaper: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::io("cannot start the keeper's event loop"))?;
    runtime.block_on(serve(config))
}

async fn serve(config: KeeperConfig) -> Result<(), RuntimeError> {
    // Listen for SIGCHLD before the first spawn, so no exit goes unnoticed.
    let mut sigchld =
        signal(SignalKind::child()).map_err(RuntimeError::io("cannot listen for SIGCHLD"))?;
    let socket = config.socket();
    // Before anything is spawned: what a keeper that died left running is taken over or
    // stopped, so that no instance ever runs twice.
    let mut table = Table::new(config.dir.clone());
    let (adopted, stopped) = table.adopt_recorded();
    for name in stopped {
        eprintln!("orco keeper: stopped {name}, left running by a keeper that died");
    }
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(RuntimeError::io(format!(
        "cannot listen on {}",
        socket.display()
    )))?;
    let shared = Arc::new(Shared {
        table: Mutex::new(table),
        shutdown: Notify::new(),
        fence: Mutex::new(None),
        fence_moved: Notify::new(),
    });
    tokio::spawn(enforce_fence(shared.clone()));
    for taken in adopted {
        let table::Adopted {
            name,
            generation,
            stdout,
            stderr,
            pidfd,
        } = taken;
        for (fd, source) in [(stdout, Source::Stdout), (stderr, Source::Stderr)] {
            tokio::spawn(pump(shared.clone(), name.clone(), generation, source, fd));
        }
        tokio::spawn(watch_adopted(shared.clone(), name, generation, pidfd));
    }
    if config.notify_ready {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "ready {VERSION} {}", std::process::id());
        let _ = out.flush();
        if let Ok(null) = std::fs::File::options().write(true).open("/dev/null") {
            let _ = nix::unistd::dup2_stdout(&null);
        }
    }
    loop {
        tokio::select! {
            _ = sigchld.recv() => shared.table().reap(),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(shared.clone(), stream));
                }
                Err(e) => eprintln!("orco keeper: accept failed: {e}"),
            },
            () = shared.shutdown.notified() => break,
        }
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// How long a `shutdown` with `kill_all` waits for the killed instances to be reaped.
const SHUTDOWN_REAP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// An outgoing frame; an empty one means "shut the keeper down once what precedes is sent".
type Frame = Vec<u8>;

async fn connection(shared: Arc<Shared>, stream: UnixStream) {
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Frame>(1024);
    tokio::spawn(write_loop(writer, rx, shared.clone()));
    let mut greeted = false;
    loop {
        let (kind, payload) = match read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                let _ = reply_err(&tx, 0, ErrorCode::BadRequest, format!("bad frame: {e}")).await;
                break;
            }
        };
        let request: Request = match (kind, serde_json::from_slice(&payload)) {
            (KIND_JSON, Ok(request)) => request,
            (_, Err(e)) => {
                let message = format!("cannot parse the request: {e}");
                let _ = reply_err(&tx, 0, ErrorCode::BadRequest, message).await;
                break;
            }
            (other, _) => {
                let message = format!("unexpected frame kind {other}");
                let _ = reply_err(&tx, 0, ErrorCode::BadRequest, message).await;
                break;
            }
        };
        if !greeted && !matches!(request.op, Op::Hello { .. }) {
            let message = "send hello first".to_string();
            let _ = reply_err(&tx, request.id, ErrorCode::Version, message).await;
            break;
        }
        if let Op::Hello { .. } = request.op {
            greeted = true;
        }
        if handle(&shared, request, &tx).await.is_err() {
            break;
        }
    }
}

async fn write_loop(
    writer: tokio::net::unix::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Frame>,
    shared: Arc<Shared>,
) {
    let mut writer = BufWriter::new(writer);
    while let Some(frame) = rx.recv().await {
        if frame.is_empty() {
            let _ = writer.flush().await;
            shared.shutdown.notify_one();
            return;
        }
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        if rx.is_empty() && writer.flush().await.is_err() {
            return;
        }
    }
}

type Closed = mpsc::error::SendError<Frame>;

async fn reply(tx: &mpsc::Sender<Frame>, id: u64, answer: Answer) -> Result<(), Closed> {
    match json_frame(&ToClient::Reply { id, answer }) {
        Ok(frame) => tx.send(frame).await,
        Err(e) => reply_err(tx, id, ErrorCode::Internal, e.to_string()).await,
    }
}

async fn reply_err(
    tx: &mpsc::Sender<Frame>,
    id: u64,
    code: ErrorCode,
    message: String,
) -> Result<(), Closed> {
    let failed = ToClient::Failed { id, code, message };
    match json_frame(&failed) {
        Ok(frame) => tx.send(frame).await,
        Err(_) => Ok(()),
    }
}

async fn answer(
    tx: &mpsc::Sender<Frame>,
    id: u64,
    result: Result<Answer, table::Failure>,
) -> Result<(), Closed> {
    match result {
        Ok(a) => reply(tx, id, a).await,
        Err((code, message)) => reply_err(tx, id, code, message).await,
    }
}

async fn handle(
    shared: &Arc<Shared>,
    request: Request,
    tx: &mpsc::Sender<Frame>,
) -> Result<(), Closed> {
    let id = request.id;
    let bad_signal = |e: RuntimeError| (ErrorCode::BadRequest, e.to_string());
    match request.op {
        // A client of the previous version never sends what it lacks.
        Op::Hello { version } if version == VERSION || version == 1 => {
            let pid = i32::try_from(std::process::id()).unwrap_or(0);
            reply(tx, id, Answer::Welcome { version, pid }).await
        }
        Op::Hello { version } => {
            let message = format!("the keeper speaks protocol version {VERSION}, not {version}");
            reply_err(tx, id, ErrorCode::Version, message).await
        }
        Op::Spawn { instance, launch } => {
            let spawned = shared.table().spawn(&instance, &launch);
            let result = spawned.map(|s| {
                for (fd, source) in [(s.stdout, Source::Stdout), (s.stderr, Source::Stderr)] {
                    if let Some(fd) = fd {
                        let name = instance.clone();
                        tokio::spawn(pump(shared.clone(), name, s.generation, source, fd));
                    }
                }
                Answer::Spawned { pid: s.pid }
            });
            answer(tx, id, result).await
        }
        Op::Signal { instance, signal } => {
            let result = parse_signal(&signal)
                .map_err(bad_signal)
                .and_then(|sig| shared.table().signal(&instance, sig))
                .map(|()| Answer::Done);
            answer(tx, id, result).await
        }
        Op::Stop {
            instance,
            signal,
            timeout_ms,
        } => {
            let started = parse_signal(&signal)
                .map_err(bad_signal)
                .and_then(|sig| shared.table().stop(&instance, sig));
            match started {
                Err(failure) => answer(tx, id, Err(failure)).await,
                Ok((StopAnswer::Now(stopped), _)) => {
                    reply(tx, id, Answer::Stopped { stopped }).await
                }
                Ok((StopAnswer::Later(rx), armed)) => {
                    if let Some(generation) = armed {
                        let shared = shared.clone();
                        let name = instance.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(table::timeout(timeout_ms)).await;
                            shared.table().escalate(&name, generation);
                        });
                    }
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let result = rx.await.map(|stopped| Answer::Stopped { stopped });
                        let result = result.map_err(|_| {
                            let message = format!(
                                "the stop of `{instance}` was abandoned: the instance was replaced"
                            );
                            (ErrorCode::Internal, message)
                        });
                        let _ = answer(&tx, id, result).await;
                    });
                    Ok(())
                }
            }
        }
        Op::List => {
            let instances = shared.table().list();
            reply(tx, id, Answer::Instances { instances }).await
        }
        Op::Consumed {
            instance,
            offset,
            read_at,
        } => {
            let result = shared
                .table()
                .consumed(&instance, offset, read_at)
                .map(|()| Answer::Done);
            answer(tx, id, result).await
        }
        Op::Forget { instance } => {
            let result = shared.table().forget(&instance).map(|()| Answer::Done);
            answer(tx, id, result).await
        }
        Op::Watch { from } => {
            let (notify, snapshot) = {
                let mut table = shared.table();
                (table.watch(), table.snapshot())
            };
            let cursors = snapshot
                .into_iter()
                .map(|s| {
                    let offset = from.get(&s.instance).copied().unwrap_or(s.log_len);
                    // What was consumed is gone from the spool.
                    let offset = offset.max(s.consumed);
                    (s.instance, Cursor::new(s.generation, offset))
                })
                .collect();
            reply(tx, id, Answer::Done).await?;
            tokio::spawn(forward(shared.clone(), notify, cursors, tx.clone()));
            Ok(())
        }
        Op::Fence {
            deadline_ms,
            instances,
        } => {
            *shared.fence.lock().unwrap_or_else(PoisonError::into_inner) =
                (!instances.is_empty()).then_some((deadline_ms, instances));
            shared.fence_moved.notify_one();
            reply(tx, id, Answer::Done).await
        }
        Op::Shutdown { kill_all } => {
            let busy = shared.table().alive();
            if busy > 0 && kill_all {
                // Kill, then reap everything before exiting, so nothing is left for an init
                // that may not reap. Bounded: a process stuck in the kernel is not waited for.
                let woken = shared.table().watch();
                shared.table().kill_all();
                let reaped = async {
                    while shared.table().alive() > 0 {
                        woken.notified().await;
                    }
                };
                let _ = tokio::time::timeout(SHUTDOWN_REAP_LIMIT, reaped).await;
            } else if busy > 0 {
                let message = format!("{busy} instance(s) still run");
                return reply_err(tx, id, ErrorCode::Busy, message).await;
            }
            reply(tx, id, Answer::Done).await?;
            tx.send(Vec::new()).await
        }
    }
}

/// Milliseconds on the boot clock (runs during suspend).
fn boot_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1000 + u64::try_from(t.tv_nsec).unwrap_or(0) / 1_000_000
}

/// Kills the fenced instances when the fence's deadline passes: a node whose agent hangs or
/// died, and so stopped pushing the deadline forward, stops its instances by itself before
/// the control plane places them elsewhere.
async fn enforce_fence(shared: Arc<Shared>) {
    loop {
        let armed = shared
            .fence
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let wait = match &armed {
            None => std::time::Duration::from_secs(3600),
            Some((deadline, instances)) => {
                let now = boot_ms();
                if now >= *deadline {
                    let mut table = shared.table();
                    for name in instances {
                        let _ = table.signal(name, nix::sys::signal::Signal::SIGKILL);
                    }
                    drop(table);
                    eprintln!(
                        "orco keeper: the node's lease ended: {} instance(s) killed",
                        instances.len()
                    );
                    *shared.fence.lock().unwrap_or_else(PoisonError::into_inner) = None;
                    continue;
                }
                // Checked again at least every 100 ms: the boot clock runs on in a suspend
                // that the monotonic sleep does not count.
                std::time::Duration::from_millis((deadline - now).min(100))
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.fence_moved.notified() => {}
        }
    }
}

/// How far a watcher has read one instance.
#[derive(Debug)]
struct Cursor {
    generation: u64,
    offset: u64,
    exit_sent: bool,
}

impl Cursor {
    fn new(generation: u64, offset: u64) -> Cursor {
        Cursor {
            generation,
            offset,
            exit_sent: false,
        }
    }
}

/// Feeds one watcher: whenever woken, sends every instance's log from the watcher's
/// cursor to its end, then its exit once. The logs are the buffer: a slow watcher falls
/// behind on disk, never in memory, and never slows the keeper or the instances.
async fn forward(
    shared: Arc<Shared>,
    notify: Arc<Notify>,
    mut cursors: HashMap<String, Cursor>,
    tx: mpsc::Sender<Frame>,
) {
    loop {
        let snapshot = shared.table().snapshot();
        cursors.retain(|name, _| snapshot.iter().any(|s| &s.instance == name));
        for snap in snapshot {
            let cursor = cursors
                .entry(snap.instance.clone())
                .or_insert_with(|| Cursor::new(snap.generation, 0));
            if cursor.generation != snap.generation {
                *cursor = Cursor::new(snap.generation, 0);
            }
            cursor.offset = cursor.offset.max(snap.consumed);
            if cursor.offset < snap.log_len {
                match send_log(&snap, cursor.offset, &tx).await {
                    Ok(offset) => cursor.offset = offset,
                    Err(_) => return,
                }
            }
            if let (Some(status), false) = (snap.exit, cursor.exit_sent) {
                cursor.exit_sent = true;
                let exited = ToClient::Exited {
                    instance: snap.instance.clone(),
                    pid: snap.pid,
                    status,
                };
                let Ok(frame) = json_frame(&exited) else {
                    continue;
                };
                if tx.send(frame).await.is_err() {
                    return;
                }
            }
        }
        notify.notified().await;
    }
}

/// Sends the records of a log from `from` up to the snapshot's length; returns where it
/// stopped. A `from` that is not a record boundary skips to the end.
async fn send_log(
    snap: &table::Snapshot,
    from: u64,
    tx: &mpsc::Sender<Frame>,
) -> Result<u64, Closed> {
    let opened =
        std::fs::File::open(&snap.path).and_then(|mut f| f.seek(SeekFrom::Start(from)).map(|_| f));
    let Ok(file) = opened else {
        return Ok(snap.log_len);
    };
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut offset = from;
    let mut record = Vec::new();
    while offset < snap.log_len {
        record.resize(RECORD_HEADER, 0);
        if reader.read_exact(&mut record).is_err() {
            return Ok(snap.log_len);
        }
        let len = u32::from_le_bytes([record[10], record[11], record[12], record[13]]) as usize;
        if len > crate::output::MAX_LINE {
            return Ok(snap.log_len);
        }
        record.resize(RECORD_HEADER + len, 0);
        if reader.read_exact(&mut record[RECORD_HEADER..]).is_err()
            || decode_record(&record, &snap.instance, offset).is_none()
        {
            return Ok(snap.log_len);
        }
        tx.send(output_frame(&snap.instance, offset, &record))
            .await?;
        offset += record.len() as u64;
    }
    Ok(offset)
}

/// Waits for the leader of an adopted instance to end (its pidfd turns readable) and
/// records the exit: the keeper is not its parent, so no SIGCHLD tells it.
async fn watch_adopted(shared: Arc<Shared>, name: String, generation: u64, pidfd: OwnedFd) {
    // Deprecated as unsound for a borrowed fd; here the AsyncFd owns the pidfd, so it cannot
    // be closed while registered, and the safe constructor is the one without `unsafe`.
    #[allow(deprecated)]
    let registered = tokio::io::unix::AsyncFd::with_interest(pidfd, tokio::io::Interest::READABLE);
    match registered {
        Ok(fd) => {
            let _ = fd.readable().await;
        }
        Err(e) => {
            // Cannot wait for it: poll instead, rarely (a kernel without pidfd polling).
            eprintln!("orco keeper: cannot watch {name} ({e}): polling its end");
            while shared.table().leader_runs(&name, generation) {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
    shared.table().adopted_exited(&name, generation);
}

/// Reads one output pipe of an instance into its log until every writer has closed it.
async fn pump(shared: Arc<Shared>, name: String, generation: u64, source: Source, fd: OwnedFd) {
    let Ok(mut pipe) = pipe::Receiver::from_owned_fd(fd) else {
        eprintln!("orco keeper: cannot read the output of {name}");
        return;
    };
    let mut splitter = LineSplitter::default();
    loop {
        // A fresh buffer per read: an idle instance holds no buffer at all.
        let mut buf = Vec::with_capacity(4096);
        match pipe.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {
                let records = table::encode_lines(&mut splitter, Some(&buf), source);
                if !records.is_empty() {
                    shared.table().append_output(&name, generation, &records);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let records = table::encode_lines(&mut splitter, None, source);
    if !records.is_empty() {
        shared.table().append_output(&name, generation, &records);
    }
}

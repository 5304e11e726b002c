//! The process runtime: instances run under the node keeper, reached over its socket.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};

use crate::error::RuntimeError;
use crate::keeper::socket_path;
use crate::launch::Launch;
use crate::protocol::{
    Answer, ErrorCode, KIND_JSON, KIND_OUTPUT, Op, Request, ToClient, VERSION, decode_output,
    json_frame, read_frame,
};
use crate::runtime::{InstanceInfo, Runtime, RuntimeEvent, Started, Stopped};

/// How long a freshly started keeper may take to say it is ready.
const KEEPER_READY_TIMEOUT: Duration = Duration::from_secs(10);

type Pending = HashMap<u64, oneshot::Sender<Result<Answer, RuntimeError>>>;

/// The process runtime: a connection to the node keeper that runs the instances. Cheap to
/// clone; requests are multiplexed, so a slow stop never holds up another call.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    keeper_pid: i32,
    /// The protocol version the keeper accepted (1 lacks `consumed`).
    version: u32,
    /// The client says itself what it has consumed (after keeping it durably); otherwise a
    /// watch tells the keeper what it delivered.
    explicit_acks: Arc<AtomicBool>,
    tx: mpsc::Sender<Vec<u8>>,
    /// `None` once the connection is lost.
    pending: Arc<Mutex<Option<Pending>>>,
    /// Woken when the connection is lost.
    lost: Arc<tokio::sync::Notify>,
    next_id: AtomicU64,
}

fn error_of(code: ErrorCode, message: String) -> RuntimeError {
    match code {
        ErrorCode::UnknownInstance => {
            RuntimeError::UnknownInstance(message.trim_start_matches("unknown instance ").into())
        }
        ErrorCode::AlreadyRunning => RuntimeError::Keeper(format!(
            "{message}: stop it before starting or forgetting it"
        )),
        ErrorCode::Spawn => RuntimeError::Spawn {
            program: String::new(),
            message,
        },
        ErrorCode::Busy => RuntimeError::Keeper(format!(
            "{message}: stop them first, or shut down with kill_all"
        )),
        ErrorCode::Version => RuntimeError::Protocol(message),
        ErrorCode::BadRequest | ErrorCode::Internal => RuntimeError::Keeper(message),
    }
}

async fn send_frame(stream: &mut UnixStream, op: Op, id: u64) -> Result<(), RuntimeError> {
    let frame =
        json_frame(&Request { id, op }).map_err(|e| RuntimeError::Protocol(e.to_string()))?;
    stream
        .write_all(&frame)
        .await
        .map_err(|e| RuntimeError::Disconnected(e.to_string()))
}

async fn read_message(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Result<ToClient, RuntimeError> {
    match read_frame(reader).await {
        Ok(Some((KIND_JSON, payload))) => serde_json::from_slice(&payload)
            .map_err(|e| RuntimeError::Protocol(format!("cannot parse a keeper message: {e}"))),
        Ok(Some((kind, _))) => Err(RuntimeError::Protocol(format!(
            "unexpected frame kind {kind}"
        ))),
        Ok(None) => Err(RuntimeError::Disconnected(
            "the keeper closed the connection".into(),
        )),
        Err(e) => Err(RuntimeError::Disconnected(e.to_string())),
    }
}

/// Connects and says hello (in this build's protocol version, else in version 1, which a
/// keeper of the previous build speaks); returns the stream, the keeper's pid and the version.
async fn open(dir: &Path) -> Result<(UnixStream, i32, u32), RuntimeError> {
    let socket = socket_path(dir);
    for version in [VERSION, 1] {
        let mut stream = UnixStream::connect(&socket)
            .await
            .map_err(RuntimeError::io(format!(
                "cannot connect to the keeper at {}",
                socket.display()
            )))?;
        send_frame(&mut stream, Op::Hello { version }, 0).await?;
        match read_message(&mut stream).await? {
            ToClient::Reply {
                answer: Answer::Welcome { pid, .. },
                ..
            } => return Ok((stream, pid, version)),
            ToClient::Failed {
                code: ErrorCode::Version,
                ..
            } => continue,
            other => {
                return Err(RuntimeError::Protocol(format!(
                    "unexpected greeting {other:?}"
                )));
            }
        }
    }
    Err(RuntimeError::Version {
        ours: VERSION,
        theirs: 0,
    })
}

/// How often a watch tells the keeper what it has delivered (when the client does not).
const ACK_EVERY: Duration = Duration::from_millis(250);

/// Tells the keeper, every [`ACK_EVERY`], how far a watch has delivered each instance's
/// output, unless the client says it itself; ends with the watch (its reader drops
/// `delivered`) or the connection.
async fn ack_delivered(
    mut writer: tokio::net::unix::OwnedWriteHalf,
    delivered: Arc<Mutex<HashMap<String, (u64, u64)>>>,
    explicit: Arc<AtomicBool>,
) {
    let mut id = 1u64;
    loop {
        tokio::time::sleep(ACK_EVERY).await;
        if Arc::strong_count(&delivered) == 1 {
            return;
        }
        let batch = std::mem::take(&mut *delivered.lock().unwrap_or_else(PoisonError::into_inner));
        if explicit.load(Ordering::Relaxed) {
            continue;
        }
        for (instance, (offset, read_at)) in batch {
            id += 1;
            let op = Op::Consumed {
                instance,
                offset,
                read_at,
            };
            let Ok(frame) = json_frame(&Request { id, op }) else {
                continue;
            };
            // The reply comes on the watch's stream, whose reader skips it.
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}

impl ProcessRuntime {
    /// Connects to the keeper serving `dir`.
    pub async fn connect(dir: impl AsRef<Path>) -> Result<ProcessRuntime, RuntimeError> {
        let dir = dir.as_ref().to_path_buf();
        let (stream, keeper_pid, version) = open(&dir).await?;
        let (reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
        let pending: Arc<Mutex<Option<Pending>>> = Arc::new(Mutex::new(Some(HashMap::new())));
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if writer.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });
        let lost = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(read_replies(reader, pending.clone(), lost.clone()));
        Ok(ProcessRuntime {
            inner: Arc::new(Inner {
                dir,
                keeper_pid,
                version,
                explicit_acks: Arc::new(AtomicBool::new(false)),
                tx,
                pending,
                lost,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// Connects to the keeper serving `dir`, starting one first if none answers: `program`
    /// with `args` (e.g. `current_exe()` and `["keeper", "--dir", DIR]`), which must run
    /// [`crate::keeper::run`]. Its stderr goes to `DIR/keeper.log`.
    pub async fn connect_or_start(
        dir: impl AsRef<Path>,
        program: impl AsRef<Path>,
        args: &[OsString],
    ) -> Result<ProcessRuntime, RuntimeError> {
        let dir = dir.as_ref();
        if let Ok(runtime) = ProcessRuntime::connect(dir).await {
            return Ok(runtime);
        }
        std::fs::create_dir_all(dir)
            .map_err(RuntimeError::io(format!("cannot create {}", dir.display())))?;
        let log = dir.join("keeper.log");
        let program = program.as_ref();
        let start_error = |message: String| RuntimeError::KeeperStart {
            program: program.display().to_string(),
            message,
            log: log.clone(),
        };
        let log_file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| start_error(format!("cannot open its log: {e}")))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;
        let mut line = String::new();
        let ready = match child.stdout.take() {
            Some(stdout) => {
                let mut stdout = BufReader::new(stdout);
                tokio::time::timeout(KEEPER_READY_TIMEOUT, stdout.read_line(&mut line)).await
            }
            None => Ok(Ok(0)),
        };
        // The keeper detaches and lives on; this only collects its exit status if it fails.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        match ready {
            Ok(Ok(_)) if line.starts_with("ready ") => ProcessRuntime::connect(dir).await,
            // Another starter won the race for the directory's lock: use its keeper.
            Ok(_) => ProcessRuntime::connect(dir)
                .await
                .map_err(|_| start_error("it exited before it was ready".into())),
            Err(_) => Err(start_error(format!(
                "it did not become ready within {}s",
                KEEPER_READY_TIMEOUT.as_secs()
            ))),
        }
    }

    /// From now on, this client tells the keeper itself how far it has kept each
    /// instance's output ([`ProcessRuntime::consumed`]), once it is durable; until then (and
    /// by default) a watch tells the keeper what it has delivered.
    pub fn ack_explicitly(&self) {
        self.inner.explicit_acks.store(true, Ordering::Relaxed);
    }

    /// Tells the keeper that `instance`'s output up to `offset` (the end of a line read at
    /// `read_at`, unix nanos) is kept: its spool lets go of it. Does nothing with a keeper of protocol version 1.
    pub async fn consumed(
        &self,
        instance: &str,
        offset: u64,
        read_at: u64,
    ) -> Result<(), RuntimeError> {
        if self.inner.version < 2 {
            return Ok(());
        }
        let op = Op::Consumed {
            instance: instance.to_string(),
            offset,
            read_at,
        };
        self.request(op).await.map(drop)
    }

    /// Resolves once the connection to the keeper is lost (the keeper died or exited): at
    /// once, not at the next request.
    pub async fn closed(&self) {
        let notified = self.inner.lost.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
        {
            return;
        }
        notified.await;
    }

    /// The keeper's pid.
    pub fn keeper_pid(&self) -> i32 {
        self.inner.keeper_pid
    }

    /// The keeper's state directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Asks the keeper to exit: refused while instances run, unless `kill_all` SIGKILLs them.
    pub async fn shutdown(&self, kill_all: bool) -> Result<(), RuntimeError> {
        self.request(Op::Shutdown { kill_all }).await.map(drop)
    }

    async fn request(&self, op: Op) -> Result<Answer, RuntimeError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self
                .inner
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(pending) = pending.as_mut() else {
                return Err(RuntimeError::Disconnected(
                    "the keeper closed the connection".into(),
                ));
            };
            pending.insert(id, tx);
        }
        let frame =
            json_frame(&Request { id, op }).map_err(|e| RuntimeError::Protocol(e.to_string()))?;
        if self.inner.tx.send(frame).await.is_err() {
            return Err(RuntimeError::Disconnected(
                "the connection's writer ended".into(),
            ));
        }
        rx.await
            .map_err(|_| RuntimeError::Disconnected("the keeper closed the connection".into()))?
    }
}

async fn read_replies(
    mut reader: OwnedReadHalf,
    pending: Arc<Mutex<Option<Pending>>>,
    lost: Arc<tokio::sync::Notify>,
) {
    let error = loop {
        let message = match read_message(&mut reader).await {
            Ok(message) => message,
            Err(e) => break e.to_string(),
        };
        let (id, result) = match message {
            ToClient::Reply { id, answer } => (id, Ok(answer)),
            ToClient::Failed { id, code, message } => (id, Err(error_of(code, message))),
            ToClient::Exited { .. } => continue,
        };
        let waiter = pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(|p| p.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(result);
        }
    };
    let lost_requests = pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    for (_, waiter) in lost_requests.into_iter().flatten() {
        let _ = waiter.send(Err(RuntimeError::Disconnected(error.clone())));
    }
    lost.notify_waiters();
}

fn unexpected(answer: Answer) -> RuntimeError {
    RuntimeError::Protocol(format!("unexpected answer {answer:?}"))
}

impl Runtime for ProcessRuntime {
    async fn start(&self, instance: &str, launch: &Launch) -> Result<Started, RuntimeError> {
        crate::launch::check_instance_name(instance)?;
        if let Some(container) = &launch.container {
            return Err(RuntimeError::NotAProcess {
                image: container.image.clone(),
            });
        }
        let program = launch.program()?.to_string();
        let op = Op::Spawn {
            instance: instance.to_string(),
            launch: launch.clone(),
        };
        match self.request(op).await {
            Ok(Answer::Spawned { pid }) => Ok(Started {
                pid,
                container: None,
            }),
            Ok(other) => Err(unexpected(other)),
            Err(RuntimeError::Spawn { message, .. }) => {
                Err(RuntimeError::Spawn { program, message })
            }
            Err(e) => Err(e),
        }
    }

    async fn signal(&self, instance: &str, signal: Signal) -> Result<(), RuntimeError> {
        let op = Op::Signal {
            instance: instance.to_string(),
            signal: signal.as_str().to_string(),
        };
        self.request(op).await.map(drop)
    }

    async fn stop(
        &self,
        instance: &str,
        signal: Signal,
        timeout: Duration,
    ) -> Result<Stopped, RuntimeError> {
        let op = Op::Stop {
            instance: instance.to_string(),
            signal: signal.as_str().to_string(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        match self.request(op).await? {
            Answer::Stopped { stopped } => Ok(stopped),
            other => Err(unexpected(other)),
        }
    }

    async fn list(&self) -> Result<Vec<InstanceInfo>, RuntimeError> {
        match self.request(Op::List).await? {
            Answer::Instances { instances } => Ok(instances),
            other => Err(unexpected(other)),
        }
    }

    async fn forget(&self, instance: &str) -> Result<(), RuntimeError> {
        let op = Op::Forget {
            instance: instance.to_string(),
        };
        self.request(op).await.map(drop)
    }

    async fn fence(&self, deadline_ms: u64, instances: Vec<String>) -> Result<(), RuntimeError> {
        let op = Op::Fence {
            deadline_ms,
            instances,
        };
        self.request(op).await.map(drop)
    }

    async fn watch(
        &self,
        from: BTreeMap<String, u64>,
    ) -> Result<mpsc::Receiver<RuntimeEvent>, RuntimeError> {
        let (mut stream, _, version) = open(&self.inner.dir).await?;
        send_frame(&mut stream, Op::Watch { from }, 1).await?;
        match read_message(&mut stream).await? {
            ToClient::Reply {
                answer: Answer::Done,
                ..
            } => {}
            ToClient::Failed { code, message, .. } => return Err(error_of(code, message)),
            other => {
                return Err(RuntimeError::Protocol(format!(
                    "unexpected answer {other:?}"
                )));
            }
        }
        let (tx, rx) = mpsc::channel(1024);
        let explicit = self.inner.explicit_acks.clone();
        let (mut stream, writer) = stream.into_split();
        // What this watch delivered and has not yet told the keeper, by instance: the end of
        // the last line and when it was read.
        let delivered: Arc<Mutex<HashMap<String, (u64, u64)>>> = Arc::default();
        if version >= 2 {
            tokio::spawn(ack_delivered(writer, delivered.clone(), explicit));
        }
        tokio::spawn(async move {
            loop {
                let event = match read_frame(&mut stream).await {
                    Ok(Some((KIND_OUTPUT, payload))) => match decode_output(&payload) {
                        Some(line) => {
                            let at = (line.next_offset(), line.at_unix_nanos);
                            delivered
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .insert(line.instance.clone(), at);
                            RuntimeEvent::Output(line)
                        }
                        None => break,
                    },
                    Ok(Some((KIND_JSON, payload))) => match serde_json::from_slice(&payload) {
                        Ok(ToClient::Exited {
                            instance,
                            pid,
                            status,
                        }) => RuntimeEvent::Exited {
                            instance,
                            pid,
                            status,
                        },
                        _ => continue,
                    },
                    _ => break,
                };
                if tx.send(event).await.is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }
}

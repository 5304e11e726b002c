//! The keeper protocol (version [`VERSION`]): length-prefixed frames over a unix socket.
//!
//! A frame is `[u32 BE length][u8 kind][payload]` (length counts kind and payload).
//! Kind [`KIND_JSON`] carries a JSON [`Request`] (client → keeper) or [`ToClient`]
//! (keeper → client); kind [`KIND_OUTPUT`] carries one output line:
//! `[u16 BE name length][name][u64 BE offset][record]` with a record as in [`crate::output`].
//! The first request on a connection is `hello`; the keeper refuses other versions than its own
//! and version 1 (which lacks `consumed`).
//! Requests carry an id echoed by their reply; replies may come out of order (a `stop`
//! answers when the group is gone). `exited` and output frames arrive only on a connection
//! that sent `watch`: first the logged output from the offsets asked for and the exits not
//! yet forgotten, then everything new, each instance's output before its exit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::launch::Launch;
use crate::output::{OutputLine, decode_record};
use crate::runtime::{InstanceInfo, Stopped};
use crate::status::ExitStatus;

/// The protocol version this build speaks.
pub const VERSION: u32 = 2;
/// The largest frame accepted.
pub const MAX_FRAME: usize = 16 << 20;
/// A JSON message.
pub const KIND_JSON: u8 = 1;
/// An output line.
pub const KIND_OUTPUT: u8 = 2;

/// A request with its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Hello {
        version: u32,
    },
    Spawn {
        instance: String,
        launch: Launch,
    },
    Signal {
        instance: String,
        signal: String,
    },
    Stop {
        instance: String,
        signal: String,
        timeout_ms: u64,
    },
    List,
    Forget {
        instance: String,
    },
    /// The client has kept the instance's output up to `offset`, the end of a line read at
    /// `read_at` (unix nanos: a position from an earlier run of the instance is ignored)
    /// (version 2).
    Consumed {
        instance: String,
        offset: u64,
        read_at: u64,
    },
    Watch {
        from: BTreeMap<String, u64>,
    },
    Shutdown {
        kill_all: bool,
    },
    /// Arms (or moves) the node's fence: once the boot clock (CLOCK_BOOTTIME, ms) reaches
    /// `deadline_ms`, SIGKILL to every process of each of `instances`. Each fence replaces
    /// the last; an empty list disarms it. The keeper enforces it whether or not any client
    /// still runs.
    Fence {
        deadline_ms: u64,
        instances: Vec<String>,
    },
}

/// What the keeper sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToClient {
    Reply {
        id: u64,
        answer: Answer,
    },
    Failed {
        id: u64,
        code: ErrorCode,
        message: String,
    },
    Exited {
        instance: String,
        pid: i32,
        status: ExitStatus,
    },
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Welcome { version: u32, pid: i32 },
    Spawned { pid: i32 },
    Done,
    Stopped { stopped: Stopped },
    Instances { instances: Vec<InstanceInfo> },
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    UnknownInstance,
    AlreadyRunning,
    BadRequest,
    Spawn,
    Busy,
    Version,
    Internal,
}

/// Frames a JSON message.
pub fn json_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut frame = vec![0, 0, 0, 0, KIND_JSON];
    serde_json::to_writer(&mut frame, message)?;
    set_length(&mut frame);
    Ok(frame)
}

/// Frames an output record found at `offset` of `instance`'s log.
pub fn output_frame(instance: &str, offset: u64, record: &[u8]) -> Vec<u8> {
    let name = instance.as_bytes();
    let mut frame = Vec::with_capacity(5 + 2 + name.len() + 8 + record.len());
    frame.extend_from_slice(&[0, 0, 0, 0, KIND_OUTPUT]);
    // Instance names are at most 128 bytes.
    frame.extend_from_slice(&u16::try_from(name.len()).unwrap_or(0).to_be_bytes());
    frame.extend_from_slice(name);
    frame.extend_from_slice(&offset.to_be_bytes());
    frame.extend_from_slice(record);
    set_length(&mut frame);
    frame
}

fn set_length(frame: &mut [u8]) {
    let len = u32::try_from(frame.len() - 4).unwrap_or(u32::MAX);
    frame[..4].copy_from_slice(&len.to_be_bytes());
}

/// Decodes the payload of an output frame.
pub fn decode_output(payload: &[u8]) -> Option<OutputLine> {
    let name_len = u16::from_be_bytes(payload.get(..2)?.try_into().ok()?) as usize;
    let name = std::str::from_utf8(payload.get(2..2 + name_len)?).ok()?;
    let at = 2 + name_len;
    let offset = u64::from_be_bytes(payload.get(at..at + 8)?.try_into().ok()?);
    let (line, used) = decode_record(payload.get(at + 8..)?, name, offset)?;
    (at + 8 + used == payload.len()).then_some(line)
}

/// Reads one frame: its kind and payload; `None` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes (at most {MAX_FRAME})"),
        ));
    }
    let mut frame = vec![0u8; len];
    reader.read_exact(&mut frame).await?;
    let payload = frame.split_off(1);
    Ok(Some((frame[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Source, encode_record};

    #[tokio::test]
    async fn json_and_output_frames_round_trip() {
        let request = Request {
            id: 7,
            op: Op::Stop {
                instance: "web-0".into(),
                signal: "SIGTERM".into(),
                timeout_ms: 500,
            },
        };
        let mut record = Vec::new();
        encode_record(&mut record, 9, Source::Stdout, false, b"hi \xff");
        let mut stream = json_frame(&request).expect("serializable");
        stream.extend(output_frame("web-0", 1234, &record));
        let mut reader = &stream[..];
        let (kind, payload) = read_frame(&mut reader).await.expect("io").expect("frame");
        assert_eq!(kind, KIND_JSON);
        let back: Request = serde_json::from_slice(&payload).expect("json");
        assert_eq!(back, request);
        let (kind, payload) = read_frame(&mut reader).await.expect("io").expect("frame");
        assert_eq!(kind, KIND_OUTPUT);
        let line = decode_output(&payload).expect("output");
        assert_eq!((line.instance.as_str(), line.offset), ("web-0", 1234));
        assert_eq!(line.bytes, b"hi \xff");
        assert!(read_frame(&mut reader).await.expect("io").is_none());
    }

    #[tokio::test]
    async fn an_oversized_or_torn_frame_is_an_error_not_a_panic() {
        let mut reader: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1];
        assert!(read_frame(&mut reader).await.is_err());
        let mut reader: &[u8] = &[0, 0, 0, 9, 1, b'{'];
        assert!(read_frame(&mut reader).await.is_err());
        assert!(decode_output(&[0, 200, 1]).is_none());
    }
}

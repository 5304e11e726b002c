//! A streaming response body read into a buffer piece by piece, for the readers of
//! server-sent events and NDJSON.

use std::time::Duration;

use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// How long a stream may stay silent: the daemon sends a keep-alive every 15 s on every
/// stream (`orco_wire::STREAM_KEEP_ALIVE`), so silence this long means it stopped answering.
pub(crate) const STREAM_IDLE: Duration = Duration::from_secs(45);

/// A body and what has arrived of it.
#[derive(Debug)]
pub(crate) struct Buffered {
    body: Incoming,
    /// Bytes received and not consumed yet.
    pub(crate) buffer: BytesMut,
    done: bool,
}

impl Buffered {
    pub(crate) fn new(body: Incoming) -> Buffered {
        Buffered {
            body,
            buffer: BytesMut::new(),
            done: false,
        }
    }

    /// The body has ended: nothing more will arrive.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Waits for the next piece of the body and appends it to the buffer (or notes the
    /// end).
    pub(crate) async fn fill(&mut self) -> Result<(), String> {
        let Ok(frame) = tokio::time::timeout(STREAM_IDLE, self.body.frame()).await else {
            return Err(format!(
                "the daemon is not answering: nothing came on the stream for {} s, not even a keep-alive",
                STREAM_IDLE.as_secs()
            ));
        };
        match frame {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    self.buffer.extend_from_slice(&data);
                }
                Ok(())
            }
            Some(Err(e)) => Err(e.to_string()),
            None => {
                self.done = true;
                Ok(())
            }
        }
    }
}

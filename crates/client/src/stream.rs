//! A streaming response body read into a buffer piece by piece, for the readers of
//! server-sent events and NDJSON.

use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::Incoming;

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
        match self.body.frame().await {
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

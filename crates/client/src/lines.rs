//! A reader of newline-delimited JSON over a streaming response body (`/api/v1/logs`).

use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Reads one line at a time from a streaming body.
#[derive(Debug)]
pub struct LineReader {
    body: Incoming,
    buffer: BytesMut,
    done: bool,
}

impl LineReader {
    /// A reader of `body`.
    pub fn new(body: Incoming) -> LineReader {
        LineReader {
            body,
            buffer: BytesMut::new(),
            done: false,
        }
    }

    /// The next line without its newline; `None` when the stream ended. A last line without
    /// a newline is returned too.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line = self.buffer[..end].to_vec();
                self.buffer.advance(end + 1);
                return Ok(Some(line));
            }
            if self.done {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let line = self.buffer.to_vec();
                self.buffer.clear();
                return Ok(Some(line));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(e.to_string()),
                None => self.done = true,
            }
        }
    }
}

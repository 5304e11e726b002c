//! A reader of newline-delimited JSON over a streaming response body (`/api/v1/logs`).

use bytes::Buf;
use hyper::body::Incoming;

use crate::stream::Buffered;

/// Reads one line at a time from a streaming body.
#[derive(Debug)]
pub struct LineReader {
    body: Buffered,
}

impl LineReader {
    /// A reader of `body`.
    pub fn new(body: Incoming) -> LineReader {
        LineReader {
            body: Buffered::new(body),
        }
    }

    /// The next line without its newline; `None` when the stream ended. A last line without
    /// a newline is returned too; empty lines (the daemon's keep-alives) are skipped.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            let done = self.body.is_done();
            let buffer = &mut self.body.buffer;
            if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line = buffer[..end].to_vec();
                buffer.advance(end + 1);
                if line.is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            if done {
                if buffer.is_empty() {
                    return Ok(None);
                }
                let line = buffer.to_vec();
                buffer.clear();
                return Ok(Some(line));
            }
            self.body.fill().await?;
        }
    }
}

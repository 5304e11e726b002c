//! Messages of the interface on a byte stream: one JSON envelope per line, each at most
//! [`MAX_FRAME`] bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::ClusterError;

/// The largest message taken: a node's whole assignment set of a very large stack fits.
pub const MAX_FRAME: usize = 64 << 20;

/// Reads messages, a line each.
#[derive(Debug)]
pub struct Reader<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Messages from `inner`.
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner: BufReader::with_capacity(64 << 10, inner),
            line: Vec::new(),
        }
    }

    /// The next message, `None` at the end of the stream.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ClusterError> {
        self.line.clear();
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return if self.line.is_empty() {
                    Ok(None)
                } else {
                    Err(ClusterError::Protocol(
                        "the stream ended inside a message".into(),
                    ))
                };
            }
            let (take, done) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if self.line.len() + take > MAX_FRAME + 1 {
                return Err(ClusterError::Protocol(format!(
                    "a message is larger than {MAX_FRAME} bytes"
                )));
            }
            self.line.extend_from_slice(&buf[..take]);
            self.inner.consume(take);
            if done {
                self.line.pop();
                return Ok(Some(orco_interface::decode(&self.line)?));
            }
        }
    }
}

/// Writes `message` as one line.
pub async fn write<W: AsyncWrite + Unpin, T: Serialize>(
    out: &mut W,
    message: &T,
) -> Result<(), ClusterError> {
    let mut bytes = orco_interface::encode(message)?;
    bytes.push(b'\n');
    out.write_all(&bytes).await?;
    out.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orco_interface::{Renew, Up};

    #[tokio::test]
    async fn messages_cross_a_stream_one_per_line() {
        let (a, b) = tokio::io::duplex(1024);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut reader = Reader::new(r);
        for sent_ms in [1, 2, 3] {
            write(&mut w, &Up::Renew(Renew { sent_ms }))
                .await
                .expect("written");
        }
        drop(w);
        for sent_ms in [1, 2, 3] {
            let up: Up = reader.next().await.expect("read").expect("a message");
            assert_eq!(up, Up::Renew(Renew { sent_ms }));
        }
        assert!(reader.next::<Up>().await.expect("the end").is_none());
    }

    #[tokio::test]
    async fn a_message_of_another_version_or_shape_is_refused() {
        let bytes = b"{\"version\":99,\"message\":{}}\nnot json\n".to_vec();
        let mut reader = Reader::new(&bytes[..]);
        let e = reader.next::<Up>().await.expect_err("refused");
        assert!(e.to_string().contains("version 99"), "{e}");
        assert!(reader.next::<Up>().await.is_err());
    }
}

//! A small server-sent-events reader over a response body: messages with their `id`,
//! `event` name and `data`.

use bytes::{Buf, BytesMut};
use hyper::body::Incoming;

use crate::stream::Buffered;

/// One SSE message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The `id:` field.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// Reads messages from a streaming body.
#[derive(Debug)]
pub struct SseReader {
    body: Buffered,
}

impl SseReader {
    /// A reader of `body`.
    pub fn new(body: Incoming) -> SseReader {
        SseReader {
            body: Buffered::new(body),
        }
    }

    /// The next message; `None` when the stream ended.
    pub async fn next(&mut self) -> Result<Option<Message>, String> {
        loop {
            if let Some(block) = take_block(&mut self.body.buffer) {
                if let Some(message) = parse_block(&block) {
                    return Ok(Some(message));
                }
                continue;
            }
            if self.body.is_done() {
                return Ok(None);
            }
            self.body.fill().await?;
        }
    }
}

/// Takes one blank-line-terminated block off the front of `buffer`.
fn take_block(buffer: &mut BytesMut) -> Option<String> {
    let text = buffer.as_ref();
    let end = text.windows(2).position(|w| w == b"\n\n")?;
    let block = String::from_utf8_lossy(&text[..end]).into_owned();
    buffer.advance(end + 2);
    Some(block)
}

/// Parses one block; `None` for a block of comments only (keep-alives).
pub fn parse_block(block: &str) -> Option<Message> {
    let mut message = Message {
        event: "message".into(),
        ..Message::default()
    };
    let mut data = Vec::new();
    let mut any = false;
    for line in block.lines() {
        if line.starts_with(':') || line.is_empty() {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        any = true;
        match field {
            "id" => message.id = Some(value.to_string()),
            "event" => message.event = value.to_string(),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
    message.data = data.join("\n");
    any.then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_into_messages_and_keep_alives_are_skipped() {
        let m = parse_block("id: 3\nevent: event\ndata: {\"a\":1}").unwrap();
        assert_eq!(m.id.as_deref(), Some("3"));
        assert_eq!(m.event, "event");
        assert_eq!(m.data, "{\"a\":1}");
        assert!(parse_block(":keep-alive").is_none());
        let mut buffer = BytesMut::from(&b"data: x\n\ndata: y"[..]);
        assert_eq!(take_block(&mut buffer).as_deref(), Some("data: x"));
        assert!(take_block(&mut buffer).is_none());
    }
}

//! A bounded Server-Sent-Events reader for stream decoders.
//!
//! Network reads split events at arbitrary bytes; [`SseReader`] reassembles complete events and
//! never buffers more than its limit, so a hostile upstream that never sends a newline cannot
//! grow a decoder's memory.

use crate::types::{ErrorKind, ProviderError};

/// Default cap on one buffered event (data lines included).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// One complete SSE event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

/// Incremental SSE parser.
#[derive(Debug)]
pub struct SseReader {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    current: SseEvent,
    has_data: bool,
    max_event_bytes: usize,
}

impl Default for SseReader {
    fn default() -> Self {
        SseReader::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseReader {
    pub fn new(max_event_bytes: usize) -> Self {
        SseReader {
            line: Vec::new(),
            current: SseEvent::default(),
            has_data: false,
            max_event_bytes,
        }
    }

    /// Feeds bytes; calls `on_event` for every event they complete.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        mut on_event: impl FnMut(SseEvent),
    ) -> Result<(), ProviderError> {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    self.line.extend_from_slice(&bytes[..pos]);
                    bytes = &bytes[pos + 1..];
                    self.check_size()?;
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if let Some(event) = self.take_line(&line) {
                        on_event(event);
                    }
                    line.clear();
                    self.line = line;
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                    self.check_size()?;
                }
            }
        }
        Ok(())
    }

    /// The body ended: a final event without its blank line is still delivered.
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent)) {
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.take_line(&line) {
                on_event(event);
            }
        }
        if let Some(event) = self.take_line(b"") {
            on_event(event);
        }
    }

    fn check_size(&self) -> Result<(), ProviderError> {
        if self.line.len() + self.current.data.len() > self.max_event_bytes {
            return Err(ProviderError::new(
                ErrorKind::BadResponse,
                format!(
                    "upstream stream event exceeds {} bytes without ending",
                    self.max_event_bytes
                ),
            ));
        }
        Ok(())
    }

    fn take_line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_data && self.current.event.is_empty() {
                return None;
            }
            self.has_data = false;
            return Some(std::mem::take(&mut self.current));
        }
        if line[0] == b':' {
            return None; // comment (keep-alives, OpenRouter's "PROCESSING")
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.current.data.push(b'\n');
                }
                self.current.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.current.event = String::from_utf8_lossy(value).into_owned(),
            _ => {} // id, retry: nothing a decoder needs
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(reader: &mut SseReader, chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, |e| events.push(e)).unwrap();
        }
        reader.finish(|e| events.push(e));
        events
    }

    #[test]
    fn parses_events_with_crlf_comments_and_event_names() {
        let body = b": keep-alive\r\nevent: ping\r\ndata: {\"a\":1}\r\n\r\ndata: [DONE]\n\n";
        let events = collect(&mut SseReader::default(), &[body]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "ping");
        assert_eq!(events[0].data, b"{\"a\":1}");
        assert_eq!(events[1].data, b"[DONE]");
    }

    #[test]
    fn final_event_without_blank_line_is_delivered() {
        let events = collect(&mut SseReader::default(), &[b"data: last"]);
        assert_eq!(
            events,
            vec![SseEvent {
                event: String::new(),
                data: b"last".to_vec()
            }]
        );
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_growing_buffer() {
        let mut reader = SseReader::new(1024);
        let chunk = vec![b'x'; 700];
        assert!(reader.feed(&chunk, |_| {}).is_ok());
        let err = reader.feed(&chunk, |_| {}).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadResponse);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..120, 0..8)) {
            let body: &[u8] = b"event: a\ndata: one\n\ndata: two\ndata: lines\r\n\r\n: c\ndata: [DONE]\n\n";
            let whole = collect(&mut SseReader::default(), &[body]);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % body.len()).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points { pieces.push(&body[last..p]); last = p; }
            pieces.push(&body[last..]);
            let split = collect(&mut SseReader::default(), &pieces);
            prop_assert_eq!(whole, split);
        }
    }
}

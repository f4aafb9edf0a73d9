//! Native SSE streams forwarded to the client as the upstream framed them: each event's bytes
//! go out unchanged (its `event:`, `data:`, `id:` lines, comments and line endings), and only
//! whole events, so a client never sees half an event whatever the network split. A plugin
//! reads its side data (usage, model, the end, an in-stream error) through an [`Inspect`].

use crate::sse::DEFAULT_MAX_EVENT_BYTES;
use crate::{ErrorKind, ProviderError, StreamDecoder, StreamOutput};

/// What to do with one event after reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Send the event's bytes to the client.
    pub forward: bool,
    /// Nothing after this event is read (the provider's last event, or an error).
    pub end: bool,
}

impl Verdict {
    pub const FORWARD: Verdict = Verdict {
        forward: true,
        end: false,
    };
}

/// A provider's reading of its own events.
pub trait Inspect: Send + 'static {
    /// Reads one event (`name` is its `event:` field, empty when absent; `data` its `data:`
    /// lines joined with `\n`), recording side data, an error or the end in `out`.
    fn inspect(&mut self, name: &str, data: &[u8], out: &mut StreamOutput) -> Verdict;

    /// The body ended without the provider's last event.
    fn finish(&mut self, _out: &mut StreamOutput) {}
}

/// Splits a byte stream into whole raw SSE events, holding at most `max` bytes of an
/// unfinished one.
#[derive(Debug)]
pub struct RawEvents {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for line ends.
    scanned: usize,
    /// Start of the line being read.
    line_start: usize,
    max: usize,
}

impl RawEvents {
    pub fn new(max: usize) -> Self {
        RawEvents {
            buf: Vec::new(),
            scanned: 0,
            line_start: 0,
            max,
        }
    }

    /// Feeds bytes; calls `on_event` with the raw bytes of every event they complete (its
    /// terminating blank line included).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(&[u8]),
    ) -> Result<(), ProviderError> {
        self.buf.extend_from_slice(bytes);
        let mut consumed = 0;
        while let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + pos;
            let line = &self.buf[self.line_start..end];
            let blank = line.is_empty() || line == b"\r";
            self.scanned = end + 1;
            self.line_start = end + 1;
            if blank {
                on_event(&self.buf[consumed..end + 1]);
                consumed = end + 1;
            }
        }
        self.scanned = self.buf.len();
        if consumed > 0 {
            self.buf.drain(..consumed);
            self.scanned -= consumed;
            self.line_start -= consumed;
        }
        if self.buf.len() > self.max {
            return Err(ProviderError::new(
                ErrorKind::BadResponse,
                format!(
                    "upstream stream event exceeds {} bytes without ending",
                    self.max
                ),
            ));
        }
        Ok(())
    }

    /// The body ended: an unterminated last event, completed with the blank line it lacks so
    /// the client can read it.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        self.line_start = 0;
        if rest.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        if !rest.ends_with(b"\n") {
            rest.push(b'\n');
        }
        rest.push(b'\n');
        Some(rest)
    }
}

/// The `event:` field and the joined `data:` lines of one raw event.
pub fn fields(raw: &[u8]) -> (String, Vec<u8>) {
    let mut name = String::new();
    let mut data = Vec::new();
    let mut has_data = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => name = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                if has_data {
                    data.push(b'\n');
                }
                data.extend_from_slice(value);
                has_data = true;
            }
            _ => {}
        }
    }
    (name, data)
}

/// A [`StreamDecoder`] forwarding whole raw events, read by `I`.
#[derive(Debug)]
pub struct RawEventDecoder<I> {
    provider: &'static str,
    reader: RawEvents,
    inspector: I,
    ended: bool,
}

impl<I: Inspect> RawEventDecoder<I> {
    pub fn new(provider: &'static str, inspector: I) -> Self {
        RawEventDecoder {
            provider,
            reader: RawEvents::new(DEFAULT_MAX_EVENT_BYTES),
            inspector,
            ended: false,
        }
    }

    fn on_event(&mut self, raw: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let (name, data) = fields(raw);
        let verdict = if name.is_empty() && data.is_empty() {
            // Comments and blank lines: keep-alives, forwarded as they are.
            Verdict::FORWARD
        } else {
            self.inspector.inspect(&name, &data, out)
        };
        if verdict.forward {
            out.sse.extend_from_slice(raw);
        }
        if verdict.end {
            self.end();
        }
    }

    fn end(&mut self) {
        self.ended = true;
        // Nothing more is read: hold no buffered bytes.
        self.reader = RawEvents::new(0);
    }
}

impl<I: Inspect> StreamDecoder for RawEventDecoder<I> {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut events = Vec::new();
        let result = self.reader.feed(bytes, |raw| events.push(raw.to_vec()));
        for raw in events {
            self.on_event(&raw, out);
        }
        if let Err(mut e) = result {
            if !self.ended {
                e.message = format!("{}: {}", self.provider, e.message);
                out.error = Some(e);
                self.end();
            }
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        if let Some(raw) = self.reader.finish() {
            self.on_event(&raw, out);
        }
        if !self.ended {
            self.inspector.finish(out);
            self.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut reader = RawEvents::new(1024);
        let mut events = Vec::new();
        let mut last = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        for p in points.into_iter().chain([body.len()]) {
            reader
                .feed(&body[last..p], |e| events.push(e.to_vec()))
                .unwrap();
            last = p;
        }
        events.extend(reader.finish());
        events
    }

    #[test]
    fn events_keep_their_bytes_and_framing() {
        let body = b": ping\r\n\r\nevent: a\r\ndata: {\"x\":1}\r\nid: 7\r\n\r\ndata: b\ndata: c\n\ndata: tail";
        let events = split(body, &[]);
        assert_eq!(
            events,
            vec![
                b": ping\r\n\r\n".to_vec(),
                b"event: a\r\ndata: {\"x\":1}\r\nid: 7\r\n\r\n".to_vec(),
                b"data: b\ndata: c\n\n".to_vec(),
                b"data: tail\n\n".to_vec(),
            ]
        );
        assert_eq!(fields(&events[1]), ("a".to_owned(), b"{\"x\":1}".to_vec()));
        assert_eq!(fields(&events[2]), (String::new(), b"b\nc".to_vec()));
    }

    #[test]
    fn an_endless_event_is_an_error() {
        let mut reader = RawEvents::new(16);
        assert!(reader.feed(b"data: 0123456789", |_| {}).is_ok());
        let e = reader.feed(b"abcdef", |_| {}).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }

    proptest::proptest! {
        #[test]
        fn any_split_gives_the_same_events(cuts in proptest::collection::vec(0usize..200, 0..10)) {
            let body: &[u8] = b"event: a\ndata: 1\n\n: c\r\n\r\nevent: b\r\ndata: 2\r\n\r\ndata: 3\n\ndata: 4";
            proptest::prop_assert_eq!(split(body, &[]), split(body, &cuts));
        }
    }
}

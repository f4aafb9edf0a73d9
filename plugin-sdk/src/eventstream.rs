//! A bounded decoder of `application/vnd.amazon.eventstream`, the binary framing AWS services
//! (Bedrock's `ConverseStream` and `InvokeModelWithResponseStream`, Transcribe, …) stream with.
//!
//! Every message is one frame:
//!
//! ```text
//! +-------------------+-------------------+-------------------+
//! | total length (u32)| headers len (u32) | prelude CRC32     |   prelude: 12 bytes
//! +-------------------+-------------------+-------------------+
//! | headers (headers len bytes)                               |
//! | payload (total − headers len − 16 bytes)                  |
//! +-----------------------------------------------------------+
//! | message CRC32 (of every byte before it)                   |
//! +-----------------------------------------------------------+
//! ```
//!
//! All integers are big-endian; both checksums are CRC-32 (IEEE). A header is a name (`u8`
//! length + UTF-8), a type byte and a value: 0/1 boolean true/false (no value bytes), 2 byte,
//! 3 short, 4 integer, 5 long, 6 byte array (`u16` length), 7 string (`u16` length), 8
//! timestamp (`i64` milliseconds), 9 UUID (16 bytes).
//!
//! [`EventStreamReader`] takes the body in whatever pieces the network delivers, checks both
//! checksums, and hands out complete [`Message`]s. It never buffers more than one frame, and a
//! frame is refused as soon as its prelude declares more than the reader's limit. A corrupted or
//! truncated stream is a [`FrameError`], never a panic; after an error the reader holds no bytes
//! and reports the same error for any further input.

use std::fmt;

use crate::types::{ErrorKind, ProviderError};

/// Bytes of the prelude (total length, headers length, prelude CRC).
pub const PRELUDE_LEN: usize = 12;
/// The smallest valid frame: a prelude and a message CRC, no headers, no payload.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// Default cap on one frame: the largest message the event-stream format allows (16 MiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// The format's cap on the headers section of one frame (128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// A header value, by the format's type tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Types 0 (true) and 1 (false).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6.
    Bytes(Vec<u8>),
    /// Type 7.
    String(String),
    /// Type 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The string of a type-7 value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }

    fn type_tag(&self) -> u8 {
        match self {
            HeaderValue::Bool(true) => 0,
            HeaderValue::Bool(false) => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Short(_) => 3,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) => 5,
            HeaderValue::Bytes(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }
}

/// One header of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

impl Header {
    /// A string header, the kind every AWS `:`-header is.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: HeaderValue::String(value.into()),
        }
    }
}

/// What a message is, from its `:message-type` header and the headers that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind<'a> {
    /// `:message-type: event` with its `:event-type` (empty when absent).
    Event { event_type: &'a str },
    /// `:message-type: exception`: a modelled service error (`throttlingException`, …); the
    /// payload is its JSON body.
    Exception { exception_type: &'a str },
    /// `:message-type: error`: an unmodelled error with `:error-code` and `:error-message`.
    Error { code: &'a str, message: &'a str },
    /// Another or no `:message-type`.
    Other { message_type: &'a str },
}

/// One decoded message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<Header>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The string value of header `name`.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }

    /// The message's kind (see [`MessageKind`]). A message without `:message-type` is an
    /// event, as AWS SDKs read it.
    pub fn kind(&self) -> MessageKind<'_> {
        let text = |name: &str| self.header_str(name).unwrap_or("");
        match self.header_str(":message-type").unwrap_or("event") {
            "event" => MessageKind::Event {
                event_type: text(":event-type"),
            },
            "exception" => MessageKind::Exception {
                exception_type: text(":exception-type"),
            },
            "error" => MessageKind::Error {
                code: text(":error-code"),
                message: text(":error-message"),
            },
            other => MessageKind::Other {
                message_type: other,
            },
        }
    }
}

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The prelude's checksum does not match its first 8 bytes.
    PreludeCrc { expected: u32, computed: u32 },
    /// The message checksum does not match the frame.
    MessageCrc { expected: u32, computed: u32 },
    /// The declared total length is below the 16-byte minimum.
    FrameTooShort { total_len: u32 },
    /// The declared total length exceeds the reader's limit.
    FrameTooLarge { total_len: u32, max: usize },
    /// The declared headers length does not fit in the frame, or exceeds 128 KiB.
    BadHeadersLength { headers_len: u32, total_len: u32 },
    /// A header is malformed (truncated, unknown type, non-UTF-8 name or string).
    BadHeader { offset: usize, reason: &'static str },
    /// The body ended in the middle of a frame.
    Truncated { buffered: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::PreludeCrc { expected, computed } => write!(
                f,
                "event-stream prelude checksum mismatch (frame says {expected:#010x}, computed {computed:#010x})"
            ),
            FrameError::MessageCrc { expected, computed } => write!(
                f,
                "event-stream message checksum mismatch (frame says {expected:#010x}, computed {computed:#010x})"
            ),
            FrameError::FrameTooShort { total_len } => write!(
                f,
                "event-stream frame declares {total_len} bytes, less than the {MIN_FRAME_LEN}-byte minimum"
            ),
            FrameError::FrameTooLarge { total_len, max } => write!(
                f,
                "event-stream frame declares {total_len} bytes, more than the {max}-byte limit"
            ),
            FrameError::BadHeadersLength {
                headers_len,
                total_len,
            } => write!(
                f,
                "event-stream frame declares {headers_len} header bytes in a {total_len}-byte frame"
            ),
            FrameError::BadHeader { offset, reason } => write!(
                f,
                "event-stream header at byte {offset} of the headers section is malformed: {reason}"
            ),
            FrameError::Truncated { buffered } => write!(
                f,
                "event-stream body ended inside a frame ({buffered} bytes of it received)"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for ProviderError {
    fn from(e: FrameError) -> Self {
        ProviderError::new(ErrorKind::BadResponse, e.to_string())
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads one header section.
fn parse_headers(mut b: &[u8]) -> Result<Vec<Header>, FrameError> {
    let total = b.len();
    let mut headers = Vec::new();
    while !b.is_empty() {
        let offset = total - b.len();
        let bad = |reason| FrameError::BadHeader { offset, reason };
        let name_len = usize::from(b[0]);
        if name_len == 0 {
            return Err(bad("empty header name"));
        }
        let name = b.get(1..1 + name_len).ok_or(bad("truncated header name"))?;
        let name = std::str::from_utf8(name).map_err(|_| bad("header name is not UTF-8"))?;
        b = &b[1 + name_len..];
        let (&tag, rest) = b.split_first().ok_or(bad("missing header type"))?;
        b = rest;
        let mut take = |n: usize| -> Result<&[u8], FrameError> {
            if b.len() < n {
                return Err(bad("truncated header value"));
            }
            let (value, rest) = b.split_at(n);
            b = rest;
            Ok(value)
        };
        let value = match tag {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes([take(1)?[0]])),
            3 => {
                let v = take(2)?;
                HeaderValue::Short(i16::from_be_bytes([v[0], v[1]]))
            }
            4 => HeaderValue::Int(i32::from_be_bytes(
                take(4)?.try_into().map_err(|_| bad("int"))?,
            )),
            5 => HeaderValue::Long(i64::from_be_bytes(
                take(8)?.try_into().map_err(|_| bad("long"))?,
            )),
            6 | 7 => {
                let len = take(2)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let bytes = take(len)?;
                if tag == 6 {
                    HeaderValue::Bytes(bytes.to_vec())
                } else {
                    HeaderValue::String(
                        std::str::from_utf8(bytes)
                            .map_err(|_| bad("string header value is not UTF-8"))?
                            .to_owned(),
                    )
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(
                take(8)?.try_into().map_err(|_| bad("timestamp"))?,
            )),
            9 => HeaderValue::Uuid(take(16)?.try_into().map_err(|_| bad("uuid"))?),
            _ => return Err(bad("unknown header value type")),
        };
        headers.push(Header {
            name: name.to_owned(),
            value,
        });
    }
    Ok(headers)
}

/// Checks a prelude (12 bytes) against the limit; returns (total length, headers length).
fn check_prelude(prelude: &[u8], max_frame: usize) -> Result<(usize, usize), FrameError> {
    let total_len = be_u32(&prelude[0..4]);
    let headers_len = be_u32(&prelude[4..8]);
    let expected = be_u32(&prelude[8..12]);
    let computed = crc32fast::hash(&prelude[0..8]);
    if expected != computed {
        return Err(FrameError::PreludeCrc { expected, computed });
    }
    let total = total_len as usize;
    if total < MIN_FRAME_LEN {
        return Err(FrameError::FrameTooShort { total_len });
    }
    if total > max_frame {
        return Err(FrameError::FrameTooLarge {
            total_len,
            max: max_frame,
        });
    }
    let headers = headers_len as usize;
    if headers > MAX_HEADERS_LEN || headers > total - MIN_FRAME_LEN {
        return Err(FrameError::BadHeadersLength {
            headers_len,
            total_len,
        });
    }
    Ok((total, headers))
}

/// Decodes exactly one complete frame, checking both checksums (no size limit beyond the
/// frame's own length).
pub fn decode_frame(frame: &[u8]) -> Result<Message, FrameError> {
    if frame.len() < MIN_FRAME_LEN {
        return Err(FrameError::Truncated {
            buffered: frame.len(),
        });
    }
    let (total, headers_len) = check_prelude(&frame[..PRELUDE_LEN], usize::MAX)?;
    if frame.len() < total {
        return Err(FrameError::Truncated {
            buffered: frame.len(),
        });
    }
    let frame = &frame[..total];
    let expected = be_u32(&frame[total - 4..]);
    let computed = crc32fast::hash(&frame[..total - 4]);
    if expected != computed {
        return Err(FrameError::MessageCrc { expected, computed });
    }
    let headers = parse_headers(&frame[PRELUDE_LEN..PRELUDE_LEN + headers_len])?;
    Ok(Message {
        headers,
        payload: frame[PRELUDE_LEN + headers_len..total - 4].to_vec(),
    })
}

/// Encodes one frame. Header names longer than 255 bytes and string/byte values longer than
/// 65,535 bytes cannot be represented and are cut (the format's own limits); test helpers and
/// local upstreams are the intended users.
pub fn encode_frame(headers: &[Header], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for header in headers {
        let name = &header.name.as_bytes()[..header.name.len().min(255)];
        h.push(name.len() as u8);
        h.extend_from_slice(name);
        h.push(header.value.type_tag());
        match &header.value {
            HeaderValue::Bool(_) => {}
            HeaderValue::Byte(v) => h.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Short(v) => h.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Int(v) => h.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Long(v) | HeaderValue::Timestamp(v) => {
                h.extend_from_slice(&v.to_be_bytes())
            }
            HeaderValue::Bytes(v) => {
                let v = &v[..v.len().min(usize::from(u16::MAX))];
                h.extend_from_slice(&(v.len() as u16).to_be_bytes());
                h.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                let v = &v.as_bytes()[..v.len().min(usize::from(u16::MAX))];
                h.extend_from_slice(&(v.len() as u16).to_be_bytes());
                h.extend_from_slice(v);
            }
            HeaderValue::Uuid(v) => h.extend_from_slice(v),
        }
    }
    let total = MIN_FRAME_LEN + h.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An event message as AWS sends it: `:event-type`, `:content-type: application/json`,
/// `:message-type: event`.
pub fn encode_event(event_type: &str, json_payload: &[u8]) -> Vec<u8> {
    encode_frame(
        &[
            Header::string(":event-type", event_type),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "event"),
        ],
        json_payload,
    )
}

/// An exception message as AWS sends it: `:exception-type`, `:content-type`,
/// `:message-type: exception`.
pub fn encode_exception(exception_type: &str, json_payload: &[u8]) -> Vec<u8> {
    encode_frame(
        &[
            Header::string(":exception-type", exception_type),
            Header::string(":content-type", "application/json"),
            Header::string(":message-type", "exception"),
        ],
        json_payload,
    )
}

/// Incremental, bounded event-stream reader.
#[derive(Debug)]
pub struct EventStreamReader {
    /// The current incomplete frame (never more than `max_frame` bytes).
    buf: Vec<u8>,
    /// The current frame's total length once its prelude is checked.
    frame_len: Option<usize>,
    max_frame: usize,
    failed: Option<FrameError>,
}

impl Default for EventStreamReader {
    fn default() -> Self {
        EventStreamReader::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl EventStreamReader {
    /// A reader refusing frames longer than `max_frame_bytes` (at least [`MIN_FRAME_LEN`]).
    pub fn new(max_frame_bytes: usize) -> Self {
        EventStreamReader {
            buf: Vec::new(),
            frame_len: None,
            max_frame: max_frame_bytes.max(MIN_FRAME_LEN),
            failed: None,
        }
    }

    /// Bytes held for the current incomplete frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.buf = Vec::new();
        self.frame_len = None;
        self.failed = Some(e.clone());
        e
    }

    /// Feeds the next bytes; calls `on_message` for every frame they complete. On a corrupt
    /// frame, messages decoded before it have been delivered and the error is returned.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        mut on_message: impl FnMut(Message),
    ) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while !bytes.is_empty() {
            // Fast path: whole frames straight from the input, no copy.
            if self.buf.is_empty() && bytes.len() >= PRELUDE_LEN {
                let (total, _) = check_prelude(&bytes[..PRELUDE_LEN], self.max_frame)
                    .map_err(|e| self.fail(e))?;
                if bytes.len() >= total {
                    let message = decode_frame(&bytes[..total]).map_err(|e| self.fail(e))?;
                    on_message(message);
                    bytes = &bytes[total..];
                    continue;
                }
                self.frame_len = Some(total);
                self.buf.reserve_exact(total);
                self.buf.extend_from_slice(bytes);
                return Ok(());
            }
            let need = match self.frame_len {
                Some(total) => total - self.buf.len(),
                None => PRELUDE_LEN - self.buf.len(),
            };
            let n = need.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.frame_len.is_none() {
                if self.buf.len() < PRELUDE_LEN {
                    continue;
                }
                let (total, _) =
                    check_prelude(&self.buf, self.max_frame).map_err(|e| self.fail(e))?;
                self.frame_len = Some(total);
                self.buf.reserve_exact(total - self.buf.len());
                continue;
            }
            if Some(self.buf.len()) == self.frame_len {
                let frame = std::mem::take(&mut self.buf);
                self.frame_len = None;
                let message = decode_frame(&frame).map_err(|e| self.fail(e))?;
                on_message(message);
            }
        }
        Ok(())
    }

    /// The body ended: an incomplete frame is an error.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.buf.is_empty() {
            let buffered = self.buf.len();
            return Err(self.fail(FrameError::Truncated { buffered }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(pieces: &[&[u8]], max: usize) -> (Vec<Message>, Option<FrameError>) {
        let mut reader = EventStreamReader::new(max);
        let mut messages = Vec::new();
        for piece in pieces {
            if let Err(e) = reader.feed(piece, |m| messages.push(m)) {
                return (messages, Some(e));
            }
        }
        (messages, reader.finish().err())
    }

    fn sample_stream() -> Vec<u8> {
        let mut body = encode_event("messageStart", br#"{"role":"assistant"}"#);
        body.extend(encode_event(
            "contentBlockDelta",
            br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ));
        body.extend(encode_frame(&[], b""));
        body.extend(encode_exception(
            "throttlingException",
            br#"{"message":"Too many requests"}"#,
        ));
        body
    }

    /// A frame built by hand from the format description, checked against the encoder and the
    /// decoder (the checksums are the standard CRC-32 check values of their inputs).
    #[test]
    fn a_hand_built_frame_decodes() {
        let payload = b"{\"a\":1}";
        let mut headers = Vec::new();
        headers.push(11u8);
        headers.extend_from_slice(b":event-type");
        headers.push(7);
        headers.extend_from_slice(&5u16.to_be_bytes());
        headers.extend_from_slice(b"chunk");
        let total = 12 + headers.len() + payload.len() + 4;
        let mut frame = Vec::new();
        frame.extend_from_slice(&(total as u32).to_be_bytes());
        frame.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        frame.extend_from_slice(&crc32fast::hash(&frame).to_be_bytes());
        frame.extend_from_slice(&headers);
        frame.extend_from_slice(payload);
        frame.extend_from_slice(&crc32fast::hash(&frame).to_be_bytes());
        assert_eq!(
            frame,
            encode_frame(&[Header::string(":event-type", "chunk")], payload)
        );
        let m = decode_frame(&frame).unwrap();
        assert_eq!(m.payload, payload);
        assert_eq!(
            m.kind(),
            MessageKind::Event {
                event_type: "chunk"
            }
        );
        // CRC-32 (IEEE) check value, so the crate is the checksum the format uses.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn every_header_type_round_trips() {
        let headers = vec![
            Header {
                name: "t".into(),
                value: HeaderValue::Bool(true),
            },
            Header {
                name: "f".into(),
                value: HeaderValue::Bool(false),
            },
            Header {
                name: "b".into(),
                value: HeaderValue::Byte(-3),
            },
            Header {
                name: "s".into(),
                value: HeaderValue::Short(-300),
            },
            Header {
                name: "i".into(),
                value: HeaderValue::Int(70_000),
            },
            Header {
                name: "l".into(),
                value: HeaderValue::Long(-5_000_000_000),
            },
            Header {
                name: "bytes".into(),
                value: HeaderValue::Bytes(vec![0, 255, 7]),
            },
            Header::string("str", "héllo"),
            Header {
                name: "ts".into(),
                value: HeaderValue::Timestamp(1_700_000_000_000),
            },
            Header {
                name: "uuid".into(),
                value: HeaderValue::Uuid([9; 16]),
            },
        ];
        let frame = encode_frame(&headers, b"payload");
        let m = decode_frame(&frame).unwrap();
        assert_eq!(m.headers, headers);
        assert_eq!(m.payload, b"payload");
        assert_eq!(m.header_str("str"), Some("héllo"));
        assert_eq!(m.header("i"), Some(&HeaderValue::Int(70_000)));
    }

    #[test]
    fn message_kinds_are_read_from_the_type_headers() {
        let frame = encode_exception("validationException", b"{}");
        let m = decode_frame(&frame).unwrap();
        assert_eq!(
            m.kind(),
            MessageKind::Exception {
                exception_type: "validationException"
            }
        );
        let frame = encode_frame(
            &[
                Header::string(":message-type", "error"),
                Header::string(":error-code", "InternalError"),
                Header::string(":error-message", "boom"),
            ],
            b"",
        );
        assert_eq!(
            decode_frame(&frame).unwrap().kind(),
            MessageKind::Error {
                code: "InternalError",
                message: "boom"
            }
        );
        assert_eq!(
            decode_frame(&encode_frame(&[], b"")).unwrap().kind(),
            MessageKind::Event { event_type: "" }
        );
    }

    #[test]
    fn corruption_is_a_clear_error() {
        let good = encode_event("e", b"{}");
        let mut bad = good.clone();
        bad[9] ^= 1; // prelude CRC
        assert!(matches!(
            decode_all(&[&bad], DEFAULT_MAX_FRAME_BYTES).1,
            Some(FrameError::PreludeCrc { .. })
        ));
        let mut bad = good.clone();
        let last = bad.len() - 5;
        bad[last] ^= 0x40; // payload byte
        let (_, e) = decode_all(&[&bad], DEFAULT_MAX_FRAME_BYTES);
        let e = e.unwrap();
        assert!(matches!(e, FrameError::MessageCrc { .. }));
        let provider: ProviderError = e.into();
        assert_eq!(provider.kind, ErrorKind::BadResponse);
        assert!(
            provider.message.contains("checksum"),
            "{}",
            provider.message
        );

        let (_, e) = decode_all(&[&good[..good.len() - 1]], DEFAULT_MAX_FRAME_BYTES);
        assert_eq!(
            e,
            Some(FrameError::Truncated {
                buffered: good.len() - 1
            })
        );
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_prelude() {
        let big = encode_event("e", &vec![b'x'; 5000]);
        let mut reader = EventStreamReader::new(1024);
        let e = reader.feed(&big[..20], |_| {}).unwrap_err();
        assert!(matches!(e, FrameError::FrameTooLarge { max: 1024, .. }));
        assert_eq!(reader.buffered(), 0);
        // The reader stays failed and holds nothing, whatever follows.
        assert_eq!(reader.feed(&big[20..], |_| {}), Err(e.clone()));
        assert_eq!(reader.buffered(), 0);
        assert_eq!(reader.finish(), Err(e));
    }

    #[test]
    fn a_bad_header_section_is_an_error() {
        // A header claiming a 200-byte string inside a 3-byte value.
        let headers = [1u8, b'x', 7, 0, 200, b'a'];
        let total = 16 + headers.len();
        let mut frame = Vec::new();
        frame.extend_from_slice(&(total as u32).to_be_bytes());
        frame.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        frame.extend_from_slice(&crc32fast::hash(&frame).to_be_bytes());
        frame.extend_from_slice(&headers);
        frame.extend_from_slice(&crc32fast::hash(&frame).to_be_bytes());
        assert!(matches!(
            decode_frame(&frame),
            Err(FrameError::BadHeader {
                offset: 0,
                reason: "truncated header value"
            })
        ));
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_frames(cuts in proptest::collection::vec(0usize..400, 0..16)) {
            let body = sample_stream();
            let (whole, e) = decode_all(&[&body], DEFAULT_MAX_FRAME_BYTES);
            prop_assert!(e.is_none());
            prop_assert_eq!(whole.len(), 4);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points { pieces.push(&body[last..p]); last = p; }
            pieces.push(&body[last..]);
            let (split, e) = decode_all(&pieces, DEFAULT_MAX_FRAME_BYTES);
            prop_assert!(e.is_none());
            prop_assert_eq!(&whole, &split);
            let bytewise: Vec<&[u8]> = body.chunks(1).collect();
            prop_assert_eq!(&whole, &decode_all(&bytewise, DEFAULT_MAX_FRAME_BYTES).0);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            cut in 0usize..2048,
        ) {
            let cut = cut.min(bytes.len());
            let mut reader = EventStreamReader::new(512);
            let mut n = 0;
            let a = reader.feed(&bytes[..cut], |_| n += 1);
            prop_assert!(reader.buffered() <= 512);
            let b = reader.feed(&bytes[cut..], |_| n += 1);
            prop_assert!(reader.buffered() <= 512);
            let _ = (a, b, reader.finish());
            let _ = decode_frame(&bytes);
        }

        #[test]
        fn any_single_bit_flip_is_detected(bit in 0usize..(8 * 200)) {
            let body = encode_event("contentBlockDelta", br#"{"delta":{"text":"Paris"}}"#);
            let bit = bit % (8 * body.len());
            let mut bad = body.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let (messages, e) = decode_all(&[&bad], DEFAULT_MAX_FRAME_BYTES);
            prop_assert!(messages.is_empty());
            prop_assert!(e.is_some());
        }

        #[test]
        fn encoded_frames_round_trip(
            name in "[a-z:-]{1,20}",
            value in ".{0,40}",
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let headers = vec![Header::string(name, value)];
            let m = decode_frame(&encode_frame(&headers, &payload)).unwrap();
            prop_assert_eq!(m.headers, headers);
            prop_assert_eq!(m.payload, payload);
        }
    }
}

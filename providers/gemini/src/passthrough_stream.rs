//! The `/gemini/*` pass-through route's answers: forwarded unchanged, with the usage, finish
//! reason and model version they report. Streams come as `alt=sse` events (forwarded whole)
//! or, without `alt=sse`, as one JSON array whose elements arrive over time (forwarded as the
//! bytes arrive; each element is read once it is complete).

use serde_json::Value;
use switchyard_google_genai::response::{finish_reason, usage_from};
use switchyard_plugin_sdk::sse::DEFAULT_MAX_EVENT_BYTES;
use switchyard_plugin_sdk::{
    ParsedResponse, ResponseHead, ResponseInfo, StreamDecoder, StreamOutput,
};

use switchyard_plugin_sdk::native::{is_json, Inspect, RawEventDecoder, Verdict};

/// The side data of one `generateContent` answer or stream chunk.
fn info_of(v: &Value) -> ResponseInfo {
    ResponseInfo {
        usage: v
            .get("usageMetadata")
            .filter(|m| m.is_object())
            .map(usage_from),
        finish_reason: v
            .pointer("/candidates/0/finishReason")
            .and_then(finish_reason)
            .map(str::to_owned),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        ..ResponseInfo::default()
    }
}

/// A pass-through answer: unchanged; a JSON answer's (or, for a JSON array of stream chunks,
/// its chunks') usage, finish reason and model are reported, a non-JSON answer keeps its
/// content type.
pub(crate) fn parse_passthrough(head: &ResponseHead, body: &[u8]) -> ParsedResponse {
    let mut info = ResponseInfo::default();
    if is_json(head, body) {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(chunks)) => chunks.iter().for_each(|c| info.merge(info_of(c))),
            Ok(v) => info = info_of(&v),
            Err(_) => {}
        }
    } else if let Some(ct) = head.header("content-type") {
        info.content_type = Some(ct.to_owned());
    }
    ParsedResponse {
        body: body.to_vec(),
        info,
    }
}

/// Reads `alt=sse` events; Gemini's stream has no last event, so the end of the body is its end.
#[derive(Debug, Default)]
pub(crate) struct SseInspector;

impl Inspect for SseInspector {
    fn inspect(&mut self, _name: &str, data: &[u8], out: &mut StreamOutput) -> Verdict {
        if let Ok(v) = serde_json::from_slice::<Value>(data) {
            out.info.merge(info_of(&v));
        }
        Verdict::FORWARD
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        out.done = true;
    }
}

/// A streamed JSON array, forwarded as it arrives; its elements (objects) are read as they
/// complete, each held up to the event size limit (a longer one is forwarded unread).
#[derive(Debug, Default)]
pub(crate) struct ArrayReader {
    depth: u32,
    in_string: bool,
    escaped: bool,
    element: Vec<u8>,
    too_long: bool,
    closed: bool,
}

impl ArrayReader {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        out.sse.extend_from_slice(bytes);
        if self.closed {
            return;
        }
        for &b in bytes {
            if self.depth >= 2 {
                if self.element.len() < DEFAULT_MAX_EVENT_BYTES {
                    self.element.push(b);
                } else {
                    self.too_long = true;
                }
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth == 2 {
                        self.element.clear();
                        self.element.push(b);
                        self.too_long = false;
                    }
                }
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        if !self.too_long {
                            if let Ok(v) = serde_json::from_slice::<Value>(&self.element) {
                                out.info.merge(info_of(&v));
                            }
                        }
                        self.element = Vec::new();
                    } else if self.depth == 0 {
                        out.done = true;
                        self.closed = true;
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Leading bytes held to tell the two stream forms apart; whitespace beyond this is SSE.
const SNIFF_LIMIT: usize = 4096;

#[derive(Debug)]
enum Form {
    /// Before the first non-blank byte.
    Unknown(Vec<u8>),
    Sse(RawEventDecoder<SseInspector>),
    Array(ArrayReader),
}

/// The decoder of a pass-through stream (see the module documentation).
#[derive(Debug)]
pub struct PassthroughDecoder {
    form: Form,
}

impl PassthroughDecoder {
    pub(crate) fn new() -> Self {
        PassthroughDecoder {
            form: Form::Unknown(Vec::new()),
        }
    }

    fn choose(&mut self, held: Vec<u8>, array: bool, out: &mut StreamOutput) {
        self.form = if array {
            let mut reader = ArrayReader::default();
            reader.feed(&held, out);
            Form::Array(reader)
        } else {
            let mut decoder = RawEventDecoder::new("gemini", SseInspector);
            decoder.feed(&held, out);
            Form::Sse(decoder)
        };
    }
}

impl StreamDecoder for PassthroughDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        match &mut self.form {
            Form::Sse(d) => d.feed(bytes, out),
            Form::Array(r) => r.feed(bytes, out),
            Form::Unknown(held) => {
                held.extend_from_slice(bytes);
                if let Some(&first) = held.iter().find(|b| !b.is_ascii_whitespace()) {
                    let held = std::mem::take(held);
                    self.choose(held, first == b'[', out);
                } else if held.len() > SNIFF_LIMIT {
                    let held = std::mem::take(held);
                    self.choose(held, false, out);
                }
            }
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if let Form::Unknown(held) = &mut self.form {
            let held = std::mem::take(held);
            self.choose(held, false, out);
        }
        match &mut self.form {
            Form::Sse(d) => d.finish(out),
            Form::Array(_) | Form::Unknown(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::testing::decode_split as decode;

    const CHUNK1: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Hi \"[there]{\""}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4},"modelVersion":"gemini-2.5-flash"}"#;
    const CHUNK2: &str = r#"{"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"thoughtsTokenCount":5,"totalTokenCount":12},"modelVersion":"gemini-2.5-flash"}"#;

    fn sse() -> String {
        format!("data: {CHUNK1}\r\n\r\ndata: {CHUNK2}\r\n\r\n")
    }

    fn array() -> String {
        format!("[{CHUNK1}\n,\r\n{CHUNK2}\n]")
    }

    fn check(out: &StreamOutput) {
        assert!(out.done && out.error.is_none());
        let u = out.info.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens),
            (4, 8, 5)
        );
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
        assert_eq!(out.info.model.as_deref(), Some("gemini-2.5-flash"));
    }

    #[test]
    fn both_stream_forms_pass_unchanged_with_their_usage() {
        for body in [sse(), array(), format!("\n {}", array())] {
            let out = decode(&mut PassthroughDecoder::new(), body.as_bytes(), &[]);
            assert_eq!(out.sse, body.as_bytes());
            check(&out);
        }
    }

    #[test]
    fn answers_report_usage_whatever_their_form() {
        let head = ResponseHead {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=UTF-8".into(),
            )],
        };
        let p = parse_passthrough(&head, CHUNK2.as_bytes());
        assert_eq!(p.body, CHUNK2.as_bytes());
        assert_eq!(p.info.usage.unwrap().total_tokens, 12);
        let p = parse_passthrough(&head, array().as_bytes());
        assert_eq!(p.info.usage.unwrap().total_tokens, 12);
        let models = br#"{"models":[{"name":"models/gemini-2.5-flash"}]}"#;
        assert!(parse_passthrough(&head, models).info.is_empty());
        let text = ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
        };
        assert_eq!(
            parse_passthrough(&text, b"x").info.content_type.as_deref(),
            Some("text/plain")
        );
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..1000, 0..12), as_array: bool) {
            let body = if as_array { array() } else { sse() };
            let whole = decode(&mut PassthroughDecoder::new(), body.as_bytes(), &[]);
            check(&whole);
            proptest::prop_assert_eq!(&whole, &decode(&mut PassthroughDecoder::new(), body.as_bytes(), &cuts));
            let every: Vec<usize> = (1..body.len()).collect();
            proptest::prop_assert_eq!(&whole, &decode(&mut PassthroughDecoder::new(), body.as_bytes(), &every));
        }
    }
}

//! Streams of the native endpoints: Responses API events and pass-through streams are sent to
//! the client as the upstream sent them (each event whole, its `event:` and `data:` lines
//! unchanged), while usage, the model and the end are read on the way.
//!
//! [`EndpointDecoder`] picks the decoder by the request context's endpoint.

use serde::Deserialize;
use serde_json::Value;
use switchyard_plugin_sdk::native::EitherDecoder;
use switchyard_plugin_sdk::sse::{SseEvent, SseReader, DEFAULT_MAX_EVENT_BYTES};
use switchyard_plugin_sdk::{endpoint, RequestContext, StreamDecoder, StreamOutput};

use super::answers::{any_usage, embedded_error, Classifier, ResponseView};

/// What a stream of native events is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `/responses`: an `error` event ends the stream with that error (the host reports it in
    /// the client's protocol).
    Responses,
    /// A pass-through route: every event reaches the client, errors included; the client speaks
    /// the provider's protocol.
    Passthrough,
}

/// Decoder of a stream of native events (see the module documentation).
#[derive(Debug)]
pub struct EventDecoder {
    provider: &'static str,
    classify: Classifier,
    mode: Mode,
    reader: SseReader,
    seen_model: bool,
    ended: bool,
}

/// The members of an event that carry side data; everything else is skipped unbuilt.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventView {
    #[serde(rename = "type")]
    kind: Option<Value>,
    response: Option<ResponseView>,
    /// Chat chunks (pass-through).
    usage: Option<Value>,
    model: Option<Value>,
}

/// Responses events after which nothing more comes.
const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.incomplete",
    "response.failed",
];

impl EventDecoder {
    pub(crate) fn new(provider: &'static str, classify: Classifier, mode: Mode) -> Self {
        EventDecoder {
            provider,
            classify,
            mode,
            reader: SseReader::new(DEFAULT_MAX_EVENT_BYTES),
            seen_model: false,
            ended: false,
        }
    }

    fn end(&mut self) {
        self.ended = true;
        // Nothing more is read: hold no buffered bytes.
        self.reader = SseReader::new(0);
    }

    fn on_event(&mut self, event: SseEvent, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let data = event.data.trim_ascii();
        if self.mode == Mode::Passthrough && data == b"[DONE]" {
            forward(&event, out);
            out.done = true;
            self.ended = true;
            return;
        }
        let named_type = (!event.event.is_empty()).then_some(event.event.as_str());
        // Deltas are most of a stream and carry nothing to read: a named delta is not parsed.
        let interesting = match named_type {
            Some(name) => {
                name == "error"
                    || TERMINAL.contains(&name)
                    || !self.seen_model
                    || self.mode == Mode::Passthrough
            }
            None => true,
        };
        let view: Option<EventView> = if interesting && !data.is_empty() {
            serde_json::from_slice(data).ok()
        } else {
            None
        };
        let kind = view
            .as_ref()
            .and_then(|v| v.kind.as_ref())
            .and_then(Value::as_str)
            .or(named_type);
        if kind == Some("error") && self.mode == Mode::Responses {
            let mut error = embedded_error(self.classify, data);
            if !error.message.starts_with(self.provider) {
                error.message = format!("{}: {}", self.provider, error.message);
            }
            out.error = Some(error);
            self.ended = true;
            return;
        }
        if let Some(view) = &view {
            if let Some(response) = &view.response {
                let info = response.info();
                self.seen_model |= info.model.is_some();
                out.info.merge(info);
            } else {
                let model = view.model.as_ref().and_then(Value::as_str);
                if let Some(model) = model.filter(|m| !m.is_empty()) {
                    self.seen_model = true;
                    out.info.model = Some(model.to_owned());
                }
                if let Some(usage) = view.usage.as_ref().and_then(any_usage) {
                    out.info.usage = Some(usage);
                }
            }
        }
        forward(&event, out);
        if kind.is_some_and(|k| TERMINAL.contains(&k)) {
            out.done = true;
            self.ended = true;
        }
    }
}

/// Writes `event` back out: its `event:` line and its `data:` lines.
fn forward(event: &SseEvent, out: &mut StreamOutput) {
    if !event.event.is_empty() {
        out.sse.extend_from_slice(b"event: ");
        out.sse.extend_from_slice(event.event.as_bytes());
        out.sse.push(b'\n');
    }
    if !event.data.is_empty() || event.event.is_empty() {
        for line in event.data.split(|&b| b == b'\n') {
            out.sse.extend_from_slice(b"data: ");
            out.sse.extend_from_slice(line);
            out.sse.push(b'\n');
        }
    }
    out.sse.push(b'\n');
}

impl StreamDecoder for EventDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut events = Vec::new();
        let result = self.reader.feed(bytes, |e| events.push(e));
        for event in events {
            self.on_event(event, out);
        }
        if let Err(mut e) = result {
            if !self.ended {
                e.message = format!("{}: {}", self.provider, e.message);
                out.error = Some(e);
                self.ended = true;
            }
        }
        if self.ended {
            self.end();
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut events = Vec::new();
        self.reader.finish(|e| events.push(e));
        for event in events {
            self.on_event(event, out);
        }
        self.end();
    }
}

/// The plugin's stream decoder: the chat decoder `C` for chat and completions streams, an
/// [`EventDecoder`] for Responses and pass-through streams, chosen by the request's endpoint.
pub type EndpointDecoder<C> = EitherDecoder<C, EventDecoder>;

/// The decoder for a stream of `context`; `chat` makes the chat decoder when it is one.
pub(crate) fn endpoint_decoder<C>(
    provider: &'static str,
    classify: Classifier,
    context: &RequestContext,
    chat: impl FnOnce() -> C,
) -> EndpointDecoder<C> {
    let mode = match context.endpoint.as_str() {
        endpoint::PASSTHROUGH => Mode::Passthrough,
        endpoint::RESPONSES => Mode::Responses,
        _ => return EitherDecoder::Chat(chat()),
    };
    EitherDecoder::Native(EventDecoder::new(provider, classify, mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::openai::ChatStreamDecoder;
    use switchyard_plugin_sdk::{ErrorKind, Passthrough, ProviderError, ResponseHead};

    fn classify(head: &ResponseHead, body: &[u8]) -> ProviderError {
        switchyard_plugin_sdk::openai::classify_error("test", head, body)
    }

    fn context(endpoint: &str) -> RequestContext {
        RequestContext {
            stream: true,
            endpoint: endpoint.to_owned(),
            passthrough: (endpoint == "passthrough").then(|| Passthrough {
                method: "POST".into(),
                path: "/v1/responses".into(),
            }),
            ..RequestContext::default()
        }
    }

    fn decode(body: &[u8], cuts: &[usize], endpoint: &str) -> StreamOutput {
        let ctx = context(endpoint);
        let mut d = endpoint_decoder("test", classify, &ctx, || {
            ChatStreamDecoder::new("test", &ctx)
        });
        switchyard_plugin_sdk::testing::decode_split(&mut d, body, cuts)
    }

    const CREATED: &str = r#"{"type":"response.created","response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5-nano-2025-08-07","output":[],"usage":null},"sequence_number":0}"#;
    const DELTA: &str = r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi \"there\"","sequence_number":1}"#;
    const COMPLETED: &str = r#"{"type":"response.completed","response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-5-nano-2025-08-07","output":[{"type":"message"}],"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":2},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":17}},"sequence_number":2}"#;

    fn responses_body(crlf: bool) -> Vec<u8> {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut s = format!(": keep-alive{nl}{nl}");
        for (name, data) in [
            ("response.created", CREATED),
            ("response.output_text.delta", DELTA),
            ("response.completed", COMPLETED),
        ] {
            s.push_str(&format!("event: {name}{nl}data: {data}{nl}{nl}"));
        }
        s.into_bytes()
    }

    fn expected_sse() -> Vec<u8> {
        format!(
            "event: response.created\ndata: {CREATED}\n\nevent: response.output_text.delta\ndata: {DELTA}\n\nevent: response.completed\ndata: {COMPLETED}\n\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_responses_stream_passes_through_with_its_usage() {
        let out = decode(&responses_body(false), &[], "responses");
        assert_eq!(out.sse, expected_sse());
        assert!(out.done);
        assert!(out.error.is_none());
        let u = out.info.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (10, 7, 17, 2, 3)
        );
        assert_eq!(out.info.model.as_deref(), Some("gpt-5-nano-2025-08-07"));
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
        // CRLF framing comes out as LF framing, events unchanged.
        assert_eq!(
            decode(&responses_body(true), &[], "responses").sse,
            expected_sse()
        );
    }

    #[test]
    fn events_without_names_are_typed_by_their_data() {
        let body =
            format!("data: {CREATED}\n\ndata: {DELTA}\n\ndata: {COMPLETED}\n\ndata: {DELTA}\n\n");
        let out = decode(body.as_bytes(), &[], "responses");
        assert_eq!(
            out.sse,
            format!("data: {CREATED}\n\ndata: {DELTA}\n\ndata: {COMPLETED}\n\n").into_bytes(),
            "nothing after response.completed"
        );
        assert!(out.done);
        assert_eq!(out.info.usage.unwrap().total_tokens, 17);
    }

    #[test]
    fn an_error_event_ends_the_stream_with_its_class() {
        let error = r#"{"type":"error","sequence_number":2,"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"You exceeded your current quota.","param":null}}"#;
        let failed = r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"insufficient_quota"},"output":[]}}"#;
        let body = format!("data: {CREATED}\n\ndata: {error}\n\ndata: {failed}\n\n");
        let out = decode(body.as_bytes(), &[], "responses");
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimit, 429));
        assert_eq!(e.code.as_deref(), Some("insufficient_quota"));
        assert!(e.message.starts_with("test: You exceeded"), "{}", e.message);
        assert_eq!(out.sse, format!("data: {CREATED}\n\n").into_bytes());
        assert!(!out.done);

        // OpenAI's documented shape: the error's members on the event itself.
        let flat = r#"{"type":"error","code":"server_error","message":"boom","param":null,"sequence_number":1}"#;
        let out = decode(
            format!("event: error\ndata: {flat}\n\n").as_bytes(),
            &[],
            "responses",
        );
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 500));
        assert!(e.message.contains("boom"));
    }

    #[test]
    fn a_response_failed_without_an_error_event_still_ends_the_stream() {
        let failed = r#"{"type":"response.failed","response":{"status":"failed","model":"m","error":{"code":"server_error","message":"x"},"output":[],"usage":{"input_tokens":3,"output_tokens":0}}}"#;
        let out = decode(
            format!("event: response.failed\ndata: {failed}\n\n").as_bytes(),
            &[],
            "responses",
        );
        assert!(out.done && out.error.is_none());
        assert_eq!(out.info.usage.unwrap().prompt_tokens, 3);
    }

    #[test]
    fn chat_streams_still_go_to_the_chat_decoder() {
        let body = b": hi\n\ndata: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
        let out = decode(body, &[], "chat");
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
        assert_eq!(out.info.usage.unwrap().total_tokens, 2);
        assert!(out.done);
        assert!(
            !String::from_utf8(out.sse)
                .unwrap()
                .contains("\"choices\":[]"),
            "usage chunk hidden as the chat decoder does"
        );
    }

    #[test]
    fn passthrough_streams_keep_every_event_and_read_usage() {
        let chat = b"data: {\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"late\"}}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";
        let out = decode(chat, &[], "passthrough");
        assert_eq!(out.sse, chat);
        assert!(out.done && out.error.is_none());
        assert_eq!(out.info.usage.unwrap().total_tokens, 5);
        assert_eq!(out.info.model.as_deref(), Some("gpt-4o"));

        let out = decode(&responses_body(false), &[], "passthrough");
        assert_eq!(out.sse, expected_sse());
        assert!(out.done);
        assert_eq!(out.info.usage.unwrap().total_tokens, 17);
    }

    #[test]
    fn an_over_long_event_is_an_error() {
        let mut d = EventDecoder::new("test", classify, Mode::Passthrough);
        d.reader = SseReader::new(64);
        let mut out = StreamOutput::default();
        d.feed(&[b'x'; 100], &mut out);
        assert_eq!(out.error.unwrap().kind, ErrorKind::BadResponse);
        let mut out = StreamOutput::default();
        d.feed(b"data: more\n\n", &mut out);
        assert_eq!(out, StreamOutput::default());
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(
            cuts in proptest::collection::vec(0usize..2000, 0..12),
            variant in 0usize..4,
            passthrough: bool,
        ) {
            let error = r#"{"type":"error","error":{"code":"rate_limit_exceeded","message":"slow"}}"#;
            let body: Vec<u8> = match variant {
                0 => responses_body(false),
                1 => responses_body(true),
                2 => format!("data: {CREATED}\r\n\r\ndata: {DELTA}\n\nevent: error\ndata: {error}\n\ndata: {COMPLETED}").into_bytes(),
                _ => b"data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n".to_vec(),
            };
            let endpoint = match (passthrough, variant) {
                (true, _) => "passthrough",
                (false, 3) => "chat",
                _ => "responses",
            };
            let whole = decode(&body, &[], endpoint);
            proptest::prop_assert_eq!(&whole, &decode(&body, &cuts, endpoint));
            let every: Vec<usize> = (1..body.len()).collect();
            proptest::prop_assert_eq!(&whole, &decode(&body, &every, endpoint));
        }
    }
}

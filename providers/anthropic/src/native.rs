//! The Messages API served natively (`/v1/messages` from an Anthropic client) and the
//! `/anthropic/*` pass-through route: bodies go upstream as the client sent them (only `model`
//! is pointed at the deployment on `messages`) and answers come back unchanged; the plugin
//! reads usage, the stop reason, the model and in-stream errors on the way.

use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_plugin_sdk::openai::RawObject;
use switchyard_plugin_sdk::{
    ParsedResponse, ProviderError, RequestContext, ResponseHead, ResponseInfo, StreamOutput,
};

use crate::response::{classify_error, classify_kind, finish_reason, usage_from};
use switchyard_plugin_sdk::native::{forward_json, is_json, Inspect, Verdict};

/// A Messages request's body: the client's, with `model` set to the deployment's and the
/// gateway-only members removed; every other member is copied byte for byte. A client that
/// streams by the context alone gets `stream: true` in the body.
pub(crate) fn messages_body(
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<Vec<u8>, ProviderError> {
    let obj = RawObject::parse(body)?;
    if !obj.contains("messages") {
        return Err(ProviderError::invalid_request(
            "anthropic: the Messages request has no 'messages' member",
        )
        .with_param("messages"));
    }
    Ok(forward_json(obj, model, context, &[]).0)
}

/// The members of a Messages answer that carry side data; the content is skipped unbuilt.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MessageView {
    #[serde(rename = "type")]
    kind: Option<Value>,
    model: Option<Value>,
    stop_reason: Option<Value>,
    usage: Option<Value>,
    content: Option<serde::de::IgnoredAny>,
}

impl MessageView {
    fn info(&self) -> ResponseInfo {
        ResponseInfo {
            usage: self
                .usage
                .as_ref()
                .filter(|u| u.is_object())
                .map(usage_from),
            finish_reason: self
                .stop_reason
                .as_ref()
                .and_then(Value::as_str)
                .map(|s| finish_reason(s).to_owned()),
            model: self
                .model
                .as_ref()
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_owned),
            ..ResponseInfo::default()
        }
    }
}

/// An error object inside a 2xx body, classified as an error response of its type would be.
fn embedded_error(body: &[u8]) -> ProviderError {
    classify_error(
        &ResponseHead {
            status: 500,
            headers: Vec::new(),
        },
        body,
    )
}

/// A `messages` answer: forwarded unchanged, with its usage, stop reason and model.
pub(crate) fn parse_message(body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let view: MessageView = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "anthropic: the Messages answer is not a JSON object: {e}"
        ))
    })?;
    if view.kind.as_ref().and_then(Value::as_str) == Some("error") {
        return Err(embedded_error(body));
    }
    if view.content.is_none() {
        return Err(ProviderError::bad_response(
            "anthropic: the Messages answer has no 'content'",
        ));
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: view.info(),
    })
}

/// A pass-through answer: forwarded unchanged whatever it is; a Messages answer's usage, stop
/// reason and model are reported, a non-JSON answer keeps its content type.
pub(crate) fn parse_passthrough(head: &ResponseHead, body: &[u8]) -> ParsedResponse {
    let mut info = ResponseInfo::default();
    if is_json(head, body) {
        if let Ok(view) = serde_json::from_slice::<MessageView>(body) {
            if view.kind.as_ref().and_then(Value::as_str) == Some("message") {
                info = view.info();
            }
        }
    } else if let Some(ct) = head.header("content-type") {
        info.content_type = Some(ct.to_owned());
    }
    ParsedResponse {
        body: body.to_vec(),
        info,
    }
}

/// Reads the Messages SSE events of a native stream (see [`crate::events`]).
#[derive(Debug)]
pub struct MessagesInspector {
    /// On the pass-through route the client gets every event, an `error` event too; on
    /// `messages` the host reports the error in the client's protocol itself.
    passthrough: bool,
    /// Usage from `message_start`, completed by `message_delta`.
    usage: Map<String, Value>,
    model: Option<String>,
    finish: Option<&'static str>,
}

impl MessagesInspector {
    pub(crate) fn new(passthrough: bool) -> Self {
        MessagesInspector {
            passthrough,
            usage: Map::new(),
            model: None,
            finish: None,
        }
    }

    fn record(&self, out: &mut StreamOutput) {
        out.info.merge(ResponseInfo {
            usage: (!self.usage.is_empty()).then(|| usage_from(&Value::Object(self.usage.clone()))),
            finish_reason: self.finish.map(str::to_owned),
            model: self.model.clone(),
            ..ResponseInfo::default()
        });
    }
}

/// Events whose data carries side data; the others (content deltas, pings) are not parsed.
const READ: [&str; 4] = ["message_start", "message_delta", "message_stop", "error"];

impl Inspect for MessagesInspector {
    fn inspect(&mut self, name: &str, data: &[u8], out: &mut StreamOutput) -> Verdict {
        if !name.is_empty() && !READ.contains(&name) {
            return Verdict::FORWARD;
        }
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return Verdict::FORWARD;
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned();
        match kind.as_str() {
            "message_start" => {
                let message = &v["message"];
                if let Some(model) = message["model"].as_str().filter(|m| !m.is_empty()) {
                    self.model = Some(model.to_owned());
                }
                if let Some(usage) = message["usage"].as_object() {
                    self.usage = usage.clone();
                }
                self.record(out);
                Verdict::FORWARD
            }
            "message_delta" => {
                for (k, val) in v["usage"].as_object().into_iter().flatten() {
                    if !val.is_null() {
                        self.usage.insert(k.clone(), val.clone());
                    }
                }
                if let Some(stop) = v["delta"]["stop_reason"].as_str() {
                    self.finish = Some(finish_reason(stop));
                }
                self.record(out);
                Verdict::FORWARD
            }
            "message_stop" => {
                out.done = true;
                Verdict {
                    forward: true,
                    end: true,
                }
            }
            "error" => {
                let e = &v["error"];
                out.error = Some(classify_kind(
                    e["type"].as_str().unwrap_or(""),
                    500,
                    e["message"].as_str().unwrap_or("stream error"),
                ));
                Verdict {
                    forward: self.passthrough,
                    end: true,
                }
            }
            _ => Verdict::FORWARD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::native::RawEventDecoder;
    use switchyard_plugin_sdk::testing::decode_split as decode;
    use switchyard_plugin_sdk::ErrorKind;

    #[test]
    fn the_body_keeps_its_bytes_but_the_model() {
        let body = br#"{"model":"claude","max_tokens":5,"messages":[{"role":"user","content":"h\u00e9"}],"temperature":0.50,"mock_response":"x","metadata":{"user_id":"u"}}"#;
        let ctx = RequestContext {
            stream: true,
            ..RequestContext::default()
        };
        let out = messages_body(body, "claude-haiku-4-5", &ctx).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"h\u00e9"}],"temperature":0.50,"metadata":{"user_id":"u"},"stream":true}"#
        );
        let e = messages_body(br#"{"model":"m"}"#, "m", &ctx).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert!(messages_body(b"[]", "m", &ctx).is_err());
    }

    #[test]
    fn answers_pass_unchanged_with_their_side_data() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"hi"}],"stop_reason":"max_tokens","usage":{"input_tokens":3,"cache_read_input_tokens":10,"cache_creation_input_tokens":5,"output_tokens":7}}"#;
        let parsed = parse_message(body).unwrap();
        assert_eq!(parsed.body, body);
        let u = parsed.info.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.cached_tokens,
                u.cache_write_tokens,
                u.total_tokens
            ),
            (18, 10, 5, 25)
        );
        assert_eq!(parsed.info.finish_reason.as_deref(), Some("length"));
        assert_eq!(parsed.info.model.as_deref(), Some("claude-x"));

        let e = parse_message(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        assert_eq!(
            parse_message(b"{}").unwrap_err().kind,
            ErrorKind::BadResponse
        );

        let head = |ct: &str| ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), ct.into())],
        };
        let p = parse_passthrough(&head("application/json"), body);
        assert_eq!(p.body, body);
        assert_eq!(p.info.usage.unwrap().total_tokens, 25);
        let models = br#"{"data":[{"type":"model","id":"claude-x"}],"has_more":false}"#;
        assert!(parse_passthrough(&head("application/json"), models)
            .info
            .is_empty());
        let p = parse_passthrough(&head("text/plain"), b"ok");
        assert_eq!(p.info.content_type.as_deref(), Some("text/plain"));
    }

    const START: &str = r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5-20251001","content":[],"stop_reason":null,"usage":{"input_tokens":12,"cache_read_input_tokens":100,"cache_creation_input_tokens":0,"output_tokens":1}}}"#;
    const DELTA: &str = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \"there\""}}"#;
    const MESSAGE_DELTA: &str = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}"#;
    const STOP: &str = r#"{"type":"message_stop"}"#;
    const OVERLOADED: &str =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;

    fn body(events: &[(&str, &str)], nl: &str) -> String {
        events
            .iter()
            .map(|(name, data)| format!("event: {name}{nl}data: {data}{nl}{nl}"))
            .collect()
    }

    fn text_stream(nl: &str) -> String {
        body(
            &[
                ("message_start", START),
                ("ping", r#"{"type": "ping"}"#),
                ("content_block_delta", DELTA),
                ("message_delta", MESSAGE_DELTA),
                ("message_stop", STOP),
            ],
            nl,
        )
    }

    fn decoder(passthrough: bool) -> RawEventDecoder<MessagesInspector> {
        RawEventDecoder::new("anthropic", MessagesInspector::new(passthrough))
    }

    #[test]
    fn a_stream_passes_through_with_its_usage() {
        for nl in ["\n", "\r\n"] {
            let body = text_stream(nl);
            let out = decode(&mut decoder(false), body.as_bytes(), &[]);
            assert_eq!(out.sse, body.as_bytes(), "unchanged, framing included");
            assert!(out.done && out.error.is_none());
            let u = out.info.usage.unwrap();
            assert_eq!(
                (
                    u.prompt_tokens,
                    u.completion_tokens,
                    u.cached_tokens,
                    u.total_tokens
                ),
                (112, 9, 100, 121)
            );
            assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
            assert_eq!(out.info.model.as_deref(), Some("claude-haiku-4-5-20251001"));
        }
    }

    #[test]
    fn an_error_event_ends_the_stream_with_its_class() {
        let events = [("message_start", START), ("error", OVERLOADED)];
        let stream = body(&events, "\n");
        let out = decode(&mut decoder(false), stream.as_bytes(), &[]);
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        assert_eq!(e.code.as_deref(), Some("overloaded_error"));
        assert!(!out.done);
        assert_eq!(
            out.sse,
            body(&events[..1], "\n").as_bytes(),
            "the host reports it"
        );
        let out = decode(&mut decoder(true), stream.as_bytes(), &[]);
        assert_eq!(out.sse, stream.as_bytes(), "a pass-through client sees it");
        assert_eq!(out.error.unwrap().kind, ErrorKind::Unavailable);
    }

    #[test]
    fn nothing_is_read_after_message_stop() {
        let stream = format!("{}event: ping\ndata: {{}}\n\n", text_stream("\n"));
        let out = decode(&mut decoder(true), stream.as_bytes(), &[]);
        assert_eq!(out.sse, text_stream("\n").as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(
            cuts in proptest::collection::vec(0usize..4000, 0..16),
            variant in 0usize..4,
            passthrough: bool,
        ) {
            let stream = match variant {
                0 => text_stream("\n"),
                1 => text_stream("\r\n"),
                2 => body(&[("message_start", START), ("content_block_delta", DELTA), ("error", OVERLOADED)], "\n"),
                // Cut off before message_stop, the last event without its blank line.
                _ => text_stream("\n").trim_end_matches('\n').to_owned(),
            };
            let whole = decode(&mut decoder(passthrough), stream.as_bytes(), &[]);
            proptest::prop_assert_eq!(&whole, &decode(&mut decoder(passthrough), stream.as_bytes(), &cuts));
            let every: Vec<usize> = (1..stream.len()).collect();
            proptest::prop_assert_eq!(&whole, &decode(&mut decoder(passthrough), stream.as_bytes(), &every));
        }
    }
}

//! Helpers for OpenAI-shaped wire formats, shared by every plugin whose upstream speaks (a
//! dialect of) the OpenAI API: rewriting a request body without re-serializing it, reading
//! usage, classifying OpenAI-style error bodies.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::sse::{SseEvent, SseReader};
use crate::types::{
    ErrorKind, ParsedResponse, ProviderError, RequestContext, ResponseHead, ResponseInfo,
    StreamOutput, Usage,
};
use crate::StreamDecoder;

/// The top-level members of a JSON object, in order, values kept as raw JSON text.
///
/// Rewriting a request through this type touches only the members that change: every other
/// value is copied byte-for-byte (no full re-serialization on the passthrough path).
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    members: Vec<(Cow<'a, str>, Cow<'a, RawValue>)>,
}

impl<'a> RawObject<'a> {
    /// Parses `body` as a JSON object.
    pub fn parse(body: &'a [u8]) -> Result<Self, ProviderError> {
        serde_json::from_slice(body).map_err(|e| {
            ProviderError::invalid_request(format!("request body is not a JSON object: {e}"))
        })
    }

    /// The raw JSON text of member `key`.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Member `key` deserialized as `T` (`None` when absent or `null`).
    pub fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => serde_json::from_str(raw.get()).map(Some).map_err(|e| {
                ProviderError::invalid_request(format!("invalid value for '{key}': {e}"))
                    .with_param(key)
            }),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// Sets member `key` to the JSON text of `value`, replacing it in place or appending it.
    pub fn set<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        // Serializing an in-memory value that came from JSON or a literal cannot fail.
        let raw = serde_json::value::to_raw_value(value)
            .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"));
        self.set_raw(key, raw);
    }

    /// Sets member `key` to already-serialized JSON.
    pub fn set_raw(&mut self, key: &str, raw: Box<RawValue>) {
        match self.members.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = Cow::Owned(raw),
            None => self
                .members
                .push((Cow::Owned(key.to_owned()), Cow::Owned(raw))),
        }
    }

    /// Removes member `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|(k, _)| k != key);
        before != self.members.len()
    }

    /// Member names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(k, _)| k.as_ref())
    }

    /// Writes the object back out.
    pub fn to_vec(&self) -> Vec<u8> {
        let size: usize = self
            .members
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(size + 2);
        out.push(b'{');
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys came from JSON, so re-escaping them is exact.
            serde_json::to_writer(&mut out, key.as_ref()).expect("writing to a Vec cannot fail");
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        out
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
            type Value = RawObject<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.retain(|(k, _): &(Cow<'a, str>, Cow<'a, RawValue>)| *k != key);
                    members.push((key, Cow::Borrowed(value)));
                }
                Ok(RawObject { members })
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

/// Reads an OpenAI `usage` object (also the dialects: DeepSeek's `prompt_cache_hit_tokens`,
/// Mistral's `num_cached_tokens`, cache-write details).
pub fn usage_from_json(usage: &Value) -> Option<Usage> {
    let obj = usage.as_object()?;
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let prompt = n(obj.get("prompt_tokens"));
    let completion = n(obj.get("completion_tokens"));
    let total = obj
        .get("total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(prompt + completion);
    let prompt_details = obj.get("prompt_tokens_details");
    let cached = prompt_details
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64)
        .or_else(|| obj.get("prompt_cache_hit_tokens").and_then(Value::as_u64))
        .or_else(|| obj.get("num_cached_tokens").and_then(Value::as_u64))
        .unwrap_or(0);
    let cache_write = n(prompt_details.and_then(|d| d.get("cache_write_tokens")));
    let reasoning = n(obj
        .get("completion_tokens_details")
        .and_then(|d| d.get("reasoning_tokens")));
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        cached_tokens: cached,
        cache_write_tokens: cache_write,
        reasoning_tokens: reasoning,
    })
}

/// The OpenAI `usage` object for `usage`, with details.
pub fn usage_to_json(usage: &Usage) -> Value {
    serde_json::json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

/// Classifies an OpenAI-style error response (`{"error": {"message", "type", "code", "param"}}`
/// or a bare message), keeping the provider's message.
pub fn classify_error(provider: &str, head: &ResponseHead, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
    let text = |key: &str| -> Option<String> {
        let v = error?.get(key)?;
        match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let message = text("message")
        .or_else(|| error.and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| {
            let snippet = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_owned();
            if snippet.is_empty() {
                format!("upstream returned HTTP {}", head.status)
            } else {
                snippet
            }
        });
    let code = text("code");
    let err_type = text("type");
    let param = text("param");

    let marker = |needle: &str| {
        code.as_deref().is_some_and(|c| c.contains(needle))
            || err_type.as_deref().is_some_and(|t| t.contains(needle))
    };
    let kind = if marker("context_length_exceeded")
        || message.contains("maximum context length")
        || message.contains("context window")
    {
        ErrorKind::ContextWindowExceeded
    } else if marker("content_filter") || marker("content_policy") {
        ErrorKind::ContentPolicy
    } else {
        match head.status {
            400 | 413 | 415 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            409 => ErrorKind::Unavailable,
            429 => ErrorKind::RateLimit,
            500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::BadResponse,
        }
    };
    let status = match kind {
        ErrorKind::ContextWindowExceeded | ErrorKind::ContentPolicy => 400,
        ErrorKind::BadResponse => 502,
        _ => head.status,
    };
    let mut e = ProviderError::new(kind, format!("{provider}: {message}"))
        .with_status(status)
        .with_retry_after_ms(head.retry_after_ms());
    e.code = match kind {
        ErrorKind::ContextWindowExceeded => Some("context_length_exceeded".to_owned()),
        ErrorKind::ContentPolicy => Some("content_policy_violation".to_owned()),
        _ => code,
    };
    e.param = param;
    e
}

/// Reads the side data of an OpenAI `chat.completion` or `chat.completion.chunk` object.
fn info_from_object(v: &Value) -> ResponseInfo {
    let mut info = ResponseInfo::default();
    if let Some(usage) = v.get("usage").filter(|u| !u.is_null()) {
        info.usage = usage_from_json(usage).or_else(|| {
            // Groq reports stream usage only inside `x_groq.usage`.
            v.get("x_groq")
                .and_then(|x| x.get("usage"))
                .and_then(usage_from_json)
        });
    } else if let Some(usage) = v.get("x_groq").and_then(|x| x.get("usage")) {
        info.usage = usage_from_json(usage);
    }
    info.finish_reason = v
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    info.model = v
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    info
}

/// Parses an OpenAI `chat.completion` body (2xx). The body is passed on as the upstream sent it.
pub fn parse_chat_response(provider: &str, body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("{provider}: response is not valid JSON: {e}"))
    })?;
    if v.get("error").is_some_and(|e| !e.is_null()) && v.get("choices").is_none() {
        let head = ResponseHead {
            status: 500,
            headers: Vec::new(),
        };
        return Err(classify_error(provider, &head, body));
    }
    if !v.get("choices").is_some_and(Value::is_array) {
        return Err(ProviderError::bad_response(format!(
            "{provider}: response has no 'choices' array"
        )));
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: info_from_object(&v),
    })
}

/// Decoder of OpenAI `chat.completion.chunk` SSE streams.
///
/// Chunks are forwarded byte-for-byte; only those that can carry side data (usage, a finish
/// reason, an error) are parsed. The gateway always asks the upstream for the usage chunk; it
/// is forwarded only when the client asked for it too.
#[derive(Debug)]
pub struct ChatStreamDecoder {
    provider: String,
    include_usage: bool,
    reader: SseReader,
    failed: bool,
}

impl ChatStreamDecoder {
    pub fn new(provider: &str, context: &RequestContext) -> Self {
        ChatStreamDecoder {
            provider: provider.to_owned(),
            include_usage: context.include_usage,
            reader: SseReader::default(),
            failed: false,
        }
    }

    fn on_event(&mut self, event: SseEvent, out: &mut StreamOutput) {
        if self.failed || out.done {
            return;
        }
        let data = trim_ascii(&event.data);
        if data.is_empty() {
            return;
        }
        if data == b"[DONE]" {
            out.done = true;
            out.sse.extend_from_slice(b"data: [DONE]\n\n");
            return;
        }
        let is_error_event = event.event == "error";
        if !is_error_event && !might_carry_side_data(data) {
            out.push_data(data);
            return;
        }
        let v: Value = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(e) => {
                self.fail(
                    out,
                    ProviderError::bad_response(format!(
                        "{}: stream chunk is not valid JSON: {e}",
                        self.provider
                    )),
                );
                return;
            }
        };
        if is_error_event || v.get("error").is_some_and(|e| !e.is_null()) {
            let status = v
                .get("error")
                .and_then(|e| e.get("status_code").or_else(|| e.get("code")))
                .and_then(Value::as_u64)
                .filter(|s| (400..600).contains(s))
                .unwrap_or(500) as u16;
            let head = ResponseHead {
                status,
                headers: Vec::new(),
            };
            self.fail(out, classify_error(&self.provider, &head, data));
            return;
        }
        out.info.merge(info_from_object(&v));
        let usage_only = v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && v.get("usage").is_some_and(|u| !u.is_null());
        if usage_only && !self.include_usage {
            return;
        }
        out.push_data(data);
    }

    fn fail(&mut self, out: &mut StreamOutput, error: ProviderError) {
        self.failed = true;
        out.error = Some(error);
    }
}

/// Whether a chunk's bytes may hold usage, a finish reason or an error (cheap substring test;
/// a false positive only costs a parse).
fn might_carry_side_data(data: &[u8]) -> bool {
    const NEEDLES: [&[u8]; 4] = [
        b"\"usage\":{",
        b"\"usage\": {",
        b"\"finish_reason\":\"",
        b"\"error\"",
    ];
    NEEDLES.iter().any(|n| contains(data, n)) || contains(data, b"\"finish_reason\": \"")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

impl StreamDecoder for ChatStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        let mut events = Vec::new();
        if let Err(e) = self.reader.feed(bytes, |ev| events.push(ev)) {
            for ev in events {
                self.on_event(ev, out);
            }
            if !self.failed {
                self.fail(out, e);
            }
            return;
        }
        for ev in events {
            self.on_event(ev, out);
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        let mut events = Vec::new();
        self.reader.finish(|ev| events.push(ev));
        for ev in events {
            self.on_event(ev, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_object_rewrites_only_the_touched_members() {
        let body =
            br#"{"model":"group","messages":[{"role":"user","content":"h\u00e9"}],"x":1.50}"#;
        let mut obj = RawObject::parse(body).unwrap();
        obj.set("model", "gpt-4o");
        obj.set(
            "stream_options",
            &serde_json::json!({"include_usage": true}),
        );
        let out = String::from_utf8(obj.to_vec()).unwrap();
        assert_eq!(
            out,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"h\u00e9"}],"x":1.50,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn raw_object_rejects_non_objects() {
        assert!(RawObject::parse(b"[1,2]").is_err());
        assert!(RawObject::parse(b"{\"a\":").is_err());
    }

    #[test]
    fn usage_reads_cached_and_reasoning_details() {
        let u = usage_from_json(&serde_json::json!({
            "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3}
        }))
        .unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (10, 5, 15)
        );
        assert_eq!((u.cached_tokens, u.reasoning_tokens), (4, 3));
    }

    #[test]
    fn classify_maps_status_and_keeps_message() {
        let head = ResponseHead {
            status: 429,
            headers: vec![("retry-after".into(), "7".into())],
        };
        let e = classify_error(
            "openai",
            &head,
            br#"{"error":{"message":"slow down","type":"requests"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after_ms, Some(7000));
        assert!(e.message.contains("slow down"));

        let head = ResponseHead {
            status: 400,
            headers: vec![],
        };
        let e = classify_error(
            "openai",
            &head,
            br#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    }

    const STREAM: &[u8] = b"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":1}}}\n\n\
data: [DONE]\n\n";

    fn decode(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
        let ctx = RequestContext {
            include_usage,
            stream: true,
            ..RequestContext::default()
        };
        let mut d = ChatStreamDecoder::new("openai", &ctx);
        let mut all = StreamOutput::default();
        for p in pieces {
            let mut out = StreamOutput::default();
            d.feed(p, &mut out);
            all.sse.extend_from_slice(&out.sse);
            all.info.merge(out.info);
            all.done |= out.done;
            all.error = all.error.or(out.error);
        }
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        all.sse.extend_from_slice(&out.sse);
        all.info.merge(out.info);
        all
    }

    #[test]
    fn stream_is_forwarded_with_usage_only_when_asked() {
        let with = decode(&[STREAM], true);
        assert_eq!(with.sse, STREAM, "byte-for-byte passthrough");
        assert!(with.done);
        let usage = with.info.usage.unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens
            ),
            (5, 2, 1)
        );
        assert_eq!(with.info.finish_reason.as_deref(), Some("stop"));

        let without = decode(&[STREAM], false);
        let text = String::from_utf8(without.sse).unwrap();
        assert!(
            !text.contains("\"choices\":[]"),
            "usage chunk hidden: {text}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(
            without.info.usage, with.info.usage,
            "usage still reported to the host"
        );
    }

    #[test]
    fn in_stream_error_is_classified_and_stops_forwarding() {
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n\
data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n";
        let out = decode(&[body], true);
        let e = out.error.unwrap();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.message.contains("overloaded"));
        assert!(!String::from_utf8(out.sse).unwrap().contains("\"b\""));
    }

    #[test]
    fn non_stream_response_keeps_body_and_reads_info() {
        let body = br#"{"id":"x","object":"chat.completion","model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"completion_tokens_details":{"reasoning_tokens":0}}}"#;
        let parsed = parse_chat_response("openai", body).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(parsed.info.usage.unwrap().total_tokens, 4);
        assert_eq!(parsed.info.model.as_deref(), Some("gpt-4o-2024"));
        assert!(parse_chat_response("openai", b"{\"nope\":1}").is_err());
        assert!(parse_chat_response("openai", b"not json").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..2000, 0..12), include_usage: bool) {
            let whole = decode(&[STREAM], include_usage);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % STREAM.len()).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points { pieces.push(&STREAM[last..p]); last = p; }
            pieces.push(&STREAM[last..]);
            let split = decode(&pieces, include_usage);
            proptest::prop_assert_eq!(&whole.sse, &split.sse);
            proptest::prop_assert_eq!(&whole.info, &split.info);
            let bytewise: Vec<&[u8]> = STREAM.chunks(1).collect();
            let one = decode(&bytewise, include_usage);
            proptest::prop_assert_eq!(&whole.sse, &one.sse);
        }
    }
}

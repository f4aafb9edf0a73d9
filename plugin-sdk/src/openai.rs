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
        crate::json_from_slice(body).map_err(|e| {
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
    IfObject::<UsageView>::deserialize(usage)
        .ok()
        .and_then(|v| v.0)
        .map(|v| v.usage())
}

/// A `usage` object as the gateway reads it: counts only, each lenient (see [`Count`]).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct UsageView {
    prompt_tokens: Count,
    completion_tokens: Count,
    total_tokens: Count,
    prompt_tokens_details: IfObject<PromptDetailsView>,
    prompt_cache_hit_tokens: Count,
    num_cached_tokens: Count,
    completion_tokens_details: IfObject<CompletionDetailsView>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct PromptDetailsView {
    cached_tokens: Count,
    cache_write_tokens: Count,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct CompletionDetailsView {
    reasoning_tokens: Count,
}

impl UsageView {
    fn usage(&self) -> Usage {
        let prompt = self.prompt_tokens.0.unwrap_or(0);
        let completion = self.completion_tokens.0.unwrap_or(0);
        let details = self.prompt_tokens_details.0.as_ref();
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self.total_tokens.0.unwrap_or(prompt + completion),
            cached_tokens: details
                .and_then(|d| d.cached_tokens.0)
                .or(self.prompt_cache_hit_tokens.0)
                .or(self.num_cached_tokens.0)
                .unwrap_or(0),
            cache_write_tokens: details.and_then(|d| d.cache_write_tokens.0).unwrap_or(0),
            reasoning_tokens: self
                .completion_tokens_details
                .0
                .as_ref()
                .and_then(|d| d.reasoning_tokens.0)
                .unwrap_or(0),
            ..Usage::default()
        }
    }
}

/// A JSON value read as a count when it is a non-negative integer; any other value (a float,
/// a string, null, an object) reads as absent instead of failing the parse, as
/// `Value::as_u64` would read it.
#[derive(Debug, Default, Clone, Copy)]
struct Count(Option<u64>);

/// A JSON value read as `T` when it is an object; any other value reads as absent.
#[derive(Debug)]
struct IfObject<T>(Option<T>);

impl<T> Default for IfObject<T> {
    fn default() -> Self {
        IfObject(None)
    }
}

/// A JSON string, borrowed from the body when it has no escapes; any other value reads as
/// absent.
#[derive(Debug, Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl Text<'_> {
    /// The string when it is not empty.
    fn non_empty(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

/// The visitor methods of a lenient view: `expecting`, and for each JSON kind listed a method
/// answering `absent` (arrays and objects are skipped member by member). A view writes only the
/// methods of the kinds it reads.
macro_rules! lenient_visitor {
    ($absent:expr; $($kind:ident)*) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        $(lenient_visitor!(@$kind $absent);)*
    };
    (@bool $absent:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
    (@u64 $absent:expr) => {
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
    (@i64 $absent:expr) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
    (@f64 $absent:expr) => {
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
    (@str $absent:expr) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
    (@null $absent:expr) => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($absent)
        }
    };
    (@seq $absent:expr) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($absent)
        }
    };
    (@map $absent:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok($absent)
        }
    };
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(Some(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).ok()))
            }
            lenient_visitor!(Count(None); bool f64 str null seq map);
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for IfObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = IfObject<T>;
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|v| IfObject(Some(v)))
            }
            lenient_visitor!(IfObject(None); bool u64 i64 f64 str null seq);
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            lenient_visitor!(Text(None); bool u64 i64 f64 null seq map);
        }
        deserializer.deserialize_any(V(std::marker::PhantomData))
    }
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
    let parsed: Option<Value> = crate::json_from_slice(body).ok();
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

/// The members of a `chat.completion` or `chat.completion.chunk` object that carry side data.
/// Everything else (messages, deltas, logprobs) is skipped by the parser without being built,
/// which keeps a parse cheap however long the content is; what is read is read into typed,
/// borrowing views (no `Value` trees), leniently: a member of an unexpected type reads as absent.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ChatView<'a> {
    #[serde(borrow)]
    model: Text<'a>,
    usage: IfObject<UsageView>,
    #[serde(borrow)]
    choices: Option<Vec<ChoiceView<'a>>>,
    error: Option<Value>,
    /// Groq reports stream usage only in `x_groq.usage`.
    x_groq: IfObject<XGroqView>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ChoiceView<'a> {
    index: Option<Count>,
    #[serde(borrow)]
    finish_reason: Text<'a>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct XGroqView {
    usage: IfObject<UsageView>,
}

impl ChatView<'_> {
    fn info(&self) -> ResponseInfo {
        let usage = self
            .usage
            .0
            .as_ref()
            .or_else(|| self.x_groq.0.as_ref().and_then(|x| x.usage.0.as_ref()))
            .map(UsageView::usage);
        // With `n > 1` the choices finish separately; the response's finish reason is choice 0's.
        let finish_reason = self
            .choices
            .iter()
            .flatten()
            .find(|c| c.index.is_none_or(|i| i.0 == Some(0)))
            .and_then(|c| c.finish_reason.non_empty())
            .map(str::to_owned);
        ResponseInfo {
            usage,
            finish_reason,
            model: self.model.non_empty().map(str::to_owned),
            content_type: None,
        }
    }
}

/// The HTTP status an error object names (`status_code`, `status` or a numeric `code`, as
/// Groq, OpenRouter and Azure spell it), else 500: an error inside a 2xx body is the
/// upstream's failure unless it says otherwise.
fn error_object_status(error: &Value) -> u16 {
    ["status_code", "status", "code"]
        .iter()
        .find_map(|key| {
            let v = error.get(key)?;
            let n = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
            u16::try_from(n).ok().filter(|s| (400..600).contains(s))
        })
        .unwrap_or(500)
}

fn classify_embedded_error(provider: &str, status: u16, body: &[u8]) -> ProviderError {
    let head = ResponseHead {
        status,
        headers: Vec::new(),
    };
    classify_error(provider, &head, body)
}

/// Parses an OpenAI `chat.completion` body (2xx). The body is passed on as the upstream sent
/// it; `info` holds the usage, choice 0's finish reason and the model the upstream reported.
/// An error object in place of `choices` (some OpenAI-compatible servers answer 200 with one)
/// is classified like an error response.
pub fn parse_chat_response(provider: &str, body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let view: ChatView<'_> = crate::json_from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "{provider}: response is not a valid chat.completion JSON object: {e}"
        ))
    })?;
    if view.choices.is_none() {
        return Err(missing_payload(
            provider,
            view.error.as_ref(),
            body,
            "choices",
        ));
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: view.info(),
    })
}

/// Appends a translated turn, merging it into the previous one of the same role: Anthropic and
/// Bedrock require user and assistant turns to alternate, OpenAI allows consecutive tool results
/// and user turns. `blocks` is the turn's content array.
pub fn merge_turn(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = messages.last_mut() {
        if last["role"] == role {
            if let Some(existing) = last["content"].as_array_mut() {
                existing.extend(blocks);
                return;
            }
        }
    }
    messages.push(serde_json::json!({"role": role, "content": blocks}));
}

/// The arguments of each OpenAI tool call of an assistant message, parsed: `(call, input)`
/// pairs; an empty argument string is `{}`. An unparsable one is an error naming
/// `{at}.tool_calls[i].function.arguments`, prefixed by `provider`.
pub fn tool_call_inputs<'a>(
    provider: &str,
    calls: &'a Value,
    at: &str,
) -> Result<Vec<(&'a Value, Value)>, ProviderError> {
    let Some(calls) = calls.as_array() else {
        return Ok(Vec::new());
    };
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let args = call["function"]["arguments"].as_str().unwrap_or("");
            let input = if args.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(args).map_err(|e| {
                    ProviderError::invalid_request(format!(
                        "{provider}: {at}.tool_calls[{i}].function.arguments is not JSON: {e}"
                    ))
                })?
            };
            Ok((call, input))
        })
        .collect()
}

/// Usage of a provider whose input count excludes cache reads and writes (Anthropic,
/// Bedrock), normalized: OpenAI's prompt tokens include them.
pub fn usage_with_cache(input: u64, cache_read: u64, cache_write: u64, output: u64) -> Usage {
    let prompt = input + cache_read + cache_write;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: output,
        total_tokens: prompt + output,
        cached_tokens: cache_read,
        cache_write_tokens: cache_write,
        reasoning_tokens: 0,
        ..Usage::default()
    }
}

/// A one-choice `chat.completion` answer (what a translating plugin's `parse_response` returns)
/// and its side data: `model` is left out of the side data when empty.
pub fn chat_completion(
    id: Value,
    model: &str,
    message: Value,
    finish: &str,
    usage: Usage,
) -> ParsedResponse {
    let body = serde_json::json!({
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage_json(&usage),
    });
    ParsedResponse {
        body: body.to_string().into_bytes(),
        info: ResponseInfo {
            usage: Some(usage),
            finish_reason: Some(finish.to_owned()),
            model: (!model.is_empty()).then(|| model.to_owned()),
            ..ResponseInfo::default()
        },
    }
}

/// The OpenAI `usage` object of a normalized usage, with the cache counts also under
/// Anthropic's names (as LiteLLM reports them).
pub fn usage_json(u: &Usage) -> Value {
    serde_json::json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": u.cache_write_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    })
}

/// A 2xx answer without its payload: the error object it carries instead, classified, or a
/// bad response naming the missing member.
fn missing_payload(
    provider: &str,
    error: Option<&Value>,
    body: &[u8],
    member: &str,
) -> ProviderError {
    match error {
        Some(error) => classify_embedded_error(provider, error_object_status(error), body),
        None => {
            ProviderError::bad_response(format!("{provider}: response has no '{member}' array"))
        }
    }
}

/// Parses an OpenAI `/embeddings` answer (`{"object": "list", "data": [...], "usage": ...}`):
/// the body is forwarded as it is; usage (prompt tokens) goes into `info`.
pub fn parse_embeddings_response(
    provider: &str,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    #[derive(serde::Deserialize)]
    struct View<'a> {
        #[serde(default)]
        data: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        usage: IfObject<UsageView>,
        #[serde(default, borrow)]
        model: Text<'a>,
        #[serde(default)]
        error: Option<Value>,
    }
    let view: View<'_> = crate::json_from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "{provider}: response is not a valid embeddings JSON object: {e}"
        ))
    })?;
    if view.data.is_none() {
        return Err(missing_payload(provider, view.error.as_ref(), body, "data"));
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: ResponseInfo {
            usage: view.usage.0.as_ref().map(UsageView::usage),
            finish_reason: None,
            model: view.model.0.map(Cow::into_owned),
            content_type: None,
        },
    })
}

/// Decoder of OpenAI `chat.completion.chunk` SSE streams.
///
/// Chunks are forwarded byte-for-byte as `data:` frames; only those whose bytes show a
/// non-null `usage`, `finish_reason` or `error` member are parsed (plus the first one, for the
/// model name), and the parse skips their content. The gateway always asks the upstream for
/// the usage chunk; it is forwarded only when the client asked for it too, and reported in
/// `info` either way. After `[DONE]`, an in-stream error or an over-long event, the decoder
/// reads nothing more and holds no buffered bytes.
#[derive(Debug)]
pub struct ChatStreamDecoder {
    reader: SseReader,
    chunks: ChunkHandler,
}

#[derive(Debug)]
struct ChunkHandler {
    provider: String,
    include_usage: bool,
    seen_data: bool,
    ended: bool,
}

impl ChatStreamDecoder {
    pub fn new(provider: &str, context: &RequestContext) -> Self {
        ChatStreamDecoder {
            reader: SseReader::default(),
            chunks: ChunkHandler {
                provider: provider.to_owned(),
                include_usage: context.include_usage,
                seen_data: false,
                ended: false,
            },
        }
    }

    /// Caps one buffered event at `max` bytes instead of [`crate::sse::DEFAULT_MAX_EVENT_BYTES`].
    pub fn with_max_event_bytes(mut self, max: usize) -> Self {
        self.reader = SseReader::new(max);
        self
    }

    fn release_if_ended(&mut self) {
        if self.chunks.ended {
            self.reader = SseReader::new(0);
        }
    }
}

impl ChunkHandler {
    fn on_event(&mut self, event: SseEvent, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        // Groq sends `event: error`; everyone else puts an `error` member in a data chunk.
        let error_event = event.event == "error";
        let data = trim_ascii(&event.data);
        if data.is_empty() {
            if error_event {
                self.fail(out, classify_embedded_error(&self.provider, 500, data));
            }
            return;
        }
        if data == b"[DONE]" {
            self.ended = true;
            out.done = true;
            out.push_data(b"[DONE]");
            return;
        }
        let first = !self.seen_data;
        self.seen_data = true;
        let side_data = error_event || carries_side_data(data);
        if !side_data && !first {
            forward(out, data);
            return;
        }
        let view: ChatView<'_> = match crate::json_from_slice(data) {
            Ok(view) => view,
            Err(_) if error_event => {
                self.fail(out, classify_embedded_error(&self.provider, 500, data));
                return;
            }
            Err(e) if side_data => {
                self.fail(
                    out,
                    ProviderError::bad_response(format!(
                        "{}: stream chunk is not a valid chat.completion.chunk: {e}",
                        self.provider
                    )),
                );
                return;
            }
            // The first chunk was read only for the model name; its bytes are not ours to judge.
            Err(_) => {
                forward(out, data);
                return;
            }
        };
        if error_event || view.error.is_some() {
            let status = view.error.as_ref().map_or(500, error_object_status);
            self.fail(out, classify_embedded_error(&self.provider, status, data));
            return;
        }
        let info = view.info();
        let usage_only = info.usage.is_some() && view.choices.as_ref().is_none_or(|c| c.is_empty());
        out.info.merge(info);
        if usage_only && !self.include_usage {
            return;
        }
        forward(out, data);
    }

    fn fail(&mut self, out: &mut StreamOutput, error: ProviderError) {
        self.ended = true;
        out.error = Some(error);
    }
}

/// Appends `data` as one SSE frame. Multi-line `data:` fields arrive joined with `\n`, which
/// is JSON whitespace but would break the frame, so it becomes a space.
fn forward(out: &mut StreamOutput, data: &[u8]) {
    if data.contains(&b'\n') {
        let flat: Vec<u8> = data
            .iter()
            .map(|&b| if b == b'\n' { b' ' } else { b })
            .collect();
        out.push_data(&flat);
    } else {
        out.push_data(data);
    }
}

/// Whether a chunk has a non-null `usage`, `finish_reason` or `error` member. A byte scan, no
/// parse: inside JSON strings every `"` is escaped, so `"usage":` followed by a value can only
/// be a member name. A false positive costs one parse; a false negative is impossible for
/// valid JSON.
fn carries_side_data(data: &[u8]) -> bool {
    const KEYS: [&[u8]; 3] = [b"usage\"", b"finish_reason\"", b"error\""];
    let mut rest = data;
    while let Some(quote) = rest.iter().position(|&b| b == b'"') {
        rest = &rest[quote + 1..];
        let Some(&first) = rest.first() else { break };
        if !matches!(first, b'u' | b'f' | b'e') {
            continue;
        }
        for key in KEYS {
            let Some(after) = rest.strip_prefix(key) else {
                continue;
            };
            if let Some(value) = trim_ascii_start(after).strip_prefix(b":") {
                let value = trim_ascii_start(value);
                if !value.is_empty() && !value.starts_with(b"null") {
                    return true;
                }
            }
        }
    }
    false
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let b = trim_ascii_start(b);
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |e| e + 1);
    &b[..end]
}

impl StreamDecoder for ChatStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        if self.chunks.ended {
            return;
        }
        let chunks = &mut self.chunks;
        if let Err(mut e) = self.reader.feed(bytes, |event| chunks.on_event(event, out)) {
            if !chunks.ended {
                e.message = format!("{}: {}", chunks.provider, e.message);
                chunks.fail(out, e);
            }
        }
        self.release_if_ended();
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.chunks.ended {
            return;
        }
        let chunks = &mut self.chunks;
        self.reader.finish(|event| chunks.on_event(event, out));
        self.release_if_ended();
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

    /// The typed views read what `Value` accessors read: a member of an unexpected type is
    /// absent, never a parse failure of the whole answer.
    #[test]
    fn usage_and_answer_views_are_lenient_about_member_types() {
        let u = usage_from_json(&serde_json::json!({
            "prompt_tokens": 7.0, "completion_tokens": -2, "total_tokens": "9",
            "prompt_tokens_details": [1], "prompt_cache_hit_tokens": 3,
            "completion_tokens_details": {"reasoning_tokens": {"n": 1}}, "extra": [{"a": 1}]
        }))
        .unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (0, 0, 0)
        );
        assert_eq!((u.cached_tokens, u.reasoning_tokens), (3, 0));
        assert!(usage_from_json(&serde_json::json!("12")).is_none());

        let parsed = parse_chat_response(
            "openai",
            br#"{"model":"gpt\u002d4o","usage":"n/a","x_groq":{"usage":{"prompt_tokens":4,"completion_tokens":1}},
                "choices":[{"index":1,"finish_reason":"length"},{"index":0,"finish_reason":null},
                           {"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        let info = parsed.info;
        assert_eq!(info.model.as_deref(), Some("gpt-4o"), "escaped name");
        assert_eq!(info.usage.map(|u| u.total_tokens), Some(5), "groq's usage");
        assert_eq!(info.finish_reason, None, "choice 0 has none yet");

        let parsed = parse_chat_response(
            "openai",
            br#"{"model":5,"usage":{"prompt_tokens":2},"choices":[{"finish_reason":"stop"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.info.model, None);
        assert_eq!(parsed.info.usage.map(|u| u.total_tokens), Some(2));
        assert_eq!(parsed.info.finish_reason.as_deref(), Some("stop"));
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
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\\"usage\\\": {}\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":1}}}\n\n\
data: [DONE]\n\n";

    /// Everything a decoder produced over a whole body, `feed` outputs merged as a host would.
    fn decode_with(mut d: ChatStreamDecoder, pieces: &[&[u8]]) -> StreamOutput {
        let mut all = StreamOutput::default();
        let absorb = |out: StreamOutput, all: &mut StreamOutput| {
            all.sse.extend_from_slice(&out.sse);
            all.info.merge(out.info);
            all.done |= out.done;
            if all.error.is_none() {
                all.error = out.error;
            }
        };
        for p in pieces {
            let mut out = StreamOutput::default();
            d.feed(p, &mut out);
            absorb(out, &mut all);
        }
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        absorb(out, &mut all);
        all
    }

    fn decoder(include_usage: bool) -> ChatStreamDecoder {
        let ctx = RequestContext {
            include_usage,
            stream: true,
            ..RequestContext::default()
        };
        ChatStreamDecoder::new("openai", &ctx)
    }

    fn decode(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
        decode_with(decoder(include_usage), pieces)
    }

    fn split_at<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&body[last..p]);
            last = p;
        }
        pieces.push(&body[last..]);
        pieces
    }

    #[test]
    fn stream_is_forwarded_byte_for_byte_with_usage_only_when_asked() {
        let with = decode(&[STREAM], true);
        assert_eq!(with.sse, STREAM, "byte-for-byte passthrough");
        assert!(with.done);
        assert!(with.error.is_none());
        let usage = with.info.usage.unwrap();
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens,
                usage.cached_tokens
            ),
            (5, 2, 7, 1)
        );
        assert_eq!(with.info.finish_reason.as_deref(), Some("stop"));
        assert_eq!(with.info.model.as_deref(), Some("gpt-4o"));

        let without = decode(&[STREAM], false);
        let text = String::from_utf8(without.sse).unwrap();
        assert!(
            !text.contains("\"choices\":[]"),
            "usage chunk hidden: {text}"
        );
        assert_eq!(text.matches("data: ").count(), 5);
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(without.info, with.info, "usage still reported to the host");
    }

    #[test]
    fn the_model_is_reported_from_the_first_chunk() {
        let first = b"data: {\"id\":\"c\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
        let mut d = decoder(false);
        let mut out = StreamOutput::default();
        d.feed(first, &mut out);
        assert_eq!(out.info.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(out.sse, first);
    }

    #[test]
    fn side_data_scan_sees_members_not_string_contents() {
        assert!(carries_side_data(
            br#"{"choices":[],"usage":{"total_tokens":1}}"#
        ));
        assert!(carries_side_data(br#"{"usage" : {"total_tokens":1}}"#));
        assert!(carries_side_data(
            br#"{"choices":[{"finish_reason":"stop"}]}"#
        ));
        assert!(carries_side_data(br#"{"error":{"message":"x"}}"#));
        assert!(carries_side_data(
            br#"{"x_groq":{"usage":{"prompt_tokens":1}}}"#
        ));
        assert!(!carries_side_data(
            br#"{"choices":[{"delta":{"content":"\"usage\": {}"},"finish_reason":null}],"usage":null}"#
        ));
        assert!(!carries_side_data(br#"{"error":null,"content":"error"}"#));
        assert!(!carries_side_data(b""));
        assert!(!carries_side_data(b"\""));
    }

    #[test]
    fn a_usage_chunk_that_also_has_choices_is_always_forwarded() {
        // DeepSeek and Mistral put usage on the last content chunk: hiding it would lose text.
        let body = b"data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
        let out = decode(&[body], false);
        assert_eq!(out.sse, body);
        assert_eq!(out.info.usage.unwrap().total_tokens, 4);
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn finish_reason_is_choice_zeros() {
        let body =
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n";
        let out = decode(&[body], false);
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
        assert_eq!(out.sse, body);
    }

    #[test]
    fn in_stream_error_is_classified_and_stops_forwarding() {
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n\
data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n\
data: [DONE]\n\n";
        let out = decode(&[body], true);
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 500));
        assert!(e.message.contains("overloaded"));
        let text = String::from_utf8(out.sse).unwrap();
        assert!(text.contains("\"a\""));
        assert!(!text.contains("\"b\"") && !text.contains("overloaded"));
        assert!(!out.done, "nothing after the error is read");
    }

    #[test]
    fn in_stream_error_status_comes_from_the_error_object() {
        // Groq: a named `error` event with `status_code`.
        let groq = b"event: error\ndata: {\"error\":{\"message\":\"Tool call validation failed\",\"type\":\"invalid_request_error\",\"code\":\"tool_use_failed\",\"status_code\":400}}\n\n";
        let e = decode(&[groq], false).error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::InvalidRequest, 400));
        assert_eq!(e.code.as_deref(), Some("tool_use_failed"));

        // OpenRouter: an error member on a chunk, numeric `code`.
        let openrouter = b"data: {\"id\":\"g\",\"object\":\"chat.completion.chunk\",\"error\":{\"code\":429,\"message\":\"Provider returned error\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n";
        let e = decode(&[openrouter], false).error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimit, 429));

        // A named error event whose data is not JSON still ends the stream with its text.
        let plain = b"event: error\ndata: upstream exploded\n\n";
        let e = decode(&[plain], false).error.unwrap();
        assert_eq!(e.status, 500);
        assert!(e.message.contains("upstream exploded"));
    }

    #[test]
    fn a_side_data_chunk_that_is_not_json_is_a_bad_response() {
        let body = b"data: {\"choices\":[]}\n\ndata: {\"usage\":{\"prompt_tokens\":1}\n\n";
        let e = decode(&[body], true).error.unwrap();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("openai: "));
    }

    #[test]
    fn nothing_after_done_is_forwarded() {
        let body =
            b"data: {\"choices\":[]}\n\ndata: [DONE]\n\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n";
        let out = decode(&[body], true);
        assert_eq!(out.sse, b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n");
        assert!(out.done);
    }

    #[test]
    fn comments_crlf_multiline_data_and_a_trailing_event_are_normalized() {
        let body = b": OPENROUTER PROCESSING\r\n\r\ndata: {\"choices\":\r\ndata: []}\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}";
        let out = decode(&[body], false);
        assert_eq!(
            out.sse,
            b"data: {\"choices\": []}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        );
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
        assert!(
            !out.done,
            "a stream without [DONE] is for the host to judge"
        );
        assert!(out.error.is_none());
    }

    #[test]
    fn an_over_long_event_is_an_error_and_later_bytes_are_not_buffered() {
        let mut d = decoder(true).with_max_event_bytes(1024);
        let mut out = StreamOutput::default();
        d.feed(b"data: {\"choices\":[]}\n\ndata: {\"x\":\"", &mut out);
        assert_eq!(out.sse, b"data: {\"choices\":[]}\n\n");
        let mut out = StreamOutput::default();
        d.feed(&[b'x'; 2000], &mut out);
        let e = out.error.unwrap();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.starts_with("openai: "));
        for _ in 0..10 {
            let mut out = StreamOutput::default();
            d.feed(&[b'x'; 2000], &mut out);
            assert_eq!(out, StreamOutput::default());
        }
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        assert_eq!(out, StreamOutput::default());
    }

    #[test]
    fn non_stream_response_keeps_body_and_reads_info() {
        let body = br#"{"id":"x","object":"chat.completion","model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"completion_tokens_details":{"reasoning_tokens":0}}}"#;
        let parsed = parse_chat_response("openai", body).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(parsed.info.usage.unwrap().total_tokens, 4);
        assert_eq!(parsed.info.model.as_deref(), Some("gpt-4o-2024"));
        assert_eq!(parsed.info.finish_reason.as_deref(), Some("stop"));

        let e = parse_chat_response("openai", b"{\"nope\":1}").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        let e = parse_chat_response("openai", b"not json").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);

        let e = parse_chat_response(
            "vllm",
            br#"{"error":{"message":"model is loading","code":503}}"#,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        assert!(e.message.contains("model is loading"));
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(
            cuts in proptest::collection::vec(0usize..4000, 0..12),
            include_usage: bool,
            variant in 0usize..3,
        ) {
            let tails: [&[u8]; 3] = [
                b"",
                b": keep-alive\r\n\r\nevent: error\r\ndata: {\"error\":{\"message\":\"late\",\"status_code\":503}}\r\n\r\n",
                b"data: {\"choices\":\ndata: [{\"index\":0,\"delta\":{\"content\":\"z\"}}]}\n\ndata: {\"choices\":[]}",
            ];
            let mut body = STREAM.to_vec();
            if variant > 0 {
                // Put the extra events before [DONE] so they are read.
                body.truncate(body.len() - b"data: [DONE]\n\n".len());
                body.extend_from_slice(tails[variant]);
            }
            let whole = decode(&[&body], include_usage);
            let split = decode(&split_at(&body, &cuts), include_usage);
            proptest::prop_assert_eq!(&whole, &split);
            let bytewise: Vec<&[u8]> = body.chunks(1).collect();
            let one = decode(&bytewise, include_usage);
            proptest::prop_assert_eq!(&whole, &one);
        }
    }
}

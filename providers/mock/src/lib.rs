//! # switchyard-provider-mock
//!
//! A deterministic provider with no network: it answers every request with a *simulated
//! exchange* — exactly the bytes OpenAI would send — which the host plays back through the same
//! response path as real traffic. Failures can be injected per deployment (`litellm_params`) or
//! per request (the same keys at the top level of the request body; the request wins).
//!
//! | knob | meaning |
//! |---|---|
//! | `mock_response` | fixed assistant text (LiteLLM's name) |
//! | `mock_mode` | `echo` (default: "You said: <last user message>") or `lorem` |
//! | `mock_completion_tokens` | lorem length, and the completion tokens reported |
//! | `mock_cached_tokens` | `prompt_tokens_details.cached_tokens` reported |
//! | `mock_latency_ms` | delay before the first byte |
//! | `mock_chunk_delay_ms` | delay between stream chunks |
//! | `mock_words_per_chunk` | words per stream chunk (default 1) |
//! | `mock_failure` | `rate_limit`, `server_error`, `unavailable`, `timeout`, `midstream_drop`, `auth`, `context_window`, `bad_request` |
//! | `mock_retry_after_s` | `Retry-After` of `rate_limit` (default 1) |
//! | `mock_failure_count` | only the first N requests of the deployment fail |

use std::sync::atomic::{AtomicU64, Ordering};

mod endpoints;

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder};
use switchyard_plugin_sdk::{
    DeploymentConfig, ModelInfo, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, SimulatedEnd, SimulatedExchange, UpstreamRequest,
};

const LOREM: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
];

/// The mock plugin.
#[derive(Debug)]
pub struct MockPlugin;

impl Plugin for MockPlugin {
    type Provider = MockProvider;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("mock", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["mock".to_owned()];
        m.requires_api_key = false;
        m.endpoints = [
            "chat",
            "embeddings",
            "completions",
            "rerank",
            "images",
            "audio_transcriptions",
            "audio_speech",
        ]
        .iter()
        .map(|e| (*e).to_owned())
        .collect();
        m.supported_params = [
            "messages",
            "model",
            "stream",
            "stream_options",
            "max_tokens",
            "max_completion_tokens",
            "temperature",
            "top_p",
            "n",
            "stop",
            "seed",
            "tools",
            "tool_choice",
            "response_format",
            "user",
            "metadata",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "parallel_tool_calls",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        m.models = vec![ModelInfo {
            id: "mock-gpt".to_owned(),
            context_window: Some(128_000),
            max_output_tokens: Some(16_384),
            input_cost_per_token: Some("0.000001".to_owned()),
            output_cost_per_token: Some("0.000002".to_owned()),
            cache_read_input_token_cost: Some("0.0000005".to_owned()),
            ..ModelInfo::default()
        }];
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<MockProvider, ProviderError> {
        // Validate the deployment's knobs now, so a typo fails at startup, not per request.
        let defaults: Map<String, Value> = config
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Knobs::read(&defaults, &Map::new()).map_err(|e| {
            ProviderError::invalid_request(format!("litellm_params: {}", e.message))
        })?;
        Ok(MockProvider {
            model: config.model,
            defaults,
            served: AtomicU64::new(0),
        })
    }
}

/// One mock deployment.
#[derive(Debug)]
pub struct MockProvider {
    model: String,
    defaults: Map<String, Value>,
    /// Requests seen, for `mock_failure_count`.
    served: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    RateLimit,
    ServerError,
    Unavailable,
    Timeout,
    MidstreamDrop,
    Auth,
    ContextWindow,
    BadRequest,
}

#[derive(Debug)]
struct Knobs {
    response: Option<String>,
    lorem: bool,
    completion_tokens: Option<u64>,
    cached_tokens: u64,
    latency_ms: u64,
    chunk_delay_ms: u64,
    words_per_chunk: usize,
    failure: Option<Failure>,
    retry_after_s: u64,
    failure_count: Option<u64>,
}

impl Knobs {
    /// Reads the knobs: the request's value wins over the deployment's.
    fn read(
        deployment: &Map<String, Value>,
        request: &Map<String, Value>,
    ) -> Result<Knobs, ProviderError> {
        let get = |key: &str| {
            request
                .get(key)
                .or_else(|| deployment.get(key))
                .filter(|v| !v.is_null())
        };
        let bad = |key: &str, expected: &str| {
            ProviderError::invalid_request(format!("mock provider: '{key}' must be {expected}"))
                .with_param(key)
        };
        let uint = |key: &str| -> Result<Option<u64>, ProviderError> {
            match get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .map(Some)
                    .ok_or_else(|| bad(key, "a whole number")),
            }
        };
        let response = match get("mock_response") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("mock_response", "a string")),
        };
        let lorem = match get("mock_mode").map(|v| v.as_str()) {
            None | Some(Some("echo")) => false,
            Some(Some("lorem")) => true,
            Some(_) => return Err(bad("mock_mode", "\"echo\" or \"lorem\"")),
        };
        let failure = match get("mock_failure").map(|v| v.as_str()) {
            None | Some(Some("none")) => None,
            Some(Some("rate_limit")) => Some(Failure::RateLimit),
            Some(Some("server_error")) => Some(Failure::ServerError),
            Some(Some("unavailable")) => Some(Failure::Unavailable),
            Some(Some("timeout")) => Some(Failure::Timeout),
            Some(Some("midstream_drop")) => Some(Failure::MidstreamDrop),
            Some(Some("auth")) => Some(Failure::Auth),
            Some(Some("context_window")) => Some(Failure::ContextWindow),
            Some(Some("bad_request")) => Some(Failure::BadRequest),
            Some(_) => {
                return Err(bad(
                    "mock_failure",
                    "one of rate_limit, server_error, unavailable, timeout, midstream_drop, \
                     auth, context_window, bad_request",
                ))
            }
        };
        let words_per_chunk = uint("mock_words_per_chunk")?.unwrap_or(1);
        if words_per_chunk == 0 {
            return Err(bad("mock_words_per_chunk", "at least 1"));
        }
        Ok(Knobs {
            response,
            lorem,
            completion_tokens: uint("mock_completion_tokens")?,
            cached_tokens: uint("mock_cached_tokens")?.unwrap_or(0),
            latency_ms: uint("mock_latency_ms")?.unwrap_or(0),
            chunk_delay_ms: uint("mock_chunk_delay_ms")?.unwrap_or(0),
            words_per_chunk: words_per_chunk as usize,
            failure,
            retry_after_s: uint("mock_retry_after_s")?.unwrap_or(1),
            failure_count: uint("mock_failure_count")?,
        })
    }
}

/// Text of a message's `content`: a string, or the text parts of a multi-part array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// A deterministic prompt-token estimate: a quarter of the characters, at least one.
fn estimate_prompt_tokens(messages: &[Value]) -> u64 {
    let chars: usize = messages
        .iter()
        .map(|m| {
            m.get("content")
                .map(content_text)
                .map_or(0, |t| t.chars().count())
        })
        .sum();
    (chars as u64).div_ceil(4).max(1)
}

fn lorem(words: u64) -> String {
    (0..words as usize)
        .map(|i| LOREM[i % LOREM.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The function a forced tool choice names: `required` → the first tool, or the named one.
fn forced_tool(request: &Map<String, Value>) -> Option<String> {
    let tools = request.get("tools")?.as_array()?;
    let first = || {
        tools
            .first()?
            .get("function")?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    };
    match request.get("tool_choice")? {
        Value::String(s) if s == "required" => first(),
        Value::Object(o) => o.get("function")?.get("name")?.as_str().map(str::to_owned),
        _ => None,
    }
}

fn error_exchange(status: u16, kind: &str, message: &str, code: Option<&str>) -> SimulatedExchange {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    SimulatedExchange {
        status,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        chunks: vec![body.to_string().into_bytes()],
        ..SimulatedExchange::default()
    }
}

impl MockProvider {
    fn answer(
        &self,
        request: &Map<String, Value>,
        knobs: &Knobs,
        context: &RequestContext,
    ) -> SimulatedExchange {
        let messages = request
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let prompt_tokens = estimate_prompt_tokens(&messages);
        let tool = forced_tool(request);
        let content = match (&knobs.response, knobs.lorem) {
            (Some(fixed), _) => fixed.clone(),
            (None, true) => lorem(knobs.completion_tokens.unwrap_or(16)),
            (None, false) => {
                let last_user = messages
                    .iter()
                    .rev()
                    .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                    .and_then(|m| m.get("content"))
                    .map(content_text)
                    .unwrap_or_default();
                format!("You said: {last_user}")
            }
        };
        let words: Vec<&str> = content.split_whitespace().collect();
        let completion_tokens = knobs.completion_tokens.unwrap_or(if tool.is_some() {
            1
        } else {
            words.len() as u64
        });
        let usage = json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": knobs.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        });
        let id = format!("chatcmpl-mock-{}", context.request_id);
        let created = context.now_unix_ms / 1000;
        let finish = if tool.is_some() { "tool_calls" } else { "stop" };
        let tool_calls = tool.as_ref().map(|name| {
            json!([{"id": "call_mock_0", "type": "function",
                    "function": {"name": name, "arguments": "{}"}}])
        });

        if !context.stream {
            let mut message = json!({"role": "assistant", "content": if tool.is_some() { Value::Null } else { Value::String(content.clone()) }});
            if let Some(calls) = &tool_calls {
                message["tool_calls"] = calls.clone();
            }
            let body = json!({
                "id": id, "object": "chat.completion", "created": created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            })
            .to_string()
            .into_bytes();
            let mut exchange = SimulatedExchange {
                status: 200,
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                chunks: vec![body],
                first_byte_delay_ms: knobs.latency_ms,
                ..SimulatedExchange::default()
            };
            if knobs.failure == Some(Failure::MidstreamDrop) {
                let body = &exchange.chunks[0];
                exchange.chunks = vec![body[..body.len() / 2].to_vec()];
                exchange.end = SimulatedEnd::Drop;
            }
            return exchange;
        }

        let chunk = |delta: Value, finish_reason: Option<&str>| -> Vec<u8> {
            let v = json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                "usage": null,
            });
            format!("data: {v}\n\n").into_bytes()
        };
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        if let Some(calls) = tool_calls {
            let mut call = calls[0].clone();
            call["index"] = json!(0);
            chunks.push(chunk(json!({"tool_calls": [call]}), None));
        } else {
            for (i, group) in words.chunks(knobs.words_per_chunk).enumerate() {
                let mut text = group.join(" ");
                if i > 0 {
                    text.insert(0, ' ');
                }
                chunks.push(chunk(json!({"content": text}), None));
            }
        }
        if knobs.failure == Some(Failure::MidstreamDrop) {
            chunks.truncate(3);
            return SimulatedExchange {
                status: 200,
                headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
                chunks,
                first_byte_delay_ms: knobs.latency_ms,
                chunk_delay_ms: knobs.chunk_delay_ms,
                end: SimulatedEnd::Drop,
            };
        }
        chunks.push(chunk(json!({}), Some(finish)));
        let usage_chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": self.model,
            "choices": [], "usage": usage,
        });
        chunks.push(format!("data: {usage_chunk}\n\n").into_bytes());
        chunks.push(b"data: [DONE]\n\n".to_vec());
        SimulatedExchange {
            status: 200,
            headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
            chunks,
            first_byte_delay_ms: knobs.latency_ms,
            chunk_delay_ms: knobs.chunk_delay_ms,
            end: SimulatedEnd::Complete,
        }
    }

    fn failure_exchange(&self, failure: Failure, knobs: &Knobs) -> Option<SimulatedExchange> {
        let mut exchange = match failure {
            Failure::RateLimit => {
                let mut e = error_exchange(
                    429,
                    "rate_limit_error",
                    "mock: rate limit reached",
                    Some("rate_limit_exceeded"),
                );
                e.headers
                    .push(("retry-after".to_owned(), knobs.retry_after_s.to_string()));
                e
            }
            Failure::ServerError => {
                error_exchange(500, "server_error", "mock: internal server error", None)
            }
            Failure::Unavailable => {
                error_exchange(503, "server_error", "mock: service unavailable", None)
            }
            Failure::Auth => error_exchange(
                401,
                "invalid_request_error",
                "mock: incorrect API key provided",
                Some("invalid_api_key"),
            ),
            Failure::ContextWindow => error_exchange(
                400,
                "invalid_request_error",
                "mock: this model's maximum context length is 128000 tokens",
                Some("context_length_exceeded"),
            ),
            Failure::BadRequest => {
                error_exchange(400, "invalid_request_error", "mock: bad request", None)
            }
            Failure::Timeout => SimulatedExchange {
                status: 200,
                end: SimulatedEnd::Hang,
                ..SimulatedExchange::default()
            },
            // Handled while building the answer: it needs the answer's bytes.
            Failure::MidstreamDrop => return None,
        };
        exchange.first_byte_delay_ms = knobs.latency_ms;
        Some(exchange)
    }
}

/// Dimensions of the mock's embeddings (`dimensions` in the request overrides it).
const EMBEDDING_DIMENSIONS: usize = 8;

impl MockProvider {
    /// `/embeddings`: one deterministic unit vector per input (string, list of strings, or token
    /// arrays), derived from the text, so equal inputs embed equally; `encoding_format: base64`
    /// packs little-endian f32s like OpenAI.
    fn embeddings(&self, body: &[u8]) -> Result<UpstreamRequest, ProviderError> {
        let body: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
            ProviderError::invalid_request(format!("request body is not a JSON object: {e}"))
        })?;
        let inputs: Vec<String> = match body.get("input") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) if !items.is_empty() => {
                if items.iter().all(Value::is_number) {
                    vec![Value::Array(items.clone()).to_string()]
                } else {
                    items
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string())
                        })
                        .collect()
                }
            }
            _ => {
                return Err(ProviderError::invalid_request(
                    "'input' must be a string, a list of strings or a list of token arrays",
                )
                .with_param("input"))
            }
        };
        let dims = body
            .get("dimensions")
            .and_then(Value::as_u64)
            .map(|d| d as usize)
            .unwrap_or(EMBEDDING_DIMENSIONS)
            .clamp(1, 4096);
        let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
        let mut tokens = 0u64;
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(index, text)| {
                tokens += text.split_whitespace().count().max(1) as u64;
                // A small deterministic hash walk, normalized to unit length.
                let mut state: u64 = 0xcbf2_9ce4_8422_2325;
                let mut v: Vec<f32> = (0..dims)
                    .map(|i| {
                        for b in text.bytes().chain([i as u8]) {
                            state = (state ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                        }
                        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                    })
                    .collect();
                let norm = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                v.iter_mut().for_each(|x| *x /= norm);
                let embedding = if base64 {
                    use base64::Engine as _;
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    serde_json::json!(v)
                };
                serde_json::json!({"object": "embedding", "index": index, "embedding": embedding})
            })
            .collect();
        let answer = serde_json::json!({
            "object": "list",
            "data": data,
            "model": body.get("model").cloned().unwrap_or(Value::Null),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        });
        Ok(UpstreamRequest {
            method: "POST".to_owned(),
            url: "mock://embeddings".to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            simulated: Some(SimulatedExchange {
                status: 200,
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                chunks: vec![answer.to_string().into_bytes()],
                first_byte_delay_ms: self
                    .defaults
                    .get("mock_latency_ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                ..SimulatedExchange::default()
            }),
        })
    }
}

impl Provider for MockProvider {
    type Decoder = ChatStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let latency_ms = self
            .defaults
            .get("mock_latency_ms")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match request.endpoint {
            "embeddings" => return self.embeddings(request.body),
            "completions" => {
                return endpoints::completions(
                    request.body,
                    &self.model,
                    request.context,
                    latency_ms,
                )
            }
            "rerank" => return endpoints::rerank(request.body, latency_ms),
            "images" => return endpoints::images(request.body, request.context, latency_ms),
            "audio_transcriptions" => {
                return endpoints::transcription(request.body, request.context, latency_ms)
            }
            "audio_speech" => return endpoints::speech(request.body, latency_ms),
            _ => {}
        }
        if request.endpoint != "chat" {
            return Err(ProviderError::invalid_request(format!(
                "mock provider does not serve the '{}' endpoint",
                request.endpoint
            )));
        }
        let body: Map<String, Value> = serde_json::from_slice(request.body).map_err(|e| {
            ProviderError::invalid_request(format!("request body is not a JSON object: {e}"))
        })?;
        let knobs = Knobs::read(&self.defaults, &body)?;
        let seen = self.served.fetch_add(1, Ordering::Relaxed);
        let failing = knobs
            .failure
            .filter(|_| knobs.failure_count.is_none_or(|n| seen < n));
        let exchange = match failing.and_then(|f| self.failure_exchange(f, &knobs)) {
            Some(failure) => failure,
            None => {
                let effective = Knobs {
                    failure: failing,
                    ..knobs
                };
                self.answer(&body, &effective, request.context)
            }
        };
        Ok(UpstreamRequest {
            method: "POST".to_owned(),
            url: "mock://chat/completions".to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            simulated: Some(exchange),
        })
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        match head.header(switchyard_plugin_sdk::ENDPOINT_HEADER) {
            None | Some("chat") => openai::parse_chat_response("mock", body),
            Some("embeddings") => openai::parse_embeddings_response("mock", body),
            Some(endpoint) => {
                endpoints::parse(endpoint, head.header("content-type").unwrap_or(""), body)
            }
        }
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        openai::classify_error("mock", head, body)
    }

    fn stream_decoder(&self, context: &RequestContext) -> Result<ChatStreamDecoder, ProviderError> {
        Ok(ChatStreamDecoder::new("mock", context))
    }
}

switchyard_plugin_sdk::export_provider!(MockPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::ErrorKind;

    /// The error class each injected failure must be classified as.
    fn failure_kind(name: &str) -> Option<ErrorKind> {
        match name {
            "rate_limit" => Some(ErrorKind::RateLimit),
            "server_error" | "unavailable" => Some(ErrorKind::Unavailable),
            "auth" => Some(ErrorKind::Authentication),
            "context_window" => Some(ErrorKind::ContextWindowExceeded),
            "bad_request" => Some(ErrorKind::InvalidRequest),
            "timeout" => Some(ErrorKind::Timeout),
            _ => None,
        }
    }

    fn provider(params: Value) -> MockProvider {
        let config = DeploymentConfig {
            model: "demo".to_owned(),
            params: params
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            ..DeploymentConfig::default()
        };
        MockPlugin::instantiate(config).unwrap()
    }

    fn exchange(p: &MockProvider, body: Value, stream: bool) -> SimulatedExchange {
        let ctx = RequestContext {
            request_id: "r1".into(),
            stream,
            now_unix_ms: 1_700_000_000_000,
            ..Default::default()
        };
        let bytes = body.to_string().into_bytes();
        p.build_request(RequestIn {
            endpoint: "chat",
            body: &bytes,
            context: &ctx,
        })
        .unwrap()
        .simulated
        .unwrap()
    }

    fn user(text: &str) -> Value {
        json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]})
    }

    #[test]
    fn echo_is_deterministic_and_parses_as_openai() {
        let p = provider(json!({}));
        let a = exchange(&p, user("hello there"), false);
        let b = exchange(&p, user("hello there"), false);
        assert_eq!(a, b);
        let parsed = p
            .parse_response(&ResponseHead::default(), &a.chunks[0])
            .unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "You said: hello there"
        );
        assert_eq!(v["created"], 1_700_000_000u64);
        let usage = parsed.info.usage.unwrap();
        assert_eq!(usage.completion_tokens, 4);
        assert_eq!(
            usage.prompt_tokens,
            (("be brief".len() + "hello there".len()) as u64).div_ceil(4)
        );
    }

    #[test]
    fn multi_part_content_text_is_echoed() {
        let p = provider(json!({}));
        let body = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "b"}]}]});
        let e = exchange(&p, body, false);
        assert!(String::from_utf8_lossy(&e.chunks[0]).contains("You said: a b"));
    }

    #[test]
    fn lorem_stream_has_one_frame_per_word_then_finish_usage_done() {
        let p = provider(
            json!({"mock_mode": "lorem", "mock_completion_tokens": 5, "mock_chunk_delay_ms": 7}),
        );
        let e = exchange(&p, user("x"), true);
        assert_eq!(e.chunk_delay_ms, 7);
        // role + 5 words + finish + usage + [DONE]
        assert_eq!(e.chunks.len(), 9);
        assert_eq!(e.chunks.last().unwrap(), b"data: [DONE]\n\n");
        let text: String = e.chunks[1..6]
            .iter()
            .map(|c| {
                let v: Value = serde_json::from_slice(&c[6..c.len() - 2]).unwrap();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, "lorem ipsum dolor sit amet");
    }

    #[test]
    fn request_knobs_override_deployment_knobs() {
        let p = provider(json!({"mock_response": "from config"}));
        let mut body = user("x");
        body["mock_response"] = json!("from request");
        let e = exchange(&p, body, false);
        assert!(String::from_utf8_lossy(&e.chunks[0]).contains("from request"));
    }

    #[test]
    fn each_failure_has_its_status() {
        let p = provider(json!({}));
        for (name, status) in [
            ("rate_limit", 429),
            ("server_error", 500),
            ("unavailable", 503),
            ("auth", 401),
            ("context_window", 400),
            ("bad_request", 400),
        ] {
            let mut body = user("x");
            body["mock_failure"] = json!(name);
            let e = exchange(&p, body, false);
            assert_eq!(e.status, status, "{name}");
            let head = ResponseHead {
                status: e.status,
                headers: e.headers.clone(),
            };
            let err = p.classify_error(&head, &e.chunks[0]);
            assert_eq!(Some(err.kind), failure_kind(name), "{name}");
            if name == "rate_limit" {
                assert_eq!(err.retry_after_ms, Some(1000));
            }
        }
        let mut body = user("x");
        body["mock_failure"] = json!("timeout");
        let e = exchange(&p, body, true);
        assert_eq!((e.end, e.chunks.len()), (SimulatedEnd::Hang, 0));
        let mut body = user("one two three four");
        body["mock_failure"] = json!("midstream_drop");
        let e = exchange(&p, body, true);
        assert_eq!((e.end, e.chunks.len()), (SimulatedEnd::Drop, 3));
    }

    #[test]
    fn failure_count_fails_only_the_first_requests() {
        let p = provider(json!({"mock_failure": "server_error", "mock_failure_count": 2}));
        let statuses: Vec<u16> = (0..4)
            .map(|_| exchange(&p, user("x"), false).status)
            .collect();
        assert_eq!(statuses, vec![500, 500, 200, 200]);
    }

    #[test]
    fn forced_tool_choice_answers_with_a_tool_call() {
        let p = provider(json!({}));
        let mut body = user("weather?");
        body["tools"] =
            json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
        body["tool_choice"] = json!("required");
        let e = exchange(&p, body.clone(), false);
        let v: Value = serde_json::from_slice(&e.chunks[0]).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
        let e = exchange(&p, body, true);
        assert!(String::from_utf8_lossy(&e.chunks[1]).contains("get_weather"));
    }

    #[test]
    fn bad_knobs_are_errors_naming_the_knob() {
        let config = DeploymentConfig {
            params: [("mock_failure".to_owned(), json!("explode"))]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let err = MockPlugin::instantiate(config).unwrap_err();
        assert!(err.message.contains("mock_failure"), "{err}");
        let p = provider(json!({}));
        let mut body = user("x");
        body["mock_latency_ms"] = json!("soon");
        let bytes = body.to_string().into_bytes();
        let ctx = RequestContext::default();
        let err = p
            .build_request(RequestIn {
                endpoint: "chat",
                body: &bytes,
                context: &ctx,
            })
            .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("mock_latency_ms"));
    }
}

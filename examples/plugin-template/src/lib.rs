//! A switchyard provider plugin for the (fictional) Acme LLM API — a template to copy.
//!
//! Acme's wire format is deliberately not OpenAI's, so the template shows both directions of
//! translation:
//!
//! - request  `POST {api_base}/generate` with `{"model", "turns": [{"speaker", "text"}],
//!   "limit", "stream"}` and an `acme-key` header;
//! - response `{"output", "stop", "tokens": {"in", "out"}}`;
//! - stream   NDJSON: `{"delta": "..."}` lines, then `{"stop", "tokens"}`;
//! - errors   `{"error": {"kind", "detail"}}` with `retry-in` (seconds) on `quota`.

use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ModelInfo, ParsedResponse, Plugin, PluginMetadata, Provider,
    ProviderError, RequestContext, RequestIn, ResponseHead, ResponseInfo, StreamDecoder,
    StreamOutput, UpstreamRequest, Usage,
};

const DEFAULT_API_BASE: &str = "https://api.acme.example/v1";
const KEY_ENV: &str = "ACME_API_KEY";
/// Longest NDJSON line the decoder buffers (bounded memory whatever the upstream sends).
const MAX_LINE: usize = 1 << 20;

/// The plugin.
#[derive(Debug)]
pub struct AcmePlugin;

impl Plugin for AcmePlugin {
    type Provider = Acme;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("acme", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["acme".to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = vec![KEY_ENV.to_owned()];
        m.requires_api_key = true;
        m.endpoints = vec!["chat".to_owned()];
        m.supported_params = [
            "model",
            "messages",
            "stream",
            "stream_options",
            "max_tokens",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        m.models = vec![ModelInfo {
            id: "acme-1".to_owned(),
            context_window: Some(32_000),
            max_output_tokens: Some(4_096),
            input_cost_per_token: Some("0.000001".to_owned()),
            output_cost_per_token: Some("0.000003".to_owned()),
            ..ModelInfo::default()
        }];
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Acme, ProviderError> {
        let base = config
            .api_base
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        Ok(Acme {
            url: format!("{}/generate", base.trim_end_matches('/')),
            model: config.model,
            key: config.api_key.or_else(|| config.env.get(KEY_ENV).cloned()),
        })
    }
}

/// One Acme deployment.
#[derive(Debug)]
pub struct Acme {
    url: String,
    model: String,
    key: Option<String>,
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<Message>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    tools: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn usage(tokens: &Value) -> Usage {
    let input = tokens["in"].as_u64().unwrap_or(0);
    let output = tokens["out"].as_u64().unwrap_or(0);
    Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        ..Usage::default()
    }
}

fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "limit" => "length",
        "blocked" => "content_filter",
        _ => "stop",
    }
}

impl Provider for Acme {
    type Decoder = AcmeStream;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let key = self.key.as_deref().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Authentication,
                format!("acme: no API key: set {KEY_ENV} or api_key"),
            )
        })?;
        let chat: ChatRequest = serde_json::from_slice(request.body)
            .map_err(|e| ProviderError::invalid_request(format!("acme: {e}")))?;
        if chat.tools.is_some() && !request.context.drop_params {
            return Err(ProviderError::new(
                ErrorKind::UnsupportedParam,
                "acme does not support 'tools'",
            )
            .with_param("tools"));
        }
        let turns: Vec<Value> = chat
            .messages
            .iter()
            .map(|m| {
                let speaker = match m.role.as_str() {
                    "system" | "developer" => "director",
                    "assistant" => "model",
                    _ => "person",
                };
                json!({"speaker": speaker, "text": text_of(&m.content)})
            })
            .collect();
        let mut body =
            json!({"model": self.model, "turns": turns, "stream": request.context.stream});
        if let Some(limit) = chat.max_completion_tokens.or(chat.max_tokens) {
            body["limit"] = json!(limit);
        }
        Ok(
            UpstreamRequest::post_json(self.url.clone(), body.to_string().into_bytes())
                .header("acme-key", key),
        )
    }

    fn parse_response(
        &self,
        _head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ProviderError::bad_response(format!("acme: response is not JSON: {e}")))?;
        let output = v["output"]
            .as_str()
            .ok_or_else(|| ProviderError::bad_response("acme: no 'output'"))?;
        let usage = usage(&v["tokens"]);
        let finish = finish_reason(v["stop"].as_str().unwrap_or("end"));
        let openai = json!({
            "id": "chatcmpl-acme",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": output}, "finish_reason": finish}],
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens},
        });
        Ok(ParsedResponse {
            body: openai.to_string().into_bytes(),
            info: ResponseInfo {
                usage: Some(usage),
                finish_reason: Some(finish.to_owned()),
                model: Some(self.model.clone()),
                // The SDK adds fields within an epoch: build its structs from their default.
                ..ResponseInfo::default()
            },
        })
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let detail = v["error"]["detail"]
            .as_str()
            .unwrap_or("no detail")
            .to_owned();
        let kind = match (v["error"]["kind"].as_str(), head.status) {
            (Some("quota"), _) | (_, 429) => ErrorKind::RateLimit,
            (Some("too_long"), _) => ErrorKind::ContextWindowExceeded,
            (Some("key"), _) | (_, 401) => ErrorKind::Authentication,
            (_, 404) => ErrorKind::NotFound,
            (_, 400..=499) => ErrorKind::InvalidRequest,
            _ => ErrorKind::Unavailable,
        };
        let status = match kind {
            ErrorKind::ContextWindowExceeded => 400,
            _ => head.status,
        };
        let retry = head
            .header("retry-in")
            .and_then(|s| s.parse::<u64>().ok())
            .map(|s| s * 1000);
        ProviderError::new(kind, format!("acme: {detail}"))
            .with_status(status)
            .with_retry_after_ms(retry)
    }

    fn stream_decoder(&self, context: &RequestContext) -> Result<AcmeStream, ProviderError> {
        Ok(AcmeStream {
            model: self.model.clone(),
            include_usage: context.include_usage,
            line: Vec::new(),
            started: false,
            ended: false,
        })
    }
}

/// NDJSON → OpenAI chunks.
#[derive(Debug)]
pub struct AcmeStream {
    model: String,
    include_usage: bool,
    line: Vec<u8>,
    started: bool,
    ended: bool,
}

impl AcmeStream {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Vec<u8> {
        json!({
            "id": "chatcmpl-acme", "object": "chat.completion.chunk", "created": 0, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        .to_string()
        .into_bytes()
    }

    fn on_line(&mut self, line: &[u8], out: &mut StreamOutput) {
        if self.ended || line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                out.error = Some(ProviderError::bad_response(format!(
                    "acme: bad stream line: {e}"
                )));
                self.ended = true;
                return;
            }
        };
        if !self.started {
            self.started = true;
            let first = self.chunk(json!({"role": "assistant", "content": ""}), None);
            out.push_data(&first);
        }
        if let Some(delta) = v["delta"].as_str() {
            let c = self.chunk(json!({"content": delta}), None);
            out.push_data(&c);
        }
        if let Some(stop) = v["stop"].as_str() {
            let finish = finish_reason(stop);
            let usage = usage(&v["tokens"]);
            let c = self.chunk(json!({}), Some(finish));
            out.push_data(&c);
            if self.include_usage {
                let u = json!({
                    "id": "chatcmpl-acme", "object": "chat.completion.chunk", "created": 0, "model": self.model, "choices": [],
                    "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens},
                });
                out.push_data(u.to_string().as_bytes());
            }
            out.sse.extend_from_slice(b"data: [DONE]\n\n");
            out.done = true;
            out.info = ResponseInfo {
                usage: Some(usage),
                finish_reason: Some(finish.to_owned()),
                model: Some(self.model.clone()),
                ..ResponseInfo::default()
            };
            self.ended = true;
        }
    }
}

impl StreamDecoder for AcmeStream {
    fn feed(&mut self, mut bytes: &[u8], out: &mut StreamOutput) {
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(&bytes[..pos]);
            self.on_line(&line, out);
            bytes = &bytes[pos + 1..];
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() > MAX_LINE {
            out.error = Some(ProviderError::bad_response("acme: stream line too long"));
            self.line.clear();
            self.ended = true;
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        let line = std::mem::take(&mut self.line);
        self.on_line(&line, out);
    }
}

switchyard_plugin_sdk::export_provider!(AcmePlugin);

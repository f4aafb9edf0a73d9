//! # switchyard-provider-ollama
//!
//! [Ollama](https://ollama.com) behind the OpenAI API, for local servers, reverse proxies and
//! Ollama Cloud.
//!
//! ## Routes
//!
//! | deployment | endpoint | upstream |
//! |---|---|---|
//! | `ollama/<model>`, `ollama_chat/<model>` | `chat` | `POST {base}/api/chat` (NDJSON when streaming) |
//! | same | `completions` | `POST {base}/api/generate` |
//! | same | `embeddings` | `POST {base}/api/embed` (`POST {base}/api/embeddings` with `ollama_legacy_embeddings: true`) |
//! | `ollama_api: openai`, or an `api_base` ending in `/v1` | all three | `{base}/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, passed through |
//!
//! LiteLLM sends `ollama/<model>` to `/api/generate` (flattening the conversation into one
//! prompt) and only `ollama_chat/<model>` to `/api/chat`. Switchyard routes **both** prefixes'
//! chat requests to `/api/chat`: chat messages are lossless there (roles, images, tool calls,
//! tool results, thinking), while a flattened prompt loses them. `/api/generate` serves the
//! legacy `completions` endpoint, whose request already is a single prompt.
//!
//! ## Settings
//!
//! - `api_base` (else `OLLAMA_API_BASE`, else `http://localhost:11434`). A base ending in `/v1`
//!   selects the OpenAI-compatible API; `ollama_api: native | openai` chooses explicitly.
//! - No key is needed. An `api_key` (else `OLLAMA_API_KEY`), for Ollama Cloud or a reverse
//!   proxy, is sent as `Authorization: Bearer …`.
//! - `keep_alive` and `options` (an object of Ollama model options such as `num_ctx`) in the
//!   deployment's params are sent with every native request; the client's own `keep_alive` /
//!   `options` members win over them, and the OpenAI parameters win over both.
//!
//! ## Translation (native API)
//!
//! Messages: `system`/`developer` → `system`; text parts are joined; images must be base64
//! `data:` URLs (Ollama takes inline images only; a remote URL is a 400 naming the part);
//! assistant `tool_calls` → Ollama tool calls with object arguments; `tool` results carry
//! `tool_name` (looked up from the call id) and `tool_call_id`. `max_tokens` /
//! `max_completion_tokens` → `options.num_predict`; `temperature`, `top_p`, `seed`, `stop`,
//! `frequency_penalty`, `presence_penalty`, `top_k` → `options`; `response_format` json_object →
//! `format: "json"`, json_schema → `format: <schema>`; `reasoning_effort` → `think`. `stream` is
//! always sent explicitly (Ollama streams by default).
//!
//! Responses: `message.thinking` → `reasoning_content`; tool calls get the upstream's id, or a
//! generated `call_<hash>_<n>` one derived from the response's model and timestamp (unique per
//! response, identical however a stream is split); `done_reason` → `finish_reason`
//! (`tool_calls` when the answer calls tools); `prompt_eval_count` / `eval_count` → usage.
//! Streams are NDJSON, one object a line, `done: true` last; they become OpenAI SSE chunks with
//! bounded memory (one line, at most 4 MiB, is buffered).
//!
//! Embeddings always come back as float arrays: a plugin cannot see the request's
//! `encoding_format` when it parses the answer.

mod request;
mod response;
mod stream;

use serde_json::Value;
use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder, RawObject};
use switchyard_plugin_sdk::{
    DeploymentConfig, ModelInfo, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, StreamDecoder, StreamOutput, UpstreamRequest,
};

pub use stream::{NdjsonStreamDecoder, DEFAULT_MAX_LINE_BYTES};

/// A local Ollama server.
pub const DEFAULT_API_BASE: &str = "http://localhost:11434";

const PROVIDER: &str = "ollama";
const KEY_ENV: &str = "OLLAMA_API_KEY";
const BASE_ENV: &str = "OLLAMA_API_BASE";

/// OpenAI parameters the translation understands.
const SUPPORTED_PARAMS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "user",
    "n",
    "keep_alive",
];

/// Models of LiteLLM's catalog for Ollama (free: they run on the user's hardware). Any other
/// pulled model works too; it just has no catalog entry. (id, context window, max output)
const CATALOG: &[(&str, u64, u64)] = &[
    ("llama3", 8192, 8192),
    ("llama3.1", 8192, 8192),
    ("llama2", 4096, 4096),
    ("mistral-7B-Instruct-v0.2", 32768, 32768),
    ("codegeex4", 32768, 8192),
    ("gpt-oss:20b-cloud", 131072, 131072),
    ("gpt-oss:120b-cloud", 131072, 131072),
];

/// Which API of the server a deployment talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `/api/chat`, `/api/generate`, `/api/embed`.
    Native,
    /// `/v1/...`, OpenAI-shaped.
    OpenAi,
}

/// The Ollama plugin.
#[derive(Debug)]
pub struct OllamaPlugin;

impl Plugin for OllamaPlugin {
    type Provider = Ollama;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new(PROVIDER, env!("CARGO_PKG_VERSION"));
        m.providers = vec!["ollama".to_owned(), "ollama_chat".to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = vec![BASE_ENV.to_owned(), KEY_ENV.to_owned()];
        m.requires_api_key = false;
        m.endpoints = vec![
            "chat".to_owned(),
            "embeddings".to_owned(),
            "completions".to_owned(),
        ];
        m.supported_params = SUPPORTED_PARAMS.iter().map(|s| (*s).to_owned()).collect();
        m.models = CATALOG
            .iter()
            .map(|(id, ctx, out)| ModelInfo {
                id: (*id).to_owned(),
                context_window: Some(*ctx),
                max_output_tokens: Some(*out),
                input_cost_per_token: Some("0".to_owned()),
                output_cost_per_token: Some("0".to_owned()),
                ..ModelInfo::default()
            })
            .collect();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Ollama, ProviderError> {
        if !matches!(config.provider.as_str(), "" | "ollama" | "ollama_chat") {
            return Err(ProviderError::invalid_request(format!(
                "the ollama plugin does not serve provider '{}'",
                config.provider
            )));
        }
        if config.model.trim().is_empty() {
            return Err(
                ProviderError::invalid_request("ollama: the deployment names no model")
                    .with_param("model"),
            );
        }
        let base = non_empty(config.api_base.clone())
            .or_else(|| non_empty(config.env.get(BASE_ENV).cloned()))
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let mut base = base.trim().trim_end_matches('/').to_owned();
        let scheme_ok = base.split_once("://").is_some_and(|(s, rest)| {
            (s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")) && !rest.is_empty()
        });
        if !scheme_ok {
            // The value is not repeated: a URL may carry credentials.
            return Err(
                ProviderError::invalid_request("ollama: api_base is not an http(s) URL")
                    .with_param("api_base"),
            );
        }
        // A base given as the chat URL itself, or with the `/api` prefix.
        for suffix in ["/api/chat", "/api/generate", "/api/embed", "/api"] {
            if let Some(stripped) = base.strip_suffix(suffix) {
                base = stripped.to_owned();
                break;
            }
        }
        let ends_in_v1 = base.ends_with("/v1");
        let api = match config.params.get("ollama_api") {
            None | Some(Value::Null) => {
                if ends_in_v1 {
                    Api::OpenAi
                } else {
                    Api::Native
                }
            }
            Some(Value::String(s)) if s == "native" => Api::Native,
            Some(Value::String(s)) if s == "openai" => Api::OpenAi,
            Some(_) => {
                return Err(ProviderError::invalid_request(
                    "ollama: ollama_api must be 'native' (/api/chat) or 'openai' (/v1/chat/completions)",
                )
                .with_param("ollama_api"))
            }
        };
        let base = match (api, ends_in_v1) {
            (Api::OpenAi, false) => format!("{base}/v1"),
            (Api::Native, true) => base.trim_end_matches("/v1").to_owned(),
            _ => base,
        };
        let native = request::NativeSettings::from_params(&config.params)?;
        let legacy_embeddings = match config.params.get("ollama_legacy_embeddings") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ProviderError::invalid_request(
                    "ollama: ollama_legacy_embeddings must be true or false",
                )
                .with_param("ollama_legacy_embeddings"))
            }
        };
        Ok(Ollama {
            base,
            api,
            model: config.model,
            api_key: non_empty(config.api_key)
                .or_else(|| non_empty(config.env.get(KEY_ENV).cloned())),
            native,
            legacy_embeddings,
        })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// One Ollama deployment.
#[derive(Debug)]
pub struct Ollama {
    /// Server root (native) or `.../v1` (OpenAI-compatible), without a trailing `/`.
    base: String,
    api: Api,
    model: String,
    api_key: Option<String>,
    native: request::NativeSettings,
    legacy_embeddings: bool,
}

impl Ollama {
    fn with_auth(&self, mut upstream: UpstreamRequest) -> UpstreamRequest {
        if let Some(key) = &self.api_key {
            upstream = upstream.header("authorization", format!("Bearer {key}"));
        }
        upstream
    }

    fn openai_request(&self, request: &RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let path = match request.endpoint {
            "chat" => "/chat/completions",
            "embeddings" => "/embeddings",
            "completions" => "/completions",
            other => return Err(unknown_endpoint(other)),
        };
        let mut body = RawObject::parse(request.body)?;
        body.set("model", &self.model);
        body.remove_gateway_members(&[]);
        if request.context.stream && request.endpoint != "embeddings" {
            // Usage arrives only when asked for; the decoder hides it unless the client asked.
            let mut options: serde_json::Map<String, Value> =
                body.get_as("stream_options")?.unwrap_or_default();
            options.insert("include_usage".to_owned(), Value::Bool(true));
            body.set("stream_options", &options);
        }
        let mut upstream =
            UpstreamRequest::post_json(format!("{}{path}", self.base), body.to_vec());
        if request.context.stream {
            upstream = upstream.header("accept", "text/event-stream");
        }
        Ok(self.with_auth(upstream))
    }
}

fn unknown_endpoint(endpoint: &str) -> ProviderError {
    ProviderError::invalid_request(format!(
        "the ollama plugin does not serve the '{endpoint}' endpoint"
    ))
}

impl Provider for Ollama {
    type Decoder = OllamaStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        if self.api == Api::OpenAi {
            return self.openai_request(&request);
        }
        let (path, body) = match request.endpoint {
            "chat" => (
                "/api/chat",
                request::chat(request.body, &self.model, request.context, &self.native)?,
            ),
            "completions" => (
                "/api/generate",
                request::generate(request.body, &self.model, request.context, &self.native)?,
            ),
            "embeddings" if self.legacy_embeddings => (
                "/api/embeddings",
                request::legacy_embeddings(request.body, &self.model, &self.native)?,
            ),
            "embeddings" => (
                "/api/embed",
                request::embed(request.body, &self.model, &self.native)?,
            ),
            other => return Err(unknown_endpoint(other)),
        };
        let mut upstream = UpstreamRequest::post_json(format!("{}{path}", self.base), body);
        if request.context.stream && request.endpoint != "embeddings" {
            upstream = upstream.header("accept", "application/x-ndjson");
        }
        Ok(self.with_auth(upstream))
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        let endpoint = head
            .header(switchyard_plugin_sdk::ENDPOINT_HEADER)
            .unwrap_or("chat");
        match (self.api, endpoint) {
            (Api::OpenAi, "embeddings") => openai::parse_embeddings_response(PROVIDER, body),
            (Api::OpenAi, _) => response::openai_chat(body),
            (Api::Native, "embeddings") => response::embeddings(body, &self.model),
            (Api::Native, "completions") => response::generate(body),
            (Api::Native, _) => response::chat(body),
        }
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        response::classify_error(head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<OllamaStreamDecoder, ProviderError> {
        Ok(match self.api {
            Api::Native => OllamaStreamDecoder::Native(NdjsonStreamDecoder::new(context)),
            Api::OpenAi => {
                OllamaStreamDecoder::OpenAi(Box::new(ChatStreamDecoder::new(PROVIDER, context)))
            }
        })
    }
}

/// The stream decoder of a deployment: native NDJSON, or OpenAI SSE passed through.
#[derive(Debug)]
pub enum OllamaStreamDecoder {
    Native(NdjsonStreamDecoder),
    OpenAi(Box<ChatStreamDecoder>),
}

impl StreamDecoder for OllamaStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        match self {
            OllamaStreamDecoder::Native(d) => d.feed(bytes, out),
            OllamaStreamDecoder::OpenAi(d) => d.feed(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        match self {
            OllamaStreamDecoder::Native(d) => d.finish(out),
            OllamaStreamDecoder::OpenAi(d) => d.finish(out),
        }
    }
}

switchyard_plugin_sdk::export_provider!(OllamaPlugin);

#[cfg(test)]
mod tests;

//! # switchyard-provider-cohere
//!
//! Cohere's v2 API behind the OpenAI API.
//!
//! ## Routes
//!
//! | deployment | endpoint | upstream |
//! |---|---|---|
//! | `cohere/<model>`, `cohere_chat/<model>` | `chat` | `POST {base}/v2/chat` (SSE when streaming) |
//! | same | `embeddings` | `POST {base}/v2/embed` |
//! | same | `rerank` | `POST {base}/v2/rerank` (Cohere's shape in and out) |
//! | same | `passthrough` | `{method} {base}{path}` (`/cohere/*` on the gateway) |
//!
//! ## Settings
//!
//! - `api_base` (else `COHERE_API_BASE`, else `https://api.cohere.com`); a base that already
//!   ends in `/v2`, `/v1`, `/v2/chat` or `/v2/embed` is accepted.
//! - `api_key` (else `COHERE_API_KEY`, else `CO_API_KEY`), sent as `Authorization: Bearer …`.
//!   A missing key is an `authentication` error naming `COHERE_API_KEY`.
//!
//! ## Translation
//!
//! Chat requests: `system`/`developer` → `system` messages; user content parts `text` and
//! `image_url` (Cohere takes OpenAI's image part shape); assistant `tool_calls` → Cohere tool
//! calls, the assistant's text beside them → `tool_plan`, its `reasoning_content` → a
//! `thinking` content part; `tool` results keep `tool_call_id`. `tools` (function tools;
//! `strict` → `strict_tools`), `tool_choice` (`required` → `REQUIRED`, `none` → `NONE`, a named
//! function → `REQUIRED` with only that tool), `response_format` (`json_object`, and
//! `json_schema` → `json_object` + `json_schema`), `max_tokens`/`max_completion_tokens`,
//! `temperature`, `top_p` → `p`, `top_k` → `k`, `stop` → `stop_sequences`, `seed`,
//! `frequency_penalty`, `presence_penalty`, `reasoning_effort` → `thinking` (`none` disables it,
//! `minimal`/`low` budget 1024 tokens, `medium` 4096, `high` the model's default). Cohere's own
//! members `thinking`, `documents`, `citation_options`, `safety_mode`, `strict_tools` and
//! `priority` pass through (an Anthropic-style `thinking.budget_tokens` becomes `token_budget`).
//! `n` > 1, `logprobs`, `logit_bias`, `parallel_tool_calls: false`, … have no Cohere
//! equivalent: dropped with `drop_params`, else a 400 naming the parameter.
//!
//! Responses: `text` parts → `content` (the `tool_plan` when there is no text), `thinking`
//! parts → `reasoning_content`, tool calls as they are; `finish_reason` COMPLETE /
//! STOP_SEQUENCE → `stop`, MAX_TOKENS → `length`, TOOL_CALL → `tool_calls`, ERROR_TOXIC →
//! `content_filter`. Usage comes from `usage.tokens` (what the model processed, which
//! `usage.cached_tokens` is a part of), else `usage.billed_units`. The model name is the
//! deployment's: Cohere does not echo it.
//!
//! Streams: the v2 SSE events (`message-start`, `content-*`, `tool-plan-delta`,
//! `tool-call-*`, `citation-*`, `message-end`) become OpenAI chunks; see [`ChatStreamDecoder`].
//!
//! Embeddings: `input` (a string or strings) → `texts`, `input_type` (default
//! `search_document`), `dimensions` → `output_dimension`, `truncate` passes through;
//! `encoding_format: base64` asks Cohere for `base64` embeddings (little-endian float32, as
//! OpenAI's), else `float`. The answer becomes an OpenAI embeddings list with
//! `meta.billed_units.input_tokens` as usage.
//!
//! Rerank: the client's Cohere request goes upstream with only `model` rewritten (after checking
//! `query`, `documents`, `top_n`, `max_tokens_per_doc` and `return_documents`); the answer comes
//! back as Cohere sent it, with `meta.billed_units.search_units` (1 when absent) as the
//! `queries` usage. Pass-through requests go to `{base}{path}` unchanged with the deployment's
//! key; their answers and streams are forwarded unchanged, with the usage they report.

mod native;
mod request;
mod response;
mod stream;

use switchyard_plugin_sdk::endpoint::{self, EMBEDDINGS, PASSTHROUGH, RERANK};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ModelInfo, ParsedResponse, Plugin, PluginMetadata, Provider,
    ProviderError, RequestContext, RequestIn, ResponseHead, UpstreamRequest, ENDPOINT_HEADER,
};

pub use native::PassthroughInspector;
pub use stream::ChatStreamDecoder;
use switchyard_plugin_sdk::native::{
    passthrough_request, passthrough_target, EitherDecoder, RawEventDecoder,
};

/// Cohere's public endpoint (the plugin appends `/v2/chat` or `/v2/embed`).
pub const DEFAULT_API_BASE: &str = "https://api.cohere.com";

const PROVIDER: &str = "cohere";
const KEY_ENVS: [&str; 2] = ["COHERE_API_KEY", "CO_API_KEY"];
const BASE_ENV: &str = "COHERE_API_BASE";
const ENDPOINTS: &[&str] = &[endpoint::CHAT, EMBEDDINGS, RERANK, PASSTHROUGH];

/// OpenAI chat parameters the translation understands (for models not in the catalog too).
const SUPPORTED_PARAMS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
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
];

/// Parameters only models with tool use take.
const TOOL_PARAMS: &[&str] = &["tools", "tool_choice", "parallel_tool_calls"];
/// Parameters only reasoning models take.
const REASONING_PARAMS: &[&str] = &["reasoning_effort"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A chat model; `tools` and `reasoning` say what it supports.
    Chat {
        tools: bool,
        reasoning: bool,
    },
    Embed,
    /// A rerank model; its price is per query (search unit), which the host's catalog has.
    Rerank,
}

struct Entry {
    id: &'static str,
    context_window: u64,
    max_output_tokens: Option<u64>,
    /// US dollars per token.
    /// `None` where the bundled catalog's source has no figure: the config prices the model.
    input: Option<&'static str>,
    output: Option<&'static str>,
    kind: Kind,
}

const CHAT: Kind = Kind::Chat {
    tools: true,
    reasoning: false,
};
const REASONING: Kind = Kind::Chat {
    tools: true,
    reasoning: true,
};
const NO_TOOLS: Kind = Kind::Chat {
    tools: false,
    reasoning: false,
};

/// Limits and prices from LiteLLM's `model_prices_and_context_window.json` (MIT, Copyright (c)
/// 2023 Berri AI; see `../shared/data/SOURCE.md`). The aliases `command-a`, `command-r` and
/// `command-r-plus` carry the figures of the dated models they point at. That file lists
/// `embed-multilingual-light-v3.0` at $0.0001 per token, a thousand times its siblings; its
/// sibling's price is used instead. Models the file lacks carry no price here (limits and
/// capabilities from Cohere's model pages): the config prices them.
#[rustfmt::skip]
const CATALOG: &[Entry] = &[
    Entry { id: "command-a-03-2025", context_window: 256_000, max_output_tokens: Some(8_000), input: Some("0.0000025"), output: Some("0.00001"), kind: CHAT },
    Entry { id: "command-a", context_window: 256_000, max_output_tokens: Some(8_000), input: Some("0.0000025"), output: Some("0.00001"), kind: CHAT },
    Entry { id: "command-a-reasoning-08-2025", context_window: 256_000, max_output_tokens: Some(32_000), input: None, output: None, kind: REASONING },
    Entry { id: "command-a-vision-07-2025", context_window: 128_000, max_output_tokens: Some(8_000), input: None, output: None, kind: NO_TOOLS },
    Entry { id: "command-r-08-2024", context_window: 128_000, max_output_tokens: Some(4_096), input: Some("0.00000015"), output: Some("0.0000006"), kind: CHAT },
    Entry { id: "command-r", context_window: 128_000, max_output_tokens: Some(4_096), input: Some("0.00000015"), output: Some("0.0000006"), kind: CHAT },
    Entry { id: "command-r-plus-08-2024", context_window: 128_000, max_output_tokens: Some(4_096), input: Some("0.0000025"), output: Some("0.00001"), kind: CHAT },
    Entry { id: "command-r-plus", context_window: 128_000, max_output_tokens: Some(4_096), input: Some("0.0000025"), output: Some("0.00001"), kind: CHAT },
    Entry { id: "command-r7b-12-2024", context_window: 128_000, max_output_tokens: Some(4_096), input: Some("0.0000000375"), output: Some("0.00000015"), kind: CHAT },
    Entry { id: "c4ai-aya-expanse-32b", context_window: 128_000, max_output_tokens: Some(4_000), input: Some("0.0000005"), output: Some("0.0000015"), kind: NO_TOOLS },
    Entry { id: "embed-v4.0", context_window: 128_000, max_output_tokens: None, input: Some("0.00000012"), output: Some("0"), kind: Kind::Embed },
    Entry { id: "embed-english-v3.0", context_window: 512, max_output_tokens: None, input: Some("0.0000001"), output: Some("0"), kind: Kind::Embed },
    Entry { id: "embed-english-light-v3.0", context_window: 512, max_output_tokens: None, input: Some("0.0000001"), output: Some("0"), kind: Kind::Embed },
    Entry { id: "embed-multilingual-v3.0", context_window: 512, max_output_tokens: None, input: Some("0.0000001"), output: Some("0"), kind: Kind::Embed },
    Entry { id: "embed-multilingual-light-v3.0", context_window: 512, max_output_tokens: None, input: Some("0.0000001"), output: Some("0"), kind: Kind::Embed },
    Entry { id: "rerank-v4.0-pro", context_window: 32_768, max_output_tokens: None, input: None, output: None, kind: Kind::Rerank },
    Entry { id: "rerank-v4.0-fast", context_window: 32_768, max_output_tokens: None, input: None, output: None, kind: Kind::Rerank },
    Entry { id: "rerank-v3.5", context_window: 4_096, max_output_tokens: None, input: None, output: None, kind: Kind::Rerank },
    Entry { id: "rerank-english-v3.0", context_window: 4_096, max_output_tokens: None, input: None, output: None, kind: Kind::Rerank },
    Entry { id: "rerank-multilingual-v3.0", context_window: 4_096, max_output_tokens: None, input: None, output: None, kind: Kind::Rerank },
];

fn model_params(kind: Kind) -> Vec<String> {
    if kind == Kind::Rerank {
        // Chat parameters mean nothing to a rerank model.
        return Vec::new();
    }
    SUPPORTED_PARAMS
        .iter()
        .filter(|p| match kind {
            Kind::Chat { tools, reasoning } => {
                (tools || !TOOL_PARAMS.contains(p)) && (reasoning || !REASONING_PARAMS.contains(p))
            }
            // Chat parameters are not checked on embeddings; the plugin's list stands.
            Kind::Embed | Kind::Rerank => true,
        })
        .map(|p| (*p).to_owned())
        .collect()
}

fn catalog() -> Vec<ModelInfo> {
    CATALOG
        .iter()
        .map(|e| ModelInfo {
            id: e.id.to_owned(),
            context_window: Some(e.context_window),
            max_output_tokens: e.max_output_tokens,
            input_cost_per_token: e.input.map(str::to_owned),
            output_cost_per_token: e.output.map(str::to_owned),
            supported_params: model_params(e.kind),
            ..ModelInfo::default()
        })
        .collect()
}

/// The Cohere plugin.
#[derive(Debug)]
pub struct CoherePlugin;

impl Plugin for CoherePlugin {
    type Provider = Cohere;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new(PROVIDER, env!("CARGO_PKG_VERSION"));
        m.providers = vec!["cohere".to_owned(), "cohere_chat".to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = KEY_ENVS
            .iter()
            .chain(std::iter::once(&BASE_ENV))
            .map(|s| (*s).to_owned())
            .collect();
        m.requires_api_key = true;
        m.endpoints = ENDPOINTS.iter().map(|s| (*s).to_owned()).collect();
        m.supported_params = SUPPORTED_PARAMS.iter().map(|s| (*s).to_owned()).collect();
        m.models = catalog();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Cohere, ProviderError> {
        let base = config
            .api_base
            .clone()
            .filter(|b| !b.trim().is_empty())
            .or_else(|| config.env.get(BASE_ENV).cloned())
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let mut base = base.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::invalid_request(format!(
                "cohere: api_base '{base}' is not an http(s) URL"
            ))
            .with_param("api_base"));
        }
        // LiteLLM's Cohere api_base may be the full chat URL or end in a version.
        for suffix in [
            "/v2/chat",
            "/v2/embed",
            "/v1/chat",
            "/v1/embed",
            "/v2",
            "/v1",
        ] {
            if let Some(stripped) = base.strip_suffix(suffix) {
                base = stripped;
                break;
            }
        }
        if config.model.trim().is_empty() {
            return Err(
                ProviderError::invalid_request("cohere: the deployment names no model")
                    .with_param("model"),
            );
        }
        Ok(Cohere {
            base: base.to_owned(),
            model: config.model.clone(),
            api_key: config
                .api_key
                .clone()
                .filter(|k| !k.is_empty())
                .or_else(|| {
                    KEY_ENVS
                        .iter()
                        .find_map(|n| config.env.get(*n).filter(|k| !k.is_empty()).cloned())
                }),
        })
    }
}

/// One Cohere deployment.
pub struct Cohere {
    /// Scheme, host and path prefix, without the `/v2/...` route.
    base: String,
    model: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for Cohere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log line through Debug.
        f.debug_struct("Cohere")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The plugin's stream decoder: Cohere chat events translated to OpenAI chunks (boxed: its
/// state is much larger than the pass-through one's), or a pass-through stream forwarded whole.
pub type CohereStreamDecoder =
    EitherDecoder<Box<ChatStreamDecoder>, RawEventDecoder<PassthroughInspector>>;

impl Provider for Cohere {
    type Decoder = CohereStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let (route, body) = match request.endpoint {
            endpoint::CHAT => (
                "/v2/chat",
                request::translate_chat(request.body, &self.model, request.context)?,
            ),
            EMBEDDINGS => (
                "/v2/embed",
                request::translate_embed(request.body, &self.model)?,
            ),
            RERANK => (
                "/v2/rerank",
                native::rerank_body(request.body, &self.model)?,
            ),
            PASSTHROUGH => ("", Vec::new()),
            other => {
                return Err(ProviderError::invalid_request(format!(
                    "the cohere plugin does not serve the '{other}' endpoint (one of: {})",
                    ENDPOINTS.join(", ")
                )))
            }
        };
        let key = self.api_key.as_deref().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Authentication,
                format!(
                    "cohere: no API key: set {} (or {}) or the deployment's api_key",
                    KEY_ENVS[0], KEY_ENVS[1]
                ),
            )
            .with_code("missing_api_key")
        })?;
        let mut upstream = if request.endpoint == PASSTHROUGH {
            let (method, path) = passthrough_target(PROVIDER, request.context)?;
            let url = format!("{}{path}", self.base);
            passthrough_request(method, url, request.body, request.context)
        } else {
            UpstreamRequest::post_json(format!("{}{route}", self.base), body)
        }
        .header("authorization", format!("Bearer {key}"));
        if request.endpoint == "chat" && request.context.stream {
            upstream = upstream.header("accept", "text/event-stream");
        }
        Ok(upstream)
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        match head.header(ENDPOINT_HEADER).unwrap_or(endpoint::CHAT) {
            EMBEDDINGS => response::translate_embed(body, &self.model),
            RERANK => native::parse_rerank(head, body),
            PASSTHROUGH => Ok(native::parse_passthrough(head, body)),
            _ => response::translate_chat(body, &self.model),
        }
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        response::classify_error(head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<CohereStreamDecoder, ProviderError> {
        Ok(if context.passthrough.is_some() {
            EitherDecoder::Native(RawEventDecoder::new(PROVIDER, PassthroughInspector))
        } else {
            EitherDecoder::Chat(Box::new(ChatStreamDecoder::new(&self.model, context)))
        })
    }
}

switchyard_plugin_sdk::export_provider!(CoherePlugin);

#[cfg(test)]
mod tests;

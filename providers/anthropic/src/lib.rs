//! # switchyard-provider-anthropic
//!
//! Anthropic's Messages API behind the OpenAI chat API: `anthropic/<model>` deployments,
//! `x-api-key` + `anthropic-version` headers, system prompts moved to the top level, tool calls
//! as `tool_use`/`tool_result` blocks, thinking blocks as `reasoning_content`, prompt-caching
//! tokens in usage, and the Messages SSE events (`message_start`, `content_block_*`,
//! `message_delta`, `message_stop`, `ping`, `error`) turned into OpenAI chunks.
//!
//! Anthropic clients are also served natively: the `messages` endpoint (`/v1/messages` on the
//! gateway) and the `/anthropic/*` pass-through route send the client's body upstream as it is
//! (only `model` rewritten on `messages`) and answer with Anthropic's own JSON and events,
//! reading usage, the stop reason and in-stream errors on the way (see `native`).

mod native;
mod request;
mod response;
mod stream;

use switchyard_plugin_sdk::endpoint::{CHAT, MESSAGES, PASSTHROUGH};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ModelInfo, ParsedResponse, Plugin, PluginMetadata, Provider,
    ProviderError, RequestContext, RequestIn, ResponseHead, UpstreamRequest, ENDPOINT_HEADER,
};

pub use native::MessagesInspector;
pub use stream::MessagesStreamDecoder;
use switchyard_plugin_sdk::native::{
    passthrough_request, passthrough_target, EitherDecoder, RawEventDecoder,
};

const ENDPOINTS: &[&str] = &[CHAT, MESSAGES, PASSTHROUGH];

/// Anthropic's public endpoint (the plugin appends `/v1/messages`).
pub const DEFAULT_API_BASE: &str = "https://api.anthropic.com";
/// The Messages API version the translation is written against.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by Anthropic; used when the client sends none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

const KEY_ENV: &str = "ANTHROPIC_API_KEY";
const BASE_ENVS: [&str; 2] = ["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"];

/// (id, context window, max output, input, output, cache read, cache write) USD per token.
const CATALOG: &[(&str, u64, u64, &str, &str, &str, &str)] = &[
    (
        "claude-sonnet-4-5",
        200_000,
        64_000,
        "0.000003",
        "0.000015",
        "0.0000003",
        "0.00000375",
    ),
    (
        "claude-sonnet-4-5-20250929",
        200_000,
        64_000,
        "0.000003",
        "0.000015",
        "0.0000003",
        "0.00000375",
    ),
    (
        "claude-haiku-4-5",
        200_000,
        64_000,
        "0.000001",
        "0.000005",
        "0.0000001",
        "0.00000125",
    ),
    (
        "claude-haiku-4-5-20251001",
        200_000,
        64_000,
        "0.000001",
        "0.000005",
        "0.0000001",
        "0.00000125",
    ),
    (
        "claude-opus-4-5",
        200_000,
        64_000,
        "0.000005",
        "0.000025",
        "0.0000005",
        "0.00000625",
    ),
];

/// OpenAI chat parameters the translation understands.
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
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "metadata",
    "reasoning_effort",
    "thinking",
];

/// The Anthropic plugin.
#[derive(Debug)]
pub struct AnthropicPlugin;

impl Plugin for AnthropicPlugin {
    type Provider = Anthropic;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("anthropic", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["anthropic".to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = std::iter::once(KEY_ENV)
            .chain(BASE_ENVS)
            .map(str::to_owned)
            .collect();
        m.requires_api_key = true;
        m.endpoints = ENDPOINTS.iter().map(|e| (*e).to_owned()).collect();
        m.supported_params = SUPPORTED_PARAMS.iter().map(|s| (*s).to_owned()).collect();
        m.models = CATALOG
            .iter()
            .map(|(id, ctx, out, input, output, read, write)| ModelInfo {
                id: (*id).to_owned(),
                context_window: Some(*ctx),
                max_output_tokens: Some(*out),
                input_cost_per_token: Some((*input).to_owned()),
                output_cost_per_token: Some((*output).to_owned()),
                cache_read_input_token_cost: Some((*read).to_owned()),
                cache_creation_input_token_cost: Some((*write).to_owned()),
                ..ModelInfo::default()
            })
            .collect();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Anthropic, ProviderError> {
        let base = config
            .api_base
            .clone()
            .or_else(|| BASE_ENVS.iter().find_map(|n| config.env.get(*n).cloned()))
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let base = base.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::invalid_request(format!(
                "api_base '{base}' is not an http(s) URL"
            ))
            .with_param("api_base"));
        }
        // LiteLLM's api_base for Anthropic may or may not already end in /v1/messages.
        let root = base
            .strip_suffix("/v1/messages")
            .or_else(|| base.strip_suffix("/v1"))
            .unwrap_or(base);
        Ok(Anthropic {
            url: format!("{root}/v1/messages"),
            root: root.to_owned(),
            model: config.model,
            api_key: config
                .api_key
                .or_else(|| config.env.get(KEY_ENV).cloned())
                .filter(|k| !k.is_empty()),
        })
    }
}

/// One Anthropic deployment.
pub struct Anthropic {
    url: String,
    /// The API base without its version: pass-through paths name it (`/v1/messages`).
    root: String,
    model: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log line through Debug.
        f.debug_struct("Anthropic")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The plugin's stream decoder: Messages events translated to OpenAI chunks for `chat`, or
/// passed through whole for `messages` and the pass-through route.
pub type AnthropicStreamDecoder =
    EitherDecoder<MessagesStreamDecoder, RawEventDecoder<MessagesInspector>>;

impl Provider for Anthropic {
    type Decoder = AnthropicStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        if !ENDPOINTS.contains(&request.endpoint) {
            return Err(ProviderError::invalid_request(format!(
                "the anthropic plugin does not serve the '{}' endpoint (one of: {})",
                request.endpoint,
                ENDPOINTS.join(", ")
            )));
        }
        let key = self.api_key.as_deref().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Authentication,
                format!("anthropic: no API key: set {KEY_ENV} or the deployment's api_key"),
            )
            .with_code("missing_api_key")
        })?;
        let context = request.context;
        let upstream = match request.endpoint {
            PASSTHROUGH => {
                let (method, path) = passthrough_target("anthropic", context)?;
                let url = format!("{}{path}", self.root);
                return Ok(passthrough_request(method, url, request.body, context)
                    .header("x-api-key", key)
                    .header("anthropic-version", ANTHROPIC_VERSION));
            }
            MESSAGES => {
                let body = native::messages_body(request.body, &self.model, context)?;
                UpstreamRequest::post_json(self.url.clone(), body)
            }
            _ => UpstreamRequest::post_json(
                self.url.clone(),
                request::translate(request.body, &self.model, context)?,
            ),
        };
        let mut upstream = upstream
            .header("x-api-key", key)
            .header("anthropic-version", ANTHROPIC_VERSION);
        if context.stream {
            upstream = upstream.header("accept", "text/event-stream");
        }
        Ok(upstream)
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        match head.header(ENDPOINT_HEADER).unwrap_or(CHAT) {
            MESSAGES => native::parse_message(body),
            PASSTHROUGH => Ok(native::parse_passthrough(head, body)),
            _ => response::translate(body),
        }
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        response::classify_error(head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<AnthropicStreamDecoder, ProviderError> {
        Ok(match context.endpoint.as_str() {
            PASSTHROUGH | MESSAGES => EitherDecoder::Native(RawEventDecoder::new(
                "anthropic",
                MessagesInspector::new(context.endpoint == PASSTHROUGH),
            )),
            _ => EitherDecoder::Chat(MessagesStreamDecoder::new(context)),
        })
    }
}

switchyard_plugin_sdk::export_provider!(AnthropicPlugin);

#[cfg(test)]
mod tests;

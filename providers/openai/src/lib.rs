//! # switchyard-provider-openai
//!
//! OpenAI, and any server that speaks the OpenAI chat-completions API (vLLM, llama.cpp,
//! LM Studio, Ollama's `/v1`, …) through `api_base`. The request body is forwarded as the client
//! sent it, with only `model` rewritten, gateway-only fields removed and the usage chunk
//! requested for streams; responses pass through byte-for-byte.
//!
//! A key is required only when the upstream is OpenAI itself: self-hosted servers usually need
//! none, and then no `Authorization` header is sent.
//!
//! Besides chat, embeddings and completions, the plugin serves the Responses API, image
//! generation, transcription, speech and the `/openai/*` pass-through route natively (see the
//! `native` module): those bodies go upstream with only `model` rewritten and come back
//! unchanged.

mod catalog;
mod native;

use switchyard_plugin_sdk::endpoint::{
    AUDIO_SPEECH, AUDIO_TRANSCRIPTIONS, CHAT, COMPLETIONS, EMBEDDINGS, IMAGES, PASSTHROUGH,
    RESPONSES,
};
use switchyard_plugin_sdk::native::{forward_json, passthrough_request, passthrough_target};
use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder, RawObject};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, Header, ParsedResponse, Plugin, PluginMetadata, Provider,
    ProviderError, RequestContext, RequestIn, ResponseHead, UpstreamRequest,
};

pub use native::{EndpointDecoder, EventDecoder};

/// The plugin's stream decoder: OpenAI's chat decoder, or native events (Responses,
/// pass-through).
pub type OpenAiStreamDecoder = EndpointDecoder<ChatStreamDecoder>;

/// OpenAI's public endpoint.
pub const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";

/// The provider id (`openai/gpt-4o`), also the prefix of error messages.
const PROVIDER: &str = "openai";
const OPENAI_HOST: &str = "api.openai.com";
const API_KEY_ENV: &str = "OPENAI_API_KEY";
const API_BASE_ENVS: [&str; 2] = ["OPENAI_API_BASE", "OPENAI_BASE_URL"];
const ORGANIZATION_ENV: &str = "OPENAI_ORGANIZATION";

/// Endpoint ids served.
const ENDPOINTS: &[&str] = &[
    CHAT,
    EMBEDDINGS,
    COMPLETIONS,
    RESPONSES,
    IMAGES,
    AUDIO_TRANSCRIPTIONS,
    AUDIO_SPEECH,
    PASSTHROUGH,
];

/// The path under the API base of every endpoint but pass-through (whose path the client gives).
fn endpoint_path(endpoint: &str) -> Option<&'static str> {
    Some(match endpoint {
        CHAT => "/chat/completions",
        EMBEDDINGS => "/embeddings",
        COMPLETIONS => "/completions",
        RESPONSES => "/responses",
        IMAGES => "/images/generations",
        AUDIO_TRANSCRIPTIONS => "/audio/transcriptions",
        AUDIO_SPEECH => "/audio/speech",
        _ => return None,
    })
}

fn classify(head: &ResponseHead, body: &[u8]) -> ProviderError {
    openai::classify_error(PROVIDER, head, body)
}

/// The OpenAI plugin.
#[derive(Debug)]
pub struct OpenAiPlugin;

impl Plugin for OpenAiPlugin {
    type Provider = OpenAi;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("openai", env!("CARGO_PKG_VERSION"));
        m.providers = vec![PROVIDER.to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = [API_KEY_ENV]
            .into_iter()
            .chain(API_BASE_ENVS)
            .chain([ORGANIZATION_ENV])
            .map(str::to_owned)
            .collect();
        m.requires_api_key = true;
        m.endpoints = ENDPOINTS.iter().map(|e| (*e).to_owned()).collect();
        m.supported_params = catalog::supported_params();
        m.models = catalog::models();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<OpenAi, ProviderError> {
        let env = |name: &str| non_empty(config.env.get(name).cloned());
        let configured_base = non_empty(config.api_base.clone())
            .or_else(|| API_BASE_ENVS.iter().find_map(|name| env(name)));
        let api_base = match configured_base {
            Some(base) => normalize_api_base(&base)?,
            None => DEFAULT_API_BASE.to_owned(),
        };
        let api_key = non_empty(config.api_key.clone()).or_else(|| env(API_KEY_ENV));
        let organization = match config.params.get("organization") {
            None | Some(serde_json::Value::Null) => env(ORGANIZATION_ENV),
            Some(serde_json::Value::String(org)) => non_empty(Some(org.clone())),
            Some(_) => {
                return Err(
                    ProviderError::invalid_request("organization must be a string")
                        .with_param("organization"),
                )
            }
        };
        let extra_headers = extra_headers(&config)?;
        Ok(OpenAi {
            url: format!("{api_base}/chat/completions"),
            base: api_base.to_owned(),
            key_required: host_of(&api_base).eq_ignore_ascii_case(OPENAI_HOST),
            model: config.model,
            authorization: api_key.as_ref().map(|key| format!("Bearer {key}")),
            api_key,
            organization,
            extra_headers,
        })
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `api_base` without its trailing `/`, after checking it is an http(s) URL with a host. The
/// error does not repeat the value: a URL may carry credentials.
fn normalize_api_base(raw: &str) -> Result<String, ProviderError> {
    let base = raw.trim().trim_end_matches('/');
    let scheme_end = base.find("://");
    let scheme_ok = scheme_end.is_some_and(|end| {
        base[..end].eq_ignore_ascii_case("http") || base[..end].eq_ignore_ascii_case("https")
    });
    let problem = if !scheme_ok {
        Some(match scheme_end {
            Some(end) => format!("its scheme is '{}'", &base[..end]),
            None => "it has no http:// or https:// scheme".to_owned(),
        })
    } else if host_of(base).is_empty() {
        Some("it has no host".to_owned())
    } else if base.contains(['?', '#']) || base.contains(char::is_whitespace) {
        Some("it has a query, a fragment or spaces".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(base.to_owned()),
        Some(problem) => Err(ProviderError::invalid_request(format!(
            "api_base must be an http(s) URL such as {DEFAULT_API_BASE}, but {problem}"
        ))
        .with_param("api_base")),
    }
}

/// The host of an http(s) URL, without user info or port.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port.split(':').next().unwrap_or("")
}

/// `litellm_params.extra_headers`: headers sent with every request of the deployment.
fn extra_headers(config: &DeploymentConfig) -> Result<Vec<Header>, ProviderError> {
    let invalid = || {
        ProviderError::invalid_request("extra_headers must be a map of header names to strings")
            .with_param("extra_headers")
    };
    match config.params.get("extra_headers") {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(v) if !name.is_empty() => {
                    Ok((name.to_ascii_lowercase(), v.clone()))
                }
                _ => Err(invalid()),
            })
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// One OpenAI(-compatible) deployment.
pub struct OpenAi {
    url: String,
    /// The API base, for the endpoints other than chat.
    base: String,
    model: String,
    api_key: Option<String>,
    /// `Bearer <api_key>`, formatted once.
    authorization: Option<String>,
    key_required: bool,
    organization: Option<String>,
    extra_headers: Vec<Header>,
}

impl std::fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log line through Debug.
        f.debug_struct("OpenAi")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("organization", &self.organization)
            .field(
                "extra_headers",
                &self
                    .extra_headers
                    .iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl OpenAi {
    /// Upstream messages that echo the deployment's own key lose it (OpenAI masks keys itself,
    /// some OpenAI-compatible servers do not).
    fn redact(&self, mut error: ProviderError) -> ProviderError {
        if let Some(key) = self.api_key.as_deref().filter(|k| k.len() >= 8) {
            if error.message.contains(key) {
                error.message = error.message.replace(key, "<redacted>");
            }
        }
        error
    }
}

impl OpenAi {
    /// Chat, embeddings and completions: the client's body with `model` rewritten, gateway-only
    /// members removed and, on streams, the usage chunk requested.
    fn openai_request(
        &self,
        request: RequestIn<'_>,
        path: &str,
    ) -> Result<UpstreamRequest, ProviderError> {
        let chat = request.endpoint == CHAT;
        let mut body = RawObject::parse(request.body)?;
        body.set("model", &self.model);
        body.remove_gateway_members(&[]);
        let body_streams = body.get("stream").is_some_and(|v| v.get() == "true");
        let stream = request.context.stream || body_streams;
        if stream {
            if !body_streams {
                body.set("stream", &true);
            }
            // Always ask for the usage chunk: cost and metrics need it even when the client did
            // not; the stream decoder hides it from a client that did not ask.
            let mut options: serde_json::Map<String, serde_json::Value> =
                body.get_as("stream_options")?.unwrap_or_default();
            options.insert("include_usage".to_owned(), serde_json::Value::Bool(true));
            body.set("stream_options", &options);
        }
        if chat
            && catalog::is_reasoning_model(&self.model)
            && !body.contains("max_completion_tokens")
        {
            // Reasoning models reject `max_tokens`; LiteLLM renames it the same way.
            if let Some(max_tokens) = body
                .get("max_tokens")
                .filter(|v| v.get() != "null")
                .map(ToOwned::to_owned)
            {
                body.remove("max_tokens");
                body.set_raw("max_completion_tokens", max_tokens);
            }
        }

        let url = if chat {
            self.url.clone()
        } else {
            format!("{}{path}", self.base)
        };
        Ok(native::post_json(url, body.to_vec(), stream))
    }

    /// `<api_base><path>`. The client's path names the API version as OpenAI's URLs do
    /// (`/v1/chat/completions`) and the API base usually ends with it too: it is not doubled.
    fn passthrough_url(&self, path: &str) -> String {
        let versioned = path == "/v1" || path.starts_with("/v1/") || path.starts_with("/v1?");
        if versioned && self.base.ends_with("/v1") {
            format!("{}{}", self.base, &path[3..])
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// The deployment's credentials and configured headers on an upstream request.
    fn with_credentials(&self, mut upstream: UpstreamRequest) -> UpstreamRequest {
        if let Some(authorization) = &self.authorization {
            upstream = upstream.header("authorization", authorization.clone());
        }
        if let Some(org) = &self.organization {
            upstream = upstream.header("openai-organization", org.clone());
        }
        for (name, value) in &self.extra_headers {
            // A configured header replaces the plugin's own of the same name (a server that
            // wants its key in `api-key`, a different `accept`...).
            upstream
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            upstream.headers.push((name.clone(), value.clone()));
        }
        upstream
    }
}

impl Provider for OpenAi {
    type Decoder = OpenAiStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        if !ENDPOINTS.contains(&request.endpoint) {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: the '{}' endpoint is not supported (one of: {})",
                request.endpoint,
                ENDPOINTS.join(", ")
            )));
        }
        if self.api_key.is_none() && self.key_required {
            return Err(ProviderError::new(
                ErrorKind::Authentication,
                format!("{PROVIDER}: no API key: set {API_KEY_ENV} or the deployment's api_key"),
            )
            .with_code("missing_api_key"));
        }
        let context = request.context;
        let upstream = match (request.endpoint, endpoint_path(request.endpoint)) {
            (PASSTHROUGH, _) | (_, None) => {
                let (method, path) = passthrough_target(PROVIDER, context)?;
                let url = self.passthrough_url(path);
                passthrough_request(method, url, request.body, context)
            }
            (AUDIO_TRANSCRIPTIONS, Some(path)) => native::transcription_request(
                format!("{}{path}", self.base),
                request.body,
                &self.model,
                context,
            )?,
            (RESPONSES | IMAGES | AUDIO_SPEECH, Some(path)) => {
                let (body, stream) =
                    forward_json(RawObject::parse(request.body)?, &self.model, context, &[]);
                native::post_json(format!("{}{path}", self.base), body, stream)
            }
            (_, Some(path)) => self.openai_request(request, path)?,
        };
        Ok(self.with_credentials(upstream))
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        use native::answers;
        match head
            .header(switchyard_plugin_sdk::ENDPOINT_HEADER)
            .unwrap_or(CHAT)
        {
            EMBEDDINGS => openai::parse_embeddings_response(PROVIDER, body),
            RESPONSES => answers::parse_responses(PROVIDER, classify, body),
            IMAGES => answers::parse_images(PROVIDER, classify, body),
            AUDIO_TRANSCRIPTIONS => answers::parse_transcription(PROVIDER, classify, head, body),
            AUDIO_SPEECH => answers::parse_speech(classify, head, body),
            PASSTHROUGH => Ok(answers::parse_passthrough(head, body)),
            // Legacy completions have `choices` and `usage` like chat.
            _ => openai::parse_chat_response(PROVIDER, body),
        }
        .map_err(|e| self.redact(e))
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        self.redact(classify(head, body))
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<OpenAiStreamDecoder, ProviderError> {
        Ok(native::endpoint_decoder(
            PROVIDER,
            classify,
            context,
            || ChatStreamDecoder::new(PROVIDER, context),
        ))
    }
}

switchyard_plugin_sdk::export_provider!(OpenAiPlugin);

#[cfg(test)]
mod tests;

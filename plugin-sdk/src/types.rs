//! Plain Rust types of the plugin contract, shared by plugins and hosts.
//!
//! The JSON documents that cross the boundary (metadata, deployment config, request context,
//! response info, auth steps) are defined here with serde, so both sides agree on one schema.
//! Every JSON struct ignores unknown fields: a newer host may send more, an older one less.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The error classes of the gateway's taxonomy (DESIGN.md, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is malformed or has a value the provider rejects (400).
    InvalidRequest,
    /// A parameter the provider does not support was sent without `drop_params` (400).
    UnsupportedParam,
    /// The prompt does not fit the model's context window (400).
    ContextWindowExceeded,
    /// The provider's content filter refused the prompt or the answer (400).
    ContentPolicy,
    /// Credentials missing or rejected (401).
    Authentication,
    /// Credentials valid but not allowed to do this (403).
    Permission,
    /// Unknown model or resource (404).
    NotFound,
    /// Rate limited or out of quota (429).
    RateLimit,
    /// The upstream did not answer in time (408 / 504).
    Timeout,
    /// The upstream is down, overloaded or unreachable (502 / 503).
    Unavailable,
    /// The upstream answered with something the plugin cannot understand (502).
    BadResponse,
    /// A bug: in the gateway, or a plugin that panicked (500).
    Internal,
}

impl ErrorKind {
    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 12] = [
        ErrorKind::InvalidRequest,
        ErrorKind::UnsupportedParam,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::ContentPolicy,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RateLimit,
        ErrorKind::Timeout,
        ErrorKind::Unavailable,
        ErrorKind::BadResponse,
        ErrorKind::Internal,
    ];

    /// The wire name used in the ABI.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::UnsupportedParam => "unsupported_param",
            ErrorKind::ContextWindowExceeded => "context_window_exceeded",
            ErrorKind::ContentPolicy => "content_policy",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::Internal => "internal",
        }
    }

    /// Parses a wire name; unknown names (from a newer plugin) are `None`.
    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// The HTTP status a client sees for this class when the upstream gave none.
    pub fn default_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::UnsupportedParam
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicy => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RateLimit => 429,
            ErrorKind::Timeout => 408,
            ErrorKind::Unavailable => 503,
            ErrorKind::BadResponse => 502,
            ErrorKind::Internal => 500,
        }
    }

    /// Whether another attempt (same or other deployment) may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimit
                | ErrorKind::Timeout
                | ErrorKind::Unavailable
                | ErrorKind::BadResponse
                | ErrorKind::Internal
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure reported by a provider plugin, classified into the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// HTTP status to report (the upstream's where it fits the class).
    pub status: u16,
    pub kind: ErrorKind,
    /// Human-readable; the provider's own message where there is one. Never contains a key.
    pub message: String,
    /// OpenAI-style machine code (`context_length_exceeded`, `invalid_api_key`, ...).
    pub code: Option<String>,
    /// The request parameter at fault, when known.
    pub param: Option<String>,
    /// How long the upstream asked us to wait before retrying.
    pub retry_after_ms: Option<u64>,
}

impl ProviderError {
    /// A new error of `kind` with its default status.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            status: kind.default_status(),
            kind,
            message: message.into(),
            code: None,
            param: None,
            retry_after_ms: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_retry_after_ms(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }

    /// A request the plugin cannot translate.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ProviderError::new(ErrorKind::InvalidRequest, message)
    }

    /// Upstream bytes the plugin cannot make sense of.
    pub fn bad_response(message: impl Into<String>) -> Self {
        ProviderError::new(ErrorKind::BadResponse, message)
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind, self.status, self.message)
    }
}

impl std::error::Error for ProviderError {}

/// An HTTP header as plugins see it.
pub type Header = (String, String);

/// The HTTP exchange a plugin asks the host to perform (or to simulate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    /// When set, the host plays this back instead of opening a connection.
    pub simulated: Option<SimulatedExchange>,
}

impl UpstreamRequest {
    /// A `POST` with a JSON body.
    pub fn post_json(url: impl Into<String>, body: Vec<u8>) -> Self {
        UpstreamRequest {
            method: "POST".to_owned(),
            url: url.into(),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body,
            simulated: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How a simulated exchange ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SimulatedEnd {
    /// The body ends normally after the last chunk.
    #[default]
    Complete,
    /// The connection drops after the last chunk.
    Drop,
    /// Nothing more arrives; the host's timeouts decide.
    Hang,
}

/// An upstream response played back by the host without network I/O.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulatedExchange {
    pub status: u16,
    pub headers: Vec<Header>,
    pub chunks: Vec<Vec<u8>>,
    pub first_byte_delay_ms: u64,
    pub chunk_delay_ms: u64,
    pub end: SimulatedEnd,
}

/// Status and headers of an upstream response, header names lower-case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<Header>,
}

impl ResponseHead {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` (seconds or HTTP date is not supported: seconds only) or `retry-after-ms`,
    /// in milliseconds.
    pub fn retry_after_ms(&self) -> Option<u64> {
        if let Some(ms) = self
            .header("retry-after-ms")
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            if ms.is_finite() && ms >= 0.0 {
                return Some(ms as u64);
            }
        }
        let secs = self.header("retry-after")?.trim().parse::<f64>().ok()?;
        (secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64)
    }
}

/// Token usage, normalized to OpenAI's meaning: `prompt_tokens` includes cached tokens,
/// `completion_tokens` includes reasoning tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_write_tokens: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// Images generated (`/v1/images/generations`).
    #[serde(skip_serializing_if = "is_zero")]
    pub images: u64,
    /// Audio transcribed, in milliseconds (`/v1/audio/transcriptions`).
    #[serde(skip_serializing_if = "is_zero")]
    pub audio_input_ms: u64,
    /// Characters turned into speech (`/v1/audio/speech`).
    #[serde(skip_serializing_if = "is_zero")]
    pub input_characters: u64,
    /// Queries billed (rerank search units).
    #[serde(skip_serializing_if = "is_zero")]
    pub queries: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Side data about a response, for metrics, cost and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponseInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The model name the upstream reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Content type of a non-JSON answer (`audio/mpeg` from `/v1/audio/speech`, `text/plain`
    /// from a transcription in `text` format); `None` means `application/json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl ResponseInfo {
    /// Merges `other` into `self`, later values winning.
    pub fn merge(&mut self, other: ResponseInfo) {
        if other.usage.is_some() {
            self.usage = other.usage;
        }
        if other.finish_reason.is_some() {
            self.finish_reason = other.finish_reason;
        }
        if other.model.is_some() {
            self.model = other.model;
        }
        if other.content_type.is_some() {
            self.content_type = other.content_type;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.usage.is_none()
            && self.finish_reason.is_none()
            && self.model.is_none()
            && self.content_type.is_none()
    }
}

/// A non-stream response translated to OpenAI shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedResponse {
    /// OpenAI JSON body, ready to send to the client.
    pub body: Vec<u8>,
    pub info: ResponseInfo,
}

/// What one `feed`/`finish` of a stream decoder produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOutput {
    /// OpenAI SSE bytes (`data: ...\n\n`), ready to send.
    pub sse: Vec<u8>,
    pub info: ResponseInfo,
    /// An error the upstream reported inside the stream; the host ends the stream with it.
    pub error: Option<ProviderError>,
    /// The upstream signalled the end of the stream.
    pub done: bool,
}

impl StreamOutput {
    /// Appends one SSE `data:` frame.
    pub fn push_data(&mut self, json: &[u8]) {
        self.sse.extend_from_slice(b"data: ");
        self.sse.extend_from_slice(json);
        self.sse.extend_from_slice(b"\n\n");
    }
}

/// Per-request facts the host passes to `build_request` and `stream_decoder`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestContext {
    /// Gateway request id (sent to the client as `x-litellm-call-id`, and as `x-request-id`
    /// unless the client sent its own).
    pub request_id: String,
    /// 0 for the first attempt, 1 for the first retry, ...
    pub attempt: u32,
    /// Wall clock at the start of this attempt, milliseconds since the Unix epoch. Plugins never
    /// read the clock themselves (signatures must be reproducible in tests).
    pub now_unix_ms: u64,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Whether the client asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// Drop parameters the provider does not support instead of failing.
    pub drop_params: bool,
    /// The endpoint id of the request (see [`crate::endpoint`]), as `build_request` got it, so
    /// `stream_decoder` knows what stream it decodes; empty from hosts before it (then `chat`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// A bearer token obtained through `auth_step`, when the provider uses one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// The client's `Content-Type` when the body is not JSON (`multipart/form-data; boundary=…`
    /// on `audio_transcriptions`); the plugin forwards it with the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// On the `passthrough` endpoint: the client's method and the path after the provider's
    /// route prefix (`/v1/messages?beta=true` for `POST /anthropic/v1/messages?beta=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Passthrough>,
}

/// A provider pass-through request (`/anthropic/*`, `/gemini/*`, `/openai/*`): the plugin
/// sends the client's body unchanged to `<api_base><path>` with the deployment's credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Passthrough {
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query after the route prefix, starting with `/`.
    pub path: String,
}

/// Configuration of one deployment, handed to `instantiate`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentConfig {
    /// Deployment id in the gateway (stable across restarts for the same config).
    pub deployment_id: String,
    /// The model group (`model_name`) the deployment serves.
    pub model_group: String,
    /// Provider id the host matched (`openai` in `openai/gpt-4o`).
    pub provider: String,
    /// Upstream model name (`gpt-4o` in `openai/gpt-4o`).
    pub model: String,
    pub api_base: Option<String>,
    /// Resolved credential (after `os.environ/NAME` and the provider's env vars).
    pub api_key: Option<String>,
    pub api_version: Option<String>,
    /// Every other `litellm_params` entry, as given.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Environment variables the plugin declared in metadata, as the host read them.
    /// Plugins never call `std::env` themselves.
    pub env: BTreeMap<String, String>,
}

impl fmt::Debug for DeploymentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials never reach a log line through Debug.
        f.debug_struct("DeploymentConfig")
            .field("deployment_id", &self.deployment_id)
            .field("model_group", &self.model_group)
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_version", &self.api_version)
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Input of an auth step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthInput {
    pub now_unix_ms: u64,
    /// The response to the fetch the plugin asked for in the previous step, if any.
    pub response: Option<AuthResponse>,
}

/// The host's answer to an [`AuthAction::Fetch`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthResponse {
    pub status: u16,
    pub body: String,
}

/// What a plugin wants from the host to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AuthAction {
    /// No token needed (static keys, or none).
    None,
    /// Perform this HTTP call and call `auth_step` again with its response.
    Fetch {
        method: String,
        url: String,
        headers: Vec<Header>,
        body: String,
    },
    /// Use this token until `expires_at_unix_ms`; it arrives as `RequestContext::auth_token`.
    Token {
        token: String,
        expires_at_unix_ms: u64,
    },
}

/// A model the plugin knows, for the host's catalog.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    /// Upstream model name (`gpt-4o-mini`).
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Prices in US dollars per token, as decimal strings (never floats: money is exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_cost_per_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_cost_per_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_token_cost: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_token_cost: Option<String>,
    /// Request parameters this model supports (`tools`, `response_format`, ...); empty means
    /// "whatever the provider's default list says".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_params: Vec<String>,
}

/// A plugin's self-description (the `metadata` entry point).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginMetadata {
    /// Plugin name (`openai`).
    pub name: String,
    /// The plugin's own version (its crate version).
    pub version: String,
    /// Version of the SDK it was built with.
    pub sdk_version: String,
    pub abi_epoch: u32,
    /// Provider ids (model-string prefixes) it serves: `openai` serves `openai/gpt-4o`.
    pub providers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_api_base: Option<String>,
    /// Environment variables it reads credentials and settings from (LiteLLM names).
    pub credential_env: Vec<String>,
    /// Whether requests fail without a credential.
    pub requires_api_key: bool,
    /// Whether the provider obtains bearer tokens through `auth_step` (Vertex AI service
    /// accounts, Entra ID). The host then runs the auth steps before a request, caches the token
    /// until shortly before its expiry and refreshes it once for all concurrent requests.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub uses_auth_step: bool,
    /// Names of `litellm_params` entries and credential variables whose value may be a path to
    /// a file (`vertex_credentials`, `GOOGLE_APPLICATION_CREDENTIALS`). The host replaces such a
    /// value by the file's contents before `instantiate` (plugins never touch the file system);
    /// a value that is inline JSON is passed unchanged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credential_files: Vec<String>,
    /// Endpoint ids it serves (`chat`).
    pub endpoints: Vec<String>,
    /// Parameters every model of the provider supports unless its `ModelInfo` says otherwise.
    pub supported_params: Vec<String>,
    pub models: Vec<ModelInfo>,
}

impl PluginMetadata {
    /// A metadata skeleton with the SDK fields filled in.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        PluginMetadata {
            name: name.into(),
            version: version.into(),
            sdk_version: crate::SDK_VERSION.to_owned(),
            abi_epoch: crate::ABI_EPOCH,
            ..PluginMetadata::default()
        }
    }
}

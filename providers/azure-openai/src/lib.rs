//! # switchyard-provider-azure-openai
//!
//! Azure OpenAI behind the OpenAI API: `azure/<deployment>` deployments (LiteLLM's model
//! string), chat completions and embeddings at
//! `{api_base}/openai/deployments/{deployment}/…?api-version=…` (or the `v1` API at
//! `{api_base}/openai/v1/…`). The body is OpenAI's, forwarded with `model` set to the
//! deployment and gateway-only members removed.
//!
//! Authentication, in order: the deployment's `api_key` (`api-key` header), its
//! `azure_ad_token` (bearer), its `tenant_id`/`client_id`/`client_secret` (an Entra ID token
//! fetched with the client-credentials grant through `auth_step`; the host caches it and
//! refreshes it once for all requests), then the same from `AZURE_API_KEY`, `AZURE_AD_TOKEN`
//! and `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`.
//!
//! Azure's additions are normalized: the stream's leading `prompt_filter_results` annotation
//! (empty `choices`) is folded into the first real chunk, and a `content_filter` finish or a
//! content-filter 400 (`ResponsibleAIPolicyViolation`) is a content-policy error.
//!
//! The Responses API, image generation, transcription, speech and the pass-through route are
//! served natively with the `openai` plugin's code for them (the same wire format; the module
//! is included from that crate by path): bodies go to Azure with `model` set to the
//! deployment and come back unchanged.

mod catalog;
#[path = "../../openai/src/native/mod.rs"]
mod native;
mod stream;

use serde_json::Value;
use switchyard_plugin_sdk::endpoint::{
    AUDIO_SPEECH, AUDIO_TRANSCRIPTIONS, CHAT, EMBEDDINGS, IMAGES, PASSTHROUGH, RESPONSES,
};
use switchyard_plugin_sdk::native::{forward_json, passthrough_request, passthrough_target};
use switchyard_plugin_sdk::openai::{self, RawObject};
use switchyard_plugin_sdk::{
    AuthAction, AuthInput, DeploymentConfig, ErrorKind, ParsedResponse, Plugin, PluginMetadata,
    Provider, ProviderError, RequestContext, RequestIn, ResponseHead, UpstreamRequest,
};

pub use native::{EndpointDecoder, EventDecoder};
pub use stream::AzureStreamDecoder;

/// The plugin's stream decoder: Azure's chat decoder, or native events (Responses,
/// pass-through).
pub type AzureOpenAiStreamDecoder = EndpointDecoder<AzureStreamDecoder>;

/// The provider id (`azure/<deployment>`), also the prefix of error messages.
pub(crate) const PROVIDER: &str = "azure";
/// The API version used when neither the deployment nor `AZURE_API_VERSION` names one: the
/// version the recorded traffic uses, with tools, reasoning and stream usage.
pub const DEFAULT_API_VERSION: &str = "2024-12-01-preview";
/// The API version of Responses API requests when the deployment names none: the default
/// above predates Azure's Responses API.
pub const DEFAULT_RESPONSES_API_VERSION: &str = "2025-04-01-preview";
/// Entra ID's public-cloud authority.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The token scope of Azure OpenAI.
pub const DEFAULT_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

const API_KEY_ENV: &str = "AZURE_API_KEY";
const API_BASE_ENV: &str = "AZURE_API_BASE";
const API_VERSION_ENV: &str = "AZURE_API_VERSION";
const AD_TOKEN_ENV: &str = "AZURE_AD_TOKEN";
const TENANT_ENV: &str = "AZURE_TENANT_ID";
const CLIENT_ID_ENV: &str = "AZURE_CLIENT_ID";
const CLIENT_SECRET_ENV: &str = "AZURE_CLIENT_SECRET";
const AUTHORITY_ENV: &str = "AZURE_AUTHORITY_HOST";

/// Request members that are Azure credentials, never forwarded (besides the gateway's own).
const AZURE_ONLY: &[&str] = &["azure_ad_token"];

/// Endpoint ids served.
const ENDPOINTS: &[&str] = &[
    CHAT,
    EMBEDDINGS,
    RESPONSES,
    IMAGES,
    AUDIO_TRANSCRIPTIONS,
    AUDIO_SPEECH,
    PASSTHROUGH,
];

/// The Azure OpenAI plugin.
#[derive(Debug)]
pub struct AzureOpenAiPlugin;

impl Plugin for AzureOpenAiPlugin {
    type Provider = AzureOpenAi;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("azure_openai", env!("CARGO_PKG_VERSION"));
        m.providers = vec![PROVIDER.to_owned()];
        m.credential_env = [
            API_KEY_ENV,
            API_BASE_ENV,
            API_VERSION_ENV,
            AD_TOKEN_ENV,
            TENANT_ENV,
            CLIENT_ID_ENV,
            CLIENT_SECRET_ENV,
            AUTHORITY_ENV,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        // A key, a token or client credentials: checked at request time.
        m.requires_api_key = false;
        m.uses_auth_step = true;
        m.endpoints = ENDPOINTS.iter().map(|e| (*e).to_owned()).collect();
        m.supported_params = catalog::supported_params();
        m.models = catalog::models();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<AzureOpenAi, ProviderError> {
        AzureOpenAi::new(config)
    }
}

/// A secret that never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Entra ID client credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
}

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    ApiKey(Secret),
    Bearer(Secret),
    /// The token arrives in `RequestContext::auth_token` after `auth_step`.
    ClientCredentials(ClientCredentials),
    Missing,
}

/// One Azure OpenAI deployment.
#[derive(Debug)]
pub struct AzureOpenAi {
    /// `{api_base}/openai/deployments/{deployment}` or `{api_base}/openai/v1`.
    base: String,
    /// `?api-version=…`, or empty for the v1 API.
    query: String,
    /// `{api_base}` without `/openai`: the resource, for the Responses API (not per deployment)
    /// and pass-through paths.
    root: String,
    /// `?api-version=…` of Responses API requests, or empty for the v1 API.
    responses_query: String,
    deployment: String,
    /// The model behind the deployment, for the reasoning-model rules.
    base_model: String,
    stream_options: bool,
    auth: Auth,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn string_param(config: &DeploymentConfig, name: &str) -> Result<Option<String>, ProviderError> {
    match config.params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(non_empty(Some(s.clone()))),
        Some(_) => Err(ProviderError::invalid_request(format!(
            "{PROVIDER}: {name} must be a string"
        ))
        .with_param(name)),
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether an API version knows `stream_options` (2024-09-01-preview and later, and v1).
fn supports_stream_options(version: &str) -> bool {
    let date = version.get(..10).unwrap_or("");
    let is_date = date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-';
    !is_date || date >= "2024-09-01"
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.split("://").nth(1).is_some_and(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && !url.contains(['?', '#', ' '])
        })
}

impl AzureOpenAi {
    fn new(config: DeploymentConfig) -> Result<AzureOpenAi, ProviderError> {
        let env = |name: &str| non_empty(config.env.get(name).cloned());
        let deployment = config.model.trim().to_owned();
        if deployment.is_empty() || deployment.contains(['/', '?', '#', ' ']) {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: '{deployment}' is not a deployment name (azure/<deployment>)"
            ))
            .with_param("model"));
        }
        let api_base = non_empty(config.api_base.clone())
            .or_else(|| env(API_BASE_ENV))
            .ok_or_else(|| {
                ProviderError::invalid_request(format!(
                    "{PROVIDER}: no api_base: set the deployment's api_base or {API_BASE_ENV} \
                     (https://<resource>.openai.azure.com)"
                ))
                .with_param("api_base")
            })?;
        if !is_http_url(&api_base) {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: api_base must be an http(s) URL such as https://<resource>.openai.azure.com"
            ))
            .with_param("api_base"));
        }
        let api_base = api_base.trim_end_matches('/');
        let api_base = api_base.strip_suffix("/openai").unwrap_or(api_base);
        let configured_version =
            non_empty(config.api_version.clone()).or_else(|| env(API_VERSION_ENV));
        let responses_version = configured_version
            .clone()
            .unwrap_or_else(|| DEFAULT_RESPONSES_API_VERSION.to_owned());
        let version = configured_version.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        if !version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: api_version '{version}' is not an API version"
            ))
            .with_param("api_version"));
        }
        let v1 = version == "v1" || version == "latest";
        let (base, query, responses_query) = if v1 {
            (
                format!("{api_base}/openai/v1"),
                String::new(),
                String::new(),
            )
        } else {
            (
                format!("{api_base}/openai/deployments/{deployment}"),
                format!("?api-version={version}"),
                format!("?api-version={responses_version}"),
            )
        };
        let base_model = string_param(&config, "base_model")?.unwrap_or_else(|| deployment.clone());
        let auth = Self::auth(&config, &env)?;
        Ok(AzureOpenAi {
            base,
            query,
            root: api_base.to_owned(),
            responses_query,
            deployment,
            base_model,
            stream_options: supports_stream_options(&version),
            auth,
        })
    }

    fn auth(
        config: &DeploymentConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Auth, ProviderError> {
        if let Some(key) = non_empty(config.api_key.clone()) {
            return Ok(Auth::ApiKey(Secret(key)));
        }
        if let Some(token) = string_param(config, "azure_ad_token")? {
            return Ok(Auth::Bearer(Secret(token)));
        }
        let tenant = string_param(config, "tenant_id")?;
        let client_id = string_param(config, "client_id")?;
        let client_secret = string_param(config, "client_secret")?;
        let configured = [&tenant, &client_id, &client_secret]
            .iter()
            .filter(|v| v.is_some())
            .count();
        let (tenant, client_id, client_secret) = match configured {
            3 => (tenant, client_id, client_secret),
            0 => {
                if let Some(key) = env(API_KEY_ENV) {
                    return Ok(Auth::ApiKey(Secret(key)));
                }
                if let Some(token) = env(AD_TOKEN_ENV) {
                    return Ok(Auth::Bearer(Secret(token)));
                }
                (env(TENANT_ENV), env(CLIENT_ID_ENV), env(CLIENT_SECRET_ENV))
            }
            _ => {
                return Err(ProviderError::invalid_request(format!(
                    "{PROVIDER}: Entra ID client credentials need all of tenant_id, client_id \
                     and client_secret"
                ))
                .with_param("tenant_id"))
            }
        };
        let (Some(tenant), Some(client_id), Some(client_secret)) =
            (tenant, client_id, client_secret)
        else {
            return Ok(Auth::Missing);
        };
        if !tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: tenant_id '{tenant}' is not a tenant id or domain"
            ))
            .with_param("tenant_id"));
        }
        let authority = string_param(config, "azure_authority_host")?
            .or_else(|| env(AUTHORITY_ENV))
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned());
        if !is_http_url(&authority) {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: azure_authority_host must be an http(s) URL such as {DEFAULT_AUTHORITY_HOST}"
            ))
            .with_param("azure_authority_host"));
        }
        let scope =
            string_param(config, "azure_scope")?.unwrap_or_else(|| DEFAULT_SCOPE.to_owned());
        Ok(Auth::ClientCredentials(ClientCredentials {
            token_url: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            client_id,
            client_secret: Secret(client_secret),
            scope,
        }))
    }

    /// The deployment's own secrets, removed from any upstream message that echoes them.
    fn redact(&self, mut error: ProviderError) -> ProviderError {
        let secret = match &self.auth {
            Auth::ApiKey(Secret(s)) | Auth::Bearer(Secret(s)) => Some(s),
            Auth::ClientCredentials(c) => Some(&c.client_secret.0),
            Auth::Missing => None,
        };
        if let Some(secret) = secret.filter(|s| s.len() >= 8) {
            if error.message.contains(secret.as_str()) {
                error.message = error.message.replace(secret.as_str(), "<redacted>");
            }
        }
        error
    }

    fn missing_credentials() -> ProviderError {
        ProviderError::new(
            ErrorKind::Authentication,
            format!(
                "{PROVIDER}: no credentials: set the deployment's api_key (or {API_KEY_ENV}), an \
                 Entra ID token in azure_ad_token (or {AD_TOKEN_ENV}), or client credentials in \
                 tenant_id/client_id/client_secret (or {TENANT_ENV}/{CLIENT_ID_ENV}/{CLIENT_SECRET_ENV})"
            ),
        )
        .with_code("missing_api_key")
    }
}

/// The classified error of a 2xx chat answer Azure's filter stopped: choice 0 finished with
/// `content_filter`.
fn filtered_answer(body: &[u8]) -> Option<ProviderError> {
    if !body.windows(16).any(|w| w == b"\"content_filter\"") {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let choice = v.get("choices")?.as_array()?.first()?;
    (choice.get("finish_reason").and_then(Value::as_str) == Some("content_filter"))
        .then(|| stream::content_filter_error(choice.get("content_filter_results")))
}

/// Azure's error bodies are OpenAI's, plus `innererror.code: ResponsibleAIPolicyViolation` on
/// content-filter refusals and APIM's `{"error": {"code": "401", ...}}` (a string status).
fn classify_error(head: &ResponseHead, body: &[u8]) -> ProviderError {
    let mut e = openai::classify_error(PROVIDER, head, body);
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let inner = v.pointer("/error/innererror/code").and_then(Value::as_str);
    if inner == Some("ResponsibleAIPolicyViolation") && e.kind != ErrorKind::ContentPolicy {
        e.kind = ErrorKind::ContentPolicy;
        e.status = 400;
        e.code = Some("content_policy_violation".to_owned());
    }
    if e.code.as_deref() == Some(head.status.to_string().as_str()) {
        // APIM repeats the status as the code: give the class's usual code instead.
        e.code = match e.kind {
            ErrorKind::Authentication => Some("invalid_api_key".to_owned()),
            ErrorKind::RateLimit => Some("rate_limit_exceeded".to_owned()),
            _ => None,
        };
    }
    e
}

impl AzureOpenAi {
    /// Chat and embeddings: the client's body with `model` set to the deployment, gateway-only
    /// members removed and, on streams, the usage chunk requested where the API version knows it.
    fn openai_request(
        &self,
        request: RequestIn<'_>,
        path: &str,
    ) -> Result<UpstreamRequest, ProviderError> {
        let mut body = RawObject::parse(request.body)?;
        body.set("model", &self.deployment);
        body.remove_gateway_members(AZURE_ONLY);
        let chat = request.endpoint == CHAT;
        let body_streams = body.get("stream").is_some_and(|v| v.get() == "true");
        let stream = chat && (request.context.stream || body_streams);
        if stream {
            if !body_streams {
                body.set("stream", &true);
            }
            if self.stream_options {
                // Cost and metrics need the usage chunk; the decoder hides it when not asked for.
                let mut options: serde_json::Map<String, Value> =
                    body.get_as("stream_options")?.unwrap_or_default();
                options.insert("include_usage".to_owned(), Value::Bool(true));
                body.set("stream_options", &options);
            }
        }
        if chat
            && catalog::is_reasoning_model(&self.base_model)
            && !body.contains("max_completion_tokens")
        {
            if let Some(max) = body
                .get("max_tokens")
                .filter(|v| v.get() != "null")
                .map(ToOwned::to_owned)
            {
                body.remove("max_tokens");
                body.set_raw("max_completion_tokens", max);
            }
        }
        let url = format!("{}{path}{}", self.base, self.query);
        Ok(native::post_json(url, body.to_vec(), stream))
    }

    /// The resource's URL of a pass-through path. Azure's whole data-plane API lives under
    /// `/openai`, and `api_base` may or may not name it: a path without it is under it.
    fn passthrough_url(&self, path: &str) -> String {
        let under_openai =
            path == "/openai" || path.starts_with("/openai/") || path.starts_with("/openai?");
        if under_openai {
            format!("{}{path}", self.root)
        } else {
            format!("{}/openai{path}", self.root)
        }
    }

    /// The credential header of a request.
    fn auth_header(
        &self,
        context: &RequestContext,
    ) -> Result<(&'static str, String), ProviderError> {
        Ok(match &self.auth {
            Auth::ApiKey(Secret(key)) => ("api-key", key.clone()),
            Auth::Bearer(Secret(token)) => ("authorization", format!("Bearer {token}")),
            Auth::ClientCredentials(_) => match context.auth_token.as_deref() {
                Some(token) => ("authorization", format!("Bearer {token}")),
                None => {
                    return Err(ProviderError::new(
                        ErrorKind::Authentication,
                        format!("{PROVIDER}: no Entra ID token from the auth step"),
                    ))
                }
            },
            Auth::Missing => return Err(Self::missing_credentials()),
        })
    }
}

impl Provider for AzureOpenAi {
    type Decoder = AzureOpenAiStreamDecoder;

    fn auth_step(&self, input: &AuthInput) -> Result<AuthAction, ProviderError> {
        let Auth::ClientCredentials(c) = &self.auth else {
            return Ok(AuthAction::None);
        };
        let Some(response) = &input.response else {
            return Ok(AuthAction::Fetch {
                method: "POST".to_owned(),
                url: c.token_url.clone(),
                headers: vec![(
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                )],
                body: format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
                    form_encode(&c.client_id),
                    form_encode(&c.client_secret.0),
                    form_encode(&c.scope)
                ),
            });
        };
        let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        if !(200..300).contains(&response.status) {
            let what = body
                .get("error_description")
                .or_else(|| body.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("no error description");
            let kind = if response.status == 429 || response.status >= 500 {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Authentication
            };
            return Err(self.redact(ProviderError::new(
                kind,
                format!(
                    "{PROVIDER}: Entra ID token request failed (HTTP {}): {what}",
                    response.status
                ),
            )));
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ProviderError::bad_response(format!(
                    "{PROVIDER}: the Entra ID token response has no access_token"
                ))
            })?;
        // `expires_in` is a number, or a string in older endpoints.
        let expires_in = body
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3600);
        Ok(AuthAction::Token {
            token: token.to_owned(),
            expires_at_unix_ms: input.now_unix_ms + expires_in * 1000,
        })
    }

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        if !ENDPOINTS.contains(&request.endpoint) {
            return Err(ProviderError::invalid_request(format!(
                "{PROVIDER}: the '{}' endpoint is not supported (one of: {})",
                request.endpoint,
                ENDPOINTS.join(", ")
            )));
        }
        let (name, value) = self.auth_header(request.context)?;
        let context = request.context;
        let deployment_url = |path: &str| format!("{}{path}{}", self.base, self.query);
        let upstream = match request.endpoint {
            CHAT => self.openai_request(request, "/chat/completions")?,
            EMBEDDINGS => self.openai_request(request, "/embeddings")?,
            RESPONSES => {
                let (body, stream) = forward_json(
                    RawObject::parse(request.body)?,
                    &self.deployment,
                    context,
                    AZURE_ONLY,
                );
                let url = if self.responses_query.is_empty() {
                    format!("{}/responses", self.base)
                } else {
                    format!("{}/openai/responses{}", self.root, self.responses_query)
                };
                native::post_json(url, body, stream)
            }
            IMAGES | AUDIO_SPEECH => {
                let path = if request.endpoint == IMAGES {
                    "/images/generations"
                } else {
                    "/audio/speech"
                };
                let (body, stream) = forward_json(
                    RawObject::parse(request.body)?,
                    &self.deployment,
                    context,
                    AZURE_ONLY,
                );
                native::post_json(deployment_url(path), body, stream)
            }
            AUDIO_TRANSCRIPTIONS => native::transcription_request(
                deployment_url("/audio/transcriptions"),
                request.body,
                &self.deployment,
                context,
            )?,
            _ => {
                let (method, path) = passthrough_target(PROVIDER, context)?;
                passthrough_request(method, self.passthrough_url(path), request.body, context)
            }
        };
        Ok(upstream.header(name, value))
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        use native::answers;
        let parsed = match head
            .header(switchyard_plugin_sdk::ENDPOINT_HEADER)
            .unwrap_or(CHAT)
        {
            EMBEDDINGS => openai::parse_embeddings_response(PROVIDER, body),
            RESPONSES => answers::parse_responses(PROVIDER, classify_error, body),
            IMAGES => answers::parse_images(PROVIDER, classify_error, body),
            AUDIO_TRANSCRIPTIONS => {
                answers::parse_transcription(PROVIDER, classify_error, head, body)
            }
            AUDIO_SPEECH => answers::parse_speech(classify_error, head, body),
            PASSTHROUGH => Ok(answers::parse_passthrough(head, body)),
            _ => {
                if let Some(e) = filtered_answer(body) {
                    return Err(e);
                }
                openai::parse_chat_response(PROVIDER, body)
            }
        };
        parsed.map_err(|e| self.redact(e))
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        self.redact(classify_error(head, body))
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<AzureOpenAiStreamDecoder, ProviderError> {
        Ok(native::endpoint_decoder(
            PROVIDER,
            classify_error,
            context,
            || AzureStreamDecoder::new(context),
        ))
    }
}

switchyard_plugin_sdk::export_provider!(AzureOpenAiPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_plugin_sdk::{AuthResponse, StreamDecoder, StreamOutput};

    fn deployment(v: Value) -> DeploymentConfig {
        serde_json::from_value(v).unwrap()
    }

    fn build(
        a: &AzureOpenAi,
        body: &Value,
        ctx: &RequestContext,
        endpoint: &str,
    ) -> UpstreamRequest {
        a.build_request(RequestIn {
            endpoint,
            body: body.to_string().as_bytes(),
            context: ctx,
        })
        .unwrap()
    }

    fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn deployment_urls_api_versions_and_the_api_key_header() {
        let a = AzureOpenAi::new(deployment(json!({"model": "gpt-5-nano", "api_base": "https://r.openai.azure.com/", "api_key": "k-123456789"}))).unwrap();
        let ctx = RequestContext {
            stream: true,
            ..RequestContext::default()
        };
        let r = build(
            &a,
            &json!({"model": "group", "messages": [], "max_tokens": 5, "fallbacks": ["x"]}),
            &ctx,
            "chat",
        );
        assert_eq!(r.url, format!("https://r.openai.azure.com/openai/deployments/gpt-5-nano/chat/completions?api-version={DEFAULT_API_VERSION}"));
        assert_eq!(header(&r, "api-key"), Some("k-123456789"));
        assert!(header(&r, "authorization").is_none());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["model"], "gpt-5-nano");
        assert_eq!(body["max_completion_tokens"], 5);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert!(body.get("fallbacks").is_none() && body.get("max_tokens").is_none());

        let mut d = deployment(
            json!({"model": "emb", "api_base": "https://r.openai.azure.com/openai", "api_version": "2024-02-01"}),
        );
        d.env.insert("AZURE_API_KEY".into(), "env-key".into());
        let a = AzureOpenAi::new(d).unwrap();
        let r = build(
            &a,
            &json!({"input": "x"}),
            &RequestContext::default(),
            "embeddings",
        );
        assert_eq!(
            r.url,
            "https://r.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-02-01"
        );
        assert_eq!(header(&r, "api-key"), Some("env-key"));
        let r = build(
            &a,
            &json!({"messages": [], "stream": true}),
            &RequestContext::default(),
            "chat",
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            body.get("stream_options").is_none(),
            "2024-02-01 predates stream_options"
        );

        let mut d =
            deployment(json!({"model": "gpt-4o", "api_base": "https://r.openai.azure.com"}));
        d.env.insert("AZURE_API_VERSION".into(), "v1".into());
        d.env.insert("AZURE_AD_TOKEN".into(), "ad-token".into());
        let a = AzureOpenAi::new(d).unwrap();
        let r = build(
            &a,
            &json!({"messages": []}),
            &RequestContext::default(),
            "chat",
        );
        assert_eq!(
            r.url,
            "https://r.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(header(&r, "authorization"), Some("Bearer ad-token"));
    }

    #[test]
    fn client_credentials_go_through_auth_steps() {
        let a = AzureOpenAi::new(deployment(json!({"model": "gpt-4o", "api_base": "https://r.openai.azure.com",
            "params": {"tenant_id": "contoso.onmicrosoft.com", "client_id": "app-1", "client_secret": "s3cr3t&value="}}))).unwrap();
        let AuthAction::Fetch {
            method, url, body, ..
        } = a
            .auth_step(&AuthInput {
                now_unix_ms: 1_000,
                response: None,
            })
            .unwrap()
        else {
            panic!("expected a fetch");
        };
        assert_eq!(method, "POST");
        assert_eq!(
            url,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(body, "grant_type=client_credentials&client_id=app-1&client_secret=s3cr3t%26value%3D&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default");
        let token = a
            .auth_step(&AuthInput {
                now_unix_ms: 1_000,
                response: Some(AuthResponse {
                    status: 200,
                    body: r#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0"}"#
                        .into(),
                }),
            })
            .unwrap();
        assert_eq!(
            token,
            AuthAction::Token {
                token: "eyJ0".into(),
                expires_at_unix_ms: 3_600_000
            }
        );
        let e = a.auth_step(&AuthInput { now_unix_ms: 1, response: Some(AuthResponse { status: 401, body: r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#.into() }) }).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(e.message.contains("AADSTS7000215"));
        let ctx = RequestContext {
            auth_token: Some("eyJ0".into()),
            ..RequestContext::default()
        };
        let r = build(&a, &json!({"messages": []}), &ctx, "chat");
        assert_eq!(header(&r, "authorization"), Some("Bearer eyJ0"));
        // A key-based deployment needs no step.
        let k = AzureOpenAi::new(deployment(
            json!({"model": "m", "api_base": "https://r.openai.azure.com", "api_key": "k"}),
        ))
        .unwrap();
        assert_eq!(
            k.auth_step(&AuthInput::default()).unwrap(),
            AuthAction::None
        );
    }

    #[test]
    fn missing_credentials_and_base_are_named() {
        let a = AzureOpenAi::new(deployment(
            json!({"model": "m", "api_base": "https://r.openai.azure.com"}),
        ))
        .unwrap();
        let e = a
            .build_request(RequestIn {
                endpoint: "chat",
                body: b"{}",
                context: &RequestContext::default(),
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(e.message.contains("AZURE_API_KEY") && e.message.contains("AZURE_CLIENT_SECRET"));
        let e = AzureOpenAi::new(deployment(json!({"model": "m"}))).unwrap_err();
        assert!(e.message.contains("AZURE_API_BASE"));
        let e = AzureOpenAi::new(deployment(
            json!({"model": "m", "api_base": "https://r", "params": {"tenant_id": "t"}}),
        ))
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tenant_id"));
    }

    #[test]
    fn content_filters_and_apim_errors_are_classified() {
        let head = |status| ResponseHead {
            status,
            headers: vec![],
        };
        let e = classify_error(&head(400), br#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}"#);
        assert_eq!((e.kind, e.status), (ErrorKind::ContentPolicy, 400));
        assert!(e.message.contains("content management policy"));
        let e = classify_error(&head(401), br#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}"#);
        assert_eq!(
            (e.kind, e.status, e.code.as_deref()),
            (ErrorKind::Authentication, 401, Some("invalid_api_key"))
        );
        let e = classify_error(&ResponseHead { status: 429, headers: vec![("retry-after-ms".into(), "1500".into())] }, br#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}"#);
        assert_eq!(
            (e.kind, e.retry_after_ms),
            (ErrorKind::RateLimit, Some(1500))
        );

        let filtered = br#"{"id":"c","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"finish_reason":"content_filter","message":{"role":"assistant","content":null},"content_filter_results":{"sexual":{"filtered":true,"severity":"medium"}}}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}"#;
        let a = AzureOpenAi::new(deployment(
            json!({"model": "m", "api_base": "https://r.openai.azure.com", "api_key": "k"}),
        ))
        .unwrap();
        let e = a.parse_response(&head(200), filtered).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ContentPolicy);
        assert!(e.message.contains("sexual"));
    }

    fn key_deployment(extra: Value) -> AzureOpenAi {
        let mut v = json!({"model": "dep-1", "api_base": "https://r.openai.azure.com/openai/", "api_key": "k-123456789"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        AzureOpenAi::new(deployment(v)).unwrap()
    }

    fn build_raw(
        a: &AzureOpenAi,
        endpoint: &str,
        body: &[u8],
        ctx: &RequestContext,
    ) -> Result<UpstreamRequest, ProviderError> {
        a.build_request(RequestIn {
            endpoint,
            body,
            context: ctx,
        })
    }

    #[test]
    fn native_endpoints_use_deployment_urls_and_the_resources_responses_url() {
        let a = key_deployment(json!({}));
        let ctx = RequestContext::default();
        let body = br#"{"model":"group","prompt":"a cat","n":2,"mock_response":"x"}"#;
        for (endpoint, path) in [
            ("images", "images/generations"),
            ("audio_speech", "audio/speech"),
        ] {
            let r = build_raw(&a, endpoint, body, &ctx).unwrap();
            assert_eq!(r.url, format!("https://r.openai.azure.com/openai/deployments/dep-1/{path}?api-version={DEFAULT_API_VERSION}"));
            assert_eq!(
                String::from_utf8(r.body.clone()).unwrap(),
                r#"{"model":"dep-1","prompt":"a cat","n":2}"#
            );
            assert_eq!(header(&r, "api-key"), Some("k-123456789"));
        }
        let r = build_raw(
            &a,
            "responses",
            br#"{"model":"g","input":"hi","stream":true}"#,
            &ctx,
        )
        .unwrap();
        assert_eq!(r.url, format!("https://r.openai.azure.com/openai/responses?api-version={DEFAULT_RESPONSES_API_VERSION}"));
        assert_eq!(header(&r, "accept"), Some("text/event-stream"));
        let dated = key_deployment(json!({"api_version": "2025-03-01-preview"}));
        let r = build_raw(&dated, "responses", br#"{"input":"hi"}"#, &ctx).unwrap();
        assert_eq!(
            r.url,
            "https://r.openai.azure.com/openai/responses?api-version=2025-03-01-preview"
        );

        let v1 = key_deployment(json!({"api_version": "v1"}));
        let r = build_raw(&v1, "responses", br#"{"input":"hi"}"#, &ctx).unwrap();
        assert_eq!(r.url, "https://r.openai.azure.com/openai/v1/responses");
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap()["model"],
            "dep-1"
        );
        let r = build_raw(&v1, "images", br#"{"prompt":"p"}"#, &ctx).unwrap();
        assert_eq!(
            r.url,
            "https://r.openai.azure.com/openai/v1/images/generations"
        );

        let form =
            b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--b--\r\n";
        let ctx = RequestContext {
            content_type: Some("multipart/form-data; boundary=b".into()),
            ..RequestContext::default()
        };
        let r = build_raw(&a, "audio_transcriptions", form, &ctx).unwrap();
        assert_eq!(r.url, format!("https://r.openai.azure.com/openai/deployments/dep-1/audio/transcriptions?api-version={DEFAULT_API_VERSION}"));
        assert_eq!(
            header(&r, "content-type"),
            Some("multipart/form-data; boundary=b")
        );
        assert_eq!(
            r.body,
            b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ndep-1\r\n--b--\r\n"
        );

        let e = build_raw(&a, "rerank", b"{}", &RequestContext::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains("'rerank'"), "{}", e.message);
    }

    #[test]
    fn passthrough_goes_to_the_resource_with_the_deployments_credentials() {
        let ctx = |path: &str| RequestContext {
            passthrough: Some(switchyard_plugin_sdk::Passthrough {
                method: "POST".into(),
                path: path.into(),
            }),
            ..RequestContext::default()
        };
        let a = key_deployment(json!({}));
        let body = br#"{"model":"client","messages":[]}"#;
        for (path, url) in [
            ("/openai/deployments/x/chat/completions?api-version=2024-10-21", "https://r.openai.azure.com/openai/deployments/x/chat/completions?api-version=2024-10-21"),
            ("/v1/responses", "https://r.openai.azure.com/openai/v1/responses"),
        ] {
            let r = build_raw(&a, "passthrough", body, &ctx(path)).unwrap();
            assert_eq!(r.url, url);
            assert_eq!(r.body, body);
            assert_eq!(header(&r, "api-key"), Some("k-123456789"));
        }
        let bearer = key_deployment(json!({"api_key": null, "params": {"azure_ad_token": "tok"}}));
        let r = build_raw(&bearer, "passthrough", body, &ctx("/openai/models")).unwrap();
        assert_eq!(header(&r, "authorization"), Some("Bearer tok"));
        assert!(header(&r, "api-key").is_none());
    }

    #[test]
    fn native_answers_and_streams() {
        let a = key_deployment(json!({}));
        let head = |endpoint: &str, ct: &str| ResponseHead {
            status: 200,
            headers: vec![
                (
                    switchyard_plugin_sdk::ENDPOINT_HEADER.into(),
                    endpoint.into(),
                ),
                ("content-type".into(), ct.into()),
            ],
        };
        let parsed = a
            .parse_response(
                &head("audio_transcriptions", "application/json"),
                br#"{"text":"hi","duration":2.5}"#,
            )
            .unwrap();
        assert_eq!(parsed.info.usage.unwrap().audio_input_ms, 2500);
        let parsed = a
            .parse_response(&head("audio_speech", "audio/aac"), b"\x00\x01aac")
            .unwrap();
        assert_eq!(parsed.info.content_type.as_deref(), Some("audio/aac"));
        let parsed = a
            .parse_response(
                &head("images", "application/json"),
                br#"{"created":1,"data":[{"url":"u"}]}"#,
            )
            .unwrap();
        assert_eq!(parsed.info.usage.unwrap().images, 1);

        let ctx = RequestContext {
            stream: true,
            endpoint: "responses".into(),
            ..RequestContext::default()
        };
        let body = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-4.1\",\"output\":[]}}\n\nevent: error\ndata: {\"type\":\"error\",\"code\":\"content_filter\",\"message\":\"filtered\"}\n\n";
        let mut d = a.stream_decoder(&ctx).unwrap();
        let mut out = StreamOutput::default();
        d.feed(body, &mut out);
        d.finish(&mut out);
        let e = out.error.unwrap();
        assert_eq!(e.kind, ErrorKind::ContentPolicy);
        assert!(e.message.starts_with("azure: "), "{}", e.message);
        assert_eq!(out.info.model.as_deref(), Some("gpt-4.1"));
    }
}

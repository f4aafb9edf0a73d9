//! # switchyard-provider-vertex-ai
//!
//! Gemini on Google Cloud Vertex AI behind the OpenAI chat and embeddings APIs:
//! `vertex_ai/<model>` deployments, `POST https://{location}-aiplatform.googleapis.com/v1/
//! projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`
//! (`:streamGenerateContent?alt=sse`, `:predict` for embeddings; `global` uses
//! `aiplatform.googleapis.com`).
//!
//! Authentication: a service account (`vertex_credentials` or `GOOGLE_APPLICATION_CREDENTIALS`,
//! inline JSON or a file the host reads) signs an RS256 JWT assertion that the host exchanges
//! at the account's `token_uri` through `auth_step`, caching the bearer token until it expires;
//! `authorized_user` credentials refresh their token the same way. An `api_key` instead selects
//! Vertex AI express mode (`x-goog-api-key`, no project in the path unless one is configured).
//! The translation is `switchyard-google-genai`, shared with the `gemini` plugin.

mod auth;

use serde_json::Value;
use switchyard_google_genai::{embeddings, method_suffix, GenerateStreamDecoder};
use switchyard_google_genai::{CHAT_PARAMS, REASONING_PARAMS};
use switchyard_plugin_sdk::{
    AuthAction, AuthInput, DeploymentConfig, ErrorKind, ModelInfo, ParsedResponse, Plugin,
    PluginMetadata, Provider, ProviderError, RequestContext, RequestIn, ResponseHead,
    UpstreamRequest, ENDPOINT_HEADER,
};

use auth::Credentials;

/// The provider id (`vertex_ai/…`), also the prefix of error messages.
const PROVIDER: &str = "vertex_ai";
/// LiteLLM's default location.
pub const DEFAULT_LOCATION: &str = "us-central1";

const CREDENTIALS_PARAM: &str = "vertex_credentials";
const PROJECT_PARAM: &str = "vertex_project";
const LOCATION_PARAM: &str = "vertex_location";
const CREDENTIALS_ENVS: [&str; 2] = ["GOOGLE_APPLICATION_CREDENTIALS", "VERTEXAI_CREDENTIALS"];
const PROJECT_ENVS: [&str; 2] = ["VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT"];
const LOCATION_ENV: &str = "VERTEXAI_LOCATION";

/// (id, context window, max output, input, output, cache read USD per token, thinking model)
type CatalogEntry = (
    &'static str,
    u64,
    u64,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
);

/// The models, from LiteLLM's
/// `model_prices_and_context_window.json` (MIT, Copyright (c) 2023 Berri AI; see
/// `../shared/data/SOURCE.md`), `vertex_ai` entries; 2.0 limits from Google's model pages.
#[rustfmt::skip]
const CATALOG: &[CatalogEntry] = &[
    ("gemini-2.0-flash", 1048576, 8192, "0.00000015", "0.0000006", None, false),
    ("gemini-2.0-flash-lite", 1048576, 8192, "0.000000075", "0.0000003", None, false),
    ("gemini-2.5-flash", 1048576, 65535, "0.0000003", "0.0000025", Some("0.00000003"), true),
    ("gemini-2.5-flash-lite", 1048576, 65535, "0.0000001", "0.0000004", Some("0.00000001"), true),
    ("gemini-2.5-pro", 1048576, 65535, "0.00000125", "0.00001", Some("0.000000125"), true),
    ("gemini-3-pro-preview", 1048576, 65535, "0.000002", "0.000012", Some("0.0000002"), true),
    ("gemini-3-flash-preview", 1048576, 65535, "0.0000005", "0.000003", Some("0.00000005"), true),
    ("gemini-3.1-pro-preview", 1048576, 65536, "0.000002", "0.000012", Some("0.0000002"), true),
];

fn models() -> Vec<ModelInfo> {
    let mut models: Vec<ModelInfo> = CATALOG
        .iter()
        .map(|(id, ctx, out, input, output, read, reasoning)| ModelInfo {
            id: (*id).to_owned(),
            context_window: Some(*ctx),
            max_output_tokens: Some(*out),
            input_cost_per_token: Some((*input).to_owned()),
            output_cost_per_token: Some((*output).to_owned()),
            cache_read_input_token_cost: read.map(str::to_owned),
            cache_creation_input_token_cost: None,
            supported_params: CHAT_PARAMS
                .iter()
                .filter(|p| *reasoning || !REASONING_PARAMS.contains(p))
                .map(|p| (*p).to_owned())
                .collect(),
        })
        .collect();
    models.push(ModelInfo {
        id: "gemini-embedding-001".to_owned(),
        context_window: Some(2048),
        input_cost_per_token: Some("0.00000015".to_owned()),
        output_cost_per_token: Some("0".to_owned()),
        supported_params: [
            "model",
            "input",
            "dimensions",
            "encoding_format",
            "task_type",
        ]
        .iter()
        .map(|p| (*p).to_owned())
        .collect(),
        ..ModelInfo::default()
    });
    models
}

/// The Vertex AI plugin.
#[derive(Debug)]
pub struct VertexAiPlugin;

impl Plugin for VertexAiPlugin {
    type Provider = VertexAi;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new(PROVIDER, env!("CARGO_PKG_VERSION"));
        m.providers = vec![PROVIDER.to_owned()];
        m.default_api_base = Some(format!(
            "https://{DEFAULT_LOCATION}-aiplatform.googleapis.com"
        ));
        m.credential_env = CREDENTIALS_ENVS
            .into_iter()
            .chain(PROJECT_ENVS)
            .chain([LOCATION_ENV])
            .map(str::to_owned)
            .collect();
        // Service accounts, authorized users or an express-mode key: checked at request time.
        m.requires_api_key = false;
        m.uses_auth_step = true;
        m.credential_files = std::iter::once(CREDENTIALS_PARAM)
            .chain(CREDENTIALS_ENVS)
            .map(str::to_owned)
            .collect();
        m.endpoints = vec!["chat".to_owned(), "embeddings".to_owned()];
        m.supported_params = CHAT_PARAMS.iter().map(|p| (*p).to_owned()).collect();
        m.models = models();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<VertexAi, ProviderError> {
        VertexAi::new(config)
    }
}

/// A secret that never reaches a log line.
struct Redacted(String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug)]
enum AuthMode {
    /// Express mode: `x-goog-api-key`.
    ApiKey(Redacted),
    /// OAuth bearer tokens obtained through `auth_step`.
    OAuth(Box<Credentials>),
    /// Nothing configured: requests fail naming the settings.
    Missing,
}

/// One Vertex AI deployment.
#[derive(Debug)]
pub struct VertexAi {
    model: String,
    /// `…/models/{model}`, to which the method is added; `None` when no project is known
    /// (requests then fail naming `vertex_project`).
    model_url: Option<String>,
    auth: AuthMode,
}

/// A string parameter of the deployment (`litellm_params`), or an error naming it.
fn string_param(config: &DeploymentConfig, name: &str) -> Result<Option<String>, ProviderError> {
    match config.params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(_) => Err(ProviderError::invalid_request(format!(
            "vertex_ai: {name} must be a string"
        ))
        .with_param(name)),
    }
}

fn env_value(config: &DeploymentConfig, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        config
            .env
            .get(*n)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

/// A path segment must not smuggle in `/`, `?` or `#`.
fn check_segment(value: &str, param: &str) -> Result<(), ProviderError> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'))
    {
        return Err(ProviderError::invalid_request(format!(
            "vertex_ai: {param} '{value}' is not a valid name"
        ))
        .with_param(param));
    }
    Ok(())
}

impl VertexAi {
    fn new(config: DeploymentConfig) -> Result<VertexAi, ProviderError> {
        let model = config
            .model
            .trim()
            .trim_start_matches("publishers/google/models/")
            .to_owned();
        check_segment(&model, "model")?;
        if model.starts_with("claude") {
            return Err(ProviderError::invalid_request(format!(
                "vertex_ai: '{model}' is an Anthropic model; this plugin serves Google's Gemini models on Vertex AI"
            ))
            .with_param("model"));
        }
        let location = string_param(&config, LOCATION_PARAM)?
            .or_else(|| env_value(&config, &[LOCATION_ENV]))
            .unwrap_or_else(|| DEFAULT_LOCATION.to_owned());
        check_segment(&location, LOCATION_PARAM)?;

        let credentials = match config.params.get(CREDENTIALS_PARAM) {
            Some(v) if !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()) => {
                Some(Credentials::parse(v, CREDENTIALS_PARAM)?)
            }
            _ => CREDENTIALS_ENVS
                .iter()
                .find_map(|n| {
                    config
                        .env
                        .get(*n)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (n, v))
                })
                .map(|(n, v)| Credentials::parse(&Value::String(v.clone()), n))
                .transpose()?,
        };
        let api_key = config.api_key.clone().filter(|k| !k.trim().is_empty());
        let project = string_param(&config, PROJECT_PARAM)?
            .or_else(|| env_value(&config, &PROJECT_ENVS))
            .or_else(|| {
                credentials
                    .as_ref()
                    .and_then(|c| c.project_id().map(str::to_owned))
            });
        if let Some(p) = &project {
            check_segment(p, PROJECT_PARAM)?;
        }
        let auth = match (api_key, credentials) {
            // An explicit api_key wins: express mode.
            (Some(key), _) => AuthMode::ApiKey(Redacted(key)),
            (None, Some(c)) => AuthMode::OAuth(Box::new(c)),
            (None, None) => AuthMode::Missing,
        };
        let express = matches!(auth, AuthMode::ApiKey(_)) && project.is_none();

        let root = match config
            .api_base
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            Some(base) => {
                let base = base.trim_end_matches('/');
                if !(base.starts_with("http://") || base.starts_with("https://")) {
                    return Err(ProviderError::invalid_request(format!(
                        "vertex_ai: api_base '{base}' is not an http(s) URL"
                    ))
                    .with_param("api_base"));
                }
                base.to_owned()
            }
            None if location == "global" || express => {
                "https://aiplatform.googleapis.com".to_owned()
            }
            None => format!("https://{location}-aiplatform.googleapis.com"),
        };
        let model_url = if root.contains("/models/") {
            // A full model URL (a proxy in front of Vertex AI), as LiteLLM accepts it.
            Some(root)
        } else {
            let versioned = if root.ends_with("/v1") || root.ends_with("/v1beta1") {
                root
            } else {
                format!("{root}/v1")
            };
            match (&project, express) {
                (_, true) => Some(format!("{versioned}/publishers/google/models/{model}")),
                (Some(p), false) => Some(format!(
                    "{versioned}/projects/{p}/locations/{location}/publishers/google/models/{model}"
                )),
                (None, false) => None,
            }
        };
        Ok(VertexAi {
            model,
            model_url,
            auth,
        })
    }

    fn missing_credentials() -> ProviderError {
        ProviderError::new(
            ErrorKind::Authentication,
            "vertex_ai: no credentials: set vertex_credentials (a service-account JSON or its file path), \
             GOOGLE_APPLICATION_CREDENTIALS, or an express-mode api_key",
        )
        .with_code("missing_api_key")
    }
}

impl Provider for VertexAi {
    type Decoder = GenerateStreamDecoder;

    fn auth_step(&self, input: &AuthInput) -> Result<AuthAction, ProviderError> {
        let AuthMode::OAuth(credentials) = &self.auth else {
            return Ok(AuthAction::None);
        };
        match &input.response {
            None => credentials.token_request(input.now_unix_ms),
            Some(response) => auth::token_from_response(response, input.now_unix_ms),
        }
    }

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let header = match &self.auth {
            AuthMode::ApiKey(key) => ("x-goog-api-key".to_owned(), key.0.clone()),
            AuthMode::OAuth(_) => {
                let token = request.context.auth_token.as_deref().ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::Authentication,
                        "vertex_ai: no access token: the host obtains it through auth_step before the request",
                    )
                    .with_code("missing_access_token")
                })?;
                ("authorization".to_owned(), format!("Bearer {token}"))
            }
            AuthMode::Missing => return Err(Self::missing_credentials()),
        };
        let model_url = self.model_url.as_deref().ok_or_else(|| {
            ProviderError::invalid_request(
                "vertex_ai: no project: set vertex_project (or VERTEXAI_PROJECT), or use credentials that name one",
            )
            .with_param(PROJECT_PARAM)
        })?;
        let mut upstream = match request.endpoint {
            "chat" => {
                let body = switchyard_google_genai::translate_chat(
                    PROVIDER,
                    request.body,
                    &self.model,
                    request.context,
                )?;
                let url = format!("{model_url}{}", method_suffix(request.context.stream));
                let mut r = UpstreamRequest::post_json(url, body);
                if request.context.stream {
                    r = r.header("accept", "text/event-stream");
                }
                r
            }
            "embeddings" => {
                let req = embeddings::read_request(PROVIDER, request.body)?;
                UpstreamRequest::post_json(
                    format!("{model_url}:predict"),
                    embeddings::vertex_predict_body(&req),
                )
            }
            other => {
                return Err(ProviderError::invalid_request(format!(
                    "the vertex_ai plugin does not serve the '{other}' endpoint"
                )))
            }
        };
        upstream.headers.push(header);
        Ok(upstream)
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        if head.header(ENDPOINT_HEADER) == Some("embeddings") {
            embeddings::parse_vertex_predict(PROVIDER, &self.model, body, false)
        } else {
            switchyard_google_genai::parse_chat(PROVIDER, body)
        }
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        switchyard_google_genai::classify_error(PROVIDER, head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<GenerateStreamDecoder, ProviderError> {
        Ok(GenerateStreamDecoder::new(PROVIDER, context))
    }
}

switchyard_plugin_sdk::export_provider!(VertexAiPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_plugin_sdk::AuthResponse;

    const TEST_SA: &str = include_str!("../testdata/test_service_account.json");

    fn deployment(params: Value, api_key: Option<&str>) -> DeploymentConfig {
        DeploymentConfig {
            provider: "vertex_ai".into(),
            model: "gemini-2.5-flash".into(),
            api_key: api_key.map(str::to_owned),
            params: params
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            ..DeploymentConfig::default()
        }
    }

    fn build(
        v: &VertexAi,
        stream: bool,
        token: Option<&str>,
    ) -> Result<UpstreamRequest, ProviderError> {
        let ctx = RequestContext {
            stream,
            auth_token: token.map(str::to_owned),
            ..RequestContext::default()
        };
        v.build_request(RequestIn {
            endpoint: "chat",
            body: br#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            context: &ctx,
        })
    }

    #[test]
    fn service_account_flow_urls_and_bearer() {
        let v = VertexAiPlugin::instantiate(deployment(
            json!({"vertex_credentials": TEST_SA, "vertex_location": "europe-west4"}),
            None,
        ))
        .unwrap();
        assert!(!format!("{v:?}").contains("PRIVATE"));
        let fetch = v
            .auth_step(&AuthInput {
                now_unix_ms: 1_700_000_000_000,
                response: None,
            })
            .unwrap();
        let AuthAction::Fetch {
            method,
            url,
            body,
            headers,
        } = fetch
        else {
            panic!("expected a fetch");
        };
        assert_eq!(
            (method.as_str(), url.as_str()),
            ("POST", "https://oauth2.googleapis.com/token")
        );
        assert!(headers.contains(&(
            "content-type".into(),
            "application/x-www-form-urlencoded".into()
        )));
        assert!(body.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"
        ));
        let token = v
            .auth_step(&AuthInput {
                now_unix_ms: 1_700_000_000_000,
                response: Some(AuthResponse {
                    status: 200,
                    body: r#"{"access_token":"ya29.x","expires_in":3599}"#.into(),
                }),
            })
            .unwrap();
        assert_eq!(
            token,
            AuthAction::Token {
                token: "ya29.x".into(),
                expires_at_unix_ms: 1_700_003_599_000
            }
        );
        let r = build(&v, true, Some("ya29.x")).unwrap();
        // The project comes from the credentials.
        assert_eq!(
            r.url,
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/switchyard-test/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(r
            .headers
            .contains(&("authorization".into(), "Bearer ya29.x".into())));
        let e = build(&v, false, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
    }

    #[test]
    fn global_express_and_missing() {
        let mut d = deployment(
            json!({"vertex_project": "p1", "vertex_location": "global"}),
            None,
        );
        d.env
            .insert("GOOGLE_APPLICATION_CREDENTIALS".into(), TEST_SA.into());
        let v = VertexAiPlugin::instantiate(d).unwrap();
        let r = build(&v, false, Some("t")).unwrap();
        assert_eq!(
            r.url,
            "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"
        );

        let v = VertexAiPlugin::instantiate(deployment(json!({}), Some("AQ.key"))).unwrap();
        assert_eq!(
            v.auth_step(&AuthInput::default()).unwrap(),
            AuthAction::None
        );
        let r = build(&v, false, None).unwrap();
        assert_eq!(
            r.url,
            "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert!(r
            .headers
            .contains(&("x-goog-api-key".into(), "AQ.key".into())));

        let v =
            VertexAiPlugin::instantiate(deployment(json!({"vertex_project": "p"}), None)).unwrap();
        let e = build(&v, false, None).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
        assert!(e.message.contains("GOOGLE_APPLICATION_CREDENTIALS"));

        for bad in [
            json!({"vertex_location": "us-central1/../x"}),
            json!({"vertex_project": 5}),
            json!({"vertex_credentials": "{\"type\": \"service_account\"}"}),
        ] {
            assert!(
                VertexAiPlugin::instantiate(deployment(bad.clone(), None)).is_err(),
                "{bad}"
            );
        }
        let mut d = deployment(json!({}), None);
        d.model = "claude-sonnet-4-5".into();
        assert!(VertexAiPlugin::instantiate(d).is_err());
    }

    #[test]
    fn api_base_points_at_a_proxy() {
        let mut d = deployment(
            json!({"vertex_project": "p", "vertex_location": "us-east5"}),
            Some("k"),
        );
        d.api_base = Some("http://127.0.0.1:9/".into());
        let v = VertexAiPlugin::instantiate(d).unwrap();
        assert_eq!(
            build(&v, false, None).unwrap().url,
            "http://127.0.0.1:9/v1/projects/p/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        let meta = VertexAiPlugin::metadata();
        assert!(meta.uses_auth_step);
        assert!(meta
            .credential_files
            .iter()
            .any(|f| f == "vertex_credentials"));
    }
}

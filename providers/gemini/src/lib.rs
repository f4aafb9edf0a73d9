//! # switchyard-provider-gemini
//!
//! Google AI Studio's Gemini API behind the OpenAI chat and embeddings APIs: `gemini/<model>`
//! deployments, the key in the `x-goog-api-key` header, `models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:batchEmbedContents`. The translation itself lives in
//! `switchyard-google-genai`, shared with the `vertex_ai` plugin.
//!
//! The `/gemini/*` pass-through route sends the client's request to `<api_base><path>`
//! unchanged (`/v1beta/models/gemini-2.5-flash:generateContent`; a path that names the API
//! version replaces the base's) with the deployment's key in `x-goog-api-key`, and forwards
//! the answer unchanged with the usage its `usageMetadata` reports.

mod catalog;
mod passthrough_stream;

use switchyard_google_genai::{embeddings, method_suffix, GenerateStreamDecoder};
use switchyard_plugin_sdk::endpoint::{CHAT, EMBEDDINGS, PASSTHROUGH};
use switchyard_plugin_sdk::native::{passthrough_request, passthrough_target, EitherDecoder};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, UpstreamRequest, ENDPOINT_HEADER,
};

pub use passthrough_stream::PassthroughDecoder;

const ENDPOINTS: &[&str] = &[CHAT, EMBEDDINGS, PASSTHROUGH];
/// API versions a base URL or a pass-through path may name.
const API_VERSIONS: [&str; 3] = ["/v1beta", "/v1", "/v1alpha"];

/// The provider id (`gemini/…`), also the prefix of error messages.
const PROVIDER: &str = "gemini";
/// The Gemini API's public endpoint, with its API version.
pub const DEFAULT_API_BASE: &str = "https://generativelanguage.googleapis.com/v1beta";

const KEY_ENVS: [&str; 2] = ["GEMINI_API_KEY", "GOOGLE_API_KEY"];
const BASE_ENV: &str = "GEMINI_API_BASE";

/// The Gemini plugin.
#[derive(Debug)]
pub struct GeminiPlugin;

impl Plugin for GeminiPlugin {
    type Provider = Gemini;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new(PROVIDER, env!("CARGO_PKG_VERSION"));
        m.providers = vec![PROVIDER.to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = KEY_ENVS
            .into_iter()
            .chain([BASE_ENV])
            .map(str::to_owned)
            .collect();
        m.requires_api_key = true;
        m.endpoints = ENDPOINTS.iter().map(|e| (*e).to_owned()).collect();
        m.supported_params = catalog::supported_params();
        m.models = catalog::models();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Gemini, ProviderError> {
        let base = config
            .api_base
            .clone()
            .or_else(|| config.env.get(BASE_ENV).cloned())
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let base = base.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::invalid_request(format!(
                "gemini: api_base '{base}' is not an http(s) URL"
            ))
            .with_param("api_base"));
        }
        // An api_base without an API version gets the default one.
        let base = if API_VERSIONS.iter().any(|v| base.ends_with(v)) {
            base.to_owned()
        } else {
            format!("{base}/v1beta")
        };
        let root = API_VERSIONS
            .iter()
            .find_map(|v| base.strip_suffix(v))
            .unwrap_or(&base)
            .to_owned();
        let model = config.model.trim().trim_start_matches("models/").to_owned();
        if model.is_empty() {
            return Err(
                ProviderError::invalid_request("gemini: the deployment names no model")
                    .with_param("model"),
            );
        }
        let api_key = config
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| {
                KEY_ENVS
                    .iter()
                    .find_map(|n| config.env.get(*n).filter(|k| !k.is_empty()).cloned())
            });
        Ok(Gemini {
            model_url: format!("{base}/models/{model}"),
            base,
            root,
            model,
            api_key: api_key.map(Redacted),
        })
    }
}

/// A secret that never reaches a log line.
struct Redacted(String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One Gemini deployment.
#[derive(Debug)]
pub struct Gemini {
    /// `{base}/models/{model}`, to which the method is added.
    model_url: String,
    /// The API base, with its version (`…/v1beta`).
    base: String,
    /// The API base without its version, for pass-through paths that name one.
    root: String,
    model: String,
    api_key: Option<Redacted>,
}

/// A pass-through path without a `key` query parameter: the deployment's key goes in
/// `x-goog-api-key`, and a key the client put in its URL (one for the gateway) must not reach
/// Google.
fn without_key_param(path: &str) -> String {
    let Some((route, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("key"))
        .collect();
    if kept.is_empty() {
        route.to_owned()
    } else {
        format!("{route}?{}", kept.join("&"))
    }
}

impl Gemini {
    /// `<api_base><path>`; a path naming an API version (`/v1beta/models/…`) replaces the
    /// base's.
    fn passthrough_url(&self, path: &str) -> String {
        let versioned = API_VERSIONS.iter().any(|v| {
            path.strip_prefix(v)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
        });
        if versioned {
            format!("{}{path}", self.root)
        } else {
            format!("{}{path}", self.base)
        }
    }
}

/// The plugin's stream decoder: Gemini chunks translated to OpenAI's (boxed: its state is much
/// larger than the pass-through one's), or a pass-through stream forwarded unchanged.
pub type GeminiStreamDecoder = EitherDecoder<Box<GenerateStreamDecoder>, PassthroughDecoder>;

impl Provider for Gemini {
    type Decoder = GeminiStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let key = self.api_key.as_ref().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Authentication,
                "gemini: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) or the deployment's api_key",
            )
            .with_code("missing_api_key")
        })?;
        let upstream = match request.endpoint {
            PASSTHROUGH => {
                let (method, path) = passthrough_target(PROVIDER, request.context)?;
                let url = self.passthrough_url(&without_key_param(path));
                passthrough_request(method, url, request.body, request.context)
            }
            CHAT => {
                let body = switchyard_google_genai::translate_chat(
                    PROVIDER,
                    request.body,
                    &self.model,
                    request.context,
                )?;
                let url = format!(
                    "{}{}",
                    self.model_url,
                    method_suffix(request.context.stream)
                );
                let mut r = UpstreamRequest::post_json(url, body);
                if request.context.stream {
                    r = r.header("accept", "text/event-stream");
                }
                r
            }
            EMBEDDINGS => {
                let req = embeddings::read_request(PROVIDER, request.body)?;
                UpstreamRequest::post_json(
                    format!("{}:batchEmbedContents", self.model_url),
                    embeddings::gemini_batch_body(&self.model, &req),
                )
            }
            other => {
                return Err(ProviderError::invalid_request(format!(
                    "the gemini plugin does not serve the '{other}' endpoint (one of: {})",
                    ENDPOINTS.join(", ")
                )))
            }
        };
        Ok(upstream.header("x-goog-api-key", key.0.clone()))
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        match head.header(ENDPOINT_HEADER).unwrap_or(CHAT) {
            // The body does not say which encoding the client asked for: floats, as the
            // upstream sent them, unless the host tells otherwise in a later epoch.
            EMBEDDINGS => embeddings::parse_gemini_batch(PROVIDER, &self.model, body, false),
            PASSTHROUGH => Ok(passthrough_stream::parse_passthrough(head, body)),
            _ => switchyard_google_genai::parse_chat(PROVIDER, body),
        }
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        switchyard_google_genai::classify_error(PROVIDER, head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<GeminiStreamDecoder, ProviderError> {
        Ok(if context.passthrough.is_some() {
            EitherDecoder::Native(PassthroughDecoder::new())
        } else {
            EitherDecoder::Chat(Box::new(GenerateStreamDecoder::new(PROVIDER, context)))
        })
    }
}

switchyard_plugin_sdk::export_provider!(GeminiPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use switchyard_plugin_sdk::{StreamDecoder, StreamOutput};

    fn deployment(api_key: Option<&str>, env: &[(&str, &str)]) -> DeploymentConfig {
        DeploymentConfig {
            provider: "gemini".into(),
            model: "gemini-2.5-flash".into(),
            api_key: api_key.map(str::to_owned),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            ..DeploymentConfig::default()
        }
    }

    fn build(
        p: &Gemini,
        endpoint: &str,
        body: &str,
        stream: bool,
    ) -> Result<UpstreamRequest, ProviderError> {
        let ctx = RequestContext {
            stream,
            ..RequestContext::default()
        };
        p.build_request(RequestIn {
            endpoint,
            body: body.as_bytes(),
            context: &ctx,
        })
    }

    #[test]
    fn urls_keys_and_missing_key() {
        let p =
            GeminiPlugin::instantiate(deployment(None, &[("GOOGLE_API_KEY", "g-key")])).unwrap();
        let r = build(
            &p,
            "chat",
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            true,
        )
        .unwrap();
        assert_eq!(
            r.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert!(r
            .headers
            .contains(&("x-goog-api-key".into(), "g-key".into())));
        assert!(!format!("{p:?}").contains("g-key"));

        let mut d = deployment(Some("k"), &[("GEMINI_API_KEY", "env-key")]);
        d.api_base = Some("http://127.0.0.1:9/".into());
        let p = GeminiPlugin::instantiate(d).unwrap();
        let r = build(&p, "embeddings", r#"{"input": "x"}"#, false).unwrap();
        assert_eq!(
            r.url,
            "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:batchEmbedContents"
        );
        assert!(r.headers.contains(&("x-goog-api-key".into(), "k".into())));

        let p = GeminiPlugin::instantiate(deployment(None, &[])).unwrap();
        let e = build(&p, "chat", r#"{"messages": []}"#, false).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
        assert!(e.message.contains("GEMINI_API_KEY"));
        let mut d = deployment(Some("k"), &[]);
        d.api_base = Some("ftp://x".into());
        assert!(GeminiPlugin::instantiate(d).is_err());
    }

    #[test]
    fn passthrough_keeps_the_path_and_injects_the_key() {
        let p = GeminiPlugin::instantiate(deployment(Some("g-key"), &[])).unwrap();
        let context = |method: &str, path: &str, stream: bool| RequestContext {
            stream,
            passthrough: Some(switchyard_plugin_sdk::Passthrough {
                method: method.into(),
                path: path.into(),
            }),
            ..RequestContext::default()
        };
        let body = br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
        let c = context(
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=sk-gateway",
            true,
        );
        let r = p
            .build_request(RequestIn {
                endpoint: PASSTHROUGH,
                body,
                context: &c,
            })
            .unwrap();
        assert_eq!(
            r.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(r.body, body);
        assert!(r
            .headers
            .contains(&("x-goog-api-key".into(), "g-key".into())));
        assert!(r
            .headers
            .contains(&("accept".into(), "text/event-stream".into())));

        for (path, url) in [
            ("/v1/models?key=x", "https://generativelanguage.googleapis.com/v1/models"),
            ("/models/gemini-2.5-flash:countTokens", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens"),
            ("/v1betax/y?a=1&key=z&b=2", "https://generativelanguage.googleapis.com/v1beta/v1betax/y?a=1&b=2"),
        ] {
            let c = context("GET", path, false);
            let r = p
                .build_request(RequestIn {
                    endpoint: PASSTHROUGH,
                    body: b"",
                    context: &c,
                })
                .unwrap();
            assert_eq!(r.url, url, "{path}");
            assert_eq!(r.method, "GET");
        }

        let stream = b"data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":1}}\r\n\r\n";
        let mut d = p.stream_decoder(&c).unwrap();
        let mut out = StreamOutput::default();
        d.feed(stream, &mut out);
        d.finish(&mut out);
        assert_eq!(out.sse, stream);
        assert_eq!(out.info.usage.unwrap().total_tokens, 3);
    }

    #[test]
    fn metadata_declares_models_and_params() {
        let m = GeminiPlugin::metadata();
        assert_eq!(m.name, "gemini");
        assert_eq!(m.endpoints, ["chat", "embeddings", "passthrough"]);
        let flash = m
            .models
            .iter()
            .find(|x| x.id == "gemini-2.5-flash")
            .unwrap();
        assert_eq!(
            flash.cache_read_input_token_cost.as_deref(),
            Some("0.00000003")
        );
        assert!(flash
            .supported_params
            .iter()
            .any(|p| p == "reasoning_effort"));
        let old = m
            .models
            .iter()
            .find(|x| x.id == "gemini-2.0-flash")
            .unwrap();
        assert!(!old.supported_params.iter().any(|p| p == "reasoning_effort"));
        let embed = m
            .models
            .iter()
            .find(|x| x.id == "gemini-embedding-001")
            .unwrap();
        assert!(embed.max_output_tokens.is_none());
    }
}

//! # switchyard-provider-openai
//!
//! OpenAI, and any server that speaks the OpenAI chat-completions API (vLLM, llama.cpp,
//! LM Studio, …) through `api_base`. The request body is forwarded as the client sent it, with
//! only `model` rewritten, gateway-only fields removed and the usage chunk requested for
//! streams; responses pass through byte-for-byte.

use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder, RawObject};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ModelInfo, ParsedResponse, Plugin, PluginMetadata, Provider,
    ProviderError, RequestContext, RequestIn, ResponseHead, UpstreamRequest,
};

/// OpenAI's public endpoint.
pub const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";

const API_KEY_ENV: &str = "OPENAI_API_KEY";
const API_BASE_ENVS: [&str; 2] = ["OPENAI_API_BASE", "OPENAI_BASE_URL"];

/// Top-level request members that steer the gateway and must not reach the upstream.
const GATEWAY_ONLY: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
    "drop_params",
    "api_base",
    "api_key",
    "base_url",
    "api_version",
    "mock_response",
];

/// Catalog entries: (id, context window, max output, input, output, cache read) USD/token.
const CATALOG: &[(&str, u64, u64, &str, &str, &str)] = &[
    (
        "gpt-4o",
        128_000,
        16_384,
        "0.0000025",
        "0.00001",
        "0.00000125",
    ),
    (
        "gpt-4o-mini",
        128_000,
        16_384,
        "0.00000015",
        "0.0000006",
        "0.000000075",
    ),
    (
        "gpt-4.1",
        1_047_576,
        32_768,
        "0.000002",
        "0.000008",
        "0.0000005",
    ),
    (
        "gpt-4.1-mini",
        1_047_576,
        32_768,
        "0.0000004",
        "0.0000016",
        "0.0000001",
    ),
    (
        "gpt-4.1-nano",
        1_047_576,
        32_768,
        "0.0000001",
        "0.0000004",
        "0.000000025",
    ),
    (
        "o3-mini",
        200_000,
        100_000,
        "0.0000011",
        "0.0000044",
        "0.00000055",
    ),
    (
        "o4-mini",
        200_000,
        100_000,
        "0.0000011",
        "0.0000044",
        "0.000000275",
    ),
    (
        "gpt-5",
        272_000,
        128_000,
        "0.00000125",
        "0.00001",
        "0.000000125",
    ),
    (
        "gpt-5-mini",
        272_000,
        128_000,
        "0.00000025",
        "0.000002",
        "0.000000025",
    ),
];

/// Chat-completions parameters OpenAI accepts.
const SUPPORTED_PARAMS: &[&str] = &[
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
    "parallel_tool_calls",
    "response_format",
    "user",
    "metadata",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "service_tier",
    "store",
    "modalities",
    "audio",
    "prediction",
    "prompt_cache_key",
    "safety_identifier",
    "verbosity",
    "web_search_options",
];

/// The OpenAI plugin.
#[derive(Debug)]
pub struct OpenAiPlugin;

impl Plugin for OpenAiPlugin {
    type Provider = OpenAi;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("openai", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["openai".to_owned()];
        m.default_api_base = Some(DEFAULT_API_BASE.to_owned());
        m.credential_env = std::iter::once(API_KEY_ENV)
            .chain(API_BASE_ENVS)
            .map(str::to_owned)
            .collect();
        m.requires_api_key = true;
        m.endpoints = vec!["chat".to_owned()];
        m.supported_params = SUPPORTED_PARAMS.iter().map(|s| (*s).to_owned()).collect();
        m.models = CATALOG
            .iter()
            .map(|(id, ctx, out, input, output, cached)| ModelInfo {
                id: (*id).to_owned(),
                context_window: Some(*ctx),
                max_output_tokens: Some(*out),
                input_cost_per_token: Some((*input).to_owned()),
                output_cost_per_token: Some((*output).to_owned()),
                cache_read_input_token_cost: Some((*cached).to_owned()),
                ..ModelInfo::default()
            })
            .collect();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<OpenAi, ProviderError> {
        let configured_base = config.api_base.clone().or_else(|| {
            API_BASE_ENVS
                .iter()
                .find_map(|name| config.env.get(*name).cloned())
        });
        let api_base = configured_base
            .clone()
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let api_base = api_base.trim().trim_end_matches('/').to_owned();
        if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
            return Err(ProviderError::invalid_request(format!(
                "api_base '{api_base}' is not an http(s) URL"
            ))
            .with_param("api_base"));
        }
        let api_key = config
            .api_key
            .clone()
            .or_else(|| config.env.get(API_KEY_ENV).cloned())
            .filter(|k| !k.is_empty());
        let organization = config
            .params
            .get("organization")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Ok(OpenAi {
            url: format!("{api_base}/chat/completions"),
            model: config.model,
            api_key,
            organization,
            // A custom api_base is usually a self-hosted server that needs no key.
            key_required: configured_base.is_none(),
        })
    }
}

/// One OpenAI(-compatible) deployment.
#[derive(Debug)]
pub struct OpenAi {
    url: String,
    model: String,
    api_key: Option<String>,
    organization: Option<String>,
    key_required: bool,
}

impl Provider for OpenAi {
    type Decoder = ChatStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        if request.endpoint != "chat" {
            return Err(ProviderError::invalid_request(format!(
                "the openai plugin does not serve the '{}' endpoint",
                request.endpoint
            )));
        }
        if self.api_key.is_none() && self.key_required {
            return Err(ProviderError::new(
                ErrorKind::Authentication,
                format!("openai: no API key: set {API_KEY_ENV} or the deployment's api_key"),
            )
            .with_code("missing_api_key"));
        }
        let mut body = RawObject::parse(request.body)?;
        body.set("model", &self.model);
        let gateway_only: Vec<String> = body
            .keys()
            .filter(|k| GATEWAY_ONLY.contains(k) || k.starts_with("mock_"))
            .map(str::to_owned)
            .collect();
        for key in gateway_only {
            body.remove(&key);
        }
        if request.context.stream {
            // Always ask for usage: cost and metrics need it even when the client did not.
            let mut options: serde_json::Map<String, serde_json::Value> =
                body.get_as("stream_options")?.unwrap_or_default();
            options.insert("include_usage".to_owned(), serde_json::Value::Bool(true));
            body.set("stream_options", &options);
        }
        let mut upstream = UpstreamRequest::post_json(self.url.clone(), body.to_vec());
        if request.context.stream {
            upstream = upstream.header("accept", "text/event-stream");
        }
        if let Some(key) = &self.api_key {
            upstream = upstream.header("authorization", format!("Bearer {key}"));
        }
        if let Some(org) = &self.organization {
            upstream = upstream.header("openai-organization", org.clone());
        }
        Ok(upstream)
    }

    fn parse_response(
        &self,
        _head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        openai::parse_chat_response("openai", body)
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        openai::classify_error("openai", head, body)
    }

    fn stream_decoder(&self, context: &RequestContext) -> Result<ChatStreamDecoder, ProviderError> {
        Ok(ChatStreamDecoder::new("openai", context))
    }
}

switchyard_plugin_sdk::export_provider!(OpenAiPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn deployment(
        api_base: Option<&str>,
        api_key: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<OpenAi, ProviderError> {
        OpenAiPlugin::instantiate(DeploymentConfig {
            model: "gpt-4o-mini".to_owned(),
            api_base: api_base.map(str::to_owned),
            api_key: api_key.map(str::to_owned),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..DeploymentConfig::default()
        })
    }

    fn build(p: &OpenAi, body: Value, stream: bool) -> Result<UpstreamRequest, ProviderError> {
        let ctx = RequestContext {
            stream,
            ..RequestContext::default()
        };
        let bytes = body.to_string().into_bytes();
        p.build_request(RequestIn {
            endpoint: "chat",
            body: &bytes,
            context: &ctx,
        })
    }

    fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn rewrites_model_strips_gateway_fields_and_keeps_the_rest() {
        let p = deployment(None, Some("sk-test"), &[]).unwrap();
        let body = json!({
            "model": "my-group", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": "auto", "response_format": {"type": "json_object"},
            "fallbacks": ["other"], "num_retries": 3, "mock_failure": "rate_limit", "unknown_x": 1
        });
        let r = build(&p, body, false).unwrap();
        assert_eq!(r.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(header(&r, "authorization"), Some("Bearer sk-test"));
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(sent["model"], "gpt-4o-mini");
        assert_eq!(sent["tool_choice"], "auto");
        assert_eq!(sent["response_format"]["type"], "json_object");
        assert_eq!(sent["unknown_x"], 1, "unknown fields reach the provider");
        for gone in ["fallbacks", "num_retries", "mock_failure"] {
            assert!(sent.get(gone).is_none(), "{gone} stripped");
        }
        assert!(sent.get("stream_options").is_none());
    }

    #[test]
    fn streams_always_ask_for_usage_and_keep_other_stream_options() {
        let p = deployment(None, Some("sk-test"), &[]).unwrap();
        let body = json!({"model": "g", "messages": [], "stream": true, "stream_options": {"include_obfuscation": false}});
        let r = build(&p, body, true).unwrap();
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            sent["stream_options"],
            json!({"include_obfuscation": false, "include_usage": true})
        );
        assert_eq!(header(&r, "accept"), Some("text/event-stream"));
    }

    #[test]
    fn a_missing_key_names_the_variable_and_a_custom_base_needs_none() {
        let p = deployment(None, None, &[]).unwrap();
        let e = build(&p, json!({"model": "g", "messages": []}), false).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
        assert!(e.message.contains("OPENAI_API_KEY"));

        let p = deployment(Some("http://127.0.0.1:8000/v1/"), None, &[]).unwrap();
        let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
        assert_eq!(r.url, "http://127.0.0.1:8000/v1/chat/completions");
        assert_eq!(header(&r, "authorization"), None);

        let p = deployment(
            None,
            None,
            &[
                ("OPENAI_API_KEY", "sk-env"),
                ("OPENAI_BASE_URL", "http://h:1/v1"),
            ],
        )
        .unwrap();
        let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
        assert_eq!(header(&r, "authorization"), Some("Bearer sk-env"));
        assert_eq!(r.url, "http://h:1/v1/chat/completions");
    }

    #[test]
    fn a_bad_api_base_is_rejected_naming_the_field() {
        let e = deployment(Some("ftp://x"), Some("k"), &[]).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("api_base"));
    }

    #[test]
    fn errors_are_classified_with_the_providers_message() {
        let p = deployment(None, Some("k"), &[]).unwrap();
        let cases = [
            (
                400,
                r#"{"error":{"message":"Invalid value: 'bot'","type":"invalid_request_error","param":"messages[0].role","code":"unsupported_value"}}"#,
                ErrorKind::InvalidRequest,
            ),
            (
                401,
                r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
                ErrorKind::Authentication,
            ),
            (
                404,
                r#"{"error":{"message":"The model does not exist","code":"model_not_found"}}"#,
                ErrorKind::NotFound,
            ),
            (
                429,
                r#"{"error":{"message":"Rate limit reached"}}"#,
                ErrorKind::RateLimit,
            ),
            (
                500,
                r#"{"error":{"message":"server error"}}"#,
                ErrorKind::Unavailable,
            ),
            (
                400,
                r#"{"error":{"message":"maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
                ErrorKind::ContextWindowExceeded,
            ),
        ];
        for (status, body, kind) in cases {
            let head = ResponseHead {
                status,
                headers: vec![("retry-after".into(), "2".into())],
            };
            let e = p.classify_error(&head, body.as_bytes());
            assert_eq!(e.kind, kind, "{body}");
            let message: Value = serde_json::from_str(body).unwrap();
            assert!(e
                .message
                .contains(message["error"]["message"].as_str().unwrap()));
        }
        let head = ResponseHead {
            status: 400,
            headers: vec![],
        };
        let e = p.classify_error(&head, cases[0].1.as_bytes());
        assert_eq!(e.param.as_deref(), Some("messages[0].role"));
    }
}

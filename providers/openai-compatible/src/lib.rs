//! # switchyard-provider-openai-compatible
//!
//! The family of providers whose API is OpenAI's chat completions with quirks: groq, mistral,
//! deepseek, together_ai, fireworks_ai, openrouter, xai, perplexity, cerebras, hosted_vllm and
//! lm_studio. Each has its default API base and LiteLLM's credential variable; responses are
//! normalized where a provider departs from OpenAI's shape (Mistral's content arrays and tool
//! calls without `type`/`index`, empty tool-call ids), and passed through untouched otherwise.

mod normalize;

use serde_json::Value;
use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder, RawObject};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, StreamDecoder, StreamOutput, UpstreamRequest,
};

/// One provider of the family.
#[derive(Debug, Clone, Copy)]
struct Flavor {
    id: &'static str,
    /// `None`: the deployment must give `api_base`.
    api_base: Option<&'static str>,
    /// Credential variable (LiteLLM's name).
    key_env: &'static str,
    /// Whether requests fail without a key.
    key_required: bool,
    /// Whether the API accepts `stream_options` (usage is requested through it).
    stream_options: bool,
}

const FLAVORS: &[Flavor] = &[
    Flavor {
        id: "groq",
        api_base: Some("https://api.groq.com/openai/v1"),
        key_env: "GROQ_API_KEY",
        key_required: true,
        stream_options: true,
    },
    // Mistral sends usage on the last chunk by itself and rejects unknown members.
    Flavor {
        id: "mistral",
        api_base: Some("https://api.mistral.ai/v1"),
        key_env: "MISTRAL_API_KEY",
        key_required: true,
        stream_options: false,
    },
    Flavor {
        id: "deepseek",
        api_base: Some("https://api.deepseek.com"),
        key_env: "DEEPSEEK_API_KEY",
        key_required: true,
        stream_options: true,
    },
    Flavor {
        id: "together_ai",
        api_base: Some("https://api.together.xyz/v1"),
        key_env: "TOGETHERAI_API_KEY",
        key_required: true,
        stream_options: true,
    },
    Flavor {
        id: "fireworks_ai",
        api_base: Some("https://api.fireworks.ai/inference/v1"),
        key_env: "FIREWORKS_AI_API_KEY",
        key_required: true,
        stream_options: true,
    },
    Flavor {
        id: "openrouter",
        api_base: Some("https://openrouter.ai/api/v1"),
        key_env: "OPENROUTER_API_KEY",
        key_required: true,
        stream_options: true,
    },
    Flavor {
        id: "xai",
        api_base: Some("https://api.x.ai/v1"),
        key_env: "XAI_API_KEY",
        key_required: true,
        stream_options: true,
    },
    Flavor {
        id: "perplexity",
        api_base: Some("https://api.perplexity.ai"),
        key_env: "PERPLEXITYAI_API_KEY",
        key_required: true,
        stream_options: false,
    },
    Flavor {
        id: "cerebras",
        api_base: Some("https://api.cerebras.ai/v1"),
        key_env: "CEREBRAS_API_KEY",
        key_required: true,
        stream_options: true,
    },
    Flavor {
        id: "hosted_vllm",
        api_base: None,
        key_env: "HOSTED_VLLM_API_KEY",
        key_required: false,
        stream_options: true,
    },
    Flavor {
        id: "lm_studio",
        api_base: Some("http://localhost:1234/v1"),
        key_env: "LM_STUDIO_API_KEY",
        key_required: false,
        stream_options: true,
    },
];

/// Gateway-only request members, never forwarded.
const GATEWAY_ONLY: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
    "drop_params",
    "api_base",
    "api_key",
    "base_url",
];

/// The family plugin.
#[derive(Debug)]
pub struct OpenAiCompatiblePlugin;

impl Plugin for OpenAiCompatiblePlugin {
    type Provider = Compatible;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("openai_compatible", env!("CARGO_PKG_VERSION"));
        m.providers = FLAVORS.iter().map(|f| f.id.to_owned()).collect();
        m.credential_env = FLAVORS.iter().map(|f| f.key_env.to_owned()).collect();
        m.requires_api_key = false;
        m.endpoints = vec!["chat".to_owned()];
        m.supported_params = [
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
            "presence_penalty",
            "frequency_penalty",
            "reasoning_effort",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Compatible, ProviderError> {
        let flavor = *FLAVORS
            .iter()
            .find(|f| f.id == config.provider)
            .ok_or_else(|| {
                ProviderError::invalid_request(format!(
                    "openai_compatible does not serve provider '{}'",
                    config.provider
                ))
            })?;
        let base = config
            .api_base
            .clone()
            .or_else(|| flavor.api_base.map(str::to_owned))
            .ok_or_else(|| {
                ProviderError::invalid_request(format!("{}: api_base is required", flavor.id))
                    .with_param("api_base")
            })?;
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::invalid_request(format!(
                "api_base '{base}' is not an http(s) URL"
            ))
            .with_param("api_base"));
        }
        let api_key = config
            .api_key
            .clone()
            .or_else(|| config.env.get(flavor.key_env).cloned())
            .filter(|k| !k.is_empty());
        Ok(Compatible {
            flavor,
            url: format!("{base}/chat/completions"),
            model: config.model,
            api_key,
        })
    }
}

/// One deployment of a family member.
#[derive(Debug)]
pub struct Compatible {
    flavor: Flavor,
    url: String,
    model: String,
    api_key: Option<String>,
}

impl Provider for Compatible {
    type Decoder = NormalizingDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let id = self.flavor.id;
        if request.endpoint != "chat" {
            return Err(ProviderError::invalid_request(format!(
                "{id} does not serve the '{}' endpoint",
                request.endpoint
            )));
        }
        if self.api_key.is_none() && self.flavor.key_required {
            return Err(ProviderError::new(
                ErrorKind::Authentication,
                format!(
                    "{id}: no API key: set {} or the deployment's api_key",
                    self.flavor.key_env
                ),
            )
            .with_code("missing_api_key"));
        }
        let mut body = RawObject::parse(request.body)?;
        body.set("model", &self.model);
        let drop: Vec<String> = body
            .keys()
            .filter(|k| GATEWAY_ONLY.contains(k) || k.starts_with("mock_"))
            .map(str::to_owned)
            .collect();
        for key in drop {
            body.remove(&key);
        }
        if request.context.stream {
            if self.flavor.stream_options {
                let mut options: serde_json::Map<String, Value> =
                    body.get_as("stream_options")?.unwrap_or_default();
                options.insert("include_usage".to_owned(), Value::Bool(true));
                body.set("stream_options", &options);
            } else {
                body.remove("stream_options");
            }
        }
        let mut upstream = UpstreamRequest::post_json(self.url.clone(), body.to_vec());
        if request.context.stream {
            upstream = upstream.header("accept", "text/event-stream");
        }
        if let Some(key) = &self.api_key {
            upstream = upstream.header("authorization", format!("Bearer {key}"));
        }
        Ok(upstream)
    }

    fn parse_response(
        &self,
        _head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        let mut parsed = openai::parse_chat_response(self.flavor.id, body)?;
        if let Some(fixed) = normalize::response(&parsed.body) {
            parsed.body = fixed;
        }
        Ok(parsed)
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        let mut e = openai::classify_error(self.flavor.id, head, body);
        // OpenRouter wraps the upstream provider's failure; keep its numeric code out of `code`.
        if e.code
            .as_deref()
            .is_some_and(|c| c.chars().all(|ch| ch.is_ascii_digit()))
        {
            e.code = None;
        }
        e
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<NormalizingDecoder, ProviderError> {
        Ok(NormalizingDecoder {
            inner: ChatStreamDecoder::new(self.flavor.id, context),
            tool_calls_seen: 0,
        })
    }
}

/// OpenAI chunk decoding plus the family's fixes to tool-call deltas.
#[derive(Debug)]
pub struct NormalizingDecoder {
    inner: ChatStreamDecoder,
    /// Tool calls seen so far, to number calls that arrive without an `index`.
    tool_calls_seen: u64,
}

impl NormalizingDecoder {
    fn fix(&mut self, out: &mut StreamOutput) {
        if !out.sse.windows(12).any(|w| w == b"\"tool_calls\"") {
            return;
        }
        out.sse = normalize::sse(&out.sse, &mut self.tool_calls_seen);
    }
}

impl StreamDecoder for NormalizingDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        self.inner.feed(bytes, out);
        self.fix(out);
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        self.inner.finish(out);
        self.fix(out);
    }
}

switchyard_plugin_sdk::export_provider!(OpenAiCompatiblePlugin);

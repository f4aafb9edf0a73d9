//! # switchyard-provider-openai-compatible
//!
//! The family of providers whose API is OpenAI's chat completions with quirks: groq, mistral,
//! deepseek, together_ai, fireworks_ai, openrouter, xai, perplexity, cerebras, hosted_vllm and
//! lm_studio. Each has its default API base and LiteLLM's credential variable; responses are
//! normalized where a provider departs from OpenAI's shape (Mistral's content arrays and tool
//! calls without `type`/`index`, empty tool-call ids), and passed through untouched otherwise.
//! Members with OpenAI's `/embeddings` (mistral, together_ai, fireworks_ai, openrouter,
//! hosted_vllm, lm_studio) also serve `embeddings`: the body goes to `{api_base}/embeddings`
//! with only `model` rewritten, the answer comes back as sent with its usage.

mod normalize;

use serde_json::Value;
use switchyard_plugin_sdk::endpoint::{CHAT, EMBEDDINGS};
use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder, RawObject};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, StreamDecoder, StreamOutput, UpstreamRequest,
    ENDPOINT_HEADER,
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
    /// Whether the API has OpenAI's `/embeddings`.
    embeddings: bool,
}

const FLAVORS: &[Flavor] = &[
    Flavor {
        id: "groq",
        api_base: Some("https://api.groq.com/openai/v1"),
        key_env: "GROQ_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: false,
    },
    // Mistral sends usage on the last chunk by itself and rejects unknown members.
    Flavor {
        id: "mistral",
        api_base: Some("https://api.mistral.ai/v1"),
        key_env: "MISTRAL_API_KEY",
        key_required: true,
        stream_options: false,
        embeddings: true,
    },
    Flavor {
        id: "deepseek",
        api_base: Some("https://api.deepseek.com"),
        key_env: "DEEPSEEK_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: false,
    },
    Flavor {
        id: "together_ai",
        api_base: Some("https://api.together.xyz/v1"),
        key_env: "TOGETHERAI_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: true,
    },
    Flavor {
        id: "fireworks_ai",
        api_base: Some("https://api.fireworks.ai/inference/v1"),
        key_env: "FIREWORKS_AI_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: true,
    },
    Flavor {
        id: "openrouter",
        api_base: Some("https://openrouter.ai/api/v1"),
        key_env: "OPENROUTER_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: true,
    },
    Flavor {
        id: "xai",
        api_base: Some("https://api.x.ai/v1"),
        key_env: "XAI_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: false,
    },
    Flavor {
        id: "perplexity",
        api_base: Some("https://api.perplexity.ai"),
        key_env: "PERPLEXITYAI_API_KEY",
        key_required: true,
        stream_options: false,
        embeddings: false,
    },
    Flavor {
        id: "cerebras",
        api_base: Some("https://api.cerebras.ai/v1"),
        key_env: "CEREBRAS_API_KEY",
        key_required: true,
        stream_options: true,
        embeddings: false,
    },
    Flavor {
        id: "hosted_vllm",
        api_base: None,
        key_env: "HOSTED_VLLM_API_KEY",
        key_required: false,
        stream_options: true,
        embeddings: true,
    },
    Flavor {
        id: "lm_studio",
        api_base: Some("http://localhost:1234/v1"),
        key_env: "LM_STUDIO_API_KEY",
        key_required: false,
        stream_options: true,
        embeddings: true,
    },
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
        m.endpoints = vec![CHAT.to_owned(), EMBEDDINGS.to_owned()];
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
            embeddings_url: format!("{base}/embeddings"),
            model: config.model,
            api_key,
        })
    }
}

/// One deployment of a family member.
pub struct Compatible {
    flavor: Flavor,
    url: String,
    embeddings_url: String,
    model: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for Compatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log line through Debug.
        f.debug_struct("Compatible")
            .field("flavor", &self.flavor.id)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Provider for Compatible {
    type Decoder = NormalizingDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let id = self.flavor.id;
        let embeddings = request.endpoint == EMBEDDINGS;
        if !(request.endpoint == CHAT || embeddings && self.flavor.embeddings) {
            return Err(ProviderError::invalid_request(format!(
                "{id} does not serve the '{}' endpoint (one of: {})",
                request.endpoint,
                if self.flavor.embeddings {
                    "chat, embeddings"
                } else {
                    "chat"
                }
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
        body.remove_gateway_members(&[]);
        if embeddings {
            let mut upstream =
                UpstreamRequest::post_json(self.embeddings_url.clone(), body.to_vec());
            if let Some(key) = &self.api_key {
                upstream = upstream.header("authorization", format!("Bearer {key}"));
            }
            return Ok(upstream);
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
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        if head.header(ENDPOINT_HEADER) == Some(EMBEDDINGS) {
            return openai::parse_embeddings_response(self.flavor.id, body);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(provider: &str) -> Compatible {
        OpenAiCompatiblePlugin::instantiate(DeploymentConfig {
            provider: provider.into(),
            model: "mistral-embed".into(),
            api_key: Some("sk-mistral".into()),
            api_base: (provider == "hosted_vllm").then(|| "http://vllm:8000/v1/".into()),
            ..DeploymentConfig::default()
        })
        .unwrap()
    }

    fn build(
        p: &Compatible,
        endpoint: &str,
        body: &[u8],
    ) -> Result<UpstreamRequest, ProviderError> {
        p.build_request(RequestIn {
            endpoint,
            body,
            context: &RequestContext::default(),
        })
    }

    #[test]
    fn embeddings_go_to_the_embeddings_url_with_the_body_as_sent() {
        let body =
            br#"{"model":"embed","input":["a","b"],"encoding_format":"float","num_retries":3}"#;
        let r = build(&deployment("mistral"), EMBEDDINGS, body).unwrap();
        assert_eq!(r.url, "https://api.mistral.ai/v1/embeddings");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"model":"mistral-embed","input":["a","b"],"encoding_format":"float"}"#
        );
        assert!(r
            .headers
            .contains(&("authorization".to_owned(), "Bearer sk-mistral".to_owned())));
        let r = build(&deployment("hosted_vllm"), EMBEDDINGS, body).unwrap();
        assert_eq!(r.url, "http://vllm:8000/v1/embeddings");

        let e = build(&deployment("groq"), EMBEDDINGS, body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(
            e.message
                .starts_with("groq does not serve the 'embeddings'"),
            "{}",
            e.message
        );
        assert!(build(&deployment("mistral"), "rerank", body).is_err());
        assert!(!format!("{:?}", deployment("mistral")).contains("sk-mistral"));
    }

    /// Regression: this plugin's own list of gateway members lacked `api_version` and the
    /// `litellm_*` / `user_api_key*` members, so they reached the upstream (which rejects
    /// unknown members).
    #[test]
    fn every_gateway_member_stays_out_of_the_upstream_body() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"api_version":"x","litellm_trace_id":"t","user_api_key_alias":"a","mock_response":"r"}"#;
        let r = build(&deployment("groq"), CHAT, body).unwrap();
        let sent: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for member in [
            "api_version",
            "litellm_trace_id",
            "user_api_key_alias",
            "mock_response",
        ] {
            assert!(sent.get(member).is_none(), "{member} was forwarded: {sent}");
        }
        assert_eq!(sent["messages"][0]["content"], "hi");
    }

    #[test]
    fn embeddings_answers_pass_with_their_usage() {
        let head = ResponseHead {
            status: 200,
            headers: vec![(ENDPOINT_HEADER.to_owned(), EMBEDDINGS.to_owned())],
        };
        let body = br#"{"id":"e","object":"list","data":[{"object":"embedding","embedding":[0.1,-0.2],"index":0}],"model":"mistral-embed","usage":{"prompt_tokens":9,"total_tokens":9,"completion_tokens":0}}"#;
        let parsed = deployment("mistral").parse_response(&head, body).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(parsed.info.usage.unwrap().prompt_tokens, 9);
        assert_eq!(parsed.info.model.as_deref(), Some("mistral-embed"));
        assert!(deployment("mistral")
            .parse_response(&head, br#"{"object":"list"}"#)
            .is_err());
    }
}

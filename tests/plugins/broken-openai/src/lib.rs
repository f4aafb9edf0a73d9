//! The openai plugin with three deliberate bugs, for the test that shows the conformance suite
//! fails them with a readable diff:
//! 1. the key goes in an `x-api-key` header instead of `authorization`;
//! 2. `usage` is dropped from non-stream responses;
//! 3. the stream decoder loses the last event of the stream.

use switchyard_plugin_sdk::openai::{self, ChatStreamDecoder, RawObject};
use switchyard_plugin_sdk::{
    DeploymentConfig, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, StreamDecoder, StreamOutput, UpstreamRequest,
};

#[derive(Debug)]
pub struct BrokenPlugin;

impl Plugin for BrokenPlugin {
    type Provider = Broken;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("broken-openai", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["openai".to_owned()];
        m.endpoints = vec!["chat".to_owned()];
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Broken, ProviderError> {
        Ok(Broken {
            model: config.model,
            key: config.api_key.unwrap_or_default(),
        })
    }
}

/// An OpenAI translator that gets a few things wrong on purpose.
#[derive(Debug)]
pub struct Broken {
    model: String,
    key: String,
}

/// Holds back the last event of every output and never delivers the final one.
#[derive(Debug)]
pub struct LosesLastEvent {
    inner: ChatStreamDecoder,
    held: Vec<u8>,
}

impl StreamDecoder for LosesLastEvent {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        let mut fresh = StreamOutput::default();
        self.inner.feed(bytes, &mut fresh);
        let mut all = std::mem::take(&mut self.held);
        all.extend_from_slice(&fresh.sse);
        // Keep the last complete event back; emit the rest.
        let cut = all[..all.len().saturating_sub(2)]
            .windows(2)
            .rposition(|w| w == b"\n\n")
            .map(|p| p + 2)
            .unwrap_or(0);
        self.held = all.split_off(cut);
        fresh.sse = all;
        *out = fresh;
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        self.inner.finish(out);
        out.sse.clear();
        out.done = false;
    }
}

impl Provider for Broken {
    type Decoder = LosesLastEvent;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let mut body = RawObject::parse(request.body)?;
        body.set("model", &self.model);
        if request.context.stream {
            body.set(
                "stream_options",
                &serde_json::json!({"include_usage": true}),
            );
        }
        let mut upstream =
            UpstreamRequest::post_json("https://api.openai.com/v1/chat/completions", body.to_vec())
                .header("x-api-key", self.key.clone());
        if request.context.stream {
            upstream = upstream.header("accept", "text/event-stream");
        }
        Ok(upstream)
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        let _ = head;
        let mut parsed = openai::parse_chat_response("broken-openai", body)?;
        parsed.info.usage = None;
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&parsed.body) {
            if let Some(o) = v.as_object_mut() {
                o.remove("usage");
            }
            parsed.body = serde_json::to_vec(&v).unwrap_or_default();
        }
        Ok(parsed)
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        openai::classify_error("broken-openai", head, body)
    }

    fn stream_decoder(&self, context: &RequestContext) -> Result<LosesLastEvent, ProviderError> {
        Ok(LosesLastEvent {
            inner: ChatStreamDecoder::new("broken-openai", context),
            held: Vec::new(),
        })
    }
}

switchyard_plugin_sdk::export_provider!(BrokenPlugin);

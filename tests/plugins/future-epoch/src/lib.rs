//! A plugin that claims ABI epoch 2, for the test that a host of epoch 1 rejects it with one
//! clear line. Never loaded by default (no `switchyard_provider_` file-name prefix).

use switchyard_plugin_sdk::{
    openai, DeploymentConfig, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, UpstreamRequest,
};

#[derive(Debug)]
pub struct FuturePlugin;

impl Plugin for FuturePlugin {
    type Provider = Future;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("future", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["future".to_owned()];
        m
    }

    fn instantiate(_config: DeploymentConfig) -> Result<Future, ProviderError> {
        Ok(Future)
    }
}

#[derive(Debug)]
pub struct Future;

impl Provider for Future {
    type Decoder = openai::ChatStreamDecoder;

    fn build_request(&self, _request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        Err(ProviderError::invalid_request(
            "never called: the host refuses this plugin",
        ))
    }

    fn parse_response(
        &self,
        _head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        openai::parse_chat_response("future", body)
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        openai::classify_error("future", head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<openai::ChatStreamDecoder, ProviderError> {
        Ok(openai::ChatStreamDecoder::new("future", context))
    }
}

switchyard_plugin_sdk::export_provider!(@with_epoch FuturePlugin, 2);

//! A plugin that panics on purpose, for the tests that show a panicking plugin fails one
//! request and the host keeps serving. Its file name lacks the `switchyard_provider_` prefix,
//! so the host never loads it from a plugin directory by accident.

use switchyard_plugin_sdk::{
    DeploymentConfig, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, SimulatedExchange, StreamDecoder, StreamOutput,
    UpstreamRequest,
};

#[derive(Debug)]
pub struct PanickyPlugin;

impl Plugin for PanickyPlugin {
    type Provider = Panicky;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("panicky", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["panicky".to_owned()];
        m.endpoints = vec!["chat".to_owned()];
        m
    }

    fn instantiate(_config: DeploymentConfig) -> Result<Panicky, ProviderError> {
        Ok(Panicky)
    }
}

#[derive(Debug)]
pub struct Panicky;

/// Panics on its first byte.
#[derive(Debug)]
pub struct PanickyDecoder;

impl StreamDecoder for PanickyDecoder {
    fn feed(&mut self, _bytes: &[u8], _out: &mut StreamOutput) {
        panic!("decoder exploded on purpose");
    }

    fn finish(&mut self, _out: &mut StreamOutput) {}
}

impl Provider for Panicky {
    type Decoder = PanickyDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let body = if request.context.stream {
            b"data: {}\n\n".to_vec()
        } else {
            b"{}".to_vec()
        };
        Ok(UpstreamRequest {
            method: "POST".to_owned(),
            url: "mock://panicky".to_owned(),
            simulated: Some(SimulatedExchange {
                status: 200,
                chunks: vec![body],
                ..Default::default()
            }),
            ..UpstreamRequest::default()
        })
    }

    fn parse_response(
        &self,
        _head: &ResponseHead,
        _body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        panic!("parse_response exploded on purpose");
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        switchyard_plugin_sdk::openai::classify_error("panicky", head, body)
    }

    fn stream_decoder(&self, _context: &RequestContext) -> Result<PanickyDecoder, ProviderError> {
        Ok(PanickyDecoder)
    }
}

switchyard_plugin_sdk::export_provider!(PanickyPlugin);

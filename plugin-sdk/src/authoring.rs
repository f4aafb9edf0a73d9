//! The safe traits plugin authors implement, and the glue that turns them into the ABI.
//!
//! Every entry point that crosses the boundary runs inside `catch_unwind`: a panic in a plugin
//! becomes an `internal` error for that one request (a panic unwinding into the host would
//! abort the whole process).

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RResult, RSlice, RStr, RString, RVec},
};

use crate::abi::{
    FfiError, FfiParsedResponse, FfiRequestInput, FfiResponseHead, FfiStreamOutput,
    FfiUpstreamRequest, PluginModule, PluginModuleRef, ProviderAbi, ProviderAbi_TO, ProviderBox,
    StreamDecoderAbi, StreamDecoderAbi_TO, StreamDecoderBox,
};
use crate::types::{
    AuthAction, AuthInput, DeploymentConfig, ErrorKind, ParsedResponse, PluginMetadata,
    ProviderError, RequestContext, ResponseHead, StreamOutput, UpstreamRequest,
};

/// What `build_request` receives.
#[derive(Debug, Clone, Copy)]
pub struct RequestIn<'a> {
    /// Endpoint id (`chat`).
    pub endpoint: &'a str,
    /// The client's request body, as received.
    pub body: &'a [u8],
    pub context: &'a RequestContext,
}

/// A provider plugin: its metadata and how to make a provider for one deployment.
pub trait Plugin: 'static {
    type Provider: Provider;

    /// The plugin's self-description; called once at load time.
    fn metadata() -> PluginMetadata;

    /// A provider for one deployment. Errors name the offending config field.
    fn instantiate(config: DeploymentConfig) -> Result<Self::Provider, ProviderError>;

    /// Operations added after the ABI epoch was frozen. The default knows none.
    fn extension(op: &str, _input: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!("unsupported extension operation '{op}'"))
    }
}

/// One configured deployment of a provider: a sans-IO translator.
pub trait Provider: Send + Sync + 'static {
    type Decoder: StreamDecoder;

    /// Turns the client's OpenAI request into the upstream HTTP request.
    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError>;

    /// Turns a successful (2xx) upstream response body into an OpenAI response.
    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError>;

    /// Classifies a failed (non-2xx) upstream response.
    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError;

    /// A decoder for the body of one successful streaming response.
    fn stream_decoder(&self, context: &RequestContext) -> Result<Self::Decoder, ProviderError>;

    /// Token-based authentication; the default needs none.
    fn auth_step(&self, _input: &AuthInput) -> Result<AuthAction, ProviderError> {
        Ok(AuthAction::None)
    }
}

/// Incremental decoder of one upstream stream body. It must hold bounded memory whatever the
/// upstream sends (see [`crate::sse::SseLines`]).
pub trait StreamDecoder: Send + 'static {
    /// Consumes the next bytes of the body, in whatever pieces the network delivered them.
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput);

    /// The body ended.
    fn finish(&mut self, out: &mut StreamOutput);
}

/// A boxed decoder decodes as the decoder it holds (keeps an enum of a large and a small
/// decoder small).
impl<D: StreamDecoder + ?Sized> StreamDecoder for Box<D> {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        (**self).feed(bytes, out)
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        (**self).finish(out)
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

fn panicked(entry: &str, payload: &(dyn std::any::Any + Send)) -> ProviderError {
    ProviderError::new(
        ErrorKind::Internal,
        format!(
            "provider plugin panicked in {entry}: {}",
            panic_message(payload)
        ),
    )
}

/// Runs `f`, turning a panic into an error for `entry`.
fn guard<T>(entry: &str, f: impl FnOnce() -> Result<T, ProviderError>) -> Result<T, ProviderError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(panicked(entry, payload.as_ref())),
    }
}

fn to_rresult<T, U: From<T>>(r: Result<T, ProviderError>) -> RResult<U, FfiError> {
    match r {
        Ok(v) => RResult::ROk(U::from(v)),
        Err(e) => RResult::RErr(FfiError::from(e)),
    }
}

fn parse_context(bytes: &[u8]) -> Result<RequestContext, ProviderError> {
    if bytes.is_empty() {
        return Ok(RequestContext::default());
    }
    if let Some(context) = crate::wire::read_context(bytes) {
        return Ok(context);
    }
    crate::json_from_slice(bytes).map_err(|e| {
        ProviderError::new(
            ErrorKind::Internal,
            format!("host sent a bad request context: {e}"),
        )
    })
}

/// Adapts an authoring [`Provider`] to the ABI trait.
struct ProviderAdapter<P>(P);

impl<P: Provider> ProviderAbi for ProviderAdapter<P> {
    fn build_request(&self, input: FfiRequestInput<'_>) -> RResult<FfiUpstreamRequest, FfiError> {
        to_rresult(guard("build_request", || {
            let context = parse_context(input.context.as_slice())?;
            self.0.build_request(RequestIn {
                endpoint: input.endpoint.as_str(),
                body: input.body.as_slice(),
                context: &context,
            })
        }))
    }

    fn parse_response(
        &self,
        head: &FfiResponseHead,
        body: RSlice<'_, u8>,
    ) -> RResult<FfiParsedResponse, FfiError> {
        to_rresult(guard("parse_response", || {
            self.0
                .parse_response(&ResponseHead::from(head), body.as_slice())
        }))
    }

    fn classify_error(&self, head: &FfiResponseHead, body: RSlice<'_, u8>) -> FfiError {
        let result = guard("classify_error", || {
            Ok(self
                .0
                .classify_error(&ResponseHead::from(head), body.as_slice()))
        });
        match result {
            Ok(e) | Err(e) => FfiError::from(e),
        }
    }

    fn stream_decoder(&self, context: RSlice<'_, u8>) -> RResult<StreamDecoderBox, FfiError> {
        let result = guard("stream_decoder", || {
            let context = parse_context(context.as_slice())?;
            self.0.stream_decoder(&context)
        });
        match result {
            Ok(decoder) => RResult::ROk(StreamDecoderAbi_TO::from_value(
                DecoderAdapter {
                    inner: decoder,
                    poisoned: false,
                },
                TD_Opaque,
            )),
            Err(e) => RResult::RErr(e.into()),
        }
    }

    fn auth_step(&self, input: RSlice<'_, u8>) -> RResult<RVec<u8>, FfiError> {
        to_rresult(guard("auth_step", || {
            let input: AuthInput = crate::json_from_slice(input.as_slice()).map_err(|e| {
                ProviderError::new(ErrorKind::Internal, format!("bad auth input: {e}"))
            })?;
            let action = self.0.auth_step(&input)?;
            serde_json::to_vec(&action)
                .map_err(|e| ProviderError::new(ErrorKind::Internal, e.to_string()))
        }))
    }
}

/// Adapts an authoring [`StreamDecoder`]. After a panic the decoder's state is unknown, so it
/// refuses further input instead of producing garbage.
struct DecoderAdapter<D> {
    inner: D,
    poisoned: bool,
}

impl<D: StreamDecoder> DecoderAdapter<D> {
    fn run(&mut self, entry: &str, f: impl FnOnce(&mut D, &mut StreamOutput)) -> FfiStreamOutput {
        let mut out = StreamOutput::default();
        if self.poisoned {
            out.error = Some(ProviderError::new(
                ErrorKind::Internal,
                "stream decoder is unusable after an earlier panic",
            ));
            return out.into();
        }
        let inner = &mut self.inner;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut out = StreamOutput::default();
            f(inner, &mut out);
            out
        }));
        match result {
            Ok(out) => out.into(),
            Err(payload) => {
                self.poisoned = true;
                out.error = Some(panicked(entry, payload.as_ref()));
                out.into()
            }
        }
    }
}

impl<D: StreamDecoder> StreamDecoderAbi for DecoderAdapter<D> {
    fn feed(&mut self, bytes: RSlice<'_, u8>) -> FfiStreamOutput {
        self.run("stream_decoder.feed", |d, out| {
            d.feed(bytes.as_slice(), out)
        })
    }

    fn finish(&mut self) -> FfiStreamOutput {
        self.run("stream_decoder.finish", |d, out| d.finish(out))
    }
}

struct Entry<P>(PhantomData<P>);

impl<P: Plugin> Entry<P> {
    extern "C" fn abi_epoch() -> u32 {
        crate::ABI_EPOCH
    }

    extern "C" fn metadata() -> RResult<RString, RString> {
        let result = catch_unwind(|| {
            let mut meta = P::metadata();
            meta.sdk_version = crate::SDK_VERSION.to_owned();
            meta.abi_epoch = crate::ABI_EPOCH;
            serde_json::to_string(&meta).map_err(|e| e.to_string())
        });
        match result {
            Ok(Ok(json)) => RResult::ROk(json.into()),
            Ok(Err(e)) => RResult::RErr(format!("metadata did not serialize: {e}").into()),
            Err(payload) => RResult::RErr(
                format!(
                    "plugin panicked in metadata: {}",
                    panic_message(payload.as_ref())
                )
                .into(),
            ),
        }
    }

    extern "C" fn instantiate(config: RStr<'_>) -> RResult<ProviderBox, FfiError> {
        let result = guard("instantiate", || {
            let config: DeploymentConfig = serde_json::from_str(config.as_str()).map_err(|e| {
                ProviderError::invalid_request(format!("deployment config is not valid: {e}"))
            })?;
            P::instantiate(config)
        });
        match result {
            Ok(provider) => RResult::ROk(ProviderAbi_TO::from_value(
                ProviderAdapter(provider),
                TD_Opaque,
            )),
            Err(e) => RResult::RErr(e.into()),
        }
    }

    extern "C" fn extension(op: RStr<'_>, input: RSlice<'_, u8>) -> RResult<RVec<u8>, RString> {
        match catch_unwind(|| P::extension(op.as_str(), input.as_slice())) {
            Ok(Ok(bytes)) => RResult::ROk(bytes.into()),
            Ok(Err(e)) => RResult::RErr(e.into()),
            Err(payload) => RResult::RErr(
                format!(
                    "plugin panicked in extension: {}",
                    panic_message(payload.as_ref())
                )
                .into(),
            ),
        }
    }
}

/// The root module for plugin type `P`. Used by [`crate::export_provider!`] for the dynamic
/// export and by library users who link a provider statically.
pub fn plugin_module<P: Plugin>() -> PluginModuleRef {
    let module = PluginModule {
        abi_epoch: Entry::<P>::abi_epoch,
        metadata: Entry::<P>::metadata,
        instantiate: Entry::<P>::instantiate,
        extension: Entry::<P>::extension,
    };
    // Generic statics do not exist in Rust, so the module is leaked once per call; hosts call
    // this once per plugin (abi_stable caches the dynamic root module).
    module.leak_into_prefix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_reads_str_and_string_payloads() {
        let p = catch_unwind(|| panic!("static message")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "static message");
        let n = 7;
        let p = catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "formatted 7");
    }
}

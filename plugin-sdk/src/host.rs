//! Safe host-side handles over a plugin's ABI objects.
//!
//! A [`PluginHandle`] is the same whether the plugin was loaded from a file (see
//! [`crate::loader`]) or linked statically ([`PluginHandle::from_static`]), so a host treats
//! both alike.

use std::fmt;
use std::path::PathBuf;

use abi_stable::std_types::{RResult, RSlice, RStr};

use crate::abi::{
    FfiRequestInput, FfiResponseHead, PluginModuleRef, ProviderBox, StreamDecoderBox,
};
use crate::convert::info_from_ffi;
use crate::types::{
    AuthAction, AuthInput, DeploymentConfig, ErrorKind, ParsedResponse, PluginMetadata,
    ProviderError, RequestContext, ResponseHead, StreamOutput, UpstreamRequest,
};
use crate::wire::context_json;

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOrigin {
    /// Linked into the host binary.
    Static,
    /// Loaded from this file.
    File(PathBuf),
}

impl fmt::Display for PluginOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginOrigin::Static => f.write_str("<static>"),
            PluginOrigin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A loaded plugin: its root module and parsed metadata.
#[derive(Clone)]
pub struct PluginHandle {
    module: PluginModuleRef,
    metadata: PluginMetadata,
    origin: PluginOrigin,
}

impl fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginHandle")
            .field("name", &self.metadata.name)
            .field("version", &self.metadata.version)
            .field("origin", &self.origin)
            .finish()
    }
}

/// Why a plugin could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub origin: PluginOrigin,
    pub message: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for PluginError {}

impl PluginHandle {
    /// Wraps a root module obtained from a statically linked provider crate.
    pub fn from_static(module: PluginModuleRef) -> Result<Self, PluginError> {
        Self::from_module(module, PluginOrigin::Static)
    }

    pub(crate) fn from_module(
        module: PluginModuleRef,
        origin: PluginOrigin,
    ) -> Result<Self, PluginError> {
        let err = |message: String| PluginError {
            origin: origin.clone(),
            message,
        };
        let epoch = (module.abi_epoch())();
        if epoch != crate::ABI_EPOCH {
            return Err(err(format!(
                "plugin is built for ABI epoch {epoch}, this host speaks epoch {}",
                crate::ABI_EPOCH
            )));
        }
        let json = match (module.metadata())() {
            RResult::ROk(json) => json,
            RResult::RErr(e) => return Err(err(format!("metadata failed: {e}"))),
        };
        let metadata: PluginMetadata = serde_json::from_str(json.as_str()).map_err(|e| {
            err(format!(
                "metadata is not valid JSON of the expected shape: {e}"
            ))
        })?;
        if metadata.name.trim().is_empty() {
            return Err(err("metadata has an empty plugin name".to_owned()));
        }
        if metadata.providers.is_empty() {
            return Err(err(format!(
                "plugin '{}' declares no provider ids",
                metadata.name
            )));
        }
        Ok(PluginHandle {
            module,
            metadata,
            origin,
        })
    }

    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    pub fn origin(&self) -> &PluginOrigin {
        &self.origin
    }

    /// Creates the provider object of one deployment.
    pub fn instantiate(
        &self,
        config: &DeploymentConfig,
    ) -> Result<ProviderInstance, ProviderError> {
        let json = serde_json::to_string(config)
            .map_err(|e| ProviderError::new(ErrorKind::Internal, e.to_string()))?;
        match (self.module.instantiate())(RStr::from_str(&json)) {
            RResult::ROk(inner) => Ok(ProviderInstance { inner }),
            RResult::RErr(e) => Err(ProviderError::from(&e)),
        }
    }

    /// Calls an extension operation.
    pub fn extension(&self, op: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        match (self.module.extension())(RStr::from_str(op), RSlice::from_slice(input)) {
            RResult::ROk(bytes) => Ok(bytes.into()),
            RResult::RErr(e) => Err(e.into()),
        }
    }
}

/// One deployment's provider object.
pub struct ProviderInstance {
    inner: ProviderBox,
}

impl fmt::Debug for ProviderInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderInstance").finish_non_exhaustive()
    }
}

impl ProviderInstance {
    pub fn build_request(
        &self,
        endpoint: &str,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<UpstreamRequest, ProviderError> {
        let context = context_json(context);
        let input = FfiRequestInput {
            endpoint: RStr::from_str(endpoint),
            body: RSlice::from_slice(body),
            context: RSlice::from_slice(&context),
        };
        match self.inner.build_request(input) {
            RResult::ROk(req) => Ok(req.into()),
            RResult::RErr(e) => Err(ProviderError::from(&e)),
        }
    }

    pub fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        match self
            .inner
            .parse_response(&FfiResponseHead::from(head), RSlice::from_slice(body))
        {
            RResult::ROk(parsed) => Ok(ParsedResponse {
                info: info_from_ffi(parsed.info.as_slice())?,
                body: parsed.body.into(),
            }),
            RResult::RErr(e) => Err(ProviderError::from(&e)),
        }
    }

    pub fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        let e = self
            .inner
            .classify_error(&FfiResponseHead::from(head), RSlice::from_slice(body));
        ProviderError::from(&e)
    }

    pub fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<StreamDecoderInstance, ProviderError> {
        let context = context_json(context);
        match self.inner.stream_decoder(RSlice::from_slice(&context)) {
            RResult::ROk(inner) => Ok(StreamDecoderInstance { inner }),
            RResult::RErr(e) => Err(ProviderError::from(&e)),
        }
    }

    pub fn auth_step(&self, input: &AuthInput) -> Result<AuthAction, ProviderError> {
        let json = serde_json::to_vec(input)
            .map_err(|e| ProviderError::new(ErrorKind::Internal, e.to_string()))?;
        match self.inner.auth_step(RSlice::from_slice(&json)) {
            RResult::ROk(bytes) => serde_json::from_slice(bytes.as_slice()).map_err(|e| {
                ProviderError::new(
                    ErrorKind::Internal,
                    format!("plugin sent a bad auth action: {e}"),
                )
            }),
            RResult::RErr(e) => Err(ProviderError::from(&e)),
        }
    }
}

/// A stream decoder for one response.
pub struct StreamDecoderInstance {
    inner: StreamDecoderBox,
}

impl fmt::Debug for StreamDecoderInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamDecoderInstance")
            .finish_non_exhaustive()
    }
}

fn output_from_ffi(out: crate::abi::FfiStreamOutput) -> StreamOutput {
    let (info, info_error) = match info_from_ffi(out.info.as_slice()) {
        Ok(info) => (info, None),
        Err(e) => (Default::default(), Some(e)),
    };
    StreamOutput {
        sse: out.sse.into(),
        info,
        error: out
            .error
            .as_ref()
            .map(ProviderError::from)
            .into_option()
            .or(info_error),
        done: out.done,
    }
}

// The decoder object is only ever used through `&mut self`, never structurally pinned, so
// moving it is fine (abi_stable's trait objects do not declare `Unpin` themselves).
impl Unpin for StreamDecoderInstance {}

impl StreamDecoderInstance {
    pub fn feed(&mut self, bytes: &[u8]) -> StreamOutput {
        output_from_ffi(self.inner.feed(RSlice::from_slice(bytes)))
    }

    pub fn finish(&mut self) -> StreamOutput {
        output_from_ffi(self.inner.finish())
    }
}

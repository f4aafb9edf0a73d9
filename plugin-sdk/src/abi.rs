//! The frozen binary interface of ABI epoch 1.
//!
//! Everything in this module crosses the dynamic-library boundary, so its layout is frozen for
//! the whole epoch. New capabilities go into the metadata JSON, the JSON `context`/`info` blobs or
//! the `extension` entry point, never into a new field here (see `docs/plugins.md`).
//!
//! Plugin authors never touch these types: they implement [`crate::Plugin`] and call
//! [`crate::export_provider!`]. Hosts use the safe wrappers in [`crate::host`].

// `#[sabi_trait]` expands to impls that rustc's `non_local_definitions` lint flags; the lint is
// about macro hygiene, not about behaviour (DESIGN.md, "verified pitfalls").
#![allow(non_local_definitions)]
// The unsafe code here is what abi_stable's derives generate for FFI-safe trait objects and
// prefix types; this module writes none by hand.
#![allow(unsafe_code, missing_debug_implementations)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// One HTTP header. Names are lower-case by convention; values are UTF-8 (non-UTF-8 upstream
/// header values are dropped by the host before they reach a plugin).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FfiHeader {
    pub name: RString,
    pub value: RString,
}

/// A failure as a plugin reports it. `kind` is one of the strings of [`crate::ErrorKind`];
/// unknown kinds from a newer plugin are mapped to `internal` by the host.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiError {
    pub status: u16,
    pub kind: RString,
    pub message: RString,
    pub code: ROption<RString>,
    pub param: ROption<RString>,
    pub retry_after_ms: ROption<u64>,
    /// JSON object with anything else (provider error body fields, ...); empty when none.
    pub extra: RVec<u8>,
}

/// What the host gives `build_request`.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub struct FfiRequestInput<'a> {
    /// Endpoint id (see [`crate::endpoint`]): `chat` for `/v1/chat/completions`, ...
    pub endpoint: RStr<'a>,
    /// The client's request body as received (OpenAI JSON), untouched.
    pub body: RSlice<'a, u8>,
    /// JSON of [`crate::RequestContext`].
    pub context: RSlice<'a, u8>,
}

/// How a simulated exchange ends after its last chunk.
pub const SIMULATED_END_COMPLETE: u8 = 0;
/// The connection drops after the last chunk (a mid-stream failure).
pub const SIMULATED_END_DROP: u8 = 1;
/// Nothing more ever arrives: the host's timeouts decide.
pub const SIMULATED_END_HANG: u8 = 2;

/// An upstream exchange the host plays back instead of doing network I/O (the mock provider,
/// tests). It flows through exactly the same response path as a real one.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiSimulatedExchange {
    pub status: u16,
    pub headers: RVec<FfiHeader>,
    pub chunks: RVec<RVec<u8>>,
    pub first_byte_delay_ms: u64,
    pub chunk_delay_ms: u64,
    pub end: u8,
}

/// The HTTP request a plugin wants the host to perform.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiUpstreamRequest {
    pub method: RString,
    pub url: RString,
    pub headers: RVec<FfiHeader>,
    pub body: RVec<u8>,
    pub simulated: ROption<FfiSimulatedExchange>,
}

/// Status and headers of an upstream response.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiResponseHead {
    pub status: u16,
    pub headers: RVec<FfiHeader>,
}

/// A normalized non-stream response.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiParsedResponse {
    /// OpenAI-shaped response body, ready to send.
    pub body: RVec<u8>,
    /// JSON of [`crate::ResponseInfo`] (usage, finish reason, model); empty when unknown.
    pub info: RVec<u8>,
}

/// What a stream decoder produced from one `feed`/`finish` call.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct FfiStreamOutput {
    /// Ready-to-send OpenAI SSE bytes (`data: {...}\n\n` frames), possibly empty.
    pub sse: RVec<u8>,
    /// JSON of [`crate::ResponseInfo`] learned so far (usage, finish reason); empty when none.
    pub info: RVec<u8>,
    /// An error the upstream reported inside the stream.
    pub error: ROption<FfiError>,
    /// The upstream said the stream is complete (`[DONE]` or its equivalent).
    pub done: bool,
}

/// Incremental decoder of one upstream stream. Created per request, never shared.
#[sabi_trait]
pub trait StreamDecoderAbi: Send {
    fn feed(&mut self, bytes: RSlice<'_, u8>) -> FfiStreamOutput;

    #[sabi(last_prefix_field)]
    fn finish(&mut self) -> FfiStreamOutput;
}

/// A boxed stream decoder trait object.
pub type StreamDecoderBox = StreamDecoderAbi_TO<'static, RBox<()>>;

/// One provider deployment, created by `instantiate` from its configuration.
#[sabi_trait]
pub trait ProviderAbi: Send + Sync {
    fn build_request(&self, input: FfiRequestInput<'_>) -> RResult<FfiUpstreamRequest, FfiError>;

    fn parse_response(
        &self,
        head: &FfiResponseHead,
        body: RSlice<'_, u8>,
    ) -> RResult<FfiParsedResponse, FfiError>;

    fn classify_error(&self, head: &FfiResponseHead, body: RSlice<'_, u8>) -> FfiError;

    /// `context` is the JSON of [`crate::RequestContext`] of the request being streamed.
    fn stream_decoder(&self, context: RSlice<'_, u8>) -> RResult<StreamDecoderBox, FfiError>;

    /// `input` is JSON of [`crate::AuthInput`]; the result is JSON of [`crate::AuthAction`].
    #[sabi(last_prefix_field)]
    fn auth_step(&self, input: RSlice<'_, u8>) -> RResult<RVec<u8>, FfiError>;
}

/// A boxed provider trait object.
pub type ProviderBox = ProviderAbi_TO<'static, RBox<()>>;

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// ABI epoch the plugin was built for (also exported as a plain C symbol).
    pub abi_epoch: extern "C" fn() -> u32,
    /// JSON of [`crate::PluginMetadata`].
    pub metadata: extern "C" fn() -> RResult<RString, RString>,
    /// One provider object per deployment; `config` is JSON of [`crate::DeploymentConfig`].
    pub instantiate: extern "C" fn(config: RStr<'_>) -> RResult<ProviderBox, FfiError>,
    /// Forward-compatible escape hatch for operations added after the epoch was frozen.
    #[sabi(last_prefix_field)]
    pub extension: extern "C" fn(op: RStr<'_>, input: RSlice<'_, u8>) -> RResult<RVec<u8>, RString>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "switchyard_provider";
    const NAME: &'static str = "switchyard_provider";
    // Tied to the ABI epoch rather than to the SDK crate version, so SDK releases within an
    // epoch stay loadable by every host of that epoch.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

impl std::fmt::Debug for PluginModuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginModuleRef").finish_non_exhaustive()
    }
}

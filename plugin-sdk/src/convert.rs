//! Conversions between the frozen FFI structs and the plain Rust types.

use abi_stable::std_types::{ROption, RString, RVec};

use crate::abi::{
    FfiError, FfiHeader, FfiParsedResponse, FfiResponseHead, FfiSimulatedExchange, FfiStreamOutput,
    FfiUpstreamRequest, SIMULATED_END_COMPLETE, SIMULATED_END_DROP, SIMULATED_END_HANG,
};
use crate::types::{
    ErrorKind, Header, ParsedResponse, ProviderError, ResponseHead, ResponseInfo, SimulatedEnd,
    SimulatedExchange, StreamOutput, UpstreamRequest,
};

fn headers_to_ffi(headers: Vec<Header>) -> RVec<FfiHeader> {
    headers
        .into_iter()
        .map(|(name, value)| FfiHeader {
            name: name.into(),
            value: value.into(),
        })
        .collect()
}

fn headers_from_ffi(headers: &RVec<FfiHeader>) -> Vec<Header> {
    headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_string()))
        .collect()
}

fn opt_to_ffi(value: Option<String>) -> ROption<RString> {
    value.map(RString::from).into()
}

fn opt_from_ffi(value: &ROption<RString>) -> Option<String> {
    value.as_ref().map(|s| s.to_string()).into()
}

fn info_to_ffi(info: &ResponseInfo) -> RVec<u8> {
    crate::wire::info_json(info).into()
}

pub(crate) fn info_from_ffi(bytes: &[u8]) -> Result<ResponseInfo, ProviderError> {
    if bytes.is_empty() {
        return Ok(ResponseInfo::default());
    }
    if let Some(info) = crate::wire::read_info(bytes) {
        return Ok(info);
    }
    crate::json_from_slice(bytes)
        .map_err(|e| ProviderError::new(ErrorKind::Internal, format!("plugin sent bad info: {e}")))
}

impl From<ProviderError> for FfiError {
    fn from(e: ProviderError) -> Self {
        FfiError {
            status: e.status,
            kind: e.kind.as_str().into(),
            message: e.message.into(),
            code: opt_to_ffi(e.code),
            param: opt_to_ffi(e.param),
            retry_after_ms: e.retry_after_ms.into(),
            extra: RVec::new(),
        }
    }
}

impl From<&FfiError> for ProviderError {
    fn from(e: &FfiError) -> Self {
        let kind = ErrorKind::parse(e.kind.as_str()).unwrap_or(ErrorKind::Internal);
        ProviderError {
            status: if (100..=599).contains(&e.status) {
                e.status
            } else {
                kind.default_status()
            },
            kind,
            message: e.message.to_string(),
            code: opt_from_ffi(&e.code),
            param: opt_from_ffi(&e.param),
            retry_after_ms: e.retry_after_ms.into_option(),
        }
    }
}

impl From<UpstreamRequest> for FfiUpstreamRequest {
    fn from(r: UpstreamRequest) -> Self {
        FfiUpstreamRequest {
            method: r.method.into(),
            url: r.url.into(),
            headers: headers_to_ffi(r.headers),
            body: r.body.into(),
            simulated: r.simulated.map(FfiSimulatedExchange::from).into(),
        }
    }
}

impl From<FfiUpstreamRequest> for UpstreamRequest {
    fn from(r: FfiUpstreamRequest) -> Self {
        UpstreamRequest {
            method: r.method.into(),
            url: r.url.into(),
            headers: headers_from_ffi(&r.headers),
            body: r.body.into(),
            simulated: r.simulated.into_option().map(SimulatedExchange::from),
        }
    }
}

impl From<SimulatedExchange> for FfiSimulatedExchange {
    fn from(s: SimulatedExchange) -> Self {
        FfiSimulatedExchange {
            status: s.status,
            headers: headers_to_ffi(s.headers),
            chunks: s.chunks.into_iter().map(RVec::from).collect(),
            first_byte_delay_ms: s.first_byte_delay_ms,
            chunk_delay_ms: s.chunk_delay_ms,
            end: match s.end {
                SimulatedEnd::Complete => SIMULATED_END_COMPLETE,
                SimulatedEnd::Drop => SIMULATED_END_DROP,
                SimulatedEnd::Hang => SIMULATED_END_HANG,
            },
        }
    }
}

impl From<FfiSimulatedExchange> for SimulatedExchange {
    fn from(s: FfiSimulatedExchange) -> Self {
        SimulatedExchange {
            status: s.status,
            headers: headers_from_ffi(&s.headers),
            chunks: s.chunks.into_iter().map(Vec::from).collect(),
            first_byte_delay_ms: s.first_byte_delay_ms,
            chunk_delay_ms: s.chunk_delay_ms,
            end: match s.end {
                SIMULATED_END_DROP => SimulatedEnd::Drop,
                SIMULATED_END_HANG => SimulatedEnd::Hang,
                _ => SimulatedEnd::Complete,
            },
        }
    }
}

impl From<&ResponseHead> for FfiResponseHead {
    fn from(h: &ResponseHead) -> Self {
        FfiResponseHead {
            status: h.status,
            headers: headers_to_ffi(h.headers.clone()),
        }
    }
}

impl From<&FfiResponseHead> for ResponseHead {
    fn from(h: &FfiResponseHead) -> Self {
        ResponseHead {
            status: h.status,
            headers: headers_from_ffi(&h.headers),
        }
    }
}

impl From<ParsedResponse> for FfiParsedResponse {
    fn from(p: ParsedResponse) -> Self {
        FfiParsedResponse {
            info: info_to_ffi(&p.info),
            body: p.body.into(),
        }
    }
}

impl From<StreamOutput> for FfiStreamOutput {
    fn from(o: StreamOutput) -> Self {
        FfiStreamOutput {
            info: info_to_ffi(&o.info),
            sse: o.sse.into(),
            error: o.error.map(FfiError::from).into(),
            done: o.done,
        }
    }
}

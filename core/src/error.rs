//! The gateway's one error type, mapped once to an OpenAI-format error response.
//!
//! Like pingora's errors, a [`GatewayError`] carries where it came from (model group,
//! deployment, provider) and whether another attempt may succeed. Messages never contain a key
//! or its hash: callers pass provider messages, which plugins build from upstream bodies, and
//! never format credentials into them.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use switchyard_plugin_sdk::{ErrorKind, ProviderError};

/// Where a failure happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorOrigin {
    pub model_group: Option<String>,
    pub deployment: Option<String>,
    pub provider: Option<String>,
}

/// A failure on the way to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub status: u16,
    pub message: String,
    pub code: Option<String>,
    pub param: Option<String>,
    pub retry_after_ms: Option<u64>,
    /// Shared with the deployment, so attributing an error allocates nothing.
    pub origin: Arc<ErrorOrigin>,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            status: kind.default_status(),
            message: message.into(),
            code: None,
            param: None,
            retry_after_ms: None,
            origin: Arc::default(),
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_origin(mut self, origin: Arc<ErrorOrigin>) -> Self {
        self.origin = origin;
        self
    }

    /// A 400 for a request the gateway itself rejects.
    pub fn invalid_request(message: impl Into<String>, param: Option<&str>) -> Self {
        let mut e = GatewayError::new(ErrorKind::InvalidRequest, message);
        e.param = param.map(str::to_owned);
        e
    }

    /// A 401.
    pub fn authentication(message: impl Into<String>) -> Self {
        GatewayError::new(ErrorKind::Authentication, message).with_code("invalid_api_key")
    }

    /// A 500 for a gateway bug.
    pub fn internal(message: impl Into<String>) -> Self {
        GatewayError::new(ErrorKind::Internal, message)
    }

    /// A provider's classified error, attributed to a deployment.
    pub fn from_provider(e: ProviderError, origin: Arc<ErrorOrigin>) -> Self {
        GatewayError {
            kind: e.kind,
            status: e.status,
            message: e.message,
            code: e.code,
            param: e.param,
            retry_after_ms: e.retry_after_ms,
            origin,
        }
    }

    /// Whether another attempt may succeed (DESIGN.md: 408, 409, 429, 5xx, connection errors,
    /// timeouts; never 400/401/403/404).
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The OpenAI `error.type` string for this error.
    pub fn openai_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest
            | ErrorKind::UnsupportedParam
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::ContentPolicy
            | ErrorKind::NotFound => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Timeout => "timeout_error",
            ErrorKind::Unavailable | ErrorKind::BadResponse => "api_error",
            ErrorKind::Internal => "internal_server_error",
        }
    }

    /// The message as the client sees it, with its origin.
    pub fn client_message(&self) -> String {
        let o = &self.origin;
        let mut where_ = Vec::new();
        if let Some(g) = &o.model_group {
            where_.push(format!("model group '{g}'"));
        }
        if let Some(d) = &o.deployment {
            where_.push(format!("deployment '{d}'"));
        }
        if let Some(p) = &o.provider {
            where_.push(format!("provider '{p}'"));
        }
        if where_.is_empty() {
            self.message.clone()
        } else {
            format!("{} [{}]", self.message, where_.join(", "))
        }
    }

    /// The OpenAI error JSON body.
    pub fn to_json_body(&self) -> Bytes {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            message: String,
            #[serde(rename = "type")]
            kind: &'a str,
            param: Option<&'a str>,
            code: Option<&'a str>,
        }
        let body = Body {
            error: Inner {
                message: self.client_message(),
                kind: self.openai_type(),
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        };
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// The error as one final SSE event, for failures after a stream was committed.
    pub fn to_sse_event(&self) -> Bytes {
        let json = self.to_json_body();
        let mut out = Vec::with_capacity(json.len() + 24);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&json);
        out.extend_from_slice(b"\n\ndata: [DONE]\n\n");
        Bytes::from(out)
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            self.kind,
            self.client_message()
        )
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_has_the_openai_envelope_and_origin() {
        let e = GatewayError::new(ErrorKind::RateLimit, "slow down").with_origin(Arc::new(
            ErrorOrigin {
                model_group: Some("gpt".into()),
                deployment: Some("gpt-0".into()),
                provider: Some("openai".into()),
            },
        ));
        let v: serde_json::Value = serde_json::from_slice(&e.to_json_body()).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(
            v["error"]["message"],
            "slow down [model group 'gpt', deployment 'gpt-0', provider 'openai']"
        );
        assert!(v["error"]["param"].is_null());
        assert_eq!(e.status, 429);
        assert!(e.is_retryable());
    }

    #[test]
    fn client_errors_are_not_retryable() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::Permission,
            ErrorKind::NotFound,
        ] {
            assert!(!GatewayError::new(kind, "x").is_retryable(), "{kind}");
        }
    }
}

//! Helpers for requests that go upstream as the client sent them — the native endpoints
//! (`messages`, `responses`, `rerank`, …) and pass-through routes — and for streams sent back
//! as the upstream framed them.

mod events;

pub use events::{fields, Inspect, RawEventDecoder, RawEvents, Verdict};

use crate::openai::RawObject;
use crate::{
    ProviderError, RequestContext, ResponseHead, StreamDecoder, StreamOutput, UpstreamRequest,
};

/// A plugin's stream decoder when it serves both translated and native streams: `C` makes
/// OpenAI chunks of the provider's stream (`chat`, `completions`), `N` passes the provider's
/// own events through (native endpoints, pass-through routes). The plugin picks one per
/// request from the context's endpoint.
#[derive(Debug)]
pub enum EitherDecoder<C, N> {
    Chat(C),
    Native(N),
}

impl<C: StreamDecoder, N: StreamDecoder> StreamDecoder for EitherDecoder<C, N> {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        match self {
            EitherDecoder::Chat(d) => d.feed(bytes, out),
            EitherDecoder::Native(d) => d.feed(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        match self {
            EitherDecoder::Chat(d) => d.finish(out),
            EitherDecoder::Native(d) => d.finish(out),
        }
    }
}

/// Top-level request members that steer the gateway and never reach an upstream: routing
/// (`fallbacks`, `num_retries`), parameter handling (`drop_params`) and client-side credentials
/// (`api_base`, `api_key`: a client's must never take effect unless the host allowed it, and
/// the host then hands them to the plugin as the deployment's).
pub const GATEWAY_MEMBERS: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
    "drop_params",
    "api_base",
    "api_key",
    "base_url",
    "api_version",
];

/// Prefixes of gateway members (`mock_response`, `user_api_key_alias`, `litellm_trace_id`…).
pub const GATEWAY_MEMBER_PREFIXES: &[&str] = &["mock_", "user_api_key", "litellm_"];

/// Whether a top-level request member is the gateway's (see [`GATEWAY_MEMBERS`]).
pub fn is_gateway_member(key: &str) -> bool {
    GATEWAY_MEMBERS.contains(&key) || GATEWAY_MEMBER_PREFIXES.iter().any(|p| key.starts_with(p))
}

impl RawObject<'_> {
    /// Removes the gateway's members (see [`is_gateway_member`]) and those `also` names.
    pub fn remove_gateway_members(&mut self, also: &[&str]) {
        let drop: Vec<String> = self
            .keys()
            .filter(|k| is_gateway_member(k) || also.contains(k))
            .map(str::to_owned)
            .collect();
        for key in &drop {
            self.remove(key);
        }
    }
}

/// A JSON endpoint's body as forwarded: the client's, with `model` set to the deployment's and
/// the gateway's members (and those `also` names) removed, every other member byte for byte.
/// A body that does not say `stream` gets `stream: true` when the context streams. Also
/// returns whether the request streams (the context or the body asked).
pub fn forward_json(
    mut obj: RawObject<'_>,
    model: &str,
    context: &RequestContext,
    also: &[&str],
) -> (Vec<u8>, bool) {
    obj.set("model", model);
    obj.remove_gateway_members(also);
    let body_streams = obj.get("stream").is_some_and(|v| v.get() == "true");
    if context.stream && !body_streams {
        obj.set("stream", &true);
    }
    (obj.to_vec(), context.stream || body_streams)
}

/// The method and path of a pass-through request, checked: an HTTP method token, and a path
/// that starts with a single `/` and has no spaces, control characters or fragment, so the URL
/// it is appended to stays the deployment's. Errors start with `provider`.
pub fn passthrough_target<'a>(
    provider: &str,
    context: &'a RequestContext,
) -> Result<(String, &'a str), ProviderError> {
    let target = context.passthrough.as_ref().ok_or_else(|| {
        ProviderError::invalid_request(format!(
            "{provider}: passthrough: the request context has no passthrough method and path"
        ))
    })?;
    let method = target.method.trim();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ProviderError::invalid_request(format!(
            "{provider}: passthrough.method '{}' is not an HTTP method",
            method.escape_debug()
        ))
        .with_param("passthrough.method"));
    }
    let path = target.path.as_str();
    if !path.starts_with('/')
        || path.starts_with("//")
        || path.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#')
    {
        return Err(ProviderError::invalid_request(format!(
            "{provider}: passthrough.path '{}' must start with a single '/' and have no spaces, \
             control characters or '#'",
            path.escape_debug()
        ))
        .with_param("passthrough.path"));
    }
    Ok((method.to_ascii_uppercase(), path))
}

/// A pass-through request: the client's body unchanged, with its content type (JSON when it
/// gave none and there is a body), asking for events when the client streams. The plugin adds
/// its credentials.
pub fn passthrough_request(
    method: String,
    url: String,
    body: &[u8],
    context: &RequestContext,
) -> UpstreamRequest {
    let mut headers = Vec::new();
    match &context.content_type {
        Some(ct) => headers.push(("content-type".to_owned(), ct.clone())),
        None if !body.is_empty() => {
            headers.push(("content-type".to_owned(), "application/json".to_owned()))
        }
        None => {}
    }
    if context.stream {
        headers.push(("accept".to_owned(), "text/event-stream".to_owned()));
    }
    UpstreamRequest {
        method,
        url,
        headers,
        body: body.to_vec(),
        ..UpstreamRequest::default()
    }
}

/// Whether an answer is JSON: by its content type, or by its first byte when it has none.
pub fn is_json(head: &ResponseHead, body: &[u8]) -> bool {
    match head.header("content-type") {
        Some(ct) => {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media == "application/json" || media.ends_with("+json")
        }
        None => body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{' || b == b'['),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Passthrough;

    fn ctx(method: &str, path: &str) -> RequestContext {
        RequestContext {
            passthrough: Some(Passthrough {
                method: method.into(),
                path: path.into(),
            }),
            ..RequestContext::default()
        }
    }

    #[test]
    fn targets_are_checked() {
        let c = ctx("get", "/v1/models?limit=2");
        assert_eq!(
            passthrough_target("p", &c).unwrap(),
            ("GET".to_owned(), "/v1/models?limit=2")
        );
        for (method, path) in [
            ("POST", "v1/x"),
            ("POST", "//evil.example/x"),
            ("POST", "/a b"),
            ("POST", "/a\r\nx"),
            ("POST", "/a#b"),
            ("PO ST", "/a"),
            ("", "/a"),
        ] {
            let e = passthrough_target("p", &ctx(method, path)).unwrap_err();
            assert!(e.message.starts_with("p: passthrough"), "{}", e.message);
            assert!(e.param.as_deref().unwrap().starts_with("passthrough."));
        }
        assert!(passthrough_target("p", &RequestContext::default()).is_err());
    }

    #[test]
    fn bodies_keep_their_content_type() {
        let mut c = ctx("POST", "/x");
        c.content_type = Some("multipart/form-data; boundary=b".into());
        c.stream = true;
        let r = passthrough_request("POST".into(), "http://h/x".into(), b"--b--", &c);
        assert_eq!(
            r.headers,
            vec![
                (
                    "content-type".to_owned(),
                    "multipart/form-data; boundary=b".to_owned()
                ),
                ("accept".to_owned(), "text/event-stream".to_owned())
            ]
        );
        assert_eq!(r.body, b"--b--");
        let r = passthrough_request("GET".into(), "http://h/x".into(), b"", &ctx("GET", "/x"));
        assert!(r.headers.is_empty());
    }

    #[test]
    fn json_bodies_keep_their_members_and_stream_when_asked() {
        let body = br#"{"model":"g","input":[{"role":"user","content":"h\u00e9"}],"temperature":1.50,"mock_response":"x"}"#;
        let ctx = RequestContext {
            stream: true,
            ..RequestContext::default()
        };
        let (out, stream) = forward_json(RawObject::parse(body).unwrap(), "gpt-5", &ctx, &[]);
        assert!(stream);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"gpt-5","input":[{"role":"user","content":"h\u00e9"}],"temperature":1.50,"stream":true}"#
        );
        let (_, stream) = forward_json(
            RawObject::parse(br#"{"stream":true}"#).unwrap(),
            "m",
            &RequestContext::default(),
            &[],
        );
        assert!(stream);
        assert!(RawObject::parse(b"[]").is_err());
    }

    #[test]
    fn gateway_members_are_removed_and_the_rest_kept_byte_for_byte() {
        let body = br#"{"model":"m","fallbacks":["x"],"mock_response":"y","litellm_trace_id":"t","temperature":0.50,"extra":1}"#;
        let mut obj = RawObject::parse(body).unwrap();
        obj.remove_gateway_members(&["extra"]);
        assert_eq!(obj.to_vec(), br#"{"model":"m","temperature":0.50}"#);
    }
}

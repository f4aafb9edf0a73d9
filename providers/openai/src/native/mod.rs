//! OpenAI's endpoints beyond chat, embeddings and completions, served natively: the Responses
//! API, image generation, transcription, speech and pass-through routes. Bodies go upstream as
//! the client sent them (only `model` is pointed at the deployment) and come back unchanged;
//! the plugin reads the side data (usage, model, content type, the end of a stream).
//!
//! Shared by the `openai` and `azure_openai` plugins, which speak this wire format alike: the
//! Azure crate includes this directory by path. It needs nothing but the SDK, and belongs in
//! the SDK's `openai` module once these endpoints settle.

pub(crate) mod answers;
pub(crate) mod multipart;
pub(crate) mod stream;

pub use stream::EndpointDecoder;

use switchyard_plugin_sdk::openai::RawObject;
use switchyard_plugin_sdk::{ProviderError, RequestContext, UpstreamRequest};

/// A JSON endpoint's body: the client's, with `model` set to the deployment's and the
/// gateway-only members removed; every other member is copied byte for byte. Also whether the
/// request streams: the client asked for it in the context or the body (a body that does not
/// say gets `stream: true` when the context does).
pub(crate) fn json_body(
    body: &[u8],
    model: &str,
    context: &RequestContext,
    gateway_only: impl Fn(&str) -> bool,
) -> Result<(Vec<u8>, bool), ProviderError> {
    let mut obj = RawObject::parse(body)?;
    obj.set("model", model);
    let drop: Vec<String> = obj
        .keys()
        .filter(|k| gateway_only(k))
        .map(str::to_owned)
        .collect();
    for key in &drop {
        obj.remove(key);
    }
    let body_streams = obj.get("stream").is_some_and(|v| v.get() == "true");
    if context.stream && !body_streams {
        obj.set("stream", &true);
    }
    Ok((obj.to_vec(), context.stream || body_streams))
}

/// A `POST` of a JSON endpoint's body, asking for events when it streams.
pub(crate) fn post_json(url: String, body: Vec<u8>, stream: bool) -> UpstreamRequest {
    let request = UpstreamRequest::post_json(url, body);
    if stream {
        request.header("accept", "text/event-stream")
    } else {
        request
    }
}

/// A transcription request: the client's multipart form with its `model` field set to the
/// deployment's, sent with the form's content type (and so its boundary).
pub(crate) fn transcription_request(
    url: String,
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<UpstreamRequest, ProviderError> {
    let content_type = context.content_type.as_deref().ok_or_else(|| {
        ProviderError::invalid_request(
            "audio_transcriptions: the request has no Content-Type; a multipart/form-data form \
             with its boundary is required",
        )
    })?;
    let body = multipart::set_model(body, content_type, model)?;
    Ok(UpstreamRequest {
        method: "POST".to_owned(),
        url,
        headers: vec![("content-type".to_owned(), content_type.to_owned())],
        body,
        ..UpstreamRequest::default()
    })
}

/// The method and path of a pass-through request, checked: a method token, and a path that
/// starts with `/` and has no spaces, control characters or fragment, so the URL it is
/// appended to stays the deployment's.
pub(crate) fn passthrough_target(
    context: &RequestContext,
) -> Result<(String, &str), ProviderError> {
    let target = context.passthrough.as_ref().ok_or_else(|| {
        ProviderError::invalid_request(
            "passthrough: the request context has no passthrough method and path",
        )
    })?;
    let method = target.method.trim();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ProviderError::invalid_request(format!(
            "passthrough: '{method}' is not an HTTP method"
        )));
    }
    let path = target.path.as_str();
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        return Err(ProviderError::invalid_request(format!(
            "passthrough: the path '{}' must start with '/' and have no spaces, control \
             characters or '#'",
            path.escape_debug()
        )));
    }
    Ok((method.to_ascii_uppercase(), path))
}

/// A pass-through request: the client's body unchanged, with its content type (JSON when it
/// did not say and there is a body).
pub(crate) fn passthrough_request(
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::Passthrough;

    #[test]
    fn json_bodies_keep_their_members_and_stream_when_asked() {
        let body = br#"{"model":"g","input":[{"role":"user","content":"h\u00e9"}],"temperature":1.50,"mock_response":"x"}"#;
        let ctx = RequestContext {
            stream: true,
            ..RequestContext::default()
        };
        let (out, stream) = json_body(body, "gpt-5", &ctx, |k| k.starts_with("mock_")).unwrap();
        assert!(stream);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"gpt-5","input":[{"role":"user","content":"h\u00e9"}],"temperature":1.50,"stream":true}"#
        );
        let (_, stream) = json_body(
            br#"{"stream":true}"#,
            "m",
            &RequestContext::default(),
            |_| false,
        )
        .unwrap();
        assert!(stream);
        assert!(json_body(b"[]", "m", &RequestContext::default(), |_| false).is_err());
    }

    #[test]
    fn passthrough_targets_are_checked() {
        let ctx = |method: &str, path: &str| RequestContext {
            passthrough: Some(Passthrough {
                method: method.into(),
                path: path.into(),
            }),
            ..RequestContext::default()
        };
        let c = ctx("get", "/v1/models?limit=2");
        assert_eq!(
            passthrough_target(&c).unwrap(),
            ("GET".to_owned(), "/v1/models?limit=2")
        );
        for (method, path) in [
            ("POST", "v1/x"),
            ("POST", "/a b"),
            ("POST", "/a\r\nx"),
            ("POST", "/a#b"),
            ("PO ST", "/a"),
            ("", "/a"),
        ] {
            let e = passthrough_target(&ctx(method, path)).unwrap_err();
            assert!(e.message.starts_with("passthrough: "), "{}", e.message);
        }
        assert!(passthrough_target(&RequestContext::default()).is_err());
    }
}

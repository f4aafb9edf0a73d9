//! Pass-through requests (`/<provider>/<path>` on the gateway): the client's body goes to
//! `<api_base><path>` unchanged, with the client's method and content type; the plugin adds
//! only the deployment's credentials.
//!
//! Shared by the anthropic, cohere and gemini plugins (included by path); it needs nothing but
//! the SDK.

use switchyard_plugin_sdk::{ProviderError, RequestContext, ResponseHead, UpstreamRequest};

/// The method and path of a pass-through request, checked: an HTTP method token, and a path
/// that starts with `/` and has no spaces, control characters or fragment, so the URL it is
/// appended to stays the deployment's.
pub(crate) fn target<'a>(
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

/// The client's body unchanged, sent with its content type (JSON when it gave none and there
/// is a body), asking for events when the client streams.
pub(crate) fn request(
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
pub(crate) fn is_json(head: &ResponseHead, body: &[u8]) -> bool {
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
    use switchyard_plugin_sdk::Passthrough;

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
            target("p", &c).unwrap(),
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
            let e = target("p", &ctx(method, path)).unwrap_err();
            assert!(e.message.starts_with("p: passthrough"), "{}", e.message);
            assert!(e.param.as_deref().unwrap().starts_with("passthrough."));
        }
        assert!(target("p", &RequestContext::default()).is_err());
    }

    #[test]
    fn bodies_keep_their_content_type() {
        let mut c = ctx("POST", "/x");
        c.content_type = Some("multipart/form-data; boundary=b".into());
        c.stream = true;
        let r = request("POST".into(), "http://h/x".into(), b"--b--", &c);
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
        let r = request("GET".into(), "http://h/x".into(), b"", &ctx("GET", "/x"));
        assert!(r.headers.is_empty());
    }
}

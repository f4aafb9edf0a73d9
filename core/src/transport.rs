//! Performs the upstream exchanges plugins describe: over the network with hyper, or played
//! back from a [`SimulatedExchange`] (the mock provider) through the very same response path.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyDataStream, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use switchyard_plugin_sdk::{ResponseHead, SimulatedEnd, SimulatedExchange, UpstreamRequest};

/// A body arriving in pieces.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// An upstream response whose headers have arrived.
pub(crate) struct UpstreamResponse {
    pub head: ResponseHead,
    pub body: BodyStream,
}

impl fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamResponse")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// A failure below HTTP semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The request could not be built (bad URL, method or header from the plugin).
    InvalidRequest(String),
    /// No connection to the upstream.
    Connect(String),
    /// The connection broke while reading.
    Io(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::InvalidRequest(m) => write!(f, "invalid upstream request: {m}"),
            TransportError::Connect(m) => write!(f, "cannot connect to upstream: {m}"),
            TransportError::Io(m) => write!(f, "upstream connection failed: {m}"),
        }
    }
}

impl std::error::Error for TransportError {}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// Sends upstream requests. Cheap to clone (one connection pool).
///
/// hyper's pooled client, not reqwest: reqwest parsed every request's URL with the WHATWG
/// parser (IDNA host processing included) and ran it through redirect and retry layers the
/// gateway does not use — 16 % of its instructions per request in a callgrind profile against
/// 3 % left here (`docs/performance.md`).
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: Client,
}

impl Transport {
    pub(crate) fn new() -> Result<Self, String> {
        // rustls needs a crypto provider; the process-wide one if the embedding program
        // installed one, else ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()));
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        // The connector below decides the scheme.
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(provider)
            .map_err(|e| format!("cannot set up TLS for upstream requests: {e}"))?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Ok(Transport { client })
    }

    /// Sends `request`; returns once the response headers have arrived.
    pub(crate) async fn send(
        &self,
        request: UpstreamRequest,
    ) -> Result<UpstreamResponse, TransportError> {
        if let Some(simulated) = request.simulated {
            return Ok(play_back(simulated).await);
        }
        let http_request = build(request)?;
        let response = self.client.request(http_request).await.map_err(|e| {
            // Errors of the client name no URL (Gemini's carries the key in its query).
            TransportError::Connect(chain(&e))
        })?;
        let (parts, body) = response.into_parts();
        let head = ResponseHead {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        };
        let body = BodyDataStream::new(body).map(|r| r.map_err(|e| TransportError::Io(chain(&e))));
        Ok(UpstreamResponse {
            head,
            body: Box::pin(body),
        })
    }
}

/// The HTTP request a plugin described. Errors name the part that is wrong, never the URL.
fn build(request: UpstreamRequest) -> Result<Request<Full<Bytes>>, TransportError> {
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| TransportError::InvalidRequest(format!("method '{}'", request.method)))?;
    // The plugin's strings become the request's bytes without another copy.
    let uri = Uri::from_maybe_shared(Bytes::from(request.url))
        .map_err(|_| TransportError::InvalidRequest("the URL does not parse".to_owned()))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => {}
        _ => {
            return Err(TransportError::InvalidRequest(
                "the URL is not an absolute http(s) URL".to_owned(),
            ))
        }
    }
    let host = host_header(&uri);
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(headers) = builder.headers_mut() {
        headers.reserve(request.headers.len() + 1);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| TransportError::InvalidRequest(format!("header name '{name}'")))?;
            // The value may be a credential: not repeated in the message.
            let value = HeaderValue::from_str(value).map_err(|_| {
                TransportError::InvalidRequest(format!("the value of header '{name}'"))
            })?;
            headers.append(name, value);
        }
        if let Some(host) = host {
            // A plugin's own Host header stands.
            headers.entry(http::header::HOST).or_insert(host);
        }
    }
    builder
        .body(Full::new(Bytes::from(request.body)))
        .map_err(|e| TransportError::InvalidRequest(e.to_string()))
}

/// The `Host` header hyper-util's client would add for a plain-HTTP `uri` — the host, with the
/// port unless it is 80 — written here without `format!`, which hyper-util uses whenever the URL
/// names a port (2.2 k instructions a request to a local upstream, callgrind). `https` URLs are
/// left to hyper-util: their connection may turn out to be HTTP/2 (ALPN), which carries the
/// authority in `:authority` and gets no `Host` header from hyper-util; a plain-HTTP connection
/// is always HTTP/1.1 here.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host()?;
    match uri.port_u16() {
        Some(port) if port != 80 => {
            let mut digits = itoa::Buffer::new();
            let port = digits.format(port);
            let mut value = String::with_capacity(host.len() + 1 + port.len());
            value.push_str(host);
            value.push(':');
            value.push_str(port);
            HeaderValue::try_from(value).ok()
        }
        _ => HeaderValue::from_str(host).ok(),
    }
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

async fn play_back(sim: SimulatedExchange) -> UpstreamResponse {
    if sim.end == SimulatedEnd::Hang && sim.chunks.is_empty() {
        // A stalled upstream: not even headers arrive. The caller's timeout decides.
        std::future::pending::<()>().await;
    }
    if sim.first_byte_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(sim.first_byte_delay_ms)).await;
    }
    let head = ResponseHead {
        status: sim.status,
        headers: sim.headers,
    };
    let delay = Duration::from_millis(sim.chunk_delay_ms);
    let end = sim.end;
    let chunks =
        stream::iter(sim.chunks.into_iter().enumerate()).then(move |(i, chunk)| async move {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(Bytes::from(chunk))
        });
    let tail: BodyStream = match end {
        SimulatedEnd::Complete => Box::pin(stream::empty()),
        SimulatedEnd::Drop => Box::pin(stream::once(async {
            Err(TransportError::Io(
                "connection closed before the body was complete".to_owned(),
            ))
        })),
        SimulatedEnd::Hang => Box::pin(stream::pending()),
    };
    UpstreamResponse {
        head,
        body: Box::pin(chunks.chain(tail)),
    }
}

/// Reads a whole body, failing beyond `limit` bytes.
pub(crate) async fn read_to_end(
    mut body: BodyStream,
    limit: usize,
) -> Result<Bytes, TransportError> {
    // Most bodies arrive in one piece: keep it without copying until a second one comes.
    let mut first: Option<Bytes> = None;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        total += chunk.len();
        if total > limit {
            return Err(TransportError::Io(format!(
                "upstream body exceeds {limit} bytes"
            )));
        }
        if first.is_none() && buf.is_empty() {
            first = Some(chunk);
        } else {
            if let Some(f) = first.take() {
                buf.extend_from_slice(&f);
            }
            buf.extend_from_slice(&chunk);
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn simulated_exchange_plays_chunks_then_drops() {
        let sim = SimulatedExchange {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            chunks: vec![b"a".to_vec(), b"b".to_vec()],
            end: SimulatedEnd::Drop,
            ..SimulatedExchange::default()
        };
        let response = play_back(sim).await;
        assert_eq!(response.head.status, 200);
        let items: Vec<_> = response.body.collect().await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap(), &Bytes::from_static(b"a"));
        assert!(items[2].is_err());
    }

    #[tokio::test]
    async fn read_to_end_enforces_the_limit() {
        let body: BodyStream = Box::pin(stream::iter(vec![
            Ok(Bytes::from_static(b"12345")),
            Ok(Bytes::from_static(b"678")),
        ]));
        assert!(read_to_end(body, 6).await.is_err());
    }

    fn request(url: &str, headers: &[(&str, &str)]) -> UpstreamRequest {
        let mut r = UpstreamRequest::post_json(url, b"{}".to_vec());
        for (n, v) in headers {
            r = r.header(*n, *v);
        }
        r
    }

    #[test]
    fn provider_urls_are_accepted_as_they_are() {
        for url in [
            "https://api.openai.com/v1/chat/completions",
            "http://127.0.0.1:8080/v1/chat/completions?api-version=2024-10-21",
            // Vertex model versions and Bedrock model ids put '@' and ':' in paths.
            "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet@20240620:streamRawPredict",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=AIza-secret",
        ] {
            let built = build(request(url, &[("authorization", "Bearer sk-1")])).unwrap();
            assert_eq!(built.uri().to_string(), url);
            assert_eq!(built.headers()["authorization"], "Bearer sk-1");
            assert_eq!(built.method(), Method::POST);
        }
    }

    /// On plain HTTP the Host header is what hyper-util's client would have written: the host,
    /// and the port unless it is 80; never the URL's user information. HTTPS requests get none
    /// here (hyper-util adds it on HTTP/1.1; HTTP/2 carries `:authority` instead).
    #[test]
    fn the_host_header_is_the_urls_host_and_non_default_port() {
        for (url, host) in [
            (
                "http://127.0.0.1:18081/v1/chat/completions",
                Some("127.0.0.1:18081"),
            ),
            ("http://localhost:80/v1", Some("localhost")),
            ("http://localhost/v1", Some("localhost")),
            ("http://localhost:443/v1", Some("localhost:443")),
            (
                "http://user:secret@example.com:08080/v1",
                Some("example.com:8080"),
            ),
            ("http://[::1]:8000/v1", Some("[::1]:8000")),
            ("https://api.openai.com/v1/chat/completions", None),
            ("https://localhost:8443/v1", None),
        ] {
            let built = build(request(url, &[])).unwrap();
            let sent: Vec<_> = built.headers().get_all(http::header::HOST).iter().collect();
            assert_eq!(sent, host.into_iter().collect::<Vec<_>>(), "{url}");
        }
        let own = build(request("http://h:8080/x", &[("host", "other.example")])).unwrap();
        let sent: Vec<_> = own.headers().get_all(http::header::HOST).iter().collect();
        assert_eq!(sent, ["other.example"]);
    }

    /// HTTP allows bytes beyond ASCII in a header value (obs-text): a plugin's non-ASCII value
    /// goes upstream byte for byte, as `HeaderValue::from_str` lets it.
    #[test]
    fn non_ascii_header_values_pass_unchanged() {
        let built = build(request("https://h/x", &[("x-user", "żółw")])).unwrap();
        assert_eq!(built.headers()["x-user"].as_bytes(), "żółw".as_bytes());
    }

    #[test]
    fn bad_requests_are_named_without_the_url_or_credentials() {
        for (req, names) in [
            (request("not a url?key=AIza-secret", &[]), "URL"),
            (
                request("ftp://h/x?key=AIza-secret", &[]),
                "absolute http(s)",
            ),
            (
                request("/v1/relative?key=AIza-secret", &[]),
                "absolute http(s)",
            ),
            (
                request(
                    "https://h/x?key=AIza-secret",
                    &[("x-api-key", "sk-ant\nsecret")],
                ),
                "header 'x-api-key'",
            ),
            (
                request("https://h/x?key=AIza-secret", &[("bad header", "v")]),
                "header name",
            ),
        ] {
            let e = build(req).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, TransportError::InvalidRequest(_)), "{text}");
            assert!(text.contains(names), "{text}");
            assert!(!text.contains("secret"), "{text}");
        }
        let mut bad_method = request("https://h/x", &[]);
        bad_method.method = "GE T".to_owned();
        assert!(build(bad_method)
            .unwrap_err()
            .to_string()
            .contains("method"));
    }

    /// A refused connection is a `Connect` error (retryable), named without the URL's query.
    #[tokio::test]
    async fn refused_connections_are_connect_errors() {
        let transport = Transport::new().unwrap();
        let e = transport
            .send(request("http://127.0.0.1:9/v1/x?key=AIza-secret", &[]))
            .await
            .unwrap_err();
        assert!(matches!(e, TransportError::Connect(_)), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}

//! Performs the upstream exchanges plugins describe: over the network with reqwest, or played
//! back from a [`SimulatedExchange`] (the mock provider) through the very same response path.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
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

/// Sends upstream requests. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
}

impl Transport {
    pub(crate) fn new() -> Result<Self, String> {
        // rustls needs a process-wide crypto provider; ring unless the embedding program
        // installed another one already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            // Upstream bodies are forwarded as they are: no transparent decompression.
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
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
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| TransportError::InvalidRequest(format!("method '{}'", request.method)))?;
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder.body(request.body).send().await.map_err(|e| {
            if e.is_builder() {
                TransportError::InvalidRequest(without_url(&e))
            } else {
                TransportError::Connect(without_url(&e))
            }
        })?;
        let head = ResponseHead {
            status: response.status().as_u16(),
            headers: response
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        };
        let body = response
            .bytes_stream()
            .map(|r| r.map_err(|e| TransportError::Io(without_url(&e))));
        Ok(UpstreamResponse {
            head,
            body: Box::pin(body),
        })
    }
}

/// reqwest errors print the URL, which may carry a key in its query (Gemini's `?key=`).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), &redacted_url(url));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn redacted_url(url: &reqwest::Url) -> String {
    let mut clean = url.clone();
    clean.set_query(None);
    let _ = clean.set_password(None);
    clean.to_string()
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
}

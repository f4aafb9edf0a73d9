//! A streaming chat response: upstream bytes → plugin stream decoder → OpenAI SSE bytes.
//!
//! The stream is pulled by the client connection itself (no task in between), so a client that
//! goes away drops the stream, which drops the upstream response and cancels the upstream
//! request: nothing is left running.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use switchyard_plugin_sdk::host::StreamDecoderInstance;
use switchyard_plugin_sdk::{ErrorKind, ResponseInfo, StreamOutput};
use tokio::time::{Instant, Sleep};

use crate::error::{ErrorOrigin, GatewayError};
use crate::transport::BodyStream;

/// How a committed stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutcome {
    /// The upstream finished and every byte was handed to the client connection.
    Completed,
    /// The upstream failed after the first chunk; the client got a final error event.
    Failed(GatewayError),
    /// The client went away before the end.
    ClientDisconnected,
}

/// What the gateway learns when a stream ends, exactly once.
#[derive(Debug, Clone)]
pub struct StreamEnd {
    pub outcome: StreamOutcome,
    pub info: ResponseInfo,
    pub chunks: u64,
}

/// The protocol a stream speaks to the client, which decides how it ends and how a failure
/// after the commit point is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// OpenAI chat and completion chunks: ends with `data: [DONE]` (added when the upstream
    /// never said it); a failure is one `data: {"error": …}` event, then `[DONE]`.
    OpenAi,
    /// Anthropic Messages events: a failure is an `event: error` with Anthropic's error object.
    Messages,
    /// Responses API events: a failure is an `event: error` with the error's code and message.
    Responses,
    /// A pass-through stream in the provider's own protocol: nothing is added to it.
    Raw,
}

impl Framing {
    /// The framing of an endpoint's native stream.
    pub(crate) fn of(endpoint: &str) -> Framing {
        match endpoint {
            "chat" | "completions" => Framing::OpenAi,
            "messages" => Framing::Messages,
            "responses" => Framing::Responses,
            _ => Framing::Raw,
        }
    }

    /// How a failure after the commit point reaches the client, if at all.
    pub(crate) fn error_event(self, e: &GatewayError) -> Option<Bytes> {
        match self {
            Framing::OpenAi => Some(e.to_sse_event()),
            Framing::Messages => {
                let data = crate::messages::to_error(&e.to_json_body(), e.status);
                Some(Bytes::from(format!(
                    "event: error\ndata: {}\n\n",
                    String::from_utf8_lossy(&data)
                )))
            }
            Framing::Responses => {
                let data = serde_json::json!({
                    "type": "error",
                    "code": e.code.as_deref().unwrap_or(e.kind.as_str()),
                    "message": e.client_message(),
                    "param": e.param,
                });
                Some(Bytes::from(format!("event: error\ndata: {data}\n\n")))
            }
            Framing::Raw => None,
        }
    }
}

/// Called once when a committed stream ends, however it ends.
pub(crate) type StreamObserver = Box<dyn FnOnce(StreamEnd) + Send>;

/// An upstream stream being translated to OpenAI SSE.
pub struct ChatStream {
    upstream: BodyStream,
    decoder: StreamDecoderInstance,
    /// Output produced but not yet handed out (SSE bytes, then maybe an error).
    ready: Option<Bytes>,
    failed: Option<GatewayError>,
    timer: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    info: ResponseInfo,
    saw_done: bool,
    framing: Framing,
    finished: bool,
    chunks: u64,
    origin: Arc<ErrorOrigin>,
    observer: Option<StreamObserver>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// `first_chunk_deadline` bounds the wait for the first output; afterwards every silence
    /// longer than `idle_timeout` ends the stream.
    pub fn new(
        upstream: BodyStream,
        decoder: StreamDecoderInstance,
        first_chunk_deadline: Instant,
        idle_timeout: Duration,
        origin: Arc<ErrorOrigin>,
        framing: Framing,
    ) -> Self {
        ChatStream {
            upstream,
            decoder,
            ready: None,
            failed: None,
            timer: Box::pin(tokio::time::sleep_until(first_chunk_deadline)),
            idle_timeout,
            info: ResponseInfo::default(),
            saw_done: false,
            framing,
            finished: false,
            chunks: 0,
            origin,
            observer: None,
        }
    }

    /// Sets the callback for the end of the stream (after the commit point).
    pub fn observe(&mut self, observer: StreamObserver) {
        self.observer = Some(observer);
    }

    /// How a failure after the commit point is written to the client, if at all.
    pub(crate) fn error_event(&self, e: &GatewayError) -> Option<Bytes> {
        self.framing.error_event(e)
    }

    pub fn info(&self) -> &ResponseInfo {
        &self.info
    }

    fn absorb(&mut self, out: StreamOutput) {
        self.info.merge(out.info);
        self.saw_done |= out.done;
        if !out.sse.is_empty() {
            self.ready = Some(Bytes::from(out.sse));
        }
        if let Some(e) = out.error {
            self.failed = Some(GatewayError::from_provider(e, self.origin.clone()));
        }
    }

    fn end(&mut self, outcome: StreamOutcome) {
        self.finished = true;
        if let Some(observer) = self.observer.take() {
            observer(StreamEnd {
                outcome,
                info: self.info.clone(),
                chunks: self.chunks,
            });
        }
    }

    fn upstream_error(&self, message: String) -> GatewayError {
        GatewayError::new(ErrorKind::Unavailable, message)
            .with_status(502)
            .with_origin(self.origin.clone())
    }
}

impl Stream for ChatStream {
    /// SSE bytes, or the error that ends the stream.
    type Item = Result<Bytes, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.ready.take() {
                this.chunks += 1;
                return Poll::Ready(Some(Ok(bytes)));
            }
            if let Some(e) = this.failed.take() {
                this.end(StreamOutcome::Failed(e.clone()));
                return Poll::Ready(Some(Err(e)));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    let out = this.decoder.feed(&bytes);
                    this.absorb(out);
                    // Before the first output the deadline is the time-to-first-chunk bound;
                    // after it, any upstream bytes (keep-alive pings too) prove liveness.
                    if this.chunks > 0 || this.ready.is_some() {
                        let deadline = Instant::now() + this.idle_timeout;
                        this.timer.as_mut().reset(deadline);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.failed =
                        Some(this.upstream_error(format!("upstream stream broke off: {e}")));
                }
                Poll::Ready(None) => {
                    let out = this.decoder.finish();
                    this.absorb(out);
                    if this.failed.is_none() {
                        if !this.saw_done && this.framing == Framing::OpenAi {
                            // Every OpenAI stream ends with [DONE]; some upstreams never say it.
                            let mut tail =
                                this.ready.take().map(|b| b.to_vec()).unwrap_or_default();
                            tail.extend_from_slice(b"data: [DONE]\n\n");
                            this.ready = Some(Bytes::from(tail));
                        }
                        if let Some(bytes) = this.ready.take() {
                            this.chunks += 1;
                            this.end(StreamOutcome::Completed);
                            return Poll::Ready(Some(Ok(bytes)));
                        }
                        this.end(StreamOutcome::Completed);
                        return Poll::Ready(None);
                    }
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        let e = GatewayError::new(
                            ErrorKind::Timeout,
                            if this.chunks == 0 {
                                "upstream sent no stream chunk in time".to_owned()
                            } else {
                                format!(
                                    "upstream stream stalled for more than {:.1}s",
                                    this.idle_timeout.as_secs_f64()
                                )
                            },
                        )
                        .with_code("timeout")
                        .with_origin(this.origin.clone());
                        this.failed = Some(e);
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        if !self.finished && self.observer.is_some() {
            self.end(StreamOutcome::ClientDisconnected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_after_the_commit_point_is_written_in_the_streams_own_protocol() {
        let e = GatewayError::new(ErrorKind::RateLimit, "slow down").with_code("rate_limit");
        let text = |f: Framing| {
            f.error_event(&e)
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
        };
        let openai = text(Framing::OpenAi).unwrap();
        assert!(openai.starts_with("data: {\"error\""), "{openai}");
        assert!(openai.ends_with("data: [DONE]\n\n"));
        let messages = text(Framing::Messages).unwrap();
        assert!(messages.starts_with("event: error\ndata: "), "{messages}");
        assert!(messages.contains("\"rate_limit_error\""), "{messages}");
        let responses = text(Framing::Responses).unwrap();
        assert!(responses.starts_with("event: error\ndata: "), "{responses}");
        assert!(responses.contains("\"code\":\"rate_limit\""), "{responses}");
        assert!(!messages.contains("[DONE]") && !responses.contains("[DONE]"));
        assert_eq!(text(Framing::Raw), None);
        assert_eq!(Framing::of("chat"), Framing::OpenAi);
        assert_eq!(Framing::of("passthrough"), Framing::Raw);
    }
}

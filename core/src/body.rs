//! The response body type of the gateway service: a whole body, or a chat stream that ends
//! with an OpenAI-format error event if the upstream fails after the commit point.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};

use crate::stream::ChatStream;

/// A response body.
#[derive(Debug)]
pub struct GatewayBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Stream {
        first: Option<Bytes>,
        rest: Box<ChatStream>,
        done: bool,
    },
    /// Another body with every frame rewritten (and a last frame added at its end).
    Mapped {
        inner: Box<GatewayBody>,
        map: FrameMap,
        done: bool,
    },
}

/// A frame rewriter: called with each frame (`Some`), then once with `None` for closing bytes.
pub(crate) type FrameFn = dyn FnMut(Option<&[u8]>) -> Bytes + Send;

/// Rewrites a frame (`Some`) or produces the closing bytes (`None`).
pub(crate) struct FrameMap(pub(crate) Box<FrameFn>);

impl std::fmt::Debug for FrameMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameMap")
    }
}

impl GatewayBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        GatewayBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    pub fn empty() -> Self {
        GatewayBody {
            kind: Kind::Full(None),
        }
    }

    /// `inner` with each frame rewritten by `map`, and `map(None)` sent at the end.
    pub(crate) fn mapped(inner: GatewayBody, map: FrameMap) -> Self {
        GatewayBody {
            kind: Kind::Mapped {
                inner: Box::new(inner),
                map,
                done: false,
            },
        }
    }

    /// A committed stream: `first` is sent at once, then the rest as it arrives.
    pub fn stream(first: Bytes, rest: Box<ChatStream>) -> Self {
        GatewayBody {
            kind: Kind::Stream {
                first: (!first.is_empty()).then_some(first),
                rest,
                done: false,
            },
        }
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream { first, rest, done } => {
                if let Some(b) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                if *done {
                    return Poll::Ready(None);
                }
                match Pin::new(rest.as_mut()).poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                    Poll::Ready(Some(Err(e))) => {
                        *done = true;
                        match rest.error_event(&e) {
                            Some(event) => Poll::Ready(Some(Ok(Frame::data(event)))),
                            None => Poll::Ready(None),
                        }
                    }
                    Poll::Ready(None) => {
                        *done = true;
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
            Kind::Mapped { inner, map, done } => loop {
                if *done {
                    return Poll::Ready(None);
                }
                match Pin::new(inner.as_mut()).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        let Some(data) = frame.data_ref() else {
                            continue;
                        };
                        let out = (map.0)(Some(data));
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                    }
                    Poll::Ready(None) => {
                        *done = true;
                        let out = (map.0)(None);
                        return Poll::Ready((!out.is_empty()).then(|| Ok(Frame::data(out))));
                    }
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Err(never))) => match never {},
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Stream { first, done, .. } => first.is_none() && *done,
            Kind::Mapped { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream { .. } | Kind::Mapped { .. } => SizeHint::default(),
        }
    }
}

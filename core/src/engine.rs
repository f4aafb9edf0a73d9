//! Executes one request: pick a deployment → the plugin builds the upstream request → the
//! transport sends it → the plugin parses or decodes the answer → classify.
//!
//! Stream commit point (DESIGN.md): a streaming answer is returned only once its first good
//! chunk has arrived, so every failure before it is an ordinary error the caller can retry or
//! turn into a JSON error response with the right status.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard_plugin_sdk::{ErrorKind, RequestContext, ResponseInfo};
use tokio::time::Instant;

use crate::error::{ErrorOrigin, GatewayError};
use crate::registry::{Deployment, Deployments};
use crate::router;
use crate::stream::ChatStream;
use crate::transport::{read_to_end, Transport, TransportError};

/// Largest upstream body read for a non-stream answer.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// A validated chat request.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest {
    pub request_id: String,
    /// The model group the client asked for.
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub drop_params: bool,
    /// The client's body, untouched.
    pub body: Bytes,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) enum ChatAnswer {
    Complete {
        body: Bytes,
        info: ResponseInfo,
    },
    /// Committed: the first chunk is in hand, the rest follows.
    Stream {
        first: Bytes,
        rest: Box<ChatStream>,
    },
}

/// An answer and who served it.
#[derive(Debug)]
pub(crate) struct Served {
    pub answer: ChatAnswer,
    pub deployment: Arc<Deployment>,
    /// Time spent waiting on the upstream (to the whole body, or to the first chunk).
    pub upstream_time: Duration,
}

/// Runs requests against the configured deployments.
#[derive(Debug)]
pub(crate) struct Engine {
    transport: Transport,
    deployments: Arc<Deployments>,
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn origin_of(d: &Deployment) -> Arc<ErrorOrigin> {
    d.origin.clone()
}

fn transport_error(e: TransportError, origin: &Arc<ErrorOrigin>) -> GatewayError {
    let (kind, status) = match e {
        TransportError::InvalidRequest(_) => (ErrorKind::Internal, 500),
        TransportError::Connect(_) => (ErrorKind::Unavailable, 502),
        TransportError::Io(_) => (ErrorKind::Unavailable, 502),
    };
    GatewayError::new(kind, e.to_string())
        .with_status(status)
        .with_origin(origin.clone())
}

fn timeout_error(what: &str, limit: Duration, origin: &Arc<ErrorOrigin>) -> GatewayError {
    GatewayError::new(
        ErrorKind::Timeout,
        format!("upstream did not {what} within {:.1}s", limit.as_secs_f64()),
    )
    .with_code("timeout")
    .with_origin(origin.clone())
}

impl Engine {
    pub(crate) fn new(transport: Transport, deployments: Arc<Deployments>) -> Self {
        Engine {
            transport,
            deployments,
        }
    }

    pub(crate) fn deployments(&self) -> &Arc<Deployments> {
        &self.deployments
    }

    /// Answers a chat request.
    pub(crate) async fn chat(&self, request: &ChatRequest) -> Result<Served, GatewayError> {
        let group = self.deployments.group(&request.model).ok_or_else(|| {
            GatewayError::new(
                ErrorKind::NotFound,
                format!("model '{}' is not served by this gateway", request.model),
            )
            .with_code("model_not_found")
            .with_param("model")
        })?;
        let deployment = router::pick(group).ok_or_else(|| {
            GatewayError::new(
                ErrorKind::Unavailable,
                format!("model group '{}' has no deployment", group.name),
            )
        })?;
        self.attempt(deployment.clone(), request, 0).await
    }

    async fn attempt(
        &self,
        deployment: Arc<Deployment>,
        request: &ChatRequest,
        attempt: u32,
    ) -> Result<Served, GatewayError> {
        let origin = origin_of(&deployment);
        let context = RequestContext {
            request_id: request.request_id.clone(),
            attempt,
            now_unix_ms: now_unix_ms(),
            stream: request.stream,
            include_usage: request.include_usage,
            drop_params: request.drop_params,
            auth_token: None,
        };
        let upstream_request = deployment
            .instance
            .build_request("chat", &request.body, &context)
            .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;

        let started = Instant::now();
        let limit = if request.stream {
            deployment.stream_timeout
        } else {
            deployment.timeout
        };
        let deadline = started + limit;
        let response =
            match tokio::time::timeout_at(deadline, self.transport.send(upstream_request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return Err(transport_error(e, &origin)),
                Err(_) => return Err(timeout_error("answer", limit, &origin)),
            };

        if !(200..300).contains(&response.head.status) {
            let body = match tokio::time::timeout_at(
                deadline,
                read_to_end(response.body, MAX_UPSTREAM_BODY),
            )
            .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(_)) | Err(_) => Bytes::new(),
            };
            let e = deployment.instance.classify_error(&response.head, &body);
            return Err(GatewayError::from_provider(e, origin));
        }

        if !request.stream {
            let body = match tokio::time::timeout_at(
                deadline,
                read_to_end(response.body, MAX_UPSTREAM_BODY),
            )
            .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => return Err(transport_error(e, &origin)),
                Err(_) => return Err(timeout_error("answer", limit, &origin)),
            };
            let upstream_time = started.elapsed();
            let parsed = deployment
                .instance
                .parse_response(&response.head, &body)
                .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;
            return Ok(Served {
                answer: ChatAnswer::Complete {
                    body: Bytes::from(parsed.body),
                    info: parsed.info,
                },
                deployment,
                upstream_time,
            });
        }

        let decoder = deployment
            .instance
            .stream_decoder(&context)
            .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;
        let mut stream = Box::new(ChatStream::new(
            response.body,
            decoder,
            deadline,
            deployment.stream_timeout,
            origin,
        ));
        let first = match stream.next().await {
            Some(Ok(first)) => first,
            Some(Err(e)) => return Err(e),
            None => Bytes::new(),
        };
        let upstream_time = started.elapsed();
        Ok(Served {
            answer: ChatAnswer::Stream {
                first,
                rest: stream,
            },
            deployment,
            upstream_time,
        })
    }
}

//! An OpenAI-compatible upstream that runs inside a test, with faults chosen by path prefix
//! (the same scheme as the LiteLLM reference recordings):
//!
//! | `api_base` | behaviour |
//! |---|---|
//! | `http://ADDR/v1` | normal answers (stream and non-stream) |
//! | `http://ADDR/fail429/v1` | 429 with `Retry-After: 7` |
//! | `http://ADDR/fail500/v1` | 500 |
//! | `http://ADDR/hang/v1` | never answers |
//! | `http://ADDR/drop/v1` | streams two chunks, then breaks the connection |
//! | `http://ADDR/slow/v1` | streams 50 chunks, 100 ms apart |
//! | `http://ADDR/stall/v1` | sends stream headers, then nothing (no first chunk) |
//! | `http://ADDR/pause/v1` | streams one chunk, then stays silent for 5 s |
//! | `http://ADDR/errfirst/v1` | a 200 stream whose first event is an error event |
//! | `http://ADDR/ctx/v1` | 400 `context_length_exceeded` |
//! | `http://ADDR/overloaded` | (Anthropic `/v1/messages`) a stream that starts, then an `overloaded_error` event |
//! | `POST http://ADDR/v1/token` | a token endpoint: `{"access_token": "tok-N", "expires_in": 3600}` (N counts calls) |
//!
//! It records every request, and counts streams whose client went away.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    streams_started: AtomicUsize,
    streams_finished: AtomicUsize,
    streams_cancelled: AtomicUsize,
    tokens_issued: AtomicUsize,
}

/// A running fake upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Upstream {
    /// Starts the server on an ephemeral loopback port, on the current tokio runtime.
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(req, state).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream { addr, state }
    }

    /// `api_base` for a behaviour prefix (`""`, `"fail429"`, `"hang"`, ...).
    pub fn api_base(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("http://{}/v1", self.addr)
        } else {
            format!("http://{}/{prefix}/v1", self.addr)
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn streams_started(&self) -> usize {
        self.state.streams_started.load(Ordering::SeqCst)
    }

    pub fn streams_finished(&self) -> usize {
        self.state.streams_finished.load(Ordering::SeqCst)
    }

    /// Tokens the `/token` endpoint handed out.
    pub fn tokens_issued(&self) -> usize {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// Streams whose reader went away before the end.
    pub fn streams_cancelled(&self) -> usize {
        self.state.streams_cancelled.load(Ordering::SeqCst)
    }
}

fn sse(events: Vec<(String, serde_json::Value)>) -> Response<Body> {
    let text: String = events
        .into_iter()
        .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
        .collect();
    let mut response = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    response
}

/// OpenAI's Responses API: the answer counts the input items it was given, so a test can see
/// the conversation the gateway sent.
fn responses_answer(model: &str, body: &serde_json::Value, stream: bool) -> Response<Body> {
    let items = body["input"].as_array().map_or(1, Vec::len);
    let text = format!("Responses from upstream to {model} with {items} input items");
    let response = |status: &str, output: serde_json::Value| {
        serde_json::json!({"id": "resp_upstream_1", "object": "response", "created_at": 1,
            "status": status, "model": model, "output": output,
            "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": 19}})
    };
    let message = serde_json::json!([{"type": "message", "id": "msg_1", "status": "completed",
        "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}]);
    if !stream {
        return json(200, response("completed", message));
    }
    let done = response("completed", message);
    sse(vec![
        (
            "response.created".to_owned(),
            serde_json::json!({"type": "response.created",
            "sequence_number": 0, "response": response("in_progress", serde_json::json!([]))}),
        ),
        (
            "response.output_text.delta".to_owned(),
            serde_json::json!({"type": "response.output_text.delta",
            "sequence_number": 1, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": text}),
        ),
        (
            "response.completed".to_owned(),
            serde_json::json!({"type": "response.completed",
            "sequence_number": 2, "response": done}),
        ),
    ])
}

/// Anthropic's Messages API; `overloaded` (the `overloaded/` prefix): a stream that starts,
/// then reports `overloaded_error` in an `error` event.
fn messages_answer(model: &str, stream: bool, overloaded: bool) -> Response<Body> {
    let text = format!("Messages from upstream to {model}");
    if !stream {
        return json(
            200,
            serde_json::json!({"id": "msg_up_1", "type": "message", "role": "assistant",
                "model": model, "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 9, "output_tokens": 5}}),
        );
    }
    let start = (
        "message_start".to_owned(),
        serde_json::json!({"type": "message_start", "message": {
            "id": "msg_up_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 9, "output_tokens": 1}}}),
    );
    if overloaded {
        return sse(vec![
            start,
            (
                "error".to_owned(),
                serde_json::json!({"type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
        ]);
    }
    sse(vec![
        start,
        (
            "content_block_start".to_owned(),
            serde_json::json!({"type": "content_block_start",
            "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta".to_owned(),
            serde_json::json!({"type": "content_block_delta",
            "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ),
        (
            "content_block_stop".to_owned(),
            serde_json::json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta".to_owned(),
            serde_json::json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        ),
        (
            "message_stop".to_owned(),
            serde_json::json!({"type": "message_stop"}),
        ),
    ])
}

fn json(status: u16, value: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(value.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

fn completion(model: &str, content: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-upstream-1",
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                  "prompt_tokens_details": {"cached_tokens": 3},
                  "completion_tokens_details": {"reasoning_tokens": 2}}
    })
}

fn chunk(model: &str, delta: serde_json::Value, finish: Option<&str>) -> Bytes {
    let v = serde_json::json!({
        "id": "chatcmpl-upstream-1", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": null
    });
    Bytes::from(format!("data: {v}\n\n"))
}

fn usage_chunk(model: &str) -> Bytes {
    let v = serde_json::json!({
        "id": "chatcmpl-upstream-1", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": model, "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    });
    Bytes::from(format!("data: {v}\n\n"))
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Body> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    // Non-JSON bodies (a form-encoded token request) are kept as text.
    let body: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    state.requests.lock().unwrap().push(Recorded {
        method,
        path: path.clone(),
        headers,
        body: body.clone(),
    });

    let prefix = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);

    match prefix.as_str() {
        "fail429" => {
            let mut r = json(
                429,
                serde_json::json!({"error": {"message": "Rate limit reached for requests",
                    "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
            );
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            return r;
        }
        "fail500" => {
            return json(
                500,
                serde_json::json!({"error": {"message": "The server had an error",
                    "type": "server_error", "param": null, "code": null}}),
            )
        }
        "hang" => {
            std::future::pending::<()>().await;
        }
        "ctx" => {
            return json(
                400,
                serde_json::json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
                    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
            )
        }
        _ => {}
    }
    if path.ends_with("/token") {
        let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        // Slow enough that concurrent requests pile up behind one refresh.
        tokio::time::sleep(Duration::from_millis(200)).await;
        return json(
            200,
            serde_json::json!({"access_token": format!("tok-{n}"), "expires_in": 3600, "token_type": "Bearer"}),
        );
    }
    if path.ends_with("/embeddings") {
        return json(
            200,
            serde_json::json!({"object": "list", "model": model,
                "data": [{"object": "embedding", "index": 0, "embedding": [0.6, 0.8]}],
                "usage": {"prompt_tokens": 5, "total_tokens": 5}}),
        );
    }
    if path.ends_with("/v1/completions") && !stream {
        return json(
            200,
            serde_json::json!({"id": "cmpl-1", "object": "text_completion", "model": model,
                "choices": [{"index": 0, "text": " world", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}}),
        );
    }
    if path.ends_with("/v1/responses") {
        return responses_answer(&model, &body, stream);
    }
    if path.ends_with("/v1/messages") {
        return messages_answer(&model, stream, prefix == "overloaded");
    }
    if !path.ends_with("/chat/completions") {
        return json(
            404,
            serde_json::json!({"error": {"message": "no such path", "type": "invalid_request_error"}}),
        );
    }
    if !stream {
        let content = format!("Hello from upstream to {model}");
        return json(200, completion(&model, &content));
    }

    if prefix == "stall" || prefix == "errfirst" {
        let body: Body = if prefix == "stall" {
            StreamBody::new(futures_util::stream::pending::<
                Result<Frame<Bytes>, std::io::Error>,
            >())
            .boxed()
        } else {
            let event = Bytes::from(format!(
                "data: {}\n\n",
                serde_json::json!({"error": {"message": "The server had an error while processing your request",
                    "type": "server_error", "param": null, "code": null}})
            ));
            Full::new(event).map_err(|never| match never {}).boxed()
        };
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        return response;
    }
    let (chunks, delay, drop_after) = match prefix.as_str() {
        "slow" => (50, Duration::from_millis(100), None),
        "drop" => (10, Duration::from_millis(20), Some(2)),
        "pause" => (2, Duration::from_secs(5), None),
        _ => (3, Duration::ZERO, None),
    };
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    state.streams_started.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        let send = |b: Bytes| tx.send(Ok(Frame::data(b)));
        let mut ok = send(chunk(
            &model,
            serde_json::json!({"role": "assistant", "content": ""}),
            None,
        ))
        .await
        .is_ok();
        for i in 0..chunks {
            if !ok {
                break;
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if Some(i) == drop_after {
                let _ = tx
                    .send(Err(std::io::Error::other("dropped on purpose")))
                    .await;
                return;
            }
            ok = send(chunk(
                &model,
                serde_json::json!({"content": format!("w{i} ")}),
                None,
            ))
            .await
            .is_ok();
        }
        if ok {
            ok = send(chunk(&model, serde_json::json!({}), Some("stop")))
                .await
                .is_ok();
        }
        if ok && include_usage {
            ok = send(usage_chunk(&model)).await.is_ok();
        }
        if ok {
            ok = send(Bytes::from_static(b"data: [DONE]\n\n")).await.is_ok();
        }
        // The reader dropping its end is how a cancelled upstream request shows here.
        if ok {
            state.streams_finished.fetch_add(1, Ordering::SeqCst);
        } else {
            state.streams_cancelled.fetch_add(1, Ordering::SeqCst);
        }
    });
    let mut rx = rx;
    let body = StreamBody::new(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))).boxed();
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    response
}

/// One canned upstream answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// More response headers (lower-case names), as recorded: `x-amzn-errortype`,
    /// `retry-after`, …
    pub headers: Vec<(String, String)>,
}

/// An upstream that answers every request with the next canned response (the last one
/// repeats), recording the requests: for replaying recorded provider traffic through the host.
#[derive(Debug, Clone)]
pub struct Replay {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Replay {
    pub async fn start(answers: Vec<Canned>) -> Replay {
        assert!(!answers.is_empty(), "a replay needs at least one answer");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind replay upstream");
        let addr = listener.local_addr().expect("replay addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(answers);
        let (req_log, accept_answers) = (requests.clone(), answers.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (log, answers, served) =
                    (req_log.clone(), accept_answers.clone(), served.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (log, answers, served) = (log.clone(), answers.clone(), served.clone());
                        async move {
                            let method = req.method().to_string();
                            let path = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(n, v)| {
                                    (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect();
                            let bytes = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let body =
                                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                            log.lock().unwrap().push(Recorded {
                                method,
                                path,
                                headers,
                                body,
                            });
                            let i = served.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1);
                            let answer = &answers[i];
                            let mut r: Response<Body> = Response::new(
                                Full::new(Bytes::from(answer.body.clone()))
                                    .map_err(|never| match never {})
                                    .boxed(),
                            );
                            *r.status_mut() = hyper::StatusCode::from_u16(answer.status).unwrap();
                            r.headers_mut()
                                .insert("content-type", answer.content_type.parse().unwrap());
                            for (name, value) in &answer.headers {
                                if let (Ok(name), Ok(value)) = (
                                    hyper::header::HeaderName::from_bytes(name.as_bytes()),
                                    hyper::header::HeaderValue::from_str(value),
                                ) {
                                    r.headers_mut().append(name, value);
                                }
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Replay { addr, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

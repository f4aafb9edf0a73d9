//! `bench-upstream`: an OpenAI-compatible upstream that answers as fast as the machine allows,
//! so benchmarks measure the gateway, not the upstream.
//!
//! `bench-upstream [--port N] [--latency-ms N] [--chunks N] [--chunk-delay-ms N]`
//!
//! - `POST …/chat/completions` without `"stream": true`: a fixed `chat.completion` JSON.
//! - with `"stream": true`: `--chunks` content chunks `--chunk-delay-ms` apart, a finish chunk,
//!   a usage chunk and `[DONE]`.
//!
//! Prints `bench-upstream listening on http://ADDR` once ready.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

const COMPLETION: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed answer from the benchmark upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":11,"total_tokens":23}}"#;
const CHUNK: &[u8] = b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"},\"finish_reason\":null}],\"usage\":null}\n\n";
const ROLE: &[u8] = b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n";
const FINISH: &[u8] = b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n";
const USAGE: &[u8] = b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":200,\"total_tokens\":212}}\n\n";
const DONE: &[u8] = b"data: [DONE]\n\n";

#[derive(Debug, Clone, Copy)]
struct Settings {
    latency: Duration,
    chunks: usize,
    chunk_delay: Duration,
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, got {v}"))
        })
        .unwrap_or(default)
}

async fn handle(req: Request<Incoming>, s: Settings) -> Response<Body> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    // A byte search is enough to spot `"stream": true` / `"stream":true` in benchmark bodies.
    let stream = body.windows(13).any(|w| w == b"\"stream\":true")
        || body.windows(14).any(|w| w == b"\"stream\": true");
    if !s.latency.is_zero() {
        tokio::time::sleep(s.latency).await;
    }
    if !stream {
        let mut r = Response::new(Full::new(Bytes::from_static(COMPLETION)).boxed());
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        return r;
    }
    let frames = futures_frames(s);
    let mut r = Response::new(frames.boxed());
    r.headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    r
}

fn futures_frames(
    s: Settings,
) -> impl hyper::body::Body<Data = Bytes, Error = Infallible> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        if tx.send(Bytes::from_static(ROLE)).await.is_err() {
            return;
        }
        for _ in 0..s.chunks {
            if !s.chunk_delay.is_zero() {
                tokio::time::sleep(s.chunk_delay).await;
            }
            if tx.send(Bytes::from_static(CHUNK)).await.is_err() {
                return;
            }
        }
        for tail in [FINISH, USAGE, DONE] {
            if tx.send(Bytes::from_static(tail)).await.is_err() {
                return;
            }
        }
    });
    let mut rx = rx;
    StreamBody::new(futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = arg(&args, "--port", 18081) as u16;
    let settings = Settings {
        latency: Duration::from_millis(arg(&args, "--latency-ms", 0)),
        chunks: arg(&args, "--chunks", 200) as usize,
        chunk_delay: Duration::from_millis(arg(&args, "--chunk-delay-ms", 0)),
    };
    let workers = arg(&args, "--threads", 1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        println!(
            "bench-upstream listening on http://{}",
            listener.local_addr().unwrap()
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(move |req| async move {
                    Ok::<_, Infallible>(handle(req, settings).await)
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

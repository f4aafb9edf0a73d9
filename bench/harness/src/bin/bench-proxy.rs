//! `bench-proxy`: the smallest useful hyper reverse proxy — the physical limit a gateway on this
//! machine can approach. It forwards every request to `--upstream` over a pooled keep-alive
//! client and streams the answer back, doing nothing else.
//!
//! `bench-proxy --upstream http://127.0.0.1:PORT [--port N]`; prints
//! `bench-proxy listening on http://ADDR` once ready.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, hyper::Error>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let upstream: http::Uri = arg("--upstream")
        .expect("--upstream http://HOST:PORT")
        .parse()
        .expect("--upstream is a URL");
    let port: u16 = arg("--port").and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    println!(
        "bench-proxy listening on http://{}",
        listener.local_addr().expect("addr")
    );
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut req: Request<Incoming>| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    let path = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "/".to_owned());
                    let uri: http::Uri = format!(
                        "{}://{}{path}",
                        upstream.scheme_str().unwrap_or("http"),
                        upstream.authority().map(|a| a.as_str()).unwrap_or("")
                    )
                    .parse()
                    .expect("uri");
                    *req.uri_mut() = uri;
                    req.headers_mut().remove(http::header::HOST);
                    let response: Response<Body> = match client.request(req).await {
                        Ok(r) => r.map(|b| b.boxed()),
                        Err(_) => {
                            let mut r = Response::new(
                                http_body_util::Empty::new()
                                    .map_err(|never| match never {})
                                    .boxed(),
                            );
                            *r.status_mut() = http::StatusCode::BAD_GATEWAY;
                            r
                        }
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

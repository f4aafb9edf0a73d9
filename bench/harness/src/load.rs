//! The load generator: keep-alive HTTP/1.1 connections of our own (one per concurrent user),
//! closed-loop or at a fixed rate, and an SSE client that times the first chunk and the gaps
//! between chunks. Latencies go into HDR histograms in microseconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One request, as sent again and again.
#[derive(Debug, Clone)]
pub(crate) struct Shot {
    pub(crate) addr: SocketAddr,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

/// What a load run measured.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) ok: u64,
    /// Answers of any status, warm-up included: the work the target did while it was watched,
    /// which is what its CPU time per request divides by.
    pub(crate) answered: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    /// Microseconds.
    pub(crate) latency: Histogram<u64>,
}

impl Measured {
    pub(crate) fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn request(shot: &Shot) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::post(&shot.path).header("host", shot.addr.to_string());
    for (k, v) in &shot.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(shot.body.clone())).expect("request")
}

/// One request on `sender`; `Ok(status)` once the whole body is read.
async fn once(sender: &mut SendRequest<Full<Bytes>>, shot: &Shot) -> Result<u16, ()> {
    sender.ready().await.map_err(|_| ())?;
    let response = sender.send_request(request(shot)).await.map_err(|_| ())?;
    let status = response.status().as_u16();
    response.into_body().collect().await.map_err(|_| ())?;
    Ok(status)
}

/// A user's latencies, ok answers and errors (both measured), and answers of any kind.
type UserResult = (Histogram<u64>, u64, u64, u64);

/// Merges what each user measured.
async fn gather(tasks: Vec<tokio::task::JoinHandle<UserResult>>, duration: Duration) -> Measured {
    let mut latency = histogram();
    let (mut ok, mut errors, mut answered) = (0, 0, 0);
    for t in tasks {
        if let Ok((h, o, e, a)) = t.await {
            let _ = latency.add(&h);
            ok += o;
            errors += e;
            answered += a;
        }
    }
    Measured {
        ok,
        answered,
        errors,
        elapsed: duration,
        latency,
    }
}

/// `concurrency` users, each sending its next request when the last one is answered, for
/// `warmup` (not measured) and then `duration`.
pub(crate) async fn closed_loop(
    shot: &Shot,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Measured {
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let shot = shot.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let (mut ok, mut errors, mut answered) = (0u64, 0u64, 0u64);
            let mut sender = connect(shot.addr).await;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let Some(s) = sender.as_mut() else {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    sender = connect(shot.addr).await;
                    continue;
                };
                let result = once(s, &shot).await;
                let done = Instant::now();
                answered += u64::from(result.is_ok());
                if t >= start {
                    match result {
                        Ok(200) => {
                            ok += 1;
                            let _ = hist.record((done - t).as_micros().max(1) as u64);
                        }
                        _ => errors += 1,
                    }
                }
                if result.is_err() {
                    sender = connect(shot.addr).await;
                }
            }
            (hist, ok, errors, answered)
        }));
    }
    gather(tasks, duration).await
}

/// `rate` requests per second spread over `connections`, latency counted from when each request
/// was due (so a stall is not hidden by the requests it delayed).
pub(crate) async fn fixed_rate(
    shot: &Shot,
    rate: u64,
    connections: usize,
    duration: Duration,
) -> Measured {
    let per_conn = rate as f64 / connections as f64;
    let interval = Duration::from_secs_f64(1.0 / per_conn);
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + duration;
    let mut tasks = Vec::new();
    for i in 0..connections {
        let shot = shot.clone();
        let offset = interval.mul_f64(i as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let (mut ok, mut errors, mut answered) = (0u64, 0u64, 0u64);
            let mut sender = connect(shot.addr).await;
            let mut due = start + offset;
            while due < end {
                tokio::time::sleep_until(due.into()).await;
                let Some(s) = sender.as_mut() else {
                    errors += 1;
                    sender = connect(shot.addr).await;
                    due += interval;
                    continue;
                };
                let result = once(s, &shot).await;
                answered += u64::from(result.is_ok());
                match result {
                    Ok(200) => {
                        ok += 1;
                        let _ = hist.record((Instant::now() - due).as_micros().max(1) as u64);
                    }
                    Ok(_) => errors += 1,
                    Err(()) => {
                        errors += 1;
                        sender = connect(shot.addr).await;
                    }
                }
                due += interval;
            }
            (hist, ok, errors, answered)
        }));
    }
    gather(tasks, duration).await
}

/// Streaming timings: time to the first chunk, and the gaps between chunks (µs).
#[derive(Debug)]
pub(crate) struct StreamTimings {
    pub(crate) ttft: Histogram<u64>,
    pub(crate) gaps: Histogram<u64>,
    pub(crate) streams: u64,
}

/// `streams` streaming requests one after another on one connection.
pub(crate) async fn sse_timings(shot: &Shot, streams: usize) -> StreamTimings {
    let mut ttft = histogram();
    let mut gaps = histogram();
    let mut done = 0;
    let mut sender = connect(shot.addr).await;
    for _ in 0..streams {
        let Some(s) = sender.as_mut() else {
            sender = connect(shot.addr).await;
            continue;
        };
        if s.ready().await.is_err() {
            sender = connect(shot.addr).await;
            continue;
        }
        let t0 = Instant::now();
        let Ok(response) = s.send_request(request(shot)).await else {
            sender = connect(shot.addr).await;
            continue;
        };
        let mut body = response.into_body();
        let mut last: Option<Instant> = None;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            let now = Instant::now();
            match last {
                None => {
                    let _ = ttft.record((now - t0).as_micros().max(1) as u64);
                }
                Some(prev) => {
                    let _ = gaps.record((now - prev).as_micros().max(1) as u64);
                }
            }
            last = Some(now);
        }
        done += 1;
    }
    StreamTimings {
        ttft,
        gaps,
        streams: done,
    }
}

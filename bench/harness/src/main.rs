//! `switchyard-bench`: runs switchyard side by side with the upstream directly, a minimal hyper
//! reverse proxy and (when installed) LiteLLM, in interleaved rounds, and writes a Markdown table
//! and a JSON file of the figures (`bench/results/latest.{md,json}`). `bench/run` builds
//! everything and runs it.
//!
//! Options: `--rounds N` (3), `--seconds S` per measurement (3), `--concurrency 1,16,64`,
//! `--rates 200,1000`, `--streams N` (20), `--soak-seconds S` (0: no memory soak),
//! `--litellm PATH` (a `litellm` executable; default `bench/.venv/bin/litellm` if present).

mod load;
mod procs;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use load::{closed_loop, fixed_rate, sse_timings, Measured, Shot};
use procs::{free_port, http_get_status, spawn, spawn_on_port, Proc};

const MASTER: &str = "sk-bench-master";

/// CPU for the gateways under test; the load generator and upstream stay on the other.
const GATEWAY_CPU: usize = 1;
const CLIENT_CPU: usize = 0;
/// First starts measured for the start-up figure.
const STARTS: usize = 5;

struct Options {
    rounds: usize,
    seconds: f64,
    concurrency: Vec<usize>,
    rates: Vec<u64>,
    streams: usize,
    soak_seconds: u64,
    litellm: Option<PathBuf>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let list = |name: &str, default: &str| -> Vec<u64> {
        get(name)
            .unwrap_or_else(|| default.to_owned())
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    };
    let root = workspace_root();
    Options {
        rounds: get("--rounds").and_then(|v| v.parse().ok()).unwrap_or(3),
        seconds: get("--seconds").and_then(|v| v.parse().ok()).unwrap_or(3.0),
        concurrency: list("--concurrency", "1,16,64")
            .into_iter()
            .map(|c| c as usize)
            .collect(),
        rates: list("--rates", "200,1000"),
        streams: get("--streams").and_then(|v| v.parse().ok()).unwrap_or(20),
        soak_seconds: get("--soak-seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        litellm: get("--litellm").map(PathBuf::from).or_else(|| {
            let p = root.join("bench/.venv/bin/litellm");
            p.exists().then_some(p)
        }),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("binary directory")
}

fn chat_body(stream: bool) -> Bytes {
    Bytes::from(
        json!({"model": "bench", "stream": stream,
               "messages": [{"role": "user", "content": "Say something short."}]})
        .to_string(),
    )
}

fn shot(addr: SocketAddr, key: Option<&str>, stream: bool, model: &str) -> Shot {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(k) = key {
        headers.push(("authorization".to_owned(), format!("Bearer {k}")));
    }
    let body =
        String::from_utf8_lossy(&chat_body(stream)).replace("\"bench\"", &format!("\"{model}\""));
    Shot {
        addr,
        path: "/v1/chat/completions".to_owned(),
        headers,
        body: Bytes::from(body),
    }
}

/// A switchyard config for the benchmark.
fn switchyard_config(
    upstream: SocketAddr,
    stream_upstream: SocketAddr,
    extra_groups: usize,
    db: &Path,
) -> String {
    let mut yaml = format!(
        "model_list:\n\
         - model_name: bench\n  litellm_params: {{model: openai/bench-model, api_base: 'http://{upstream}/v1', api_key: sk-up}}\n\
         - model_name: bench-stream\n  litellm_params: {{model: openai/bench-model, api_base: 'http://{stream_upstream}/v1', api_key: sk-up}}\n\
         - model_name: bench-failover\n  litellm_params: {{model: openai/bench-model, api_base: 'http://127.0.0.1:9/v1', api_key: sk-up}}\n\
         - model_name: bench-failover\n  litellm_params: {{model: openai/bench-model, api_base: 'http://{upstream}/v1', api_key: sk-up}}\n"
    );
    for i in 0..extra_groups {
        yaml.push_str(&format!(
            "- model_name: group-{i}\n  litellm_params: {{model: openai/bench-model, api_base: 'http://{upstream}/v1', api_key: sk-up}}\n"
        ));
    }
    yaml.push_str(&format!(
        "general_settings:\n  master_key: {MASTER}\nswitchyard:\n  database_path: {}\n  log_format: json\n",
        db.display()
    ));
    yaml
}

fn start_switchyard(name: &str, config: &str, dir: &Path, plugin_dir: &Path) -> Proc {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, config).expect("write config");
    let p = spawn(
        name,
        &bin_dir().join("switchyard"),
        &[
            "serve".into(),
            "--config".into(),
            path.display().to_string(),
            "--plugin-dir".into(),
            plugin_dir.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
        ],
        Some(GATEWAY_CPU),
    );
    // Ready: the database is open.
    for _ in 0..200 {
        if http_get_status(p.addr, "/health/readiness") == Some(200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    p
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summary(m: &Measured) -> Value {
    json!({
        "rps": m.rps(),
        "ok": m.ok,
        "errors": m.errors,
        "p50_ms": ms(m.latency.value_at_quantile(0.5)),
        "p90_ms": ms(m.latency.value_at_quantile(0.9)),
        "p99_ms": ms(m.latency.value_at_quantile(0.99)),
        "max_ms": ms(m.latency.max()),
    })
}

/// The median of a field over rounds.
fn median(rounds: &[Value], field: &str) -> f64 {
    let mut v: Vec<f64> = rounds.iter().filter_map(|r| r[field].as_f64()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// A virtual key with a budget and rate limits far above what the run uses, so the tenancy path
/// (hash lookup, limits, reservation, settlement, spend log) is on every request. Retries while
/// the database opens.
fn virtual_key(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let body = json!({"max_budget": 1_000_000.0, "rpm_limit": 1_000_000_000u64, "tpm_limit": 1_000_000_000_000u64}).to_string();
    for _ in 0..500 {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            s,
            "POST /key/generate HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {MASTER}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("read");
        let json_start = text.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0);
        let v: Value = serde_json::from_str(text[json_start..].trim()).unwrap_or(Value::Null);
        if let Some(key) = v["key"].as_str() {
            return key.to_owned();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("switchyard did not generate a key");
}

#[tokio::main]
async fn main() {
    let o = options();
    let root = workspace_root();
    let work = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let plugin_dir = bin_dir();

    // Upstreams (on the client CPU): instant answers, and streams of 200 chunks 1 ms apart.
    let upstream = spawn(
        "upstream",
        &bin_dir().join("bench-upstream"),
        &["--port".into(), "0".into(), "--chunks".into(), "200".into()],
        Some(CLIENT_CPU),
    );
    let stream_upstream = spawn(
        "stream-upstream",
        &bin_dir().join("bench-upstream"),
        &[
            "--port".into(),
            "0".into(),
            "--chunks".into(),
            "200".into(),
            "--chunk-delay-ms".into(),
            "1".into(),
        ],
        Some(CLIENT_CPU),
    );
    let proxy = spawn(
        "proxy",
        &bin_dir().join("bench-proxy"),
        &["--upstream".into(), format!("http://{}", upstream.addr)],
        Some(GATEWAY_CPU),
    );
    let stream_proxy = spawn(
        "stream-proxy",
        &bin_dir().join("bench-proxy"),
        &[
            "--upstream".into(),
            format!("http://{}", stream_upstream.addr),
        ],
        Some(GATEWAY_CPU),
    );
    let sy = start_switchyard(
        "switchyard",
        &switchyard_config(upstream.addr, stream_upstream.addr, 0, &work.join("sy.db")),
        &work,
        &plugin_dir,
    );
    let idle_rss = sy.rss_kib();
    let (idle_anon, idle_file) = sy.rss_parts_kib();
    // Start-up, spawn to listening, is a few tens of milliseconds: one sample is at the mercy of
    // a neighbour's disk flush, so it is the median of several starts, each creating and
    // migrating a new database as a first start does.
    let mut startups: Vec<Duration> = (0..STARTS)
        .map(|i| {
            let db = work.join(format!("start-{i}.db"));
            let config = switchyard_config(upstream.addr, stream_upstream.addr, 0, &db);
            start_switchyard(
                &format!("switchyard-start-{i}"),
                &config,
                &work,
                &plugin_dir,
            )
            .startup
        })
        .collect();
    startups.sort();
    let sy_startup = startups[STARTS / 2];
    let sy_startup_max = startups[STARTS - 1];
    let key = virtual_key(sy.addr);

    let litellm = o.litellm.as_ref().and_then(|bin| {
        let port = free_port();
        let cfg = work.join("litellm.yaml");
        std::fs::write(
            &cfg,
            format!(
                "model_list:\n- model_name: bench\n  litellm_params: {{model: openai/bench-model, api_base: 'http://{}/v1', api_key: sk-up}}\n\
                 - model_name: bench-stream\n  litellm_params: {{model: openai/bench-model, api_base: 'http://{}/v1', api_key: sk-up}}\n\
                 general_settings: {{master_key: {MASTER}}}\n",
                upstream.addr, stream_upstream.addr
            ),
        )
        .ok()?;
        let mut cmd = std::process::Command::new("taskset");
        cmd.arg("-c")
            .arg(GATEWAY_CPU.to_string())
            .arg(bin)
            .args(["--config", cfg.to_str()?, "--port", &port.to_string(), "--num_workers", "1"]);
        spawn_on_port(cmd, port, "/health/liveliness")
    });
    eprintln!(
        "targets: direct, proxy, switchyard{}",
        if litellm.is_some() {
            ", litellm"
        } else {
            " (LiteLLM not installed: bench/run --with-litellm)"
        }
    );

    let secs = Duration::from_secs_f64(o.seconds);
    let warm = Duration::from_millis(300);
    let mut targets: Vec<(&str, SocketAddr, Option<&str>, &Proc)> = vec![
        ("direct", upstream.addr, None, &upstream),
        ("proxy", proxy.addr, None, &proxy),
        ("switchyard", sy.addr, Some(MASTER), &sy),
    ];
    if let Some(l) = &litellm {
        targets.push(("litellm", l.addr, Some(MASTER), l));
    }

    // 1. Closed loop at each concurrency, interleaved rounds; CPU time per request.
    let mut closed: BTreeMap<(usize, String), Vec<Value>> = BTreeMap::new();
    let mut load_rss: BTreeMap<String, u64> = BTreeMap::new();
    for round in 0..o.rounds {
        for &c in &o.concurrency {
            for (name, addr, key, proc_) in &targets {
                let cpu0 = proc_.cpu_time();
                let m = closed_loop(&shot(*addr, *key, false, "bench"), c, warm, secs).await;
                let cpu = proc_.cpu_time().saturating_sub(cpu0);
                let mut s = summary(&m);
                s["cpu_us_per_request"] =
                    json!(cpu.as_micros() as f64 / (m.answered.max(1)) as f64);
                eprintln!(
                    "round {round} c={c} {name}: {:.0} req/s p50 {:.3} ms",
                    m.rps(),
                    s["p50_ms"]
                );
                closed.entry((c, name.to_string())).or_default().push(s);
                let rss = load_rss.entry(name.to_string()).or_default();
                *rss = (*rss).max(proc_.rss_kib());
            }
        }
    }

    // 2. Fixed request rates.
    let mut rated: BTreeMap<(u64, String), Vec<Value>> = BTreeMap::new();
    for _ in 0..o.rounds {
        for &rate in &o.rates {
            for (name, addr, key, _) in &targets {
                let m = fixed_rate(&shot(*addr, *key, false, "bench"), rate, 16, secs).await;
                rated
                    .entry((rate, name.to_string()))
                    .or_default()
                    .push(summary(&m));
            }
        }
    }

    // 3. switchyard scenarios at concurrency 16.
    let many = start_switchyard(
        "switchyard-1000-groups",
        &switchyard_config(
            upstream.addr,
            stream_upstream.addr,
            1000,
            &work.join("many.db"),
        ),
        &work,
        &plugin_dir,
    );
    let many_idle_rss = many.rss_kib();
    let scenarios: Vec<(&str, Shot)> = vec![
        ("direct", shot(upstream.addr, None, false, "bench")),
        ("master key", shot(sy.addr, Some(MASTER), false, "bench")),
        (
            "virtual key + budget + rate limit",
            shot(sy.addr, Some(&key), false, "bench"),
        ),
        (
            "2 deployments, one failing",
            shot(sy.addr, Some(MASTER), false, "bench-failover"),
        ),
        (
            "1,000 model groups",
            shot(many.addr, Some(MASTER), false, "group-999"),
        ),
    ];
    let mut scen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for _ in 0..o.rounds {
        for (name, s) in &scenarios {
            let m = closed_loop(s, 16, warm, secs).await;
            scen.entry(name.to_string()).or_default().push(summary(&m));
        }
    }

    // 4. Streaming: time to first chunk and between chunks (200 chunks, 1 ms apart upstream).
    let mut stream_targets: Vec<(&str, Shot)> = vec![
        ("direct", shot(stream_upstream.addr, None, true, "bench")),
        ("proxy", shot(stream_proxy.addr, None, true, "bench")),
        (
            "switchyard",
            shot(sy.addr, Some(MASTER), true, "bench-stream"),
        ),
    ];
    if let Some(l) = &litellm {
        stream_targets.push(("litellm", shot(l.addr, Some(MASTER), true, "bench-stream")));
    }
    let mut streams: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for _ in 0..o.rounds {
        for (name, s) in &stream_targets {
            let t = sse_timings(s, o.streams).await;
            streams.entry(name.to_string()).or_default().push(json!({
                "ttft_p50_ms": ms(t.ttft.value_at_quantile(0.5)),
                "ttft_p99_ms": ms(t.ttft.value_at_quantile(0.99)),
                "gap_p50_ms": ms(t.gaps.value_at_quantile(0.5)),
                "gap_p99_ms": ms(t.gaps.value_at_quantile(0.99)),
                "streams": t.streams,
            }));
        }
    }

    // 5. Optional memory soak.
    let soak = if o.soak_seconds > 0 {
        let mut samples = Vec::new();
        let s = shot(sy.addr, Some(MASTER), false, "bench");
        let minutes = o.soak_seconds.div_ceil(60);
        for _ in 0..minutes {
            let chunk = Duration::from_secs(o.soak_seconds.min(60));
            closed_loop(&s, 16, Duration::ZERO, chunk).await;
            samples.push(sy.rss_kib());
        }
        Some(samples)
    } else {
        None
    };

    let plugins: Vec<String> = std::fs::read_dir(&plugin_dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("libswitchyard_provider_") && n.ends_with(".so"))
                .collect()
        })
        .unwrap_or_default();

    // Report.
    let mut md = String::new();
    // The harness itself is pinned: count the machine's CPUs, not its own.
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    md.push_str(&format!(
        "Run: {} rounds × {:.1} s per cell, medians over rounds; {cores} cores; gateways pinned to CPU {GATEWAY_CPU}, \
         load generator and upstream to CPU {CLIENT_CPU}; {} plugins loaded ({}).\n\n",
        o.rounds, o.seconds, plugins.len(), plugins.join(", ")
    ));
    md.push_str("### Throughput and latency (closed loop, non-stream)\n\n| concurrency | target | req/s | p50 ms | p90 ms | p99 ms | max ms | added p50 ms | added p99 ms | CPU µs/req |\n|---|---|---|---|---|---|---|---|---|---|\n");
    let mut json_closed = Vec::new();
    for &c in &o.concurrency {
        let direct = &closed[&(c, "direct".to_owned())];
        for (name, _, _, _) in &targets {
            let r = &closed[&(c, name.to_string())];
            let row = json!({
                "concurrency": c, "target": name,
                "rps": median(r, "rps"), "p50_ms": median(r, "p50_ms"), "p90_ms": median(r, "p90_ms"),
                "p99_ms": median(r, "p99_ms"), "max_ms": median(r, "max_ms"),
                "added_p50_ms": median(r, "p50_ms") - median(direct, "p50_ms"),
                "added_p99_ms": median(r, "p99_ms") - median(direct, "p99_ms"),
                "cpu_us_per_request": median(r, "cpu_us_per_request"),
            });
            md.push_str(&format!(
                "| {c} | {name} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |\n",
                row["rps"].as_f64().unwrap_or(0.0),
                row["p50_ms"].as_f64().unwrap_or(0.0),
                row["p90_ms"].as_f64().unwrap_or(0.0),
                row["p99_ms"].as_f64().unwrap_or(0.0),
                row["max_ms"].as_f64().unwrap_or(0.0),
                if *name == "direct" {
                    "—".to_owned()
                } else {
                    format!("{:+.3}", row["added_p50_ms"].as_f64().unwrap_or(0.0))
                },
                if *name == "direct" {
                    "—".to_owned()
                } else {
                    format!("{:+.3}", row["added_p99_ms"].as_f64().unwrap_or(0.0))
                },
                if *name == "direct" {
                    "—".to_owned()
                } else {
                    format!("{:.1}", row["cpu_us_per_request"].as_f64().unwrap_or(0.0))
                },
            ));
            json_closed.push(row);
        }
    }
    md.push_str("\nRatios at each concurrency (same run): ");
    for &c in &o.concurrency {
        let rps = |t: &str| {
            closed
                .get(&(c, t.to_owned()))
                .map(|r| median(r, "rps"))
                .unwrap_or(f64::NAN)
        };
        md.push_str(&format!(
            "c={c}: switchyard/proxy throughput {:.2}{}; ",
            rps("switchyard") / rps("proxy"),
            if litellm.is_some() {
                format!(
                    ", switchyard/LiteLLM {:.1}×",
                    rps("switchyard") / rps("litellm")
                )
            } else {
                String::new()
            }
        ));
    }
    md.push_str("\n\n### Fixed request rates (16 connections; latency from when each request was due)\n\n| rate | target | achieved req/s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n");
    let mut json_rated = Vec::new();
    for &rate in &o.rates {
        for (name, _, _, _) in &targets {
            let r = &rated[&(rate, name.to_string())];
            md.push_str(&format!(
                "| {rate} | {name} | {:.0} | {:.3} | {:.3} | {:.3} |\n",
                median(r, "rps"),
                median(r, "p50_ms"),
                median(r, "p99_ms"),
                median(r, "max_ms")
            ));
            json_rated.push(json!({"rate": rate, "target": name, "rps": median(r, "rps"), "p50_ms": median(r, "p50_ms"), "p99_ms": median(r, "p99_ms"), "max_ms": median(r, "max_ms")}));
        }
    }
    md.push_str("\n### switchyard scenarios (concurrency 16)\n\n| scenario | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |\n|---|---|---|---|---|---|---|\n");
    let mut json_scen = Vec::new();
    let direct = &scen["direct"];
    for (name, _) in &scenarios {
        let r = &scen[*name];
        md.push_str(&format!(
            "| {name} | {:.0} | {:.3} | {:.3} | {:+.3} | {:+.3} | {} |\n",
            median(r, "rps"),
            median(r, "p50_ms"),
            median(r, "p99_ms"),
            median(r, "p50_ms") - median(direct, "p50_ms"),
            median(r, "p99_ms") - median(direct, "p99_ms"),
            r.iter().filter_map(|x| x["errors"].as_u64()).sum::<u64>(),
        ));
        json_scen.push(json!({"scenario": name, "rps": median(r, "rps"), "p50_ms": median(r, "p50_ms"), "p99_ms": median(r, "p99_ms")}));
    }
    md.push_str("\n### Streaming (200 chunks, 1 ms apart upstream)\n\n| target | TTFT p50 ms | TTFT p99 ms | inter-chunk p50 ms | inter-chunk p99 ms | added TTFT p50 ms | added inter-chunk p50 ms |\n|---|---|---|---|---|---|---|\n");
    let mut json_streams = Vec::new();
    let d = &streams["direct"];
    for (name, _) in &stream_targets {
        let r = &streams[*name];
        md.push_str(&format!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:+.3} | {:+.3} |\n",
            median(r, "ttft_p50_ms"),
            median(r, "ttft_p99_ms"),
            median(r, "gap_p50_ms"),
            median(r, "gap_p99_ms"),
            median(r, "ttft_p50_ms") - median(d, "ttft_p50_ms"),
            median(r, "gap_p50_ms") - median(d, "gap_p50_ms"),
        ));
        json_streams.push(json!({"target": name, "ttft_p50_ms": median(r, "ttft_p50_ms"), "gap_p50_ms": median(r, "gap_p50_ms")}));
    }
    md.push_str(&format!(
        "\n### Resources\n\n| | switchyard | switchyard, 1,000 groups | proxy{} |\n|---|---|---|---|{}\n\
         | RSS idle | {:.1} MB | {:.1} MB | {:.1} MB{} |\n\
         | of which anonymous / file-backed | {:.1} / {:.1} MB | — | {:.1} / {:.1} MB |{}\n\
         | RSS under load (max) | {:.1} MB | — | {:.1} MB{} |\n\
         | start → listening (median of {STARTS} first starts; slowest) | {:.1} ms ({:.1}) | {:.1} ms | {:.1} ms{} |\n",
        if litellm.is_some() { " | LiteLLM" } else { "" },
        if litellm.is_some() { "---|" } else { "" },
        idle_rss as f64 / 1024.0, many_idle_rss as f64 / 1024.0, proxy.rss_kib() as f64 / 1024.0,
        litellm.as_ref().map(|l| format!(" | {:.1} MB", l.rss_kib() as f64 / 1024.0)).unwrap_or_default(),
        idle_anon as f64 / 1024.0, idle_file as f64 / 1024.0,
        proxy.rss_parts_kib().0 as f64 / 1024.0, proxy.rss_parts_kib().1 as f64 / 1024.0,
        if litellm.is_some() { " — |" } else { "" },
        load_rss.get("switchyard").copied().unwrap_or(0) as f64 / 1024.0,
        load_rss.get("proxy").copied().unwrap_or(0) as f64 / 1024.0,
        load_rss.get("litellm").map(|r| format!(" | {:.1} MB", *r as f64 / 1024.0)).unwrap_or_default(),
        sy_startup.as_secs_f64() * 1000.0, sy_startup_max.as_secs_f64() * 1000.0, many.startup.as_secs_f64() * 1000.0, proxy.startup.as_secs_f64() * 1000.0,
        litellm.as_ref().map(|l| format!(" | {:.0} ms", l.startup.as_secs_f64() * 1000.0)).unwrap_or_default(),
    ));
    if let Some(samples) = &soak {
        md.push_str(&format!(
            "\nMemory soak (concurrency 16): RSS per minute {:?} MB; last/first = {:.3}\n",
            samples
                .iter()
                .map(|s| (*s as f64 / 102.4).round() / 10.0)
                .collect::<Vec<_>>(),
            *samples.last().unwrap_or(&0) as f64 / (*samples.first().unwrap_or(&1)).max(1) as f64
        ));
    }
    let out = json!({
        "closed_loop": json_closed, "fixed_rate": json_rated, "scenarios": json_scen,
        "streaming": json_streams,
        "resources": {"idle_rss_kib": idle_rss, "idle_rss_1000_groups_kib": many_idle_rss,
                      "idle_rss_anon_kib": idle_anon, "idle_rss_file_kib": idle_file,
                      "load_rss_kib": load_rss, "startup_ms": sy_startup.as_secs_f64() * 1000.0,
                      "startup_max_ms": sy_startup_max.as_secs_f64() * 1000.0},
        "soak_rss_kib": soak, "plugins": plugins, "rounds": o.rounds, "seconds": o.seconds,
    });
    let results = root.join("bench/results");
    let _ = std::fs::create_dir_all(&results);
    let _ = std::fs::write(results.join("latest.md"), &md);
    let _ = std::fs::write(
        results.join("latest.json"),
        serde_json::to_string_pretty(&out).unwrap_or_default(),
    );
    println!("{md}");
    let _ = std::fs::remove_dir_all(&work);
}

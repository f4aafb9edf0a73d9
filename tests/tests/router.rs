//! The router through the real binary: retries, cooldowns, fallbacks, timeouts and the stream
//! commit point, against the fault-injecting upstream. Timing bounds are loose on purpose (a
//! shared 2-core machine): they separate "waited for a backoff" from "did not".

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::target_dir;
use switchyard_e2e::upstream::Upstream;

const KEY: &str = "sk-1234";

async fn post(gw: &RunningGateway, body: &Value) -> reqwest::Response {
    switchyard_e2e::http_client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .expect("request")
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn hits(upstream: &Upstream, prefix: &str) -> usize {
    upstream
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(&format!("/{prefix}/")))
        .count()
}

fn hits_model(upstream: &Upstream, model: &str) -> usize {
    upstream
        .requests()
        .iter()
        .filter(|r| r.body["model"] == model)
        .count()
}

async fn metrics(gw: &RunningGateway) -> String {
    switchyard_e2e::http_client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The LiteLLM config file, served unchanged.
fn litellm_config_gateway(upstream: &Upstream) -> RunningGateway {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/litellm_router.yaml");
    RunningGateway::start_with(
        None,
        &target_dir(),
        &["--config", file.to_str().unwrap()],
        &[
            ("MOCK_429_BASE", &upstream.api_base("fail429")),
            ("MOCK_500_BASE", &upstream.api_base("fail500")),
            ("MOCK_CTX_BASE", &upstream.api_base("ctx")),
            ("MOCK_OK_BASE", &upstream.api_base("")),
            ("MOCK_UPSTREAM_KEY", "sk-mock-upstream"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_litellm_router_config_works_unchanged() {
    let upstream = Upstream::start().await;
    let gw = litellm_config_gateway(&upstream);

    // Two deployments, one rate-limited: every request succeeds, and the failing one is
    // cooled down after its first 429 (Retry-After: 7) instead of being tried again.
    for _ in 0..20 {
        let r = post(&gw, &chat("gpt-mock")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-switchyard-deployment"), "gpt-mock.1");
        assert_eq!(header(&r, "x-litellm-model-group"), "gpt-mock");
    }
    assert_eq!(hits(&upstream, "fail429"), 1, "cooled down after one 429");
    let m = metrics(&gw).await;
    assert_eq!(
        metric(
            &m,
            "switchyard_cooldowns_total",
            &["deployment=\"gpt-mock.0\""]
        ),
        1.0,
        "{m}"
    );
    assert_eq!(metric(&m, "switchyard_deployments_cooling_down", &[]), 1.0);

    // A 500 group: 3 attempts (num_retries: 2) with backoff, then the fallback group.
    let started = Instant::now();
    let r = post(&gw, &chat("gpt-500")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-model-group"), "gpt-fallback");
    assert_eq!(header(&r, "x-switchyard-attempted-fallbacks"), "1");
    assert_eq!(header(&r, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&r, "x-litellm-max-retries"), "2");
    assert_eq!(hits(&upstream, "fail500"), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "0.5 s then 1 s backoff"
    );
    let m = metrics(&gw).await;
    assert_eq!(
        metric(
            &m,
            "switchyard_fallbacks_total",
            &["model_group=\"gpt-500\"", "fallback=\"gpt-fallback\""]
        ),
        1.0
    );
    assert_eq!(
        metric(&m, "switchyard_retries_total", &["model_group=\"gpt-500\""]),
        2.0
    );

    // Context window: never retried, straight to context_window_fallbacks.
    let r = post(&gw, &chat("gpt-ctx")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-model-group"), "gpt-fallback");
    assert_eq!(hits(&upstream, "ctx"), 1);

    // Per-request overrides: no retries, and a fallback list in the body.
    let before = hits(&upstream, "fail500");
    let mut body = chat("gpt-500");
    body["num_retries"] = json!(0);
    body["fallbacks"] = json!(["gpt-mock"]);
    let r = post(&gw, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-model-group"), "gpt-mock");
    assert_eq!(hits(&upstream, "fail500") - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_requests_with_one_of_two_deployments_rate_limited() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        "model_list:\n\
         - model_name: gpt\n  litellm_params: {{model: openai/bad, api_base: '{bad}', api_key: k}}\n\
         - model_name: gpt\n  litellm_params: {{model: openai/good, api_base: '{good}', api_key: k}}\n\
         general_settings: {{master_key: {KEY}}}\n",
        bad = upstream.api_base("fail429"),
        good = upstream.api_base(""),
    );
    let gw = RunningGateway::start(&yaml, &target_dir());
    let client = switchyard_e2e::http_client();
    let url = gw.url("/v1/chat/completions");
    let total = 2000;
    let concurrency = 32;
    let started = Instant::now();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let url = url.clone();
        tasks.spawn(async move {
            let mut seen = Vec::new();
            for _ in (worker..total).step_by(concurrency) {
                let status = match client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&chat("gpt"))
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                seen.push(status);
            }
            seen
        });
    }
    while let Some(seen) = tasks.join_next().await {
        for s in seen.unwrap() {
            *statuses.entry(s).or_default() += 1;
        }
    }
    let ok = statuses.get(&200).copied().unwrap_or(0);
    let elapsed = started.elapsed();
    let bad_hits = hits_model(&upstream, "bad");
    println!(
        "2000 requests, one of two deployments answering 429: {ok} succeeded ({:.2}%), \
         failing deployment called {bad_hits} times, {:.1}s, statuses {statuses:?}",
        ok as f64 * 100.0 / total as f64,
        elapsed.as_secs_f64()
    );
    assert!(ok * 1000 >= total * 999, "{statuses:?}");
    // Cooled down for its Retry-After (7 s) after the first 429s: it sees a handful of
    // requests per 7 s, not half of them.
    let windows = elapsed.as_secs() / 7 + 1;
    assert!(
        bad_hits as u64 <= windows * concurrency as u64,
        "{bad_hits} calls to the failing deployment in {elapsed:?}"
    );
    let m = metrics(&gw).await;
    assert!(metric(&m, "switchyard_cooldowns_total", &["deployment=\"gpt.0\""]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooling_down_everywhere_says_which_and_until_when() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        "model_list:\n\
         - model_name: gpt\n  litellm_params: {{model: openai/a, api_base: '{bad}', api_key: k}}\n\
         - model_name: gpt\n  litellm_params: {{model: openai/b, api_base: '{bad}', api_key: k}}\n\
         general_settings: {{master_key: {KEY}}}\n",
        bad = upstream.api_base("fail429"),
    );
    let gw = RunningGateway::start(&yaml, &target_dir());
    let r = post(&gw, &chat("gpt")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-switchyard-attempted-retries"), "1");
    assert_eq!(
        hits(&upstream, "fail429"),
        2,
        "each deployment once, no waiting"
    );

    let r = post(&gw, &chat("gpt")).await;
    assert_eq!(r.status(), 429);
    let retry_after: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((5..=7).contains(&retry_after), "{retry_after}");
    let e: Value = r.json().await.unwrap();
    let message = e["error"]["message"].as_str().unwrap();
    assert_eq!(e["error"]["code"], "no_deployment_available");
    assert!(
        message.contains("'gpt.0' is cooling down after rate_limit errors until 20")
            && message.contains("'gpt.1' is cooling down"),
        "{message}"
    );
    assert_eq!(hits(&upstream, "fail429"), 2, "nothing was sent upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_fail_over_before_the_first_chunk_and_end_with_one_error_after_it() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        "model_list:\n\
         - model_name: errfirst\n  litellm_params: {{model: openai/e, api_base: '{errfirst}', api_key: k}}\n\
         - model_name: stall\n  litellm_params: {{model: openai/s, api_base: '{stall}', api_key: k, ttft_timeout: 1}}\n\
         - model_name: pause\n  litellm_params: {{model: openai/p, api_base: '{pause}', api_key: k, stream_idle_timeout: 1}}\n\
         - model_name: backup\n  litellm_params: {{model: openai/backup, api_base: '{ok}', api_key: k}}\n\
         router_settings:\n  num_retries: 0\n  fallbacks: [{{errfirst: [backup]}}, {{stall: [backup]}}]\n\
         general_settings: {{master_key: {KEY}}}\n",
        errfirst = upstream.api_base("errfirst"),
        stall = upstream.api_base("stall"),
        pause = upstream.api_base("pause"),
        ok = upstream.api_base(""),
    );
    let gw = RunningGateway::start(&yaml, &target_dir());
    let stream = |model: &str| json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hi"}]});

    // An error event as the first event, and no first chunk within ttft_timeout: both are
    // failures before the commit point, served by the fallback as a normal 200 stream.
    for (model, prefix) in [("errfirst", "errfirst"), ("stall", "stall")] {
        let started = Instant::now();
        let r = post(&gw, &stream(model)).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(header(&r, "content-type"), "text/event-stream");
        assert_eq!(header(&r, "x-switchyard-model-group"), "backup");
        let text = r.text().await.unwrap();
        assert!(text.contains("Hello") || text.contains("w0"), "{text}");
        assert!(!text.contains("error"), "{text}");
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(hits(&upstream, prefix), 1);
        if model == "stall" {
            assert!(started.elapsed() >= Duration::from_millis(900));
            assert!(started.elapsed() < Duration::from_secs(4));
        }
    }

    // Silent too long after the first chunk: one well-formed error event, then [DONE].
    let r = post(&gw, &stream("pause")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    let errors: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| v.get("error").is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert_eq!(errors[0]["error"]["type"], "timeout_error");
    assert_eq!(events.last(), Some(&"[DONE]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_limits_aliases_wildcards_and_provider_model_fallbacks() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        "model_list:\n\
         - model_name: gpt\n  litellm_params: {{model: openai/limited, api_base: '{ok}', api_key: k, rpm: 3}}\n\
         - model_name: gpt\n  litellm_params: {{model: openai/open, api_base: '{ok}', api_key: k, rpm: 1000}}\n\
         - model_name: 'openai/*'\n  litellm_params: {{model: 'openai/*', api_base: '{ok}', api_key: k}}\n\
         - model_name: broken\n  litellm_params: {{model: openai/broken, api_base: '{bad}', api_key: k}}\n\
         router_settings:\n  num_retries: 0\n  model_group_alias: {{gpt-4: gpt}}\n  \
         fallbacks: [{{broken: [mock/anything]}}]\n\
         general_settings: {{master_key: {KEY}}}\n",
        ok = upstream.api_base(""),
        bad = upstream.api_base("fail500"),
    );
    let gw = RunningGateway::start(&yaml, &target_dir());
    for _ in 0..40 {
        assert_eq!(post(&gw, &chat("gpt-4")).await.status(), 200);
    }
    assert!(hits_model(&upstream, "limited") <= 3, "rpm: 3 is respected");
    assert_eq!(
        hits_model(&upstream, "limited") + hits_model(&upstream, "open"),
        40
    );

    let r = post(&gw, &chat("openai/gpt-4.1-nano")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        hits_model(&upstream, "gpt-4.1-nano"),
        1,
        "wildcard deployment"
    );
    let r = post(&gw, &chat("anthropic/claude")).await;
    assert_eq!(r.status(), 404, "only configured providers and patterns");

    let r = post(&gw, &chat("broken")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-switchyard-provider"), "mock");
    assert_eq!(header(&r, "x-switchyard-model-group"), "mock/anything");
}

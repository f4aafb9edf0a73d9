//! End-to-end: the real `switchyard` binary, the real plugin files, HTTP on loopback, against an
//! in-test OpenAI-compatible upstream.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchyard_e2e::process::{run_python_client, run_switchyard, RunningGateway};
use switchyard_e2e::upstream::Upstream;
use switchyard_e2e::{plugin_file, plugin_file_name, target_dir};

const KEY: &str = "sk-test-master-0123456789";

fn config(upstream: &Upstream) -> String {
    format!(
        r#"
model_list:
  - model_name: gpt-up
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {ok}
      api_key: sk-upstream-secret-key
  - model_name: gpt-429
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {r429}
      api_key: sk-upstream-secret-key
  - model_name: gpt-500
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {r500}
      api_key: sk-upstream-secret-key
  - model_name: gpt-hang
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {hang}
      api_key: sk-upstream-secret-key
      timeout: 1
  - model_name: gpt-down
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:9/v1
      api_key: sk-upstream-secret-key
  - model_name: gpt-drop
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {drop}
      api_key: sk-upstream-secret-key
  - model_name: gpt-slow
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {slow}
      api_key: sk-upstream-secret-key
  - model_name: demo
    litellm_params:
      model: mock/demo
general_settings:
  master_key: {KEY}
# These tests check how each failure is classified; retries have their own (tests/router.rs).
router_settings:
  num_retries: 0
"#,
        ok = upstream.api_base(""),
        r429 = upstream.api_base("fail429"),
        r500 = upstream.api_base("fail500"),
        hang = upstream.api_base("hang"),
        drop = upstream.api_base("drop"),
        slow = upstream.api_base("slow"),
    )
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi there"}]})
}

fn client() -> reqwest::Client {
    switchyard_e2e::http_client()
}

async fn post(gw: &RunningGateway, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// SSE `data:` payloads of a whole stream body.
fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| event.trim().strip_prefix("data: ").map(str::to_owned))
        .collect()
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error body is JSON");
    assert!(
        body["error"]["message"].is_string(),
        "OpenAI error envelope: {body}"
    );
    assert!(
        body["error"]["type"].is_string(),
        "OpenAI error envelope: {body}"
    );
    (status, body)
}

async fn start() -> (Upstream, RunningGateway) {
    let upstream = Upstream::start().await;
    let gw = RunningGateway::start(&config(&upstream), &target_dir());
    (upstream, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_stream_completion_through_the_openai_plugin() {
    let (upstream, gw) = start().await;
    let response = post(&gw, &chat("gpt-up", false)).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from upstream to gpt-4o-mini"
    );
    assert_eq!(body["usage"]["total_tokens"], 18);
    assert_eq!(headers["x-switchyard-model-group"], "gpt-up");
    assert_eq!(headers["x-switchyard-deployment"], "gpt-up.0");
    assert_eq!(headers["x-switchyard-provider"], "openai");
    assert_eq!(headers["x-litellm-model-group"], "gpt-up");
    assert!(headers["x-request-id"].to_str().unwrap().len() > 8);
    let overhead: f64 = headers["x-switchyard-overhead-duration-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..1000.0).contains(&overhead), "overhead {overhead}");

    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].body["model"], "gpt-4o-mini",
        "model rewritten to the deployment's"
    );
    assert_eq!(seen[0].body["messages"][0]["content"], "hi there");
    assert_eq!(
        seen[0].header("authorization"),
        Some("Bearer sk-upstream-secret-key")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_has_role_content_usage_chunk_and_done() {
    let (upstream, gw) = start().await;
    let mut body = chat("gpt-up", true);
    body["stream_options"] = json!({"include_usage": true});
    let response = post(&gw, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "w0 w1 w2 ");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["total_tokens"], 18);
    // The gateway always asks the upstream for usage.
    assert_eq!(
        upstream.requests()[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_without_include_usage_hides_the_usage_chunk() {
    let (upstream, gw) = start().await;
    let text = post(&gw, &chat("gpt-up", true)).await.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    for d in &data[..data.len() - 1] {
        let v: Value = serde_json::from_str(d).unwrap();
        assert_ne!(v["choices"], json!([]), "usage-only chunk leaked: {d}");
    }
    assert_eq!(
        upstream.requests()[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_errors_and_accepted_key_headers() {
    let (_upstream, gw) = start().await;
    let c = client();
    let url = gw.url("/v1/chat/completions");
    let body = chat("demo", false);

    let (status, e) = error_of(c.post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(e["error"]["type"], "authentication_error");

    let (status, e) = error_of(
        c.post(&url)
            .bearer_auth("sk-wrong")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(!e.to_string().contains("sk-wrong"), "no key echoed: {e}");
    assert!(!e.to_string().contains(KEY), "no key echoed: {e}");

    let ok = c
        .post(&url)
        .header("x-api-key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = c
        .post(&url)
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let v: Value = ok.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "You said: hi there");

    let models = c.get(gw.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_openai_errors_naming_the_param() {
    let (_upstream, gw) = start().await;
    let c = client();
    let url = gw.url("/chat/completions");
    let send = |body: String| c.post(&url).bearer_auth(KEY).body(body).send();

    let (status, e) = error_of(send("{not json".into()).await.unwrap()).await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );

    let (status, e) = error_of(
        send(r#"{"messages":[{"role":"user","content":"x"}]}"#.into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, e["error"]["param"].as_str()), (400, Some("model")));

    let (status, e) = error_of(send(r#"{"model":"demo"}"#.into()).await.unwrap()).await;
    assert_eq!(
        (status, e["error"]["param"].as_str()),
        (400, Some("messages"))
    );

    let (status, e) = error_of(
        send(chat("no-such-model", false).to_string())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_keep_their_class_and_status() {
    let (_upstream, gw) = start().await;

    let response = post(&gw, &chat("gpt-429", false)).await;
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("7")
    );
    let (status, e) = error_of(response).await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (429, Some("rate_limit_error"))
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Rate limit reached"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("gpt-429"),
        "names the group: {e}"
    );
    assert!(!e.to_string().contains("sk-upstream-secret-key"));

    // Before the commit point a stream failure is a plain JSON error with the real status.
    let (status, _) = error_of(post(&gw, &chat("gpt-429", true)).await).await;
    assert_eq!(status, 429);

    let (status, _) = error_of(post(&gw, &chat("gpt-500", false)).await).await;
    assert_eq!(status, 500);

    let (status, e) = error_of(post(&gw, &chat("gpt-down", false)).await).await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (502, Some("api_error"))
    );

    let started = Instant::now();
    let (status, e) = error_of(post(&gw, &chat("gpt-hang", false)).await).await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (408, Some("timeout_error"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timeout honoured"
    );

    let (status, _) = error_of(post(&gw, &chat("gpt-hang", true)).await).await;
    assert_eq!(status, 408, "no first chunk in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_after_the_first_chunk_ends_with_one_error_event() {
    let (_upstream, gw) = start().await;
    let response = post(&gw, &chat("gpt-drop", true)).await;
    assert_eq!(response.status(), 200, "committed before the failure");
    let text = response.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    let errors: Vec<Value> = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v.get("error").is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0]["error"]["message"].is_string());
    assert!(
        text.contains("w0 "),
        "content before the failure was delivered: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_stream_cancels_the_upstream_request() {
    let (upstream, gw) = start().await;
    let response = post(&gw, &chat("gpt-slow", true)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(body); // the client goes away after the first chunk

    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.streams_cancelled() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        upstream.streams_cancelled(),
        1,
        "the upstream stream was cancelled"
    );
    assert_eq!(upstream.streams_finished(), 0);

    let metrics = client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchyard_streams_ended_total") && l.contains("client_disconnected")
        })
        .unwrap_or_else(|| panic!("no client_disconnected stream metric:\n{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_failures_are_selectable_per_request() {
    let (_upstream, gw) = start().await;
    let mut body = chat("demo", false);
    body["mock_failure"] = json!("rate_limit");
    let response = post(&gw, &body).await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, _) = error_of(response).await;
    assert_eq!(status, 429);

    body["mock_failure"] = json!("server_error");
    assert_eq!(error_of(post(&gw, &body).await).await.0, 500);

    let mut body = chat("demo", true);
    body["mock_failure"] = json!("midstream_drop");
    let response = post(&gw, &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("\"error\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_endpoints() {
    let (_upstream, gw) = start().await;
    let c = client();
    assert_eq!(post(&gw, &chat("demo", false)).await.status(), 200);
    let _ = post(&gw, &chat("gpt-429", false)).await;

    let live = c.get(gw.url("/health/liveliness")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap(), json!("I'm alive!"));
    let ready: Value = c
        .get(gw.url("/health/readiness"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "healthy");
    let names: Vec<&str> = ready["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"mock") && names.contains(&"openai"),
        "{ready}"
    );

    let models: Value = c
        .get(gw.url("/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "gpt-up");
    assert!(ids.contains(&"demo"));

    let text = c
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |needle: &[&str]| text.lines().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(
        has(&[
            "switchyard_requests_total",
            "model_group=\"demo\"",
            "provider=\"mock\"",
            "status=\"200\""
        ]),
        "{text}"
    );
    assert!(
        has(&[
            "switchyard_requests_total",
            "model_group=\"gpt-429\"",
            "status=\"429\""
        ]),
        "{text}"
    );
    assert!(
        has(&[
            "switchyard_request_duration_seconds_bucket",
            "model_group=\"demo\""
        ]),
        "{text}"
    );
    assert!(
        has(&[
            "switchyard_upstream_duration_seconds_bucket",
            "deployment=\"demo.0\""
        ]),
        "{text}"
    );
    assert!(
        has(&["switchyard_tokens_total", "direction=\"output\""]),
        "{text}"
    );
    assert!(
        has(&["switchyard_errors_total", "kind=\"rate_limit\""]),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_stream_finish() {
    let (upstream, mut gw) = start().await;
    let response = post(&gw, &chat("gpt-slow", true)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::from_utf8(body.next().await.unwrap().unwrap().to_vec()).unwrap();
    gw.terminate();
    while let Some(piece) = body.next().await {
        text.push_str(std::str::from_utf8(&piece.expect("stream not cut by shutdown")).unwrap());
    }
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "stream completed: {text}"
    );
    assert!(text.contains("w49 "));
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .expect("exited after draining");
    assert!(status.success(), "{status:?}");
    assert_eq!(upstream.streams_finished(), 1);
}

fn copy_into(dir: &std::path::Path, from: PathBuf, name: &str) -> PathBuf {
    let to = dir.join(plugin_file_name(name));
    std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_fails_its_request_and_the_host_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    copy_into(
        dir.path(),
        plugin_file("switchyard_provider_mock"),
        "switchyard_provider_mock",
    );
    copy_into(
        dir.path(),
        plugin_file("switchyard_testplugin_panicky"),
        "switchyard_provider_panicky",
    );
    let yaml = format!(
        "model_list:\n  - model_name: boom\n    litellm_params:\n      model: panicky/x\n  \
         - model_name: demo\n    litellm_params:\n      model: mock/demo\n\
         general_settings:\n  master_key: {KEY}\n"
    );
    let gw = RunningGateway::start(&yaml, dir.path());
    for _ in 0..2 {
        let (status, e) = error_of(post(&gw, &chat("boom", false)).await).await;
        assert_eq!(status, 500);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("panicked in parse_response"),
            "{e}"
        );
        let response = post(&gw, &chat("boom", true)).await;
        let text = response.text().await.unwrap();
        assert!(text.contains("panicked"), "{text}");
        assert_eq!(
            post(&gw, &chat("demo", false)).await.status(),
            200,
            "host keeps serving"
        );
    }
}

/// Runs `serve` on a plugin directory that must be refused; returns the error line and stderr.
fn startup_error(plugin_dir: &std::path::Path) -> (String, String) {
    let out = run_switchyard(&[
        "serve",
        "--plugin-dir",
        plugin_dir.to_str().unwrap(),
        "--port",
        "0",
    ]);
    assert!(!out.status.success(), "startup must fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = err
        .lines()
        .find(|l| l.contains("error:"))
        .expect("an error line")
        .to_owned();
    (line, err)
}

#[test]
fn broken_plugin_files_stop_startup_with_one_line_naming_the_file() {
    let mock = plugin_file("switchyard_provider_mock");

    let dir = tempfile::tempdir().unwrap();
    copy_into(dir.path(), mock.clone(), "switchyard_provider_mock");
    let bogus = dir
        .path()
        .join(plugin_file_name("switchyard_provider_bogus"));
    std::fs::write(&bogus, b"definitely not an ELF file").unwrap();
    let (line, err) = startup_error(dir.path());
    assert!(line.contains(bogus.to_str().unwrap()), "{err}");

    let dir = tempfile::tempdir().unwrap();
    copy_into(dir.path(), mock, "switchyard_provider_mock");
    let future = copy_into(
        dir.path(),
        plugin_file("switchyard_testplugin_future_epoch"),
        "switchyard_provider_future",
    );
    let (line, err) = startup_error(dir.path());
    assert!(
        line.contains(future.to_str().unwrap()) && line.contains("epoch 2"),
        "{err}"
    );
}

#[test]
fn plugins_list_and_check_config_commands() {
    let dir = target_dir();
    let out = run_switchyard(&["plugins", "list", "--plugin-dir", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["mock", "openai"] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} listed:\n{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], "0.1.0", "{line}");
        assert_eq!(cols[2], "1", "ABI epoch: {line}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.yaml");
    std::fs::write(
        &good,
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/a\n",
    )
    .unwrap();
    let out = run_switchyard(&[
        "check-config",
        good.to_str().unwrap(),
        "--plugin-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: nosuch/a\n",
    )
    .unwrap();
    let out = run_switchyard(&[
        "check-config",
        bad.to_str().unwrap(),
        "--plugin-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model_list[0].litellm_params.model") && err.contains("nosuch"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_can_come_from_an_env_override() {
    let yaml = "model_list:\n  - model_name: demo\n    litellm_params:\n      model: mock/demo\n";
    let gw = RunningGateway::start_with(
        Some(yaml),
        &target_dir(),
        &[],
        &[("SWITCHYARD_GENERAL_SETTINGS__MASTER_KEY", "sk-from-env")],
    );
    let c = client();
    let url = gw.url("/v1/chat/completions");
    let r = c
        .post(&url)
        .bearer_auth("sk-from-env")
        .json(&chat("demo", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(&url)
        .json(&chat("demo", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The README's promise: the embedded quickstart works with the official OpenAI Python SDK.
#[test]
fn embedded_quickstart_serves_the_official_openai_python_sdk() {
    let gw = RunningGateway::start_with(None, &target_dir(), &[], &[]);
    let seen = run_python_client(
        "openai_sdk_quickstart.py",
        &gw,
        &gw.url("/v1"),
        "sk-switchyard-quickstart",
    );
    assert_eq!(
        seen["completion"]["content"],
        "You said: Hello from the SDK"
    );
    assert_eq!(seen["completion"]["finish_reason"], "stop");
    assert!(seen["completion"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(seen["stream"]["roles"], json!(["assistant"]));
    assert_eq!(
        seen["embeddings"],
        json!({"count": 2, "dims": 8, "prompt_tokens": 4, "same_as_float": true})
    );
    assert_eq!(
        seen["stream"]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        40
    );
    assert!(seen["stream"]["total_tokens"].as_u64().unwrap() > 40);
    assert_eq!(seen["unknown_model"]["status"], 404);
    assert_eq!(seen["wrong_key"]["status"], 401);
}

/// Anthropic SDK clients (and coding agents) use the gateway through `/v1/messages`.
#[test]
fn the_anthropic_python_sdk_speaks_messages_to_any_model() {
    let gw = RunningGateway::start_with(None, &target_dir(), &[], &[]);
    let seen = run_python_client(
        "anthropic_sdk_messages.py",
        &gw,
        &gw.url(""),
        "sk-switchyard-quickstart",
    );
    assert_eq!(seen["message"]["type"], "message");
    assert_eq!(seen["message"]["role"], "assistant");
    assert_eq!(seen["message"]["text"], "You said: Hello from Anthropic");
    assert_eq!(seen["message"]["stop_reason"], "end_turn");
    assert!(seen["message"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(seen["stream"]["words"], 40);
    assert_eq!(seen["stream"]["stop_reason"], "end_turn");
    assert!(seen["stream"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(seen["tool"]["names"], json!(["get_weather"]));
    assert_eq!(seen["tool"]["stop_reason"], "tool_use");
    assert_eq!(seen["tool"]["input_is_object"], true);
    assert_eq!(seen["stream_tool"]["names"], json!(["get_weather"]));
    assert_eq!(seen["stream_tool"]["stop_reason"], "tool_use");
    assert_eq!(
        seen["unknown_model"],
        json!({"status": 404, "type": "not_found_error"})
    );
    assert!(seen["count_tokens"].as_u64().unwrap() > 0);
}

//! End-to-end: the endpoints beyond chat through the real `switchyard` binary and the real
//! plugin files, driven by the official OpenAI Python SDK on the embedded quickstart.

use serde_json::{json, Value};
use switchyard_e2e::process::{run_python_client, RunningGateway};
use switchyard_e2e::target_dir;
use switchyard_e2e::upstream::Upstream;

const KEY: &str = "sk-test-master-0123456789";

/// Issue 10's promise: the official OpenAI SDK works on completions, Responses, images and
/// audio (and rerank over HTTP), through keys, router and cost like chat.
#[test]
fn the_openai_python_sdk_drives_completions_responses_images_audio_and_rerank() {
    let gw = RunningGateway::start_with(None, &target_dir(), &[], &[]);
    let seen = run_python_client(
        "openai_sdk_endpoints.py",
        &gw,
        &gw.url("/v1"),
        "sk-switchyard-quickstart",
    );
    assert_eq!(
        seen["completion"],
        json!({"text": "You said: complete me", "finish_reason": "stop"})
    );
    assert_eq!(seen["completion_stream"], "You said: stream me");

    let r = &seen["response"];
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["text"], "You said: Hello from Responses");
    assert_eq!(r["id_prefix"], "resp_");
    assert!(r["input_tokens"].as_u64().unwrap() > 0);
    assert!(r["output_tokens"].as_u64().unwrap() > 0);
    // The follow-up carried the first turn (its prompt is longer than the turn alone).
    assert_eq!(seen["follow_up"]["text"], "You said: and again");
    assert!(
        seen["follow_up"]["input_tokens"].as_u64().unwrap() > r["input_tokens"].as_u64().unwrap(),
        "{seen}"
    );
    assert_eq!(seen["retrieved"], "You said: Hello from Responses");
    assert_eq!(seen["after_delete"], 404);
    assert_eq!(
        seen["unknown_previous"],
        json!({"status": 400, "param": "previous_response_id"})
    );

    let s = &seen["response_stream"];
    assert_eq!(s["first"], "response.created");
    assert_eq!(s["last"], "response.completed");
    assert!(s["deltas"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(s["words"], 40);
    assert!(s["output_tokens"].as_u64().unwrap() >= 40);

    assert_eq!(
        seen["response_tool"],
        json!({"names": ["get_weather"], "has_call_id": true})
    );
    assert_eq!(seen["images"], json!({"count": 2, "png": true}));
    assert!(
        seen["transcription"]
            .as_str()
            .unwrap()
            .starts_with("mock transcription of "),
        "{seen}"
    );
    // `response_format: text` answers plain text (the form is longer by that field).
    assert!(
        seen["transcription_text"]
            .as_str()
            .unwrap()
            .starts_with("mock transcription of "),
        "{seen}"
    );
    // "Hello there": 11 characters of "audio" after the mock's 3-byte header.
    assert_eq!(seen["speech"], json!({"bytes": 14, "starts": "ID3"}));
    assert_eq!(seen["rerank"], json!({"status": 200, "order": [1, 2]}));
}

fn client() -> reqwest::Client {
    switchyard_e2e::http_client()
}

/// Units are billed at the catalog's (here: the config's) unit prices, like tokens for chat.
#[tokio::test]
async fn speech_rerank_images_and_transcriptions_cost_their_units() {
    let gw = RunningGateway::start_with(None, &target_dir(), &[], &[]);
    let c = client();
    let cost = |r: &reqwest::Response| {
        r.headers()
            .get("x-switchyard-response-cost")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let r = c
        .post(gw.url("/v1/audio/speech"))
        .bearer_auth("sk-switchyard-quickstart")
        .json(&json!({"model": "demo-tts", "voice": "alloy", "input": "Hello there"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    // 11 characters × $0.000015.
    assert_eq!(cost(&r).as_deref(), Some("0.000165"));

    let r = c
        .post(gw.url("/v1/rerank"))
        .bearer_auth("sk-switchyard-quickstart")
        .json(&json!({"model": "demo-rerank", "query": "q", "documents": ["a", "q"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cost(&r).as_deref(), Some("0.002"));

    let r = c
        .post(gw.url("/v1/images/generations"))
        .bearer_auth("sk-switchyard-quickstart")
        .json(&json!({"model": "demo-image", "prompt": "a cat", "n": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cost(&r).as_deref(), Some("0.12"));

    // 64,000 bytes of audio plus the form: just over 2 s at the mock's rate, reported as 3
    // whole seconds (as OpenAI's `usage.seconds` rounds up); $0.0001 a second.
    let form = reqwest::multipart::Form::new()
        .text("model", "demo-whisper")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0u8; 64_000]).file_name("a.wav"),
        );
    let r = c
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth("sk-switchyard-quickstart")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(cost(&r).as_deref(), Some("0.0003"));

    // Bad input is named: a transcription without a model, a rerank without documents.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0u8; 10]).file_name("a.wav"),
    );
    let r = c
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth("sk-switchyard-quickstart")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "model");
    let r = c
        .post(gw.url("/v1/rerank"))
        .bearer_auth("sk-switchyard-quickstart")
        .json(&json!({"model": "demo-rerank", "query": "q"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "documents");
}

fn native_config(upstream: &Upstream) -> String {
    format!(
        r#"
model_list:
  - model_name: gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {openai}
      api_key: sk-upstream-openai-secret
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: http://{addr}
      api_key: sk-upstream-anthropic-secret
  - model_name: demo
    litellm_params:
      model: mock/demo
general_settings:
  master_key: {KEY}
"#,
        openai = upstream.api_base(""),
        addr = upstream.addr,
    )
}

async fn post(gw: &RunningGateway, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Responses go to OpenAI as they are; a follow-up turn is expanded from the gateway's store,
/// so the upstream sees the whole conversation and no id it may not know.
#[tokio::test]
async fn responses_go_natively_to_openai_with_earlier_turns_from_the_gateways_store() {
    let upstream = Upstream::start().await;
    let gw = RunningGateway::start(&native_config(&upstream), &target_dir());
    let r = post(
        &gw,
        "/v1/responses",
        json!({"model": "gpt", "input": "first turn"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["id"], "resp_upstream_1");
    assert_eq!(
        first["output"][0]["content"][0]["text"],
        "Responses from upstream to gpt-4o-mini with 1 input items"
    );
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-upstream-openai-secret")
    );

    // The store write is in the background: give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = post(
        &gw,
        "/v1/responses",
        json!({"model": "gpt", "input": "second turn", "previous_response_id": "resp_upstream_1"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = upstream.requests().pop().unwrap();
    assert!(
        sent.body.get("previous_response_id").is_none(),
        "{}",
        sent.body
    );
    // First input, first output, second input.
    assert_eq!(
        sent.body["input"].as_array().unwrap().len(),
        3,
        "{}",
        sent.body
    );

    // A stream goes through unchanged, event names included, with no [DONE] added.
    let r = post(
        &gw,
        "/v1/responses",
        json!({"model": "gpt", "input": "stream it", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: response.created"), "{text}");
    assert!(text.contains("event: response.completed"), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");

    // A chat-only provider answers the same API, translated.
    let r = post(
        &gw,
        "/v1/responses",
        json!({"model": "demo", "input": "hello"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let translated: Value = r.json().await.unwrap();
    assert_eq!(translated["object"], "response");
    assert_eq!(
        translated["output"][0]["content"][0]["text"],
        "You said: hello"
    );
}

/// Pass-through routes: the client's gateway key out, the deployment's credential in; the
/// answer comes back unchanged and its usage is charged.
#[tokio::test]
async fn passthrough_routes_inject_the_deployments_credentials_and_charge_usage() {
    let upstream = Upstream::start().await;
    let gw = RunningGateway::start(&native_config(&upstream), &target_dir());
    let r = post(
        &gw,
        "/openai/v1/chat/completions",
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let cost = r
        .headers()
        .get("x-switchyard-response-cost")
        .map(|v| v.to_str().unwrap().to_owned());
    let answer: Value = r.json().await.unwrap();
    assert!(answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("Hello from upstream"));
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-upstream-openai-secret")
    );
    // gpt-4o-mini has catalog prices: the usage was charged.
    assert!(cost.is_some_and(|c| c != "0"), "no cost header");

    let r = post(
        &gw,
        "/anthropic/v1/messages",
        json!({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(
        sent.header("x-api-key"),
        Some("sk-upstream-anthropic-secret")
    );
    assert!(sent.header("authorization").is_none());

    // Without a gateway key: refused before anything is forwarded.
    let before = upstream.requests().len();
    let r = client()
        .post(gw.url("/openai/v1/chat/completions"))
        .json(&json!({"model": "gpt-4o-mini", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(upstream.requests().len(), before);
}

/// `/v1/messages` to an Anthropic deployment is native: the body and the events go through
/// as they are.
#[tokio::test]
async fn messages_go_natively_to_anthropic() {
    let upstream = Upstream::start().await;
    let gw = RunningGateway::start(&native_config(&upstream), &target_dir());
    let body = json!({"model": "claude", "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}], "metadata": {"user_id": "u1"}});
    let r = post(&gw, "/v1/messages", body.clone()).await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["id"], "msg_up_1");
    assert_eq!(
        m["content"][0]["text"],
        "Messages from upstream to claude-sonnet-4-5"
    );
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["metadata"], json!({"user_id": "u1"}));
    assert_eq!(
        sent.header("x-api-key"),
        Some("sk-upstream-anthropic-secret")
    );

    let mut body = body;
    body["stream"] = json!(true);
    let r = post(&gw, "/v1/messages", body).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
}

/// Regression: a native Messages stream that fails after it started ended with an OpenAI
/// error frame and `data: [DONE]`, which Anthropic clients do not read; it now ends with
/// Anthropic's own `error` event.
#[tokio::test]
async fn a_native_messages_stream_that_fails_ends_with_an_anthropic_error_event() {
    let upstream = Upstream::start().await;
    let config = format!(
        r#"
model_list:
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: http://{addr}/overloaded
      api_key: sk-upstream-anthropic-secret
general_settings:
  master_key: {KEY}
"#,
        addr = upstream.addr,
    );
    let gw = RunningGateway::start(&config, &target_dir());
    let r = post(
        &gw,
        "/v1/messages",
        json!({"model": "claude", "max_tokens": 8, "stream": true,
               "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("event: error\n"), "{text}");
    assert!(text.contains("\"overloaded_error\""), "{text}");
    // Every event is named (an OpenAI error frame is a bare `data:` line).
    assert_eq!(
        text.matches("\ndata: ").count() + usize::from(text.starts_with("data: ")),
        text.matches("event: ").count(),
        "{text}"
    );
    assert!(!text.contains("[DONE]"), "{text}");
}

//! End-to-end per provider: the real `switchyard` binary and plugin files, an upstream on
//! loopback that replays a recorded provider response, an OpenAI client request in front.

mod common;

use common::{gateway_for, gateway_with_base, post_chat, recorded_answer, sse_chunks};
use serde_json::{json, Value};
use switchyard_e2e::upstream::Replay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_through_the_host_non_stream_and_stream() {
    let replay = Replay::start(vec![
        recorded_answer("anthropic/messages_text__pydantic-ai.yaml", 0),
        recorded_answer("anthropic/messages_stream_text__llm-anthropic.yaml", 0),
    ])
    .await;
    let gw = gateway_for("anthropic/claude-haiku-4-5", &replay).await;

    let r: Value = post_chat(&gw, &json!({"model": "claude", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]})).await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["content"],
        "The capital of France is Paris."
    );
    assert_eq!(r["usage"]["total_tokens"], 30);
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-e2e"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.body["system"], "Be brief.");
    assert_eq!(sent.body["model"], "claude-haiku-4-5");

    let text = post_chat(
        &gw,
        &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Say just hello"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let chunks: Vec<Value> = sse_chunks(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello");
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 14);
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_error_keeps_its_class_through_the_host() {
    let replay = Replay::start(vec![recorded_answer(
        "anthropic/messages_error_401_authentication__dd-trace-py.yaml",
        0,
    )])
    .await;
    let gw = gateway_for("anthropic/claude-3-opus-20240229", &replay).await;
    let r = post_chat(
        &gw,
        &json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid x-api-key"));
    assert!(!e.to_string().contains("sk-ant-e2e"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groq_stream_with_x_groq_usage_through_the_host() {
    let replay = Replay::start(vec![recorded_answer(
        "groq/chat_stream_text_x_groq_usage__openllmetry.yaml",
        0,
    )])
    .await;
    let gw = gateway_with_base(
        "groq/llama3-8b-8192",
        &format!("http://{}/openai/v1", replay.addr),
        &replay,
    );
    let text = post_chat(&gw, &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]})).await
        .text()
        .await
        .unwrap();
    let content: String = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(
        content.starts_with("A joke about OpenTelemetry!"),
        "{content}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/openai/v1/chat/completions");
    assert_eq!(sent.body["model"], "llama3-8b-8192");
    assert_eq!(sent.body["stream_options"]["include_usage"], true);

    let metrics = switchyard_e2e::http_client()
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchyard_tokens_total")
                && l.contains("provider=\"groq\"")
                && l.contains("direction=\"output\"")
                && l.ends_with(" 73")),
        "usage from x_groq reaches the token metrics:\n{metrics}"
    );
}

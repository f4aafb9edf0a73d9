//! End-to-end for the ollama plugin: the real `switchyard` binary and plugin files, an upstream
//! on loopback replaying recorded Ollama answers (JSON and NDJSON), an OpenAI client in front.

mod common;

use common::{gateway_with_params, post_chat, recorded_answer, replaying, sse_chunks};
use serde_json::{json, Value};
use switchyard_e2e::upstream::Replay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_through_the_host_non_stream_and_ndjson_stream() {
    let replay = Replay::start(vec![
        recorded_answer("ollama/api_chat_text__openllmetry.yaml", 0),
        recorded_answer("ollama/api_chat_stream__openllmetry.yaml", 0),
    ])
    .await;
    // No key: a local Ollama needs none.
    let gw = gateway_with_params(
        "ollama_chat/llama3",
        &format!("http://{}", replay.addr),
        "",
        &replay,
    );

    let r: Value = post_chat(&gw, &json!({"model": "claude", "max_tokens": 200,
                      "messages": [{"role": "system", "content": "Be funny."},
                                   {"role": "user", "content": "Tell me a joke about OpenTelemetry"}]})).await
        .json()
        .await
        .unwrap();
    let content = r["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("A joke about OpenTelemetry!"),
        "{content}"
    );
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["prompt_tokens"], 17);
    assert_eq!(r["usage"]["completion_tokens"], 66);
    assert_eq!(r["usage"]["total_tokens"], 83);
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["model"], "llama3");
    assert_eq!(sent.body["stream"], false, "stream is always explicit");
    assert_eq!(sent.body["options"]["num_predict"], 200);
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "Be funny."})
    );

    let text = post_chat(&gw, &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]})).await
        .text()
        .await
        .unwrap();
    let chunks = sse_chunks(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(
        content.starts_with("Why did the OpenTelemetry agent go to therapy?"),
        "{content}"
    );
    assert!(content.ends_with("smile to your face!)"), "{content}");
    let finish: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["stop"]);
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 67);
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[1];
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.body["stream"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_model_not_found_keeps_its_class_through_the_host() {
    let (replay, gw) = replaying(
        vec![recorded_answer(
            "ollama/api_chat_error_404_model_not_found__openinference.yaml",
            0,
        )],
        "ollama/nonexistent-model:latest",
        "",
    )
    .await;
    let r = post_chat(&gw, &json!({"model": "claude", "messages": [{"role": "user", "content": "Why is the sky blue?"}]})).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model 'nonexistent-model:latest' not found"),
        "{e}"
    );
    assert_eq!(replay.requests()[0].path, "/api/chat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_embeddings_and_generate_stream_through_the_host() {
    let (replay, gw) = replaying(
        vec![
            recorded_answer("ollama/api_embeddings__openllmetry.yaml", 0),
            recorded_answer("ollama/api_generate_stream__openllmetry.yaml", 0),
        ],
        "ollama/llama3",
        "api_key: ollama-e2e\nollama_legacy_embeddings: true\n",
    )
    .await;
    let client = switchyard_e2e::http_client();

    let r: Value = client
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "claude", "input": "all-minilm"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["object"], "list", "{r}");
    assert_eq!(r["data"][0]["object"], "embedding");
    assert_eq!(r["data"][0]["embedding"].as_array().unwrap().len(), 4096);
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/api/embeddings");
    assert_eq!(
        sent.body,
        json!({"model": "llama3", "prompt": "all-minilm"})
    );
    assert_eq!(sent.header("authorization"), Some("Bearer ollama-e2e"));

    let text = client
        .post(gw.url("/v1/completions"))
        .json(&json!({"model": "claude", "stream": true, "prompt": "Tell me a joke about OpenTelemetry"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks = sse_chunks(&text);
    let completion: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert!(
        completion.starts_with("A joke about OpenTelemetry! Here's one:"),
        "{completion}"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[1];
    assert_eq!(sent.path, "/api/generate");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["prompt"], "Tell me a joke about OpenTelemetry");
}

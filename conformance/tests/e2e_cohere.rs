//! End-to-end for the cohere plugin: the real `switchyard` binary and plugin files, an upstream
//! on loopback replaying recorded Cohere v2 answers (JSON, gzip JSON and SSE), an OpenAI client
//! in front.

mod common;

use common::{content_of, post_chat, recorded_answer, replaying, sse_chunks};
use serde_json::{json, Value};

const KEY: &str = "api_key: co-e2e\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohere_through_the_host_non_stream_and_stream() {
    let (replay, gw) = replaying(
        vec![
            recorded_answer("cohere/chat_v2_text__langchain-cohere.yaml", 0),
            recorded_answer("cohere/chat_v2_stream_text__langchain-cohere.yaml", 0),
        ],
        "cohere/command-r",
        KEY,
    )
    .await;

    let r: Value = post_chat(&gw, &json!({"model": "claude", "temperature": 0.3, "top_p": 0.9,
                      "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "I'm Pickle Rick"}]})).await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["content"],
        "Hi there! You're Pickle Rick? That's a fun nickname! Do you have a question or would you like some help with something?",
        "{r}"
    );
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["prompt_tokens"], 70);
    assert_eq!(r["usage"]["total_tokens"], 98);
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/v2/chat");
    assert_eq!(sent.header("authorization"), Some("Bearer co-e2e"));
    assert_eq!(sent.body["model"], "command-r");
    assert_eq!(
        sent.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent.body["p"], 0.9);
    assert!(sent.body.get("top_p").is_none());

    let text = post_chat(
        &gw,
        &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "I'm Pickle Rick"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let chunks = sse_chunks(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content = content_of(&chunks);
    assert!(
        content.starts_with("Hi there! You're Pickle Rick? That's a fun nickname!"),
        "{content}"
    );
    assert!(content.ends_with("episode recommendations?"), "{content}");
    let finish = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .next_back();
    assert_eq!(finish, Some("stop"));
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 139);
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[1];
    assert_eq!(sent.path, "/v2/chat");
    assert_eq!(sent.body["stream"], true);
    assert!(sent.body.get("stream_options").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohere_stream_with_tool_calls_through_the_host() {
    let (replay, gw) = replaying(
        vec![recorded_answer(
            "cohere/chat_v2_stream_tool_calls__langchain-cohere.yaml",
            0,
        )],
        "cohere_chat/command-r",
        KEY,
    )
    .await;
    let tools = json!([{"type": "function", "function": {"name": "Person", "description": "",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}}}]);
    let text = post_chat(&gw, &json!({"model": "claude", "stream": true, "temperature": 0.0, "tools": tools, "tool_choice": "required",
                      "messages": [{"role": "user", "content": "Erick, 27 years old"}]})).await
        .text()
        .await
        .unwrap();
    let chunks = sse_chunks(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(content_of(&chunks).starts_with("I will use the Person tool"));
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["id"], "Person_2fnrphbsnr66");
    assert_eq!(calls[0]["function"]["name"], "Person");
    assert!(calls.iter().all(|c| c["index"] == 0));
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    let parsed: Value = serde_json::from_str(&arguments).unwrap();
    assert_eq!(parsed, json!({"name": "Erick", "age": 27}));
    let finish = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .next_back();
    assert_eq!(finish, Some("tool_calls"));
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/v2/chat");
    assert_eq!(sent.body["tool_choice"], "REQUIRED");
    assert_eq!(sent.body["tools"][0]["function"]["name"], "Person");
    assert_eq!(sent.body["stream"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cohere_reasoning_gzip_embeddings_and_error_through_the_host() {
    let (replay, gw) = replaying(
        vec![
            recorded_answer(
                "cohere/chat_v2_reasoning_tool_call_gzip__langchain-cohere.yaml",
                0,
            ),
            recorded_answer("cohere/embed_v2__pydantic-ai.yaml", 0),
            recorded_answer("cohere/embed_v2_error_404__pydantic-ai.yaml", 0),
        ],
        "cohere/command-a-reasoning-08-2025",
        KEY,
    )
    .await;
    let client = switchyard_e2e::http_client();

    let r: Value = post_chat(&gw, &json!({"model": "claude", "reasoning_effort": "low",
                      "messages": [{"role": "user", "content": "Weather in the 2nd largest city of Japan?"}]})).await
        .json()
        .await
        .unwrap();
    let message = &r["choices"][0]["message"];
    assert!(
        message["reasoning_content"]
            .as_str()
            .unwrap()
            .starts_with("Okay, the user is asking"),
        "{r}"
    );
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"location\":\"Osaka\"}"
    );
    assert_eq!(r["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(r["usage"]["prompt_tokens_details"]["cached_tokens"], 1008);
    assert_eq!(
        replay.requests()[0].body["thinking"],
        json!({"type": "enabled", "token_budget": 1024})
    );

    let r: Value = client
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "claude", "input": "Hello, world!"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["object"], "list", "{r}");
    assert_eq!(r["data"][0]["object"], "embedding");
    assert_eq!(r["data"][0]["embedding"].as_array().unwrap().len(), 1536);
    assert_eq!(r["usage"]["prompt_tokens"], 4);
    let sent = &replay.requests()[1];
    assert_eq!(sent.path, "/v2/embed");
    assert_eq!(
        sent.body,
        json!({"model": "command-a-reasoning-08-2025", "texts": ["Hello, world!"],
               "input_type": "search_document", "embedding_types": ["float"]})
    );

    let r = client
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "claude", "input": "Hello, world!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model 'nonexistent' not found"),
        "{e}"
    );
    assert!(!e.to_string().contains("co-e2e"));
}

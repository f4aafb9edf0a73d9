//! End-to-end for the gemini and vertex_ai plugins: the real `switchyard` binary and plugin
//! files, an upstream on loopback replaying recorded Gemini answers (JSON and SSE), an OpenAI
//! client in front. The vertex_ai test also runs the service-account token flow: the host asks
//! the plugin for its auth step, POSTs the signed JWT assertion to the credentials' `token_uri`
//! (the replaying upstream), caches the token and sends it as a bearer on every request.

mod common;

use common::{content_of, gateway_with_params, post_chat, recorded_answer, replaying, sse_chunks};
use serde_json::{json, Value};
use switchyard_e2e::upstream::{Canned, Replay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_through_the_host_non_stream_and_stream() {
    let (replay, gw) = replaying(
        vec![
            recorded_answer("gemini/generate_text_stop_sequences__pydantic-ai.yaml", 0),
            recorded_answer("gemini/stream_sse_text__pydantic-ai.yaml", 0),
        ],
        "gemini/gemini-1.5-flash",
        "api_key: gm-e2e\n",
    )
    .await;

    let r: Value = post_chat(&gw, &json!({"model": "claude", "stop": ["Paris"], "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]})).await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["content"],
        "The most iconic city in France is "
    );
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["total_tokens"], 33);
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/v1beta/models/gemini-1.5-flash:generateContent");
    assert_eq!(sent.header("x-goog-api-key"), Some("gm-e2e"));
    assert_eq!(
        sent.body["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(
        sent.body["generationConfig"]["stopSequences"],
        json!(["Paris"])
    );
    assert_eq!(sent.body["contents"][0]["role"], "user");

    let text = post_chat(
        &gw,
        &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "What is the capital of France?"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let chunks = sse_chunks(&text);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(content_of(&chunks), "The capital of France is Paris.\n");
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 21);
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let sent = &replay.requests()[1];
    assert_eq!(
        sent.path,
        "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_invalid_key_is_a_401_through_the_host() {
    let (_replay, gw) = replaying(
        vec![recorded_answer(
            "gemini/error_400_api_key_invalid_gzip__mirascope.yaml",
            0,
        )],
        "gemini/gemini-2.5-flash",
        "api_key: gm-bad-e2e\n",
    )
    .await;
    let r = post_chat(
        &gw,
        &json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("API key not valid"));
    assert!(!e.to_string().contains("gm-bad-e2e"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_ai_service_account_token_then_non_stream_and_stream() {
    let token = Canned {
        status: 200,
        content_type: "application/json".to_owned(),
        body: br#"{"access_token": "ya29.e2e-token", "expires_in": 3599, "token_type": "Bearer"}"#
            .to_vec(),
        headers: Vec::new(),
    };
    let replay = Replay::start(vec![
        token,
        recorded_answer("vertex_ai/generate_text__pydantic-ai.yaml", 0),
        recorded_answer("vertex_ai/stream_sse_thinking__pydantic-ai.yaml", 0),
    ])
    .await;
    // The committed test service account (a throwaway key), its token_uri pointed at the
    // replaying upstream, written to a file the host reads (`credential_files`).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sa: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.join("providers/vertex-ai/testdata/test_service_account.json"),
        )
        .unwrap(),
    )
    .unwrap();
    sa["token_uri"] = json!(format!("http://{}/token", replay.addr));
    let dir = tempfile::tempdir().unwrap();
    let sa_path = dir.path().join("sa.json");
    std::fs::write(&sa_path, sa.to_string()).unwrap();

    let gw = gateway_with_params(
        "vertex_ai/gemini-2.0-flash",
        &format!("http://{}", replay.addr),
        &format!(
            "vertex_project: e2e-project\nvertex_location: us-central1\nvertex_credentials: {}\n",
            sa_path.display()
        ),
        &replay,
    );

    let r: Value = post_chat(&gw, &json!({"model": "claude", "messages": [{"role": "user", "content": "What is the capital of France?"}]})).await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["content"], "The capital of France is Paris.\n",
        "{r}"
    );
    assert_eq!(r["usage"]["total_tokens"], 21);

    let requests = replay.requests();
    let token_request = &requests[0];
    assert_eq!(
        (token_request.method.as_str(), token_request.path.as_str()),
        ("POST", "/token")
    );
    assert_eq!(
        token_request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let chat = &requests[1];
    assert_eq!(
        chat.path,
        "/v1/projects/e2e-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(chat.header("authorization"), Some("Bearer ya29.e2e-token"));
    assert_eq!(chat.header("x-goog-api-key"), None);

    let text = post_chat(
        &gw,
        &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Reply with exactly: OK"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let chunks = sse_chunks(&text);
    assert_eq!(content_of(&chunks), "OK");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 100);
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    // The cached token is reused: no second token fetch.
    let requests = replay.requests();
    assert_eq!(
        requests.len(),
        3,
        "{:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert_eq!(
        requests[2].path,
        "/v1/projects/e2e-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        requests[2].header("authorization"),
        Some("Bearer ya29.e2e-token")
    );
}

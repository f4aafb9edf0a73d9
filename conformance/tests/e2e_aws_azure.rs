//! End-to-end for the bedrock and azure_openai plugins: the real `switchyard` binary and plugin
//! files, upstreams on loopback replaying recorded Bedrock (an `application/vnd.amazon.eventstream`
//! body for ConverseStream) and Azure OpenAI traffic, an OpenAI client request in front.

mod common;

use common::{content_of, gateway_with_params, post_chat, recorded_answer, replaying, sse_chunks};
use serde_json::{json, Value};
use switchyard_e2e::upstream::{Replay, Upstream};

const AWS_PARAMS: &str = "aws_access_key_id: AKIDE2EEXAMPLE\naws_secret_access_key: e2e-secret-access-key\naws_region_name: us-east-1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_converse_non_stream_and_eventstream_through_the_host() {
    let replay = Replay::start(vec![
        recorded_answer("bedrock/converse_text__pydantic-ai.yaml", 0),
        recorded_answer("bedrock/converse_stream_text__pydantic-ai.yaml", 0),
    ])
    .await;
    let base = format!("http://{}", replay.addr);
    let gw = gateway_with_params(
        "bedrock/converse/us.amazon.nova-micro-v1:0",
        &base,
        AWS_PARAMS,
        &replay,
    );

    let r: Value = post_chat(&gw, &json!({"model": "claude", "messages": [{"role": "system", "content": "You are a chatbot."}, {"role": "user", "content": "Hello!"}]})).await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["choices"][0]["message"]["content"],
        "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, I'm here to help."
    );
    assert_eq!(r["choices"][0]["finish_reason"], "stop");
    assert_eq!(r["usage"]["total_tokens"], 37);
    let sent = &replay.requests()[0];
    assert_eq!(sent.path, "/model/us.amazon.nova-micro-v1%3A0/converse");
    assert_eq!(sent.body["system"], json!([{"text": "You are a chatbot."}]));
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "user", "content": [{"text": "Hello!"}]}])
    );
    // Signed inside the plugin with the host's clock, for the host the client connects to.
    let auth = sent.header("authorization").expect("signed request");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDE2EEXAMPLE/")
            && auth.contains("/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="),
        "{auth}"
    );
    let date = sent.header("x-amz-date").expect("x-amz-date");
    assert_eq!(date.len(), 16, "{date}");
    assert_eq!(sent.header("host"), Some(replay.addr.to_string().as_str()));
    assert!(!auth.contains("e2e-secret-access-key"));

    let text = post_chat(
        &gw,
        &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "temperature": 0.0,
                      "messages": [{"role": "user", "content": "What is the capital of France?"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let c = sse_chunks(&text);
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
    let content = content_of(&c);
    assert!(
        content.starts_with("The capital of France is Paris.")
            && content.ends_with("\"The City of Love.\""),
        "{content}"
    );
    let last = c.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 95);
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[1];
    assert_eq!(
        sent.path,
        "/model/us.amazon.nova-micro-v1%3A0/converse-stream"
    );
    assert_eq!(sent.body["inferenceConfig"], json!({"temperature": 0.0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_expired_token_keeps_its_class_through_the_host() {
    let (replay, gw) = replaying(
        vec![recorded_answer(
            "bedrock/converse_error_403_expired_token__dd-trace-py.yaml",
            0,
        )],
        "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
        AWS_PARAMS,
    )
    .await;
    let r = post_chat(
        &gw,
        &json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("The security token included in the request is expired"),
        "{message}"
    );
    assert!(!e.to_string().contains("e2e-secret-access-key"));
    assert_eq!(
        replay.requests().len(),
        1,
        "an authentication error is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_stream_with_the_prompt_filter_chunk_starts_with_the_role() {
    let (replay, gw) = replaying(
        vec![recorded_answer(
            "azure_openai/chat_stream_prompt_filter_chunk__crewai.yaml",
            0,
        )],
        "azure/gpt-4o-mini",
        "api_key: azure-e2e-key\napi_version: 2024-12-01-preview\n",
    )
    .await;
    let text = post_chat(
        &gw,
        &json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Say hello"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let c = sse_chunks(&text);
    // The upstream's first event (choices: [], prompt_filter_results) is not the client's.
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant", "{text}");
    assert_eq!(c[0]["prompt_filter_results"][0]["prompt_index"], 0);
    assert!(c[..c.len() - 1]
        .iter()
        .all(|c| c["choices"].as_array().is_some_and(|a| !a.is_empty())));
    assert_eq!(content_of(&c), "Hello! How can I assist you today?");
    assert_eq!(c.last().unwrap()["usage"]["total_tokens"], 19);
    assert!(text.ends_with("data: [DONE]\n\n"));
    let sent = &replay.requests()[0];
    assert_eq!(
        sent.path,
        "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-12-01-preview"
    );
    assert_eq!(sent.header("api-key"), Some("azure-e2e-key"));
    assert_eq!(sent.body["model"], "gpt-4o-mini");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_deployment_not_found_keeps_its_class_through_the_host() {
    let (_replay, gw) = replaying(
        vec![recorded_answer(
            "azure_openai/chat_reasoning_then_404_deployment_not_found__openllmetry.yaml",
            1,
        )],
        "azure/gpt-5-nano",
        "api_key: azure-e2e-key\napi_version: 2024-02-01\n",
    )
    .await;
    let r = post_chat(&gw, &json!({"model": "claude", "messages": [{"role": "user", "content": "Count r's in strawberry"}], "reasoning_effort": "low"})).await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("The API deployment for this resource does not exist"));
    assert!(!e.to_string().contains("azure-e2e-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_entra_id_client_credentials_through_the_hosts_auth_step() {
    let upstream = Upstream::start().await;
    let base = format!("http://{}", upstream.addr);
    let extra = format!(
        "tenant_id: contoso-tenant\nclient_id: app-e2e\nclient_secret: e2e-client-secret\nazure_authority_host: {base}/v1\n"
    );
    let gw = switchyard_e2e::process::RunningGateway::start(
        &format!(
            "model_list:\n  - model_name: claude\n    litellm_params:\n      model: azure/gpt-4o\n      api_base: {base}\n{}",
            extra
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        ),
        &switchyard_e2e::target_dir(),
    );
    for _ in 0..2 {
        let r: Value = post_chat(
            &gw,
            &json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(
            r["choices"][0]["message"]["content"],
            "Hello from upstream to gpt-4o"
        );
    }
    let requests = upstream.requests();
    let token: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/token"))
        .collect();
    assert_eq!(token.len(), 1, "one token fetch, cached by the host");
    assert_eq!(token[0].path, "/v1/contoso-tenant/oauth2/v2.0/token");
    let form = token[0].body.as_str().unwrap();
    assert!(form.contains("grant_type=client_credentials") && form.contains("client_id=app-e2e"));
    let chats: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .collect();
    assert_eq!(chats.len(), 2);
    for chat in chats {
        assert_eq!(chat.path, "/openai/deployments/gpt-4o/chat/completions");
        assert_eq!(chat.header("authorization"), Some("Bearer tok-1"));
        assert!(chat.header("api-key").is_none());
    }
}

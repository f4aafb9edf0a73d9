//! Capability checks through the real binary: an OpenAI parameter the provider does not support
//! is a 400 naming it and the provider, unless `drop_params` (request, deployment or global)
//! drops it; `additional_drop_params` always drops.

use serde_json::{json, Value};
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::target_dir;

async fn post(gw: &RunningGateway, body: Value) -> (u16, Value) {
    let r = switchyard_e2e::http_client()
        .post(gw.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn body(model: &str) -> Value {
    json!({"model": model, "logprobs": true, "top_k": 3,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_params_are_refused_or_dropped() {
    let gw = RunningGateway::start(
        "model_list:\n\
         - model_name: strict\n  litellm_params: {model: mock/strict}\n\
         - model_name: lenient\n  litellm_params: {model: mock/lenient, drop_params: true}\n\
         - model_name: no-user\n  litellm_params: {model: mock/x, additional_drop_params: [user]}\n",
        &target_dir(),
    );
    // The mock plugin does not declare `logprobs`; `top_k` is not an OpenAI parameter and is
    // left to the plugin.
    let (status, e) = post(&gw, body("strict")).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "unsupported_parameter");
    assert_eq!(e["error"]["param"], "logprobs");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("mock does not support the parameter 'logprobs'")
            && message.contains("drop_params: true"),
        "{message}"
    );

    let mut dropped = body("strict");
    dropped["drop_params"] = json!(true);
    assert_eq!(post(&gw, dropped).await.0, 200, "per request");
    assert_eq!(post(&gw, body("lenient")).await.0, 200, "per deployment");

    let (status, r) = post(
        &gw,
        json!({"model": "no-user", "user": "u-1", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 200, "{r}");

    let global = RunningGateway::start(
        "model_list:\n- model_name: strict\n  litellm_params: {model: mock/strict}\n\
         litellm_settings: {drop_params: true}\n",
        &target_dir(),
    );
    assert_eq!(post(&global, body("strict")).await.0, 200, "global");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_api_base_and_api_key_need_the_deployments_permission() {
    let upstream = switchyard_e2e::upstream::Upstream::start().await;
    let gw = RunningGateway::start(
        &format!(
            "model_list:\n\
             - model_name: locked\n  litellm_params: {{model: openai/gpt-4o-mini, api_base: '{bad}', api_key: sk-server}}\n\
             - model_name: open\n  litellm_params: {{model: openai/gpt-4o-mini, api_base: '{bad}', api_key: sk-server, configurable_clientside_auth_params: [api_base, api_key]}}\n",
            bad = upstream.api_base("fail500"),
        ),
        &target_dir(),
    );
    let redirected = |model: &str| {
        json!({"model": model, "api_base": upstream.api_base(""), "api_key": "sk-client",
               "messages": [{"role": "user", "content": "hi"}]})
    };
    let (status, e) = post(&gw, redirected("locked")).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "client_override_not_allowed");
    assert_eq!(e["error"]["param"], "api_base");
    assert!(upstream.requests().is_empty(), "nothing was sent anywhere");

    let (status, r) = post(&gw, redirected("open")).await;
    assert_eq!(status, 200, "{r}");
    let sent = &upstream.requests()[0];
    assert_eq!(
        sent.path, "/v1/chat/completions",
        "the client's api_base was used"
    );
    assert_eq!(sent.header("authorization"), Some("Bearer sk-client"));
    assert!(
        sent.body.get("api_base").is_none(),
        "never forwarded upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_legacy_completions_go_through_the_same_gateway() {
    let upstream = switchyard_e2e::upstream::Upstream::start().await;
    let gw = RunningGateway::start(
        &format!(
            "model_list:\n\
             - model_name: embed\n  litellm_params: {{model: openai/text-embedding-3-small, api_base: '{ok}', api_key: k}}\n\
             - model_name: embed\n  litellm_params: {{model: openai/text-embedding-3-small, api_base: '{bad}', api_key: k}}\n\
             - model_name: instruct\n  litellm_params: {{model: openai/gpt-3.5-turbo-instruct, api_base: '{ok}', api_key: k}}\n",
            ok = upstream.api_base(""),
            bad = upstream.api_base("fail500"),
        ),
        &target_dir(),
    );
    let client = switchyard_e2e::http_client();
    for _ in 0..6 {
        // One deployment fails: the router retries embeddings like chat.
        let r = client
            .post(gw.url("/v1/embeddings"))
            .json(&json!({"model": "embed", "input": "hello world"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-switchyard-model-group"], "embed");
        let cost: f64 = r.headers()["x-switchyard-response-cost"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        // 5 prompt tokens at the bundled catalog's $0.02 per million.
        assert!((cost - 5.0 * 0.00000002).abs() < 1e-15, "{cost}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"][0]["embedding"], json!([0.6, 0.8]));
    }
    let sent: Vec<_> = upstream
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .collect();
    assert!(sent
        .iter()
        .all(|r| r.body["model"] == "text-embedding-3-small"));

    let (status, e) = post(&gw, json!({"model": "embed"})).await;
    assert_eq!(status, 400, "{e}");
    let r = client
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "embed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "input");

    let r = client
        .post(gw.url("/v1/completions"))
        .json(&json!({"model": "instruct", "prompt": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["text"], " world");
    assert_eq!(v["usage"]["total_tokens"], 3);
}

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

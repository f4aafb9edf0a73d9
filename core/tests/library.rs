//! switchyard-core as a library: a gateway built in-process with a statically linked provider,
//! driven through `Gateway::handle` without any socket.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use switchyard_core::{Config, Environment, Gateway};
use switchyard_plugin_sdk::host::PluginHandle;

const CONFIG: &str = r#"
model_list:
  - model_name: demo
    litellm_params:
      model: mock/demo
general_settings:
  master_key: sk-lib
"#;

fn gateway() -> Gateway {
    let loaded = Config::from_yaml_str(CONFIG, "inline", &Environment::default()).unwrap();
    let mock = PluginHandle::from_static(switchyard_provider_mock::plugin_module()).unwrap();
    let (gateway, warnings) = Gateway::builder(loaded.config)
        .plugin(mock)
        .unwrap()
        .build()
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    gateway
}

fn request(body: &'static str, key: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut builder = http::Request::post("/v1/chat/completions");
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    builder
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test]
async fn a_statically_linked_provider_serves_through_the_library_api() {
    let gw = gateway();
    let response = gw
        .handle(request(
            r#"{"model":"demo","messages":[{"role":"user","content":"in process"}]}"#,
            Some("sk-lib"),
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-deployment"], "demo.0");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "You said: in process"
    );
}

#[tokio::test]
async fn streams_and_errors_work_without_a_server() {
    let gw = gateway();
    let response = gw
        .handle(request(
            r#"{"model":"demo","stream":true,"messages":[{"role":"user","content":"a b"}]}"#,
            Some("sk-lib"),
        ))
        .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");

    let response = gw
        .handle(request(r#"{"model":"demo","messages":[]}"#, None))
        .await;
    assert_eq!(response.status(), 401);
}

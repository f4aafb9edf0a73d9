//! Config reload without a restart: `POST /config/reload` and SIGHUP swap the model list and
//! router settings atomically; a request already running finishes on the old config; a bad file
//! changes nothing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::target_dir;
use switchyard_e2e::upstream::Upstream;

const MASTER: &str = "sk-master-1234";

fn config(groups: &[(&str, &str)]) -> String {
    let mut yaml = String::from("model_list:\n");
    for (name, api_base) in groups {
        yaml.push_str(&format!(
            "- model_name: {name}\n  litellm_params: {{model: openai/{name}, api_base: '{api_base}', api_key: sk-up}}\n"
        ));
    }
    yaml.push_str(&format!("general_settings:\n  master_key: {MASTER}\n"));
    yaml
}

async fn models(http: &reqwest::Client, gw: &RunningGateway) -> Vec<String> {
    let v: Value = http
        .get(gw.url("/v1/models"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn reload(http: &reqwest::Client, gw: &RunningGateway, key: &str) -> (u16, Value) {
    let r = http
        .post(gw.url("/config/reload"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_the_model_list_while_a_running_stream_finishes_on_the_old_one() {
    let upstream = Upstream::start().await;
    let gw = RunningGateway::start(
        &config(&[("old", &upstream.api_base("slow"))]),
        &target_dir(),
    );
    let http = switchyard_e2e::http_client();
    assert_eq!(models(&http, &gw).await, ["old"]);

    // A 5-second stream on the old config.
    let stream = {
        let http = http.clone();
        let url = gw.url("/v1/chat/completions");
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(MASTER)
                .json(&json!({"model": "old", "stream": true,
                              "messages": [{"role": "user", "content": "count"}]}))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    while upstream.streams_started() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    std::fs::write(gw.config_path(), config(&[("new", &upstream.api_base(""))])).unwrap();
    let (status, v) = reload(&http, &gw, MASTER).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "reloaded");
    assert_eq!(v["model_groups"], 1);
    assert_eq!(models(&http, &gw).await, ["new"]);
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER)
        .json(&json!({"model": "new", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER)
        .json(&json!({"model": "old", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the old group is gone for new requests");

    let text = stream.await.unwrap();
    let chunks = text.matches("data: {").count();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        chunks >= 50,
        "the running stream finished whole: {chunks} chunks"
    );
    assert!(!text.contains("\"error\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_refused_and_sighup_reloads() {
    let upstream = Upstream::start().await;
    let gw = RunningGateway::start(&config(&[("a", &upstream.api_base(""))]), &target_dir());
    let http = switchyard_e2e::http_client();

    std::fs::write(
        gw.config_path(),
        "model_list:\n- model_name: b\n  litellm_params: {model: openai/b, rpm: lots}\n",
    )
    .unwrap();
    let (status, v) = reload(&http, &gw, MASTER).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "config_reload_failed");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("rpm"),
        "the message names the field: {v}"
    );
    assert_eq!(models(&http, &gw).await, ["a"], "the running config stays");
    let (status, _) = reload(&http, &gw, "sk-not-the-master").await;
    assert_eq!(status, 401);

    std::fs::write(
        gw.config_path(),
        config(&[("a", &upstream.api_base("")), ("b", &upstream.api_base(""))]),
    )
    .unwrap();
    gw.hangup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while models(&http, &gw).await.len() != 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let readiness: Value = http
        .get(gw.url("/health/readiness"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(readiness["config_loaded_at"].is_string(), "{readiness}");
}

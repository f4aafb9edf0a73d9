//! Helpers shared by the end-to-end provider tests: a loopback upstream answering with a
//! recorded provider response, and a gateway with one deployment pointed at it.

#![allow(dead_code, unreachable_pub)]

use serde_json::Value;
use switchyard_conformance::default_fixtures_dir;
use switchyard_conformance::recorded::read_recording;
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::target_dir;
use switchyard_e2e::upstream::{Canned, Replay};

/// The recorded response of interaction `interaction` of `fixture` (`provider/file.yaml`),
/// decoded as the host's HTTP client would see it.
pub fn recorded_answer(fixture: &str, interaction: usize) -> Canned {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let recording = read_recording(&default_fixtures_dir(&root).join(fixture)).unwrap();
    let response = &recording.interactions[interaction].response;
    Canned {
        status: response.status,
        content_type: response
            .header("content-type")
            .unwrap_or("application/json")
            .to_owned(),
        body: response.body.clone(),
        // The rest of the recorded head; the server frames the body itself.
        headers: response
            .headers
            .iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "content-type" | "content-length" | "transfer-encoding" | "connection"
                )
            })
            .cloned()
            .collect(),
    }
}

/// A replaying upstream with `answers`, and a gateway serving model group `claude` from one
/// `model` deployment at its address with the `extra` params (see [`gateway_with_params`]).
pub async fn replaying(answers: Vec<Canned>, model: &str, extra: &str) -> (Replay, RunningGateway) {
    let replay = Replay::start(answers).await;
    let gw = gateway_with_params(model, &format!("http://{}", replay.addr), extra, &replay);
    (replay, gw)
}

/// A gateway serving model group `claude` from one `model` deployment whose `api_base` is the
/// replaying upstream.
pub async fn gateway_for(model: &str, replay: &Replay) -> RunningGateway {
    gateway_with_base(model, &format!("http://{}", replay.addr), replay)
}

/// Like [`gateway_for`] with an explicit `api_base` (a path prefix on the replaying upstream).
pub fn gateway_with_base(model: &str, api_base: &str, replay: &Replay) -> RunningGateway {
    gateway_with_params(model, api_base, "api_key: sk-ant-e2e\n", replay)
}

/// A gateway with one deployment (`model_name: claude`) and extra `litellm_params` lines
/// (`extra` is YAML at the params' indentation level, each line ending in a newline).
pub fn gateway_with_params(
    model: &str,
    api_base: &str,
    extra: &str,
    _replay: &Replay,
) -> RunningGateway {
    let mut yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: {model}\n      \
         api_base: {api_base}\n"
    );
    for line in extra.lines() {
        yaml.push_str("      ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    RunningGateway::start(&yaml, &target_dir())
}

/// The `data:` payloads of an SSE body, `[DONE]` left out.
pub fn sse_chunks(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// The text content the chunks of a chat stream carry, joined.
pub fn content_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// `POST /v1/chat/completions` with `body` to a gateway.
pub async fn post_chat(gw: &RunningGateway, body: &Value) -> reqwest::Response {
    switchyard_e2e::http_client()
        .post(gw.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap()
}

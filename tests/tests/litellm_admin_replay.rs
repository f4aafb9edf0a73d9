//! The LiteLLM admin calls recorded in `../shared/reference/captures/` (keys, users, teams,
//! spend), replayed in order against switchyard with the same request bodies and parameters.
//! Each call must answer with LiteLLM's status — except where switchyard deliberately differs
//! (listed below, and in docs/litellm-differences.md) — and successful answers must carry the
//! fields clients read.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::target_dir;

const MASTER: &str = "sk-master-1234";

/// Where switchyard answers otherwise, and why.
const DIFFERENCES: &[(&str, u16, &str)] = &[
    (
        "user-new-duplicate",
        400,
        "a duplicate is a bad request, as for teams and aliases",
    ),
    ("key-generate-enterprise-tags", 200, "no enterprise gate"),
    (
        "key-generate-enterprise-model-max-budget",
        200,
        "no enterprise gate",
    ),
    (
        "key-generate-bad-duration",
        400,
        "a bad field is a 400 naming it, not a 500",
    ),
    ("key-regenerate", 200, "no enterprise gate"),
    ("key-regenerate-path", 200, "no enterprise gate"),
    (
        "spend-logs-by-virtual-key",
        200,
        "a key may read its own spend",
    ),
    ("global-spend-report-default", 200, "no enterprise gate"),
    ("global-spend-report-team", 200, "no enterprise gate"),
    ("global-spend-report-key", 200, "no enterprise gate"),
    ("global-spend-report-customer", 200, "no enterprise gate"),
    (
        "user-daily-activity-no-dates",
        200,
        "dates are optional: all days",
    ),
];

/// Fields a client reads, checked wherever LiteLLM's answer had them at the top level.
const FIELDS: &[&str] = &[
    "key",
    "key_name",
    "key_alias",
    "token",
    "models",
    "max_budget",
    "spend",
    "user_id",
    "team_id",
    "expires",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "metadata",
    "team_alias",
    "members_with_roles",
    "keys",
    "total_count",
    "users",
    "deleted_keys",
    "info",
    "user_info",
    "team_info",
    "data",
    "total",
];

fn captures() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/captures");
    let mut out = Vec::new();
    for file in ["db.json", "db2.json"] {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
        let items: Vec<Value> = serde_json::from_str(&text).unwrap();
        out.extend(items.into_iter().filter(|x| {
            let path = x["request"]["path"].as_str().unwrap_or("");
            ["/key/", "/user/", "/team/", "/spend/", "/global/"]
                .iter()
                .any(|p| path.starts_with(p))
        }));
    }
    out
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Replaces LiteLLM's plaintext keys by switchyard's, anywhere in a value.
fn substitute(v: &Value, keys: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(keys.get(s).cloned().unwrap_or_else(|| s.clone())),
        Value::Array(items) => Value::Array(items.iter().map(|i| substitute(i, keys)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), substitute(v, keys)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_admin_calls_work_with_the_same_bodies() {
    let gw = RunningGateway::start(
        &format!(
            "model_list:\n\
             - model_name: gpt-mock\n  litellm_params: {{model: mock/a}}\n\
             - model_name: gpt-priced\n  litellm_params: {{model: mock/b, input_cost_per_token: '0.001', output_cost_per_token: '0.002'}}\n\
             - model_name: gpt-4o-mini\n  litellm_params: {{model: mock/c}}\n\
             - model_name: gpt-500\n  litellm_params: {{model: mock/d}}\n\
             general_settings:\n  master_key: {MASTER}\n"
        ),
        &target_dir(),
    );
    let http = switchyard_e2e::http_client();
    for _ in 0..100 {
        let r: Value = http
            .get(gw.url("/health/readiness"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["db"] == "connected" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // LiteLLM's plaintext keys → switchyard's, and key aliases → switchyard's plaintext.
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut by_alias: HashMap<String, String> = HashMap::new();
    let mut empty_body_key = String::new();
    let mut replayed = 0;
    for call in captures() {
        let id = call["id"].as_str().unwrap();
        let req = &call["request"];
        let method = req["method"].as_str().unwrap();
        let mut path = req["path"].as_str().unwrap().to_owned();
        for (theirs, ours) in &keys {
            path = path.replace(theirs, ours);
        }
        let auth = req["auth"].as_str().unwrap_or("");
        let bearer = if auth == "master_key" {
            MASTER.to_owned()
        } else if auth.contains("from empty") {
            empty_body_key.clone()
        } else if let Some(alias) = auth.strip_prefix("key ") {
            let alias = alias.split_whitespace().next().unwrap();
            by_alias[alias].clone()
        } else {
            continue;
        };
        let mut url = gw.url(&path);
        if let Some(params) = req["params"].as_object() {
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| {
                    let v = substitute(v, &keys);
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    format!("{}={}", encode(k), encode(&v))
                })
                .collect();
            url = format!("{url}?{}", query.join("&"));
        }
        let mut builder = match method {
            "GET" => http.get(url),
            _ => http.post(url),
        }
        .bearer_auth(&bearer);
        if !req["json"].is_null() {
            builder = builder.json(&substitute(&req["json"], &keys));
        }
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let recorded = &call["response"];
        let expected = DIFFERENCES
            .iter()
            .find(|(d, _, _)| *d == id)
            .map(|(_, s, _)| *s)
            .unwrap_or(recorded["status"].as_u64().unwrap() as u16);
        assert_eq!(status, expected, "{id}: {body}");
        replayed += 1;
        if status != 200 {
            assert!(
                body["error"]["message"].is_string(),
                "{id}: OpenAI error JSON: {body}"
            );
            continue;
        }
        if let (Some(theirs), Some(ours)) = (recorded["body"].as_object(), body.as_object()) {
            for field in FIELDS {
                if theirs.contains_key(*field) {
                    assert!(
                        ours.contains_key(*field),
                        "{id}: missing '{field}' in {body}"
                    );
                }
            }
        }
        if let Some(ours) = body["key"].as_str().filter(|k| k.starts_with("sk-")) {
            if let Some(theirs) = recorded["body"]["key"].as_str() {
                keys.insert(theirs.to_owned(), ours.to_owned());
            }
            if let Some(old) = req["json"]["key"].as_str().or_else(|| {
                path.strip_prefix("/key/")
                    .and_then(|p| p.strip_suffix("/regenerate"))
            }) {
                // Regenerated: the old plaintext (theirs or ours) now means the new key.
                let old = old.to_owned();
                for v in keys.values_mut() {
                    if *v == old {
                        *v = ours.to_owned();
                    }
                }
                keys.insert(old, ours.to_owned());
            }
            if let Some(alias) = body["key_alias"].as_str() {
                by_alias.insert(alias.to_owned(), ours.to_owned());
            }
            if id == "key-generate-empty-body" {
                empty_body_key = ours.to_owned();
            }
        }
    }
    assert_eq!(replayed, 83, "every recorded admin call is replayed");
    // The shapes LiteLLM's dashboards read.
    let list: Value = http
        .get(gw.url("/key/list"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["keys"].as_array().unwrap().len() >= 10, "{list}");
    let _ = json!(null);
}

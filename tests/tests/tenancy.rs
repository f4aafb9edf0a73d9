//! Virtual keys, users, teams, budgets, rate limits and spend through the real binary, on
//! SQLite and (when the test script started one) PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::{target_dir, test_databases};

const MASTER: &str = "sk-master-1234";

/// Mock deployments with easy prices: $0.001 per prompt token, $0.002 per completion token.
fn config(database_url: &Option<String>) -> String {
    let db = match database_url {
        Some(url) => format!("  database_url: {url}\n"),
        None => String::new(),
    };
    format!(
        "model_list:\n\
         - model_name: gpt-mock\n  litellm_params: {{model: mock/a, input_cost_per_token: '0.001', output_cost_per_token: '0.002'}}\n  model_info: {{access_groups: [cheap]}}\n\
         - model_name: gpt-priced\n  litellm_params: {{model: mock/b, input_cost_per_token: '0.001', output_cost_per_token: '0.002'}}\n\
         - model_name: gpt-other\n  litellm_params: {{model: mock/c}}\n\
         general_settings:\n  master_key: {MASTER}\n{db}"
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(gw: &RunningGateway) -> Client {
        Client {
            http: switchyard_e2e::http_client(),
            base: gw.url(""),
        }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        }
        .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.call("POST", path, MASTER, Some(body)).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn chat(&self, key: &str, model: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/v1/chat/completions",
            key,
            Some(json!({"model": model, "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hello there"}]})),
        )
        .await
    }
}

async fn wait_ready(c: &Client) {
    for _ in 0..100 {
        let (_, v) = c.call("GET", "/health/readiness", MASTER, None).await;
        if v["db"] == "connected" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("database never ready");
}

fn start(db: &Option<String>, env: &[(&str, &str)]) -> RunningGateway {
    RunningGateway::start_with(Some(&config(db)), &target_dir(), &[], env)
}

/// Tenancy data that outlives a gateway: its SQLite file (or the PostgreSQL database), so a
/// test can stop the gateway and start another on the same data.
struct Durable {
    _dir: tempfile::TempDir,
    sqlite: String,
    db: Option<String>,
}

impl Durable {
    fn new(db: &Option<String>) -> Durable {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = dir.path().join("spend.db").to_str().unwrap().to_owned();
        Durable {
            _dir: dir,
            sqlite,
            db: db.clone(),
        }
    }

    async fn start(&self) -> (RunningGateway, Client) {
        let gw = start(
            &self.db,
            &[("SWITCHYARD_SWITCHYARD__DATABASE_PATH", &self.sqlite)],
        );
        let c = Client::new(&gw);
        wait_ready(&c).await;
        (gw, c)
    }

    /// SIGTERM, a clean exit (pending spend logs written first), and a new gateway.
    async fn restart(&self, mut gw: RunningGateway) -> (RunningGateway, Client) {
        gw.terminate();
        assert!(gw
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success()));
        self.start().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_users_and_teams_through_the_admin_api() {
    for db in test_databases() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = dir.path().join("tenancy.db");
        let sqlite = sqlite.to_str().unwrap();
        let env = [("SWITCHYARD_SWITCHYARD__DATABASE_PATH", sqlite)];
        let gw = start(&db, &env);
        let c = Client::new(&gw);
        wait_ready(&c).await;

        // LiteLLM's recorded /key/generate body, unchanged.
        c.admin(
            "/team/new",
            json!({"team_id": "team-research", "team_alias": "research",
                                     "max_budget": 50.0, "models": ["gpt-mock", "gpt-priced"]}),
        )
        .await;
        c.admin(
            "/user/new",
            json!({"user_id": "alice", "user_email": "alice@example.com", "auto_create_key": false}),
        )
        .await;
        let generated = c
            .admin(
                "/key/generate",
                json!({"key_alias": "research-full", "models": ["gpt-mock", "gpt-priced"],
                       "max_budget": 5.0, "budget_duration": "30d", "soft_budget": 4.0,
                       "rpm_limit": 50, "tpm_limit": 50000, "max_parallel_requests": 5,
                       "duration": "30d", "metadata": {"env": "test", "owner": "alice"},
                       "team_id": "team-research", "user_id": "alice",
                       "allowed_routes": ["/chat/completions", "/v1/chat/completions", "/v1/models", "/key/info"]}),
            )
            .await;
        let key = generated["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("sk-") && key.len() >= 24, "{generated}");
        assert_eq!(
            generated["key_name"],
            format!("sk-...{}", &key[key.len() - 4..])
        );
        assert_eq!(generated["max_budget"], 5.0);
        assert_eq!(generated["models"], json!(["gpt-mock", "gpt-priced"]));
        let token = generated["token"].as_str().unwrap().to_owned();
        assert_eq!(token.len(), 64);
        assert!(!generated
            .to_string()
            .contains(&format!("\"{}\"", &key[3..])));

        // Duplicate alias, and a wrong field, are 400s naming the field.
        let (status, e) = c
            .call(
                "POST",
                "/key/generate",
                MASTER,
                Some(json!({"key_alias": "research-full"})),
            )
            .await;
        assert_eq!(
            (status, e["error"]["param"].as_str()),
            (400, Some("key_alias"))
        );
        let (status, e) = c
            .call(
                "POST",
                "/key/generate",
                MASTER,
                Some(json!({"max_budget": "lots"})),
            )
            .await;
        assert_eq!(
            (status, e["error"]["param"].as_str()),
            (400, Some("max_budget"))
        );

        // Info: the master key by ?key=, the key itself without; never another key's.
        let (status, info) = c
            .call("GET", &format!("/key/info?key={key}"), MASTER, None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(info["info"]["key_alias"], "research-full");
        assert_eq!(info["info"]["team_id"], "team-research");
        let (status, own) = c.call("GET", "/key/info", &key, None).await;
        assert_eq!(
            (status, own["info"]["token"].as_str()),
            (200, Some(token.as_str()))
        );
        let other = c
            .admin("/key/generate", json!({"key_alias": "other"}))
            .await;
        let other_key = other["key"].as_str().unwrap();
        let (status, _) = c
            .call("GET", &format!("/key/info?key={other_key}"), &key, None)
            .await;
        assert_eq!(status, 403, "a key cannot read another key's info");
        let (status, _) = c.call("POST", "/key/generate", &key, Some(json!({}))).await;
        assert_eq!(status, 403, "a key is not an admin");

        // A restricted key sees and calls only its models, on its allowed routes.
        let (status, models) = c.call("GET", "/v1/models", &key, None).await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["gpt-mock", "gpt-priced"]);
        let (status, e) = c.chat(&key, "gpt-other").await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (403, Some("key_model_access_denied"))
        );
        let (status, _) = c.chat(&key, "gpt-mock").await;
        assert_eq!(status, 200);
        let (status, e) = c.call("GET", "/spend/logs", &key, None).await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (403, Some("route_not_allowed"))
        );

        // Update, list, block, unblock.
        let updated = c
            .admin("/key/update", json!({"key": key, "models": ["gpt-mock", "gpt-priced", "cheap"], "rpm_limit": 100}))
            .await;
        assert_eq!(updated["rpm_limit"], 100);
        let (_, list) = c
            .call("GET", "/key/list?team_id=team-research", MASTER, None)
            .await;
        assert_eq!(list["keys"], json!([token]));
        assert_eq!(list["total_count"], 1);
        let (_, full) = c
            .call(
                "GET",
                "/key/list?return_full_object=true&size=1&page=2",
                MASTER,
                None,
            )
            .await;
        assert_eq!(full["total_pages"], 2);
        assert!(full["keys"][0].is_object());
        c.admin("/key/block", json!({"key": key})).await;
        let (status, e) = c.chat(&key, "gpt-mock").await;
        assert_eq!(
            (status, e["error"]["code"].as_str()),
            (401, Some("key_blocked"))
        );
        c.admin("/key/unblock", json!({"key": key})).await;
        assert_eq!(c.chat(&key, "gpt-mock").await.0, 200);

        // Users and teams.
        let (_, user) = c
            .call("GET", "/user/info?user_id=alice", MASTER, None)
            .await;
        assert_eq!(user["user_info"]["user_email"], "alice@example.com");
        assert_eq!(user["keys"].as_array().unwrap().len(), 1);
        c.admin(
            "/user/update",
            json!({"user_id": "alice", "max_budget": 20}),
        )
        .await;
        c.admin(
            "/team/member_add",
            json!({"team_id": "team-research", "member": {"user_id": "bob", "role": "admin"}}),
        )
        .await;
        let (_, team) = c
            .call("GET", "/team/info?team_id=team-research", MASTER, None)
            .await;
        assert_eq!(team["team_info"]["members_with_roles"][0]["user_id"], "bob");
        let (_, bob) = c.call("GET", "/user/info?user_id=bob", MASTER, None).await;
        assert_eq!(bob["user_info"]["teams"], json!(["team-research"]));
        c.admin(
            "/team/member_delete",
            json!({"team_id": "team-research", "user_id": "bob"}),
        )
        .await;
        c.admin(
            "/team/update",
            json!({"team_id": "team-research", "rpm_limit": 1000}),
        )
        .await;
        let (_, teams) = c.call("GET", "/team/list", MASTER, None).await;
        assert_eq!(teams[0]["rpm_limit"], 1000);
        let (_, users) = c.call("GET", "/user/list", MASTER, None).await;
        assert!(users["users"].as_array().unwrap().len() >= 2);

        // Regenerate: the old plaintext stops working, the new one works, settings stay.
        let regenerated = c.admin(&format!("/key/{key}/regenerate"), json!({})).await;
        let new_key = regenerated["key"].as_str().unwrap().to_owned();
        assert_eq!(regenerated["key_alias"], "research-full");
        assert_eq!(c.chat(&key, "gpt-mock").await.0, 401);
        assert_eq!(c.chat(&new_key, "gpt-mock").await.0, 200);

        // Everything survives a restart (same database).
        drop(gw);
        let gw = start(&db, &env);
        let c = Client::new(&gw);
        wait_ready(&c).await;
        assert_eq!(c.chat(&new_key, "gpt-mock").await.0, 200);
        let (_, info) = c.call("GET", "/key/info", &new_key, None).await;
        assert!(info["info"]["spend"].as_f64().unwrap() > 0.0, "{info}");

        // Delete.
        let deleted = c.admin("/key/delete", json!({"keys": [new_key]})).await;
        assert_eq!(deleted["deleted_keys"], json!([new_key]));
        assert_eq!(c.chat(&new_key, "gpt-mock").await.0, 401);
        let (status, _) = c
            .call(
                "POST",
                "/key/delete",
                MASTER,
                Some(json!({"keys": ["sk-nope"]})),
            )
            .await;
        assert_eq!(status, 404);
        c.admin("/user/delete", json!({"user_ids": ["bob"]})).await;
        c.admin("/team/delete", json!({"team_ids": ["team-research"]}))
            .await;
        let (status, _) = c
            .call("GET", "/team/info?team_id=team-research", MASTER, None)
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_overspend_a_budget() {
    for db in test_databases() {
        let gw = start(&db, &[]);
        let c = Client::new(&gw);
        wait_ready(&c).await;
        // One request costs about $0.02 (mock: ~6 prompt tokens, ~5 completion tokens); the
        // worst case reserved is larger (prompt bytes / 3 and max_tokens 5 at $0.002).
        let generated = c.admin("/key/generate", json!({"max_budget": 0.2})).await;
        let key = generated["key"].as_str().unwrap().to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let c = Client {
                http: c.http.clone(),
                base: c.base.clone(),
            };
            let key = key.clone();
            tasks.spawn(async move { c.chat(&key, "gpt-mock").await });
        }
        let mut statuses: HashMap<u16, usize> = HashMap::new();
        let mut costs = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let (status, body) = r.unwrap();
            *statuses.entry(status).or_default() += 1;
            if status == 429 {
                assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
                let text = body.to_string();
                assert!(!text.contains(&key) && !text.contains(&key[3..]), "{text}");
            } else {
                assert_eq!(status, 200, "{body}");
                costs.push(body["usage"]["total_tokens"].as_u64().unwrap());
            }
        }
        let (_, info) = c
            .call("GET", &format!("/key/info?key={key}"), MASTER, None)
            .await;
        let spend = info["info"]["spend"].as_f64().unwrap();
        println!(
            "budget $0.2, 200 concurrent requests ({}): {statuses:?}, spend ${spend}",
            db.as_deref().map(|_| "postgres").unwrap_or("sqlite")
        );
        assert!(spend <= 0.2 + 1e-9, "spend {spend} exceeds the budget");
        let ok = statuses.get(&200).copied().unwrap_or(0);
        assert!(ok >= 5, "{statuses:?}");
        assert!(
            spend > 0.2 * 0.6,
            "the budget is used, not refused early: {spend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_no_key_material() {
    let gw = start(&None, &[]);
    let c = Client::new(&gw);
    wait_ready(&c).await;
    let generated = c.admin("/key/generate", json!({"rpm_limit": 2})).await;
    let key = generated["key"].as_str().unwrap();
    let token = generated["token"].as_str().unwrap();
    assert_eq!(c.chat(key, "gpt-mock").await.0, 200);
    assert_eq!(c.chat(key, "gpt-mock").await.0, 200);
    let r = c
        .http
        .post(format!("{}/v1/chat/completions", c.base))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body = r.text().await.unwrap();
    assert!(body.contains("rpm_limit of 2"), "{body}");
    assert!(
        !body.contains(key) && !body.contains(token) && !body.contains(&key[3..]),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monthly_budget_rolls_over_at_the_month_boundary() {
    // The gateway's clock starts 3 s before 2027-02-01T00:00:00Z.
    let start_ms = (1_801_440_000_000i64 - 3_000).to_string();
    let gw = start(&None, &[("SWITCHYARD_CLOCK_START_MS", start_ms.as_str())]);
    let c = Client::new(&gw);
    wait_ready(&c).await;
    let generated = c
        .admin(
            "/key/generate",
            json!({"max_budget": 0.1, "budget_duration": "1mo"}),
        )
        .await;
    assert_eq!(generated["budget_reset_at"], "2027-02-01T00:00:00.000Z");
    let key = generated["key"].as_str().unwrap();
    while c.chat(key, "gpt-mock").await.0 == 200 {}
    let (status, e) = c.chat(key, "gpt-mock").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (429, Some("budget_exceeded"))
    );
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("resets at 2027-02-01T00:00:00.000Z"));
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    assert_eq!(
        c.chat(key, "gpt-mock").await.0,
        200,
        "a new month, a new budget"
    );
    let (_, info) = c.call("GET", "/key/info", key, None).await;
    assert_eq!(info["info"]["budget_reset_at"], "2027-03-01T00:00:00.000Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_is_logged_once_reported_and_kept_over_a_graceful_shutdown() {
    for db in test_databases() {
        let data = Durable::new(&db);
        let (gw, c) = data.start().await;
        c.admin("/team/new", json!({"team_id": "t1"})).await;
        c.admin(
            "/user/new",
            json!({"user_id": "u1", "auto_create_key": false}),
        )
        .await;
        let key = c
            .admin("/key/generate", json!({"user_id": "u1", "team_id": "t1"}))
            .await;
        let key = key["key"].as_str().unwrap().to_owned();
        let r = c
            .http
            .post(format!("{}/v1/chat/completions", c.base))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "hello there"}]}))
            .send()
            .await
            .unwrap();
        let cost: f64 = r.headers()["x-switchyard-response-cost"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            r.headers()["x-litellm-response-cost"],
            r.headers()["x-switchyard-response-cost"]
        );
        let body: Value = r.json().await.unwrap();
        let usage = &body["usage"];
        let expected = usage["prompt_tokens"].as_f64().unwrap() * 0.001
            + usage["completion_tokens"].as_f64().unwrap() * 0.002;
        assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
        // A stream costs the same for the same usage.
        let text = c
            .http
            .post(format!("{}/v1/chat/completions", c.base))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-mock", "stream": true, "stream_options": {"include_usage": true},
                          "messages": [{"role": "user", "content": "hello there"}]}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"));
        // SIGTERM right away: the pending spend logs are written before the exit.
        let (_gw, c) = data.restart(gw).await;
        let (status, logs) = c.call("GET", "/spend/logs?user_id=u1", MASTER, None).await;
        assert_eq!(status, 200, "{logs}");
        let logs = logs.as_array().unwrap();
        assert_eq!(logs.len(), 2, "{logs:?}");
        for log in logs {
            assert!(
                (log["spend"].as_f64().unwrap() - cost).abs() < 1e-9,
                "{log}"
            );
            assert_eq!(log["team_id"], "t1");
            assert_eq!(log["model_group"], "gpt-mock");
        }
        let (_, info) = c.call("GET", "/user/info?user_id=u1", MASTER, None).await;
        assert!(
            (info["user_info"]["spend"].as_f64().unwrap() - 2.0 * cost).abs() < 1e-9,
            "{info}"
        );
        let (_, report) = c
            .call("GET", "/global/spend/report?group_by=team", MASTER, None)
            .await;
        assert_eq!(report[0]["teams"][0]["team"], "t1");
        assert_eq!(report[0]["teams"][0]["api_requests"], 2);
        let (_, activity) = c
            .call("GET", "/user/daily/activity?user_id=u1", MASTER, None)
            .await;
        assert_eq!(activity["metadata"]["api_requests"], 2);
        let (_, activity) = c
            .call("GET", "/team/daily/activity?team_id=t1", MASTER, None)
            .await;
        assert_eq!(activity["metadata"]["api_requests"], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_spent_its_budget_is_skipped_then_refused() {
    let gw = RunningGateway::start(
        "model_list:\n\
         - model_name: g\n  litellm_params: {model: mock/capped, input_cost_per_token: '0.001', output_cost_per_token: '0.002', max_budget: 0.03, budget_duration: 1d, weight: 1000}\n\
         - model_name: g\n  litellm_params: {model: mock/open, weight: 1}\n\
         - model_name: only-capped\n  litellm_params: {model: mock/solo, input_cost_per_token: '0.001', output_cost_per_token: '0.002', max_budget: 0.03}\n",
        &target_dir(),
    );
    let c = Client::new(&gw);
    let mut served: HashMap<String, usize> = HashMap::new();
    for _ in 0..20 {
        let r = c
            .http
            .post(format!("{}/v1/chat/completions", c.base))
            .json(&json!({"model": "g", "messages": [{"role": "user", "content": "hello there"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let d = r.headers()["x-switchyard-deployment"]
            .to_str()
            .unwrap()
            .to_owned();
        *served.entry(d).or_default() += 1;
    }
    let capped = served.get("g.0").copied().unwrap_or(0);
    assert!(
        (1..=3).contains(&capped),
        "the capped deployment stops at its budget: {served:?}"
    );

    let mut last = (0, Value::Null);
    for _ in 0..5 {
        last = c.chat("unused", "only-capped").await;
    }
    assert_eq!(last.0, 429, "{}", last.1);
    assert!(
        last.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'only-capped.0' has spent its budget"),
        "{}",
        last.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_group_serves_waiting_keys_in_turn() {
    let yaml = |max_queued: u32| {
        format!(
            "model_list:\n\
             - model_name: busy\n  litellm_params: {{model: mock/busy, max_parallel_requests: 1, mock_latency_ms: 100}}\n\
             router_settings: {{max_queued_requests: {max_queued}}}\n\
             general_settings:\n  master_key: {MASTER}\n"
        )
    };
    let gw = RunningGateway::start(&yaml(100), &target_dir());
    let c = Client::new(&gw);
    wait_ready(&c).await;
    let a = c.admin("/key/generate", json!({})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = c.admin("/key/generate", json!({})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    let send = |key: String, name: &'static str, tasks: &mut tokio::task::JoinSet<()>| {
        let c = Client {
            http: c.http.clone(),
            base: c.base.clone(),
        };
        let order = order.clone();
        tasks.spawn(async move {
            let (status, body) = c.chat(&key, "busy").await;
            assert_eq!(status, 200, "{body}");
            order.lock().unwrap().push(name);
        });
    };
    for _ in 0..8 {
        send(a.clone(), "a", &mut tasks);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..2 {
        send(b.clone(), "b", &mut tasks);
    }
    while tasks.join_next().await.is_some() {}
    let order = order.lock().unwrap().clone();
    let last_b = order.iter().rposition(|k| *k == "b").unwrap();
    assert!(
        last_b <= 5,
        "b's requests are served in turn with a's burst, not after it: {order:?}"
    );

    // A bounded queue: past it, a 429 that says so.
    let gw = RunningGateway::start(&yaml(2), &target_dir());
    let c = Client::new(&gw);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let c = Client {
            http: c.http.clone(),
            base: c.base.clone(),
        };
        tasks.spawn(async move { c.chat(MASTER, "busy").await });
    }
    let mut full = 0;
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        if status == 429 {
            assert_eq!(body["error"]["code"], "queue_full", "{body}");
            full += 1;
        }
    }
    assert!(full >= 2, "{full} refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_max_budget_caps_one_model_of_a_key() {
    let gw = start(&None, &[]);
    let c = Client::new(&gw);
    wait_ready(&c).await;
    let key = c
        .admin(
            "/key/generate",
            json!({"model_max_budget": {"gpt-priced": {"budget_limit": 0.1, "time_period": "1d"}}}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut served = 0;
    loop {
        let (status, body) = c.chat(&key, "gpt-priced").await;
        if status != 200 {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (429, Some("budget_exceeded"))
            );
            assert!(body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("for model 'gpt-priced'"));
            break;
        }
        served += 1;
        assert!(served < 20);
    }
    assert!(served >= 2, "{served}");
    assert_eq!(
        c.chat(&key, "gpt-mock").await.0,
        200,
        "other models are not capped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costs_come_from_the_bundled_catalog_when_nothing_else_prices_a_model() {
    let upstream = switchyard_e2e::upstream::Upstream::start().await;
    let gw = RunningGateway::start(
        &format!(
            "model_list:\n- model_name: turbo\n  litellm_params: {{model: openai/gpt-4-turbo, api_base: '{}', api_key: k}}\n",
            upstream.api_base("")
        ),
        &target_dir(),
    );
    let r = switchyard_e2e::http_client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "turbo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The upstream reports 11 prompt tokens and 7 completion tokens; LiteLLM's catalog prices
    // gpt-4-turbo at $10 / $30 per million (no separate cache price): 0.00011 + 0.00021.
    assert_eq!(r.headers()["x-switchyard-response-cost"], "0.00032");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_answers_while_the_database_is_still_opening() {
    // A "database" that accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://sy@{}/db", silent.local_addr().unwrap());
    let gw = start(&Some(url), &[]);
    let c = Client::new(&gw);
    let (status, body) = c.call("GET", "/health/liveliness", MASTER, None).await;
    assert_eq!((status, body), (200, json!("I'm alive!")));
    let (status, body) = c.call("GET", "/health/readiness", MASTER, None).await;
    assert_eq!((status, body["db"].as_str()), (200, Some("starting")));
    let (status, e) = c
        .call("POST", "/key/generate", MASTER, Some(json!({})))
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (503, Some("db_starting"))
    );
    // The master key works without the database.
    assert_eq!(c.chat(MASTER, "gpt-mock").await.0, 200);
    drop(silent);
}

/// Regression: a caller's `x-request-id` was the spend log's key, so two requests carrying the
/// same one (a client that sets it per session, a proxy that reuses it) stored one log and
/// persisted one charge: the second request's spend was lost to reports and, after a restart,
/// to the budget. The gateway's own id keys the log now; the caller's is still echoed back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_caller_request_id_is_logged_and_charged_every_time() {
    for db in test_databases() {
        let data = Durable::new(&db);
        let (gw, c) = data.start().await;
        c.admin(
            "/user/new",
            json!({"user_id": "u-repeat", "auto_create_key": false}),
        )
        .await;
        let key = c
            .admin("/key/generate", json!({"user_id": "u-repeat"}))
            .await;
        let key = key["key"].as_str().unwrap().to_owned();
        let mut call_ids = Vec::new();
        let mut costs = 0.0;
        for _ in 0..2 {
            let r = c
                .http
                .post(format!("{}/v1/chat/completions", c.base))
                .bearer_auth(&key)
                .header("x-request-id", "trace-0001")
                .json(&json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "hello there"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["x-request-id"], "trace-0001");
            call_ids.push(
                r.headers()["x-litellm-call-id"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
            costs += r.headers()["x-switchyard-response-cost"]
                .to_str()
                .unwrap()
                .parse::<f64>()
                .unwrap();
        }
        assert_ne!(call_ids[0], call_ids[1]);
        assert!(costs > 0.0);
        // What is stored is what a restarted gateway knows.
        let (_gw, c) = data.restart(gw).await;
        let (status, logs) = c
            .call("GET", "/spend/logs?user_id=u-repeat", MASTER, None)
            .await;
        assert_eq!(status, 200, "{logs}");
        let mut logged: Vec<&str> = logs
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["request_id"].as_str().unwrap())
            .collect();
        logged.sort_unstable();
        call_ids.sort_unstable();
        assert_eq!(logged, call_ids, "{logs}");
        let (_, info) = c
            .call("GET", &format!("/key/info?key={key}"), MASTER, None)
            .await;
        let spend = info["info"]["spend"].as_f64().unwrap();
        assert!(
            (spend - costs).abs() < 1e-9,
            "key spend {spend}, charged {costs}"
        );
    }
}

//! Three `switchyard` replicas behind a round-robin balancer, sharing Redis and PostgreSQL,
//! behave as one gateway: cooldowns, rate limits and budgets hold for the fleet, and losing
//! Redis loses neither requests nor spend records.
//!
//! Needs `redis-server` and the PostgreSQL server `./scripts/test` starts
//! (`SWITCHYARD_TEST_DATABASE_URL`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_e2e::fleet::{unpooled_client, RedisServer, RoundRobin};
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::upstream::Upstream;
use switchyard_e2e::{fresh_postgres_database, target_dir};

const MASTER: &str = "sk-master-1234";

fn database() -> String {
    let url = std::env::var("SWITCHYARD_TEST_DATABASE_URL").expect(
        "the replica tests share a PostgreSQL database: run ./scripts/test (it starts one and \
         sets SWITCHYARD_TEST_DATABASE_URL)",
    );
    fresh_postgres_database(&url)
}

/// `gpt-mock`: mock deployments at $0.001 per prompt token and $0.002 per completion token.
/// `g`: two OpenAI deployments on the test upstream, one of which answers 429 + Retry-After.
fn config(db: &str, redis: &str, upstream: &Upstream) -> String {
    format!(
        "model_list:\n\
         - model_name: gpt-mock\n  litellm_params: {{model: mock/a, input_cost_per_token: '0.001', output_cost_per_token: '0.002'}}\n\
         - model_name: g\n  litellm_params: {{model: openai/limited, api_base: '{limited}', api_key: sk-up}}\n  model_info: {{id: limited}}\n\
         - model_name: g\n  litellm_params: {{model: openai/healthy, api_base: '{healthy}', api_key: sk-up}}\n  model_info: {{id: healthy}}\n\
         router_settings:\n  redis_url: {redis}\n  num_retries: 2\n\
         general_settings:\n  master_key: {MASTER}\n  database_url: {db}\n",
        limited = upstream.api_base("fail429"),
        healthy = upstream.api_base(""),
    )
}

struct Fleet {
    replicas: Vec<RunningGateway>,
    balancer: RoundRobin,
    http: reqwest::Client,
}

impl Fleet {
    async fn start(config: &str) -> Fleet {
        let replicas: Vec<RunningGateway> = (0..3)
            .map(|_| RunningGateway::start(config, &target_dir()))
            .collect();
        let addrs = replicas
            .iter()
            .map(|r| {
                r.base_url
                    .trim_start_matches("http://")
                    .parse()
                    .expect("replica address")
            })
            .collect();
        let fleet = Fleet {
            balancer: RoundRobin::start(addrs).await,
            replicas,
            http: unpooled_client(),
        };
        for i in 0..3 {
            fleet.wait_status(i, "connected").await;
        }
        fleet
    }

    async fn readiness(&self, replica: usize) -> Value {
        self.http
            .get(self.replicas[replica].url("/health/readiness"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until a replica's database is open and its shared state has `status`.
    async fn wait_status(&self, replica: usize, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.readiness(replica).await;
            if r["db"] == "connected" && r["shared_state"]["status"] == status {
                return;
            }
            assert!(Instant::now() < deadline, "replica {replica}: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn post(&self, base: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn chat_via(&self, base: &str, key: &str, model: &str) -> (u16, Value) {
        self.post(
            base,
            "/v1/chat/completions",
            key,
            json!({"model": model, "max_tokens": 5,
                   "messages": [{"role": "user", "content": "hello there"}]}),
        )
        .await
    }

    fn lb(&self) -> String {
        self.balancer.url("")
    }

    async fn new_key(&self, body: Value) -> String {
        let (status, v) = self.post(&self.lb(), "/key/generate", MASTER, body).await;
        assert_eq!(status, 200, "{v}");
        v["key"].as_str().unwrap().to_owned()
    }

    /// Every spend log of a key, from the shared database.
    async fn spend_logs(&self, key: &str) -> Vec<Value> {
        let r: Value = self
            .http
            .get(
                self.balancer
                    .url(&format!("/spend/logs?api_key={key}&limit=100000")),
            )
            .bearer_auth(MASTER)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r.as_array().cloned().unwrap_or_default()
    }
}

/// Starts a test at the beginning of a minute's first 40 s, so per-minute windows do not roll
/// over in the middle of it.
async fn away_from_a_minute_boundary() {
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into > 40_000 {
        tokio::time::sleep(Duration::from_millis(60_000 - into as u64 + 200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_started_by_one_replica_is_honoured_by_all_within_100ms() {
    let redis = RedisServer::start();
    let upstream = Upstream::start().await;
    let fleet = Fleet::start(&config(&database(), &redis.url(), &upstream)).await;
    let limited_calls = || {
        upstream
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/fail429/"))
            .count()
    };
    // Replica 0 meets the 429 (Retry-After: 7) and cools the deployment down; the retry goes to
    // the healthy one.
    let mut first = None;
    for _ in 0..50 {
        let (status, v) = fleet
            .chat_via(&fleet.replicas[0].url(""), MASTER, "g")
            .await;
        assert_eq!(status, 200, "{v}");
        if limited_calls() > 0 {
            first = Some(Instant::now());
            break;
        }
    }
    let cooled_at = first.expect("the limited deployment was picked at some point");
    assert_eq!(limited_calls(), 1);
    // 100 ms later, neither other replica sends it anything.
    tokio::time::sleep(Duration::from_millis(100).saturating_sub(cooled_at.elapsed())).await;
    for replica in [1, 2] {
        for _ in 0..20 {
            let (status, v) = fleet
                .chat_via(&fleet.replicas[replica].url(""), MASTER, "g")
                .await;
            assert_eq!(status, 200, "{v}");
        }
    }
    assert_eq!(
        limited_calls(),
        1,
        "40 requests on the other replicas after 100 ms: none went to the cooling deployment"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_holds_across_replicas() {
    let redis = RedisServer::start();
    let upstream = Upstream::start().await;
    let fleet = Fleet::start(&config(&database(), &redis.url(), &upstream)).await;
    away_from_a_minute_boundary().await;
    let key = fleet.new_key(json!({"rpm_limit": 10})).await;
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    // One at a time through the balancer: 30 requests, 10 per replica.
    for _ in 0..30 {
        let (status, v) = fleet.chat_via(&fleet.lb(), &key, "gpt-mock").await;
        if status == 429 {
            assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
        }
        *statuses.entry(status).or_default() += 1;
    }
    println!("rpm_limit 10 across 3 replicas, 30 requests: {statuses:?}");
    assert_eq!(statuses.get(&200), Some(&10), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&20), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_is_not_overspent_by_300_concurrent_requests_across_replicas() {
    let redis = RedisServer::start();
    let upstream = Upstream::start().await;
    let fleet = Fleet::start(&config(&database(), &redis.url(), &upstream)).await;
    let key = fleet.new_key(json!({"max_budget": 0.2})).await;
    let mut tasks = tokio::task::JoinSet::new();
    let fleet = std::sync::Arc::new(fleet);
    for _ in 0..300 {
        let (fleet, key) = (fleet.clone(), key.clone());
        tasks.spawn(async move { fleet.chat_via(&fleet.lb(), &key, "gpt-mock").await });
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    while let Some(r) = tasks.join_next().await {
        let (status, v) = r.unwrap();
        if status != 200 {
            assert_eq!(
                (status, &v["error"]["code"]),
                (429, &json!("budget_exceeded")),
                "{v}"
            );
        }
        *statuses.entry(status).or_default() += 1;
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // spend logs are written in batches
    let logs = fleet.spend_logs(&key).await;
    let spend: f64 = logs.iter().map(|l| l["spend"].as_f64().unwrap()).sum();
    println!(
        "budget $0.2, 300 concurrent requests over 3 replicas: {statuses:?}, {} spend logs, spend ${spend}",
        logs.len()
    );
    assert_eq!(logs.len(), statuses.get(&200).copied().unwrap_or(0));
    assert!(spend <= 0.2 + 1e-9, "spend {spend} exceeds the budget");
    assert!(
        spend > 0.2 * 0.6,
        "the budget is used, not refused early: {spend}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_run_loses_no_request_and_no_spend_record() {
    let mut redis = RedisServer::start();
    let upstream = Upstream::start().await;
    let fleet =
        std::sync::Arc::new(Fleet::start(&config(&database(), &redis.url(), &upstream)).await);
    let key = fleet.new_key(json!({"max_budget": 1000})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let (fleet, key) = (fleet.clone(), key.clone());
        tasks.spawn(async move {
            // Spread over ~1.5 s, so Redis dies in the middle.
            tokio::time::sleep(Duration::from_millis(i * 5)).await;
            fleet.chat_via(&fleet.lb(), &key, "gpt-mock").await
        });
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    redis.kill();
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        let (status, v) = r.unwrap();
        assert_eq!(status, 200, "{v}");
        ok += 1;
    }
    assert_eq!(ok, 300);
    for i in 0..3 {
        fleet.wait_status(i, "degraded").await;
    }
    let metrics = fleet
        .http
        .get(fleet.replicas[0].url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchyard_shared_state_up 0"),
        "{metrics}"
    );
    // Back: every replica reconnects and replays what it settled meanwhile.
    redis.restart();
    for i in 0..3 {
        fleet.wait_status(i, "connected").await;
    }
    let (status, v) = fleet.chat_via(&fleet.lb(), &key, "gpt-mock").await;
    assert_eq!(status, 200, "{v}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let logs = fleet.spend_logs(&key).await;
    println!(
        "Redis killed mid-run: 301/301 answered, {} spend logs",
        logs.len()
    );
    assert_eq!(logs.len(), 301, "one spend log per request");
}

//! State several replicas share through Redis: router cooldowns and load, tenancy rate limits
//! and budget reservations, change notices for keys, users and teams.
//!
//! Every replica keeps working on its local state; Redis is where they meet. A replica that
//! cannot reach Redis goes on alone ("degraded": readiness says so, a metric counts it) and
//! reconciles when Redis answers again: it re-publishes its active cooldowns and pushes the
//! spend it settled meanwhile. Redis must be standalone (or a primary with replicas); scripts
//! read keys they do not declare, which Redis Cluster refuses.

mod budgets;
mod router_state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;

pub(crate) use budgets::{BudgetLevel, Settlement, SharedBudgets, SharedRefusal};
pub(crate) use router_state::SharedRouterState;

use crate::config::{Config, Secret};

/// A replica whose heartbeat is older than this is gone: its load and reservations stop
/// counting.
pub(crate) const REPLICA_TTL_MS: u64 = 5_000;
/// How often a replica publishes its load and reads the others'.
const SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// Longest wait for Redis on a request's path; past it the replica is degraded.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often an unreachable Redis is tried again.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// Where the shared state is, from `router_settings` (LiteLLM's names).
pub(crate) fn redis_url(config: &Config) -> Option<Secret> {
    let r = &config.router_settings;
    if let Some(url) = &r.redis_url {
        return Some(url.clone());
    }
    let host = r.redis_host.as_deref()?;
    let port = r.redis_port.unwrap_or(6379);
    Some(Secret::new(match &r.redis_password {
        Some(p) => format!("redis://:{}@{host}:{port}", p.expose()),
        None => format!("redis://{host}:{port}"),
    }))
}

/// Something that reacts to a notice published by another replica.
type Listener = Box<dyn Fn(&str) + Send + Sync>;
/// Something to redo when Redis answers again after an outage.
type Reconciler =
    Box<dyn Fn(Arc<Shared>) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

/// The connection to the shared state and its health.
pub(crate) struct Shared {
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    prefix: String,
    replica: String,
    up: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// By notice kind (`cooldown`, `tenancy`).
    listeners: RwLock<Vec<(&'static str, Listener)>>,
    reconcilers: RwLock<Vec<Reconciler>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("replica", &self.replica)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// What `/health/readiness` shows about the shared state.
#[derive(Debug, serde::Serialize)]
pub(crate) struct SharedStatus {
    pub(crate) backend: &'static str,
    pub(crate) status: &'static str,
    pub(crate) replica: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl Shared {
    /// Connects in the background: the replica serves on local state until Redis answers.
    pub(crate) fn start(
        url: &Secret,
        prefix: Option<&str>,
        replica: Option<&str>,
    ) -> Result<Arc<Shared>, String> {
        let client = redis::Client::open(url.expose())
            .map_err(|e| format!("router_settings.redis_url: {}", redact(&e, url)))?;
        let replica = replica
            .map(str::to_owned)
            .unwrap_or_else(default_replica_id);
        let shared = Arc::new(Shared {
            client,
            conn: ArcSwapOption::empty(),
            prefix: prefix.unwrap_or("switchyard:").to_owned(),
            replica,
            up: AtomicBool::new(false),
            last_error: Mutex::new(Some("connecting".to_owned())),
            listeners: RwLock::new(Vec::new()),
            reconcilers: RwLock::new(Vec::new()),
        });
        metrics::gauge!("switchyard_shared_state_up").set(0.0);
        tokio::spawn(keep_connected(Arc::downgrade(&shared), url.clone()));
        tokio::spawn(subscribe(Arc::downgrade(&shared), url.clone()));
        Ok(shared)
    }

    pub(crate) fn replica(&self) -> &str {
        &self.replica
    }

    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub(crate) fn status(&self) -> SharedStatus {
        SharedStatus {
            backend: "redis",
            status: if self.is_up() {
                "connected"
            } else {
                "degraded"
            },
            replica: self.replica.clone(),
            error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// The connection, when Redis is reachable.
    pub(crate) fn conn(&self) -> Option<ConnectionManager> {
        if !self.is_up() {
            return None;
        }
        self.conn.load_full().map(|c| (*c).clone())
    }

    /// A failed call: the replica goes on alone until the reconnect loop sees Redis again.
    pub(crate) fn failed(&self, what: &str, e: &redis::RedisError) {
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(error = %e, during = what, replica = %self.replica,
                "shared state unreachable: serving on local state until it is back");
        }
        metrics::gauge!("switchyard_shared_state_up").set(0.0);
        metrics::counter!("switchyard_shared_state_errors_total").increment(1);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{what}: {e}"));
    }

    /// Calls `listener` with the body of every `kind` notice another replica publishes.
    pub(crate) fn listen(&self, kind: &'static str, listener: Listener) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((kind, listener));
    }

    /// Runs `reconcile` every time Redis answers after being unreachable (and at first
    /// connection).
    pub(crate) fn on_reconnect(&self, reconcile: Reconciler) {
        self.reconcilers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(reconcile);
    }

    /// Tells the other replicas something (`kind` and a body), best effort.
    pub(crate) async fn publish(&self, kind: &str, body: &str) {
        let Some(mut conn) = self.conn() else { return };
        let message = format!("{}\t{kind}\t{body}", self.replica);
        let r: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(self.key("events"))
            .arg(message)
            .query_async(&mut conn)
            .await;
        if let Err(e) = r {
            self.failed("publish", &e);
        }
    }

    fn dispatch(&self, message: &str) {
        let mut parts = message.splitn(3, '\t');
        let (Some(from), Some(kind), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if from == self.replica {
            return;
        }
        for (k, listener) in self
            .listeners
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            if *k == kind {
                listener(body);
            }
        }
    }
}

fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "replica".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A Redis error's text without the URL's password.
fn redact(e: &redis::RedisError, url: &Secret) -> String {
    let text = e.to_string();
    match url.expose().split_once('@') {
        Some((creds, _)) => text.replace(creds, "redis://<credentials>"),
        None => text,
    }
}

/// Keeps a connection: makes one when there is none, checks it every `SYNC_INTERVAL`-ish (the
/// router's sync does the real traffic), and reconciles after an outage.
async fn keep_connected(shared: std::sync::Weak<Shared>, url: Secret) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        if s.conn.load().is_none() {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(RESPONSE_TIMEOUT)
                .set_response_timeout(RESPONSE_TIMEOUT)
                .set_number_of_retries(1)
                .set_max_delay(200);
            match ConnectionManager::new_with_config(s.client.clone(), config).await {
                Ok(c) => s.conn.store(Some(Arc::new(c))),
                Err(e) => s.failed("connect", &redact_err(e, &url)),
            }
        }
        if let Some(conn) = s.conn.load_full() {
            let mut conn = (*conn).clone();
            let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
            match ping {
                Ok(_) if !s.is_up() => {
                    // Up only once the reconcilers ran: nothing is counted twice or lost.
                    s.up.store(true, Ordering::Release);
                    let reconcilers: Vec<_> = s
                        .reconcilers
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .map(|r| r(s.clone()))
                        .collect();
                    futures_util::future::join_all(reconcilers).await;
                    if s.is_up() {
                        *s.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        metrics::gauge!("switchyard_shared_state_up").set(1.0);
                        tracing::info!(replica = %s.replica, "shared state connected");
                    }
                }
                Ok(_) => {}
                Err(e) => s.failed("ping", &e),
            }
        }
        drop(s);
        tokio::time::sleep(RECONNECT_INTERVAL).await;
    }
}

fn redact_err(e: redis::RedisError, url: &Secret) -> redis::RedisError {
    let text = redact(&e, url);
    redis::RedisError::from((redis::ErrorKind::IoError, "redis", text))
}

/// Receives the other replicas' notices; resubscribes after a disconnect.
async fn subscribe(shared: std::sync::Weak<Shared>, url: Secret) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        let client = s.client.clone();
        let channel = s.key("events");
        drop(s);
        let pubsub = tokio::time::timeout(RESPONSE_TIMEOUT, client.get_async_pubsub()).await;
        if let Ok(Ok(mut pubsub)) = pubsub {
            if pubsub.subscribe(&channel).await.is_ok() {
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Some(s) = shared.upgrade() else { return };
                    if let Ok(text) = msg.get_payload::<String>() {
                        s.dispatch(&text);
                    }
                }
            }
        } else if let (Some(s), Ok(Err(e))) = (shared.upgrade(), pubsub) {
            s.failed("subscribe", &redact_err(e, &url));
        }
        tokio::time::sleep(RECONNECT_INTERVAL).await;
    }
}

/// Runs `f` every `SYNC_INTERVAL` while `shared` lives.
pub(crate) fn every_sync_interval<F, Fut>(shared: &Arc<Shared>, f: F)
where
    F: Fn(Arc<Shared>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(s) = weak.upgrade() else { return };
            f(s).await;
        }
    });
}

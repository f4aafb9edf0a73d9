//! Tenancy: virtual keys, users and teams, their budgets and rate limits, and spend.
//!
//! Keys, users and teams live in memory (loaded from the store at start-up, written through on
//! every admin change); budgets are atomic reservations in memory, so a check and its charge
//! cannot be raced; spend logs go to the store in batches from a background task, and the batch
//! writer drains on shutdown. Keys are stored as HMAC-SHA256 of the plaintext under a server
//! secret (`general_settings.salt_key`, else the master key): the plaintext is shown once.

mod admin;
pub(crate) mod budget;
mod limits;
mod records;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchyard_plugin_sdk::ErrorKind;
use switchyard_store::{SpendLog, Store, Table};
use tokio::sync::mpsc;

use crate::error::GatewayError;
pub(crate) use admin::AdminRoute;
use budget::{usd_text, Budget, Exhausted};
use limits::{Limited, Limiter, Slot};
use records::{KeyRecord, TeamRecord, UserRecord};

/// How often the spend writer flushes, at the latest.
const SPEND_FLUSH_INTERVAL: Duration = Duration::from_millis(250);
/// Most spend logs written in one transaction.
const SPEND_BATCH: usize = 500;

/// A key, user or team with its live counters.
#[derive(Debug)]
pub(crate) struct Entity<R> {
    pub(crate) id: String,
    pub(crate) record: RwLock<R>,
    pub(crate) budget: Budget,
    pub(crate) limiter: Limiter,
    /// A key's per-model budgets (`model_max_budget`), by model group.
    pub(crate) model_budgets: std::sync::Mutex<HashMap<String, Arc<Budget>>>,
}

impl<R: Clone> Entity<R> {
    fn new(id: String, record: R, spend: i64, window_start: i64) -> Arc<Self> {
        Arc::new(Entity {
            id,
            record: RwLock::new(record),
            budget: Budget::new(spend, window_start),
            limiter: Limiter::default(),
            model_budgets: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn read(&self) -> R {
        self.record
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl<R: records::Record> Entity<R> {
    /// The entity in LiteLLM's shape, with its live spend and window.
    pub(crate) fn render(&self) -> serde_json::Value {
        self.read()
            .render(&self.id, self.budget.spent(), self.budget.window_start())
    }
}

type Map<R> = RwLock<HashMap<String, Arc<Entity<R>>>>;

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// No master key is configured: an open gateway.
    Open,
    Master,
    Key(Arc<KeyPrincipal>),
}

/// A virtual key and the user and team it belongs to.
#[derive(Debug)]
pub(crate) struct KeyPrincipal {
    pub(crate) key: Arc<Entity<KeyRecord>>,
    pub(crate) user: Option<Arc<Entity<UserRecord>>>,
    pub(crate) team: Option<Arc<Entity<TeamRecord>>>,
}

impl Principal {
    /// Master key, open gateway, or a key whose user is a `proxy_admin`.
    pub(crate) fn is_admin(&self) -> bool {
        match self {
            Principal::Open | Principal::Master => true,
            Principal::Key(k) => k
                .user
                .as_ref()
                .is_some_and(|u| u.read().user_role.as_deref() == Some("proxy_admin")),
        }
    }
}

/// A request admitted under its key's limits and budgets: holds the parallel slots and the
/// reservations until it is settled (or dropped, which releases them).
#[derive(Debug)]
pub(crate) struct Admission {
    principal: Arc<KeyPrincipal>,
    /// The key's budget for this model (`model_max_budget`), when it has one.
    model_budget: Option<Arc<Budget>>,
    reserved: i64,
    _slots: Vec<Slot>,
    settled: bool,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.settled {
            for budget in self.budgets() {
                budget.release(self.reserved);
            }
        }
    }
}

impl Admission {
    fn budgets(&self) -> Vec<&Budget> {
        let p = &self.principal;
        let mut out = vec![&p.key.budget];
        out.extend(p.user.as_ref().map(|u| &u.budget));
        out.extend(p.team.as_ref().map(|t| &t.budget));
        out.extend(self.model_budget.as_deref());
        out
    }

    pub(crate) fn principal(&self) -> &Arc<KeyPrincipal> {
        &self.principal
    }
}

/// The tenancy service.
pub(crate) struct Tenancy {
    store: Store,
    secret: Vec<u8>,
    keys: Map<KeyRecord>,
    users: Map<UserRecord>,
    teams: Map<TeamRecord>,
    spend: mpsc::UnboundedSender<SpendMsg>,
    /// Added to the wall clock (tests start the gateway "at" a chosen instant).
    clock_offset_ms: i64,
    /// Model access groups: name → model groups.
    access_groups: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("store", &self.store.kind())
            .finish_non_exhaustive()
    }
}

fn unavailable(e: switchyard_store::StoreError) -> GatewayError {
    GatewayError::new(ErrorKind::Unavailable, format!("database: {e}")).with_code("db_error")
}

impl Tenancy {
    /// Opens and migrates the store, loads keys, users and teams, starts the spend writer.
    pub(crate) async fn start(
        url: &str,
        secret: Vec<u8>,
        clock_offset_ms: i64,
        access_groups: HashMap<String, Vec<String>>,
    ) -> Result<Arc<Tenancy>, String> {
        let store = Store::open(url).await.map_err(|e| e.to_string())?;
        store.migrate().await.map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for row in store.load(Table::Keys).await.map_err(|e| e.to_string())? {
            let record: KeyRecord = serde_json::from_value(row.data).unwrap_or_default();
            keys.insert(
                row.id.clone(),
                Entity::new(row.id, record, row.spend_nanos, row.window_start),
            );
        }
        let mut users = HashMap::new();
        for row in store.load(Table::Users).await.map_err(|e| e.to_string())? {
            let record: UserRecord = serde_json::from_value(row.data).unwrap_or_default();
            users.insert(
                row.id.clone(),
                Entity::new(row.id, record, row.spend_nanos, row.window_start),
            );
        }
        let mut teams = HashMap::new();
        for row in store.load(Table::Teams).await.map_err(|e| e.to_string())? {
            let record: TeamRecord = serde_json::from_value(row.data).unwrap_or_default();
            teams.insert(
                row.id.clone(),
                Entity::new(row.id, record, row.spend_nanos, row.window_start),
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_spend(store.clone(), rx));
        Ok(Arc::new(Tenancy {
            store,
            secret,
            keys: RwLock::new(keys),
            users: RwLock::new(users),
            teams: RwLock::new(teams),
            spend: tx,
            clock_offset_ms,
            access_groups,
        }))
    }

    pub(crate) fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Unix ms on the tenancy clock.
    pub(crate) fn now_ms(&self) -> i64 {
        crate::router::unix_ms() as i64 + self.clock_offset_ms
    }

    /// The stored hash of a plaintext key.
    pub(crate) fn hash_key(&self, plaintext: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any size");
        mac.update(plaintext.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn key_by_hash(&self, hash: &str) -> Option<Arc<Entity<KeyRecord>>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }

    /// A key given as plaintext (`sk-...`) or as its hash.
    pub(crate) fn find_key(&self, key: &str) -> Option<Arc<Entity<KeyRecord>>> {
        self.key_by_hash(&self.hash_key(key))
            .or_else(|| self.key_by_hash(key))
    }

    fn user(&self, id: &str) -> Option<Arc<Entity<UserRecord>>> {
        self.users
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn team(&self, id: &str) -> Option<Arc<Entity<TeamRecord>>> {
        self.teams
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Authenticates a presented virtual key.
    pub(crate) fn authenticate(&self, presented: &str) -> Result<Arc<KeyPrincipal>, GatewayError> {
        let key = self
            .key_by_hash(&self.hash_key(presented))
            .ok_or_else(|| GatewayError::authentication("invalid API key"))?;
        let record = key.read();
        if record.common.blocked {
            return Err(
                GatewayError::authentication("this key is blocked").with_code("key_blocked")
            );
        }
        if record.expires_ms.is_some_and(|e| e <= self.now_ms()) {
            return Err(
                GatewayError::authentication("this key has expired").with_code("expired_key")
            );
        }
        let team = record.team_id.as_deref().and_then(|t| self.team(t));
        if team.as_ref().is_some_and(|t| t.read().common.blocked) {
            return Err(GatewayError::authentication("this key's team is blocked")
                .with_code("team_blocked"));
        }
        Ok(Arc::new(KeyPrincipal {
            user: record.user_id.as_deref().and_then(|u| self.user(u)),
            team,
            key,
        }))
    }

    /// Whether a key may call `route` (its `allowed_routes`, when set).
    pub(crate) fn route_allowed(principal: &KeyPrincipal, route: &str) -> Result<(), GatewayError> {
        let routes = principal.key.read().allowed_routes;
        if routes.is_empty()
            || routes
                .iter()
                .any(|r| r == route || r.trim_end_matches('/') == route)
        {
            return Ok(());
        }
        Err(GatewayError::new(
            ErrorKind::Permission,
            format!(
                "this key may not call {route}; its allowed routes are: {}",
                routes.join(", ")
            ),
        )
        .with_code("route_not_allowed"))
    }

    /// The model groups a key may use: the key's list, else its team's, else its user's;
    /// `None` means every model. Access-group names expand to their model groups.
    pub(crate) fn allowed_models(&self, principal: &KeyPrincipal) -> Option<Vec<String>> {
        let mut lists = vec![principal.key.read().common.models];
        lists.extend(principal.team.as_ref().map(|t| t.read().common.models));
        lists.extend(principal.user.as_ref().map(|u| u.read().common.models));
        let list = lists.into_iter().find(|l| !l.is_empty())?;
        if list
            .iter()
            .any(|m| m == "*" || m == "all-proxy-models" || m == "all-team-models")
        {
            return None;
        }
        let mut out = Vec::new();
        for m in list {
            match self.access_groups.get(&m) {
                Some(groups) => out.extend(groups.iter().cloned()),
                None => out.push(m),
            }
        }
        Some(out)
    }

    /// Admits a request for `model_group` costing at most `worst_case` nano-dollars: model
    /// access, rate limits, then budget reservations on the key, its user and its team.
    pub(crate) fn admit(
        &self,
        principal: &Arc<KeyPrincipal>,
        requested: &str,
        model_group: &str,
        worst_case: i64,
    ) -> Result<Admission, GatewayError> {
        if let Some(allowed) = self.allowed_models(principal) {
            if !allowed.iter().any(|m| m == model_group || m == requested) {
                return Err(GatewayError::new(
                    ErrorKind::Permission,
                    format!("this key may not use model '{requested}'"),
                )
                .with_code("key_model_access_denied")
                .with_param("model"));
            }
        }
        let now = self.now_ms();
        let mut slots = Vec::new();
        let key = principal.key.read();
        let user = principal.user.as_ref().map(|u| (u, u.read()));
        let team = principal.team.as_ref().map(|t| (t, t.read()));
        let mut levels: Vec<(&str, &Limiter, &Budget, &records::Common, &str)> = vec![(
            "key",
            &principal.key.limiter,
            &principal.key.budget,
            &key.common,
            "",
        )];
        if let Some((u, r)) = &user {
            levels.push(("user", &u.limiter, &u.budget, &r.common, u.id.as_str()));
        }
        if let Some((t, r)) = &team {
            levels.push(("team", &t.limiter, &t.budget, &r.common, t.id.as_str()));
        }
        for (level, limiter, _, common, _) in &levels {
            let slot = limiter
                .admit(
                    common.rpm_limit,
                    common.tpm_limit,
                    common.max_parallel_requests,
                    now as u64,
                )
                .map_err(|l| limited(level, l))?;
            slots.push(slot);
        }
        let mut reserved: Vec<&Budget> = Vec::new();
        for (level, _, budget, common, id) in &levels {
            let window = common.window();
            if let Some(start) = budget.roll(window, now) {
                let table = match *level {
                    "key" => Table::Keys,
                    "user" => Table::Users,
                    _ => Table::Teams,
                };
                let id = if *level == "key" {
                    principal.key.id.clone()
                } else {
                    (*id).to_owned()
                };
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.reset_window(table, &id, start).await {
                        tracing::warn!(error = %e, "cannot persist a budget reset");
                    }
                });
            }
            if let Err(e) = budget.reserve(worst_case, common.max_budget_nanos, window) {
                for b in reserved {
                    b.release(worst_case);
                }
                return Err(exhausted(level, e, now));
            }
            reserved.push(budget);
        }
        // `model_max_budget: {group: {budget_limit, time_period}}` on the key.
        let model_budget = match key.model_max_budget.get(model_group) {
            Some(spec) => {
                let max = spec
                    .get("budget_limit")
                    .or_else(|| spec.get("max_budget"))
                    .and_then(budget::nanos_from_json);
                let window = spec
                    .get("time_period")
                    .or_else(|| spec.get("budget_duration"))
                    .and_then(|v| v.as_str())
                    .and_then(budget::Window::parse);
                let b = principal
                    .key
                    .model_budgets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(model_group.to_owned())
                    .or_insert_with(|| Arc::new(Budget::new(0, 0)))
                    .clone();
                b.roll(window, now);
                if let Err(e) = b.reserve(worst_case, max, window) {
                    for r in reserved {
                        r.release(worst_case);
                    }
                    return Err(exhausted(
                        &format!("key (for model '{model_group}')"),
                        e,
                        now,
                    ));
                }
                Some(b)
            }
            None => None,
        };
        Ok(Admission {
            principal: principal.clone(),
            model_budget,
            reserved: worst_case,
            _slots: slots,
            settled: false,
        })
    }

    /// Charges a finished request: budgets settle to `cost`, tokens count for tpm, and the
    /// spend log is queued for the store (once per request id).
    pub(crate) fn settle(&self, mut admission: Admission, cost: i64, tokens: u64, log: SpendLog) {
        let now = self.now_ms() as u64;
        for budget in admission.budgets() {
            budget.settle(admission.reserved, cost);
        }
        let p = &admission.principal;
        p.key.limiter.add_tokens(tokens, now);
        if let Some(u) = &p.user {
            u.limiter.add_tokens(tokens, now);
        }
        if let Some(t) = &p.team {
            t.limiter.add_tokens(tokens, now);
        }
        admission.settled = true;
        // The writer only stops at shutdown, after the last request.
        let _ = self.spend.send(SpendMsg::Log(Box::new(log)));
    }

    /// Queues a spend log of a request made without a virtual key (master key).
    pub(crate) fn log_spend(&self, log: SpendLog) {
        let _ = self.spend.send(SpendMsg::Log(Box::new(log)));
    }

    /// Writes every spend log queued so far (graceful shutdown, and tests).
    pub(crate) async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.spend.send(SpendMsg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// What the spend writer receives.
#[derive(Debug)]
enum SpendMsg {
    Log(Box<SpendLog>),
    /// Write everything received before this, then answer.
    Flush(tokio::sync::oneshot::Sender<()>),
}

fn limited(level: &str, l: Limited) -> GatewayError {
    let mut e = GatewayError::new(
        ErrorKind::RateLimit,
        format!(
            "rate limit exceeded: the {level}'s {} of {} was reached; retry in {} s",
            l.kind.name(),
            l.limit,
            l.retry_after_ms.div_ceil(1000)
        ),
    )
    .with_code("rate_limit_exceeded");
    e.retry_after_ms = Some(l.retry_after_ms);
    e
}

fn exhausted(level: &str, e: Exhausted, now: i64) -> GatewayError {
    let mut err = GatewayError::new(
        ErrorKind::RateLimit,
        format!(
            "budget exceeded: the {level} has spent ${} of its ${} budget{}",
            usd_text(e.spent),
            usd_text(e.max),
            match e.resets_at {
                Some(at) => format!("; it resets at {}", budget::rfc3339(at)),
                None => String::new(),
            }
        ),
    )
    .with_code("budget_exceeded");
    err.retry_after_ms = e.resets_at.map(|at| (at - now).max(1000) as u64);
    err
}

/// Writes spend logs in batches: after the first log of a batch the writer sleeps
/// `SPEND_FLUSH_INTERVAL` and then takes everything queued (up to `SPEND_BATCH` per
/// transaction), so a busy gateway writes a few transactions per second instead of one per
/// request; a flush request writes at once. A batch that cannot be
/// written is kept and retried (never dropped).
async fn write_spend(store: Store, mut rx: mpsc::UnboundedReceiver<SpendMsg>) {
    let mut batch: Vec<SpendLog> = Vec::new();
    let mut waiting: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    loop {
        if batch.is_empty() && waiting.is_empty() {
            match rx.recv().await {
                Some(SpendMsg::Log(log)) => batch.push(*log),
                Some(SpendMsg::Flush(done)) => waiting.push(done),
                None => return,
            }
        }
        if waiting.is_empty() {
            // Not polling the channel meanwhile means senders wake nobody: one wake-up per
            // batch, not per request.
            tokio::time::sleep(SPEND_FLUSH_INTERVAL).await;
        }
        // Whatever else is already queued goes in the same transaction.
        while batch.len() < SPEND_BATCH {
            match rx.try_recv() {
                Ok(SpendMsg::Log(log)) => batch.push(*log),
                Ok(SpendMsg::Flush(done)) => waiting.push(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            match store.record_spend(&batch).await {
                Ok(_) => batch.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, pending = batch.len(), "cannot write spend logs; will retry");
                    tokio::time::sleep(SPEND_FLUSH_INTERVAL).await;
                    continue;
                }
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

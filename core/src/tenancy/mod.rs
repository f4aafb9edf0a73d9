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

use crate::config::BudgetFailMode;
use crate::error::GatewayError;
use crate::shared::{BudgetLevel, Settlement, Shared, SharedBudgets, SharedRefusal};
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
    pub(crate) budget: Arc<Budget>,
    pub(crate) limiter: Arc<Limiter>,
    /// A key's per-model budgets (`model_max_budget`), by model group.
    pub(crate) model_budgets: std::sync::Mutex<HashMap<String, Arc<Budget>>>,
}

impl<R: Clone> Entity<R> {
    fn new(id: String, record: R, spend: i64, window_start: i64) -> Arc<Self> {
        Arc::new(Entity {
            id,
            record: RwLock::new(record),
            budget: Arc::new(Budget::new(spend, window_start)),
            limiter: Arc::default(),
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
    /// Whether `reserved` is held in the local budgets (else only in the shared state).
    reserved_locally: bool,
    /// The levels counted in the shared state, and whether `reserved` is held there.
    shared: Option<SharedAdmission>,
    _slots: Vec<Slot>,
    settled: bool,
}

/// An admission's part in the shared state.
#[derive(Debug)]
struct SharedAdmission {
    budgets: Arc<SharedBudgets>,
    /// Level ids and their window starts.
    levels: Vec<(String, Option<i64>)>,
    reserved: bool,
}

impl SharedAdmission {
    fn new(budgets: &Arc<SharedBudgets>, levels: &[Level], reserved: bool) -> Self {
        SharedAdmission {
            budgets: budgets.clone(),
            levels: levels
                .iter()
                .map(|l| (l.shared_id(), l.window_start))
                .collect(),
            reserved,
        }
    }

    fn settlements(&self, cost: i64, give_back: i64, tokens: u64) -> Vec<Settlement> {
        self.levels
            .iter()
            .map(|(id, window_start)| Settlement {
                id: id.clone(),
                window_start: *window_start,
                cost,
                give_back: if self.reserved { give_back } else { 0 },
                tokens,
            })
            .collect()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.settled {
            if self.reserved_locally {
                for budget in self.budgets() {
                    budget.release(self.reserved);
                }
            }
            if let Some(shared) = self.shared.take() {
                if shared.reserved {
                    let settlements = shared.settlements(0, self.reserved, 0);
                    let now = crate::router::unix_ms() as i64;
                    tokio::spawn(async move { shared.budgets.settle(settlements, now).await });
                }
            }
        }
    }
}

impl Admission {
    fn budgets(&self) -> Vec<&Budget> {
        let p = &self.principal;
        let mut out = vec![&*p.key.budget];
        out.extend(p.user.as_ref().map(|u| &*u.budget));
        out.extend(p.team.as_ref().map(|t| &*t.budget));
        out.extend(self.model_budget.as_deref());
        out
    }

    pub(crate) fn principal(&self) -> &Arc<KeyPrincipal> {
        &self.principal
    }
}

/// HMAC-SHA256 of `plaintext` under `keyed` (a MAC with its key absorbed), lower-case hex: the
/// form keys are stored and looked up in.
fn hmac_hex(keyed: &Hmac<Sha256>, plaintext: &str) -> String {
    let mut mac = keyed.clone();
    mac.update(plaintext.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The tenancy service.
pub(crate) struct Tenancy {
    store: Store,
    /// HMAC-SHA256 keyed with the salt, its key blocks already absorbed: each hash starts from
    /// a copy (a virtual-key request hashes its key once).
    key_mac: Hmac<Sha256>,
    keys: Map<KeyRecord>,
    users: Map<UserRecord>,
    teams: Map<TeamRecord>,
    spend: mpsc::UnboundedSender<SpendMsg>,
    /// Added to the wall clock (tests start the gateway "at" a chosen instant).
    clock_offset_ms: i64,
    /// Model access groups: name → model groups.
    access_groups: HashMap<String, Vec<String>>,
    /// Limits and budgets shared with the other replicas, when there is a shared state.
    shared: Option<Arc<SharedBudgets>>,
    budget_fail_mode: BudgetFailMode,
    /// Key hashes the database did not have, and when that was found.
    missing: std::sync::Mutex<MissingKeys>,
}

/// Recently missing key hashes, forgotten after `MISSING_KEY_TTL_MS`; at most
/// `MISSING_KEY_LIMIT` (expired ones are dropped first; past it, misses are not remembered).
#[derive(Debug, Default)]
struct MissingKeys(HashMap<String, i64>);

const MISSING_KEY_TTL_MS: i64 = 1_000;
const MISSING_KEY_LIMIT: usize = 10_000;

impl MissingKeys {
    fn contains(&self, hash: &str, now_ms: i64) -> bool {
        self.0
            .get(hash)
            .is_some_and(|at| now_ms - at < MISSING_KEY_TTL_MS)
    }

    fn remember(&mut self, hash: &str, now_ms: i64) {
        if self.0.len() >= MISSING_KEY_LIMIT {
            self.0.retain(|_, at| now_ms - *at < MISSING_KEY_TTL_MS);
        }
        if self.0.len() < MISSING_KEY_LIMIT {
            self.0.insert(hash.to_owned(), now_ms);
        }
    }
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
        shared: Option<Arc<Shared>>,
        budget_fail_mode: BudgetFailMode,
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
        tokio::spawn(write_spend(store.clone(), rx, SPEND_FLUSH_INTERVAL));
        let key_mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes keys of any size");
        let tenancy = Arc::new(Tenancy {
            store,
            key_mac,
            keys: RwLock::new(keys),
            users: RwLock::new(users),
            teams: RwLock::new(teams),
            spend: tx,
            clock_offset_ms,
            access_groups,
            shared: shared.clone().map(SharedBudgets::start),
            budget_fail_mode,
            missing: std::sync::Mutex::new(MissingKeys::default()),
        });
        if let Some(shared) = shared {
            // Another replica changed a key, user or team: read it again.
            let weak = Arc::downgrade(&tenancy);
            shared.listen(
                "tenancy",
                Box::new(move |body| {
                    let Some(t) = weak.upgrade() else { return };
                    let Some((table, id)) = body
                        .split_once('\t')
                        .and_then(|(t, id)| Some((Table::from_name(t)?, id.to_owned())))
                    else {
                        return;
                    };
                    tokio::spawn(async move { t.reread(table, &id).await });
                }),
            );
        }
        Ok(tenancy)
    }

    /// Tells the other replicas a key, user or team changed (or is gone).
    pub(crate) fn changed(&self, table: Table, id: &str) {
        if let Some(b) = &self.shared {
            let shared = b.shared().clone();
            let body = format!("{}\t{id}", table.name());
            tokio::spawn(async move { shared.publish("tenancy", &body).await });
        }
    }

    /// Replaces the in-memory record of a key, user or team by the stored one (or forgets it).
    /// Live counters (spend, limits) stay.
    async fn reread(&self, table: Table, id: &str) {
        let row = match self.store.load_one(table, id).await {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a changed {} row", table.name());
                return;
            }
        };
        fn apply<R: Clone + serde::de::DeserializeOwned + Default>(
            map: &Map<R>,
            id: &str,
            row: Option<switchyard_store::Row>,
        ) {
            let mut map = map.write().unwrap_or_else(|p| p.into_inner());
            match row {
                None => {
                    map.remove(id);
                }
                Some(row) => {
                    let record: R = serde_json::from_value(row.data).unwrap_or_default();
                    match map.get(id) {
                        Some(e) => *e.record.write().unwrap_or_else(|p| p.into_inner()) = record,
                        None => {
                            map.insert(
                                row.id.clone(),
                                Entity::new(row.id, record, row.spend_nanos, row.window_start),
                            );
                        }
                    }
                }
            }
        }
        match table {
            Table::Keys => apply(&self.keys, id, row),
            Table::Users => apply(&self.users, id, row),
            Table::Teams => apply(&self.teams, id, row),
        }
    }

    pub(crate) fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// The database (Responses API objects are kept there too).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Unix ms on the tenancy clock.
    pub(crate) fn now_ms(&self) -> i64 {
        crate::router::unix_ms() as i64 + self.clock_offset_ms
    }

    /// The stored hash of a plaintext key.
    pub(crate) fn hash_key(&self, plaintext: &str) -> String {
        hmac_hex(&self.key_mac, plaintext)
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

    /// A key by hash from memory, else from the store (another replica may have created it),
    /// with its user and team.
    async fn key_or_stored(&self, hash: &str) -> Option<Arc<Entity<KeyRecord>>> {
        if let Some(k) = self.key_by_hash(hash) {
            return Some(k);
        }
        // Only a shared database can hold keys this process has not seen; a key found missing
        // there is not asked for again for a second (a flood of wrong keys is not a flood of
        // queries).
        if self.store.kind() != "postgres" || self.recently_missing(hash) {
            return None;
        }
        let Some(row) = self.store.load_one(Table::Keys, hash).await.ok().flatten() else {
            self.missing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remember(hash, self.now_ms());
            return None;
        };
        let record: KeyRecord = serde_json::from_value(row.data).unwrap_or_default();
        for (table, id) in [
            (Table::Users, record.user_id.clone()),
            (Table::Teams, record.team_id.clone()),
        ] {
            let known = match table {
                Table::Users => id.as_deref().and_then(|i| self.user(i)).is_some(),
                _ => id.as_deref().and_then(|i| self.team(i)).is_some(),
            };
            if let (Some(id), false) = (id, known) {
                self.reread(table, &id).await;
            }
        }
        let entity = Entity::new(row.id.clone(), record, row.spend_nanos, row.window_start);
        Some(
            self.keys
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(row.id)
                .or_insert(entity)
                .clone(),
        )
    }

    fn recently_missing(&self, hash: &str) -> bool {
        self.missing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(hash, self.now_ms())
    }

    /// Authenticates a presented virtual key.
    pub(crate) async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Arc<KeyPrincipal>, GatewayError> {
        let key = self
            .key_or_stored(&self.hash_key(presented))
            .await
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
    /// access, rate limits, then budget reservations on the key, its user, its team and the
    /// key's budget for the model. With a shared state the limits and budgets are checked and
    /// reserved there, for all replicas at once; while it is unreachable, on this replica's
    /// own counters (or refused, with `budget_fail_mode: closed`).
    pub(crate) async fn admit(
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
        let levels = self.levels(principal, model_group, now);
        // Parallel requests are this replica's own (a slot is held by a connection here).
        let mut slots = Vec::new();
        for level in &levels {
            let slot = level
                .limiter
                .admit(None, None, level.parallel, now as u64)
                .map_err(|l| limited(&level.name, l))?;
            slots.push(slot);
        }
        let mut admission = Admission {
            principal: principal.clone(),
            model_budget: levels.iter().find_map(|l| l.model_budget.clone()),
            reserved: worst_case,
            reserved_locally: false,
            shared: None,
            _slots: slots,
            settled: false,
        };
        if let Some(budgets) = &self.shared {
            match self.admit_shared(budgets, &levels, worst_case, now).await {
                Some(Ok(())) => {
                    admission.shared = Some(SharedAdmission::new(budgets, &levels, true));
                    return Ok(admission);
                }
                Some(Err(e)) => return Err(e),
                None => {
                    if self.budget_fail_mode == BudgetFailMode::Closed
                        && levels.iter().any(|l| l.max.is_some())
                    {
                        return Err(GatewayError::new(
                            ErrorKind::Unavailable,
                            "budgets cannot be checked: the shared state is unreachable \
                             (budget_fail_mode: closed)",
                        )
                        .with_code("shared_state_unavailable"));
                    }
                    // Admitted locally; the spend still reaches the shared state later.
                    admission.shared = Some(SharedAdmission::new(budgets, &levels, false));
                }
            }
        }
        for level in &levels {
            level
                .limiter
                .admit(level.rpm, level.tpm, None, now as u64)
                .map_err(|l| limited(&level.name, l))?;
        }
        let mut reserved: Vec<&Budget> = Vec::new();
        for level in &levels {
            if let Err(e) = level.budget.reserve(worst_case, level.max, level.window) {
                for b in reserved {
                    b.release(worst_case);
                }
                return Err(exhausted(&level.name, e, now));
            }
            reserved.push(&level.budget);
        }
        admission.reserved_locally = true;
        Ok(admission)
    }

    /// The levels a request is counted at, their budget windows rolled.
    fn levels(&self, principal: &Arc<KeyPrincipal>, model_group: &str, now: i64) -> Vec<Level> {
        let key = principal.key.read();
        let mut levels = vec![Level::of("key", Table::Keys, &principal.key, &key.common)];
        if let Some(u) = &principal.user {
            levels.push(Level::of("user", Table::Users, u, &u.read().common));
        }
        if let Some(t) = &principal.team {
            levels.push(Level::of("team", Table::Teams, t, &t.read().common));
        }
        // `model_max_budget: {group: {budget_limit, time_period}}` on the key.
        if let Some(spec) = key.model_max_budget.get(model_group) {
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
            levels.push(Level {
                name: format!("key (for model '{model_group}')"),
                table: None,
                id: principal.key.id.clone(),
                model_group: Some(model_group.to_owned()),
                limiter: Arc::new(Limiter::default()),
                budget: b.clone(),
                rpm: None,
                tpm: None,
                parallel: None,
                max,
                window,
                window_start: None,
                model_budget: Some(b),
            });
        }
        for level in &mut levels {
            if let Some(start) = level.budget.roll(level.window, now) {
                if let Some(table) = level.table {
                    let store = self.store.clone();
                    let id = level.id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = store.reset_window(table, &id, start).await {
                            tracing::warn!(error = %e, "cannot persist a budget reset");
                        }
                    });
                }
            }
            level.window_start = level.window.map(|w| w.start_of(now));
        }
        levels
    }

    /// Checks and counts a request in the shared state. `None`: unreachable.
    async fn admit_shared(
        &self,
        budgets: &SharedBudgets,
        levels: &[Level],
        worst_case: i64,
        now: i64,
    ) -> Option<Result<(), GatewayError>> {
        let mut shared: Vec<BudgetLevel> = levels
            .iter()
            .map(|l| BudgetLevel {
                id: l.shared_id(),
                rpm: l.rpm,
                tpm: l.tpm,
                max: l.max,
                window_start: l.window_start,
                seed: None,
            })
            .collect();
        for _ in 0..2 {
            match budgets.admit(&shared, worst_case, now).await? {
                Ok(()) => return Some(Ok(())),
                Err(SharedRefusal::NeedsSeed { .. }) => {
                    // The shared state has no spend for a budget yet (first use, or Redis
                    // restarted empty): start it from the database's settled spend.
                    for (s, l) in shared.iter_mut().zip(levels) {
                        s.seed = Some(self.settled_spend(l, now).await);
                    }
                }
                Err(refusal) => return Some(Err(self.refused(levels, refusal, now))),
            }
        }
        Some(Err(self.refused(
            levels,
            SharedRefusal::NeedsSeed { level: 0 },
            now,
        )))
    }

    /// A level's spend in its current window as the database has it (all replicas' settled
    /// spend), else this replica's own view.
    async fn settled_spend(&self, level: &Level, now: i64) -> i64 {
        let local = level.budget.spent();
        let Some(table) = level.table else {
            return local;
        };
        match self.store.load_one(table, &level.id).await {
            Ok(Some(row)) => {
                let current = level.window.map(|w| w.start_of(now));
                match current {
                    Some(start) if row.window_start < start => 0,
                    _ => row.spend_nanos.max(local),
                }
            }
            _ => local,
        }
    }

    fn refused(&self, levels: &[Level], refusal: SharedRefusal, now: i64) -> GatewayError {
        let retry = 60_000 - (now as u64) % 60_000;
        match refusal {
            SharedRefusal::Rpm { level, limit } => limited(
                &levels[level].name,
                Limited {
                    kind: limits::LimitKind::Rpm,
                    limit,
                    retry_after_ms: retry,
                },
            ),
            SharedRefusal::Tpm { level, limit } => limited(
                &levels[level].name,
                Limited {
                    kind: limits::LimitKind::Tpm,
                    limit,
                    retry_after_ms: retry,
                },
            ),
            SharedRefusal::Budget { level, spent } => {
                let l = &levels[level];
                exhausted(
                    &l.name,
                    Exhausted {
                        spent,
                        max: l.max.unwrap_or(0),
                        resets_at: l.window.zip(l.window_start).map(|(w, s)| w.end_of(s)),
                    },
                    now,
                )
            }
            SharedRefusal::NeedsSeed { .. } => GatewayError::new(
                ErrorKind::Unavailable,
                "the shared state did not accept a budget's starting spend",
            )
            .with_code("shared_state_unavailable"),
        }
    }

    /// Charges a finished request: budgets settle to `cost`, tokens count for tpm, and the
    /// spend log is queued for the store (once per request id).
    pub(crate) fn settle(&self, mut admission: Admission, cost: i64, tokens: u64, log: SpendLog) {
        let now = self.now_ms() as u64;
        let held = if admission.reserved_locally {
            admission.reserved
        } else {
            0
        };
        for budget in admission.budgets() {
            budget.settle(held, cost);
        }
        if let Some(shared) = admission.shared.take() {
            let settlements = shared.settlements(cost, admission.reserved, tokens);
            tokio::spawn(async move { shared.budgets.settle(settlements, now as i64).await });
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

/// One level a request is counted at: the key, its user, its team, the key's budget for the
/// model.
struct Level {
    /// For messages: `key`, `user`, `team`, `key (for model 'x')`.
    name: String,
    /// Where its spend is stored (none for a key's per-model budget).
    table: Option<Table>,
    id: String,
    /// The model group of a key's per-model budget.
    model_group: Option<String>,
    limiter: Arc<Limiter>,
    budget: Arc<Budget>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    parallel: Option<u64>,
    max: Option<i64>,
    window: Option<budget::Window>,
    window_start: Option<i64>,
    model_budget: Option<Arc<Budget>>,
}

impl Level {
    /// Its name in the shared state (built only when there is one).
    fn shared_id(&self) -> String {
        match &self.model_group {
            Some(group) => format!("key:{}:model:{group}", self.id),
            None => format!("{}:{}", self.name, self.id),
        }
    }

    /// A key's, user's or team's level, named `key`, `user` or `team`.
    fn of<R>(name: &str, table: Table, e: &Entity<R>, common: &records::Common) -> Level {
        Level {
            name: name.to_owned(),
            table: Some(table),
            id: e.id.clone(),
            model_group: None,
            limiter: e.limiter.clone(),
            budget: e.budget.clone(),
            rpm: common.rpm_limit,
            tpm: common.tpm_limit,
            parallel: common.max_parallel_requests,
            max: common.max_budget_nanos,
            window: common.window(),
            window_start: None,
            model_budget: None,
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

/// Writes spend logs in batches. A short batch waits `interval` for company, so a
/// gateway under moderate load writes a few transactions per second instead of one per request;
/// a full batch (`SPEND_BATCH`, a backlog) is written at once, so the writer keeps up with any
/// rate the database takes; a flush request writes at once. A batch that cannot be written is
/// kept and retried (never dropped). `interval` is `SPEND_FLUSH_INTERVAL` outside tests.
async fn write_spend(store: Store, mut rx: mpsc::UnboundedReceiver<SpendMsg>, interval: Duration) {
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
        take_queued(&mut rx, &mut batch, &mut waiting);
        if waiting.is_empty() && batch.len() < SPEND_BATCH {
            // Not polling the channel meanwhile means senders wake nobody: one wake-up per
            // batch, not per request.
            tokio::time::sleep(interval).await;
            take_queued(&mut rx, &mut batch, &mut waiting);
        }
        if !batch.is_empty() {
            match store.record_spend(&batch).await {
                Ok(_) => batch.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, pending = batch.len(), "cannot write spend logs; will retry");
                    tokio::time::sleep(interval).await;
                    continue;
                }
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Moves what is already queued into `batch` (up to `SPEND_BATCH` logs) and `waiting`.
fn take_queued(
    rx: &mut mpsc::UnboundedReceiver<SpendMsg>,
    batch: &mut Vec<SpendLog>,
    waiting: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) {
    while batch.len() < SPEND_BATCH {
        match rx.try_recv() {
            Ok(SpendMsg::Log(log)) => batch.push(*log),
            Ok(SpendMsg::Flush(done)) => waiting.push(done),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored keys are looked up by this hash: it must never change (vector from Python's
    /// `hmac.new(salt, key, hashlib.sha256).hexdigest()`), and a reused keyed MAC must not
    /// carry one key's input into the next.
    #[test]
    fn key_hashes_are_hmac_sha256_hex_and_stable() {
        let keyed = Hmac::<Sha256>::new_from_slice(b"sk-salt-1234").unwrap();
        let expected = "5645ad8c2c61f13ee0974c46c1bfe2dac5e4482e2e72e073320ab9a434ae542c";
        assert_eq!(hmac_hex(&keyed, "sk-abcdef0123456789"), expected);
        assert_ne!(hmac_hex(&keyed, "sk-other"), expected);
        assert_eq!(hmac_hex(&keyed, "sk-abcdef0123456789"), expected);
    }

    #[test]
    fn a_missing_key_is_remembered_for_a_second_and_the_memory_is_bounded() {
        let mut m = MissingKeys::default();
        m.remember("h", 1_000);
        assert!(m.contains("h", 1_999));
        assert!(!m.contains("h", 2_000), "asked again after a second");
        for i in 0..MISSING_KEY_LIMIT + 10 {
            m.remember(&i.to_string(), 5_000);
        }
        assert_eq!(m.0.len(), MISSING_KEY_LIMIT);
        m.remember("late", 6_000);
        assert!(m.contains("late", 6_000), "expired entries made room");
        assert!(m.0.len() <= MISSING_KEY_LIMIT);
    }

    /// Regression: the writer slept `SPEND_FLUSH_INTERVAL` before every batch, backlog or not,
    /// so it wrote at most `SPEND_BATCH` logs per interval (2,000/s) and a busier gateway queued
    /// the rest in memory without bound. With an hour's interval, only a writer that never waits
    /// while logs are queued finishes.
    #[tokio::test]
    async fn a_backlog_of_spend_logs_is_written_without_waiting_between_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let logs = SPEND_BATCH * 8 + 7;
        for i in 0..logs {
            let log = SpendLog {
                request_id: format!("r{i:06}"),
                token_hash: None,
                user_id: None,
                team_id: None,
                model_group: "g".into(),
                model: "m".into(),
                deployment: "g.0".into(),
                provider: "mock".into(),
                spend_nanos: 1,
                prompt_tokens: 1,
                completion_tokens: 1,
                status: "success".into(),
                start_time: 0,
                end_time: 0,
            };
            tx.send(SpendMsg::Log(Box::new(log))).unwrap();
        }
        let an_hour = Duration::from_secs(3600);
        let writer = tokio::spawn(write_spend(store.clone(), rx, an_hour));
        let (done, flushed) = tokio::sync::oneshot::channel();
        tx.send(SpendMsg::Flush(done)).unwrap();
        tokio::time::timeout(Duration::from_secs(120), flushed)
            .await
            .expect("the writer waited with logs queued")
            .unwrap();
        let stored = store
            .spend_logs(&switchyard_store::SpendFilter {
                limit: Some(100_000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(stored.len(), logs);
        drop(tx);
        writer.await.unwrap();
    }
}

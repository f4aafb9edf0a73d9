//! LiteLLM's admin API for keys, users, teams and spend, on the tenancy service.
//!
//! Request and response fields follow LiteLLM (`../shared/reference/`), so existing scripts keep
//! working. Where LiteLLM answers oddly, this answers plainly: a wrong field is a 400 naming it
//! (not a 422 list or a 500), an unknown id is a 404, a key never sees another key.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::ErrorKind;
use switchyard_store::{SpendFilter, Table};

use super::budget::{rfc3339, usd};
use super::records::{members, string_list, FieldError, KeyRecord, Record, UserRecord};
use super::{Entity, Principal, Tenancy};
use crate::error::GatewayError;

/// The admin routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminRoute {
    KeyGenerate,
    KeyInfo,
    KeyUpdate,
    KeyDelete,
    KeyList,
    KeyRegenerate,
    KeyBlock,
    KeyUnblock,
    UserNew,
    UserInfo,
    UserUpdate,
    UserDelete,
    UserList,
    TeamNew,
    TeamInfo,
    TeamUpdate,
    TeamDelete,
    TeamList,
    TeamMemberAdd,
    TeamMemberDelete,
    SpendLogs,
    SpendLogsV2,
    GlobalSpend,
    GlobalSpendKeys,
    GlobalSpendModels,
    GlobalSpendReport,
    UserDailyActivity,
    TeamDailyActivity,
}

impl AdminRoute {
    /// The route for a path, and whether it takes `GET` (else `POST`).
    pub(crate) fn parse(path: &str) -> Option<(AdminRoute, bool)> {
        use AdminRoute::*;
        Some(match path {
            "/key/generate" => (KeyGenerate, false),
            "/key/info" => (KeyInfo, true),
            "/key/update" => (KeyUpdate, false),
            "/key/delete" => (KeyDelete, false),
            "/key/list" => (KeyList, true),
            "/key/regenerate" => (KeyRegenerate, false),
            "/key/block" => (KeyBlock, false),
            "/key/unblock" => (KeyUnblock, false),
            "/user/new" => (UserNew, false),
            "/user/info" => (UserInfo, true),
            "/user/update" => (UserUpdate, false),
            "/user/delete" => (UserDelete, false),
            "/user/list" => (UserList, true),
            "/team/new" => (TeamNew, false),
            "/team/info" => (TeamInfo, true),
            "/team/update" => (TeamUpdate, false),
            "/team/delete" => (TeamDelete, false),
            "/team/list" => (TeamList, true),
            "/team/member_add" => (TeamMemberAdd, false),
            "/team/member_delete" => (TeamMemberDelete, false),
            "/spend/logs" => (SpendLogs, true),
            "/spend/logs/v2" => (SpendLogsV2, true),
            "/global/spend" => (GlobalSpend, true),
            "/global/spend/keys" => (GlobalSpendKeys, true),
            "/global/spend/models" => (GlobalSpendModels, true),
            "/global/spend/report" => (GlobalSpendReport, true),
            "/user/daily/activity" => (UserDailyActivity, true),
            "/team/daily/activity" => (TeamDailyActivity, true),
            _ => {
                // `/key/{key}/regenerate`
                let key = path.strip_prefix("/key/")?.strip_suffix("/regenerate")?;
                return (!key.is_empty()).then_some((KeyRegenerate, false));
            }
        })
    }

    /// Routes a virtual key may call for itself.
    fn self_service(self) -> bool {
        matches!(
            self,
            AdminRoute::KeyInfo | AdminRoute::SpendLogs | AdminRoute::SpendLogsV2
        )
    }
}

fn field_error(e: FieldError) -> GatewayError {
    GatewayError::invalid_request(format!("{}: {}", e.field, e.message), Some(&e.field))
}

fn not_found(what: &str) -> GatewayError {
    GatewayError::new(ErrorKind::NotFound, format!("{what} not found")).with_code("not_found")
}

fn forbidden(message: &str) -> GatewayError {
    GatewayError::new(ErrorKind::Permission, message).with_code("admin_only")
}

fn store_error(e: switchyard_store::StoreError) -> GatewayError {
    match e {
        switchyard_store::StoreError::Conflict(field) => GatewayError::invalid_request(
            format!("{field} is already used by another key"),
            Some(field),
        )
        .with_code("duplicate"),
        other => super::unavailable(other),
    }
}

fn query_map(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn body_map(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(GatewayError::invalid_request(
            "the request body must be a JSON object",
            None,
        )),
        Err(e) => Err(GatewayError::invalid_request(
            format!("request body is not valid JSON: {e}"),
            None,
        )
        .with_code("invalid_json")),
    }
}

fn required_str<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, GatewayError> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            GatewayError::invalid_request(format!("'{field}' is required"), Some(field))
                .with_code("missing_required_parameter")
        })
}

/// Parses LiteLLM's `duration` (`30d`, `1h`, `45s`) into milliseconds.
fn duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "mo" => 30 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn new_plaintext_key() -> String {
    let bytes: [u8; 16] = rand::random();
    format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn key_name(plaintext: &str) -> String {
    let tail: String = plaintext
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

/// Spend and usage summed over spend logs.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    spend: i64,
    prompt: i64,
    completion: i64,
    requests: i64,
}

impl Totals {
    fn add_log(&mut self, l: &switchyard_store::SpendLog) {
        self.spend += l.spend_nanos;
        self.prompt += l.prompt_tokens;
        self.completion += l.completion_tokens;
        self.requests += 1;
    }

    fn add(&mut self, o: &Totals) {
        self.spend += o.spend;
        self.prompt += o.prompt;
        self.completion += o.completion;
        self.requests += o.requests;
    }

    fn json(&self) -> Value {
        json!({"spend": usd(self.spend), "prompt_tokens": self.prompt,
               "completion_tokens": self.completion,
               "total_tokens": self.prompt + self.completion, "api_requests": self.requests})
    }
}

/// Totals by day (`YYYY-MM-DD`) and by a second key.
type ByDay = BTreeMap<String, BTreeMap<String, Totals>>;

/// Dates `YYYY-MM-DD` (inclusive) to Unix ms bounds.
fn date_bounds(q: &BTreeMap<String, String>) -> Result<(Option<i64>, Option<i64>), GatewayError> {
    let parse = |field: &str, end: bool| -> Result<Option<i64>, GatewayError> {
        let Some(text) = q.get(field) else {
            return Ok(None);
        };
        let date = chrono::NaiveDate::parse_from_str(text.get(..10).unwrap_or(text), "%Y-%m-%d")
            .map_err(|_| {
                GatewayError::invalid_request(
                    format!("{field}: expected a date YYYY-MM-DD, found '{text}'"),
                    Some(field),
                )
            })?;
        let date = if end {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        Ok(date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis()))
    };
    Ok((parse("start_date", false)?, parse("end_date", true)?))
}

impl Tenancy {
    /// Answers an admin call. `path_key` is the `{key}` of `/key/{key}/regenerate`.
    pub(crate) async fn admin(
        &self,
        principal: &Principal,
        route: AdminRoute,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<Value, GatewayError> {
        if !principal.is_admin() && !route.self_service() {
            return Err(forbidden(
                "only the master key or a proxy_admin user's key may call this route",
            ));
        }
        let q = query_map(query);
        let body = body_map(body)?;
        use AdminRoute::*;
        match route {
            KeyGenerate => self.key_generate(&body).await,
            KeyInfo => self.key_info(principal, &q),
            KeyUpdate => self.key_update(&body).await,
            KeyDelete => self.key_delete(&body).await,
            KeyList => Ok(self.key_list(&q)),
            KeyRegenerate => {
                let from_path = path
                    .strip_prefix("/key/")
                    .and_then(|p| p.strip_suffix("/regenerate"))
                    .filter(|k| !k.is_empty());
                self.key_regenerate(from_path, &body).await
            }
            KeyBlock => self.key_block(&body, true).await,
            KeyUnblock => self.key_block(&body, false).await,
            UserNew => self.user_new(&body).await,
            UserInfo => self.user_info(&q),
            UserUpdate => self.user_update(&body).await,
            UserDelete => self.delete_ids(Table::Users, &body, "user_ids").await,
            UserList => Ok(self.user_list()),
            TeamNew => self.team_new(&body).await,
            TeamInfo => self.team_info(&q),
            TeamUpdate => self.team_update(&body).await,
            TeamDelete => self.delete_ids(Table::Teams, &body, "team_ids").await,
            TeamList => Ok(self.team_list()),
            TeamMemberAdd => self.member_add(&body).await,
            TeamMemberDelete => self.member_delete(&body).await,
            SpendLogs => self.spend_logs(principal, &q).await,
            SpendLogsV2 => {
                // Paged: `page` (from 1) and `page_size`.
                let page: usize = q
                    .get("page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1)
                    .max(1);
                let size: usize = q
                    .get("page_size")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(50)
                    .clamp(1, 1000);
                let all = self.spend_logs(principal, &q).await?;
                let all = all.as_array().cloned().unwrap_or_default();
                let total = all.len();
                let data: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
                Ok(
                    json!({"data": data, "total": total, "page": page, "page_size": size,
                          "total_pages": total.div_ceil(size)}),
                )
            }
            GlobalSpend => {
                let logs = self
                    .store
                    .spend_logs(&SpendFilter::default())
                    .await
                    .map_err(store_error)?;
                let total: i64 = logs.iter().map(|l| l.spend_nanos).sum();
                Ok(json!({"spend": usd(total), "max_budget": 0.0}))
            }
            GlobalSpendKeys | GlobalSpendModels => {
                let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
                let logs = self
                    .store
                    .spend_logs(&SpendFilter::default())
                    .await
                    .map_err(store_error)?;
                let mut by: BTreeMap<String, i64> = BTreeMap::new();
                for l in &logs {
                    let k = if route == GlobalSpendKeys {
                        l.token_hash.clone().unwrap_or_else(|| "master key".into())
                    } else {
                        l.model_group.clone()
                    };
                    *by.entry(k).or_default() += l.spend_nanos;
                }
                let mut ranked: Vec<(String, i64)> = by.into_iter().collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                Ok(Value::Array(
                    ranked
                        .into_iter()
                        .take(limit)
                        .map(|(k, spend)| {
                            if route == GlobalSpendKeys {
                                let key = self.key_by_hash(&k).map(|e| e.read());
                                json!({"api_key": k, "key_alias": key.as_ref().and_then(|r| r.key_alias.clone()),
                                       "key_name": key.map(|r| r.key_name), "total_spend": usd(spend)})
                            } else {
                                json!({"model": k, "total_spend": usd(spend)})
                            }
                        })
                        .collect(),
                ))
            }
            GlobalSpendReport => self.spend_report(&q).await,
            UserDailyActivity => self.daily_activity(&q, "user_id").await,
            TeamDailyActivity => self.daily_activity(&q, "team_id").await,
        }
    }

    fn render_key(&self, e: &Entity<KeyRecord>) -> Value {
        e.render()
    }

    async fn save_key(&self, e: &Entity<KeyRecord>) -> Result<(), GatewayError> {
        let r = e.read();
        self.store
            .put_key(
                &e.id,
                r.key_alias.as_deref(),
                r.user_id.as_deref(),
                r.team_id.as_deref(),
                &serde_json::to_value(&r).unwrap_or_default(),
                self.now_ms(),
            )
            .await
            .map_err(store_error)?;
        self.changed(Table::Keys, &e.id);
        Ok(())
    }

    fn alias_taken(&self, alias: &str, except: Option<&str>) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|k| Some(k.id.as_str()) != except && k.read().key_alias.as_deref() == Some(alias))
    }

    async fn key_generate(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let now = self.now_ms();
        let mut record = KeyRecord::default();
        record.apply(body).map_err(field_error)?;
        record.common.created_at_ms = now;
        if let Some(d) = body.get("duration").filter(|d| !d.is_null()) {
            let text = d.as_str().unwrap_or_default();
            let ms = duration_ms(text).ok_or_else(|| {
                GatewayError::invalid_request(
                    format!("duration: '{text}' is not a duration like 30s, 10m, 1h, 30d"),
                    Some("duration"),
                )
            })?;
            record.expires_ms = Some(now + ms);
        }
        if let Some(alias) = &record.key_alias {
            if self.alias_taken(alias, None) {
                return Err(store_error(switchyard_store::StoreError::Conflict(
                    "key_alias",
                )));
            }
        }
        let plaintext = match body.get("key").and_then(Value::as_str) {
            Some(k) if k.starts_with("sk-") && k.len() >= 8 => k.to_owned(),
            Some(_) => {
                return Err(GatewayError::invalid_request(
                    "key: a custom key must start with 'sk-' and be at least 8 characters",
                    Some("key"),
                ))
            }
            None => new_plaintext_key(),
        };
        let hash = self.hash_key(&plaintext);
        if self.key_by_hash(&hash).is_some() {
            return Err(GatewayError::invalid_request(
                "key: this key already exists",
                Some("key"),
            ));
        }
        record.key_name = key_name(&plaintext);
        let window_start = record.common.window().map(|w| w.start_of(now)).unwrap_or(0);
        let entity = Entity::new(hash.clone(), record, 0, window_start);
        self.save_key(&entity).await?;
        if window_start > 0 {
            self.store
                .reset_window(Table::Keys, &hash, window_start)
                .await
                .map_err(store_error)?;
        }
        self.keys
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, entity.clone());
        let mut out = self.render_key(&entity);
        out["key"] = json!(plaintext);
        Ok(out)
    }

    /// `key` from the body or `key_alias`.
    fn key_from(&self, body: &Map<String, Value>) -> Result<Arc<Entity<KeyRecord>>, GatewayError> {
        if let Some(k) = body.get("key").and_then(Value::as_str) {
            return self.find_key(k).ok_or_else(|| not_found("key"));
        }
        if let Some(alias) = body.get("key_alias").and_then(Value::as_str) {
            return self
                .keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .find(|k| k.read().key_alias.as_deref() == Some(alias))
                .cloned()
                .ok_or_else(|| not_found("key"));
        }
        Err(
            GatewayError::invalid_request("'key' (or 'key_alias') is required", Some("key"))
                .with_code("missing_required_parameter"),
        )
    }

    fn key_info(
        &self,
        principal: &Principal,
        q: &BTreeMap<String, String>,
    ) -> Result<Value, GatewayError> {
        let (asked, entity) = match (q.get("key"), principal) {
            (Some(k), _) => (k.clone(), self.find_key(k).ok_or_else(|| not_found("key"))?),
            (None, Principal::Key(p)) => (p.key.id.clone(), p.key.clone()),
            (None, _) => {
                return Err(GatewayError::invalid_request(
                    "'key' is required",
                    Some("key"),
                ))
            }
        };
        if let Principal::Key(p) = principal {
            if !principal.is_admin() && !Arc::ptr_eq(&p.key, &entity) {
                return Err(forbidden("a key may only read its own info"));
            }
        }
        Ok(json!({"key": asked, "info": self.render_key(&entity)}))
    }

    async fn key_update(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let entity = self.key_from(body)?;
        let mut record = entity.read();
        let mut changes = body.clone();
        // `key_alias` identifies the key when `key` is absent; it renames it otherwise.
        if !body.contains_key("key") {
            changes.remove("key_alias");
        }
        record.apply(&changes).map_err(field_error)?;
        if let Some(alias) = &record.key_alias {
            if self.alias_taken(alias, Some(&entity.id)) {
                return Err(store_error(switchyard_store::StoreError::Conflict(
                    "key_alias",
                )));
            }
        }
        if let Some(d) = body.get("duration").filter(|d| !d.is_null()) {
            let text = d.as_str().unwrap_or_default();
            let ms = duration_ms(text).ok_or_else(|| {
                GatewayError::invalid_request(
                    format!("duration: '{text}' is not a duration"),
                    Some("duration"),
                )
            })?;
            record.expires_ms = Some(self.now_ms() + ms);
        }
        *entity.record.write().unwrap_or_else(|p| p.into_inner()) = record;
        self.save_key(&entity).await?;
        let mut out = self.render_key(&entity);
        // LiteLLM echoes `key` as given (else the key's hash).
        out["key"] = body.get("key").cloned().unwrap_or_else(|| json!(entity.id));
        Ok(out)
    }

    async fn key_delete(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let keys = string_list(body, "keys")
            .map_err(field_error)?
            .unwrap_or_default();
        let aliases = string_list(body, "key_aliases")
            .map_err(field_error)?
            .unwrap_or_default();
        let mut found = Vec::new();
        for k in &keys {
            found.extend(self.find_key(k));
        }
        for alias in &aliases {
            found.extend(
                self.key_from(&Map::from_iter([("key_alias".to_owned(), json!(alias))]))
                    .ok(),
            );
        }
        if found.is_empty() {
            return Err(not_found("no key"));
        }
        let ids: Vec<String> = found.iter().map(|e| e.id.clone()).collect();
        self.store
            .delete(Table::Keys, &ids)
            .await
            .map_err(store_error)?;
        for id in &ids {
            self.changed(Table::Keys, id);
        }
        let mut map = self.keys.write().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            map.remove(id);
        }
        let echoed: Vec<String> = keys.into_iter().chain(aliases).collect();
        Ok(json!({"deleted_keys": echoed}))
    }

    fn key_list(&self, q: &BTreeMap<String, String>) -> Value {
        let page: usize = q
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let size: usize = q
            .get("size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(10)
            .clamp(1, 100);
        let full = q.get("return_full_object").is_some_and(|v| v == "true");
        let mut keys: Vec<Arc<Entity<KeyRecord>>> = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|k| {
                let r = k.read();
                q.get("team_id")
                    .is_none_or(|t| r.team_id.as_ref() == Some(t))
                    && q.get("user_id")
                        .is_none_or(|u| r.user_id.as_ref() == Some(u))
                    && q.get("key_alias")
                        .is_none_or(|a| r.key_alias.as_ref() == Some(a))
            })
            .cloned()
            .collect();
        keys.sort_by_key(|k| (k.read().common.created_at_ms, k.id.clone()));
        let total = keys.len();
        let items: Vec<Value> = keys
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|k| {
                if full {
                    self.render_key(k)
                } else {
                    json!(k.id)
                }
            })
            .collect();
        json!({
            "keys": items,
            "total_count": total,
            "current_page": page,
            "total_pages": total.div_ceil(size),
        })
    }

    async fn key_regenerate(
        &self,
        from_path: Option<&str>,
        body: &Map<String, Value>,
    ) -> Result<Value, GatewayError> {
        let entity = match from_path {
            Some(k) => self.find_key(k).ok_or_else(|| not_found("key"))?,
            None => self.key_from(body)?,
        };
        let plaintext = match body.get("new_key").and_then(Value::as_str) {
            Some(k) if k.starts_with("sk-") && k.len() >= 8 => k.to_owned(),
            Some(_) => {
                return Err(GatewayError::invalid_request(
                    "new_key: must start with 'sk-' and be at least 8 characters",
                    Some("new_key"),
                ))
            }
            None => new_plaintext_key(),
        };
        let new_hash = self.hash_key(&plaintext);
        let mut record = entity.read();
        let mut changes = body.clone();
        for k in ["key", "key_alias", "new_key"] {
            changes.remove(k);
        }
        record.apply(&changes).map_err(field_error)?;
        record.key_name = key_name(&plaintext);
        let fresh = Arc::new(Entity {
            id: new_hash.clone(),
            record: std::sync::RwLock::new(record.clone()),
            budget: super::Budget::new(entity.budget.spent(), entity.budget.window_start()).into(),
            limiter: Arc::default(),
            model_budgets: std::sync::Mutex::new(
                entity
                    .model_budgets
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            ),
        });
        self.store
            .rehash_key(
                &entity.id,
                &new_hash,
                &serde_json::to_value(&record).unwrap_or_default(),
                self.now_ms(),
            )
            .await
            .map_err(store_error)?;
        self.changed(Table::Keys, &entity.id);
        self.changed(Table::Keys, &new_hash);
        {
            let mut map = self.keys.write().unwrap_or_else(|p| p.into_inner());
            map.remove(&entity.id);
            map.insert(new_hash, fresh.clone());
        }
        let mut out = self.render_key(&fresh);
        out["key"] = json!(plaintext);
        Ok(out)
    }

    async fn key_block(
        &self,
        body: &Map<String, Value>,
        blocked: bool,
    ) -> Result<Value, GatewayError> {
        let entity = self.key_from(body)?;
        entity
            .record
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .common
            .blocked = blocked;
        self.save_key(&entity).await?;
        Ok(self.render_key(&entity))
    }

    /// A new user or team from an admin body: its id (given, else generated), a 400 if taken,
    /// the record written through and added to `map`.
    async fn create<R: Record>(
        &self,
        table: Table,
        map: &super::Map<R>,
        body: &Map<String, Value>,
    ) -> Result<Arc<Entity<R>>, GatewayError> {
        let (field, kind) = match table {
            Table::Users => ("user_id", "user"),
            _ => ("team_id", "team"),
        };
        let id = match body.get(field).and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => format!("{kind}-{:016x}", rand::random::<u64>()),
        };
        if map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
        {
            return Err(GatewayError::invalid_request(
                format!("{field}: {kind} '{id}' already exists"),
                Some(field),
            )
            .with_code("duplicate"));
        }
        let now = self.now_ms();
        let mut record = R::default();
        record.apply(body).map_err(field_error)?;
        record.common_mut().created_at_ms = now;
        let window_start = record
            .common()
            .window()
            .map(|w| w.start_of(now))
            .unwrap_or(0);
        self.save(table, &id, &record).await?;
        let entity = Entity::new(id.clone(), record, 0, window_start);
        map.write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, entity.clone());
        Ok(entity)
    }

    async fn user_new(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let entity = self.create(Table::Users, &self.users, body).await?;
        let user_id = entity.id.clone();
        // Like LiteLLM, /user/new also creates a key for the user unless `auto_create_key` is
        // false; the answer is then that key's object with the user's fields.
        let mut user = entity.render();
        if body.get("auto_create_key").and_then(Value::as_bool) == Some(false) {
            // The key object's members, empty: LiteLLM answers the same shape either way.
            for field in [
                "key",
                "key_name",
                "key_alias",
                "token",
                "team_id",
                "expires",
            ] {
                if user.get(field).is_none() {
                    user[field] = Value::Null;
                }
            }
            return Ok(user);
        }
        let mut key_body = Map::from_iter([("user_id".to_owned(), json!(user_id))]);
        if let Some(models) = body.get("models") {
            key_body.insert("models".to_owned(), models.clone());
        }
        let mut out = self.key_generate(&key_body).await?;
        if let (Some(out), Value::Object(user)) = (out.as_object_mut(), user) {
            for (k, v) in user {
                out.entry(k).or_insert(v);
            }
        }
        Ok(out)
    }

    async fn save<R: serde::Serialize>(
        &self,
        table: Table,
        id: &str,
        record: &R,
    ) -> Result<(), GatewayError> {
        self.store
            .put(
                table,
                id,
                &serde_json::to_value(record).unwrap_or_default(),
                self.now_ms(),
            )
            .await
            .map_err(store_error)?;
        self.changed(table, id);
        Ok(())
    }

    fn user_info(&self, q: &BTreeMap<String, String>) -> Result<Value, GatewayError> {
        let id = q.get("user_id").ok_or_else(|| {
            GatewayError::invalid_request("'user_id' is required", Some("user_id"))
        })?;
        let user = self.user(id).ok_or_else(|| not_found("user"))?;
        let keys: Vec<Value> = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|k| k.read().user_id.as_deref() == Some(id.as_str()))
            .map(|k| self.render_key(k))
            .collect();
        let record = user.read();
        let teams: Vec<Value> = record
            .teams
            .iter()
            .filter_map(|t| self.team(t))
            .map(|t| t.render())
            .collect();
        Ok(json!({
            "user_id": id,
            "user_info": user.render(),
            "keys": keys,
            "teams": teams,
        }))
    }

    async fn user_update(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let id = required_str(body, "user_id")?;
        let user = self.user(id).ok_or_else(|| not_found("user"))?;
        let data = self.update(Table::Users, &user, body).await?;
        Ok(json!({"user_id": id, "data": data}))
    }

    /// Applies an admin body to an entity, writes it through, and shows it.
    async fn update<R: Record>(
        &self,
        table: Table,
        entity: &Entity<R>,
        body: &Map<String, Value>,
    ) -> Result<Value, GatewayError> {
        let mut record = entity.read();
        record.apply(body).map_err(field_error)?;
        *entity.record.write().unwrap_or_else(|p| p.into_inner()) = record.clone();
        self.save(table, &entity.id, &record).await?;
        Ok(entity.render())
    }

    /// Every entity of a map, shown, in id order.
    fn rendered<R: Record>(map: &super::Map<R>) -> Vec<Value> {
        let map = map.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<&String> = map.keys().collect();
        ids.sort();
        ids.into_iter().map(|id| map[id].render()).collect()
    }

    fn user_list(&self) -> Value {
        let users = Self::rendered(&self.users);
        let total = users.len();
        json!({"users": users, "total": total, "page": 1, "page_size": total, "total_pages": 1})
    }

    async fn delete_ids(
        &self,
        table: Table,
        body: &Map<String, Value>,
        field: &str,
    ) -> Result<Value, GatewayError> {
        let ids = string_list(body, field)
            .map_err(field_error)?
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                GatewayError::invalid_request(format!("'{field}' is required"), Some(field))
            })?;
        let n = self.store.delete(table, &ids).await.map_err(store_error)?;
        for id in &ids {
            self.changed(table, id);
        }
        if n == 0 {
            return Err(not_found(if table == Table::Users {
                "user"
            } else {
                "team"
            }));
        }
        match table {
            Table::Users => {
                let mut map = self.users.write().unwrap_or_else(|p| p.into_inner());
                for id in &ids {
                    map.remove(id);
                }
            }
            _ => {
                let mut map = self.teams.write().unwrap_or_else(|p| p.into_inner());
                for id in &ids {
                    map.remove(id);
                }
            }
        }
        // LiteLLM's shapes: the number of users deleted; the ids of teams deleted.
        Ok(match table {
            Table::Users => json!(n),
            _ => json!({"deleted_teams": ids}),
        })
    }

    async fn team_new(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let entity = self.create(Table::Teams, &self.teams, body).await?;
        let team_id = entity.id.clone();
        let record = entity.read();
        for m in &record.members_with_roles {
            self.join_team(&m.user_id, &team_id).await?;
        }
        Ok(entity.render())
    }

    /// Records team membership on the user (creating the user if needed).
    async fn join_team(&self, user_id: &str, team_id: &str) -> Result<(), GatewayError> {
        let user = match self.user(user_id) {
            Some(u) => u,
            None => {
                let mut record = UserRecord::default();
                record.common.created_at_ms = self.now_ms();
                let u = Entity::new(user_id.to_owned(), record, 0, 0);
                self.users
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(user_id.to_owned(), u.clone());
                u
            }
        };
        let record = {
            let mut r = user.record.write().unwrap_or_else(|p| p.into_inner());
            if !r.teams.iter().any(|t| t == team_id) {
                r.teams.push(team_id.to_owned());
            }
            r.clone()
        };
        self.save(Table::Users, user_id, &record).await
    }

    fn team_info(&self, q: &BTreeMap<String, String>) -> Result<Value, GatewayError> {
        let id = q.get("team_id").ok_or_else(|| {
            GatewayError::invalid_request("'team_id' is required", Some("team_id"))
        })?;
        let team = self.team(id).ok_or_else(|| not_found("team"))?;
        let keys: Vec<Value> = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|k| k.read().team_id.as_deref() == Some(id.as_str()))
            .map(|k| self.render_key(k))
            .collect();
        Ok(json!({
            "team_id": id,
            "team_info": team.render(),
            "keys": keys,
        }))
    }

    async fn team_update(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let id = required_str(body, "team_id")?;
        let team = self.team(id).ok_or_else(|| not_found("team"))?;
        let data = self.update(Table::Teams, &team, body).await?;
        Ok(json!({"team_id": id, "data": data}))
    }

    fn team_list(&self) -> Value {
        Value::Array(Self::rendered(&self.teams))
    }

    async fn member_add(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let id = required_str(body, "team_id")?;
        let team = self.team(id).ok_or_else(|| not_found("team"))?;
        let added = members(
            body.get("member").ok_or_else(|| {
                GatewayError::invalid_request("'member' is required", Some("member"))
            })?,
            "member",
        )
        .map_err(field_error)?;
        let record = {
            let mut r = team.record.write().unwrap_or_else(|p| p.into_inner());
            for m in &added {
                if !r.members_with_roles.iter().any(|x| x.user_id == m.user_id) {
                    r.members_with_roles.push(m.clone());
                }
            }
            r.clone()
        };
        self.save(Table::Teams, id, &record).await?;
        for m in &added {
            self.join_team(&m.user_id, id).await?;
        }
        Ok(record.render(id, team.budget.spent(), team.budget.window_start()))
    }

    async fn member_delete(&self, body: &Map<String, Value>) -> Result<Value, GatewayError> {
        let id = required_str(body, "team_id")?;
        let user_id = required_str(body, "user_id")?;
        let team = self.team(id).ok_or_else(|| not_found("team"))?;
        let record = {
            let mut r = team.record.write().unwrap_or_else(|p| p.into_inner());
            let before = r.members_with_roles.len();
            r.members_with_roles.retain(|m| m.user_id != user_id);
            if r.members_with_roles.len() == before {
                return Err(not_found("team member"));
            }
            r.clone()
        };
        self.save(Table::Teams, id, &record).await?;
        if let Some(user) = self.user(user_id) {
            let r = {
                let mut r = user.record.write().unwrap_or_else(|p| p.into_inner());
                r.teams.retain(|t| t != id);
                r.clone()
            };
            self.save(Table::Users, user_id, &r).await?;
        }
        Ok(record.render(id, team.budget.spent(), team.budget.window_start()))
    }

    async fn spend_logs(
        &self,
        principal: &Principal,
        q: &BTreeMap<String, String>,
    ) -> Result<Value, GatewayError> {
        let (start, end) = date_bounds(q)?;
        let mut filter = SpendFilter {
            token_hash: q.get("api_key").map(|k| {
                self.find_key(k)
                    .map(|e| e.id.clone())
                    .unwrap_or_else(|| k.clone())
            }),
            user_id: q.get("user_id").cloned(),
            team_id: q.get("team_id").cloned(),
            request_id: q.get("request_id").cloned(),
            start,
            end,
            limit: Some(
                q.get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(1000)
                    .clamp(1, 10_000),
            ),
        };
        if let Principal::Key(p) = principal {
            if !principal.is_admin() {
                // A key sees its own spend only.
                filter.token_hash = Some(p.key.id.clone());
            }
        }
        let logs = self.store.spend_logs(&filter).await.map_err(store_error)?;
        Ok(Value::Array(
            logs.iter()
                .map(|l| {
                    json!({
                        "request_id": l.request_id,
                        "api_key": l.token_hash,
                        "user": l.user_id,
                        "team_id": l.team_id,
                        "model": l.model,
                        "model_group": l.model_group,
                        "model_id": l.deployment,
                        "custom_llm_provider": l.provider,
                        "spend": usd(l.spend_nanos),
                        "prompt_tokens": l.prompt_tokens,
                        "completion_tokens": l.completion_tokens,
                        "total_tokens": l.prompt_tokens + l.completion_tokens,
                        "status": l.status,
                        "startTime": rfc3339(l.start_time),
                        "endTime": rfc3339(l.end_time),
                    })
                })
                .collect(),
        ))
    }

    async fn spend_report(&self, q: &BTreeMap<String, String>) -> Result<Value, GatewayError> {
        let (start, end) = date_bounds(q)?;
        let group_by = q.get("group_by").map(String::as_str).unwrap_or("team");
        let logs = self
            .store
            .spend_logs(&SpendFilter {
                start,
                end,
                ..SpendFilter::default()
            })
            .await
            .map_err(store_error)?;
        let mut table = ByDay::new();
        for l in &logs {
            let group = match group_by {
                "team" => l.team_id.clone().unwrap_or_else(|| "no team".into()),
                "key" | "api_key" => l.token_hash.clone().unwrap_or_else(|| "master key".into()),
                "user" | "customer" => l.user_id.clone().unwrap_or_else(|| "no user".into()),
                "model" => l.model_group.clone(),
                other => {
                    return Err(GatewayError::invalid_request(
                        format!(
                        "group_by: '{other}' is not one of team, api_key, user, customer, model"
                    ),
                        Some("group_by"),
                    ))
                }
            };
            let date = rfc3339(l.start_time)[..10].to_owned();
            table
                .entry(date)
                .or_default()
                .entry(group)
                .or_default()
                .add_log(l);
        }
        Ok(Value::Array(
            table
                .into_iter()
                .map(|(date, groups)| {
                    let total: i64 = groups.values().map(|g| g.spend).sum();
                    json!({
                        "group_by_day": date,
                        "total_spend": usd(total),
                        group_by.to_owned() + "s": groups.into_iter().map(|(name, g)| json!({
                            group_by: name,
                            "total_spend": usd(g.spend),
                            "prompt_tokens": g.prompt,
                            "completion_tokens": g.completion,
                            "api_requests": g.requests,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ))
    }

    async fn daily_activity(
        &self,
        q: &BTreeMap<String, String>,
        by: &str,
    ) -> Result<Value, GatewayError> {
        let (start, end) = date_bounds(q)?;
        let mut filter = SpendFilter {
            start,
            end,
            ..SpendFilter::default()
        };
        match by {
            "user_id" => filter.user_id = q.get("user_id").cloned(),
            _ => filter.team_id = q.get("team_ids").or_else(|| q.get("team_id")).cloned(),
        }
        let logs = self.store.spend_logs(&filter).await.map_err(store_error)?;
        let mut days = ByDay::new();
        for l in &logs {
            let date = rfc3339(l.start_time)[..10].to_owned();
            days.entry(date)
                .or_default()
                .entry(l.model_group.clone())
                .or_default()
                .add_log(l);
        }
        let mut all = Totals::default();
        let results: Vec<Value> = days
            .iter()
            .map(|(date, groups)| {
                let mut day = Totals::default();
                for g in groups.values() {
                    day.add(g);
                }
                all.add(&day);
                json!({
                    "date": date,
                    "metrics": day.json(),
                    "breakdown": {"models": groups.iter().map(|(m, g)| (m.clone(), g.json())).collect::<Map<String, Value>>()},
                })
            })
            .collect();
        Ok(json!({"results": results, "metadata": all.json()}))
    }
}

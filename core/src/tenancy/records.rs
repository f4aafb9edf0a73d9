//! Keys, users and teams as stored (JSON documents), parsed from LiteLLM's admin request bodies
//! and rendered in LiteLLM's response shapes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::budget::{nanos_from_json, rfc3339, usd, Window};

/// A request body field that is wrong: a 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A stored entity: how it takes an admin request body and how it is shown.
pub(crate) trait Record: Clone + Default + Serialize {
    fn apply(&mut self, body: &Map<String, Value>) -> Result<(), FieldError>;
    fn render(&self, id: &str, spend_nanos: i64, window_start: i64) -> Value;
    fn common(&self) -> &Common;
    fn common_mut(&mut self) -> &mut Common;
}

/// What keys, users and teams all have: model access, budget and limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Common {
    pub(crate) models: Vec<String>,
    pub(crate) max_budget_nanos: Option<i64>,
    pub(crate) soft_budget_nanos: Option<i64>,
    pub(crate) budget_duration: Option<String>,
    pub(crate) rpm_limit: Option<u64>,
    pub(crate) tpm_limit: Option<u64>,
    pub(crate) max_parallel_requests: Option<u64>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) blocked: bool,
    pub(crate) created_at_ms: i64,
}

fn opt_u64(body: &Map<String, Value>, field: &str) -> Result<Option<Option<u64>>, FieldError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v.as_u64().map(|n| Some(Some(n))).ok_or_else(|| {
            FieldError::new(field, format!("expected a whole number ≥ 0, found {v}"))
        }),
    }
}

fn opt_string(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<Option<String>>, FieldError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(v) => Err(FieldError::new(
            field,
            format!("expected a string, found {v}"),
        )),
    }
}

pub(crate) fn string_list(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| FieldError::new(field, "expected a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(FieldError::new(field, "expected a list of strings")),
    }
}

fn money(body: &Map<String, Value>, field: &str) -> Result<Option<Option<i64>>, FieldError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => nanos_from_json(v).map(|n| Some(Some(n))).ok_or_else(|| {
            FieldError::new(
                field,
                format!("expected an amount of dollars ≥ 0, found {v}"),
            )
        }),
    }
}

impl Common {
    /// Applies the members of an admin request body that it names (a partial update).
    pub(crate) fn apply(&mut self, body: &Map<String, Value>) -> Result<(), FieldError> {
        if let Some(models) = string_list(body, "models")? {
            self.models = models;
        }
        if let Some(v) = money(body, "max_budget")? {
            self.max_budget_nanos = v;
        }
        if let Some(v) = money(body, "soft_budget")? {
            self.soft_budget_nanos = v;
        }
        if let Some(v) = opt_string(body, "budget_duration")? {
            if let Some(text) = &v {
                Window::parse(text).ok_or_else(|| {
                    FieldError::new(
                        "budget_duration",
                        format!(
                            "'{text}' is not a duration like 30s, 10m, 1h, 1d, 7d, 1w, 30d, 1mo"
                        ),
                    )
                })?;
            }
            self.budget_duration = v;
        }
        if let Some(v) = opt_u64(body, "rpm_limit")? {
            self.rpm_limit = v;
        }
        if let Some(v) = opt_u64(body, "tpm_limit")? {
            self.tpm_limit = v;
        }
        if let Some(v) = opt_u64(body, "max_parallel_requests")? {
            self.max_parallel_requests = v;
        }
        match body.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => self.metadata = m.clone(),
            Some(v) => {
                return Err(FieldError::new(
                    "metadata",
                    format!("expected an object, found {v}"),
                ))
            }
        }
        match body.get("blocked") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => self.blocked = *b,
            Some(v) => {
                return Err(FieldError::new(
                    "blocked",
                    format!("expected true or false, found {v}"),
                ))
            }
        }
        Ok(())
    }

    pub(crate) fn window(&self) -> Option<Window> {
        self.budget_duration.as_deref().and_then(Window::parse)
    }

    /// LiteLLM's fields for this part.
    fn render(&self, out: &mut Map<String, Value>, spend_nanos: i64, window_start: i64) {
        out.insert("models".into(), json!(self.models));
        out.insert("spend".into(), usd(spend_nanos));
        out.insert(
            "max_budget".into(),
            self.max_budget_nanos.map(usd).unwrap_or(Value::Null),
        );
        out.insert(
            "soft_budget".into(),
            self.soft_budget_nanos.map(usd).unwrap_or(Value::Null),
        );
        out.insert("budget_duration".into(), json!(self.budget_duration));
        out.insert(
            "budget_reset_at".into(),
            match (self.window(), window_start) {
                (Some(w), start) if start > 0 => json!(rfc3339(w.end_of(start))),
                _ => Value::Null,
            },
        );
        out.insert("rpm_limit".into(), json!(self.rpm_limit));
        out.insert("tpm_limit".into(), json!(self.tpm_limit));
        out.insert(
            "max_parallel_requests".into(),
            json!(self.max_parallel_requests),
        );
        out.insert("metadata".into(), Value::Object(self.metadata.clone()));
        out.insert("blocked".into(), json!(self.blocked));
        out.insert("created_at".into(), json!(rfc3339(self.created_at_ms)));
    }
}

/// A virtual key (the plaintext is never stored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct KeyRecord {
    #[serde(flatten)]
    pub(crate) common: Common,
    pub(crate) key_alias: Option<String>,
    /// `sk-...` + the last 4 characters, for display.
    pub(crate) key_name: String,
    pub(crate) user_id: Option<String>,
    pub(crate) team_id: Option<String>,
    pub(crate) expires_ms: Option<i64>,
    pub(crate) allowed_routes: Vec<String>,
    pub(crate) model_max_budget: Map<String, Value>,
}

impl Record for KeyRecord {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    fn apply(&mut self, body: &Map<String, Value>) -> Result<(), FieldError> {
        self.common.apply(body)?;
        for (field, slot) in [
            ("key_alias", &mut self.key_alias),
            ("user_id", &mut self.user_id),
            ("team_id", &mut self.team_id),
        ] {
            if let Some(v) = opt_string(body, field)? {
                *slot = v;
            }
        }
        if let Some(routes) = string_list(body, "allowed_routes")? {
            self.allowed_routes = routes;
        }
        match body.get("model_max_budget") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => self.model_max_budget = m.clone(),
            Some(v) => {
                return Err(FieldError::new(
                    "model_max_budget",
                    format!("expected an object, found {v}"),
                ))
            }
        }
        Ok(())
    }

    /// LiteLLM's key object.
    fn render(&self, token_hash: &str, spend_nanos: i64, window_start: i64) -> Value {
        let mut out = Map::new();
        self.common.render(&mut out, spend_nanos, window_start);
        out.insert("token".into(), json!(token_hash));
        out.insert("token_id".into(), json!(token_hash));
        out.insert("key_name".into(), json!(self.key_name));
        out.insert("key_alias".into(), json!(self.key_alias));
        out.insert("user_id".into(), json!(self.user_id));
        out.insert("team_id".into(), json!(self.team_id));
        out.insert(
            "expires".into(),
            self.expires_ms
                .map(|e| json!(rfc3339(e)))
                .unwrap_or(Value::Null),
        );
        out.insert("allowed_routes".into(), json!(self.allowed_routes));
        out.insert(
            "model_max_budget".into(),
            Value::Object(self.model_max_budget.clone()),
        );
        out.insert(
            "status".into(),
            json!(if self.common.blocked {
                "blocked"
            } else {
                "active"
            }),
        );
        Value::Object(out)
    }
}

/// A team member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub(crate) user_id: String,
    #[serde(default = "default_role")]
    pub(crate) role: String,
}

fn default_role() -> String {
    "user".to_owned()
}

/// A user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct UserRecord {
    #[serde(flatten)]
    pub(crate) common: Common,
    pub(crate) user_email: Option<String>,
    pub(crate) user_alias: Option<String>,
    /// `proxy_admin` may manage keys, users and teams like the master key.
    pub(crate) user_role: Option<String>,
    pub(crate) teams: Vec<String>,
}

impl Record for UserRecord {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    fn apply(&mut self, body: &Map<String, Value>) -> Result<(), FieldError> {
        self.common.apply(body)?;
        for (field, slot) in [
            ("user_email", &mut self.user_email),
            ("user_alias", &mut self.user_alias),
            ("user_role", &mut self.user_role),
        ] {
            if let Some(v) = opt_string(body, field)? {
                *slot = v;
            }
        }
        if let Some(role) = &self.user_role {
            const ROLES: &[&str] = &[
                "proxy_admin",
                "proxy_admin_viewer",
                "internal_user",
                "internal_user_viewer",
                "team",
                "customer",
            ];
            if !ROLES.contains(&role.as_str()) {
                return Err(FieldError::new(
                    "user_role",
                    format!("unknown role '{role}' (one of: {})", ROLES.join(", ")),
                ));
            }
        }
        if let Some(teams) = string_list(body, "teams")? {
            self.teams = teams;
        }
        Ok(())
    }

    fn render(&self, user_id: &str, spend_nanos: i64, window_start: i64) -> Value {
        let mut out = Map::new();
        self.common.render(&mut out, spend_nanos, window_start);
        out.insert("user_id".into(), json!(user_id));
        out.insert("user_email".into(), json!(self.user_email));
        out.insert("user_alias".into(), json!(self.user_alias));
        out.insert("user_role".into(), json!(self.user_role));
        out.insert("teams".into(), json!(self.teams));
        Value::Object(out)
    }
}

/// A team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TeamRecord {
    #[serde(flatten)]
    pub(crate) common: Common,
    pub(crate) team_alias: Option<String>,
    pub(crate) members_with_roles: Vec<Member>,
}

/// Members from LiteLLM's `members_with_roles` / `member` (an object or a list).
pub(crate) fn members(value: &Value, field: &str) -> Result<Vec<Member>, FieldError> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        _ => {
            return Err(FieldError::new(
                field,
                "expected a member object or a list of them",
            ))
        }
    };
    items
        .into_iter()
        .map(|v| {
            serde_json::from_value::<Member>(v.clone()).map_err(|_| {
                FieldError::new(field, "each member needs a user_id (and optionally a role)")
            })
        })
        .collect()
}

impl Record for TeamRecord {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }

    fn apply(&mut self, body: &Map<String, Value>) -> Result<(), FieldError> {
        self.common.apply(body)?;
        if let Some(v) = opt_string(body, "team_alias")? {
            self.team_alias = v;
        }
        if let Some(v) = body.get("members_with_roles").filter(|v| !v.is_null()) {
            self.members_with_roles = members(v, "members_with_roles")?;
        }
        Ok(())
    }

    fn render(&self, team_id: &str, spend_nanos: i64, window_start: i64) -> Value {
        let mut out = Map::new();
        self.common.render(&mut out, spend_nanos, window_start);
        out.insert("team_id".into(), json!(team_id));
        out.insert("team_alias".into(), json!(self.team_alias));
        out.insert(
            "members_with_roles".into(),
            serde_json::to_value(&self.members_with_roles).unwrap_or_default(),
        );
        Value::Object(out)
    }
}

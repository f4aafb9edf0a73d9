//! The config file: a LiteLLM proxy `config.yaml`, read unchanged, plus switchyard's own
//! `switchyard:` section.
//!
//! Loading happens in three steps:
//! 1. YAML is parsed (anchors and `<<` merge keys applied) and `SWITCHYARD_<SECTION>__<KEY>`
//!    environment overrides are merged over it with figment.
//! 2. `os.environ/NAME` references are resolved — from the process environment first, then the
//!    file's `environment_variables:` section — anywhere a string value appears.
//! 3. The tree is read into typed settings. Invalid values are errors naming the field path;
//!    unknown keys, and LiteLLM keys switchyard does not support yet, are warnings naming the
//!    path. Nothing is ignored silently except provider parameters inside `litellm_params`,
//!    which belong to the plugins.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::Figment;
use serde_json::{Map, Value};

/// A credential. Never printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub model_list: Vec<ModelEntry>,
    pub router_settings: RouterSettings,
    pub litellm_settings: LitellmSettings,
    pub general_settings: GeneralSettings,
    pub switchyard: SwitchyardSettings,
}

/// One deployment of `model_list`.
#[derive(Debug, Clone, Default)]
pub struct ModelEntry {
    /// The model group clients ask for.
    pub model_name: String,
    pub litellm_params: LitellmParams,
    pub model_info: ModelInfoConfig,
}

/// How to call the upstream of one deployment.
#[derive(Debug, Clone, Default)]
pub struct LitellmParams {
    /// `provider/upstream-model`.
    pub model: String,
    pub api_base: Option<String>,
    pub api_key: Option<Secret>,
    pub api_version: Option<String>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// Seconds.
    pub timeout: Option<f64>,
    /// Seconds.
    pub stream_timeout: Option<f64>,
    pub max_retries: Option<u32>,
    pub weight: Option<f64>,
    /// Custom price, USD per token, as the decimal text of the file (money is never a float).
    pub input_cost_per_token: Option<String>,
    pub output_cost_per_token: Option<String>,
    /// Every other key (provider parameters), `os.environ/` references resolved.
    pub extra: BTreeMap<String, Value>,
}

/// `model_info` of a deployment.
#[derive(Debug, Clone, Default)]
pub struct ModelInfoConfig {
    /// Stable deployment id.
    pub id: Option<String>,
    pub extra: BTreeMap<String, Value>,
}

/// Group → list of fallback groups.
pub type FallbackList = Vec<BTreeMap<String, Vec<String>>>;

/// `router_settings`.
#[derive(Debug, Clone, Default)]
pub struct RouterSettings {
    pub routing_strategy: Option<String>,
    pub num_retries: Option<u32>,
    pub timeout: Option<f64>,
    pub allowed_fails: Option<u32>,
    pub cooldown_time: Option<f64>,
    pub retry_after: Option<f64>,
    pub fallbacks: FallbackList,
    pub context_window_fallbacks: FallbackList,
    pub content_policy_fallbacks: FallbackList,
    pub default_fallbacks: Vec<String>,
    /// Alias → model group.
    pub model_group_alias: BTreeMap<String, String>,
    /// LiteLLM's `retry_policy`: retries per error class (`RateLimitErrorRetries: 3`).
    pub retry_policy: BTreeMap<String, u32>,
    /// `model_group_retry_policy`: group → retry policy.
    pub model_group_retry_policy: BTreeMap<String, BTreeMap<String, u32>>,
    /// `allowed_fails_policy`: failures per minute per error class before a cooldown.
    pub allowed_fails_policy: BTreeMap<String, u32>,
    pub disable_cooldowns: bool,
    pub max_fallbacks: Option<u32>,
    /// Seconds; default of every deployment's `stream_timeout`.
    pub stream_timeout: Option<f64>,
    /// switchyard: seconds to the first stream chunk (default: the stream timeout).
    pub ttft_timeout: Option<f64>,
    /// switchyard: longest silence between stream chunks, seconds (default: the stream timeout).
    pub stream_idle_timeout: Option<f64>,
    /// switchyard: longest backoff sat out before retrying the same deployment, seconds.
    pub max_retry_wait: Option<f64>,
    /// switchyard: with a fallback configured, a longer backoff goes to the fallback, seconds.
    pub wait_before_fallback: Option<f64>,
    /// `max_parallel_requests` of deployments that set none.
    pub default_max_parallel_requests: Option<u64>,
    /// switchyard: requests that may wait for a saturated group (default 1024).
    pub max_queued_requests: Option<u64>,
    /// switchyard: longest wait in that queue, seconds (default 60).
    pub queue_timeout: Option<f64>,
    pub redis_host: Option<String>,
    pub redis_port: Option<u16>,
    pub redis_password: Option<Secret>,
    pub redis_url: Option<Secret>,
    pub extra: BTreeMap<String, Value>,
}

/// `litellm_settings`.
#[derive(Debug, Clone, Default)]
pub struct LitellmSettings {
    pub drop_params: bool,
    /// Seconds.
    pub request_timeout: Option<f64>,
    pub num_retries: Option<u32>,
    pub set_verbose: bool,
    pub fallbacks: FallbackList,
    pub context_window_fallbacks: FallbackList,
    pub content_policy_fallbacks: FallbackList,
    pub default_fallbacks: Vec<String>,
    pub max_fallbacks: Option<u32>,
    pub allowed_fails: Option<u32>,
    pub extra: BTreeMap<String, Value>,
}

/// `general_settings`.
#[derive(Debug, Clone, Default)]
pub struct GeneralSettings {
    pub master_key: Option<Secret>,
    pub database_url: Option<Secret>,
    /// Secret of the keyed hash virtual keys are stored under (else the master key).
    pub salt_key: Option<Secret>,
    pub extra: BTreeMap<String, Value>,
}

/// switchyard's own section, `switchyard:`.
#[derive(Debug, Clone, Default)]
pub struct SwitchyardSettings {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub plugin_dir: Option<PathBuf>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    pub request_body_limit_bytes: Option<usize>,
    /// SQLite file for keys, users, teams and spend when `general_settings.database_url` is not
    /// set (default `switchyard.db` in the working directory).
    pub database_path: Option<PathBuf>,
    /// What budgets do while the shared-state Redis is unreachable (several replicas).
    pub budget_fail_mode: BudgetFailMode,
    /// Prefix of every Redis key switchyard writes (default `switchyard:`), so several
    /// gateways can share one Redis.
    pub redis_key_prefix: Option<String>,
    /// This replica's name in shared state and logs (default: host name and process id).
    pub replica_id: Option<String>,
}

/// `switchyard.budget_fail_mode`: budgets while the shared state is unreachable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BudgetFailMode {
    /// Each replica goes on enforcing budgets on its own view of the spend (requests keep being
    /// served; replicas together may overspend by what they admit during the outage).
    #[default]
    Open,
    /// Requests of keys that have a budget get a 503 until the shared state is back.
    Closed,
}

/// Something in the config that is accepted but deserves attention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// Field path, `router_settings.foo`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config: {}: {}", self.path, self.message)
    }
}

/// A config that cannot be used. One line naming the file and, where it applies, the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("{file}: not valid YAML: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: String,
        path: String,
        message: String,
    },
}

/// A loaded config and its warnings.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

/// A snapshot of environment variables: what `os.environ/` references and `SWITCHYARD_*`
/// overrides read. Tests build one by hand instead of touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// The process environment (variables that are not UTF-8 are skipped).
    pub fn from_process() -> Self {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// Prefix of environment overrides: `SWITCHYARD_GENERAL_SETTINGS__MASTER_KEY` sets
/// `general_settings.master_key`.
pub const ENV_OVERRIDE_PREFIX: &str = "SWITCHYARD_";

const ROUTING_STRATEGIES: &[&str] = &[
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
];

const TOP_LEVEL: &[&str] = &[
    "model_list",
    "router_settings",
    "litellm_settings",
    "general_settings",
    "environment_variables",
    "switchyard",
];
const TOP_LEVEL_UNSUPPORTED: &[&str] = &[
    "include",
    "guardrails",
    "callback_settings",
    "credential_list",
    "mcp_servers",
    "mcp_tools",
    "search_tools",
    "assistant_settings",
    "files_settings",
    "finetune_settings",
    "default_vertex_config",
    "pass_through_endpoints",
    "policies",
    "prompts",
    "agents",
    "agent_list",
    "vector_store_registry",
    "worker_registry",
];

const ROUTER_KNOWN: &[&str] = &[
    "routing_strategy",
    "num_retries",
    "timeout",
    "allowed_fails",
    "cooldown_time",
    "retry_after",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "model_group_alias",
    "retry_policy",
    "model_group_retry_policy",
    "allowed_fails_policy",
    "disable_cooldowns",
    "max_fallbacks",
    "stream_timeout",
    "enable_pre_call_checks",
    "ttft_timeout",
    "stream_idle_timeout",
    "max_retry_wait",
    "wait_before_fallback",
    "default_max_parallel_requests",
    "max_queued_requests",
    "queue_timeout",
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
];
const ROUTER_UNSUPPORTED: &[&str] = &[
    "routing_strategy_args",
    "optional_pre_call_checks",
    "enable_tag_filtering",
    "tag_filtering_match_any",
    "redis_db",
    "cache_responses",
    "cache_kwargs",
    "caching_groups",
    "provider_budget_config",
    "fallback_on_unsupported_params",
    "routing_groups",
    "model_group_affinity_config",
    "deployment_affinity_ttl_seconds",
    "enable_weighted_failover",
    "enable_health_check_routing",
];

const LITELLM_KNOWN: &[&str] = &[
    "drop_params",
    "request_timeout",
    "num_retries",
    "set_verbose",
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "allowed_fails",
];
const LITELLM_UNSUPPORTED: &[&str] = &[
    "modify_params",
    "success_callback",
    "failure_callback",
    "callbacks",
    "cache",
    "cache_params",
    "max_budget",
    "default_key_generate_params",
    "upperbound_key_generate_params",
    "default_team_settings",
    "default_internal_user_params",
    "max_internal_user_budget",
    "internal_user_budget_duration",
    "budget_reset_time",
    "json_logs",
    "guardrails",
];

const GENERAL_KNOWN: &[&str] = &["master_key", "database_url", "salt_key"];
const GENERAL_UNSUPPORTED: &[&str] = &[
    "database_connection_pool_limit",
    "database_connection_timeout",
    "database_connect_timeout",
    "database_socket_timeout",
    "database_extra_connection_params",
    "database_disable_prepared_statements",
    "disable_prisma_schema_update",
    "allow_requests_on_db_unavailable",
    "proxy_batch_write_at",
    "disable_spend_logs",
    "disable_spend_updates",
    "store_prompts_in_spend_logs",
    "maximum_spend_logs_retention_period",
    "disable_budget_reservation",
    "max_parallel_requests",
    "global_max_parallel_requests",
    "token_rate_limit_type",
    "allowed_routes",
    "public_routes",
    "enforce_rbac",
    "role_permissions",
    "custom_auth",
    "litellm_key_header_name",
    "user_header_name",
    "user_header_mappings",
    "enforce_user_param",
    "enforced_params",
    "forward_client_headers_to_llm_api",
    "forward_openai_org_id",
    "forward_llm_provider_auth_headers",
    "allow_client_side_credentials",
    "max_request_size_mb",
    "max_response_size_mb",
    "background_health_checks",
    "health_check_interval",
    "health_check_concurrency",
    "health_check_details",
    "use_shared_health_check",
    "allow_public_health_readiness_details",
    "infer_model_from_keys",
    "store_model_in_db",
    "alerting",
    "alert_types",
    "alerting_threshold",
    "alert_to_webhook_url",
    "spend_report_frequency",
    "cancel_on_disconnect",
    "key_management_system",
    "key_management_settings",
    "use_google_kms",
    "use_azure_key_vault",
    "pass_through_endpoints",
    "enable_jwt_auth",
    "litellm_jwtauth",
    "ui_access_mode",
    "disable_master_key_return",
    "disable_custom_api_keys",
    "dangerously_permit_weak_or_unset_master_key",
];

const SWITCHYARD_KNOWN: &[&str] = &[
    "host",
    "port",
    "plugin_dir",
    "log_format",
    "request_body_limit_bytes",
    "database_path",
    "budget_fail_mode",
    "redis_key_prefix",
    "replica_id",
];

/// LiteLLM `litellm_params` keys that switchyard handles in the gateway (not in plugins) but not
/// yet; everything else unknown there is a provider parameter for the plugin.
const PARAMS_UNSUPPORTED: &[&str] = &[
    "custom_llm_provider",
    "tags",
    "litellm_credential_name",
    "default_api_key_tpm_limit",
    "default_api_key_rpm_limit",
];

/// Where the values of one load come from.
struct Loader<'a> {
    file: &'a str,
    env: &'a Environment,
    file_env: BTreeMap<String, String>,
    warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Loads `path` with the process environment.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        Self::load_with_env(path, &Environment::from_process())
    }

    /// Loads `path` with the given environment.
    pub fn load_with_env(path: &Path, env: &Environment) -> Result<LoadedConfig, ConfigError> {
        let file = path.display().to_string();
        let yaml = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_yaml_str(&yaml, &file, env)
    }

    /// Parses YAML text; `origin` names it in messages.
    pub fn from_yaml_str(
        yaml: &str,
        origin: &str,
        env: &Environment,
    ) -> Result<LoadedConfig, ConfigError> {
        let syntax = |message: String| ConfigError::Syntax {
            file: origin.to_owned(),
            message,
        };
        let mut tree: serde_yaml::Value = if yaml.trim().is_empty() {
            serde_yaml::Value::Null
        } else {
            serde_yaml::from_str(yaml).map_err(|e| syntax(e.to_string()))?
        };
        tree.apply_merge().map_err(|e| syntax(e.to_string()))?;
        let tree: Value = serde_json::to_value(&tree).map_err(|e| syntax(e.to_string()))?;
        let tree = match tree {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => tree,
            _ => {
                return Err(ConfigError::Invalid {
                    file: origin.to_owned(),
                    path: "<top level>".to_owned(),
                    message: "expected a mapping of sections (model_list, router_settings, ...)"
                        .to_owned(),
                })
            }
        };
        let merged = merge_env_overrides(tree, env).map_err(|message| ConfigError::Invalid {
            file: origin.to_owned(),
            path: "environment".to_owned(),
            message,
        })?;
        let mut loader = Loader {
            file: origin,
            env,
            file_env: BTreeMap::new(),
            warnings: Vec::new(),
        };
        let config = loader.config(&merged)?;
        Ok(LoadedConfig {
            config,
            warnings: loader.warnings,
        })
    }
}

/// Merges `SWITCHYARD_<SECTION>__<KEY>[__<KEY>…]=value` over the file. Values are read as YAML
/// scalars, so `true`, `4000` and `0.5` get their types.
fn merge_env_overrides(tree: Value, env: &Environment) -> Result<Value, String> {
    let mut overrides = Map::new();
    let mut names: Vec<&String> = env
        .vars
        .keys()
        .filter(|k| k.starts_with(ENV_OVERRIDE_PREFIX))
        .collect();
    names.sort();
    for name in names {
        let rest = &name[ENV_OVERRIDE_PREFIX.len()..];
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        // Single-segment variables (SWITCHYARD_CONFIG, SWITCHYARD_LOG, ...) are the binary's
        // own options, not config overrides.
        if path.len() < 2 || path.iter().any(String::is_empty) {
            continue;
        }
        let raw = &env.vars[name];
        let value: Value = serde_yaml::from_str::<serde_yaml::Value>(raw)
            .ok()
            .and_then(|v| serde_json::to_value(v).ok())
            .filter(|v| !v.is_object() && !v.is_array())
            .unwrap_or_else(|| Value::String(raw.clone()));
        let mut node = &mut overrides;
        for segment in &path[..path.len() - 1] {
            node = node
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .ok_or_else(|| format!("{name} conflicts with another override"))?;
        }
        node.insert(path[path.len() - 1].clone(), value);
    }
    if overrides.is_empty() {
        return Ok(tree);
    }
    Figment::from(Serialized::defaults(tree))
        .merge(Serialized::defaults(Value::Object(overrides)))
        .extract::<Value>()
        .map_err(|e| e.to_string())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Object(_) | Value::Array(_) => kind_of(v).to_owned(),
        other => other.to_string(),
    }
}

impl Loader<'_> {
    fn invalid(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }

    fn warn(&mut self, path: String, message: impl Into<String>) {
        self.warnings.push(ConfigWarning {
            path,
            message: message.into(),
        });
    }

    fn check_keys(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        known: &[&str],
        unsupported: &[&str],
    ) {
        for key in map.keys() {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if known.contains(&key.as_str()) {
                continue;
            }
            if unsupported.contains(&key.as_str()) {
                self.warn(
                    at,
                    "is a LiteLLM setting switchyard does not support yet; ignored",
                );
            } else {
                self.warn(at, "unknown key; ignored");
            }
        }
    }

    fn config(&mut self, tree: &Value) -> Result<Config, ConfigError> {
        let root = tree.as_object().expect("checked by the caller");
        self.check_keys(root, "", TOP_LEVEL, TOP_LEVEL_UNSUPPORTED);

        if let Some(vars) = root.get("environment_variables") {
            let map = self.mapping(vars, "environment_variables")?;
            for (name, value) in map {
                let path = format!("environment_variables.{name}");
                let value = match value {
                    Value::String(s) => self.resolve_str(s, &path)?,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(self.invalid(
                            &path,
                            format!("expected a string, found {}", kind_of(other)),
                        ))
                    }
                };
                self.file_env.insert(name.clone(), value);
            }
        }

        let empty = Value::Object(Map::new());
        let section = |name: &str| root.get(name).filter(|v| !v.is_null()).unwrap_or(&empty);
        let mut config = Config {
            router_settings: self.router(section("router_settings"))?,
            litellm_settings: self.litellm(section("litellm_settings"))?,
            general_settings: self.general(section("general_settings"))?,
            switchyard: self.switchyard(section("switchyard"))?,
            model_list: Vec::new(),
        };
        match root.get("model_list") {
            None | Some(Value::Null) => self.warn(
                "model_list".to_owned(),
                "no models configured: every request will get 404",
            ),
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    self.warn(
                        "model_list".to_owned(),
                        "no models configured: every request will get 404",
                    );
                }
                let mut ids = BTreeMap::new();
                for (i, item) in items.iter().enumerate() {
                    let entry = self.model_entry(item, &format!("model_list[{i}]"))?;
                    if let Some(id) = &entry.model_info.id {
                        if let Some(first) = ids.insert(id.clone(), i) {
                            return Err(self.invalid(
                                &format!("model_list[{i}].model_info.id"),
                                format!("id '{id}' is already used by model_list[{first}]"),
                            ));
                        }
                    }
                    config.model_list.push(entry);
                }
            }
            Some(other) => {
                return Err(self.invalid(
                    "model_list",
                    format!("expected a list, found {}", kind_of(other)),
                ))
            }
        }
        Ok(config)
    }

    fn mapping<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ConfigError> {
        match v {
            Value::Object(map) => Ok(map),
            other => Err(self.invalid(
                path,
                format!("expected a mapping, found {}", kind_of(other)),
            )),
        }
    }

    /// Resolves an `os.environ/NAME` reference; other strings are returned as they are.
    fn resolve_str(&self, s: &str, path: &str) -> Result<String, ConfigError> {
        let Some(name) = s.strip_prefix("os.environ/") else {
            return Ok(s.to_owned());
        };
        let name = name.trim();
        if let Some(v) = self.env.get(name) {
            return Ok(v.to_owned());
        }
        if let Some(v) = self.file_env.get(name) {
            return Ok(v.clone());
        }
        Err(self.invalid(
            path,
            format!("refers to environment variable {name}, which is not set"),
        ))
    }

    /// A value with every `os.environ/` reference inside it resolved.
    fn resolve_value(&self, v: &Value, path: &str) -> Result<Value, ConfigError> {
        Ok(match v {
            Value::String(s) => Value::String(self.resolve_str(s, path)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.resolve_value(x, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, x)| Ok((k.clone(), self.resolve_value(x, &format!("{path}.{k}"))?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn opt_string(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<String>, ConfigError> {
        let at = format!("{path}.{key}");
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(self.resolve_str(s, &at)?)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => {
                Err(self.invalid(&at, format!("expected a string, found {}", kind_of(other))))
            }
        }
    }

    fn opt_secret(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        Ok(self
            .opt_string(map, key, path)?
            .filter(|s| !s.is_empty())
            .map(Secret))
    }

    /// A number, also written as a string or an `os.environ/` reference (LiteLLM accepts both).
    fn opt_number(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<(f64, String)>, ConfigError> {
        let at = format!("{path}.{key}");
        let (text, value) = match map.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => (n.to_string(), n.as_f64()),
            Some(Value::String(s)) => {
                let s = self.resolve_str(s, &at)?;
                let v = s.trim().parse::<f64>().ok();
                (s.trim().to_owned(), v)
            }
            Some(other) => {
                return Err(self.invalid(&at, format!("expected a number, found {}", show(other))))
            }
        };
        match value {
            Some(v) if v.is_finite() => Ok(Some((v, text))),
            _ => Err(self.invalid(&at, format!("expected a number, found \"{text}\""))),
        }
    }

    fn opt_positive(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<f64>, ConfigError> {
        match self.opt_number(map, key, path)? {
            Some((v, _)) if v > 0.0 => Ok(Some(v)),
            Some((v, _)) => Err(self.invalid(
                &format!("{path}.{key}"),
                format!("must be greater than 0, found {v}"),
            )),
            None => Ok(None),
        }
    }

    fn opt_non_negative(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<f64>, ConfigError> {
        match self.opt_number(map, key, path)? {
            Some((v, _)) if v >= 0.0 => Ok(Some(v)),
            Some((v, _)) => Err(self.invalid(
                &format!("{path}.{key}"),
                format!("must not be negative, found {v}"),
            )),
            None => Ok(None),
        }
    }

    fn opt_uint(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        let Some((v, text)) = self.opt_number(map, key, path)? else {
            return Ok(None);
        };
        if v < 0.0 || v.fract() != 0.0 || v > max as f64 {
            return Err(self.invalid(
                &format!("{path}.{key}"),
                format!("expected a whole number from 0 to {max}, found {text}"),
            ));
        }
        Ok(Some(v as u64))
    }

    fn opt_bool(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, ConfigError> {
        let at = format!("{path}.{key}");
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match self.resolve_str(s, &at)?.to_ascii_lowercase().as_str()
            {
                "true" | "yes" | "1" => Ok(Some(true)),
                "false" | "no" | "0" => Ok(Some(false)),
                other => {
                    Err(self.invalid(&at, format!("expected true or false, found \"{other}\"")))
                }
            },
            Some(other) => Err(self.invalid(
                &at,
                format!("expected true or false, found {}", show(other)),
            )),
        }
    }

    /// Decimal text of a price, exactly as written (`0.001`, `1e-06` → `0.000001`).
    fn opt_price(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some((v, text)) = self.opt_number(map, key, path)? else {
            return Ok(None);
        };
        if v < 0.0 {
            return Err(self.invalid(
                &format!("{path}.{key}"),
                format!("a price cannot be negative, found {text}"),
            ));
        }
        Ok(Some(decimal_text(&text)))
    }

    fn fallback_list(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<FallbackList, ConfigError> {
        let at = format!("{path}.{key}");
        let items = match map.get(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.invalid(
                    &at,
                    format!(
                        "expected a list of {{group: [fallbacks]}}, found {}",
                        kind_of(other)
                    ),
                ))
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{at}[{i}]");
            let entry = self.mapping(item, &item_path)?;
            let mut parsed = BTreeMap::new();
            for (group, targets) in entry {
                parsed.insert(
                    group.clone(),
                    self.string_list(targets, &format!("{item_path}.{group}"))?,
                );
            }
            out.push(parsed);
        }
        Ok(out)
    }

    /// A LiteLLM per-error-class map (`{RateLimitErrorRetries: 3}`) under `key`, keys checked.
    fn class_counts(
        &self,
        map: &Map<String, Value>,
        key: &str,
        suffix: &str,
        path: &str,
    ) -> Result<BTreeMap<String, u32>, ConfigError> {
        match map.get(key).filter(|v| !v.is_null()) {
            None => Ok(BTreeMap::new()),
            Some(v) => self.class_counts_of(v, suffix, &format!("{path}.{key}")),
        }
    }

    fn class_counts_of(
        &self,
        v: &Value,
        suffix: &str,
        at: &str,
    ) -> Result<BTreeMap<String, u32>, ConfigError> {
        let entries = self.mapping(v, at)?;
        let mut out = BTreeMap::new();
        for name in entries.keys() {
            let n = self
                .opt_uint(entries, name, at, u32::MAX as u64)?
                .unwrap_or(0) as u32;
            crate::router::PerClass::from_litellm([(name.as_str(), n)], suffix)
                .map_err(|message| self.invalid(&format!("{at}.{name}"), message))?;
            out.insert(name.clone(), n);
        }
        Ok(out)
    }

    fn string_list(&self, v: &Value, path: &str) -> Result<Vec<String>, ConfigError> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.invalid(
                        &format!("{path}[{i}]"),
                        format!("expected a string, found {}", kind_of(other)),
                    )),
                })
                .collect(),
            other => Err(self.invalid(
                path,
                format!("expected a list of strings, found {}", kind_of(other)),
            )),
        }
    }

    fn extra(
        &self,
        map: &Map<String, Value>,
        known: &[&str],
        path: &str,
    ) -> Result<BTreeMap<String, Value>, ConfigError> {
        map.iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| Ok((k.clone(), self.resolve_value(v, &format!("{path}.{k}"))?)))
            .collect()
    }

    fn model_entry(&mut self, v: &Value, path: &str) -> Result<ModelEntry, ConfigError> {
        let map = self.mapping(v, path)?;
        self.check_keys(
            map,
            path,
            &["model_name", "litellm_params", "model_info"],
            &[],
        );
        let model_name = match map.get("model_name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err(self.invalid(&format!("{path}.model_name"), "must not be empty"))
            }
            None | Some(Value::Null) => {
                return Err(self.invalid(&format!("{path}.model_name"), "is required"))
            }
            Some(other) => {
                return Err(self.invalid(
                    &format!("{path}.model_name"),
                    format!("expected a string, found {}", show(other)),
                ))
            }
        };
        let params_path = format!("{path}.litellm_params");
        let params = match map.get("litellm_params") {
            Some(v @ Value::Object(_)) => self.litellm_params(v, &params_path)?,
            None | Some(Value::Null) => {
                return Err(self.invalid(
                    &params_path,
                    "is required (with at least `model: provider/model`)",
                ))
            }
            Some(other) => {
                return Err(self.invalid(
                    &params_path,
                    format!("expected a mapping, found {}", kind_of(other)),
                ))
            }
        };
        let info_path = format!("{path}.model_info");
        let model_info = match map.get("model_info") {
            None | Some(Value::Null) => ModelInfoConfig::default(),
            Some(v) => {
                let info = self.mapping(v, &info_path)?;
                ModelInfoConfig {
                    id: self.opt_string(info, "id", &info_path)?,
                    extra: self.extra(info, &["id"], &info_path)?,
                }
            }
        };
        Ok(ModelEntry {
            model_name,
            litellm_params: params,
            model_info,
        })
    }

    fn litellm_params(&mut self, v: &Value, path: &str) -> Result<LitellmParams, ConfigError> {
        const KNOWN: &[&str] = &[
            "model",
            "api_base",
            "api_key",
            "api_version",
            "rpm",
            "tpm",
            "timeout",
            "stream_timeout",
            "max_retries",
            "weight",
            "input_cost_per_token",
            "output_cost_per_token",
        ];
        let map = self.mapping(v, path)?;
        for key in map.keys() {
            if PARAMS_UNSUPPORTED.contains(&key.as_str()) {
                self.warn(
                    format!("{path}.{key}"),
                    "is a LiteLLM setting switchyard does not support yet; ignored",
                );
            }
        }
        let model = self.opt_string(map, "model", path)?.unwrap_or_default();
        if model.trim().is_empty() {
            return Err(self.invalid(
                &format!("{path}.model"),
                "is required: `provider/model`, e.g. `openai/gpt-4o-mini`",
            ));
        }
        if !model.contains('/') && model != "*" {
            return Err(self.invalid(
                &format!("{path}.model"),
                format!("'{model}' has no provider prefix: write it as `provider/model`, e.g. `openai/{model}`"),
            ));
        }
        let api_base = self.opt_string(map, "api_base", path)?;
        if let Some(base) = &api_base {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(self.invalid(
                    &format!("{path}.api_base"),
                    format!("'{base}' is not an http(s) URL"),
                ));
            }
        }
        Ok(LitellmParams {
            model,
            api_base,
            api_key: self.opt_secret(map, "api_key", path)?,
            api_version: self.opt_string(map, "api_version", path)?,
            rpm: self.opt_uint(map, "rpm", path, u64::MAX >> 11)?,
            tpm: self.opt_uint(map, "tpm", path, u64::MAX >> 11)?,
            timeout: self.opt_positive(map, "timeout", path)?,
            stream_timeout: self.opt_positive(map, "stream_timeout", path)?,
            max_retries: self
                .opt_uint(map, "max_retries", path, 100)?
                .map(|n| n as u32),
            weight: self.opt_non_negative(map, "weight", path)?,
            input_cost_per_token: self.opt_price(map, "input_cost_per_token", path)?,
            output_cost_per_token: self.opt_price(map, "output_cost_per_token", path)?,
            extra: self.extra(map, KNOWN, path)?,
        })
    }

    fn router(&mut self, v: &Value) -> Result<RouterSettings, ConfigError> {
        let path = "router_settings";
        let map = self.mapping(v, path)?;
        self.check_keys(map, path, ROUTER_KNOWN, ROUTER_UNSUPPORTED);
        let routing_strategy = self.opt_string(map, "routing_strategy", path)?;
        if let Some(s) = &routing_strategy {
            if !ROUTING_STRATEGIES.contains(&s.as_str()) {
                return Err(self.invalid(
                    &format!("{path}.routing_strategy"),
                    format!(
                        "unknown strategy '{s}' (one of: {})",
                        ROUTING_STRATEGIES.join(", ")
                    ),
                ));
            }
        }
        let mut model_group_alias = BTreeMap::new();
        if let Some(aliases) = map.get("model_group_alias").filter(|v| !v.is_null()) {
            let alias_path = format!("{path}.model_group_alias");
            for (alias, target) in self.mapping(aliases, &alias_path)? {
                let at = format!("{alias_path}.{alias}");
                let group = match target {
                    Value::String(s) => s.clone(),
                    Value::Object(m) => match m.get("model") {
                        Some(Value::String(s)) => s.clone(),
                        _ => {
                            return Err(self.invalid(
                                &at,
                                "expected a group name or {model: group, hidden: bool}",
                            ))
                        }
                    },
                    other => {
                        return Err(self.invalid(
                            &at,
                            format!("expected a group name, found {}", kind_of(other)),
                        ))
                    }
                };
                model_group_alias.insert(alias.clone(), group);
            }
        }
        Ok(RouterSettings {
            routing_strategy,
            num_retries: self
                .opt_uint(map, "num_retries", path, 100)?
                .map(|n| n as u32),
            timeout: self.opt_positive(map, "timeout", path)?,
            allowed_fails: self
                .opt_uint(map, "allowed_fails", path, u32::MAX as u64)?
                .map(|n| n as u32),
            cooldown_time: self.opt_non_negative(map, "cooldown_time", path)?,
            retry_after: self.opt_non_negative(map, "retry_after", path)?,
            fallbacks: self.fallback_list(map, "fallbacks", path)?,
            context_window_fallbacks: self.fallback_list(map, "context_window_fallbacks", path)?,
            content_policy_fallbacks: self.fallback_list(map, "content_policy_fallbacks", path)?,
            default_fallbacks: match map.get("default_fallbacks") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => self.string_list(v, &format!("{path}.default_fallbacks"))?,
            },
            model_group_alias,
            retry_policy: self.class_counts(map, "retry_policy", "Retries", path)?,
            model_group_retry_policy: match map.get("model_group_retry_policy") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(v) => {
                    let at = format!("{path}.model_group_retry_policy");
                    let mut out = BTreeMap::new();
                    for (group, policy) in self.mapping(v, &at)? {
                        let counts =
                            self.class_counts_of(policy, "Retries", &format!("{at}.{group}"))?;
                        out.insert(group.clone(), counts);
                    }
                    out
                }
            },
            allowed_fails_policy: self.class_counts(
                map,
                "allowed_fails_policy",
                "AllowedFails",
                path,
            )?,
            disable_cooldowns: self
                .opt_bool(map, "disable_cooldowns", path)?
                .unwrap_or(false),
            max_fallbacks: self
                .opt_uint(map, "max_fallbacks", path, 100)?
                .map(|n| n as u32),
            stream_timeout: self.opt_positive(map, "stream_timeout", path)?,
            ttft_timeout: self.opt_positive(map, "ttft_timeout", path)?,
            stream_idle_timeout: self.opt_positive(map, "stream_idle_timeout", path)?,
            max_retry_wait: self.opt_non_negative(map, "max_retry_wait", path)?,
            wait_before_fallback: self.opt_non_negative(map, "wait_before_fallback", path)?,
            default_max_parallel_requests: self.opt_uint(
                map,
                "default_max_parallel_requests",
                path,
                1 << 32,
            )?,
            max_queued_requests: self.opt_uint(map, "max_queued_requests", path, 1 << 32)?,
            queue_timeout: self.opt_positive(map, "queue_timeout", path)?,
            redis_host: self.opt_string(map, "redis_host", path)?,
            redis_port: self
                .opt_uint(map, "redis_port", path, 65535)?
                .map(|n| n as u16),
            redis_password: self.opt_secret(map, "redis_password", path)?,
            redis_url: self.opt_secret(map, "redis_url", path)?,
            extra: self.extra(map, ROUTER_KNOWN, path)?,
        })
    }

    fn litellm(&mut self, v: &Value) -> Result<LitellmSettings, ConfigError> {
        let path = "litellm_settings";
        let map = self.mapping(v, path)?;
        self.check_keys(map, path, LITELLM_KNOWN, LITELLM_UNSUPPORTED);
        Ok(LitellmSettings {
            drop_params: self.opt_bool(map, "drop_params", path)?.unwrap_or(false),
            request_timeout: self.opt_positive(map, "request_timeout", path)?,
            num_retries: self
                .opt_uint(map, "num_retries", path, 100)?
                .map(|n| n as u32),
            set_verbose: self.opt_bool(map, "set_verbose", path)?.unwrap_or(false),
            fallbacks: self.fallback_list(map, "fallbacks", path)?,
            context_window_fallbacks: self.fallback_list(map, "context_window_fallbacks", path)?,
            content_policy_fallbacks: self.fallback_list(map, "content_policy_fallbacks", path)?,
            default_fallbacks: match map.get("default_fallbacks") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => self.string_list(v, &format!("{path}.default_fallbacks"))?,
            },
            max_fallbacks: self
                .opt_uint(map, "max_fallbacks", path, 100)?
                .map(|n| n as u32),
            allowed_fails: self
                .opt_uint(map, "allowed_fails", path, u32::MAX as u64)?
                .map(|n| n as u32),
            extra: self.extra(map, LITELLM_KNOWN, path)?,
        })
    }

    fn general(&mut self, v: &Value) -> Result<GeneralSettings, ConfigError> {
        let path = "general_settings";
        let map = self.mapping(v, path)?;
        self.check_keys(map, path, GENERAL_KNOWN, GENERAL_UNSUPPORTED);
        // LiteLLM's fallbacks when the file sets none.
        let master_key = match self.opt_secret(map, "master_key", path)? {
            Some(k) => Some(k),
            None => self
                .env
                .get("LITELLM_MASTER_KEY")
                .filter(|k| !k.is_empty())
                .map(Secret::new),
        };
        let database_url = match self.opt_secret(map, "database_url", path)? {
            Some(u) => Some(u),
            None => self
                .env
                .get("DATABASE_URL")
                .filter(|u| !u.is_empty())
                .map(Secret::new),
        };
        let salt_key = match self.opt_secret(map, "salt_key", path)? {
            Some(k) => Some(k),
            None => ["SWITCHYARD_SALT_KEY", "LITELLM_SALT_KEY"]
                .iter()
                .find_map(|n| self.env.get(n).filter(|k| !k.is_empty()))
                .map(Secret::new),
        };
        Ok(GeneralSettings {
            master_key,
            database_url,
            salt_key,
            extra: self.extra(map, GENERAL_KNOWN, path)?,
        })
    }

    fn switchyard(&mut self, v: &Value) -> Result<SwitchyardSettings, ConfigError> {
        let path = "switchyard";
        let map = self.mapping(v, path)?;
        self.check_keys(map, path, SWITCHYARD_KNOWN, &[]);
        let log_format = self.opt_string(map, "log_format", path)?;
        if let Some(f) = &log_format {
            if f != "text" && f != "json" {
                return Err(self.invalid(
                    &format!("{path}.log_format"),
                    format!("expected \"text\" or \"json\", found \"{f}\""),
                ));
            }
        }
        Ok(SwitchyardSettings {
            host: self.opt_string(map, "host", path)?,
            port: self.opt_uint(map, "port", path, 65535)?.map(|n| n as u16),
            plugin_dir: self.opt_string(map, "plugin_dir", path)?.map(PathBuf::from),
            log_format,
            request_body_limit_bytes: self
                .opt_uint(map, "request_body_limit_bytes", path, 1 << 34)?
                .map(|n| n as usize),
            database_path: self
                .opt_string(map, "database_path", path)?
                .map(PathBuf::from),
            budget_fail_mode: match self.opt_string(map, "budget_fail_mode", path)?.as_deref() {
                None | Some("open") => BudgetFailMode::Open,
                Some("closed") => BudgetFailMode::Closed,
                Some(other) => {
                    return Err(self.invalid(
                        &format!("{path}.budget_fail_mode"),
                        format!("expected \"open\" or \"closed\", found \"{other}\""),
                    ))
                }
            },
            redis_key_prefix: self.opt_string(map, "redis_key_prefix", path)?,
            replica_id: self.opt_string(map, "replica_id", path)?,
        })
    }
}

/// Normalizes a number's text to plain decimal notation without going through a float's
/// formatting: `1e-06` → `0.000001`, `0.001` stays `0.001`.
fn decimal_text(text: &str) -> String {
    let t = text.trim();
    let Some((mantissa, exp)) = t.split_once(['e', 'E']) else {
        return t.to_owned();
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return t.to_owned();
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i32 + exp;
    let mut out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    if out.contains('.') {
        out = out.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    let out = out.trim_start_matches('0');
    let out = if out.is_empty() || out.starts_with('.') {
        format!("0{out}")
    } else {
        out.to_owned()
    };
    if negative {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LITELLM_STYLE: &str = r#"
model_list:
  - model_name: gpt-mock
    litellm_params:
      model: openai/mock-a
      api_base: http://127.0.0.1:18181/v1
      api_key: os.environ/MOCK_KEY
      rpm: 100
    model_info:
      id: mock-a
  - model_name: gpt-mock
    litellm_params:
      model: openai/mock-b
      api_base: http://127.0.0.1:18181/v1
      api_key: os.environ/MOCK_KEY
      timeout: "2"
      stream_timeout: 2
  - model_name: gpt-priced
    litellm_params:
      model: openai/mock-priced
      input_cost_per_token: 0.001
      output_cost_per_token: 2.0e-06
      vertex_project: os.environ/FILE_ONLY
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  allowed_fails: 1
  cooldown_time: 30
  retry_after: 0
  fallbacks: [{gpt-429: [gpt-fallback]}]
  context_window_fallbacks: [{gpt-ctx: [gpt-fallback]}]
  model_group_alias: {gpt-4: gpt-mock, hidden-one: {model: gpt-priced, hidden: true}}
litellm_settings:
  drop_params: true
  request_timeout: 60
  success_callback: ["langfuse"]
general_settings:
  master_key: sk-ref-0a1b2c3d
environment_variables:
  FILE_ONLY: from-file
"#;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn load(yaml: &str, pairs: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
        Config::from_yaml_str(yaml, "test.yaml", &env(pairs))
    }

    #[test]
    fn a_litellm_config_loads_unchanged() {
        let loaded = load(LITELLM_STYLE, &[("MOCK_KEY", "sk-upstream")]).unwrap();
        let c = &loaded.config;
        assert_eq!(c.model_list.len(), 3);
        let a = &c.model_list[0];
        assert_eq!(a.model_name, "gpt-mock");
        assert_eq!(
            a.litellm_params.api_key.as_ref().unwrap().expose(),
            "sk-upstream"
        );
        assert_eq!(a.litellm_params.rpm, Some(100));
        assert_eq!(a.model_info.id.as_deref(), Some("mock-a"));
        assert_eq!(c.model_list[1].litellm_params.timeout, Some(2.0));
        let priced = &c.model_list[2].litellm_params;
        assert_eq!(priced.input_cost_per_token.as_deref(), Some("0.001"));
        assert_eq!(priced.output_cost_per_token.as_deref(), Some("0.000002"));
        assert_eq!(priced.extra["vertex_project"], "from-file");
        assert_eq!(c.router_settings.num_retries, Some(2));
        assert_eq!(
            c.router_settings.fallbacks[0]["gpt-429"],
            vec!["gpt-fallback"]
        );
        assert_eq!(
            c.router_settings.model_group_alias["hidden-one"],
            "gpt-priced"
        );
        assert!(c.litellm_settings.drop_params);
        assert_eq!(
            c.general_settings.master_key.as_ref().unwrap().expose(),
            "sk-ref-0a1b2c3d"
        );
        let paths: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, vec!["litellm_settings.success_callback"]);
        assert!(loaded.warnings[0].message.contains("does not support yet"));
    }

    #[test]
    fn process_environment_wins_over_environment_variables() {
        let loaded = load(
            LITELLM_STYLE,
            &[("MOCK_KEY", "k"), ("FILE_ONLY", "from-process")],
        )
        .unwrap();
        assert_eq!(
            loaded.config.model_list[2].litellm_params.extra["vertex_project"],
            "from-process"
        );
    }

    #[test]
    fn a_missing_variable_names_the_field_and_the_variable_only() {
        let err = load(LITELLM_STYLE, &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "test.yaml: model_list[0].litellm_params.api_key: refers to environment variable MOCK_KEY, which is not set"
        );
    }

    #[test]
    fn env_overrides_merge_over_the_file() {
        let loaded = load(
            LITELLM_STYLE,
            &[
                ("MOCK_KEY", "k"),
                ("SWITCHYARD_GENERAL_SETTINGS__MASTER_KEY", "sk-override"),
                ("SWITCHYARD_SWITCHYARD__PORT", "4100"),
                ("SWITCHYARD_LITELLM_SETTINGS__DROP_PARAMS", "false"),
                ("SWITCHYARD_CONFIG", "ignored.yaml"),
            ],
        )
        .unwrap();
        let c = loaded.config;
        assert_eq!(
            c.general_settings.master_key.unwrap().expose(),
            "sk-override"
        );
        assert_eq!(c.switchyard.port, Some(4100));
        assert!(!c.litellm_settings.drop_params);
        assert_eq!(c.model_list.len(), 3, "the rest of the file is kept");
    }

    #[test]
    fn unknown_keys_are_warned_with_their_path() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n    extra_thing: 1\n\
                    router_settings: {foo_bar: 1, routing_strategy_args: {}}\nswitchyard: {colour: blue}\nmystery: 1\n";
        let loaded = load(yaml, &[]).unwrap();
        let mut paths: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        paths.sort();
        assert_eq!(
            paths,
            vec![
                "config: model_list[0].extra_thing: unknown key; ignored",
                "config: mystery: unknown key; ignored",
                "config: router_settings.foo_bar: unknown key; ignored",
                "config: router_settings.routing_strategy_args: is a LiteLLM setting switchyard does not support yet; ignored",
                "config: switchyard.colour: unknown key; ignored",
            ]
        );
    }

    #[test]
    fn invalid_values_name_their_path() {
        let cases = [
            ("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, rpm: ten}\n", "model_list[0].litellm_params.rpm: expected a number, found \"ten\""),
            ("model_list:\n  - model_name: ''\n    litellm_params: {model: mock/a}\n", "model_list[0].model_name: must not be empty"),
            ("model_list:\n  - model_name: a\n    litellm_params: {model: gpt-4o}\n", "model_list[0].litellm_params.model: 'gpt-4o' has no provider prefix"),
            ("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, timeout: 0}\n", "model_list[0].litellm_params.timeout: must be greater than 0"),
            ("model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, rpm: -1}\n", "model_list[0].litellm_params.rpm: expected a whole number"),
            ("switchyard: {port: 70000}\n", "switchyard.port: expected a whole number from 0 to 65535"),
            ("router_settings: {routing_strategy: fastest}\n", "router_settings.routing_strategy: unknown strategy 'fastest'"),
            ("model_list:\n  - {model_name: a, litellm_params: {model: mock/a}, model_info: {id: x}}\n  - {model_name: b, litellm_params: {model: mock/b}, model_info: {id: x}}\n", "model_list[1].model_info.id: id 'x' is already used by model_list[0]"),
            ("model_list: {a: 1}\n", "model_list: expected a list"),
        ];
        for (yaml, expected) in cases {
            let err = load(yaml, &[]).unwrap_err().to_string();
            assert!(
                err.starts_with("test.yaml: ") && err.contains(expected),
                "{yaml}\n→ {err}"
            );
        }
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = load("model_list:\n  - model_name: [unclosed\n", &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }));
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let loaded = load(LITELLM_STYLE, &[("MOCK_KEY", "sk-very-secret")]).unwrap();
        let debug = format!("{:?}", loaded.config);
        assert!(
            !debug.contains("sk-very-secret") && !debug.contains("sk-ref-0a1b2c3d"),
            "{debug}"
        );
        assert_eq!(Secret::new("x").to_string(), "<redacted>");
    }

    #[test]
    fn empty_model_list_is_a_warning() {
        let loaded = load("", &[]).unwrap();
        assert!(loaded.config.model_list.is_empty());
        assert_eq!(loaded.warnings[0].path, "model_list");
    }

    #[test]
    fn anchors_and_merge_keys_work() {
        let yaml = "x-base: &base {model: mock/a, mock_mode: lorem}\nmodel_list:\n  - model_name: a\n    litellm_params:\n      <<: *base\n      mock_completion_tokens: 3\n";
        let loaded = load(yaml, &[]).unwrap();
        let p = &loaded.config.model_list[0].litellm_params;
        assert_eq!(p.model, "mock/a");
        assert_eq!(p.extra["mock_mode"], "lorem");
    }

    #[test]
    fn decimal_text_keeps_digits() {
        assert_eq!(decimal_text("0.001"), "0.001");
        assert_eq!(decimal_text("1e-06"), "0.000001");
        assert_eq!(decimal_text("2.5E-7"), "0.00000025");
        assert_eq!(decimal_text("1.5e3"), "1500");
        assert_eq!(decimal_text("3"), "3");
    }
}

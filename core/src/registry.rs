//! Providers and deployments: which plugin serves which `provider/model` string, and the
//! deployment objects built from `model_list`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use switchyard_plugin_sdk::host::{PluginHandle, ProviderInstance};
use switchyard_plugin_sdk::DeploymentConfig;

use crate::auth::TokenCache;
use crate::config::{Config, ConfigWarning, LitellmParams};
use crate::error::ErrorOrigin;
use crate::params::ParamRules;
use crate::router::RouteTarget;
use crate::tenancy::budget::{nanos_from_json, Budget, Window};
use switchyard_catalog::{Overrides, PriceTable};

/// Default total timeout of an upstream call when the config sets none (LiteLLM's default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The loaded plugins, indexed by the provider ids they serve.
#[derive(Debug, Default, Clone)]
pub struct ProviderRegistry {
    plugins: Vec<PluginHandle>,
    by_provider: HashMap<String, usize>,
}

impl ProviderRegistry {
    pub fn new() -> Self {
        ProviderRegistry::default()
    }

    /// Adds a plugin. Two plugins claiming one provider id is an error naming both files.
    pub fn register(&mut self, plugin: PluginHandle) -> Result<(), String> {
        for id in &plugin.metadata().providers {
            if let Some(&existing) = self.by_provider.get(id) {
                let other = &self.plugins[existing];
                return Err(format!(
                    "provider id '{id}' is served by both plugin '{}' ({}) and plugin '{}' ({})",
                    other.metadata().name,
                    other.origin(),
                    plugin.metadata().name,
                    plugin.origin()
                ));
            }
        }
        let index = self.plugins.len();
        for id in &plugin.metadata().providers {
            self.by_provider.insert(id.clone(), index);
        }
        self.plugins.push(plugin);
        Ok(())
    }

    pub fn plugins(&self) -> &[PluginHandle] {
        &self.plugins
    }

    /// The plugin serving provider id `provider`.
    pub fn find(&self, provider: &str) -> Option<&PluginHandle> {
        self.by_provider.get(provider).map(|&i| &self.plugins[i])
    }

    pub(crate) fn provider_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.by_provider.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }
}

/// One configured upstream: a model on a provider, with its own credentials and limits.
pub(crate) struct Deployment {
    /// `model_info.id`, else `<model_name>.<n>`.
    pub id: String,
    pub model_group: String,
    /// Provider id (`openai`).
    pub provider: String,
    /// Upstream model name (`gpt-4o`).
    pub upstream_model: String,
    pub instance: ProviderInstance,
    /// Total time for a non-stream call.
    pub timeout: Duration,
    /// Time to the first stream chunk.
    pub ttft_timeout: Duration,
    /// The longest silence between stream chunks.
    pub stream_idle_timeout: Duration,
    pub weight: Option<f64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// Input + output price per token, for cost-based routing only.
    pub cost_rank: Option<f64>,
    pub context_window: Option<u64>,
    /// The model's longest answer (catalog), for worst-case budget reservations.
    pub max_output_tokens: Option<u64>,
    /// Per-token prices and limits (config, else the plugin's catalog, else the bundled one);
    /// `None` when no layer prices the model (it then costs nothing).
    pub(crate) prices: Option<PriceTable>,
    pub(crate) params: ParamRules,
    /// `max_budget`/`budget_duration` of the deployment: when spent, the router skips it.
    pub(crate) budget: Option<DeploymentBudget>,
    /// Client-side overrides the deployment accepts (`configurable_clientside_auth_params`),
    /// with what is needed to build a per-request instance for them.
    pub(crate) client_overrides: Option<ClientOverrides>,
    /// Present when the provider obtains tokens through `auth_step`.
    pub(crate) auth: Option<TokenCache>,
    /// Attribution of this deployment's errors, built once.
    pub(crate) origin: Arc<ErrorOrigin>,
    /// Endpoint ids its plugin serves (`chat`, `embeddings`, ...).
    pub(crate) endpoints: Box<[String]>,
    /// The headers every answer of the deployment starts from: its names, validated once, and
    /// zero retries and fallbacks (see [`crate::gateway::answer_headers`]).
    pub(crate) answer_headers: http::HeaderMap,
}

impl Deployment {
    /// Whether its plugin serves `endpoint`.
    pub(crate) fn serves(&self, endpoint: &str) -> bool {
        self.endpoints.iter().any(|e| e == endpoint)
    }
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("id", &self.id)
            .field("model_group", &self.model_group)
            .field("provider", &self.provider)
            .field("upstream_model", &self.upstream_model)
            .finish_non_exhaustive()
    }
}

/// A deployment's own budget.
#[derive(Debug)]
pub(crate) struct DeploymentBudget {
    pub(crate) max_nanos: i64,
    pub(crate) window: Option<Window>,
    pub(crate) spent: Budget,
}

impl DeploymentBudget {
    pub(crate) fn exhausted(&self, now_ms: i64) -> bool {
        self.spent.roll(self.window, now_ms);
        self.spent.spent() >= self.max_nanos
    }
}

/// Per-request `api_base`/`api_key`/`api_version` a deployment lets clients set.
#[derive(Debug)]
pub(crate) struct ClientOverrides {
    pub(crate) allowed: Vec<String>,
    pub(crate) plugin: PluginHandle,
    pub(crate) config: DeploymentConfig,
}

/// Request members that would redirect or re-authenticate an upstream call.
pub(crate) const CLIENT_AUTH_PARAMS: &[&str] = &["api_base", "base_url", "api_key", "api_version"];

impl RouteTarget for Deployment {
    fn id(&self) -> &str {
        &self.id
    }
    fn weight(&self) -> Option<f64> {
        self.weight
    }
    fn rpm_limit(&self) -> Option<u64> {
        self.rpm
    }
    fn tpm_limit(&self) -> Option<u64> {
        self.tpm
    }
    fn cost_rank(&self) -> Option<f64> {
        self.cost_rank
    }
    fn context_window(&self) -> Option<u64> {
        self.context_window
    }
    fn exhausted(&self) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|b| b.exhausted(crate::router::unix_ms() as i64))
    }
    fn serves(&self, endpoint: &str) -> bool {
        Deployment::serves(self, endpoint)
    }
    fn provider(&self) -> &str {
        &self.provider
    }
}

/// The deployments of one `model_name`.
#[derive(Debug)]
pub(crate) struct ModelGroup {
    pub name: String,
    pub deployments: Vec<Arc<Deployment>>,
}

/// Every configured model group, in config order, and the wildcard entries.
#[derive(Debug, Default)]
pub(crate) struct Deployments {
    pub(crate) groups: Vec<ModelGroup>,
    /// `model_list` entries whose `model_name` has a `*` (`anthropic/*`, `*`): templates for
    /// deployments built when a request names a matching model.
    pub(crate) wildcards: Vec<Wildcard>,
}

/// A `model_list` entry with a `*` in its name.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    pub(crate) pattern: String,
    pub(crate) params: LitellmParams,
    pub(crate) index: usize,
}

impl Wildcard {
    /// The `provider/model` a requested name maps to, when it matches.
    pub(crate) fn model_for(&self, requested: &str) -> Option<String> {
        let (prefix, suffix) = self.pattern.split_once('*')?;
        let middle = requested
            .strip_prefix(prefix)?
            .strip_suffix(suffix)
            .filter(|m| !m.is_empty())?;
        let target = &self.params.model;
        let model = if target == "*" {
            requested.to_owned()
        } else if target.contains('*') {
            target.replacen('*', middle, 1)
        } else {
            target.clone()
        };
        split_model_string(&model).is_some().then_some(model)
    }
}

/// Splits `provider/model` (the provider id is the first segment).
pub fn split_model_string(model: &str) -> Option<(&str, &str)> {
    let (provider, rest) = model.split_once('/')?;
    (!provider.is_empty() && !rest.is_empty()).then_some((provider, rest))
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(DEFAULT_TIMEOUT)
}

/// Environment variables the plugins declared, read once at start-up (plugins never read the
/// environment; deployments built later from wildcards use this snapshot).
#[derive(Clone, Default)]
pub(crate) struct PluginEnv(Arc<HashMap<String, String>>);

impl fmt::Debug for PluginEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl PluginEnv {
    pub(crate) fn capture(
        registry: &ProviderRegistry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut vars = HashMap::new();
        for plugin in registry.plugins() {
            for name in &plugin.metadata().credential_env {
                if let Some(value) = env(name).filter(|v| !v.is_empty()) {
                    vars.insert(name.clone(), value);
                }
            }
        }
        PluginEnv(Arc::new(vars))
    }
}

/// Settings every deployment inherits unless its `litellm_params` say otherwise.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    pub(crate) timeout: Duration,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) ttft_timeout: Option<Duration>,
    pub(crate) stream_idle_timeout: Option<Duration>,
}

impl Defaults {
    pub(crate) fn from_config(config: &Config) -> Self {
        let r = &config.router_settings;
        Defaults {
            timeout: r
                .timeout
                .or(config.litellm_settings.request_timeout)
                .map(seconds)
                .unwrap_or(DEFAULT_TIMEOUT),
            stream_timeout: r.stream_timeout.map(seconds),
            ttft_timeout: r.ttft_timeout.map(seconds),
            stream_idle_timeout: r.stream_idle_timeout.map(seconds),
        }
    }
}

/// Replaces the values of the plugin's `credential_files` names that are paths by the files'
/// contents (inline JSON is left alone).
fn read_credential_file(name: &str, value: &str, path: &str) -> Result<Option<String>, String> {
    let trimmed = value.trim_start();
    if trimmed.starts_with('{') || trimmed.is_empty() {
        return Ok(None);
    }
    std::fs::read_to_string(trimmed)
        .map(Some)
        .map_err(|e| format!("{path}: {name}: cannot read the credentials file '{trimmed}': {e}"))
}

/// Builds one deployment. `path` names the config entry in errors.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_deployment(
    registry: &ProviderRegistry,
    env: &PluginEnv,
    defaults: &Defaults,
    params: &LitellmParams,
    model_info: &BTreeMap<String, serde_json::Value>,
    model: &str,
    model_group: &str,
    id: String,
    path: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Deployment, String> {
    let (provider, upstream_model) = split_model_string(model).ok_or_else(|| {
        format!("{path}.litellm_params.model: '{model}' is not a 'provider/model' string")
    })?;
    let plugin = registry.find(provider).ok_or_else(|| {
        format!(
            "{path}.litellm_params.model: no loaded plugin serves provider '{provider}' \
             (loaded providers: {})",
            registry.provider_ids().join(", ")
        )
    })?;
    let meta = plugin.metadata();

    let mut plugin_env = BTreeMap::new();
    for name in &meta.credential_env {
        if let Some(value) = env.0.get(name) {
            let value = if meta.credential_files.contains(name) {
                read_credential_file(name, value, path)?.unwrap_or_else(|| value.clone())
            } else {
                value.clone()
            };
            plugin_env.insert(name.clone(), value);
        }
    }
    let has_key = params.api_key.is_some()
        || meta
            .credential_env
            .iter()
            .any(|n| n.contains("KEY") && plugin_env.contains_key(n));
    if meta.requires_api_key && !has_key && params.api_base.is_none() {
        let vars: Vec<&str> = meta
            .credential_env
            .iter()
            .filter(|n| n.contains("KEY"))
            .map(String::as_str)
            .collect();
        warnings.push(ConfigWarning {
            path: format!("{path}.litellm_params.api_key"),
            message: format!(
                "no api_key for '{model_group}' and {} is not set: its requests will fail with 401",
                if vars.is_empty() {
                    "no credential variable".to_owned()
                } else {
                    vars.join(" / ")
                }
            ),
        });
    }

    let mut extra = params.extra.clone();
    for (key, value) in [
        ("rpm", params.rpm.map(serde_json::Value::from)),
        ("tpm", params.tpm.map(serde_json::Value::from)),
    ] {
        if let Some(value) = value {
            extra.insert(key.to_owned(), value);
        }
    }
    for name in &meta.credential_files {
        if let Some(serde_json::Value::String(value)) = extra.get(name) {
            if let Some(contents) =
                read_credential_file(name, value, &format!("{path}.litellm_params"))?
            {
                extra.insert(name.clone(), serde_json::Value::String(contents));
            }
        }
    }
    let drop_params = match extra.get("drop_params") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(format!(
                "{path}.litellm_params.drop_params: expected true or false, found {other}"
            ))
        }
    };
    let always_drop = match extra.get("additional_drop_params") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    format!(
                        "{path}.litellm_params.additional_drop_params: expected a list of \
                         parameter names, found {v}"
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "{path}.litellm_params.additional_drop_params: expected a list of parameter \
                 names, found {other}"
            ))
        }
    };
    // Prices, context window and maximum output: config (`litellm_params`, then `model_info`),
    // then the plugin's catalog, then the bundled one.
    let configured_prices: BTreeMap<String, serde_json::Value> = [
        ("input_cost_per_token", &params.input_cost_per_token),
        ("output_cost_per_token", &params.output_cost_per_token),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), serde_json::Value::String(v.clone()?))))
    .collect();
    let overrides = Overrides::from_params(extra.iter().chain(&configured_prices))
        .map_err(|e| format!("{path}.litellm_params.{e}"))?
        .or(Overrides::from_params(model_info).map_err(|e| format!("{path}.model_info.{e}"))?);

    let deployment_config = DeploymentConfig {
        deployment_id: id.clone(),
        model_group: model_group.to_owned(),
        provider: provider.to_owned(),
        model: upstream_model.to_owned(),
        api_base: params.api_base.clone(),
        api_key: params.api_key.as_ref().map(|k| k.expose().to_owned()),
        api_version: params.api_version.clone(),
        params: extra,
        env: plugin_env,
    };
    let instance = plugin.instantiate(&deployment_config).map_err(|e| {
        format!(
            "{path}: plugin '{}' rejected the deployment: {}",
            meta.name, e.message
        )
    })?;
    let catalog = meta.models.iter().find(|m| m.id == upstream_model);
    let prices = PriceTable::resolve(provider, upstream_model, &overrides, catalog);
    let timeout = params.timeout.map(seconds).unwrap_or(defaults.timeout);
    let stream_timeout = params
        .stream_timeout
        .map(seconds)
        .or(defaults.stream_timeout)
        .unwrap_or(timeout);
    let extra_seconds = |key: &str| {
        deployment_config
            .params
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .filter(|s| *s > 0.0)
            .map(seconds)
    };
    let ttft_timeout = extra_seconds("ttft_timeout")
        .or(defaults.ttft_timeout)
        .unwrap_or(stream_timeout);
    let stream_idle_timeout = extra_seconds("stream_idle_timeout")
        .or(defaults.stream_idle_timeout)
        .unwrap_or(stream_timeout);
    let origin = Arc::new(ErrorOrigin {
        model_group: Some(model_group.to_owned()),
        deployment: Some(id.clone()),
        provider: Some(provider.to_owned()),
    });
    let budget = match deployment_config.params.get("max_budget") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let max_nanos = nanos_from_json(v).ok_or_else(|| {
                format!(
                    "{path}.litellm_params.max_budget: expected an amount of dollars, found {v}"
                )
            })?;
            let window = match deployment_config.params.get("budget_duration") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(d)) => Some(Window::parse(d).ok_or_else(|| {
                    format!(
                        "{path}.litellm_params.budget_duration: '{d}' is not a duration like 1h, 1d, 30d, 1mo"
                    )
                })?),
                Some(other) => {
                    return Err(format!(
                        "{path}.litellm_params.budget_duration: expected a duration, found {other}"
                    ))
                }
            };
            Some(DeploymentBudget {
                max_nanos,
                window,
                spent: Budget::new(0, 0),
            })
        }
    };
    let client_overrides = match deployment_config
        .params
        .get("configurable_clientside_auth_params")
    {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(items)) => {
            let allowed: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .filter(|p| CLIENT_AUTH_PARAMS.contains(&p.as_str()))
                .collect();
            Some(ClientOverrides {
                allowed,
                plugin: plugin.clone(),
                config: deployment_config.clone(),
            })
        }
        Some(other) => {
            return Err(format!(
                "{path}.litellm_params.configurable_clientside_auth_params: expected a list such \
                 as [api_base, api_key], found {other}"
            ))
        }
    };
    Ok(Deployment {
        budget,
        client_overrides,
        prices,
        max_output_tokens: prices.and_then(|p| p.max_output_tokens()),
        params: ParamRules::new(meta, provider, upstream_model, drop_params, always_drop),
        auth: meta.uses_auth_step.then(TokenCache::default),
        answer_headers: crate::gateway::answer_headers(model_group, &id, provider),
        id,
        model_group: model_group.to_owned(),
        provider: provider.to_owned(),
        upstream_model: upstream_model.to_owned(),
        instance,
        timeout,
        ttft_timeout,
        stream_idle_timeout,
        weight: params.weight,
        rpm: params.rpm,
        tpm: params.tpm,
        cost_rank: prices.map(|p| (p.input_cost_per_token() + p.output_cost_per_token()).to_f64()),
        context_window: prices.and_then(|p| p.max_input_tokens()),
        origin,
        endpoints: meta.endpoints.iter().cloned().collect(),
    })
}

/// Builds every deployment of `config` with the plugins of `registry`. Errors name the config
/// path; warnings (a credential that is not set, ...) are returned for the caller to log.
pub(crate) fn build_deployments(
    config: &Config,
    registry: &ProviderRegistry,
    env: &PluginEnv,
) -> Result<(Deployments, Vec<ConfigWarning>), String> {
    let mut warnings = Vec::new();
    let mut deployments = Deployments::default();
    let defaults = Defaults::from_config(config);

    for (index, entry) in config.model_list.iter().enumerate() {
        let path = format!("model_list[{index}]");
        let params = &entry.litellm_params;
        if entry.model_name.contains('*') {
            if params.model != "*" {
                let (provider, _) = split_model_string(&params.model).ok_or_else(|| {
                    format!(
                        "{path}.litellm_params.model: '{}' is not a 'provider/model' string",
                        params.model
                    )
                })?;
                if registry.find(provider).is_none() {
                    return Err(format!(
                        "{path}.litellm_params.model: no loaded plugin serves provider \
                         '{provider}' (loaded providers: {})",
                        registry.provider_ids().join(", ")
                    ));
                }
            }
            deployments.wildcards.push(Wildcard {
                pattern: entry.model_name.clone(),
                params: params.clone(),
                index,
            });
            continue;
        }
        if params.model == "*" {
            return Err(format!(
                "{path}.litellm_params.model: '*' needs a wildcard model_name ('*' or 'provider/*')"
            ));
        }
        let group_index = match deployments
            .groups
            .iter()
            .position(|g| g.name == entry.model_name)
        {
            Some(i) => i,
            None => {
                deployments.groups.push(ModelGroup {
                    name: entry.model_name.clone(),
                    deployments: Vec::new(),
                });
                deployments.groups.len() - 1
            }
        };
        let ordinal = deployments.groups[group_index].deployments.len();
        let id = entry
            .model_info
            .id
            .clone()
            .unwrap_or_else(|| format!("{}.{ordinal}", entry.model_name));
        let deployment = build_deployment(
            registry,
            env,
            &defaults,
            params,
            &entry.model_info.extra,
            &params.model,
            &entry.model_name,
            id,
            &path,
            &mut warnings,
        )?;
        deployments.groups[group_index]
            .deployments
            .push(Arc::new(deployment));
    }
    Ok((deployments, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_strings_split_on_the_first_slash() {
        assert_eq!(
            split_model_string("openai/gpt-4o"),
            Some(("openai", "gpt-4o"))
        );
        assert_eq!(
            split_model_string("bedrock/us.anthropic.claude/v1"),
            Some(("bedrock", "us.anthropic.claude/v1"))
        );
        assert_eq!(split_model_string("gpt-4o"), None);
        assert_eq!(split_model_string("/x"), None);
        assert_eq!(split_model_string("openai/"), None);
    }
}

#[cfg(test)]
mod wildcard_tests {
    use super::*;

    fn wildcard(pattern: &str, model: &str) -> Wildcard {
        Wildcard {
            pattern: pattern.to_owned(),
            params: LitellmParams {
                model: model.to_owned(),
                ..LitellmParams::default()
            },
            index: 0,
        }
    }

    #[test]
    fn wildcards_map_requested_names_to_provider_models() {
        let w = wildcard("anthropic/*", "anthropic/*");
        assert_eq!(
            w.model_for("anthropic/claude-haiku-4-5").as_deref(),
            Some("anthropic/claude-haiku-4-5")
        );
        assert_eq!(w.model_for("openai/gpt-4o"), None);
        assert_eq!(w.model_for("anthropic/"), None);
        let any = wildcard("*", "*");
        assert_eq!(any.model_for("groq/llama3").as_deref(), Some("groq/llama3"));
        assert_eq!(any.model_for("gpt-4o"), None, "no provider prefix");
        let renamed = wildcard("team-a/*", "openai/*");
        assert_eq!(
            renamed.model_for("team-a/gpt-4o").as_deref(),
            Some("openai/gpt-4o")
        );
    }
}

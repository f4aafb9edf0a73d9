//! Providers and deployments: which plugin serves which `provider/model` string, and the
//! deployment objects built from `model_list`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use switchyard_plugin_sdk::host::{PluginHandle, ProviderInstance};
use switchyard_plugin_sdk::DeploymentConfig;

use crate::config::{Config, ConfigWarning};
use crate::error::ErrorOrigin;

/// Default total timeout of an upstream call when the config sets none (LiteLLM's default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The loaded plugins, indexed by the provider ids they serve.
#[derive(Debug, Default)]
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

    fn provider_ids(&self) -> Vec<&str> {
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
    /// Time to the first stream chunk, and the longest silence between chunks.
    pub stream_timeout: Duration,
    pub weight: f64,
    /// Attribution of this deployment's errors, built once.
    pub(crate) origin: Arc<ErrorOrigin>,
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

/// The deployments of one `model_name`.
#[derive(Debug)]
pub(crate) struct ModelGroup {
    pub name: String,
    pub deployments: Vec<Arc<Deployment>>,
}

/// Every model group, in config order.
#[derive(Debug, Default)]
pub(crate) struct Deployments {
    groups: HashMap<String, Arc<ModelGroup>>,
    order: Vec<Arc<ModelGroup>>,
}

impl Deployments {
    pub(crate) fn group(&self, name: &str) -> Option<&Arc<ModelGroup>> {
        self.groups.get(name)
    }

    /// Model groups in config order.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &Arc<ModelGroup>> {
        self.order.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
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

/// Builds every deployment of `config` with the plugins of `registry`. Errors name the config
/// path; warnings (a credential that is not set, ...) are returned for the caller to log.
pub(crate) fn build_deployments(
    config: &Config,
    registry: &ProviderRegistry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Deployments, Vec<ConfigWarning>), String> {
    let mut warnings = Vec::new();
    let mut deployments = Deployments::default();
    let mut members: Vec<(String, Vec<Arc<Deployment>>)> = Vec::new();
    let default_timeout = config
        .router_settings
        .timeout
        .or(config.litellm_settings.request_timeout)
        .map(seconds)
        .unwrap_or(DEFAULT_TIMEOUT);

    for (index, entry) in config.model_list.iter().enumerate() {
        let path = format!("model_list[{index}]");
        let params = &entry.litellm_params;
        let (provider, upstream_model) = split_model_string(&params.model).ok_or_else(|| {
            format!(
                "{path}.litellm_params.model: '{}' is not a 'provider/model' string",
                params.model
            )
        })?;
        let plugin = registry.find(provider).ok_or_else(|| {
            format!(
                "{path}.litellm_params.model: no loaded plugin serves provider '{provider}' \
                 (loaded providers: {})",
                registry.provider_ids().join(", ")
            )
        })?;
        let meta = plugin.metadata();

        let mut plugin_env = std::collections::BTreeMap::new();
        for name in &meta.credential_env {
            if let Some(value) = env(name) {
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
                    "no api_key for '{}' and {} is not set: its requests will fail with 401",
                    entry.model_name,
                    if vars.is_empty() {
                        "no credential variable".to_owned()
                    } else {
                        vars.join(" / ")
                    }
                ),
            });
        }

        let group_index = match members
            .iter()
            .position(|(name, _)| *name == entry.model_name)
        {
            Some(i) => i,
            None => {
                members.push((entry.model_name.clone(), Vec::new()));
                members.len() - 1
            }
        };
        let ordinal = members[group_index].1.len();
        let id = entry
            .model_info
            .id
            .clone()
            .unwrap_or_else(|| format!("{}.{ordinal}", entry.model_name));

        let mut extra = params.extra.clone();
        for (key, value) in [
            ("rpm", params.rpm.map(serde_json::Value::from)),
            ("tpm", params.tpm.map(serde_json::Value::from)),
        ] {
            if let Some(value) = value {
                extra.insert(key.to_owned(), value);
            }
        }
        let deployment_config = DeploymentConfig {
            deployment_id: id.clone(),
            model_group: entry.model_name.clone(),
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
        let timeout = params.timeout.map(seconds).unwrap_or(default_timeout);
        let stream_timeout = params.stream_timeout.map(seconds).unwrap_or(timeout);
        let origin = Arc::new(ErrorOrigin {
            model_group: Some(entry.model_name.clone()),
            deployment: Some(id.clone()),
            provider: Some(provider.to_owned()),
        });
        members[group_index].1.push(Arc::new(Deployment {
            id,
            model_group: entry.model_name.clone(),
            provider: provider.to_owned(),
            upstream_model: upstream_model.to_owned(),
            instance,
            timeout,
            stream_timeout,
            weight: params.weight.unwrap_or(1.0),
            origin,
        }));
    }

    for (name, list) in members {
        let group = Arc::new(ModelGroup {
            name: name.clone(),
            deployments: list,
        });
        deployments.groups.insert(name, group.clone());
        deployments.order.push(group);
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

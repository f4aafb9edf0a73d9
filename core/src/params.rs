//! Capability checks: the OpenAI chat parameters a deployment's provider does not support are
//! dropped (`drop_params`) or refused with a 400 naming the parameter and the provider.
//!
//! Only OpenAI's own chat parameters are checked, as LiteLLM does: other members of a request
//! are provider-specific (`top_k`, `thinking`, `safety_settings`…) and reach the plugin as they
//! are. A plugin declares what it supports in its metadata (`supported_params`, per model where
//! models differ).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use serde_json::value::RawValue;
use switchyard_plugin_sdk::{ErrorKind, PluginMetadata};

use crate::error::GatewayError;

/// OpenAI chat-completions parameters a provider may or may not support. `model`, `messages`,
/// `stream`, `stream_options` and `metadata` are not here: every plugin takes the first three,
/// and the gateway itself handles the last two.
pub(crate) const OPENAI_CHAT_PARAMS: &[&str] = &[
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "modalities",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// The parameter rules of one deployment.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParamRules {
    /// OpenAI parameters the model does not support (empty: nothing to check).
    unsupported: HashSet<&'static str>,
    /// `additional_drop_params`: always removed.
    always_drop: Vec<String>,
    /// The deployment's `drop_params`, when it sets one.
    pub(crate) drop_params: Option<bool>,
    provider: String,
    model: String,
}

impl ParamRules {
    /// Rules from the plugin's metadata for `model` (its `ModelInfo` list when non-empty, else
    /// the plugin's list; no list at all means no check).
    pub(crate) fn new(
        meta: &PluginMetadata,
        provider: &str,
        model: &str,
        drop_params: Option<bool>,
        always_drop: Vec<String>,
    ) -> Self {
        let model_list = meta
            .models
            .iter()
            .find(|m| m.id == model)
            .map(|m| &m.supported_params)
            .filter(|l| !l.is_empty());
        let list = model_list.unwrap_or(&meta.supported_params);
        let unsupported = if list.is_empty() {
            HashSet::new()
        } else {
            OPENAI_CHAT_PARAMS
                .iter()
                .copied()
                .filter(|p| !list.iter().any(|s| s == p))
                .collect()
        };
        ParamRules {
            unsupported,
            always_drop,
            drop_params,
            provider: provider.to_owned(),
            model: model.to_owned(),
        }
    }

    /// Whether requests need looking at at all (most OpenAI deployments: no).
    pub(crate) fn is_noop(&self) -> bool {
        self.unsupported.is_empty() && self.always_drop.is_empty()
    }

    /// The body to hand to the plugin: `body` itself when nothing applies, else a copy without
    /// the dropped members. Without `drop`, an unsupported parameter is a 400.
    pub(crate) fn apply(&self, body: &Bytes, drop: bool) -> Result<Bytes, GatewayError> {
        if self.is_noop() {
            return Ok(body.clone());
        }
        let members: BTreeMap<Cow<'_, str>, &RawValue> =
            serde_json::from_slice(body).map_err(|e| {
                GatewayError::invalid_request(format!("invalid request body: {e}"), None)
            })?;
        let present = |v: &&RawValue| v.get() != "null";
        let mut unsupported: Vec<&str> = members
            .iter()
            .filter(|(k, v)| self.unsupported.contains(k.as_ref()) && present(v))
            .map(|(k, _)| k.as_ref())
            .collect();
        let always: Vec<&str> = members
            .keys()
            .map(|k| k.as_ref())
            .filter(|k| self.always_drop.iter().any(|d| d == k))
            .collect();
        if unsupported.is_empty() && always.is_empty() {
            return Ok(body.clone());
        }
        if !unsupported.is_empty() && !drop {
            unsupported.sort_unstable();
            let first = unsupported[0];
            let list = unsupported
                .iter()
                .map(|p| format!("'{p}'"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(GatewayError::new(
                ErrorKind::UnsupportedParam,
                format!(
                    "{} does not support the parameter{} {list} for model '{}': remove {} or set \
                     drop_params: true to drop unsupported parameters",
                    self.provider,
                    if unsupported.len() > 1 { "s" } else { "" },
                    self.model,
                    if unsupported.len() > 1 { "them" } else { "it" },
                ),
            )
            .with_code("unsupported_parameter")
            .with_param(first));
        }
        let kept: BTreeMap<&str, &RawValue> = members
            .iter()
            .filter(|(k, _)| !unsupported.contains(&k.as_ref()) && !always.contains(&k.as_ref()))
            .map(|(k, v)| (k.as_ref(), *v))
            .collect();
        serde_json::to_vec(&kept)
            .map(Bytes::from)
            .map_err(|e| GatewayError::internal(format!("cannot rewrite the request: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use switchyard_plugin_sdk::ModelInfo;

    use super::*;

    fn meta() -> PluginMetadata {
        let mut m = PluginMetadata::new("acme", "1.0.0");
        m.supported_params = ["temperature", "max_tokens", "tools"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        m.models = vec![ModelInfo {
            id: "tiny".into(),
            supported_params: vec!["max_tokens".into()],
            ..ModelInfo::default()
        }];
        m
    }

    fn body(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    #[test]
    fn unsupported_openai_params_are_refused_naming_param_and_provider() {
        let rules = ParamRules::new(&meta(), "acme", "big", None, Vec::new());
        let b = body(r#"{"model":"m","messages":[],"seed":1,"temperature":0.2,"top_k":5}"#);
        let e = rules.apply(&b, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnsupportedParam);
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("seed"));
        assert!(
            e.message
                .contains("acme does not support the parameter 'seed'"),
            "{}",
            e.message
        );
        assert!(e.message.contains("drop_params: true"));
    }

    #[test]
    fn drop_params_removes_them_and_keeps_provider_specific_members() {
        let rules = ParamRules::new(&meta(), "acme", "big", None, Vec::new());
        let b =
            body(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"seed":1,"top_k":5}"#);
        let out: serde_json::Value =
            serde_json::from_slice(&rules.apply(&b, true).unwrap()).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"model":"m","messages":[{"role":"user","content":"x"}],"top_k":5})
        );
    }

    #[test]
    fn per_model_lists_win_and_null_values_pass() {
        let rules = ParamRules::new(&meta(), "acme", "tiny", None, Vec::new());
        let e = rules
            .apply(
                &body(r#"{"model":"m","messages":[],"temperature":1}"#),
                false,
            )
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("temperature"));
        let b = body(r#"{"model":"m","messages":[],"temperature":null}"#);
        assert_eq!(rules.apply(&b, false).unwrap(), b);
    }

    #[test]
    fn no_list_means_no_check_and_additional_drop_params_always_apply() {
        let mut m = meta();
        m.supported_params.clear();
        m.models.clear();
        let rules = ParamRules::new(&m, "acme", "big", None, Vec::new());
        assert!(rules.is_noop());
        let rules = ParamRules::new(&m, "acme", "big", None, vec!["user".into()]);
        let out = rules
            .apply(&body(r#"{"model":"m","messages":[],"user":"u"}"#), false)
            .unwrap();
        assert_eq!(&out[..], br#"{"messages":[],"model":"m"}"#);
    }
}

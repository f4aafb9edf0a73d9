//! The bundled model catalog, from the `switchyard-catalog` crate (generated from LiteLLM's
//! model price and context-window catalog, MIT, Copyright (c) 2023 Berri AI; see
//! `catalog/README.md`): the last layer of a deployment's prices and context window — the
//! deployment's config wins, then the plugin's own catalog, then this one.

use switchyard_plugin_sdk::ModelInfo;

/// The bundled entry of `model` on `provider` (`openai`, `gpt-4o`) as a plugin-style
/// `ModelInfo` (prices as exact decimal text), if the catalog knows it.
pub(crate) fn lookup(provider: &str, model: &str) -> Option<ModelInfo> {
    let entry = switchyard_catalog::bundled::lookup(provider, model)?;
    let prices = entry.prices();
    let text = |p: Option<switchyard_catalog::Usd>| p.map(|usd| usd.to_string());
    Some(ModelInfo {
        id: model.to_owned(),
        context_window: entry.max_input_tokens(),
        max_output_tokens: entry.max_output_tokens(),
        input_cost_per_token: text(prices.input_cost_per_token),
        output_cost_per_token: text(prices.output_cost_per_token),
        cache_read_input_token_cost: text(prices.cache_read_input_token_cost),
        cache_creation_input_token_cost: text(prices.cache_creation_input_token_cost),
        supported_params: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_models_by_provider_and_name_with_exact_prices() {
        let gpt = lookup("openai", "gpt-4o").unwrap();
        assert_eq!(gpt.context_window, Some(128_000));
        assert_eq!(gpt.input_cost_per_token.as_deref(), Some("0.0000025"));
        let flash = lookup("gemini", "gemini-2.5-flash").unwrap();
        assert_eq!(flash.max_output_tokens, Some(65_536));
        let haiku = lookup("anthropic", "claude-haiku-4-5").unwrap();
        assert_eq!(
            haiku.cache_creation_input_token_cost.as_deref(),
            Some("0.00000125")
        );
        assert!(lookup("openai", "text-embedding-3-small").is_some());
        assert!(lookup("anthropic", "gpt-4o").is_none());
        assert!(lookup("mock", "nothing").is_none());
    }
}

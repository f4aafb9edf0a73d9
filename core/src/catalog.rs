//! The bundled model catalog: context windows and per-token prices of the chat, completion and
//! embedding models LiteLLM
//! knows, generated from LiteLLM's `model_prices_and_context_window.json` (MIT, Copyright (c)
//! 2023 Berri AI; see `core/catalog/README.md`) by [`generate`], and embedded in the binary.
//!
//! It is the last layer of a deployment's prices and context window: the deployment's config
//! wins, then the plugin's own catalog, then this one.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_plugin_sdk::ModelInfo;

/// The generated file, embedded.
const BUNDLED: &str = include_str!("../catalog/catalog.json");

/// The generated file's shape.
#[derive(Debug, Serialize, Deserialize)]
struct CatalogFile {
    source: String,
    license: String,
    /// `[key, provider, max_input_tokens, max_output_tokens, input, output, cache_read,
    /// cache_creation, reasoning]`, prices as decimal text (dollars per token).
    models: Vec<Row>,
}

type Row = (
    String,
    String,
    Option<u64>,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Builds the bundled catalog (the contents of `core/catalog/catalog.json`) from LiteLLM's
/// `model_prices_and_context_window.json`: its chat, completion and embedding models, with the
/// fields switchyard uses.
pub fn generate(source_json: &str) -> Result<String, String> {
    let all: serde_json::Map<String, Value> =
        serde_json::from_str(source_json).map_err(|e| format!("not the catalog JSON: {e}"))?;
    let price = |v: &Value, field: &str| -> Option<String> {
        match v.get(field)? {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    };
    let mut models: Vec<Row> = all
        .iter()
        .filter(|(key, v)| {
            *key != "sample_spec"
                && matches!(
                    v.get("mode").and_then(Value::as_str),
                    Some("chat" | "completion" | "embedding")
                )
        })
        .filter_map(|(key, v)| {
            let provider = v.get("litellm_provider")?.as_str()?.to_owned();
            Some((
                key.clone(),
                provider,
                v.get("max_input_tokens").and_then(Value::as_u64),
                v.get("max_output_tokens").and_then(Value::as_u64),
                price(v, "input_cost_per_token"),
                price(v, "output_cost_per_token"),
                price(v, "cache_read_input_token_cost"),
                price(v, "cache_creation_input_token_cost"),
                price(v, "output_cost_per_reasoning_token"),
            ))
        })
        .collect();
    models.sort();
    let file = CatalogFile {
        source: "LiteLLM 1.108.7, litellm/model_prices_and_context_window_backup.json \
                 (sha256 1b36058661d161d27d09c4193ae9bf226a2f9d83dd28d21e0180ca94518f4370)"
            .to_owned(),
        license: "MIT, Copyright (c) 2023 Berri AI".to_owned(),
        models,
    };
    let mut out = String::from("{\n");
    out.push_str(&format!(
        "\"source\": {},\n\"license\": {},\n\"models\": [\n",
        serde_json::to_string(&file.source).unwrap_or_default(),
        serde_json::to_string(&file.license).unwrap_or_default()
    ));
    let rows: Vec<String> = file
        .models
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    out.push_str(&rows.join(",\n"));
    out.push_str("\n]\n}\n");
    Ok(out)
}

/// Lookup tables over the bundled file, built on first use.
struct Index {
    /// `key` (as in the source) → model.
    by_key: HashMap<String, ModelInfo>,
    /// (provider, key without a `provider/` prefix) → model.
    by_provider: HashMap<(String, String), ModelInfo>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let file: CatalogFile = serde_json::from_str(BUNDLED).unwrap_or(CatalogFile {
            source: String::new(),
            license: String::new(),
            models: Vec::new(),
        });
        let mut by_key = HashMap::new();
        let mut by_provider = HashMap::new();
        for (key, provider, max_in, max_out, input, output, read, write, _reasoning) in file.models
        {
            let bare = key
                .strip_prefix(&format!("{provider}/"))
                .unwrap_or(&key)
                .to_owned();
            let info = ModelInfo {
                id: bare.clone(),
                context_window: max_in,
                max_output_tokens: max_out,
                input_cost_per_token: input,
                output_cost_per_token: output,
                cache_read_input_token_cost: read,
                cache_creation_input_token_cost: write,
                supported_params: Vec::new(),
            };
            by_provider
                .entry((family(&provider).to_owned(), bare))
                .or_insert_with(|| info.clone());
            by_key.insert(key, info);
        }
        Index {
            by_key,
            by_provider,
        }
    })
}

/// LiteLLM's provider names that are one switchyard provider id (`vertex_ai-language-models`,
/// `bedrock_converse`).
fn family(provider: &str) -> &str {
    if provider.starts_with("vertex_ai") {
        "vertex_ai"
    } else if provider.starts_with("bedrock") {
        "bedrock"
    } else {
        provider
    }
}

/// The bundled entry of `model` on `provider` (`openai`, `gpt-4o`), if any: `provider/model`
/// as a key, else `model` under that provider, else `model` as a key.
pub(crate) fn lookup(provider: &str, model: &str) -> Option<&'static ModelInfo> {
    let i = index();
    i.by_key
        .get(&format!("{provider}/{model}"))
        .or_else(|| {
            i.by_provider
                .get(&(family(provider).to_owned(), model.to_owned()))
        })
        .or_else(|| {
            i.by_key
                .get(model)
                .filter(|_| provider == "openai" || provider == "azure")
        })
}

/// How many models the bundled catalog has.
pub fn bundled_models() -> usize {
    index().by_key.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_file_is_what_the_generator_makes_of_the_shared_data() {
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/model_prices_and_context_window.json");
        let Ok(text) = std::fs::read_to_string(&source) else {
            eprintln!("skipped: {} is not here", source.display());
            return;
        };
        assert!(
            generate(&text).unwrap() == BUNDLED,
            "core/catalog/catalog.json is stale: run `cargo run -p switchyard-core --example \
             generate-catalog -- ../shared/data/model_prices_and_context_window.json`"
        );
    }

    #[test]
    fn lookups_find_models_by_provider_and_name() {
        assert!(bundled_models() > 1000);
        let gpt = lookup("openai", "gpt-4o").unwrap();
        assert_eq!(gpt.context_window, Some(128_000));
        assert_eq!(gpt.input_cost_per_token.as_deref(), Some("2.5e-6"));
        let flash = lookup("gemini", "gemini-2.5-flash").unwrap();
        assert_eq!(flash.max_output_tokens, Some(65_536));
        let haiku = lookup("anthropic", "claude-haiku-4-5").unwrap();
        assert_eq!(
            haiku.cache_creation_input_token_cost.as_deref(),
            Some("1.25e-6")
        );
        assert!(lookup("ollama", "llama3").is_some());
        assert!(lookup("anthropic", "gpt-4o").is_none());
        assert!(lookup("mock", "nothing").is_none());
    }
}

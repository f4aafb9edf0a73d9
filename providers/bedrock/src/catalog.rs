//! What the plugin tells the host about Bedrock's models: limits and prices of the common chat
//! models, on-demand ids and their cross-region inference profiles (`us.`, `eu.`, `apac.`,
//! `global.`, `jp.`, `au.`). Generated from LiteLLM's `model_prices_and_context_window.json`
//! (MIT, Copyright (c) 2023 Berri AI; see `../shared/data/SOURCE.md`), entries of provider
//! `bedrock`/`bedrock_converse` in mode `chat` of the families listed in the README.

use switchyard_plugin_sdk::ModelInfo;

/// OpenAI chat parameters the Converse translation understands (plus the Bedrock/Anthropic
/// members it passes on: `top_k`, `thinking`, `additionalModelRequestFields`, …).
pub(crate) const SUPPORTED_PARAMS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    "user",
    "top_k",
    "thinking",
];

/// Parameters only some model families take.
const REASONING_PARAMS: &[&str] = &["reasoning_effort", "thinking"];
const TOOL_PARAMS: &[&str] = &["tools", "tool_choice", "response_format"];

struct Entry {
    id: &'static str,
    context_window: u64,
    max_output_tokens: Option<u64>,
    /// US dollars per token, as the catalog writes them.
    input: Option<&'static str>,
    output: Option<&'static str>,
    cache_read: Option<&'static str>,
    cache_write: Option<&'static str>,
    /// Extended thinking (`reasoning_effort`, `thinking`): Claude models that support it.
    reasoning: bool,
    /// Tool use (also what JSON mode is built on).
    tools: bool,
}

#[rustfmt::skip]
const ENTRIES: &[Entry] = &[
    Entry { id: "amazon.nova-lite-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.00000006"), output: Some("0.00000024"), cache_read: Some("0.000000015"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "amazon.nova-micro-v1:0", context_window: 128000, max_output_tokens: Some(10000), input: Some("0.000000035"), output: Some("0.00000014"), cache_read: Some("0.00000000875"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "amazon.nova-premier-v1:0", context_window: 1000000, max_output_tokens: Some(10000), input: Some("0.0000025"), output: Some("0.0000125"), cache_read: Some("0.000000625"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "amazon.nova-pro-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.0000008"), output: Some("0.0000032"), cache_read: Some("0.0000002"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "anthropic.claude-3-5-haiku-20241022-v1:0", context_window: 200000, max_output_tokens: Some(8192), input: Some("0.0000008"), output: Some("0.000004"), cache_read: Some("0.00000008"), cache_write: Some("0.000001"), reasoning: false, tools: true },
    Entry { id: "anthropic.claude-3-5-sonnet-20240620-v1:0", context_window: 200000, max_output_tokens: Some(4096), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: false, tools: true },
    Entry { id: "anthropic.claude-3-7-sonnet-20250219-v1:0", context_window: 200000, max_output_tokens: Some(8192), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000001"), output: Some("0.000005"), cache_read: Some("0.0000001"), cache_write: Some("0.00000125"), reasoning: true, tools: true },
    Entry { id: "anthropic.claude-opus-4-1-20250805-v1:0", context_window: 200000, max_output_tokens: Some(32000), input: Some("0.000015"), output: Some("0.000075"), cache_read: Some("0.0000015"), cache_write: Some("0.00001875"), reasoning: true, tools: true },
    Entry { id: "anthropic.claude-opus-4-5-20251101-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000005"), output: Some("0.000025"), cache_read: Some("0.0000005"), cache_write: Some("0.00000625"), reasoning: true, tools: true },
    Entry { id: "anthropic.claude-sonnet-4-20250514-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "apac.amazon.nova-lite-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.000000063"), output: Some("0.000000252"), cache_read: Some("0.00000001575"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "apac.amazon.nova-micro-v1:0", context_window: 128000, max_output_tokens: Some(10000), input: Some("0.000000037"), output: Some("0.000000148"), cache_read: Some("0.00000000925"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "apac.amazon.nova-pro-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.00000084"), output: Some("0.00000336"), cache_read: Some("0.00000021"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "apac.anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000011"), output: Some("0.0000055"), cache_read: Some("0.00000011"), cache_write: Some("0.000001375"), reasoning: true, tools: true },
    Entry { id: "apac.anthropic.claude-sonnet-4-20250514-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "au.anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000011"), output: Some("0.0000055"), cache_read: Some("0.00000011"), cache_write: Some("0.000001375"), reasoning: true, tools: true },
    Entry { id: "au.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000033"), output: Some("0.0000165"), cache_read: Some("0.00000033"), cache_write: Some("0.000004125"), reasoning: true, tools: true },
    Entry { id: "deepseek.r1-v1:0", context_window: 128000, max_output_tokens: Some(8192), input: Some("0.00000135"), output: Some("0.0000054"), cache_read: None, cache_write: None, reasoning: true, tools: false },
    Entry { id: "eu.amazon.nova-lite-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.000000078"), output: Some("0.000000312"), cache_read: Some("0.0000000195"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "eu.amazon.nova-micro-v1:0", context_window: 128000, max_output_tokens: Some(10000), input: Some("0.000000046"), output: Some("0.000000184"), cache_read: Some("0.0000000115"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "eu.amazon.nova-pro-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.00000105"), output: Some("0.0000042"), cache_read: Some("0.0000002625"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "eu.anthropic.claude-3-5-haiku-20241022-v1:0", context_window: 200000, max_output_tokens: Some(8192), input: Some("0.0000008"), output: Some("0.000004"), cache_read: Some("0.00000008"), cache_write: Some("0.000001"), reasoning: false, tools: true },
    Entry { id: "eu.anthropic.claude-3-5-sonnet-20240620-v1:0", context_window: 200000, max_output_tokens: Some(4096), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: false, tools: true },
    Entry { id: "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", context_window: 200000, max_output_tokens: Some(8192), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "eu.anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000011"), output: Some("0.0000055"), cache_read: Some("0.00000011"), cache_write: Some("0.000001375"), reasoning: true, tools: true },
    Entry { id: "eu.anthropic.claude-opus-4-1-20250805-v1:0", context_window: 200000, max_output_tokens: Some(32000), input: Some("0.000015"), output: Some("0.000075"), cache_read: Some("0.0000015"), cache_write: Some("0.00001875"), reasoning: true, tools: true },
    Entry { id: "eu.anthropic.claude-opus-4-5-20251101-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000055"), output: Some("0.0000275"), cache_read: Some("0.00000055"), cache_write: Some("0.000006875"), reasoning: true, tools: true },
    Entry { id: "eu.anthropic.claude-sonnet-4-20250514-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000033"), output: Some("0.0000165"), cache_read: Some("0.00000033"), cache_write: Some("0.000004125"), reasoning: true, tools: true },
    Entry { id: "global.anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000001"), output: Some("0.000005"), cache_read: Some("0.0000001"), cache_write: Some("0.00000125"), reasoning: true, tools: true },
    Entry { id: "global.anthropic.claude-opus-4-5-20251101-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000005"), output: Some("0.000025"), cache_read: Some("0.0000005"), cache_write: Some("0.00000625"), reasoning: true, tools: true },
    Entry { id: "global.anthropic.claude-sonnet-4-20250514-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "global.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "jp.anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000011"), output: Some("0.0000055"), cache_read: Some("0.00000011"), cache_write: Some("0.000001375"), reasoning: true, tools: true },
    Entry { id: "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000033"), output: Some("0.0000165"), cache_read: Some("0.00000033"), cache_write: Some("0.000004125"), reasoning: true, tools: true },
    Entry { id: "meta.llama3-3-70b-instruct-v1:0", context_window: 128000, max_output_tokens: Some(4096), input: Some("0.00000072"), output: Some("0.00000072"), cache_read: None, cache_write: None, reasoning: false, tools: true },
    Entry { id: "mistral.mistral-large-2407-v1:0", context_window: 128000, max_output_tokens: Some(8191), input: Some("0.000002"), output: Some("0.000006"), cache_read: None, cache_write: None, reasoning: false, tools: true },
    Entry { id: "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000036"), output: Some("0.000018"), cache_read: Some("0.00000036"), cache_write: Some("0.0000045"), reasoning: true, tools: true },
    Entry { id: "us.amazon.nova-lite-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.00000006"), output: Some("0.00000024"), cache_read: Some("0.000000015"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "us.amazon.nova-micro-v1:0", context_window: 128000, max_output_tokens: Some(10000), input: Some("0.000000035"), output: Some("0.00000014"), cache_read: Some("0.00000000875"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "us.amazon.nova-pro-v1:0", context_window: 300000, max_output_tokens: Some(10000), input: Some("0.0000008"), output: Some("0.0000032"), cache_read: Some("0.0000002"), cache_write: None, reasoning: false, tools: true },
    Entry { id: "us.anthropic.claude-3-5-haiku-20241022-v1:0", context_window: 200000, max_output_tokens: Some(8192), input: Some("0.0000008"), output: Some("0.000004"), cache_read: Some("0.00000008"), cache_write: Some("0.000001"), reasoning: false, tools: true },
    Entry { id: "us.anthropic.claude-3-5-sonnet-20240620-v1:0", context_window: 200000, max_output_tokens: Some(4096), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: false, tools: true },
    Entry { id: "us.anthropic.claude-3-7-sonnet-20250219-v1:0", context_window: 200000, max_output_tokens: Some(8192), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "us.anthropic.claude-haiku-4-5-20251001-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000011"), output: Some("0.0000055"), cache_read: Some("0.00000011"), cache_write: Some("0.000001375"), reasoning: true, tools: true },
    Entry { id: "us.anthropic.claude-opus-4-1-20250805-v1:0", context_window: 200000, max_output_tokens: Some(32000), input: Some("0.000015"), output: Some("0.000075"), cache_read: Some("0.0000015"), cache_write: Some("0.00001875"), reasoning: true, tools: true },
    Entry { id: "us.anthropic.claude-opus-4-5-20251101-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000055"), output: Some("0.0000275"), cache_read: Some("0.00000055"), cache_write: Some("0.000006875"), reasoning: true, tools: true },
    Entry { id: "us.anthropic.claude-sonnet-4-20250514-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.000003"), output: Some("0.000015"), cache_read: Some("0.0000003"), cache_write: Some("0.00000375"), reasoning: true, tools: true },
    Entry { id: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window: 200000, max_output_tokens: Some(64000), input: Some("0.0000033"), output: Some("0.0000165"), cache_read: Some("0.00000033"), cache_write: Some("0.000004125"), reasoning: true, tools: true },
    Entry { id: "us.deepseek.r1-v1:0", context_window: 128000, max_output_tokens: Some(8192), input: Some("0.00000135"), output: Some("0.0000054"), cache_read: None, cache_write: None, reasoning: true, tools: false },
    Entry { id: "us.meta.llama3-3-70b-instruct-v1:0", context_window: 128000, max_output_tokens: Some(4096), input: Some("0.00000072"), output: Some("0.00000072"), cache_read: None, cache_write: None, reasoning: false, tools: true },
];

/// Whether `model` (an id or inference-profile id) is an Anthropic Claude model, which takes
/// Anthropic's `thinking` and `top_k` through `additionalModelRequestFields`.
pub(crate) fn is_anthropic(model: &str) -> bool {
    model.contains("anthropic.") || model.contains("claude")
}

/// The catalog entries as the host's model list.
pub(crate) fn models() -> Vec<ModelInfo> {
    ENTRIES
        .iter()
        .map(|e| ModelInfo {
            id: e.id.to_owned(),
            context_window: Some(e.context_window),
            max_output_tokens: e.max_output_tokens,
            input_cost_per_token: e.input.map(str::to_owned),
            output_cost_per_token: e.output.map(str::to_owned),
            cache_read_input_token_cost: e.cache_read.map(str::to_owned),
            cache_creation_input_token_cost: e.cache_write.map(str::to_owned),
            supported_params: SUPPORTED_PARAMS
                .iter()
                .filter(|p| (e.reasoning && is_anthropic(e.id)) || !REASONING_PARAMS.contains(p))
                .filter(|p| e.tools || !TOOL_PARAMS.contains(p))
                .map(|p| (*p).to_owned())
                .collect(),
        })
        .collect()
}

pub(crate) fn supported_params() -> Vec<String> {
    SUPPORTED_PARAMS.iter().map(|p| (*p).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_on_demand_and_cross_region_ids_with_exact_prices() {
        let models = models();
        let find = |id: &str| models.iter().find(|m| m.id == id).unwrap();
        let sonnet = find("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(sonnet.context_window, Some(200_000));
        assert_eq!(sonnet.input_cost_per_token.as_deref(), Some("0.0000033"));
        assert!(sonnet
            .supported_params
            .iter()
            .any(|p| p == "reasoning_effort"));
        let nova = find("amazon.nova-micro-v1:0");
        assert_eq!(
            nova.cache_read_input_token_cost.as_deref(),
            Some("0.00000000875")
        );
        assert!(!nova
            .supported_params
            .iter()
            .any(|p| p == "reasoning_effort"));
        for m in &models {
            for price in [&m.input_cost_per_token, &m.output_cost_per_token]
                .into_iter()
                .flatten()
            {
                assert!(!price.contains('e'), "{}: {price}", m.id);
            }
        }
    }
}

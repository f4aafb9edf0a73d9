//! What the plugin tells the host about the models Azure OpenAI deploys: the parameters they
//! accept, limits and prices, keyed by the model name (a deployment named after its model, or
//! priced through `base_model`). From LiteLLM's `model_prices_and_context_window.json` (MIT,
//! Copyright (c) 2023 Berri AI; see `../shared/data/SOURCE.md`), entries `azure/<model>`.

use switchyard_plugin_sdk::ModelInfo;

/// Chat-completions parameters Azure OpenAI accepts (its API is OpenAI's).
pub(crate) const SUPPORTED_PARAMS: &[&str] = &[
    "messages",
    "model",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "response_format",
    "user",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "prediction",
    "audio",
    "modalities",
    "store",
    "metadata",
    "prompt_cache_key",
    "safety_identifier",
    "verbosity",
];

/// Sampling parameters reasoning models (o-series, gpt-5) reject.
const REASONING_UNSUPPORTED: &[&str] = &[
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
];

struct Entry {
    id: &'static str,
    context_window: u64,
    max_output_tokens: Option<u64>,
    /// US dollars per token, as the catalog writes them.
    input: Option<&'static str>,
    output: Option<&'static str>,
    cache_read: Option<&'static str>,
    reasoning: bool,
}

#[rustfmt::skip]
const ENTRIES: &[Entry] = &[
    Entry { id: "gpt-35-turbo", context_window: 4097, max_output_tokens: Some(4096), input: Some("0.0000005"), output: Some("0.0000015"), cache_read: None, reasoning: false },
    Entry { id: "gpt-4", context_window: 8192, max_output_tokens: Some(4096), input: Some("0.00003"), output: Some("0.00006"), cache_read: None, reasoning: false },
    Entry { id: "gpt-4-turbo", context_window: 128000, max_output_tokens: Some(4096), input: Some("0.000011"), output: Some("0.000033"), cache_read: None, reasoning: false },
    Entry { id: "gpt-4.1", context_window: 1047576, max_output_tokens: Some(32768), input: Some("0.000002"), output: Some("0.000008"), cache_read: Some("0.0000005"), reasoning: false },
    Entry { id: "gpt-4.1-mini", context_window: 1047576, max_output_tokens: Some(32768), input: Some("0.0000004"), output: Some("0.0000016"), cache_read: Some("0.0000001"), reasoning: false },
    Entry { id: "gpt-4.1-nano", context_window: 1047576, max_output_tokens: Some(32768), input: Some("0.0000001"), output: Some("0.0000004"), cache_read: Some("0.000000025"), reasoning: false },
    Entry { id: "gpt-4o", context_window: 128000, max_output_tokens: Some(16384), input: Some("0.0000025"), output: Some("0.00001"), cache_read: Some("0.00000125"), reasoning: false },
    Entry { id: "gpt-4o-2024-08-06", context_window: 128000, max_output_tokens: Some(16384), input: Some("0.0000025"), output: Some("0.00001"), cache_read: Some("0.00000125"), reasoning: false },
    Entry { id: "gpt-4o-2024-11-20", context_window: 128000, max_output_tokens: Some(16384), input: Some("0.0000025"), output: Some("0.00001"), cache_read: Some("0.00000125"), reasoning: false },
    Entry { id: "gpt-4o-mini", context_window: 128000, max_output_tokens: Some(16384), input: Some("0.00000015"), output: Some("0.0000006"), cache_read: Some("0.000000075"), reasoning: false },
    Entry { id: "gpt-4o-mini-2024-07-18", context_window: 128000, max_output_tokens: Some(16384), input: Some("0.00000015"), output: Some("0.0000006"), cache_read: Some("0.000000075"), reasoning: false },
    Entry { id: "gpt-5", context_window: 272000, max_output_tokens: Some(128000), input: Some("0.00000125"), output: Some("0.00001"), cache_read: Some("0.000000125"), reasoning: true },
    Entry { id: "gpt-5-mini", context_window: 272000, max_output_tokens: Some(128000), input: Some("0.00000025"), output: Some("0.000002"), cache_read: Some("0.000000025"), reasoning: true },
    Entry { id: "gpt-5-nano", context_window: 272000, max_output_tokens: Some(128000), input: Some("0.00000005"), output: Some("0.0000004"), cache_read: Some("0.000000005"), reasoning: true },
    Entry { id: "gpt-5-chat", context_window: 128000, max_output_tokens: Some(16384), input: Some("0.00000125"), output: Some("0.00001"), cache_read: Some("0.000000125"), reasoning: false },
    Entry { id: "gpt-5.1", context_window: 272000, max_output_tokens: Some(128000), input: Some("0.00000125"), output: Some("0.00001"), cache_read: Some("0.000000125"), reasoning: true },
    Entry { id: "gpt-5.2", context_window: 272000, max_output_tokens: Some(128000), input: Some("0.00000175"), output: Some("0.000014"), cache_read: Some("0.000000175"), reasoning: true },
    Entry { id: "o1", context_window: 200000, max_output_tokens: Some(100000), input: Some("0.000015"), output: Some("0.00006"), cache_read: Some("0.0000075"), reasoning: true },
    Entry { id: "o1-mini", context_window: 128000, max_output_tokens: Some(65536), input: Some("0.0000011"), output: Some("0.0000044"), cache_read: Some("0.00000055"), reasoning: true },
    Entry { id: "o3", context_window: 200000, max_output_tokens: Some(100000), input: Some("0.000002"), output: Some("0.000008"), cache_read: Some("0.0000005"), reasoning: true },
    Entry { id: "o3-mini", context_window: 200000, max_output_tokens: Some(100000), input: Some("0.0000011"), output: Some("0.0000044"), cache_read: Some("0.00000055"), reasoning: true },
    Entry { id: "o4-mini", context_window: 200000, max_output_tokens: Some(100000), input: Some("0.0000011"), output: Some("0.0000044"), cache_read: Some("0.000000275"), reasoning: true },
    Entry { id: "model-router", context_window: 200000, max_output_tokens: Some(32768), input: Some("0.00000014"), output: Some("0.0"), cache_read: None, reasoning: false },
];

/// Whether a model (deployment or base model name) is a reasoning model: `max_tokens` becomes
/// `max_completion_tokens` for it.
pub(crate) fn is_reasoning_model(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    ENTRIES.iter().any(|e| e.reasoning && e.id == m)
        || ["o1", "o3", "o4"]
            .iter()
            .any(|p| m == *p || m.starts_with(&format!("{p}-")))
        || (m.starts_with("gpt-5") && !m.contains("chat"))
}

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
            cache_creation_input_token_cost: None,
            supported_params: SUPPORTED_PARAMS
                .iter()
                .filter(|p| {
                    if e.reasoning {
                        !REASONING_UNSUPPORTED.contains(p)
                    } else {
                        **p != "reasoning_effort"
                    }
                })
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
    fn reasoning_models_are_recognised_and_priced() {
        assert!(is_reasoning_model("gpt-5-nano"));
        assert!(is_reasoning_model("o3-mini"));
        assert!(!is_reasoning_model("gpt-4o-mini"));
        assert!(!is_reasoning_model("gpt-5-chat"));
        let models = models();
        let nano = models.iter().find(|m| m.id == "gpt-5-nano").unwrap();
        assert!(!nano.supported_params.iter().any(|p| p == "temperature"));
        let mini = models.iter().find(|m| m.id == "gpt-4o-mini").unwrap();
        assert_eq!(mini.input_cost_per_token.as_deref(), Some("0.00000015"));
        assert!(!mini
            .supported_params
            .iter()
            .any(|p| p == "reasoning_effort"));
    }
}

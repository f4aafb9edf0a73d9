//! What the plugin tells the host about OpenAI's models: the parameters they accept and their
//! limits and prices (from LiteLLM's `model_prices_and_context_window.json`, MIT).

use switchyard_plugin_sdk::ModelInfo;

/// Chat-completions parameters OpenAI accepts.
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
    "metadata",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "service_tier",
    "store",
    "modalities",
    "audio",
    "prediction",
    "prompt_cache_key",
    "safety_identifier",
    "verbosity",
    "web_search_options",
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
    max_output_tokens: u64,
    /// US dollars per token, as the catalog writes them.
    input: &'static str,
    output: &'static str,
    cache_read: &'static str,
}

const CATALOG: &[Entry] = &[
    Entry {
        id: "gpt-4o",
        context_window: 128_000,
        max_output_tokens: 16_384,
        input: "0.0000025",
        output: "0.00001",
        cache_read: "0.00000125",
    },
    Entry {
        id: "gpt-4o-mini",
        context_window: 128_000,
        max_output_tokens: 16_384,
        input: "0.00000015",
        output: "0.0000006",
        cache_read: "0.000000075",
    },
    Entry {
        id: "gpt-4.1",
        context_window: 1_047_576,
        max_output_tokens: 32_768,
        input: "0.000002",
        output: "0.000008",
        cache_read: "0.0000005",
    },
    Entry {
        id: "gpt-4.1-mini",
        context_window: 1_047_576,
        max_output_tokens: 32_768,
        input: "0.0000004",
        output: "0.0000016",
        cache_read: "0.0000001",
    },
    Entry {
        id: "gpt-4.1-nano",
        context_window: 1_047_576,
        max_output_tokens: 32_768,
        input: "0.0000001",
        output: "0.0000004",
        cache_read: "0.000000025",
    },
    Entry {
        id: "o3-mini",
        context_window: 200_000,
        max_output_tokens: 100_000,
        input: "0.0000011",
        output: "0.0000044",
        cache_read: "0.00000055",
    },
    Entry {
        id: "o4-mini",
        context_window: 200_000,
        max_output_tokens: 100_000,
        input: "0.0000011",
        output: "0.0000044",
        cache_read: "0.000000275",
    },
    Entry {
        id: "gpt-5",
        context_window: 272_000,
        max_output_tokens: 128_000,
        input: "0.00000125",
        output: "0.00001",
        cache_read: "0.000000125",
    },
    Entry {
        id: "gpt-5-mini",
        context_window: 272_000,
        max_output_tokens: 128_000,
        input: "0.00000025",
        output: "0.000002",
        cache_read: "0.000000025",
    },
];

/// Whether `model` is a reasoning model: it takes `max_completion_tokens` instead of
/// `max_tokens` and rejects the sampling parameters in [`REASONING_UNSUPPORTED`].
pub(crate) fn is_reasoning_model(model: &str) -> bool {
    // Fine-tuned models are named `ft:<base>:<org>::<id>`.
    let base = model.strip_prefix("ft:").unwrap_or(model);
    let b = base.as_bytes();
    (b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit()) || base.starts_with("gpt-5")
}

pub(crate) fn supported_params() -> Vec<String> {
    SUPPORTED_PARAMS.iter().map(|p| (*p).to_owned()).collect()
}

pub(crate) fn models() -> Vec<ModelInfo> {
    CATALOG
        .iter()
        .map(|e| ModelInfo {
            id: e.id.to_owned(),
            context_window: Some(e.context_window),
            max_output_tokens: Some(e.max_output_tokens),
            input_cost_per_token: Some(e.input.to_owned()),
            output_cost_per_token: Some(e.output.to_owned()),
            cache_read_input_token_cost: Some(e.cache_read.to_owned()),
            // Empty means "the provider's list"; reasoning models get a narrower one so that
            // `drop_params` removes what they would reject.
            supported_params: if is_reasoning_model(e.id) {
                SUPPORTED_PARAMS
                    .iter()
                    .filter(|p| !REASONING_UNSUPPORTED.contains(p))
                    .map(|p| (*p).to_owned())
                    .collect()
            } else {
                Vec::new()
            },
            ..ModelInfo::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_models_are_recognized_by_name() {
        for m in [
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "gpt-5",
            "gpt-5-nano",
            "ft:o4-mini-2025-04-16:acme::abc",
        ] {
            assert!(is_reasoning_model(m), "{m}");
        }
        for m in [
            "gpt-4o",
            "gpt-4.1-mini",
            "omni-moderation-latest",
            "llama3",
            "",
        ] {
            assert!(!is_reasoning_model(m), "{m}");
        }
    }

    #[test]
    fn prices_are_decimal_strings_that_parse() {
        for m in models() {
            for price in [
                &m.input_cost_per_token,
                &m.output_cost_per_token,
                &m.cache_read_input_token_cost,
            ] {
                let p = price.as_deref().unwrap();
                assert!(
                    p.parse::<f64>().is_ok_and(|v| v > 0.0 && v < 0.001),
                    "{}: {p}",
                    m.id
                );
            }
        }
    }
}

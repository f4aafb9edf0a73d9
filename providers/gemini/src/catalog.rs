//! What the plugin tells the host about the Gemini API's models: limits and prices of the
//! current models (from LiteLLM's `model_prices_and_context_window.json`, MIT, Copyright (c)
//! 2023 Berri AI; see `../shared/data/SOURCE.md`, entries of provider `gemini`; the 2.0 models,
//! absent there, carry limits from Google's model pages and no price), and which parameters
//! each takes.

use switchyard_google_genai::{CHAT_PARAMS, REASONING_PARAMS};
use switchyard_plugin_sdk::ModelInfo;

/// Parameters of the embeddings endpoint, for embedding models.
const EMBEDDING_PARAMS: &[&str] = &[
    "model",
    "input",
    "dimensions",
    "encoding_format",
    "task_type",
];

struct Entry {
    id: &'static str,
    context_window: u64,
    max_output_tokens: Option<u64>,
    /// US dollars per token.
    /// `None` where the bundled catalog's source has no figure: the config prices the model.
    input: Option<&'static str>,
    output: Option<&'static str>,
    cache_read: Option<&'static str>,
    /// Thinking models (`reasoning_effort`, `thinking`).
    reasoning: bool,
    embedding: bool,
}

#[rustfmt::skip]
const ENTRIES: &[Entry] = &[
    Entry { id: "gemini-2.0-flash", context_window: 1048576, max_output_tokens: Some(8192), input: None, output: None, cache_read: None, reasoning: false, embedding: false },
    Entry { id: "gemini-2.0-flash-lite", context_window: 1048576, max_output_tokens: Some(8192), input: None, output: None, cache_read: None, reasoning: false, embedding: false },
    Entry { id: "gemini-2.5-flash", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.0000003"), output: Some("0.0000025"), cache_read: Some("0.00000003"), reasoning: true, embedding: false },
    Entry { id: "gemini-2.5-flash-lite", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.0000001"), output: Some("0.0000004"), cache_read: Some("0.00000001"), reasoning: true, embedding: false },
    Entry { id: "gemini-2.5-pro", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.00000125"), output: Some("0.00001"), cache_read: Some("0.000000125"), reasoning: true, embedding: false },
    Entry { id: "gemini-3-flash-preview", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.0000005"), output: Some("0.000003"), cache_read: Some("0.00000005"), reasoning: true, embedding: false },
    Entry { id: "gemini-3.1-pro-preview", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.000002"), output: Some("0.000012"), cache_read: Some("0.0000002"), reasoning: true, embedding: false },
    Entry { id: "gemini-3.1-flash-lite-preview", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.00000025"), output: Some("0.0000015"), cache_read: Some("0.000000025"), reasoning: true, embedding: false },
    Entry { id: "gemini-3.5-flash", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.0000015"), output: Some("0.000009"), cache_read: Some("0.00000015"), reasoning: true, embedding: false },
    Entry { id: "gemini-flash-latest", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.00000075"), output: Some("0.00000375"), cache_read: Some("0.000000075"), reasoning: true, embedding: false },
    Entry { id: "gemini-flash-lite-latest", context_window: 1048576, max_output_tokens: Some(65536), input: Some("0.0000003"), output: Some("0.0000025"), cache_read: Some("0.00000003"), reasoning: true, embedding: false },
    Entry { id: "gemini-embedding-001", context_window: 2048, max_output_tokens: None, input: Some("0.00000015"), output: Some("0"), cache_read: None, reasoning: false, embedding: true },
];

pub(crate) fn supported_params() -> Vec<String> {
    CHAT_PARAMS.iter().map(|p| (*p).to_owned()).collect()
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
            cache_creation_input_token_cost: None,
            supported_params: if e.embedding {
                EMBEDDING_PARAMS.iter().map(|p| (*p).to_owned()).collect()
            } else {
                CHAT_PARAMS
                    .iter()
                    .filter(|p| e.reasoning || !REASONING_PARAMS.contains(p))
                    .map(|p| (*p).to_owned())
                    .collect()
            },
        })
        .collect()
}

//! # switchyard-google-genai
//!
//! The OpenAI ⇄ Gemini `generateContent` translation shared by the `gemini` (Google AI Studio)
//! and `vertex_ai` (Gemini on Vertex AI) provider plugins. Not a plugin itself: both plugins
//! link it and add their own URLs and authentication.
//!
//! - [`request`]: an OpenAI chat body → a `generateContent` body (system instruction, `user` /
//!   `model` turns, multi-part content with inline and file data, function declarations and
//!   calling config, function calls and responses, JSON mode, generation config, thinking).
//! - [`response`]: a `generateContent` answer → `chat.completion` (tool calls with stable ids,
//!   reasoning, finish reasons, usage with cached and thinking tokens, prompt blocks), and the
//!   classification of Google API errors.
//! - [`stream`]: `streamGenerateContent` bodies (`alt=sse` events or the JSON-array form) →
//!   OpenAI chunks, including Vertex's streamed partial function arguments.
//! - [`embeddings`]: `batchEmbedContents` (Gemini API) and `:predict` (Vertex AI).

pub mod embeddings;
pub mod request;
pub mod response;
mod schema;
pub mod stream;

pub use request::translate_chat;
pub use response::{classify_error, parse_chat};
pub use stream::GenerateStreamDecoder;

/// OpenAI chat parameters the translation understands (plus Gemini's own members it passes
/// on: `top_k`, `thinking`, `safety_settings`, `cached_content`). `parallel_tool_calls` and
/// `user` are accepted and have no Gemini equivalent (Gemini decides parallel calls itself).
pub const CHAT_PARAMS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "user",
    "top_k",
    "thinking",
    "safety_settings",
    "cached_content",
];

/// Parameters only thinking models (Gemini 2.5 and later) take.
pub const REASONING_PARAMS: &[&str] = &["reasoning_effort", "thinking"];

/// The separator LiteLLM uses to carry a Gemini `thoughtSignature` inside an OpenAI tool-call
/// id, so that a client echoing the id back returns the signature Gemini 3 requires.
pub const THOUGHT_SEPARATOR: &str = "__thought__";

/// A `generateContent` URL suffix: `:generateContent`, or `:streamGenerateContent?alt=sse`.
pub fn method_suffix(stream: bool) -> &'static str {
    if stream {
        ":streamGenerateContent?alt=sse"
    } else {
        ":generateContent"
    }
}

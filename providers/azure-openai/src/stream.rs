//! Azure OpenAI chat streams: OpenAI's chunks with Azure's additions.
//!
//! - The first event is often an annotation, not a chunk: `choices: []`, an empty `id` and
//!   `model`, `created: 0` and the prompt's `prompt_filter_results`. It is not forwarded (a
//!   client reading `choices[0]` of the first chunk, or waiting for the role there, would
//!   break); its `prompt_filter_results` travel on the first real chunk instead.
//! - A choice finishing with `content_filter` ends the stream with a content-policy error, as
//!   a filtered prompt does, so content-policy fallbacks apply.
//!
//! Everything else goes through the SDK's OpenAI decoder (byte-for-byte forwarding, usage,
//! `[DONE]`, in-stream errors).

use serde_json::Value;
use switchyard_plugin_sdk::openai::ChatStreamDecoder;
use switchyard_plugin_sdk::sse::{SseEvent, SseReader};
use switchyard_plugin_sdk::{
    ErrorKind, ProviderError, RequestContext, StreamDecoder, StreamOutput,
};

use crate::PROVIDER;

/// Decoder of one Azure OpenAI chat stream.
#[derive(Debug)]
pub struct AzureStreamDecoder {
    reader: SseReader,
    inner: ChatStreamDecoder,
    /// `prompt_filter_results` of a leading annotation, waiting for the first real chunk.
    prompt_filter_results: Option<Value>,
    /// A chunk with choices was forwarded.
    forwarded: bool,
    ended: bool,
}

impl AzureStreamDecoder {
    pub fn new(context: &RequestContext) -> Self {
        AzureStreamDecoder {
            reader: SseReader::default(),
            inner: ChatStreamDecoder::new(PROVIDER, context),
            prompt_filter_results: None,
            forwarded: false,
            ended: false,
        }
    }

    fn pass(&mut self, event: &str, data: &[u8], out: &mut StreamOutput) {
        let mut frame = Vec::with_capacity(data.len() + event.len() + 16);
        if !event.is_empty() {
            frame.extend_from_slice(b"event: ");
            frame.extend_from_slice(event.as_bytes());
            frame.push(b'\n');
        }
        frame.extend_from_slice(b"data: ");
        // Multi-line data arrives joined with `\n`: JSON whitespace, but it would split the frame.
        frame.extend(data.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
        frame.extend_from_slice(b"\n\n");
        self.inner.feed(&frame, out);
        if out.error.is_some() || out.done {
            self.ended = true;
        }
    }

    fn on_event(&mut self, event: SseEvent, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let data = event.data.trim_ascii();
        if !self.forwarded && data.starts_with(b"{") {
            if let Ok(mut chunk) = serde_json::from_slice::<Value>(data) {
                let choices_empty = chunk
                    .get("choices")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty);
                let has_usage = chunk.get("usage").is_some_and(|u| !u.is_null());
                if choices_empty && !has_usage && chunk.get("error").is_none() {
                    // The annotation: keep what it says, send nothing.
                    if let Some(results) = chunk.get("prompt_filter_results") {
                        self.prompt_filter_results = Some(results.clone());
                    }
                    return;
                }
                if !choices_empty {
                    self.forwarded = true;
                    if let (Some(results), Some(obj)) =
                        (self.prompt_filter_results.take(), chunk.as_object_mut())
                    {
                        obj.entry("prompt_filter_results").or_insert(results);
                        let bytes = chunk.to_string().into_bytes();
                        return self.check_and_pass(&event.event, &bytes, out);
                    }
                }
            }
        }
        self.check_and_pass(&event.event, data, out)
    }

    fn check_and_pass(&mut self, event: &str, data: &[u8], out: &mut StreamOutput) {
        // `"content_filter"` with its closing quote: a finish reason, not `content_filter_results`.
        if contains(data, b"\"content_filter\"") {
            if let Some(error) = filtered(data) {
                self.ended = true;
                out.error = Some(error);
                return;
            }
        }
        self.pass(event, data, out);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The content-policy error of a chunk whose choice finished with `content_filter`, naming the
/// categories Azure flagged.
fn filtered(data: &[u8]) -> Option<ProviderError> {
    let chunk: Value = serde_json::from_slice(data).ok()?;
    let choice = chunk
        .get("choices")?
        .as_array()?
        .iter()
        .find(|c| c.get("finish_reason").and_then(Value::as_str) == Some("content_filter"))?;
    Some(content_filter_error(choice.get("content_filter_results")))
}

/// A content-policy error for an answer Azure's filter stopped.
pub(crate) fn content_filter_error(results: Option<&Value>) -> ProviderError {
    let mut categories: Vec<&str> = results
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.get("filtered").and_then(Value::as_bool) == Some(true))
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    categories.sort_unstable();
    let which = if categories.is_empty() {
        String::new()
    } else {
        format!(" (filtered: {})", categories.join(", "))
    };
    ProviderError::new(
        ErrorKind::ContentPolicy,
        format!(
            "{PROVIDER}: the answer was stopped by Azure OpenAI's content filter (finish_reason content_filter){which}"
        ),
    )
    .with_code("content_policy_violation")
}

impl StreamDecoder for AzureStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut events = Vec::new();
        let result = self.reader.feed(bytes, |e| events.push(e));
        for e in events {
            self.on_event(e, out);
        }
        if let Err(mut e) = result {
            if !self.ended {
                e.message = format!("{PROVIDER}: {}", e.message);
                self.ended = true;
                out.error.get_or_insert(e);
            }
        }
        if self.ended {
            self.reader = SseReader::new(0);
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut events = Vec::new();
        self.reader.finish(|e| events.push(e));
        for e in events {
            self.on_event(e, out);
        }
        if !self.ended {
            self.inner.finish(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNOTATION: &str = r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}"#;

    fn stream(chunks: &[&str]) -> Vec<u8> {
        chunks
            .iter()
            .flat_map(|c| format!("data: {c}\n\n").into_bytes())
            .collect()
    }

    fn decode(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
        let ctx = RequestContext {
            stream: true,
            include_usage,
            ..RequestContext::default()
        };
        let mut d = AzureStreamDecoder::new(&ctx);
        let mut all = StreamOutput::default();
        for p in pieces {
            let mut out = StreamOutput::default();
            d.feed(p, &mut out);
            all.sse.extend(out.sse);
            all.info.merge(out.info);
            all.done |= out.done;
            all.error = all.error.or(out.error);
        }
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        all.sse.extend(out.sse);
        all.info.merge(out.info);
        all.done |= out.done;
        all.error = all.error.or(out.error);
        all
    }

    fn body() -> Vec<u8> {
        stream(&[
            ANNOTATION,
            r#"{"choices":[{"content_filter_results":{},"delta":{"content":"","role":"assistant"},"finish_reason":null,"index":0}],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk","usage":null}"#,
            r#"{"choices":[{"delta":{"content":"Hello"},"finish_reason":null,"index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk","usage":null}"#,
            r#"{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0}],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk","usage":null}"#,
            r#"{"choices":[],"created":1,"id":"c1","model":"gpt-4o-mini","object":"chat.completion.chunk","usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
            "[DONE]",
        ])
    }

    #[test]
    fn the_annotation_chunk_is_folded_into_the_first_real_chunk() {
        let out = decode(&[&body()], true);
        let text = String::from_utf8(out.sse).unwrap();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[0]["prompt_filter_results"][0]["prompt_index"], 0);
        assert_eq!(chunks.len(), 4, "annotation dropped, usage chunk kept");
        assert!(out.done);
        assert_eq!(out.info.usage.unwrap().total_tokens, 11);
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn a_content_filter_finish_is_a_content_policy_error() {
        let body = stream(&[
            ANNOTATION,
            r#"{"choices":[{"delta":{"content":"Once","role":"assistant"},"finish_reason":null,"index":0}],"id":"c1","model":"m"}"#,
            r#"{"choices":[{"content_filter_results":{"violence":{"filtered":true,"severity":"high"},"hate":{"filtered":false,"severity":"safe"}},"delta":{},"finish_reason":"content_filter","index":0}],"id":"c1","model":"m"}"#,
            "[DONE]",
        ]);
        let out = decode(&[&body], false);
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::ContentPolicy, 400));
        assert!(e.message.contains("violence"), "{}", e.message);
        assert!(!out.done);
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..2000, 0..12)) {
            let b = body();
            let whole = decode(&[&b], true);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (b.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points { pieces.push(&b[last..p]); last = p; }
            pieces.push(&b[last..]);
            proptest::prop_assert_eq!(&whole, &decode(&pieces, true));
        }
    }
}

//! ConverseStream (`application/vnd.amazon.eventstream`) → OpenAI chat.completion.chunk SSE.
//!
//! Events: `messageStart` (the role chunk), `contentBlockStart` (a tool call: id and name),
//! `contentBlockDelta` (text, tool-input JSON, reasoning text or signature), `contentBlockStop`,
//! `messageStop` (the finish reason) and `metadata` (usage, after the stop). Exceptions
//! (`:message-type: exception`) end the stream with a classified error.

use std::collections::HashMap;

use serde_json::{json, Value};
use switchyard_plugin_sdk::eventstream::{EventStreamReader, Message, MessageKind};
use switchyard_plugin_sdk::{
    ErrorKind, ProviderError, RequestContext, ResponseInfo, StreamDecoder, StreamOutput, Usage,
};

use crate::request::JSON_TOOL;
use crate::response::{classify_exception, finish_reason, usage_json};

/// More tool calls than this in one answer is a misbehaving upstream, not a model.
const MAX_TOOL_CALLS: usize = 1024;

/// What a content block is, for its deltas.
#[derive(Debug, Clone, Copy)]
enum Block {
    /// A tool call: its OpenAI index, and whether argument bytes were sent.
    Tool { index: usize, sent_args: bool },
    /// The JSON-mode tool: its input is the answer's content.
    JsonContent,
}

/// Decoder of one ConverseStream body.
#[derive(Debug)]
pub struct ConverseStreamDecoder {
    reader: EventStreamReader,
    include_usage: bool,
    id: String,
    model: String,
    started: bool,
    blocks: HashMap<u64, Block>,
    tool_calls: usize,
    finish: Option<&'static str>,
    usage: Option<Usage>,
    ended: bool,
}

impl ConverseStreamDecoder {
    pub fn new(model: &str, context: &RequestContext) -> Self {
        ConverseStreamDecoder {
            reader: EventStreamReader::default(),
            include_usage: context.include_usage,
            id: if context.request_id.is_empty() {
                "chatcmpl-bedrock".to_owned()
            } else {
                format!("chatcmpl-{}", context.request_id)
            },
            model: model.to_owned(),
            started: false,
            blocks: HashMap::new(),
            tool_calls: 0,
            finish: None,
            usage: None,
            ended: false,
        }
    }

    fn chunk(&mut self, delta: Value, finish: Option<&str>, out: &mut StreamOutput) {
        // Clients read the role from the first chunk, whatever event comes first.
        if !self.started {
            self.started = true;
            if delta.get("role").is_none() {
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
        }
        let v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        out.push_data(v.to_string().as_bytes());
    }

    fn fail(&mut self, error: ProviderError, out: &mut StreamOutput) {
        self.ended = true;
        self.reader = EventStreamReader::new(0);
        out.error.get_or_insert(error);
    }

    fn end(&mut self, out: &mut StreamOutput) {
        if self.include_usage {
            if let Some(usage) = self.usage {
                let v = json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
                    "choices": [], "usage": usage_json(&usage),
                });
                out.push_data(v.to_string().as_bytes());
            }
        }
        out.push_data(b"[DONE]");
        out.done = true;
        self.ended = true;
    }

    fn on_message(&mut self, message: Message, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let payload: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
        let text_of = |v: &Value| {
            ["message", "Message"]
                .iter()
                .find_map(|k| v.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&message.payload).into_owned())
        };
        match message.kind() {
            MessageKind::Exception { exception_type } => {
                let e = classify_exception(exception_type, 500, &text_of(&payload));
                self.fail(e, out);
            }
            MessageKind::Error { code, message } => {
                let e = ProviderError::new(
                    ErrorKind::Unavailable,
                    format!("bedrock: stream error {code}: {message}"),
                )
                .with_status(502);
                self.fail(e, out);
            }
            MessageKind::Other { message_type } => {
                let e = ProviderError::bad_response(format!(
                    "bedrock: unexpected event-stream message type '{message_type}'"
                ));
                self.fail(e, out);
            }
            MessageKind::Event { event_type } => {
                let event_type = event_type.to_owned();
                if payload.is_null() && !message.payload.is_empty() {
                    let e = ProviderError::bad_response(format!(
                        "bedrock: {event_type} event payload is not JSON"
                    ));
                    self.fail(e, out);
                    return;
                }
                self.on_event(&event_type, &payload, out);
            }
        }
    }

    fn on_event(&mut self, event_type: &str, v: &Value, out: &mut StreamOutput) {
        let block_index = v
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match event_type {
            "messageStart" if !self.started => {
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            "contentBlockStart" => {
                let Some(tool) = v.pointer("/start/toolUse") else {
                    return;
                };
                if tool["name"] == JSON_TOOL {
                    self.blocks.insert(block_index, Block::JsonContent);
                    return;
                }
                if self.tool_calls >= MAX_TOOL_CALLS {
                    let e = ProviderError::bad_response(format!(
                        "bedrock: more than {MAX_TOOL_CALLS} tool calls in one answer"
                    ));
                    self.fail(e, out);
                    return;
                }
                let index = self.tool_calls;
                self.tool_calls += 1;
                self.blocks.insert(
                    block_index,
                    Block::Tool {
                        index,
                        sent_args: false,
                    },
                );
                self.chunk(
                    json!({"tool_calls": [{"index": index, "id": tool["toolUseId"], "type": "function",
                                           "function": {"name": tool["name"], "arguments": ""}}]}),
                    None,
                    out,
                );
            }
            "contentBlockDelta" => {
                let delta = &v["delta"];
                if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    self.chunk(json!({"content": text}), None, out);
                } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str)
                {
                    match self.blocks.get(&block_index).copied() {
                        Some(Block::JsonContent) if !input.is_empty() => {
                            self.chunk(json!({"content": input}), None, out);
                        }
                        Some(Block::Tool { index, .. }) if !input.is_empty() => {
                            self.blocks.insert(
                                block_index,
                                Block::Tool {
                                    index,
                                    sent_args: true,
                                },
                            );
                            self.chunk(
                                json!({"tool_calls": [{"index": index, "function": {"arguments": input}}]}),
                                None,
                                out,
                            );
                        }
                        _ => {}
                    }
                } else if let Some(r) = delta.get("reasoningContent") {
                    if let Some(text) = r.get("text").and_then(Value::as_str) {
                        self.chunk(json!({"reasoning_content": text}), None, out);
                    } else if let Some(sig) = r.get("signature").and_then(Value::as_str) {
                        self.chunk(
                            json!({"reasoning_content": "", "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": sig}]}),
                            None,
                            out,
                        );
                    } else if let Some(data) = r.get("redactedContent") {
                        self.chunk(
                            json!({"thinking_blocks": [{"type": "redacted_thinking", "data": data}]}),
                            None,
                            out,
                        );
                    }
                }
            }
            "contentBlockStop" => {
                // A tool called without arguments streams none; clients parse arguments as JSON.
                if let Some(Block::Tool {
                    index,
                    sent_args: false,
                }) = self.blocks.get(&block_index).copied()
                {
                    self.blocks.insert(
                        block_index,
                        Block::Tool {
                            index,
                            sent_args: true,
                        },
                    );
                    self.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]}),
                        None,
                        out,
                    );
                }
            }
            "messageStop" => {
                let stop = v
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                let json_mode = self
                    .blocks
                    .values()
                    .any(|b| matches!(b, Block::JsonContent));
                let finish = if json_mode && stop == "tool_use" {
                    "stop"
                } else {
                    finish_reason(stop)
                };
                self.finish = Some(finish);
                self.chunk(json!({}), Some(finish), out);
            }
            "metadata" => {
                if let Some(u) = v.get("usage") {
                    self.usage = Some(crate::response::usage_from(u));
                }
                self.end(out);
            }
            _ => {} // future event types
        }
    }

    fn report(&self, out: &mut StreamOutput) {
        out.info.merge(ResponseInfo {
            usage: self.usage,
            finish_reason: self.finish.map(str::to_owned),
            model: Some(self.model.clone()),
            ..Default::default()
        });
    }
}

impl StreamDecoder for ConverseStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut messages = Vec::new();
        let result = self.reader.feed(bytes, |m| messages.push(m));
        for m in messages {
            self.on_message(m, out);
        }
        if let Err(e) = result {
            if !self.ended {
                self.fail(ProviderError::bad_response(format!("bedrock: {e}")), out);
            }
        }
        self.report(out);
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        if let Err(e) = self.reader.finish() {
            self.fail(ProviderError::bad_response(format!("bedrock: {e}")), out);
            return;
        }
        // The message ended but the metadata event (usage) never came: still a complete answer.
        if self.finish.is_some() {
            self.end(out);
            self.report(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::eventstream::{encode_event, encode_exception};

    fn body(events: &[(&str, Value)]) -> Vec<u8> {
        events
            .iter()
            .flat_map(|(t, v)| encode_event(t, v.to_string().as_bytes()))
            .collect()
    }

    fn decode(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
        let ctx = RequestContext {
            request_id: "req-1".into(),
            stream: true,
            include_usage,
            ..RequestContext::default()
        };
        let mut d = ConverseStreamDecoder::new("us.anthropic.claude-x", &ctx);
        let mut all = StreamOutput::default();
        for p in pieces {
            let mut out = StreamOutput::default();
            d.feed(p, &mut out);
            all.sse.extend(out.sse);
            all.info.merge(out.info);
            all.done |= out.done;
            if all.error.is_none() {
                all.error = out.error;
            }
        }
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        all.sse.extend(out.sse);
        all.info.merge(out.info);
        all.done |= out.done;
        if all.error.is_none() {
            all.error = out.error;
        }
        all
    }

    fn chunks(sse: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(sse)
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn tool_stream() -> Vec<u8> {
        body(&[
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tu_a", "name": "weather"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 1})),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu_b", "name": "time"}}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 2})),
            ("messageStop", json!({"stopReason": "tool_use"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 10, "outputTokens": 20, "cacheReadInputTokens": 5}, "metrics": {"latencyMs": 1}}),
            ),
        ])
    }

    #[test]
    fn tool_calls_get_stable_indexes_and_usage_comes_last() {
        let out = decode(&[&tool_stream()], true);
        assert!(out.done && out.error.is_none());
        let c = chunks(&out.sse);
        assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(c[0]["id"], "chatcmpl-req-1");
        let calls: Vec<&Value> = c
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
            .collect();
        assert_eq!(calls[0]["index"], 0);
        assert_eq!(calls[0]["id"], "tu_a");
        assert_eq!(calls[1]["function"]["arguments"], "{\"city\":");
        assert_eq!(calls[3]["index"], 1);
        assert_eq!(
            calls[4]["function"]["arguments"], "{}",
            "no-argument call gets {{}}"
        );
        let last = c.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["prompt_tokens"], 15);
        assert_eq!(out.info.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(out.info.usage.unwrap().cached_tokens, 5);
        let without = decode(&[&tool_stream()], false);
        assert!(chunks(&without.sse)
            .iter()
            .all(|c| c["choices"] != json!([])));
        assert_eq!(without.info, out.info);
    }

    #[test]
    fn an_exception_frame_ends_the_stream_with_its_class() {
        let mut b = body(&[
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
            ),
        ]);
        b.extend(encode_exception(
            "throttlingException",
            br#"{"message":"Too many tokens, please wait before trying again."}"#,
        ));
        b.extend(body(&[(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "never"}}),
        )]));
        let out = decode(&[&b], false);
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimit, 429));
        assert!(e.message.contains("Too many tokens"));
        assert!(!String::from_utf8_lossy(&out.sse).contains("never"));
        assert!(!out.done);
    }

    #[test]
    fn a_corrupt_frame_is_a_bad_response_and_truncation_too() {
        let mut b = tool_stream();
        b[20] ^= 0xff;
        let e = decode(&[&b], false).error.unwrap();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.contains("checksum"), "{}", e.message);
        let b = tool_stream();
        let e = decode(&[&b[..b.len() - 3]], false).error.unwrap();
        assert!(e.message.contains("ended inside a frame"), "{}", e.message);
    }

    #[test]
    fn json_mode_tool_input_streams_as_content() {
        let b = body(&[
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "j", "name": JSON_TOOL}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"a\":"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "1}"}}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
            ("messageStop", json!({"stopReason": "tool_use"})),
        ]);
        let out = decode(&[&b], false);
        let text: String = chunks(&out.sse)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "{\"a\":1}");
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
        assert!(
            out.done,
            "a stream that stopped without metadata still ends"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..3000, 0..12)) {
            let b = tool_stream();
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

//! Cohere v2 chat SSE → OpenAI `chat.completion.chunk` SSE.

use std::collections::HashMap;

use serde_json::{json, Value};
use switchyard_plugin_sdk::sse::{SseEvent, SseReader};
use switchyard_plugin_sdk::{
    ErrorKind, ProviderError, RequestContext, ResponseInfo, StreamDecoder, StreamOutput, Usage,
};

use crate::response::{finish_reason, is_failure, tool_call, usage_from, usage_json};

/// At most this many tool calls per stream: the index map stays bounded whatever the
/// upstream sends.
const MAX_TOOL_CALLS: usize = 1024;

/// Decoder of one `/v2/chat` stream.
///
/// `message-start` sends the role chunk; `content-delta` text → `content`, thinking →
/// `reasoning_content`; `tool-plan-delta` → `content` (the plan the model states before its
/// tool calls); `tool-call-start` / `-delta` → tool-call deltas whose OpenAI index counts the
/// stream's tool calls in order of appearance (ids and names in the start chunk, arguments in
/// the deltas; a call that streamed no arguments gets `{}` at `tool-call-end`);
/// `message-end` → the finish chunk, then the usage chunk when the client asked for it, then
/// `[DONE]`. A `message-end` with finish reason ERROR (or TIMEOUT) ends the stream with an
/// error carrying Cohere's message. Memory is bounded: one SSE event (4 MiB at most) is
/// buffered, and nothing is read after the end.
#[derive(Debug)]
pub struct ChatStreamDecoder {
    reader: SseReader,
    include_usage: bool,
    id: String,
    model: String,
    started: bool,
    /// Cohere tool-call index → (OpenAI index, whether arguments were sent).
    tool_index: HashMap<u64, (u64, bool)>,
    usage: Option<Usage>,
    finish: Option<&'static str>,
    ended: bool,
}

impl ChatStreamDecoder {
    /// A decoder for a deployment of `model` (Cohere's chunks do not name the model).
    pub fn new(model: &str, context: &RequestContext) -> Self {
        ChatStreamDecoder {
            reader: SseReader::default(),
            include_usage: context.include_usage,
            id: String::new(),
            model: model.to_owned(),
            started: false,
            tool_index: HashMap::new(),
            usage: None,
            finish: None,
            ended: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, out: &mut StreamOutput) {
        let v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        out.push_data(v.to_string().as_bytes());
    }

    /// The role chunk, once, before anything else.
    fn start(&mut self, out: &mut StreamOutput) {
        if !self.started {
            self.started = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None, out);
        }
    }

    fn fail(&mut self, error: ProviderError, out: &mut StreamOutput) {
        self.ended = true;
        out.error.get_or_insert(error);
        // Nothing more is read: release the buffer.
        self.reader = SseReader::new(0);
    }

    fn end(&mut self, out: &mut StreamOutput) {
        if self.include_usage {
            if let Some(usage) = &self.usage {
                let v = json!({
                    "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
                    "choices": [], "usage": usage_json(usage),
                });
                out.push_data(v.to_string().as_bytes());
            }
        }
        out.push_data(b"[DONE]");
        out.done = true;
        self.ended = true;
        self.reader = SseReader::new(0);
    }

    fn on_event(&mut self, event: SseEvent, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let data = event.data.trim_ascii();
        if data.is_empty() {
            return;
        }
        if data == b"[DONE]" {
            // Cohere sends it after message-end; a stream without message-end ends here.
            self.start(out);
            self.end(out);
            return;
        }
        let v: Value = match serde_json::from_slice(data) {
            Ok(v) => v,
            Err(e) => {
                return self.fail(
                    ProviderError::bad_response(format!("cohere: stream event is not JSON: {e}")),
                    out,
                )
            }
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str())
            .to_owned();
        let message = &v["delta"]["message"];
        match kind.as_str() {
            "message-start" => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    self.id = id.to_owned();
                }
                self.start(out);
            }
            "content-delta" => {
                self.start(out);
                let content = &message["content"];
                if let Some(text) = content.get("text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        self.chunk(json!({"content": text}), None, out);
                    }
                } else if let Some(thinking) = content.get("thinking").and_then(Value::as_str) {
                    if !thinking.is_empty() {
                        self.chunk(json!({"reasoning_content": thinking}), None, out);
                    }
                }
            }
            "tool-plan-delta" => {
                self.start(out);
                if let Some(plan) = message["tool_plan"].as_str().filter(|p| !p.is_empty()) {
                    self.chunk(json!({"content": plan}), None, out);
                }
            }
            "tool-call-start" => {
                self.start(out);
                let cohere_index = v["index"].as_u64().unwrap_or(self.tool_index.len() as u64);
                if !self.tool_index.contains_key(&cohere_index)
                    && self.tool_index.len() >= MAX_TOOL_CALLS
                {
                    return self.fail(
                        ProviderError::bad_response(format!(
                            "cohere: the stream has more than {MAX_TOOL_CALLS} tool calls"
                        )),
                        out,
                    );
                }
                let index = self
                    .tool_index
                    .get(&cohere_index)
                    .map_or(self.tool_index.len() as u64, |(i, _)| *i);
                let call = tool_call(&message["tool_calls"]);
                let initial = message["tool_calls"]["function"]["arguments"]
                    .as_str()
                    .unwrap_or_default();
                self.tool_index
                    .insert(cohere_index, (index, !initial.is_empty()));
                self.chunk(
                    json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                           "function": {"name": call["function"]["name"], "arguments": initial}}]}),
                    None,
                    out,
                );
            }
            "tool-call-delta" => {
                let cohere_index = v["index"].as_u64().unwrap_or(0);
                let args = message["tool_calls"]["function"]["arguments"]
                    .as_str()
                    .unwrap_or_default();
                if let (false, Some(&(index, _))) =
                    (args.is_empty(), self.tool_index.get(&cohere_index))
                {
                    self.tool_index.insert(cohere_index, (index, true));
                    self.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": args}}]}),
                        None,
                        out,
                    );
                }
            }
            "tool-call-end" => {
                let cohere_index = v["index"].as_u64().unwrap_or(0);
                if let Some(&(index, false)) = self.tool_index.get(&cohere_index) {
                    self.tool_index.insert(cohere_index, (index, true));
                    self.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]}),
                        None,
                        out,
                    );
                }
            }
            "message-end" => {
                self.start(out);
                let delta = &v["delta"];
                if let Some(usage) = delta.get("usage").and_then(usage_from) {
                    self.usage = Some(usage);
                }
                let reason = delta["finish_reason"].as_str().unwrap_or("COMPLETE");
                if is_failure(reason) {
                    let detail = delta["error"]
                        .as_str()
                        .filter(|e| !e.is_empty())
                        .map_or_else(
                            || format!("the generation failed (finish_reason {reason})"),
                            str::to_owned,
                        );
                    self.record_info(out);
                    return self.fail(
                        ProviderError::new(ErrorKind::Unavailable, format!("cohere: {detail}"))
                            .with_status(503),
                        out,
                    );
                }
                let finish = finish_reason(reason);
                self.finish = Some(finish);
                self.chunk(json!({}), Some(finish), out);
                self.record_info(out);
                self.end(out);
            }
            // content-start / content-end, citation-*, debug, unknown future events.
            _ => {}
        }
        self.record_info(out);
    }

    fn record_info(&self, out: &mut StreamOutput) {
        out.info.merge(ResponseInfo {
            usage: self.usage,
            finish_reason: self.finish.map(str::to_owned),
            model: Some(self.model.clone()),
            ..Default::default()
        });
    }
}

impl StreamDecoder for ChatStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut events = Vec::new();
        let result = self.reader.feed(bytes, |e| events.push(e));
        for e in events {
            self.on_event(e, out);
        }
        if let Err(e) = result {
            if !self.ended {
                self.fail(
                    ProviderError::new(e.kind, format!("cohere: {}", e.message)),
                    out,
                );
            }
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
    }
}

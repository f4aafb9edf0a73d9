//! Anthropic Messages SSE → OpenAI chat.completion.chunk SSE.

use std::collections::HashMap;

use serde_json::{json, Value};
use switchyard_plugin_sdk::sse::{SseEvent, SseReader};
use switchyard_plugin_sdk::{
    ProviderError, RequestContext, ResponseInfo, StreamDecoder, StreamOutput, Usage,
};

use crate::response::{classify_kind, finish_reason, usage_from, usage_json};

/// Decoder of one Messages stream.
#[derive(Debug)]
pub struct MessagesStreamDecoder {
    reader: SseReader,
    include_usage: bool,
    id: String,
    model: String,
    /// Usage from `message_start` (input and cache counts), completed by `message_delta`.
    usage: Value,
    /// Anthropic content-block index → (OpenAI tool-call index, arguments sent so far).
    tool_index: HashMap<u64, (u64, bool)>,
    finish: Option<&'static str>,
    ended: bool,
}

impl MessagesStreamDecoder {
    pub fn new(context: &RequestContext) -> Self {
        MessagesStreamDecoder {
            reader: SseReader::default(),
            include_usage: context.include_usage,
            id: String::new(),
            model: String::new(),
            usage: json!({}),
            tool_index: HashMap::new(),
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

    fn current_usage(&self) -> Usage {
        usage_from(&self.usage)
    }

    fn on_event(&mut self, event: SseEvent, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let v: Value = match serde_json::from_slice(&event.data) {
            Ok(v) => v,
            Err(e) => {
                self.ended = true;
                out.error = Some(ProviderError::bad_response(format!(
                    "anthropic: stream event is not JSON: {e}"
                )));
                return;
            }
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str())
            .to_owned();
        match kind.as_str() {
            "message_start" => {
                let m = &v["message"];
                self.id = m["id"].as_str().unwrap_or_default().to_owned();
                self.model = m["model"].as_str().unwrap_or_default().to_owned();
                if let Some(u) = m.get("usage").and_then(Value::as_object) {
                    self.usage = Value::Object(u.clone());
                }
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            "content_block_start" => {
                let block = &v["content_block"];
                if block["type"] == "tool_use" {
                    let index = self.tool_index.len() as u64;
                    self.tool_index
                        .insert(v["index"].as_u64().unwrap_or(0), (index, false));
                    self.chunk(
                        json!({"tool_calls": [{"index": index, "id": block["id"], "type": "function",
                                               "function": {"name": block["name"], "arguments": ""}}]}),
                        None,
                        out,
                    );
                }
            }
            "content_block_delta" => {
                let delta = &v["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => self.chunk(json!({"content": delta["text"]}), None, out),
                    Some("thinking_delta") => {
                        self.chunk(json!({"reasoning_content": delta["thinking"]}), None, out)
                    }
                    Some("input_json_delta") => {
                        let partial = delta["partial_json"].as_str().unwrap_or("");
                        let block = v["index"].as_u64().unwrap_or(0);
                        if let (false, Some(&(index, _))) =
                            (partial.is_empty(), self.tool_index.get(&block))
                        {
                            self.tool_index.insert(block, (index, true));
                            self.chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": partial}}]}), None, out);
                        }
                    }
                    _ => {} // signature_delta, citations: nothing OpenAI-shaped to send
                }
            }
            "content_block_stop" => {
                // A tool called without arguments streams none; clients parse arguments as JSON.
                let block = v["index"].as_u64().unwrap_or(0);
                if let Some(&(index, false)) = self.tool_index.get(&block) {
                    self.tool_index.insert(block, (index, true));
                    self.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]}),
                        None,
                        out,
                    );
                }
            }
            "message_delta" => {
                if let (Some(final_usage), Some(usage)) = (
                    v.get("usage").and_then(Value::as_object),
                    self.usage.as_object_mut(),
                ) {
                    for (k, val) in final_usage {
                        if !val.is_null() {
                            usage.insert(k.clone(), val.clone());
                        }
                    }
                }
                if let Some(stop) = v["delta"]["stop_reason"].as_str() {
                    let finish = finish_reason(stop);
                    self.finish = Some(finish);
                    self.chunk(json!({}), Some(finish), out);
                }
            }
            "message_stop" => {
                let usage = self.current_usage();
                if self.include_usage {
                    let v = json!({
                        "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
                        "choices": [], "usage": usage_json(&usage),
                    });
                    out.push_data(v.to_string().as_bytes());
                }
                out.sse.extend_from_slice(b"data: [DONE]\n\n");
                out.done = true;
                self.ended = true;
            }
            "error" => {
                let e = &v["error"];
                let message = e["message"].as_str().unwrap_or("stream error");
                out.error = Some(classify_kind(
                    e["type"].as_str().unwrap_or(""),
                    500,
                    message,
                ));
                self.ended = true;
            }
            _ => {} // ping, unknown future events
        }
        out.info.merge(ResponseInfo {
            usage: (self.usage.as_object().is_some_and(|u| !u.is_empty()))
                .then(|| self.current_usage()),
            finish_reason: self.finish.map(str::to_owned),
            model: (!self.model.is_empty()).then(|| self.model.clone()),
            ..Default::default()
        });
    }
}

impl StreamDecoder for MessagesStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        let mut events = Vec::new();
        let result = self.reader.feed(bytes, |e| events.push(e));
        for e in events {
            self.on_event(e, out);
        }
        if let Err(e) = result {
            self.ended = true;
            out.error.get_or_insert(e);
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        let mut events = Vec::new();
        self.reader.finish(|e| events.push(e));
        for e in events {
            self.on_event(e, out);
        }
    }
}

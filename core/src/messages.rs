//! The Anthropic Messages API inbound (`POST /v1/messages`): Anthropic SDK clients and coding
//! agents talk to any model group. A Messages request becomes an OpenAI chat request, runs
//! through the same path as chat (keys, budgets, router, cost, metrics), and the answer — JSON,
//! SSE stream or error — is turned back into Anthropic's shapes.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::GatewayError;

fn invalid(message: impl Into<String>, param: &str) -> GatewayError {
    GatewayError::invalid_request(message, Some(param))
}

/// Text of an Anthropic `content` (a string, or blocks of which the text ones count).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An OpenAI content part for an Anthropic image block.
fn image_part(block: &Value) -> Result<Value, GatewayError> {
    let source = &block["source"];
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or_default()
        ),
        Some("url") => source["url"].as_str().unwrap_or_default().to_owned(),
        _ => {
            return Err(invalid(
                "an image block needs a base64 or url source",
                "messages",
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// Translates a Messages request into an OpenAI chat request body. Returns it and whether the
/// client asked for a stream.
pub(crate) fn to_chat_request(body: &[u8]) -> Result<(Bytes, bool), GatewayError> {
    let req: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::invalid_request(format!("request body is not a JSON object: {e}"), None)
            .with_code("invalid_json")
    })?;
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing required parameter 'model'", "model"))?;
    let max_tokens = req
        .get("max_tokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("missing required parameter 'max_tokens'", "max_tokens"))?;
    let Some(Value::Array(messages)) = req.get("messages") else {
        return Err(invalid("'messages' must be an array", "messages"));
    };
    let mut out_messages = Vec::new();
    match req.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => out_messages.push(json!({"role": "system", "content": text_of(system)})),
    }
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        if role != "user" && role != "assistant" {
            return Err(invalid(
                format!("messages[{i}].role must be 'user' or 'assistant'"),
                "messages",
            ));
        }
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => {
                return Err(invalid(
                    format!("messages[{i}].content is missing"),
                    "messages",
                ))
            }
        };
        if role == "assistant" {
            let text: Vec<&str> = blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            let calls: Vec<Value> = blocks
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .map(|b| {
                    json!({"id": b["id"], "type": "function", "function": {
                        "name": b["name"], "arguments": b["input"].to_string()}})
                })
                .collect();
            let mut msg = json!({"role": "assistant",
                                 "content": if text.is_empty() { Value::Null } else { json!(text.join("")) }});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            out_messages.push(msg);
            continue;
        }
        // A user turn: tool results become tool messages (first), the rest one user message.
        let mut parts = Vec::new();
        for b in &blocks {
            match b["type"].as_str() {
                Some("tool_result") => out_messages.push(json!({
                    "role": "tool",
                    "tool_call_id": b["tool_use_id"],
                    "content": text_of(&b["content"]),
                })),
                Some("text") => parts.push(json!({"type": "text", "text": b["text"]})),
                Some("image") => parts.push(image_part(b)?),
                _ => {}
            }
        }
        if !parts.is_empty() {
            let content = if parts.len() == 1 && parts[0]["type"] == "text" {
                parts[0]["text"].clone()
            } else {
                Value::Array(parts)
            };
            out_messages.push(json!({"role": "user", "content": content}));
        }
    }
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut out = json!({"model": model, "messages": out_messages, "max_tokens": max_tokens,
                         "stream": stream});
    if stream {
        // The translation needs the usage for message_delta.
        out["stream_options"] = json!({"include_usage": true});
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("stop_sequences", "stop"),
        ("thinking", "thinking"),
    ] {
        if let Some(v) = req.get(from).filter(|v| !v.is_null()) {
            out[to] = v.clone();
        }
    }
    if let Some(user) = req.get("metadata").and_then(|m| m.get("user_id")) {
        out["user"] = user.clone();
    }
    if let Some(Value::Array(tools)) = req.get("tools") {
        out["tools"] = Value::Array(
            tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {"name": t["name"],
                        "description": t.get("description").cloned().unwrap_or(Value::Null),
                        "parameters": t.get("input_schema").cloned().unwrap_or(json!({"type": "object"}))}})
                })
                .collect(),
        );
    }
    if let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null()) {
        out["tool_choice"] = match choice["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
            _ => {
                return Err(invalid(
                    "tool_choice.type must be auto, any, tool or none",
                    "tool_choice",
                ))
            }
        };
    }
    Ok((Bytes::from(out.to_string()), stream))
}

fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage from an OpenAI usage object.
fn usage(u: &Value) -> Value {
    let cached = u["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    let prompt = u["prompt_tokens"].as_u64().unwrap_or(0);
    json!({"input_tokens": prompt.saturating_sub(cached),
           "output_tokens": u["completion_tokens"].as_u64().unwrap_or(0),
           "cache_read_input_tokens": cached,
           "cache_creation_input_tokens": 0})
}

/// Translates an OpenAI chat completion into an Anthropic message.
pub(crate) fn to_message(body: &[u8], model: &str) -> Bytes {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let choice = &v["choices"][0];
    let msg = &choice["message"];
    let mut content = Vec::new();
    if let Some(r) = msg["reasoning_content"].as_str().filter(|r| !r.is_empty()) {
        content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
    }
    if let Some(t) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    if let Some(calls) = msg["tool_calls"].as_array() {
        for c in calls {
            let args = c["function"]["arguments"].as_str().unwrap_or("{}");
            content.push(
                json!({"type": "tool_use", "id": c["id"], "name": c["function"]["name"],
                "input": serde_json::from_str::<Value>(args).unwrap_or(json!({}))}),
            );
        }
    }
    let out = json!({
        "id": format!("msg_{}", v["id"].as_str().unwrap_or("switchyard")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": usage(&v["usage"]),
    });
    Bytes::from(out.to_string())
}

/// Translates an OpenAI error body into Anthropic's error shape.
pub(crate) fn to_error(body: &[u8], status: u16) -> Bytes {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().unwrap_or("error").to_owned();
    let kind = match status {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    };
    Bytes::from(json!({"type": "error", "error": {"type": kind, "message": message}}).to_string())
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// Turns OpenAI `chat.completion.chunk` SSE into Anthropic's stream events.
#[derive(Debug)]
pub(crate) struct StreamTranslator {
    model: String,
    buffer: Vec<u8>,
    started: bool,
    /// The open content block: its index and kind (`text`, `thinking`, or a tool index).
    open: Option<(usize, Block)>,
    next_index: usize,
    stop: Option<String>,
    usage: Value,
    ended: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Block {
    Text,
    Thinking,
    Tool(u64),
}

impl StreamTranslator {
    pub(crate) fn new(model: &str) -> Self {
        StreamTranslator {
            model: model.to_owned(),
            buffer: Vec::new(),
            started: false,
            open: None,
            next_index: 0,
            stop: None,
            usage: json!({}),
            ended: false,
        }
    }

    fn close(&mut self, out: &mut String) {
        if let Some((index, _)) = self.open.take() {
            out.push_str(&event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// Opens a block of `kind` unless it is the open one.
    fn open(&mut self, kind: Block, start: Value, out: &mut String) -> usize {
        if let Some((index, open)) = &self.open {
            if *open == kind {
                return *index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push_str(&event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        self.open = Some((index, kind));
        index
    }

    fn chunk(&mut self, v: &Value, out: &mut String) {
        if !self.started {
            self.started = true;
            out.push_str(&event(
                "message_start",
                &json!({"type": "message_start", "message": {
                "id": format!("msg_{}", v["id"].as_str().unwrap_or("switchyard")),
                "type": "message", "role": "assistant", "model": self.model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ));
        }
        if v["usage"].is_object() {
            self.usage = usage(&v["usage"]);
        }
        let Some(choice) = v["choices"].get(0) else {
            return;
        };
        let delta = &choice["delta"];
        if let Some(r) = delta["reasoning_content"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            let i = self.open(
                Block::Thinking,
                json!({"type": "thinking", "thinking": ""}),
                out,
            );
            out.push_str(&event(
                "content_block_delta",
                &json!({"type": "content_block_delta",
                "index": i, "delta": {"type": "thinking_delta", "thinking": r}}),
            ));
        }
        if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            let i = self.open(Block::Text, json!({"type": "text", "text": ""}), out);
            out.push_str(&event(
                "content_block_delta",
                &json!({"type": "content_block_delta",
                "index": i, "delta": {"type": "text_delta", "text": t}}),
            ));
        }
        if let Some(calls) = delta["tool_calls"].as_array() {
            for c in calls {
                let tool = c["index"].as_u64().unwrap_or(0);
                let i = self.open(
                    Block::Tool(tool),
                    json!({"type": "tool_use", "id": c["id"],
                    "name": c["function"]["name"], "input": {}}),
                    out,
                );
                if let Some(args) = c["function"]["arguments"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                {
                    out.push_str(&event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta",
                        "index": i, "delta": {"type": "input_json_delta", "partial_json": args}}),
                    ));
                }
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.stop = Some(stop_reason(Some(f)).to_owned());
        }
    }

    fn end(&mut self, out: &mut String) {
        if self.ended || !self.started {
            return;
        }
        self.ended = true;
        self.close(out);
        out.push_str(&event("message_delta", &json!({"type": "message_delta",
            "delta": {"stop_reason": self.stop.as_deref().unwrap_or("end_turn"), "stop_sequence": null},
            "usage": self.usage})));
        out.push_str(&event("message_stop", &json!({"type": "message_stop"})));
    }

    /// Feeds OpenAI SSE bytes (`None` at the end of the stream); returns Anthropic SSE bytes.
    pub(crate) fn feed(&mut self, bytes: Option<&[u8]>) -> Bytes {
        let mut out = String::new();
        match bytes {
            Some(b) => self.buffer.extend_from_slice(b),
            None => {
                self.end(&mut out);
                return Bytes::from(out);
            }
        }
        while let Some(pos) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let raw: Vec<u8> = self.buffer.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&raw);
            for line in text.lines() {
                let Some(data) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    self.end(&mut out);
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if v.get("error").is_some() {
                    let status = v["error"]["code"].as_u64().unwrap_or(500) as u16;
                    let e: Value = serde_json::from_slice(&to_error(data.as_bytes(), status))
                        .unwrap_or(Value::Null);
                    out.push_str(&event("error", &e));
                    self.ended = true;
                    continue;
                }
                self.chunk(&v, &mut out);
            }
        }
        Bytes::from(out)
    }
}

/// Estimated input tokens of a Messages request (`/v1/messages/count_tokens`): characters / 4
/// of the system prompt, messages and tool definitions.
pub(crate) fn count_tokens(body: &[u8]) -> Result<Bytes, GatewayError> {
    let req: Value = serde_json::from_slice(body).map_err(|e| {
        GatewayError::invalid_request(format!("request body is not a JSON object: {e}"), None)
            .with_code("invalid_json")
    })?;
    if !req["messages"].is_array() {
        return Err(invalid("'messages' must be an array", "messages"));
    }
    let mut chars = text_of(&req["system"]).chars().count();
    for m in req["messages"].as_array().into_iter().flatten() {
        chars += match &m["content"] {
            Value::String(s) => s.chars().count(),
            other => other.to_string().chars().count(),
        } + 16;
    }
    chars += req["tools"].to_string().chars().count();
    Ok(Bytes::from(
        json!({"input_tokens": chars.div_ceil(4)}).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_translate_system_tools_and_tool_results() {
        let body = br#"{"model":"m","max_tokens":64,"system":"Be brief.",
            "tools":[{"name":"get_weather","description":"w","input_schema":{"type":"object"}}],
            "tool_choice":{"type":"any"},
            "messages":[{"role":"user","content":"Weather?"},
              {"role":"assistant","content":[{"type":"tool_use","id":"tu_1","name":"get_weather","input":{"city":"Paris"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"tu_1","content":"sunny"},{"type":"text","text":"thanks"}]}]}"#;
        let (out, stream) = to_chat_request(body).unwrap();
        assert!(!stream);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            v["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(
            v["messages"][3],
            json!({"role": "tool", "tool_call_id": "tu_1", "content": "sunny"})
        );
        assert_eq!(
            v["messages"][4],
            json!({"role": "user", "content": "thanks"})
        );
        assert_eq!(v["tool_choice"], "required");
        assert_eq!(
            v["tools"][0]["function"]["parameters"],
            json!({"type": "object"})
        );
        let e = to_chat_request(br#"{"model":"m","messages":[]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn answers_translate_to_messages() {
        let body = br#"{"id":"c1","choices":[{"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let v: Value = serde_json::from_slice(&to_message(body, "claude")).unwrap();
        assert_eq!(v["content"][0], json!({"type": "text", "text": "Hi"}));
        assert_eq!(v["content"][1]["input"], json!({"a": 1}));
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(v["usage"]["input_tokens"], 6);
        assert_eq!(v["usage"]["cache_read_input_tokens"], 4);
    }

    #[test]
    fn streams_translate_to_anthropic_events_whatever_the_splits() {
        let sse = concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let whole = {
            let mut t = StreamTranslator::new("m");
            let mut out = t.feed(Some(sse.as_bytes())).to_vec();
            out.extend_from_slice(&t.feed(None));
            String::from_utf8(out).unwrap()
        };
        let events: Vec<&str> = whole
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            events,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(whole.contains("\"stop_reason\":\"tool_use\""));
        assert!(whole.contains("\"output_tokens\":2"));
        for split in 1..sse.len() {
            let mut t = StreamTranslator::new("m");
            let mut out = t.feed(Some(&sse.as_bytes()[..split])).to_vec();
            out.extend_from_slice(&t.feed(Some(&sse.as_bytes()[split..])));
            out.extend_from_slice(&t.feed(None));
            assert_eq!(String::from_utf8(out).unwrap(), whole, "split at {split}");
        }
    }
}

//! The OpenAI Responses API (`POST /v1/responses`) on chat-only providers: a Responses request
//! becomes an OpenAI chat request, runs on the chat path (keys, budgets, router, cost,
//! metrics), and the answer — JSON or SSE stream — is turned into a `response` object or the
//! Responses event stream. Deployments that serve `responses` natively never come here.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::error::GatewayError;

fn invalid(message: impl Into<String>, param: &str) -> GatewayError {
    GatewayError::invalid_request(message, Some(param))
}

/// A Responses request as a chat request, and what the gateway keeps of it.
#[derive(Debug, Clone)]
pub(crate) struct ChatTranslation {
    /// The OpenAI chat request body.
    pub(crate) chat: Bytes,
    pub(crate) stream: bool,
    /// The request's own input as items (a string input is one user message), for the store.
    pub(crate) input_items: Vec<Value>,
    /// `store` (default true): whether the response is kept for `previous_response_id`.
    pub(crate) store: bool,
}

/// Text of a message item's `content` (a string, or parts of which the text ones count).
fn text_parts(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p["type"].as_str() {
                Some("input_text" | "output_text" | "text") => {
                    Some(json!({"type": "text", "text": p["text"].as_str().unwrap_or("")}))
                }
                Some("refusal") => {
                    Some(json!({"type": "text", "text": p["refusal"].as_str().unwrap_or("")}))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A message item's content as chat content: a string when it is text only, else parts.
fn chat_content(content: &Value) -> Result<Value, GatewayError> {
    let Value::Array(parts) = content else {
        return Ok(content.clone());
    };
    let mut out = Vec::with_capacity(parts.len());
    let mut text_only = true;
    for p in parts {
        match p["type"].as_str() {
            Some("input_image") => {
                if p.get("file_id").is_some_and(|f| !f.is_null()) {
                    return Err(invalid(
                        "input_image with a file_id is not supported: send an image_url",
                        "input",
                    ));
                }
                let url = p["image_url"]
                    .as_str()
                    .ok_or_else(|| invalid("an input_image needs an image_url", "input"))?;
                let mut image = json!({"url": url});
                if let Some(detail) = p.get("detail") {
                    image["detail"] = detail.clone();
                }
                out.push(json!({"type": "image_url", "image_url": image}));
                text_only = false;
            }
            Some("input_file") => {
                return Err(invalid(
                    "input_file parts are not supported on this model's provider",
                    "input",
                ))
            }
            _ => out.extend(text_parts(&Value::Array(vec![p.clone()]))),
        }
    }
    if text_only {
        let text: Vec<&str> = out.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(Value::String(text.join("")));
    }
    Ok(Value::Array(out))
}

/// The request's `input` as a list of items.
fn input_items(input: &Value) -> Result<Vec<Value>, GatewayError> {
    match input {
        Value::String(s) => Ok(vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": s}]}),
        ]),
        Value::Array(items) => Ok(items.clone()),
        _ => Err(invalid(
            "'input' must be a string or a list of input items",
            "input",
        )),
    }
}

/// Chat messages for a list of Responses items (consecutive function calls become one
/// assistant message with several tool calls).
fn chat_messages(items: &[Value], messages: &mut Vec<Value>) -> Result<(), GatewayError> {
    for item in items {
        let kind = item["type"]
            .as_str()
            .unwrap_or(if item.get("role").is_some() {
                "message"
            } else {
                ""
            });
        match kind {
            "message" => {
                let role = match item["role"].as_str() {
                    Some("developer") => "system",
                    Some(r @ ("user" | "assistant" | "system")) => r,
                    other => {
                        return Err(invalid(
                            format!("unknown message role {other:?} in 'input'"),
                            "input",
                        ))
                    }
                };
                messages.push(json!({"role": role, "content": chat_content(&item["content"])?}));
            }
            "function_call" => {
                let call = json!({"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}});
                match messages.last_mut() {
                    Some(last)
                        if last["role"] == "assistant" && last.get("tool_calls").is_some() =>
                    {
                        if let Some(calls) = last["tool_calls"].as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => {
                let output = match &item["output"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                messages.push(
                    json!({"role": "tool", "tool_call_id": item["call_id"], "content": output}),
                );
            }
            // Reasoning is the provider's own; another provider cannot use it.
            "reasoning" => {}
            other => {
                return Err(invalid(
                    format!(
                        "input items of type '{other}' are not supported on this model's provider"
                    ),
                    "input",
                ))
            }
        }
    }
    Ok(())
}

/// A Responses request as a chat request. `history` are the input and output items of the
/// earlier turns (`previous_response_id`, from the gateway's store), put before the input.
pub(crate) fn to_chat_request(
    body: &[u8],
    history: &[Value],
) -> Result<ChatTranslation, GatewayError> {
    let req: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::invalid_request(format!("request body is not a JSON object: {e}"), None)
            .with_code("invalid_json")
    })?;
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing required parameter 'model'", "model"))?;
    let input = input_items(
        req.get("input")
            .ok_or_else(|| invalid("missing required parameter 'input'", "input"))?,
    )?;
    let mut messages = Vec::new();
    if let Some(instructions) = req.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    chat_messages(history, &mut messages)?;
    chat_messages(&input, &mut messages)?;
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut chat = json!({"model": model, "messages": messages});
    if stream {
        chat["stream"] = json!(true);
        chat["stream_options"] = json!({"include_usage": true});
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("user", "user"),
        ("max_output_tokens", "max_tokens"),
    ] {
        if let Some(v) = req.get(from).filter(|v| !v.is_null()) {
            chat[to] = v.clone();
        }
    }
    if let Some(effort) = req.get("reasoning").and_then(|r| r.get("effort")) {
        if !effort.is_null() {
            chat["reasoning_effort"] = effort.clone();
        }
    }
    if let Some(format) = req.get("text").and_then(|t| t.get("format")) {
        match format["type"].as_str() {
            Some("text") | None => {}
            Some("json_object") => chat["response_format"] = json!({"type": "json_object"}),
            Some("json_schema") => {
                let mut schema = json!({"name": format["name"], "schema": format["schema"]});
                if let Some(strict) = format.get("strict") {
                    schema["strict"] = strict.clone();
                }
                chat["response_format"] = json!({"type": "json_schema", "json_schema": schema});
            }
            Some(other) => {
                return Err(invalid(
                    format!("text.format type '{other}' is not supported"),
                    "text",
                ))
            }
        }
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array) {
        let mut out = Vec::with_capacity(tools.len());
        for t in tools {
            match t["type"].as_str() {
                Some("function") => {
                    let mut f = json!({"name": t["name"], "parameters": t["parameters"]});
                    if let Some(d) = t.get("description") {
                        f["description"] = d.clone();
                    }
                    if let Some(s) = t.get("strict") {
                        f["strict"] = s.clone();
                    }
                    out.push(json!({"type": "function", "function": f}));
                }
                other => {
                    return Err(invalid(
                        format!(
                            "the built-in tool '{}' is only available on providers that serve \
                             the Responses API natively",
                            other.unwrap_or("?")
                        ),
                        "tools",
                    )
                    .with_code("unsupported_tool"))
                }
            }
        }
        if !out.is_empty() {
            chat["tools"] = Value::Array(out);
        }
    }
    if let Some(choice) = req.get("tool_choice") {
        chat["tool_choice"] = match choice {
            Value::String(_) => choice.clone(),
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
                json!({"type": "function", "function": {"name": o.get("name").cloned().unwrap_or(Value::Null)}})
            }
            _ => return Err(invalid("unsupported 'tool_choice'", "tool_choice")),
        };
    }
    Ok(ChatTranslation {
        chat: Bytes::from(serde_json::to_vec(&chat).unwrap_or_default()),
        stream,
        input_items: input,
        store: req.get("store").and_then(Value::as_bool).unwrap_or(true),
    })
}

/// Responses `usage` from chat `usage`.
fn usage_of(chat_usage: &Value) -> Value {
    let input = chat_usage["prompt_tokens"].as_u64().unwrap_or(0);
    let output = chat_usage["completion_tokens"].as_u64().unwrap_or(0);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens":
            chat_usage["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0)},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens":
            chat_usage["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap_or(0)},
        "total_tokens": chat_usage["total_tokens"].as_u64().unwrap_or(input + output),
    })
}

/// The `response` object around `output`, echoing the request's settings as OpenAI does.
fn response_object(
    id: &str,
    request: &Value,
    created_at: u64,
    status: &str,
    output: Vec<Value>,
    usage: Value,
) -> Value {
    let get = |k: &str| request.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": null,
        "incomplete_details": if status == "incomplete" {
            json!({"reason": "max_output_tokens"})
        } else {
            Value::Null
        },
        "instructions": get("instructions"),
        "max_output_tokens": get("max_output_tokens"),
        "model": get("model"),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls").cloned().unwrap_or(json!(true)),
        "previous_response_id": get("previous_response_id"),
        "temperature": request.get("temperature").cloned().unwrap_or(json!(1.0)),
        "top_p": request.get("top_p").cloned().unwrap_or(json!(1.0)),
        "tool_choice": request.get("tool_choice").cloned().unwrap_or(json!("auto")),
        "tools": request.get("tools").cloned().unwrap_or(json!([])),
        "text": request.get("text").cloned().unwrap_or(json!({"format": {"type": "text"}})),
        "store": request.get("store").cloned().unwrap_or(json!(true)),
        "metadata": request.get("metadata").cloned().unwrap_or(json!({})),
        "usage": usage,
    })
}

fn message_item(id: &str, text: &str) -> Value {
    json!({"type": "message", "id": id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn reasoning_item(id: &str, text: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]})
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": id, "status": "completed", "call_id": call_id,
        "name": name, "arguments": arguments})
}

/// A chat completion JSON as a Responses `response` object.
pub(crate) fn to_response(
    chat: &[u8],
    response_id: &str,
    request: &Value,
    created_at: u64,
) -> Result<Value, GatewayError> {
    let v: Value = serde_json::from_slice(chat).map_err(|e| {
        GatewayError::new(
            switchyard_plugin_sdk::ErrorKind::BadResponse,
            format!("the chat answer is not JSON: {e}"),
        )
    })?;
    let choice = &v["choices"][0];
    let msg = &choice["message"];
    let mut output = Vec::new();
    if let Some(r) = msg["reasoning_content"].as_str().filter(|r| !r.is_empty()) {
        output.push(reasoning_item(&format!("rs_{response_id}"), r));
    }
    if let Some(text) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        output.push(message_item(&format!("msg_{response_id}"), text));
    }
    for (i, call) in msg["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        output.push(call_item(
            &format!("fc_{response_id}_{i}"),
            call["id"].as_str().unwrap_or(""),
            call["function"]["name"].as_str().unwrap_or(""),
            call["function"]["arguments"].as_str().unwrap_or("{}"),
        ));
    }
    let status = if choice["finish_reason"] == "length" {
        "incomplete"
    } else {
        "completed"
    };
    Ok(response_object(
        response_id,
        request,
        created_at,
        status,
        output,
        usage_of(&v["usage"]),
    ))
}

/// The output items of a response as input items of a later turn.
pub(crate) fn output_as_input(response: &Value) -> Vec<Value> {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| match item["type"].as_str() {
            Some("message") => Some(json!({"type": "message", "role": "assistant",
                "content": item["content"]})),
            Some("function_call") => Some(json!({"type": "function_call",
                "call_id": item["call_id"], "name": item["name"], "arguments": item["arguments"]})),
            _ => None,
        })
        .collect()
}

/// One tool call being streamed.
#[derive(Debug)]
struct StreamedCall {
    /// `index` of the call in the chat deltas.
    chat_index: usize,
    output_index: usize,
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// Chat SSE frames → Responses events (`event: <type>\ndata: <json>\n\n`).
#[derive(Debug)]
pub(crate) struct StreamTranslator {
    id: String,
    request: Value,
    created_at: u64,
    buffer: Vec<u8>,
    sequence: u64,
    started: bool,
    /// Output index and text of the message item, once it began.
    text: Option<(usize, String)>,
    /// Index and text of the reasoning item, once it began.
    reasoning: Option<(usize, String)>,
    calls: Vec<StreamedCall>,
    next_index: usize,
    usage: Value,
    finish: Option<String>,
    completed: Option<Value>,
}

impl StreamTranslator {
    pub(crate) fn new(response_id: String, request: Value, created_at: u64) -> Self {
        StreamTranslator {
            id: response_id,
            request,
            created_at,
            buffer: Vec::new(),
            sequence: 0,
            started: false,
            text: None,
            reasoning: None,
            calls: Vec::new(),
            next_index: 0,
            usage: json!({}),
            finish: None,
            completed: None,
        }
    }

    /// The finished response once the stream completed, for the store.
    pub(crate) fn completed(&self) -> Option<&Value> {
        self.completed.as_ref()
    }

    fn event(&mut self, out: &mut String, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    }

    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let r = response_object(
            &self.id,
            &self.request,
            self.created_at,
            "in_progress",
            Vec::new(),
            Value::Null,
        );
        self.event(out, "response.created", json!({"response": r.clone()}));
        self.event(out, "response.in_progress", json!({"response": r}));
    }

    fn text_delta(&mut self, out: &mut String, delta: &str) {
        if self.text.is_none() {
            let index = self.next_index;
            self.next_index += 1;
            self.text = Some((index, String::new()));
            let item = json!({"type": "message", "id": format!("msg_{}", self.id),
                "status": "in_progress", "role": "assistant", "content": []});
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            self.event(
                out,
                "response.content_part.added",
                json!({"item_id": format!("msg_{}", self.id), "output_index": index,
                    "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []}}),
            );
        }
        let index = match &mut self.text {
            Some((index, text)) => {
                text.push_str(delta);
                *index
            }
            None => return,
        };
        self.event(
            out,
            "response.output_text.delta",
            json!({"item_id": format!("msg_{}", self.id), "output_index": index,
                "content_index": 0, "delta": delta}),
        );
    }

    fn reasoning_delta(&mut self, out: &mut String, delta: &str) {
        if self.reasoning.is_none() {
            let index = self.next_index;
            self.next_index += 1;
            self.reasoning = Some((index, String::new()));
            let item = json!({"type": "reasoning", "id": format!("rs_{}", self.id), "summary": []});
            self.event(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
        }
        let index = match &mut self.reasoning {
            Some((index, text)) => {
                text.push_str(delta);
                *index
            }
            None => return,
        };
        self.event(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": format!("rs_{}", self.id), "output_index": index,
                "summary_index": 0, "delta": delta}),
        );
    }

    fn tool_delta(&mut self, out: &mut String, call: &Value) {
        let position = call["index"].as_u64().unwrap_or(0) as usize;
        let known = self.calls.iter().position(|c| c.chat_index == position);
        let at = match known {
            Some(at) => at,
            None => {
                let index = self.next_index;
                self.next_index += 1;
                let call_id = call["id"].as_str().unwrap_or("").to_owned();
                let name = call["function"]["name"].as_str().unwrap_or("").to_owned();
                let item_id = format!("fc_{}_{position}", self.id);
                let item = json!({"type": "function_call", "id": item_id, "status": "in_progress",
                    "call_id": call_id, "name": name, "arguments": ""});
                self.event(
                    out,
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                );
                self.calls.push(StreamedCall {
                    chat_index: position,
                    output_index: index,
                    item_id,
                    call_id,
                    name,
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        if let Some(piece) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            self.calls[at].arguments.push_str(piece);
            let item_id = self.calls[at].item_id.clone();
            let index = self.calls[at].output_index;
            self.event(
                out,
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": piece}),
            );
        }
    }

    fn finish(&mut self, out: &mut String) {
        self.start(out);
        let mut items: Vec<(usize, Value)> = Vec::new();
        if let Some((index, text)) = self.reasoning.clone() {
            let item = reasoning_item(&format!("rs_{}", self.id), &text);
            self.event(
                out,
                "response.output_item.done",
                json!({"output_index": index, "item": item.clone()}),
            );
            items.push((index, item));
        }
        if let Some((index, text)) = self.text.clone() {
            let item_id = format!("msg_{}", self.id);
            self.event(
                out,
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "text": text}),
            );
            self.event(
                out,
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": []}}),
            );
            let item = message_item(&item_id, &text);
            self.event(
                out,
                "response.output_item.done",
                json!({"output_index": index, "item": item.clone()}),
            );
            items.push((index, item));
        }
        for at in 0..self.calls.len() {
            let c = &self.calls[at];
            let index = c.output_index;
            let item = call_item(&c.item_id, &c.call_id, &c.name, &c.arguments);
            let (item_id, arguments) = (c.item_id.clone(), c.arguments.clone());
            self.event(
                out,
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": index, "arguments": arguments}),
            );
            self.event(
                out,
                "response.output_item.done",
                json!({"output_index": index, "item": item.clone()}),
            );
            items.push((index, item));
        }
        items.sort_by_key(|(i, _)| *i);
        let status = if self.finish.as_deref() == Some("length") {
            "incomplete"
        } else {
            "completed"
        };
        let response = response_object(
            &self.id,
            &self.request,
            self.created_at,
            status,
            items.into_iter().map(|(_, item)| item).collect(),
            usage_of(&self.usage),
        );
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.event(out, kind, json!({"response": response.clone()}));
        self.completed = Some(response);
    }

    fn chunk(&mut self, out: &mut String, v: &Value) {
        if let Some(error) = v.get("error") {
            self.start(out);
            let mut response = response_object(
                &self.id,
                &self.request,
                self.created_at,
                "failed",
                Vec::new(),
                Value::Null,
            );
            response["error"] = json!({"code": error["code"].as_str().unwrap_or("server_error"),
                "message": error["message"].as_str().unwrap_or("upstream error")});
            self.event(out, "response.failed", json!({"response": response}));
            self.completed = None;
            return;
        }
        self.start(out);
        if v.get("usage").is_some_and(|u| !u.is_null()) {
            self.usage = v["usage"].clone();
        }
        let Some(choice) = v["choices"].get(0) else {
            return;
        };
        let delta = &choice["delta"];
        if let Some(r) = delta["reasoning_content"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            self.reasoning_delta(out, r);
        }
        if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.text_delta(out, t);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.tool_delta(out, call);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_owned());
        }
    }

    /// Feeds bytes of the chat path's SSE output; returns the Responses events they make.
    pub(crate) fn feed(&mut self, bytes: Bytes) -> Bytes {
        self.buffer.extend_from_slice(&bytes);
        let mut out = String::new();
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&frame);
            for line in text.lines() {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    if self.completed.is_none() && self.finish.is_some() {
                        self.finish(&mut out);
                    }
                    continue;
                }
                if let Ok(v) = serde_json::from_str::<Value>(data) {
                    self.chunk(&mut out, &v);
                }
            }
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_of(body: Value) -> Value {
        let t = to_chat_request(body.to_string().as_bytes(), &[]).unwrap();
        serde_json::from_slice(&t.chat).unwrap()
    }

    #[test]
    fn a_request_becomes_chat_with_instructions_tools_and_format() {
        let chat = chat_of(json!({
            "model": "m", "instructions": "Be brief.", "max_output_tokens": 50,
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "https://x/y.png"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                {"type": "reasoning", "id": "rs_1", "summary": []}
            ],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
            "reasoning": {"effort": "low"}, "stream": true
        }));
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            chat["messages"][1]["content"][1]["image_url"]["url"],
            "https://x/y.png"
        );
        // Two consecutive calls, one assistant message.
        assert_eq!(
            chat["messages"][2]["tool_calls"].as_array().unwrap().len(),
            2
        );
        assert_eq!(
            chat["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "ok"})
        );
        assert_eq!(chat["messages"].as_array().unwrap().len(), 4);
        assert_eq!(chat["max_tokens"], 50);
        assert_eq!(chat["tools"][0]["function"]["name"], "f");
        assert_eq!(chat["tool_choice"]["function"]["name"], "f");
        assert_eq!(chat["response_format"]["json_schema"]["name"], "s");
        assert_eq!(chat["reasoning_effort"], "low");
        assert_eq!(chat["stream_options"]["include_usage"], true);
    }

    #[test]
    fn bad_requests_name_the_field() {
        let e = to_chat_request(br#"{"model":"m"}"#, &[]).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = to_chat_request(
            br#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("unsupported_tool"));
        assert!(e.message.contains("web_search"));
    }

    #[test]
    fn history_comes_first_and_output_round_trips_as_input() {
        let response = to_response(
            json!({"choices": [{"message": {"role": "assistant", "content": "Paris",
                "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
                .to_string()
                .as_bytes(),
            "resp_1",
            &json!({"model": "m"}),
            7,
        )
        .unwrap();
        assert_eq!(response["status"], "completed");
        assert_eq!(response["output"][0]["content"][0]["text"], "Paris");
        assert_eq!(response["output"][1]["call_id"], "c9");
        assert_eq!(response["usage"]["input_tokens"], 3);
        let mut history = vec![json!({"role": "user", "content": "capital?"})];
        history.extend(output_as_input(&response));
        let t = to_chat_request(br#"{"model":"m","input":"and Spain?"}"#, &history).unwrap();
        let chat: Value = serde_json::from_slice(&t.chat).unwrap();
        let m = chat["messages"].as_array().unwrap();
        assert_eq!(m[0]["content"], "capital?");
        assert_eq!(m[1]["role"], "assistant");
        assert_eq!(m[2]["tool_calls"][0]["id"], "c9");
        assert_eq!(m[3]["content"], "and Spain?");
        assert_eq!(t.input_items.len(), 1);
    }

    fn stream_of(frames: &[Value]) -> String {
        let mut s: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
        s.push_str("data: [DONE]\n\n");
        s
    }

    fn types(out: &str) -> Vec<String> {
        out.lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_text_stream_becomes_responses_events_whole_or_byte_by_byte() {
        let input = stream_of(&[
            json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]}),
            json!({"choices": [{"delta": {"content": "Hel"}}]}),
            json!({"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}),
        ]);
        let mut whole = StreamTranslator::new("resp_x".into(), json!({"model": "m"}), 1);
        let out = String::from_utf8(whole.feed(Bytes::from(input.clone())).to_vec()).unwrap();
        assert_eq!(
            types(&out),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let done = whole.completed().unwrap();
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["usage"]["output_tokens"], 2);
        let numbers: Vec<u64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| {
                serde_json::from_str::<Value>(d).unwrap()["sequence_number"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());

        let mut bytewise = StreamTranslator::new("resp_x".into(), json!({"model": "m"}), 1);
        let mut out2 = Vec::new();
        for b in input.bytes() {
            out2.extend_from_slice(&bytewise.feed(Bytes::copy_from_slice(&[b])));
        }
        assert_eq!(String::from_utf8(out2).unwrap(), out);
    }

    #[test]
    fn a_tool_call_stream_and_a_mid_stream_error() {
        let input = stream_of(&[
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}, "finish_reason": "tool_calls"}]}),
        ]);
        let mut t = StreamTranslator::new("resp_t".into(), json!({"model": "m"}), 1);
        let out = String::from_utf8(t.feed(Bytes::from(input)).to_vec()).unwrap();
        assert!(types(&out).contains(&"response.function_call_arguments.done".to_owned()));
        let done = t.completed().unwrap();
        assert_eq!(done["output"][0]["type"], "function_call");
        assert_eq!(done["output"][0]["call_id"], "call_1");
        assert_eq!(done["output"][0]["arguments"], "{\"city\":\"Paris\"}");

        let mut t = StreamTranslator::new("resp_e".into(), json!({"model": "m"}), 1);
        let out = t.feed(Bytes::from(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"code\":\"server_error\"}}\n\ndata: [DONE]\n\n",
        ));
        let out = String::from_utf8(out.to_vec()).unwrap();
        assert_eq!(
            types(&out).last().map(String::as_str),
            Some("response.failed")
        );
        assert!(out.contains("boom"));
        assert!(t.completed().is_none());
    }
}

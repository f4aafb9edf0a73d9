//! The OpenAI Responses API (`POST /v1/responses`) on chat-only providers: a Responses request
//! becomes an OpenAI chat request, runs on the chat path (keys, budgets, router, cost,
//! metrics), and the answer — JSON or SSE stream — is turned into a `response` object or the
//! Responses event stream. Deployments that serve `responses` natively never come here.
//!
//! Conversation state (`previous_response_id`) is kept by the gateway as Responses items, so a
//! conversation may move between providers: [`output_as_input`] turns a stored answer into the
//! items a later turn is replayed with.

use bytes::Bytes;
use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::ErrorKind;

use crate::error::GatewayError;

fn invalid(message: impl Into<String>, param: &str) -> GatewayError {
    GatewayError::invalid_request(message, Some(param))
}

/// A request the chat path cannot carry out as asked: the client has to change it, and a retry
/// on another deployment of the same group would fail the same way.
fn unsupported(message: impl Into<String>, param: &str, code: &str) -> GatewayError {
    invalid(message, param).with_code(code)
}

/// A Responses request as a chat request, and what the gateway keeps of it.
#[derive(Debug, Clone)]
pub(crate) struct ChatTranslation {
    /// The OpenAI chat request body.
    pub(crate) chat: Bytes,
    pub(crate) stream: bool,
    pub(crate) model: String,
    pub(crate) previous_response_id: Option<String>,
    /// The request's own input as items (a string input is one user message), for the store.
    pub(crate) input_items: Vec<Value>,
    /// `store` (default true): whether the response is kept for `previous_response_id`.
    pub(crate) store: bool,
}

fn input_text_part(text: &str) -> Value {
    json!({"type": "input_text", "text": text})
}

fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn refusal_part(refusal: &str) -> Value {
    json!({"type": "refusal", "refusal": refusal})
}

/// The request's `input` as a list of items in their full form: a string is one user message,
/// a message without `type` gets it, and a message's string content becomes one part. Stored
/// this way, every turn replays the same whatever shorthand the client used.
fn input_items(input: &Value) -> Result<Vec<Value>, GatewayError> {
    match input {
        Value::String(s) => Ok(vec![
            json!({"type": "message", "role": "user", "content": [input_text_part(s)]}),
        ]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let Value::Object(fields) = item else {
                    return Err(invalid(format!("input[{i}] must be an object"), "input"));
                };
                let mut fields = fields.clone();
                if !fields.contains_key("type") && fields.contains_key("role") {
                    fields.insert("type".to_owned(), json!("message"));
                }
                if fields.get("type").and_then(Value::as_str) == Some("message") {
                    if let Some(Value::String(text)) = fields.get("content") {
                        // OpenAI takes only output_text and refusal parts from an assistant.
                        let part =
                            if fields.get("role").and_then(Value::as_str) == Some("assistant") {
                                json!({"type": "output_text", "text": text, "annotations": []})
                            } else {
                                input_text_part(text)
                            };
                        fields.insert("content".to_owned(), json!([part]));
                    }
                }
                Ok(Value::Object(fields))
            })
            .collect(),
        _ => Err(invalid(
            "'input' must be a string or a list of input items",
            "input",
        )),
    }
}

/// The text of a part's string field, or an error naming where it is missing.
fn text_field<'a>(
    part: &'a Value,
    field: &str,
    at: &str,
    param: &str,
) -> Result<&'a str, GatewayError> {
    part[field]
        .as_str()
        .ok_or_else(|| invalid(format!("{at} needs a string '{field}'"), param))
}

/// A message item's content as chat content: one string when it is all text (what every chat
/// provider accepts), else a list of chat parts.
fn chat_content(content: &Value, role: &str, at: &str, param: &str) -> Result<Value, GatewayError> {
    let parts = match content {
        Value::String(s) => return Ok(Value::String(s.clone())),
        Value::Array(parts) => parts,
        Value::Null => return Err(invalid(format!("{at} has no 'content'"), param)),
        _ => {
            return Err(invalid(
                format!("{at}.content must be a string or a list of content parts"),
                param,
            ))
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    let mut text_only = true;
    for (j, p) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let kind = p["type"].as_str().unwrap_or_default();
        let media = matches!(kind, "input_image" | "input_file" | "input_audio");
        if media && role != "user" {
            return Err(invalid(
                format!("{at}: only user messages may carry '{kind}' parts"),
                param,
            ));
        }
        match kind {
            "input_text" | "output_text" | "text" => {
                out.push(json!({"type": "text", "text": text_field(p, "text", &at, param)?}));
            }
            "refusal" => {
                out.push(json!({"type": "text", "text": text_field(p, "refusal", &at, param)?}));
            }
            "input_image" => {
                if p.get("file_id").is_some_and(|f| !f.is_null()) {
                    return Err(unsupported(
                        format!(
                            "{at}: images by file_id need OpenAI's file store, which this model's \
                             provider has no access to; send the image as an image_url (a URL or a \
                             data: URL)"
                        ),
                        param,
                        "unsupported_input",
                    ));
                }
                let mut image = json!({"url": text_field(p, "image_url", &at, param)?});
                if let Some(detail) = p.get("detail").filter(|d| d.is_string()) {
                    image["detail"] = detail.clone();
                }
                out.push(json!({"type": "image_url", "image_url": image}));
                text_only = false;
            }
            "input_file" => {
                let Some(data) = p["file_data"].as_str() else {
                    return Err(unsupported(
                        format!(
                            "{at}: files by file_id or file_url are not available on this model's \
                             provider; send the file inline as file_data"
                        ),
                        param,
                        "unsupported_input",
                    ));
                };
                let mut file = json!({"file_data": data});
                if let Some(name) = p.get("filename").filter(|n| n.is_string()) {
                    file["filename"] = name.clone();
                }
                out.push(json!({"type": "file", "file": file}));
                text_only = false;
            }
            "input_audio" => {
                if !p["input_audio"].is_object() {
                    return Err(invalid(
                        format!("{at} needs an 'input_audio' object with data and format"),
                        param,
                    ));
                }
                out.push(json!({"type": "input_audio", "input_audio": p["input_audio"]}));
                text_only = false;
            }
            other => {
                return Err(unsupported(
                    format!("{at}: content parts of type '{other}' are not supported"),
                    param,
                    "unsupported_input",
                ))
            }
        }
    }
    if text_only {
        // Parts of one message are one text to the model: no separator is added between them.
        let text: String = out.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(Value::String(text));
    }
    Ok(Value::Array(out))
}

/// The output of a `function_call_output` item as a tool message's text.
fn tool_output(output: &Value, at: &str, param: &str) -> Result<String, GatewayError> {
    match output {
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match p["type"].as_str() {
                    Some("input_text" | "output_text" | "text") => {
                        text.push_str(text_field(p, "text", &format!("{at}.output[{j}]"), param)?);
                    }
                    other => {
                        return Err(unsupported(
                            format!(
                                "{at}.output[{j}]: a function_call_output sent to this model's \
                                 provider may hold text only, not '{}'",
                                other.unwrap_or("?")
                            ),
                            param,
                            "unsupported_input",
                        ))
                    }
                }
            }
            Ok(text)
        }
        Value::Null => Err(invalid(format!("{at} has no 'output'"), param)),
        other => Ok(other.to_string()),
    }
}

/// Appends the chat messages for `items`. A function call joins the assistant message before
/// it (the text and the calls of one turn are one chat message; consecutive calls are one
/// message with several tool calls). With `lenient`, items the chat path cannot express are
/// skipped instead of refused: earlier turns may have run on a provider with built-in tools.
fn chat_messages(
    items: &[Value],
    messages: &mut Vec<Value>,
    param: &str,
    lenient: bool,
) -> Result<(), GatewayError> {
    for (i, item) in items.iter().enumerate() {
        let at = format!("{param}[{i}]");
        let kind = item["type"]
            .as_str()
            .or_else(|| item.get("role").map(|_| "message"));
        match kind {
            Some("message") => {
                let role = match item["role"].as_str() {
                    Some("developer") => "system",
                    Some(r @ ("user" | "assistant" | "system")) => r,
                    other => {
                        return Err(invalid(
                            format!(
                                "{at}.role must be user, assistant, system or developer, not {}",
                                other.map_or("missing".to_owned(), |r| format!("'{r}'"))
                            ),
                            param,
                        ))
                    }
                };
                let content = chat_content(&item["content"], role, &at, param)?;
                messages.push(json!({"role": role, "content": content}));
            }
            Some("function_call") => {
                let call_id = text_field(item, "call_id", &at, param)?;
                let name = text_field(item, "name", &at, param)?;
                let arguments = match &item["arguments"] {
                    Value::String(s) => s.clone(),
                    Value::Null => "{}".to_owned(),
                    other => other.to_string(),
                };
                let call = json!({"id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments}});
                match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                            Some(calls) => calls.push(call),
                            None => last["tool_calls"] = json!([call]),
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            Some("function_call_output") => {
                let call_id = text_field(item, "call_id", &at, param)?;
                let output = tool_output(&item["output"], &at, param)?;
                messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // Reasoning belongs to the provider that produced it (often encrypted); chat
            // requests have no place for it.
            Some("reasoning") => {}
            Some(_) if lenient => {}
            Some(other) => {
                return Err(unsupported(
                    format!(
                        "{at}: input items of type '{other}' are not supported on this model's \
                         provider"
                    ),
                    param,
                    "unsupported_input",
                ))
            }
            None => return Err(invalid(format!("{at} has no 'type'"), param)),
        }
    }
    Ok(())
}

/// Chat tools for Responses tools. Only function tools exist on chat providers; OpenAI's
/// built-in tools run inside OpenAI.
fn chat_tools(tools: &[Value]) -> Result<Vec<Value>, GatewayError> {
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| match t["type"].as_str() {
            Some("function") => {
                let name = t["name"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| invalid(format!("tools[{i}] needs a 'name'"), "tools"))?;
                let mut function = Map::new();
                function.insert("name".to_owned(), json!(name));
                for key in ["description", "parameters", "strict"] {
                    if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                        function.insert(key.to_owned(), v.clone());
                    }
                }
                Ok(json!({"type": "function", "function": function}))
            }
            other => Err(unsupported(
                format!(
                    "tools[{i}]: the '{}' tool is built into OpenAI's Responses API and works only \
                     on deployments that serve it natively; this model runs on chat completions, \
                     where only 'function' tools exist",
                    other.unwrap_or("(no type)")
                ),
                "tools",
                "unsupported_tool",
            )),
        })
        .collect()
}

fn named_function(name: Option<&Value>, param: &str) -> Result<Value, GatewayError> {
    let name = name
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("a function in '{param}' needs a 'name'"), param))?;
    Ok(json!({"type": "function", "function": {"name": name}}))
}

fn chat_tool_choice(choice: &Value) -> Result<Value, GatewayError> {
    let hosted = |kind: &str| {
        unsupported(
            format!(
                "tool_choice names the built-in tool '{kind}', which works only on deployments \
                 that serve the Responses API natively"
            ),
            "tool_choice",
            "unsupported_tool",
        )
    };
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(choice.clone())
        }
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => named_function(o.get("name"), "tool_choice"),
            Some("allowed_tools") => {
                let mut tools = Vec::new();
                for t in o
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match t["type"].as_str() {
                        Some("function") => {
                            tools.push(named_function(t.get("name"), "tool_choice")?)
                        }
                        other => return Err(hosted(other.unwrap_or("?"))),
                    }
                }
                let mode = o.get("mode").cloned().unwrap_or(json!("auto"));
                Ok(json!({"type": "allowed_tools",
                    "allowed_tools": {"mode": mode, "tools": tools}}))
            }
            Some(other) => Err(hosted(other)),
            None => Err(invalid("tool_choice needs a 'type'", "tool_choice")),
        },
        _ => Err(invalid(
            "tool_choice must be 'auto', 'none', 'required' or an object",
            "tool_choice",
        )),
    }
}

/// The chat `response_format` for `text.format` (`None` for plain text).
fn response_format(format: &Value) -> Result<Option<Value>, GatewayError> {
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let name = format["name"].as_str().ok_or_else(|| {
                invalid(
                    "text.format of type json_schema needs a 'name'",
                    "text.format.name",
                )
            })?;
            if !format["schema"].is_object() {
                return Err(invalid(
                    "text.format of type json_schema needs a 'schema' object",
                    "text.format.schema",
                ));
            }
            let mut schema = json!({"name": name, "schema": format["schema"]});
            for key in ["description", "strict"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    schema[key] = v.clone();
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        other => Err(invalid(
            format!(
                "text.format.type must be text, json_object or json_schema, not {}",
                other.map_or("missing".to_owned(), |t| format!("'{t}'"))
            ),
            "text.format",
        )),
    }
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
    let present = |key: &str| req.get(key).filter(|v| !v.is_null());
    let model = match present("model") {
        None => return Err(invalid("missing required parameter 'model'", "model")),
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(invalid("'model' must be a non-empty string", "model")),
    };
    let input = input_items(
        present("input").ok_or_else(|| invalid("missing required parameter 'input'", "input"))?,
    )?;
    // These need state or machinery that lives at OpenAI; ignoring them would answer
    // something other than what was asked.
    for (key, why) in [
        (
            "conversation",
            "conversations are not available; chain turns with previous_response_id",
        ),
        ("prompt", "stored prompt templates are not available"),
    ] {
        if present(key).is_some() {
            return Err(unsupported(
                format!("'{key}' is not supported on this model's provider: {why}"),
                key,
                "unsupported_parameter",
            ));
        }
    }
    if present("background").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported(
            "background responses are not supported on this model's provider",
            "background",
            "unsupported_parameter",
        ));
    }
    let previous_response_id = match present("previous_response_id") {
        None => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => {
            return Err(invalid(
                "'previous_response_id' must be a string",
                "previous_response_id",
            ))
        }
    };
    let stream = match present("stream") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("'stream' must be a boolean", "stream")),
    };
    let store = match present("store") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("'store' must be a boolean", "store")),
    };

    let mut messages = Vec::new();
    match present("instructions") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(_) => return Err(invalid("'instructions' must be a string", "instructions")),
    }
    chat_messages(history, &mut messages, "previous_response_id", true)?;
    chat_messages(&input, &mut messages, "input", false)?;

    let mut chat = Map::new();
    chat.insert("model".to_owned(), json!(model));
    chat.insert("messages".to_owned(), Value::Array(messages));
    chat.insert("stream".to_owned(), json!(stream));
    if stream {
        // `response.completed` carries the usage, which a chat stream sends only when asked.
        chat.insert("stream_options".to_owned(), json!({"include_usage": true}));
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("parallel_tool_calls", "parallel_tool_calls"),
        ("max_output_tokens", "max_tokens"),
        ("user", "user"),
        ("service_tier", "service_tier"),
        ("prompt_cache_key", "prompt_cache_key"),
        ("safety_identifier", "safety_identifier"),
    ] {
        if let Some(v) = present(from) {
            chat.insert(to.to_owned(), v.clone());
        }
    }
    if let Some(effort) = present("reasoning")
        .and_then(|r| r.get("effort"))
        .filter(|e| !e.is_null())
    {
        chat.insert("reasoning_effort".to_owned(), effort.clone());
    }
    if let Some(text) = present("text") {
        if let Some(format) = text.get("format").filter(|f| !f.is_null()) {
            if let Some(f) = response_format(format)? {
                chat.insert("response_format".to_owned(), f);
            }
        }
        if let Some(verbosity) = text.get("verbosity").filter(|v| !v.is_null()) {
            chat.insert("verbosity".to_owned(), verbosity.clone());
        }
    }
    match present("tools") {
        None => {}
        Some(Value::Array(tools)) => {
            let tools = chat_tools(tools)?;
            if !tools.is_empty() {
                chat.insert("tools".to_owned(), Value::Array(tools));
            }
        }
        Some(_) => return Err(invalid("'tools' must be a list", "tools")),
    }
    if let Some(choice) = present("tool_choice") {
        chat.insert("tool_choice".to_owned(), chat_tool_choice(choice)?);
    }
    Ok(ChatTranslation {
        chat: Bytes::from(serde_json::to_vec(&chat).unwrap_or_default()),
        stream,
        model,
        previous_response_id,
        input_items: input,
        store,
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

/// Where a response ended up.
#[derive(Debug)]
enum Outcome {
    InProgress,
    Completed,
    /// With the reason OpenAI gives in `incomplete_details`.
    Incomplete(&'static str),
    Failed(Value),
}

impl Outcome {
    fn of_finish(finish: Option<&str>) -> Outcome {
        match finish {
            Some("length") => Outcome::Incomplete("max_output_tokens"),
            Some("content_filter") => Outcome::Incomplete("content_filter"),
            _ => Outcome::Completed,
        }
    }

    /// The status of the answer's last item: the one a cut-off answer was cut in.
    fn last_item_status(&self) -> &'static str {
        match self {
            Outcome::Incomplete(_) => "incomplete",
            _ => "completed",
        }
    }
}

/// The `response` object around `output`, echoing the request's settings as OpenAI does.
fn response_object(
    id: &str,
    request: &Value,
    created_at: u64,
    outcome: &Outcome,
    output: Vec<Value>,
    usage: Value,
) -> Value {
    let echo = |key: &str, default: Value| {
        request
            .get(key)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or(default)
    };
    let (status, error, incomplete) = match outcome {
        Outcome::InProgress => ("in_progress", Value::Null, Value::Null),
        Outcome::Completed => ("completed", Value::Null, Value::Null),
        Outcome::Incomplete(reason) => ("incomplete", Value::Null, json!({"reason": reason})),
        Outcome::Failed(error) => ("failed", error.clone(), Value::Null),
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": false,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "max_tool_calls": echo("max_tool_calls", Value::Null),
        "model": echo("model", Value::Null),
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "prompt_cache_key": echo("prompt_cache_key", Value::Null),
        "reasoning": {
            "effort": request["reasoning"].get("effort").cloned().unwrap_or(Value::Null),
            "summary": request["reasoning"].get("summary").cloned().unwrap_or(Value::Null),
        },
        "safety_identifier": echo("safety_identifier", Value::Null),
        "service_tier": echo("service_tier", json!("default")),
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_logprobs": echo("top_logprobs", json!(0)),
        "top_p": echo("top_p", json!(1.0)),
        "truncation": echo("truncation", json!("disabled")),
        "usage": usage,
        "user": echo("user", Value::Null),
        "metadata": echo("metadata", json!({})),
    })
}

/// The id of output item `index`: the response's own suffix keeps ids unique across responses.
fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{index}")
}

fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({"id": id, "type": "message", "status": status, "role": "assistant",
        "content": content})
}

fn reasoning_item(id: &str, text: &str) -> Value {
    json!({"id": id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]})
}

fn call_item(id: &str, status: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "call_id": call_id,
        "name": name, "arguments": arguments})
}

/// A chat tool call's id, or one made up when the provider gave none: the client needs an id
/// to answer the call with.
fn call_id_or(id: Option<&str>, response_id: &str, index: usize) -> String {
    match id.filter(|id| !id.is_empty()) {
        Some(id) => id.to_owned(),
        None => item_id("call", response_id, index),
    }
}

/// Reasoning text of a chat message or delta: `reasoning_content` is the gateway's name for it,
/// `reasoning` the one some OpenAI-compatible servers use (some send both, the same).
fn reasoning_of(v: &Value) -> Option<&str> {
    v["reasoning_content"]
        .as_str()
        .or_else(|| v["reasoning"].as_str())
        .filter(|r| !r.is_empty())
}

/// A chat message's text content (a string, or text parts).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// A chat completion JSON as a Responses `response` object.
pub(crate) fn to_response(
    chat: &[u8],
    response_id: &str,
    request: &Value,
    created_at: u64,
) -> Result<Value, GatewayError> {
    let bad = |message: String| GatewayError::new(ErrorKind::BadResponse, message);
    let v: Value = serde_json::from_slice(chat)
        .map_err(|e| bad(format!("the chat completion is not JSON: {e}")))?;
    if let Some(error) = v.get("error").filter(|e| e.is_object()) {
        return Err(bad(format!(
            "the provider answered with an error: {}",
            error["message"].as_str().unwrap_or("(no message)")
        )));
    }
    let choice = v["choices"]
        .get(0)
        .ok_or_else(|| bad("the chat completion has no choices".to_owned()))?;
    let msg = &choice["message"];
    let outcome = Outcome::of_finish(choice["finish_reason"].as_str());
    let mut output = Vec::new();
    if let Some(r) = reasoning_of(msg) {
        output.push(reasoning_item(&item_id("rs", response_id, 0), r));
    }
    let calls: &[Value] = msg["tool_calls"].as_array().map_or(&[], Vec::as_slice);
    let text = text_of(&msg["content"]);
    let refusal = msg["refusal"].as_str().unwrap_or_default();
    let mut parts = Vec::new();
    if !text.is_empty() || (refusal.is_empty() && calls.is_empty()) {
        // An answer with nothing else is an empty text, so the response has a message.
        parts.push(output_text_part(&text));
    }
    if !refusal.is_empty() {
        parts.push(refusal_part(refusal));
    }
    if !parts.is_empty() {
        let id = item_id("msg", response_id, output.len());
        output.push(message_item(&id, "completed", parts));
    }
    for call in calls {
        let index = output.len();
        let arguments = match &call["function"]["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => "{}".to_owned(),
            other => other.to_string(),
        };
        output.push(call_item(
            &item_id("fc", response_id, index),
            "completed",
            &call_id_or(call["id"].as_str(), response_id, index),
            call["function"]["name"].as_str().unwrap_or_default(),
            &arguments,
        ));
    }
    if let Some(last) = output.last_mut() {
        if last["type"] != "reasoning" {
            last["status"] = json!(outcome.last_item_status());
        }
    }
    Ok(response_object(
        response_id,
        request,
        created_at,
        &outcome,
        output,
        usage_of(&v["usage"]),
    ))
}

/// The output items of a response as input items of a later turn. Only messages and function
/// calls are kept, without their ids: reasoning and built-in tool calls belong to the provider
/// that made them, and an id would ask the next provider to look up an item it never stored.
pub(crate) fn output_as_input(response: &Value) -> Vec<Value> {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| match item["type"].as_str() {
            Some("message") => {
                let content: Vec<Value> = item["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| match p["type"].as_str() {
                        Some("output_text") => Some(json!({"type": "output_text",
                            "text": p["text"].as_str().unwrap_or_default(),
                            "annotations": p.get("annotations").cloned().unwrap_or(json!([]))})),
                        Some("refusal") => {
                            Some(refusal_part(p["refusal"].as_str().unwrap_or_default()))
                        }
                        _ => None,
                    })
                    .collect();
                (!content.is_empty())
                    .then(|| json!({"type": "message", "role": "assistant", "content": content}))
            }
            Some("function_call") => Some(json!({"type": "function_call",
                "call_id": item["call_id"], "name": item["name"], "arguments": item["arguments"]})),
            _ => None,
        })
        .collect()
}

/// The kind of a message content part being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    Text,
    Refusal,
}

impl PartKind {
    fn part(self, text: &str) -> Value {
        match self {
            PartKind::Text => output_text_part(text),
            PartKind::Refusal => refusal_part(text),
        }
    }
}

/// The output item being streamed (items are streamed one after the other, as OpenAI does).
#[derive(Debug)]
enum Building {
    Reasoning(String),
    /// Content parts; all but the last are finished.
    Message(Vec<(PartKind, String)>),
    Call {
        chat_index: u64,
        call_id: String,
        name: String,
        arguments: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet.
    Waiting,
    Running,
    /// `response.completed`, `.incomplete` or `.failed` went out; the rest is ignored.
    Ended,
}

/// Chat SSE frames → Responses events (`event: <type>\ndata: <json>\n\n`).
#[derive(Debug)]
pub(crate) struct StreamTranslator {
    id: String,
    request: Value,
    created_at: u64,
    /// Bytes of a frame not yet complete.
    buffer: Vec<u8>,
    /// How far `buffer` is known to hold no frame end, so a frame fed in many small pieces is
    /// not searched again from its start each time.
    scanned: usize,
    sequence: u64,
    phase: Phase,
    /// The finished output items.
    output: Vec<Value>,
    /// The item being streamed; its output index is `output.len()`.
    open: Option<Building>,
    /// Chat tool-call index → output index of the calls streamed so far.
    calls: Vec<(u64, usize)>,
    usage: Value,
    finish: Option<String>,
    completed: Option<Value>,
}

/// The end of the first SSE frame in `buf` at or after `from`: where the frame's text ends and
/// where the next frame begins. A blank line (`\n\n` or `\n\r\n`) ends a frame.
fn frame_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some((i, i + 2));
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, i + 3));
            }
        }
        i += 1;
    }
    None
}

impl StreamTranslator {
    pub(crate) fn new(response_id: String, request: Value, created_at: u64) -> Self {
        StreamTranslator {
            id: response_id,
            request,
            created_at,
            buffer: Vec::new(),
            scanned: 0,
            sequence: 0,
            phase: Phase::Waiting,
            output: Vec::new(),
            open: None,
            calls: Vec::new(),
            usage: Value::Null,
            finish: None,
            completed: None,
        }
    }

    /// The finished response once the stream completed (or stopped incomplete), for the store.
    pub(crate) fn completed(&self) -> Option<&Value> {
        self.completed.as_ref()
    }

    fn event(&mut self, out: &mut String, kind: &str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!(kind));
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        data.insert("sequence_number".to_owned(), json!(self.sequence));
        self.sequence += 1;
        out.push_str(&format!("event: {kind}\ndata: {}\n\n", Value::Object(data)));
    }

    fn response(&self, outcome: &Outcome, output: Vec<Value>, usage: Value) -> Value {
        response_object(
            &self.id,
            &self.request,
            self.created_at,
            outcome,
            output,
            usage,
        )
    }

    fn start(&mut self, out: &mut String) {
        if self.phase != Phase::Waiting {
            return;
        }
        self.phase = Phase::Running;
        let r = self.response(&Outcome::InProgress, Vec::new(), Value::Null);
        self.event(out, "response.created", json!({"response": r.clone()}));
        self.event(out, "response.in_progress", json!({"response": r}));
    }

    fn open_id(&self, prefix: &str) -> String {
        item_id(prefix, &self.id, self.output.len())
    }

    /// Sends the done events of message part `index`.
    fn part_done(&mut self, out: &mut String, index: usize, kind: PartKind, text: &str) {
        let item_id = self.open_id("msg");
        let output_index = self.output.len();
        let (event, field) = match kind {
            PartKind::Text => (
                "response.output_text.done",
                json!({"text": text, "logprobs": []}),
            ),
            PartKind::Refusal => ("response.refusal.done", json!({"refusal": text})),
        };
        let mut fields =
            json!({"item_id": item_id, "output_index": output_index, "content_index": index});
        if let (Value::Object(f), Value::Object(extra)) = (&mut fields, field) {
            f.extend(extra);
        }
        self.event(out, event, fields);
        self.event(
            out,
            "response.content_part.done",
            json!({"item_id": item_id, "output_index": output_index, "content_index": index,
                "part": kind.part(text)}),
        );
    }

    /// Finishes the open item with `status` and moves it to the output.
    fn close(&mut self, out: &mut String, status: &str) {
        let Some(open) = self.open.take() else {
            return;
        };
        let output_index = self.output.len();
        let item = match open {
            Building::Reasoning(text) => {
                let id = self.open_id("rs");
                self.event(
                    out,
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                        "text": text}),
                );
                self.event(
                    out,
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                        "part": {"type": "summary_text", "text": text}}),
                );
                reasoning_item(&id, &text)
            }
            Building::Message(parts) => {
                if let Some((kind, text)) = parts.last() {
                    self.part_done(out, parts.len() - 1, *kind, text);
                }
                let content = parts.iter().map(|(kind, text)| kind.part(text)).collect();
                message_item(&self.open_id("msg"), status, content)
            }
            Building::Call {
                call_id,
                name,
                arguments,
                ..
            } => {
                let id = self.open_id("fc");
                self.event(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": output_index, "name": name,
                        "arguments": arguments}),
                );
                call_item(&id, status, &call_id, &name, &arguments)
            }
        };
        self.event(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item.clone()}),
        );
        self.output.push(item);
    }

    fn added(&mut self, out: &mut String, item: Value) {
        let output_index = self.output.len();
        self.event(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
    }

    fn reasoning_delta(&mut self, out: &mut String, delta: &str) {
        if !matches!(self.open, Some(Building::Reasoning(_))) {
            self.close(out, "completed");
            let id = self.open_id("rs");
            self.added(out, json!({"id": id, "type": "reasoning", "summary": []}));
            self.event(
                out,
                "response.reasoning_summary_part.added",
                json!({"item_id": id, "output_index": self.output.len(), "summary_index": 0,
                    "part": {"type": "summary_text", "text": ""}}),
            );
            self.open = Some(Building::Reasoning(String::new()));
        }
        if let Some(Building::Reasoning(text)) = &mut self.open {
            text.push_str(delta);
        }
        self.event(
            out,
            "response.reasoning_summary_text.delta",
            json!({"item_id": self.open_id("rs"), "output_index": self.output.len(),
                "summary_index": 0, "delta": delta}),
        );
    }

    /// Makes the open item a message whose last part is of `kind`.
    fn open_part(&mut self, out: &mut String, kind: PartKind) {
        if !matches!(self.open, Some(Building::Message(_))) {
            self.close(out, "completed");
            let id = self.open_id("msg");
            self.added(out, message_item(&id, "in_progress", Vec::new()));
            self.open = Some(Building::Message(Vec::new()));
        }
        let Some(Building::Message(parts)) = &mut self.open else {
            return;
        };
        let last = parts
            .last()
            .map(|(k, text)| (parts.len() - 1, *k, text.clone()));
        if last.as_ref().is_some_and(|(_, k, _)| *k == kind) {
            return;
        }
        parts.push((kind, String::new()));
        let index = parts.len() - 1;
        if let Some((i, k, text)) = last {
            self.part_done(out, i, k, &text);
        }
        self.event(
            out,
            "response.content_part.added",
            json!({"item_id": self.open_id("msg"), "output_index": self.output.len(),
                "content_index": index, "part": kind.part("")}),
        );
    }

    fn message_delta(&mut self, out: &mut String, kind: PartKind, delta: &str) {
        self.open_part(out, kind);
        let Some(Building::Message(parts)) = &mut self.open else {
            return;
        };
        let index = parts.len() - 1;
        parts[index].1.push_str(delta);
        let mut fields = json!({"item_id": self.open_id("msg"), "output_index": self.output.len(),
            "content_index": index, "delta": delta});
        let event = match kind {
            PartKind::Text => {
                fields["logprobs"] = json!([]);
                "response.output_text.delta"
            }
            PartKind::Refusal => "response.refusal.delta",
        };
        self.event(out, event, fields);
    }

    /// Which call a tool-call fragment belongs to. OpenAI numbers them (`index`); for servers
    /// that do not, a new `id` starts a new call and a fragment without one continues the call
    /// being streamed.
    fn call_key(&self, call: &Value) -> u64 {
        if let Some(index) = call["index"].as_u64() {
            return index;
        }
        let open = match &self.open {
            Some(Building::Call {
                chat_index,
                call_id,
                ..
            }) => Some((*chat_index, call_id.as_str())),
            _ => None,
        };
        let Some(id) = call["id"].as_str().filter(|id| !id.is_empty()) else {
            return open.map_or(0, |(key, _)| key);
        };
        if let Some((key, _)) = open.filter(|(_, open_id)| *open_id == id) {
            return key;
        }
        let known = self
            .calls
            .iter()
            .find(|(_, at)| self.output.get(*at).is_some_and(|i| i["call_id"] == id));
        // Keys of their own, far from any `index` a server would send.
        known.map_or(u64::MAX - self.calls.len() as u64, |(key, _)| *key)
    }

    fn tool_delta(&mut self, out: &mut String, call: &Value) {
        let chat_index = self.call_key(call);
        let piece = call["function"]["arguments"].as_str().unwrap_or_default();
        let streaming_it =
            matches!(&self.open, Some(Building::Call { chat_index: c, .. }) if *c == chat_index);
        if !streaming_it {
            if let Some(&(_, at)) = self.calls.iter().find(|(c, _)| *c == chat_index) {
                // A provider went back to a call it had left: the item is finished on the
                // wire, so the fragment can only reach the final response.
                if let Some(item) = self.output.get_mut(at) {
                    let joined = format!("{}{piece}", item["arguments"].as_str().unwrap_or(""));
                    item["arguments"] = json!(joined);
                }
                return;
            }
            self.close(out, "completed");
            let index = self.output.len();
            let call_id = call_id_or(call["id"].as_str(), &self.id, index);
            let name = call["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.added(
                out,
                call_item(&self.open_id("fc"), "in_progress", &call_id, &name, ""),
            );
            self.calls.push((chat_index, index));
            self.open = Some(Building::Call {
                chat_index,
                call_id,
                name,
                arguments: String::new(),
            });
        }
        let Some(Building::Call {
            name, arguments, ..
        }) = &mut self.open
        else {
            return;
        };
        if name.is_empty() {
            if let Some(n) = call["function"]["name"].as_str() {
                n.clone_into(name);
            }
        }
        if piece.is_empty() {
            return;
        }
        arguments.push_str(piece);
        self.event(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": self.open_id("fc"), "output_index": self.output.len(),
                "delta": piece}),
        );
    }

    fn chunk(&mut self, out: &mut String, v: &Value) {
        self.start(out);
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = usage.clone();
        }
        // The Responses API has one answer per response: other choices (`n` > 1) are dropped.
        let Some(choice) = v["choices"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["index"].as_u64().unwrap_or(0) == 0)
        else {
            return;
        };
        let delta = &choice["delta"];
        if let Some(r) = reasoning_of(delta) {
            self.reasoning_delta(out, r);
        }
        if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.message_delta(out, PartKind::Text, t);
        }
        if let Some(t) = delta["refusal"].as_str().filter(|t| !t.is_empty()) {
            self.message_delta(out, PartKind::Refusal, t);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.tool_delta(out, call);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_owned());
        }
    }

    fn finish(&mut self, out: &mut String) {
        self.start(out);
        let outcome = Outcome::of_finish(self.finish.as_deref());
        let answered = matches!(
            self.open,
            Some(Building::Message(_) | Building::Call { .. })
        ) || self
            .output
            .iter()
            .any(|i| i["type"] == "message" || i["type"] == "function_call");
        if !answered {
            // As in `to_response`: an answer with nothing else is an empty text.
            self.open_part(out, PartKind::Text);
        }
        self.close(out, outcome.last_item_status());
        let response = self.response(&outcome, self.output.clone(), usage_of(&self.usage));
        let kind = match outcome {
            Outcome::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        self.event(out, kind, json!({"response": response.clone()}));
        self.completed = Some(response);
        self.phase = Phase::Ended;
    }

    /// An error frame of the chat path (`{"error": {...}}`) ends the response as failed.
    fn fail(&mut self, out: &mut String, error: &Value) {
        self.start(out);
        let code = match (error["code"].as_str(), error["type"].as_str()) {
            (Some(code), _) => code,
            (None, Some("rate_limit_error")) => "rate_limit_exceeded",
            _ => "server_error",
        };
        let error = json!({"code": code,
            "message": error["message"].as_str().unwrap_or("the model's provider failed")});
        let response = self.response(&Outcome::Failed(error), self.output.clone(), Value::Null);
        self.event(out, "response.failed", json!({"response": response}));
        self.phase = Phase::Ended;
    }

    fn frame(&mut self, out: &mut String, frame: &str) {
        let mut data: Option<String> = None;
        for line in frame.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if let Some(d) = line.strip_prefix("data:") {
                let d = d.strip_prefix(' ').unwrap_or(d);
                match &mut data {
                    Some(all) => {
                        all.push('\n');
                        all.push_str(d);
                    }
                    None => data = Some(d.to_owned()),
                }
            }
        }
        let Some(data) = data else {
            return;
        };
        if self.phase == Phase::Ended {
            return;
        }
        let data = data.trim();
        if data == "[DONE]" {
            self.finish(out);
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return;
        };
        match v.get("error").filter(|e| !e.is_null()) {
            Some(error) => self.fail(out, error),
            None => self.chunk(out, &v),
        }
    }

    /// Feeds bytes of the chat path's SSE output (any split: frames are buffered until
    /// complete); returns the Responses events they make.
    pub(crate) fn feed(&mut self, bytes: Bytes) -> Bytes {
        self.buffer.extend_from_slice(&bytes);
        let mut out = String::new();
        let mut start = 0;
        let mut from = self.scanned;
        while let Some((end, next)) = frame_end(&self.buffer, from) {
            let frame = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            self.frame(&mut out, &frame);
            start = next;
            from = next;
        }
        self.buffer.drain(..start);
        // A frame end may straddle this piece and the next: look again at the last two bytes.
        self.scanned = self.buffer.len().saturating_sub(2);
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> ChatTranslation {
        to_chat_request(body.to_string().as_bytes(), &[]).unwrap()
    }

    fn chat_of(body: Value) -> Value {
        serde_json::from_slice(&translate(body).chat).unwrap()
    }

    fn error_of(body: Value) -> GatewayError {
        to_chat_request(body.to_string().as_bytes(), &[]).unwrap_err()
    }

    #[test]
    fn a_string_input_is_one_user_message_and_the_defaults_hold() {
        let t = translate(json!({"model": "m", "input": "hi"}));
        assert_eq!(t.model, "m");
        assert!(!t.stream);
        assert!(t.store);
        assert_eq!(t.previous_response_id, None);
        assert_eq!(
            t.input_items,
            [json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "hi"}]})]
        );
        let chat: Value = serde_json::from_slice(&t.chat).unwrap();
        assert_eq!(
            chat,
            json!({"model": "m", "stream": false,
                "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn input_items_are_stored_in_full_item_form() {
        let t = translate(
            json!({"model": "m", "store": false, "previous_response_id": "resp_1",
            "input": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "c"}]},
                {"type": "function_call_output", "call_id": "x", "output": "y"}
            ]}),
        );
        assert!(!t.store);
        assert_eq!(t.previous_response_id.as_deref(), Some("resp_1"));
        assert_eq!(
            t.input_items[0],
            json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "a"}]})
        );
        assert_eq!(t.input_items[1]["content"][0]["type"], "output_text");
        assert_eq!(t.input_items[2]["content"][0]["text"], "c");
        assert_eq!(
            t.input_items[3],
            json!({"type": "function_call_output", "call_id": "x", "output": "y"})
        );
    }

    #[test]
    fn a_request_becomes_chat_with_instructions_tools_and_format() {
        let chat = chat_of(json!({
            "model": "m", "instructions": "Be brief.", "max_output_tokens": 50,
            "temperature": 0.2, "top_p": 0.9, "parallel_tool_calls": false, "user": "u1",
            "metadata": {"k": "v"}, "truncation": "auto", "include": ["reasoning.encrypted_content"],
            "input": [
                {"role": "developer", "content": "Use metric units."},
                {"role": "user", "content": [{"type": "input_text", "text": "hi "},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                {"type": "function_call_output", "call_id": "c2",
                    "output": [{"type": "input_text", "text": "o"}, {"type": "input_text", "text": "k"}]},
                {"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Done", "annotations": []}]},
                {"role": "user", "content": [{"type": "input_text", "text": "a"},
                    {"type": "input_text", "text": "b"}]}
            ],
            "tools": [{"type": "function", "name": "f", "description": "d",
                "parameters": {"type": "object"}, "strict": true},
                {"type": "function", "name": "g"}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"},
                "strict": true}, "verbosity": "low"},
            "reasoning": {"effort": "low", "summary": "auto"}, "stream": true
        }));
        let m = chat["messages"].as_array().unwrap();
        assert_eq!(m[0], json!({"role": "system", "content": "Be brief."}));
        assert_eq!(
            m[1],
            json!({"role": "system", "content": "Use metric units."})
        );
        assert_eq!(
            m[2]["content"],
            json!([{"type": "text", "text": "hi "},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}])
        );
        // Reasoning dropped; the two consecutive calls are one assistant message.
        assert_eq!(
            m[3],
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{\"a\":1}"}}
            ]})
        );
        assert_eq!(
            m[4],
            json!({"role": "tool", "tool_call_id": "c1", "content": "ok"})
        );
        assert_eq!(
            m[5],
            json!({"role": "tool", "tool_call_id": "c2", "content": "ok"})
        );
        assert_eq!(m[6], json!({"role": "assistant", "content": "Done"}));
        assert_eq!(m[7], json!({"role": "user", "content": "ab"}));
        assert_eq!(m.len(), 8);
        assert_eq!(chat["max_tokens"], 50);
        assert_eq!(chat["temperature"], 0.2);
        assert_eq!(chat["top_p"], 0.9);
        assert_eq!(chat["parallel_tool_calls"], false);
        assert_eq!(chat["user"], "u1");
        assert_eq!(
            chat["tools"],
            json!([{"type": "function", "function": {"name": "f", "description": "d",
                "parameters": {"type": "object"}, "strict": true}},
                {"type": "function", "function": {"name": "g"}}])
        );
        assert_eq!(
            chat["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(
            chat["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "s",
                "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(chat["verbosity"], "low");
        assert_eq!(chat["reasoning_effort"], "low");
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["stream_options"], json!({"include_usage": true}));
        for dropped in [
            "metadata",
            "truncation",
            "include",
            "reasoning",
            "text",
            "input",
        ] {
            assert!(
                chat.get(dropped).is_none(),
                "{dropped} reached the chat request"
            );
        }
    }

    #[test]
    fn tool_choices_and_formats_translate() {
        let choice = |c: Value| {
            chat_of(json!({"model": "m", "input": "x", "tool_choice": c}))["tool_choice"].clone()
        };
        assert_eq!(choice(json!("auto")), "auto");
        assert_eq!(choice(json!("none")), "none");
        assert_eq!(choice(json!("required")), "required");
        assert_eq!(
            choice(json!({"type": "allowed_tools", "mode": "required",
                "tools": [{"type": "function", "name": "f"}]})),
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required",
                "tools": [{"type": "function", "function": {"name": "f"}}]}})
        );
        assert!(
            chat_of(json!({"model": "m", "input": "x", "tool_choice": null}))
                .get("tool_choice")
                .is_none()
        );
        let format = |f: Value| chat_of(json!({"model": "m", "input": "x", "text": {"format": f}}));
        assert!(format(json!({"type": "text"}))
            .get("response_format")
            .is_none());
        assert_eq!(
            format(json!({"type": "json_object"}))["response_format"],
            json!({"type": "json_object"})
        );
        let e = error_of(json!({"model": "m", "input": "x",
            "text": {"format": {"type": "json_schema", "schema": {}}}}));
        assert_eq!(e.param.as_deref(), Some("text.format.name"));
        let e = error_of(json!({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}));
        assert!(e.message.contains("'yaml'"));
    }

    #[test]
    fn an_assistant_text_and_its_calls_are_one_chat_message() {
        let chat = chat_of(json!({"model": "m", "input": [
            {"role": "user", "content": "weather?"},
            {"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
        ]}));
        assert_eq!(
            chat["messages"][1],
            json!({"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]})
        );
        assert_eq!(chat["messages"][2]["role"], "tool");
    }

    #[test]
    fn inline_files_and_audio_reach_the_chat_request() {
        let chat = chat_of(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,AA=="},
            {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}
        ]}]}));
        assert_eq!(
            chat["messages"][0]["content"],
            json!([{"type": "file", "file": {"file_data": "data:application/pdf;base64,AA==",
                "filename": "a.pdf"}},
                {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}])
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let e = to_chat_request(b"[1", &[]).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("invalid_json"));
        assert_eq!(e.status, 400);
        let e = error_of(json!({"input": "x"}));
        assert_eq!(e.param.as_deref(), Some("model"));
        assert!(e.message.contains("'model'"));
        let e = error_of(json!({"model": "m"}));
        assert_eq!(e.param.as_deref(), Some("input"));
        assert!(e.message.contains("'input'"));
        assert_eq!(e.status, 400);
        let e = error_of(json!({"model": "m", "input": null}));
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = error_of(json!({"model": "m", "input": 3}));
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = error_of(json!({"model": "m", "input": ["hi"]}));
        assert!(e.message.contains("input[0]"));
        let e = error_of(json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}));
        assert!(e.message.contains("'tool'"));
        let e = error_of(json!({"model": "m", "input": [{"content": "x"}]}));
        assert!(e.message.contains("no 'type'"));
        let e = error_of(json!({"model": "m",
            "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}));
        assert!(e.message.contains("call_id"));
        let e = error_of(json!({"model": "m", "stream": "yes", "input": "x"}));
        assert_eq!(e.param.as_deref(), Some("stream"));
        let e = error_of(json!({"model": "m", "input": "x", "tool_choice": "sometimes"}));
        assert_eq!(e.param.as_deref(), Some("tool_choice"));
        let e = error_of(json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}));
        assert_eq!(e.param.as_deref(), Some("tools"));
    }

    #[test]
    fn what_only_openai_can_do_is_refused_clearly() {
        for tool in [
            "web_search",
            "web_search_preview",
            "file_search",
            "computer_use_preview",
            "code_interpreter",
            "mcp",
        ] {
            let e = error_of(json!({"model": "m", "input": "x",
                "tools": [{"type": "function", "name": "f"}, {"type": tool}]}));
            assert_eq!(e.code.as_deref(), Some("unsupported_tool"), "{tool}");
            assert_eq!(e.param.as_deref(), Some("tools"));
            assert_eq!(e.status, 400);
            assert!(e.message.contains(&format!("'{tool}'")), "{}", e.message);
        }
        let e = error_of(json!({"model": "m", "input": "x",
            "tool_choice": {"type": "web_search_preview"}}));
        assert_eq!(e.code.as_deref(), Some("unsupported_tool"));
        assert!(e.message.contains("web_search_preview"));
        let e = error_of(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_image", "file_id": "file-1"}]}]}));
        assert_eq!(e.code.as_deref(), Some("unsupported_input"));
        assert!(e.message.contains("file_id"));
        let e = error_of(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_file", "file_id": "file-1"}]}]}));
        assert_eq!(e.code.as_deref(), Some("unsupported_input"));
        let e = error_of(
            json!({"model": "m", "input": [{"role": "assistant", "content": [
            {"type": "input_image", "image_url": "https://x"}]}]}),
        );
        assert!(e.message.contains("only user messages"));
        let e = error_of(json!({"model": "m",
            "input": [{"type": "item_reference", "id": "msg_1"}]}));
        assert_eq!(e.code.as_deref(), Some("unsupported_input"));
        assert!(e.message.contains("item_reference"));
        for (key, value) in [
            ("background", json!(true)),
            ("conversation", json!("conv_1")),
            ("prompt", json!({"id": "pmpt_1"})),
        ] {
            let mut body = json!({"model": "m", "input": "x"});
            body[key] = value;
            let e = error_of(body);
            assert_eq!(e.param.as_deref(), Some(key));
            assert_eq!(e.code.as_deref(), Some("unsupported_parameter"));
        }
        // Explicitly off is no request for them.
        translate(json!({"model": "m", "input": "x", "background": false, "conversation": null}));
    }

    #[test]
    fn history_comes_first_and_skips_what_chat_cannot_replay() {
        let history = [
            json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "news?"}]}),
            json!({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
            json!({"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Quiet day.", "annotations": []}]}),
        ];
        let t = to_chat_request(
            br#"{"model":"m","instructions":"Hi.","input":"more?","previous_response_id":"resp_a"}"#,
            &history,
        )
        .unwrap();
        let chat: Value = serde_json::from_slice(&t.chat).unwrap();
        assert_eq!(
            chat["messages"],
            json!([{"role": "system", "content": "Hi."},
                {"role": "user", "content": "news?"},
                {"role": "assistant", "content": "Quiet day."},
                {"role": "user", "content": "more?"}])
        );
        assert_eq!(t.input_items.len(), 1);
        // The same item in the client's own input is refused.
        let e = error_of(json!({"model": "m", "input": [history[1].clone()]}));
        assert!(e.message.contains("web_search_call"));
    }

    fn completion(message: Value, finish: &str) -> Vec<u8> {
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 3}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_text_answer_becomes_a_response_echoing_the_request() {
        let request = json!({"model": "m", "input": "hi", "instructions": "Be brief.",
            "temperature": 0.3, "store": false, "metadata": {"k": "v"},
            "previous_response_id": "resp_prev", "max_output_tokens": 100,
            "tools": [{"type": "function", "name": "f"}], "reasoning": {"effort": "low"}});
        let r = to_response(
            &completion(json!({"role": "assistant", "content": "Hello"}), "stop"),
            "resp_abc",
            &request,
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(r["id"], "resp_abc");
        assert_eq!(r["object"], "response");
        assert_eq!(r["created_at"], 1_700_000_000);
        assert_eq!(r["status"], "completed");
        assert!(r["error"].is_null() && r["incomplete_details"].is_null());
        assert_eq!(
            r["output"],
            json!([{"id": "msg_abc_0", "type": "message", "status": "completed",
                "role": "assistant", "content": [{"type": "output_text", "text": "Hello",
                    "annotations": [], "logprobs": []}]}])
        );
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 3},
                "total_tokens": 17})
        );
        assert_eq!(r["model"], "m");
        assert_eq!(r["instructions"], "Be brief.");
        assert_eq!(r["temperature"], 0.3);
        assert_eq!(r["top_p"], 1.0);
        assert_eq!(r["store"], false);
        assert_eq!(r["metadata"], json!({"k": "v"}));
        assert_eq!(r["previous_response_id"], "resp_prev");
        assert_eq!(r["max_output_tokens"], 100);
        assert_eq!(r["tools"], request["tools"]);
        assert_eq!(r["tool_choice"], "auto");
        assert_eq!(r["text"], json!({"format": {"type": "text"}}));
        assert_eq!(r["reasoning"], json!({"effort": "low", "summary": null}));
        assert_eq!(r["parallel_tool_calls"], true);
    }

    #[test]
    fn reasoning_and_tool_calls_become_output_items() {
        let r = to_response(
            &completion(
                json!({"role": "assistant", "content": null, "reasoning_content": "Think.",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                    {"type": "function", "function": {"name": "g", "arguments": ""}}
                ]}),
                "tool_calls",
            ),
            "resp_t",
            &json!({"model": "m"}),
            1,
        )
        .unwrap();
        assert_eq!(r["status"], "completed");
        assert_eq!(
            r["output"],
            json!([
                {"id": "rs_t_0", "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "Think."}]},
                {"id": "fc_t_1", "type": "function_call", "status": "completed",
                    "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
                {"id": "fc_t_2", "type": "function_call", "status": "completed",
                    "call_id": "call_t_2", "name": "g", "arguments": ""}
            ])
        );
    }

    #[test]
    fn cut_off_refused_and_broken_answers() {
        let r = to_response(
            &completion(json!({"role": "assistant", "content": "Hel"}), "length"),
            "resp_l",
            &json!({}),
            1,
        )
        .unwrap();
        assert_eq!(r["status"], "incomplete");
        assert_eq!(
            r["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(r["output"][0]["status"], "incomplete");
        let r = to_response(
            &completion(
                json!({"role": "assistant", "content": null}),
                "content_filter",
            ),
            "resp_c",
            &json!({}),
            1,
        )
        .unwrap();
        assert_eq!(r["incomplete_details"]["reason"], "content_filter");
        assert_eq!(r["output"][0]["content"][0]["text"], "");
        let r = to_response(
            &completion(
                json!({"role": "assistant", "content": null, "refusal": "No."}),
                "stop",
            ),
            "resp_r",
            &json!({}),
            1,
        )
        .unwrap();
        assert_eq!(
            r["output"][0]["content"],
            json!([{"type": "refusal", "refusal": "No."}])
        );
        let e = to_response(b"not json", "resp_x", &json!({}), 1).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert_eq!(e.status, 502);
        let e = to_response(br#"{"choices":[]}"#, "resp_x", &json!({}), 1).unwrap_err();
        assert!(e.message.contains("no choices"));
        let e =
            to_response(br#"{"error":{"message":"nope"}}"#, "resp_x", &json!({}), 1).unwrap_err();
        assert!(e.message.contains("nope"));
    }

    #[test]
    fn output_round_trips_as_input_of_the_next_turn() {
        let response = to_response(
            &completion(
                json!({"role": "assistant", "content": "Let me look.", "reasoning_content": "hm",
                "tool_calls": [{"id": "c9", "type": "function",
                    "function": {"name": "f", "arguments": "{\"a\":1}"}}]}),
                "tool_calls",
            ),
            "resp_1",
            &json!({"model": "m"}),
            7,
        )
        .unwrap();
        let items = output_as_input(&response);
        assert_eq!(
            items,
            [
                json!({"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": "Let me look.", "annotations": []}]}),
                json!({"type": "function_call", "call_id": "c9", "name": "f",
                    "arguments": "{\"a\":1}"})
            ]
        );
        let mut history = vec![json!({"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "look it up"}]})];
        history.extend(items);
        let t = to_chat_request(
            br#"{"model":"m","input":[{"type":"function_call_output","call_id":"c9","output":"42"}]}"#,
            &history,
        )
        .unwrap();
        let chat: Value = serde_json::from_slice(&t.chat).unwrap();
        assert_eq!(
            chat["messages"],
            json!([
                {"role": "user", "content": "look it up"},
                {"role": "assistant", "content": "Let me look.", "tool_calls": [
                    {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "c9", "content": "42"}
            ])
        );
        // Items a chat provider cannot replay are left out.
        let native = json!({"output": [
            {"type": "reasoning", "id": "rs_x", "summary": []},
            {"type": "web_search_call", "id": "ws_x", "status": "completed"},
            {"type": "message", "id": "msg_x", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Hi", "annotations": [
                    {"type": "url_citation", "url": "https://x"}]}]}
        ]});
        let items = output_as_input(&native);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["content"][0]["annotations"][0]["url"], "https://x");
        assert!(items[0].get("id").is_none());
    }

    fn sse(frames: &[Value]) -> String {
        let mut s: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
        s.push_str("data: [DONE]\n\n");
        s
    }

    /// The `(type, data)` of each event, checking the framing and the sequence numbers.
    fn parse_events(out: &str) -> Vec<(String, Value)> {
        assert!(out.is_empty() || out.ends_with("\n\n"));
        let events: Vec<(String, Value)> = out
            .split_terminator("\n\n")
            .map(|e| {
                let (head, data) = e.split_once('\n').unwrap();
                let kind = head.strip_prefix("event: ").unwrap().to_owned();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], kind.as_str());
                (kind, data)
            })
            .collect();
        for (i, (_, data)) in events.iter().enumerate() {
            assert_eq!(data["sequence_number"], i as u64);
        }
        events
    }

    fn kinds(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn run(input: &str) -> (String, StreamTranslator) {
        let mut t = StreamTranslator::new("resp_s".into(), json!({"model": "m"}), 5);
        let out = t.feed(Bytes::from(input.to_owned()));
        (String::from_utf8(out.to_vec()).unwrap(), t)
    }

    fn text_stream() -> String {
        sse(&[
            json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
            json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2,
                "total_tokens": 6}}),
        ])
    }

    #[test]
    fn a_text_stream_becomes_responses_events() {
        let (out, t) = run(&text_stream());
        let events = parse_events(&out);
        assert_eq!(
            kinds(&events),
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
        let created = &events[0].1["response"];
        assert_eq!(created["status"], "in_progress");
        assert_eq!(created["output"], json!([]));
        assert!(created["usage"].is_null());
        assert_eq!(created["id"], "resp_s");
        assert_eq!(
            events[4].1,
            json!({"type": "response.output_text.delta", "item_id": "msg_s_0", "output_index": 0,
                "content_index": 0, "delta": "Hel", "logprobs": [], "sequence_number": 4})
        );
        assert_eq!(events[6].1["text"], "Hello");
        assert_eq!(events[7].1["part"]["text"], "Hello");
        assert_eq!(events[8].1["item"]["status"], "completed");
        let done = &events[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["usage"]["input_tokens"], 4);
        assert_eq!(done["usage"]["output_tokens"], 2);
        assert_eq!(done["usage"]["total_tokens"], 6);
        assert_eq!(t.completed(), Some(done));
        // The stream's response is the one the same answer gives without streaming.
        let whole = to_response(
            json!({"choices": [{"message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}})
            .to_string()
            .as_bytes(),
            "resp_s",
            &json!({"model": "m"}),
            5,
        )
        .unwrap();
        assert_eq!(t.completed(), Some(&whole));
    }

    fn tool_stream() -> String {
        sse(&[
            json!({"choices": [{"index": 0, "delta": {"reasoning_content": "Need "}}]}),
            json!({"choices": [{"index": 0, "delta": {"reasoning_content": "weather."}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "Checking."}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1",
                "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                "function": {"arguments": "{\"city\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                "function": {"arguments": "\"Paris\"}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_2",
                "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
                "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 9,
                "total_tokens": 29, "completion_tokens_details": {"reasoning_tokens": 3}}}),
        ])
    }

    #[test]
    fn a_stream_with_reasoning_text_and_tool_calls_closes_each_item_in_turn() {
        let (out, t) = run(&tool_stream());
        let events = parse_events(&out);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let (_, first_call) = &events[15];
        assert_eq!(first_call["output_index"], 2);
        assert_eq!(
            first_call["item"],
            json!({"id": "fc_s_2", "type": "function_call", "status": "in_progress",
                "call_id": "call_1", "name": "get_weather", "arguments": ""})
        );
        assert_eq!(events[16].1["item_id"], "fc_s_2");
        assert_eq!(events[18].1["arguments"], "{\"city\":\"Paris\"}");
        assert_eq!(events[18].1["name"], "get_weather");
        assert_eq!(events[6].1["text"], "Need weather.");
        let done = t.completed().unwrap();
        assert_eq!(done, &events[24].1["response"]);
        assert_eq!(
            done["output"],
            json!([
                {"id": "rs_s_0", "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "Need weather."}]},
                {"id": "msg_s_1", "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking.", "annotations": [],
                        "logprobs": []}]},
                {"id": "fc_s_2", "type": "function_call", "status": "completed",
                    "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"id": "fc_s_3", "type": "function_call", "status": "completed",
                    "call_id": "call_2", "name": "get_time", "arguments": "{}"}
            ])
        );
        assert_eq!(
            done["usage"]["output_tokens_details"]["reasoning_tokens"],
            3
        );
        assert_eq!(done["usage"]["total_tokens"], 29);
        // Each item's events name its own output index.
        for (kind, data) in &events {
            if let Some(id) = data["item_id"].as_str() {
                let index = data["output_index"].as_u64().unwrap();
                assert_eq!(id, done["output"][index as usize]["id"], "{kind}");
            }
        }
    }

    /// Splits `input` at pseudo-random places (xorshift, seeded), feeding each piece.
    fn fed_in_pieces(input: &str, seed: u64) -> String {
        let mut state = seed | 1;
        let mut t = StreamTranslator::new("resp_s".into(), json!({"model": "m"}), 5);
        let bytes = input.as_bytes();
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % 40) as usize;
            let end = (at + len).min(bytes.len());
            out.extend_from_slice(&t.feed(Bytes::copy_from_slice(&bytes[at..end])));
            at = end;
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn any_split_of_the_chat_stream_gives_the_same_events() {
        let input = format!("{}{}", text_stream(), ": keep-alive\n\n")
            .replace("Hel", "Hé€")
            .replace("lo", "🙂");
        let (whole, _) = run(&input);
        assert!(whole.contains("🙂"));
        assert_eq!(fed_in_pieces(&input, 0), fed_in_pieces(&input, 0));
        let mut t = StreamTranslator::new("resp_s".into(), json!({"model": "m"}), 5);
        let mut bytewise = Vec::new();
        for b in input.bytes() {
            bytewise.extend_from_slice(&t.feed(Bytes::copy_from_slice(&[b])));
        }
        assert_eq!(String::from_utf8(bytewise).unwrap(), whole);
        let tools = tool_stream();
        let (tools_whole, _) = run(&tools);
        for seed in 1..200 {
            assert_eq!(fed_in_pieces(&input, seed), whole, "seed {seed}");
            assert_eq!(fed_in_pieces(&tools, seed), tools_whole, "seed {seed}");
        }
        for split in 1..tools.len() {
            let mut t = StreamTranslator::new("resp_s".into(), json!({"model": "m"}), 5);
            let mut out = t
                .feed(Bytes::copy_from_slice(&tools.as_bytes()[..split]))
                .to_vec();
            out.extend_from_slice(&t.feed(Bytes::copy_from_slice(&tools.as_bytes()[split..])));
            assert_eq!(
                String::from_utf8(out).unwrap(),
                tools_whole,
                "split at {split}"
            );
        }
        // CRLF framing reads the same.
        let (crlf, _) = run(&input.replace('\n', "\r\n"));
        assert_eq!(crlf, whole);
    }

    #[test]
    fn a_mid_stream_error_fails_the_response_and_ends_the_stream() {
        let input = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n\
            data: {\"error\":{\"message\":\"upstream stream broke off\",\"type\":\"api_error\",\"param\":null,\"code\":null}}\n\n\
            data: [DONE]\n\n";
        let (out, t) = run(input);
        let events = parse_events(&out);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.failed"
            ]
        );
        let failed = &events[5].1["response"];
        assert_eq!(failed["status"], "failed");
        assert_eq!(
            failed["error"],
            json!({"code": "server_error", "message": "upstream stream broke off"})
        );
        assert!(t.completed().is_none());
        // A rate limit before anything was streamed keeps its meaning.
        let (out, t) = run(
            "data: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\",\"code\":null}}\n\ndata: [DONE]\n\n",
        );
        let events = parse_events(&out);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.in_progress",
                "response.failed"
            ]
        );
        assert_eq!(
            events[2].1["response"]["error"]["code"],
            "rate_limit_exceeded"
        );
        assert!(t.completed().is_none());
        // Nothing follows the end, whatever still arrives.
        let mut t = StreamTranslator::new("resp_s".into(), json!({}), 5);
        assert!(!t.feed(Bytes::from(text_stream())).is_empty());
        assert!(t
            .feed(Bytes::from(sse(&[
                json!({"choices": [{"index": 0, "delta": {"content": "x"}}]})
            ])))
            .is_empty());
    }

    #[test]
    fn cut_off_empty_and_unfinished_streams() {
        let (out, t) = run(&sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": "length"}]}),
        ]));
        let events = parse_events(&out);
        assert_eq!(kinds(&events).last(), Some(&"response.incomplete"));
        let done = t.completed().unwrap();
        assert_eq!(done["status"], "incomplete");
        assert_eq!(done["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(done["output"][0]["status"], "incomplete");
        // A provider that never says why it stopped still completes at [DONE].
        let (out, t) = run(&sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": "x"}}]}),
        ]));
        assert_eq!(
            kinds(&parse_events(&out)).last(),
            Some(&"response.completed")
        );
        assert_eq!(t.completed().unwrap()["usage"]["total_tokens"], 0);
        // Nothing at all: an empty message, as without streaming.
        let (out, t) = run("data: [DONE]\n\n");
        assert_eq!(
            kinds(&parse_events(&out)),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(
            t.completed().unwrap()["output"][0]["content"][0]["text"],
            ""
        );
        // No [DONE] yet: not finished.
        let mut t = StreamTranslator::new("resp_s".into(), json!({}), 5);
        t.feed(Bytes::from(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n",
        ));
        assert!(t.completed().is_none());
    }

    #[test]
    fn refusals_and_late_call_fragments_stream_too() {
        let (out, t) = run(&sse(&[
            json!({"choices": [{"index": 0, "delta": {"content": "I"}}]}),
            json!({"choices": [{"index": 0, "delta": {"refusal": "can't"}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "a",
                "function": {"name": "f", "arguments": "{\"x\""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "b",
                "function": {"name": "g", "arguments": "{}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
                "function": {"arguments": ":1}"}}]}}]}),
        ]));
        let events = parse_events(&out);
        let kinds = kinds(&events);
        assert!(kinds.contains(&"response.refusal.delta"));
        assert!(kinds.contains(&"response.refusal.done"));
        let parts = events
            .iter()
            .filter(|(k, _)| k == "response.content_part.added")
            .map(|(_, d)| d["content_index"].clone())
            .collect::<Vec<_>>();
        assert_eq!(parts, [json!(0), json!(1)]);
        let done = t.completed().unwrap();
        assert_eq!(
            done["output"][0]["content"],
            json!([{"type": "output_text", "text": "I", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "can't"}])
        );
        assert_eq!(done["output"][1]["arguments"], "{\"x\":1}");
        assert_eq!(done["output"][2]["arguments"], "{}");
    }

    #[test]
    fn tool_calls_without_an_index_are_told_apart_by_their_id() {
        let (_, t) = run(&sse(&[
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"id": "a", "function": {"name": "f", "arguments": "{\"x\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"function": {"arguments": "1}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"id": "b", "function": {"name": "g", "arguments": "{}"}},
                {"id": "c", "function": {"name": "h", "arguments": "{}"}}]}}]}),
        ]));
        let output = &t.completed().unwrap()["output"];
        let calls: Vec<(&str, &str)> = output
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["call_id"].as_str().unwrap(),
                    i["arguments"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(calls, [("a", "{\"x\":1}"), ("b", "{}"), ("c", "{}")]);
    }
}

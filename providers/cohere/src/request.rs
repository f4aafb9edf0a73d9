//! OpenAI chat / embeddings requests → Cohere v2 `/v2/chat` / `/v2/embed` requests.

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{openai, ErrorKind, ProviderError, RequestContext};

/// OpenAI parameters with no Cohere equivalent: dropped with `drop_params`, else a 400.
/// (`n` = 1 and `parallel_tool_calls` = true are what Cohere does anyway and are accepted.)
const UNSUPPORTED: &[&str] = &[
    "n",
    "parallel_tool_calls",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "audio",
    "modalities",
    "prediction",
    "service_tier",
    "functions",
    "function_call",
    "web_search_options",
];

/// Cohere's own chat members, passed through when a client that knows them sends them.
const PASSTHROUGH: &[&str] = &[
    "documents",
    "citation_options",
    "safety_mode",
    "strict_tools",
    "priority",
];

/// Upper bound on `input` strings of one embeddings request (Cohere takes 96).
const MAX_EMBED_TEXTS: usize = 2048;

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::invalid_request(format!("cohere: {}", message.into()))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not a JSON object: {e}")))
}

/// Whether `key` is present with a value Cohere cannot honour.
fn unsupported_value(key: &str, value: &Value) -> bool {
    match key {
        _ if value.is_null() => false,
        "n" => value.as_u64() != Some(1),
        "parallel_tool_calls" => value.as_bool() != Some(true),
        "logprobs" => value.as_bool() != Some(false),
        _ => true,
    }
}

/// Text parts of an OpenAI content (string or parts) as Cohere text parts, for roles that only
/// take text (system, tool); a plain string stays a string.
fn text_only_content(content: &Value, at: &str) -> Result<Value, ProviderError> {
    match content {
        Value::Null => Ok(Value::String(String::new())),
        Value::String(_) => Ok(content.clone()),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, part)| match part.get("type").and_then(Value::as_str) {
                Some("text") => Ok(json!({"type": "text", "text": part.get("text").and_then(Value::as_str).unwrap_or_default()})),
                Some(other) => Err(invalid(format!(
                    "{at}.content[{i}]: content part type '{other}' is not supported in this message by cohere"
                ))),
                None => Err(invalid(format!("{at}.content[{i}]: content part without a type"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err(invalid(format!(
            "{at}.content must be a string or an array of parts"
        ))),
    }
}

/// A user message's content: text and image parts (Cohere takes OpenAI's `image_url` shape).
fn user_content(content: &Value, at: &str) -> Result<Value, ProviderError> {
    match content {
        Value::Null => Ok(Value::String(String::new())),
        Value::String(_) => Ok(content.clone()),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                let block = match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        json!({"type": "text", "text": part.get("text").and_then(Value::as_str).unwrap_or_default()})
                    }
                    Some("image_url") => {
                        let image = part.get("image_url").unwrap_or(&Value::Null);
                        let url = image
                            .get("url")
                            .or(Some(image))
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                invalid(format!("{at}.content[{i}]: image_url without a url"))
                            })?;
                        let mut image_url = json!({ "url": url });
                        if let Some(detail) = image.get("detail").filter(|d| d.is_string()) {
                            image_url["detail"] = detail.clone();
                        }
                        json!({"type": "image_url", "image_url": image_url})
                    }
                    Some(other) => {
                        return Err(invalid(format!(
                        "{at}.content[{i}]: content part type '{other}' is not supported by cohere"
                    )))
                    }
                    None => {
                        return Err(invalid(format!(
                            "{at}.content[{i}]: content part without a type"
                        )))
                    }
                };
                out.push(block);
            }
            Ok(Value::Array(out))
        }
        _ => Err(invalid(format!(
            "{at}.content must be a string or an array of parts"
        ))),
    }
}

/// The text of an OpenAI content, parts joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn assistant_message(m: &Value, at: &str) -> Result<Value, ProviderError> {
    let content = m.get("content").unwrap_or(&Value::Null);
    let text = text_of(content);
    let reasoning = m
        .get("reasoning_content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let calls =
        openai::tool_call_inputs("cohere", m.get("tool_calls").unwrap_or(&Value::Null), at)?
            .into_iter()
            .map(|(call, _validated)| {
                let args = call["function"]["arguments"].as_str().unwrap_or("");
                json!({
                    "id": call.get("id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {
                        "name": call["function"].get("name").cloned().unwrap_or(Value::Null),
                        "arguments": if args.trim().is_empty() { "{}" } else { args },
                    },
                })
            })
            .collect::<Vec<_>>();
    let mut out = json!({"role": "assistant"});
    let thinking =
        (!reasoning.is_empty()).then(|| json!({"type": "thinking", "thinking": reasoning}));
    if calls.is_empty() {
        out["content"] = match thinking {
            Some(thinking) => json!([thinking, {"type": "text", "text": text}]),
            None if content.is_string() => content.clone(),
            None => Value::String(text),
        };
    } else {
        // Text beside tool calls is Cohere's tool plan.
        if !text.is_empty() {
            out["tool_plan"] = Value::String(text);
        }
        if let Some(thinking) = thinking {
            out["content"] = json!([thinking]);
        }
        out["tool_calls"] = Value::Array(calls);
    }
    Ok(out)
}

fn translate_messages(messages: &[Value]) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{at}.role is missing")))?;
        let content = m.get("content").unwrap_or(&Value::Null);
        out.push(match role {
            "system" | "developer" => {
                json!({"role": "system", "content": text_only_content(content, &at)?})
            }
            "user" => json!({"role": "user", "content": user_content(content, &at)?}),
            "assistant" => assistant_message(m, &at)?,
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{at}.tool_call_id is missing")))?;
                json!({"role": "tool", "tool_call_id": id, "content": text_only_content(content, &at)?})
            }
            other => return Err(invalid(format!("{at}.role '{other}' is not supported"))),
        });
    }
    Ok(out)
}

/// OpenAI function tools → Cohere v2 tools (the same shape, rebuilt member by member), and
/// whether any asked for strict schemas.
fn translate_tools(tools: &Value) -> Result<(Vec<Value>, bool), ProviderError> {
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools must be an array").with_param("tools"))?;
    let mut strict = false;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        let f = tool
            .get("function")
            .filter(|_| kind == "function")
            .ok_or_else(|| {
                invalid(format!("tools[{i}] is not a function tool")).with_param("tools")
            })?;
        let name = f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("tools[{i}].function.name is missing")))?;
        let mut function = json!({
            "name": name,
            "parameters": f.get("parameters").filter(|p| !p.is_null()).cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
        if let Some(d) = f.get("description").filter(|d| d.is_string()) {
            function["description"] = d.clone();
        }
        strict |= f.get("strict").and_then(Value::as_bool) == Some(true);
        out.push(json!({"type": "function", "function": function}));
    }
    Ok((out, strict))
}

/// OpenAI `tool_choice` → Cohere's, and the one tool a named choice keeps.
fn translate_tool_choice(
    choice: &Value,
) -> Result<(Option<&'static str>, Option<&str>), ProviderError> {
    match choice {
        Value::String(s) if s == "auto" => Ok((None, None)),
        Value::String(s) if s == "required" => Ok((Some("REQUIRED"), None)),
        Value::String(s) if s == "none" => Ok((Some("NONE"), None)),
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid("tool_choice names no function").with_param("tool_choice")
                })?;
            Ok((Some("REQUIRED"), Some(name)))
        }
        _ => Err(
            invalid("tool_choice must be auto, required, none or a function")
                .with_param("tool_choice"),
        ),
    }
}

fn translate_response_format(format: &Value) -> Result<Option<Value>, ProviderError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let schema = format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .filter(|s| !s.is_null());
            Ok(Some(match schema {
                Some(schema) => json!({"type": "json_object", "json_schema": schema}),
                None => json!({"type": "json_object"}),
            }))
        }
        _ => Err(
            invalid("response_format.type must be text, json_object or json_schema")
                .with_param("response_format"),
        ),
    }
}

/// Cohere's `thinking` from a client's `thinking` member (Cohere's shape, or Anthropic's
/// `budget_tokens`) or from `reasoning_effort`.
fn thinking(req: &Map<String, Value>) -> Result<Option<Value>, ProviderError> {
    if let Some(t) = req.get("thinking").filter(|t| !t.is_null()) {
        let mut t = t
            .as_object()
            .cloned()
            .ok_or_else(|| invalid("thinking must be an object").with_param("thinking"))?;
        if let Some(budget) = t.remove("budget_tokens") {
            t.entry("token_budget").or_insert(budget);
        }
        return Ok(Some(Value::Object(t)));
    }
    Ok(match req.get("reasoning_effort").and_then(Value::as_str) {
        None => None,
        Some("none") => Some(json!({"type": "disabled"})),
        Some("minimal" | "low") => Some(json!({"type": "enabled", "token_budget": 1024})),
        Some("medium") => Some(json!({"type": "enabled", "token_budget": 4096})),
        Some(_) => Some(json!({"type": "enabled"})),
    })
}

/// Translates the client's OpenAI chat body. The output is built member by member from what
/// Cohere accepts, so gateway-only members (`fallbacks`, `mock_*`, …) never reach it.
pub(crate) fn translate_chat(
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<Vec<u8>, ProviderError> {
    let req = parse_object(body)?;
    if !context.drop_params {
        if let Some(key) = UNSUPPORTED
            .iter()
            .find(|k| req.get(**k).is_some_and(|v| unsupported_value(k, v)))
        {
            return Err(ProviderError::new(
                ErrorKind::UnsupportedParam,
                format!(
                    "cohere does not support the parameter '{key}' with this value; set drop_params: true to drop it"
                ),
            )
            .with_param(*key)
            .with_code("unsupported_parameter"));
        }
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array").with_param("messages"))?;
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    out.insert(
        "messages".to_owned(),
        Value::Array(translate_messages(messages)?),
    );
    if let Some(max) = req
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .or_else(|| req.get("max_tokens").filter(|v| !v.is_null()))
    {
        let max = max.as_u64().ok_or_else(|| {
            invalid("max_tokens must be a positive integer").with_param("max_tokens")
        })?;
        out.insert("max_tokens".to_owned(), json!(max));
    }
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "p"),
        ("top_k", "k"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
    ] {
        if let Some(v) = req.get(from).filter(|v| !v.is_null()) {
            if !v.is_number() {
                return Err(invalid(format!("{from} must be a number")).with_param(from));
            }
            out.insert(to.to_owned(), v.clone());
        }
    }
    match req.get("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".to_owned(), json!([s]));
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            out.insert("stop_sequences".to_owned(), Value::Array(list.clone()));
        }
        _ => {}
    }
    let choice = match req.get("tool_choice").filter(|c| !c.is_null()) {
        Some(c) => translate_tool_choice(c)?,
        None => (None, None),
    };
    if let Some(tools) = req.get("tools").filter(|t| !t.is_null()) {
        let (mut tools, strict) = translate_tools(tools)?;
        if let Some(name) = choice.1 {
            tools.retain(|t| t["function"]["name"] == name);
            if tools.is_empty() {
                return Err(invalid(format!(
                    "tool_choice names the function '{name}', which is not in tools"
                ))
                .with_param("tool_choice"));
            }
        }
        if !tools.is_empty() {
            out.insert("tools".to_owned(), Value::Array(tools));
            if strict {
                out.insert("strict_tools".to_owned(), Value::Bool(true));
            }
            if let Some(c) = choice.0 {
                out.insert("tool_choice".to_owned(), json!(c));
            }
        }
    } else if choice.1.is_some() {
        return Err(
            invalid("tool_choice names a function but there are no tools")
                .with_param("tool_choice"),
        );
    }
    if let Some(format) = req.get("response_format").filter(|f| !f.is_null()) {
        if let Some(f) = translate_response_format(format)? {
            out.insert("response_format".to_owned(), f);
        }
    }
    if let Some(t) = thinking(&req)? {
        out.insert("thinking".to_owned(), t);
    }
    for key in PASSTHROUGH {
        if let Some(v) = req.get(*key).filter(|v| !v.is_null()) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    if context.stream {
        out.insert("stream".to_owned(), Value::Bool(true));
    } else if req.get("stream").is_some() {
        out.insert("stream".to_owned(), Value::Bool(false));
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(e.to_string()))
}

/// Translates an OpenAI embeddings body into a `/v2/embed` body.
pub(crate) fn translate_embed(body: &[u8], model: &str) -> Result<Vec<u8>, ProviderError> {
    let req = parse_object(body)?;
    let bad_input = || {
        invalid("input must be a string or an array of strings (token arrays are not supported)")
            .with_param("input")
    };
    let texts: Vec<Value> = match req.get("input") {
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {
            list.clone()
        }
        _ => return Err(bad_input()),
    };
    if texts.len() > MAX_EMBED_TEXTS {
        return Err(invalid(format!(
            "input has {} strings; at most {MAX_EMBED_TEXTS} are accepted",
            texts.len()
        ))
        .with_param("input"));
    }
    let embedding_type = match req.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => "float",
        Some("base64") => "base64",
        Some(other) => {
            return Err(invalid(format!(
                "encoding_format '{other}' is not supported (float or base64)"
            ))
            .with_param("encoding_format"))
        }
    };
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    out.insert("texts".to_owned(), Value::Array(texts));
    let input_type = match req.get("input_type") {
        None | Some(Value::Null) => "search_document",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(invalid("input_type must be a string").with_param("input_type")),
    };
    out.insert("input_type".to_owned(), json!(input_type));
    out.insert("embedding_types".to_owned(), json!([embedding_type]));
    if let Some(d) = req.get("dimensions").filter(|d| !d.is_null()) {
        let d = d.as_u64().ok_or_else(|| {
            invalid("dimensions must be a positive integer").with_param("dimensions")
        })?;
        out.insert("output_dimension".to_owned(), json!(d));
    }
    if let Some(t) = req.get("truncate").filter(|t| t.is_string()) {
        out.insert("truncate".to_owned(), t.clone());
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(e.to_string()))
}

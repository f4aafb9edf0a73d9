//! OpenAI requests → Ollama's native API: `/api/chat`, `/api/generate`, `/api/embed`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{openai, ErrorKind, ProviderError, RequestContext};

/// Chat parameters Ollama has no equivalent for: dropped with `drop_params`, else a 400.
const CHAT_UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
];

/// Legacy-completions parameters Ollama has no equivalent for.
const GENERATE_UNSUPPORTED: &[&str] = &["logit_bias", "logprobs", "best_of", "echo"];

/// OpenAI sampling parameters that are Ollama model options of the same name.
const SAME_NAME_OPTIONS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "frequency_penalty",
    "presence_penalty",
];

pub(crate) fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::invalid_request(format!("ollama: {}", message.into()))
}

fn invalid_param(param: &str, message: impl Into<String>) -> ProviderError {
    invalid(message).with_param(param)
}

/// Per-deployment settings sent with every native request.
#[derive(Debug, Clone, Default)]
pub(crate) struct NativeSettings {
    /// `keep_alive` from the deployment's params.
    keep_alive: Option<Value>,
    /// `options` from the deployment's params.
    options: Map<String, Value>,
}

impl NativeSettings {
    pub(crate) fn from_params(params: &BTreeMap<String, Value>) -> Result<Self, ProviderError> {
        let options = match params.get("options") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => {
                return Err(invalid_param(
                    "options",
                    "the deployment's options must be an object of Ollama model options",
                ))
            }
        };
        Ok(NativeSettings {
            keep_alive: params.get("keep_alive").filter(|v| !v.is_null()).cloned(),
            options,
        })
    }
}

/// A member that is present and means something (`null`, `false` and `n: 1` do not).
fn is_set(key: &str, value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Number(n) if key == "n" => n.as_u64() != Some(1),
        _ => true,
    }
}

fn check_unsupported(
    req: &Map<String, Value>,
    keys: &[&str],
    context: &RequestContext,
) -> Result<(), ProviderError> {
    if context.drop_params {
        return Ok(());
    }
    for key in keys {
        if req.get(*key).is_some_and(|v| is_set(key, v)) {
            return Err(unsupported(key));
        }
    }
    Ok(())
}

fn unsupported(key: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::UnsupportedParam,
        format!("ollama does not support the parameter '{key}'; set drop_params: true to drop it"),
    )
    .with_param(key)
    .with_code("unsupported_parameter")
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not a JSON object: {e}")))
}

/// Ollama `options`: the deployment's, then the client's own `options` member, then the
/// OpenAI parameters.
fn options(
    req: &Map<String, Value>,
    settings: &NativeSettings,
) -> Result<Map<String, Value>, ProviderError> {
    let mut out = settings.options.clone();
    match req.get("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => out.extend(o.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Some(_) => return Err(invalid_param("options", "options must be an object")),
    }
    let max = req
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .map(|v| ("max_completion_tokens", v))
        .or_else(|| {
            req.get("max_tokens")
                .filter(|v| !v.is_null())
                .map(|v| ("max_tokens", v))
        });
    if let Some((name, v)) = max {
        let n = v
            .as_u64()
            .ok_or_else(|| invalid_param(name, format!("{name} must be a positive integer")))?;
        out.insert("num_predict".to_owned(), json!(n));
    }
    for key in SAME_NAME_OPTIONS {
        if let Some(v) = req.get(*key).filter(|v| !v.is_null()) {
            if !v.is_number() {
                return Err(invalid_param(key, format!("{key} must be a number")));
            }
            out.insert((*key).to_owned(), v.clone());
        }
    }
    match req.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("stop".to_owned(), json!([s]));
        }
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
            if !list.is_empty() {
                out.insert("stop".to_owned(), Value::Array(list.clone()));
            }
        }
        Some(_) => {
            return Err(invalid_param(
                "stop",
                "stop must be a string or an array of strings",
            ))
        }
    }
    Ok(out)
}

/// `format` from `response_format` (or the client's own `format` member).
fn format(req: &Map<String, Value>) -> Result<Option<Value>, ProviderError> {
    let Some(rf) = req.get("response_format").filter(|v| !v.is_null()) else {
        return Ok(req.get("format").filter(|v| !v.is_null()).cloned());
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!("json"))),
        Some("json_schema") => rf
            .get("json_schema")
            .and_then(|s| s.get("schema"))
            .filter(|s| s.is_object())
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                invalid_param(
                    "response_format",
                    "response_format json_schema needs a json_schema.schema object",
                )
            }),
        _ => Err(invalid_param(
            "response_format",
            "response_format.type must be text, json_object or json_schema",
        )),
    }
}

/// `think` from `reasoning_effort` (or the client's own `think` member). gpt-oss models take
/// a level; the others think or do not.
fn think(req: &Map<String, Value>, model: &str) -> Result<Option<Value>, ProviderError> {
    if let Some(t) = req.get("think").filter(|v| !v.is_null()) {
        return Ok(Some(t.clone()));
    }
    let Some(effort) = req.get("reasoning_effort").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let levels = model.contains("gpt-oss");
    let value = match effort.as_str() {
        Some("none") => json!(false),
        Some("minimal" | "low") if levels => json!("low"),
        Some(level @ ("medium" | "high")) if levels => json!(level),
        Some("minimal" | "low" | "medium" | "high") => json!(true),
        _ => {
            return Err(invalid_param(
                "reasoning_effort",
                "reasoning_effort must be none, minimal, low, medium or high",
            ))
        }
    };
    Ok(Some(value))
}

/// Text and images of an OpenAI `content` (string or parts).
fn content(
    content: &Value,
    at: &str,
    images: Option<&mut Vec<Value>>,
) -> Result<String, ProviderError> {
    let parts = match content {
        Value::Null => return Ok(String::new()),
        Value::String(s) => return Ok(s.clone()),
        Value::Array(parts) => parts,
        _ => {
            return Err(invalid_param(
                &format!("{at}.content"),
                format!("{at}.content must be a string or an array of parts"),
            ))
        }
    };
    let mut texts: Vec<&str> = Vec::new();
    let mut images = images;
    for (j, part) in parts.iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        match part.get("type").and_then(Value::as_str) {
            Some("text") | Some("refusal") => {
                let key = if part["type"] == "text" {
                    "text"
                } else {
                    "refusal"
                };
                texts.push(part.get(key).and_then(Value::as_str).unwrap_or_default());
            }
            Some("image_url") => {
                let param = format!("{here}.image_url");
                let Some(list) = images.as_deref_mut() else {
                    return Err(invalid_param(
                        &param,
                        format!("{param}: images are only supported in user messages"),
                    ));
                };
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid_param(&param, format!("{param} has no url")))?;
                list.push(Value::String(inline_image(url, &param)?));
            }
            Some(other) => {
                return Err(invalid_param(
                    &here,
                    format!("{here}: content part type '{other}' is not supported by ollama"),
                ))
            }
            None => {
                return Err(invalid_param(
                    &here,
                    format!("{here}: content part without a type"),
                ))
            }
        }
    }
    Ok(texts.join("\n"))
}

/// The base64 payload of a `data:` URL. Ollama reads images from the request only, so a remote
/// URL cannot be forwarded.
fn inline_image(url: &str, param: &str) -> Result<String, ProviderError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(invalid_param(
            param,
            format!(
                "{param}: Ollama accepts only inline images; send the image as a base64 data: URL \
                 (data:image/png;base64,...) instead of a remote URL"
            ),
        ));
    };
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| invalid_param(param, format!("{param}: malformed data: URL")))?;
    if !meta.ends_with(";base64") {
        return Err(invalid_param(
            param,
            format!("{param}: only base64 data: URLs are supported"),
        ));
    }
    Ok(data.to_owned())
}

fn translate_messages(messages: &[Value]) -> Result<Vec<Value>, ProviderError> {
    // Tool-call id → function name, for the `tool_name` of results.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_param(&format!("{at}.role"), format!("{at}.role is missing")))?;
        let raw_content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => {
                out.push(json!({"role": "system", "content": content(raw_content, &at, None)?}));
            }
            "user" => {
                let mut images = Vec::new();
                let text = content(raw_content, &at, Some(&mut images))?;
                let mut msg = json!({"role": "user", "content": text});
                if !images.is_empty() {
                    msg["images"] = Value::Array(images);
                }
                out.push(msg);
            }
            "assistant" => {
                let mut msg =
                    json!({"role": "assistant", "content": content(raw_content, &at, None)?});
                let thinking = ["reasoning_content", "reasoning", "thinking"]
                    .iter()
                    .find_map(|k| m.get(*k).and_then(Value::as_str))
                    .filter(|t| !t.is_empty());
                if let Some(t) = thinking {
                    msg["thinking"] = json!(t);
                }
                let calls = m.get("tool_calls").unwrap_or(&Value::Null);
                let inputs = openai::tool_call_inputs("ollama", calls, &at)?;
                if !inputs.is_empty() {
                    let mut list = Vec::with_capacity(inputs.len());
                    for (index, (call, input)) in inputs.into_iter().enumerate() {
                        let name = call["function"]["name"].as_str().unwrap_or_default();
                        let mut c =
                            json!({"function": {"index": index, "name": name, "arguments": input}});
                        if let Some(id) = call.get("id").and_then(Value::as_str) {
                            names.insert(id.to_owned(), name.to_owned());
                            c["id"] = json!(id);
                        }
                        list.push(c);
                    }
                    msg["tool_calls"] = Value::Array(list);
                }
                out.push(msg);
            }
            "tool" | "function" => {
                let mut msg = json!({"role": "tool", "content": content(raw_content, &at, None)?});
                let id = m.get("tool_call_id").and_then(Value::as_str);
                let name = m
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| id.and_then(|id| names.get(id).cloned()));
                if let Some(name) = name {
                    msg["tool_name"] = json!(name);
                }
                if let Some(id) = id {
                    msg["tool_call_id"] = json!(id);
                }
                out.push(msg);
            }
            other => {
                return Err(invalid_param(
                    &format!("{at}.role"),
                    format!("{at}.role '{other}' is not supported"),
                ))
            }
        }
    }
    Ok(out)
}

/// `tools`, or none when `tool_choice` is `none`. Ollama has no way to force a tool call.
fn tools(
    req: &Map<String, Value>,
    context: &RequestContext,
) -> Result<Option<Value>, ProviderError> {
    let Some(tools) = req.get("tools").filter(|t| !t.is_null()) else {
        return Ok(None);
    };
    let list = tools
        .as_array()
        .ok_or_else(|| invalid_param("tools", "tools must be an array"))?;
    for (i, tool) in list.iter().enumerate() {
        if tool.get("function").and_then(|f| f.get("name")).is_none() {
            return Err(invalid_param(
                &format!("tools[{i}]"),
                format!("tools[{i}] is not a function tool with a name"),
            ));
        }
    }
    match req.get("tool_choice") {
        None | Some(Value::Null) => Ok(Some(tools.clone())),
        Some(Value::String(s)) if s == "auto" => Ok(Some(tools.clone())),
        Some(Value::String(s)) if s == "none" => Ok(None),
        Some(_) if context.drop_params => Ok(Some(tools.clone())),
        Some(_) => Err(ProviderError::new(
            ErrorKind::UnsupportedParam,
            "ollama cannot force a tool call: tool_choice must be auto or none; set drop_params: true to drop it",
        )
        .with_param("tool_choice")
        .with_code("unsupported_parameter")),
    }
}

fn finish_body(out: Map<String, Value>) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(e.to_string()))
}

fn keep_alive(req: &Map<String, Value>, settings: &NativeSettings) -> Option<Value> {
    req.get("keep_alive")
        .filter(|v| !v.is_null())
        .cloned()
        .or_else(|| settings.keep_alive.clone())
}

/// OpenAI chat request → `/api/chat`. The body is built member by member, so gateway-only
/// members never reach Ollama.
pub(crate) fn chat(
    body: &[u8],
    model: &str,
    context: &RequestContext,
    settings: &NativeSettings,
) -> Result<Vec<u8>, ProviderError> {
    let req = parse_object(body)?;
    check_unsupported(&req, CHAT_UNSUPPORTED, context)?;
    if !context.drop_params && req.get("n").is_some_and(|v| is_set("n", v)) {
        return Err(unsupported("n"));
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_param("messages", "messages must be an array"))?;
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    out.insert(
        "messages".to_owned(),
        Value::Array(translate_messages(messages)?),
    );
    out.insert("stream".to_owned(), Value::Bool(context.stream));
    if let Some(tools) = tools(&req, context)? {
        out.insert("tools".to_owned(), tools);
    }
    generation_members(&mut out, &req, model, settings)?;
    finish_body(out)
}

/// The members `/api/chat` and `/api/generate` share: output format, thinking, sampling
/// options and `keep_alive`.
fn generation_members(
    out: &mut Map<String, Value>,
    req: &Map<String, Value>,
    model: &str,
    settings: &NativeSettings,
) -> Result<(), ProviderError> {
    if let Some(f) = format(req)? {
        out.insert("format".to_owned(), f);
    }
    if let Some(t) = think(req, model)? {
        out.insert("think".to_owned(), t);
    }
    let options = options(req, settings)?;
    if !options.is_empty() {
        out.insert("options".to_owned(), Value::Object(options));
    }
    if let Some(k) = keep_alive(req, settings) {
        out.insert("keep_alive".to_owned(), k);
    }
    Ok(())
}

/// OpenAI legacy completions request → `/api/generate`.
pub(crate) fn generate(
    body: &[u8],
    model: &str,
    context: &RequestContext,
    settings: &NativeSettings,
) -> Result<Vec<u8>, ProviderError> {
    let req = parse_object(body)?;
    check_unsupported(&req, GENERATE_UNSUPPORTED, context)?;
    if !context.drop_params && req.get("n").is_some_and(|v| is_set("n", v)) {
        return Err(unsupported("n"));
    }
    let prompt = match req.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(list)) if list.len() == 1 && list[0].is_string() => {
            list[0].as_str().unwrap_or_default().to_owned()
        }
        _ => {
            return Err(invalid_param(
                "prompt",
                "prompt must be one string (Ollama completes one prompt per request)",
            ))
        }
    };
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    out.insert("prompt".to_owned(), json!(prompt));
    out.insert("stream".to_owned(), Value::Bool(context.stream));
    if let Some(suffix) = req.get("suffix").and_then(Value::as_str) {
        out.insert("suffix".to_owned(), json!(suffix));
    }
    generation_members(&mut out, &req, model, settings)?;
    finish_body(out)
}

/// The strings of an embeddings `input`.
fn embedding_inputs(req: &Map<String, Value>) -> Result<Vec<String>, ProviderError> {
    let bad = || {
        invalid_param(
            "input",
            "input must be a string or an array of strings (Ollama does not take token arrays)",
        )
    };
    match req.get("input") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

/// OpenAI embeddings request → `/api/embed`.
pub(crate) fn embed(
    body: &[u8],
    model: &str,
    settings: &NativeSettings,
) -> Result<Vec<u8>, ProviderError> {
    let req = parse_object(body)?;
    let inputs = embedding_inputs(&req)?;
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    // A single string stays a string, as the client sent it.
    let input = match req.get("input") {
        Some(Value::String(s)) => json!(s),
        _ => json!(inputs),
    };
    out.insert("input".to_owned(), input);
    if let Some(d) = req.get("dimensions").filter(|v| !v.is_null()) {
        let n = d
            .as_u64()
            .ok_or_else(|| invalid_param("dimensions", "dimensions must be a positive integer"))?;
        out.insert("dimensions".to_owned(), json!(n));
    }
    if let Some(t) = req.get("truncate").and_then(Value::as_bool) {
        out.insert("truncate".to_owned(), json!(t));
    }
    let options = options(&req, settings)?;
    if !options.is_empty() {
        out.insert("options".to_owned(), Value::Object(options));
    }
    if let Some(k) = keep_alive(&req, settings) {
        out.insert("keep_alive".to_owned(), k);
    }
    finish_body(out)
}

/// OpenAI embeddings request → the legacy `/api/embeddings` (one prompt per request).
pub(crate) fn legacy_embeddings(
    body: &[u8],
    model: &str,
    settings: &NativeSettings,
) -> Result<Vec<u8>, ProviderError> {
    let req = parse_object(body)?;
    let mut inputs = embedding_inputs(&req)?;
    if inputs.len() != 1 {
        return Err(invalid_param(
            "input",
            "the legacy /api/embeddings endpoint embeds one input per request; \
             send one string or unset ollama_legacy_embeddings to use /api/embed",
        ));
    }
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    out.insert("prompt".to_owned(), json!(inputs.remove(0)));
    let options = options(&req, settings)?;
    if !options.is_empty() {
        out.insert("options".to_owned(), Value::Object(options));
    }
    if let Some(k) = keep_alive(&req, settings) {
        out.insert("keep_alive".to_owned(), k);
    }
    finish_body(out)
}

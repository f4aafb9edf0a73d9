//! OpenAI chat request → Anthropic Messages request.

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{openai, ErrorKind, ProviderError, RequestContext};

use crate::DEFAULT_MAX_TOKENS;

/// OpenAI parameters with no Anthropic equivalent: dropped with `drop_params`, else a 400.
const UNSUPPORTED: &[&str] = &[
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "response_format",
    "audio",
    "modalities",
    "prediction",
    "service_tier",
];

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::invalid_request(format!("anthropic: {}", message.into()))
}

/// Content blocks of an OpenAI `content` (string or parts).
fn content_blocks(content: &Value, at: &str) -> Result<Vec<Value>, ProviderError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"type": "text", "text": s})]),
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                content_part(part).map_err(|e| invalid(format!("{at}.content[{i}]: {e}")))
            })
            .collect(),
        _ => Err(invalid(format!(
            "{at}.content must be a string or an array of parts"
        ))),
    }
}

fn content_part(part: &Value) -> Result<Value, String> {
    let mut block = match part.get("type").and_then(Value::as_str) {
        Some("text") => {
            json!({"type": "text", "text": part.get("text").and_then(Value::as_str).unwrap_or_default()})
        }
        Some("image_url") => {
            let url = part
                .get("image_url")
                .and_then(|i| i.get("url").or(Some(i)))
                .and_then(Value::as_str)
                .ok_or("image_url without a url")?;
            image_block(url)?
        }
        Some(other) => {
            return Err(format!(
                "content part type '{other}' is not supported by anthropic"
            ))
        }
        None => return Err("content part without a type".to_owned()),
    };
    if let Some(cache) = part.get("cache_control") {
        block["cache_control"] = cache.clone();
    }
    Ok(block)
}

fn image_block(url: &str) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or("malformed data URL")?;
        let media_type = meta
            .strip_suffix(";base64")
            .ok_or("only base64 data URLs are supported")?;
        Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        )
    } else {
        Ok(json!({"type": "image", "source": {"type": "url", "url": url}}))
    }
}

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

fn tool_use_blocks(calls: &Value, at: &str) -> Result<Vec<Value>, ProviderError> {
    Ok(openai::tool_call_inputs("anthropic", calls, at)?
        .into_iter()
        .map(|(call, input)| json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}))
        .collect())
}

fn translate_messages(messages: &[Value]) -> Result<(Option<Value>, Vec<Value>), ProviderError> {
    let mut system_blocks: Vec<Value> = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{at}.role is missing")))?;
        let content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => system_blocks.extend(content_blocks(content, &at)?),
            "user" => openai::merge_turn(&mut out, "user", content_blocks(content, &at)?),
            "assistant" => {
                let mut blocks: Vec<Value> = content_blocks(content, &at)?
                    .into_iter()
                    .filter(|b| b["text"] != "")
                    .collect();
                blocks.extend(tool_use_blocks(
                    m.get("tool_calls").unwrap_or(&Value::Null),
                    &at,
                )?);
                openai::merge_turn(&mut out, "assistant", blocks);
            }
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{at}.tool_call_id is missing")))?;
                openai::merge_turn(
                    &mut out,
                    "user",
                    vec![
                        json!({"type": "tool_result", "tool_use_id": id, "content": text_of(content)}),
                    ],
                );
            }
            other => return Err(invalid(format!("{at}.role '{other}' is not supported"))),
        }
    }
    let system = match system_blocks.len() {
        0 => None,
        // A plain prompt stays a string; blocks keep per-block cache_control.
        _ if system_blocks
            .iter()
            .all(|b| b.get("cache_control").is_none()) =>
        {
            Some(Value::String(
                system_blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ))
        }
        _ => Some(Value::Array(system_blocks)),
    };
    Ok((system, out))
}

fn translate_tools(tools: &Value) -> Result<Value, ProviderError> {
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let f = tool
            .get("function")
            .ok_or_else(|| invalid(format!("tools[{i}] is not a function tool")))?;
        let mut t = json!({
            "name": f["name"],
            "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
        if let Some(d) = f.get("description") {
            t["description"] = d.clone();
        }
        if let Some(cache) = tool.get("cache_control") {
            t["cache_control"] = cache.clone();
        }
        out.push(t);
    }
    Ok(Value::Array(out))
}

fn translate_tool_choice(choice: &Value, parallel: Option<bool>) -> Result<Value, ProviderError> {
    let mut out = match choice {
        Value::String(s) if s == "auto" => json!({"type": "auto"}),
        Value::String(s) if s == "required" => json!({"type": "any"}),
        Value::String(s) if s == "none" => json!({"type": "none"}),
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .ok_or_else(|| invalid("tool_choice names no function"))?;
            json!({"type": "tool", "name": name})
        }
        _ => {
            return Err(invalid(
                "tool_choice must be auto, required, none or a function",
            ))
        }
    };
    if parallel == Some(false) {
        out["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Ok(out)
}

/// Translates the client's OpenAI chat body. The output is built member by member from what
/// Anthropic accepts, so gateway-only members (`fallbacks`, `mock_*`, …) never reach it.
pub(crate) fn translate(
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<Vec<u8>, ProviderError> {
    let req: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not a JSON object: {e}")))?;
    for key in UNSUPPORTED {
        if req.get(*key).is_some_and(|v| !v.is_null()) && !context.drop_params {
            let n_is_one = *key == "n" && req[*key] == 1;
            if !n_is_one {
                return Err(ProviderError::new(
                    ErrorKind::UnsupportedParam,
                    format!("anthropic does not support the parameter '{key}'; set drop_params: true to drop it"),
                )
                .with_param(*key)
                .with_code("unsupported_parameter"));
            }
        }
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array"))?;
    let (system, messages) = translate_messages(messages)?;
    let mut out = Map::new();
    let max_tokens = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".to_owned(), json!(max_tokens));
    out.insert("messages".to_owned(), Value::Array(messages));
    out.insert("model".to_owned(), json!(model));
    if let Some(system) = system {
        out.insert("system".to_owned(), system);
    }
    // `thinking` and top-level `cache_control` are Anthropic's own; clients that know them send them.
    for key in ["temperature", "top_p", "top_k", "thinking", "cache_control"] {
        if let Some(v) = req.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    if let Some(effort) = req.get("reasoning_effort").and_then(Value::as_str) {
        if !out.contains_key("thinking") {
            let budget = match effort {
                "minimal" | "low" => 1024,
                "medium" => 2048,
                _ => 4096,
            };
            out.insert(
                "thinking".to_owned(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
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
    if let Some(tools) = req.get("tools").filter(|t| !t.is_null()) {
        out.insert("tools".to_owned(), translate_tools(tools)?);
    }
    if let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null()) {
        let parallel = req.get("parallel_tool_calls").and_then(Value::as_bool);
        out.insert(
            "tool_choice".to_owned(),
            translate_tool_choice(choice, parallel)?,
        );
    }
    if let Some(user) = req.get("user").and_then(Value::as_str) {
        out.insert("metadata".to_owned(), json!({"user_id": user}));
    }
    if context.stream {
        out.insert("stream".to_owned(), Value::Bool(true));
    } else if req.get("stream").is_some() {
        out.insert("stream".to_owned(), Value::Bool(false));
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: Value, stream: bool, drop_params: bool) -> Result<Value, ProviderError> {
        let ctx = RequestContext {
            stream,
            drop_params,
            ..RequestContext::default()
        };
        translate(body.to_string().as_bytes(), "claude-x", &ctx)
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn system_tools_and_tool_results_translate() {
        let out = run(
            json!({
                "model": "g", "max_tokens": 100, "stop": "END", "user": "u1",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                    {"role": "tool", "tool_call_id": "t1", "content": "42"},
                    {"role": "user", "content": "thanks"}
                ],
                "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
                "tool_choice": "required", "parallel_tool_calls": false
            }),
            false,
            false,
        )
        .unwrap();
        assert_eq!(out["system"], "Be brief.");
        assert_eq!(out["max_tokens"], 100);
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(out["metadata"], json!({"user_id": "u1"}));
        assert_eq!(
            out["messages"][0]["content"][1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}})
        );
        // The tool result and the next user turn merge into one user message.
        assert_eq!(
            out["messages"][2]["content"][0],
            json!({"type": "tool_result", "tool_use_id": "t1", "content": "42"})
        );
        assert_eq!(
            out["messages"][2]["content"][1],
            json!({"type": "text", "text": "thanks"})
        );
        assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(
            out["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn unsupported_params_fail_naming_the_param_unless_dropped() {
        let body = json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "seed": 1});
        let e = run(body.clone(), false, false).unwrap_err();
        assert_eq!(
            (e.kind, e.param.as_deref()),
            (ErrorKind::UnsupportedParam, Some("seed"))
        );
        assert!(e.message.contains("anthropic"));
        let out = run(body, false, true).unwrap();
        assert!(out.get("seed").is_none());
        assert_eq!(out["max_tokens"], DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn reasoning_effort_becomes_a_thinking_budget() {
        let out = run(json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"}), true, false).unwrap();
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        assert_eq!(out["stream"], true);
    }
}

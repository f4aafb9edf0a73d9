//! OpenAI chat request → Bedrock Converse request.

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{openai, ErrorKind, ProviderError, RequestContext};

use crate::catalog::is_anthropic;

/// Name of the tool JSON mode (`response_format`) is built on: the model is made to call it,
/// and its input comes back as the message content.
pub(crate) const JSON_TOOL: &str = "json_tool_call";

/// OpenAI parameters with no Converse equivalent: dropped with `drop_params`, else a 400.
const UNSUPPORTED: &[&str] = &[
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "audio",
    "modalities",
    "prediction",
    "service_tier",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "web_search_options",
    "verbosity",
];

/// Bedrock request members a client may send as they are (not OpenAI's, so not checked by
/// the gateway): they are copied into the Converse body.
const PASSTHROUGH: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
];

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::invalid_request(format!("bedrock: {}", message.into()))
}

fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// `image/png` → `png` (Converse's image formats).
fn image_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

fn image_block(url: &str) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or("malformed data URL")?;
        let media_type = meta
            .strip_suffix(";base64")
            .ok_or("only base64 data URLs are supported")?;
        let format = image_format(media_type).ok_or_else(|| {
            format!("image type '{media_type}' is not one of png, jpeg, gif, webp")
        })?;
        return Ok(json!({"image": {"format": format, "source": {"bytes": data}}}));
    }
    if url.starts_with("s3://") {
        let ext = url.rsplit('.').next().unwrap_or("");
        let format = image_format(&format!("image/{ext}"))
            .ok_or_else(|| format!("cannot tell the image format of '{url}' from its name"))?;
        return Ok(json!({"image": {"format": format, "source": {"s3Location": {"uri": url}}}}));
    }
    Err("images must be base64 data: URLs or s3:// URIs (the gateway does not fetch URLs)".into())
}

/// A document's media type → Converse's document format.
fn document_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type.to_ascii_lowercase().as_str() {
        "application/pdf" => "pdf",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "text/html" => "html",
        "text/plain" => "txt",
        "text/markdown" => "md",
        _ => return None,
    })
}

/// An OpenAI `file` part (`{"file": {"file_data": "data:…;base64,…", "filename": …}}`) → a
/// Converse document block. Bedrock allows letters, digits, spaces, hyphens, parentheses and
/// square brackets in a document name; the file name's extension and other characters go.
fn document_block(file: &Value, index: usize) -> Result<Value, String> {
    let data_url = file
        .get("file_data")
        .and_then(Value::as_str)
        .ok_or("file parts need file_data (a base64 data: URL); file ids are not supported")?;
    let rest = data_url
        .strip_prefix("data:")
        .ok_or("file_data must be a data: URL")?;
    let (meta, data) = rest.split_once(',').ok_or("malformed data URL")?;
    let media_type = meta
        .strip_suffix(";base64")
        .ok_or("only base64 data URLs are supported")?;
    let format = document_format(media_type)
        .ok_or_else(|| format!("document type '{media_type}' is not supported by bedrock"))?;
    let stem = file
        .get("filename")
        .and_then(Value::as_str)
        .map(|n| n.rsplit_once('.').map_or(n, |(stem, _)| stem))
        .unwrap_or("");
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '(' | ')' | '[' | ']') {
                c
            } else {
                ' '
            }
        })
        .collect();
    let name = name.trim();
    let name = if name.is_empty() {
        format!("document {}", index + 1)
    } else {
        name.to_owned()
    };
    Ok(json!({"document": {"name": name, "format": format, "source": {"bytes": data}}}))
}

/// Converse content blocks of an OpenAI `content` (string or parts). A part's `cache_control`
/// becomes a cache point after it.
fn content_blocks(content: &Value, at: &str) -> Result<Vec<Value>, ProviderError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"text": s})]),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                let fail = |e: String| invalid(format!("{at}.content[{i}]: {e}"));
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                        if !text.is_empty() {
                            out.push(json!({"text": text}));
                        }
                    }
                    Some("image_url") => {
                        let url = part
                            .get("image_url")
                            .and_then(|i| i.get("url").or(Some(i)))
                            .and_then(Value::as_str)
                            .ok_or_else(|| fail("image_url without a url".into()))?;
                        out.push(image_block(url).map_err(fail)?);
                    }
                    Some("file") => {
                        let file = part.get("file").unwrap_or(&Value::Null);
                        out.push(document_block(file, i).map_err(fail)?);
                    }
                    Some(other) => {
                        return Err(fail(format!(
                            "content part type '{other}' is not supported by bedrock"
                        )))
                    }
                    None => return Err(fail("content part without a type".into())),
                }
                if part.get("cache_control").is_some_and(|c| !c.is_null()) {
                    out.push(cache_point());
                }
            }
            Ok(out)
        }
        _ => Err(invalid(format!(
            "{at}.content must be a string or an array of parts"
        ))),
    }
}

fn tool_use_blocks(calls: &Value, at: &str) -> Result<Vec<Value>, ProviderError> {
    Ok(openai::tool_call_inputs("bedrock", calls, at)?
        .into_iter()
        .map(|(call, input)| json!({"toolUse": {"toolUseId": call["id"], "name": call["function"]["name"], "input": input}}))
        .collect())
}

/// LiteLLM's `thinking_blocks` on an assistant message → Converse reasoning blocks (Claude
/// needs them back, signed, when thinking and tools are combined).
fn reasoning_blocks(blocks: &Value) -> Vec<Value> {
    let Some(blocks) = blocks.as_array() else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter_map(|b| match b.get("type").and_then(Value::as_str) {
            Some("thinking") => {
                let mut text =
                    json!({"text": b.get("thinking").and_then(Value::as_str).unwrap_or_default()});
                if let Some(sig) = b.get("signature").and_then(Value::as_str) {
                    text["signature"] = json!(sig);
                }
                Some(json!({"reasoningContent": {"reasoningText": text}}))
            }
            Some("redacted_thinking") => b
                .get("data")
                .map(|d| json!({"reasoningContent": {"redactedContent": d}})),
            _ => None,
        })
        .collect()
}

/// A tool message's content → `toolResult` content blocks.
fn tool_result_content(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| json!({"text": t}))
            .collect(),
        Value::String(s) => vec![json!({"text": s})],
        Value::Null => vec![json!({"text": ""})],
        other => vec![json!({"json": other})],
    }
}

struct Messages {
    system: Vec<Value>,
    messages: Vec<Value>,
    uses_tools: bool,
}

fn translate_messages(messages: &[Value]) -> Result<Messages, ProviderError> {
    let mut system = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    let mut uses_tools = false;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{at}.role is missing")))?;
        let content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => {
                let blocks = content_blocks(content, &at)?;
                if blocks.iter().any(|b| b.get("image").is_some()) {
                    return Err(invalid(format!(
                        "{at}: a system message cannot hold images"
                    )));
                }
                system.extend(blocks);
            }
            "user" => openai::merge_turn(&mut out, "user", content_blocks(content, &at)?),
            "assistant" => {
                let mut blocks = reasoning_blocks(m.get("thinking_blocks").unwrap_or(&Value::Null));
                blocks.extend(content_blocks(content, &at)?);
                let calls = tool_use_blocks(m.get("tool_calls").unwrap_or(&Value::Null), &at)?;
                uses_tools |= !calls.is_empty();
                blocks.extend(calls);
                openai::merge_turn(&mut out, "assistant", blocks);
            }
            "tool" => {
                let id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("{at}.tool_call_id is missing")))?;
                uses_tools = true;
                openai::merge_turn(
                    &mut out,
                    "user",
                    vec![
                        json!({"toolResult": {"toolUseId": id, "content": tool_result_content(content)}}),
                    ],
                );
            }
            other => return Err(invalid(format!("{at}.role '{other}' is not supported"))),
        }
    }
    Ok(Messages {
        system,
        messages: out,
        uses_tools,
    })
}

fn tool_spec(name: &Value, description: Option<&Value>, schema: Option<&Value>) -> Value {
    let mut spec = json!({
        "name": name,
        "inputSchema": {"json": schema.filter(|s| !s.is_null()).cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}}))},
    });
    if let Some(d) = description.filter(|d| !d.is_null()) {
        spec["description"] = d.clone();
    }
    json!({"toolSpec": spec})
}

fn translate_tools(tools: &Value) -> Result<Vec<Value>, ProviderError> {
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let f = tool
            .get("function")
            .ok_or_else(|| invalid(format!("tools[{i}] is not a function tool")))?;
        if f["name"] == JSON_TOOL {
            return Err(invalid(format!(
                "tools[{i}]: the tool name '{JSON_TOOL}' is reserved for JSON mode"
            )));
        }
        out.push(tool_spec(
            &f["name"],
            f.get("description"),
            f.get("parameters"),
        ));
        if tool.get("cache_control").is_some_and(|c| !c.is_null()) {
            out.push(cache_point());
        }
    }
    Ok(out)
}

/// `tool_choice` → Converse `toolChoice`; `None` for `none` (Converse has no such choice: the
/// tools are then left out when the conversation allows it).
fn translate_tool_choice(choice: &Value) -> Result<Option<Value>, ProviderError> {
    Ok(Some(match choice {
        Value::String(s) if s == "auto" => json!({"auto": {}}),
        Value::String(s) if s == "required" => json!({"any": {}}),
        Value::String(s) if s == "none" => return Ok(None),
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .ok_or_else(|| invalid("tool_choice names no function"))?;
            json!({"tool": {"name": name}})
        }
        _ => {
            return Err(invalid(
                "tool_choice must be auto, required, none or a function",
            ))
        }
    }))
}

/// `response_format` → the JSON-mode tool, or `None` for `{"type": "text"}`.
fn json_mode_tool(format: &Value) -> Result<Option<Value>, ProviderError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") | None => Ok(None),
        Some("json_object") => Ok(Some(tool_spec(
            &json!(JSON_TOOL),
            Some(&json!("Respond with a JSON object.")),
            Some(&json!({"type": "object"})),
        ))),
        Some("json_schema") => {
            let schema = &format["json_schema"];
            let description = schema
                .get("description")
                .cloned()
                .unwrap_or_else(|| json!("Respond with JSON matching this schema."));
            Ok(Some(tool_spec(
                &json!(JSON_TOOL),
                Some(&description),
                schema.get("schema"),
            )))
        }
        Some(other) => Err(
            invalid(format!("response_format type '{other}' is not supported"))
                .with_param("response_format"),
        ),
    }
}

/// Translates the client's OpenAI chat body for `model`. Built member by member from what
/// Converse accepts, so gateway-only members (`fallbacks`, `mock_*`, …) never reach Bedrock.
pub(crate) fn translate(
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<Vec<u8>, ProviderError> {
    let req: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not a JSON object: {e}")))?;
    let anthropic = is_anthropic(model);
    let present = |key: &str| req.get(key).filter(|v| !v.is_null());
    let unsupported = |key: &str| {
        ProviderError::new(
            ErrorKind::UnsupportedParam,
            format!(
                "bedrock does not support the parameter '{key}' for {model}; set drop_params: true to drop it"
            ),
        )
        .with_param(key)
        .with_code("unsupported_parameter")
    };
    for key in UNSUPPORTED {
        if let Some(v) = present(key) {
            let harmless =
                (*key == "n" && *v == 1) || (*key == "parallel_tool_calls" && *v == true);
            if !harmless && !context.drop_params {
                return Err(unsupported(key));
            }
        }
    }

    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array"))?;
    let translated = translate_messages(messages)?;
    let mut out = Map::new();
    out.insert("messages".to_owned(), Value::Array(translated.messages));
    if !translated.system.is_empty() {
        out.insert("system".to_owned(), Value::Array(translated.system));
    }

    let mut inference = Map::new();
    if let Some(max) = present("max_completion_tokens").or_else(|| present("max_tokens")) {
        inference.insert("maxTokens".to_owned(), max.clone());
    }
    if let Some(t) = present("temperature") {
        inference.insert("temperature".to_owned(), t.clone());
    }
    if let Some(p) = present("top_p") {
        inference.insert("topP".to_owned(), p.clone());
    }
    match present("stop") {
        Some(Value::String(s)) => {
            inference.insert("stopSequences".to_owned(), json!([s]));
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            inference.insert("stopSequences".to_owned(), Value::Array(list.clone()));
        }
        _ => {}
    }
    out.insert("inferenceConfig".to_owned(), Value::Object(inference));

    // Model-specific fields: the client's own, then what the OpenAI parameters map to.
    let mut additional: Map<String, Value> = match present("additionalModelRequestFields") {
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(invalid("additionalModelRequestFields must be an object")),
        None => Map::new(),
    };
    if let Some(k) = present("top_k") {
        if model.contains("amazon.nova") {
            additional.insert("inferenceConfig".to_owned(), json!({"topK": k}));
        } else {
            additional.insert("top_k".to_owned(), k.clone());
        }
    }
    if let Some(thinking) = present("thinking") {
        if anthropic {
            additional.insert("thinking".to_owned(), thinking.clone());
        } else if !context.drop_params {
            return Err(unsupported("thinking"));
        }
    }
    if let Some(effort) = present("reasoning_effort") {
        if anthropic {
            if !additional.contains_key("thinking") {
                let budget = match effort.as_str() {
                    Some("minimal" | "low") => 1024,
                    Some("medium") => 2048,
                    _ => 4096,
                };
                additional.insert(
                    "thinking".to_owned(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
        } else if !context.drop_params {
            return Err(unsupported("reasoning_effort"));
        }
    }
    if !additional.is_empty() {
        out.insert(
            "additionalModelRequestFields".to_owned(),
            Value::Object(additional),
        );
    }

    // Tools, tool choice and JSON mode.
    let mut tools = match present("tools") {
        Some(t) => translate_tools(t)?,
        None => Vec::new(),
    };
    let mut choice = match present("tool_choice") {
        Some(c) => translate_tool_choice(c)?,
        None => None,
    };
    let choice_is_none = present("tool_choice").is_some_and(|c| c == "none");
    if let Some(format) = present("response_format") {
        if let Some(tool) = json_mode_tool(format)? {
            let alone = tools.is_empty();
            tools.push(tool);
            if alone {
                choice = Some(json!({"tool": {"name": JSON_TOOL}}));
            }
        }
    }
    // `none` leaves the tools out, unless the conversation holds tool blocks (Converse then
    // requires the tool configuration).
    let leave_out = choice_is_none && !translated.uses_tools;
    if !tools.is_empty() && !leave_out {
        let mut config = json!({"tools": tools});
        if let Some(choice) = choice {
            config["toolChoice"] = choice;
        }
        out.insert("toolConfig".to_owned(), config);
    }

    if let Some(user) = present("user").and_then(Value::as_str) {
        out.insert("requestMetadata".to_owned(), json!({"user": user}));
    }
    for key in PASSTHROUGH {
        if let Some(v) = present(key) {
            out.insert((*key).to_owned(), v.clone());
        }
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: Value, model: &str, drop_params: bool) -> Result<Value, ProviderError> {
        let ctx = RequestContext {
            drop_params,
            ..RequestContext::default()
        };
        translate(body.to_string().as_bytes(), model, &ctx)
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    const CLAUDE: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

    #[test]
    fn system_images_tools_and_tool_results_translate() {
        let out = run(
            json!({
                "model": "g", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "stop": "END", "user": "u1",
                "messages": [
                    {"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]},
                    {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                    {"role": "tool", "tool_call_id": "t1", "content": "42"},
                    {"role": "user", "content": "thanks"}
                ],
                "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
                "tool_choice": "required"
            }),
            CLAUDE,
            false,
        )
        .unwrap();
        assert_eq!(
            out["system"],
            json!([{"text": "Be brief."}, {"cachePoint": {"type": "default"}}])
        );
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]})
        );
        assert_eq!(
            out["messages"][0]["content"][1],
            json!({"image": {"format": "png", "source": {"bytes": "AAAA"}}})
        );
        assert_eq!(
            out["messages"][1],
            json!({"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]})
        );
        // The tool result and the next user turn merge into one user message.
        assert_eq!(
            out["messages"][2]["content"],
            json!([{"toolResult": {"toolUseId": "t1", "content": [{"text": "42"}]}}, {"text": "thanks"}])
        );
        assert_eq!(
            out["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "f", "description": "d", "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"any": {}}})
        );
        assert_eq!(out["requestMetadata"], json!({"user": "u1"}));
    }

    #[test]
    fn file_parts_become_documents() {
        let out = run(
            json!({"model": "g", "messages": [{"role": "user", "content": [
                {"type": "file", "file": {"filename": "report.v2.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
                {"type": "text", "text": "Summarize."}
            ]}]}),
            CLAUDE,
            false,
        )
        .unwrap();
        assert_eq!(
            out["messages"][0]["content"][0],
            json!({"document": {"name": "report v2", "format": "pdf", "source": {"bytes": "JVBE"}}})
        );
    }

    #[test]
    fn reasoning_effort_is_a_thinking_budget_for_claude_only() {
        let body = json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"});
        let out = run(body.clone(), CLAUDE, false).unwrap();
        assert_eq!(
            out["additionalModelRequestFields"]["thinking"],
            json!({"type": "enabled", "budget_tokens": 1024})
        );
        let e = run(body.clone(), "amazon.nova-micro-v1:0", false).unwrap_err();
        assert_eq!(
            (e.kind, e.param.as_deref()),
            (ErrorKind::UnsupportedParam, Some("reasoning_effort"))
        );
        let out = run(body, "amazon.nova-micro-v1:0", true).unwrap();
        assert!(out.get("additionalModelRequestFields").is_none());
    }

    #[test]
    fn json_mode_forces_the_json_tool() {
        let out = run(
            json!({"model": "g", "messages": [{"role": "user", "content": "x"}],
                   "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}}),
            CLAUDE,
            false,
        )
        .unwrap();
        assert_eq!(
            out["toolConfig"]["toolChoice"],
            json!({"tool": {"name": JSON_TOOL}})
        );
        assert_eq!(
            out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"]["a"],
            json!({"type": "integer"})
        );
    }

    #[test]
    fn unsupported_params_fail_unless_dropped_and_images_need_data_urls() {
        let body = json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "seed": 1, "n": 1});
        let e = run(body.clone(), CLAUDE, false).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("seed"));
        assert!(run(body, CLAUDE, true).unwrap().get("seed").is_none());
        let e = run(
            json!({"model": "g", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
            CLAUDE,
            false,
        )
        .unwrap_err();
        assert!(e.message.contains("data: URLs"), "{}", e.message);
    }

    #[test]
    fn tool_choice_none_leaves_the_tools_out_when_the_conversation_allows() {
        let out = run(
            json!({"model": "g", "messages": [{"role": "user", "content": "x"}], "tool_choice": "none",
                   "tools": [{"type": "function", "function": {"name": "f"}}]}),
            CLAUDE,
            false,
        )
        .unwrap();
        assert!(out.get("toolConfig").is_none());
    }

    #[test]
    fn thinking_blocks_go_back_as_signed_reasoning() {
        let out = run(
            json!({"model": "g", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "ok", "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]}
            ]}),
            CLAUDE,
            false,
        )
        .unwrap();
        assert_eq!(
            out["messages"][1]["content"],
            json!([{"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}}, {"text": "ok"}])
        );
    }
}

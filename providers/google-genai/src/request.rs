//! OpenAI chat request → Gemini `generateContent` request.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{openai, ErrorKind, ProviderError, RequestContext};

use crate::{schema, THOUGHT_SEPARATOR};

/// OpenAI parameters with no Gemini equivalent: dropped with `drop_params`, else a 400.
const UNSUPPORTED: &[&str] = &[
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "prediction",
    "audio",
    "modalities",
    "service_tier",
    "functions",
    "function_call",
    "web_search_options",
    "verbosity",
];

/// Gemini's built-in tools, as OpenAI clients (and LiteLLM) spell them → the REST member name.
const NATIVE_TOOLS: &[(&str, &str)] = &[
    ("googleSearch", "googleSearch"),
    ("google_search", "googleSearch"),
    ("googleSearchRetrieval", "googleSearchRetrieval"),
    ("google_search_retrieval", "googleSearchRetrieval"),
    ("codeExecution", "codeExecution"),
    ("code_execution", "codeExecution"),
    ("urlContext", "urlContext"),
    ("url_context", "urlContext"),
    ("googleMaps", "googleMaps"),
    ("google_maps", "googleMaps"),
    ("enterpriseWebSearch", "enterpriseWebSearch"),
    ("enterprise_web_search", "enterpriseWebSearch"),
];

fn invalid(provider: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid_request(format!("{provider}: {}", message.into()))
}

/// The thought signature carried in a tool-call id, and the id without it.
pub fn split_tool_call_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(THOUGHT_SEPARATOR) {
        Some((base, sig)) if !sig.is_empty() => (base, Some(sig)),
        Some((base, _)) => (base, None),
        None => (id, None),
    }
}

/// A MIME type guessed from a URL's file extension, for `fileData` parts.
fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    if path.contains("youtube.com/") || path.contains("youtu.be/") {
        return "video/mp4";
    }
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        _ => "image/jpeg",
    }
}

/// An image / file reference as a Gemini part: a `data:` URL becomes `inlineData`, anything
/// else (`https://`, `gs://`, a Files API URI) `fileData`.
fn media_part(url: &str, format: Option<&str>) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').ok_or("malformed data URL")?;
        let mime = meta
            .strip_suffix(";base64")
            .ok_or("only base64 data URLs are supported")?;
        let mime = format.unwrap_or(mime);
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    if url.is_empty() {
        return Err("empty URL".to_owned());
    }
    Ok(json!({"fileData": {"mimeType": format.unwrap_or_else(|| guess_mime(url)), "fileUri": url}}))
}

fn content_part(part: &Value) -> Result<Option<Value>, String> {
    match part.get("type").and_then(Value::as_str) {
        Some("text") => {
            let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
            Ok((!text.is_empty()).then(|| json!({"text": text})))
        }
        Some("image_url") => {
            let image = part
                .get("image_url")
                .ok_or("image_url part without image_url")?;
            let url = image
                .get("url")
                .or(Some(image))
                .and_then(Value::as_str)
                .ok_or("image_url without a url")?;
            let format = image.get("format").and_then(Value::as_str);
            media_part(url, format).map(Some)
        }
        Some("input_audio") => {
            let audio = part
                .get("input_audio")
                .ok_or("input_audio part without input_audio")?;
            let data = audio
                .get("data")
                .and_then(Value::as_str)
                .ok_or("input_audio without data")?;
            let format = audio.get("format").and_then(Value::as_str).unwrap_or("wav");
            let mime = if format.contains('/') {
                format.to_owned()
            } else if format == "mp3" {
                "audio/mpeg".to_owned()
            } else {
                format!("audio/{format}")
            };
            Ok(Some(
                json!({"inlineData": {"mimeType": mime, "data": data}}),
            ))
        }
        Some("file") => {
            let file = part.get("file").ok_or("file part without file")?;
            let format = file.get("format").and_then(Value::as_str);
            let url = file
                .get("file_data")
                .or_else(|| file.get("file_id"))
                .and_then(Value::as_str)
                .ok_or("file part without file_data or file_id")?;
            let format =
                format.or_else(|| (!url.starts_with("data:")).then_some("application/pdf"));
            media_part(url, format).map(Some)
        }
        Some(other) => Err(format!("content part type '{other}' is not supported")),
        None => Err("content part without a type".to_owned()),
    }
}

/// Gemini parts of an OpenAI `content` (string or parts). Empty texts are left out.
fn content_parts(provider: &str, content: &Value, at: &str) -> Result<Vec<Value>, ProviderError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({"text": s})]),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                if let Some(p) = content_part(part)
                    .map_err(|e| invalid(provider, format!("{at}.content[{i}]: {e}")))?
                {
                    out.push(p);
                }
            }
            Ok(out)
        }
        _ => Err(invalid(
            provider,
            format!("{at}.content must be a string or an array of parts"),
        )),
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

/// A tool result as a `functionResponse.response` object: a JSON object result as it is,
/// anything else under `content`.
fn function_response(content: &Value) -> Value {
    let text = text_of(content);
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) if !text.trim().is_empty() => json!({"content": v}),
        _ => json!({"content": text}),
    }
}

/// `(systemInstruction, contents)` of the OpenAI messages.
fn translate_messages(
    provider: &str,
    messages: &[Value],
) -> Result<(Option<Value>, Vec<Value>), ProviderError> {
    let mut system: Vec<String> = Vec::new();
    // Built with the SDK's turn merger (`content` arrays), renamed to `parts` at the end.
    let mut turns: Vec<Value> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(provider, format!("{at}.role is missing")))?;
        let content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => {
                let text = text_of(content);
                if !text.is_empty() {
                    system.push(text);
                }
            }
            "user" => {
                openai::merge_turn(&mut turns, "user", content_parts(provider, content, &at)?)
            }
            "assistant" => {
                let mut parts = content_parts(provider, content, &at)?;
                let calls = m.get("tool_calls").unwrap_or(&Value::Null);
                for (call, args) in openai::tool_call_inputs(provider, calls, &at)? {
                    let name = call["function"]["name"].as_str().unwrap_or_default();
                    let full_id = call.get("id").and_then(Value::as_str).unwrap_or_default();
                    let (id, signature) = split_tool_call_id(full_id);
                    names.insert(full_id.to_owned(), name.to_owned());
                    let mut fc = json!({"name": name, "args": args});
                    if !id.is_empty() {
                        fc["id"] = json!(id);
                    }
                    let mut part = json!({"functionCall": fc});
                    if let Some(sig) = signature {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                openai::merge_turn(&mut turns, "model", parts);
            }
            "tool" | "function" => {
                let full_id = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = m
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| names.get(full_id).cloned())
                    .ok_or_else(|| {
                        invalid(
                            provider,
                            format!("{at}: tool result for an unknown tool_call_id '{full_id}'"),
                        )
                    })?;
                let (id, _) = split_tool_call_id(full_id);
                let mut fr = json!({"name": name, "response": function_response(content)});
                if !id.is_empty() {
                    fr["id"] = json!(id);
                }
                openai::merge_turn(&mut turns, "user", vec![json!({"functionResponse": fr})]);
            }
            other => {
                return Err(invalid(
                    provider,
                    format!("{at}.role '{other}' is not supported"),
                ))
            }
        }
    }
    let contents = turns
        .into_iter()
        .map(|mut t| {
            let parts = t.get_mut("content").map(Value::take).unwrap_or_default();
            json!({"role": t["role"], "parts": parts})
        })
        .collect();
    let system = (!system.is_empty()).then(|| json!({"parts": [{"text": system.join("\n")}]}));
    Ok((system, contents))
}

fn translate_tools(provider: &str, tools: &Value) -> Result<Vec<Value>, ProviderError> {
    let list = tools
        .as_array()
        .ok_or_else(|| invalid(provider, "tools must be an array"))?;
    let mut declarations = Vec::new();
    let mut native = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        if let Some(f) = tool.get("function") {
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(provider, format!("tools[{i}].function.name is missing")))?;
            let mut d = json!({"name": name});
            if let Some(desc) = f.get("description").filter(|d| !d.is_null()) {
                d["description"] = desc.clone();
            }
            if let Some(params) = f.get("parameters").filter(|p| !p.is_null()) {
                d["parametersJsonSchema"] = params.clone();
            }
            declarations.push(d);
            continue;
        }
        let found = tool.as_object().and_then(|o| {
            NATIVE_TOOLS
                .iter()
                .find_map(|(k, rest)| o.get(*k).map(|v| (*rest, v)))
        });
        match found {
            Some((key, config)) => native.push(json!({ key: config })),
            None => {
                return Err(invalid(
                    provider,
                    format!("tools[{i}] is neither a function tool nor a Gemini built-in tool"),
                ))
            }
        }
    }
    let mut out = native;
    if !declarations.is_empty() {
        out.push(json!({"functionDeclarations": declarations}));
    }
    Ok(out)
}

fn translate_tool_choice(provider: &str, choice: &Value) -> Result<Value, ProviderError> {
    let config = match choice {
        Value::String(s) if s == "auto" => json!({"mode": "AUTO"}),
        Value::String(s) if s == "required" => json!({"mode": "ANY"}),
        Value::String(s) if s == "none" => json!({"mode": "NONE"}),
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(provider, "tool_choice names no function"))?;
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
        _ => {
            return Err(invalid(
                provider,
                "tool_choice must be auto, required, none or a function",
            )
            .with_param("tool_choice"))
        }
    };
    Ok(json!({"functionCallingConfig": config}))
}

/// Whether `model` is a Gemini 3 model (thinking levels instead of budgets).
fn uses_thinking_levels(model: &str) -> bool {
    model.contains("gemini-3")
}

fn thinking_config(
    provider: &str,
    model: &str,
    req: &Map<String, Value>,
) -> Result<Option<Value>, ProviderError> {
    if let Some(thinking) = req.get("thinking").filter(|t| t.is_object()) {
        if thinking["type"] == "disabled" {
            return Ok(Some(json!({"thinkingBudget": 0})));
        }
        let mut c = json!({"includeThoughts": true});
        if let Some(budget) = thinking.get("budget_tokens").and_then(Value::as_u64) {
            c["thinkingBudget"] = json!(budget);
        }
        return Ok(Some(c));
    }
    let Some(effort) = req.get("reasoning_effort").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let effort = effort.as_str().unwrap_or_default();
    if uses_thinking_levels(model) {
        let level = match effort {
            "none" | "minimal" | "low" => "low",
            "medium" | "high" => "high",
            _ => "",
        };
        if !level.is_empty() {
            return Ok(Some(
                json!({"thinkingLevel": level, "includeThoughts": true}),
            ));
        }
    } else {
        let budget = match effort {
            "none" => return Ok(Some(json!({"thinkingBudget": 0}))),
            "minimal" => Some(128),
            "low" => Some(1024),
            "medium" => Some(2048),
            "high" => Some(4096),
            _ => None,
        };
        if let Some(budget) = budget {
            return Ok(Some(
                json!({"thinkingBudget": budget, "includeThoughts": true}),
            ));
        }
    }
    Err(invalid(
        provider,
        format!("reasoning_effort '{effort}' is not one of none, minimal, low, medium, high"),
    )
    .with_param("reasoning_effort"))
}

fn generation_config(
    provider: &str,
    model: &str,
    req: &Map<String, Value>,
) -> Result<Map<String, Value>, ProviderError> {
    let mut g = Map::new();
    let present = |k: &str| req.get(k).filter(|v| !v.is_null());
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(v) = present(from) {
            g.insert(to.to_owned(), v.clone());
        }
    }
    if let Some(v) = present("max_completion_tokens").or_else(|| present("max_tokens")) {
        g.insert("maxOutputTokens".to_owned(), v.clone());
    }
    match present("stop") {
        Some(Value::String(s)) => {
            g.insert("stopSequences".to_owned(), json!([s]));
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            g.insert("stopSequences".to_owned(), Value::Array(list.clone()));
        }
        _ => {}
    }
    if let Some(format) = present("response_format") {
        match format.get("type").and_then(Value::as_str) {
            Some("json_object") => {
                g.insert("responseMimeType".to_owned(), json!("application/json"));
            }
            Some("json_schema") => {
                g.insert("responseMimeType".to_owned(), json!("application/json"));
                if let Some(s) = format.get("json_schema").and_then(|j| j.get("schema")) {
                    g.insert("responseSchema".to_owned(), schema::response_schema(s));
                }
            }
            Some("text") => {}
            _ => {
                return Err(invalid(
                    provider,
                    "response_format.type must be text, json_object or json_schema",
                )
                .with_param("response_format"))
            }
        }
    }
    if let Some(t) = thinking_config(provider, model, req)? {
        g.insert("thinkingConfig".to_owned(), t);
    }
    Ok(g)
}

/// Translates the client's OpenAI chat body for `model`. The output is built member by member
/// from what Gemini accepts, so gateway-only members never reach it. `provider` prefixes
/// error messages.
pub fn translate_chat(
    provider: &str,
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<Vec<u8>, ProviderError> {
    let req: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| invalid(provider, format!("request body is not a JSON object: {e}")))?;
    if !context.drop_params {
        for key in UNSUPPORTED {
            let set = req
                .get(*key)
                .is_some_and(|v| !v.is_null() && *v != Value::Bool(false));
            if set {
                return Err(ProviderError::new(
                    ErrorKind::UnsupportedParam,
                    format!(
                        "{provider} does not support the parameter '{key}'; set drop_params: true to drop it"
                    ),
                )
                .with_param(*key)
                .with_code("unsupported_parameter"));
            }
        }
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(provider, "messages must be an array").with_param("messages"))?;
    let (system, contents) = translate_messages(provider, messages)?;
    if contents.is_empty() {
        return Err(invalid(
            provider,
            "messages must contain at least one user, assistant or tool message",
        )
        .with_param("messages"));
    }
    let mut out = Map::new();
    out.insert("contents".to_owned(), Value::Array(contents));
    if let Some(system) = system {
        out.insert("systemInstruction".to_owned(), system);
    }
    let tools = match req.get("tools").filter(|t| !t.is_null()) {
        Some(tools) => translate_tools(provider, tools)?,
        None => Vec::new(),
    };
    if !tools.is_empty() {
        out.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = req.get("tool_choice").filter(|c| !c.is_null()) {
        out.insert(
            "toolConfig".to_owned(),
            translate_tool_choice(provider, choice)?,
        );
    }
    let g = generation_config(provider, model, &req)?;
    if !g.is_empty() {
        out.insert("generationConfig".to_owned(), Value::Object(g));
    }
    for (from, to) in [
        ("safety_settings", "safetySettings"),
        ("safetySettings", "safetySettings"),
        ("cached_content", "cachedContent"),
        ("cachedContent", "cachedContent"),
        // Vertex AI: Model Armor templates and billing labels.
        ("model_armor_config", "modelArmorConfig"),
        ("modelArmorConfig", "modelArmorConfig"),
        ("labels", "labels"),
    ] {
        if let Some(v) = req.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_owned(), v.clone());
        }
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| invalid(provider, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: Value, model: &str, drop_params: bool) -> Result<Value, ProviderError> {
        let ctx = RequestContext {
            drop_params,
            ..RequestContext::default()
        };
        translate_chat("gemini", body.to_string().as_bytes(), model, &ctx)
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn messages_tools_and_results_translate() {
        let out = run(
            json!({
                "model": "g", "max_tokens": 100, "stop": "END", "temperature": 0.2, "top_p": 0.9, "seed": 3, "n": 2,
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
                    {"role": "user", "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        {"type": "image_url", "image_url": {"url": "https://x.example/cat.webp?s=1"}}
                    ]},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1__thought__c2ln", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": ""}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1__thought__c2ln", "content": "{\"temp\": 22}"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "plain"},
                    {"role": "user", "content": "thanks"}
                ],
                "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "additionalProperties": false}}}, {"googleSearch": {}}],
                "tool_choice": {"type": "function", "function": {"name": "f"}}
            }),
            "gemini-2.5-flash",
            false,
        )
        .unwrap();
        assert_eq!(
            out["systemInstruction"],
            json!({"parts": [{"text": "Be brief.\nBe kind."}]})
        );
        let c = &out["contents"];
        assert_eq!(c[0]["role"], "user");
        assert_eq!(
            c[0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}})
        );
        assert_eq!(
            c[0]["parts"][2],
            json!({"fileData": {"mimeType": "image/webp", "fileUri": "https://x.example/cat.webp?s=1"}})
        );
        assert_eq!(c[1]["role"], "model");
        assert_eq!(
            c[1]["parts"][0],
            json!({"functionCall": {"name": "f", "args": {"a": 1}, "id": "call_1"}, "thoughtSignature": "c2ln"})
        );
        assert_eq!(c[1]["parts"][1]["functionCall"]["args"], json!({}));
        // Both tool results and the next user turn merge into one user turn.
        assert_eq!(c[2]["role"], "user");
        assert_eq!(
            c[2]["parts"][0],
            json!({"functionResponse": {"name": "f", "id": "call_1", "response": {"temp": 22}}})
        );
        assert_eq!(
            c[2]["parts"][1]["functionResponse"]["response"],
            json!({"content": "plain"})
        );
        assert_eq!(c[2]["parts"][2], json!({"text": "thanks"}));
        assert_eq!(out["tools"][0], json!({"googleSearch": {}}));
        assert_eq!(
            out["tools"][1]["functionDeclarations"][0],
            json!({"name": "f", "description": "d", "parametersJsonSchema": {"type": "object", "additionalProperties": false}})
        );
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
        assert_eq!(
            out["generationConfig"],
            json!({"maxOutputTokens": 100, "stopSequences": ["END"], "temperature": 0.2, "topP": 0.9, "seed": 3, "candidateCount": 2})
        );
    }

    #[test]
    fn json_mode_and_reasoning() {
        let out = run(
            json!({"messages": [{"role": "user", "content": "x"}],
                   "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": true, "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}}},
                   "reasoning_effort": "low", "max_completion_tokens": 50, "tool_choice": "none"}),
            "gemini-2.5-flash",
            false,
        )
        .unwrap();
        let g = &out["generationConfig"];
        assert_eq!(g["responseMimeType"], "application/json");
        assert_eq!(
            g["responseSchema"],
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
        assert_eq!(
            g["thinkingConfig"],
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        );
        assert_eq!(g["maxOutputTokens"], 50);
        assert_eq!(out["toolConfig"]["functionCallingConfig"]["mode"], "NONE");

        let out = run(
            json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high", "response_format": {"type": "json_object"}}),
            "gemini-3-pro-preview",
            false,
        )
        .unwrap();
        assert_eq!(
            out["generationConfig"]["thinkingConfig"],
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        assert_eq!(
            out["generationConfig"]["responseMimeType"],
            "application/json"
        );
        let e = run(
            json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}),
            "gemini-2.5-flash",
            false,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
    }

    #[test]
    fn unsupported_params_and_bad_input_are_errors() {
        let body = json!({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 2}});
        let e = run(body.clone(), "m", false).unwrap_err();
        assert_eq!(
            (e.kind, e.param.as_deref()),
            (ErrorKind::UnsupportedParam, Some("logit_bias"))
        );
        assert!(run(body, "m", true).unwrap().get("logit_bias").is_none());
        for bad in [
            json!([1]),
            json!({"messages": "x"}),
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
            json!({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:xx"}}]}]}),
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]}]}),
            json!({"messages": [{"role": "system", "content": "only system"}]}),
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}),
            json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": 5}),
        ] {
            let e = run(bad.clone(), "m", false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{bad}");
            assert!(e.message.starts_with("gemini: "), "{}", e.message);
        }
    }
}

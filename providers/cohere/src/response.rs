//! Cohere v2 chat / embed responses and errors → OpenAI.

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    openai, ErrorKind, ParsedResponse, ProviderError, ResponseHead, ResponseInfo, Usage,
};

/// Cohere `finish_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" | "ERROR_LIMIT" => "length",
        "TOOL_CALL" => "tool_calls",
        "ERROR_TOXIC" => "content_filter",
        // COMPLETE, STOP_SEQUENCE, and ERROR / TIMEOUT when some output arrived.
        _ => "stop",
    }
}

/// Whether a Cohere finish reason means the generation failed.
pub(crate) fn is_failure(reason: &str) -> bool {
    matches!(reason, "ERROR" | "TIMEOUT")
}

/// Cohere usage → normalized usage. `tokens` counts what the model processed (the part of it
/// served from the cache is `cached_tokens`); `billed_units` (which leaves out the tokens of
/// Cohere's own prompt template) is the fallback when `tokens` is absent.
pub(crate) fn usage_from(u: &Value) -> Option<Usage> {
    let counts = u
        .get("tokens")
        .filter(|t| t.is_object())
        .or_else(|| u.get("billed_units").filter(|t| t.is_object()))?;
    let n = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_f64)
            .map_or(0, |f| f.max(0.0) as u64)
    };
    let prompt = n(counts, "input_tokens");
    let completion = n(counts, "output_tokens");
    let cached = u
        .get("cached_tokens")
        .or_else(|| counts.get("cached_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        cached_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        ..Default::default()
    })
}

/// The OpenAI `usage` object.
pub(crate) fn usage_json(u: &Usage) -> Value {
    openai::usage_json(u)
}

/// A 2xx body that is Cohere's error shape (`{"id", "message": "…"}`) instead of an answer.
fn embedded_error(v: &Value, body: &[u8]) -> Option<ProviderError> {
    v.get("message").filter(|m| m.is_string()).map(|_| {
        classify_error(
            &ResponseHead {
                status: 500,
                headers: Vec::new(),
            },
            body,
        )
    })
}

/// Translates a `/v2/chat` response body.
pub(crate) fn translate_chat(body: &[u8], model: &str) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("cohere: response is not valid JSON: {e}"))
    })?;
    if let Some(e) = embedded_error(&v, body) {
        return Err(e);
    }
    let message = v
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| ProviderError::bad_response("cohere: response has no message"))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    match message.get("content") {
        Some(Value::Array(parts)) => {
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(part["text"].as_str().unwrap_or_default()),
                    Some("thinking") => {
                        reasoning.push_str(part["thinking"].as_str().unwrap_or_default())
                    }
                    _ => {}
                }
            }
        }
        Some(Value::String(s)) => text.push_str(s),
        _ => {}
    }
    if text.is_empty() {
        // The plan the model states before calling tools is what it said.
        text.push_str(message["tool_plan"].as_str().unwrap_or_default());
    }
    let tool_calls: Vec<Value> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| calls.iter().map(tool_call).collect())
        .unwrap_or_default();
    let reason = v
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("COMPLETE");
    if is_failure(reason) && text.is_empty() && tool_calls.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Unavailable,
            format!("cohere: the generation failed (finish_reason {reason})"),
        )
        .with_status(503));
    }
    let finish = finish_reason(reason);
    let usage = v.get("usage").and_then(usage_from).unwrap_or_default();
    let mut out_message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) },
    });
    if !tool_calls.is_empty() {
        out_message["tool_calls"] = Value::Array(tool_calls);
    }
    if !reasoning.is_empty() {
        out_message["reasoning_content"] = Value::String(reasoning);
    }
    Ok(openai::chat_completion(
        v.get("id").cloned().unwrap_or(Value::Null),
        model,
        out_message,
        finish,
        usage,
    ))
}

/// A Cohere tool call → an OpenAI one (arguments always a JSON string).
pub(crate) fn tool_call(call: &Value) -> Value {
    let function = call.get("function").unwrap_or(&Value::Null);
    let arguments = match function.get("arguments") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(v) if v.is_object() || v.is_array() => v.to_string(),
        _ => "{}".to_owned(),
    };
    json!({
        "id": call.get("id").cloned().unwrap_or(Value::Null),
        "type": "function",
        "function": {"name": function.get("name").cloned().unwrap_or(Value::Null), "arguments": arguments},
    })
}

/// Translates a `/v2/embed` response body into an OpenAI embeddings list.
pub(crate) fn translate_embed(body: &[u8], model: &str) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "cohere: embeddings response is not valid JSON: {e}"
        ))
    })?;
    if let Some(e) = embedded_error(&v, body) {
        return Err(e);
    }
    let embeddings = v.get("embeddings").unwrap_or(&Value::Null);
    // `embeddings_by_type` (v2): {"float": [...]} or {"base64": [...]}; `embeddings_floats`
    // (v1 shape): the list itself.
    let list = embeddings
        .get("float")
        .or_else(|| embeddings.get("base64"))
        .or(Some(embeddings))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ProviderError::bad_response(
                "cohere: embeddings response has no float or base64 embeddings",
            )
        })?;
    let data: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    let billed = &v["meta"]["billed_units"];
    let tokens = billed["input_tokens"].as_u64().unwrap_or(0);
    let usage = Usage {
        prompt_tokens: tokens,
        total_tokens: tokens,
        ..Usage::default()
    };
    let openai = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    Ok(ParsedResponse {
        body: openai.to_string().into_bytes(),
        info: ResponseInfo {
            usage: Some(usage),
            finish_reason: None,
            model: Some(model.to_owned()),
            ..Default::default()
        },
    })
}

/// Whether a message says the prompt does not fit the model.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too many tokens")
        || m.contains("context length")
        || m.contains("context window")
        || (m.contains("exceed") && m.contains("token") && m.contains("limit"))
}

/// Classifies a Cohere error: `{"id": "…", "message": "…"}` (older bodies: `{"message"}`,
/// gateways: `{"error": …}` or plain text).
pub(crate) fn classify_error(head: &ResponseHead, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| {
            v.get("error")
                .and_then(|e| e.get("message").and_then(Value::as_str).or(e.as_str()))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let snippet = String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_owned();
            if snippet.is_empty() {
                format!("upstream returned HTTP {}", head.status)
            } else {
                snippet
            }
        });
    let lower = message.to_ascii_lowercase();
    let (kind, status) = match head.status {
        400 | 413 | 422 if is_context_overflow(&message) => (ErrorKind::ContextWindowExceeded, 400),
        400 | 413 | 422 => (ErrorKind::InvalidRequest, head.status),
        // 498: Cohere's "invalid token".
        401 | 498 => (ErrorKind::Authentication, 401),
        403 => (ErrorKind::Permission, 403),
        404 => (ErrorKind::NotFound, 404),
        408 | 504 => (ErrorKind::Timeout, head.status),
        429 => (ErrorKind::RateLimit, 429),
        // 499: the request was cancelled upstream.
        499..=599 => (ErrorKind::Unavailable, 503),
        _ if lower.contains("overloaded") => (ErrorKind::Unavailable, 503),
        _ => (ErrorKind::BadResponse, 502),
    };
    let mut e = ProviderError::new(kind, format!("cohere: {message}"))
        .with_status(status)
        .with_retry_after_ms(head.retry_after_ms());
    e.code = match kind {
        ErrorKind::ContextWindowExceeded => Some("context_length_exceeded".to_owned()),
        ErrorKind::Authentication => Some("invalid_api_key".to_owned()),
        ErrorKind::NotFound if lower.contains("model") => Some("model_not_found".to_owned()),
        _ => None,
    };
    e
}

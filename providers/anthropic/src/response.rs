//! Anthropic Messages response / error → OpenAI.

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    openai, ErrorKind, ParsedResponse, ProviderError, ResponseHead, Usage,
};

/// `stop_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Anthropic usage → normalized usage: prompt tokens include cache reads and writes.
pub(crate) fn usage_from(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    openai::usage_with_cache(
        n("input_tokens"),
        n("cache_read_input_tokens"),
        n("cache_creation_input_tokens"),
        n("output_tokens"),
    )
}

/// The OpenAI `usage` object, with Anthropic's cache counts kept alongside.
pub(crate) fn usage_json(u: &Usage) -> Value {
    openai::usage_json(u)
}

/// Translates a Messages response body.
pub(crate) fn translate(body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("anthropic: response is not valid JSON: {e}"))
    })?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(classify_error(
            &ResponseHead {
                status: 500,
                headers: Vec::new(),
            },
            body,
        ));
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::bad_response("anthropic: response has no content"))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(block["thinking"].as_str().unwrap_or(""));
                thinking_blocks.push(block.clone());
            }
            Some("redacted_thinking") => thinking_blocks.push(block.clone()),
            Some("tool_use") => tool_calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string)},
            })),
            _ => {}
        }
    }
    let finish = finish_reason(
        v.get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or("end_turn"),
    );
    let usage = usage_from(v.get("usage").unwrap_or(&Value::Null));
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) },
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    if !thinking_blocks.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
        message["thinking_blocks"] = Value::Array(thinking_blocks);
    }
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(openai::chat_completion(
        v.get("id").cloned().unwrap_or(Value::Null),
        &model,
        message,
        finish,
        usage,
    ))
}

/// Classifies an Anthropic error: `{"type":"error","error":{"type","message"}}`.
pub(crate) fn classify_error(head: &ResponseHead, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = v.get("error").unwrap_or(&Value::Null);
    let kind_name = error.get("type").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_owned()
        });
    classify_kind(kind_name, head.status, &message).with_retry_after_ms(head.retry_after_ms())
}

/// Maps an Anthropic error type (also used inside streams) to the taxonomy.
pub(crate) fn classify_kind(kind_name: &str, status: u16, message: &str) -> ProviderError {
    let (kind, status) = match kind_name {
        "invalid_request_error" if message.contains("prompt is too long") => {
            (ErrorKind::ContextWindowExceeded, 400)
        }
        "invalid_request_error" => (ErrorKind::InvalidRequest, 400),
        "authentication_error" => (ErrorKind::Authentication, 401),
        "permission_error" => (ErrorKind::Permission, 403),
        "not_found_error" => (ErrorKind::NotFound, 404),
        "request_too_large" => (ErrorKind::InvalidRequest, 413),
        "rate_limit_error" => (ErrorKind::RateLimit, 429),
        // 529: Anthropic is overloaded; clients understand 503.
        "overloaded_error" => (ErrorKind::Unavailable, 503),
        "api_error" => (ErrorKind::Unavailable, 500),
        _ => match status {
            400 | 413 => (ErrorKind::InvalidRequest, status),
            401 => (ErrorKind::Authentication, 401),
            403 => (ErrorKind::Permission, 403),
            404 => (ErrorKind::NotFound, 404),
            408 | 504 => (ErrorKind::Timeout, status),
            429 => (ErrorKind::RateLimit, 429),
            529 => (ErrorKind::Unavailable, 503),
            500..=599 => (ErrorKind::Unavailable, status),
            _ => (ErrorKind::BadResponse, 502),
        },
    };
    let mut e = ProviderError::new(kind, format!("anthropic: {message}")).with_status(status);
    if kind == ErrorKind::ContextWindowExceeded {
        e.code = Some("context_length_exceeded".to_owned());
    } else if !kind_name.is_empty() {
        e.code = Some(kind_name.to_owned());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_tools_and_cache_usage_translate() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 33, "cache_read_input_tokens": 1111, "cache_creation_input_tokens": 418}
        });
        let parsed = translate(body.to_string().as_bytes()).unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(v["choices"][0]["message"]["content"], "Let me check.");
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        let u = parsed.info.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.cached_tokens,
                u.cache_write_tokens,
                u.total_tokens
            ),
            (1532, 1111, 418, 1565)
        );
    }

    #[test]
    fn errors_map_to_the_taxonomy() {
        let head = |status| ResponseHead {
            status,
            headers: vec![("retry-after".into(), "4".into())],
        };
        let e = classify_error(
            &head(529),
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        let e = classify_error(
            &head(429),
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#,
        );
        assert_eq!(
            (e.kind, e.retry_after_ms),
            (ErrorKind::RateLimit, Some(4000))
        );
        let e = classify_error(&head(400), br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#);
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (
                ErrorKind::ContextWindowExceeded,
                Some("context_length_exceeded")
            )
        );
    }
}

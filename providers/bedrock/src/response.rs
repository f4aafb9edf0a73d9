//! Bedrock Converse response / error → OpenAI.

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    openai, ErrorKind, ParsedResponse, ProviderError, ResponseHead, Usage,
};

use crate::request::JSON_TOOL;

/// `stopReason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "content_filtered" | "guardrail_intervened" => "content_filter",
        _ => "stop",
    }
}

/// Converse usage → normalized usage: `inputTokens` excludes the cache reads and writes, which
/// OpenAI's `prompt_tokens` includes.
pub(crate) fn usage_from(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    openai::usage_with_cache(
        n("inputTokens"),
        n("cacheReadInputTokens"),
        n("cacheWriteInputTokens"),
        n("outputTokens"),
    )
}

/// The OpenAI `usage` object, with the cache counts also under Anthropic's names (as LiteLLM
/// reports them).
pub(crate) fn usage_json(u: &Usage) -> Value {
    openai::usage_json(u)
}

/// The response id: Bedrock's request id when the head carries it.
pub(crate) fn response_id(head: &ResponseHead) -> String {
    match head.header("x-amzn-requestid") {
        Some(id) if !id.is_empty() => format!("chatcmpl-{id}"),
        _ => "chatcmpl-bedrock".to_owned(),
    }
}

/// Translates a Converse response body; `model` is the deployment's model id (Converse does
/// not echo it).
pub(crate) fn translate(
    head: &ResponseHead,
    body: &[u8],
    model: &str,
) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("bedrock: response is not valid JSON: {e}"))
    })?;
    let blocks = v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ProviderError::bad_response("bedrock: response has no output.message.content")
        })?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    let mut json_mode = false;
    for block in blocks {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(tool) = block.get("toolUse") {
            let arguments = tool
                .get("input")
                .map_or_else(|| "{}".to_owned(), Value::to_string);
            if tool["name"] == JSON_TOOL {
                json_mode = true;
                text.push_str(&arguments);
                continue;
            }
            tool_calls.push(json!({
                "id": tool["toolUseId"],
                "type": "function",
                "function": {"name": tool["name"], "arguments": arguments},
            }));
        } else if let Some(r) = block.get("reasoningContent") {
            if let Some(rt) = r.get("reasoningText") {
                let t = rt.get("text").and_then(Value::as_str).unwrap_or_default();
                reasoning.push_str(t);
                let mut tb = json!({"type": "thinking", "thinking": t});
                if let Some(sig) = rt.get("signature") {
                    tb["signature"] = sig.clone();
                }
                thinking_blocks.push(tb);
            } else if let Some(data) = r.get("redactedContent") {
                thinking_blocks.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
    }
    let stop = v
        .get("stopReason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    let finish = if json_mode && stop == "tool_use" {
        "stop"
    } else {
        finish_reason(stop)
    };
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
    Ok(openai::chat_completion(
        json!(response_id(head)),
        model,
        message,
        finish,
        usage,
    ))
}

/// The exception name of an error response: `x-amzn-ErrorType` (`ThrottlingException:http://…`),
/// else the body's `__type` (`com.amazon…#ValidationException`).
fn exception_name(head: &ResponseHead, body: &Value) -> String {
    let raw = head
        .header("x-amzn-errortype")
        .map(str::to_owned)
        .or_else(|| {
            body.get("__type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let name = raw.split(':').next().unwrap_or("");
    name.rsplit('#').next().unwrap_or("").to_owned()
}

/// Whether a validation message says the prompt does not fit the model.
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "too long",
        "input is too long",
        "prompt is too long",
        "context length",
        "context window",
        "maximum context",
        "too many input tokens",
        "max_tokens_to_sample",
    ]
    .iter()
    .any(|needle| m.contains(needle))
        && !m.contains("stop sequence")
}

/// Maps an exception name (HTTP `x-amzn-ErrorType`, or the `:exception-type` of a stream frame,
/// whose first letter is lower-case) and status to the taxonomy, keeping the message.
pub(crate) fn classify_exception(exception: &str, status: u16, message: &str) -> ProviderError {
    let mut name = exception.to_owned();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let (kind, status) = match name.as_str() {
        "ValidationException" if is_context_overflow(message) => {
            (ErrorKind::ContextWindowExceeded, 400)
        }
        "ValidationException" | "SerializationException" => (ErrorKind::InvalidRequest, 400),
        "ThrottlingException" | "TooManyRequestsException" | "ServiceQuotaExceededException" => {
            (ErrorKind::RateLimit, 429)
        }
        "AccessDeniedException" => (ErrorKind::Permission, 403),
        "UnrecognizedClientException"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "InvalidClientTokenId" => (ErrorKind::Authentication, 401),
        "ResourceNotFoundException" => (ErrorKind::NotFound, 404),
        "ModelTimeoutException" => (ErrorKind::Timeout, 408),
        "ModelNotReadyException" | "ServiceUnavailableException" => (ErrorKind::Unavailable, 503),
        "InternalServerException" | "ModelStreamErrorException" | "ModelErrorException" => (
            ErrorKind::Unavailable,
            if status >= 500 { status } else { 500 },
        ),
        _ => match status {
            400 if is_context_overflow(message) => (ErrorKind::ContextWindowExceeded, 400),
            400 | 413 | 422 => (ErrorKind::InvalidRequest, status),
            401 => (ErrorKind::Authentication, 401),
            // Without the error-type header, the message still tells a credentials problem.
            403 if message.contains("security token") || message.contains("signature") => {
                (ErrorKind::Authentication, 401)
            }
            403 => (ErrorKind::Permission, 403),
            404 => (ErrorKind::NotFound, 404),
            408 | 504 => (ErrorKind::Timeout, status),
            424 => (ErrorKind::Unavailable, 502),
            429 => (ErrorKind::RateLimit, 429),
            500..=599 => (ErrorKind::Unavailable, status),
            _ => (ErrorKind::BadResponse, 502),
        },
    };
    let mut e = ProviderError::new(kind, format!("bedrock: {message}")).with_status(status);
    e.code = if kind == ErrorKind::ContextWindowExceeded {
        Some("context_length_exceeded".to_owned())
    } else if name.is_empty() {
        None
    } else {
        Some(name)
    };
    e
}

/// Classifies a Bedrock error response: `{"message": "..."}` (or `Message`) with the exception
/// in `x-amzn-ErrorType`.
pub(crate) fn classify_error(head: &ResponseHead, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
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
    classify_exception(&exception_name(head, &v), head.status, &message)
        .with_retry_after_ms(head.retry_after_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, error_type: Option<&str>) -> ResponseHead {
        ResponseHead {
            status,
            headers: error_type
                .map(|t| vec![("x-amzn-errortype".to_owned(), t.to_owned())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn text_tools_reasoning_and_cache_usage_translate() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s1"}}},
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "tu1", "name": "f", "input": {"a": 1}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 2, "outputTokens": 5, "totalTokens": 1329, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 1322}
        });
        let parsed = translate(&head(200, None), body.to_string().as_bytes(), "m").unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        let msg = &v["choices"][0]["message"];
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(msg["content"], "Let me check.");
        assert_eq!(msg["reasoning_content"], "think");
        assert_eq!(msg["thinking_blocks"][0]["signature"], "s1");
        assert_eq!(msg["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        let u = parsed.info.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.cache_write_tokens
            ),
            (1324, 5, 1329, 1322)
        );
    }

    #[test]
    fn the_json_tool_becomes_content() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tu1", "name": JSON_TOOL, "input": {"a": 1}}}
            ]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1}
        });
        let parsed = translate(&head(200, None), body.to_string().as_bytes(), "m").unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "{\"a\":1}");
        assert!(v["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn exceptions_map_to_the_taxonomy_keeping_messages() {
        let cases = [
            (
                "ThrottlingException:http://internal",
                429,
                "Too many requests",
                ErrorKind::RateLimit,
                429,
            ),
            (
                "ValidationException",
                400,
                "Input is too long for requested model.",
                ErrorKind::ContextWindowExceeded,
                400,
            ),
            (
                "ValidationException",
                400,
                "messages: field required",
                ErrorKind::InvalidRequest,
                400,
            ),
            (
                "AccessDeniedException",
                403,
                "You don't have access to the model",
                ErrorKind::Permission,
                403,
            ),
            (
                "UnrecognizedClientException",
                403,
                "The security token included in the request is invalid.",
                ErrorKind::Authentication,
                401,
            ),
            (
                "ExpiredTokenException",
                403,
                "The security token included in the request is expired",
                ErrorKind::Authentication,
                401,
            ),
            (
                "ModelNotReadyException",
                429,
                "Model is not ready",
                ErrorKind::Unavailable,
                503,
            ),
            (
                "ServiceUnavailableException",
                503,
                "Service unavailable",
                ErrorKind::Unavailable,
                503,
            ),
            (
                "ModelTimeoutException",
                408,
                "Model timed out",
                ErrorKind::Timeout,
                408,
            ),
            (
                "ResourceNotFoundException",
                404,
                "Model not found",
                ErrorKind::NotFound,
                404,
            ),
        ];
        for (etype, status, message, kind, out_status) in cases {
            let body = json!({"message": message}).to_string();
            let e = classify_error(&head(status, Some(etype)), body.as_bytes());
            assert_eq!((e.kind, e.status), (kind, out_status), "{etype}");
            assert!(e.message.contains(message), "{}", e.message);
        }
        let e = classify_error(
            &head(403, None),
            br#"{"message":"The security token included in the request is expired"}"#,
        );
        assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
        let e = classify_exception("throttlingException", 200, "slow down");
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (ErrorKind::RateLimit, Some("ThrottlingException"))
        );
        let e = classify_error(
            &head(400, None),
            br#"{"message":"The provided model identifier is invalid."}"#,
        );
        assert_eq!(
            (e.kind, e.status, e.code),
            (ErrorKind::InvalidRequest, 400, None)
        );
        let e = classify_error(
            &ResponseHead {
                status: 429,
                headers: vec![("retry-after".into(), "3".into())],
            },
            b"{\"Message\":\"Rate exceeded\"}",
        );
        assert_eq!(
            (e.kind, e.retry_after_ms),
            (ErrorKind::RateLimit, Some(3000))
        );
        assert!(e.message.contains("Rate exceeded"));
    }
}

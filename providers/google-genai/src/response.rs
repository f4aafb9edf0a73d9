//! Gemini `generateContent` response / Google API error → OpenAI.

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    openai, ErrorKind, ParsedResponse, ProviderError, ResponseHead, ResponseInfo, Usage,
};

use crate::THOUGHT_SEPARATOR;

/// A Gemini `finishReason` (name, or the number with `enum-encoding=int`) → OpenAI's, before
/// tool calls are taken into account.
pub fn finish_reason(reason: &Value) -> Option<&'static str> {
    let name = match reason {
        Value::String(s) => s.as_str(),
        Value::Number(n) => match n.as_u64()? {
            1 => "STOP",
            2 => "MAX_TOKENS",
            3 => "SAFETY",
            4 => "RECITATION",
            6 => "BLOCKLIST",
            7 => "PROHIBITED_CONTENT",
            8 => "SPII",
            9 => "MALFORMED_FUNCTION_CALL",
            10 => "IMAGE_SAFETY",
            _ => "OTHER",
        },
        _ => return None,
    };
    Some(match name {
        "" | "FINISH_REASON_UNSPECIFIED" => return None,
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "MODEL_ARMOR"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ => "stop",
    })
}

/// `usageMetadata` → normalized usage: prompt tokens include cached (and tool-use prompt)
/// tokens, completion tokens include thinking tokens.
pub fn usage_from(meta: &Value) -> Usage {
    let n = |k: &str| meta.get(k).and_then(Value::as_u64).unwrap_or(0);
    let prompt = n("promptTokenCount") + n("toolUsePromptTokenCount");
    let reasoning = n("thoughtsTokenCount");
    let completion = n("candidatesTokenCount") + reasoning;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        cached_tokens: n("cachedContentTokenCount"),
        cache_write_tokens: 0,
        reasoning_tokens: reasoning,
        ..Default::default()
    }
}

/// A tool-call id: Gemini's own `functionCall.id` when it sends one, else one derived from the
/// response id and the call's position (the same in a stream and a non-stream answer). A
/// `thoughtSignature` rides along after [`THOUGHT_SEPARATOR`].
pub(crate) fn tool_call_id(
    function_call: &Value,
    signature: Option<&str>,
    response_id: &str,
    n: u64,
) -> String {
    let mut id = match function_call.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => {
            let rid: String = response_id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(24)
                .collect();
            format!("call_{rid}_{n}")
        }
    };
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        id.push_str(THOUGHT_SEPARATOR);
        id.push_str(sig);
    }
    id
}

/// The error a `promptFeedback.blockReason` stands for.
pub(crate) fn prompt_blocked(provider: &str, feedback: &Value) -> Option<ProviderError> {
    let reason = feedback.get("blockReason")?;
    let reason = match reason {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let detail = feedback
        .get("blockReasonMessage")
        .and_then(Value::as_str)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(
        ProviderError::new(
            ErrorKind::ContentPolicy,
            format!("{provider}: the prompt was blocked ({reason}){detail}"),
        )
        .with_code("content_policy_violation"),
    )
}

/// An `error` object inside a 2xx body or a stream, classified with the status it names.
pub(crate) fn embedded_error(provider: &str, body: &[u8], error: &Value) -> ProviderError {
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|s| (400..600).contains(s))
        .unwrap_or(500);
    classify_error(
        provider,
        &ResponseHead {
            status,
            headers: Vec::new(),
        },
        body,
    )
}

/// Translates a `generateContent` body into a `chat.completion`.
pub fn parse_chat(provider: &str, body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("{provider}: response is not valid JSON: {e}"))
    })?;
    if let Some(error) = v.get("error") {
        return Err(embedded_error(provider, body, error));
    }
    if !v.is_object() {
        return Err(ProviderError::bad_response(format!(
            "{provider}: response is not a JSON object"
        )));
    }
    let candidates = v.get("candidates").and_then(Value::as_array);
    if candidates.is_none_or(|c| c.is_empty()) {
        if let Some(e) = v
            .get("promptFeedback")
            .and_then(|f| prompt_blocked(provider, f))
        {
            return Err(e);
        }
    }
    let response_id = v
        .get("responseId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = v
        .get("modelVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut calls_seen = 0u64;
    let mut choices = Vec::new();
    let mut first_finish: Option<String> = None;
    for (pos, candidate) in candidates.into_iter().flatten().enumerate() {
        let index = candidate
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        for part in candidate["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(fc) = part.get("functionCall") {
                let signature = part.get("thoughtSignature").and_then(Value::as_str);
                let id = tool_call_id(fc, signature, response_id, calls_seen);
                calls_seen += 1;
                let args = fc
                    .get("args")
                    .filter(|a| !a.is_null())
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                tool_calls.push(json!({
                    "id": id, "type": "function",
                    "function": {"name": fc.get("name").cloned().unwrap_or(json!("")), "arguments": args.to_string()},
                }));
            } else if let Some(t) = part.get("text").and_then(Value::as_str) {
                if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    reasoning.push_str(t);
                } else {
                    text.push_str(t);
                }
            } else if let Some(code) = part.get("executableCode") {
                let lang = code["language"].as_str().unwrap_or("").to_ascii_lowercase();
                let lang = if lang == "language_unspecified" {
                    ""
                } else {
                    lang.as_str()
                };
                text.push_str(&format!(
                    "```{lang}\n{}\n```\n",
                    code["code"].as_str().unwrap_or("")
                ));
            } else if let Some(result) = part.get("codeExecutionResult") {
                text.push_str(&format!(
                    "```output\n{}\n```\n",
                    result["output"].as_str().unwrap_or("")
                ));
            }
        }
        let mapped = candidate
            .get("finishReason")
            .and_then(finish_reason)
            .unwrap_or("stop");
        let finish = if mapped == "stop" && !tool_calls.is_empty() {
            "tool_calls"
        } else {
            mapped
        };
        let empty = text.is_empty() && (!tool_calls.is_empty() || finish == "content_filter");
        let mut message = json!({
            "role": "assistant",
            "content": if empty { Value::Null } else { Value::String(text) },
        });
        if !tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(tool_calls);
        }
        if !reasoning.is_empty() {
            message["reasoning_content"] = Value::String(reasoning);
        }
        if let Some(g) = candidate.get("groundingMetadata") {
            message["grounding_metadata"] = g.clone();
        }
        if index == 0 || first_finish.is_none() {
            first_finish.get_or_insert_with(|| finish.to_owned());
        }
        choices.push(json!({"index": index, "message": message, "finish_reason": finish}));
    }
    if choices.is_empty() {
        return Err(ProviderError::bad_response(format!(
            "{provider}: response has no candidates"
        )));
    }
    let usage = v.get("usageMetadata").map(usage_from);
    let mut out = json!({
        "id": if response_id.is_empty() { "chatcmpl-gemini" } else { response_id },
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices,
    });
    if let Some(u) = &usage {
        out["usage"] = openai::usage_json(u);
    }
    Ok(ParsedResponse {
        body: out.to_string().into_bytes(),
        info: ResponseInfo {
            usage,
            finish_reason: first_finish,
            model: (!model.is_empty()).then_some(model),
            ..Default::default()
        },
    })
}

/// `RetryInfo.retryDelay` (`"7s"`, `"1.5s"`) in milliseconds.
fn retry_delay_ms(details: &[Value]) -> Option<u64> {
    details.iter().find_map(|d| {
        let is_retry = d
            .get("@type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("RetryInfo"));
        let delay = d.get("retryDelay")?.as_str()?.trim().strip_suffix('s')?;
        let secs: f64 = delay.parse().ok()?;
        (is_retry && secs.is_finite() && secs >= 0.0).then_some((secs * 1000.0) as u64)
    })
}

/// Whether a message says the prompt is longer than the model takes.
fn is_token_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("input token count")
        || m.contains("exceeds the maximum number of tokens")
        || m.contains("token count exceeds")
        || m.contains("too many tokens")
        || m.contains("maximum context length")
        || m.contains("context window")
}

/// Classifies a Google API error (`{"error": {"code", "message", "status", "details"}}`, also
/// wrapped in an array as JSON-array streams send it), keeping the provider's message.
pub fn classify_error(provider: &str, head: &ResponseHead, body: &[u8]) -> ProviderError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let parsed = match parsed {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let error = parsed.get("error").unwrap_or(&parsed);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
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
    let google_status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let details = error
        .get("details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let reason = details
        .iter()
        .find_map(|d| d.get("reason").and_then(Value::as_str))
        .unwrap_or("");
    let lower = message.to_ascii_lowercase();
    let (kind, status, code): (ErrorKind, u16, Option<&str>) =
        if reason == "API_KEY_INVALID" || lower.contains("api key not valid") {
            (ErrorKind::Authentication, 401, Some("invalid_api_key"))
        } else if is_token_limit(&message) {
            (
                ErrorKind::ContextWindowExceeded,
                400,
                Some("context_length_exceeded"),
            )
        } else if lower.contains("overloaded") && head.status >= 500 {
            (ErrorKind::Unavailable, 503, None)
        } else {
            match head.status {
                400 | 413 | 422 => (ErrorKind::InvalidRequest, head.status, None),
                401 => (ErrorKind::Authentication, 401, None),
                403 => (ErrorKind::Permission, 403, None),
                404 => (ErrorKind::NotFound, 404, None),
                408 | 504 => (ErrorKind::Timeout, head.status, None),
                429 => (ErrorKind::RateLimit, 429, None),
                409 | 499 | 500..=599 => (ErrorKind::Unavailable, head.status, None),
                _ => (ErrorKind::BadResponse, 502, None),
            }
        };
    let retry = retry_delay_ms(details).or_else(|| head.retry_after_ms());
    let mut e = ProviderError::new(kind, format!("{provider}: {message}"))
        .with_status(status)
        .with_retry_after_ms(retry);
    e.code = code
        .map(str::to_owned)
        .or_else(|| (!google_status.is_empty()).then(|| google_status.to_ascii_lowercase()));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16) -> ResponseHead {
        ResponseHead {
            status,
            headers: vec![],
        }
    }

    #[test]
    fn text_thoughts_tool_calls_and_usage() {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Thinking...", "thought": true},
                {"text": "Let me check."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "get_time", "id": "own-id"}}
            ]}, "finishReason": "STOP", "index": 0}],
            "modelVersion": "gemini-2.5-flash", "responseId": "resp-1",
            "usageMetadata": {"promptTokenCount": 49, "candidatesTokenCount": 15, "thoughtsTokenCount": 48, "cachedContentTokenCount": 10, "totalTokenCount": 112}
        });
        let parsed = parse_chat("gemini", body.to_string().as_bytes()).unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        let m = &v["choices"][0]["message"];
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(m["content"], "Let me check.");
        assert_eq!(m["reasoning_content"], "Thinking...");
        assert_eq!(m["tool_calls"][0]["id"], "call_resp1_0__thought__c2ln");
        assert_eq!(
            m["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(m["tool_calls"][1]["id"], "own-id");
        assert_eq!(m["tool_calls"][1]["function"]["arguments"], "{}");
        let u = parsed.info.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (49, 63, 112, 10, 48)
        );
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"],
            48
        );
        assert_eq!(parsed.info.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn finish_reasons_and_blocks() {
        for (reason, expected) in [
            (json!("MAX_TOKENS"), "length"),
            (json!("SAFETY"), "content_filter"),
            (json!("MODEL_ARMOR"), "content_filter"),
            (json!(2), "length"),
            (json!(1), "stop"),
        ] {
            let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]});
            let parsed = parse_chat("vertex_ai", body.to_string().as_bytes()).unwrap();
            assert_eq!(parsed.info.finish_reason.as_deref(), Some(expected));
        }
        let blocked = br#"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}"#;
        let e = parse_chat("gemini", blocked).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::ContentPolicy, 400));
        assert_eq!(e.code.as_deref(), Some("content_policy_violation"));
        for bad in [&b"nope"[..], b"[1]", b"{}", br#"{"candidates": []}"#] {
            assert_eq!(
                parse_chat("gemini", bad).unwrap_err().kind,
                ErrorKind::BadResponse
            );
        }
        let e = parse_chat(
            "gemini",
            br#"{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}"#,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
    }

    #[test]
    fn errors_map_to_the_taxonomy() {
        let e = classify_error("gemini", &head(400), br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}"#);
        assert_eq!(
            (e.kind, e.status, e.code.as_deref()),
            (ErrorKind::Authentication, 401, Some("invalid_api_key"))
        );
        assert!(e.message.contains("API key not valid"));
        let e = classify_error("gemini", &head(429), br#"{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7.5s"}]}}"#);
        assert_eq!(
            (e.kind, e.retry_after_ms, e.code.as_deref()),
            (ErrorKind::RateLimit, Some(7500), Some("resource_exhausted"))
        );
        let e = classify_error("gemini", &head(400), br#"{"error": {"code": 400, "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}"#);
        assert_eq!(
            (e.kind, e.code.as_deref()),
            (
                ErrorKind::ContextWindowExceeded,
                Some("context_length_exceeded")
            )
        );
        let e = classify_error("gemini", &head(503), br#"{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}"#);
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        let e = classify_error("gemini", &head(404), br#"[{"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}]"#);
        assert_eq!((e.kind, e.status), (ErrorKind::NotFound, 404));
        let e = classify_error("gemini", &head(502), b"<html>bad gateway</html>");
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.message.contains("bad gateway"));
    }
}

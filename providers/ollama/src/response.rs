//! Ollama answers → OpenAI: `/api/chat`, `/api/generate`, `/api/embed(dings)`, errors.

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    openai, ErrorKind, ParsedResponse, ProviderError, ResponseHead, ResponseInfo, Usage,
};

/// FNV-1a, 64 bits: a stable hash for ids derived from a response.
fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Identity of one answer, derived from its model and timestamp (Ollama sends no id): the same
/// answer always gets the same ids, two answers practically never do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AnswerIds {
    pub(crate) model: String,
    pub(crate) created: u64,
    hash: u64,
}

impl AnswerIds {
    pub(crate) fn of(v: &Value) -> AnswerIds {
        let model = v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let created_at = v
            .get("created_at")
            .and_then(Value::as_str)
            .unwrap_or_default();
        AnswerIds {
            created: unix_seconds(created_at).unwrap_or(0),
            hash: fnv64(&[model.as_bytes(), created_at.as_bytes()]),
            model,
        }
    }

    /// `chatcmpl-…` / `cmpl-…`.
    pub(crate) fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{:016x}", self.hash)
    }

    /// The id of the `n`-th tool call of the answer that has none from upstream.
    pub(crate) fn call_id(&self, n: usize) -> String {
        format!("call_{:08x}_{n}", self.hash >> 32)
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-05-24T20:01:31.01558Z`,
/// `…+02:00`).
pub(crate) fn unix_seconds(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Skip fractional seconds; then `Z` or `±hh:mm`.
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i) {
        None | Some(b'Z') | Some(b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs).ok()
}

/// `done_reason` → OpenAI `finish_reason`.
pub(crate) fn finish_reason(done_reason: Option<&str>, has_tool_calls: bool) -> &'static str {
    if has_tool_calls {
        return "tool_calls";
    }
    match done_reason {
        Some("length") => "length",
        _ => "stop",
    }
}

/// `prompt_eval_count` / `eval_count` → usage.
pub(crate) fn usage_from(v: &Value) -> Usage {
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    openai::usage_with_cache(n("prompt_eval_count"), 0, 0, n("eval_count"))
}

/// The usage object a client sees.
pub(crate) fn usage_json(u: &Usage) -> Value {
    openai::usage_json(u)
}

/// An Ollama tool call as an OpenAI one. Arguments are an object upstream (a string from some
/// proxies); OpenAI's are JSON text.
pub(crate) fn tool_call(call: &Value, n: usize, ids: &AnswerIds) -> Value {
    let f = call.get("function").unwrap_or(&Value::Null);
    let arguments = match f.get("arguments") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map_or_else(|| ids.call_id(n), str::to_owned);
    json!({
        "id": id,
        "type": "function",
        "function": {"name": f.get("name").cloned().unwrap_or(json!("")), "arguments": arguments},
    })
}

fn parse_json(body: &[u8], what: &str) -> Result<Value, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("ollama: {what} response is not valid JSON: {e}"))
    })?;
    if !v.is_object() {
        return Err(ProviderError::bad_response(format!(
            "ollama: {what} response is not a JSON object"
        )));
    }
    Ok(v)
}

/// An `{"error": …}` object in a 2xx body (or a stream line) is the upstream's failure.
pub(crate) fn embedded_error(v: &Value) -> Option<ProviderError> {
    let e = v.get("error").filter(|e| !e.is_null())?;
    let message = e
        .as_str()
        .map(str::to_owned)
        .or_else(|| e.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| e.to_string());
    Some(classify(500, &message, None))
}

/// `/api/chat` answer (non-stream).
pub(crate) fn chat(body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let v = parse_json(body, "chat")?;
    if let Some(e) = embedded_error(&v) {
        return Err(e);
    }
    let m = v
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| ProviderError::bad_response("ollama: chat response has no message"))?;
    let ids = AnswerIds::of(&v);
    let tool_calls: Vec<Value> = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(n, c)| tool_call(c, n, &ids))
                .collect()
        })
        .unwrap_or_default();
    let text = m.get("content").and_then(Value::as_str).unwrap_or_default();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) },
    });
    if let Some(thinking) = m
        .get("thinking")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        message["reasoning_content"] = json!(thinking);
    }
    let finish = finish_reason(
        v.get("done_reason").and_then(Value::as_str),
        !tool_calls.is_empty(),
    );
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let usage = usage_from(&v);
    let out = json!({
        "id": ids.id("chatcmpl"),
        "object": "chat.completion",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage_json(&usage),
    });
    Ok(parsed(out, usage, Some(finish), &ids.model))
}

/// `/api/generate` answer (non-stream) → `text_completion`.
pub(crate) fn generate(body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let v = parse_json(body, "generate")?;
    if let Some(e) = embedded_error(&v) {
        return Err(e);
    }
    let text = v
        .get("response")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::bad_response("ollama: generate response has no text"))?;
    let ids = AnswerIds::of(&v);
    let finish = finish_reason(v.get("done_reason").and_then(Value::as_str), false);
    let usage = usage_from(&v);
    let out = json!({
        "id": ids.id("cmpl"),
        "object": "text_completion",
        "created": ids.created,
        "model": ids.model,
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}],
        "usage": usage_json(&usage),
    });
    Ok(parsed(out, usage, Some(finish), &ids.model))
}

/// `/api/embed` (`{"embeddings": [[…]], "prompt_eval_count"}`) or legacy `/api/embeddings`
/// (`{"embedding": […]}`) answer → OpenAI embeddings list.
pub(crate) fn embeddings(body: &[u8], model: &str) -> Result<ParsedResponse, ProviderError> {
    let v = parse_json(body, "embeddings")?;
    if let Some(e) = embedded_error(&v) {
        return Err(e);
    }
    let vectors: Vec<&Value> = if let Some(list) = v.get("embeddings").and_then(Value::as_array) {
        list.iter().collect()
    } else if let Some(one) = v.get("embedding").filter(|e| e.is_array()) {
        vec![one]
    } else {
        return Err(ProviderError::bad_response(
            "ollama: embeddings response has neither 'embeddings' nor 'embedding'",
        ));
    };
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    let prompt = v
        .get("prompt_eval_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let usage = Usage {
        prompt_tokens: prompt,
        total_tokens: prompt,
        ..Usage::default()
    };
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(model)
        .to_owned();
    let out = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    Ok(parsed(out, usage, None, &model))
}

fn parsed(out: Value, usage: Usage, finish: Option<&str>, model: &str) -> ParsedResponse {
    ParsedResponse {
        body: out.to_string().into_bytes(),
        info: ResponseInfo {
            usage: Some(usage),
            finish_reason: finish.map(str::to_owned),
            model: (!model.is_empty()).then(|| model.to_owned()),
            ..Default::default()
        },
    }
}

/// The OpenAI-compatible endpoint's chat answer: passed through, with gpt-oss's
/// `message.reasoning` also given as `reasoning_content` (the name OpenAI clients read).
pub(crate) fn openai_chat(body: &[u8]) -> Result<ParsedResponse, ProviderError> {
    let mut parsed = openai::parse_chat_response("ollama", body)?;
    if !body.windows(11).any(|w| w == b"\"reasoning\"") {
        return Ok(parsed);
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return Ok(parsed);
    };
    let mut changed = false;
    if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
        for choice in choices {
            let Some(m) = choice.get_mut("message").and_then(Value::as_object_mut) else {
                continue;
            };
            if m.contains_key("reasoning_content") {
                continue;
            }
            if let Some(r) = m.get("reasoning").filter(|r| r.is_string()).cloned() {
                m.insert("reasoning_content".to_owned(), r);
                changed = true;
            }
        }
    }
    if changed {
        parsed.body = v.to_string().into_bytes();
    }
    Ok(parsed)
}

/// The taxonomy class of an Ollama failure, keeping its message.
fn classify(status: u16, message: &str, head: Option<&ResponseHead>) -> ProviderError {
    let lower = message.to_ascii_lowercase();
    let (kind, status) = if lower.contains("context length") || lower.contains("context window") {
        (ErrorKind::ContextWindowExceeded, 400)
    } else {
        match status {
            400 | 413 | 415 | 422 => (ErrorKind::InvalidRequest, status),
            401 => (ErrorKind::Authentication, 401),
            403 => (ErrorKind::Permission, 403),
            404 => (ErrorKind::NotFound, 404),
            408 | 504 => (ErrorKind::Timeout, status),
            429 => (ErrorKind::RateLimit, 429),
            // A model that failed to load, a crashed runner, an overloaded server: all
            // "try again or elsewhere".
            500..=599 => (ErrorKind::Unavailable, 503),
            _ => (ErrorKind::BadResponse, 502),
        }
    };
    let mut e = ProviderError::new(kind, format!("ollama: {message}")).with_status(status);
    e.code = match kind {
        ErrorKind::ContextWindowExceeded => Some("context_length_exceeded".to_owned()),
        ErrorKind::NotFound if lower.contains("model") => Some("model_not_found".to_owned()),
        _ => None,
    };
    if let Some(head) = head {
        e.retry_after_ms = head.retry_after_ms();
    }
    e
}

/// Classifies a non-2xx answer: `{"error": "…"}` natively, `{"error": {"message", …}}` from
/// the OpenAI-compatible endpoint, or a bare text from a proxy.
pub(crate) fn classify_error(head: &ResponseHead, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| {
            e.as_str()
                .or_else(|| e.get("message").and_then(Value::as_str))
        })
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let cut = body.len().min(300);
            let snippet = String::from_utf8_lossy(&body[..cut]).trim().to_owned();
            if snippet.is_empty() {
                format!("upstream returned HTTP {}", head.status)
            } else {
                snippet
            }
        });
    let mut e = classify(head.status, &message, Some(head));
    if e.code.is_none() {
        e.code = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    if let Some(param) = error.and_then(|e| e.get("param")).and_then(Value::as_str) {
        e.param = Some(param.to_owned());
    }
    e
}

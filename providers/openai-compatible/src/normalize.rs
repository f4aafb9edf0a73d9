//! Bringing near-OpenAI responses to OpenAI's exact shape.

use serde_json::{json, Value};

/// Fixes one tool call of a message; returns whether it changed.
fn fix_message_tool_call(call: &mut Value, choice: usize, i: usize) -> bool {
    let mut changed = false;
    if call.get("type").is_none_or(Value::is_null) {
        call["type"] = json!("function");
        changed = true;
    }
    if call
        .get("id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        // Gemini's OpenAI endpoint sends "" ids; clients need an id to answer the call.
        call["id"] = json!(format!("call_{choice}_{i}"));
        changed = true;
    }
    changed
}

/// A non-stream `chat.completion` with content arrays flattened (text → `content`, Mistral's
/// thinking chunks → `reasoning_content`) and tool calls completed. `None` when nothing changed.
pub(crate) fn response(body: &[u8]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let mut changed = false;
    for (c, choice) in v.get_mut("choices")?.as_array_mut()?.iter_mut().enumerate() {
        let Some(message) = choice.get_mut("message") else {
            continue;
        };
        if let Some(parts) = message.get("content").and_then(Value::as_array).cloned() {
            let mut text = String::new();
            let mut reasoning = String::new();
            for part in &parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(part["text"].as_str().unwrap_or("")),
                    Some("thinking") => {
                        for t in part["thinking"].as_array().into_iter().flatten() {
                            reasoning.push_str(t["text"].as_str().unwrap_or(""));
                        }
                    }
                    _ => {}
                }
            }
            message["content"] = json!(text);
            if !reasoning.is_empty() {
                message["reasoning_content"] = json!(reasoning);
            }
            changed = true;
        }
        if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for (i, call) in calls.iter_mut().enumerate() {
                changed |= fix_message_tool_call(call, c, i);
            }
        }
    }
    changed.then(|| v.to_string().into_bytes())
}

/// SSE frames with tool-call deltas completed: a missing `index` is numbered in arrival order,
/// a missing `type` on a call's first delta becomes `function`, an empty id is generated.
pub(crate) fn sse(bytes: &[u8], seen: &mut u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    for frame in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(data) = frame.strip_prefix(b"data: ") else {
            out.extend_from_slice(frame);
            continue;
        };
        let json_part = data.strip_suffix(b"\n").unwrap_or(data);
        let Ok(mut v) = serde_json::from_slice::<Value>(json_part) else {
            out.extend_from_slice(frame);
            continue;
        };
        let mut changed = false;
        for choice in v
            .get_mut("choices")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(calls) = choice
                .pointer_mut("/delta/tool_calls")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for call in calls {
                let starts_call = call.get("id").is_some_and(|id| !id.is_null());
                match call.get("index").and_then(Value::as_u64) {
                    Some(i) => *seen = (*seen).max(i + 1),
                    None => {
                        call["index"] = json!(*seen);
                        *seen += 1;
                        changed = true;
                    }
                }
                if starts_call {
                    if call.get("type").is_none_or(Value::is_null) {
                        call["type"] = json!("function");
                        changed = true;
                    }
                    if call["id"].as_str().is_some_and(str::is_empty) {
                        call["id"] = json!(format!("call_{}", call["index"]));
                        changed = true;
                    }
                }
            }
        }
        if changed {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(v.to_string().as_bytes());
            out.push(b'\n');
        } else {
            out.extend_from_slice(frame);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistral_content_arrays_and_bare_tool_calls_are_normalized() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]},{"type":"text","text":"4"}],"tool_calls":[{"id":"","function":{"name":"f","arguments":"{}"}}]}}]}"#;
        let v: Value = serde_json::from_slice(&response(body).unwrap()).unwrap();
        let m = &v["choices"][0]["message"];
        assert_eq!(m["content"], "4");
        assert_eq!(m["reasoning_content"], "hmm");
        assert_eq!(m["tool_calls"][0]["type"], "function");
        assert_eq!(m["tool_calls"][0]["id"], "call_0_0");
        assert!(response(br#"{"choices":[{"message":{"content":"ok"}}]}"#).is_none());
    }

    #[test]
    fn stream_tool_calls_without_index_are_numbered() {
        let sse_in = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\ndata: [DONE]\n\n";
        let mut seen = 0;
        let out = String::from_utf8(sse(sse_in, &mut seen)).unwrap();
        assert!(
            out.contains("\"index\":0") && out.contains("\"type\":\"function\""),
            "{out}"
        );
        assert!(out.ends_with("data: [DONE]\n\n"));
        assert_eq!(seen, 1);
    }
}

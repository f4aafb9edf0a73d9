//! Assembling what a client sees from a plugin's OpenAI SSE output.

use serde::Serialize;
use serde_json::{json, Value};
use switchyard_plugin_sdk::host::StreamDecoderInstance;
use switchyard_plugin_sdk::{ProviderError, ResponseInfo};

/// The outcome of one decoded stream, as a client would assemble it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamSummary {
    /// `role` of the first chunk.
    pub first_role: Option<String>,
    pub text: String,
    /// `reasoning_content` / `reasoning` deltas joined.
    pub reasoning: String,
    /// Tool calls by index: `{index, id, name, arguments}`.
    pub tool_calls: Vec<Value>,
    pub finish_reason: Option<String>,
    /// Whether a usage-only chunk (`choices: []`) was sent to the client.
    pub usage_chunk: bool,
    /// The `usage` the client saw, if any.
    pub usage: Option<Value>,
    /// Usage the plugin reported to the host (whether or not the client saw it).
    pub reported_usage: Option<Value>,
    /// The error the stream ended with (`{kind, status, message}`).
    pub error: Option<Value>,
    /// `data: [DONE]` was sent.
    pub done: bool,
    /// Number of SSE events.
    pub events: usize,
}

/// The raw output of feeding a body to a decoder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub sse: Vec<u8>,
    pub info: ResponseInfo,
    pub error: Option<ProviderError>,
}

/// Feeds `pieces` to `decoder`, then finishes it.
pub fn decode(decoder: &mut StreamDecoderInstance, pieces: &[&[u8]]) -> Decoded {
    let mut all = Decoded::default();
    let absorb = |out: switchyard_plugin_sdk::StreamOutput, all: &mut Decoded| {
        all.sse.extend_from_slice(&out.sse);
        all.info.merge(out.info);
        if all.error.is_none() {
            all.error = out.error;
        }
    };
    for piece in pieces {
        if all.error.is_some() {
            break;
        }
        let out = decoder.feed(piece);
        absorb(out, &mut all);
    }
    if all.error.is_none() {
        let out = decoder.finish();
        absorb(out, &mut all);
    }
    all
}

/// Splits `body` at `n` pseudo-random points (deterministic for a seed).
pub fn random_pieces(body: &[u8], seed: u64, n: usize) -> Vec<&[u8]> {
    if body.is_empty() {
        return vec![body];
    }
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut cuts: Vec<usize> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % body.len()
        })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut last = 0;
    for cut in cuts {
        pieces.push(&body[last..cut]);
        last = cut;
    }
    pieces.push(&body[last..]);
    pieces
}

/// Assembles the client's view of `decoded`.
pub fn summarize(decoded: &Decoded) -> StreamSummary {
    let mut s = StreamSummary::default();
    let text = String::from_utf8_lossy(&decoded.sse);
    for event in text.split("\n\n") {
        let data: String = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect::<Vec<_>>()
            .join("\n");
        if data.is_empty() {
            continue;
        }
        s.events += 1;
        if data == "[DONE]" {
            s.done = true;
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&data) else {
            s.error = Some(json!({"kind": "invalid_sse_json", "message": data}));
            continue;
        };
        if let Some(e) = v.get("error") {
            s.error = Some(e.clone());
            continue;
        }
        let choices = v
            .get("choices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if choices.is_empty() {
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                s.usage_chunk = true;
                s.usage = Some(u.clone());
            }
            continue;
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            s.usage = Some(u.clone());
        }
        for choice in &choices {
            let delta = choice.get("delta").cloned().unwrap_or(Value::Null);
            if s.first_role.is_none() {
                if let Some(role) = delta.get("role").and_then(Value::as_str) {
                    s.first_role = Some(role.to_owned());
                }
            }
            if let Some(t) = delta.get("content").and_then(Value::as_str) {
                s.text.push_str(t);
            }
            for key in ["reasoning_content", "reasoning"] {
                if let Some(t) = delta.get(key).and_then(Value::as_str) {
                    s.reasoning.push_str(t);
                }
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                let slot = match s.tool_calls.iter_mut().find(|c| c["index"] == index) {
                    Some(slot) => slot,
                    None => {
                        s.tool_calls.push(
                            json!({"index": index, "id": null, "name": null, "arguments": ""}),
                        );
                        s.tool_calls.last_mut().expect("just pushed")
                    }
                };
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    slot["id"] = json!(id);
                }
                if let Some(f) = call.get("function") {
                    if let Some(name) = f.get("name").and_then(Value::as_str) {
                        slot["name"] = json!(name);
                    }
                    if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                        let joined = format!("{}{args}", slot["arguments"].as_str().unwrap_or(""));
                        slot["arguments"] = json!(joined);
                    }
                }
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                s.finish_reason = Some(f.to_owned());
            }
        }
    }
    s.reported_usage = decoded
        .info
        .usage
        .as_ref()
        .and_then(|u| serde_json::to_value(u).ok());
    if let Some(e) = &decoded.error {
        s.error = Some(json!({"kind": e.kind.as_str(), "status": e.status, "message": e.message}));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_body_exactly() {
        let body = b"0123456789abcdef";
        for seed in 0..20 {
            let pieces = random_pieces(body, seed, 5);
            assert_eq!(pieces.concat(), body);
        }
    }

    #[test]
    fn tool_call_deltas_are_joined_by_index() {
        let sse = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n\
data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n\
data: [DONE]\n\n";
        let s = summarize(&Decoded {
            sse: sse.to_vec(),
            ..Decoded::default()
        });
        assert_eq!(s.first_role.as_deref(), Some("assistant"));
        assert_eq!(
            s.tool_calls,
            vec![json!({"index": 0, "id": "c1", "name": "f", "arguments": "{\"a\":1}"})]
        );
        assert_eq!(s.finish_reason.as_deref(), Some("tool_calls"));
        assert!(s.done);
    }
}

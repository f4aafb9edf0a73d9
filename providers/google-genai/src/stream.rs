//! `streamGenerateContent` → OpenAI `chat.completion.chunk` SSE.
//!
//! Two body forms are read, told apart by the first byte: `alt=sse` (`data: {…}` events, the
//! form the plugins ask for) and the default JSON array (`[{…},\r\n{…}]`), which is split into
//! its top-level objects as the bytes arrive. Memory stays bounded: one event or object is
//! buffered at most (4 MiB by default), and streamed partial function arguments are capped too.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::sse::{SseReader, DEFAULT_MAX_EVENT_BYTES};
use switchyard_plugin_sdk::{
    openai, ProviderError, RequestContext, ResponseInfo, StreamDecoder, StreamOutput, Usage,
};

use crate::response::{embedded_error, finish_reason, prompt_blocked, tool_call_id, usage_from};

/// Splits a JSON-array stream into its top-level objects.
#[derive(Debug)]
struct JsonSplitter {
    buf: Vec<u8>,
    depth: usize,
    in_string: bool,
    escape: bool,
    max: usize,
}

impl JsonSplitter {
    fn new(max: usize) -> Self {
        JsonSplitter {
            buf: Vec::new(),
            depth: 0,
            in_string: false,
            escape: false,
            max,
        }
    }

    fn feed(&mut self, bytes: &[u8], mut on_object: impl FnMut(&[u8])) -> Result<(), String> {
        for &b in bytes {
            if self.depth == 0 {
                match b {
                    b'{' => {
                        self.buf.clear();
                        self.buf.push(b);
                        self.depth = 1;
                    }
                    b'[' | b']' | b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    other => {
                        return Err(format!(
                            "unexpected byte {:?} between stream objects",
                            other as char
                        ))
                    }
                }
                continue;
            }
            self.buf.push(b);
            if self.buf.len() > self.max {
                return Err(format!(
                    "upstream stream object exceeds {} bytes without ending",
                    self.max
                ));
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        on_object(&self.buf);
                        self.buf.clear();
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn in_object(&self) -> bool {
        self.depth > 0
    }
}

#[derive(Debug)]
enum Mode {
    /// Nothing but whitespace seen yet.
    Unknown,
    Sse(SseReader),
    Json(JsonSplitter),
}

/// A function call whose arguments arrive in pieces (`partialArgs`, Vertex AI).
#[derive(Debug)]
struct PendingCall {
    index: u64,
    args: Value,
    bytes: usize,
}

#[derive(Debug, Default)]
struct ChoiceState {
    role_sent: bool,
    tool_calls: u64,
    pending: Option<PendingCall>,
}

/// Decoder of one `streamGenerateContent` body.
#[derive(Debug)]
pub struct GenerateStreamDecoder {
    provider: String,
    include_usage: bool,
    max_bytes: usize,
    mode: Mode,
    id: String,
    model: String,
    choices: BTreeMap<u64, ChoiceState>,
    /// Calls of the whole response, for generated ids.
    calls_seen: u64,
    usage: Option<Usage>,
    /// Choice 0's finish reason.
    finish: Option<String>,
    saw_finish: bool,
    ended: bool,
}

impl GenerateStreamDecoder {
    pub fn new(provider: &str, context: &RequestContext) -> Self {
        GenerateStreamDecoder {
            provider: provider.to_owned(),
            include_usage: context.include_usage,
            max_bytes: DEFAULT_MAX_EVENT_BYTES,
            mode: Mode::Unknown,
            id: String::new(),
            model: String::new(),
            choices: BTreeMap::new(),
            calls_seen: 0,
            usage: None,
            finish: None,
            saw_finish: false,
            ended: false,
        }
    }

    /// Caps one buffered event / object (and streamed arguments) at `max` bytes.
    pub fn with_max_event_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    fn fail(&mut self, out: &mut StreamOutput, error: ProviderError) {
        self.ended = true;
        // Nothing more is read: free what is buffered.
        self.mode = Mode::Json(JsonSplitter::new(0));
        if out.error.is_none() {
            out.error = Some(error);
        }
    }

    fn bad(&self, message: impl std::fmt::Display) -> ProviderError {
        ProviderError::bad_response(format!("{}: {message}", self.provider))
    }

    fn chunk(&self, index: u64, delta: Value, finish: Option<&str>, out: &mut StreamOutput) {
        let v = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
        });
        out.push_data(v.to_string().as_bytes());
    }

    fn ensure_role(&mut self, index: u64, out: &mut StreamOutput) {
        let state = self.choices.entry(index).or_default();
        if !state.role_sent {
            state.role_sent = true;
            self.chunk(
                index,
                json!({"role": "assistant", "content": ""}),
                None,
                out,
            );
        }
    }

    fn on_data(&mut self, data: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() || trimmed == b"[DONE]" {
            return;
        }
        let v: Value = match serde_json::from_slice(trimmed) {
            Ok(v) => v,
            Err(e) => {
                let e = self.bad(format!("stream chunk is not JSON: {e}"));
                self.fail(out, e);
                return;
            }
        };
        self.on_chunk(trimmed, &v, out);
        out.info.merge(ResponseInfo {
            usage: self.usage,
            finish_reason: self.finish.clone(),
            model: (!self.model.is_empty()).then(|| self.model.clone()),
            ..Default::default()
        });
    }

    fn on_chunk(&mut self, raw: &[u8], v: &Value, out: &mut StreamOutput) {
        if let Some(error) = v.get("error") {
            let e = embedded_error(&self.provider, raw, error);
            self.fail(out, e);
            return;
        }
        if self.id.is_empty() {
            if let Some(id) = v.get("responseId").and_then(Value::as_str) {
                self.id = id.to_owned();
            }
        }
        if self.model.is_empty() {
            if let Some(m) = v.get("modelVersion").and_then(Value::as_str) {
                self.model = m.to_owned();
            }
        }
        if let Some(meta) = v.get("usageMetadata").filter(|m| m.is_object()) {
            let has_counts = meta.get("promptTokenCount").is_some()
                || meta.get("candidatesTokenCount").is_some();
            if has_counts {
                self.usage = Some(usage_from(meta));
            }
        }
        let candidates = v.get("candidates").and_then(Value::as_array);
        if candidates.is_none_or(|c| c.is_empty()) {
            if let Some(e) = v
                .get("promptFeedback")
                .and_then(|f| prompt_blocked(&self.provider, f))
            {
                self.fail(out, e);
            }
            return;
        }
        for (pos, candidate) in candidates.into_iter().flatten().enumerate() {
            let index = candidate
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            for part in candidate["content"]["parts"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(fc) = part.get("functionCall") {
                    let signature = part.get("thoughtSignature").and_then(Value::as_str);
                    if let Err(e) = self.on_function_call(index, fc, signature, out) {
                        self.fail(out, e);
                        return;
                    }
                } else if let Some(t) = part.get("text").and_then(Value::as_str) {
                    if t.is_empty() {
                        continue;
                    }
                    self.ensure_role(index, out);
                    let key = if part.get("thought").and_then(Value::as_bool) == Some(true) {
                        "reasoning_content"
                    } else {
                        "content"
                    };
                    self.chunk(index, json!({ key: t }), None, out);
                } else if let Some(code) = part.get("executableCode") {
                    self.ensure_role(index, out);
                    let text = format!("```\n{}\n```\n", code["code"].as_str().unwrap_or(""));
                    self.chunk(index, json!({"content": text}), None, out);
                } else if let Some(result) = part.get("codeExecutionResult") {
                    self.ensure_role(index, out);
                    let text = format!(
                        "```output\n{}\n```\n",
                        result["output"].as_str().unwrap_or("")
                    );
                    self.chunk(index, json!({"content": text}), None, out);
                }
            }
            if let Some(mapped) = candidate.get("finishReason").and_then(finish_reason) {
                self.complete_pending(index, out);
                self.ensure_role(index, out);
                let had_tools = self.choices.get(&index).is_some_and(|c| c.tool_calls > 0);
                let finish = if mapped == "stop" && had_tools {
                    "tool_calls"
                } else {
                    mapped
                };
                self.saw_finish = true;
                if index == 0 || self.finish.is_none() {
                    self.finish = Some(finish.to_owned());
                }
                self.chunk(index, json!({}), Some(finish), out);
            }
        }
    }

    /// A complete call, or a piece of one whose arguments stream (`willContinue`).
    fn on_function_call(
        &mut self,
        index: u64,
        fc: &Value,
        signature: Option<&str>,
        out: &mut StreamOutput,
    ) -> Result<(), ProviderError> {
        let will_continue = fc.get("willContinue").and_then(Value::as_bool) == Some(true);
        let name = fc
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let partial = fc.get("partialArgs").and_then(Value::as_array);
        let has_pending = self
            .choices
            .get(&index)
            .is_some_and(|c| c.pending.is_some());
        if !has_pending && !will_continue && partial.is_none() {
            let Some(name) = name else {
                return Ok(()); // an empty call marker with nothing open
            };
            self.ensure_role(index, out);
            let id = tool_call_id(fc, signature, &self.id, self.calls_seen);
            self.calls_seen += 1;
            let state = self.choices.entry(index).or_default();
            let n = state.tool_calls;
            state.tool_calls += 1;
            let args = fc
                .get("args")
                .filter(|a| !a.is_null())
                .cloned()
                .unwrap_or_else(|| json!({}));
            self.chunk(
                index,
                json!({"tool_calls": [{"index": n, "id": id, "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}}]}),
                None,
                out,
            );
            return Ok(());
        }
        if !has_pending {
            let Some(name) = name else {
                return Err(self.bad("streamed function call arguments arrived before its name"));
            };
            self.ensure_role(index, out);
            let id = tool_call_id(fc, signature, &self.id, self.calls_seen);
            self.calls_seen += 1;
            let state = self.choices.entry(index).or_default();
            let n = state.tool_calls;
            state.tool_calls += 1;
            state.pending = Some(PendingCall {
                index: n,
                args: fc
                    .get("args")
                    .filter(|a| a.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                bytes: 0,
            });
            self.chunk(
                index,
                json!({"tool_calls": [{"index": n, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                None,
                out,
            );
        }
        let max = self.max_bytes;
        if let Some(pending) = self
            .choices
            .get_mut(&index)
            .and_then(|c| c.pending.as_mut())
        {
            for piece in partial.into_iter().flatten() {
                apply_partial_arg(pending, piece, max)
                    .map_err(|e| ProviderError::bad_response(e.to_string()))?;
            }
        }
        if !will_continue {
            self.complete_pending(index, out);
        }
        Ok(())
    }

    /// Sends the arguments of choice `index`'s open streamed call.
    fn complete_pending(&mut self, index: u64, out: &mut StreamOutput) {
        let Some(pending) = self.choices.get_mut(&index).and_then(|c| c.pending.take()) else {
            return;
        };
        self.chunk(
            index,
            json!({"tool_calls": [{"index": pending.index, "function": {"arguments": pending.args.to_string()}}]}),
            None,
            out,
        );
    }

    fn feed_bytes(&mut self, mut bytes: &[u8], out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        if matches!(self.mode, Mode::Unknown) {
            let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
            let Some(start) = start else {
                return;
            };
            bytes = &bytes[start..];
            self.mode = if matches!(bytes[0], b'[' | b'{') {
                Mode::Json(JsonSplitter::new(self.max_bytes))
            } else {
                Mode::Sse(SseReader::new(self.max_bytes))
            };
        }
        let mut items: Vec<Vec<u8>> = Vec::new();
        let result = match &mut self.mode {
            Mode::Sse(reader) => reader
                .feed(bytes, |event| items.push(event.data))
                .map_err(|e| e.message),
            Mode::Json(splitter) => splitter.feed(bytes, |obj| items.push(obj.to_vec())),
            Mode::Unknown => Ok(()),
        };
        for item in items {
            self.on_data(&item, out);
        }
        if let Err(message) = result {
            if !self.ended {
                let e = self.bad(message);
                self.fail(out, e);
            }
        }
    }
}

/// Applies one `partialArgs` entry (`{jsonPath, stringValue | numberValue | boolValue |
/// nullValue}`) to the arguments being assembled: strings are appended, other values set.
fn apply_partial_arg(pending: &mut PendingCall, piece: &Value, max: usize) -> Result<(), String> {
    let path = piece
        .get("jsonPath")
        .and_then(Value::as_str)
        .ok_or("partial argument without jsonPath")?;
    let segments = parse_json_path(path).ok_or_else(|| format!("unsupported jsonPath '{path}'"))?;
    let (value, append) = if let Some(s) = piece.get("stringValue").and_then(Value::as_str) {
        (Value::String(s.to_owned()), true)
    } else if let Some(n) = piece.get("numberValue") {
        (n.clone(), false)
    } else if let Some(b) = piece.get("boolValue") {
        (b.clone(), false)
    } else if piece.get("nullValue").is_some() {
        (Value::Null, false)
    } else {
        return Ok(());
    };
    pending.bytes += value.to_string().len() + path.len();
    if pending.bytes > max {
        return Err(format!("streamed function arguments exceed {max} bytes"));
    }
    let mut slot = &mut pending.args;
    for seg in &segments {
        slot = match seg {
            Segment::Key(k) => {
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                slot.as_object_mut()
                    .ok_or("not an object")?
                    .entry(k.clone())
                    .or_insert(Value::Null)
            }
            Segment::Index(i) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let arr = slot.as_array_mut().ok_or("not an array")?;
                if *i > arr.len() + 1024 {
                    return Err("array index out of range in jsonPath".to_owned());
                }
                while arr.len() <= *i {
                    arr.push(Value::Null);
                }
                &mut arr[*i]
            }
        };
    }
    match (slot, value) {
        (Value::String(existing), Value::String(more)) if append => existing.push_str(&more),
        (slot, value) => *slot = value,
    }
    Ok(())
}

#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `$.a.b[0]['c d']` → segments.
fn parse_json_path(path: &str) -> Option<Vec<Segment>> {
    let mut rest = path.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            out.push(Segment::Key(r[..end].to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']")?;
            out.push(Segment::Key(r[..end].to_owned()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Segment::Index(r[..end].trim().parse().ok()?));
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

impl StreamDecoder for GenerateStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut StreamOutput) {
        self.feed_bytes(bytes, out);
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        let mut items = Vec::new();
        let mut truncated = false;
        match &mut self.mode {
            Mode::Sse(reader) => reader.finish(|event| items.push(event.data)),
            Mode::Json(splitter) => truncated = splitter.in_object(),
            Mode::Unknown => {}
        }
        for item in items {
            self.on_data(&item, out);
        }
        if self.ended {
            return;
        }
        if truncated {
            let e = self.bad("stream ended inside a JSON object");
            self.fail(out, e);
            return;
        }
        let open: Vec<u64> = self
            .choices
            .iter()
            .filter(|(_, c)| c.pending.is_some())
            .map(|(i, _)| *i)
            .collect();
        for index in open {
            self.complete_pending(index, out);
        }
        self.ended = true;
        if !self.saw_finish {
            // No finish reason: the upstream stopped early; the host judges the stream.
            return;
        }
        if let (true, Some(usage)) = (self.include_usage, &self.usage) {
            let v = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": 0, "model": self.model,
                "choices": [], "usage": openai::usage_json(usage),
            });
            out.push_data(v.to_string().as_bytes());
        }
        out.push_data(b"[DONE]");
        out.done = true;
        out.info.merge(ResponseInfo {
            usage: self.usage,
            finish_reason: self.finish.clone(),
            model: (!self.model.is_empty()).then(|| self.model.clone()),
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::ErrorKind;

    fn decode_pieces(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
        let ctx = RequestContext {
            stream: true,
            include_usage,
            ..RequestContext::default()
        };
        let mut d = GenerateStreamDecoder::new("gemini", &ctx);
        let mut all = StreamOutput::default();
        let mut absorb = |out: StreamOutput| {
            all.sse.extend_from_slice(&out.sse);
            all.info.merge(out.info);
            all.done |= out.done;
            if all.error.is_none() {
                all.error = out.error;
            }
        };
        for p in pieces {
            let mut out = StreamOutput::default();
            d.feed(p, &mut out);
            absorb(out);
        }
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        absorb(out);
        all
    }

    fn chunks(out: &StreamOutput) -> Vec<Value> {
        String::from_utf8(out.sse.clone())
            .unwrap()
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    const SSE: &[u8] = b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 5},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"r1\"}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"f\", \"args\": {\"a\": 1}}, \"thoughtSignature\": \"sig\"}],\"role\": \"model\"},\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 3,\"thoughtsTokenCount\": 2},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"r1\"}\r\n\r\n";

    #[test]
    fn sse_text_tool_call_and_usage() {
        let out = decode_pieces(&[SSE], true);
        let c = chunks(&out);
        assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(c[1]["choices"][0]["delta"]["content"], "Hi");
        let call = &c[2]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["id"], "call_r1_0__thought__sig");
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert_eq!(c[3]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(c[4]["choices"], json!([]));
        assert_eq!(c[4]["usage"]["completion_tokens"], 5);
        assert!(out.done);
        assert_eq!(out.info.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(out.info.usage.unwrap().reasoning_tokens, 2);
        let without = decode_pieces(&[SSE], false);
        assert_eq!(chunks(&without).len(), 4);
        assert_eq!(without.info, out.info);
    }

    #[test]
    fn every_split_decodes_the_same() {
        let whole = decode_pieces(&[SSE], true);
        let bytewise: Vec<&[u8]> = SSE.chunks(1).collect();
        assert_eq!(decode_pieces(&bytewise, true), whole);
        let array = b"[{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a \\\"}{\\\" b\"}]}}]}\r\n,\r\n{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"c\"}]}, \"finishReason\": 1}]}]";
        let whole = decode_pieces(&[array], false);
        let text: String = chunks(&whole)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "a \"}{\" bc");
        assert!(whole.done);
        let bytewise: Vec<&[u8]> = array.chunks(1).collect();
        assert_eq!(decode_pieces(&bytewise, false), whole);
    }

    #[test]
    fn partial_function_arguments_assemble() {
        let body = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"w\",\"willContinue\":true}}]}}],\"responseId\":\"r\"}\n\n\
data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"partialArgs\":[{\"jsonPath\":\"$.loc\",\"stringValue\":\"Bos\",\"willContinue\":true}],\"willContinue\":true}}]}}]}\n\n\
data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"partialArgs\":[{\"jsonPath\":\"$.loc\",\"stringValue\":\"ton\"},{\"jsonPath\":\"$.days[1]\",\"numberValue\":3}],\"willContinue\":true}}]}}]}\n\n\
data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{}}]},\"finishReason\":\"STOP\"}]}\n\n";
        let out = decode_pieces(&[body], false);
        let c = chunks(&out);
        let start = &c[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(
            (start["id"].as_str(), start["function"]["name"].as_str()),
            (Some("call_r_0"), Some("w"))
        );
        let args = c[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(args).unwrap(),
            json!({"loc": "Boston", "days": [null, 3]})
        );
        assert_eq!(out.info.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn errors_in_and_around_the_stream() {
        let e = decode_pieces(&[b"data: {\"error\": {\"code\": 503, \"message\": \"overloaded\", \"status\": \"UNAVAILABLE\"}}\n\n"], false).error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        let e = decode_pieces(&[b"[{\"error\": {\"code\": 429, \"message\": \"quota\", \"status\": \"RESOURCE_EXHAUSTED\"}}]"], false).error.unwrap();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        let e = decode_pieces(
            &[b"data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"}}\n\n"],
            false,
        )
        .error
        .unwrap();
        assert_eq!(e.kind, ErrorKind::ContentPolicy);
        let e = decode_pieces(&[b"data: not json\n\n"], false)
            .error
            .unwrap();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        let e = decode_pieces(&[b"[{\"candidates\": ["], false)
            .error
            .unwrap();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        let out = decode_pieces(
            &[b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"x\"}]}}]}\n\n"],
            false,
        );
        assert!(!out.done && out.error.is_none());
    }

    #[test]
    fn an_over_long_object_is_an_error_and_memory_stays_bounded() {
        let ctx = RequestContext::default();
        let mut d = GenerateStreamDecoder::new("gemini", &ctx).with_max_event_bytes(1024);
        let mut out = StreamOutput::default();
        d.feed(b"[{\"candidates\": \"", &mut out);
        d.feed(&[b'x'; 2000], &mut out);
        assert_eq!(out.error.unwrap().kind, ErrorKind::BadResponse);
        let mut out = StreamOutput::default();
        d.feed(&[b'x'; 2000], &mut out);
        d.finish(&mut out);
        assert_eq!(out, StreamOutput::default());
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..2000, 0..10)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (SSE.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points {
                pieces.push(&SSE[last..p]);
                last = p;
            }
            pieces.push(&SSE[last..]);
            proptest::prop_assert_eq!(decode_pieces(&pieces, true), decode_pieces(&[SSE], true));
        }
    }
}

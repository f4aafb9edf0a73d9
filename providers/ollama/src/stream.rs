//! Ollama NDJSON streams (`/api/chat`, `/api/generate`) → OpenAI SSE chunks.
//!
//! One JSON object a line; the last has `done: true` with the counts. The decoder buffers at
//! most one line (capped), so its memory is bounded whatever the upstream sends, and it makes
//! the same output however the body is split: everything it emits is a function of complete
//! lines only.

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    ProviderError, RequestContext, ResponseInfo, StreamDecoder, StreamOutput,
};

use crate::response::{
    embedded_error, finish_reason, tool_call, usage_from, usage_json, AnswerIds,
};

/// Default cap on one buffered NDJSON line.
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Which API's lines the stream carries (seen on its first line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `/api/chat`: `message` objects → `chat.completion.chunk`.
    Chat,
    /// `/api/generate`: `response` text → `text_completion` chunks.
    Generate,
}

#[derive(Debug)]
struct Started {
    kind: Kind,
    ids: AnswerIds,
    id: String,
}

/// Decoder of one native Ollama stream.
#[derive(Debug)]
pub struct NdjsonStreamDecoder {
    line: Vec<u8>,
    max_line_bytes: usize,
    include_usage: bool,
    started: Option<Started>,
    /// Tool calls sent so far (their OpenAI indexes).
    tool_calls: usize,
    ended: bool,
}

impl NdjsonStreamDecoder {
    pub fn new(context: &RequestContext) -> Self {
        NdjsonStreamDecoder {
            line: Vec::new(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            include_usage: context.include_usage,
            started: None,
            tool_calls: 0,
            ended: false,
        }
    }

    /// Caps one buffered line at `max` bytes instead of [`DEFAULT_MAX_LINE_BYTES`].
    pub fn with_max_line_bytes(mut self, max: usize) -> Self {
        self.max_line_bytes = max;
        self
    }

    fn end(&mut self) {
        self.ended = true;
        self.line = Vec::new();
    }

    fn fail(&mut self, out: &mut StreamOutput, error: ProviderError) {
        self.end();
        out.error.get_or_insert(error);
    }

    fn chunk(&self, choice: Value, out: &mut StreamOutput) {
        let Some(s) = &self.started else { return };
        let object = match s.kind {
            Kind::Chat => "chat.completion.chunk",
            Kind::Generate => "text_completion",
        };
        let v = json!({
            "id": s.id, "object": object, "created": s.ids.created, "model": s.ids.model,
            "system_fingerprint": "fp_ollama",
            "choices": [choice],
        });
        out.push_data(v.to_string().as_bytes());
    }

    fn delta(&self, delta: Value, finish: Option<&str>, out: &mut StreamOutput) {
        self.chunk(
            json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}),
            out,
        );
    }

    fn text(&self, text: &str, finish: Option<&str>, out: &mut StreamOutput) {
        self.chunk(
            json!({"index": 0, "text": text, "logprobs": null, "finish_reason": finish}),
            out,
        );
    }

    fn on_line(&mut self, line: &[u8], out: &mut StreamOutput) {
        let line = line.trim_ascii();
        if line.is_empty() || self.ended {
            return;
        }
        let v: Value = match serde_json::from_slice(line) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return self.fail(
                    out,
                    ProviderError::bad_response("ollama: stream line is not a JSON object"),
                )
            }
            Err(e) => {
                return self.fail(
                    out,
                    ProviderError::bad_response(format!("ollama: stream line is not JSON: {e}")),
                )
            }
        };
        if let Some(e) = embedded_error(&v) {
            return self.fail(out, e);
        }
        if self.started.is_none() {
            let kind = if v.get("message").is_none() && v.get("response").is_some() {
                Kind::Generate
            } else {
                Kind::Chat
            };
            let ids = AnswerIds::of(&v);
            let id = ids.id(if kind == Kind::Chat {
                "chatcmpl"
            } else {
                "cmpl"
            });
            self.started = Some(Started { kind, ids, id });
            if kind == Kind::Chat {
                self.delta(json!({"role": "assistant", "content": ""}), None, out);
            }
            let model = self.started.as_ref().map(|s| s.ids.model.clone());
            out.info.merge(ResponseInfo {
                model: model.filter(|m| !m.is_empty()),
                ..ResponseInfo::default()
            });
        }
        let kind = self.started.as_ref().map_or(Kind::Chat, |s| s.kind);
        match kind {
            Kind::Chat => self.on_message(v.get("message").unwrap_or(&Value::Null), out),
            Kind::Generate => {
                if let Some(t) = v
                    .get("response")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    self.text(t, None, out);
                }
            }
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            self.on_done(&v, kind, out);
        }
    }

    fn on_message(&mut self, m: &Value, out: &mut StreamOutput) {
        if let Some(t) = m
            .get("thinking")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            self.delta(json!({"reasoning_content": t}), None, out);
        }
        if let Some(t) = m
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            self.delta(json!({"content": t}), None, out);
        }
        let Some(calls) = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
        else {
            return;
        };
        let Some(ids) = self.started.as_ref().map(|s| &s.ids) else {
            return;
        };
        // Ollama sends each call whole, arguments included, in one line.
        let deltas: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = self.tool_calls + i;
                let mut d = tool_call(c, n, ids);
                d["index"] = json!(n);
                d
            })
            .collect();
        self.tool_calls += deltas.len();
        self.delta(json!({"tool_calls": deltas}), None, out);
    }

    fn on_done(&mut self, v: &Value, kind: Kind, out: &mut StreamOutput) {
        let finish = finish_reason(
            v.get("done_reason").and_then(Value::as_str),
            self.tool_calls > 0,
        );
        match kind {
            Kind::Chat => self.delta(json!({}), Some(finish), out),
            Kind::Generate => self.text("", Some(finish), out),
        }
        let usage = usage_from(v);
        if self.include_usage {
            if let Some(s) = &self.started {
                let object = match s.kind {
                    Kind::Chat => "chat.completion.chunk",
                    Kind::Generate => "text_completion",
                };
                let chunk = json!({
                    "id": s.id, "object": object, "created": s.ids.created, "model": s.ids.model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [], "usage": usage_json(&usage),
                });
                out.push_data(chunk.to_string().as_bytes());
            }
        }
        out.push_data(b"[DONE]");
        out.done = true;
        out.info.merge(ResponseInfo {
            usage: Some(usage),
            finish_reason: Some(finish.to_owned()),
            model: None,
            ..Default::default()
        });
        self.end();
    }
}

impl StreamDecoder for NdjsonStreamDecoder {
    fn feed(&mut self, mut bytes: &[u8], out: &mut StreamOutput) {
        while !bytes.is_empty() && !self.ended {
            let (piece, complete) = match bytes.iter().position(|&b| b == b'\n') {
                Some(pos) => (&bytes[..pos], true),
                None => (bytes, false),
            };
            bytes = &bytes[piece.len() + usize::from(complete)..];
            if self.line.len() + piece.len() > self.max_line_bytes {
                return self.fail(
                    out,
                    ProviderError::bad_response(format!(
                        "ollama: upstream stream line exceeds {} bytes without ending",
                        self.max_line_bytes
                    )),
                );
            }
            if !complete {
                self.line.extend_from_slice(piece);
                break;
            }
            if self.line.is_empty() {
                self.on_line(piece, out);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(piece);
                self.on_line(&line, out);
                if !self.ended {
                    line.clear();
                    self.line = line;
                }
            }
        }
    }

    fn finish(&mut self, out: &mut StreamOutput) {
        if self.ended {
            return;
        }
        // A last line without its newline still counts.
        let line = std::mem::take(&mut self.line);
        self.on_line(&line, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::ErrorKind;

    const CHAT: &[u8] = b"{\"model\":\"llama3\",\"created_at\":\"2024-05-24T20:26:46.294874Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n\
{\"model\":\"llama3\",\"created_at\":\"2024-05-24T20:26:46.3Z\",\"message\":{\"role\":\"assistant\",\"content\":\"lo \\u00e9\xc3\xa9\"},\"done\":false}\n\
{\"model\":\"llama3\",\"created_at\":\"2024-05-24T20:26:46.4Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"hmm\"},\"done\":false}\n\
{\"model\":\"llama3\",\"created_at\":\"2024-05-24T20:26:46.5Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":{\"a\":1}}},{\"function\":{\"name\":\"g\",\"arguments\":{}}}]},\"done\":false}\n\
\n\
{\"model\":\"llama3\",\"created_at\":\"2024-05-24T20:26:47Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"prompt_eval_count\":17,\"eval_count\":50}\n";

    fn decode(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
        let ctx = RequestContext {
            stream: true,
            include_usage,
            ..RequestContext::default()
        };
        let mut d = NdjsonStreamDecoder::new(&ctx);
        let mut all = StreamOutput::default();
        let mut absorb = |out: StreamOutput| {
            all.sse.extend_from_slice(&out.sse);
            all.info.merge(out.info);
            if all.error.is_none() {
                all.error = out.error;
            }
            all.done |= out.done;
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

    #[test]
    fn chat_lines_become_chunks_with_tools_reasoning_and_usage() {
        let out = decode(&[CHAT], true);
        assert!(out.done && out.error.is_none());
        let c = chunks(&out);
        assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(c[0]["object"], "chat.completion.chunk");
        assert_eq!(c[0]["created"], 1_716_582_406);
        let text: String = c
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello éé");
        assert_eq!(c[3]["choices"][0]["delta"]["reasoning_content"], "hmm");
        let calls = &c[4]["choices"][0]["delta"]["tool_calls"];
        assert_eq!(calls[0]["index"], 0);
        assert_eq!(calls[1]["index"], 1);
        assert_eq!(calls[0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(calls[1]["function"]["arguments"], "{}");
        let (a, b) = (
            calls[0]["id"].as_str().unwrap(),
            calls[1]["id"].as_str().unwrap(),
        );
        assert!(a.starts_with("call_") && a != b);
        assert_eq!(c[5]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(c[6]["choices"], json!([]));
        assert_eq!(c[6]["usage"]["total_tokens"], 67);
        // Every chunk of the answer has the same id.
        assert!(c.iter().all(|x| x["id"] == c[0]["id"]));
        let u = out.info.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (17, 50));
        assert_eq!(out.info.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(out.info.model.as_deref(), Some("llama3"));

        let without = decode(&[CHAT], false);
        assert!(!String::from_utf8(without.sse.clone())
            .unwrap()
            .contains("\"choices\":[]"));
        assert_eq!(without.info, out.info);
    }

    #[test]
    fn generate_lines_become_text_completion_chunks() {
        let body = b"{\"model\":\"m\",\"created_at\":\"2024-05-24T20:48:36Z\",\"response\":\"A\",\"done\":false}\n\
{\"model\":\"m\",\"created_at\":\"2024-05-24T20:48:37Z\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\",\"context\":[1,2],\"prompt_eval_count\":3,\"eval_count\":1}\n";
        let out = decode(&[body], false);
        let c = chunks(&out);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["object"], "text_completion");
        assert_eq!(c[0]["choices"][0]["text"], "A");
        assert_eq!(c[1]["choices"][0]["finish_reason"], "length");
        assert!(out.done);
    }

    #[test]
    fn errors_end_the_stream() {
        let body = b"{\"model\":\"m\",\"created_at\":\"x\",\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"llama runner process has terminated\"}\n{\"model\":\"m\",\"message\":{\"content\":\"b\"},\"done\":false}\n";
        let out = decode(&[body], false);
        let e = out.error.unwrap();
        assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
        assert!(e.message.contains("runner process"));
        assert!(!String::from_utf8(out.sse).unwrap().contains("\"b\""));

        let out = decode(&[b"not json\n"], false);
        assert_eq!(out.error.unwrap().kind, ErrorKind::BadResponse);
        let out = decode(&[b"[1,2]"], false);
        assert_eq!(out.error.unwrap().kind, ErrorKind::BadResponse);
    }

    #[test]
    fn a_line_without_end_is_capped_and_nothing_more_is_buffered() {
        let ctx = RequestContext::default();
        let mut d = NdjsonStreamDecoder::new(&ctx).with_max_line_bytes(1024);
        let mut out = StreamOutput::default();
        d.feed(&[b'x'; 700], &mut out);
        assert!(out.error.is_none());
        d.feed(&[b'x'; 700], &mut out);
        assert_eq!(out.error.unwrap().kind, ErrorKind::BadResponse);
        for _ in 0..10 {
            let mut out = StreamOutput::default();
            d.feed(&[b'x'; 2000], &mut out);
            assert_eq!(out, StreamOutput::default());
        }
        assert!(d.line.capacity() == 0);
        let mut out = StreamOutput::default();
        d.finish(&mut out);
        assert_eq!(out, StreamOutput::default());
    }

    #[test]
    fn a_last_line_without_newline_is_read_and_nothing_after_done() {
        let body = &CHAT[..CHAT.len() - 1];
        let out = decode(&[body], false);
        assert!(out.done);
        let mut more = CHAT.to_vec();
        more.extend_from_slice(
            b"{\"model\":\"x\",\"message\":{\"content\":\"late\"},\"done\":false}\n",
        );
        let late = decode(&[&more], false);
        assert_eq!(late.sse, decode(&[CHAT], false).sse);
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(
            cuts in proptest::collection::vec(0usize..2000, 0..16),
            include_usage: bool,
        ) {
            let whole = decode(&[CHAT], include_usage);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % CHAT.len()).collect();
            points.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for p in points {
                pieces.push(&CHAT[last..p]);
                last = p;
            }
            pieces.push(&CHAT[last..]);
            proptest::prop_assert_eq!(&whole, &decode(&pieces, include_usage));
            let bytewise: Vec<&[u8]> = CHAT.chunks(1).collect();
            proptest::prop_assert_eq!(&whole, &decode(&bytewise, include_usage));
        }
    }
}

//! Reading the answers of OpenAI's non-chat endpoints. Every body is forwarded as the upstream
//! sent it; only the side data (usage, model, content type) is read, through views that skip
//! the payload (images, output items, transcripts) without building it.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use switchyard_plugin_sdk::openai::usage_from_json;
use switchyard_plugin_sdk::{ParsedResponse, ProviderError, ResponseHead, ResponseInfo, Usage};

/// Classifies an OpenAI-style error body as if it came with this response head.
pub(crate) type Classifier = fn(&ResponseHead, &[u8]) -> ProviderError;

fn u64_at(v: &Value, pointer: &str) -> Option<u64> {
    v.pointer(pointer).and_then(Value::as_u64)
}

fn non_empty_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A Responses API `usage` object (`input_tokens`, `output_tokens`, their details), normalized:
/// cached tokens are part of the input, reasoning tokens part of the output, as in OpenAI's.
pub(crate) fn responses_usage(usage: &Value) -> Option<Usage> {
    let obj = usage.as_object()?;
    if !obj.contains_key("input_tokens") && !obj.contains_key("output_tokens") {
        return None;
    }
    let input = u64_at(usage, "/input_tokens").unwrap_or(0);
    let output = u64_at(usage, "/output_tokens").unwrap_or(0);
    Some(Usage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: u64_at(usage, "/total_tokens").unwrap_or(input + output),
        cached_tokens: u64_at(usage, "/input_tokens_details/cached_tokens").unwrap_or(0),
        reasoning_tokens: u64_at(usage, "/output_tokens_details/reasoning_tokens").unwrap_or(0),
        ..Usage::default()
    })
}

/// A `usage` object in either of OpenAI's shapes: Responses (`input_tokens`) or chat,
/// completions and embeddings (`prompt_tokens`).
pub(crate) fn any_usage(usage: &Value) -> Option<Usage> {
    if usage.get("input_tokens").is_some() || usage.get("output_tokens").is_some() {
        responses_usage(usage)
    } else if usage.get("prompt_tokens").is_some() || usage.get("total_tokens").is_some() {
        usage_from_json(usage)
    } else {
        None
    }
}

/// The HTTP status an error object stands for: its own (`status`, `status_code`, a numeric
/// `code`), else what OpenAI answers with that code over HTTP (errors inside a 200 stream or
/// body carry only the code), else 500.
pub(crate) fn error_status(error: &Value) -> u16 {
    let numeric = ["status_code", "status", "code"].iter().find_map(|key| {
        let v = error.get(key)?;
        let n = v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
        u16::try_from(n).ok().filter(|s| (400..600).contains(s))
    });
    if let Some(status) = numeric {
        return status;
    }
    let names: Vec<&str> = ["code", "type"]
        .iter()
        .filter_map(|key| error.get(key).and_then(Value::as_str))
        .collect();
    let named = |needles: &[&str]| names.iter().any(|n| needles.iter().any(|x| n.contains(x)));
    if named(&["insufficient_quota", "rate_limit"]) {
        429
    } else if named(&["invalid_api_key", "authentication"]) {
        401
    } else if named(&["permission", "forbidden"]) {
        403
    } else if named(&["not_found"]) {
        404
    } else if named(&["timeout"]) {
        504
    } else if named(&[
        "invalid",
        "context_length_exceeded",
        "content_filter",
        "unsupported",
    ]) {
        400
    } else {
        500
    }
}

/// The error an upstream reported inside a 2xx body or stream event (`{"error": {...}}`, or a
/// Responses `error` event whose members are the error's), classified like an error response.
pub(crate) fn embedded_error(classify: Classifier, data: &[u8]) -> ProviderError {
    let parsed: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    let error = parsed
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(&parsed);
    let head = ResponseHead {
        status: error_status(error),
        headers: Vec::new(),
    };
    classify(&head, data)
}

/// Output items the client has to act on (built-in tools such as `web_search_call` ran on the
/// server already), which make a finish `tool_calls` in chat terms.
const CLIENT_CALLS: &[&str] = &[
    "function_call",
    "custom_tool_call",
    "computer_call",
    "local_shell_call",
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ResponseView {
    model: Option<Value>,
    usage: Option<Value>,
    status: Option<Value>,
    incomplete_details: Option<Value>,
    output: Option<Vec<ItemView>>,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ItemView {
    #[serde(rename = "type")]
    kind: Option<Value>,
}

impl ResponseView {
    /// Usage, model and an OpenAI-chat finish reason of a Responses `response` object.
    pub(crate) fn info(&self) -> ResponseInfo {
        let finish_reason = match self.status.as_ref().and_then(Value::as_str) {
            Some("completed") => {
                let called = self.output.iter().flatten().any(|item| {
                    item.kind
                        .as_ref()
                        .and_then(Value::as_str)
                        .is_some_and(|k| CLIENT_CALLS.contains(&k))
                });
                Some(if called { "tool_calls" } else { "stop" }.to_owned())
            }
            Some("incomplete") => {
                let reason = self
                    .incomplete_details
                    .as_ref()
                    .and_then(|d| d.get("reason"))
                    .and_then(Value::as_str);
                Some(
                    match reason {
                        Some("max_output_tokens") | None => "length",
                        Some(other) => other,
                    }
                    .to_owned(),
                )
            }
            _ => None,
        };
        ResponseInfo {
            usage: self.usage.as_ref().and_then(responses_usage),
            finish_reason,
            model: non_empty_str(self.model.as_ref()),
            ..ResponseInfo::default()
        }
    }
}

/// A 2xx answer without its payload member: the error object it carries, classified, or a bad
/// response naming the missing member.
fn missing(
    provider: &str,
    classify: Classifier,
    error: Option<&Value>,
    body: &[u8],
    what: &str,
) -> ProviderError {
    match error.filter(|e| !e.is_null()) {
        Some(_) => embedded_error(classify, body),
        None => ProviderError::bad_response(format!("{provider}: the answer has no {what}")),
    }
}

/// A `/responses` answer (a `response` object).
pub(crate) fn parse_responses(
    provider: &str,
    classify: Classifier,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    let view: ResponseView = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "{provider}: the answer is not a valid Responses API object: {e}"
        ))
    })?;
    if view.output.is_none() {
        return Err(missing(
            provider,
            classify,
            view.error.as_ref(),
            body,
            "'output' array",
        ));
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: view.info(),
    })
}

/// An `/images/generations` answer: one image per `data` entry, plus the tokens gpt-image
/// models report.
pub(crate) fn parse_images(
    provider: &str,
    classify: Classifier,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    #[derive(Deserialize)]
    struct View {
        #[serde(default)]
        data: Option<Vec<IgnoredAny>>,
        #[serde(default)]
        usage: Option<Value>,
        #[serde(default)]
        model: Option<Value>,
        #[serde(default)]
        error: Option<Value>,
    }
    let view: View = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "{provider}: the answer is not a valid images JSON object: {e}"
        ))
    })?;
    let Some(data) = view.data else {
        return Err(missing(
            provider,
            classify,
            view.error.as_ref(),
            body,
            "'data' array",
        ));
    };
    let mut usage = view.usage.as_ref().and_then(any_usage).unwrap_or_default();
    usage.images = data.len() as u64;
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: ResponseInfo {
            usage: Some(usage),
            model: non_empty_str(view.model.as_ref()),
            ..ResponseInfo::default()
        },
    })
}

/// The media type of a `Content-Type` value, lower case, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json_type(content_type: &str) -> bool {
    let media = media_type(content_type);
    media == "application/json" || media.ends_with("+json")
}

/// Whether the answer is JSON: by its content type, or by its first byte when it has none.
fn answer_is_json(head: &ResponseHead, body: &[u8]) -> bool {
    match head.header("content-type") {
        Some(ct) => is_json_type(ct),
        None => body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{'),
    }
}

/// Milliseconds of `seconds` (a number, possibly fractional, or a numeric string).
fn seconds_to_ms(seconds: &Value) -> Option<u64> {
    let s = seconds
        .as_f64()
        .or_else(|| seconds.as_str().and_then(|s| s.trim().parse().ok()))?;
    (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).round() as u64)
}

/// An `/audio/transcriptions` answer: JSON (`json`, `verbose_json`: audio duration, or token
/// usage for the gpt-4o transcribe models) or text (`text`, `srt`, `vtt`), forwarded with its
/// content type.
pub(crate) fn parse_transcription(
    provider: &str,
    classify: Classifier,
    head: &ResponseHead,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    if !answer_is_json(head, body) {
        let content_type = head
            .header("content-type")
            .unwrap_or("text/plain; charset=utf-8");
        return Ok(ParsedResponse {
            body: body.to_vec(),
            info: ResponseInfo {
                content_type: Some(content_type.to_owned()),
                ..ResponseInfo::default()
            },
        });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "{provider}: the transcription answer is not valid JSON: {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(ProviderError::bad_response(format!(
            "{provider}: the transcription answer is not a JSON object"
        )));
    }
    if v.get("text").is_none() && v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(embedded_error(classify, body));
    }
    let mut usage = Usage::default();
    let mut found = false;
    if let Some(ms) = v.get("duration").and_then(seconds_to_ms) {
        usage.audio_input_ms = ms;
        found = true;
    }
    if let Some(u) = v.get("usage") {
        match u.get("type").and_then(Value::as_str) {
            Some("duration") => {
                if let Some(ms) = u.get("seconds").and_then(seconds_to_ms) {
                    usage.audio_input_ms = ms;
                    found = true;
                }
            }
            Some("tokens") => {
                let input = u64_at(u, "/input_tokens").unwrap_or(0);
                let output = u64_at(u, "/output_tokens").unwrap_or(0);
                usage.prompt_tokens = input;
                usage.completion_tokens = output;
                usage.total_tokens = u64_at(u, "/total_tokens").unwrap_or(input + output);
                found = true;
            }
            _ => {}
        }
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: ResponseInfo {
            usage: found.then_some(usage),
            model: non_empty_str(v.get("model")),
            ..ResponseInfo::default()
        },
    })
}

/// The audio format OpenAI's `/audio/speech` answers in when it does not say.
const DEFAULT_SPEECH_TYPE: &str = "audio/mpeg";

/// An `/audio/speech` answer: audio bytes, forwarded with their content type. (The host counts
/// the characters of the request's `input` itself.)
pub(crate) fn parse_speech(
    classify: Classifier,
    head: &ResponseHead,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    let content_type = head.header("content-type").unwrap_or(DEFAULT_SPEECH_TYPE);
    if is_json_type(content_type) {
        // Audio never comes as JSON: this is an error object some proxies send with a 200.
        let has_error = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").cloned())
            .is_some_and(|e| !e.is_null());
        if has_error {
            return Err(embedded_error(classify, body));
        }
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info: ResponseInfo {
            content_type: Some(content_type.to_owned()),
            ..ResponseInfo::default()
        },
    })
}

/// A pass-through answer: forwarded untouched, whatever it is; a JSON answer's `usage` (chat,
/// completions, embeddings or Responses) and `model` are reported.
pub(crate) fn parse_passthrough(head: &ResponseHead, body: &[u8]) -> ParsedResponse {
    let mut info = ResponseInfo::default();
    if answer_is_json(head, body) {
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct View {
            usage: Option<Value>,
            model: Option<Value>,
        }
        if let Ok(view) = serde_json::from_slice::<View>(body) {
            info.usage = view.usage.as_ref().and_then(any_usage);
            info.model = non_empty_str(view.model.as_ref());
        }
    } else if let Some(ct) = head.header("content-type") {
        info.content_type = Some(ct.to_owned());
    }
    ParsedResponse {
        body: body.to_vec(),
        info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_plugin_sdk::ErrorKind;

    fn classify(head: &ResponseHead, body: &[u8]) -> ProviderError {
        switchyard_plugin_sdk::openai::classify_error("test", head, body)
    }

    fn head(content_type: Option<&str>) -> ResponseHead {
        ResponseHead {
            status: 200,
            headers: content_type
                .map(|ct| vec![("content-type".to_owned(), ct.to_owned())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn responses_usage_and_finish_reasons() {
        let body = json!({"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5-2025",
            "output": [{"type": "reasoning"}, {"type": "function_call", "name": "f"}],
            "usage": {"input_tokens": 58, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": 30,
                      "output_tokens_details": {"reasoning_tokens": 12}, "total_tokens": 88}})
        .to_string();
        let parsed = parse_responses("test", classify, body.as_bytes()).unwrap();
        assert_eq!(parsed.body, body.as_bytes());
        let u = parsed.info.usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (58, 30, 88, 8, 12)
        );
        assert_eq!(parsed.info.model.as_deref(), Some("gpt-5-2025"));
        assert_eq!(parsed.info.finish_reason.as_deref(), Some("tool_calls"));

        let incomplete = br#"{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[]}"#;
        let info = parse_responses("test", classify, incomplete).unwrap().info;
        assert_eq!(info.finish_reason.as_deref(), Some("length"));
        assert_eq!(info.usage, None);

        let e = parse_responses(
            "test",
            classify,
            br#"{"error":{"code":"rate_limit_exceeded","message":"slow"}}"#,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::RateLimit, 429));
        let e = parse_responses("test", classify, br#"{"id":"x"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
        assert!(e.message.contains("'output'"));
    }

    #[test]
    fn images_count_and_tokens() {
        let body = br#"{"created":1,"data":[{"b64_json":"AAAA"},{"b64_json":"BBBB"}],"usage":{"input_tokens":50,"output_tokens":4160,"total_tokens":4210,"input_tokens_details":{"text_tokens":50,"image_tokens":0}}}"#;
        let info = parse_images("test", classify, body).unwrap().info;
        let u = info.usage.unwrap();
        assert_eq!(
            (
                u.images,
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens
            ),
            (2, 50, 4160, 4210)
        );
        let dalle = br#"{"created":1,"data":[{"url":"https://x/y.png","revised_prompt":"p"}]}"#;
        let u = parse_images("test", classify, dalle)
            .unwrap()
            .info
            .usage
            .unwrap();
        assert_eq!((u.images, u.total_tokens), (1, 0));
        assert_eq!(
            parse_images("test", classify, b"{}").unwrap_err().kind,
            ErrorKind::BadResponse
        );
    }

    #[test]
    fn transcriptions_report_duration_tokens_or_their_text_type() {
        let verbose = br#"{"task":"transcribe","language":"english","duration":8.4705,"text":"hi","segments":[]}"#;
        let info = parse_transcription("test", classify, &head(Some("application/json")), verbose)
            .unwrap()
            .info;
        assert_eq!(info.usage.unwrap().audio_input_ms, 8471);
        assert_eq!(info.content_type, None);

        let whisper = br#"{"text":"hi","usage":{"type":"duration","seconds":3}}"#;
        let info = parse_transcription("test", classify, &head(None), whisper)
            .unwrap()
            .info;
        assert_eq!(info.usage.unwrap().audio_input_ms, 3000);

        let tokens = br#"{"text":"hi","usage":{"type":"tokens","input_tokens":14,"input_token_details":{"text_tokens":0,"audio_tokens":14},"output_tokens":45,"total_tokens":59}}"#;
        let u = parse_transcription("test", classify, &head(Some("application/json")), tokens)
            .unwrap()
            .info
            .usage
            .unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.audio_input_ms
            ),
            (14, 45, 59, 0)
        );

        let srt = b"1\n00:00:00,000 --> 00:00:01,000\nhi\n";
        let parsed = parse_transcription(
            "test",
            classify,
            &head(Some("text/plain; charset=utf-8")),
            srt,
        )
        .unwrap();
        assert_eq!(parsed.body, srt);
        assert_eq!(
            parsed.info.content_type.as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(parsed.info.usage, None);

        let e = parse_transcription(
            "test",
            classify,
            &head(Some("application/json")),
            b"{\"text\":",
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }

    #[test]
    fn speech_is_bytes_with_their_type() {
        let audio = b"ID3\x04\x00\xff\xfb binary";
        let parsed = parse_speech(classify, &head(Some("audio/wav")), audio).unwrap();
        assert_eq!(parsed.body, audio);
        assert_eq!(parsed.info.content_type.as_deref(), Some("audio/wav"));
        let parsed = parse_speech(classify, &head(None), audio).unwrap();
        assert_eq!(parsed.info.content_type.as_deref(), Some("audio/mpeg"));
        let e = parse_speech(
            classify,
            &head(Some("application/json")),
            br#"{"error":{"message":"no","type":"server_error"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.status, 500);
    }

    #[test]
    fn passthrough_answers_report_whatever_usage_they_carry() {
        let chat = br#"{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
        let parsed = parse_passthrough(&head(Some("application/json")), chat);
        assert_eq!(parsed.body, chat);
        assert_eq!(parsed.info.usage.unwrap().total_tokens, 5);
        assert_eq!(parsed.info.model.as_deref(), Some("gpt-4o"));
        let responses = br#"{"object":"response","usage":{"input_tokens":4,"output_tokens":6}}"#;
        assert_eq!(
            parse_passthrough(&head(None), responses)
                .info
                .usage
                .unwrap()
                .total_tokens,
            10
        );
        let list = br#"{"object":"list","data":[]}"#;
        assert_eq!(
            parse_passthrough(&head(Some("application/json")), list).info,
            ResponseInfo::default()
        );
        let text = parse_passthrough(&head(Some("text/csv")), b"a,b\n");
        assert_eq!(text.info.content_type.as_deref(), Some("text/csv"));
    }

    #[test]
    fn error_objects_without_a_status_get_openais() {
        for (error, status) in [
            (
                json!({"code": "insufficient_quota", "type": "insufficient_quota"}),
                429,
            ),
            (json!({"code": "rate_limit_exceeded"}), 429),
            (json!({"code": "invalid_prompt"}), 400),
            (json!({"code": "context_length_exceeded"}), 400),
            (json!({"code": "model_not_found"}), 404),
            (json!({"type": "server_error"}), 500),
            (json!({"code": 503, "message": "x"}), 503),
            (json!({"status_code": "400"}), 400),
            (json!({}), 500),
        ] {
            assert_eq!(error_status(&error), status, "{error}");
        }
    }
}

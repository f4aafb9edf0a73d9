//! The mock's answers on the endpoints beyond chat and embeddings: legacy completions, rerank,
//! images, transcriptions and speech. Deterministic, derived from the request, so tests can
//! assert exact values; each is the shape the real provider sends.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{
    openai, ParsedResponse, ProviderError, RequestContext, ResponseInfo, SimulatedExchange,
    UpstreamRequest, Usage,
};

/// A 1×1 transparent PNG: the image every generation returns.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// Bytes of audio per millisecond the mock assumes (16 kHz, 16-bit mono PCM).
const AUDIO_BYTES_PER_MS: usize = 32;

fn json_object(body: &[u8]) -> Result<Map<String, Value>, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::invalid_request(format!("request body is not a JSON object: {e}"))
    })
}

fn simulated(
    url: &str,
    content_type: &str,
    chunks: Vec<Vec<u8>>,
    latency_ms: u64,
) -> UpstreamRequest {
    UpstreamRequest {
        method: "POST".to_owned(),
        url: format!("mock://{url}"),
        headers: Vec::new(),
        body: Vec::new(),
        simulated: Some(SimulatedExchange {
            status: 200,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            chunks,
            first_byte_delay_ms: latency_ms,
            ..SimulatedExchange::default()
        }),
    }
}

/// `/completions`: echoes the prompt, as a `text_completion` or its stream.
pub(crate) fn completions(
    body: &[u8],
    model: &str,
    context: &RequestContext,
    latency_ms: u64,
) -> Result<UpstreamRequest, ProviderError> {
    let body = json_object(body)?;
    let prompt = match body.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => {
            return Err(ProviderError::invalid_request(
                "'prompt' must be a string or a list of strings",
            )
            .with_param("prompt"))
        }
    };
    let text = format!("You said: {prompt}");
    let prompt_tokens = (prompt.chars().count() as u64).div_ceil(4).max(1);
    let completion_tokens = text.split_whitespace().count() as u64;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens});
    let id = format!("cmpl-mock-{}", context.request_id);
    let created = context.now_unix_ms / 1000;
    if !context.stream {
        let answer = json!({"id": id, "object": "text_completion", "created": created,
            "model": model, "choices": [{"index": 0, "text": text, "logprobs": null,
            "finish_reason": "stop"}], "usage": usage});
        return Ok(simulated(
            "completions",
            "application/json",
            vec![answer.to_string().into_bytes()],
            latency_ms,
        ));
    }
    let chunk = |piece: &str, finish: Option<&str>| {
        let v = json!({"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": piece, "logprobs": null, "finish_reason": finish}]});
        format!("data: {v}\n\n").into_bytes()
    };
    let mut chunks: Vec<Vec<u8>> = text
        .split_inclusive(' ')
        .map(|piece| chunk(piece, None))
        .collect();
    chunks.push(chunk("", Some("stop")));
    if context.include_usage {
        let v = json!({"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [], "usage": usage});
        chunks.push(format!("data: {v}\n\n").into_bytes());
    }
    chunks.push(b"data: [DONE]\n\n".to_vec());
    Ok(simulated(
        "completions",
        "text/event-stream",
        chunks,
        latency_ms,
    ))
}

/// `/rerank` (Cohere's shape): documents scored by the share of the query's words they
/// contain, best first.
pub(crate) fn rerank(body: &[u8], latency_ms: u64) -> Result<UpstreamRequest, ProviderError> {
    let body = json_object(body)?;
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::invalid_request("'query' must be a string").with_param("query")
        })?
        .to_lowercase();
    let documents = body
        .get("documents")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            ProviderError::invalid_request("'documents' must be a non-empty list")
                .with_param("documents")
        })?;
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut results: Vec<(usize, f64, &Value)> = documents
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let text = match d {
                Value::String(s) => s.to_lowercase(),
                Value::Object(o) => o
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_lowercase(),
                other => other.to_string(),
            };
            let hits = words.iter().filter(|w| text.contains(*w)).count();
            let score = if words.is_empty() {
                0.0
            } else {
                hits as f64 / words.len() as f64
            };
            (i, score, d)
        })
        .collect();
    results.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(n) = body.get("top_n").and_then(Value::as_u64) {
        results.truncate(n as usize);
    }
    let with_documents = body
        .get("return_documents")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let results: Vec<Value> = results
        .into_iter()
        .map(|(index, score, doc)| {
            let mut r = json!({"index": index, "relevance_score": score});
            if with_documents {
                r["document"] = match doc {
                    Value::String(s) => json!({"text": s}),
                    other => other.clone(),
                };
            }
            r
        })
        .collect();
    let answer = json!({"id": "rerank-mock", "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}});
    Ok(simulated(
        "rerank",
        "application/json",
        vec![answer.to_string().into_bytes()],
        latency_ms,
    ))
}

/// `/images/generations`: `n` copies of a 1×1 PNG, as `b64_json` or a URL.
pub(crate) fn images(
    body: &[u8],
    context: &RequestContext,
    latency_ms: u64,
) -> Result<UpstreamRequest, ProviderError> {
    let body = json_object(body)?;
    let n = body.get("n").and_then(Value::as_u64).unwrap_or(1);
    if !(1..=10).contains(&n) {
        return Err(ProviderError::invalid_request("'n' must be from 1 to 10").with_param("n"));
    }
    let as_url = body.get("response_format").and_then(Value::as_str) == Some("url");
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if as_url {
                json!({"url": format!("https://images.mock.invalid/{}/{i}.png", context.request_id)})
            } else {
                json!({"b64_json": base64::engine::general_purpose::STANDARD.encode(PNG_1X1)})
            }
        })
        .collect();
    let answer = json!({"created": context.now_unix_ms / 1000, "data": data});
    Ok(simulated(
        "images/generations",
        "application/json",
        vec![answer.to_string().into_bytes()],
        latency_ms,
    ))
}

/// The value of a simple (non-file) field of a multipart body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let marker = format!("name=\"{name}\"");
    let at = text.find(&marker)?;
    let rest = &text[at..];
    let start = rest.find("\r\n\r\n")? + 4;
    let end = rest[start..].find("\r\n")?;
    Some(rest[start..start + end].trim().to_owned())
}

/// `/audio/transcriptions`: the text says how long the upload was; JSON, or plain text for
/// `response_format: text`.
pub(crate) fn transcription(
    body: &[u8],
    context: &RequestContext,
    latency_ms: u64,
) -> Result<UpstreamRequest, ProviderError> {
    let content_type = context.content_type.as_deref().unwrap_or("");
    if !content_type.starts_with("multipart/form-data") {
        return Err(ProviderError::invalid_request(
            "a transcription request must be multipart/form-data",
        ));
    }
    if !String::from_utf8_lossy(body).contains("name=\"file\"") {
        return Err(
            ProviderError::invalid_request("missing required parameter 'file'").with_param("file"),
        );
    }
    let ms = (body.len() / AUDIO_BYTES_PER_MS).max(1) as u64;
    let text = format!("mock transcription of {} bytes", body.len());
    let seconds = ms as f64 / 1000.0;
    match form_field(body, "response_format").as_deref() {
        Some("text") => Ok(simulated(
            "audio/transcriptions",
            "text/plain; charset=utf-8",
            vec![format!("{text}\n").into_bytes()],
            latency_ms,
        )),
        Some("verbose_json") => {
            let answer = json!({"task": "transcribe", "language": "english",
                "duration": seconds, "text": text, "segments": []});
            Ok(simulated(
                "audio/transcriptions",
                "application/json",
                vec![answer.to_string().into_bytes()],
                latency_ms,
            ))
        }
        _ => {
            let answer =
                json!({"text": text, "usage": {"type": "duration", "seconds": seconds.ceil()}});
            Ok(simulated(
                "audio/transcriptions",
                "application/json",
                vec![answer.to_string().into_bytes()],
                latency_ms,
            ))
        }
    }
}

/// `/audio/speech`: bytes of "audio", as many as the input has characters, in the asked
/// format's content type.
pub(crate) fn speech(body: &[u8], latency_ms: u64) -> Result<UpstreamRequest, ProviderError> {
    let body = json_object(body)?;
    let input = body
        .get("input")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ProviderError::invalid_request("'input' must be a non-empty string").with_param("input")
        })?;
    let content_type = match body.get("response_format").and_then(Value::as_str) {
        None | Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        Some("opus") => "audio/opus",
        Some("aac") => "audio/aac",
        Some("flac") => "audio/flac",
        Some("pcm") => "audio/pcm",
        Some(other) => {
            return Err(ProviderError::invalid_request(format!(
                "'response_format' must be mp3, wav, opus, aac, flac or pcm, not '{other}'"
            ))
            .with_param("response_format"))
        }
    };
    let mut audio = b"ID3".to_vec();
    audio.extend(input.chars().map(|c| (c as u32 % 251) as u8));
    Ok(simulated(
        "audio/speech",
        content_type,
        vec![audio],
        latency_ms,
    ))
}

/// Reads the answer of one of these endpoints.
pub(crate) fn parse(
    endpoint: &str,
    content_type: &str,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    let json = || -> Result<Value, ProviderError> {
        serde_json::from_slice(body)
            .map_err(|e| ProviderError::bad_response(format!("mock answer is not JSON: {e}")))
    };
    let mut info = ResponseInfo::default();
    match endpoint {
        "completions" => return openai::parse_chat_response("mock", body),
        "rerank" => {
            let v = json()?;
            let units = v["meta"]["billed_units"]["search_units"]
                .as_u64()
                .unwrap_or(1);
            info.usage = Some(Usage {
                queries: units,
                ..Usage::default()
            });
        }
        "images" => {
            let v = json()?;
            let n = v["data"].as_array().map_or(0, Vec::len) as u64;
            info.usage = Some(Usage {
                images: n,
                ..Usage::default()
            });
        }
        "audio_transcriptions" => {
            if content_type.starts_with("application/json") {
                let v = json()?;
                let seconds = v["usage"]["seconds"].as_f64().or(v["duration"].as_f64());
                info.usage = seconds.map(|s| Usage {
                    audio_input_ms: (s * 1000.0).round() as u64,
                    ..Usage::default()
                });
            } else {
                info.content_type = Some(content_type.to_owned());
            }
        }
        "audio_speech" => info.content_type = Some(content_type.to_owned()),
        other => {
            return Err(ProviderError::bad_response(format!(
                "mock provider cannot read an answer of the '{other}' endpoint"
            )))
        }
    }
    Ok(ParsedResponse {
        body: body.to_vec(),
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: UpstreamRequest) -> (String, Vec<u8>) {
        let s = request.simulated.unwrap();
        (s.headers[0].1.clone(), s.chunks.concat())
    }

    #[test]
    fn rerank_orders_by_query_words_and_bills_one_search_unit() {
        let body = json!({"model": "m", "query": "red apple", "top_n": 2, "return_documents": true,
            "documents": ["a green pear", "a red apple", {"text": "red car"}]});
        let (ct, bytes) = answer(rerank(body.to_string().as_bytes(), 0).unwrap());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["results"][0]["index"], 1);
        assert_eq!(v["results"][0]["relevance_score"], 1.0);
        assert_eq!(v["results"][1]["index"], 2);
        assert_eq!(v["results"][1]["document"]["text"], "red car");
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        let parsed = parse("rerank", &ct, &bytes).unwrap();
        assert_eq!(parsed.info.usage.unwrap().queries, 1);
    }

    #[test]
    fn speech_is_binary_in_the_asked_format_and_transcription_reports_seconds() {
        let (ct, bytes) = answer(
            speech(
                br#"{"model":"tts","input":"hello","response_format":"wav"}"#,
                0,
            )
            .unwrap(),
        );
        assert_eq!(ct, "audio/wav");
        assert_eq!(bytes.len(), 3 + 5);
        let parsed = parse("audio_speech", &ct, &bytes).unwrap();
        assert_eq!(parsed.info.content_type.as_deref(), Some("audio/wav"));

        let upload = [
            &b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"[..],
            &vec![0u8; 64_000],
            &b"\r\n--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--b--\r\n"[..],
        ]
        .concat();
        let ctx = RequestContext {
            content_type: Some("multipart/form-data; boundary=b".to_owned()),
            ..RequestContext::default()
        };
        let (ct, bytes) = answer(transcription(&upload, &ctx, 0).unwrap());
        let parsed = parse("audio_transcriptions", &ct, &bytes).unwrap();
        assert_eq!(parsed.info.usage.unwrap().audio_input_ms, 3000);
        let e = transcription(&upload, &RequestContext::default(), 0).unwrap_err();
        assert!(e.message.contains("multipart"), "{}", e.message);
    }

    #[test]
    fn images_count_and_completions_echo() {
        let ctx = RequestContext::default();
        let (ct, bytes) = answer(images(br#"{"prompt":"a cat","n":3}"#, &ctx, 0).unwrap());
        let parsed = parse("images", &ct, &bytes).unwrap();
        assert_eq!(parsed.info.usage.unwrap().images, 3);
        assert!(images(br#"{"prompt":"a cat","n":11}"#, &ctx, 0).is_err());

        let (ct, bytes) = answer(completions(br#"{"prompt":"hi there"}"#, "m", &ctx, 0).unwrap());
        let parsed = parse("completions", &ct, &bytes).unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(v["choices"][0]["text"], "You said: hi there");
    }
}

//! OpenAI `/embeddings` ⇄ Gemini `batchEmbedContents` (Google AI Studio) and Vertex AI
//! `:predict`.

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{ParsedResponse, ProviderError, ResponseInfo, Usage};

use crate::response::embedded_error;

/// What an OpenAI embeddings request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    pub inputs: Vec<String>,
    /// `dimensions` → `outputDimensionality`.
    pub dimensions: Option<u64>,
    /// Gemini's `task_type` (`RETRIEVAL_QUERY`, …), passed through.
    pub task_type: Option<String>,
    /// `encoding_format: base64` answers little-endian f32 bytes in base64, as OpenAI does.
    pub base64: bool,
}

fn invalid(provider: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::invalid_request(format!("{provider}: {}", message.into()))
}

/// Reads an OpenAI embeddings body. Token-id inputs are refused: Gemini embeds text.
pub fn read_request(provider: &str, body: &[u8]) -> Result<EmbeddingRequest, ProviderError> {
    let req: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| invalid(provider, format!("request body is not a JSON object: {e}")))?;
    let inputs = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(provider, "input must be a string or an array of strings")
                        .with_param("input")
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(invalid(
                provider,
                "input must be a string or a non-empty array of strings",
            )
            .with_param("input"))
        }
    };
    let base64 = match req.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                provider,
                format!("encoding_format '{other}' is not float or base64"),
            )
            .with_param("encoding_format"))
        }
    };
    Ok(EmbeddingRequest {
        inputs,
        dimensions: req.get("dimensions").and_then(Value::as_u64),
        task_type: req
            .get("task_type")
            .or_else(|| req.get("taskType"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        base64,
    })
}

/// The `batchEmbedContents` body for `model`.
pub fn gemini_batch_body(model: &str, req: &EmbeddingRequest) -> Vec<u8> {
    let requests: Vec<Value> = req
        .inputs
        .iter()
        .map(|text| {
            let mut r =
                json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
            if let Some(d) = req.dimensions {
                r["outputDimensionality"] = json!(d);
            }
            if let Some(t) = &req.task_type {
                r["taskType"] = json!(t);
            }
            r
        })
        .collect();
    json!({"requests": requests}).to_string().into_bytes()
}

/// The Vertex AI `:predict` body.
pub fn vertex_predict_body(req: &EmbeddingRequest) -> Vec<u8> {
    let instances: Vec<Value> = req
        .inputs
        .iter()
        .map(|text| {
            let mut i = json!({"content": text});
            if let Some(t) = &req.task_type {
                i["task_type"] = json!(t);
            }
            i
        })
        .collect();
    let mut body = json!({"instances": instances});
    if let Some(d) = req.dimensions {
        body["parameters"] = json!({"outputDimensionality": d});
    }
    body.to_string().into_bytes()
}

/// Little-endian f32 bytes in standard base64 (OpenAI's `encoding_format: base64`).
fn base64_floats(values: &[Value]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|v| (v.as_f64().unwrap_or(0.0) as f32).to_le_bytes())
        .collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn openai_list(model: &str, vectors: Vec<&Vec<Value>>, prompt_tokens: u64, base64: bool) -> Value {
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, values)| {
            let embedding = if base64 {
                Value::String(base64_floats(values))
            } else {
                Value::Array(values.clone())
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}

fn parsed(model: &str, out: Value, prompt_tokens: u64) -> ParsedResponse {
    ParsedResponse {
        body: out.to_string().into_bytes(),
        info: ResponseInfo {
            usage: Some(Usage {
                prompt_tokens,
                total_tokens: prompt_tokens,
                ..Usage::default()
            }),
            finish_reason: None,
            model: (!model.is_empty()).then(|| model.to_owned()),
            ..Default::default()
        },
    }
}

fn parse_json(provider: &str, body: &[u8]) -> Result<Value, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!("{provider}: embeddings response is not JSON: {e}"))
    })?;
    if let Some(error) = v.get("error") {
        return Err(embedded_error(provider, body, error));
    }
    Ok(v)
}

/// Parses a `batchEmbedContents` answer (`{"embeddings": [{"values": [...]}]}`; the Gemini API
/// reports no token counts).
pub fn parse_gemini_batch(
    provider: &str,
    model: &str,
    body: &[u8],
    base64: bool,
) -> Result<ParsedResponse, ProviderError> {
    let v = parse_json(provider, body)?;
    let vectors: Vec<&Vec<Value>> = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ProviderError::bad_response(format!("{provider}: response has no 'embeddings'"))
        })?
        .iter()
        .map(|e| e.get("values").and_then(Value::as_array))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            ProviderError::bad_response(format!("{provider}: an embedding has no 'values'"))
        })?;
    Ok(parsed(model, openai_list(model, vectors, 0, base64), 0))
}

/// Parses a Vertex AI `:predict` embeddings answer (`predictions[].embeddings.{values,
/// statistics.token_count}`).
pub fn parse_vertex_predict(
    provider: &str,
    model: &str,
    body: &[u8],
    base64: bool,
) -> Result<ParsedResponse, ProviderError> {
    let v = parse_json(provider, body)?;
    let predictions = v
        .get("predictions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ProviderError::bad_response(format!("{provider}: response has no 'predictions'"))
        })?;
    let mut tokens = 0;
    let mut vectors = Vec::with_capacity(predictions.len());
    for p in predictions {
        let e = &p["embeddings"];
        tokens += e["statistics"]["token_count"].as_u64().unwrap_or(0);
        vectors.push(e.get("values").and_then(Value::as_array).ok_or_else(|| {
            ProviderError::bad_response(format!(
                "{provider}: a prediction has no embeddings.values"
            ))
        })?);
    }
    Ok(parsed(
        model,
        openai_list(model, vectors, tokens, base64),
        tokens,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_translate() {
        let req = read_request("gemini", br#"{"model": "e", "input": ["a", "b"], "dimensions": 8, "task_type": "RETRIEVAL_QUERY", "encoding_format": "float"}"#).unwrap();
        let body: Value =
            serde_json::from_slice(&gemini_batch_body("gemini-embedding-001", &req)).unwrap();
        assert_eq!(
            body["requests"][1],
            json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8, "taskType": "RETRIEVAL_QUERY"})
        );
        let body: Value = serde_json::from_slice(&vertex_predict_body(&req)).unwrap();
        assert_eq!(
            body["instances"][0],
            json!({"content": "a", "task_type": "RETRIEVAL_QUERY"})
        );
        assert_eq!(body["parameters"], json!({"outputDimensionality": 8}));

        let p = parse_gemini_batch(
            "gemini",
            "m",
            br#"{"embeddings": [{"values": [0.5, -1]}]}"#,
            false,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["data"][0]["embedding"], json!([0.5, -1]));
        let p = parse_vertex_predict("vertex_ai", "m", br#"{"predictions": [{"embeddings": {"values": [1.0], "statistics": {"token_count": 4}}}]}"#, true).unwrap();
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["data"][0]["embedding"], "AACAPw==");
        assert_eq!(p.info.usage.unwrap().prompt_tokens, 4);

        assert!(read_request("gemini", br#"{"input": [1, 2]}"#).is_err());
        assert!(read_request("gemini", br#"{"input": []}"#).is_err());
        assert!(parse_gemini_batch("gemini", "m", b"{}", false).is_err());
        assert!(parse_vertex_predict("gemini", "m", b"[]", false).is_err());
    }
}

//! OpenAI embeddings on Bedrock through `InvokeModel` (`POST /model/{id}/invoke`), for the two
//! families with an embeddings body: Amazon Titan text embeddings (`{inputText, dimensions,
//! normalize}`, one text per call) and Cohere Embed (`{texts, input_type, embedding_types}`).
//! The answer becomes OpenAI's embeddings list, floats as Bedrock sent them (the host encodes
//! them as base64 when the client asked).

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::{ParsedResponse, ProviderError, ResponseHead, ResponseInfo, Usage};

/// Which embeddings body a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Titan,
    Cohere,
}

/// The family of a model id (on-demand, a cross-region profile such as `us.cohere.embed-v4:0`,
/// or an ARN naming one), or an error naming the model.
pub(crate) fn family(model: &str) -> Result<Family, ProviderError> {
    if model.contains("amazon.titan-embed-text") || model.contains("amazon.titan-embed-g1-text") {
        Ok(Family::Titan)
    } else if model.contains("cohere.embed") {
        Ok(Family::Cohere)
    } else {
        Err(ProviderError::invalid_request(format!(
            "bedrock: embeddings are served for Amazon Titan text (amazon.titan-embed-text-*) and \
             Cohere Embed (cohere.embed-*) models; '{model}' is neither"
        ))
        .with_param("model"))
    }
}

fn invalid(message: impl Into<String>, param: &str) -> ProviderError {
    ProviderError::invalid_request(format!("bedrock: {}", message.into())).with_param(param)
}

/// The texts of OpenAI's `input`: a string or an array of strings (token arrays are OpenAI's
/// own tokenizer's and mean nothing to Bedrock's models).
fn texts(req: &Map<String, Value>) -> Result<Vec<String>, ProviderError> {
    match req.get("input") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(
                        format!("input[{i}] must be a string (token arrays are not supported)"),
                        "input",
                    )
                })
            })
            .collect(),
        Some(Value::Array(_)) => Err(invalid("input is empty", "input")),
        Some(_) => Err(invalid(
            "input must be a string or an array of strings",
            "input",
        )),
        None => Err(invalid("the request has no input", "input")),
    }
}

fn positive_int(req: &Map<String, Value>, key: &str) -> Result<Option<u64>, ProviderError> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} must be a positive integer"), key)),
    }
}

/// The `InvokeModel` body of an OpenAI embeddings request.
pub(crate) fn request_body(family: Family, body: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let req: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        ProviderError::invalid_request(format!(
            "bedrock: the embeddings request is not a JSON object: {e}"
        ))
    })?;
    let texts = texts(&req)?;
    let dimensions = positive_int(&req, "dimensions")?;
    let out = match family {
        Family::Titan => {
            // InvokeModel takes one text per call, and one request is one upstream call.
            let [text] = <[String; 1]>::try_from(texts).map_err(|texts| {
                invalid(
                    format!(
                        "Amazon Titan embeds one text per request; send input as a single \
                         string or a one-element array (got {} texts)",
                        texts.len()
                    ),
                    "input",
                )
            })?;
            let mut out = json!({ "inputText": text });
            if let Some(d) = dimensions {
                out["dimensions"] = json!(d);
            }
            match req.get("normalize") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => out["normalize"] = json!(b),
                Some(_) => return Err(invalid("normalize must be true or false", "normalize")),
            }
            out
        }
        Family::Cohere => {
            let mut out = json!({
                "texts": texts,
                "input_type": "search_document",
            });
            match req.get("input_type") {
                None | Some(Value::Null) => {}
                Some(Value::String(t)) => out["input_type"] = json!(t),
                Some(_) => return Err(invalid("input_type must be a string", "input_type")),
            }
            match req.get("embedding_types") {
                None | Some(Value::Null) => {}
                Some(Value::Array(types)) if types.iter().all(Value::is_string) => {
                    out["embedding_types"] = json!(types)
                }
                Some(_) => {
                    return Err(invalid(
                        "embedding_types must be an array of strings",
                        "embedding_types",
                    ))
                }
            }
            match req.get("truncate") {
                None | Some(Value::Null) => {}
                Some(Value::String(t)) => out["truncate"] = json!(t),
                Some(_) => return Err(invalid("truncate must be a string", "truncate")),
            }
            if let Some(d) = dimensions {
                out["output_dimension"] = json!(d);
            }
            out
        }
    };
    Ok(out.to_string().into_bytes())
}

/// The input token count Bedrock reports in a header (what Cohere's body lacks).
fn header_tokens(head: &ResponseHead) -> Option<u64> {
    head.header("x-amzn-bedrock-input-token-count")?
        .trim()
        .parse()
        .ok()
}

fn bad(message: &str) -> ProviderError {
    ProviderError::bad_response(format!("bedrock: {message}"))
}

/// An `InvokeModel` embeddings answer → OpenAI's embeddings list.
pub(crate) fn parse(
    family: Family,
    head: &ResponseHead,
    body: &[u8],
    model: &str,
) -> Result<ParsedResponse, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(&format!("the embeddings answer is not valid JSON: {e}")))?;
    let (vectors, body_tokens): (Vec<Value>, Option<u64>) = match family {
        Family::Titan => {
            let embedding = v
                .get("embedding")
                .filter(|e| e.is_array())
                .or_else(|| v.pointer("/embeddingsByType/float"))
                .filter(|e| e.is_array())
                .ok_or_else(|| bad("the Titan answer has no 'embedding' array"))?;
            (
                vec![embedding.clone()],
                v.get("inputTextTokenCount").and_then(Value::as_u64),
            )
        }
        Family::Cohere => {
            let embeddings = v.get("embeddings").unwrap_or(&Value::Null);
            // `embeddings` is the list itself, or by type when `embedding_types` was given.
            let list = embeddings
                .as_array()
                .or_else(|| embeddings.get("float").and_then(Value::as_array))
                .or_else(|| {
                    embeddings
                        .as_object()
                        .and_then(|by_type| by_type.values().find_map(Value::as_array))
                })
                .ok_or_else(|| bad("the Cohere answer has no 'embeddings' list"))?;
            (list.clone(), None)
        }
    };
    let tokens = body_tokens.or_else(|| header_tokens(head)).unwrap_or(0);
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    Ok(ParsedResponse {
        body: answer.to_string().into_bytes(),
        info: ResponseInfo {
            usage: Some(Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
                ..Usage::default()
            }),
            model: Some(model.to_owned()),
            ..ResponseInfo::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::ErrorKind;

    fn body(v: Value) -> Value {
        let family = family("amazon.titan-embed-text-v2:0").unwrap();
        serde_json::from_slice(&request_body(family, v.to_string().as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn families_by_model_id() {
        assert_eq!(family("amazon.titan-embed-text-v1").unwrap(), Family::Titan);
        assert_eq!(family("us.cohere.embed-v4:0").unwrap(), Family::Cohere);
        assert_eq!(
            family("cohere.embed-multilingual-v3").unwrap(),
            Family::Cohere
        );
        let e = family("amazon.nova-micro-v1:0").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        assert!(e.message.contains("amazon.nova-micro-v1:0"));
    }

    #[test]
    fn titan_takes_one_text() {
        assert_eq!(
            body(
                json!({"input": "hi", "dimensions": 256, "normalize": true, "encoding_format": "base64"})
            ),
            json!({"inputText": "hi", "dimensions": 256, "normalize": true})
        );
        assert_eq!(body(json!({"input": ["one"]})), json!({"inputText": "one"}));
        let titan = family("amazon.titan-embed-text-v2:0").unwrap();
        for (bad, param, says) in [
            (json!({"input": ["a", "b"]}), "input", "got 2 texts"),
            (json!({"input": []}), "input", "empty"),
            (json!({"input": [[1, 2]]}), "input", "token arrays"),
            (json!({"input": 3}), "input", "string"),
            (json!({}), "input", "no input"),
            (
                json!({"input": "a", "dimensions": 0}),
                "dimensions",
                "positive",
            ),
            (
                json!({"input": "a", "normalize": "yes"}),
                "normalize",
                "true or false",
            ),
        ] {
            let e = request_body(titan, bad.to_string().as_bytes()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert_eq!(e.param.as_deref(), Some(param), "{bad}");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn cohere_takes_texts_with_an_input_type() {
        let cohere = family("cohere.embed-english-v3").unwrap();
        let out = |v: Value| -> Value {
            serde_json::from_slice(&request_body(cohere, v.to_string().as_bytes()).unwrap())
                .unwrap()
        };
        assert_eq!(
            out(json!({"input": ["a", "b"]})),
            json!({"texts": ["a", "b"], "input_type": "search_document"})
        );
        assert_eq!(
            out(
                json!({"input": "q", "input_type": "search_query", "embedding_types": ["float"], "truncate": "END", "dimensions": 512})
            ),
            json!({"texts": ["q"], "input_type": "search_query", "embedding_types": ["float"], "truncate": "END", "output_dimension": 512})
        );
        let e = request_body(cohere, br#"{"input":"a","embedding_types":"float"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("embedding_types"));
    }

    #[test]
    fn answers_become_openai_lists() {
        let head = ResponseHead {
            status: 200,
            headers: vec![("x-amzn-bedrock-input-token-count".into(), "6".into())],
        };
        let titan = br#"{"embedding":[0.5,-0.25],"inputTextTokenCount":4,"embeddingsByType":{"float":[0.5,-0.25]}}"#;
        let parsed = parse(Family::Titan, &head, titan, "amazon.titan-embed-text-v2:0").unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "model": "amazon.titan-embed-text-v2:0",
                   "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
                   "usage": {"prompt_tokens": 4, "total_tokens": 4}})
        );
        assert_eq!(parsed.info.usage.unwrap().prompt_tokens, 4);

        for cohere in [
            &br#"{"id":"x","embeddings":[[0.1],[0.2]],"texts":["a","b"],"response_type":"embeddings_floats"}"#[..],
            br#"{"id":"x","embeddings":{"float":[[0.1],[0.2]]},"response_type":"embeddings_by_type"}"#,
        ] {
            let parsed = parse(Family::Cohere, &head, cohere, "cohere.embed-english-v3").unwrap();
            let v: Value = serde_json::from_slice(&parsed.body).unwrap();
            assert_eq!(v["data"][1]["embedding"], json!([0.2]));
            assert_eq!(v["data"][1]["index"], 1);
            assert_eq!(parsed.info.usage.unwrap().prompt_tokens, 6, "from the header");
        }
        for (family, bad) in [
            (Family::Titan, &br#"{"inputTextTokenCount":1}"#[..]),
            (Family::Cohere, br#"{"id":"x"}"#),
            (Family::Titan, b"not json"),
        ] {
            let e = parse(family, &head, bad, "m").unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadResponse);
        }
    }
}

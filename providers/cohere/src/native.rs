//! Cohere's own shapes served natively: `rerank` (`/v1/rerank` on the gateway, Cohere's request
//! and answer) and the `/cohere/*` pass-through route. Bodies go upstream as the client sent
//! them (only `model` is pointed at the deployment on `rerank`); answers come back unchanged
//! but for the members a rerank answer must have.

use serde_json::{json, Map, Value};
use switchyard_plugin_sdk::openai::RawObject;
use switchyard_plugin_sdk::{
    ParsedResponse, ProviderError, ResponseHead, ResponseInfo, StreamOutput, Usage,
};

use crate::response::{classify_error, finish_reason, usage_from};
use switchyard_plugin_sdk::native::{is_json, Inspect, Verdict};

fn invalid(message: String, param: &str) -> ProviderError {
    ProviderError::invalid_request(format!("cohere: rerank: {message}")).with_param(param)
}

/// A rerank request's body: the client's Cohere request with `model` set to the deployment's
/// and gateway-only members removed, every other member copied byte for byte, after checking
/// the members Cohere requires so a malformed request fails here naming its field.
pub(crate) fn rerank_body(body: &[u8], model: &str) -> Result<Vec<u8>, ProviderError> {
    let mut obj = RawObject::parse(body)?;
    match obj.get_as::<Value>("query")? {
        Some(Value::String(q)) if !q.trim().is_empty() => {}
        Some(Value::String(_)) => return Err(invalid("'query' is empty".into(), "query")),
        Some(_) => return Err(invalid("'query' must be a string".into(), "query")),
        None => return Err(invalid("the request has no 'query'".into(), "query")),
    }
    let documents: Vec<Value> = match obj.get_as::<Value>("documents")? {
        Some(Value::Array(docs)) => docs,
        Some(_) => {
            return Err(invalid(
                "'documents' must be an array of strings or objects".into(),
                "documents",
            ))
        }
        None => {
            return Err(invalid(
                "the request has no 'documents'".into(),
                "documents",
            ))
        }
    };
    if documents.is_empty() {
        return Err(invalid("'documents' is empty".into(), "documents"));
    }
    if let Some(i) = documents
        .iter()
        .position(|d| !(d.is_string() || d.is_object()))
    {
        return Err(invalid(
            format!("documents[{i}] must be a string or an object"),
            &format!("documents[{i}]"),
        ));
    }
    for key in ["top_n", "max_tokens_per_doc"] {
        match obj.get_as::<Value>(key)? {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some_and(|n| n > 0) => {}
            Some(_) => return Err(invalid(format!("'{key}' must be a positive integer"), key)),
        }
    }
    match obj.get_as::<Value>("return_documents")? {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => {
            return Err(invalid(
                "'return_documents' must be true or false".into(),
                "return_documents",
            ))
        }
    }
    obj.set("model", model);
    obj.remove_gateway_members(&[]);
    Ok(obj.to_vec())
}

/// Search units billed (one per query of up to 100 documents); 1 when the answer does not say.
fn search_units(meta: Option<&Value>) -> u64 {
    meta.and_then(|m| m.pointer("/billed_units/search_units"))
        .and_then(Value::as_f64)
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map_or(1, |n| n.ceil() as u64)
}

/// A stable id for an answer without one: FNV-1a of its bytes (plugins read no clock and no
/// randomness, and the same answer gets the same id).
fn fallback_id(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("rerank-{hash:016x}")
}

/// A rerank answer in Cohere's shape: `id`, `results` (`index`, `relevance_score`, and
/// `document` when asked) and `meta`. An answer that has them all is forwarded byte for byte;
/// a missing `id` or `meta` is filled in (a gateway in front of Cohere may drop them).
pub(crate) fn parse_rerank(
    head: &ResponseHead,
    body: &[u8],
) -> Result<ParsedResponse, ProviderError> {
    let v: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_response(format!(
            "cohere: the rerank answer is not a JSON object: {e}"
        ))
    })?;
    let results = match v.get("results") {
        Some(Value::Array(results)) => results,
        _ if v.get("message").is_some_and(Value::is_string) => {
            return Err(classify_error(
                &ResponseHead {
                    status: 500,
                    headers: Vec::new(),
                },
                body,
            ))
        }
        _ => {
            return Err(ProviderError::bad_response(
                "cohere: the rerank answer has no 'results' array",
            ))
        }
    };
    for (i, r) in results.iter().enumerate() {
        if !r.get("index").is_some_and(Value::is_u64)
            || !r.get("relevance_score").is_some_and(Value::is_number)
        {
            return Err(ProviderError::bad_response(format!(
                "cohere: rerank results[{i}] lacks a numeric 'index' or 'relevance_score'"
            )));
        }
    }
    let queries = search_units(v.get("meta"));
    let has_id = v
        .get("id")
        .is_some_and(|id| id.as_str().is_some_and(|s| !s.is_empty()));
    let has_meta = v.get("meta").is_some_and(Value::is_object);
    let body = if has_id && has_meta {
        body.to_vec()
    } else {
        let mut v = v;
        if !has_id {
            let id = ["x-request-id", "x-trace-id"]
                .iter()
                .find_map(|h| head.header(h).filter(|s| !s.is_empty()))
                .map_or_else(|| fallback_id(body), str::to_owned);
            v.insert("id".to_owned(), Value::String(id));
        }
        if !has_meta {
            v.insert(
                "meta".to_owned(),
                json!({"billed_units": {"search_units": queries}}),
            );
        }
        Value::Object(v).to_string().into_bytes()
    };
    Ok(ParsedResponse {
        body,
        info: ResponseInfo {
            usage: Some(Usage {
                queries,
                ..Usage::default()
            }),
            ..ResponseInfo::default()
        },
    })
}

/// The usage a Cohere answer reports: tokens of chat and embed answers (v2 `usage`, v1
/// `meta`), and search units of rerank answers.
fn answer_usage(v: &Value) -> Option<Usage> {
    let mut usage = v
        .get("usage")
        .and_then(usage_from)
        .or_else(|| v.get("meta").and_then(usage_from));
    if let Some(units) = v
        .pointer("/meta/billed_units/search_units")
        .and_then(Value::as_f64)
        .filter(|n| n.is_finite() && *n > 0.0)
    {
        usage.get_or_insert_with(Usage::default).queries = units.ceil() as u64;
    }
    usage
}

/// A pass-through answer: forwarded unchanged whatever it is; a JSON answer's usage and finish
/// reason are reported, a non-JSON answer keeps its content type.
pub(crate) fn parse_passthrough(head: &ResponseHead, body: &[u8]) -> ParsedResponse {
    let mut info = ResponseInfo::default();
    if is_json(head, body) {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            info.usage = answer_usage(&v);
            info.finish_reason = v
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(|r| finish_reason(r).to_owned());
        }
    } else if let Some(ct) = head.header("content-type") {
        info.content_type = Some(ct.to_owned());
    }
    ParsedResponse {
        body: body.to_vec(),
        info,
    }
}

/// Reads a pass-through stream: v2 chat events (`message-end` carries usage and the finish
/// reason, and is the last) and v1 ones (`stream-end`, its `response.meta`).
#[derive(Debug, Default)]
pub struct PassthroughInspector;

impl Inspect for PassthroughInspector {
    fn inspect(&mut self, name: &str, data: &[u8], out: &mut StreamOutput) -> Verdict {
        let interesting = name.is_empty() || name == "message-end" || name == "stream-end";
        let v: Value = match interesting.then(|| serde_json::from_slice(data)) {
            Some(Ok(v)) => v,
            _ => return Verdict::FORWARD,
        };
        let kind = v
            .get("type")
            .or_else(|| v.get("event_type"))
            .and_then(Value::as_str)
            .unwrap_or(name);
        let (usage, reason) = match kind {
            "message-end" => (
                v.pointer("/delta/usage").and_then(usage_from),
                v.pointer("/delta/finish_reason"),
            ),
            "stream-end" => (
                v.pointer("/response/meta").and_then(usage_from),
                v.get("finish_reason"),
            ),
            _ => return Verdict::FORWARD,
        };
        out.info.merge(ResponseInfo {
            usage,
            finish_reason: reason
                .and_then(Value::as_str)
                .map(|r| finish_reason(r).to_owned()),
            ..ResponseInfo::default()
        });
        out.done = true;
        Verdict {
            forward: true,
            end: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::native::RawEventDecoder;
    use switchyard_plugin_sdk::testing::decode_split as decode;
    use switchyard_plugin_sdk::ErrorKind;

    #[test]
    fn rerank_bodies_keep_their_bytes_but_the_model() {
        let body = br#"{"model":"rr","query":"capital?","documents":["Paris","Berlin",{"text":"Rome"}],"top_n":2,"return_documents":true,"max_tokens_per_doc":512,"num_retries":2}"#;
        let out = rerank_body(body, "rerank-v3.5").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"rerank-v3.5","query":"capital?","documents":["Paris","Berlin",{"text":"Rome"}],"top_n":2,"return_documents":true,"max_tokens_per_doc":512}"#
        );
        for (bad, param) in [
            (r#"{"documents":["a"]}"#, "query"),
            (r#"{"query":"","documents":["a"]}"#, "query"),
            (r#"{"query":1,"documents":["a"]}"#, "query"),
            (r#"{"query":"q"}"#, "documents"),
            (r#"{"query":"q","documents":[]}"#, "documents"),
            (r#"{"query":"q","documents":"a"}"#, "documents"),
            (r#"{"query":"q","documents":["a",3]}"#, "documents[1]"),
            (r#"{"query":"q","documents":["a"],"top_n":0}"#, "top_n"),
            (
                r#"{"query":"q","documents":["a"],"max_tokens_per_doc":"x"}"#,
                "max_tokens_per_doc",
            ),
            (
                r#"{"query":"q","documents":["a"],"return_documents":"yes"}"#,
                "return_documents",
            ),
        ] {
            let e = rerank_body(bad.as_bytes(), "m").unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert_eq!(e.param.as_deref(), Some(param), "{bad}: {}", e.message);
        }
    }

    fn head() -> ResponseHead {
        ResponseHead {
            status: 200,
            headers: vec![("x-trace-id".into(), "trace-1".into())],
        }
    }

    #[test]
    fn rerank_answers_pass_with_their_search_units() {
        let body = br#"{"id":"r1","results":[{"index":1,"relevance_score":0.9,"document":{"text":"Paris"}},{"index":0,"relevance_score":0.1}],"meta":{"api_version":{"version":"2"},"billed_units":{"search_units":2}}}"#;
        let parsed = parse_rerank(&head(), body).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(parsed.info.usage.unwrap().queries, 2);

        let bare = br#"{"results":[{"index":0,"relevance_score":0.5}]}"#;
        let parsed = parse_rerank(&head(), bare).unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(v["id"], "trace-1");
        assert_eq!(v["meta"]["billed_units"]["search_units"], 1);
        assert_eq!(parsed.info.usage.unwrap().queries, 1);
        let no_head = parse_rerank(&ResponseHead::default(), bare).unwrap();
        let v: Value = serde_json::from_slice(&no_head.body).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("rerank-"));
        assert_eq!(
            no_head.body,
            parse_rerank(&ResponseHead::default(), bare).unwrap().body,
            "the same answer gets the same id"
        );

        let e = parse_rerank(
            &head(),
            br#"{"id":"x","message":"invalid request: too many documents"}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("too many documents"));
        for bad in [
            &br#"{"id":"x"}"#[..],
            br#"{"results":[{"index":"0","relevance_score":0.5}]}"#,
            b"[]",
        ] {
            assert_eq!(
                parse_rerank(&head(), bad).unwrap_err().kind,
                ErrorKind::BadResponse
            );
        }
    }

    #[test]
    fn passthrough_answers_report_their_usage() {
        let json_head = ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
        };
        let chat = br#"{"id":"c","finish_reason":"MAX_TOKENS","message":{},"usage":{"billed_units":{"input_tokens":3,"output_tokens":4},"tokens":{"input_tokens":10,"output_tokens":4}}}"#;
        let p = parse_passthrough(&json_head, chat);
        assert_eq!(p.body, chat);
        assert_eq!(p.info.usage.unwrap().total_tokens, 14);
        assert_eq!(p.info.finish_reason.as_deref(), Some("length"));
        let rerank = br#"{"id":"r","results":[],"meta":{"billed_units":{"search_units":3}}}"#;
        assert_eq!(
            parse_passthrough(&json_head, rerank)
                .info
                .usage
                .unwrap()
                .queries,
            3
        );
        let embed = br#"{"id":"e","embeddings":{"float":[[0.1]]},"meta":{"billed_units":{"input_tokens":5}}}"#;
        assert_eq!(
            parse_passthrough(&json_head, embed)
                .info
                .usage
                .unwrap()
                .prompt_tokens,
            5
        );
        let text = ResponseHead {
            status: 200,
            headers: vec![("content-type".into(), "text/csv".into())],
        };
        assert_eq!(
            parse_passthrough(&text, b"a,b")
                .info
                .content_type
                .as_deref(),
            Some("text/csv")
        );
    }

    const STREAM: &str = concat!(
        "event: message-start\ndata: {\"id\":\"m\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n",
        "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n",
        "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":5,\"output_tokens\":2},\"tokens\":{\"input_tokens\":70,\"output_tokens\":2}}}}\n\n",
        "data: [DONE]\n\n",
    );

    fn decoder() -> RawEventDecoder<PassthroughInspector> {
        RawEventDecoder::new("cohere", PassthroughInspector)
    }

    #[test]
    fn passthrough_streams_pass_unchanged_until_message_end() {
        let out = decode(&mut decoder(), STREAM.as_bytes(), &[]);
        let end = STREAM.find("data: [DONE]").unwrap();
        assert_eq!(out.sse, &STREAM.as_bytes()[..end]);
        assert!(out.done && out.error.is_none());
        assert_eq!(out.info.usage.unwrap().total_tokens, 72);
        assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
    }

    proptest::proptest! {
        #[test]
        fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..1000, 0..12), crlf: bool) {
            let body = if crlf { STREAM.replace('\n', "\r\n") } else { STREAM.to_owned() };
            let whole = decode(&mut decoder(), body.as_bytes(), &[]);
            proptest::prop_assert_eq!(&whole, &decode(&mut decoder(), body.as_bytes(), &cuts));
            let every: Vec<usize> = (1..body.len()).collect();
            proptest::prop_assert_eq!(&whole, &decode(&mut decoder(), body.as_bytes(), &every));
        }
    }
}

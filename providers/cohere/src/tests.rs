use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, Plugin, Provider, ProviderError, RequestContext, RequestIn,
    ResponseHead, StreamDecoder, StreamOutput, UpstreamRequest, ENDPOINT_HEADER,
};

use crate::{Cohere, CoherePlugin};

fn deployment(config: Value) -> Result<Cohere, ProviderError> {
    let mut config: DeploymentConfig = serde_json::from_value(config).unwrap();
    if config.model.is_empty() {
        config.model = "command-r".to_owned();
    }
    CoherePlugin::instantiate(config)
}

fn keyed() -> Cohere {
    deployment(json!({"api_key": "co-test"})).unwrap()
}

fn build(
    p: &Cohere,
    endpoint: &str,
    body: Value,
    stream: bool,
    drop_params: bool,
) -> Result<UpstreamRequest, ProviderError> {
    let context = RequestContext {
        stream,
        drop_params,
        ..RequestContext::default()
    };
    let body = body.to_string();
    p.build_request(RequestIn {
        endpoint,
        body: body.as_bytes(),
        context: &context,
    })
}

fn chat(body: Value) -> Value {
    let r = build(&keyed(), "chat", body, false, false).unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

fn head(status: u16, endpoint: Option<&str>) -> ResponseHead {
    let mut headers = vec![("retry-after".to_owned(), "7".to_owned())];
    if let Some(e) = endpoint {
        headers.push((ENDPOINT_HEADER.to_owned(), e.to_owned()));
    }
    ResponseHead { status, headers }
}

#[test]
fn metadata_declares_providers_endpoints_catalog_and_capabilities() {
    let m = CoherePlugin::metadata();
    assert_eq!(m.name, "cohere");
    assert_eq!(m.providers, ["cohere", "cohere_chat"]);
    assert_eq!(m.endpoints, ["chat", "embeddings", "rerank", "passthrough"]);
    assert!(m.credential_env.contains(&"COHERE_API_KEY".to_owned()));
    assert!(m.credential_env.contains(&"CO_API_KEY".to_owned()));
    let find = |id: &str| m.models.iter().find(|x| x.id == id).unwrap();
    let a = find("command-a-03-2025");
    assert_eq!(a.context_window, Some(256_000));
    assert_eq!(a.input_cost_per_token.as_deref(), Some("0.0000025"));
    assert!(a.supported_params.iter().any(|p| p == "tools"));
    assert!(!a.supported_params.iter().any(|p| p == "reasoning_effort"));
    assert!(find("command-a-reasoning-08-2025")
        .supported_params
        .iter()
        .any(|p| p == "reasoning_effort"));
    assert!(!find("c4ai-aya-expanse-32b")
        .supported_params
        .iter()
        .any(|p| p == "tools"));
    assert_eq!(find("embed-v4.0").max_output_tokens, None);
    let rerank = find("rerank-v3.5");
    assert_eq!(rerank.context_window, Some(4_096));
    assert!(rerank.input_cost_per_token.is_none() && rerank.supported_params.is_empty());
    for id in [
        "rerank-v4.0-pro",
        "rerank-v4.0-fast",
        "rerank-english-v3.0",
        "rerank-multilingual-v3.0",
        "command-r",
        "command-r-plus",
        "command-r7b-12-2024",
        "embed-english-v3.0",
    ] {
        find(id);
    }
}

#[test]
fn urls_keys_and_missing_key() {
    let r = build(&keyed(), "chat", json!({"messages": []}), true, false).unwrap();
    assert_eq!(r.url, "https://api.cohere.com/v2/chat");
    assert!(r
        .headers
        .contains(&("authorization".to_owned(), "Bearer co-test".to_owned())));
    assert!(r
        .headers
        .contains(&("accept".to_owned(), "text/event-stream".to_owned())));
    let r = build(&keyed(), "embeddings", json!({"input": "x"}), false, false).unwrap();
    assert_eq!(r.url, "https://api.cohere.com/v2/embed");

    for base in [
        "https://proxy.example/cohere/v2/chat",
        "https://proxy.example/cohere/v1/",
        "https://proxy.example/cohere",
    ] {
        let p = deployment(json!({"api_key": "k", "api_base": base})).unwrap();
        let r = build(&p, "chat", json!({"messages": []}), false, false).unwrap();
        assert_eq!(r.url, "https://proxy.example/cohere/v2/chat", "{base}");
    }
    let p = deployment(
        json!({"env": {"COHERE_API_BASE": "http://127.0.0.1:9", "CO_API_KEY": "co-env"}}),
    )
    .unwrap();
    let r = build(&p, "chat", json!({"messages": []}), false, false).unwrap();
    assert_eq!(r.url, "http://127.0.0.1:9/v2/chat");
    assert!(r
        .headers
        .contains(&("authorization".to_owned(), "Bearer co-env".to_owned())));

    let p = deployment(json!({})).unwrap();
    let e = build(&p, "chat", json!({"messages": []}), false, false).unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
    assert!(e.message.contains("COHERE_API_KEY"));

    let e = deployment(json!({"api_base": "ftp://x"})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("api_base"));
    let e = build(&keyed(), "completions", json!({}), false, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

#[test]
fn messages_tools_and_results_translate() {
    let out = chat(json!({
        "model": "g", "stream": false, "max_completion_tokens": 100, "stop": "END",
        "temperature": 0.2, "top_p": 0.9, "seed": 3, "frequency_penalty": 0.1, "presence_penalty": 0.2,
        "user": "u1", "fallbacks": ["x"],
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}, {"id": "t2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "42"},
            {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "ok"}]},
            {"role": "assistant", "content": "Done."}
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}},
            {"type": "function", "function": {"name": "g"}}
        ],
        "tool_choice": "required", "parallel_tool_calls": true
    }));
    assert_eq!(out["model"], "command-r");
    assert_eq!(out["stream"], false);
    assert_eq!(out["max_tokens"], 100);
    assert_eq!(out["stop_sequences"], json!(["END"]));
    assert_eq!(
        (&out["p"], &out["seed"], &out["temperature"]),
        (&json!(0.9), &json!(3), &json!(0.2))
    );
    assert_eq!(out["frequency_penalty"], 0.1);
    assert!(
        out.get("top_p").is_none() && out.get("user").is_none() && out.get("fallbacks").is_none()
    );
    let m = &out["messages"];
    assert_eq!(
        m[0],
        json!({"role": "system", "content": [{"type": "text", "text": "Be brief."}]})
    );
    assert_eq!(
        m[1]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}})
    );
    assert_eq!(
        m[2],
        json!({"role": "assistant", "tool_plan": "Let me check.", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
            {"id": "t2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
        ]})
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "t1", "content": "42"})
    );
    assert_eq!(m[4]["content"], json!([{"type": "text", "text": "ok"}]));
    assert_eq!(m[5], json!({"role": "assistant", "content": "Done."}));
    assert_eq!(out["tools"][0]["function"]["description"], "d");
    assert_eq!(
        out["tools"][1]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(out["strict_tools"], true);
    assert_eq!(out["tool_choice"], "REQUIRED");
}

#[test]
fn tool_choice_variants_and_response_format() {
    let tools = json!([
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}
    ]);
    let msgs = json!([{"role": "user", "content": "x"}]);
    let out = chat(json!({"messages": msgs, "tools": tools, "tool_choice": "none"}));
    assert_eq!(out["tool_choice"], "NONE");
    let out = chat(json!({"messages": msgs, "tools": tools, "tool_choice": "auto"}));
    assert!(out.get("tool_choice").is_none());
    let out = chat(
        json!({"messages": msgs, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "g"}}}),
    );
    assert_eq!(out["tool_choice"], "REQUIRED");
    assert_eq!(out["tools"].as_array().unwrap().len(), 1);
    assert_eq!(out["tools"][0]["function"]["name"], "g");
    let e = build(&keyed(), "chat", json!({"messages": msgs, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "h"}}}), false, false).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tool_choice"));

    let out = chat(json!({"messages": msgs, "response_format": {"type": "json_object"}}));
    assert_eq!(out["response_format"], json!({"type": "json_object"}));
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let out = chat(
        json!({"messages": msgs, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": schema}}}),
    );
    assert_eq!(
        out["response_format"],
        json!({"type": "json_object", "json_schema": schema})
    );
    let out = chat(json!({"messages": msgs, "response_format": {"type": "text"}}));
    assert!(out.get("response_format").is_none());
}

#[test]
fn reasoning_round_trips_and_effort_maps_to_thinking() {
    let msgs = json!([{"role": "user", "content": "x"}]);
    let out = chat(json!({"messages": msgs, "reasoning_effort": "low"}));
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "token_budget": 1024})
    );
    let out = chat(json!({"messages": msgs, "reasoning_effort": "none"}));
    assert_eq!(out["thinking"], json!({"type": "disabled"}));
    let out = chat(json!({"messages": msgs, "reasoning_effort": "high"}));
    assert_eq!(out["thinking"], json!({"type": "enabled"}));
    let out =
        chat(json!({"messages": msgs, "thinking": {"type": "enabled", "budget_tokens": 2000}}));
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "token_budget": 2000})
    );

    let out = chat(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": null, "reasoning_content": "hmm", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "assistant", "content": "fine", "reasoning_content": "so"}
    ]}));
    assert_eq!(
        out["messages"][1]["content"],
        json!([{"type": "thinking", "thinking": "hmm"}])
    );
    assert!(out["messages"][1].get("tool_plan").is_none());
    assert_eq!(
        out["messages"][2]["content"],
        json!([{"type": "thinking", "thinking": "so"}, {"type": "text", "text": "fine"}])
    );
}

#[test]
fn unsupported_params_fail_naming_the_param_unless_dropped() {
    let p = keyed();
    for (key, value) in [
        ("n", json!(2)),
        ("logit_bias", json!({"1": 2})),
        ("parallel_tool_calls", json!(false)),
        ("logprobs", json!(true)),
    ] {
        let mut body = json!({"messages": [{"role": "user", "content": "x"}]});
        body[key] = value;
        let e = build(&p, "chat", body.clone(), false, false).unwrap_err();
        assert_eq!(
            (e.kind, e.param.as_deref()),
            (ErrorKind::UnsupportedParam, Some(key))
        );
        assert!(e.message.contains("cohere"));
        let r = build(&p, "chat", body, false, true).unwrap();
        let out: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(out.get(key).is_none());
    }
    // Values Cohere honours anyway are fine.
    chat(json!({"messages": [], "n": 1, "parallel_tool_calls": true, "logprobs": false}));
}

#[test]
fn bad_requests_are_invalid_not_panics() {
    let p = keyed();
    for body in [
        json!([]),
        json!({"messages": "x"}),
        json!({"messages": [{"content": "x"}]}),
        json!({"messages": [{"role": "user", "content": 3}]}),
        json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
        json!({"messages": [{"role": "tool", "content": "x"}]}),
        json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{nope"}}]}]}),
        json!({"messages": [], "tools": [{"type": "retrieval"}]}),
        json!({"messages": [], "response_format": {"type": "xml"}}),
        json!({"messages": [], "max_tokens": "ten"}),
        json!({"messages": [], "temperature": "hot"}),
    ] {
        let e = build(&p, "chat", body.clone(), false, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{body}");
    }
    let e = p
        .build_request(RequestIn {
            endpoint: "chat",
            body: b"not json",
            context: &RequestContext::default(),
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

#[test]
fn embeddings_request_and_response() {
    let p = keyed();
    let r = build(
        &p,
        "embeddings",
        json!({"model": "e", "input": ["a", "b"], "dimensions": 256, "encoding_format": "float"}),
        false,
        false,
    )
    .unwrap();
    let out: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        out,
        json!({"model": "command-r", "texts": ["a", "b"], "input_type": "search_document", "embedding_types": ["float"], "output_dimension": 256})
    );
    let r = build(&p, "embeddings", json!({"input": "a", "input_type": "search_query", "truncate": "END", "encoding_format": "base64"}), false, false).unwrap();
    let out: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(out["input_type"], "search_query");
    assert_eq!(out["truncate"], "END");
    assert_eq!(out["embedding_types"], json!(["base64"]));
    for bad in [
        json!({"input": [1, 2]}),
        json!({"input": []}),
        json!({}),
        json!({"input": "a", "encoding_format": "int8"}),
    ] {
        let e = build(&p, "embeddings", bad, false, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }

    let body = br#"{"id":"e1","embeddings":{"float":[[0.5,-1.0],[2.0,3.0]]},"texts":["a","b"],"meta":{"billed_units":{"input_tokens":4}},"response_type":"embeddings_by_type"}"#;
    let parsed = p
        .parse_response(&head(200, Some("embeddings")), body)
        .unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(
        v["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": [2.0, 3.0]})
    );
    assert_eq!(v["usage"], json!({"prompt_tokens": 4, "total_tokens": 4}));
    assert_eq!(parsed.info.usage.unwrap().prompt_tokens, 4);
    let b64 = br#"{"embeddings":{"base64":["AAAA"]},"meta":{}}"#;
    let v: Value = serde_json::from_slice(
        &p.parse_response(&head(200, Some("embeddings")), b64)
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(v["data"][0]["embedding"], "AAAA");
    let v1 = br#"{"embeddings":[[1.0]],"response_type":"embeddings_floats"}"#;
    assert!(p.parse_response(&head(200, Some("embeddings")), v1).is_ok());
    let e = p
        .parse_response(&head(200, Some("embeddings")), b"{}")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadResponse);
}

#[test]
fn chat_responses_translate() {
    let p = keyed();
    let body = json!({
        "id": "c1", "finish_reason": "TOOL_CALL",
        "message": {"role": "assistant", "tool_plan": "I will call f.",
                    "content": [{"type": "thinking", "thinking": "hmm"}],
                    "tool_calls": [{"id": "f_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        "usage": {"billed_units": {"input_tokens": 80, "output_tokens": 301}, "tokens": {"input_tokens": 1494, "output_tokens": 330}, "cached_tokens": 1008}
    });
    let parsed = p
        .parse_response(&head(200, None), body.to_string().as_bytes())
        .unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "I will call f.");
    assert_eq!(choice["message"]["reasoning_content"], "hmm");
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"a\":1}"
    );
    assert_eq!(v["model"], "command-r");
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 1008);
    let u = parsed.info.usage.unwrap();
    assert_eq!(
        (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens
        ),
        (1494, 330, 1824, 1008)
    );

    for (reason, finish) in [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("ERROR_TOXIC", "content_filter"),
    ] {
        let body = json!({"id": "x", "finish_reason": reason, "message": {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 2}}});
        let parsed = p
            .parse_response(&head(200, None), body.to_string().as_bytes())
            .unwrap();
        let v: Value = serde_json::from_slice(&parsed.body).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], finish);
        assert_eq!(v["choices"][0]["message"]["content"], "ab");
        assert_eq!(
            parsed.info.usage.unwrap().total_tokens,
            3,
            "billed_units is the fallback"
        );
    }
    let failed = json!({"id": "x", "finish_reason": "ERROR", "message": {"role": "assistant", "content": []}});
    let e = p
        .parse_response(&head(200, None), failed.to_string().as_bytes())
        .unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
    for bad in [&b"nope"[..], b"{}", b"[1]", br#"{"message": 3}"#] {
        let e = p.parse_response(&head(200, None), bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }
    let e = p
        .parse_response(
            &head(200, None),
            br#"{"id":"x","message":"internal server error"}"#,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable);
}

#[test]
fn errors_map_to_the_taxonomy_keeping_the_message() {
    let p = keyed();
    let cases: &[(u16, &str, ErrorKind, u16)] = &[
        (400, "invalid request: message must be at least 1 token long", ErrorKind::InvalidRequest, 400),
        (400, "too many tokens: size limit exceeded by 1234 tokens. Try using shorter or fewer inputs.", ErrorKind::ContextWindowExceeded, 400),
        (401, "invalid api token", ErrorKind::Authentication, 401),
        (498, "invalid api token", ErrorKind::Authentication, 401),
        (403, "forbidden", ErrorKind::Permission, 403),
        (404, "model 'nonexistent' not found", ErrorKind::NotFound, 404),
        (422, "unprocessable", ErrorKind::InvalidRequest, 422),
        (429, "You are using a Trial key, which is limited to 10 API calls / minute.", ErrorKind::RateLimit, 429),
        (500, "internal server error", ErrorKind::Unavailable, 503),
        (503, "service overloaded", ErrorKind::Unavailable, 503),
        (504, "gateway timeout", ErrorKind::Timeout, 504),
    ];
    for (status, message, kind, out_status) in cases {
        let body = json!({"id": "x", "message": message}).to_string();
        let e = p.classify_error(&head(*status, None), body.as_bytes());
        assert_eq!(
            (e.kind, e.status),
            (*kind, *out_status),
            "{status} {message}"
        );
        assert!(e.message.contains(message), "{}", e.message);
        assert_eq!(e.retry_after_ms, Some(7000));
    }
    let e = p.classify_error(
        &head(400, None),
        br#"{"message":"too many tokens: total number of tokens exceeds 4096"}"#,
    );
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    let e = p.classify_error(&head(502, None), b"<html>bad gateway</html>");
    assert!(e.message.contains("bad gateway"));
    let e = p.classify_error(&head(500, None), b"");
    assert!(e.message.contains("HTTP 500"));
}

// ---- streams ----

const TOOL_STREAM: &str = "event: message-start\ndata: {\"id\":\"s1\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n\
event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"I will\"}}}\n\n\
event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\" look.\"}}}\n\n\
event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"w_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}}}}\n\n\
event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"city\\\": \"}}}}}\n\n\
event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}}}}\n\n\
event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":0}\n\n\
event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"t_2\",\"type\":\"function\",\"function\":{\"name\":\"time\",\"arguments\":\"\"}}}}}\n\n\
event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":1}\n\n\
event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":20,\"output_tokens\":30},\"tokens\":{\"input_tokens\":900,\"output_tokens\":60},\"cached_tokens\":512}}}\n\n\
data: [DONE]\n\n";

fn decode(pieces: &[&[u8]], include_usage: bool) -> StreamOutput {
    let context = RequestContext {
        stream: true,
        include_usage,
        ..RequestContext::default()
    };
    let mut d = keyed().stream_decoder(&context).unwrap();
    let mut all = StreamOutput::default();
    for piece in pieces {
        let mut out = StreamOutput::default();
        d.feed(piece, &mut out);
        merge(&mut all, out);
    }
    let mut out = StreamOutput::default();
    d.finish(&mut out);
    merge(&mut all, out);
    all
}

fn merge(all: &mut StreamOutput, out: StreamOutput) {
    all.sse.extend(out.sse);
    all.info.merge(out.info);
    if all.error.is_none() {
        all.error = out.error;
    }
    all.done |= out.done;
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
fn streamed_tool_calls_keep_stable_indexes_and_ids() {
    let out = decode(&[TOOL_STREAM.as_bytes()], true);
    assert!(out.done && out.error.is_none());
    let c = chunks(&out);
    assert_eq!(c[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "I will look.");
    let calls: Vec<&Value> = c
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["id"], "w_1");
    assert_eq!(calls[0]["index"], 0);
    let args0: String = calls
        .iter()
        .filter(|c| c["index"] == 0)
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args0, "{\"city\": \"Paris\"}");
    let second: Vec<&&Value> = calls.iter().filter(|c| c["index"] == 1).collect();
    assert_eq!(second[0]["id"], "t_2");
    assert_eq!(second.last().unwrap()["function"]["arguments"], "{}");
    let finish = &c[c.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let usage = &c[c.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 900);
    assert_eq!(
        usage["usage"]["prompt_tokens_details"]["cached_tokens"],
        512
    );
    assert!(String::from_utf8(out.sse.clone())
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
    assert_eq!(out.info.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(out.info.model.as_deref(), Some("command-r"));

    // Without include_usage the usage is reported to the host only.
    let out = decode(&[TOOL_STREAM.as_bytes()], false);
    assert!(chunks(&out).iter().all(|c| c.get("usage").is_none()));
    assert_eq!(out.info.usage.unwrap().completion_tokens, 60);
}

#[test]
fn thinking_stream_and_errors() {
    let body = "event: message-start\ndata: {\"id\":\"r\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n\
event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"thinking\",\"thinking\":\"\"}}}}\n\n\
event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"thinking\":\"Hmm.\"}}}}\n\n\
event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":1,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n\
event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"MAX_TOKENS\"}}\n\n";
    let out = decode(&[body.as_bytes()], true);
    let c = chunks(&out);
    assert_eq!(c[1]["choices"][0]["delta"]["reasoning_content"], "Hmm.");
    assert_eq!(c[2]["choices"][0]["delta"]["content"], "Hi");
    assert_eq!(out.info.finish_reason.as_deref(), Some("length"));
    assert!(out.done);

    let failed = "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n\
event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"internal failure\"}}\n\n\
data: [DONE]\n\n";
    let out = decode(&[failed.as_bytes()], false);
    let e = out.error.clone().unwrap();
    assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
    assert!(e.message.contains("internal failure"));
    assert!(!out.done);
    let c = chunks(&out);
    assert_eq!(
        c[0]["choices"][0]["delta"]["role"], "assistant",
        "role first even without message-start"
    );

    let garbage = decode(&[b"data: {nope\n\n"], false);
    assert_eq!(garbage.error.unwrap().kind, ErrorKind::BadResponse);
}

#[test]
fn an_endless_event_is_an_error_and_later_bytes_are_ignored() {
    let context = RequestContext::default();
    let mut d = keyed().stream_decoder(&context).unwrap();
    let big = vec![b'x'; 1024 * 1024];
    let mut error = None;
    for _ in 0..6 {
        let mut out = StreamOutput::default();
        d.feed(&big, &mut out);
        if out.error.is_some() {
            error = out.error;
            break;
        }
    }
    assert_eq!(error.unwrap().kind, ErrorKind::BadResponse);
    let mut out = StreamOutput::default();
    d.feed(b"data: [DONE]\n\n", &mut out);
    d.finish(&mut out);
    assert_eq!(out, StreamOutput::default());
}

proptest::proptest! {
    #[test]
    fn any_split_decodes_the_same(cuts in proptest::collection::vec(0usize..3000, 0..16), include_usage: bool) {
        let body = TOOL_STREAM.as_bytes();
        let whole = decode(&[body], include_usage);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % body.len()).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points { pieces.push(&body[last..p]); last = p; }
        pieces.push(&body[last..]);
        let split = decode(&pieces, include_usage);
        proptest::prop_assert_eq!(&whole, &split);
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        proptest::prop_assert_eq!(&whole, &decode(&bytewise, include_usage));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let p = keyed();
        let _ = decode(&[&bytes], true);
        let _ = p.parse_response(&head(200, None), &bytes);
        let _ = p.parse_response(&head(200, Some("embeddings")), &bytes);
        let _ = p.classify_error(&head(400, None), &bytes);
        let _ = p.build_request(RequestIn { endpoint: "chat", body: &bytes, context: &RequestContext::default() });
    }
}

#[test]
fn rerank_goes_to_v2_rerank_and_answers_with_search_units() {
    let body = json!({"model": "rr", "query": "q", "documents": ["a", {"text": "b"}], "top_n": 1});
    let r = build(&keyed(), "rerank", body, false, false).unwrap();
    assert_eq!(r.url, "https://api.cohere.com/v2/rerank");
    assert!(r
        .headers
        .contains(&("authorization".to_owned(), "Bearer co-test".to_owned())));
    let sent: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(sent["model"], "command-r");
    assert_eq!(sent["documents"][1]["text"], "b");
    let e = build(&keyed(), "rerank", json!({"query": "q"}), false, false).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("documents"));

    let answer = br#"{"id":"r","results":[{"index":0,"relevance_score":0.7}],"meta":{"billed_units":{"search_units":1}}}"#;
    let parsed = keyed()
        .parse_response(&head(200, Some("rerank")), answer)
        .unwrap();
    assert_eq!(parsed.body, answer);
    assert_eq!(parsed.info.usage.unwrap().queries, 1);
}

#[test]
fn passthrough_forwards_the_body_with_the_key() {
    let p =
        deployment(json!({"api_key": "co-test", "api_base": "https://proxy.example/v2"})).unwrap();
    let context = RequestContext {
        stream: true,
        passthrough: Some(switchyard_plugin_sdk::Passthrough {
            method: "POST".into(),
            path: "/v2/chat".into(),
        }),
        ..RequestContext::default()
    };
    let body = br#"{"model":"command-a-03-2025","stream":true,"messages":[]}"#;
    let r = p
        .build_request(RequestIn {
            endpoint: "passthrough",
            body,
            context: &context,
        })
        .unwrap();
    assert_eq!(
        (r.method.as_str(), r.url.as_str()),
        ("POST", "https://proxy.example/v2/chat")
    );
    assert_eq!(r.body, body);
    assert!(r
        .headers
        .contains(&("authorization".to_owned(), "Bearer co-test".to_owned())));
    assert!(!format!("{p:?}").contains("co-test"));

    let stream = b"event: content-delta\ndata: {\"type\":\"content-delta\"}\n\nevent: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"tokens\":{\"input_tokens\":3,\"output_tokens\":1}}}}\n\n";
    let mut d = p.stream_decoder(&context).unwrap();
    let mut out = StreamOutput::default();
    d.feed(stream, &mut out);
    d.finish(&mut out);
    assert_eq!(out.sse, stream, "forwarded unchanged, not as OpenAI chunks");
    assert!(out.done);
    assert_eq!(out.info.usage.unwrap().total_tokens, 4);
}

use serde_json::{json, Value};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, Plugin, Provider, ProviderError, RequestContext, RequestIn,
    ResponseHead, UpstreamRequest, ENDPOINT_HEADER,
};

use super::{Ollama, OllamaPlugin};

fn deployment(extra: Value) -> Result<Ollama, ProviderError> {
    let mut config = json!({"provider": "ollama_chat", "model": "llama3"});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    OllamaPlugin::instantiate(serde_json::from_value::<DeploymentConfig>(config).unwrap())
}

fn build(
    p: &Ollama,
    endpoint: &str,
    body: Value,
    stream: bool,
    drop_params: bool,
) -> Result<UpstreamRequest, ProviderError> {
    let ctx = RequestContext {
        stream,
        drop_params,
        ..RequestContext::default()
    };
    p.build_request(RequestIn {
        endpoint,
        body: body.to_string().as_bytes(),
        context: &ctx,
    })
}

fn chat_body(p: &Ollama, body: Value) -> Result<Value, ProviderError> {
    build(p, "chat", body, false, false).map(|r| serde_json::from_slice(&r.body).unwrap())
}

fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn head(status: u16, endpoint: Option<&str>) -> ResponseHead {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(e) = endpoint {
        headers.push((ENDPOINT_HEADER.to_owned(), e.to_owned()));
    }
    ResponseHead { status, headers }
}

#[test]
fn metadata_serves_both_prefixes_and_three_endpoints_for_free() {
    let m = OllamaPlugin::metadata();
    assert_eq!(m.name, "ollama");
    assert_eq!(m.providers, ["ollama", "ollama_chat"]);
    assert_eq!(m.endpoints, ["chat", "embeddings", "completions"]);
    assert!(!m.requires_api_key);
    assert_eq!(
        m.default_api_base.as_deref(),
        Some("http://localhost:11434")
    );
    assert!(m
        .models
        .iter()
        .all(|x| x.input_cost_per_token.as_deref() == Some("0")));
}

#[test]
fn urls_follow_the_api_base_and_the_mode() {
    let p = deployment(json!({})).unwrap();
    let msg = json!({"messages": [{"role": "user", "content": "hi"}]});
    let r = build(&p, "chat", msg.clone(), true, false).unwrap();
    assert_eq!(r.url, "http://localhost:11434/api/chat");
    assert_eq!(header(&r, "accept"), Some("application/x-ndjson"));
    assert_eq!(header(&r, "authorization"), None);

    let p = deployment(
        json!({"env": {"OLLAMA_API_BASE": "http://gpu:11434/", "OLLAMA_API_KEY": "k1"}}),
    )
    .unwrap();
    let r = build(&p, "chat", msg.clone(), false, false).unwrap();
    assert_eq!(r.url, "http://gpu:11434/api/chat");
    assert_eq!(header(&r, "authorization"), Some("Bearer k1"));

    let p = deployment(json!({"api_base": "http://h:1/api"})).unwrap();
    assert_eq!(
        build(&p, "completions", json!({"prompt": "x"}), false, false)
            .unwrap()
            .url,
        "http://h:1/api/generate"
    );
    assert_eq!(
        build(&p, "embeddings", json!({"input": "x"}), false, false)
            .unwrap()
            .url,
        "http://h:1/api/embed"
    );

    // A /v1 base, or ollama_api: openai, selects the OpenAI-compatible endpoint.
    let p = deployment(json!({"api_base": "http://h:1/v1", "api_key": "sk"})).unwrap();
    let r = build(
        &p,
        "chat",
        json!({"model": "g", "messages": [], "fallbacks": ["x"]}),
        true,
        false,
    )
    .unwrap();
    assert_eq!(r.url, "http://h:1/v1/chat/completions");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "llama3", "messages": [], "stream_options": {"include_usage": true}})
    );
    assert_eq!(header(&r, "authorization"), Some("Bearer sk"));
    let p =
        deployment(json!({"api_base": "https://ollama.com", "params": {"ollama_api": "openai"}}))
            .unwrap();
    assert_eq!(
        build(&p, "embeddings", json!({"input": "x"}), false, false)
            .unwrap()
            .url,
        "https://ollama.com/v1/embeddings"
    );
    let p = deployment(json!({"api_base": "http://h:1/v1", "params": {"ollama_api": "native"}}))
        .unwrap();
    assert_eq!(
        build(&p, "chat", msg, false, false).unwrap().url,
        "http://h:1/api/chat"
    );

    let e = deployment(json!({"api_base": "localhost:11434"})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("api_base"));
    let e = deployment(json!({"params": {"ollama_api": "grpc"}})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("ollama_api"));
    let e = deployment(json!({"provider": "openai"})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    let p = deployment(json!({})).unwrap();
    let e = build(&p, "images", json!({}), false, false).unwrap_err();
    assert!(e.message.contains("images"));
}

#[test]
fn chat_request_translates_messages_tools_and_options() {
    let p = deployment(
        json!({"params": {"keep_alive": "5m", "options": {"num_ctx": 8192, "temperature": 1}}}),
    )
    .unwrap();
    let out = chat_body(
        &p,
        json!({
            "model": "g", "max_completion_tokens": 100, "temperature": 0.2, "top_p": 0.9, "seed": 7,
            "stop": "END", "frequency_penalty": 0.5, "presence_penalty": 0.1, "user": "u",
            "parallel_tool_calls": true, "tool_choice": "auto", "fallbacks": ["x"],
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "what is"}, {"type": "text", "text": "this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "reasoning_content": "think", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42"}]},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        }),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "model": "llama3",
            "stream": false,
            "keep_alive": "5m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "what is\nthis?", "images": ["AAAA"]},
                {"role": "assistant", "content": "", "thinking": "think", "tool_calls": [
                    {"id": "call_1", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}]},
                {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "call_1"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "options": {"num_ctx": 8192, "num_predict": 100, "temperature": 0.2, "top_p": 0.9, "seed": 7,
                        "stop": ["END"], "frequency_penalty": 0.5, "presence_penalty": 0.1},
        })
    );
}

#[test]
fn format_think_and_tool_choice() {
    let p = deployment(json!({})).unwrap();
    let base = |extra: Value| {
        let mut b = json!({"messages": [{"role": "user", "content": "x"}]});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let out = chat_body(
        &p,
        base(json!({"response_format": {"type": "json_object"}})),
    )
    .unwrap();
    assert_eq!(out["format"], "json");
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let out = chat_body(&p, base(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}))).unwrap();
    assert_eq!(out["format"], schema);
    let out = chat_body(&p, base(json!({"response_format": {"type": "text"}}))).unwrap();
    assert!(out.get("format").is_none());
    let e = chat_body(
        &p,
        base(json!({"response_format": {"type": "json_schema"}})),
    )
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("response_format"));

    assert_eq!(
        chat_body(&p, base(json!({"reasoning_effort": "high"}))).unwrap()["think"],
        true
    );
    assert_eq!(
        chat_body(&p, base(json!({"reasoning_effort": "none"}))).unwrap()["think"],
        false
    );
    let gpt_oss = deployment(json!({"model": "gpt-oss:20b"})).unwrap();
    assert_eq!(
        chat_body(&gpt_oss, base(json!({"reasoning_effort": "minimal"}))).unwrap()["think"],
        "low"
    );
    assert_eq!(
        chat_body(&gpt_oss, base(json!({"reasoning_effort": "high"}))).unwrap()["think"],
        "high"
    );
    assert_eq!(
        chat_body(&p, base(json!({"think": true}))).unwrap()["think"],
        true
    );
    let e = chat_body(&p, base(json!({"reasoning_effort": "max"}))).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("reasoning_effort"));

    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let out = chat_body(&p, base(json!({"tools": tools, "tool_choice": "none"}))).unwrap();
    assert!(out.get("tools").is_none());
    let e = chat_body(&p, base(json!({"tools": tools, "tool_choice": "required"}))).unwrap_err();
    assert_eq!(
        (e.kind, e.param.as_deref()),
        (ErrorKind::UnsupportedParam, Some("tool_choice"))
    );
    let dropped = build(
        &p,
        "chat",
        base(json!({"tools": tools, "tool_choice": "required", "logit_bias": {"1": 2}})),
        false,
        true,
    )
    .unwrap();
    let dropped: Value = serde_json::from_slice(&dropped.body).unwrap();
    assert_eq!(dropped["tools"], tools);
    assert!(dropped.get("logit_bias").is_none());
    let e = chat_body(&p, base(json!({"logit_bias": {"1": 2}}))).unwrap_err();
    assert_eq!(
        (e.kind, e.param.as_deref()),
        (ErrorKind::UnsupportedParam, Some("logit_bias"))
    );
    assert!(chat_body(&p, base(json!({"n": 1, "logprobs": false}))).is_ok());
    assert_eq!(
        chat_body(&p, base(json!({"n": 2})))
            .unwrap_err()
            .param
            .as_deref(),
        Some("n")
    );
}

#[test]
fn bad_requests_name_the_param_and_never_panic() {
    let p = deployment(json!({})).unwrap();
    let e = chat_body(
        &p,
        json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.param.as_deref(), Some("messages[0].content[1].image_url"));
    assert!(e.message.contains("base64 data: URL"), "{}", e.message);

    for bad in [
        json!([]),
        json!({"messages": "x"}),
        json!({"messages": [{"content": "x"}]}),
        json!({"messages": [{"role": "robot", "content": "x"}]}),
        json!({"messages": [{"role": "user", "content": 5}]}),
        json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
        json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}]}),
        json!({"messages": [], "max_tokens": -1}),
        json!({"messages": [], "temperature": "hot"}),
        json!({"messages": [], "stop": 3}),
        json!({"messages": [], "tools": {}}),
        json!({"messages": [], "tools": [{"type": "function"}]}),
    ] {
        let e = chat_body(&p, bad.clone()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{bad}");
    }
    let e = build(&p, "chat", json!({}), false, false);
    assert!(e.is_err());
    let raw = p.build_request(RequestIn {
        endpoint: "chat",
        body: b"\xff not json",
        context: &RequestContext::default(),
    });
    assert_eq!(raw.unwrap_err().kind, ErrorKind::InvalidRequest);
}

#[test]
fn completions_and_embeddings_requests() {
    let p = deployment(json!({})).unwrap();
    let r = build(
        &p,
        "completions",
        json!({"model": "x", "prompt": ["Say hi"], "max_tokens": 5, "suffix": "!"}),
        true,
        false,
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "llama3", "prompt": "Say hi", "suffix": "!", "stream": true, "options": {"num_predict": 5}})
    );
    let e = build(
        &p,
        "completions",
        json!({"prompt": ["a", "b"]}),
        false,
        false,
    )
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("prompt"));
    let e = build(
        &p,
        "completions",
        json!({"prompt": "a", "echo": true}),
        false,
        false,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnsupportedParam);

    let r = build(
        &p,
        "embeddings",
        json!({"input": ["a", "b"], "dimensions": 64, "encoding_format": "float"}),
        false,
        false,
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"model": "llama3", "input": ["a", "b"], "dimensions": 64})
    );
    let e = build(&p, "embeddings", json!({"input": [[1, 2]]}), false, false).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("input"));

    let legacy = deployment(json!({"params": {"ollama_legacy_embeddings": true}})).unwrap();
    let r = build(&legacy, "embeddings", json!({"input": "a"}), false, false).unwrap();
    assert_eq!(r.url, "http://localhost:11434/api/embeddings");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, json!({"model": "llama3", "prompt": "a"}));
    assert!(build(
        &legacy,
        "embeddings",
        json!({"input": ["a", "b"]}),
        false,
        false
    )
    .is_err());
}

#[test]
fn chat_response_with_thinking_and_tool_calls() {
    let p = deployment(json!({})).unwrap();
    let body = json!({
        "model": "qwen3", "created_at": "2026-08-07T06:08:09.335586Z",
        "message": {"role": "assistant", "content": "", "thinking": "hmm",
                    "tool_calls": [{"function": {"name": "w", "arguments": {"city": "Paris"}}},
                                   {"id": "call_up", "function": {"index": 1, "name": "w", "arguments": {"city": "Rome"}}}]},
        "done": true, "done_reason": "stop", "prompt_eval_count": 292, "eval_count": 143
    });
    let parsed = p
        .parse_response(&head(200, None), body.to_string().as_bytes())
        .unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    let m = &v["choices"][0]["message"];
    assert_eq!(m["content"], Value::Null);
    assert_eq!(m["reasoning_content"], "hmm");
    assert_eq!(
        m["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert!(m["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("call_"));
    assert_eq!(m["tool_calls"][1]["id"], "call_up");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["usage"]["total_tokens"], 435);
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    // The same answer parses to the same ids.
    let again = p
        .parse_response(&head(200, None), body.to_string().as_bytes())
        .unwrap();
    assert_eq!(again.body, parsed.body);
    assert_eq!(parsed.info.finish_reason.as_deref(), Some("tool_calls"));
    let u = parsed.info.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (292, 143));

    let length =
        json!({"model": "m", "message": {"content": "abc"}, "done": true, "done_reason": "length"});
    let parsed = p
        .parse_response(&head(200, None), length.to_string().as_bytes())
        .unwrap();
    assert_eq!(parsed.info.finish_reason.as_deref(), Some("length"));

    for garbage in [&b"not json"[..], b"[]", b"{}", b"{\"message\": 3}"] {
        let e = p.parse_response(&head(200, None), garbage).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }
    let e = p
        .parse_response(&head(200, None), br#"{"error":"model is loading"}"#)
        .unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
}

#[test]
fn generate_and_embeddings_responses() {
    let p = deployment(json!({})).unwrap();
    let body = br#"{"model":"llama3","created_at":"2024-05-24T20:48:38Z","response":"Hi!","done":true,"done_reason":"stop","context":[1],"prompt_eval_count":3,"eval_count":2}"#;
    let parsed = p
        .parse_response(&head(200, Some("completions")), body)
        .unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "Hi!");
    assert_eq!(v["usage"]["total_tokens"], 5);

    let body =
        br#"{"model":"all-minilm","embeddings":[[0.1,0.2],[0.3,0.4]],"prompt_eval_count":4}"#;
    let parsed = p
        .parse_response(&head(200, Some("embeddings")), body)
        .unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(
        v["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": [0.3, 0.4]})
    );
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(parsed.info.usage.unwrap().total_tokens, 4);
    let legacy = br#"{"embedding":[0.5,0.6]}"#;
    let parsed = p
        .parse_response(&head(200, Some("embeddings")), legacy)
        .unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    assert_eq!(v["data"][0]["embedding"], json!([0.5, 0.6]));
    assert_eq!(v["model"], "llama3");
    let e = p
        .parse_response(&head(200, Some("embeddings")), b"{}")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadResponse);
}

#[test]
fn openai_mode_adds_reasoning_content() {
    let p = deployment(json!({"api_base": "https://ollama.com/v1"})).unwrap();
    let body = br#"{"id":"c","object":"chat.completion","model":"gpt-oss:20b","choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","reasoning":"easy"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let parsed = p.parse_response(&head(200, None), body).unwrap();
    let v: Value = serde_json::from_slice(&parsed.body).unwrap();
    assert_eq!(v["choices"][0]["message"]["reasoning_content"], "easy");
    assert_eq!(v["choices"][0]["message"]["reasoning"], "easy");
    assert_eq!(parsed.info.usage.unwrap().total_tokens, 3);
}

#[test]
fn errors_map_to_the_taxonomy_keeping_the_message() {
    let p = deployment(json!({})).unwrap();
    let e = p.classify_error(
        &head(404, None),
        br#"{"error":"model 'nonexistent-model:latest' not found"}"#,
    );
    assert_eq!(
        (e.kind, e.status, e.code.as_deref()),
        (ErrorKind::NotFound, 404, Some("model_not_found"))
    );
    assert!(e.message.contains("nonexistent-model:latest"));
    let e = p.classify_error(&head(400, None), br#"{"error":"invalid options: foo"}"#);
    assert_eq!((e.kind, e.status), (ErrorKind::InvalidRequest, 400));
    let mut h = head(429, None);
    h.headers.push(("retry-after".into(), "3".into()));
    let e = p.classify_error(&h, br#"{"error":"too many requests"}"#);
    assert_eq!(
        (e.kind, e.retry_after_ms),
        (ErrorKind::RateLimit, Some(3000))
    );
    let e = p.classify_error(
        &head(500, None),
        br#"{"error":"llama runner process has terminated: exit status 2"}"#,
    );
    assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
    let e = p.classify_error(&head(502, None), b"<html>Bad Gateway</html>");
    assert_eq!((e.kind, e.status), (ErrorKind::Unavailable, 503));
    assert!(e.message.contains("Bad Gateway"));
    let e = p.classify_error(&head(401, None), br#"{"error":"unauthorized"}"#);
    assert_eq!(e.kind, ErrorKind::Authentication);
    let e = p.classify_error(&head(400, None), br#"{"error":{"message":"the input length exceeds the context length","type":"invalid_request_error"}}"#);
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (
            ErrorKind::ContextWindowExceeded,
            Some("context_length_exceeded")
        )
    );
    let e = p.classify_error(&head(503, None), b"");
    assert!(e.message.contains("503"));
}

#[test]
fn created_at_parses_with_offsets() {
    use crate::response::unix_seconds;
    assert_eq!(
        unix_seconds("2024-05-24T20:01:31.01558Z"),
        Some(1_716_580_891)
    );
    assert_eq!(
        unix_seconds("2024-05-24T22:01:31+02:00"),
        Some(1_716_580_891)
    );
    assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
    for bad in [
        "",
        "x",
        "2024-13-01T00:00:00Z",
        "2024-05-24 20:01",
        "2024-05-24T20:01:31+0",
    ] {
        assert_eq!(unix_seconds(bad), None, "{bad}");
    }
}

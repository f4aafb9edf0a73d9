use super::*;
use serde_json::{json, Value};
use switchyard_plugin_sdk::host::PluginHandle;
use switchyard_plugin_sdk::{StreamDecoder, StreamOutput};

fn config(
    provider: &str,
    api_base: Option<&str>,
    api_key: Option<&str>,
    env: &[(&str, &str)],
) -> DeploymentConfig {
    DeploymentConfig {
        deployment_id: "gpt.0".to_owned(),
        model_group: "gpt".to_owned(),
        provider: provider.to_owned(),
        model: "gpt-4o-mini".to_owned(),
        api_base: api_base.map(str::to_owned),
        api_key: api_key.map(str::to_owned),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..DeploymentConfig::default()
    }
}

fn deployment(
    api_base: Option<&str>,
    api_key: Option<&str>,
    env: &[(&str, &str)],
) -> Result<OpenAi, ProviderError> {
    OpenAiPlugin::instantiate(config("openai", api_base, api_key, env))
}

fn with_key() -> OpenAi {
    deployment(None, Some("sk-test-0123456789"), &[]).unwrap()
}

fn build_bytes(p: &OpenAi, body: &[u8], stream: bool) -> Result<UpstreamRequest, ProviderError> {
    let ctx = RequestContext {
        stream,
        ..RequestContext::default()
    };
    p.build_request(RequestIn {
        endpoint: "chat",
        body,
        context: &ctx,
    })
}

fn build(p: &OpenAi, body: Value, stream: bool) -> Result<UpstreamRequest, ProviderError> {
    build_bytes(p, body.to_string().as_bytes(), stream)
}

fn sent(r: &UpstreamRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
    ResponseHead {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn metadata_describes_the_plugin_and_its_catalog() {
    let m = OpenAiPlugin::metadata();
    assert_eq!(m.name, "openai");
    assert_eq!(m.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(m.providers, ["openai"]);
    assert_eq!(m.default_api_base.as_deref(), Some(DEFAULT_API_BASE));
    for var in ["OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"] {
        assert!(m.credential_env.iter().any(|v| v == var), "{var}");
    }
    assert!(m.requires_api_key);
    assert_eq!(
        m.endpoints,
        [
            "chat",
            "embeddings",
            "completions",
            "responses",
            "images",
            "audio_transcriptions",
            "audio_speech",
            "passthrough"
        ]
    );
    for p in [
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "stream_options",
    ] {
        assert!(m.supported_params.iter().any(|s| s == p), "{p}");
    }

    let model = |id: &str| m.models.iter().find(|x| x.id == id).unwrap().clone();
    let gpt4o = model("gpt-4o");
    assert_eq!(
        (gpt4o.context_window, gpt4o.max_output_tokens),
        (Some(128_000), Some(16_384))
    );
    assert_eq!(gpt4o.input_cost_per_token.as_deref(), Some("0.0000025"));
    assert_eq!(gpt4o.output_cost_per_token.as_deref(), Some("0.00001"));
    assert!(gpt4o.supported_params.is_empty(), "the provider's list");
    for id in ["gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini"] {
        assert!(model(id).context_window.is_some(), "{id}");
    }
    let o3 = model("o3-mini");
    assert_eq!(
        (o3.context_window, o3.max_output_tokens),
        (Some(200_000), Some(100_000))
    );
    assert!(!o3.supported_params.iter().any(|p| p == "temperature"));
    assert!(o3.supported_params.iter().any(|p| p == "reasoning_effort"));
}

#[test]
fn the_module_round_trips_through_the_abi() {
    let handle = PluginHandle::from_static(plugin_module()).unwrap();
    assert_eq!(handle.metadata().name, "openai");
    let instance = handle
        .instantiate(&config("openai", None, Some("sk-abi-test-key"), &[]))
        .unwrap();
    let ctx = RequestContext {
        stream: true,
        include_usage: false,
        ..RequestContext::default()
    };
    let r = instance
        .build_request(
            "chat",
            br#"{"model":"gpt","messages":[],"stream":true}"#,
            &ctx,
        )
        .unwrap();
    assert_eq!(r.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(sent(&r)["stream_options"]["include_usage"], true);

    let mut decoder = instance.stream_decoder(&ctx).unwrap();
    let out = decoder.feed(b"data: {\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n");
    assert_eq!(out.sse, b"data: [DONE]\n\n", "usage chunk hidden");
    assert_eq!(out.info.usage.unwrap().total_tokens, 3);

    let e = handle
        .instantiate(&config("openai", Some("localhost:8000"), None, &[]))
        .unwrap_err();
    assert!(e.message.contains("api_base"), "{}", e.message);
}

#[test]
fn rewrites_only_the_model_and_keeps_the_rest_byte_for_byte() {
    let body = br#"{"model":"my-group","messages":[{"role":"user","content":"h\u00e9 \"x\""}],"temperature":0.70,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto","response_format":{"type":"json_object"},"metadata":{"k":"v"},"top_k":5}"#;
    let r = build_bytes(&with_key(), body, false).unwrap();
    let expected = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"h\u00e9 \"x\""}],"temperature":0.70,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto","response_format":{"type":"json_object"},"metadata":{"k":"v"},"top_k":5}"#;
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(
        header(&r, "authorization"),
        Some("Bearer sk-test-0123456789")
    );
    assert_eq!(header(&r, "accept"), None);
    assert!(r.simulated.is_none());
}

#[test]
fn gateway_only_fields_are_stripped() {
    let body = json!({
        "model": "g", "messages": [],
        "fallbacks": ["other"], "context_window_fallbacks": [{"g": ["h"]}],
        "content_policy_fallbacks": [], "num_retries": 3, "drop_params": true,
        "api_base": "https://evil.example", "api_key": "sk-other", "base_url": "x",
        "api_version": "2024", "mock_response": "hi", "mock_failure": "rate_limit",
        "user_api_key_alias": "a", "user_api_key_hash": "b", "litellm_trace_id": "t",
        "metadata": {"tags": ["x"]}, "user": "u-1", "unknown_x": 1
    });
    let r = build(&with_key(), body, false).unwrap();
    let sent = sent(&r);
    let keys: Vec<&str> = sent
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["messages", "metadata", "model", "unknown_x", "user"],
        "metadata, user and unknown members reach the provider"
    );
    assert_eq!(r.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(
        header(&r, "authorization"),
        Some("Bearer sk-test-0123456789")
    );
}

#[test]
fn streams_always_ask_for_usage_and_keep_other_stream_options() {
    let p = with_key();
    let body = json!({"model": "g", "messages": [], "stream": true, "stream_options": {"include_obfuscation": false}});
    let r = build(&p, body, true).unwrap();
    assert_eq!(
        sent(&r)["stream_options"],
        json!({"include_obfuscation": false, "include_usage": true})
    );
    assert_eq!(header(&r, "accept"), Some("text/event-stream"));

    let body = json!({"model": "g", "messages": [], "stream": true, "stream_options": {"include_usage": false}});
    let r = build(&p, body, true).unwrap();
    assert_eq!(sent(&r)["stream_options"], json!({"include_usage": true}));

    // The body alone asking for a stream is enough, and the context alone too.
    let r = build(
        &p,
        json!({"model": "g", "messages": [], "stream": true}),
        false,
    )
    .unwrap();
    assert_eq!(sent(&r)["stream_options"], json!({"include_usage": true}));
    let r = build(&p, json!({"model": "g", "messages": []}), true).unwrap();
    assert_eq!(sent(&r)["stream"], true);
    assert_eq!(sent(&r)["stream_options"], json!({"include_usage": true}));

    let r = build(
        &p,
        json!({"model": "g", "messages": [], "stream": false}),
        false,
    )
    .unwrap();
    assert!(sent(&r).get("stream_options").is_none());

    let e = build(
        &p,
        json!({"model": "g", "messages": [], "stream": true, "stream_options": "yes"}),
        true,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert_eq!(e.param.as_deref(), Some("stream_options"));
}

#[test]
fn reasoning_models_get_max_completion_tokens() {
    let mut c = config("openai", None, Some("sk-test-0123456789"), &[]);
    c.model = "o3-mini".to_owned();
    let p = OpenAiPlugin::instantiate(c).unwrap();
    let r = build(
        &p,
        json!({"model": "g", "messages": [], "max_tokens": 64}),
        false,
    )
    .unwrap();
    let sent_body = sent(&r);
    assert_eq!(sent_body["max_completion_tokens"], 64);
    assert!(sent_body.get("max_tokens").is_none());

    let body = json!({"model": "g", "messages": [], "max_tokens": 64, "max_completion_tokens": 32});
    let r = build(&p, body, false).unwrap();
    assert_eq!(
        sent(&r)["max_completion_tokens"],
        32,
        "the client's own wins"
    );

    let r = build(
        &with_key(),
        json!({"model": "g", "messages": [], "max_tokens": 64}),
        false,
    )
    .unwrap();
    assert_eq!(sent(&r)["max_tokens"], 64, "other models keep max_tokens");
}

#[test]
fn a_missing_key_names_the_variable() {
    let p = deployment(None, None, &[]).unwrap();
    let e = build(&p, json!({"model": "g", "messages": []}), false).unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
    assert!(e.message.contains("OPENAI_API_KEY"), "{}", e.message);
    assert!(!e.kind.is_retryable());

    // An empty key is no key; a base that is OpenAI's own still needs one.
    let p = deployment(
        Some("https://API.openai.com/v1/"),
        Some(""),
        &[("OPENAI_API_KEY", " ")],
    )
    .unwrap();
    let e = build(&p, json!({"model": "g", "messages": []}), false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
}

#[test]
fn a_custom_api_base_needs_no_key_and_sends_no_authorization() {
    let p = deployment(Some("http://127.0.0.1:8000/v1/"), None, &[]).unwrap();
    let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
    assert_eq!(r.url, "http://127.0.0.1:8000/v1/chat/completions");
    assert_eq!(header(&r, "authorization"), None);

    let p = deployment(
        None,
        None,
        &[
            ("OPENAI_API_KEY", "sk-env-0123456789"),
            ("OPENAI_BASE_URL", "http://h:1/v1"),
        ],
    )
    .unwrap();
    let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
    assert_eq!(
        header(&r, "authorization"),
        Some("Bearer sk-env-0123456789")
    );
    assert_eq!(r.url, "http://h:1/v1/chat/completions");

    // The deployment's own settings win over the environment.
    let p = deployment(
        Some("https://gw.example/openai/v1"),
        Some("sk-own-0123456789"),
        &[
            ("OPENAI_API_KEY", "sk-env-0123456789"),
            ("OPENAI_API_BASE", "http://h:1/v1"),
        ],
    )
    .unwrap();
    let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
    assert_eq!(r.url, "https://gw.example/openai/v1/chat/completions");
    assert_eq!(
        header(&r, "authorization"),
        Some("Bearer sk-own-0123456789")
    );
}

#[test]
fn a_bad_api_base_is_rejected_naming_the_field() {
    for bad in [
        "ftp://x",
        "localhost:8000/v1",
        "https://",
        "http:///v1",
        "http://h/v1?x=1",
    ] {
        let e = deployment(Some(bad), Some("k"), &[]).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("api_base"), "{bad}");
        assert!(e.message.contains("api_base"), "{bad}: {}", e.message);
    }
    let e = deployment(Some("https://user:s3cret-pw@h?x"), None, &[]).unwrap_err();
    assert!(!e.message.contains("s3cret-pw"), "{}", e.message);
}

#[test]
fn embeddings_and_completions_have_their_own_urls_and_unknown_endpoints_are_refused() {
    let ctx = RequestContext::default();
    for (endpoint, path) in [
        ("embeddings", "/embeddings"),
        ("completions", "/completions"),
    ] {
        let r = with_key()
            .build_request(RequestIn {
                endpoint,
                body: br#"{"model":"x","input":"hi","fallbacks":["a"]}"#,
                context: &ctx,
            })
            .unwrap();
        assert_eq!(r.url, format!("{DEFAULT_API_BASE}{path}"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(
            body.get("fallbacks").is_none(),
            "gateway-only members stay here"
        );
    }
    let e = with_key()
        .build_request(RequestIn {
            endpoint: "rerank",
            body: b"{}",
            context: &ctx,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("rerank"));
    let e = build_bytes(&with_key(), b"[]", false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

#[test]
fn embeddings_answers_report_their_usage() {
    let head = ResponseHead {
        status: 200,
        headers: vec![(
            switchyard_plugin_sdk::ENDPOINT_HEADER.to_owned(),
            "embeddings".to_owned(),
        )],
    };
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}"#;
    let parsed = with_key().parse_response(&head, body).unwrap();
    assert_eq!(parsed.info.usage.unwrap().prompt_tokens, 4);
    assert_eq!(parsed.body, body.to_vec());
}

#[test]
fn organization_and_extra_headers_are_sent() {
    let mut c = config("openai", None, Some("sk-test-0123456789"), &[]);
    c.params.insert("organization".to_owned(), json!("org-1"));
    c.params.insert(
        "extra_headers".to_owned(),
        json!({"X-Title": "switchyard", "Authorization": "Token abc"}),
    );
    let p = OpenAiPlugin::instantiate(c).unwrap();
    let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
    assert_eq!(header(&r, "openai-organization"), Some("org-1"));
    assert_eq!(header(&r, "x-title"), Some("switchyard"));
    assert_eq!(
        header(&r, "authorization"),
        Some("Token abc"),
        "configured header wins"
    );
    assert_eq!(
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .count(),
        1
    );

    let p = deployment(None, Some("k"), &[("OPENAI_ORGANIZATION", "org-env")]).unwrap();
    let r = build(&p, json!({"model": "g", "messages": []}), false).unwrap();
    assert_eq!(header(&r, "openai-organization"), Some("org-env"));

    let mut c = config("openai", None, Some("k"), &[]);
    c.params
        .insert("extra_headers".to_owned(), json!({"x-n": 1}));
    let e = OpenAiPlugin::instantiate(c).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("extra_headers"));
}

#[test]
fn debug_output_hides_the_key() {
    let p = with_key();
    let text = format!("{p:?}");
    assert!(!text.contains("sk-test-0123456789"), "{text}");
}

#[test]
fn responses_pass_through_with_their_info() {
    let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_x"}"#;
    let parsed = with_key().parse_response(&head(200, &[]), body).unwrap();
    assert_eq!(parsed.body, body);
    let usage = parsed.info.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens
        ),
        (12, 2, 8)
    );
    assert_eq!(parsed.info.finish_reason.as_deref(), Some("stop"));
    assert_eq!(parsed.info.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));

    let e = with_key()
        .parse_response(&head(200, &[]), b"<html>bad gateway</html>")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadResponse);
}

#[test]
fn errors_are_classified_with_the_providers_message() {
    let p = with_key();
    let cases = [
        (
            400,
            r#"{"error":{"message":"Invalid value: 'bot'. Supported values are: 'system', 'assistant', 'user'.","type":"invalid_request_error","param":"messages[0].role","code":"unsupported_value"}}"#,
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-ab****wxyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            ErrorKind::Authentication,
            401,
        ),
        (
            404,
            r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
            ErrorKind::NotFound,
            404,
        ),
        (
            429,
            r#"{"error":{"message":"Rate limit reached for gpt-4o on tokens per min.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
            ErrorKind::RateLimit,
            429,
        ),
        (
            500,
            r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#,
            ErrorKind::Unavailable,
            500,
        ),
        (
            503,
            r#"{"error":{"message":"The engine is currently overloaded."}}"#,
            ErrorKind::Unavailable,
            503,
        ),
        (
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
            ErrorKind::ContextWindowExceeded,
            400,
        ),
    ];
    for (status, body, kind, expected_status) in cases {
        let e = p.classify_error(&head(status, &[("retry-after", "2")]), body.as_bytes());
        assert_eq!((e.kind, e.status), (kind, expected_status), "{body}");
        let message: Value = serde_json::from_str(body).unwrap();
        assert!(
            e.message
                .contains(message["error"]["message"].as_str().unwrap()),
            "{}",
            e.message
        );
        assert!(e.message.starts_with("openai: "));
    }
    let e = p.classify_error(&head(400, &[]), cases[0].1.as_bytes());
    assert_eq!(e.param.as_deref(), Some("messages[0].role"));
    assert_eq!(e.code.as_deref(), Some("unsupported_value"));
    assert!(!e.kind.is_retryable());

    let e = p.classify_error(&head(429, &[("retry-after", "7")]), cases[3].1.as_bytes());
    assert_eq!(e.retry_after_ms, Some(7000));
    assert!(e.kind.is_retryable());
    let e = p.classify_error(&head(429, &[("retry-after-ms", "250")]), b"");
    assert_eq!(
        (e.kind, e.retry_after_ms),
        (ErrorKind::RateLimit, Some(250))
    );
    assert!(e.message.contains("429"), "{}", e.message);
}

#[test]
fn an_upstream_that_echoes_the_key_does_not_leak_it() {
    let p = deployment(
        Some("http://localhost:8000/v1"),
        Some("sk-local-secret-42"),
        &[],
    )
    .unwrap();
    let e = p.classify_error(
        &head(401, &[]),
        br#"{"error":{"message":"invalid key sk-local-secret-42"}}"#,
    );
    assert!(!e.message.contains("sk-local-secret-42"), "{}", e.message);
    assert!(e.message.contains("<redacted>"));
}

#[test]
fn the_stream_decoder_is_the_openai_one() {
    let ctx = RequestContext {
        stream: true,
        include_usage: true,
        ..RequestContext::default()
    };
    let mut d = with_key().stream_decoder(&ctx).unwrap();
    let body = b"data: {\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2,\"total_tokens\":6}}\n\ndata: [DONE]\n\n";
    let mut out = StreamOutput::default();
    d.feed(body, &mut out);
    d.finish(&mut out);
    assert_eq!(out.sse, body);
    assert!(out.done);
    assert_eq!(out.info.finish_reason.as_deref(), Some("stop"));
    assert_eq!(out.info.usage.unwrap().total_tokens, 6);
}

fn build_for(
    p: &OpenAi,
    endpoint: &str,
    body: &[u8],
    ctx: &RequestContext,
) -> Result<UpstreamRequest, ProviderError> {
    p.build_request(RequestIn {
        endpoint,
        body,
        context: ctx,
    })
}

fn endpoint_head(endpoint: &str, content_type: Option<&str>) -> ResponseHead {
    let mut h = head(200, &[(switchyard_plugin_sdk::ENDPOINT_HEADER, endpoint)]);
    if let Some(ct) = content_type {
        h.headers.push(("content-type".to_owned(), ct.to_owned()));
    }
    h
}

#[test]
fn native_json_endpoints_rewrite_only_the_model() {
    let body = br#"{"model":"group","input":"hi","reasoning":{"effort":"low"},"top_p":0.980,"user_api_key_alias":"x"}"#;
    for (endpoint, path) in [
        ("responses", "/responses"),
        ("images", "/images/generations"),
        ("audio_speech", "/audio/speech"),
    ] {
        let r = build_for(&with_key(), endpoint, body, &RequestContext::default()).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, format!("{DEFAULT_API_BASE}{path}"));
        assert_eq!(
            String::from_utf8(r.body.clone()).unwrap(),
            r#"{"model":"gpt-4o-mini","input":"hi","reasoning":{"effort":"low"},"top_p":0.980}"#
        );
        assert_eq!(
            header(&r, "authorization"),
            Some("Bearer sk-test-0123456789")
        );
        assert_eq!(header(&r, "content-type"), Some("application/json"));
    }
    let ctx = RequestContext {
        stream: true,
        ..RequestContext::default()
    };
    let r = build_for(
        &with_key(),
        "responses",
        br#"{"model":"g","input":"hi"}"#,
        &ctx,
    )
    .unwrap();
    assert_eq!(
        sent(&r),
        json!({"model": "gpt-4o-mini", "input": "hi", "stream": true})
    );
    assert_eq!(header(&r, "accept"), Some("text/event-stream"));
}

#[test]
fn transcriptions_forward_the_form_with_its_boundary() {
    let ct = "multipart/form-data; boundary=----b0undary";
    let form = |model: &str| {
        format!(
            "------b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\nID3 ------b0undary\r\n------b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n------b0undary--\r\n"
        )
        .into_bytes()
    };
    let ctx = RequestContext {
        content_type: Some(ct.to_owned()),
        ..RequestContext::default()
    };
    let r = build_for(&with_key(), "audio_transcriptions", &form("whisper"), &ctx).unwrap();
    assert_eq!(r.url, format!("{DEFAULT_API_BASE}/audio/transcriptions"));
    assert_eq!(header(&r, "content-type"), Some(ct));
    assert_eq!(r.body, form("gpt-4o-mini"));
    assert_eq!(
        header(&r, "authorization"),
        Some("Bearer sk-test-0123456789")
    );

    let e = build_for(
        &with_key(),
        "audio_transcriptions",
        &form("whisper"),
        &RequestContext::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("Content-Type"), "{}", e.message);
    let no_boundary = RequestContext {
        content_type: Some("multipart/form-data".to_owned()),
        ..RequestContext::default()
    };
    let e = build_for(
        &with_key(),
        "audio_transcriptions",
        &form("w"),
        &no_boundary,
    )
    .unwrap_err();
    assert!(e.message.contains("no boundary"), "{}", e.message);
}

#[test]
fn passthrough_sends_the_body_unchanged_to_the_given_path() {
    let ctx = |method: &str, path: &str, content_type: Option<&str>| RequestContext {
        passthrough: Some(switchyard_plugin_sdk::Passthrough {
            method: method.to_owned(),
            path: path.to_owned(),
        }),
        content_type: content_type.map(str::to_owned),
        ..RequestContext::default()
    };
    let body =
        br#"{"model":"client-choice","messages":[],"fallbacks":["kept: not ours to judge"]}"#;
    let r = build_for(
        &with_key(),
        "passthrough",
        body,
        &ctx("POST", "/v1/chat/completions", None),
    )
    .unwrap();
    assert_eq!(r.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(r.body, body);
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(
        header(&r, "authorization"),
        Some("Bearer sk-test-0123456789")
    );

    let r = build_for(
        &with_key(),
        "passthrough",
        b"",
        &ctx("get", "/models?limit=1", None),
    )
    .unwrap();
    assert_eq!(
        (r.method.as_str(), r.url.as_str()),
        ("GET", "https://api.openai.com/v1/models?limit=1")
    );
    assert_eq!(header(&r, "content-type"), None);

    let local = deployment(Some("http://localhost:8000"), None, &[]).unwrap();
    let r = build_for(
        &local,
        "passthrough",
        b"a,b",
        &ctx("PUT", "/v1/files/x", Some("text/csv")),
    )
    .unwrap();
    assert_eq!(r.url, "http://localhost:8000/v1/files/x");
    assert_eq!(header(&r, "content-type"), Some("text/csv"));
    assert_eq!(header(&r, "authorization"), None);

    let e = build_for(&with_key(), "passthrough", body, &RequestContext::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    let e = build_for(
        &deployment(None, None, &[]).unwrap(),
        "passthrough",
        body,
        &ctx("POST", "/v1/x", None),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
}

#[test]
fn native_answers_are_read_by_endpoint() {
    let p = with_key();
    let images = br#"{"created":1,"data":[{"url":"u"},{"url":"v"},{"url":"w"}]}"#;
    let parsed = p
        .parse_response(&endpoint_head("images", None), images)
        .unwrap();
    assert_eq!(parsed.body, images);
    assert_eq!(parsed.info.usage.unwrap().images, 3);

    let audio = b"\xff\xfb\x90\x00 mp3 frames";
    let parsed = p
        .parse_response(&endpoint_head("audio_speech", Some("audio/mpeg")), audio)
        .unwrap();
    assert_eq!(parsed.body, audio);
    assert_eq!(parsed.info.content_type.as_deref(), Some("audio/mpeg"));

    let vtt = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n";
    let parsed = p
        .parse_response(
            &endpoint_head("audio_transcriptions", Some("text/vtt; charset=utf-8")),
            vtt,
        )
        .unwrap();
    assert_eq!(
        parsed.info.content_type.as_deref(),
        Some("text/vtt; charset=utf-8")
    );

    let response = br#"{"object":"response","status":"completed","model":"gpt-5","output":[],"usage":{"input_tokens":3,"output_tokens":4}}"#;
    let parsed = p
        .parse_response(&endpoint_head("responses", None), response)
        .unwrap();
    assert_eq!(parsed.info.usage.unwrap().total_tokens, 7);
    let e = p
        .parse_response(
            &endpoint_head("responses", None),
            br#"{"error":{"message":"key sk-test-0123456789 revoked","code":"invalid_api_key"}}"#,
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert!(!e.message.contains("sk-test-0123456789"));
}

#[test]
fn a_responses_stream_is_passed_through() {
    let ctx = RequestContext {
        stream: true,
        endpoint: "responses".into(),
        ..RequestContext::default()
    };
    let body = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\",\"output\":[]}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"model\":\"gpt-5\",\"output\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}}\n\n";
    let mut d = with_key().stream_decoder(&ctx).unwrap();
    let mut out = StreamOutput::default();
    d.feed(body, &mut out);
    d.finish(&mut out);
    assert_eq!(out.sse, body);
    assert!(out.done);
    assert_eq!(out.info.usage.unwrap().total_tokens, 3);
}

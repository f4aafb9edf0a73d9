use serde_json::{json, Value};
use switchyard_plugin_sdk::{Passthrough, StreamDecoder, StreamOutput};

use super::*;

fn deployment(api_base: Option<&str>) -> Anthropic {
    AnthropicPlugin::instantiate(DeploymentConfig {
        provider: "anthropic".into(),
        model: "claude-haiku-4-5".into(),
        api_key: Some("sk-ant-test".into()),
        api_base: api_base.map(str::to_owned),
        ..DeploymentConfig::default()
    })
    .unwrap()
}

fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn ctx(request_id: &str, stream: bool) -> RequestContext {
    RequestContext {
        request_id: request_id.into(),
        now_unix_ms: 1_700_000_000_000,
        stream,
        include_usage: stream,
        ..RequestContext::default()
    }
}

const MESSAGES_BODY: &[u8] =
    br#"{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn metadata_declares_the_native_endpoints() {
    let m = AnthropicPlugin::metadata();
    assert_eq!(m.endpoints, ["chat", "messages", "passthrough"]);
}

#[test]
fn messages_go_to_the_messages_url_with_the_chat_headers() {
    for base in [
        None,
        Some("https://proxy.example/v1"),
        Some("https://proxy.example/v1/messages/"),
    ] {
        let p = deployment(base);
        let r = p
            .build_request(RequestIn {
                endpoint: MESSAGES,
                body: MESSAGES_BODY,
                context: &ctx("r", false),
            })
            .unwrap();
        let root = base.map_or("https://api.anthropic.com", |_| "https://proxy.example");
        assert_eq!(r.url, format!("{root}/v1/messages"));
        assert_eq!(header(&r, "x-api-key"), Some("sk-ant-test"));
        assert_eq!(header(&r, "anthropic-version"), Some(ANTHROPIC_VERSION));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["model"], "claude-haiku-4-5");
        assert_eq!(v["max_tokens"], 64);
    }
    let e = deployment(None)
        .build_request(RequestIn {
            endpoint: "embeddings",
            body: b"{}",
            context: &ctx("r", false),
        })
        .unwrap_err();
    assert!(e.message.contains("'embeddings'"), "{}", e.message);
}

#[test]
fn passthrough_sends_the_body_unchanged_with_the_deployments_key() {
    let p = deployment(Some("https://proxy.example/v1"));
    let mut c = ctx("r", true);
    c.passthrough = Some(Passthrough {
        method: "post".into(),
        path: "/v1/messages?beta=true".into(),
    });
    let body = br#"{"model":"claude-x" , "stream":true}"#;
    let r = p
        .build_request(RequestIn {
            endpoint: PASSTHROUGH,
            body,
            context: &c,
        })
        .unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, "https://proxy.example/v1/messages?beta=true");
    assert_eq!(r.body, body);
    assert_eq!(header(&r, "x-api-key"), Some("sk-ant-test"));
    assert_eq!(header(&r, "anthropic-version"), Some(ANTHROPIC_VERSION));
    assert_eq!(header(&r, "accept"), Some("text/event-stream"));

    c.passthrough = Some(Passthrough {
        method: "GET".into(),
        path: "/v1/models".into(),
    });
    c.stream = false;
    let r = p
        .build_request(RequestIn {
            endpoint: PASSTHROUGH,
            body: b"",
            context: &c,
        })
        .unwrap();
    assert_eq!(
        (r.method.as_str(), header(&r, "content-type")),
        ("GET", None)
    );

    let mut missing = deployment(None);
    missing.api_key = None;
    let e = missing
        .build_request(RequestIn {
            endpoint: PASSTHROUGH,
            body: b"",
            context: &c,
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Authentication);
    assert!(!format!("{p:?}").contains("sk-ant-test"));
}

fn decode(d: &mut AnthropicStreamDecoder, body: &[u8]) -> StreamOutput {
    let mut out = StreamOutput::default();
    d.feed(body, &mut out);
    let mut end = StreamOutput::default();
    d.finish(&mut end);
    out.sse.extend(end.sse);
    out.info.merge(end.info);
    out.done |= end.done;
    out
}

#[test]
fn the_decoder_follows_the_endpoint_the_request_was_built_for() {
    let p = deployment(None);
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":2,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    // The host hands both calls the endpoint in the context.
    let native = RequestContext {
        endpoint: MESSAGES.into(),
        ..ctx("native", true)
    };
    p.build_request(RequestIn {
        endpoint: MESSAGES,
        body: MESSAGES_BODY,
        context: &native,
    })
    .unwrap();
    let chat = RequestContext {
        endpoint: CHAT.into(),
        ..ctx("chat", true)
    };
    p.build_request(RequestIn {
        endpoint: CHAT,
        body: &serde_json::to_vec(
            &json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}),
        )
        .unwrap(),
        context: &chat,
    })
    .unwrap();

    let out = decode(&mut p.stream_decoder(&native).unwrap(), stream.as_bytes());
    assert_eq!(out.sse, stream.as_bytes());
    assert!(out.done);
    assert_eq!(out.info.usage.unwrap().total_tokens, 5);

    let out = decode(&mut p.stream_decoder(&chat).unwrap(), stream.as_bytes());
    let text = String::from_utf8(out.sse).unwrap();
    assert!(text.contains("chat.completion.chunk") && text.ends_with("data: [DONE]\n\n"));

    let head = ResponseHead {
        status: 200,
        headers: vec![(ENDPOINT_HEADER.into(), MESSAGES.into())],
    };
    let answer = br#"{"id":"m","type":"message","model":"claude-x","content":[],"stop_reason":"tool_use","usage":{"input_tokens":2,"output_tokens":3}}"#;
    let parsed = p.parse_response(&head, answer).unwrap();
    assert_eq!(parsed.body, answer);
    assert_eq!(parsed.info.finish_reason.as_deref(), Some("tool_calls"));
}

use std::sync::Mutex;

use super::*;

#[derive(Debug)]
struct Fake {
    id: String,
    context_window: Option<u64>,
}

impl RouteTarget for Fake {
    fn id(&self) -> &str {
        &self.id
    }
    /// The fakes' ids are their providers.
    fn provider(&self) -> &str {
        &self.id
    }
    fn context_window(&self) -> Option<u64> {
        self.context_window
    }
}

fn fake(id: &str) -> Arc<Fake> {
    Arc::new(Fake {
        id: id.to_owned(),
        context_window: None,
    })
}

fn rate_limited(retry_after_ms: Option<u64>) -> GatewayError {
    let mut e = GatewayError::new(ErrorKind::RateLimit, "slow down");
    e.retry_after_ms = retry_after_ms;
    e
}

/// Runs a request where deployments whose id is in `failing` answer with `error()`, recording
/// which deployment each attempt went to.
async fn run(
    router: &Router<Fake>,
    request: RouteRequest<'_>,
    failing: &[&str],
    error: impl Fn() -> GatewayError,
) -> (Result<Routed<String, Fake>, RouteFailure>, Vec<String>) {
    let calls = Mutex::new(Vec::new());
    let result = router
        .route(&request, |target, _info| {
            calls.lock().unwrap().push(target.id.clone());
            let fail = failing.contains(&target.id.as_str());
            let e = error();
            async move {
                if fail {
                    Err(e)
                } else {
                    Ok(target.id.clone())
                }
            }
        })
        .await;
    (result, calls.into_inner().unwrap())
}

fn two_deployments(policy: RouterPolicy) -> Router<Fake> {
    Router::new(policy, Arc::new(LocalState::new())).group("g", vec![fake("a"), fake("b")])
}

fn req(model: &str) -> RouteRequest<'_> {
    RouteRequest {
        model,
        ..RouteRequest::default()
    }
}

#[tokio::test]
async fn a_429_is_retried_at_once_on_the_other_deployment_which_cools_the_first() {
    let router = two_deployments(RouterPolicy::default());
    let started = Instant::now();
    let mut served_by_b = 0;
    for _ in 0..20 {
        let (result, calls) = run(&router, req("g"), &["a"], || rate_limited(Some(30_000))).await;
        let routed = result.unwrap();
        assert_eq!(routed.value, "b");
        assert!(calls.len() <= 2, "{calls:?}");
        served_by_b += 1;
    }
    assert_eq!(served_by_b, 20);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no backoff between deployments"
    );
    let c = router
        .state()
        .cooldown("a", unix_ms())
        .expect("a cools down");
    assert_eq!(c.reason, ErrorKind::RateLimit);
    assert!(c.until_unix_ms > unix_ms() + 25_000);
}

#[tokio::test]
async fn errors_below_allowed_fails_do_not_cool_down() {
    let policy = RouterPolicy {
        allowed_fails: 2,
        num_retries: 0,
        ..RouterPolicy::default()
    };
    let router = two_deployments(policy);
    let err = || GatewayError::new(ErrorKind::Unavailable, "down");
    let mut failures = 0;
    while router.state().cooldown("a", unix_ms()).is_none() {
        let (result, calls) = run(&router, req("g"), &["a"], err).await;
        if calls == ["a"] {
            assert!(result.is_err());
            failures += 1;
        }
        assert!(failures <= 3);
    }
    assert_eq!(
        failures, 3,
        "cooled down on the failure after the allowed 2"
    );
}

#[tokio::test]
async fn all_deployments_cooling_down_is_an_error_naming_them() {
    let router = two_deployments(RouterPolicy::default());
    let (result, calls) = run(&router, req("g"), &["a", "b"], || {
        rate_limited(Some(20_000))
    })
    .await;
    assert_eq!(calls.len(), 2);
    let failure = result.unwrap_err();
    assert_eq!(failure.error.kind, ErrorKind::RateLimit);
    assert!(failure.error.message.contains("slow down"));
    assert!(failure
        .error
        .message
        .contains("no fallback is configured for model group 'g'"));

    let (result, calls) = run(&router, req("g"), &[], || rate_limited(None)).await;
    assert!(calls.is_empty());
    let e = result.unwrap_err().error;
    assert_eq!(e.code.as_deref(), Some("no_deployment_available"));
    assert_eq!(e.status, 429);
    assert!(
        e.message
            .contains("'a' is cooling down after rate_limit errors until 20"),
        "{}",
        e.message
    );
    assert!(e.message.contains("'b' is cooling down"), "{}", e.message);
    assert!(e.retry_after_ms.unwrap() > 15_000);
}

#[tokio::test]
async fn retries_then_fallback_with_counts() {
    let mut policy = RouterPolicy {
        num_retries: 2,
        ..RouterPolicy::default()
    };
    policy.fallbacks.insert("g".into(), vec!["fb".into()]);
    let router = Router::new(policy, Arc::new(LocalState::new()))
        .group("g", vec![fake("a"), fake("b"), fake("c")])
        .group("fb", vec![fake("f")]);
    let (result, calls) = run(&router, req("g"), &["a", "b", "c"], || {
        GatewayError::new(ErrorKind::Internal, "boom")
    })
    .await;
    let routed = result.unwrap();
    assert_eq!(routed.value, "f");
    assert_eq!(routed.model_group, "fb");
    assert_eq!(
        (routed.retries, routed.fallbacks, routed.max_retries),
        (0, 1, 2)
    );
    assert_eq!(
        calls.len(),
        4,
        "3 attempts on g (each on another deployment), then fb: {calls:?}"
    );
    let mut distinct = calls[..3].to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);
}

#[tokio::test]
async fn a_long_retry_after_goes_to_the_fallback_instead_of_waiting() {
    let mut policy = RouterPolicy::default();
    policy.fallbacks.insert("g".into(), vec!["fb".into()]);
    let router = Router::new(policy, Arc::new(LocalState::new()))
        .group("g", vec![fake("a")])
        .group("fb", vec![fake("f")]);
    let started = Instant::now();
    let (result, calls) = run(&router, req("g"), &["a"], || rate_limited(Some(7_000))).await;
    assert_eq!(result.unwrap().value, "f");
    assert_eq!(calls, ["a", "f"]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn the_same_deployment_is_retried_after_a_backoff_when_it_is_the_only_one() {
    let policy = RouterPolicy {
        num_retries: 1,
        ..RouterPolicy::default()
    };
    let router = Router::new(policy, Arc::new(LocalState::new())).group("g", vec![fake("a")]);
    let started = Instant::now();
    let (result, calls) = run(&router, req("g"), &["a"], || rate_limited(Some(300))).await;
    let failure = result.unwrap_err();
    assert_eq!(calls, ["a", "a"]);
    assert_eq!(failure.retries, 1);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        router.state().cooldown("a", unix_ms()).is_none(),
        "a single deployment is never cooled down"
    );
}

#[tokio::test]
async fn client_errors_are_neither_retried_nor_sent_to_fallbacks() {
    let mut policy = RouterPolicy::default();
    policy.fallbacks.insert("g".into(), vec!["fb".into()]);
    let router = two_deployments(policy).group("fb", vec![fake("f")]);
    let (result, calls) = run(&router, req("g"), &["a", "b"], || {
        GatewayError::invalid_request("bad", Some("temperature"))
    })
    .await;
    assert_eq!(calls.len(), 1);
    let e = result.unwrap_err().error;
    assert_eq!(e.message, "bad");
}

#[tokio::test]
async fn context_window_pre_check_goes_to_the_context_window_fallback() {
    let mut policy = RouterPolicy::default();
    policy
        .context_window_fallbacks
        .insert("small".into(), vec!["large".into()]);
    let small = Arc::new(Fake {
        id: "s".into(),
        context_window: Some(1000),
    });
    let large = Arc::new(Fake {
        id: "l".into(),
        context_window: Some(100_000),
    });
    let router = Router::new(policy, Arc::new(LocalState::new()))
        .group("small", vec![small])
        .group("large", vec![large]);
    let request = RouteRequest {
        prompt_tokens: Some(5000),
        ..req("small")
    };
    let (result, calls) = run(&router, request, &[], || rate_limited(None)).await;
    assert_eq!(calls, ["l"], "the small deployment is never called");
    assert_eq!(result.unwrap().fallbacks, 1);

    let request = RouteRequest {
        prompt_tokens: Some(500_000),
        ..req("small")
    };
    let (result, _) = run(&router, request, &[], || rate_limited(None)).await;
    let e = result.unwrap_err().error;
    assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
    assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
}

#[tokio::test]
async fn per_request_fallbacks_aliases_and_resolved_names() {
    let policy = RouterPolicy {
        num_retries: 0,
        ..RouterPolicy::default()
    };
    let router = Router::new(policy, Arc::new(LocalState::new()))
        .group("g", vec![fake("a")])
        .alias("gpt-4", "g")
        .resolver(Box::new(|name: &str| {
            name.starts_with("openai/").then(|| vec![fake(name)])
        }));
    let (result, _) = run(&router, req("gpt-4"), &[], || rate_limited(None)).await;
    assert_eq!(result.unwrap().model_group, "g");
    let fallbacks = vec!["nope".to_owned(), "openai/gpt-4o".to_owned()];
    let request = RouteRequest {
        fallbacks: Some(&fallbacks),
        ..req("g")
    };
    let (result, calls) = run(&router, request, &["a"], || {
        GatewayError::new(ErrorKind::Unavailable, "down")
    })
    .await;
    let routed = result.unwrap();
    assert_eq!(routed.model_group, "openai/gpt-4o");
    assert_eq!(calls, ["a", "openai/gpt-4o"]);
    let (result, _) = run(&router, req("unknown"), &[], || rate_limited(None)).await;
    assert_eq!(
        result.unwrap_err().error.code.as_deref(),
        Some("model_not_found")
    );
}

#[test]
fn times_are_rfc3339_utc() {
    assert_eq!(rfc3339(1_764_064_800_123), "2025-11-25T10:00:00.123Z");
}

#[tokio::test]
async fn a_request_bound_to_a_provider_only_goes_to_its_deployments() {
    let router = two_deployments(RouterPolicy::default());
    for _ in 0..10 {
        let request = RouteRequest {
            model: "g",
            provider: Some("b"),
            ..RouteRequest::default()
        };
        let (result, calls) = run(&router, request, &[], || rate_limited(None)).await;
        assert!(result.is_ok());
        assert_eq!(calls, ["b"]);
    }
    let request = RouteRequest {
        model: "g",
        provider: Some("c"),
        ..RouteRequest::default()
    };
    let (result, calls) = run(&router, request, &[], || rate_limited(None)).await;
    let e = result.err().unwrap().error;
    assert_eq!(e.code.as_deref(), Some("unsupported_endpoint"));
    assert!(e.message.contains("of provider 'c'"), "{}", e.message);
    assert!(calls.is_empty());
}

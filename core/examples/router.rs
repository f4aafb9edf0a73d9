//! The router on its own, without the gateway: two model groups of made-up deployments, one of
//! them flaky, and a fallback. An "attempt" here is any async function — an HTTP call, a gRPC
//! call, a local model — the router only needs to know whether it failed, and how.
//!
//! `cargo run -p switchyard-core --example router`

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use switchyard_core::router::{LocalState, RouteRequest, RouteTarget, Router, RouterPolicy};
use switchyard_core::GatewayError;
use switchyard_plugin_sdk::ErrorKind;

/// A deployment that is overloaded (503) on every `fail_every`-th call.
#[derive(Debug)]
struct Replica {
    id: &'static str,
    fail_every: u32,
    calls: AtomicU32,
}

impl RouteTarget for Replica {
    fn id(&self) -> &str {
        self.id
    }
}

impl Replica {
    fn new(id: &'static str, fail_every: u32) -> Arc<Replica> {
        Arc::new(Replica {
            id,
            fail_every,
            calls: AtomicU32::new(0),
        })
    }

    async fn complete(&self, prompt: &str) -> Result<String, GatewayError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && n % self.fail_every == 0 {
            return Err(GatewayError::new(ErrorKind::Unavailable, "overloaded"));
        }
        Ok(format!("{}: {prompt}", self.id))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut policy = RouterPolicy {
        num_retries: 2,
        allowed_fails: 20,
        ..RouterPolicy::default()
    };
    policy
        .fallbacks
        .insert("chat".to_owned(), vec!["backup".to_owned()]);
    let router = Router::new(policy, Arc::new(LocalState::new()))
        .group(
            "chat",
            vec![Replica::new("chat-east", 3), Replica::new("chat-west", 4)],
        )
        .group("backup", vec![Replica::new("backup", 0)]);

    let served = Mutex::new(BTreeMap::<String, u32>::new());
    let (mut retries, mut fallbacks) = (0, 0);
    for i in 0..100 {
        let request = RouteRequest {
            model: "chat",
            ..RouteRequest::default()
        };
        let prompt = format!("request {i}");
        match router
            .route(&request, |replica, _attempt| {
                let prompt = prompt.clone();
                async move { replica.complete(&prompt).await }
            })
            .await
        {
            Ok(routed) => {
                *served
                    .lock()
                    .unwrap()
                    .entry(routed.target.id.to_owned())
                    .or_default() += 1;
                retries += routed.retries;
                fallbacks += routed.fallbacks;
            }
            Err(failure) => println!("request {i} failed: {}", failure.error),
        }
    }
    println!("served by: {:?}", served.into_inner().unwrap());
    println!("retries: {retries}, fallbacks: {fallbacks}");
    for id in ["chat-east", "chat-west"] {
        match router
            .state()
            .cooldown(id, switchyard_core::router::unix_ms())
        {
            Some(c) => println!("{id} is cooling down after {} errors", c.reason),
            None => println!("{id} is healthy"),
        }
    }
}

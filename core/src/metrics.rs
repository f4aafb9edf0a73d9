//! Metric names and recording. The host installs a recorder (Prometheus); as a library, core
//! only emits through the `metrics` facade, so embedding applications choose their own.
//!
//! Label values come from the config (model groups, deployments, providers) or from fixed
//! sets (routes, error kinds): never from client input, so cardinality stays bounded.

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use switchyard_plugin_sdk::Usage;

pub const REQUESTS: &str = "switchyard_requests_total";
pub const REQUEST_DURATION: &str = "switchyard_request_duration_seconds";
pub const UPSTREAM_DURATION: &str = "switchyard_upstream_duration_seconds";
pub const OVERHEAD_DURATION: &str = "switchyard_overhead_duration_seconds";
pub const TOKENS: &str = "switchyard_tokens_total";
pub const ERRORS: &str = "switchyard_errors_total";
pub const STREAMS_ENDED: &str = "switchyard_streams_ended_total";

/// Histogram buckets (seconds) suited to both gateway overhead and model latency.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Registers descriptions with the installed recorder.
pub fn describe() {
    describe_counter!(
        REQUESTS,
        "Requests answered, by route, model group, provider and status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time from request to response head"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Time waiting on the upstream (whole body, or first stream chunk), by deployment"
    );
    describe_histogram!(
        OVERHEAD_DURATION,
        Unit::Seconds,
        "Time spent in the gateway itself"
    );
    describe_counter!(
        TOKENS,
        "Tokens by model group, provider and direction (input/output)"
    );
    describe_counter!(
        ERRORS,
        "Failed requests by model group, provider and error kind"
    );
    describe_counter!(STREAMS_ENDED, "Committed streams by how they ended");
    describe_router();
}

/// Labels of one request, all from bounded sets.
#[derive(Debug, Clone)]
pub(crate) struct RequestLabels {
    pub(crate) route: &'static str,
    pub(crate) model_group: String,
    pub(crate) provider: String,
    /// Not labels (unbounded or numeric): for the request's log line.
    pub(crate) deployment: String,
    pub(crate) retries: u32,
    pub(crate) fallbacks: u32,
}

impl RequestLabels {
    pub(crate) fn new(route: &'static str) -> Self {
        RequestLabels {
            route,
            model_group: String::new(),
            provider: String::new(),
            deployment: String::new(),
            retries: 0,
            fallbacks: 0,
        }
    }
}

pub(crate) fn record_request(labels: &RequestLabels, status: u16, elapsed: Duration) {
    let labels = [
        ("route", labels.route.to_owned()),
        ("model_group", labels.model_group.clone()),
        ("provider", labels.provider.clone()),
        ("status", status.to_string()),
    ];
    counter!(REQUESTS, &labels).increment(1);
    histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
}

pub(crate) fn record_upstream(
    deployment: &str,
    provider: &str,
    upstream: Duration,
    overhead: Duration,
) {
    histogram!(UPSTREAM_DURATION, "deployment" => deployment.to_owned(), "provider" => provider.to_owned())
        .record(upstream.as_secs_f64());
    histogram!(OVERHEAD_DURATION).record(overhead.as_secs_f64());
}

pub(crate) fn record_usage(labels: &RequestLabels, usage: &Usage) {
    for (direction, n) in [
        ("input", usage.prompt_tokens),
        ("output", usage.completion_tokens),
    ] {
        counter!(
            TOKENS,
            "model_group" => labels.model_group.clone(),
            "provider" => labels.provider.clone(),
            "direction" => direction
        )
        .increment(n);
    }
}

pub(crate) fn record_error(labels: &RequestLabels, kind: &'static str) {
    counter!(
        ERRORS,
        "model_group" => labels.model_group.clone(),
        "provider" => labels.provider.clone(),
        "kind" => kind
    )
    .increment(1);
}

pub(crate) fn record_stream_end(labels: &RequestLabels, outcome: &'static str) {
    counter!(
        STREAMS_ENDED,
        "model_group" => labels.model_group.clone(),
        "provider" => labels.provider.clone(),
        "outcome" => outcome
    )
    .increment(1);
}

pub const RETRIES: &str = "switchyard_retries_total";
pub const FALLBACKS: &str = "switchyard_fallbacks_total";
pub const COOLDOWNS: &str = "switchyard_cooldowns_total";
pub const COOLING_DOWN: &str = "switchyard_deployments_cooling_down";
pub const DEPLOYMENT_FAILURES: &str = "switchyard_deployment_failures_total";

/// Registers the router's metric descriptions.
pub fn describe_router() {
    describe_counter!(
        RETRIES,
        "Retries, by model group and the error that caused them"
    );
    describe_counter!(
        FALLBACKS,
        "Fallbacks invoked, by requested group, fallback group and error kind"
    );
    describe_counter!(
        COOLDOWNS,
        "Deployments put in cooldown, by deployment and error kind"
    );
    describe_gauge!(COOLING_DOWN, "Deployments cooling down now");
    describe_counter!(
        CONFIG_RELOADS,
        "Config reloads applied (SIGHUP or POST /config/reload)"
    );
    describe_gauge!(
        "switchyard_shared_state_up",
        "1 while the shared state (Redis) answers, 0 while this replica serves on local state"
    );
    describe_counter!(
        "switchyard_shared_state_errors_total",
        "Calls to the shared state (Redis) that failed"
    );
    describe_counter!(
        DEPLOYMENT_FAILURES,
        "Failed upstream attempts, by model group, deployment and error kind"
    );
}

pub const CONFIG_RELOADS: &str = "switchyard_config_reloads_total";

pub(crate) fn config_reloaded() {
    metrics::counter!(CONFIG_RELOADS).increment(1);
}

pub(crate) fn record_retry(model_group: &str, kind: &'static str) {
    counter!(RETRIES, "model_group" => model_group.to_owned(), "kind" => kind).increment(1);
}

pub(crate) fn record_fallback(from: &str, to: &str, kind: &'static str) {
    counter!(FALLBACKS, "model_group" => from.to_owned(), "fallback" => to.to_owned(), "kind" => kind)
        .increment(1);
}

pub(crate) fn record_cooldown(deployment: &str, kind: &'static str) {
    counter!(COOLDOWNS, "deployment" => deployment.to_owned(), "kind" => kind).increment(1);
}

pub(crate) fn set_cooling_down(n: usize) {
    gauge!(COOLING_DOWN).set(n as f64);
}

pub(crate) fn record_deployment_failure(model_group: &str, deployment: &str, kind: &'static str) {
    counter!(
        DEPLOYMENT_FAILURES,
        "model_group" => model_group.to_owned(),
        "deployment" => deployment.to_owned(),
        "kind" => kind
    )
    .increment(1);
}

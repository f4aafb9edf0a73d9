//! Metric names and recording. The host installs a recorder (Prometheus); as a library, core
//! only emits through the `metrics` facade, so embedding applications choose their own.
//!
//! Label values come from the config (model groups, deployments, providers) or from fixed
//! sets (routes, error kinds): never from client input, so cardinality stays bounded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;

use foldhash::fast::RandomState;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, Counter, Histogram,
    Label, Unit,
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
    let digits = status_digits(status);
    let status = std::str::from_utf8(&digits).unwrap_or("000");
    let values = [labels.route, &labels.model_group, &labels.provider, status];
    let keys = ["route", "model_group", "provider", "status"];
    COUNTERS.with(|c| c.borrow_mut().get(REQUESTS, &keys, &values).increment(1));
    HISTOGRAMS.with(|h| {
        h.borrow_mut()
            .get(REQUEST_DURATION, &keys, &values)
            .record(elapsed.as_secs_f64())
    });
}

/// A status code's three digits, without the formatter.
fn status_digits(status: u16) -> [u8; 3] {
    let status = status.min(999);
    [
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

pub(crate) fn record_upstream(
    deployment: &str,
    provider: &str,
    upstream: Duration,
    overhead: Duration,
) {
    HISTOGRAMS.with(|h| {
        let mut h = h.borrow_mut();
        h.get(
            UPSTREAM_DURATION,
            &["deployment", "provider"],
            &[deployment, provider],
        )
        .record(upstream.as_secs_f64());
        h.get(OVERHEAD_DURATION, &[], &[])
            .record(overhead.as_secs_f64());
    });
}

pub(crate) fn record_usage(labels: &RequestLabels, usage: &Usage) {
    COUNTERS.with(|c| {
        let mut c = c.borrow_mut();
        for (direction, n) in [
            ("input", usage.prompt_tokens),
            ("output", usage.completion_tokens),
        ] {
            c.get(
                TOKENS,
                &["model_group", "provider", "direction"],
                &[&labels.model_group, &labels.provider, direction],
            )
            .increment(n);
        }
    });
}

pub(crate) fn record_error(labels: &RequestLabels, kind: &'static str) {
    COUNTERS.with(|c| {
        c.borrow_mut()
            .get(
                ERRORS,
                &["model_group", "provider", "kind"],
                &[&labels.model_group, &labels.provider, kind],
            )
            .increment(1)
    });
}

pub(crate) fn record_stream_end(labels: &RequestLabels, outcome: &'static str) {
    COUNTERS.with(|c| {
        c.borrow_mut()
            .get(
                STREAMS_ENDED,
                &["model_group", "provider", "outcome"],
                &[&labels.model_group, &labels.provider, outcome],
            )
            .increment(1)
    });
}

/// A metric handle the facade can resolve from a name and labels.
trait Resolve {
    fn resolve(name: &'static str, labels: Vec<Label>) -> Self;
}

impl Resolve for Counter {
    fn resolve(name: &'static str, labels: Vec<Label>) -> Self {
        metrics::counter!(name, labels)
    }
}

impl Resolve for Histogram {
    fn resolve(name: &'static str, labels: Vec<Label>) -> Self {
        metrics::histogram!(name, labels)
    }
}

/// Resolved handles of one kind, by metric name and label values.
#[derive(Debug)]
struct Handles<H> {
    hasher: RandomState,
    /// By a hash of name and values; the entries keep both to tell collisions apart.
    by_hash: HashMap<u64, Vec<Entry<H>>, RandomState>,
    len: usize,
}

/// A metric name, its label values, and their handle.
type Entry<H> = (&'static str, Box<[Box<str>]>, H);

/// Entries per thread before a cache starts over: label sets are bounded by the config, but
/// reloads can retire groups.
const HANDLES_PER_THREAD: usize = 4096;

impl<H: Resolve> Handles<H> {
    fn new() -> Self {
        Handles {
            hasher: RandomState::default(),
            by_hash: HashMap::default(),
            len: 0,
        }
    }

    /// The handle of metric `name` for `values` of the label `keys` (fixed per name).
    fn get(&mut self, name: &'static str, keys: &[&'static str], values: &[&str]) -> &H {
        let mut state = self.hasher.build_hasher();
        name.hash(&mut state);
        values.hash(&mut state);
        let hash = state.finish();
        let same = |(n, v, _): &Entry<H>| {
            *n == name && v.len() == values.len() && v.iter().zip(values).all(|(a, b)| **a == **b)
        };
        if self.len >= HANDLES_PER_THREAD
            && !self.by_hash.get(&hash).is_some_and(|b| b.iter().any(same))
        {
            self.by_hash.clear();
            self.len = 0;
        }
        let bucket = self.by_hash.entry(hash).or_default();
        let at = match bucket.iter().position(same) {
            Some(at) => at,
            None => {
                let labels = keys
                    .iter()
                    .zip(values)
                    .map(|(k, v)| Label::new(*k, (*v).to_owned()))
                    .collect();
                let owned = values.iter().map(|v| Box::from(*v)).collect();
                bucket.push((name, owned, H::resolve(name, labels)));
                self.len += 1;
                bucket.len() - 1
            }
        };
        &bucket[at].2
    }
}

thread_local! {
    // The per-request metrics' handles this thread has used. Resolving a handle through the
    // facade's macros builds a `Key` (a vector of owned label strings) and looks it up in the
    // recorder's shared registry on every call: 6 % of the gateway's instructions per request
    // in a callgrind profile. Handles stay valid for the life of the recorder, so each thread
    // keeps the ones it used — no allocation, no shared lock. The recorder is installed before
    // serving, as the host does; handles resolved before that stay no-ops.
    static COUNTERS: RefCell<Handles<Counter>> = RefCell::new(Handles::new());
    static HISTOGRAMS: RefCell<Handles<Histogram>> = RefCell::new(Handles::new());
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

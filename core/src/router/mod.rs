//! The router: model groups of deployments, a routing strategy, retries with backoff,
//! cooldowns and fallbacks — LiteLLM Router semantics, so `router_settings` keep their meaning.
//!
//! It is generic over what a deployment is ([`RouteTarget`]) and over what an attempt does (a
//! closure), so it can be used on its own: the gateway's engine is one user, where an attempt
//! is an upstream HTTP call through a plugin; `examples/router.rs` is another.
//!
//! Where LiteLLM hurts its users, the router does otherwise (docs/routing.md):
//! - a retry goes to another healthy deployment at once, without a backoff; the backoff is only
//!   for retrying the same deployment;
//! - a wait longer than `wait_before_fallback` (an upstream `Retry-After: 30`) is not sat out
//!   when a fallback group is configured: the fallback answers instead;
//! - when every deployment of a group is cooling down, the error says which and until when.

mod policy;
mod state;
mod strategy;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use switchyard_plugin_sdk::ErrorKind;

use crate::error::{ErrorOrigin, GatewayError};
use crate::metrics;

pub use policy::{ErrorClass, PerClass, RouterPolicy};
pub(crate) use state::kind_code;
pub use state::{unix_ms, Cooldown, Load, LocalState, RouterState};
pub use strategy::RoutingStrategy;

/// What the router needs to know about a deployment.
pub trait RouteTarget: Send + Sync + 'static {
    /// Stable deployment id (also the key of its state).
    fn id(&self) -> &str;
    /// `weight` for `simple-shuffle`.
    fn weight(&self) -> Option<f64> {
        None
    }
    /// Requests per minute the deployment accepts.
    fn rpm_limit(&self) -> Option<u64> {
        None
    }
    /// Tokens per minute the deployment accepts.
    fn tpm_limit(&self) -> Option<u64> {
        None
    }
    /// A price per token for ranking (`cost-based-routing`); only compared, never billed.
    fn cost_rank(&self) -> Option<f64> {
        None
    }
    /// Context window in tokens, for the pre-call check.
    fn context_window(&self) -> Option<u64> {
        None
    }
    /// Whether the deployment's own budget is spent (it is skipped until its window resets).
    fn exhausted(&self) -> bool {
        false
    }
    /// Whether the deployment serves the API endpoint `endpoint` (`chat`, `rerank`, ...).
    fn serves(&self, _endpoint: &str) -> bool {
        true
    }
    /// The provider id of the deployment (`openai`), for requests bound to one provider.
    fn provider(&self) -> &str {
        ""
    }
}

/// Builds the deployments of a model name that is not a configured group (a `provider/model`
/// string under a wildcard entry, or a fallback target), or `None`.
pub type Resolver<T> = Box<dyn Fn(&str) -> Option<Vec<Arc<T>>> + Send + Sync>;

/// Most distinct names resolved on demand (through wildcard entries) per process.
const RESOLVED_CACHE_LIMIT: usize = 1024;

/// A request as the router sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteRequest<'a> {
    /// Endpoint ids the request can be served on (any of them); empty means any.
    pub endpoints: &'a [&'a str],
    /// Only deployments of this provider (pass-through routes).
    pub provider: Option<&'a str>,
    /// Model group, alias or `provider/model` string.
    pub model: &'a str,
    pub stream: bool,
    /// Per-request `num_retries`.
    pub num_retries: Option<u32>,
    /// Per-request `fallbacks`.
    pub fallbacks: Option<&'a [String]>,
    /// Estimated prompt tokens, for the context-window pre-call check.
    pub prompt_tokens: Option<u64>,
    /// No attempt starts, and no backoff is waited, past this instant.
    pub deadline: Option<Instant>,
}

/// One attempt, as handed to the attempt closure.
#[derive(Debug, Clone, Copy)]
pub struct AttemptInfo {
    /// 0 for the first upstream call of the request, then 1, 2, ... across groups.
    pub number: u32,
    /// Retries so far in the current group.
    pub retry: u32,
    /// Fallback groups tried so far.
    pub fallback: u32,
}

/// Keeps a deployment's in-flight count up while alive (hold it until a stream ends).
pub struct InFlight {
    state: Arc<dyn RouterState>,
    deployment: String,
}

impl InFlight {
    /// Counts tokens the request used against the deployment's tokens-per-minute.
    pub fn add_tokens(&self, tokens: u64) {
        self.state.add_tokens(&self.deployment, tokens, unix_ms());
    }
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("deployment", &self.deployment)
            .finish()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.end(&self.deployment);
    }
}

/// A successful request: the attempt's value and how it was obtained.
#[derive(Debug)]
pub struct Routed<R, T> {
    pub value: R,
    pub target: Arc<T>,
    /// The group that served (the fallback group after a fallback).
    pub model_group: String,
    /// Retries within the serving group.
    pub retries: u32,
    /// Fallback groups tried.
    pub fallbacks: u32,
    /// The configured retries of the requested group.
    pub max_retries: u32,
    pub in_flight: InFlight,
}

/// A failed request: the error to show and what was tried.
#[derive(Debug, Clone)]
pub struct RouteFailure {
    pub error: GatewayError,
    pub retries: u32,
    pub fallbacks: u32,
}

type Group<T> = Arc<[Arc<T>]>;

/// Model groups of deployments, with retries, cooldowns and fallbacks.
pub struct Router<T> {
    groups: HashMap<String, Group<T>>,
    aliases: HashMap<String, String>,
    resolver: Option<Resolver<T>>,
    resolved: RwLock<HashMap<String, Group<T>>>,
    policy: RouterPolicy,
    state: Arc<dyn RouterState>,
}

impl<T> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("groups", &self.groups.len())
            .field("strategy", &self.policy.strategy)
            .finish_non_exhaustive()
    }
}

/// A group gave up: the error to report, and the retries made in it.
enum GroupFailure {
    Failed(GatewayError, u32),
}

impl<T: RouteTarget> Router<T> {
    /// A router with this policy and state (use [`LocalState`] for one process).
    pub fn new(policy: RouterPolicy, state: Arc<dyn RouterState>) -> Self {
        Router {
            groups: HashMap::new(),
            aliases: HashMap::new(),
            resolver: None,
            resolved: RwLock::new(HashMap::new()),
            policy,
            state,
        }
    }

    /// Adds (or replaces) a model group.
    pub fn group(mut self, name: impl Into<String>, deployments: Vec<Arc<T>>) -> Self {
        self.groups.insert(name.into(), deployments.into());
        self
    }

    /// `model_group_alias`: requests for `alias` go to `group`.
    pub fn alias(mut self, alias: impl Into<String>, group: impl Into<String>) -> Self {
        self.aliases.insert(alias.into(), group.into());
        self
    }

    /// How names that are neither groups nor aliases are resolved.
    pub fn resolver(mut self, resolver: Resolver<T>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    pub fn policy(&self) -> &RouterPolicy {
        &self.policy
    }

    pub fn state(&self) -> &Arc<dyn RouterState> {
        &self.state
    }

    /// The deployments of a configured group.
    pub fn deployments(&self, group: &str) -> Option<&[Arc<T>]> {
        self.groups.get(group).map(|g| &g[..])
    }

    /// Whether `name` is a group, an alias of one, or resolvable.
    pub fn serves(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    /// The group a name resolves to, and its deployments.
    pub fn resolve(&self, name: &str) -> Option<(String, Group<T>)> {
        if let Some(g) = self.groups.get(name) {
            return Some((name.to_owned(), g.clone()));
        }
        if let Some(target) = self.aliases.get(name) {
            if let Some(g) = self.groups.get(target) {
                return Some((target.clone(), g.clone()));
            }
        }
        let resolver = self.resolver.as_ref()?;
        if let Some(g) = self
            .resolved
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Some((name.to_owned(), g.clone()));
        }
        // Names come from clients: past the limit, new names are refused rather than letting
        // state and metric labels grow without bound.
        if self
            .resolved
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            >= RESOLVED_CACHE_LIMIT
        {
            tracing::warn!(
                model = name,
                limit = RESOLVED_CACHE_LIMIT,
                "too many distinct models resolved through wildcard entries; refusing a new one"
            );
            return None;
        }
        let built: Group<T> = resolver(name).filter(|d| !d.is_empty())?.into();
        self.resolved
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_owned())
            .or_insert(built.clone());
        Some((name.to_owned(), built))
    }

    /// Publishes the gauges that are not updated on events (deployments cooling down).
    pub fn update_gauges(&self) {
        metrics::set_cooling_down(self.state.cooling_down(unix_ms()));
    }

    /// Routes one request: picks deployments, calls `attempt` until one succeeds or retries and
    /// fallbacks are exhausted.
    pub async fn route<R, F, Fut>(
        &self,
        request: &RouteRequest<'_>,
        mut attempt: F,
    ) -> Result<Routed<R, T>, RouteFailure>
    where
        F: FnMut(Arc<T>, AttemptInfo) -> Fut,
        Fut: Future<Output = Result<R, GatewayError>>,
    {
        let fail = |error, retries, fallbacks| RouteFailure {
            error,
            retries,
            fallbacks,
        };
        let (primary, deployments) = self.resolve(request.model).ok_or_else(|| {
            fail(
                GatewayError::new(
                    ErrorKind::NotFound,
                    format!("model '{}' is not served by this gateway", request.model),
                )
                .with_code("model_not_found")
                .with_param("model"),
                0,
                0,
            )
        })?;
        let max_retries = self.policy.max_retries(&primary, request.num_retries);
        let mut counter = 0u32;
        let (error, primary_retries) = match self
            .run_group(
                &primary,
                &deployments,
                request,
                &mut attempt,
                &mut counter,
                0,
            )
            .await
        {
            Ok((value, target, retries, in_flight)) => {
                return Ok(Routed {
                    value,
                    target,
                    model_group: primary,
                    retries,
                    fallbacks: 0,
                    max_retries,
                    in_flight,
                })
            }
            Err(GroupFailure::Failed(e, retries)) => (e, retries),
        };

        let list = self
            .policy
            .fallbacks_for(&primary, error.kind, request.fallbacks);
        if list.is_empty() {
            let error = if matches!(
                error.kind,
                ErrorKind::InvalidRequest | ErrorKind::UnsupportedParam
            ) {
                error
            } else {
                note(
                    error,
                    &format!("no fallback is configured for model group '{primary}'"),
                )
            };
            return Err(fail(error, primary_retries, 0));
        }
        let mut last = error;
        let mut fallbacks = 0u32;
        let mut skipped = Vec::new();
        for name in list {
            if fallbacks as usize >= self.policy.max_fallbacks {
                break;
            }
            if *name == primary {
                continue;
            }
            let Some((group, deployments)) = self.resolve(name) else {
                skipped.push(name.as_str());
                continue;
            };
            fallbacks += 1;
            metrics::record_fallback(&primary, &group, last.kind.as_str());
            match self
                .run_group(
                    &group,
                    &deployments,
                    request,
                    &mut attempt,
                    &mut counter,
                    fallbacks,
                )
                .await
            {
                Ok((value, target, retries, in_flight)) => {
                    return Ok(Routed {
                        value,
                        target,
                        model_group: group,
                        retries,
                        fallbacks,
                        max_retries,
                        in_flight,
                    })
                }
                Err(GroupFailure::Failed(e, _)) => last = e,
            }
        }
        let mut text = format!(
            "model group '{primary}' and {fallbacks} fallback group(s) failed; this is the last error"
        );
        if !skipped.is_empty() {
            text.push_str(&format!(
                "; fallback(s) {} are neither model groups nor provider/model strings served here",
                skipped.join(", ")
            ));
        }
        Err(fail(note(last, &text), 0, fallbacks))
    }

    async fn run_group<R, F, Fut>(
        &self,
        group: &str,
        deployments: &[Arc<T>],
        request: &RouteRequest<'_>,
        attempt: &mut F,
        counter: &mut u32,
        fallback: u32,
    ) -> Result<(R, Arc<T>, u32, InFlight), GroupFailure>
    where
        F: FnMut(Arc<T>, AttemptInfo) -> Fut,
        Fut: Future<Output = Result<R, GatewayError>>,
    {
        let mut retries = 0u32;
        let mut tried: Vec<usize> = Vec::new();
        let mut last: Option<GatewayError> = None;
        loop {
            // `retries` counts the retry about to be made; one that is given up before its
            // attempt starts was not made.
            let made = if last.is_some() { retries - 1 } else { retries };
            let now_ms = unix_ms();
            let healthy = self.healthy(group, deployments, request, now_ms);
            let healthy = match healthy {
                Ok(h) => h,
                Err(e) => return Err(GroupFailure::Failed(last.unwrap_or(e), made)),
            };
            let mut candidates: Vec<usize> = healthy
                .iter()
                .copied()
                .filter(|i| !tried.contains(i))
                .collect();
            if candidates.is_empty() {
                // Every healthy deployment has been tried: retry one of them after a backoff.
                let e = last
                    .clone()
                    .unwrap_or_else(|| GatewayError::internal("no deployment left to try"));
                let wait = policy::backoff(retries, e.retry_after_ms, self.policy.retry_after);
                let limit = if self.policy.has_fallback(group, request.fallbacks) && fallback == 0 {
                    self.policy.wait_before_fallback
                } else {
                    self.policy.max_retry_wait
                };
                let past_deadline = request.deadline.is_some_and(|d| Instant::now() + wait >= d);
                if wait > limit || past_deadline {
                    return Err(GroupFailure::Failed(e, made));
                }
                tokio::time::sleep(wait).await;
                tried.clear();
                candidates = healthy;
            }
            if request.deadline.is_some_and(|d| Instant::now() >= d) {
                let e = last.unwrap_or_else(|| {
                    GatewayError::new(
                        ErrorKind::Timeout,
                        "the request timed out before an attempt",
                    )
                    .with_code("timeout")
                });
                return Err(GroupFailure::Failed(e, made));
            }
            let refs: Vec<&Arc<T>> = candidates.iter().map(|&i| &deployments[i]).collect();
            let chosen =
                candidates[self
                    .policy
                    .strategy
                    .pick(&refs, &*self.state, now_ms, request.stream)];
            let target = deployments[chosen].clone();

            self.state.begin(target.id(), now_ms);
            let in_flight = InFlight {
                state: self.state.clone(),
                deployment: target.id().to_owned(),
            };
            let info = AttemptInfo {
                number: *counter,
                retry: retries,
                fallback,
            };
            *counter += 1;
            let started = Instant::now();
            match attempt(target.clone(), info).await {
                Ok(value) => {
                    self.state
                        .record_latency(target.id(), started.elapsed(), request.stream);
                    return Ok((value, target, retries, in_flight));
                }
                Err(e) => {
                    drop(in_flight);
                    metrics::record_deployment_failure(group, target.id(), e.kind.as_str());
                    self.after_failure(deployments.len(), &*target, &e);
                    tried.push(chosen);
                    let allowed = self.policy.retries_for(group, e.kind, request.num_retries);
                    if retries >= allowed {
                        return Err(GroupFailure::Failed(e, retries));
                    }
                    retries += 1;
                    metrics::record_retry(group, e.kind.as_str());
                    last = Some(e);
                }
            }
        }
    }

    /// Indexes of the deployments that may take a request now, or the error explaining why
    /// none may.
    fn healthy(
        &self,
        group: &str,
        deployments: &[Arc<T>],
        request: &RouteRequest<'_>,
        now_ms: u64,
    ) -> Result<Vec<usize>, GatewayError> {
        let mut healthy = Vec::with_capacity(deployments.len());
        let mut cooling: Vec<(&str, Cooldown)> = Vec::new();
        let mut at_limit: Vec<&str> = Vec::new();
        let mut too_small: Vec<(&str, u64)> = Vec::new();
        let mut spent: Vec<&str> = Vec::new();
        let mut unserved = 0;
        for (i, d) in deployments.iter().enumerate() {
            let serves =
                request.endpoints.is_empty() || request.endpoints.iter().any(|e| d.serves(e));
            if !serves || request.provider.is_some_and(|p| p != d.provider()) {
                unserved += 1;
                continue;
            }
            if let (Some(tokens), Some(window)) = (request.prompt_tokens, d.context_window()) {
                if tokens > window {
                    too_small.push((d.id(), window));
                    continue;
                }
            }
            if let Some(c) = self.state.cooldown(d.id(), now_ms) {
                cooling.push((d.id(), c));
                continue;
            }
            if d.exhausted() {
                spent.push(d.id());
                continue;
            }
            if d.rpm_limit().is_some() || d.tpm_limit().is_some() {
                let load = self.state.load(d.id(), now_ms);
                if d.rpm_limit().is_some_and(|l| load.rpm >= l)
                    || d.tpm_limit().is_some_and(|l| load.tpm >= l)
                {
                    at_limit.push(d.id());
                    continue;
                }
            }
            healthy.push(i);
        }
        if !healthy.is_empty() {
            return Ok(healthy);
        }
        if unserved == deployments.len() && !deployments.is_empty() {
            let endpoint = request.endpoints.first().copied().unwrap_or("chat");
            let of = request
                .provider
                .map(|p| format!(" of provider '{p}'"))
                .unwrap_or_default();
            return Err(GatewayError::invalid_request(
                format!(
                    "no deployment{of} of model group '{group}' serves the {endpoint} endpoint \
                     (its providers' plugins do not declare it)"
                ),
                Some("model"),
            )
            .with_code("unsupported_endpoint")
            .with_origin(Arc::new(ErrorOrigin {
                model_group: Some(group.to_owned()),
                ..ErrorOrigin::default()
            })));
        }
        if too_small.len() == deployments.len() && !deployments.is_empty() {
            let largest = too_small.iter().map(|(_, w)| *w).max().unwrap_or(0);
            return Err(GatewayError::new(
                ErrorKind::ContextWindowExceeded,
                format!(
                    "the prompt is about {} tokens, more than the context window of every \
                     deployment of model group '{group}' (largest: {largest})",
                    request.prompt_tokens.unwrap_or(0)
                ),
            )
            .with_code("context_length_exceeded")
            .with_origin(Arc::new(ErrorOrigin {
                model_group: Some(group.to_owned()),
                ..ErrorOrigin::default()
            })));
        }
        let mut parts = Vec::new();
        for (id, c) in &cooling {
            parts.push(format!(
                "'{id}' is cooling down after {} errors until {} ({:.1}s from now)",
                c.reason.as_str(),
                rfc3339(c.until_unix_ms),
                c.until_unix_ms.saturating_sub(now_ms) as f64 / 1000.0
            ));
        }
        for id in &at_limit {
            parts.push(format!("'{id}' is at its rpm/tpm limit for this minute"));
        }
        for id in &spent {
            parts.push(format!("'{id}' has spent its budget"));
        }
        for (id, w) in &too_small {
            parts.push(format!("'{id}' has a context window of {w} tokens"));
        }
        let rate_limited = !at_limit.is_empty()
            || !spent.is_empty()
            || cooling
                .iter()
                .any(|(_, c)| c.reason == ErrorKind::RateLimit);
        let wait_ms = cooling
            .iter()
            .map(|(_, c)| c.until_unix_ms.saturating_sub(now_ms))
            .chain((!at_limit.is_empty()).then(|| 60_000 - now_ms % 60_000))
            .min();
        let mut e = GatewayError::new(
            if rate_limited {
                ErrorKind::RateLimit
            } else {
                ErrorKind::Unavailable
            },
            format!(
                "no deployment of model group '{group}' is available: {}",
                parts.join("; ")
            ),
        )
        .with_code("no_deployment_available")
        .with_origin(Arc::new(ErrorOrigin {
            model_group: Some(group.to_owned()),
            ..ErrorOrigin::default()
        }));
        e.retry_after_ms = wait_ms;
        Err(e)
    }

    /// Cooldown bookkeeping after a failed attempt.
    fn after_failure(&self, group_size: usize, target: &T, e: &GatewayError) {
        // One deployment has nowhere else to send its traffic: cooling it down would only turn
        // its errors into "no deployment available" (LiteLLM does the same).
        if self.policy.disable_cooldowns || group_size <= 1 {
            return;
        }
        // The request was at fault, not the deployment.
        if matches!(
            e.kind,
            ErrorKind::InvalidRequest
                | ErrorKind::UnsupportedParam
                | ErrorKind::ContextWindowExceeded
                | ErrorKind::ContentPolicy
        ) {
            return;
        }
        let now_ms = unix_ms();
        let immediate = match e.kind {
            ErrorKind::RateLimit => e.retry_after_ms.is_some(),
            ErrorKind::Authentication | ErrorKind::Permission | ErrorKind::NotFound => true,
            _ => false,
        };
        let cool = immediate || {
            let fails = self.state.record_failure(target.id(), now_ms);
            fails > self.policy.allowed_fails_for(e.kind)
        };
        if !cool {
            return;
        }
        let duration = match (e.kind, e.retry_after_ms) {
            (ErrorKind::RateLimit, Some(ms)) => Duration::from_millis(ms.clamp(1_000, 3_600_000)),
            _ => self.policy.cooldown_time,
        };
        if duration.is_zero() {
            return;
        }
        self.state.start_cooldown(
            target.id(),
            Cooldown {
                until_unix_ms: now_ms + duration.as_millis() as u64,
                reason: e.kind,
            },
        );
        metrics::record_cooldown(target.id(), e.kind.as_str());
        metrics::set_cooling_down(self.state.cooling_down(now_ms));
    }
}

/// Appends the router's explanation to an error message.
fn note(mut e: GatewayError, text: &str) -> GatewayError {
    e.message = format!("{} ({text})", e.message);
    e
}

/// RFC 3339 UTC time of a Unix time in milliseconds.
pub(crate) fn rfc3339(unix_ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(unix_ms))
        .to_string()
}

#[cfg(test)]
mod tests;

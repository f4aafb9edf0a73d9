//! What the router does after a failure: how often to retry which error class, how many failures
//! a deployment may have before it cools down, where to fall back. The names follow LiteLLM's
//! `router_settings`, so existing configs keep their meaning.

use std::collections::HashMap;
use std::time::Duration;

use switchyard_plugin_sdk::ErrorKind;

use super::strategy::RoutingStrategy;

/// LiteLLM's exception classes, which `retry_policy` and `allowed_fails_policy` are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    BadRequest,
    Authentication,
    Timeout,
    RateLimit,
    ContentPolicyViolation,
    InternalServer,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::BadRequest,
        ErrorClass::Authentication,
        ErrorClass::Timeout,
        ErrorClass::RateLimit,
        ErrorClass::ContentPolicyViolation,
        ErrorClass::InternalServer,
    ];

    /// The class of an error kind.
    pub fn of(kind: ErrorKind) -> ErrorClass {
        match kind {
            ErrorKind::InvalidRequest
            | ErrorKind::UnsupportedParam
            | ErrorKind::ContextWindowExceeded
            | ErrorKind::NotFound => ErrorClass::BadRequest,
            ErrorKind::Authentication | ErrorKind::Permission => ErrorClass::Authentication,
            ErrorKind::Timeout => ErrorClass::Timeout,
            ErrorKind::RateLimit => ErrorClass::RateLimit,
            ErrorKind::ContentPolicy => ErrorClass::ContentPolicyViolation,
            ErrorKind::Unavailable | ErrorKind::BadResponse | ErrorKind::Internal => {
                ErrorClass::InternalServer
            }
        }
    }

    /// LiteLLM's name (`RateLimitError` → `RateLimitErrorRetries` in `retry_policy`).
    pub fn litellm_name(self) -> &'static str {
        match self {
            ErrorClass::BadRequest => "BadRequestError",
            ErrorClass::Authentication => "AuthenticationError",
            ErrorClass::Timeout => "TimeoutError",
            ErrorClass::RateLimit => "RateLimitError",
            ErrorClass::ContentPolicyViolation => "ContentPolicyViolationError",
            ErrorClass::InternalServer => "InternalServerError",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A count per error class (`retry_policy`, `allowed_fails_policy`); unset classes use the
/// general setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerClass([Option<u32>; 6]);

impl PerClass {
    pub fn get(&self, class: ErrorClass) -> Option<u32> {
        self.0[class.index()]
    }

    pub fn set(&mut self, class: ErrorClass, value: u32) {
        self.0[class.index()] = Some(value);
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Reads LiteLLM's map (`{RateLimitErrorRetries: 3, ...}` with `suffix` `Retries`). Unknown
    /// keys are returned so the caller can name them in an error.
    pub fn from_litellm<'a>(
        entries: impl IntoIterator<Item = (&'a str, u32)>,
        suffix: &str,
    ) -> Result<PerClass, String> {
        let mut out = PerClass::default();
        for (key, value) in entries {
            let class = ErrorClass::ALL
                .into_iter()
                .find(|c| key.strip_suffix(suffix) == Some(c.litellm_name()))
                .ok_or_else(|| {
                    let names: Vec<String> = ErrorClass::ALL
                        .iter()
                        .map(|c| format!("{}{suffix}", c.litellm_name()))
                        .collect();
                    format!("unknown key '{key}' (one of: {})", names.join(", "))
                })?;
            out.set(class, value);
        }
        Ok(out)
    }
}

/// Everything that decides retries, cooldowns and fallbacks.
#[derive(Debug, Clone)]
pub struct RouterPolicy {
    pub strategy: RoutingStrategy,
    /// Retries after the first attempt, per model group (LiteLLM's default is 2).
    pub num_retries: u32,
    pub group_num_retries: HashMap<String, u32>,
    /// Retries per error class; overrides `num_retries` for that class, and makes classes that
    /// are not retryable by default (content policy, bad request) retryable when > 0.
    pub retry_policy: PerClass,
    pub group_retry_policy: HashMap<String, PerClass>,
    /// Failures per minute a deployment may have before it cools down.
    pub allowed_fails: u32,
    pub allowed_fails_policy: PerClass,
    pub cooldown_time: Duration,
    pub disable_cooldowns: bool,
    /// Shortest wait before retrying on the same deployment (LiteLLM's `retry_after`).
    pub retry_after: Duration,
    /// Longest wait the router accepts before retrying on the same deployment (a longer
    /// `Retry-After` ends the retries). With a fallback configured, waits above
    /// `wait_before_fallback` go to the fallback instead.
    pub max_retry_wait: Duration,
    pub wait_before_fallback: Duration,
    pub fallbacks: HashMap<String, Vec<String>>,
    pub context_window_fallbacks: HashMap<String, Vec<String>>,
    pub content_policy_fallbacks: HashMap<String, Vec<String>>,
    /// Fallbacks of every group without its own entry (LiteLLM's `default_fallbacks` and the
    /// `"*"` entry of `fallbacks`).
    pub default_fallbacks: Vec<String>,
    /// Most fallback groups tried for one request.
    pub max_fallbacks: usize,
}

impl Default for RouterPolicy {
    fn default() -> Self {
        RouterPolicy {
            strategy: RoutingStrategy::SimpleShuffle,
            num_retries: 2,
            group_num_retries: HashMap::new(),
            retry_policy: PerClass::default(),
            group_retry_policy: HashMap::new(),
            allowed_fails: 3,
            allowed_fails_policy: PerClass::default(),
            cooldown_time: Duration::from_secs(5),
            disable_cooldowns: false,
            retry_after: Duration::ZERO,
            max_retry_wait: Duration::from_secs(60),
            wait_before_fallback: Duration::from_secs(2),
            fallbacks: HashMap::new(),
            context_window_fallbacks: HashMap::new(),
            content_policy_fallbacks: HashMap::new(),
            default_fallbacks: Vec::new(),
            max_fallbacks: 5,
        }
    }
}

impl RouterPolicy {
    /// How many retries an error of `kind` gets in `group`, given the request's `num_retries`.
    pub(crate) fn retries_for(&self, group: &str, kind: ErrorKind, request: Option<u32>) -> u32 {
        let class = ErrorClass::of(kind);
        let by_class = self
            .group_retry_policy
            .get(group)
            .and_then(|p| p.get(class))
            .or_else(|| self.retry_policy.get(class));
        if let Some(n) = by_class {
            return n;
        }
        if !kind.is_retryable() {
            return 0;
        }
        request
            .or_else(|| self.group_num_retries.get(group).copied())
            .unwrap_or(self.num_retries)
    }

    /// The configured retry count of a group (for `x-litellm-max-retries`).
    pub(crate) fn max_retries(&self, group: &str, request: Option<u32>) -> u32 {
        request
            .or_else(|| self.group_num_retries.get(group).copied())
            .unwrap_or(self.num_retries)
    }

    /// Failures per minute before a cooldown, for an error of `kind`.
    pub(crate) fn allowed_fails_for(&self, kind: ErrorKind) -> u32 {
        self.allowed_fails_policy
            .get(ErrorClass::of(kind))
            .unwrap_or(self.allowed_fails)
    }

    /// The groups to fall back to after `group` failed with `kind`.
    pub(crate) fn fallbacks_for<'a>(
        &'a self,
        group: &str,
        kind: ErrorKind,
        request: Option<&'a [String]>,
    ) -> &'a [String] {
        let specific = match kind {
            ErrorKind::ContextWindowExceeded => self.context_window_fallbacks.get(group),
            ErrorKind::ContentPolicy => self.content_policy_fallbacks.get(group),
            _ => None,
        };
        if let Some(list) = specific {
            return list;
        }
        if !falls_back(kind) {
            return &[];
        }
        if let Some(list) = request {
            return list;
        }
        self.fallbacks
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or(&self.default_fallbacks)
    }

    /// Whether any fallback could follow a failure of `group` (decides whether a long wait is
    /// worth it).
    pub(crate) fn has_fallback(&self, group: &str, request: Option<&[String]>) -> bool {
        request.is_some_and(|r| !r.is_empty())
            || self.fallbacks.get(group).is_some_and(|f| !f.is_empty())
            || !self.default_fallbacks.is_empty()
    }
}

/// Whether a failure of this kind is one another model group may not have: a deployment or
/// provider problem, as opposed to a malformed request that every model would reject.
fn falls_back(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::InvalidRequest | ErrorKind::UnsupportedParam
    )
}

/// Backoff before retry number `retry` (1-based) on the same deployment: the upstream's
/// `Retry-After` when it gave one, else 0.5 s × 2^(n-1) capped at 8 s; at least `floor`; with up
/// to 25 % jitter added so a crowd of retries does not arrive at once.
pub(crate) fn backoff(retry: u32, retry_after_ms: Option<u64>, floor: Duration) -> Duration {
    let base = match retry_after_ms {
        Some(ms) => Duration::from_millis(ms),
        None => {
            let exp = retry.saturating_sub(1).min(4);
            Duration::from_millis(500u64 << exp).min(Duration::from_secs(8))
        }
    };
    let base = base.max(floor);
    let jitter = rand::random::<f64>() * 0.25;
    base + base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_keys_are_litellm_names() {
        let p = PerClass::from_litellm(
            [("RateLimitErrorRetries", 5), ("BadRequestErrorRetries", 0)],
            "Retries",
        )
        .unwrap();
        assert_eq!(p.get(ErrorClass::RateLimit), Some(5));
        assert_eq!(p.get(ErrorClass::BadRequest), Some(0));
        assert_eq!(p.get(ErrorClass::Timeout), None);
        let e = PerClass::from_litellm([("RateLimitRetries", 1)], "Retries").unwrap_err();
        assert!(e.contains("RateLimitErrorRetries"), "{e}");
    }

    #[test]
    fn retries_follow_class_then_request_then_group_then_global() {
        let mut p = RouterPolicy {
            num_retries: 2,
            ..RouterPolicy::default()
        };
        assert_eq!(p.retries_for("g", ErrorKind::RateLimit, None), 2);
        assert_eq!(p.retries_for("g", ErrorKind::RateLimit, Some(0)), 0);
        assert_eq!(p.retries_for("g", ErrorKind::InvalidRequest, Some(5)), 0);
        p.group_num_retries.insert("g".into(), 4);
        assert_eq!(p.retries_for("g", ErrorKind::Timeout, None), 4);
        p.retry_policy.set(ErrorClass::ContentPolicyViolation, 1);
        assert_eq!(p.retries_for("g", ErrorKind::ContentPolicy, None), 1);
        p.retry_policy.set(ErrorClass::RateLimit, 0);
        assert_eq!(p.retries_for("g", ErrorKind::RateLimit, Some(3)), 0);
    }

    #[test]
    fn fallbacks_pick_the_list_for_the_error() {
        let mut p = RouterPolicy::default();
        p.fallbacks.insert("a".into(), vec!["b".into()]);
        p.context_window_fallbacks
            .insert("a".into(), vec!["big".into()]);
        p.default_fallbacks = vec!["any".into()];
        assert_eq!(p.fallbacks_for("a", ErrorKind::RateLimit, None), ["b"]);
        assert_eq!(
            p.fallbacks_for("a", ErrorKind::ContextWindowExceeded, None),
            ["big"]
        );
        assert_eq!(p.fallbacks_for("z", ErrorKind::Unavailable, None), ["any"]);
        assert!(p
            .fallbacks_for("a", ErrorKind::InvalidRequest, None)
            .is_empty());
        let req = vec!["r".to_owned()];
        assert_eq!(p.fallbacks_for("a", ErrorKind::Internal, Some(&req)), ["r"]);
    }

    #[test]
    fn backoff_honours_retry_after_and_grows_otherwise() {
        let d = backoff(1, Some(7000), Duration::ZERO);
        assert!(d >= Duration::from_secs(7) && d <= Duration::from_millis(8750));
        let first = backoff(1, None, Duration::ZERO);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(625));
        let late = backoff(10, None, Duration::ZERO);
        assert!(late >= Duration::from_secs(8) && late <= Duration::from_secs(10));
        assert!(backoff(1, None, Duration::from_secs(2)) >= Duration::from_secs(2));
    }
}

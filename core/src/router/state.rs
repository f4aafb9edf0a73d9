//! Router state: cooldowns, per-minute request and token counts, in-flight counts, latency.
//!
//! Behind a trait so several replicas can share it later (a Redis implementation keeps the
//! same contract). Times are Unix milliseconds, not `Instant`s, so they mean the same thing on
//! every replica. The in-memory implementation takes no lock shared by all requests: each
//! deployment has its own atomics, and the map of deployments is only written when a new
//! deployment id is first seen.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard_plugin_sdk::ErrorKind;

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why and until when a deployment is cooling down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldown {
    pub until_unix_ms: u64,
    pub reason: ErrorKind,
}

/// What the strategies read about one deployment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    pub in_flight: u64,
    /// Requests started in the current minute.
    pub rpm: u64,
    /// Tokens used in the current minute.
    pub tpm: u64,
    /// Moving average of the time to an answer (non-stream) in milliseconds.
    pub latency_ms: Option<f64>,
    /// Moving average of the time to the first chunk (streams) in milliseconds.
    pub ttft_ms: Option<f64>,
}

/// Shared router state. Methods are synchronous and cheap: they are on every request's path.
pub trait RouterState: Send + Sync + fmt::Debug {
    /// The active cooldown of a deployment.
    fn cooldown(&self, deployment: &str, now_ms: u64) -> Option<Cooldown>;
    /// Puts a deployment in cooldown (extends, never shortens, an active one).
    fn start_cooldown(&self, deployment: &str, cooldown: Cooldown);
    /// Counts a failure in the current minute; returns the failures counted in it so far.
    fn record_failure(&self, deployment: &str, now_ms: u64) -> u32;
    /// A request starts on a deployment (in-flight and requests-per-minute).
    fn begin(&self, deployment: &str, now_ms: u64);
    /// A request on a deployment is over (whatever its outcome).
    fn end(&self, deployment: &str);
    /// An attempt succeeded after `latency` (to the whole answer, or to the first chunk).
    fn record_latency(&self, deployment: &str, latency: Duration, stream: bool);
    /// Tokens a request used, for tokens-per-minute.
    fn add_tokens(&self, deployment: &str, tokens: u64, now_ms: u64);
    fn load(&self, deployment: &str, now_ms: u64) -> Load;
    /// How many deployments are cooling down now.
    fn cooling_down(&self, now_ms: u64) -> usize;
}

/// Weight of a new sample in the latency moving averages.
const EWMA_ALPHA: f64 = 0.2;

#[derive(Debug, Default)]
struct Stats {
    in_flight: AtomicU64,
    minute: AtomicU64,
    rpm: AtomicU64,
    tpm: AtomicU64,
    fail_minute: AtomicU64,
    fails: AtomicU32,
    cooldown_until: AtomicU64,
    cooldown_reason: AtomicU8,
    /// f64 bits; 0 means no sample yet.
    latency: AtomicU64,
    ttft: AtomicU64,
}

impl Stats {
    /// Resets the per-minute counters when a new minute has started.
    fn roll(&self, now_ms: u64) {
        let minute = now_ms / 60_000;
        let seen = self.minute.load(Ordering::Relaxed);
        if seen != minute
            && self
                .minute
                .compare_exchange(seen, minute, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.rpm.store(0, Ordering::Relaxed);
            self.tpm.store(0, Ordering::Relaxed);
        }
    }

    fn ewma(cell: &AtomicU64, sample_ms: f64) {
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            let old = f64::from_bits(bits);
            let new = if bits == 0 {
                sample_ms
            } else {
                old + EWMA_ALPHA * (sample_ms - old)
            };
            Some(new.max(f64::MIN_POSITIVE).to_bits())
        });
    }

    fn read_ewma(cell: &AtomicU64) -> Option<f64> {
        let bits = cell.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }
}

pub(crate) fn kind_code(kind: ErrorKind) -> u8 {
    ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

/// Router state in this process.
#[derive(Debug, Default)]
pub struct LocalState {
    stats: RwLock<HashMap<String, Arc<Stats>>>,
}

impl LocalState {
    pub fn new() -> Self {
        LocalState::default()
    }

    fn stats(&self, deployment: &str) -> Arc<Stats> {
        if let Some(s) = self
            .stats
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment)
        {
            return s.clone();
        }
        self.stats
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(deployment.to_owned())
            .or_default()
            .clone()
    }

    fn peek(&self, deployment: &str) -> Option<Arc<Stats>> {
        self.stats
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment)
            .cloned()
    }
}

/// One deployment's local counters, as a replica shares them with the others.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) load: Load,
    /// Failures counted in the current minute.
    pub(crate) fails: u32,
    pub(crate) cooldown: Option<Cooldown>,
}

impl LocalState {
    /// Every deployment's counters at `now_ms` (shared state publishes them).
    pub(crate) fn snapshot(&self, now_ms: u64) -> Vec<(String, Snapshot)> {
        let ids: Vec<String> = self
            .stats
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        ids.into_iter()
            .map(|id| {
                let fails = self.peek(&id).map_or(0, |s| {
                    if s.fail_minute.load(Ordering::Relaxed) == now_ms / 60_000 {
                        s.fails.load(Ordering::Relaxed)
                    } else {
                        0
                    }
                });
                let snap = Snapshot {
                    load: self.load(&id, now_ms),
                    fails,
                    cooldown: self.cooldown(&id, now_ms),
                };
                (id, snap)
            })
            .collect()
    }
}

impl RouterState for LocalState {
    fn cooldown(&self, deployment: &str, now_ms: u64) -> Option<Cooldown> {
        let s = self.peek(deployment)?;
        let until = s.cooldown_until.load(Ordering::Acquire);
        (until > now_ms).then(|| Cooldown {
            until_unix_ms: until,
            reason: ErrorKind::ALL[usize::from(s.cooldown_reason.load(Ordering::Relaxed))
                .min(ErrorKind::ALL.len() - 1)],
        })
    }

    fn start_cooldown(&self, deployment: &str, cooldown: Cooldown) {
        let s = self.stats(deployment);
        s.cooldown_reason
            .store(kind_code(cooldown.reason), Ordering::Relaxed);
        s.cooldown_until
            .fetch_max(cooldown.until_unix_ms, Ordering::AcqRel);
        // A fresh window of allowed failures once the cooldown is over.
        s.fails.store(0, Ordering::Relaxed);
    }

    fn record_failure(&self, deployment: &str, now_ms: u64) -> u32 {
        let s = self.stats(deployment);
        let minute = now_ms / 60_000;
        if s.fail_minute.swap(minute, Ordering::Relaxed) != minute {
            s.fails.store(0, Ordering::Relaxed);
        }
        s.fails.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn begin(&self, deployment: &str, now_ms: u64) {
        let s = self.stats(deployment);
        s.roll(now_ms);
        s.rpm.fetch_add(1, Ordering::Relaxed);
        s.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn end(&self, deployment: &str) {
        if let Some(s) = self.peek(deployment) {
            let _ = s
                .in_flight
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    fn record_latency(&self, deployment: &str, latency: Duration, stream: bool) {
        let s = self.stats(deployment);
        let ms = latency.as_secs_f64() * 1000.0;
        Stats::ewma(if stream { &s.ttft } else { &s.latency }, ms);
    }

    fn add_tokens(&self, deployment: &str, tokens: u64, now_ms: u64) {
        let s = self.stats(deployment);
        s.roll(now_ms);
        s.tpm.fetch_add(tokens, Ordering::Relaxed);
    }

    fn load(&self, deployment: &str, now_ms: u64) -> Load {
        let Some(s) = self.peek(deployment) else {
            return Load::default();
        };
        let current = s.minute.load(Ordering::Relaxed) == now_ms / 60_000;
        Load {
            in_flight: s.in_flight.load(Ordering::Relaxed),
            rpm: if current {
                s.rpm.load(Ordering::Relaxed)
            } else {
                0
            },
            tpm: if current {
                s.tpm.load(Ordering::Relaxed)
            } else {
                0
            },
            latency_ms: Stats::read_ewma(&s.latency),
            ttft_ms: Stats::read_ewma(&s.ttft),
        }
    }

    fn cooling_down(&self, now_ms: u64) -> usize {
        self.stats
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| s.cooldown_until.load(Ordering::Relaxed) > now_ms)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldowns_expire_and_never_shorten() {
        let s = LocalState::new();
        assert_eq!(s.cooldown("d", 1_000), None);
        s.start_cooldown(
            "d",
            Cooldown {
                until_unix_ms: 5_000,
                reason: ErrorKind::RateLimit,
            },
        );
        s.start_cooldown(
            "d",
            Cooldown {
                until_unix_ms: 3_000,
                reason: ErrorKind::RateLimit,
            },
        );
        let c = s.cooldown("d", 1_000).unwrap();
        assert_eq!(c.until_unix_ms, 5_000);
        assert_eq!(c.reason, ErrorKind::RateLimit);
        assert_eq!(s.cooling_down(1_000), 1);
        assert_eq!(s.cooldown("d", 5_000), None);
        assert_eq!(s.cooling_down(5_000), 0);
    }

    #[test]
    fn failures_and_requests_count_per_minute() {
        let s = LocalState::new();
        assert_eq!(s.record_failure("d", 0), 1);
        assert_eq!(s.record_failure("d", 59_999), 2);
        assert_eq!(s.record_failure("d", 60_000), 1);
        s.begin("d", 60_000);
        s.begin("d", 61_000);
        s.add_tokens("d", 100, 61_000);
        let l = s.load("d", 62_000);
        assert_eq!((l.in_flight, l.rpm, l.tpm), (2, 2, 100));
        s.end("d");
        let l = s.load("d", 125_000);
        assert_eq!((l.in_flight, l.rpm, l.tpm), (1, 0, 0));
    }

    #[test]
    fn latency_is_a_moving_average_per_kind() {
        let s = LocalState::new();
        s.record_latency("d", Duration::from_millis(100), false);
        s.record_latency("d", Duration::from_millis(200), false);
        let l = s.load("d", 0);
        assert!((l.latency_ms.unwrap() - 120.0).abs() < 1e-6);
        assert_eq!(l.ttft_ms, None);
    }
}

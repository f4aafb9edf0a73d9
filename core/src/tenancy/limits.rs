//! Per-key, per-user and per-team rate limits: requests and tokens per minute (sliding window:
//! the current minute plus the previous one weighted by how much of it still overlaps) and
//! requests in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Rpm,
    Tpm,
    Parallel,
}

impl LimitKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm_limit",
            LimitKind::Tpm => "tpm_limit",
            LimitKind::Parallel => "max_parallel_requests",
        }
    }
}

/// A refused request: which limit, its value, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    pub(crate) kind: LimitKind,
    pub(crate) limit: u64,
    pub(crate) retry_after_ms: u64,
}

#[derive(Debug, Default)]
struct Minutes {
    minute: u64,
    current: u64,
    previous: u64,
}

impl Minutes {
    fn advance(&mut self, now_ms: u64) {
        let minute = now_ms / 60_000;
        if minute == self.minute {
            return;
        }
        self.previous = if minute == self.minute + 1 {
            self.current
        } else {
            0
        };
        self.current = 0;
        self.minute = minute;
    }

    /// The sliding-window count at `now_ms`.
    fn count(&self, now_ms: u64) -> u64 {
        let into = (now_ms % 60_000) as f64 / 60_000.0;
        self.current + (self.previous as f64 * (1.0 - into)).floor() as u64
    }
}

/// Counters of one key, user or team.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    requests: Mutex<Minutes>,
    tokens: Mutex<Minutes>,
    in_flight: Arc<AtomicU64>,
}

/// Holds a place in `max_parallel_requests` until dropped.
#[derive(Debug)]
pub(crate) struct Slot(Option<Arc<AtomicU64>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(counter) = self.0.take() {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn retry_after(now_ms: u64) -> u64 {
    60_000 - now_ms % 60_000
}

impl Limiter {
    /// Admits a request under `rpm`, `tpm` (tokens used so far this window) and `parallel`.
    pub(crate) fn admit(
        &self,
        rpm: Option<u64>,
        tpm: Option<u64>,
        parallel: Option<u64>,
        now_ms: u64,
    ) -> Result<Slot, Limited> {
        if let Some(limit) = tpm {
            let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            t.advance(now_ms);
            if t.count(now_ms) >= limit {
                return Err(Limited {
                    kind: LimitKind::Tpm,
                    limit,
                    retry_after_ms: retry_after(now_ms),
                });
            }
        }
        let slot = match parallel {
            Some(limit) => {
                let n = self.in_flight.fetch_add(1, Ordering::AcqRel);
                let slot = Slot(Some(self.in_flight.clone()));
                if n >= limit {
                    return Err(Limited {
                        kind: LimitKind::Parallel,
                        limit,
                        retry_after_ms: 1_000,
                    });
                }
                slot
            }
            None => Slot(None),
        };
        if let Some(limit) = rpm {
            let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            r.advance(now_ms);
            if r.count(now_ms) >= limit {
                return Err(Limited {
                    kind: LimitKind::Rpm,
                    limit,
                    retry_after_ms: retry_after(now_ms),
                });
            }
            r.current += 1;
        }
        Ok(slot)
    }

    /// Counts the tokens a finished request used.
    pub(crate) fn add_tokens(&self, tokens: u64, now_ms: u64) {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.advance(now_ms);
        t.current += tokens;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_is_a_sliding_window() {
        let l = Limiter::default();
        let t0 = 600_000; // the start of a minute
        for _ in 0..3 {
            assert!(l.admit(Some(3), None, None, t0).is_ok());
        }
        let e = l.admit(Some(3), None, None, t0 + 1_000).unwrap_err();
        assert_eq!((e.kind, e.limit), (LimitKind::Rpm, 3));
        assert_eq!(e.retry_after_ms, 59_000);
        // 30 s into the next minute, half of the previous minute's 3 still count (1).
        assert!(l.admit(Some(3), None, None, t0 + 90_000).is_ok());
        assert!(l.admit(Some(3), None, None, t0 + 90_000).is_ok());
        assert!(l.admit(Some(3), None, None, t0 + 90_000).is_err());
    }

    #[test]
    fn parallel_slots_are_given_back() {
        let l = Limiter::default();
        let a = l.admit(None, None, Some(1), 0).unwrap();
        assert_eq!(
            l.admit(None, None, Some(1), 0).unwrap_err().kind,
            LimitKind::Parallel
        );
        drop(a);
        assert!(l.admit(None, None, Some(1), 0).is_ok());
    }

    #[test]
    fn tpm_counts_finished_requests() {
        let l = Limiter::default();
        assert!(l.admit(None, Some(100), None, 0).is_ok());
        l.add_tokens(100, 1);
        assert_eq!(
            l.admit(None, Some(100), None, 2).unwrap_err().kind,
            LimitKind::Tpm
        );
    }
}

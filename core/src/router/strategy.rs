//! Picking one deployment among the healthy ones of a group (LiteLLM's `routing_strategy`).

use std::sync::Arc;

use rand::Rng;

use super::state::{Load, RouterState};
use super::RouteTarget;

/// LiteLLM's routing strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RoutingStrategy {
    /// Random, weighted by `weight`, else by `rpm`, else by `tpm`, else uniform.
    #[default]
    SimpleShuffle,
    /// Fewest requests in flight.
    LeastBusy,
    /// Lowest moving-average latency (time to first chunk for streams); deployments without a
    /// sample yet go first, so every deployment gets measured.
    LatencyBased,
    /// Most tokens-per-minute headroom (lowest use when no `tpm` limit is set).
    UsageBased,
    /// Cheapest per token, by the catalog.
    CostBased,
}

impl RoutingStrategy {
    /// Parses LiteLLM's name.
    pub fn parse(name: &str) -> Option<RoutingStrategy> {
        Some(match name {
            "simple-shuffle" => RoutingStrategy::SimpleShuffle,
            "least-busy" => RoutingStrategy::LeastBusy,
            "latency-based-routing" => RoutingStrategy::LatencyBased,
            "usage-based-routing" | "usage-based-routing-v2" => RoutingStrategy::UsageBased,
            "cost-based-routing" => RoutingStrategy::CostBased,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            RoutingStrategy::SimpleShuffle => "simple-shuffle",
            RoutingStrategy::LeastBusy => "least-busy",
            RoutingStrategy::LatencyBased => "latency-based-routing",
            RoutingStrategy::UsageBased => "usage-based-routing",
            RoutingStrategy::CostBased => "cost-based-routing",
        }
    }

    /// Index of the chosen candidate (`candidates` is not empty).
    pub(crate) fn pick<T: RouteTarget>(
        self,
        candidates: &[&Arc<T>],
        state: &dyn RouterState,
        now_ms: u64,
        stream: bool,
    ) -> usize {
        if candidates.len() <= 1 {
            return 0;
        }
        match self {
            RoutingStrategy::SimpleShuffle => shuffle(candidates),
            RoutingStrategy::LeastBusy => lowest(candidates, |t| {
                Some(state.load(t.id(), now_ms).in_flight as f64)
            }),
            RoutingStrategy::LatencyBased => lowest(candidates, |t| {
                let load = state.load(t.id(), now_ms);
                Some(latency_of(&load, stream).unwrap_or(0.0))
            }),
            RoutingStrategy::UsageBased => lowest(candidates, |t| {
                let load = state.load(t.id(), now_ms);
                Some(match t.tpm_limit() {
                    Some(limit) if limit > 0 => load.tpm as f64 / limit as f64,
                    _ => load.tpm as f64 / 1e12,
                })
            }),
            RoutingStrategy::CostBased => lowest(candidates, |t| t.cost_rank()),
        }
    }
}

fn latency_of(load: &Load, stream: bool) -> Option<f64> {
    if stream {
        load.ttft_ms.or(load.latency_ms)
    } else {
        load.latency_ms.or(load.ttft_ms)
    }
}

fn shuffle<T: RouteTarget>(candidates: &[&Arc<T>]) -> usize {
    let weights: Vec<f64> = if candidates.iter().any(|t| t.weight().is_some()) {
        candidates
            .iter()
            .map(|t| t.weight().unwrap_or(1.0))
            .collect()
    } else if candidates.iter().any(|t| t.rpm_limit().is_some()) {
        candidates
            .iter()
            .map(|t| t.rpm_limit().unwrap_or(0) as f64)
            .collect()
    } else if candidates.iter().any(|t| t.tpm_limit().is_some()) {
        candidates
            .iter()
            .map(|t| t.tpm_limit().unwrap_or(0) as f64)
            .collect()
    } else {
        return rand::rng().random_range(0..candidates.len());
    };
    let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
    if total <= 0.0 || !total.is_finite() {
        return rand::rng().random_range(0..candidates.len());
    }
    let mut point = rand::rng().random_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        let w = w.max(0.0);
        if point < w {
            return i;
        }
        point -= w;
    }
    candidates.len() - 1
}

/// The candidate with the lowest score; unknown scores last; ties broken at random so equal
/// deployments share the load.
fn lowest<T: RouteTarget>(candidates: &[&Arc<T>], score: impl Fn(&T) -> Option<f64>) -> usize {
    let scores: Vec<f64> = candidates
        .iter()
        .map(|t| score(t).filter(|s| s.is_finite()).unwrap_or(f64::INFINITY))
        .collect();
    let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let ties: Vec<usize> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == best || (best.is_infinite() && s.is_infinite()))
        .map(|(i, _)| i)
        .collect();
    ties[rand::rng().random_range(0..ties.len())]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::router::state::LocalState;

    #[derive(Debug)]
    struct T {
        id: &'static str,
        weight: Option<f64>,
        rpm: Option<u64>,
        tpm: Option<u64>,
        cost: Option<f64>,
    }

    impl RouteTarget for T {
        fn id(&self) -> &str {
            self.id
        }
        fn weight(&self) -> Option<f64> {
            self.weight
        }
        fn rpm_limit(&self) -> Option<u64> {
            self.rpm
        }
        fn tpm_limit(&self) -> Option<u64> {
            self.tpm
        }
        fn cost_rank(&self) -> Option<f64> {
            self.cost
        }
    }

    fn t(id: &'static str) -> Arc<T> {
        Arc::new(T {
            id,
            weight: None,
            rpm: None,
            tpm: None,
            cost: None,
        })
    }

    fn counts(strategy: RoutingStrategy, ts: &[Arc<T>], state: &LocalState) -> Vec<usize> {
        let refs: Vec<&Arc<T>> = ts.iter().collect();
        let mut n = vec![0; ts.len()];
        for _ in 0..4000 {
            n[strategy.pick(&refs, state, 0, false)] += 1;
        }
        n
    }

    #[test]
    fn shuffle_follows_weights_then_rpm() {
        let state = LocalState::new();
        let ts = vec![
            Arc::new(T {
                weight: Some(3.0),
                ..*t("a")
            }),
            Arc::new(T {
                weight: Some(1.0),
                ..*t("b")
            }),
        ];
        let n = counts(RoutingStrategy::SimpleShuffle, &ts, &state);
        assert!(n[0] > 2700 && n[0] < 3300, "{n:?}");
        let ts = vec![
            Arc::new(T {
                rpm: Some(100),
                ..*t("a")
            }),
            Arc::new(T {
                rpm: Some(0),
                ..*t("b")
            }),
        ];
        assert_eq!(counts(RoutingStrategy::SimpleShuffle, &ts, &state)[1], 0);
    }

    #[test]
    fn least_busy_latency_usage_and_cost_pick_the_best() {
        let state = LocalState::new();
        let ts = vec![
            Arc::new(T {
                tpm: Some(1000),
                cost: Some(2.0),
                ..*t("a")
            }),
            Arc::new(T {
                tpm: Some(1000),
                cost: Some(1.0),
                ..*t("b")
            }),
        ];
        state.begin("a", 0);
        assert_eq!(counts(RoutingStrategy::LeastBusy, &ts, &state)[1], 4000);
        state.record_latency("a", Duration::from_millis(10), false);
        state.record_latency("b", Duration::from_millis(50), false);
        assert_eq!(counts(RoutingStrategy::LatencyBased, &ts, &state)[0], 4000);
        state.add_tokens("b", 900, 0);
        assert_eq!(counts(RoutingStrategy::UsageBased, &ts, &state)[0], 4000);
        assert_eq!(counts(RoutingStrategy::CostBased, &ts, &state)[1], 4000);
    }

    #[test]
    fn unmeasured_deployments_are_tried_first_by_latency() {
        let state = LocalState::new();
        let ts = vec![t("a"), t("b")];
        state.record_latency("a", Duration::from_millis(10), false);
        assert_eq!(counts(RoutingStrategy::LatencyBased, &ts, &state)[1], 4000);
    }
}

//! Choosing a deployment inside a model group.

use std::sync::Arc;

use rand::Rng;

use crate::registry::{Deployment, ModelGroup};

/// Picks a deployment at random, weighted by `weight` (LiteLLM's `simple-shuffle`).
pub(crate) fn pick(group: &ModelGroup) -> Option<&Arc<Deployment>> {
    match group.deployments.len() {
        0 => None,
        1 => group.deployments.first(),
        _ => {
            let total: f64 = group.deployments.iter().map(|d| d.weight.max(0.0)).sum();
            if total <= 0.0 || !total.is_finite() {
                let i = rand::rng().random_range(0..group.deployments.len());
                return group.deployments.get(i);
            }
            let mut point = rand::rng().random_range(0.0..total);
            for d in &group.deployments {
                let w = d.weight.max(0.0);
                if point < w {
                    return Some(d);
                }
                point -= w;
            }
            group.deployments.last()
        }
    }
}

//! Fair share of a saturated model group: when all of a group's parallel slots
//! (`max_parallel_requests` of its deployments) are taken, requests wait in a bounded queue and
//! are admitted round-robin across the keys that are waiting, so one key's burst cannot starve
//! the others.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_plugin_sdk::ErrorKind;
use tokio::sync::oneshot;

use crate::error::GatewayError;

#[derive(Debug, Default)]
struct State {
    in_use: usize,
    /// Waiters per key, first come first served within a key.
    waiting: HashMap<String, VecDeque<oneshot::Sender<Permit>>>,
    /// Keys with waiters, in the order they are served.
    turns: VecDeque<String>,
    queued: usize,
}

/// The slots and queue of one model group.
#[derive(Debug)]
pub(crate) struct FairQueue {
    group: String,
    capacity: usize,
    max_queued: usize,
    state: Mutex<State>,
}

/// A taken slot; dropping it hands the slot to the next waiter in turn, or frees it.
#[derive(Debug)]
pub(crate) struct Permit {
    queue: Option<Arc<FairQueue>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take() {
            queue.release();
        }
    }
}

impl FairQueue {
    pub(crate) fn new(group: String, capacity: usize, max_queued: usize) -> Arc<Self> {
        Arc::new(FairQueue {
            group,
            capacity: capacity.max(1),
            max_queued,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn full(&self, what: &str) -> GatewayError {
        let mut e = GatewayError::new(
            ErrorKind::RateLimit,
            format!(
                "model group '{}' is saturated ({} requests in flight) and {what}",
                self.group, self.capacity
            ),
        )
        .with_code("queue_full");
        e.retry_after_ms = Some(1_000);
        e
    }

    /// A slot for a request of `key`, waiting in turn (at most `wait`) when all are taken.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        key: &str,
        wait: Duration,
    ) -> Result<Permit, GatewayError> {
        let rx = {
            let mut s = self.lock();
            if s.in_use < self.capacity && s.queued == 0 {
                s.in_use += 1;
                return Ok(Permit {
                    queue: Some(self.clone()),
                });
            }
            if s.queued >= self.max_queued {
                return Err(self.full(&format!("its queue is full ({} waiting)", self.max_queued)));
            }
            let (tx, rx) = oneshot::channel();
            let queue = s.waiting.entry(key.to_owned()).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                s.turns.push_back(key.to_owned());
            }
            s.queued += 1;
            rx
        };
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(permit)) => Ok(permit),
            // A waiter that gives up leaves a closed sender behind; `release` skips it.
            _ => Err(self.full(&format!(
                "no slot freed up within {:.0}s",
                wait.as_secs_f64()
            ))),
        }
    }

    /// Hands a freed slot to the next waiting key in turn.
    fn release(self: &Arc<Self>) {
        let mut s = self.lock();
        while let Some(key) = s.turns.pop_front() {
            let Some(waiters) = s.waiting.get_mut(&key) else {
                continue;
            };
            let next = waiters.pop_front();
            let more = !waiters.is_empty();
            if more {
                s.turns.push_back(key);
            } else {
                s.waiting.remove(&key);
            }
            if let Some(tx) = next {
                s.queued -= 1;
                let permit = Permit {
                    queue: Some(self.clone()),
                };
                match tx.send(permit) {
                    Ok(()) => return,
                    Err(mut unclaimed) => {
                        // The waiter gave up: this permit must not release the slot again.
                        unclaimed.queue = None;
                    }
                }
            }
        }
        s.in_use -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_keys_are_served_round_robin() {
        let q = FairQueue::new("g".into(), 1, 100);
        let first = q.acquire("a", Duration::from_secs(5)).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for key in ["a", "a", "a", "b", "c"] {
            let q = q.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let permit = q.acquire(key, Duration::from_secs(5)).await.unwrap();
                order.lock().unwrap().push(key);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(permit);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["a", "b", "c", "a", "a"]);
        assert_eq!(q.lock().in_use, 0);
    }

    #[tokio::test]
    async fn a_full_queue_and_a_long_wait_are_429s() {
        let q = FairQueue::new("g".into(), 1, 1);
        let _held = q.acquire("a", Duration::from_secs(5)).await.unwrap();
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.acquire("b", Duration::from_millis(100)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let e = q.acquire("c", Duration::from_secs(5)).await.unwrap_err();
        assert_eq!((e.status, e.code.as_deref()), (429, Some("queue_full")));
        assert!(e.message.contains("queue is full"), "{}", e.message);
        let e = waiting.await.unwrap().unwrap_err();
        assert!(e.message.contains("no slot freed up"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_slot_given_up_by_a_waiter_goes_to_the_next() {
        let q = FairQueue::new("g".into(), 1, 10);
        let held = q.acquire("a", Duration::from_secs(5)).await.unwrap();
        let gives_up = {
            let q = q.clone();
            tokio::spawn(async move { q.acquire("b", Duration::from_millis(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(gives_up.await.unwrap().is_err());
        let patient = {
            let q = q.clone();
            tokio::spawn(async move { q.acquire("c", Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        let permit = patient.await.unwrap().unwrap();
        drop(permit);
        assert_eq!(q.lock().in_use, 0);
        assert_eq!(q.lock().queued, 0);
    }
}

//! A bound on the best-effort writes waiting for the API server: Events and
//! unschedulable conditions.
//!
//! A burst of pods that do not fit yet (offers used up until Mesos offers
//! again) fails thousands of placements at once, and each writes its
//! `PodScheduled=False` condition and a FailedScheduling Event. When they
//! come faster than the API server takes them, each waiting write holds its
//! data and its task, and the pods' Bindings queue behind them. Past
//! [`BestEffortGate`]'s bound a new one is dropped and counted instead, as
//! client-go's event broadcaster drops events when its queue is full. No
//! state is lost: the core writes a pod's condition again at its next
//! failed attempt, and Events are advisory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Best-effort writes that may wait at once. Each is a few KiB.
pub const BEST_EFFORT_WAITING_MAX: usize = 2_000;

/// Counts the best-effort writes waiting; see the module docs.
#[derive(Clone, Debug)]
pub struct BestEffortGate {
    waiting: Arc<AtomicUsize>,
    max: usize,
}

impl Default for BestEffortGate {
    fn default() -> Self {
        Self::new(BEST_EFFORT_WAITING_MAX)
    }
}

impl BestEffortGate {
    /// A gate letting `max` writes wait at once.
    pub fn new(max: usize) -> Self {
        BestEffortGate {
            waiting: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A ticket for one more waiting write, or `None` when `max` wait
    /// already. The write holds it until it starts.
    pub fn admit(&self) -> Option<Ticket> {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Ticket {
                waiting: self.waiting.clone(),
            })
    }
}

/// One admitted write, waiting until dropped.
#[derive(Debug)]
pub struct Ticket {
    waiting: Arc<AtomicUsize>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_bound_and_again_once_a_write_starts() {
        let gate = BestEffortGate::new(2);
        let first = gate.admit().expect("first");
        let _second = gate.admit().expect("second");
        assert!(gate.admit().is_none(), "a third waits beyond the bound");
        drop(first);
        assert!(gate.admit().is_some(), "room again once one started");
    }
}

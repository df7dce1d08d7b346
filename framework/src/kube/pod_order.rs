//! One pod's Kubernetes writes in the order the core decided them, while
//! the writes of different pods run concurrently.
//!
//! The scheduler loop must not wait for the API server: awaiting each
//! status write inline (a FitError condition per pending pod and round, a
//! pod failed, a condition set) made one slow or unreachable API server
//! stall placement, relaunches and kills for every pod. kube-scheduler
//! writes its pod conditions from goroutines for the same reason. But a
//! pod's own writes must land in order — `PodScheduled=False` written after
//! the Binding of a later round would say a bound pod is unschedulable — so
//! each write of a pod starts only once the one queued before it for that
//! pod has finished (or was dropped).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::{FutureExt, Shared};
use tokio::sync::oneshot;

/// The last write queued per pod UID; a pod leaves the map when its last
/// write is done, so the map holds only pods with writes in flight.
#[derive(Debug, Default)]
pub struct PodOrder {
    last: Arc<Mutex<HashMap<String, Last>>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Last {
    id: u64,
    finished: Shared<oneshot::Receiver<()>>,
}

/// Marks a queued write done when it finishes or is dropped: the next
/// write of the pod may start, and the pod leaves the map if nothing was
/// queued after it.
struct Done {
    last: Arc<Mutex<HashMap<String, Last>>>,
    uid: String,
    id: u64,
    signal: Option<oneshot::Sender<()>>,
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(signal) = self.signal.take() {
            let _ = signal.send(());
        }
        let mut last = lock(&self.last);
        if last.get(&self.uid).is_some_and(|l| l.id == self.id) {
            last.remove(&self.uid);
        }
    }
}

/// A poisoned lock only means a panic elsewhere mid-update; the map is
/// still usable.
fn lock(m: &Mutex<HashMap<String, Last>>) -> std::sync::MutexGuard<'_, HashMap<String, Last>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PodOrder {
    /// `write`, to run after every write queued before it for `uid`. The
    /// order is fixed here, when the write is queued, not when the returned
    /// future is first polled.
    pub fn queue<F>(&self, uid: &str, write: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (signal, finished) = oneshot::channel::<()>();
        let before = lock(&self.last).insert(
            uid.to_owned(),
            Last {
                id,
                finished: finished.shared(),
            },
        );
        let done = Done {
            last: self.last.clone(),
            uid: uid.to_owned(),
            id,
            signal: Some(signal),
        };
        async move {
            let _done = done;
            if let Some(before) = before {
                // Finished or dropped: either way it is no longer ahead.
                let _ = before.finished.await;
            }
            write.await;
        }
    }

    /// Pods with a write queued or running.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.last).len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    type Log = Arc<Mutex<Vec<&'static str>>>;

    fn note(log: &Log, what: &'static str) {
        log.lock().unwrap().push(what);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pods_writes_keep_their_order_and_other_pods_do_not_wait() {
        let order = PodOrder::default();
        let log: Log = Arc::default();
        let slow = {
            let log = log.clone();
            order.queue("a", async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                note(&log, "a1");
            })
        };
        let next = {
            let log = log.clone();
            order.queue("a", async move { note(&log, "a2") })
        };
        let other = {
            let log = log.clone();
            order.queue("b", async move { note(&log, "b1") })
        };
        // Polled in the wrong order on purpose: the queue order holds.
        let tasks = [tokio::spawn(next), tokio::spawn(other), tokio::spawn(slow)];
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), ["b1", "a1", "a2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_write_does_not_hold_up_the_next() {
        let order = PodOrder::default();
        let log: Log = Arc::default();
        let dropped = order.queue("a", std::future::pending());
        let next = {
            let log = log.clone();
            order.queue("a", async move { note(&log, "a2") })
        };
        drop(dropped);
        tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("not held up");
        assert_eq!(*log.lock().unwrap(), ["a2"]);
    }

    #[tokio::test]
    async fn a_pod_leaves_the_map_with_its_last_write() {
        let order = PodOrder::default();
        for i in 0..100 {
            order.queue(&format!("pod-{i}"), async {}).await;
        }
        assert_eq!(order.tracked(), 0);
        let first = order.queue("a", async {});
        let second = order.queue("a", async {});
        first.await;
        assert_eq!(order.tracked(), 1, "the second is still queued");
        second.await;
        assert_eq!(order.tracked(), 0);
        drop(order.queue("b", async {}));
        assert_eq!(order.tracked(), 0, "a dropped write leaves too");
    }
}

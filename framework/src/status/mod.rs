//! The operator's status page: what the scheduler is doing, live.
//!
//! Served on the framework's HTTP address next to `/metrics`, and named by
//! `FrameworkInfo.webui_url`, so the Mesos and DC/OS UIs link to it:
//!
//! - `/` (and `/status`): the page, server-rendered HTML that refetches
//!   its `<main>` from `status/body` every few seconds ([`html`]);
//! - `/status/body`: that fragment;
//! - `/status.json`: the same [`model::Snapshot`] as JSON, for tools.
//!
//! The data is the scheduler core's own state: the run loop publishes
//! `SchedulerCore::status` on the [`Board`], as it copies the metrics, and
//! feeds the board's [`recorder::Recorder`] the inputs and actions it
//! handles (recent placements and task state changes, the last offer of
//! each agent). A standby has no core: its page says so.
//!
//! Publishing walks every pod the core tracks, so the loop publishes only
//! when a reader asks ([`Board::fresh`]: the page, `/status.json`,
//! `/metrics`), at most every [`throttle::PUBLISH_EVERY`]: with nobody
//! reading, a burst of placements spends nothing on it (4 % of the
//! framework's CPU placing 30,000 pods when it published every 500 ms).

pub mod html;
pub mod model;
pub mod recorder;
mod routes;
pub mod throttle;
mod webui_url;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{watch, Notify};

pub use routes::router;
pub use webui_url::webui_url;

use crate::core::{Action, Input, Instant};
use crate::metrics::Metrics;
use model::{CoreStatus, Replica, Snapshot};
use recorder::Recorder;

#[derive(Debug, Default)]
struct Published {
    identity: String,
    core: Option<CoreStatus>,
    updated: Option<Timestamp>,
    recorder: Recorder,
}

/// How long a reader waits for the run loop to publish what it asked for;
/// past it, the reader gets the last publication.
pub const FRESH_WAIT: Duration = Duration::from_secs(1);

/// What the run loop publishes and the page reads. Shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Board {
    metrics: Arc<Metrics>,
    published: Mutex<Published>,
    /// A run loop publishes here (a leader's; a standby's board has none).
    serving: AtomicBool,
    /// A reader asked for a publication since the last one.
    wanted: AtomicBool,
    /// Wakes the run loop when a reader asks.
    asked: Notify,
    /// Counts publications: a reader waits for the count to move.
    generation: watch::Sender<u64>,
}

impl Board {
    /// A board reading leadership and subscription from `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    /// A run loop publishes on this board from now on, when asked.
    pub fn serve(&self) {
        self.serving.store(true, Ordering::Relaxed);
    }

    /// For a reader: has the run loop publish the core's state now (at
    /// most [`FRESH_WAIT`]; once per [`throttle::PUBLISH_EVERY`]) unless
    /// no loop runs.
    pub async fn fresh(&self) {
        if !self.serving.load(Ordering::Relaxed) {
            return;
        }
        let mut published = self.generation.subscribe();
        published.borrow_and_update();
        self.wanted.store(true, Ordering::Relaxed);
        self.asked.notify_one();
        let _ = tokio::time::timeout(FRESH_WAIT, published.changed()).await;
    }

    /// For the run loop: resolves when a reader asks for a publication.
    pub async fn asked(&self) {
        self.asked.notified().await;
    }

    /// For the run loop: whether a reader waits for a publication.
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        // A panic elsewhere while holding it leaves plain data behind.
        self.published.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Names this replica (its leader-election identity).
    pub fn set_identity(&self, identity: &str) {
        identity.clone_into(&mut self.lock().identity);
    }

    /// Notes an input before the core handles it.
    pub fn record_input(&self, input: &Input, now: Instant) {
        self.lock()
            .recorder
            .observe_input(input, now, Timestamp::now());
    }

    /// Notes an action before the shell performs it.
    pub fn record_action(&self, action: &Action) {
        self.lock()
            .recorder
            .observe_action(action, Timestamp::now());
    }

    /// Publishes the core's state, built by `core` (which the run loop
    /// calls only now: it walks every pod), and wakes the readers waiting.
    pub fn publish(&self, core: impl FnOnce() -> CoreStatus) {
        // Cleared first: a reader asking while the state is built gets the
        // next publication too, never none.
        self.wanted.store(false, Ordering::Relaxed);
        let core = core();
        {
            let mut p = self.lock();
            p.core = Some(core);
            p.updated = Some(Timestamp::now());
        }
        self.generation.send_modify(|g| *g += 1);
    }

    /// This replica stopped scheduling (lost leadership, or stopping).
    pub fn withdraw(&self) {
        self.serving.store(false, Ordering::Relaxed);
        self.lock().core = None;
        // Readers waiting get the page of a replica without a core now.
        self.generation.send_modify(|g| *g += 1);
    }

    /// The snapshot the page shows at `now`.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let p = self.lock();
        let mut core = p.core.clone();
        if let Some(core) = core.as_mut() {
            p.recorder.fill_last_offers(core, now);
        }
        Snapshot {
            replica: Replica {
                identity: p.identity.clone(),
                leader: self.metrics.is_leader(),
                subscribed: self.metrics.is_subscribed(),
            },
            updated: p.updated.map(|t| {
                Timestamp::from_second(t.as_second())
                    .unwrap_or(t)
                    .to_string()
            }),
            core,
            recent: p.recorder.recent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Arc<Board> {
        Arc::new(Board::new(Arc::new(Metrics::default())))
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_run_loop_a_reader_does_not_wait() {
        let b = board();
        let t0 = tokio::time::Instant::now();
        b.fresh().await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        assert!(!b.wanted(), "nobody to ask");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_wakes_the_loop_and_gets_its_publication() {
        let b = board();
        b.serve();
        assert!(!b.wanted(), "nothing is built until a reader asks");
        let reader = tokio::spawn({
            let b = b.clone();
            async move {
                b.fresh().await;
                b.snapshot(Instant::now()).core
            }
        });
        // The run loop's side: woken, it publishes what was asked for.
        tokio::time::timeout(Duration::from_millis(10), b.asked())
            .await
            .expect("the loop is woken");
        assert!(b.wanted());
        let mut built = 0;
        b.publish(|| {
            built += 1;
            CoreStatus::default()
        });
        assert_eq!(built, 1);
        assert!(!b.wanted(), "answered");
        let core = reader.await.expect("reader");
        assert_eq!(core, Some(CoreStatus::default()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_gives_up_on_a_busy_loop_after_the_wait() {
        let b = board();
        b.serve();
        let t0 = tokio::time::Instant::now();
        b.fresh().await;
        assert_eq!(t0.elapsed(), FRESH_WAIT);
        // Withdrawn: no loop to ask any more.
        b.withdraw();
        let t1 = tokio::time::Instant::now();
        b.fresh().await;
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }
}

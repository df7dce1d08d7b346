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
//! `SchedulerCore::status` on the [`Board`] after every step, as it copies
//! the metrics, and feeds the board's [`recorder::Recorder`] the inputs and
//! actions it handles (recent placements and task state changes, the last
//! offer of each agent). A standby has no core: its page says so.

pub mod html;
pub mod model;
pub mod recorder;
mod routes;
pub mod throttle;
mod webui_url;

use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

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

/// What the run loop publishes and the page reads. Shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Board {
    metrics: Arc<Metrics>,
    published: Mutex<Published>,
}

impl Board {
    /// A board reading leadership and subscription from `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            published: Mutex::default(),
        }
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

    /// Publishes the core's state after a step.
    pub fn publish(&self, core: CoreStatus) {
        let mut p = self.lock();
        p.core = Some(core);
        p.updated = Some(Timestamp::now());
    }

    /// This replica stopped scheduling (lost leadership, or stopping).
    pub fn withdraw(&self) {
        self.lock().core = None;
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

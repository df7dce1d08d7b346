//! The end of a term (drain, or lost leadership): the offers the core holds
//! are given back at once instead of sitting until the master rescinds
//! them. The core is the one place that knows which offers it holds, so
//! the shell keeps no second set.

use kube_mesos_proto::v1::Filters;

use super::SchedulerCore;
use crate::core::Action;

impl SchedulerCore {
    /// A DECLINE of every held offer, without a refuse filter (the master's
    /// default applies), and the offers forgotten; `None` when none is held.
    pub fn give_back_offers(&mut self) -> Option<Action> {
        if self.held.is_empty() {
            return None;
        }
        let offer_ids = self.held.drain(..).map(|h| h.offer.id).collect();
        self.batch_deadline = None;
        self.place_at = None;
        Some(Action::Decline {
            offer_ids,
            filters: Filters::default(),
        })
    }

    /// How many offers the core holds.
    pub fn held_offers(&self) -> usize {
        self.held.len()
    }
}

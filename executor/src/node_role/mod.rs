//! The node role when several executor generations share one agent.
//!
//! Changing any executor setting, or upgrading kube-mesos, gives new pods
//! a new executor ID (`kube-mesos-<config hash>`), so one agent can run
//! several executors at once — one per generation — while the Node has one
//! Status, one Lease and one kubelet endpoint. The generations agree
//! through files under the root dir they share ([`registry`]):
//!
//! - **Every pod stays reachable.** Each executor serves its kubelet
//!   handler on a unix socket in the registry and publishes the pods it
//!   runs. Whichever executor's port the Node advertises answers for every
//!   pod of the agent: its own directly, the others' by forwarding the
//!   request to the executor that runs the pod
//!   ([`crate::kubelet::peer`]) — logs, exec, attach and port-forward
//!   alike.
//! - **One writer of the Node status and Lease at a time**, handed over
//!   without a gap that shows: the newest live generation that is not
//!   draining holds the role ([`ownership`] has the rule and the handover
//!   order; [`coordinator`] the loop that looks at the registry every
//!   [`coordinator::NODE_ROLE_TICK`]; [`writers`] the writers it starts
//!   and stops).
//!
//! [`GenerationHost`] is the coordinator's view of the real thing: the
//! registry, its lock, and writers on the API server.

pub mod coordinator;
pub mod ownership;
pub mod registry;
pub mod writers;

use std::sync::Arc;

use async_trait::async_trait;

use self::coordinator::RoleHost;
use self::ownership::{Claim, Input};
use self::registry::{Membership, NodeRoleLock, Record};
use self::writers::{NodeWriters, RunningWriters};

fn claim(record: &Record) -> Claim {
    Claim {
        sequence: record.sequence,
        draining: record.draining,
    }
}

/// The node role of one executor over its registry membership and the
/// API server.
pub struct GenerationHost {
    membership: Arc<Membership>,
    writers: NodeWriters,
    lock: Option<NodeRoleLock>,
    running: Option<RunningWriters>,
}

impl GenerationHost {
    /// Not holding the role yet.
    pub fn new(membership: Arc<Membership>, writers: NodeWriters) -> Self {
        Self {
            membership,
            writers,
            lock: None,
            running: None,
        }
    }
}

#[async_trait]
impl RoleHost for GenerationHost {
    fn observe(&mut self) -> Input {
        let me = claim(&self.membership.record());
        let mut live: Vec<Claim> = self
            .membership
            .registry()
            .live()
            .iter()
            .map(claim)
            .collect();
        if let Some(mine) = live.iter_mut().find(|c| c.sequence == me.sequence) {
            *mine = me;
        } else {
            live.push(me);
        }
        Input::Observed { me, live }
    }

    fn try_acquire(&mut self) -> bool {
        match self.membership.registry().try_node_role() {
            Ok(Some(lock)) => {
                self.lock = Some(lock);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "the node-role lock cannot be taken; retried");
                false
            }
        }
    }

    fn release(&mut self) {
        self.lock = None;
    }

    fn start_writers(&mut self) {
        self.running = Some(self.writers.start());
    }

    async fn stop_writers(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

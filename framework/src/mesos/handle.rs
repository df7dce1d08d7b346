//! [`SchedulerHandle`]: a cloneable sender of calls.
//!
//! The subscription loop publishes the current session (leader endpoint,
//! `Mesos-Stream-Id`, framework ID) here when SUBSCRIBED arrives and clears it
//! when the connection is lost, so every call goes to the right master with
//! the right stream id, and a call made while disconnected fails fast with
//! [`Error::NotConnected`] instead of reaching a master that would refuse it.

use std::sync::{Arc, Mutex, PoisonError};

use kube_mesos_proto::v1::scheduler::Call;
use kube_mesos_proto::v1::{
    offer, AgentId, ExecutorId, Filters, FrameworkId, FrameworkInfo, KillPolicy, OfferId, TaskId,
};
use url::Url;

use super::calls::{self, call_type_name, post_call};
use super::error::{Error, Result};

/// The live subscription calls belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub endpoint: Url,
    pub stream_id: String,
    pub framework_id: FrameworkId,
}

/// Shared slot holding the current session, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionSlot(Arc<Mutex<Option<Session>>>);

impl SessionSlot {
    pub fn set(&self, session: Option<Session>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }

    pub fn get(&self) -> Option<Session> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Sends calls on the current subscription. Cheap to clone; all clones see
/// the same subscription.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    pub(crate) http: kube_mesos_client::MesosHttp,
    pub(crate) session: SessionSlot,
}

impl SchedulerHandle {
    /// The framework ID of the current subscription, if subscribed.
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.session.get().map(|s| s.framework_id)
    }

    /// Whether a subscription is currently active.
    pub fn is_connected(&self) -> bool {
        self.session.get().is_some()
    }

    /// Sends any call. The framework ID is filled in when the call has none.
    /// Errors: [`Error::NotConnected`] while disconnected; see [`Error`] for
    /// which of the others are worth retrying.
    pub async fn call(&self, mut call: Call) -> Result<()> {
        let Some(session) = self.session.get() else {
            return Err(Error::NotConnected {
                call_type: call_type_name(&call),
            });
        };
        if call.framework_id.is_none() {
            call.framework_id = Some(session.framework_id.clone());
        }
        post_call(&self.http, &session.endpoint, &session.stream_id, &call).await
    }

    /// ACCEPT offers with operations.
    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<offer::Operation>,
        filters: Option<Filters>,
    ) -> Result<()> {
        self.call(calls::accept(offer_ids, operations, filters))
            .await
    }

    /// DECLINE offers.
    pub async fn decline(&self, offer_ids: Vec<OfferId>, filters: Option<Filters>) -> Result<()> {
        self.call(calls::decline(offer_ids, filters)).await
    }

    /// REVIVE offers for `roles` (all when empty).
    pub async fn revive(&self, roles: Vec<String>) -> Result<()> {
        self.call(calls::revive(roles)).await
    }

    /// SUPPRESS offers for `roles` (all when empty).
    pub async fn suppress(&self, roles: Vec<String>) -> Result<()> {
        self.call(calls::suppress(roles)).await
    }

    /// KILL a task.
    pub async fn kill(
        &self,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        kill_policy: Option<KillPolicy>,
    ) -> Result<()> {
        self.call(calls::kill(task_id, agent_id, kill_policy)).await
    }

    /// ACKNOWLEDGE a status update.
    pub async fn acknowledge(
        &self,
        agent_id: AgentId,
        task_id: TaskId,
        uuid: Vec<u8>,
    ) -> Result<()> {
        self.call(calls::acknowledge(agent_id, task_id, uuid)).await
    }

    /// RECONCILE tasks (implicit when empty).
    pub async fn reconcile(&self, tasks: Vec<(TaskId, Option<AgentId>)>) -> Result<()> {
        self.call(calls::reconcile(tasks)).await
    }

    /// TEARDOWN the framework.
    pub async fn teardown(&self) -> Result<()> {
        self.call(calls::teardown()).await
    }

    /// MESSAGE to an executor.
    pub async fn message(
        &self,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: Vec<u8>,
    ) -> Result<()> {
        self.call(calls::message(agent_id, executor_id, data)).await
    }

    /// UPDATE_FRAMEWORK. The framework ID is set on the info when missing.
    pub async fn update_framework(
        &self,
        mut framework_info: FrameworkInfo,
        suppressed_roles: Vec<String>,
    ) -> Result<()> {
        if framework_info.id.is_none() {
            framework_info.id = self.framework_id();
        }
        self.call(calls::update_framework(framework_info, suppressed_roles))
            .await
    }
}

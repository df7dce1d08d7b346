//! Scheduler calls other than SUBSCRIBE: building them and sending them.
//!
//! The builders are pure functions returning a [`Call`] without
//! `framework_id`; [`super::SchedulerHandle`] fills that in from the current
//! subscription. [`post_call`] sends one call to the subscribed master with the
//! `Mesos-Stream-Id` header; Mesos answers 202 Accepted for a call it queued
//! (refusals that happen later arrive as events).

use kube_mesos_proto::v1::scheduler::{call, Call};
use kube_mesos_proto::v1::{
    offer, AgentId, ExecutorId, Filters, FrameworkInfo, KillPolicy, OfferId, TaskId,
};
use reqwest::StatusCode;
use url::Url;

use super::error::{Error, Result};
use kube_mesos_client::{error_body, MesosHttp};

use super::http::STREAM_ID_HEADER;

/// The call type's name, for logs and errors (e.g. `ACCEPT`).
pub fn call_type_name(call: &Call) -> String {
    call.r#type().as_str_name().to_string()
}

/// Sends `call` to `endpoint` as part of the subscription `stream_id`.
pub(crate) async fn post_call(
    http: &MesosHttp,
    endpoint: &Url,
    stream_id: &str,
    call: &Call,
) -> Result<()> {
    let call_type = call_type_name(call);
    let body = http
        .content_type()
        .encode(call)
        .map_err(|source| Error::CodecFailed {
            what: "encoding a call",
            source,
        })?;
    let response = http
        .post(endpoint, body)
        .header(STREAM_ID_HEADER, stream_id)
        .timeout(http.request_timeout())
        .send()
        .await
        .map_err(|source| Error::CallFailed {
            call_type: call_type.clone(),
            source,
        })?;
    let status = response.status();
    if status.is_success() {
        tracing::debug!(call = %call_type, status = status.as_u16(), "call accepted");
        return Ok(());
    }
    let body = error_body(response).await;
    tracing::warn!(call = %call_type, status = status.as_u16(), %body, "call refused");
    if status.is_client_error() {
        Err(Error::CallRejected {
            call_type,
            status: status.as_u16(),
            body,
        })
    } else if status.is_server_error() || status == StatusCode::TEMPORARY_REDIRECT {
        Err(Error::CallUnavailable {
            call_type,
            status: status.as_u16(),
            body,
        })
    } else {
        Err(Error::CallRejected {
            call_type,
            status: status.as_u16(),
            body,
        })
    }
}

fn typed(kind: call::Type) -> Call {
    let mut call = Call::default();
    call.set_type(kind);
    call
}

/// SUBSCRIBE with `framework_info`; `framework_id` set when the info has one
/// (a resubscribe).
pub fn subscribe(framework_info: FrameworkInfo) -> Call {
    let mut call = typed(call::Type::Subscribe);
    call.framework_id = framework_info.id.clone();
    call.subscribe = Some(call::Subscribe {
        framework_info,
        suppressed_roles: Vec::new(),
    });
    call
}

/// ACCEPT offers with operations (LAUNCH, RESERVE, ...).
pub fn accept(
    offer_ids: Vec<OfferId>,
    operations: Vec<offer::Operation>,
    filters: Option<Filters>,
) -> Call {
    let mut call = typed(call::Type::Accept);
    call.accept = Some(call::Accept {
        offer_ids,
        operations,
        filters,
    });
    call
}

/// DECLINE offers, with a refuse filter.
pub fn decline(offer_ids: Vec<OfferId>, filters: Option<Filters>) -> Call {
    let mut call = typed(call::Type::Decline);
    call.decline = Some(call::Decline { offer_ids, filters });
    call
}

/// REVIVE offers for `roles` (all subscribed roles when empty).
pub fn revive(roles: Vec<String>) -> Call {
    let mut call = typed(call::Type::Revive);
    call.revive = Some(call::Revive { roles });
    call
}

/// SUPPRESS offers for `roles` (all subscribed roles when empty).
pub fn suppress(roles: Vec<String>) -> Call {
    let mut call = typed(call::Type::Suppress);
    call.suppress = Some(call::Suppress { roles });
    call
}

/// KILL a task, optionally with a kill policy (grace period).
pub fn kill(task_id: TaskId, agent_id: Option<AgentId>, kill_policy: Option<KillPolicy>) -> Call {
    let mut call = typed(call::Type::Kill);
    call.kill = Some(call::Kill {
        task_id,
        agent_id,
        kill_policy,
    });
    call
}

/// ACKNOWLEDGE a status update that carried a uuid.
pub fn acknowledge(agent_id: AgentId, task_id: TaskId, uuid: Vec<u8>) -> Call {
    let mut call = typed(call::Type::Acknowledge);
    call.acknowledge = Some(call::Acknowledge {
        agent_id,
        task_id,
        uuid,
    });
    call
}

/// RECONCILE the given tasks (implicit reconciliation when empty).
pub fn reconcile(tasks: Vec<(TaskId, Option<AgentId>)>) -> Call {
    let mut call = typed(call::Type::Reconcile);
    call.reconcile = Some(call::Reconcile {
        tasks: tasks
            .into_iter()
            .map(|(task_id, agent_id)| call::reconcile::Task { task_id, agent_id })
            .collect(),
    });
    call
}

/// TEARDOWN the framework: all its tasks are killed and it is removed.
pub fn teardown() -> Call {
    typed(call::Type::Teardown)
}

/// MESSAGE: opaque bytes to an executor.
pub fn message(agent_id: AgentId, executor_id: ExecutorId, data: Vec<u8>) -> Call {
    let mut call = typed(call::Type::Message);
    call.message = Some(call::Message {
        agent_id,
        executor_id,
        data,
    });
    call
}

/// UPDATE_FRAMEWORK with new framework info (roles, capabilities, ...).
pub fn update_framework(framework_info: FrameworkInfo, suppressed_roles: Vec<String>) -> Call {
    let mut call = typed(call::Type::UpdateFramework);
    call.update_framework = Some(call::UpdateFramework {
        framework_info,
        suppressed_roles,
    });
    call
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::FrameworkId;

    #[test]
    fn subscribe_carries_the_framework_id_when_known() {
        let mut info = FrameworkInfo {
            user: "root".into(),
            name: "kube-mesos".into(),
            ..Default::default()
        };
        let first = subscribe(info.clone());
        assert_eq!(first.r#type(), call::Type::Subscribe);
        assert_eq!(first.framework_id, None);
        info.id = Some(FrameworkId { value: "fw".into() });
        let again = subscribe(info);
        assert_eq!(again.framework_id.unwrap().value, "fw");
    }

    #[test]
    fn builders_set_type_and_body() {
        let call = decline(vec![OfferId { value: "o1".into() }], None);
        assert_eq!(call_type_name(&call), "DECLINE");
        assert_eq!(call.decline.unwrap().offer_ids[0].value, "o1");
        let call = reconcile(vec![]);
        assert_eq!(call.r#type(), call::Type::Reconcile);
        assert!(call.reconcile.unwrap().tasks.is_empty());
        assert_eq!(teardown().r#type(), call::Type::Teardown);
    }
}

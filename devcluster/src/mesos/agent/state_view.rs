//! The agent's `/state` JSON (apache/mesos `src/slave/http.cpp`,
//! `Http::state`, `FrameworkWriter`, `ExecutorWriter`) as a pure function of
//! a [`AgentSnapshot`] the core takes of itself.
//!
//! What the devcluster agent does not have is written as Mesos writes it
//! when absent: no `git_*` build fields (not built from git), no
//! `master_hostname` (the master is reached in-process, not by address),
//! empty `resource_providers`. The agent forgets executors, tasks and
//! frameworks once they are done, so `completed_executors`,
//! `completed_frameworks` stay empty and `completed_tasks` holds only
//! terminal tasks whose update is not acknowledged yet.

use std::net::SocketAddr;

use kube_mesos_proto::v1::{agent_info, AgentInfo, ExecutorInfo, FrameworkInfo, Task, TaskInfo};
use serde_json::{json, Map, Value};

use super::config::{mesos_duration, AgentConfig};
use super::status_update::is_terminal;
use crate::mesos::build;
use crate::mesos::master::resources::Resources;
use crate::mesos::model::{self, by_reservation, per_role};

/// What the devcluster's agents can do, as a real agent announces it in
/// `SlaveInfo.Capability` (the master reports the same): tasks with
/// allocated resources, hierarchical roles and refined reservations pass
/// through untouched. Resource providers, volume resizing, operation
/// feedback, draining and task resource limits are not implemented, so not
/// claimed.
pub const AGENT_CAPABILITIES: [agent_info::capability::Type; 3] = [
    agent_info::capability::Type::MultiRole,
    agent_info::capability::Type::HierarchicalRole,
    agent_info::capability::Type::ReservationRefinement,
];

/// One executor as the agent holds it.
#[derive(Debug, Clone)]
pub struct ExecutorSnapshot {
    /// As launched (framework ID filled in).
    pub info: ExecutorInfo,
    /// Container ID of its current run.
    pub container: String,
    /// Its sandbox.
    pub directory: String,
    /// Tasks handed to the executor (any state).
    pub tasks: Vec<Task>,
    /// Tasks waiting for the executor to subscribe.
    pub queued: Vec<TaskInfo>,
}

/// One framework as the agent holds it.
#[derive(Debug, Clone)]
pub struct FrameworkSnapshot {
    /// Its info as the master sent it.
    pub info: FrameworkInfo,
    /// Its executors.
    pub executors: Vec<ExecutorSnapshot>,
}

/// The agent's state at one instant.
#[derive(Debug, Clone)]
pub struct AgentSnapshot {
    /// Its info (`id` once registered).
    pub info: AgentInfo,
    /// Its frameworks.
    pub frameworks: Vec<FrameworkSnapshot>,
}

/// What the snapshot does not hold: configuration and process facts.
#[derive(Debug, Clone)]
pub struct AgentContext {
    /// The agent's configuration.
    pub config: std::sync::Arc<AgentConfig>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// When it started, in seconds since the epoch.
    pub start_time: f64,
}

/// `slave(1)@ip:port`, the agent's libprocess ID.
pub fn agent_pid(addr: SocketAddr) -> String {
    format!("slave(1)@{}:{}", addr.ip(), addr.port())
}

/// `Executor::allocatedResources`: its own, its queued tasks' and its
/// launched tasks' that are not terminal.
fn executor_allocated(e: &ExecutorSnapshot) -> Resources {
    let mut r = Resources::from_protos(&e.info.resources);
    for t in &e.queued {
        r.add_all(&Resources::from_protos(&t.resources));
    }
    for t in e.tasks.iter().filter(|t| !is_terminal(t.state)) {
        r.add_all(&Resources::from_protos(&t.resources));
    }
    r
}

fn executor_json(e: &ExecutorSnapshot) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(e.info.executor_id.value));
    o.insert(
        "name".into(),
        json!(e.info.name.clone().unwrap_or_default()),
    );
    #[allow(deprecated)] // `source` is deprecated yet still written by Mesos.
    let source = e.info.source.clone().unwrap_or_default();
    o.insert("source".into(), json!(source));
    o.insert("container".into(), json!(e.container));
    o.insert("directory".into(), json!(e.directory));
    let allocated = executor_allocated(e);
    o.insert("resources".into(), model::resources(allocated.protos()));
    if !e.info.resources.is_empty() {
        // The devcluster passes executors on without allocation info; their
        // tasks carry the role the executor was allocated to.
        let role = model::allocation_role(&e.info.resources)
            .or_else(|| {
                e.tasks
                    .iter()
                    .find_map(|t| model::allocation_role(&t.resources))
            })
            .or_else(|| {
                e.queued
                    .iter()
                    .find_map(|t| model::allocation_role(&t.resources))
            });
        o.insert("role".into(), json!(role.unwrap_or_default()));
    }
    if let Some(l) = &e.info.labels {
        o.insert("labels".into(), model::labels(l));
    }
    if e.info.r#type.is_some() {
        o.insert("type".into(), json!(e.info.r#type().as_str_name()));
    }
    let (done, live): (Vec<&Task>, Vec<&Task>) = e.tasks.iter().partition(|t| is_terminal(t.state));
    let live: Vec<Value> = live.into_iter().map(model::task).collect();
    o.insert("tasks".into(), Value::Array(live));
    let queued: Vec<Value> = e.queued.iter().map(model::task_info).collect();
    o.insert("queued_tasks".into(), Value::Array(queued));
    let done: Vec<Value> = done.into_iter().map(model::task).collect();
    o.insert("completed_tasks".into(), Value::Array(done));
    Value::Object(o)
}

fn framework_json(f: &FrameworkSnapshot) -> Value {
    let info = &f.info;
    let mut o = Map::new();
    let id = info
        .id
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default();
    o.insert("id".into(), json!(id));
    o.insert("name".into(), json!(info.name));
    o.insert("user".into(), json!(info.user));
    o.insert("failover_timeout".into(), json!(info.failover_timeout()));
    o.insert("checkpoint".into(), json!(info.checkpoint()));
    o.insert(
        "hostname".into(),
        json!(info.hostname.clone().unwrap_or_default()),
    );
    if let Some(p) = &info.principal {
        o.insert("principal".into(), json!(p));
    }
    let multi_role = info
        .capabilities
        .iter()
        .any(|c| c.r#type() == kube_mesos_proto::v1::framework_info::capability::Type::MultiRole);
    if multi_role {
        o.insert("roles".into(), json!(info.roles));
    } else {
        #[allow(deprecated)] // `role` is how non-MULTI_ROLE frameworks say it.
        let role = info.role().to_owned();
        o.insert("role".into(), json!(role));
    }
    let executors: Vec<Value> = f.executors.iter().map(executor_json).collect();
    o.insert("executors".into(), Value::Array(executors));
    o.insert("completed_executors".into(), json!([]));
    Value::Object(o)
}

/// The flags the devcluster agent honours, written as Mesos writes them.
fn flags_json(ctx: &AgentContext) -> Value {
    let c = &ctx.config;
    json!({
        "hostname": c.hostname,
        "port": ctx.addr.port().to_string(),
        "work_dir": c.work_dir.display().to_string(),
        "executor_registration_timeout": mesos_duration(c.executor_registration_timeout),
        "executor_reregistration_timeout": mesos_duration(c.executor_reregistration_timeout),
        "executor_shutdown_grace_period": mesos_duration(c.executor_shutdown_grace_period),
        "recovery_timeout": mesos_duration(c.recovery_timeout),
        "authenticate_http_executors": "false",
        "authenticate_http_readonly": "false",
        "authenticate_http_readwrite": "false",
    })
}

/// The agent's `/state`.
pub fn state_json(s: &AgentSnapshot, ctx: &AgentContext) -> Value {
    let total = Resources::from_protos(&s.info.resources);
    let (reserved, unreserved) = by_reservation(total.protos());
    let mut allocated = Resources::new();
    for e in s.frameworks.iter().flat_map(|f| f.executors.iter()) {
        allocated.add_all(&executor_allocated(e));
    }
    let (reserved_alloc, unreserved_alloc) = by_reservation(allocated.protos());
    let caps: Vec<&str> = AGENT_CAPABILITIES.iter().map(|c| c.as_str_name()).collect();
    let mut o = Map::new();
    o.insert("version".into(), json!(build::MESOS_VERSION));
    o.insert("build_date".into(), json!(build::BUILD_DATE));
    o.insert("build_time".into(), json!(build::BUILD_TIME));
    o.insert("build_user".into(), json!(build::BUILD_USER));
    o.insert("start_time".into(), json!(ctx.start_time));
    let id = s
        .info
        .id
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default();
    o.insert("id".into(), json!(id));
    o.insert("pid".into(), json!(agent_pid(ctx.addr)));
    o.insert("hostname".into(), json!(s.info.hostname));
    o.insert("capabilities".into(), json!(caps));
    if let Some(d) = &s.info.domain {
        o.insert("domain".into(), model::protobuf(d));
    }
    o.insert("resources".into(), model::resources(total.protos()));
    o.insert(
        "reserved_resources".into(),
        per_role(&reserved, model::resources),
    );
    o.insert("unreserved_resources".into(), model::resources(&unreserved));
    o.insert(
        "reserved_resources_full".into(),
        per_role(&reserved, model::resources_full),
    );
    o.insert(
        "unreserved_resources_full".into(),
        model::resources_full(&unreserved),
    );
    o.insert(
        "reserved_resources_allocated".into(),
        per_role(&reserved_alloc, model::resources),
    );
    o.insert(
        "unreserved_resources_allocated".into(),
        model::resources(&unreserved_alloc),
    );
    o.insert("resource_providers".into(), json!([]));
    o.insert("attributes".into(), model::attributes(&s.info.attributes));
    o.insert("flags".into(), flags_json(ctx));
    let frameworks: Vec<Value> = s.frameworks.iter().map(framework_json).collect();
    o.insert("frameworks".into(), Value::Array(frameworks));
    o.insert("completed_frameworks".into(), json!([]));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesos::master::resources::{ranges, scalar};
    use kube_mesos_proto::v1::resource::AllocationInfo;
    use kube_mesos_proto::v1::{AgentId, ExecutorId, FrameworkId, Resource, TaskId, TaskState};

    fn allocated(mut r: Resource) -> Resource {
        r.allocation_info = Some(AllocationInfo {
            role: Some("*".into()),
        });
        r
    }

    fn task(id: &str, state: TaskState) -> Task {
        Task {
            name: id.into(),
            task_id: TaskId { value: id.into() },
            framework_id: FrameworkId { value: "f".into() },
            executor_id: Some(ExecutorId { value: "e".into() }),
            agent_id: AgentId { value: "a".into() },
            state: state as i32,
            resources: vec![
                allocated(scalar("cpus", 0.1)),
                allocated(scalar("mem", 32.0)),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn executors_account_their_live_tasks_and_split_terminal_ones() {
        let ctx = AgentContext {
            config: std::sync::Arc::new(AgentConfig::new("h", "/w")),
            addr: "127.0.0.1:5051".parse().unwrap(),
            start_time: 1.0,
        };
        let executor = ExecutorSnapshot {
            info: ExecutorInfo {
                executor_id: ExecutorId { value: "e".into() },
                resources: vec![scalar("mem", 64.0), ranges("ports", &[(31000, 31000)])],
                ..Default::default()
            },
            container: "c".into(),
            directory: "/w/d".into(),
            tasks: vec![
                task("running", TaskState::TaskRunning),
                task("killed", TaskState::TaskKilled),
            ],
            queued: vec![],
        };
        let snapshot = AgentSnapshot {
            info: AgentInfo {
                hostname: "h".into(),
                resources: vec![scalar("cpus", 2.0), scalar("mem", 2048.0)],
                id: Some(AgentId { value: "a".into() }),
                ..Default::default()
            },
            frameworks: vec![FrameworkSnapshot {
                info: FrameworkInfo {
                    id: Some(FrameworkId { value: "f".into() }),
                    name: "fw".into(),
                    ..Default::default()
                },
                executors: vec![executor],
            }],
        };
        let v = state_json(&snapshot, &ctx);
        assert_eq!(v["pid"], "slave(1)@127.0.0.1:5051");
        assert_eq!(v["unreserved_resources_allocated"]["mem"], 96.0);
        assert_eq!(
            v["unreserved_resources_allocated"]["ports"],
            "[31000-31000]"
        );
        let e = &v["frameworks"][0]["executors"][0];
        assert_eq!(e["role"], "*");
        assert_eq!(e["resources"]["cpus"], 0.1);
        assert_eq!(e["tasks"][0]["id"], "running");
        assert_eq!(e["completed_tasks"][0]["id"], "killed");
        assert_eq!(v["frameworks"][0]["role"], "*");
        assert_eq!(v["flags"]["executor_shutdown_grace_period"], "5secs");
    }
}

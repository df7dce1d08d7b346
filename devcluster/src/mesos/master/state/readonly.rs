//! The master's read-only JSON endpoints as views of the state:
//! `/master/frameworks`, `/master/slaves`, `/master/tasks`, `/master/state`
//! (apache/mesos `src/master/readonly_handler.cpp`: `FullFrameworkWriter`,
//! `SlaveWriter`, `SlavesWriter`, `ReadOnlyHandler::{frameworks, slaves,
//! tasks, state}`), plus the resource accounting they and the operator API
//! share: what a framework or an agent uses (tasks that are not terminal
//! *and* the executors, as Mesos' `totalUsedResources` / `usedResources`)
//! and what is offered.
//!
//! Pure functions of the state; the HTTP shell only parses the query and
//! wraps the value.

use std::collections::HashMap;

use kube_mesos_proto::v1::{ExecutorInfo, Task, TimeInfo};
use serde_json::{json, Map, Value};

use super::{is_terminal, Agent, Framework, State};
use crate::mesos::agent::state_view::AGENT_CAPABILITIES;
use crate::mesos::build;
use crate::mesos::master::resources::Resources;
use crate::mesos::model;

/// `TASK_LIMIT` of `src/master/constants.hpp`: `/master/tasks`' default limit.
pub const TASK_LIMIT: usize = 100;

/// The query of `/master/tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct TasksQuery {
    /// `limit` (default [`TASK_LIMIT`]).
    pub limit: usize,
    /// `offset` (default 0).
    pub offset: usize,
    /// `order=asc`; anything else is descending, the default.
    pub ascending: bool,
    /// `framework_id`: only this framework's tasks.
    pub framework_id: Option<String>,
    /// `task_id`: only tasks with this ID.
    pub task_id: Option<String>,
}

impl Default for TasksQuery {
    fn default() -> Self {
        TasksQuery {
            limit: TASK_LIMIT,
            offset: 0,
            ascending: false,
            framework_id: None,
            task_id: None,
        }
    }
}

fn secs(t: &TimeInfo) -> f64 {
    t.nanoseconds as f64 / 1e9
}

fn accepts(filter: Option<&str>, id: &str) -> bool {
    filter.is_none_or(|f| f == id)
}

/// Mesos' `TaskComparator`: by the first status' timestamp; tasks without
/// statuses first when ascending, last when descending.
fn first_timestamp(t: &Task) -> Option<f64> {
    t.statuses.first().map(|s| s.timestamp.unwrap_or(0.0))
}

impl State {
    /// `slave(1)@ip:port`: the devcluster's agents listen on loopback.
    pub(super) fn agent_pid(a: &Agent) -> String {
        format!("slave(1)@127.0.0.1:{}", a.info.port.unwrap_or(5051))
    }

    /// The role an executor's resources are allocated to. The devcluster
    /// keeps executors as schedulers sent them (without allocation info), so
    /// it is the role of the framework's tasks on that executor, else the
    /// framework's first role.
    pub(super) fn executor_role(
        &self,
        framework_id: &str,
        agent_id: &str,
        e: &ExecutorInfo,
    ) -> String {
        if let Some(role) = model::allocation_role(&e.resources) {
            return role;
        }
        let fw = self.frameworks.get(framework_id).or_else(|| {
            self.completed_frameworks
                .iter()
                .find(|f| f.id() == framework_id)
        });
        let Some(fw) = fw else {
            return String::new();
        };
        fw.tasks
            .values()
            .chain(fw.unreachable_tasks.values())
            .chain(fw.completed_tasks.iter())
            .filter(|t| {
                t.agent_id.value == agent_id && t.executor_id.as_ref() == Some(&e.executor_id)
            })
            .find_map(|t| model::allocation_role(&t.resources))
            .unwrap_or_else(|| fw.roles().first().cloned().unwrap_or_default())
    }

    fn executor_resources(
        &self,
        framework_id: &str,
        agent_id: &str,
        e: &ExecutorInfo,
    ) -> Resources {
        let role = self.executor_role(framework_id, agent_id, e);
        Resources::from_protos(&e.resources)
            .unallocated()
            .allocate(&role)
    }

    /// The resources of the tasks that are not terminal and of the
    /// executors that `framework` (all if `None`) has on `agent` (all if
    /// `None`): Mesos' `totalUsedResources` / `usedResources`.
    fn used(&self, framework: Option<&str>, agent: Option<&str>) -> Resources {
        let mut used = Resources::new();
        for (fid, f) in &self.frameworks {
            if !accepts(framework, fid) {
                continue;
            }
            for t in f.tasks.values() {
                if accepts(agent, &t.agent_id.value) && !is_terminal(t.state()) {
                    used.add_all(&Resources::from_protos(&t.resources));
                }
            }
        }
        for (aid, a) in self.agents.iter().filter(|(aid, _)| accepts(agent, aid)) {
            for ((fid, _), e) in a
                .executors
                .iter()
                .filter(|((f, _), _)| accepts(framework, f))
            {
                used.add_all(&self.executor_resources(fid, aid, e));
            }
        }
        used
    }

    /// What every agent uses and has offered, from one walk over the tasks,
    /// executors and offers: the views of every agent (GET_AGENTS,
    /// `/master/state`, `/master/slaves`, the metrics) would otherwise walk
    /// all the tasks once per agent — seconds under the state lock at
    /// 30,000 tasks on 5,000 agents. The sums are those of `agent_used` and
    /// `agent_offered`, added in the same order.
    pub(super) fn agent_sums(&self) -> AgentSums<'_> {
        let mut used: HashMap<&str, Resources> = HashMap::new();
        for f in self.frameworks.values() {
            for t in f.tasks.values().filter(|t| !is_terminal(t.state())) {
                used.entry(t.agent_id.value.as_str())
                    .or_default()
                    .add_all(&Resources::from_protos(&t.resources));
            }
        }
        for (aid, a) in &self.agents {
            for ((fid, _), e) in &a.executors {
                used.entry(aid.as_str())
                    .or_default()
                    .add_all(&self.executor_resources(fid, aid, e));
            }
        }
        let mut offered: HashMap<&str, Resources> = HashMap::new();
        for o in self.offers.values() {
            offered
                .entry(o.offer.agent_id.value.as_str())
                .or_default()
                .add_all(&o.resources);
        }
        AgentSums { used, offered }
    }

    /// What a framework uses (`Framework::totalUsedResources`). A completed
    /// framework uses nothing.
    pub(super) fn framework_used(&self, f: &Framework) -> Resources {
        let id = f.id();
        if self.frameworks.contains_key(&id) {
            self.used(Some(&id), None)
        } else {
            Resources::new()
        }
    }

    /// What is used on an agent (`Resources::sum(slave->usedResources)`).
    pub(super) fn agent_used(&self, agent_id: &str) -> Resources {
        self.used(None, Some(agent_id))
    }

    /// What is offered to `framework` (all if `None`) on `agent` (all if
    /// `None`).
    fn offered(&self, framework: Option<&str>, agent: Option<&str>) -> Resources {
        let mut offered = Resources::new();
        for o in self.offers.values().filter(|o| {
            accepts(framework, &o.offer.framework_id.value)
                && accepts(agent, &o.offer.agent_id.value)
        }) {
            offered.add_all(&o.resources);
        }
        offered
    }

    /// What is offered to a framework (`totalOfferedResources`).
    pub(super) fn framework_offered(&self, framework_id: &str) -> Resources {
        self.offered(Some(framework_id), None)
    }

    /// What is offered on an agent (`slave->offeredResources`).
    pub(super) fn agent_offered(&self, agent_id: &str) -> Resources {
        self.offered(None, Some(agent_id))
    }

    /// `FullFrameworkWriter`.
    fn framework_json(&self, f: &Framework) -> Value {
        let id = f.id();
        let used = self.framework_used(f);
        let offered = self.framework_offered(&id);
        let info = &f.info;
        let capabilities: Vec<&str> = info
            .capabilities
            .iter()
            .map(|c| c.r#type().as_str_name())
            .collect();
        let mut o = Map::new();
        o.insert("id".into(), json!(id));
        o.insert("name".into(), json!(info.name));
        o.insert("used_resources".into(), model::resources(used.protos()));
        o.insert(
            "offered_resources".into(),
            model::resources(offered.protos()),
        );
        o.insert("capabilities".into(), json!(capabilities));
        o.insert(
            "hostname".into(),
            json!(info.hostname.clone().unwrap_or_default()),
        );
        o.insert(
            "webui_url".into(),
            json!(info.webui_url.clone().unwrap_or_default()),
        );
        o.insert("active".into(), json!(f.conn.is_some()));
        o.insert("connected".into(), json!(f.conn.is_some()));
        o.insert("recovered".into(), json!(f.recovered));
        o.insert("user".into(), json!(info.user));
        o.insert("failover_timeout".into(), json!(info.failover_timeout()));
        o.insert("checkpoint".into(), json!(info.checkpoint()));
        o.insert("registered_time".into(), json!(secs(&f.registered_time)));
        let unregistered = f.unregistered_time.as_ref().map_or(0.0, secs);
        o.insert("unregistered_time".into(), json!(unregistered));
        if let Some(p) = &info.principal {
            o.insert("principal".into(), json!(p));
        }
        let total = used.plus(&offered);
        o.insert("resources".into(), model::resources(total.protos()));
        if let Some(t) = &f.reregistered_time {
            o.insert("reregistered_time".into(), json!(secs(t)));
        }
        if f.multi_role() {
            o.insert("roles".into(), json!(info.roles));
        } else {
            o.insert("role".into(), json!(info.role()));
        }
        let tasks: Vec<Value> = f.tasks.values().map(model::task).collect();
        o.insert("tasks".into(), Value::Array(tasks));
        let unreachable: Vec<Value> = f.unreachable_tasks.values().map(model::task).collect();
        o.insert("unreachable_tasks".into(), Value::Array(unreachable));
        let completed: Vec<Value> = f.completed_tasks.iter().map(model::task).collect();
        o.insert("completed_tasks".into(), Value::Array(completed));
        let offers: Vec<Value> = self
            .offers
            .values()
            .filter(|x| x.offer.framework_id.value == id)
            .map(|x| model::offer(&x.offer, &x.role))
            .collect();
        o.insert("offers".into(), Value::Array(offers));
        let mut executors = Vec::new();
        for (aid, a) in &self.agents {
            for ((fid, _), e) in a.executors.iter().filter(|((fid, _), _)| *fid == id) {
                let role = self.executor_role(fid, aid, e);
                let mut v = model::executor_info(e, Some(&role));
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("slave_id".into(), json!(aid));
                }
                executors.push(v);
            }
        }
        o.insert("executors".into(), Value::Array(executors));
        if let Some(l) = &info.labels {
            o.insert("labels".into(), model::labels(l));
        }
        // The devcluster takes no offer constraints (SUBSCRIBE's
        // `offer_constraints` is not part of our protos): always empty.
        o.insert("offer_constraints".into(), json!({}));
        Value::Object(o)
    }

    /// `SlaveWriter`, and with `full` the `*_full` fields `SlavesWriter`
    /// adds for `/master/slaves`.
    fn slave_json(&self, id: &str, a: &Agent, full: bool, sums: &AgentSums<'_>) -> Value {
        let mut v = model::agent_info(&a.info);
        let Some(o) = v.as_object_mut() else {
            return v;
        };
        let (used, offered) = (sums.used(id), sums.offered(id));
        let (reserved, unreserved) = model::by_reservation(a.total.protos());
        o.insert("pid".into(), json!(Self::agent_pid(a)));
        o.insert("registered_time".into(), json!(secs(&a.registered_time)));
        if let Some(t) = &a.reregistered_time {
            o.insert("reregistered_time".into(), json!(secs(t)));
        }
        o.insert("resources".into(), model::resources(a.total.protos()));
        o.insert("used_resources".into(), model::resources(used.protos()));
        o.insert(
            "offered_resources".into(),
            model::resources(offered.protos()),
        );
        let reserved_model = model::per_role(&reserved, model::resources);
        o.insert("reserved_resources".into(), reserved_model);
        o.insert("unreserved_resources".into(), model::resources(&unreserved));
        o.insert("active".into(), json!(a.connected));
        o.insert("deactivated".into(), json!(false));
        o.insert("version".into(), json!(self.config.version));
        let caps: Vec<&str> = AGENT_CAPABILITIES.iter().map(|c| c.as_str_name()).collect();
        o.insert("capabilities".into(), json!(caps));
        if full {
            let reserved_full: Map<String, Value> = reserved
                .iter()
                .map(|(role, rs)| (role.clone(), model::resources_full(rs)))
                .collect();
            o.insert(
                "reserved_resources_full".into(),
                Value::Object(reserved_full),
            );
            o.insert(
                "unreserved_resources_full".into(),
                model::resources_full(&unreserved),
            );
            o.insert(
                "used_resources_full".into(),
                model::resources_full(used.protos()),
            );
            o.insert(
                "offered_resources_full".into(),
                model::resources_full(offered.protos()),
            );
        }
        v
    }

    fn recovered_slaves_json(&self, slave_id: Option<&str>) -> Value {
        // Only the IDs survive a devcluster master restart (its "registry").
        let slaves = self
            .recovered_agents
            .keys()
            .filter(|id| accepts(slave_id, id))
            .map(|id| {
                model::agent_info(&kube_mesos_proto::v1::AgentInfo {
                    id: Some(kube_mesos_proto::v1::AgentId { value: id.clone() }),
                    ..Default::default()
                })
            })
            .collect();
        Value::Array(slaves)
    }

    /// `/master/frameworks` (query `framework_id`).
    pub fn frameworks_json(&self, framework_id: Option<&str>) -> Value {
        let frameworks: Vec<Value> = self
            .frameworks
            .values()
            .filter(|f| accepts(framework_id, &f.id()))
            .map(|f| self.framework_json(f))
            .collect();
        let completed: Vec<Value> = self
            .completed_frameworks
            .iter()
            .filter(|f| accepts(framework_id, &f.id()))
            .map(|f| self.framework_json(f))
            .collect();
        json!({
            "frameworks": frameworks,
            "completed_frameworks": completed,
            // No longer possible in Mesos; written for compatibility.
            "unregistered_frameworks": [],
        })
    }

    /// `/master/slaves` (query `slave_id`).
    pub fn slaves_json(&self, slave_id: Option<&str>) -> Value {
        let sums = self.agent_sums();
        let slaves: Vec<Value> = self
            .agents
            .iter()
            .filter(|(id, _)| accepts(slave_id, id))
            .map(|(id, a)| self.slave_json(id, a, true, &sums))
            .collect();
        json!({
            "slaves": slaves,
            "recovered_slaves": self.recovered_slaves_json(slave_id),
        })
    }

    /// `/master/tasks`: running, unreachable and completed tasks of
    /// registered then completed frameworks, sorted by their first status'
    /// timestamp (descending unless `order=asc`), then `offset`/`limit`.
    pub fn tasks_json(&self, q: &TasksQuery) -> Value {
        let mut tasks: Vec<&Task> = Vec::new();
        for f in self
            .frameworks
            .values()
            .chain(self.completed_frameworks.iter())
            .filter(|f| accepts(q.framework_id.as_deref(), &f.id()))
        {
            tasks.extend(
                f.tasks
                    .values()
                    .chain(f.unreachable_tasks.values())
                    .chain(f.completed_tasks.iter())
                    .filter(|t| accepts(q.task_id.as_deref(), &t.task_id.value)),
            );
        }
        tasks.sort_by(|a, b| {
            let (a, b) = (first_timestamp(a), first_timestamp(b));
            let ord = match (a, b) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (Some(a), Some(b)) => a.total_cmp(&b),
            };
            if q.ascending {
                ord
            } else {
                ord.reverse()
            }
        });
        let page: Vec<Value> = tasks
            .into_iter()
            .skip(q.offset)
            .take(q.limit)
            .map(model::task)
            .collect();
        json!({ "tasks": page })
    }

    /// `/master/state`. Flags: the master flags the devcluster honours,
    /// written as Mesos writes flag values.
    pub fn state_json(&self) -> Value {
        let info = &self.master_info;
        let capabilities: Vec<&str> = info
            .capabilities
            .iter()
            .map(|c| c.r#type().as_str_name())
            .collect();
        let active = self.agents.values().filter(|a| a.connected).count();
        let inactive = self.agents.len() - active;
        let pid = info.pid.clone().unwrap_or_default();
        let mut o = Map::new();
        o.insert("version".into(), json!(self.config.version));
        o.insert("build_date".into(), json!(build::BUILD_DATE));
        o.insert("build_time".into(), json!(build::BUILD_TIME));
        o.insert("build_user".into(), json!(build::BUILD_USER));
        o.insert("start_time".into(), json!(self.start_time));
        o.insert("elected_time".into(), json!(self.start_time));
        o.insert("id".into(), json!(info.id));
        o.insert("pid".into(), json!(pid));
        o.insert(
            "hostname".into(),
            json!(info.hostname.clone().unwrap_or_default()),
        );
        o.insert("capabilities".into(), json!(capabilities));
        o.insert("activated_slaves".into(), json!(active as f64));
        o.insert("deactivated_slaves".into(), json!(inactive as f64));
        let unreachable = self.unreachable_agents.len() as f64;
        o.insert("unreachable_slaves".into(), json!(unreachable));
        if let Some(d) = &info.domain {
            o.insert("domain".into(), model::protobuf(d));
        }
        // Served only by the leader (others redirect), so it leads.
        o.insert("leader".into(), json!(pid));
        o.insert("leader_info".into(), model::master_info(info));
        o.insert("flags".into(), Value::Object(self.flags_json()));
        let sums = self.agent_sums();
        let slaves: Vec<Value> = self
            .agents
            .iter()
            .map(|(id, a)| self.slave_json(id, a, false, &sums))
            .collect();
        o.insert("slaves".into(), Value::Array(slaves));
        o.insert("recovered_slaves".into(), self.recovered_slaves_json(None));
        let fws = self.frameworks_json(None);
        o.insert("frameworks".into(), fws["frameworks"].clone());
        o.insert(
            "completed_frameworks".into(),
            fws["completed_frameworks"].clone(),
        );
        o.insert("orphan_tasks".into(), json!([]));
        o.insert("unregistered_frameworks".into(), json!([]));
        Value::Object(o)
    }

    fn flags_json(&self) -> Map<String, Value> {
        use crate::mesos::agent::config::mesos_duration;
        let c = &self.config;
        let mut flags = Map::new();
        let mut put = |k: &str, v: String| {
            flags.insert(k.to_owned(), json!(v));
        };
        put(
            "agent_reregister_timeout",
            mesos_duration(c.agent_reregister_timeout),
        );
        put("allocation_interval", mesos_duration(c.allocation_interval));
        put("hostname", c.hostname.clone());
        for k in [
            "authenticate_agents",
            "authenticate_frameworks",
            "authenticate_http_frameworks",
            "authenticate_http_readonly",
            "authenticate_http_readwrite",
        ] {
            put(k, "false".into());
        }
        if let Some(t) = c.offer_timeout {
            put("offer_timeout", mesos_duration(t));
        }
        if let Some(roles) = &c.roles {
            put("roles", roles.iter().cloned().collect::<Vec<_>>().join(","));
        }
        if !c.weights.is_empty() {
            let w: Vec<String> = c.weights.iter().map(|(r, w)| format!("{r}={w}")).collect();
            put("weights", w.join(","));
        }
        flags
    }
}

/// What each agent uses and has offered ([`State::agent_sums`]).
pub(super) struct AgentSums<'a> {
    used: HashMap<&'a str, Resources>,
    offered: HashMap<&'a str, Resources>,
}

impl AgentSums<'_> {
    /// As `State::agent_used`.
    pub(super) fn used(&self, agent_id: &str) -> Resources {
        self.used.get(agent_id).cloned().unwrap_or_default()
    }

    /// As `State::agent_offered`.
    pub(super) fn offered(&self, agent_id: &str) -> Resources {
        self.offered.get(agent_id).cloned().unwrap_or_default()
    }
}

//! Mesos' JSON models of its protobufs, as its read-only HTTP endpoints
//! (`/master/state`, `/master/tasks`, the agent's `/state`, ...) write them.
//!
//! These are not the generic protobuf→JSON mapping of
//! [`kube_mesos_proto::json`]: apache/mesos `src/common/http.cpp` hand-writes
//! most of them (`json(JSON::ObjectWriter*, const Task&)` and friends).
//! Resources become `{"cpus": 0.2, "mem": 96, "ports": "[31000-31000]"}`,
//! attributes a name→value object, a task's `slave_id` keeps its v0 name,
//! and fields are written or omitted by rules of their own. Nested messages
//! that Mesos does write generically (`JSON::Protobuf`: labels, container
//! IDs, IP addresses, discovery, environment) go through the generic mapping,
//! whose field names are the same in v0 and v1.
//!
//! Master and agent share these functions, as both of Mesos' share
//! `common/http.cpp`. Everything here is pure.

use std::collections::BTreeMap;

use kube_mesos_proto::v1::resource::reservation_info;
use kube_mesos_proto::v1::value::{self, Range};
use kube_mesos_proto::v1::{
    AgentInfo, Attribute, CommandInfo, ContainerStatus, ExecutorInfo, Labels, MasterInfo,
    NetworkInfo, Offer, Resource, Task, TaskInfo, TaskStatus,
};
use serde_json::{json, Map, Value};

use crate::mesos::master::resources::reservation_role;

/// The generic protobuf mapping, or `null` if the message cannot be written
/// (only possible with a broken build: the descriptors are embedded).
pub fn protobuf<M: prost::Name>(msg: &M) -> Value {
    kube_mesos_proto::json::to_json(msg).unwrap_or(Value::Null)
}

fn coalesce(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_by_key(|r| (r.begin, r.end));
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges.into_iter().filter(|r| r.begin <= r.end) {
        match out.last_mut() {
            Some(last) if r.begin <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// stout's `stringify(Value::Ranges)`: `[31000-31000, 31005-31010]`.
pub fn ranges_text(ranges: &[Range]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.begin, r.end))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// stout's `stringify(Value::Set)`: `{a, b}`.
pub fn set_text(items: &[String]) -> String {
    format!("{{{}}}", items.join(", "))
}

/// `json(JSON::ObjectWriter*, const Resources&)`: scalars summed per name
/// (`cpus`, `gpus`, `mem` and `disk` always present), ranges and sets merged
/// and written as text; revocable resources under `<name>_revocable`.
pub fn resources(rs: &[Resource]) -> Value {
    let mut scalars: BTreeMap<String, f64> = ["cpus", "gpus", "mem", "disk"]
        .into_iter()
        .map(|n| (n.to_owned(), 0.0))
        .collect();
    let mut ranges: BTreeMap<String, Vec<Range>> = BTreeMap::new();
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rs {
        let name = if r.revocable.is_some() {
            format!("{}_revocable", r.name)
        } else {
            r.name.clone()
        };
        match r.r#type() {
            value::Type::Scalar => {
                *scalars.entry(name).or_default() += r.scalar.as_ref().map_or(0.0, |s| s.value);
            }
            value::Type::Ranges => ranges
                .entry(name)
                .or_default()
                .extend(r.ranges.iter().flat_map(|rs| rs.range.iter().cloned())),
            value::Type::Set => {
                let items = sets.entry(name).or_default();
                for i in r.set.iter().flat_map(|s| s.item.iter()) {
                    if !items.contains(i) {
                        items.push(i.clone());
                    }
                }
            }
            value::Type::Text => {}
        }
    }
    let mut out = Map::new();
    for (name, v) in scalars {
        out.insert(name, json!(v));
    }
    for (name, rs) in ranges {
        out.insert(name, json!(ranges_text(&coalesce(rs))));
    }
    for (name, items) in sets {
        out.insert(name, json!(set_text(&items)));
    }
    Value::Object(out)
}

/// One resource as `JSON::Protobuf` writes it after
/// `convertResourceFormat(ENDPOINT)`: the `*_full` arrays of the endpoints.
/// An unreserved resource gets `role: "*"`, a singly reserved one the
/// reservation's role (and, if dynamic, the old `reservation` field).
// `role` and `reservation` are deprecated; the endpoint format is made of them.
#[allow(deprecated)]
pub fn resource_full(r: &Resource) -> Value {
    let mut r = r.clone();
    match r.reservations.as_slice() {
        [] => r.role = Some("*".into()),
        [only] => {
            if only.r#type() == reservation_info::Type::Dynamic {
                r.reservation = Some(kube_mesos_proto::v1::resource::ReservationInfo {
                    principal: only.principal.clone(),
                    labels: only.labels.clone(),
                    ..Default::default()
                });
            }
            r.role = only.role.clone();
        }
        _ => {}
    }
    protobuf(&r)
}

/// [`resource_full`] of each resource.
pub fn resources_full(rs: &[Resource]) -> Value {
    Value::Array(rs.iter().map(resource_full).collect())
}

/// Resources split as Mesos' `Resources::reservations()` and
/// `unreserved()` do: role (of the last reservation) → reserved, and the
/// unreserved rest.
pub fn by_reservation(rs: &[Resource]) -> (BTreeMap<String, Vec<Resource>>, Vec<Resource>) {
    let mut reserved: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
    let mut unreserved = Vec::new();
    for r in rs {
        match reservation_role(r) {
            Some(role) => reserved.entry(role.to_owned()).or_default().push(r.clone()),
            None => unreserved.push(r.clone()),
        }
    }
    (reserved, unreserved)
}

/// A role → resources object, each written by `write`.
pub fn per_role(
    reserved: &BTreeMap<String, Vec<Resource>>,
    write: fn(&[Resource]) -> Value,
) -> Value {
    Value::Object(
        reserved
            .iter()
            .map(|(role, rs)| (role.clone(), write(rs)))
            .collect(),
    )
}

/// The role a task's or executor's resources are allocated to (Mesos takes
/// the first resource's; they never mix roles, MESOS-6636).
pub fn allocation_role(rs: &[Resource]) -> Option<String> {
    rs.first()
        .and_then(|r| r.allocation_info.as_ref())
        .and_then(|a| a.role.clone())
}

/// `json(JSON::ObjectWriter*, const Attributes&)`: name → value.
pub fn attributes(attrs: &[Attribute]) -> Value {
    let mut out = Map::new();
    for a in attrs {
        let v = match a.r#type() {
            value::Type::Scalar => json!(a.scalar.as_ref().map_or(0.0, |s| s.value)),
            value::Type::Ranges => json!(ranges_text(
                &a.ranges
                    .as_ref()
                    .map(|r| r.range.clone())
                    .unwrap_or_default()
            )),
            value::Type::Set => json!(set_text(
                &a.set.as_ref().map(|s| s.item.clone()).unwrap_or_default()
            )),
            value::Type::Text => {
                json!(a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default())
            }
        };
        out.insert(a.name.clone(), v);
    }
    Value::Object(out)
}

/// `json(JSON::ArrayWriter*, const Labels&)`.
pub fn labels(l: &Labels) -> Value {
    Value::Array(l.labels.iter().map(protobuf).collect())
}

fn network_info(n: &NetworkInfo) -> Value {
    let mut o = Map::new();
    if !n.groups.is_empty() {
        o.insert("groups".into(), json!(n.groups));
    }
    if let Some(l) = &n.labels {
        o.insert("labels".into(), labels(l));
    }
    if !n.ip_addresses.is_empty() {
        let ips = n.ip_addresses.iter().map(protobuf).collect();
        o.insert("ip_addresses".into(), Value::Array(ips));
    }
    if let Some(name) = &n.name {
        o.insert("name".into(), json!(name));
    }
    if !n.port_mappings.is_empty() {
        let pms = n.port_mappings.iter().map(protobuf).collect();
        o.insert("port_mappings".into(), Value::Array(pms));
    }
    Value::Object(o)
}

fn container_status(s: &ContainerStatus) -> Value {
    let mut o = Map::new();
    if let Some(id) = &s.container_id {
        o.insert("container_id".into(), protobuf(id));
    }
    if !s.network_infos.is_empty() {
        let nis = s.network_infos.iter().map(network_info).collect();
        o.insert("network_infos".into(), Value::Array(nis));
    }
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const TaskStatus&)`.
pub fn task_status(s: &TaskStatus) -> Value {
    let mut o = Map::new();
    o.insert("state".into(), json!(s.state().as_str_name()));
    o.insert("timestamp".into(), json!(s.timestamp.unwrap_or(0.0)));
    if let Some(l) = &s.labels {
        o.insert("labels".into(), labels(l));
    }
    if let Some(c) = &s.container_status {
        o.insert("container_status".into(), container_status(c));
    }
    if let Some(h) = s.healthy {
        o.insert("healthy".into(), json!(h));
    }
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const Task&)`.
pub fn task(t: &Task) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(t.task_id.value));
    o.insert("name".into(), json!(t.name));
    o.insert("framework_id".into(), json!(t.framework_id.value));
    let executor_id = t.executor_id.as_ref().map(|e| e.value.as_str());
    o.insert("executor_id".into(), json!(executor_id.unwrap_or_default()));
    o.insert("slave_id".into(), json!(t.agent_id.value));
    o.insert("state".into(), json!(t.state().as_str_name()));
    o.insert("resources".into(), resources(&t.resources));
    if !t.limits.is_empty() {
        let limits: Map<String, Value> = t
            .limits
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.value)))
            .collect();
        o.insert("limits".into(), Value::Object(limits));
    }
    let role = allocation_role(&t.resources).unwrap_or_default();
    o.insert("role".into(), json!(role));
    let statuses = t.statuses.iter().map(task_status).collect();
    o.insert("statuses".into(), Value::Array(statuses));
    if let Some(user) = &t.user {
        o.insert("user".into(), json!(user));
    }
    if let Some(l) = &t.labels {
        o.insert("labels".into(), labels(l));
    }
    if let Some(d) = &t.discovery {
        o.insert("discovery".into(), protobuf(d));
    }
    if let Some(h) = &t.health_check {
        o.insert("health_check".into(), protobuf(h));
    }
    Value::Object(o)
}

/// The agent's `json(JSON::ObjectWriter*, const TaskInfo&)` (queued tasks).
pub fn task_info(t: &TaskInfo) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(t.task_id.value));
    o.insert("name".into(), json!(t.name));
    o.insert("slave_id".into(), json!(t.agent_id.value));
    o.insert("resources".into(), resources(&t.resources));
    let role = allocation_role(&t.resources).unwrap_or_default();
    o.insert("role".into(), json!(role));
    if let Some(c) = &t.command {
        o.insert("command".into(), command_info(c));
    }
    if let Some(e) = &t.executor {
        o.insert("executor_id".into(), json!(e.executor_id.value));
    }
    if let Some(d) = &t.discovery {
        o.insert("discovery".into(), protobuf(d));
    }
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const CommandInfo&)`.
pub fn command_info(c: &CommandInfo) -> Value {
    let mut o = Map::new();
    if let Some(shell) = c.shell {
        o.insert("shell".into(), json!(shell));
    }
    if let Some(v) = &c.value {
        o.insert("value".into(), json!(v));
    }
    o.insert("argv".into(), json!(c.arguments));
    if let Some(env) = &c.environment {
        o.insert("environment".into(), protobuf(env));
    }
    let uris = c
        .uris
        .iter()
        .map(|u| json!({"value": u.value, "executable": u.executable.unwrap_or(false)}))
        .collect();
    o.insert("uris".into(), Value::Array(uris));
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const ExecutorInfo&)`. Mesos takes `role`
/// from the executor's resources' allocation; `role` is used when they carry
/// none (the devcluster keeps executors as the scheduler sent them).
pub fn executor_info(e: &ExecutorInfo, role: Option<&str>) -> Value {
    let mut o = Map::new();
    o.insert("executor_id".into(), json!(e.executor_id.value));
    o.insert("name".into(), json!(e.name.clone().unwrap_or_default()));
    let framework_id = e.framework_id.as_ref().map(|f| f.value.clone());
    o.insert(
        "framework_id".into(),
        json!(framework_id.unwrap_or_default()),
    );
    let command = e.command.clone().unwrap_or_default();
    o.insert("command".into(), command_info(&command));
    o.insert("resources".into(), resources(&e.resources));
    if !e.resources.is_empty() {
        let role = allocation_role(&e.resources).or_else(|| role.map(str::to_owned));
        o.insert("role".into(), json!(role.unwrap_or_default()));
    }
    if let Some(l) = &e.labels {
        o.insert("labels".into(), labels(l));
    }
    if e.r#type.is_some() {
        o.insert("type".into(), json!(e.r#type().as_str_name()));
    }
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const SlaveInfo&)`.
pub fn agent_info(a: &AgentInfo) -> Value {
    let mut o = Map::new();
    let id = a.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
    o.insert("id".into(), json!(id));
    o.insert("hostname".into(), json!(a.hostname));
    o.insert("port".into(), json!(a.port.unwrap_or(5051)));
    o.insert("attributes".into(), attributes(&a.attributes));
    if let Some(d) = &a.domain {
        o.insert("domain".into(), protobuf(d));
    }
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const MasterInfo&)`.
pub fn master_info(m: &MasterInfo) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(m.id));
    o.insert("pid".into(), json!(m.pid.clone().unwrap_or_default()));
    o.insert("port".into(), json!(m.port));
    o.insert(
        "hostname".into(),
        json!(m.hostname.clone().unwrap_or_default()),
    );
    if let Some(d) = &m.domain {
        o.insert("domain".into(), protobuf(d));
    }
    Value::Object(o)
}

/// `json(JSON::ObjectWriter*, const Offer&)`; `role` is the offer's
/// allocation role (the master always knows it, even when the scheduler is
/// not MULTI_ROLE and never sees it).
pub fn offer(o: &Offer, role: &str) -> Value {
    json!({
        "id": o.id.value,
        "framework_id": o.framework_id.value,
        "allocation_info": {"role": role},
        "slave_id": o.agent_id.value,
        "resources": resources(&o.resources),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesos::master::resources::{ranges, reserved_static, scalar};
    use kube_mesos_proto::v1::resource::AllocationInfo;
    use kube_mesos_proto::v1::{
        network_info, task_status, ContainerId, ExecutorId, FrameworkId, Label, TaskId, TaskState,
    };

    fn allocated(mut r: Resource, role: &str) -> Resource {
        r.allocation_info = Some(AllocationInfo {
            role: Some(role.into()),
        });
        r
    }

    #[test]
    fn resources_sum_scalars_merge_ranges_and_always_name_the_four_scalars() {
        let rs = vec![
            allocated(scalar("cpus", 0.1), "*"),
            allocated(scalar("cpus", 0.1), "web"),
            ranges("ports", &[(31005, 31010)]),
            ranges("ports", &[(31000, 31000), (31001, 31002)]),
        ];
        assert_eq!(
            resources(&rs),
            json!({"cpus": 0.2, "gpus": 0.0, "mem": 0.0, "disk": 0.0,
                   "ports": "[31000-31002, 31005-31010]"})
        );
        let mut revocable = scalar("cpus", 1.0);
        revocable.revocable = Some(Default::default());
        assert_eq!(resources(&[revocable])["cpus_revocable"], json!(1.0));
    }

    #[test]
    fn full_resources_carry_the_endpoint_role() {
        let unreserved = resource_full(&ranges("ports", &[(1, 2)]));
        assert_eq!(
            unreserved,
            json!({"name": "ports", "type": "RANGES",
                   "ranges": {"range": [{"begin": 1, "end": 2}]}, "role": "*"})
        );
        let reserved = resource_full(&reserved_static(scalar("cpus", 1.0), "web"));
        assert_eq!(reserved["role"], "web");
        assert_eq!(reserved["reservations"][0]["type"], "STATIC");
        assert!(reserved.get("reservation").is_none());
        let used = resource_full(&allocated(scalar("mem", 96.0), "*"));
        assert_eq!(used["allocation_info"], json!({"role": "*"}));
    }

    #[test]
    fn a_task_is_written_as_mesos_writes_it() {
        let status = TaskStatus {
            task_id: TaskId { value: "t".into() },
            state: TaskState::TaskRunning as i32,
            timestamp: Some(12.5),
            source: Some(task_status::Source::Executor as i32),
            uuid: Some(vec![1; 16]),
            container_status: Some(ContainerStatus {
                container_id: Some(ContainerId {
                    value: "c".into(),
                    parent: None,
                }),
                network_infos: vec![NetworkInfo {
                    ip_addresses: vec![network_info::IpAddress {
                        protocol: None,
                        ip_address: Some("127.0.0.1".into()),
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = Task {
            name: "default/hello".into(),
            task_id: TaskId { value: "t".into() },
            framework_id: FrameworkId { value: "f".into() },
            executor_id: Some(ExecutorId { value: "e".into() }),
            agent_id: kube_mesos_proto::v1::AgentId { value: "a".into() },
            state: TaskState::TaskRunning as i32,
            resources: vec![allocated(scalar("cpus", 0.1), "*")],
            statuses: vec![status],
            labels: Some(Labels {
                labels: vec![Label {
                    key: "k".into(),
                    value: Some("v".into()),
                }],
            }),
            ..Default::default()
        };
        assert_eq!(
            task(&t),
            json!({
                "id": "t", "name": "default/hello", "framework_id": "f",
                "executor_id": "e", "slave_id": "a", "state": "TASK_RUNNING",
                "resources": {"cpus": 0.1, "gpus": 0.0, "mem": 0.0, "disk": 0.0},
                "role": "*",
                "statuses": [{
                    "state": "TASK_RUNNING", "timestamp": 12.5,
                    "container_status": {
                        "container_id": {"value": "c"},
                        "network_infos": [{"ip_addresses": [
                            {"protocol": "IPv4", "ip_address": "127.0.0.1"}]}]
                    }
                }],
                "labels": [{"key": "k", "value": "v"}]
            })
        );
    }

    #[test]
    fn executors_take_their_role_from_allocation_or_the_fallback() {
        let mut e = ExecutorInfo {
            executor_id: ExecutorId { value: "e".into() },
            resources: vec![scalar("mem", 64.0)],
            r#type: Some(kube_mesos_proto::v1::executor_info::Type::Custom as i32),
            ..Default::default()
        };
        let v = executor_info(&e, Some("web"));
        assert_eq!(v["role"], "web");
        assert_eq!(v["type"], "CUSTOM");
        assert_eq!(v["command"], json!({"argv": [], "uris": []}));
        assert_eq!(v["name"], "");
        e.resources = vec![allocated(scalar("mem", 64.0), "*")];
        assert_eq!(executor_info(&e, Some("web"))["role"], "*");
        e.resources.clear();
        assert!(executor_info(&e, Some("web")).get("role").is_none());
    }

    #[test]
    fn attributes_are_a_name_to_value_object() {
        let text = Attribute {
            name: "rack".into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: "r1".into() }),
            ..Default::default()
        };
        let set = Attribute {
            name: "s".into(),
            r#type: value::Type::Set as i32,
            set: Some(value::Set {
                item: vec!["a".into(), "b".into()],
            }),
            ..Default::default()
        };
        assert_eq!(
            attributes(&[text, set]),
            json!({"rack": "r1", "s": "{a, b}"})
        );
    }
}

//! The master's `/metrics/snapshot` as a view of the state: its counters
//! (`metrics.rs`) plus the gauges Mesos computes from its state when asked
//! (`Master::_tasks_running`, `_frameworks_active`, `_resources_used`, the
//! allocator's `_resources_offered_or_allocated`, `_offer_filters_active`
//! and the role sorter's dominant shares, the framework gauges `subscribed`,
//! `tasks/active/<state>` and `roles/<role>/suppressed`).
//!
//! Keys the devcluster cannot honestly compute are absent rather than
//! made up:
//! - `master/event_queue_*`, `allocator/event_queue_dispatches`,
//!   `allocator/mesos/event_queue_dispatches`: libprocess queue lengths;
//!   there is no such queue.
//! - `master/http_cache_hits`: Mesos batches concurrent identical
//!   read-only requests; the devcluster answers each one.
//! - `allocator/mesos/allocation_run_ms*`, `allocation_run_latency_ms*`:
//!   timers of Mesos' allocator runs.
//! - `allocator/mesos/quota/*`: quota is not implemented.
//! - `registrar/*`: there is no registry.
//! - `master/operations/*`, `master/messages_reconcile_operations`,
//!   `master/messages_operation_status_update*`,
//!   `master/{valid,invalid}_operation_status_update*` and per-framework
//!   `operations/<type>` other than `launch` / `launch_group`: the
//!   devcluster applies no offer operation other than LAUNCH and
//!   LAUNCH_GROUP and answers 501 to the operation feedback calls.
//!
//! The per-framework `tasks/active/<state>` gauges are counted from the
//! tasks the framework has (running and unreachable), which is what Mesos'
//! push gauges track in every flow where they do not drift.

use std::collections::{BTreeMap, BTreeSet};

use kube_mesos_proto::v1::TaskState;
use tokio::time::Instant;

use super::readonly::AgentSums;
use super::{is_terminal, now_secs, State};
use crate::mesos::master::resources::Resources;
use crate::mesos::model;

/// The scalars Mesos has per-resource master gauges for.
const MASTER_SCALARS: [&str; 4] = ["cpus", "gpus", "mem", "disk"];
/// The scalars the allocator has gauges for.
const ALLOCATOR_SCALARS: [&str; 3] = ["cpus", "mem", "disk"];
/// The task states that are gauges (not terminal) per framework.
const ACTIVE_STATES: [TaskState; 6] = [
    TaskState::TaskStaging,
    TaskState::TaskStarting,
    TaskState::TaskRunning,
    TaskState::TaskKilling,
    TaskState::TaskUnreachable,
    TaskState::TaskUnknown,
];

fn revocable(rs: &Resources, revocable: bool) -> Resources {
    Resources::from_protos(
        rs.protos()
            .iter()
            .filter(|r| r.revocable.is_some() == revocable),
    )
}

fn ratio(used: f64, total: f64) -> f64 {
    if total == 0.0 {
        0.0
    } else {
        used / total
    }
}

impl State {
    /// Resources allocated (used or offered) per role, as the allocator's
    /// role sorter sees them.
    fn role_allocations(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for (fid, f) in &self.frameworks {
            for r in f.roles() {
                out.entry(r).or_default();
            }
            for t in f.tasks.values().filter(|t| !is_terminal(t.state())) {
                let role = model::allocation_role(&t.resources).unwrap_or_default();
                out.entry(role)
                    .or_default()
                    .add_all(&Resources::from_protos(&t.resources));
            }
            for (aid, a) in &self.agents {
                for ((efid, _), e) in a.executors.iter().filter(|((efid, _), _)| efid == fid) {
                    let role = self.executor_role(efid, aid, e);
                    let r = Resources::from_protos(&e.resources).unallocated();
                    out.entry(role.clone())
                        .or_default()
                        .add_all(&r.allocate(&role));
                }
            }
        }
        for o in self.offers.values() {
            out.entry(o.role.clone()).or_default().add_all(&o.resources);
        }
        out
    }

    fn master_gauges(&self, sums: &AgentSums<'_>, m: &mut BTreeMap<String, f64>) {
        let mut put = |k: &str, v: f64| {
            m.insert(k.to_owned(), v);
        };
        put(
            "master/uptime_secs",
            (now_secs() - self.start_time).max(0.0),
        );
        put(
            "master/elected",
            if self.leader.is_none() { 1.0 } else { 0.0 },
        );

        let connected = self.agents.values().filter(|a| a.connected).count() as f64;
        let agents = self.agents.len() as f64;
        put("master/slaves_connected", connected);
        put("master/slaves_disconnected", agents - connected);
        put("master/slaves_active", connected);
        put("master/slaves_inactive", agents - connected);
        put(
            "master/slaves_unreachable",
            self.unreachable_agents.len() as f64,
        );

        let subscribed = self
            .frameworks
            .values()
            .filter(|f| f.conn.is_some())
            .count() as f64;
        let frameworks = self.frameworks.len() as f64;
        put("master/frameworks_connected", subscribed);
        put("master/frameworks_disconnected", frameworks - subscribed);
        put("master/frameworks_active", subscribed);
        put("master/frameworks_inactive", frameworks - subscribed);

        put("master/outstanding_offers", self.offers.len() as f64);
        let subscribers = self
            .operator_subscribers
            .iter()
            .filter(|tx| !tx.is_closed())
            .count();
        put(
            "master/operator_event_stream_subscribers",
            subscribers as f64,
        );

        let on_agents = |state: TaskState| {
            self.frameworks
                .values()
                .flat_map(|f| f.tasks.values())
                .filter(|t| self.agents.contains_key(&t.agent_id.value) && t.state() == state)
                .count() as f64
        };
        put("master/tasks_staging", on_agents(TaskState::TaskStaging));
        put("master/tasks_starting", on_agents(TaskState::TaskStarting));
        put("master/tasks_running", on_agents(TaskState::TaskRunning));
        put("master/tasks_killing", on_agents(TaskState::TaskKilling));
        let unreachable = self
            .frameworks
            .values()
            .flat_map(|f| f.unreachable_tasks.values())
            .filter(|t| t.state() == TaskState::TaskUnreachable)
            .count();
        put("master/tasks_unreachable", unreachable as f64);

        let mut total = Resources::new();
        let mut used = Resources::new();
        for (id, a) in &self.agents {
            total.add_all(&a.total);
            used.add_all(&sums.used(id).unallocated());
        }
        for (suffix, is_revocable) in [("", false), ("_revocable", true)] {
            let total = revocable(&total, is_revocable);
            let used = revocable(&used, is_revocable);
            for name in MASTER_SCALARS {
                let (t, u) = (total.scalar(name), used.scalar(name));
                put(&format!("master/{name}{suffix}_total"), t);
                put(&format!("master/{name}{suffix}_used"), u);
                put(&format!("master/{name}{suffix}_percent"), ratio(u, t));
            }
        }
    }

    fn allocator_gauges(&self, now: Instant, sums: &AgentSums<'_>, m: &mut BTreeMap<String, f64>) {
        let mut total = Resources::new();
        let mut allocated = Resources::new();
        for (id, a) in &self.agents {
            total.add_all(&a.total);
            allocated.add_all(&sums.used(id).unallocated());
            allocated.add_all(&sums.offered(id).unallocated());
        }
        for name in ALLOCATOR_SCALARS {
            let prefix = format!("allocator/mesos/resources/{name}");
            m.insert(format!("{prefix}/total"), total.scalar(name));
            m.insert(
                format!("{prefix}/offered_or_allocated"),
                allocated.scalar(name),
            );
        }
        let roles = self.role_allocations();
        for (role, alloc) in &roles {
            let mut share: f64 = 0.0;
            for name in total.scalar_names() {
                let t = total.scalar(&name);
                if t > 0.0 {
                    share = share.max(alloc.scalar(&name) / t);
                }
            }
            let weight = self.config.weights.get(role).copied().unwrap_or(1.0);
            m.insert(
                format!("allocator/mesos/roles/{role}/shares/dominant"),
                share / weight,
            );
            let filters = self
                .frameworks
                .values()
                .flat_map(|f| f.filters.iter())
                .filter(|f| f.role == *role && f.expires > now)
                .count();
            m.insert(
                format!("allocator/mesos/offer_filters/roles/{role}/active"),
                filters as f64,
            );
        }
    }

    fn framework_gauges(&self, m: &mut BTreeMap<String, f64>) {
        let registered: BTreeSet<String> = self.frameworks.keys().cloned().collect();
        for f in self
            .frameworks
            .values()
            .chain(self.completed_frameworks.iter())
        {
            let prefix = f.metrics.prefix().to_owned();
            for (k, v) in f.metrics.values() {
                m.insert(format!("{prefix}{k}"), v as f64);
            }
            let subscribed = if f.conn.is_some() { 1.0 } else { 0.0 };
            m.insert(format!("{prefix}subscribed"), subscribed);
            for state in ACTIVE_STATES {
                let n = f
                    .tasks
                    .values()
                    .chain(f.unreachable_tasks.values())
                    .filter(|t| t.state() == state)
                    .count();
                let key = format!(
                    "{prefix}tasks/active/{}",
                    state.as_str_name().to_lowercase()
                );
                m.insert(key, n as f64);
            }
            // The allocator's framework metrics go when it forgets the
            // framework, on removal.
            if registered.contains(&f.id()) {
                for role in f.roles() {
                    let suppressed = if f.suppressed.contains(&role) {
                        1.0
                    } else {
                        0.0
                    };
                    m.insert(format!("{prefix}roles/{role}/suppressed"), suppressed);
                }
            }
        }
    }

    /// `/metrics/snapshot` of the master, without libprocess' `system/*`.
    pub fn metrics_snapshot(&self, now: Instant) -> BTreeMap<String, f64> {
        let mut m: BTreeMap<String, f64> =
            self.metrics.values().map(|(k, v)| (k, v as f64)).collect();
        // One walk over the tasks, executors and offers serves both.
        let sums = self.agent_sums();
        self.master_gauges(&sums, &mut m);
        self.allocator_gauges(now, &sums, &mut m);
        self.allocation_run.snapshot(&mut m);
        self.framework_gauges(&mut m);
        // An empty f64 sum is -0.0; Mesos writes 0.
        for v in m.values_mut() {
            *v += 0.0;
        }
        m
    }
}

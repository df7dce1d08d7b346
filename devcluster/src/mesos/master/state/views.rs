//! The operator API's views of the master state (GET_STATE, GET_AGENTS,
//! GET_FRAMEWORKS, GET_TASKS, GET_EXECUTORS), also used for the operator
//! events that carry a framework or an agent. Used and offered resources
//! are accounted in `readonly.rs`, shared with the JSON endpoints.

use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::{agent_info, AgentId, Offer};

use super::{Framework, State};
use crate::mesos::agent::state_view::AGENT_CAPABILITIES;
use crate::mesos::master::resources::Resources;

impl State {
    pub(super) fn framework_summary(
        &self,
        id: &str,
    ) -> Option<operator::response::get_frameworks::Framework> {
        self.frameworks.get(id).map(|f| self.framework_view(f))
    }

    pub(super) fn framework_view(
        &self,
        f: &Framework,
    ) -> operator::response::get_frameworks::Framework {
        let id = f.id();
        let offers: Vec<Offer> = self
            .offers
            .values()
            .filter(|o| o.offer.framework_id.value == id)
            .map(|o| o.offer.clone())
            .collect();
        operator::response::get_frameworks::Framework {
            framework_info: f.info.clone(),
            active: f.conn.is_some(),
            connected: f.conn.is_some(),
            recovered: f.recovered,
            registered_time: Some(f.registered_time),
            reregistered_time: f.reregistered_time,
            unregistered_time: f.unregistered_time,
            offers,
            inverse_offers: vec![],
            allocated_resources: self.framework_used(f).into_protos(),
            offered_resources: self.framework_offered(&id).into_protos(),
        }
    }

    pub(super) fn agent_summary(&self, id: &str) -> Option<operator::response::get_agents::Agent> {
        self.agent_summary_with(id, self.agent_used(id), self.agent_offered(id))
    }

    /// [`Self::agent_summary`] with what the agent uses and has offered.
    fn agent_summary_with(
        &self,
        id: &str,
        used: Resources,
        offered: Resources,
    ) -> Option<operator::response::get_agents::Agent> {
        let a = self.agents.get(id)?;
        Some(operator::response::get_agents::Agent {
            agent_info: a.info.clone(),
            active: a.connected,
            deactivated: Some(false),
            version: self.config.version.clone(),
            pid: Some(Self::agent_pid(a)),
            registered_time: Some(a.registered_time),
            reregistered_time: a.reregistered_time,
            total_resources: a.total.clone().into_protos(),
            allocated_resources: used.into_protos(),
            offered_resources: offered.into_protos(),
            capabilities: AGENT_CAPABILITIES
                .iter()
                .map(|t| agent_info::Capability {
                    r#type: Some(*t as i32),
                })
                .collect(),
            ..Default::default()
        })
    }

    /// GET_AGENTS.
    pub fn get_agents(&self) -> operator::response::GetAgents {
        let sums = self.agent_sums();
        operator::response::GetAgents {
            agents: self
                .agents
                .keys()
                .filter_map(|id| self.agent_summary_with(id, sums.used(id), sums.offered(id)))
                .collect(),
            recovered_agents: self
                .recovered_agents
                .values()
                .map(|(info, _)| info.clone())
                .collect(),
        }
    }

    /// GET_FRAMEWORKS.
    pub fn get_frameworks(&self) -> operator::response::GetFrameworks {
        operator::response::GetFrameworks {
            frameworks: self
                .frameworks
                .values()
                .map(|f| self.framework_view(f))
                .collect(),
            completed_frameworks: self
                .completed_frameworks
                .iter()
                .map(|f| self.framework_view(f))
                .collect(),
            recovered_frameworks: vec![],
        }
    }

    /// GET_TASKS.
    pub fn get_tasks(&self) -> operator::response::GetTasks {
        let mut out = operator::response::GetTasks::default();
        for f in self
            .frameworks
            .values()
            .chain(self.completed_frameworks.iter())
        {
            for t in f.tasks.values() {
                out.tasks.push(t.clone());
            }
            out.unreachable_tasks
                .extend(f.unreachable_tasks.values().cloned());
            out.completed_tasks
                .extend(f.completed_tasks.iter().cloned());
        }
        out
    }

    /// GET_EXECUTORS.
    pub fn get_executors(&self) -> operator::response::GetExecutors {
        operator::response::GetExecutors {
            executors: self
                .agents
                .iter()
                .flat_map(|(aid, a)| {
                    a.executors
                        .values()
                        .map(move |e| operator::response::get_executors::Executor {
                            executor_info: e.clone(),
                            agent_id: AgentId { value: aid.clone() },
                        })
                })
                .collect(),
            orphan_executors: vec![],
        }
    }

    /// GET_STATE.
    pub fn get_state(&self) -> operator::response::GetState {
        operator::response::GetState {
            get_tasks: Some(self.get_tasks()),
            get_executors: Some(self.get_executors()),
            get_frameworks: Some(self.get_frameworks()),
            get_agents: Some(self.get_agents()),
        }
    }
}

//! Maintenance in the running master: what an operator's schedule does to
//! agents, offers and inverse offers (Mesos 1.11
//! `Master::Http::___updateMaintenanceSchedule`, `_startMaintenance`,
//! `_stopMaintenance`, `_getMaintenanceStatus`, `Master::updateUnavailability`,
//! `Master::inverseOffer`, `acceptInverseOffers`, `declineInverseOffers`, and
//! the hierarchical allocator's `updateUnavailability`, `updateInverseOffer`,
//! `generateInverseOffers`).
//!
//! The machines' modes are the pure [`Maintenance`]; what the allocator keeps
//! per agent (inverse offers outstanding, the frameworks' last answers, the
//! refusal filters) and the outstanding inverse offers live in
//! [`InverseOfferBooks`]. An agent's machine is its hostname and the IP of
//! its libprocess PID, as Mesos compares `MachineID`s (devcluster agents
//! listen on loopback).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube_mesos_proto::v1::allocator::{inverse_offer_status, InverseOfferStatus};
use kube_mesos_proto::v1::maintenance::{ClusterStatus, Schedule};
use kube_mesos_proto::v1::scheduler::{call, Event};
use kube_mesos_proto::v1::{
    self as v1, AgentId, AgentInfo, Filters, InverseOffer, MachineId, OfferId, Unavailability,
};
use tokio::time::Instant;

use super::{event, fw_id, is_terminal, now_time, Removal, State};
use crate::mesos::master::maintenance::{key, MachineKey, Maintenance, MaintenanceError, Mode};

/// The IP of a devcluster agent's PID (agents listen on loopback).
const AGENT_IP: &str = "127.0.0.1";

/// `Filters().refuse_seconds()`: the default refusal of an inverse offer.
const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

/// What the shutdown of an agent of a machine going DOWN says.
pub const MACHINE_DOWN: &str = "Operator initiated 'Machine DOWN'";

/// An inverse offer the master sent and nobody answered yet.
#[derive(Debug, Clone)]
struct Outstanding {
    framework_id: String,
    agent_id: String,
    /// When it was sent, for `--offer_timeout`.
    sent: Instant,
}

/// The allocator's maintenance books of one agent (`Slave::Maintenance`).
#[derive(Debug, Default, Clone)]
struct AgentBooks {
    /// Frameworks with an inverse offer outstanding for the agent.
    outstanding: BTreeSet<String>,
    /// Each framework's last answer.
    statuses: BTreeMap<String, InverseOfferStatus>,
}

/// Machines, inverse offers and the allocator's maintenance books.
#[derive(Debug, Default)]
pub struct InverseOfferBooks {
    /// The machines' modes and the schedule.
    pub machines: Maintenance,
    agents: BTreeMap<String, AgentBooks>,
    offers: BTreeMap<String, Outstanding>,
    /// (framework, agent) → until when the framework refuses inverse offers.
    filters: BTreeMap<(String, String), Instant>,
}

impl InverseOfferBooks {
    /// The framework was deactivated: its inverse offer refusals go with
    /// it, as `deactivateFramework` clears `inverseOfferFilters`.
    pub fn forget_filters_of(&mut self, framework_id: &str) {
        self.filters.retain(|(f, _), _| f != framework_id);
    }
}

/// The `MachineID` an agent registers with.
pub fn agent_machine(info: &AgentInfo) -> MachineId {
    MachineId {
        hostname: Some(info.hostname.clone()),
        ip: Some(AGENT_IP.to_owned()),
    }
}

/// How long a `Filters` refuses, as `updateInverseOffer` reads it (at most
/// 365 days; negative or unreadable: the default).
fn refusal(filters: Option<&Filters>) -> Duration {
    let secs = filters.map_or(DEFAULT_REFUSE_SECONDS, |f| f.refuse_seconds());
    let secs = if secs.is_finite() && secs >= 0.0 {
        secs.min(365.0 * 86400.0)
    } else {
        DEFAULT_REFUSE_SECONDS
    };
    Duration::from_secs_f64(secs)
}

impl State {
    fn machine_key_of(&self, agent_id: &str) -> Option<MachineKey> {
        self.agents
            .get(agent_id)
            .map(|a| key(&agent_machine(&a.info)))
    }

    /// The unavailability of an agent's machine, if it is scheduled.
    pub(super) fn unavailability_of(&self, agent_id: &str) -> Option<Unavailability> {
        let k = self.machine_key_of(agent_id)?;
        self.maintenance
            .machines
            .machine(&k)
            .map(|m| m.unavailability)
    }

    /// Whether an agent registering with `info` sits on a DOWN machine
    /// (`Master::registerSlave` refuses it: "Machine is `DOWN`").
    pub(super) fn machine_down(&self, info: &AgentInfo) -> bool {
        self.maintenance
            .machines
            .machine(&key(&agent_machine(info)))
            .is_some_and(|m| m.mode == Mode::Down)
    }

    /// UPDATE_MAINTENANCE_SCHEDULE and POST /master/maintenance/schedule.
    pub fn update_maintenance_schedule(
        &mut self,
        schedule: Schedule,
    ) -> Result<(), MaintenanceError> {
        let before: BTreeSet<MachineKey> = self.maintenance.machines.keys().cloned().collect();
        self.maintenance.machines.update_schedule(schedule)?;
        let after: BTreeSet<MachineKey> = self.maintenance.machines.keys().cloned().collect();
        // `updateUnavailability` for every machine in either schedule.
        let touched: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| {
                let k = key(&agent_machine(&a.info));
                before.contains(&k) || after.contains(&k)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for agent_id in touched {
            self.update_unavailability(&agent_id);
        }
        Ok(())
    }

    /// `Master::updateUnavailability` for one agent: its offers and inverse
    /// offers are rescinded and the allocator starts its books afresh (the
    /// frameworks' answers and filters are forgotten).
    fn update_unavailability(&mut self, agent_id: &str) {
        let offers: Vec<String> = self
            .offers
            .iter()
            .filter(|(_, o)| o.offer.agent_id.value == agent_id)
            .map(|(k, _)| k.clone())
            .collect();
        for o in offers {
            self.remove_offer(&o, true);
        }
        self.rescind_inverse_offers_of_agent(agent_id);
        self.maintenance.filters.retain(|(_, a), _| a != agent_id);
        self.maintenance.agents.remove(agent_id);
        self.allocation_wanted = true;
    }

    /// Removes (and rescinds) the inverse offers for an agent.
    pub(super) fn rescind_inverse_offers_of_agent(&mut self, agent_id: &str) {
        let ids: Vec<String> = self
            .maintenance
            .offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent_id)
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.remove_inverse_offer(&id, true);
        }
        self.maintenance.agents.remove(agent_id);
    }

    /// Drops a framework's inverse offers (it disconnected or was removed):
    /// `updateInverseOffer` without an answer, so new ones follow.
    pub(super) fn drop_inverse_offers_of_framework(&mut self, framework_id: &str) {
        let ids: Vec<String> = self
            .maintenance
            .offers
            .iter()
            .filter(|(_, o)| o.framework_id == framework_id)
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.remove_inverse_offer(&id, false);
        }
    }

    /// `Master::inverseOfferTimeout`: an inverse offer unanswered for
    /// `--offer_timeout` (Mesos uses the offer flag for both) is rescinded
    /// and the allocator's books updated without an answer or a filter, so
    /// the next allocation sends a new one while the window stands.
    pub(super) fn expire_inverse_offers(&mut self, now: Instant, timeout: Duration) {
        let old: Vec<String> = self
            .maintenance
            .offers
            .iter()
            .filter(|(_, o)| now.duration_since(o.sent) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        for id in old {
            tracing::info!(inverse_offer = %id, "inverse offer timed out; rescinding it");
            self.remove_inverse_offer(&id, true);
            self.allocation_wanted = true;
        }
    }

    fn remove_inverse_offer(&mut self, id: &str, rescind: bool) -> Option<Outstanding> {
        let o = self.maintenance.offers.remove(id)?;
        if let Some(books) = self.maintenance.agents.get_mut(&o.agent_id) {
            books.outstanding.remove(&o.framework_id);
        }
        if rescind {
            if let Some(fw) = self.frameworks.get(&o.framework_id) {
                fw.send(Event {
                    rescind_inverse_offer: Some(event::RescindInverseOffer {
                        inverse_offer_id: OfferId {
                            value: id.to_owned(),
                        },
                    }),
                    ..event(event::Type::RescindInverseOffer)
                });
            }
        }
        Some(o)
    }

    /// START_MAINTENANCE and POST /master/machine/down: each agent of the
    /// machines is told to shut down and removed at once (its tasks LOST,
    /// or GONE_BY_OPERATOR for partition-aware frameworks), then the
    /// machines are DOWN.
    pub fn start_maintenance(&mut self, ids: &[MachineId]) -> Result<(), MaintenanceError> {
        self.maintenance.machines.start(ids)?;
        let keys: Vec<MachineKey> = ids.iter().map(key).collect();
        let agents: Vec<String> = self
            .agents
            .iter()
            .filter(|(_, a)| keys.contains(&key(&agent_machine(&a.info))))
            .map(|(id, _)| id.clone())
            .collect();
        for agent_id in agents {
            self.rescind_inverse_offers_of_agent(&agent_id);
            self.remove_agent(&agent_id, Removal::MachineDown, true);
        }
        Ok(())
    }

    /// STOP_MAINTENANCE and POST /master/machine/up.
    pub fn stop_maintenance(&mut self, ids: &[MachineId]) -> Result<(), MaintenanceError> {
        self.maintenance.machines.stop(ids)
    }

    /// GET_MAINTENANCE_SCHEDULE and GET /master/maintenance/schedule.
    pub fn maintenance_schedule(&self) -> Schedule {
        self.maintenance.machines.schedule().clone()
    }

    /// GET_MAINTENANCE_STATUS and GET /master/maintenance/status: the
    /// frameworks' last answers to the inverse offers of each draining
    /// machine's agents.
    pub fn maintenance_status(&self) -> ClusterStatus {
        self.maintenance.machines.status(|k| {
            self.agents
                .iter()
                .filter(|(_, a)| &key(&agent_machine(&a.info)) == k)
                .filter_map(|(id, _)| self.maintenance.agents.get(id))
                .flat_map(|b| b.statuses.values().cloned())
                .collect()
        })
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: the answer is kept
    /// for the status, the inverse offer is gone, and the framework gets no
    /// new one for the agent until its filter expires. Unknown IDs are
    /// ignored, as Mesos does (with a warning).
    pub fn answer_inverse_offers(
        &mut self,
        framework_id: &str,
        ids: &[OfferId],
        filters: Option<&Filters>,
        status: inverse_offer_status::Status,
        now: Instant,
    ) {
        for id in ids {
            let known = self
                .maintenance
                .offers
                .get(&id.value)
                .is_some_and(|o| o.framework_id == framework_id);
            if !known {
                tracing::warn!(framework_id, inverse_offer_id = %id.value, "ignoring an answer to an inverse offer that is no longer valid");
                continue;
            }
            let Some(o) = self.remove_inverse_offer(&id.value, false) else {
                continue;
            };
            self.maintenance
                .agents
                .entry(o.agent_id.clone())
                .or_default()
                .statuses
                .insert(
                    o.framework_id.clone(),
                    InverseOfferStatus {
                        status: status as i32,
                        framework_id: fw_id(&o.framework_id),
                        timestamp: now_time(),
                    },
                );
            let refuse = refusal(filters);
            if !refuse.is_zero() {
                self.maintenance
                    .filters
                    .insert((o.framework_id, o.agent_id), now + refuse);
            }
        }
    }

    /// `generateInverseOffers`: each active framework with resources offered
    /// or allocated on an agent of a scheduled machine gets one inverse
    /// offer for it, unless one is outstanding or it refuses them for now.
    pub(super) fn generate_inverse_offers(&mut self, now: Instant) {
        self.maintenance.filters.retain(|_, until| *until > now);
        let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (fid, fw) in &self.frameworks {
            for t in fw.tasks.values().filter(|t| !is_terminal(t.state())) {
                users
                    .entry(t.agent_id.value.clone())
                    .or_default()
                    .insert(fid.clone());
            }
        }
        for o in self.offers.values() {
            users
                .entry(o.offer.agent_id.value.clone())
                .or_default()
                .insert(o.offer.framework_id.value.clone());
        }
        for (aid, agent) in &self.agents {
            for (fid, _) in agent.executors.keys() {
                users.entry(aid.clone()).or_default().insert(fid.clone());
            }
        }
        let mut per_fw: BTreeMap<String, Vec<InverseOffer>> = BTreeMap::new();
        let candidates: Vec<(String, Unavailability)> = self
            .agents
            .iter()
            .filter(|(_, a)| a.connected)
            .filter_map(|(id, _)| Some((id.clone(), self.unavailability_of(id)?)))
            .collect();
        for (agent_id, unavailability) in candidates {
            let Some(frameworks) = users.get(&agent_id) else {
                continue;
            };
            for fid in frameworks {
                let active = self.frameworks.get(fid).is_some_and(|f| f.conn.is_some());
                let books = self.maintenance.agents.entry(agent_id.clone()).or_default();
                if !active
                    || books.outstanding.contains(fid)
                    || self
                        .maintenance
                        .filters
                        .contains_key(&(fid.clone(), agent_id.clone()))
                {
                    continue;
                }
                books.outstanding.insert(fid.clone());
                let id = format!("{}-O{}", self.master_info.id, self.next_offer);
                self.next_offer += 1;
                self.maintenance.offers.insert(
                    id.clone(),
                    Outstanding {
                        framework_id: fid.clone(),
                        agent_id: agent_id.clone(),
                        sent: now,
                    },
                );
                let agent = &self.agents[&agent_id];
                per_fw.entry(fid.clone()).or_default().push(InverseOffer {
                    id: OfferId { value: id },
                    url: Some(v1::Url {
                        scheme: "http".into(),
                        address: v1::Address {
                            hostname: Some(agent.info.hostname.clone()),
                            ip: Some(AGENT_IP.into()),
                            port: agent.info.port.unwrap_or(5051),
                        },
                        path: Some("/slave(1)".into()),
                        ..Default::default()
                    }),
                    framework_id: fw_id(fid),
                    agent_id: Some(AgentId {
                        value: agent_id.clone(),
                    }),
                    unavailability,
                    resources: Vec::new(),
                });
            }
        }
        for (fid, inverse_offers) in per_fw {
            if let Some(fw) = self.frameworks.get(&fid) {
                tracing::info!(framework_id = %fid, count = inverse_offers.len(), "sending inverse offers");
                fw.send(Event {
                    inverse_offers: Some(event::InverseOffers { inverse_offers }),
                    ..event(event::Type::InverseOffers)
                });
            }
        }
    }
}

/// Which answer a scheduler call gives.
pub fn answer_of(ty: call::Type) -> Option<inverse_offer_status::Status> {
    match ty {
        call::Type::AcceptInverseOffers => Some(inverse_offer_status::Status::Accept),
        call::Type::DeclineInverseOffers => Some(inverse_offer_status::Status::Decline),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_update_inverse_offer() {
        assert_eq!(refusal(None), Duration::from_secs(5));
        let f = |s: f64| Filters {
            refuse_seconds: Some(s),
        };
        assert_eq!(refusal(Some(&f(-1.0))), Duration::from_secs(5));
        assert_eq!(refusal(Some(&f(0.0))), Duration::ZERO);
        assert_eq!(refusal(Some(&f(1e12))), Duration::from_secs(365 * 86400));
        assert_eq!(refusal(Some(&Filters::default())), Duration::from_secs(5));
    }
}

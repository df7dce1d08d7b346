//! Machines under maintenance, as the Mesos 1.11 master keeps them
//! (`src/master/maintenance.cpp`, `Master::Http::_startMaintenance`,
//! `_stopMaintenance`, `_getMaintenanceStatus`).
//!
//! A machine is identified by its `MachineID` (hostname and/or ip, compared
//! as given). One schedule at a time: posting a schedule replaces the
//! previous one; a machine new to it starts `DRAINING`, one left out is
//! forgotten (`UP`) — unless it is `DOWN`, which is refused. `START`
//! takes `DRAINING` machines `DOWN`; `STOP` takes `DOWN` machines `UP` and
//! out of the schedule (empty windows dropped). Pure: the HTTP layer
//! validates calls through here and applies them.

use std::collections::BTreeMap;

use kube_mesos_proto::v1::maintenance::{cluster_status::DrainingMachine, ClusterStatus, Schedule};
use kube_mesos_proto::v1::{MachineId, Unavailability};

/// `MachineInfo.Mode` of a machine in the schedule (`UP` machines are not
/// kept, as in Mesos).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Scheduled: frameworks get inverse offers for its agents.
    Draining,
    /// Started: its agents are shut down and kept out.
    Down,
}

/// A machine's key: (hostname lower-cased, ip), each present or not, as
/// `MachineID`'s `operator==` compares them: a schedule naming only a
/// hostname does not match an agent, which registers with both.
pub type MachineKey = (Option<String>, Option<String>);

/// The key of a `MachineID`.
pub fn key(id: &MachineId) -> MachineKey {
    (
        id.hostname.as_ref().map(|h| h.to_lowercase()),
        id.ip.clone(),
    )
}

/// A refused maintenance call (HTTP 400 with Mesos' message).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaintenanceError {
    /// A window without machines.
    #[error("List of machines in the maintenance window is empty")]
    EmptyWindow,
    /// START/STOP without machines.
    #[error("List of machines is empty")]
    NoMachines,
    /// Negative `Unavailability.duration`.
    #[error("Unavailability 'duration' is negative")]
    NegativeDuration,
    /// A `MachineID` with neither field.
    #[error("Both 'hostname' and 'ip' for a machine are empty")]
    EmptyMachine,
    /// An ip that is not IPv4 (Mesos parses it as `AF_INET`).
    #[error("Failed to parse IP address '{0}'")]
    BadIp(String),
    /// The same machine twice.
    #[error("Machine '{0}' appears more than once in the schedule")]
    Duplicate(String),
    /// A DOWN machine left out of a new schedule.
    #[error("Machine '{0}' is deactivated and cannot be removed from the schedule")]
    DownRemoved(String),
    /// START/STOP of a machine not scheduled.
    #[error("Machine '{0}' is not part of a maintenance schedule")]
    NotScheduled(String),
    /// START of a machine not DRAINING.
    #[error("Machine '{0}' is not in DRAINING mode and cannot be brought down")]
    NotDraining(String),
    /// STOP of a machine not DOWN.
    #[error("Machine '{0}' is not in DOWN mode and cannot be brought up")]
    NotDown(String),
}

/// `JSON::protobuf(id)` as Mesos prints it in its messages.
fn json(id: &MachineId) -> String {
    let mut fields = Vec::new();
    if let Some(h) = &id.hostname {
        fields.push(format!("\"hostname\":{h:?}"));
    }
    if let Some(ip) = &id.ip {
        fields.push(format!("\"ip\":{ip:?}"));
    }
    format!("{{{}}}", fields.join(","))
}

/// `maintenance::validation::machine`.
fn validate_machine(id: &MachineId) -> Result<(), MaintenanceError> {
    let hostname = id.hostname.as_deref().unwrap_or("");
    let ip = id.ip.as_deref().unwrap_or("");
    if hostname.is_empty() && ip.is_empty() {
        return Err(MaintenanceError::EmptyMachine);
    }
    if !ip.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(MaintenanceError::BadIp(ip.to_owned()));
    }
    Ok(())
}

/// `maintenance::validation::machines`: non-empty, valid, unique.
fn validate_machines(ids: &[MachineId]) -> Result<(), MaintenanceError> {
    if ids.is_empty() {
        return Err(MaintenanceError::NoMachines);
    }
    unique(ids.iter()).map(drop)
}

/// Every machine valid and named once; their keys.
fn unique<'a>(
    ids: impl Iterator<Item = &'a MachineId>,
) -> Result<Vec<MachineKey>, MaintenanceError> {
    let mut seen = Vec::new();
    for id in ids {
        validate_machine(id)?;
        let k = key(id);
        if seen.contains(&k) {
            return Err(MaintenanceError::Duplicate(json(id)));
        }
        seen.push(k);
    }
    Ok(seen)
}

/// A scheduled machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// Its ID as posted.
    pub id: MachineId,
    /// DRAINING or DOWN.
    pub mode: Mode,
    /// Its window.
    pub unavailability: Unavailability,
}

/// The master's maintenance state.
#[derive(Clone, Debug, Default)]
pub struct Maintenance {
    schedule: Schedule,
    machines: BTreeMap<MachineKey, Machine>,
}

impl Maintenance {
    /// The schedule (GET_MAINTENANCE_SCHEDULE).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The keys of the scheduled machines.
    pub fn keys(&self) -> impl Iterator<Item = &MachineKey> {
        self.machines.keys()
    }

    /// The scheduled machine `id` names, if any.
    pub fn machine(&self, id: &MachineKey) -> Option<&Machine> {
        self.machines.get(id)
    }

    /// UPDATE_MAINTENANCE_SCHEDULE.
    pub fn update_schedule(&mut self, schedule: Schedule) -> Result<(), MaintenanceError> {
        for window in &schedule.windows {
            if window.machine_ids.is_empty() {
                return Err(MaintenanceError::EmptyWindow);
            }
            if window
                .unavailability
                .duration
                .is_some_and(|d| d.nanoseconds < 0)
            {
                return Err(MaintenanceError::NegativeDuration);
            }
        }
        let updated = unique(schedule.windows.iter().flat_map(|w| &w.machine_ids))?;
        if let Some(down) = self
            .machines
            .iter()
            .find(|(k, m)| m.mode == Mode::Down && !updated.contains(k))
        {
            return Err(MaintenanceError::DownRemoved(json(&down.1.id)));
        }
        let mut machines = BTreeMap::new();
        for window in &schedule.windows {
            for id in &window.machine_ids {
                let k = key(id);
                let mode = self.machines.get(&k).map_or(Mode::Draining, |m| m.mode);
                machines.insert(
                    k,
                    Machine {
                        id: id.clone(),
                        mode,
                        unavailability: window.unavailability,
                    },
                );
            }
        }
        self.machines = machines;
        self.schedule = schedule;
        Ok(())
    }

    /// START_MAINTENANCE: DRAINING machines go DOWN.
    pub fn start(&mut self, ids: &[MachineId]) -> Result<(), MaintenanceError> {
        self.transition(ids, Mode::Draining, MaintenanceError::NotDraining)?;
        for id in ids {
            if let Some(m) = self.machines.get_mut(&key(id)) {
                m.mode = Mode::Down;
            }
        }
        Ok(())
    }

    /// STOP_MAINTENANCE: DOWN machines go UP and leave the schedule.
    pub fn stop(&mut self, ids: &[MachineId]) -> Result<(), MaintenanceError> {
        self.transition(ids, Mode::Down, MaintenanceError::NotDown)?;
        let keys: Vec<MachineKey> = ids.iter().map(key).collect();
        self.machines.retain(|k, _| !keys.contains(k));
        for window in &mut self.schedule.windows {
            window.machine_ids.retain(|id| !keys.contains(&key(id)));
        }
        self.schedule.windows.retain(|w| !w.machine_ids.is_empty());
        Ok(())
    }

    fn transition(
        &self,
        ids: &[MachineId],
        from: Mode,
        wrong_mode: fn(String) -> MaintenanceError,
    ) -> Result<(), MaintenanceError> {
        validate_machines(ids)?;
        for id in ids {
            match self.machines.get(&key(id)) {
                None => return Err(MaintenanceError::NotScheduled(json(id))),
                Some(m) if m.mode != from => return Err(wrong_mode(json(id))),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// GET_MAINTENANCE_STATUS, with the inverse offer statuses the
    /// allocator holds for each draining machine's agents.
    pub fn status(
        &self,
        statuses: impl Fn(&MachineKey) -> Vec<kube_mesos_proto::v1::allocator::InverseOfferStatus>,
    ) -> ClusterStatus {
        let mut status = ClusterStatus::default();
        for (k, m) in &self.machines {
            match m.mode {
                Mode::Draining => status.draining_machines.push(DrainingMachine {
                    id: m.id.clone(),
                    statuses: statuses(k),
                }),
                Mode::Down => status.down_machines.push(m.id.clone()),
            }
        }
        status
    }
}

#[cfg(test)]
mod tests;

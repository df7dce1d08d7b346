//! Mesos resource arithmetic: what an agent's offers hold for a role, and
//! carving a task's resources out of them.
//!
//! Scalars are kept in integer thousandths, as Mesos itself does (it rounds
//! scalar resources to three decimals), so sums and differences are exact.
//! A carved piece is a copy of the offered `Resource` with only the amount
//! changed: `role`, `reservations`, `allocation_info` and every other field
//! are preserved, which is what Mesos requires to match the offer. Reserved
//! resources of the pod's role are used before unreserved (`*`) ones. Disk
//! volumes (persistent or mount/path sources), revocable, shared and
//! resource-provider resources are never carved: pods do not ask for them.

use std::collections::BTreeSet;

use kube_mesos_proto::v1::{value, Offer, Resource};

/// Mesos resource name of CPUs.
pub const CPUS: &str = "cpus";
/// Mesos resource name of memory (MB).
pub const MEM: &str = "mem";
/// Mesos resource name of disk (MB).
pub const DISK: &str = "disk";
/// Mesos resource name of ports (ranges).
pub const PORTS: &str = "ports";

/// Scalar in thousandths (Mesos' fixed-point precision).
pub type Milli = i64;

/// A scalar value converted to thousandths, rounded to nearest as Mesos does.
pub fn to_milli(v: f64) -> Milli {
    if !v.is_finite() || v <= 0.0 {
        return 0;
    }
    (v * 1000.0).round() as Milli
}

/// Thousandths back to a Mesos scalar.
pub fn from_milli(m: Milli) -> f64 {
    m as f64 / 1000.0
}

/// Amounts of the scalar resources a pod needs (thousandths of cpus, MB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scalars {
    /// Thousandths of a CPU (= millicores).
    pub cpus: Milli,
    /// Thousandths of a MB of memory.
    pub mem: Milli,
    /// Thousandths of a MB of disk.
    pub disk: Milli,
}

impl Scalars {
    /// Component-wise sum.
    pub fn plus(self, o: Scalars) -> Scalars {
        Scalars {
            cpus: self.cpus + o.cpus,
            mem: self.mem + o.mem,
            disk: self.disk + o.disk,
        }
    }
}

/// What one task (and perhaps the executor launched with it) takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    /// Scalars.
    pub scalars: Scalars,
    /// Specific port numbers (hostPorts).
    pub ports: Vec<u64>,
    /// Number of further ports, any number (the executor's endpoint).
    pub any_ports: usize,
    /// Other scalars by Mesos name (a pod's extended resources), in
    /// thousandths.
    pub extended: Vec<(String, Milli)>,
}

/// How a resource may be used by a role: reserved for it (preferred) or
/// unreserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Usability {
    /// Reserved for the role.
    Reserved,
    /// Unreserved (`*`).
    Unreserved,
}

/// The role a resource is reserved for, or `None` when unreserved. Handles
/// both the refined format (`reservations`, the last one is the current
/// role) and the pre-refinement format (`role` other than `*`).
pub fn reservation_role(res: &Resource) -> Option<&str> {
    if let Some(last) = res.reservations.last() {
        return last.role.as_deref().or(Some(""));
    }
    #[allow(deprecated)]
    match res.role.as_deref() {
        Some(r) if r != "*" => Some(r),
        _ => None,
    }
}

/// Whether `res` may be carved for a task of `role`, and with which
/// preference. `None` for resources of another role (allocation or
/// reservation) and for kinds we never carve.
pub fn usability(res: &Resource, role: &str) -> Option<Usability> {
    if res.revocable.is_some() || res.shared.is_some() || res.provider_id.is_some() {
        return None;
    }
    if let Some(disk) = &res.disk {
        if disk.persistence.is_some() || disk.source.is_some() {
            return None;
        }
    }
    if let Some(alloc) = res.allocation_info.as_ref().and_then(|a| a.role.as_deref()) {
        if alloc != role {
            return None;
        }
    }
    match reservation_role(res) {
        None => Some(Usability::Unreserved),
        Some(r) if r == role => Some(Usability::Reserved),
        Some(_) => None,
    }
}

fn scalar_milli(res: &Resource) -> Milli {
    if res.r#type != value::Type::Scalar as i32 {
        return 0;
    }
    res.scalar.map(|s| to_milli(s.value)).unwrap_or(0)
}

fn ranges_of(res: &Resource) -> Vec<(u64, u64)> {
    if res.r#type != value::Type::Ranges as i32 {
        return Vec::new();
    }
    res.ranges
        .as_ref()
        .map(|r| {
            r.range
                .iter()
                .filter(|r| r.begin <= r.end)
                .map(|r| (r.begin, r.end))
                .collect()
        })
        .unwrap_or_default()
}

fn with_scalar(res: &Resource, milli: Milli) -> Resource {
    let mut out = res.clone();
    out.scalar = Some(value::Scalar {
        value: from_milli(milli),
    });
    out
}

fn with_ranges(res: &Resource, ranges: &[(u64, u64)]) -> Resource {
    let mut out = res.clone();
    out.ranges = Some(value::Ranges {
        range: ranges
            .iter()
            .map(|&(begin, end)| value::Range { begin, end })
            .collect(),
    });
    out
}

/// Remove one port from a list of ranges.
fn remove_port(ranges: &mut Vec<(u64, u64)>, port: u64) {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    for &(b, e) in ranges.iter() {
        if port < b || port > e {
            out.push((b, e));
            continue;
        }
        if b < port {
            out.push((b, port - 1));
        }
        if port < e {
            out.push((port + 1, e));
        }
    }
    *ranges = out;
}

/// Same resource apart from its amount: the pieces can be merged.
fn same_kind(a: &Resource, b: &Resource) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.scalar = None;
    b.scalar = None;
    a.ranges = None;
    b.ranges = None;
    a == b
}

/// Merge pieces of the same kind (scalar sums, range unions), keeping order.
pub fn merge(pieces: Vec<Resource>) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::new();
    for p in pieces {
        if let Some(existing) = out.iter_mut().find(|e| same_kind(e, &p)) {
            if p.r#type == value::Type::Scalar as i32 {
                let sum = scalar_milli(existing) + scalar_milli(&p);
                *existing = with_scalar(existing, sum);
                continue;
            }
            if p.r#type == value::Type::Ranges as i32 {
                let mut rs = ranges_of(existing);
                rs.extend(ranges_of(&p));
                rs.sort_unstable();
                let mut merged: Vec<(u64, u64)> = Vec::new();
                for (b, e) in rs {
                    match merged.last_mut() {
                        Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                        _ => merged.push((b, e)),
                    }
                }
                *existing = with_ranges(existing, &merged);
                continue;
            }
        }
        out.push(p);
    }
    out
}

/// The resources of all offers of one agent still free during one
/// placement round. Carving takes from it; nothing is ever added back.
#[derive(Clone, Debug, Default)]
pub struct AgentPool {
    entries: Vec<Resource>,
}

impl AgentPool {
    /// The pool of these offers (all of one agent).
    pub fn from_offers<'a>(offers: impl IntoIterator<Item = &'a Offer>) -> Self {
        Self {
            entries: offers
                .into_iter()
                .flat_map(|o| o.resources.iter().cloned())
                .collect(),
        }
    }

    /// A pool of loose resources (tests, executor accounting).
    pub fn from_resources(entries: Vec<Resource>) -> Self {
        Self { entries }
    }

    fn usable(&self, role: &str) -> Vec<(usize, Usability)> {
        let mut idx: Vec<(usize, Usability)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, r)| usability(r, role).map(|u| (i, u)))
            .collect();
        // Reserved first; stable within a class (offer order).
        idx.sort_by_key(|&(i, u)| (u, i));
        idx
    }

    /// Free scalars usable by `role`.
    pub fn available(&self, role: &str) -> Scalars {
        let mut s = Scalars::default();
        for (i, _) in self.usable(role) {
            let r = &self.entries[i];
            let m = scalar_milli(r);
            match r.name.as_str() {
                CPUS => s.cpus += m,
                MEM => s.mem += m,
                DISK => s.disk += m,
                _ => {}
            }
        }
        s
    }

    /// Free scalars of every role (for scoring).
    pub fn total(&self) -> Scalars {
        let mut s = Scalars::default();
        for r in &self.entries {
            let m = scalar_milli(r);
            match r.name.as_str() {
                CPUS => s.cpus += m,
                MEM => s.mem += m,
                DISK => s.disk += m,
                _ => {}
            }
        }
        s
    }

    /// Free amount of the scalar `name` usable by `role` (thousandths).
    pub fn available_named(&self, role: &str, name: &str) -> Milli {
        self.usable(role)
            .into_iter()
            .filter(|&(i, _)| self.entries[i].name == name)
            .map(|(i, _)| scalar_milli(&self.entries[i]))
            .sum()
    }

    /// Free port ranges usable by `role` (what [`AgentPool::free_ports`]
    /// holds, without spelling out every port).
    pub fn free_port_ranges(&self, role: &str) -> Vec<(u64, u64)> {
        self.usable(role)
            .into_iter()
            .filter(|&(i, _)| self.entries[i].name == PORTS)
            .flat_map(|(i, _)| ranges_of(&self.entries[i]))
            .collect()
    }

    /// Free port numbers usable by `role`.
    pub fn free_ports(&self, role: &str) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        for (i, _) in self.usable(role) {
            let r = &self.entries[i];
            if r.name == PORTS {
                for (b, e) in ranges_of(r) {
                    // Bounded: offered port ranges are at most 64Ki wide.
                    for p in b..=e.min(b.saturating_add(65_535)) {
                        out.insert(p);
                    }
                }
            }
        }
        out
    }

    /// Whether `demand` fits what `role` may use.
    pub fn fits(&self, role: &str, demand: &Demand) -> bool {
        self.clone().carve(role, demand).is_some()
    }

    /// Carve `demand` for `role`: reserved resources first, then
    /// unreserved. Returns the task's resources (merged pieces) and removes
    /// them from the pool, or `None` (pool unchanged) when it does not fit.
    pub fn carve(&mut self, role: &str, demand: &Demand) -> Option<Vec<Resource>> {
        let mut trial = self.entries.clone();
        let order = self.usable(role);
        let mut pieces = Vec::new();
        let fixed = [
            (CPUS, demand.scalars.cpus),
            (MEM, demand.scalars.mem),
            (DISK, demand.scalars.disk),
        ];
        let extended = demand.extended.iter().map(|(n, m)| (n.as_str(), *m));
        for (name, want) in fixed.into_iter().chain(extended) {
            let mut left = want;
            for &(i, _) in &order {
                if left <= 0 {
                    break;
                }
                let r = &trial[i];
                if r.name != name {
                    continue;
                }
                let have = scalar_milli(r);
                let take = have.min(left);
                if take <= 0 {
                    continue;
                }
                pieces.push(with_scalar(r, take));
                trial[i] = with_scalar(r, have - take);
                left -= take;
            }
            if left > 0 {
                return None;
            }
        }
        let mut ports: Vec<u64> = demand.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            let found = order.iter().find(|&&(i, _)| {
                trial[i].name == PORTS
                    && ranges_of(&trial[i])
                        .iter()
                        .any(|&(b, e)| b <= port && port <= e)
            });
            let &(i, _) = found?;
            pieces.push(with_ranges(&trial[i], &[(port, port)]));
            let mut rs = ranges_of(&trial[i]);
            remove_port(&mut rs, port);
            trial[i] = with_ranges(&trial[i], &rs);
        }
        for _ in 0..demand.any_ports {
            let found = order.iter().find_map(|&(i, _)| {
                if trial[i].name != PORTS {
                    return None;
                }
                ranges_of(&trial[i]).first().map(|&(b, _)| (i, b))
            });
            let (i, port) = found?;
            pieces.push(with_ranges(&trial[i], &[(port, port)]));
            let mut rs = ranges_of(&trial[i]);
            remove_port(&mut rs, port);
            trial[i] = with_ranges(&trial[i], &rs);
        }
        self.entries = trial;
        Some(merge(pieces))
    }
}

/// Sum of a resource's scalars by name over a list (thousandths).
pub fn scalar_sum(resources: &[Resource], name: &str) -> Milli {
    resources
        .iter()
        .filter(|r| r.name == name)
        .map(scalar_milli)
        .sum()
}

/// All port numbers in a list of resources.
pub fn ports_in(resources: &[Resource]) -> Vec<u64> {
    let mut out = Vec::new();
    for r in resources.iter().filter(|r| r.name == PORTS) {
        for (b, e) in ranges_of(r) {
            out.extend(b..=e.min(b.saturating_add(65_535)));
        }
    }
    out
}

/// Builders for tests and for synthesizing resources.
pub mod build {
    use super::*;
    use kube_mesos_proto::v1::resource::{reservation_info, AllocationInfo, ReservationInfo};

    /// An unreserved scalar resource allocated to `role`.
    pub fn scalar(name: &str, v: f64, role: &str) -> Resource {
        Resource {
            name: name.to_owned(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: v }),
            allocation_info: Some(AllocationInfo {
                role: Some(role.to_owned()),
            }),
            ..Default::default()
        }
    }

    /// An unreserved ports resource allocated to `role`.
    pub fn ports(ranges: &[(u64, u64)], role: &str) -> Resource {
        Resource {
            name: PORTS.to_owned(),
            r#type: value::Type::Ranges as i32,
            ranges: Some(value::Ranges {
                range: ranges
                    .iter()
                    .map(|&(begin, end)| value::Range { begin, end })
                    .collect(),
            }),
            allocation_info: Some(AllocationInfo {
                role: Some(role.to_owned()),
            }),
            ..Default::default()
        }
    }

    /// Make `r` dynamically reserved for its allocation role.
    pub fn reserved(mut r: Resource, role: &str) -> Resource {
        r.reservations.push(ReservationInfo {
            r#type: Some(reservation_info::Type::Dynamic as i32),
            role: Some(role.to_owned()),
            principal: Some("ops".to_owned()),
            labels: None,
        });
        r
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn demand(cpus: f64, mem: f64) -> Demand {
        Demand {
            scalars: Scalars {
                cpus: to_milli(cpus),
                mem: to_milli(mem),
                disk: 0,
            },
            ..Default::default()
        }
    }

    #[test]
    fn carves_exact_amounts_and_keeps_metadata() {
        let mut pool = AgentPool::from_resources(vec![
            scalar(CPUS, 4.0, "web"),
            scalar(MEM, 1024.0, "web"),
            ports(&[(31000, 31005)], "web"),
        ]);
        let mut d = demand(1.5, 256.0);
        d.ports = vec![31002];
        d.any_ports = 1;
        let got = pool.carve("web", &d).expect("fits");
        assert_eq!(scalar_sum(&got, CPUS), 1500);
        assert_eq!(scalar_sum(&got, MEM), 256_000);
        assert_eq!(ports_in(&got), vec![31000, 31002]);
        for r in &got {
            assert_eq!(
                r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
                Some("web")
            );
        }
        assert_eq!(pool.available("web").cpus, 2500);
        let free = pool.free_ports("web");
        assert!(!free.contains(&31002) && !free.contains(&31000));
        assert!(free.contains(&31001));
    }

    #[test]
    fn extended_scalars_are_carved_by_name() {
        let mut pool = AgentPool::from_resources(vec![
            scalar(CPUS, 1.0, "r"),
            scalar("example.com/dongle", 2.0, "r"),
        ]);
        assert_eq!(pool.available_named("r", "example.com/dongle"), 2000);
        let mut d = demand(0.5, 0.0);
        d.extended = vec![("example.com/dongle".into(), 2000)];
        let got = pool.carve("r", &d).expect("fits");
        assert_eq!(scalar_sum(&got, "example.com/dongle"), 2000);
        assert_eq!(pool.available_named("r", "example.com/dongle"), 0);
        assert!(pool.carve("r", &d).is_none(), "none left");
    }

    #[test]
    fn other_roles_are_not_used() {
        let mut pool = AgentPool::from_resources(vec![scalar(CPUS, 4.0, "batch")]);
        assert_eq!(pool.available("web").cpus, 0);
        assert!(pool.carve("web", &demand(0.5, 0.0)).is_none());
        assert_eq!(pool.available("batch").cpus, 4000, "unchanged on failure");
    }

    #[test]
    fn reserved_first_then_unreserved() {
        let mut pool = AgentPool::from_resources(vec![
            scalar(CPUS, 2.0, "web"),
            reserved(scalar(CPUS, 1.0, "web"), "web"),
            reserved(scalar(CPUS, 5.0, "other"), "other"),
        ]);
        let got = pool.carve("web", &demand(1.5, 0.0)).expect("fits");
        assert_eq!(got.len(), 2);
        assert_eq!(reservation_role(&got[0]), Some("web"));
        assert_eq!(scalar_sum(&got[..1], CPUS), 1000);
        assert_eq!(reservation_role(&got[1]), None);
        assert_eq!(scalar_sum(&got[1..], CPUS), 500);
        assert_eq!(pool.available("web").cpus, 1500);
    }

    #[test]
    fn legacy_role_field_counts_as_reservation() {
        let mut r = scalar(CPUS, 1.0, "web");
        #[allow(deprecated)]
        {
            r.role = Some("web".into());
        }
        assert_eq!(usability(&r, "web"), Some(Usability::Reserved));
        assert_eq!(usability(&r, "x"), None);
    }

    #[test]
    fn merge_joins_pieces_of_one_kind() {
        let merged = merge(vec![
            scalar(CPUS, 0.5, "r"),
            scalar(CPUS, 0.25, "r"),
            ports(&[(5, 5)], "r"),
            ports(&[(6, 6)], "r"),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(scalar_sum(&merged, CPUS), 750);
        assert_eq!(ports_in(&merged), vec![5, 6]);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn carved_never_exceeds_offer(
                cpus in proptest::collection::vec(0.0f64..8.0, 1..4),
                mems in proptest::collection::vec(0.0f64..4096.0, 1..4),
                asks in proptest::collection::vec((0.0f64..3.0, 0.0f64..2048.0, 0u64..3), 1..8),
            ) {
                let mut offered: Vec<Resource> = cpus.iter().map(|&c| scalar(CPUS, c, "r")).collect();
                offered.extend(mems.iter().map(|&m| scalar(MEM, m, "r")));
                offered.push(ports(&[(100, 104)], "r"));
                let total_cpus = scalar_sum(&offered, CPUS);
                let total_mem = scalar_sum(&offered, MEM);
                let mut pool = AgentPool::from_resources(offered);
                let (mut used_cpus, mut used_mem) = (0, 0);
                let mut used_ports = Vec::new();
                for (c, m, p) in asks {
                    let d = Demand { scalars: Scalars { cpus: to_milli(c), mem: to_milli(m), disk: 0 }, ports: vec![], any_ports: p as usize, extended: vec![] };
                    if let Some(got) = pool.carve("r", &d) {
                        used_cpus += scalar_sum(&got, CPUS);
                        used_mem += scalar_sum(&got, MEM);
                        used_ports.extend(ports_in(&got));
                    }
                }
                prop_assert!(used_cpus <= total_cpus);
                prop_assert!(used_mem <= total_mem);
                let n = used_ports.len();
                used_ports.sort_unstable();
                used_ports.dedup();
                prop_assert_eq!(n, used_ports.len(), "a port was carved twice");
                prop_assert!(used_ports.iter().all(|p| (100..=104).contains(p)));
            }
        }
    }
}

//! Resource arithmetic, as Mesos' `Resources` class does it.
//!
//! The master tracks what each agent has, what is offered and what tasks
//! use, and the allocator decides what may be offered to whom. All of that
//! is set arithmetic over `Resource` protobufs: scalars add up, port ranges
//! merge and split, and two resources only combine when they have the same
//! *identity* (name, type, reservations, allocation, disk, revocable, ...).
//! `cpus(spark):4` and `cpus:4` are different resources. This module is pure
//! so it can be tested in isolation.
//!
//! Scalars use Mesos' fixed-point precision of three decimals, so that
//! `0.1 + 0.2` equals `0.3` as it does in Mesos.

use std::fmt;

use kube_mesos_proto::v1::resource::{AllocationInfo, ReservationInfo};
use kube_mesos_proto::v1::value::{self, Range, Ranges, Scalar};
use kube_mesos_proto::v1::Resource;

/// Rounds a scalar to Mesos' fixed-point precision (three decimals).
fn fixed(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A normalized collection of resources: at most one entry per identity,
/// no empty entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources(Vec<Resource>);

/// The part of a resource that decides whether two resources can be combined.
fn same_identity(a: &Resource, b: &Resource) -> bool {
    a.name == b.name
        && a.r#type == b.r#type
        && a.reservations == b.reservations
        && a.allocation_info == b.allocation_info
        && a.disk == b.disk
        && a.revocable == b.revocable
        && a.shared == b.shared
        && a.provider_id == b.provider_id
}

fn is_empty(r: &Resource) -> bool {
    match r.r#type() {
        value::Type::Scalar => r.scalar.as_ref().is_none_or(|s| fixed(s.value) <= 0.0),
        value::Type::Ranges => r.ranges.as_ref().is_none_or(|rs| rs.range.is_empty()),
        value::Type::Set => r.set.as_ref().is_none_or(|s| s.item.is_empty()),
        value::Type::Text => true,
    }
}

/// Sorts and coalesces ranges (`[1-2],[3-5]` → `[1-5]`).
fn coalesce(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.retain(|r| r.begin <= r.end);
    ranges.sort_by_key(|r| (r.begin, r.end));
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.begin <= last.end.saturating_add(1) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

/// `a - b` for coalesced range lists.
fn ranges_minus(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for r in a {
        let mut pieces = vec![Range {
            begin: r.begin,
            end: r.end,
        }];
        for s in b {
            let mut next = Vec::new();
            for p in pieces {
                if s.end < p.begin || s.begin > p.end {
                    next.push(p);
                    continue;
                }
                if s.begin > p.begin {
                    next.push(Range {
                        begin: p.begin,
                        end: s.begin - 1,
                    });
                }
                if s.end < p.end {
                    next.push(Range {
                        begin: s.end + 1,
                        end: p.end,
                    });
                }
            }
            pieces = next;
        }
        out.extend(pieces);
    }
    coalesce(out)
}

fn ranges_contain(a: &[Range], b: &[Range]) -> bool {
    ranges_minus(b, a).is_empty()
}

fn ranges_of(r: &Resource) -> Vec<Range> {
    r.ranges
        .as_ref()
        .map(|rs| rs.range.clone())
        .unwrap_or_default()
}

fn scalar_of(r: &Resource) -> f64 {
    r.scalar.as_ref().map(|s| s.value).unwrap_or(0.0)
}

fn set_of(r: &Resource) -> Vec<String> {
    r.set.as_ref().map(|s| s.item.clone()).unwrap_or_default()
}

impl Resources {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a normalized collection from protobufs (text resources and
    /// empty ones are dropped, like Mesos does).
    pub fn from_protos<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Self {
        let mut out = Self::new();
        for r in resources {
            out.add(r);
        }
        out
    }

    /// The resources as protobufs.
    pub fn protos(&self) -> &[Resource] {
        &self.0
    }

    /// Consumes the collection into protobufs.
    pub fn into_protos(self) -> Vec<Resource> {
        self.0
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds one resource, merging it with the entry of the same identity.
    pub fn add(&mut self, r: &Resource) {
        if is_empty(r) {
            return;
        }
        if let Some(existing) = self.0.iter_mut().find(|e| same_identity(e, r)) {
            match r.r#type() {
                value::Type::Scalar => {
                    let v = fixed(scalar_of(existing) + scalar_of(r));
                    existing.scalar = Some(Scalar { value: v });
                }
                value::Type::Ranges => {
                    let mut all = ranges_of(existing);
                    all.extend(ranges_of(r));
                    existing.ranges = Some(Ranges {
                        range: coalesce(all),
                    });
                }
                value::Type::Set => {
                    let mut items = set_of(existing);
                    for i in set_of(r) {
                        if !items.contains(&i) {
                            items.push(i);
                        }
                    }
                    existing.set = Some(value::Set { item: items });
                }
                value::Type::Text => {}
            }
        } else {
            let mut r = r.clone();
            if r.r#type() == value::Type::Scalar {
                r.scalar = Some(Scalar {
                    value: fixed(scalar_of(&r)),
                });
            }
            if r.r#type() == value::Type::Ranges {
                r.ranges = Some(Ranges {
                    range: coalesce(ranges_of(&r)),
                });
            }
            self.0.push(r);
        }
    }

    /// Adds every resource of `other`.
    pub fn add_all(&mut self, other: &Resources) {
        for r in &other.0 {
            self.add(r);
        }
    }

    /// Subtracts one resource from the entry of the same identity (what is
    /// not there is ignored, as in Mesos).
    pub fn subtract(&mut self, r: &Resource) {
        let Some(pos) = self.0.iter().position(|e| same_identity(e, r)) else {
            return;
        };
        let existing = &mut self.0[pos];
        match r.r#type() {
            value::Type::Scalar => {
                let v = fixed(scalar_of(existing) - scalar_of(r));
                existing.scalar = Some(Scalar { value: v });
            }
            value::Type::Ranges => {
                let left = ranges_minus(&ranges_of(existing), &coalesce(ranges_of(r)));
                existing.ranges = Some(Ranges { range: left });
            }
            value::Type::Set => {
                let remove = set_of(r);
                let items = set_of(existing)
                    .into_iter()
                    .filter(|i| !remove.contains(i))
                    .collect();
                existing.set = Some(value::Set { item: items });
            }
            value::Type::Text => {}
        }
        if is_empty(&self.0[pos]) {
            self.0.remove(pos);
        }
    }

    /// Subtracts every resource of `other`.
    pub fn subtract_all(&mut self, other: &Resources) {
        for r in &other.0 {
            self.subtract(r);
        }
    }

    /// `self - other` as a new collection.
    pub fn minus(&self, other: &Resources) -> Resources {
        let mut out = self.clone();
        out.subtract_all(other);
        out
    }

    /// `self + other` as a new collection.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut out = self.clone();
        out.add_all(other);
        out
    }

    /// True when `other ⊆ self` (identity by identity).
    pub fn contains(&self, other: &Resources) -> bool {
        other.0.iter().all(|r| {
            let Some(mine) = self.0.iter().find(|e| same_identity(e, r)) else {
                return false;
            };
            match r.r#type() {
                value::Type::Scalar => fixed(scalar_of(mine)) >= fixed(scalar_of(r)),
                value::Type::Ranges => ranges_contain(&ranges_of(mine), &ranges_of(r)),
                value::Type::Set => {
                    let items = set_of(mine);
                    set_of(r).iter().all(|i| items.contains(i))
                }
                value::Type::Text => true,
            }
        })
    }

    /// The resources with `allocation_info` cleared: the agent's view.
    pub fn unallocated(&self) -> Resources {
        let mut out = Resources::new();
        for r in &self.0 {
            let mut r = r.clone();
            r.allocation_info = None;
            out.add(&r);
        }
        out
    }

    /// The resources with `allocation_info.role = role` set on each.
    pub fn allocate(&self, role: &str) -> Resources {
        let mut out = Resources::new();
        for r in &self.0 {
            let mut r = r.clone();
            r.allocation_info = Some(AllocationInfo {
                role: Some(role.to_owned()),
            });
            out.add(&r);
        }
        out
    }

    /// Only the resources allocated to `role` (by `allocation_info`).
    pub fn allocated_to(&self, role: &str) -> Resources {
        Resources(
            self.0
                .iter()
                .filter(|r| {
                    r.allocation_info
                        .as_ref()
                        .and_then(|a| a.role.as_deref())
                        .is_some_and(|x| x == role)
                })
                .cloned()
                .collect(),
        )
    }

    /// The resources `role` may use: unreserved ones and those reserved to
    /// the role or one of its ancestors (hierarchical roles).
    pub fn allocatable_to(&self, role: &str) -> Resources {
        Resources(
            self.0
                .iter()
                .filter(|r| match reservation_role(r) {
                    None => true,
                    Some(reserved) => is_same_or_ancestor(reserved, role),
                })
                .cloned()
                .collect(),
        )
    }

    /// Total of the scalar resource `name` (all identities together).
    pub fn scalar(&self, name: &str) -> f64 {
        fixed(
            self.0
                .iter()
                .filter(|r| r.name == name && r.r#type() == value::Type::Scalar)
                .map(scalar_of)
                .sum(),
        )
    }

    /// Names of the scalar resources present.
    pub fn scalar_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|r| r.r#type() == value::Type::Scalar)
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The role a resource is reserved to (the last reservation), if any.
pub fn reservation_role(r: &Resource) -> Option<&str> {
    r.reservations.last().and_then(|ri| ri.role.as_deref())
}

/// True if `ancestor` is `role` itself or one of its hierarchical parents.
pub fn is_same_or_ancestor(ancestor: &str, role: &str) -> bool {
    role == ancestor
        || (role.len() > ancestor.len()
            && role.starts_with(ancestor)
            && role.as_bytes()[ancestor.len()] == b'/')
}

/// A scalar resource, unreserved.
pub fn scalar(name: &str, value: f64) -> Resource {
    Resource {
        name: name.to_owned(),
        r#type: value::Type::Scalar as i32,
        scalar: Some(Scalar { value }),
        ..Default::default()
    }
}

/// A ranges resource, unreserved.
pub fn ranges(name: &str, ranges: &[(u64, u64)]) -> Resource {
    Resource {
        name: name.to_owned(),
        r#type: value::Type::Ranges as i32,
        ranges: Some(Ranges {
            range: ranges
                .iter()
                .map(|&(begin, end)| Range { begin, end })
                .collect(),
        }),
        ..Default::default()
    }
}

/// `r` statically reserved to `role` (as `cpus(role):4` on the agent).
pub fn reserved_static(mut r: Resource, role: &str) -> Resource {
    r.reservations.push(ReservationInfo {
        r#type: Some(kube_mesos_proto::v1::resource::reservation_info::Type::Static as i32),
        role: Some(role.to_owned()),
        ..Default::default()
    });
    r
}

impl fmt::Display for Resources {
    /// Mesos-like rendering: `cpus(allocated: r)(reservations: [(STATIC,spark)]):4; ports:[31000-32000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&r.name)?;
            if let Some(role) = r.allocation_info.as_ref().and_then(|a| a.role.as_deref()) {
                write!(f, "(allocated: {role})")?;
            }
            if !r.reservations.is_empty() {
                f.write_str("(reservations: [")?;
                for (j, ri) in r.reservations.iter().enumerate() {
                    if j > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "({},{})", ri.r#type().as_str_name(), ri.role())?;
                }
                f.write_str("])")?;
            }
            f.write_str(":")?;
            match r.r#type() {
                value::Type::Scalar => write!(f, "{}", scalar_of(r))?,
                value::Type::Ranges => {
                    f.write_str("[")?;
                    for (j, rg) in ranges_of(r).iter().enumerate() {
                        if j > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{}-{}", rg.begin, rg.end)?;
                    }
                    f.write_str("]")?;
                }
                value::Type::Set => write!(f, "{{{}}}", set_of(r).join(", "))?,
                value::Type::Text => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Resources {
        Resources::from_protos(&[
            scalar("cpus", 4.0),
            scalar("mem", 1024.0),
            ranges("ports", &[(31000, 32000)]),
            reserved_static(scalar("cpus", 2.0), "spark"),
        ])
    }

    #[test]
    fn scalars_add_with_fixed_point() {
        let mut r = Resources::from_protos(&[scalar("cpus", 0.1)]);
        r.add(&scalar("cpus", 0.2));
        assert_eq!(r.scalar("cpus"), 0.3);
        assert!(r.contains(&Resources::from_protos(&[scalar("cpus", 0.3)])));
    }

    #[test]
    fn reservations_are_a_separate_identity() {
        let r = agent();
        assert_eq!(r.protos().len(), 4);
        assert_eq!(r.scalar("cpus"), 6.0);
        let unreserved_only = r.allocatable_to("web");
        assert_eq!(unreserved_only.scalar("cpus"), 4.0);
        assert_eq!(r.allocatable_to("spark").scalar("cpus"), 6.0);
        assert_eq!(r.allocatable_to("spark/streaming").scalar("cpus"), 6.0);
        assert!(!r.contains(&Resources::from_protos(&[reserved_static(
            scalar("cpus", 3.0),
            "spark"
        )])));
    }

    #[test]
    fn ranges_split_and_merge() {
        let mut r = agent();
        r.subtract(&ranges("ports", &[(31000, 31000), (31500, 31600)]));
        let ports = r.protos().iter().find(|x| x.name == "ports").unwrap();
        let got: Vec<(u64, u64)> = ports
            .ranges
            .as_ref()
            .unwrap()
            .range
            .iter()
            .map(|x| (x.begin, x.end))
            .collect();
        assert_eq!(got, vec![(31001, 31499), (31601, 32000)]);
        assert!(!r.contains(&Resources::from_protos(&[ranges(
            "ports",
            &[(31000, 31001)]
        )])));
        assert!(r.contains(&Resources::from_protos(&[ranges(
            "ports",
            &[(31001, 31002)]
        )])));
        r.add(&ranges("ports", &[(31000, 31000), (31500, 31600)]));
        assert_eq!(r, agent());
    }

    #[test]
    fn subtracting_everything_leaves_nothing() {
        let r = agent();
        assert!(r.minus(&agent()).is_empty());
        assert!(r.contains(&agent()));
        assert!(Resources::new().contains(&Resources::new()));
    }

    #[test]
    fn allocation_info_is_part_of_identity() {
        let allocated = agent().allocate("web");
        assert!(!agent().contains(&allocated));
        assert_eq!(allocated.unallocated(), agent());
        assert_eq!(allocated.allocated_to("web"), allocated);
        assert!(allocated.allocated_to("other").is_empty());
    }

    #[test]
    fn display_is_mesos_like() {
        let r = Resources::from_protos(&[
            scalar("cpus", 1.5),
            ranges("ports", &[(1, 2)]),
            reserved_static(scalar("mem", 2.0), "spark"),
        ]);
        assert_eq!(
            r.to_string(),
            "cpus:1.5; ports:[1-2]; mem(reservations: [(STATIC,spark)]):2"
        );
    }
}

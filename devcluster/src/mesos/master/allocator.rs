//! The allocator: who gets offered what, as Mesos' hierarchical DRF allocator
//! decides it (apache/mesos `src/master/allocator/mesos/hierarchical.cpp`).
//!
//! One allocation pass walks the agents; on each agent, the roles are taken
//! in order of their weighted dominant share (lowest first), and within a
//! role the frameworks in order of their dominant share. A framework that is
//! subscribed to the role, does not suppress it and has no refusal filter
//! for what is left on the agent receives everything the role may use on the
//! agent: one offer per agent per role, as Mesos makes them. Reserved
//! resources of a role only go to that role's frameworks.
//!
//! The allocator is a pure function of its [`AllocatorInput`], so fairness,
//! filters and suppression are tested without a master.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio::time::Instant;

use super::resources::Resources;

/// A refusal filter: the framework declined `resources` on `agent_id` for
/// `role` until `expires`. Like Mesos' `RefusedOfferFilter`, it only
/// filters offers that are a subset of what was declined, so newly freed
/// resources are offered again.
#[derive(Debug, Clone)]
pub struct OfferFilter {
    /// The agent the filter applies to.
    pub agent_id: String,
    /// The allocation role the declined offer had.
    pub role: String,
    /// What was declined.
    pub resources: Resources,
    /// When the filter stops applying.
    pub expires: Instant,
}

/// One framework as the allocator sees it.
#[derive(Debug, Clone)]
pub struct FrameworkView<'a> {
    /// Framework ID.
    pub id: String,
    /// Roles the framework is subscribed to.
    pub roles: Vec<String>,
    /// Roles for which it asked not to get offers (SUPPRESS).
    pub suppressed: BTreeSet<String>,
    /// Its refusal filters (borrowed: a framework that declines while
    /// pods arrive has one per agent, thousands).
    pub filters: &'a [OfferFilter],
    /// Resources allocated to it (used by tasks or offered), per role.
    pub allocated: BTreeMap<String, Resources>,
}

/// One agent as the allocator sees it (borrowed from the master's books
/// where it can be: a pass sees every agent).
#[derive(Debug, Clone)]
pub struct AgentView<'a> {
    /// Agent ID.
    pub id: &'a str,
    /// Its total resources (for the DRF denominator).
    pub total: Cow<'a, Resources>,
    /// What is neither used by tasks/executors nor offered.
    pub available: Cow<'a, Resources>,
}

/// Everything one allocation pass needs.
#[derive(Debug, Clone, Default)]
pub struct AllocatorInput<'a> {
    /// Active (connected) frameworks.
    pub frameworks: Vec<FrameworkView<'a>>,
    /// Active agents.
    pub agents: Vec<AgentView<'a>>,
    /// Role weights (default 1.0).
    pub weights: BTreeMap<String, f64>,
    /// The time filters are compared to.
    pub now: Option<Instant>,
}

/// One decided offer: `resources` (with `allocation_info` set to `role`)
/// of `agent_id` go to `framework_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Receiving framework.
    pub framework_id: String,
    /// Agent the resources are on.
    pub agent_id: String,
    /// Allocation role.
    pub role: String,
    /// The offered resources, allocated to `role`.
    pub resources: Resources,
}

fn dominant_share(allocated: &Resources, totals: &Resources) -> f64 {
    let mut share: f64 = 0.0;
    for name in totals.scalar_names() {
        let total = totals.scalar(&name);
        if total > 0.0 {
            share = share.max(allocated.scalar(&name) / total);
        }
    }
    share
}

/// Runs one allocation pass and returns the offers to make.
pub fn allocate(input: &AllocatorInput) -> Vec<Allocation> {
    let mut totals = Resources::new();
    for a in &input.agents {
        totals.add_all(&a.total);
    }

    // Allocations per framework per role, updated as offers are decided.
    let mut fw_alloc: BTreeMap<String, BTreeMap<String, Resources>> = input
        .frameworks
        .iter()
        .map(|f| (f.id.clone(), f.allocated.clone()))
        .collect();

    let mut roles: BTreeSet<String> = BTreeSet::new();
    for f in &input.frameworks {
        roles.extend(f.roles.iter().cloned());
    }

    // Each framework's live filters by agent, so that an agent is checked
    // against its own few, not against every filter of the framework.
    let filters: HashMap<&str, HashMap<&str, Vec<&OfferFilter>>> = input
        .frameworks
        .iter()
        .map(|f| {
            let mut by_agent: HashMap<&str, Vec<&OfferFilter>> = HashMap::new();
            for flt in f.filters {
                if input.now.is_none_or(|now| flt.expires > now) {
                    by_agent.entry(flt.agent_id.as_str()).or_default().push(flt);
                }
            }
            (f.id.as_str(), by_agent)
        })
        .collect();

    let mut out = Vec::new();
    // Roles by weighted DRF share of everything allocated to them; the
    // shares change only when an offer is made, not from agent to agent.
    let role_order = |fw_alloc: &BTreeMap<String, BTreeMap<String, Resources>>| {
        let mut ordered: Vec<(f64, String)> = roles
            .iter()
            .map(|role| {
                let mut sum = Resources::new();
                for per_role in fw_alloc.values() {
                    if let Some(r) = per_role.get(role) {
                        sum.add_all(r);
                    }
                }
                let weight = input.weights.get(role).copied().unwrap_or(1.0).max(1e-9);
                (
                    dominant_share(&sum.unallocated(), &totals) / weight,
                    role.clone(),
                )
            })
            .collect();
        ordered.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        ordered
    };
    let mut ordered = role_order(&fw_alloc);
    for agent in &input.agents {
        // Everything used or offered already: nothing to decide.
        if agent.available.is_empty() {
            continue;
        }
        let mut available = Resources::clone(&agent.available);
        let offers_before = out.len();
        for (_, role) in &ordered {
            let candidate = available.allocatable_to(role);
            if candidate.is_empty() {
                continue;
            }
            // Frameworks of this role, by DRF share within the role.
            let mut fws: Vec<(f64, &FrameworkView)> = input
                .frameworks
                .iter()
                .filter(|f| f.roles.contains(role) && !f.suppressed.contains(role))
                .map(|f| {
                    let alloc = fw_alloc
                        .get(&f.id)
                        .and_then(|m| m.get(role))
                        .map(Resources::unallocated)
                        .unwrap_or_default();
                    (dominant_share(&alloc, &totals), f)
                })
                .collect();
            fws.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));

            for (_, f) in fws {
                let filtered = filters
                    .get(f.id.as_str())
                    .and_then(|by_agent| by_agent.get(agent.id))
                    .is_some_and(|on_agent| {
                        on_agent.iter().any(|flt| {
                            flt.role == *role && flt.resources.unallocated().contains(&candidate)
                        })
                    });
                if filtered {
                    continue;
                }
                let offered = candidate.allocate(role);
                available.subtract_all(&candidate);
                fw_alloc
                    .entry(f.id.clone())
                    .or_default()
                    .entry(role.clone())
                    .or_default()
                    .add_all(&offered);
                out.push(Allocation {
                    framework_id: f.id.clone(),
                    agent_id: agent.id.to_owned(),
                    role: role.clone(),
                    resources: offered,
                });
                break;
            }
        }
        if out.len() > offers_before {
            ordered = role_order(&fw_alloc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::resources::{ranges, reserved_static, scalar};
    use super::*;

    fn agent(id: &'static str, cpus: f64) -> AgentView<'static> {
        let total = Resources::from_protos(&[
            scalar("cpus", cpus),
            scalar("mem", 1024.0),
            ranges("ports", &[(31000, 32000)]),
        ]);
        AgentView {
            id,
            available: Cow::Owned(total.clone()),
            total: Cow::Owned(total),
        }
    }

    /// A filter on everything `agent` has free, for role `*`, for 5 s.
    fn declined_for_5s(agent: &AgentView, now: Instant) -> OfferFilter {
        OfferFilter {
            agent_id: agent.id.to_owned(),
            role: "*".into(),
            resources: agent.available.allocate("*"),
            expires: now + Duration::from_secs(5),
        }
    }

    fn framework(id: &str, roles: &[&str]) -> FrameworkView<'static> {
        FrameworkView {
            id: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            suppressed: BTreeSet::new(),
            filters: &[],
            allocated: BTreeMap::new(),
        }
    }

    #[test]
    fn two_frameworks_get_fair_shares() {
        let input = AllocatorInput {
            frameworks: vec![framework("a", &["*"]), framework("b", &["*"])],
            agents: vec![agent("s1", 4.0), agent("s2", 4.0)],
            ..Default::default()
        };
        let out = allocate(&input);
        assert_eq!(out.len(), 2);
        let fws: BTreeSet<&str> = out.iter().map(|a| a.framework_id.as_str()).collect();
        assert_eq!(fws, BTreeSet::from(["a", "b"]));
    }

    #[test]
    fn the_framework_with_the_lower_share_goes_first() {
        let mut a = framework("a", &["*"]);
        a.allocated.insert(
            "*".into(),
            Resources::from_protos(&[scalar("cpus", 2.0)]).allocate("*"),
        );
        let input = AllocatorInput {
            frameworks: vec![a, framework("b", &["*"])],
            agents: vec![agent("s1", 4.0)],
            ..Default::default()
        };
        let out = allocate(&input);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "b");
    }

    #[test]
    fn reserved_resources_only_go_to_their_role() {
        let mut s1 = agent("s1", 4.0);
        s1.total
            .to_mut()
            .add(&reserved_static(scalar("cpus", 2.0), "spark"));
        s1.available = s1.total.clone();
        let input = AllocatorInput {
            frameworks: vec![framework("web", &["web"]), framework("spark", &["spark"])],
            agents: vec![s1],
            ..Default::default()
        };
        let out = allocate(&input);
        // "spark" and "web" have equal (zero) shares: spark sorts first and
        // gets everything it may use, including its reservation.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].framework_id, "spark");
        assert_eq!(out[0].resources.scalar("cpus"), 6.0);
        assert!(out[0].resources.protos().iter().all(|r| r
            .allocation_info
            .as_ref()
            .unwrap()
            .role()
            == "spark"));
    }

    #[test]
    fn reserved_resources_are_left_for_their_role() {
        let mut s1 = agent("s1", 4.0);
        s1.total
            .to_mut()
            .add(&reserved_static(scalar("cpus", 2.0), "spark"));
        s1.available = s1.total.clone();
        let input = AllocatorInput {
            frameworks: vec![framework("web", &["web"])],
            agents: vec![s1],
            ..Default::default()
        };
        let out = allocate(&input);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resources.scalar("cpus"), 4.0);
    }

    #[test]
    fn suppressed_roles_get_nothing() {
        let mut a = framework("a", &["*"]);
        a.suppressed.insert("*".into());
        let input = AllocatorInput {
            frameworks: vec![a],
            agents: vec![agent("s1", 4.0)],
            ..Default::default()
        };
        assert!(allocate(&input).is_empty());
    }

    #[test]
    fn filters_apply_until_they_expire_or_more_is_free() {
        let now = Instant::now();
        let s1 = agent("s1", 4.0);
        let filters = [declined_for_5s(&s1, now)];
        let mut a = framework("a", &["*"]);
        a.filters = &filters;
        let mut input = AllocatorInput {
            frameworks: vec![a],
            agents: vec![s1],
            now: Some(now),
            ..Default::default()
        };
        assert!(allocate(&input).is_empty());
        input.now = Some(now + Duration::from_secs(6));
        assert_eq!(allocate(&input).len(), 1);
        input.now = Some(now);
        input.agents[0].available.to_mut().add(&scalar("cpus", 1.0));
        assert_eq!(allocate(&input).len(), 1);
    }

    #[test]
    fn a_filter_holds_back_only_its_own_agent() {
        let now = Instant::now();
        let (s1, s2) = (agent("s1", 4.0), agent("s2", 4.0));
        let filters = [declined_for_5s(&s1, now)];
        let mut a = framework("a", &["*"]);
        a.filters = &filters;
        let mut used = agent("s3", 4.0);
        used.available = Cow::Owned(Resources::new());
        let input = AllocatorInput {
            frameworks: vec![a],
            agents: vec![s1, s2, used],
            now: Some(now),
            ..Default::default()
        };
        let out = allocate(&input);
        let agents: Vec<&str> = out.iter().map(|a| a.agent_id.as_str()).collect();
        assert_eq!(agents, ["s2"]);
    }

    #[test]
    fn shares_follow_the_offers_made_from_agent_to_agent() {
        // Each offer raises its role's share: three agents go to the roles
        // in turn, never twice in a row to one.
        let input = AllocatorInput {
            frameworks: vec![framework("a", &["web"]), framework("b", &["spark"])],
            agents: vec![agent("s1", 4.0), agent("s2", 4.0), agent("s3", 4.0)],
            ..Default::default()
        };
        let out = allocate(&input);
        let fws: Vec<&str> = out.iter().map(|a| a.framework_id.as_str()).collect();
        assert_eq!(fws.len(), 3);
        assert_ne!(fws[0], fws[1]);
        assert_ne!(fws[1], fws[2]);
    }
}

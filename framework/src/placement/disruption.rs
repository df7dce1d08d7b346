//! PodDisruptionBudgets as kube-scheduler's DefaultPreemption reads them:
//! not as a veto (preemption deletes its victims, it does not use the
//! Eviction API), but as a preference. Victims whose eviction would take a
//! budget below zero are reprieved first, and the node whose victims
//! violate the fewest budgets wins (`filterPodsWithPDBViolation`,
//! `pickOneNodeForPreemption` in `pkg/scheduler/framework/preemption`).
//!
//! A budget is read from the API server as it is: `status.disruptionsAllowed`
//! is what the disruption controller (kube-controller-manager's, or the
//! devcluster's) last computed, and `status.disruptedPods` the pods an
//! eviction already counted. The framework does not recompute either.

use std::collections::BTreeSet;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use super::selector::Selector;
use super::snapshot::PodInfo;

/// What preemption needs of one PodDisruptionBudget.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.selector`, parsed.
    pub selector: Selector,
    /// `status.disruptionsAllowed` (0 until the controller has written it).
    pub disruptions_allowed: i32,
    /// The names in `status.disruptedPods`: evictions the API server has
    /// counted already, which preemption must not count again.
    pub disrupted_pods: BTreeSet<String>,
}

impl Budget {
    /// The budget of a PodDisruptionBudget object.
    pub fn of(pdb: &PodDisruptionBudget) -> Self {
        let status = pdb.status.as_ref();
        Budget {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            name: pdb.metadata.name.clone().unwrap_or_default(),
            selector: Selector::from_label_selector(
                pdb.spec.as_ref().and_then(|s| s.selector.as_ref()),
            ),
            disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the budget covers `info`'s pod: same namespace, and a
    /// selector with requirements that the pod's labels meet. A nil or
    /// empty selector covers nothing here, as in kube-scheduler (unlike
    /// the Eviction API, where `{}` covers the whole namespace).
    fn covers(&self, info: &PodInfo<'_>) -> bool {
        let pod = info.pod;
        if pod.labels.is_empty() {
            return false;
        }
        pod.namespace.unwrap_or_default() == self.namespace
            && !self.selector.is_empty()
            && self.selector.matches(pod.labels)
    }
}

/// The cluster's budgets as the core keeps them between rounds: one per
/// namespace and name, sorted, so that a round borrows them as a slice.
#[derive(Clone, Debug, Default)]
pub struct Budgets(Vec<Budget>);

impl Budgets {
    fn position(&self, namespace: &str, name: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|b| (b.namespace.as_str(), b.name.as_str()).cmp(&(namespace, name)))
    }

    /// Add a budget or replace the one of the same namespace and name.
    pub fn upsert(&mut self, budget: Budget) {
        match self.position(&budget.namespace, &budget.name) {
            Ok(i) => self.0[i] = budget,
            Err(i) => self.0.insert(i, budget),
        }
    }

    /// Forget a budget.
    pub fn remove(&mut self, namespace: &str, name: &str) {
        if let Ok(i) = self.position(namespace, name) {
            self.0.remove(i);
        }
    }

    /// Every budget.
    pub fn all(&self) -> &[Budget] {
        &self.0
    }
}

/// kube-scheduler's `filterPodsWithPDBViolation`: splits `pods` into those
/// whose eviction would violate a budget and the others, each keeping the
/// order it had. Every covered pod not yet in a budget's `disruptedPods`
/// uses one of its disruptions, in the order given; a pod is violating
/// once some budget covering it has none left.
pub fn split_by_violation<'a>(
    pods: Vec<PodInfo<'a>>,
    budgets: &[Budget],
) -> (Vec<PodInfo<'a>>, Vec<PodInfo<'a>>) {
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.disruptions_allowed).collect();
    let mut violating = Vec::new();
    let mut other = Vec::new();
    for info in pods {
        let name = info.pod.name.unwrap_or_default();
        let mut violated = false;
        for (i, b) in budgets.iter().enumerate() {
            if !b.covers(&info) || b.disrupted_pods.contains(name) {
                continue;
            }
            allowed[i] -= 1;
            violated |= allowed[i] < 0;
        }
        if violated {
            violating.push(info);
        } else {
            other.push(info);
        }
    }
    (violating, other)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn pod(ns: &str, name: &str, labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                labels: (!labels.is_empty()).then(|| {
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn pdb(
        ns: &str,
        selector: Option<&[(&str, &str)]>,
        allowed: i32,
        disrupted: &[&str],
    ) -> PodDisruptionBudget {
        let at = Time(Timestamp::from_second(1_700_000_000).expect("ts"));
        PodDisruptionBudget {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some("budget".into()),
                ..Default::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                selector: selector.map(|kv| LabelSelector {
                    match_labels: Some(
                        kv.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(PodDisruptionBudgetStatus {
                disruptions_allowed: allowed,
                disrupted_pods: Some(
                    disrupted
                        .iter()
                        .map(|n| (n.to_string(), at.clone()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            }),
        }
    }

    fn names(infos: &[PodInfo<'_>]) -> Vec<String> {
        infos
            .iter()
            .map(|i| i.pod.name.unwrap_or_default().to_owned())
            .collect()
    }

    fn split(pods: &[Pod], budgets: &[PodDisruptionBudget]) -> (Vec<String>, Vec<String>) {
        let budgets: Vec<Budget> = budgets.iter().map(Budget::of).collect();
        let infos = pods.iter().map(PodInfo::new).collect();
        let (v, o) = split_by_violation(infos, &budgets);
        (names(&v), names(&o))
    }

    #[test]
    fn each_covered_pod_uses_one_disruption_in_order() {
        let pods = [
            pod("ns", "a", &[("app", "web")]),
            pod("ns", "b", &[("app", "web")]),
            pod("ns", "c", &[("app", "web")]),
            pod("ns", "d", &[("app", "db")]),
        ];
        let (v, o) = split(&pods, &[pdb("ns", Some(&[("app", "web")]), 1, &[])]);
        assert_eq!(v, ["b", "c"]);
        assert_eq!(o, ["a", "d"]);
    }

    #[test]
    fn a_budget_without_status_allows_nothing() {
        let mut b = pdb("ns", Some(&[("app", "web")]), 0, &[]);
        b.status = None;
        let (v, o) = split(&[pod("ns", "a", &[("app", "web")])], &[b]);
        assert_eq!((v, o), (vec!["a".to_owned()], vec![]));
    }

    #[test]
    fn other_namespaces_empty_selectors_and_unlabelled_pods_are_not_covered() {
        let pods = [
            pod("other", "a", &[("app", "web")]),
            pod("ns", "b", &[]),
            pod("ns", "c", &[("app", "web")]),
        ];
        let budgets = [
            pdb("ns", Some(&[("app", "web")]), 0, &[]),
            pdb("ns", Some(&[]), 0, &[]),
            pdb("ns", None, 0, &[]),
        ];
        let (v, o) = split(&pods, &budgets);
        assert_eq!(v, ["c"]);
        assert_eq!(o, ["a", "b"]);
    }

    #[test]
    fn pods_already_disrupted_are_not_counted_again() {
        let pods = [
            pod("ns", "gone", &[("app", "web")]),
            pod("ns", "next", &[("app", "web")]),
        ];
        let (v, o) = split(&pods, &[pdb("ns", Some(&[("app", "web")]), 1, &["gone"])]);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(o, ["gone", "next"]);
    }

    #[test]
    fn budgets_are_kept_one_per_name() {
        let mut all = Budgets::default();
        let mut b = pdb("ns", Some(&[("app", "web")]), 0, &[]);
        all.upsert(Budget::of(&b));
        b.status.as_mut().expect("status").disruptions_allowed = 2;
        all.upsert(Budget::of(&b));
        b.metadata.namespace = Some("alpha".into());
        all.upsert(Budget::of(&b));
        let seen: Vec<(&str, i32)> = all
            .all()
            .iter()
            .map(|b| (b.namespace.as_str(), b.disruptions_allowed))
            .collect();
        assert_eq!(seen, [("alpha", 2), ("ns", 2)]);
        all.remove("ns", "budget");
        all.remove("ns", "budget");
        assert_eq!(all.all().len(), 1);
    }

    #[test]
    fn any_exhausted_budget_makes_the_pod_violating() {
        let pods = [pod("ns", "a", &[("app", "web"), ("tier", "fe")])];
        let budgets = [
            pdb("ns", Some(&[("app", "web")]), 3, &[]),
            pdb("ns", Some(&[("tier", "fe")]), 0, &[]),
        ];
        let (v, _) = split(&pods, &budgets);
        assert_eq!(v, ["a"]);
    }
}

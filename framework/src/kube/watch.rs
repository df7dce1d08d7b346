//! Pod, Node and PodDisruptionBudget watches, turned into scheduler-core
//! inputs.
//!
//! kube-rs' watcher lists, then watches, and relists after a 410 or a broken
//! stream. A relist says nothing about objects deleted while the watch was
//! away, so [`PodTracker`] and [`ObjectTracker`] remember what they reported
//! and, at the end of each relist (`InitDone`), report the missing ones as
//! deleted. The core needs that: a vanished pod whose task still runs must be
//! killed. The trackers are pure (watch event in, inputs out); the async part
//! only forwards.
//!
//! Which pods: those whose `spec.schedulerName` is one of ours, and any pod
//! carrying our task annotation (bound pods: the core needs their
//! `deletionTimestamp` and their disappearance). Annotations cannot be
//! selected on server-side, so all pods are watched and filtered here.

use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use tokio::sync::mpsc;

use crate::core::{Input, ANNOTATION_TASK_ID};

/// Tracks the pods reported to the core.
#[derive(Debug, Default)]
pub struct PodTracker {
    scheduler_names: Vec<String>,
    /// The UIDs of the pods reported: all a deletion needs (the core finds
    /// its pods by UID), not a copy of every pod, which at 100,000 pods
    /// would double the framework's memory.
    known: HashSet<Box<str>>,
    relist: Option<BTreeSet<String>>,
    synced: bool,
}

impl PodTracker {
    /// A tracker for pods of `scheduler_names`.
    pub fn new(scheduler_names: Vec<String>) -> Self {
        Self {
            scheduler_names,
            ..Self::default()
        }
    }

    /// Whether the core cares about this pod.
    pub fn is_ours(&self, pod: &Pod) -> bool {
        let by_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .is_some_and(|n| self.scheduler_names.iter().any(|ours| ours == n));
        let annotated = pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION_TASK_ID));
        by_name || annotated
    }

    /// One watch event in, the core's inputs out.
    pub fn step(&mut self, event: Event<Pod>) -> Vec<Input> {
        match event {
            Event::Init => {
                self.relist = Some(BTreeSet::new());
                Vec::new()
            }
            Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) = (self.relist.as_mut(), pod.metadata.uid.clone()) {
                    seen.insert(uid);
                }
                self.apply(pod)
            }
            Event::Apply(pod) => self.apply(pod),
            Event::Delete(pod) => {
                let uid = pod.metadata.uid.as_deref().unwrap_or_default();
                if self.known.remove(uid) {
                    vec![Input::PodDeleted(Box::new(pod))]
                } else {
                    Vec::new()
                }
            }
            Event::InitDone => {
                let seen = self.relist.take().unwrap_or_default();
                let mut out = Vec::new();
                self.known.retain(|uid| {
                    let kept = seen.contains(&**uid);
                    if !kept {
                        out.push(Input::PodDeleted(Box::new(pod_of(uid))));
                    }
                    kept
                });
                if !self.synced {
                    self.synced = true;
                    out.push(Input::PodsSynced);
                }
                out
            }
        }
    }

    fn apply(&mut self, pod: Pod) -> Vec<Input> {
        let Some(uid) = pod.metadata.uid.clone() else {
            return Vec::new();
        };
        if self.is_ours(&pod) {
            self.known.insert(uid.into_boxed_str());
            // managedFields (kube-apiserver writes them on every change) are
            // of no use to the core and would be kept with every pod.
            let mut pod = pod;
            pod.metadata.managed_fields = None;
            vec![Input::PodUpserted(Box::new(pod))]
        } else if self.known.remove(uid.as_str()) {
            // No longer ours (annotation removed): forget it like a deletion.
            vec![Input::PodDeleted(Box::new(pod))]
        } else {
            Vec::new()
        }
    }

    /// Number of pods reported and not deleted.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no pod is tracked.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

/// A pod gone while the watch was away, as the core is told of it: by
/// its UID (the name is the core's to know).
fn pod_of(uid: &str) -> Pod {
    Pod {
        metadata: kube::api::ObjectMeta {
            uid: Some(uid.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// An object reported to the core by name (Nodes, PodDisruptionBudgets):
/// its key, and the inputs that say it changed or went.
pub trait Tracked: Sized {
    /// Namespace ("" for cluster-scoped objects) and name.
    fn key(&self) -> Option<(String, String)>;
    /// The input for an added or changed object.
    fn upserted(self) -> Input;
    /// The input for a deleted one.
    fn deleted(key: (String, String)) -> Input;
}

impl Tracked for Node {
    fn key(&self) -> Option<(String, String)> {
        Some((String::new(), self.metadata.name.clone()?))
    }
    fn upserted(self) -> Input {
        Input::NodeUpserted(Box::new(self))
    }
    fn deleted((_, name): (String, String)) -> Input {
        Input::NodeDeleted(name)
    }
}

impl Tracked for PodDisruptionBudget {
    fn key(&self) -> Option<(String, String)> {
        Some((
            self.metadata.namespace.clone().unwrap_or_default(),
            self.metadata.name.clone()?,
        ))
    }
    fn upserted(mut self) -> Input {
        self.metadata.managed_fields = None;
        Input::BudgetUpserted(Box::new(self))
    }
    fn deleted((namespace, name): (String, String)) -> Input {
        Input::BudgetDeleted { namespace, name }
    }
}

/// Tracks the objects of one kind reported to the core.
#[derive(Debug)]
pub struct ObjectTracker<T> {
    known: BTreeSet<(String, String)>,
    relist: Option<BTreeSet<(String, String)>>,
    kind: std::marker::PhantomData<fn(T)>,
}

impl<T> Default for ObjectTracker<T> {
    fn default() -> Self {
        Self {
            known: BTreeSet::new(),
            relist: None,
            kind: std::marker::PhantomData,
        }
    }
}

/// Tracks the Nodes reported to the core.
pub type NodeTracker = ObjectTracker<Node>;

/// Tracks the PodDisruptionBudgets reported to the core.
pub type BudgetTracker = ObjectTracker<PodDisruptionBudget>;

impl<T: Tracked> ObjectTracker<T> {
    /// One watch event in, the core's inputs out.
    pub fn step(&mut self, event: Event<T>) -> Vec<Input> {
        match event {
            Event::Init => {
                self.relist = Some(BTreeSet::new());
                Vec::new()
            }
            Event::InitApply(obj) | Event::Apply(obj) => {
                let Some(key) = obj.key() else {
                    return Vec::new();
                };
                if let Some(seen) = self.relist.as_mut() {
                    seen.insert(key.clone());
                }
                self.known.insert(key);
                vec![obj.upserted()]
            }
            Event::Delete(obj) => match obj.key() {
                Some(key) if self.known.remove(&key) => vec![T::deleted(key)],
                _ => Vec::new(),
            },
            Event::InitDone => {
                let seen = self.relist.take().unwrap_or_default();
                let gone: Vec<(String, String)> = self.known.difference(&seen).cloned().collect();
                gone.into_iter()
                    .map(|key| {
                        self.known.remove(&key);
                        T::deleted(key)
                    })
                    .collect()
            }
        }
    }
}

/// Watches pods and sends the core's inputs to `out` until `out` closes.
/// Watch errors are logged; the watcher retries with backoff.
pub async fn watch_pods(
    client: kube::Client,
    scheduler_names: Vec<String>,
    out: mpsc::Sender<Input>,
) {
    let mut tracker = PodTracker::new(scheduler_names);
    let stream =
        watcher::watcher(Api::<Pod>::all(client), watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                for input in tracker.step(event) {
                    if out.send(input).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "pod watch failed; retrying"),
        }
    }
}

/// Watches Nodes and sends the core's inputs to `out` until `out` closes.
pub async fn watch_nodes(client: kube::Client, out: mpsc::Sender<Input>) {
    watch_all::<Node>(client, "node", out).await;
}

/// Watches PodDisruptionBudgets (policy/v1) in every namespace and sends
/// the core's inputs to `out` until `out` closes.
pub async fn watch_budgets(client: kube::Client, out: mpsc::Sender<Input>) {
    watch_all::<PodDisruptionBudget>(client, "poddisruptionbudget", out).await;
}

/// Watches every object of kind `T`, reporting it through an
/// [`ObjectTracker`]. Watch errors are logged; the watcher retries with
/// backoff.
async fn watch_all<T>(client: kube::Client, kind: &'static str, out: mpsc::Sender<Input>)
where
    T: Tracked
        + kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    let mut tracker = ObjectTracker::<T>::default();
    let stream =
        watcher::watcher(Api::<T>::all(client), watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                for input in tracker.step(event) {
                    if out.send(input).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, kind, "watch failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn pod(uid: &str, scheduler: &str, annotated: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(format!("p-{uid}")),
                namespace: Some("ns".into()),
                uid: Some(uid.into()),
                annotations: annotated.then(|| {
                    BTreeMap::from([(ANNOTATION_TASK_ID.to_string(), format!("pod.{uid}"))])
                }),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                scheduler_name: Some(scheduler.into()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn kinds(inputs: &[Input]) -> Vec<String> {
        inputs
            .iter()
            .map(|i| match i {
                Input::PodUpserted(p) => {
                    format!("up:{}", p.metadata.uid.clone().unwrap_or_default())
                }
                Input::PodDeleted(p) => {
                    format!("del:{}", p.metadata.uid.clone().unwrap_or_default())
                }
                Input::PodsSynced => "synced".into(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn only_our_pods_and_annotated_pods_are_reported() {
        let mut t = PodTracker::new(vec!["kube-mesos".into()]);
        assert_eq!(
            kinds(&t.step(Event::Apply(pod("a", "kube-mesos", false)))),
            ["up:a"]
        );
        assert!(t
            .step(Event::Apply(pod("b", "default-scheduler", false)))
            .is_empty());
        assert_eq!(
            kinds(&t.step(Event::Apply(pod("c", "default-scheduler", true)))),
            ["up:c"]
        );
        assert!(t
            .step(Event::Delete(pod("b", "default-scheduler", false)))
            .is_empty());
        assert_eq!(
            kinds(&t.step(Event::Delete(pod("a", "kube-mesos", false)))),
            ["del:a"]
        );
    }

    #[test]
    fn relist_reports_pods_deleted_while_away_and_syncs_once() {
        let mut t = PodTracker::new(vec!["kube-mesos".into()]);
        t.step(Event::Init);
        t.step(Event::InitApply(pod("a", "kube-mesos", false)));
        t.step(Event::InitApply(pod("b", "kube-mesos", false)));
        assert_eq!(kinds(&t.step(Event::InitDone)), ["synced"]);
        // Watch broke; relist finds only b.
        t.step(Event::Init);
        t.step(Event::InitApply(pod("b", "kube-mesos", false)));
        assert_eq!(kinds(&t.step(Event::InitDone)), ["del:a"]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn node_relist_reports_deleted_nodes() {
        let node = |name: &str| Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        let mut t = NodeTracker::default();
        t.step(Event::Init);
        t.step(Event::InitApply(node("n1")));
        t.step(Event::InitApply(node("n2")));
        assert!(t.step(Event::InitDone).is_empty());
        t.step(Event::Init);
        t.step(Event::InitApply(node("n2")));
        let out = t.step(Event::InitDone);
        assert!(matches!(&out[..], [Input::NodeDeleted(n)] if n == "n1"));
    }

    #[test]
    fn budgets_are_reported_by_namespace_and_name() {
        let pdb = |ns: &str, name: &str| PodDisruptionBudget {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..PodDisruptionBudget::default()
        };
        let mut t = BudgetTracker::default();
        t.step(Event::Init);
        let up = t.step(Event::InitApply(pdb("a", "web")));
        assert!(
            matches!(&up[..], [Input::BudgetUpserted(b)] if b.metadata.name.as_deref() == Some("web"))
        );
        t.step(Event::InitApply(pdb("b", "web")));
        assert!(t.step(Event::InitDone).is_empty());
        let out = t.step(Event::Delete(pdb("a", "web")));
        assert!(
            matches!(&out[..], [Input::BudgetDeleted { namespace, name }] if namespace == "a" && name == "web")
        );
        assert!(t.step(Event::Delete(pdb("a", "web"))).is_empty());
        // Deleted while the watch was away: found missing at the relist.
        t.step(Event::Init);
        let out = t.step(Event::InitDone);
        assert!(
            matches!(&out[..], [Input::BudgetDeleted { namespace, name }] if namespace == "b" && name == "web")
        );
    }
}

//! The garbage collector (`pkg/controller/garbagecollector`): an object
//! whose owners are all gone is deleted (with the policy its own finalizers
//! ask for); references to missing owners are dropped from objects that
//! still have a live one; owners deleted with `orphan` get their dependents'
//! references removed, owners deleted with `foregroundDeletion` have their
//! dependents deleted and go once no `blockOwnerDeletion` dependent is
//! left. The finalizers themselves are put on by the DELETE
//! (`propagation.rs`).
//!
//! Owners are matched by uid and kind (and namespace, for namespaced
//! owners): an owner recreated under the same name is a different owner.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::client::Action;
use super::meta;
use crate::apiserver::propagation::{Policy, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::apiserver::resources::{self, RESOURCES};
use crate::apiserver::store::Store;

/// The objects the collector looks at, from every bucket but events (which
/// nobody owns, and which are many): objects with owner references, objects
/// being deleted, and the owners those name.
pub fn snapshot(store: &Store) -> Vec<Value> {
    let mut buckets: Vec<&str> = RESOURCES
        .iter()
        .map(|r| r.storage)
        .filter(|s| *s != "events")
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    // Only dependents, objects being deleted and the owners they name take
    // part in a pass, and the store indexes the first two: a cluster of
    // bare pods and Nodes visits nothing, where a walk over every object
    // under the store's lock held up every write.
    let mut out = Vec::new();
    for b in &buckets {
        store.scan_owned_or_finalized(b, |o| {
            if !refs(o).is_empty() || meta::deleting(o) {
                out.push(o.clone());
            }
        });
    }
    // Owners by name, as their references give them; `resolve` matches
    // the uid, kind and namespace.
    let taken: HashSet<&str> = out.iter().map(meta::uid).collect();
    let mut wanted: HashMap<(&str, &str, &str), HashSet<&str>> = HashMap::new();
    for o in &out {
        for r in refs(o) {
            let api_version = r["apiVersion"].as_str().unwrap_or_default();
            let kind = r["kind"].as_str().unwrap_or_default();
            let (Some(rt), Some(name), Some(uid)) = (
                resources::by_kind(api_version, kind),
                r["name"].as_str(),
                r["uid"].as_str(),
            ) else {
                continue;
            };
            if !taken.contains(uid) {
                let ns = if rt.namespaced {
                    meta::namespace(o)
                } else {
                    ""
                };
                wanted
                    .entry((rt.storage, ns, name))
                    .or_default()
                    .insert(uid);
            }
        }
    }
    // An owner recreated under its name is another object: only the uids
    // referenced are taken.
    let owners: Vec<Value> = wanted
        .into_iter()
        .filter_map(|((storage, ns, name), uids)| {
            store
                .get(storage, ns, name)
                .filter(|v| uids.contains(meta::uid(v)))
        })
        .collect();
    out.extend(owners);
    out
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x == f))
}

fn without_finalizer(obj: &Value, f: &str) -> Value {
    let mut out = obj.clone();
    if let Some(l) = out["metadata"]["finalizers"].as_array_mut() {
        l.retain(|x| x != f);
    }
    out
}

fn refs(obj: &Value) -> &[Value] {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// What an owner reference points at.
enum Owner {
    /// Exists and is not waiting for its dependents.
    Solid,
    /// Does not exist (any more).
    Dangling,
    /// Being deleted in the foreground.
    Waiting,
    /// A kind this server does not serve: left alone.
    Unknown,
}

fn resolve(index: &HashMap<&str, &Value>, dependent: &Value, r: &Value) -> Owner {
    let api_version = r["apiVersion"].as_str().unwrap_or_default();
    let kind = r["kind"].as_str().unwrap_or_default();
    let Some(rt) = resources::by_kind(api_version, kind) else {
        return Owner::Unknown;
    };
    let found = r["uid"].as_str().and_then(|u| index.get(u)).filter(|o| {
        o["kind"] == kind && (!rt.namespaced || meta::namespace(o) == meta::namespace(dependent))
    });
    match found {
        None => Owner::Dangling,
        Some(o) if meta::deleting(o) && has_finalizer(o, FOREGROUND_FINALIZER) => Owner::Waiting,
        Some(_) => Owner::Solid,
    }
}

/// One pass of the collector over `objects`.
pub fn reconcile(objects: &[Value]) -> Vec<Action> {
    let index: HashMap<&str, &Value> = objects.iter().map(|o| (meta::uid(o), o)).collect();
    let mut dependents: HashMap<&str, Vec<&Value>> = HashMap::new();
    for obj in objects {
        for r in refs(obj) {
            if let Some(u) = r["uid"].as_str() {
                dependents.entry(u).or_default().push(obj);
            }
        }
    }
    let mut actions = Vec::new();
    // Owners being deleted with a collector finalizer.
    for owner in objects.iter().filter(|o| meta::deleting(o)) {
        let uid = meta::uid(owner);
        let deps = dependents.get(uid).map(Vec::as_slice).unwrap_or_default();
        if has_finalizer(owner, ORPHAN_FINALIZER) {
            if deps.is_empty() {
                actions.push(Action::Update(without_finalizer(owner, ORPHAN_FINALIZER)));
            } else {
                for d in deps {
                    actions.push(Action::Update(meta::without_owner(d, uid)));
                }
            }
        } else if has_finalizer(owner, FOREGROUND_FINALIZER) {
            let blocking = deps.iter().any(|d| {
                refs(d)
                    .iter()
                    .any(|r| r["uid"] == uid && r["blockOwnerDeletion"] == true)
            });
            if !blocking {
                actions.push(Action::Update(without_finalizer(
                    owner,
                    FOREGROUND_FINALIZER,
                )));
            }
        }
    }
    // Dependents.
    for obj in objects
        .iter()
        .filter(|o| !refs(o).is_empty() && !meta::deleting(o))
    {
        let (mut solid, mut gone, mut waiting) = (0, Vec::new(), Vec::new());
        for r in refs(obj) {
            match resolve(&index, obj, r) {
                Owner::Solid | Owner::Unknown => solid += 1,
                Owner::Dangling => gone.push(r["uid"].clone()),
                Owner::Waiting => waiting.push(r["uid"].clone()),
            }
        }
        if solid > 0 {
            if !gone.is_empty() || !waiting.is_empty() {
                let mut next = obj.clone();
                if let Some(l) = next["metadata"]["ownerReferences"].as_array_mut() {
                    l.retain(|r| !gone.contains(&r["uid"]) && !waiting.contains(&r["uid"]));
                }
                actions.push(Action::Update(next));
            }
            continue;
        }
        let policy = if !waiting.is_empty() {
            if dependents.contains_key(meta::uid(obj)) {
                Policy::Foreground
            } else {
                Policy::Background
            }
        } else if has_finalizer(obj, ORPHAN_FINALIZER) {
            Policy::Orphan
        } else if has_finalizer(obj, FOREGROUND_FINALIZER) {
            Policy::Foreground
        } else {
            Policy::Background
        };
        actions.push(Action::delete(obj, policy));
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, uid: &str, owner: Option<(&str, &str, bool)>) -> Value {
        let api_version = match kind {
            "Pod" => "v1",
            _ => "apps/v1",
        };
        let mut o = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "default", "uid": uid}});
        if let Some((okind, ouid, block)) = owner {
            o["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": okind, "name": "x", "uid": ouid, "controller": true, "blockOwnerDeletion": block}]);
        }
        o
    }

    fn deletes(actions: &[Action]) -> Vec<(String, Policy)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name, policy, .. } => Some((name.clone(), *policy)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn background_deletion_removes_dependents_of_a_gone_owner() {
        let rs = obj("ReplicaSet", "rs", "r1", Some(("Deployment", "gone", true)));
        let pod = obj("Pod", "p", "p1", Some(("ReplicaSet", "r1", true)));
        let actions = reconcile(&[rs, pod]);
        assert_eq!(
            deletes(&actions),
            vec![("rs".to_string(), Policy::Background)]
        );
    }

    #[test]
    fn foreground_owner_waits_for_blocking_dependents() {
        let mut d = obj("Deployment", "d", "d1", None);
        d["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        d["metadata"]["finalizers"] = json!([FOREGROUND_FINALIZER]);
        let rs = obj("ReplicaSet", "rs", "r1", Some(("Deployment", "d1", true)));
        let pod = obj("Pod", "p", "p1", Some(("ReplicaSet", "r1", true)));
        let actions = reconcile(&[d.clone(), rs, pod]);
        // The ReplicaSet has dependents, so it too goes in the foreground;
        // the Deployment keeps its finalizer meanwhile.
        assert_eq!(
            deletes(&actions),
            vec![("rs".to_string(), Policy::Foreground)]
        );
        assert!(!actions.iter().any(|a| matches!(a, Action::Update(_))));
        let actions = reconcile(&[d]);
        assert!(
            matches!(&actions[..], [Action::Update(o)] if o["metadata"]["finalizers"] == json!([]))
        );
    }

    #[test]
    fn orphaning_strips_references_then_the_finalizer() {
        let mut rs = obj("ReplicaSet", "rs", "r1", None);
        rs["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        rs["metadata"]["finalizers"] = json!([ORPHAN_FINALIZER]);
        let pod = obj("Pod", "p", "p1", Some(("ReplicaSet", "r1", true)));
        let actions = reconcile(&[rs.clone(), pod]);
        assert!(
            matches!(&actions[..], [Action::Update(p)] if meta::name(p) == "p" && p["metadata"]["ownerReferences"] == json!([]))
        );
        let actions = reconcile(&[rs]);
        assert!(
            matches!(&actions[..], [Action::Update(o)] if o["metadata"]["finalizers"] == json!([]))
        );
    }

    #[test]
    fn a_recreated_owner_with_the_same_name_is_not_the_owner() {
        let new_owner = obj("ReplicaSet", "rs", "r2", None);
        let pod = obj("Pod", "p", "p1", Some(("ReplicaSet", "r1", true)));
        assert_eq!(deletes(&reconcile(&[new_owner, pod])).len(), 1);
    }

    fn put(store: &Store, storage: &str, o: &Value) {
        store
            .mutate(storage, "default", meta::name(o), |_| {
                Ok(crate::apiserver::store::Mutation::Put(o.clone()))
            })
            .expect("put");
    }

    fn uids(objects: &[Value]) -> Vec<&str> {
        let mut u: Vec<&str> = objects.iter().map(meta::uid).collect();
        u.sort_unstable();
        u
    }

    #[test]
    fn a_snapshot_holds_dependents_deletions_and_the_owners_named() {
        let store = Store::in_memory(10);
        // The helper's references name the owner "x".
        put(&store, "replicasets", &obj("ReplicaSet", "x", "r1", None));
        put(
            &store,
            "pods",
            &obj("Pod", "p1", "p1", Some(("ReplicaSet", "r1", true))),
        );
        // Names "x" but an owner that was replaced: not the ReplicaSet.
        put(
            &store,
            "pods",
            &obj("Pod", "p2", "p2", Some(("ReplicaSet", "r0", true))),
        );
        put(&store, "pods", &obj("Pod", "bare", "b1", None));
        let mut d = obj("Deployment", "d", "d1", None);
        d["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        d["metadata"]["finalizers"] = json!([FOREGROUND_FINALIZER]);
        put(&store, "deployments", &d);
        assert_eq!(uids(&snapshot(&store)), vec!["d1", "p1", "p2", "r1"]);

        // Without a dependent that names it, the ReplicaSet is left out.
        store
            .mutate("pods", "default", "p1", |_| {
                Ok(crate::apiserver::store::Mutation::Put(obj(
                    "Pod", "p1", "p1", None,
                )))
            })
            .expect("update");
        assert_eq!(uids(&snapshot(&store)), vec!["d1", "p2"]);
    }
}

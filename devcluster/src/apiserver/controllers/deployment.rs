//! The Deployment controller (`pkg/controller/deployment`): owns one
//! ReplicaSet per pod template (named `<deployment>-<pod-template-hash>`),
//! rolls from the old ones to the new one (RollingUpdate within maxSurge
//! and maxUnavailable, or Recreate), scales proportionally while a rollout
//! is in flight, numbers revisions (`deployment.kubernetes.io/revision`, so
//! `kubectl rollout undo/history` work), trims history to
//! `revisionHistoryLimit`, and reports the status fields and the
//! Available/Progressing conditions `kubectl rollout status` reads.

use serde_json::{json, Value};

use super::client::Action;
use super::meta::{self, Clock};
use super::{pods, replicaset};
use crate::apiserver::label_selector;
use crate::apiserver::propagation::Policy;

/// The label and selector key that tells a ReplicaSet's pods apart.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// A ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had (after rollbacks to it).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// replicas + maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Deployment annotations not copied to its ReplicaSets.
const SKIP_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// FNV-1a 32-bit.
fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x01000193);
    }
    h
}

/// JSON with object keys sorted, so equal templates hash equally whatever
/// order their fields arrived in.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `controller.ComputeHash`: FNV-32a of the template (and the collision
/// count), printed in decimal and mapped onto apimachinery's safe alphabet
/// (`rand.SafeEncodeString`). Kubernetes hashes the Go struct's dump; the
/// values differ, the properties (stable, changes with the template) not.
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut text = String::new();
    canonical(&without_nulls(template), &mut text);
    let mut bytes = text.into_bytes();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    fnv32a(&bytes)
        .to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// `v` without null members: a typed Go object does not tell a null field
/// from an absent one (kubectl's patches carry `creationTimestamp: null`).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The template without the pod-template-hash label (`EqualIgnoreHash`).
fn template_ignoring_hash(template: &Value) -> Value {
    let mut t = without_nulls(template);
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty() {
            t["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
    }
    if t["metadata"].as_object().is_some_and(|m| m.is_empty()) {
        t.as_object_mut().map(|m| m.remove("metadata"));
    }
    t
}

fn revision(rs: &Value) -> i64 {
    meta::annotation(rs, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn replicas(rs: &Value) -> i64 {
    meta::int(&rs["spec"]["replicas"])
}

/// An int-or-percent of `total`, rounded up or down (`GetScaledValueFromIntOrPercent`).
fn scaled(v: &Value, total: i64, round_up: bool) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) if round_up => (p * total + 99) / 100,
            Some(p) => p * total / 100,
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

fn is_rolling(d: &Value) -> bool {
    d["spec"]["strategy"]["type"] != "Recreate"
}

/// `ResolveFenceposts`: (maxSurge, maxUnavailable) for the desired replicas;
/// both 0 would stall, so maxUnavailable becomes 1.
fn fenceposts(d: &Value) -> (i64, i64) {
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    let desired = replicas(d);
    let surge = scaled(&ru["maxSurge"], desired, true);
    let unavailable = scaled(&ru["maxUnavailable"], desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

fn max_surge(d: &Value) -> i64 {
    if is_rolling(d) {
        fenceposts(d).0
    } else {
        0
    }
}

fn max_unavailable(d: &Value) -> i64 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

/// The working state of one pass: the deployment's ReplicaSets as they
/// will be once this pass's actions are applied.
struct Pass<'a> {
    d: Value,
    clock: &'a Clock,
    new_rs: Option<Value>,
    old: Vec<Value>,
    actions: Vec<Action>,
    /// Whether `d`'s metadata (revision annotation) must be written.
    d_meta_changed: bool,
}

impl Pass<'_> {
    fn all(&self) -> Vec<&Value> {
        self.old.iter().chain(self.new_rs.as_ref()).collect()
    }

    fn scaling_event(&mut self, rs_name: &str, from: i64, to: i64) {
        let direction = if to > from { "up" } else { "down" };
        let message = format!("Scaled {direction} replica set {rs_name} from {from} to {to}");
        self.actions.push(Action::Create(meta::event(
            &self.d,
            self.clock,
            "deployment-controller",
            "Normal",
            "ScalingReplicaSet",
            &message,
        )));
    }

    /// `scaleReplicaSet`: sets replicas and the scaling annotations.
    fn scale(&mut self, rs: &Value, to: i64) -> Value {
        if replicas(rs) != to {
            self.scaling_event(meta::name(rs), replicas(rs), to);
        }
        let mut next = rs.clone();
        next["spec"]["replicas"] = json!(to);
        meta::set_annotation(&mut next, DESIRED_REPLICAS, &replicas(&self.d).to_string());
        meta::set_annotation(
            &mut next,
            MAX_REPLICAS,
            &(replicas(&self.d) + max_surge(&self.d)).to_string(),
        );
        if &next != rs {
            self.actions.push(Action::Update(next.clone()));
        }
        next
    }

    fn scale_old(&mut self, index: usize, to: i64) {
        let rs = self.old[index].clone();
        self.old[index] = self.scale(&rs, to);
    }

    fn scale_new(&mut self, to: i64) {
        if let Some(rs) = self.new_rs.clone() {
            self.new_rs = Some(self.scale(&rs, to));
        }
    }

    fn max_old_revision(&self) -> i64 {
        self.old.iter().map(revision).max().unwrap_or(0)
    }

    /// `getNewReplicaSet`: finds the ReplicaSet of the current template and
    /// brings its revision and annotations up to date, or creates it.
    fn sync_new_rs(&mut self, create: bool) {
        let next_revision = self.max_old_revision() + 1;
        if let Some(rs) = self.new_rs.clone() {
            let mut next = rs.clone();
            let current = revision(&rs);
            if current < next_revision {
                if current > 0 {
                    let history = match meta::annotation(&rs, REVISION_HISTORY) {
                        Some(h) if !h.is_empty() => format!("{h},{current}"),
                        _ => current.to_string(),
                    };
                    meta::set_annotation(&mut next, REVISION_HISTORY, &history);
                }
                meta::set_annotation(&mut next, REVISION, &next_revision.to_string());
            }
            copy_annotations(&self.d, &mut next);
            let min_ready = meta::int(&self.d["spec"]["minReadySeconds"]);
            if meta::int(&next["spec"]["minReadySeconds"]) != min_ready {
                next["spec"]["minReadySeconds"] = json!(min_ready);
            }
            if next != rs {
                self.actions.push(Action::Update(next.clone()));
            }
            self.set_d_revision(revision(&next));
            if meta::condition(&self.d["status"], "Progressing").is_none() && has_deadline(&self.d)
            {
                let msg = format!("Found new replica set \"{}\"", meta::name(&next));
                self.set_progressing("True", "FoundNewReplicaSet", &msg);
            }
            self.new_rs = Some(next);
            return;
        }
        if !create {
            return;
        }
        let collisions = self.d["status"]["collisionCount"].as_i64();
        let hash = template_hash(&self.d["spec"]["template"], collisions);
        let mut template = self.d["spec"]["template"].clone();
        template["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(hash);
        let mut selector = self.d["spec"]["selector"].clone();
        selector["matchLabels"][POD_TEMPLATE_HASH] = json!(hash);
        let name = format!("{}-{hash}", meta::name(&self.d));
        let mut rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": meta::namespace(&self.d),
                "labels": template["metadata"]["labels"],
                "ownerReferences": [meta::controller_ref(&self.d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": meta::int(&self.d["spec"]["minReadySeconds"]),
                "selector": selector,
                "template": template,
            },
        });
        copy_annotations(&self.d, &mut rs);
        meta::set_annotation(&mut rs, REVISION, &next_revision.to_string());
        let initial = self.new_rs_replicas(&rs);
        rs["spec"]["replicas"] = json!(initial);
        meta::set_annotation(&mut rs, DESIRED_REPLICAS, &replicas(&self.d).to_string());
        meta::set_annotation(
            &mut rs,
            MAX_REPLICAS,
            &(replicas(&self.d) + max_surge(&self.d)).to_string(),
        );
        self.actions.push(Action::Create(rs.clone()));
        if initial > 0 {
            self.scaling_event(&name, 0, initial);
        }
        self.set_d_revision(next_revision);
        if has_deadline(&self.d) {
            let msg = format!("Created new replica set \"{name}\"");
            self.set_progressing("True", "NewReplicaSetCreated", &msg);
        }
        self.new_rs = Some(rs);
    }

    fn set_d_revision(&mut self, rev: i64) {
        let rev = rev.to_string();
        if meta::annotation(&self.d, REVISION) != Some(rev.as_str()) {
            meta::set_annotation(&mut self.d, REVISION, &rev);
            self.d_meta_changed = true;
        }
    }

    fn set_progressing(&mut self, status: &str, reason: &str, message: &str) {
        let cond = new_condition(self.clock, "Progressing", status, reason, message);
        meta::set_condition(&mut self.d["status"], cond);
    }

    /// `NewRSNewReplicas`.
    fn new_rs_replicas(&self, new_rs: &Value) -> i64 {
        let desired = replicas(&self.d);
        if !is_rolling(&self.d) {
            return desired;
        }
        let current: i64 = self.all().iter().map(|r| replicas(r)).sum::<i64>()
            + if self.new_rs.is_none() {
                replicas(new_rs)
            } else {
                0
            };
        let max_total = desired + max_surge(&self.d);
        if current >= max_total {
            return replicas(new_rs);
        }
        let up = (max_total - current).min(desired - replicas(new_rs)).max(0);
        replicas(new_rs) + up
    }
}

fn has_deadline(d: &Value) -> bool {
    d["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s != i64::from(i32::MAX))
}

fn new_condition(clock: &Clock, ty: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "status": status, "lastUpdateTime": clock.text, "lastTransitionTime": clock.text, "reason": reason, "message": message})
}

/// Copies the Deployment's annotations (but the controller's own) onto a
/// ReplicaSet (`SetNewReplicaSetAnnotations`).
fn copy_annotations(d: &Value, rs: &mut Value) {
    for (k, v) in d["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if !SKIP_ANNOTATIONS.contains(&k.as_str()) {
            if let Some(v) = v.as_str() {
                meta::set_annotation(rs, k, v);
            }
        }
    }
}

fn is_active_rs(rs: &Value) -> bool {
    replicas(rs) > 0
}

/// One pass over one Deployment. `replicasets` and `pods` may hold other
/// namespaces' objects.
pub fn reconcile(d: &Value, replicasets: &[Value], pods: &[Value], clock: &Clock) -> Vec<Action> {
    let selector = &d["spec"]["selector"];
    if label_selector::is_empty(selector) {
        return Vec::new();
    }
    let (owned, mut actions) = replicaset::claim(d, selector, replicasets);
    let template = template_ignoring_hash(&d["spec"]["template"]);
    let mut owned: Vec<Value> = owned.into_iter().cloned().collect();
    owned.sort_by(meta::by_creation);
    let new_index = owned
        .iter()
        .position(|rs| template_ignoring_hash(&rs["spec"]["template"]) == template);
    let new_rs = new_index.map(|i| owned.remove(i));
    let mut pass = Pass {
        d: d.clone(),
        clock,
        new_rs,
        old: owned,
        actions: Vec::new(),
        d_meta_changed: false,
    };
    if meta::deleting(d) {
        pass.sync_status();
    } else {
        pass.check_paused_conditions();
        if d["spec"]["paused"] == true || pass.is_scaling_event() {
            pass.sync_new_rs(false);
            pass.scale_to_desired();
            if d["spec"]["paused"] == true {
                pass.cleanup();
            }
            pass.sync_status();
        } else if is_rolling(d) {
            pass.rollout_rolling();
        } else {
            pass.rollout_recreate(pods);
        }
    }
    if pass.d_meta_changed {
        let mut next = d.clone();
        next["metadata"]["annotations"] = pass.d["metadata"]["annotations"].clone();
        actions.push(Action::Update(next));
    }
    actions.extend(pass.actions);
    actions
}

impl Pass<'_> {
    fn check_paused_conditions(&mut self) {
        if !has_deadline(&self.d) {
            return;
        }
        let cond = meta::condition(&self.d["status"], "Progressing").cloned();
        if cond
            .as_ref()
            .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded")
        {
            return;
        }
        let paused_cond = cond
            .as_ref()
            .is_some_and(|c| c["reason"] == "DeploymentPaused");
        let paused = self.d["spec"]["paused"] == true;
        if paused && !paused_cond {
            self.set_progressing("Unknown", "DeploymentPaused", "Deployment is paused");
        } else if !paused && paused_cond {
            self.set_progressing("Unknown", "DeploymentResumed", "Deployment is resumed");
        }
    }

    /// `isScalingEvent`: an active ReplicaSet was last scaled for another
    /// replica count than the Deployment's.
    fn is_scaling_event(&self) -> bool {
        let want = replicas(&self.d).to_string();
        self.all()
            .iter()
            .filter(|rs| is_active_rs(rs))
            .any(|rs| meta::annotation(rs, DESIRED_REPLICAS).is_some_and(|v| v != want))
    }

    /// `scale`: the one active (or latest) ReplicaSet takes all replicas;
    /// a saturated new one empties the old; otherwise proportional scaling.
    fn scale_to_desired(&mut self) {
        let desired = replicas(&self.d);
        // FindActiveOrLatest.
        let active_count = self.all().iter().filter(|r| is_active_rs(r)).count();
        if active_count <= 1 && (self.new_rs.is_some() || !self.old.is_empty()) {
            let target_is_new =
                matches!(&self.new_rs, Some(n) if active_count == 0 || is_active_rs(n));
            if target_is_new {
                if self.new_rs.as_ref().is_some_and(|n| replicas(n) != desired) {
                    self.scale_new(desired);
                }
            } else {
                let index = if active_count == 0 {
                    // The newest old one.
                    self.old.len() - 1
                } else {
                    self.old.iter().position(is_active_rs).unwrap_or(0)
                };
                if replicas(&self.old[index]) != desired {
                    self.scale_old(index, desired);
                }
            }
            return;
        }
        if self.new_rs.as_ref().is_some_and(|n| self.is_saturated(n)) {
            for i in 0..self.old.len() {
                if is_active_rs(&self.old[i]) {
                    self.scale_old(i, 0);
                }
            }
            return;
        }
        if !is_rolling(&self.d) {
            return;
        }
        // Proportional scaling over the active ReplicaSets.
        let total: i64 = self
            .all()
            .iter()
            .filter(|r| is_active_rs(r))
            .map(|r| replicas(r))
            .sum();
        let allowed = if desired > 0 {
            desired + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        // (is_new, old index) of the active ones, largest first; ties: newer
        // first when growing, older first when shrinking.
        let mut order: Vec<(bool, usize, Value)> = self
            .old
            .iter()
            .enumerate()
            .filter(|(_, r)| is_active_rs(r))
            .map(|(i, r)| (false, i, r.clone()))
            .chain(
                self.new_rs
                    .iter()
                    .filter(|r| is_active_rs(r))
                    .map(|r| (true, 0, r.clone())),
            )
            .collect();
        order.sort_by(|a, b| {
            replicas(&b.2).cmp(&replicas(&a.2)).then_with(|| {
                if to_add > 0 {
                    meta::by_creation(&b.2, &a.2)
                } else {
                    meta::by_creation(&a.2, &b.2)
                }
            })
        });
        let mut added = 0;
        let mut sizes: Vec<i64> = Vec::new();
        for (_, _, rs) in &order {
            let size = if to_add != 0 {
                let p = self.proportion(rs, to_add, added);
                added += p;
                replicas(rs) + p
            } else {
                replicas(rs)
            };
            sizes.push(size);
        }
        if let Some(first) = sizes.first_mut() {
            if to_add != 0 {
                *first = (*first + to_add - added).max(0);
            }
        }
        for ((is_new, index, _), size) in order.into_iter().zip(sizes) {
            if is_new {
                self.scale_new(size);
            } else {
                self.scale_old(index, size);
            }
        }
    }

    /// `GetProportion`.
    fn proportion(&self, rs: &Value, to_add: i64, added: i64) -> i64 {
        if replicas(rs) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = if replicas(&self.d) == 0 {
            -replicas(rs)
        } else {
            let deployment_replicas = replicas(&self.d) + max_surge(&self.d);
            let annotated = meta::annotation(rs, MAX_REPLICAS)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or_else(|| meta::int(&self.d["status"]["replicas"]));
            if annotated == 0 {
                0
            } else {
                let size = (replicas(rs) * deployment_replicas) as f64 / annotated as f64;
                size.round() as i64 - replicas(rs)
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `IsSaturated`.
    fn is_saturated(&self, rs: &Value) -> bool {
        let desired = replicas(&self.d);
        meta::annotation(rs, DESIRED_REPLICAS) == Some(desired.to_string().as_str())
            && replicas(rs) == desired
            && meta::int(&rs["status"]["availableReplicas"]) == desired
    }

    /// `rolloutRolling`.
    fn rollout_rolling(&mut self) {
        self.sync_new_rs(true);
        if self.reconcile_new_rs() {
            return self.sync_rollout_status();
        }
        if self.reconcile_old_rss() {
            return self.sync_rollout_status();
        }
        if self.complete(&self.status()) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `reconcileNewReplicaSet`: true when it scaled.
    fn reconcile_new_rs(&mut self) -> bool {
        let Some(new_rs) = self.new_rs.clone() else {
            return false;
        };
        let desired = replicas(&self.d);
        let current = replicas(&new_rs);
        if current == desired {
            return false;
        }
        if current > desired {
            self.scale_new(desired);
            return true;
        }
        let to = self.new_rs_replicas(&new_rs);
        if to == current {
            return false;
        }
        self.scale_new(to);
        true
    }

    /// `reconcileOldReplicaSets`: true when it scaled down.
    fn reconcile_old_rss(&mut self) -> bool {
        let old_total: i64 = self.old.iter().map(replicas).sum();
        if old_total == 0 {
            return false;
        }
        let all_total: i64 = self.all().iter().map(|r| replicas(r)).sum();
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable = self
            .new_rs
            .as_ref()
            .map(|n| replicas(n) - meta::int(&n["status"]["availableReplicas"]))
            .unwrap_or(0);
        let max_scaled_down = all_total - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // cleanupUnhealthyReplicas, oldest first.
        let mut order: Vec<usize> = (0..self.old.len()).collect();
        order.sort_by(|a, b| meta::by_creation(&self.old[*a], &self.old[*b]));
        let mut cleaned = 0;
        for &i in &order {
            if cleaned >= max_scaled_down {
                break;
            }
            let rs = &self.old[i];
            if replicas(rs) == 0 {
                continue;
            }
            let available = meta::int(&rs["status"]["availableReplicas"]);
            if replicas(rs) == available {
                continue;
            }
            let down = (replicas(rs) - available).min(max_scaled_down - cleaned);
            let to = replicas(rs) - down;
            cleaned += down;
            self.scale_old(i, to);
        }
        // scaleDownOldReplicaSetsForRollingUpdate.
        let available: i64 = self
            .all()
            .iter()
            .map(|r| meta::int(&r["status"]["availableReplicas"]))
            .sum();
        let mut scaled = 0;
        if available > min_available {
            let total_down = available - min_available;
            for &i in &order {
                if scaled >= total_down {
                    break;
                }
                let rs = &self.old[i];
                if replicas(rs) == 0 {
                    continue;
                }
                let down = replicas(rs).min(total_down - scaled);
                let to = replicas(rs) - down;
                scaled += down;
                self.scale_old(i, to);
            }
        }
        cleaned + scaled > 0
    }

    /// `rolloutRecreate`: old pods all gone before the new ReplicaSet grows.
    fn rollout_recreate(&mut self, pods: &[Value]) {
        self.sync_new_rs(false);
        let mut scaled_down = false;
        for i in 0..self.old.len() {
            if is_active_rs(&self.old[i]) {
                self.scale_old(i, 0);
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(pods) {
            return self.sync_rollout_status();
        }
        if self.new_rs.is_none() {
            self.sync_new_rs(true);
        }
        let desired = replicas(&self.d);
        if self.new_rs.as_ref().is_some_and(|n| replicas(n) != desired) {
            self.scale_new(desired);
        }
        if self.complete(&self.status()) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    fn old_pods_running(&self, pods: &[Value]) -> bool {
        if self
            .old
            .iter()
            .any(|r| meta::int(&r["status"]["replicas"]) > 0)
        {
            return true;
        }
        let old_uids: Vec<&str> = self.old.iter().map(meta::uid).collect();
        pods.iter().any(|p| {
            meta::controller_of(p).is_some_and(|r| old_uids.iter().any(|u| r["uid"] == *u))
                && !pods::is_terminal(p)
        })
    }

    /// `cleanupDeployment`: deletes the oldest empty ReplicaSets beyond
    /// `revisionHistoryLimit`.
    fn cleanup(&mut self) {
        let limit = self.d["spec"]["revisionHistoryLimit"]
            .as_i64()
            .unwrap_or(10)
            .max(0) as usize;
        let mut cleanable: Vec<&Value> = self.old.iter().filter(|r| !meta::deleting(r)).collect();
        if cleanable.len() <= limit {
            return;
        }
        cleanable.sort_by_key(|r| revision(r));
        let diff = cleanable.len() - limit;
        let mut deletes = Vec::new();
        for rs in cleanable.into_iter().take(diff) {
            let busy = meta::int(&rs["status"]["replicas"]) != 0
                || replicas(rs) != 0
                || meta::int(&rs["metadata"]["generation"])
                    > meta::int(&rs["status"]["observedGeneration"]);
            if !busy {
                deletes.push(Action::delete(rs, Policy::Background));
            }
        }
        self.actions.extend(deletes);
    }

    /// `calculateStatus` (conditions other than Available are carried).
    fn status(&self) -> Value {
        let all = self.all();
        let sum = |f: &dyn Fn(&Value) -> i64| all.iter().map(|r| f(r)).sum::<i64>();
        let available = sum(&|r| meta::int(&r["status"]["availableReplicas"]));
        let total = sum(&|r| replicas(r));
        let mut status = json!({
            "observedGeneration": meta::int(&self.d["metadata"]["generation"]),
            "replicas": sum(&|r| meta::int(&r["status"]["replicas"])),
            "updatedReplicas": self.new_rs.as_ref().map(|n| meta::int(&n["status"]["replicas"])).unwrap_or(0),
            "readyReplicas": sum(&|r| meta::int(&r["status"]["readyReplicas"])),
            "availableReplicas": available,
            "unavailableReplicas": (total - available).max(0),
        });
        if let Some(c) = self.d["status"]
            .get("collisionCount")
            .filter(|c| !c.is_null())
        {
            status["collisionCount"] = c.clone();
        }
        if let Some(c) = self.d["status"].get("conditions").filter(|c| !c.is_null()) {
            status["conditions"] = c.clone();
        }
        let cond = if available >= replicas(&self.d) - max_unavailable(&self.d) {
            new_condition(
                self.clock,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            new_condition(
                self.clock,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        meta::set_condition(&mut status, cond);
        status
    }

    /// `DeploymentComplete`.
    fn complete(&self, status: &Value) -> bool {
        let want = replicas(&self.d);
        meta::int(&status["updatedReplicas"]) == want
            && meta::int(&status["replicas"]) == want
            && meta::int(&status["availableReplicas"]) == want
            && meta::int(&status["observedGeneration"])
                >= meta::int(&self.d["metadata"]["generation"])
    }

    /// `syncRolloutStatus`: status plus the Progressing condition.
    fn sync_rollout_status(&mut self) {
        let mut status = self.status();
        if !has_deadline(&self.d) {
            meta::remove_condition(&mut status, "Progressing");
        }
        let current = meta::condition(&self.d["status"], "Progressing").cloned();
        let done = meta::int(&status["replicas"]) == meta::int(&status["updatedReplicas"])
            && current
                .as_ref()
                .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable");
        let rs_name = self.new_rs.as_ref().map(|n| meta::name(n).to_string());
        let what = match &rs_name {
            Some(n) => format!("ReplicaSet \"{n}\""),
            None => format!("Deployment \"{}\"", meta::name(&self.d)),
        };
        if has_deadline(&self.d) && !done {
            let old = &self.d["status"];
            let old_old = meta::int(&old["replicas"]) - meta::int(&old["updatedReplicas"]);
            let new_old = meta::int(&status["replicas"]) - meta::int(&status["updatedReplicas"]);
            let progressing = meta::int(&status["updatedReplicas"])
                > meta::int(&old["updatedReplicas"])
                || new_old < old_old
                || meta::int(&status["readyReplicas"]) > meta::int(&old["readyReplicas"])
                || meta::int(&status["availableReplicas"]) > meta::int(&old["availableReplicas"]);
            if self.complete(&status) {
                let msg = format!("{what} has successfully progressed.");
                let cond = new_condition(
                    self.clock,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &msg,
                );
                meta::set_condition(&mut status, cond);
            } else if progressing {
                let msg = format!("{what} is progressing.");
                let mut cond =
                    new_condition(self.clock, "Progressing", "True", "ReplicaSetUpdated", &msg);
                if let Some(c) = &current {
                    if c["status"] == "True" {
                        cond["lastTransitionTime"] = c["lastTransitionTime"].clone();
                    }
                    meta::remove_condition(&mut status, "Progressing");
                }
                meta::set_condition(&mut status, cond);
            } else if self.timed_out(current.as_ref()) {
                let msg = format!("{what} has timed out progressing.");
                let cond = new_condition(
                    self.clock,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    &msg,
                );
                meta::set_condition(&mut status, cond);
            }
        }
        self.write_status(status);
    }

    fn timed_out(&self, cond: Option<&Value>) -> bool {
        let Some(c) = cond else { return false };
        if c["reason"] == "NewReplicaSetAvailable" {
            return false;
        }
        if c["reason"] == "ProgressDeadlineExceeded" {
            return true;
        }
        let deadline = meta::int(&self.d["spec"]["progressDeadlineSeconds"]);
        meta::secs_of(&c["lastUpdateTime"]).is_some_and(|t| t + deadline < self.clock.secs)
    }

    /// `syncDeploymentStatus`.
    fn sync_status(&mut self) {
        let status = self.status();
        self.write_status(status);
    }

    fn write_status(&mut self, status: Value) {
        if status != self.d["status"] {
            let mut next = self.d.clone();
            next["status"] = status;
            self.actions.push(Action::UpdateStatus(next));
        }
    }
}

#[cfg(test)]
mod tests;

//! The Job controller (`pkg/controller/job`), for NonIndexed Jobs: keeps
//! up to `parallelism` pods running until `completions` have succeeded,
//! replaces failed pods after an exponential back-off (10 s doubling, at
//! most 6 min), fails the Job past `backoffLimit` or
//! `activeDeadlineSeconds`, and finishes it with the conditions kubectl
//! waits for (`SuccessCriteriaMet` then `Complete`; `FailureTarget` then
//! `Failed`, the terminal one once no pod is left running).
//!
//! Finished pods are counted exactly once with the tracking finalizer, as
//! the real controller does: each pod it creates carries
//! `batch.kubernetes.io/job-tracking`; a finished pod's uid is first
//! recorded in `status.uncountedTerminatedPods`, then its finalizer is
//! removed, then (next pass) it moves into `succeeded`/`failed`. A pod that
//! is deleted or garbage-collected afterwards is therefore never lost from
//! the counts nor counted twice.

use serde_json::{json, Value};

use super::client::Action;
use super::meta::{self, Clock};
use super::pods;
use crate::apiserver::propagation::Policy;

/// The finalizer on a Job's pods until they are counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// First back-off after a failed pod (`DefaultJobPodFailureBackOff`).
const BACKOFF_BASE_SECS: i64 = 10;
/// Longest back-off (`MaxJobPodFailureBackOff`).
const BACKOFF_MAX_SECS: i64 = 360;

pub(super) fn has_tracking_finalizer(pod: &Value) -> bool {
    pod["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == TRACKING_FINALIZER))
}

fn without_tracking_finalizer(pod: &Value) -> Value {
    let mut out = pod.clone();
    if let Some(f) = out["metadata"]["finalizers"].as_array_mut() {
        f.retain(|x| x != TRACKING_FINALIZER);
    }
    out
}

/// `isPodFailed`: Failed, or deleted before it succeeded (it will never
/// report, so it counts as a failure).
fn is_failed(pod: &Value) -> bool {
    pod["status"]["phase"] == "Failed"
        || (meta::deleting(pod) && pod["status"]["phase"] != "Succeeded")
}

fn is_succeeded(pod: &Value) -> bool {
    pod["status"]["phase"] == "Succeeded"
}

fn uid_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect()
}

/// When the pod's last container stopped, if it says.
fn finished_at(pod: &Value) -> Option<i64> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| meta::secs_of(&c["state"]["terminated"]["finishedAt"]))
        .max()
}

/// Container restarts of the active pods of an OnFailure Job, which count
/// against backoffLimit (`pastBackoffLimitOnFailure`).
fn past_backoff_limit_on_failure(job: &Value, active: &[&Value]) -> bool {
    if job["spec"]["template"]["spec"]["restartPolicy"] != "OnFailure" {
        return false;
    }
    let limit = meta::int(&job["spec"]["backoffLimit"]);
    let restarts: i64 = active
        .iter()
        .flat_map(|p| {
            ["initContainerStatuses", "containerStatuses"]
                .into_iter()
                .flat_map(move |k| p["status"][k].as_array().into_iter().flatten())
        })
        .map(|c| meta::int(&c["restartCount"]))
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

fn condition(clock: &Clock, ty: &str, reason: &str, message: &str) -> Value {
    json!({"type": ty, "status": "True", "lastProbeTime": clock.text, "lastTransitionTime": clock.text, "reason": reason, "message": message})
}

/// One pass over one Job; `all_pods` may hold other namespaces' pods.
pub fn reconcile(job: &Value, all_pods: &[Value], clock: &Clock) -> Vec<Action> {
    let job_uid = meta::uid(job);
    let owned: Vec<&Value> = all_pods
        .iter()
        .filter(|p| meta::namespace(p) == meta::namespace(job) && meta::controlled_by(p, job_uid))
        .collect();
    let mut actions = Vec::new();
    let mut status = job["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    let finished = meta::has_true_condition(&status, "Complete")
        || meta::has_true_condition(&status, "Failed");

    // Counting: uncounted uids move to the counts once their pods lost
    // the finalizer (or are gone); newly finished pods become uncounted.
    let mut unc_succeeded = uid_list(&status["uncountedTerminatedPods"]["succeeded"]);
    let mut unc_failed = uid_list(&status["uncountedTerminatedPods"]["failed"]);
    let tracked = |uid: &str| {
        owned
            .iter()
            .any(|p| meta::uid(p) == uid && has_tracking_finalizer(p))
    };
    let mut succeeded = meta::int(&status["succeeded"]);
    let mut failed = meta::int(&status["failed"]);
    let before = (unc_succeeded.len(), unc_failed.len());
    unc_succeeded.retain(|u| {
        tracked(u) || {
            succeeded += 1;
            false
        }
    });
    unc_failed.retain(|u| {
        tracked(u) || {
            failed += 1;
            false
        }
    });
    let counted_now = before != (unc_succeeded.len(), unc_failed.len());
    let mut newly_finished = Vec::new();
    for pod in &owned {
        if !has_tracking_finalizer(pod) {
            continue;
        }
        let uid = meta::uid(pod).to_string();
        if unc_succeeded.contains(&uid) || unc_failed.contains(&uid) {
            newly_finished.push(*pod);
            continue;
        }
        if is_succeeded(pod) {
            unc_succeeded.push(uid);
            newly_finished.push(*pod);
        } else if is_failed(pod) && (pods::is_terminal(pod) || meta::deleting(pod)) {
            unc_failed.push(uid);
            newly_finished.push(*pod);
        }
    }
    let active: Vec<&Value> = owned
        .iter()
        .copied()
        .filter(|p| pods::is_active(p))
        .collect();
    let terminating = owned
        .iter()
        .filter(|p| meta::deleting(p) && !pods::is_terminal(p))
        .count() as i64;
    let total_succeeded = succeeded + unc_succeeded.len() as i64;
    let total_failed = failed + unc_failed.len() as i64;

    if status["startTime"].is_null() && job["spec"]["suspend"] != true {
        status["startTime"] = json!(clock.text);
    }

    // Is the Job done (or about to be)?
    let mut target = None;
    if !finished {
        if meta::has_true_condition(&status, "FailureTarget") {
            target = meta::condition(&status, "FailureTarget").map(|c| ("Failed", c.clone()));
        } else if meta::has_true_condition(&status, "SuccessCriteriaMet") {
            target =
                meta::condition(&status, "SuccessCriteriaMet").map(|c| ("Complete", c.clone()));
        } else if total_failed > meta::int(&job["spec"]["backoffLimit"])
            || past_backoff_limit_on_failure(job, &active)
        {
            let c = condition(
                clock,
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            meta::set_condition(&mut status, c.clone());
            target = Some(("Failed", c));
        } else if job["spec"]["activeDeadlineSeconds"]
            .as_i64()
            .is_some_and(|d| {
                meta::secs_of(&status["startTime"]).is_some_and(|s| s + d <= clock.secs)
            })
        {
            let c = condition(
                clock,
                "FailureTarget",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            );
            meta::set_condition(&mut status, c.clone());
            target = Some(("Failed", c));
        } else {
            let complete = match job["spec"]["completions"].as_i64() {
                Some(c) => total_succeeded >= c,
                None => total_succeeded > 0 && active.is_empty(),
            };
            if complete {
                let c = condition(
                    clock,
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                );
                meta::set_condition(&mut status, c.clone());
                target = Some(("Complete", c));
            }
        }
    }

    let mut pod_actions = Vec::new();
    if finished || target.is_some() || meta::deleting(job) {
        // No new pods; the remaining ones are stopped.
        for pod in &active {
            pod_actions.push(Action::delete(pod, Policy::Background));
        }
    } else if job["spec"]["suspend"] == true {
        for pod in &active {
            pod_actions.push(Action::delete(pod, Policy::Background));
        }
    } else {
        let parallelism = meta::int(&job["spec"]["parallelism"]).max(0);
        let want = match job["spec"]["completions"].as_i64() {
            Some(c) => (c - total_succeeded).clamp(0, parallelism),
            None if total_succeeded > 0 => active.len() as i64,
            None => parallelism,
        };
        let have = active.len() as i64;
        if have > want {
            let mut surplus = active.clone();
            surplus.sort_by(|a, b| pods::deletion_order(a, b));
            for pod in surplus.into_iter().take((have - want) as usize) {
                pod_actions.push(Action::delete(pod, Policy::Background));
            }
        } else if have < want && backoff_over(&owned, total_failed, clock) {
            let mut template = job["spec"]["template"].clone();
            let fins = &mut template["metadata"]["finalizers"];
            if !fins.is_array() {
                *fins = json!([]);
            }
            if let Some(f) = fins.as_array_mut() {
                f.push(json!(TRACKING_FINALIZER));
            }
            for _ in have..want {
                pod_actions.push(Action::Create(pods::from_template(
                    &template,
                    job,
                    meta::name(job),
                )));
            }
        }
    }

    // Terminal condition once nothing runs any more and all are counted.
    let active_after = if finished || target.is_some() {
        0
    } else {
        active.len()
    };
    let nothing_left = active.is_empty() && terminating == 0;
    if let Some((terminal, cond)) = target {
        if nothing_left && unc_succeeded.is_empty() && unc_failed.is_empty() {
            let mut c = cond.clone();
            c["type"] = json!(terminal);
            c["lastProbeTime"] = json!(clock.text);
            c["lastTransitionTime"] = json!(clock.text);
            let (ty, reason, message) = if terminal == "Complete" {
                ("Normal", "Completed", "Job completed".to_string())
            } else {
                (
                    "Warning",
                    c["reason"].as_str().unwrap_or("Failed"),
                    c["message"].as_str().unwrap_or_default().to_string(),
                )
            };
            actions.push(Action::Create(meta::event(
                job,
                clock,
                "job-controller",
                ty,
                reason,
                &message,
            )));
            meta::set_condition(&mut status, c);
            if terminal == "Complete" {
                status["completionTime"] = json!(clock.text);
            }
        }
    }
    status["active"] = json!(active_after);
    status["ready"] = json!(active.iter().filter(|p| pods::is_ready(p)).count());
    status["terminating"] = json!(terminating);
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["uncountedTerminatedPods"] = json!({});
    if !unc_succeeded.is_empty() {
        status["uncountedTerminatedPods"]["succeeded"] = json!(unc_succeeded);
    }
    if !unc_failed.is_empty() {
        status["uncountedTerminatedPods"]["failed"] = json!(unc_failed);
    }
    for key in ["active", "succeeded", "failed", "terminating"] {
        if status[key] == json!(0) {
            status.as_object_mut().map(|m| m.remove(key));
        }
    }
    // Record the uncounted uids before removing any finalizer.
    let mut next = job.clone();
    if status != job["status"] || counted_now {
        next["status"] = status;
        actions.push(Action::UpdateStatus(next));
    }
    for pod in newly_finished {
        actions.push(Action::Update(without_tracking_finalizer(pod)));
    }
    actions.extend(pod_actions);
    actions
}

/// Pods still carrying the tracking finalizer whose Job is gone, or
/// orphaned them: nothing would ever count them, so the finalizer goes
/// (the real controller's orphan-pod cleanup).
pub fn release_orphans(all_pods: &[Value], jobs: &[Value]) -> Vec<Action> {
    all_pods
        .iter()
        .filter(|p| has_tracking_finalizer(p))
        .filter(|p| match meta::controller_of(p) {
            Some(r) if r["kind"] == "Job" => !jobs.iter().any(|j| r["uid"] == meta::uid(j)),
            Some(_) => false,
            None => true,
        })
        .map(|p| Action::Update(without_tracking_finalizer(p)))
        .collect()
}

/// Whether the back-off after the latest failed pod has passed.
fn backoff_over(owned: &[&Value], failures: i64, clock: &Clock) -> bool {
    if failures == 0 {
        return true;
    }
    let Some(last) = owned
        .iter()
        .filter(|p| is_failed(p))
        .filter_map(|p| finished_at(p))
        .max()
    else {
        return true;
    };
    let exp = (failures - 1).min(10) as u32;
    let delay = (BACKOFF_BASE_SECS << exp).min(BACKOFF_MAX_SECS);
    last + delay <= clock.secs
}

#[cfg(test)]
mod tests;

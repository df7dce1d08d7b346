//! Conformance: every scenario runs twice, against the devcluster's Mesos
//! and against a real Apache Mesos 1.11, and both runs must observe the
//! same thing — what real Mesos does. A scenario's expectations are written
//! once and checked on both flavors, so a difference fails one of the pair:
//! a devcluster bug if real Mesos passes, a product bug if both fail.
//!
//! Observations come from where an operator or user would look: the
//! master's own endpoints (v1 operator API, `/metrics/snapshot`), kubectl,
//! and the processes on the machine. See `tests/real_mesos/build.sh` for
//! how the real Mesos is obtained (built into `target/real-mesos` on first
//! use) and `cluster.rs` for the wiring.

#[path = "../support/mod.rs"]
mod support;

mod agent_restart;
mod cluster;
mod cri;
mod executor_death;
mod maintenance;
mod mesos;
mod scenarios;
mod upgrade;

use mesos::Flavor;

/// Not a test: the body of the devcluster Mesos child process (see
/// [`mesos::Mesos`]); it only runs when the harness starts it.
#[test]
#[ignore = "child process of the conformance harness"]
fn devcluster_mesos_child() {
    if std::env::var_os(mesos::CHILD_ENV).is_some() {
        mesos::run_devcluster_child();
    }
}

/// Declares one test per flavor for a scenario `fn(Flavor, args...)`. A
/// known difference that is being worked on is written as
/// `devcluster: "why"` or `real: "why"` after the call, which ignores that
/// side with the reason (run it with `--ignored`).
macro_rules! on_both {
    ($scenario:ident $(, $side:ident: $why:literal)*) => {
        on_both!($scenario as $scenario() $(, $side: $why)*);
    };
    ($scenario:ident as $name:ident($($arg:expr),*) $(, $side:ident: $why:literal)*) => {
        mod $name {
            use super::*;

            on_both!(@test devcluster, Flavor::Devcluster, $scenario($($arg),*) $(, $side: $why)*);
            on_both!(@test real_mesos_1_11, Flavor::Real, $scenario($($arg),*) $(, $side: $why)*);
        }
    };
    (@test $fn:ident, $flavor:expr, $scenario:ident($($arg:expr),*)) => {
        #[test]
        fn $fn() {
            scenarios::$scenario($flavor $(, $arg)*);
        }
    };
    (@test devcluster, $flavor:expr, $scenario:ident($($arg:expr),*), devcluster: $why:literal $(, $side:ident: $w:literal)*) => {
        #[test]
        #[ignore = $why]
        fn devcluster() {
            scenarios::$scenario($flavor $(, $arg)*);
        }
    };
    (@test real_mesos_1_11, $flavor:expr, $scenario:ident($($arg:expr),*), real: $why:literal $(, $side:ident: $w:literal)*) => {
        #[test]
        #[ignore = $why]
        fn real_mesos_1_11() {
            scenarios::$scenario($flavor $(, $arg)*);
        }
    };
    (@test $fn:ident, $flavor:expr, $scenario:ident($($arg:expr),*), $other:ident: $why:literal $(, $side:ident: $w:literal)*) => {
        on_both!(@test $fn, $flavor, $scenario($($arg),*) $(, $side: $w)*);
    };
}

on_both!(pod_runs_logs_and_is_killed);
on_both!(framework_restart_keeps_its_id_and_tasks);
on_both!(framework_authenticates_with_its_secret);
on_both!(executor_killed_fails_its_tasks_from_the_agent);
on_both!(executor_killed_fails_a_never_pod_honestly);
on_both!(executor_killed_leaves_cri_pods_running);
on_both!(framework_killed_during_a_relaunch_back_off_resumes_it);
on_both!(mesos_restart_keeps_pods_running as mesos_restart_with_in_memory_registry("in_memory"));
on_both!(
    mesos_restart_keeps_pods_running as mesos_restart_with_replicated_log("replicated_log")
);
on_both!(
    agent_restart_keeps_pods_running
        as agent_restart_keeps_process_pods_running(agent_restart::Runtime::Process)
);
on_both!(
    agent_restart_keeps_pods_running
        as agent_restart_keeps_cri_pods_running(agent_restart::Runtime::Cri)
);
on_both!(
    upgrade_retires_the_old_executor as upgrade_hands_cri_pods_over(agent_restart::Runtime::Cri)
);
on_both!(
    upgrade_retires_the_old_executor
        as upgrade_keeps_process_pods_on_the_old_executor(agent_restart::Runtime::Process)
);
on_both!(reserved_resources_are_used_first);
on_both!(suppress_and_revive_as_the_master_sees_them);
on_both!(upgrade_keeps_one_working_node);
on_both!(maintenance_drains_the_agent);
on_both!(
    maintenance_moves_pods_to_another_agent,
    real: "mesos-local gives every agent one hostname and IP: one machine, drained whole"
);
on_both!(upgrade_evicts_kept_process_pods);

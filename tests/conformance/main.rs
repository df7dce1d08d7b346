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

#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod cluster;
mod mesos;
mod scenarios;

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

/// Declares one test per flavor for a scenario `fn(Flavor)`.
macro_rules! on_both {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[test]
            fn devcluster() {
                scenarios::$scenario(Flavor::Devcluster);
            }

            #[test]
            fn real_mesos_1_11() {
                scenarios::$scenario(Flavor::Real);
            }
        }
    };
}

on_both!(pod_runs_logs_and_is_killed);
on_both!(framework_restart_keeps_its_id_and_tasks);
on_both!(framework_authenticates_with_its_secret);
on_both!(executor_killed_fails_its_tasks_from_the_agent);

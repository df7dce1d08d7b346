//! What the devcluster's Mesos reports about its build (`/version`,
//! `/master/state`, the agent's `/state`, GET_VERSION).
//!
//! It claims the version it behaves like, Mesos 1.11.0, with the date of
//! that release. `git_sha` / `git_tag` are not claimed: Mesos writes them
//! only when built from a git checkout, and the devcluster is not.

/// The Mesos version the devcluster behaves like.
pub const MESOS_VERSION: &str = "1.11.0";
/// Build date, as Mesos writes it.
pub const BUILD_DATE: &str = "2020-11-24 19:56:23";
/// Build time in seconds since the epoch.
pub const BUILD_TIME: f64 = 1_606_247_783.0;
/// Who built it.
pub const BUILD_USER: &str = "kube-mesos-devcluster";

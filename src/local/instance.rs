//! What tells one `kube-mesos local` instance from the outside: whether it
//! runs (it holds the data dir's lock, `local.lock`), its pid
//! (`local.pid`, written by the running instance), and the flags it was
//! started with (`cluster.json`), so `up` can resume a cluster with its own
//! settings and refuse to start a different one on the same data dir.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::args::ClusterFlags;
use super::cluster::{lock_data_dir, Layout};
use super::error::{LocalError, Result};
use super::state::write_private;

/// The pid file inside the data dir.
pub const PID_FILE: &str = "local.pid";
/// The saved flags inside the data dir.
pub const CLUSTER_FILE: &str = "cluster.json";
/// Where the output of a background (`up`) instance goes.
pub const OUTPUT_FILE: &str = "local.out";

/// Whether an instance runs on this data dir (someone holds its lock).
pub fn is_running(layout: &Layout) -> Result<bool> {
    match lock_data_dir(layout) {
        Ok(_released_on_drop) => Ok(false),
        Err(LocalError::DataDirInUse { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Writes this process's pid (by the running instance).
pub fn write_pid(layout: &Layout) -> Result<()> {
    let path = layout.root.join(PID_FILE);
    std::fs::write(&path, std::process::id().to_string())
        .map_err(|source| LocalError::StateIoFailed { path, source })
}

/// Removes the pid file (on a clean stop).
pub fn remove_pid(layout: &Layout) {
    let _ = std::fs::remove_file(layout.root.join(PID_FILE));
}

/// The pid the running instance wrote.
pub fn read_pid(layout: &Layout) -> Option<i32> {
    std::fs::read_to_string(layout.root.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    /// `ClusterFlags::to_argv`.
    argv: Vec<String>,
}

/// Saves the flags a cluster was started with.
pub fn save_flags(layout: &Layout, flags: &ClusterFlags) -> Result<()> {
    let path = layout.root.join(CLUSTER_FILE);
    let bytes = serde_json::to_vec_pretty(&Saved {
        argv: flags.to_argv(),
    })
    .map_err(|e| LocalError::StateIoFailed {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_private(&path, &bytes).map_err(|source| LocalError::StateIoFailed { path, source })
}

/// The flags the cluster of this data dir was started with, if known.
pub fn saved_flags(layout: &Layout) -> Result<Option<ClusterFlags>> {
    let path = layout.root.join(CLUSTER_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LocalError::StateIoFailed { path, source }),
    };
    let saved: Saved = serde_json::from_slice(&bytes)
        .map_err(|source| LocalError::StateInvalid { path, source })?;
    ClusterFlags::from_argv(&layout.root, &saved.argv).map(Some)
}

/// The flags to start with: the given ones, or the saved ones when none
/// were given; an error when both exist and describe different clusters.
pub fn flags_to_start(layout: &Layout, given: &ClusterFlags) -> Result<ClusterFlags> {
    let mut given = given.clone();
    given.data_dir = layout.root.clone();
    match saved_flags(layout)? {
        None => Ok(given),
        Some(saved) if given.is_default() => Ok(saved),
        Some(saved) if saved.to_argv() == given.to_argv() => Ok(given),
        Some(saved) => Err(LocalError::OtherCluster {
            path: layout.root.clone(),
            saved: saved.to_argv().join(" "),
        }),
    }
}

/// Whether `dir` looks like a kube-mesos data dir (so `delete` may remove
/// it): it holds the state file or the lock.
pub fn is_data_dir(dir: &Path) -> bool {
    ["local.json", "local.lock", CLUSTER_FILE]
        .iter()
        .any(|f| dir.join(f).exists())
}

/// Pids of live processes whose working directory is inside `dir`: what a
/// crashed instance left behind (executors run in their sandboxes, pods in
/// theirs, each in its own process group).
pub fn processes_under(dir: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cwd: PathBuf = std::fs::read_link(e.path().join("cwd")).ok()?;
            (pid != me && cwd.starts_with(&dir)).then_some(pid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::cluster::prepare_data_dir;
    use clap::Parser;

    fn flags(argv: &[&str]) -> ClusterFlags {
        let mut full = vec!["local"];
        full.extend_from_slice(argv);
        crate::local::args::LocalArgs::try_parse_from(full)
            .unwrap()
            .flags
    }

    #[test]
    fn up_reuses_saved_flags_and_refuses_other_ones() {
        let dir = tempfile::tempdir().unwrap();
        let layout = prepare_data_dir(dir.path()).unwrap();
        assert_eq!(
            flags_to_start(&layout, &flags(&["--agents", "2"]))
                .unwrap()
                .agents,
            2
        );
        save_flags(&layout, &flags(&["--agents", "2"])).unwrap();
        assert_eq!(flags_to_start(&layout, &flags(&[])).unwrap().agents, 2);
        assert_eq!(
            flags_to_start(&layout, &flags(&["--agents", "2"]))
                .unwrap()
                .agents,
            2
        );
        assert!(matches!(
            flags_to_start(&layout, &flags(&["--agents", "3"])),
            Err(LocalError::OtherCluster { .. })
        ));
    }

    #[test]
    fn a_held_lock_means_running() {
        let dir = tempfile::tempdir().unwrap();
        let layout = prepare_data_dir(dir.path()).unwrap();
        assert!(!is_running(&layout).unwrap());
        let held = lock_data_dir(&layout).unwrap();
        assert!(is_running(&layout).unwrap());
        drop(held);
        assert!(is_data_dir(&layout.root));
        assert!(!is_data_dir(&layout.root.join("nope")));
    }
}

//! Faults a test asks the standalone Mesos ([`super::standalone`]) for while
//! it runs in a process of its own: files in a directory it watches.
//!
//! - `partition/<hostname>` present: that agent (one with real executors)
//!   is cut off from the master, as by a network partition: its executors
//!   and their tasks run on, its status updates wait, and the master marks
//!   it unreachable once it missed its pings (`--agent_ping_timeout` ×
//!   `--max_agent_ping_timeouts`). Removing the file heals the partition:
//!   the agent re-registers with what it runs, and the master takes it back
//!   as Mesos 1.11's `Master::__reregisterSlave` takes back an agent it had
//!   marked unreachable.
//! - `lost/<hostname>` present: that simulated agent is gone for good, as a
//!   machine that died: it stops at once, without a word to the master,
//!   and never comes back (removing the file changes nothing). Its tasks
//!   end unreachable once the master gives up on its pings.
//! - `restart-master/<name>`, each new name: the master restarts once, as
//!   a master process restarted by its supervisor would — a fresh instance
//!   (new master ID) at the same address, every stream closed. The agents,
//!   real and simulated, keep running what they run and re-register with
//!   it; frameworks resubscribe. (Restarting the whole standalone process
//!   restarts the agents too: simulated ones come back empty, with new
//!   IDs.) Removing the file changes nothing.
//!
//! The files' contents do not matter. Reading the directory and deciding
//! what to change are pure functions of this module; the standalone applies
//! the changes.

use std::collections::BTreeSet;
use std::path::Path;

/// The faults the directory asks for: hostnames by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    pub partitioned: BTreeSet<String>,
    pub lost: BTreeSet<String>,
    /// Names under `restart-master`, one master restart each.
    pub master_restarts: BTreeSet<String>,
}

/// One change to apply to an agent, by hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Partition(String),
    Heal(String),
    Lose(String),
    /// Restart the master (the name of the file that asked).
    RestartMaster(String),
}

/// The names of the files in `dir/<kind>` (none when it is missing or
/// unreadable: no fault asked for).
fn names(dir: &Path, kind: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir.join(kind))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// The faults `dir` asks for now.
pub fn read(dir: &Path) -> Faults {
    Faults {
        partitioned: names(dir, "partition"),
        lost: names(dir, "lost"),
        master_restarts: names(dir, "restart-master"),
    }
}

/// What to change to go from the faults `applied` to the faults
/// `requested`; a lost agent stays lost. `applied` is updated to what
/// the changes make of it.
pub fn changes(applied: &mut Faults, requested: &Faults) -> Vec<Change> {
    let mut out = Vec::new();
    for host in requested.lost.difference(&applied.lost) {
        out.push(Change::Lose(host.clone()));
    }
    applied.lost.extend(requested.lost.iter().cloned());
    for host in requested.partitioned.difference(&applied.partitioned) {
        if !applied.lost.contains(host) {
            out.push(Change::Partition(host.clone()));
        }
    }
    for host in applied.partitioned.difference(&requested.partitioned) {
        if !applied.lost.contains(host) {
            out.push(Change::Heal(host.clone()));
        }
    }
    applied.partitioned = requested.partitioned.clone();
    for name in requested
        .master_restarts
        .difference(&applied.master_restarts)
    {
        out.push(Change::RestartMaster(name.clone()));
    }
    applied
        .master_restarts
        .extend(requested.master_restarts.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(partitioned: &[&str], lost: &[&str]) -> Faults {
        Faults {
            partitioned: partitioned.iter().map(|s| s.to_string()).collect(),
            lost: lost.iter().map(|s| s.to_string()).collect(),
            ..Faults::default()
        }
    }

    #[test]
    fn each_master_restart_file_restarts_it_once() {
        let mut applied = Faults::default();
        let one = Faults {
            master_restarts: ["1".to_owned()].into(),
            ..Faults::default()
        };
        assert_eq!(
            changes(&mut applied, &one),
            [Change::RestartMaster("1".into())]
        );
        assert_eq!(changes(&mut applied, &one), []);
        let two = Faults {
            master_restarts: ["1".to_owned(), "2".to_owned()].into(),
            ..Faults::default()
        };
        assert_eq!(
            changes(&mut applied, &two),
            [Change::RestartMaster("2".into())]
        );
        assert_eq!(changes(&mut applied, &Faults::default()), []);
    }

    #[test]
    fn a_partition_is_applied_once_and_healed_when_its_file_goes() {
        let mut applied = Faults::default();
        let cut = faults(&["a"], &[]);
        assert_eq!(changes(&mut applied, &cut), [Change::Partition("a".into())]);
        assert_eq!(changes(&mut applied, &cut), []);
        assert_eq!(
            changes(&mut applied, &Faults::default()),
            [Change::Heal("a".into())]
        );
        assert_eq!(changes(&mut applied, &Faults::default()), []);
    }

    #[test]
    fn a_lost_agent_never_comes_back_nor_heals() {
        let mut applied = Faults::default();
        assert_eq!(
            changes(&mut applied, &faults(&[], &["s"])),
            [Change::Lose("s".into())]
        );
        assert_eq!(changes(&mut applied, &Faults::default()), []);
        assert_eq!(changes(&mut applied, &faults(&["s"], &[])), []);
        assert_eq!(changes(&mut applied, &Faults::default()), []);
    }

    #[test]
    fn the_directory_names_the_hosts_and_a_missing_one_asks_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(&dir.path().join("none")), Faults::default());
        for (kind, host) in [
            ("partition", "h1"),
            ("lost", "h-sim-3"),
            ("restart-master", "r1"),
        ] {
            std::fs::create_dir_all(dir.path().join(kind)).expect("mkdir");
            std::fs::write(dir.path().join(kind).join(host), "").expect("write");
        }
        let mut expected = faults(&["h1"], &["h-sim-3"]);
        expected.master_restarts.insert("r1".into());
        assert_eq!(read(dir.path()), expected);
    }
}

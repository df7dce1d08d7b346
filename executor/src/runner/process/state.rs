//! Per-container state files of the process runtime, and the `/proc` check
//! that tells a live process from a reused pid.
//!
//! A restarted executor has no child handles for the processes the previous
//! one started. Each container therefore has `<sandbox>/containers/<id>.json`
//! recording its pid, process group, the kernel start time of the pid (field
//! 22 of `/proc/<pid>/stat`, in clock ticks since boot) and, once known, its
//! exit. A pid is only trusted when its current start time equals the
//! recorded one; otherwise the pid was reused and the container is lost.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The recorded exit of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedExit {
    /// Exit code (128+N for signal N).
    pub exit_code: i32,
    /// Reason (`Completed` / `Error`).
    pub reason: String,
    /// When it finished.
    pub finished_at: Timestamp,
}

/// Contents of a container's state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Container ID.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Restart attempt.
    pub attempt: u32,
    /// Pod UID.
    pub pod_uid: String,
    /// Main process pid.
    pub pid: i32,
    /// Process group ID (equal to `pid`: each container leads its group).
    pub pgid: i32,
    /// `/proc/<pid>/stat` start time in clock ticks, to detect pid reuse.
    pub proc_start_ticks: u64,
    /// Wall-clock start.
    pub started_at: Timestamp,
    /// Absolute log path.
    pub log_path: PathBuf,
    /// Working directory the process ran in.
    pub working_dir: PathBuf,
    /// Environment it ran with (used by exec probes after re-adoption).
    pub envs: Vec<(String, String)>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Exit, once observed.
    pub exit: Option<RecordedExit>,
}

/// Parses the start time (field 22) out of a `/proc/<pid>/stat` line.
/// The command name (field 2) may contain spaces and parentheses, so fields
/// are counted from the last `)`.
pub fn parse_stat_start_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards: field 22 is index 19.
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `/proc/<pid>/stat` marks the process a zombie (state `Z`) or dead (`X`).
fn parse_stat_dead(stat: &str) -> bool {
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|s| s == "Z" || s == "X")
}

/// The start time of a live (non-zombie) pid, or `None` if it is gone.
pub fn proc_start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    if parse_stat_dead(&stat) {
        return None;
    }
    parse_stat_start_ticks(&stat)
}

/// Whether the recorded process is still the same live process.
pub fn is_alive(record: &ContainerRecord) -> bool {
    proc_start_ticks(record.pid) == Some(record.proc_start_ticks)
}

/// Writes the record atomically (temp file + rename).
pub fn write_record(path: &Path, record: &ContainerRecord) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Reads a record; malformed files are an `InvalidData` error.
pub fn read_record(path: &Path) -> io::Result<ContainerRecord> {
    let data = std::fs::read(path)?;
    serde_json::from_slice(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_survive_odd_command_names() {
        let stat = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat_start_ticks(stat), Some(987654));
        assert!(!parse_stat_dead(stat));
        assert!(parse_stat_dead(
            "5 (x) Z 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42"
        ));
    }

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let ticks = proc_start_ticks(pid).expect("own stat");
        let rec = ContainerRecord {
            id: "x".into(),
            name: "c".into(),
            attempt: 0,
            pod_uid: "u".into(),
            pid,
            pgid: pid,
            proc_start_ticks: ticks,
            started_at: Timestamp::UNIX_EPOCH,
            log_path: "/dev/null".into(),
            working_dir: "/".into(),
            envs: vec![],
            labels: BTreeMap::new(),
            exit: None,
        };
        assert!(is_alive(&rec));
        let stale = ContainerRecord {
            proc_start_ticks: ticks + 1,
            ..rec
        };
        assert!(!is_alive(&stale));
    }
}

//! Destroying an executor's container the way Mesos' POSIX launcher does.
//!
//! A real agent forks each executor as the leader of a new session and
//! process group (`SubprocessLauncher::fork`, `src/slave/containerizer/
//! mesos/launcher.cpp`). When the container is destroyed — the executor
//! exited, was shut down, or did not register in time — the launcher calls
//! stout's `os::killtree(pid, SIGKILL, groups = true, sessions = true)`: it
//! signals the process tree rooted at the executor and every process group
//! and session met on the way. When the executor itself is already gone
//! (the usual case: it exited), the walk starts from the processes still in
//! the group or the session it led. So the pods of the process runtime,
//! which run in process groups of their own inside the executor's session,
//! die with their executor, as they do on a real agent; containers that a
//! daemon such as containerd runs are outside the tree and survive.
//!
//! [`select`] is that walk as a pure function over a process table (with a
//! test per rule); [`destroy`] is the shell: it reads `/proc`, stops what it
//! found with SIGSTOP so that nothing forks away meanwhile, walks again
//! until nothing new turns up, then sends the signal and SIGCONT, as stout
//! does. The agent's own process, group and session are never signalled.

use std::collections::{BTreeSet, VecDeque};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// One row of the process table: what the walk follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    /// Process ID.
    pub pid: u32,
    /// Parent process ID.
    pub ppid: u32,
    /// Process group ID.
    pub pgrp: u32,
    /// Session ID.
    pub session: u32,
}

/// Processes the walk must never reach: the agent itself, and its group
/// and session (stout marks the root's parent's group and session visited
/// for the same reason: never kill up the tree).
#[derive(Debug, Clone, Default)]
pub struct Spared {
    /// Process IDs.
    pub pids: BTreeSet<u32>,
    /// Process group IDs.
    pub groups: BTreeSet<u32>,
    /// Session IDs.
    pub sessions: BTreeSet<u32>,
}

impl Spared {
    /// This process, its group and its session.
    pub fn this_process() -> Spared {
        let me = std::process::id();
        let mut spared = Spared::default();
        spared.pids.insert(me);
        if let Some(p) = read_proc(me) {
            spared.groups.insert(p.pgrp);
            spared.sessions.insert(p.session);
        }
        spared
    }
}

/// The processes `os::killtree(root, _, groups = true, sessions = true)`
/// signals in `table`: the tree below `root` (or, with `root` gone, below
/// the processes in the group or session it led), following every process
/// group and session met. Sorted by pid.
pub fn select(root: u32, table: &[Proc], spared: &Spared) -> Vec<u32> {
    let mut queue: VecDeque<u32> = VecDeque::new();
    let mut groups = spared.groups.clone();
    let mut sessions = spared.sessions.clone();
    match table.iter().find(|p| p.pid == root) {
        Some(r) => {
            queue.push_back(root);
            if let Some(parent) = table.iter().find(|p| p.pid == r.ppid) {
                groups.insert(parent.pgrp);
                sessions.insert(parent.session);
            }
        }
        None => queue.extend(
            table
                .iter()
                .filter(|p| p.pgrp == root || p.session == root)
                .map(|p| p.pid),
        ),
    }
    let mut visited: BTreeSet<u32> = BTreeSet::new();
    while let Some(pid) = queue.pop_front() {
        if visited.contains(&pid) || spared.pids.contains(&pid) {
            continue;
        }
        let Some(p) = table.iter().find(|p| p.pid == pid) else {
            continue;
        };
        if spared.groups.contains(&p.pgrp) || spared.sessions.contains(&p.session) {
            continue;
        }
        visited.insert(pid);
        queue.extend(table.iter().filter(|c| c.ppid == pid).map(|c| c.pid));
        if groups.insert(p.pgrp) {
            queue.extend(table.iter().filter(|o| o.pgrp == p.pgrp).map(|o| o.pid));
        }
        if sessions.insert(p.session) {
            queue.extend(
                table
                    .iter()
                    .filter(|o| o.session == p.session)
                    .map(|o| o.pid),
            );
        }
    }
    visited.into_iter().collect()
}

/// Parses `/proc/<pid>/stat`: the fields after the command name (which is
/// in parentheses and may hold anything) are state, ppid, pgrp, session.
pub fn parse_stat(pid: u32, stat: &str) -> Option<Proc> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if matches!(state, "Z" | "X") {
        // Dead already; its parent reaps it.
        return None;
    }
    let mut number = || fields.next()?.parse::<u32>().ok();
    Some(Proc {
        pid,
        ppid: number()?,
        pgrp: number()?,
        session: number()?,
    })
}

fn read_proc(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// The live processes of this machine (zombies left out).
pub fn processes() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_proc)
        .collect()
}

fn signal(pid: u32, sig: Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(raw), sig);
    }
}

/// Destroys the container whose executor is (or was) `root`: SIGKILL to
/// everything [`select`] finds, as the POSIX launcher's `destroy`. Returns
/// the pids signalled.
pub fn destroy(root: u32) -> Vec<u32> {
    if root <= 1 {
        // No executor pid known (0) or init: nothing of ours to walk.
        return Vec::new();
    }
    let spared = Spared::this_process();
    let mut stopped: BTreeSet<u32> = BTreeSet::new();
    // Stop, look again, until the walk finds nothing new: a stopped
    // process cannot fork a child that would escape to init.
    for _ in 0..32 {
        let found = select(root, &processes(), &spared);
        let fresh: Vec<u32> = found.into_iter().filter(|p| !stopped.contains(p)).collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            signal(pid, Signal::SIGSTOP);
            stopped.insert(pid);
        }
    }
    for &pid in &stopped {
        signal(pid, Signal::SIGKILL);
    }
    for &pid in &stopped {
        signal(pid, Signal::SIGCONT);
    }
    if !stopped.is_empty() {
        tracing::info!(executor_pid = root, killed = ?stopped, "destroyed the executor's container (process tree, groups and sessions)");
    }
    stopped.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, ppid: u32, pgrp: u32, session: u32) -> Proc {
        Proc {
            pid,
            ppid,
            pgrp,
            session,
        }
    }

    /// The agent (100, its own session 1), an executor it started as the
    /// leader of session 200, a pod shell in its own group 300 inside the
    /// executor's session with a child, a `setsid` pod process (session
    /// 400), containerd's shim and container (unrelated session 500), and
    /// a sibling of the agent in the agent's session.
    fn table() -> Vec<Proc> {
        vec![
            p(1, 0, 1, 1),
            p(100, 1, 100, 1),
            p(101, 1, 101, 1),
            p(200, 100, 200, 200),
            p(300, 200, 300, 200),
            p(301, 300, 300, 200),
            p(400, 200, 400, 400),
            p(500, 1, 500, 500),
            p(501, 500, 501, 500),
        ]
    }

    fn agent() -> Spared {
        Spared {
            pids: [100].into(),
            groups: [100].into(),
            sessions: [1].into(),
        }
    }

    #[test]
    fn a_live_executor_takes_its_tree_groups_and_sessions() {
        assert_eq!(
            select(200, &table(), &agent()),
            [200, 300, 301, 400],
            "the executor, the pod's group and the setsid child, not the agent nor containerd"
        );
    }

    #[test]
    fn an_exited_executor_is_found_through_the_session_it_led() {
        // The executor is gone: its pod shell was reparented to init but
        // still is in the executor's session; the setsid process is not
        // reachable any more (as with stout, it escapes).
        let mut t = table();
        t.retain(|x| x.pid != 200);
        for x in &mut t {
            if x.ppid == 200 {
                x.ppid = 1;
            }
        }
        assert_eq!(select(200, &t, &agent()), [300, 301]);
    }

    #[test]
    fn nothing_left_means_nothing_to_kill() {
        let t: Vec<Proc> = table().into_iter().filter(|x| x.session != 200).collect();
        assert!(select(200, &t, &agent()).is_empty());
    }

    #[test]
    fn the_agents_own_session_is_never_reached() {
        // An executor that shares the agent's session (not the POSIX
        // launcher's way): following it must not climb into the agent.
        let t = vec![
            p(1, 0, 1, 1),
            p(100, 1, 100, 1),
            p(101, 1, 101, 1),
            p(200, 100, 200, 1),
            p(201, 200, 200, 1),
        ];
        assert!(select(200, &t, &agent()).is_empty());
        let only_group = Spared {
            pids: [100].into(),
            ..Spared::default()
        };
        // Without the session spared, the parent's session is still off
        // limits for a live root (stout's rule), the group is walked.
        assert_eq!(select(200, &t, &only_group), [200, 201]);
    }

    #[test]
    fn stat_lines_parse_with_odd_command_names() {
        let line = "4242 (sh) -c (x)) S 4000 4100 4200 0 -1 4194560 1 0 0 0";
        assert_eq!(parse_stat(4242, line), Some(p(4242, 4000, 4100, 4200)));
        assert_eq!(
            parse_stat(7, "7 (zombie) Z 1 7 7 0"),
            None,
            "zombies are dead"
        );
        assert_eq!(parse_stat(7, "garbage"), None);
    }

    #[test]
    fn this_process_is_spared_with_its_group_and_session() {
        let spared = Spared::this_process();
        let me = std::process::id();
        assert!(spared.pids.contains(&me));
        assert_eq!(spared.sessions.len(), 1);
        assert!(select(me, &processes(), &spared).is_empty());
    }
}

//! A pod's Mesos task IDs.
//!
//! A pod runs in at most one task at a time, but not always the same one:
//! when its executor dies (or, on an upgrade, hands its pods over to a
//! newer one) the framework relaunches the pod as a new task on the same
//! agent. Each task of a pod has a **generation**: the first is `pod.<uid>`
//! (generation 0, the ID every pod had before relaunches existed), the
//! n-th relaunch `pod.<uid>.<n>`.
//!
//! Why not launch `pod.<uid>` again? Mesos 1.11 accepts a task ID again
//! once the terminal update of its previous task is acknowledged (the
//! master's `validateUniqueTaskID` checks active and unreachable tasks
//! only; a real master was seen doing it), but it is not dependable: an
//! acknowledgement the agent missed (it was disconnected) leaves its status
//! update stream for that ID open, and the retried terminal update then
//! lands on the new task in the master and is refused by the agent's
//! stream; the master's unreachable-task cache is not kept across a
//! failover (MESOS-6785); and operators would see two tasks of one ID in
//! `GET_TASKS`. A new ID per task has none of these problems.
//!
//! Pod UIDs are UUIDs and hold no `.`, so the ID reads back unambiguously.

/// The prefix of every task ID of ours.
pub const PREFIX: &str = "pod.";

/// The task ID of generation `generation` of the pod with UID `uid`.
pub fn task_id(uid: &str, generation: u32) -> String {
    if generation == 0 {
        format!("{PREFIX}{uid}")
    } else {
        format!("{PREFIX}{uid}.{generation}")
    }
}

/// The pod UID and generation a task ID of ours names, `None` for a task
/// ID we never create.
pub fn parse(task_id: &str) -> Option<(&str, u32)> {
    let rest = task_id.strip_prefix(PREFIX)?;
    let (uid, generation) = match rest.rsplit_once('.') {
        Some((uid, n)) => {
            let generation: u32 = n.parse().ok().filter(|g| *g > 0)?;
            if n.starts_with('0') || n.starts_with('+') {
                return None;
            }
            (uid, generation)
        }
        None => (rest, 0),
    };
    (!uid.is_empty() && !uid.contains('.')).then_some((uid, generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_zero_is_the_plain_pod_task_id() {
        assert_eq!(task_id("u-1", 0), "pod.u-1");
        assert_eq!(parse("pod.u-1"), Some(("u-1", 0)));
    }

    #[test]
    fn relaunches_carry_their_generation() {
        assert_eq!(task_id("u-1", 3), "pod.u-1.3");
        assert_eq!(parse("pod.u-1.3"), Some(("u-1", 3)));
        for g in [1, 7, 12, u32::MAX] {
            assert_eq!(parse(&task_id("abc", g)), Some(("abc", g)));
        }
    }

    #[test]
    fn foreign_task_ids_are_not_ours() {
        for id in [
            "",
            "pod.",
            "pod..1",
            "pod.u.0",
            "pod.u.01",
            "pod.u.+1",
            "pod.u.x",
            "pod.a.b.1",
            "task-1",
            "pod",
        ] {
            assert_eq!(parse(id), None, "{id:?}");
        }
    }
}

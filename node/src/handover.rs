//! Moving pods off an executor of an older configuration (issue 23,
//! "retiring old generations").
//!
//! Every executor configuration has its own executor ID
//! (`kube-mesos-<hash>`), so after an upgrade an agent may run executors of
//! several generations. To retire an old one, the framework sends it a
//! framework message naming the tasks it should hand over
//! ([`release_request`]). The executor answers each task with a status
//! update carrying the [`LABEL`]:
//! - [`RELEASED`] on `TASK_FINISHED`: it let go of the pod without stopping
//!   its containers (they run under the container runtime, not in the
//!   executor's container — CRI). The framework relaunches the pod as its
//!   next task on the current executor, which takes the containers over;
//!   the pod is not failed, nothing restarts;
//! - [`KEPT`] on `TASK_RUNNING`: the pod cannot move (the process runtime's
//!   containers are processes of the executor's container) and stays on
//!   this executor until it ends.
//!
//! An executor asked to hand over exits once it has no pods left.

/// Label of an executor's answer to a release request.
pub const LABEL: &str = "kube-mesos.io/handover";
/// Label value: the pod was let go and runs on, unmanaged, until the
/// current executor takes it over.
pub const RELEASED: &str = "released";
/// Label value: the pod cannot move; it stays on this executor.
pub const KEPT: &str = "kept";

/// How a release request starts (framework messages are opaque bytes).
const REQUEST_PREFIX: &str = "kube-mesos.io/release-tasks:";

/// The framework message asking an executor to hand `tasks` over.
pub fn release_request<S: AsRef<str>>(tasks: &[S]) -> Vec<u8> {
    let ids: Vec<&str> = tasks.iter().map(AsRef::as_ref).collect();
    format!("{REQUEST_PREFIX}{}", ids.join(",")).into_bytes()
}

/// The tasks a framework message asks to hand over; `None` for any other
/// message.
pub fn parse_release_request(data: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(data).ok()?;
    let list = text.strip_prefix(REQUEST_PREFIX)?;
    Some(
        list.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_requests_round_trip() {
        let data = release_request(&["pod.a", "pod.b.2"]);
        assert_eq!(data, b"kube-mesos.io/release-tasks:pod.a,pod.b.2");
        assert_eq!(
            parse_release_request(&data),
            Some(vec!["pod.a".to_owned(), "pod.b.2".to_owned()])
        );
        assert_eq!(
            parse_release_request(b"kube-mesos.io/release-tasks:"),
            Some(vec![])
        );
    }

    #[test]
    fn other_messages_are_not_release_requests() {
        assert_eq!(parse_release_request(b"hello"), None);
        assert_eq!(parse_release_request(&[0xff, 0xfe]), None);
    }
}

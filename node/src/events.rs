//! What the framework's and the executor's Kubernetes Events share: the
//! event type and the Event object's name.
//!
//! Each side keeps its own recorder, because each writes as the component
//! it stands in for: the framework as kube-scheduler (one Event per
//! decision, `source.component` the scheduler name), the executor as the
//! kubelet (client-go's correlator: identical events counted into one
//! series, floods throttled). kube-rs's `Recorder` was weighed for both and
//! not taken: it writes events.k8s.io/v1 only, and it counts events with
//! the same reason but another message into one series that keeps the
//! first message, so `kubectl describe` would show a stale message (say,
//! an old FailedScheduling reason) where it shows the current one today.

/// `v1.EventTypeNormal` / `v1.EventTypeWarning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

impl EventType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// Longest name of an Event object (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The name of an Event about `object`, client-go's
/// `<object name>.<unix nanoseconds in hex>`, with the object's name cut so
/// that the whole stays a valid name: a pod or Node may have a
/// 253-character name, and its events must still be written.
pub fn event_name(object: &str, unix_nanos: i128) -> String {
    let suffix = format!(".{unix_nanos:x}");
    let keep = MAX_NAME.saturating_sub(suffix.len());
    let mut end = keep.min(object.len());
    while !object.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &object[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a 253-character pod's events were refused (name too long).
    #[test]
    fn event_names_stay_valid_for_the_longest_object_names() {
        let nanos = 1_700_000_000_000_000_000i128;
        let suffix = format!(".{nanos:x}");
        let name = event_name(&"n".repeat(253), nanos);
        assert_eq!(name.len(), 253);
        assert!(name.ends_with(&suffix));
        assert_eq!(event_name("web", nanos), format!("web{suffix}"));
        // A cut never splits a character.
        let name = event_name(&"é".repeat(200), nanos);
        assert!(name.len() <= 253);
        assert!(name.ends_with(&suffix));
    }

    #[test]
    fn types_are_spelled_as_the_api() {
        assert_eq!(EventType::Normal.as_str(), "Normal");
        assert_eq!(EventType::Warning.as_str(), "Warning");
    }
}

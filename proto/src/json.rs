//! Mesos' JSON mapping of the v1 messages (filled in next).

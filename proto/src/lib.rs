//! Mesos v1 wire types and RecordIO framing.

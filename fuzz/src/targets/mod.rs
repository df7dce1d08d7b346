//! One module per target; [`executor_pod`] is the executor's handling of a
//! decoded pod, shared by the targets that end with one.

pub mod executor_event;
pub mod executor_pod;
pub mod pod_payload;
pub mod pod_task;
pub mod quantity;
pub mod recordio;
pub mod scheduler_event;
pub mod selector;

/// The event targets' format byte: even is protobuf, odd is Mesos JSON.
pub fn is_protobuf(format: u8) -> bool {
    format.is_multiple_of(2)
}

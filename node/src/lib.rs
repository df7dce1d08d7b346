//! The contract between the kube-mesos framework and its executor: values
//! that both must compute the same way, defined once here (STYLE.md 14).
//!
//! - [`task`]: a pod's Mesos task IDs (`pod.<uid>`, then `pod.<uid>.<n>`
//!   for each relaunch) and how to read them back;
//! - [`relaunch`]: the labels with which the framework tells an executor
//!   why it relaunches a pod's task, so that the executor reports what the
//!   pod went through;
//! - [`handover`]: how the framework asks an executor of an older
//!   configuration to let go of its pods, and how the executor answers;
//! - [`capacity`]: a Node's capacity and allocatable from its agent's
//!   resources;
//! - [`quantity`]: the one parser of Kubernetes quantities, and the
//!   formatting of capacity;
//! - [`info`]: the `status.nodeInfo` values both writers of a Node set;
//! - [`lease`]: where the Node's Lease lives and how it is renewed;
//! - [`annotations`]: the pod and Node annotations and task labels;
//! - [`labels`]: a Node's labels and architecture from its agent;
//! - [`events`]: the Kubernetes event type and Event names both write.

pub mod annotations;
pub mod capacity;
pub mod events;
pub mod handover;
pub mod info;
pub mod labels;
pub mod lease;
pub mod quantity;
pub mod relaunch;
pub mod task;

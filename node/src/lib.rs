//! The contract between the kube-mesos framework and its executor: values
//! that both must compute the same way, defined once here (STYLE.md 14).
//!
//! - [`task`]: a pod's Mesos task IDs (`pod.<uid>`, then `pod.<uid>.<n>`
//!   for each relaunch) and how to read them back;
//! - [`relaunch`]: the labels with which the framework tells an executor
//!   why it relaunches a pod's task, so that the executor reports what the
//!   pod went through;
//! - [`handover`]: how the framework asks an executor of an older
//!   configuration to let go of its pods, and how the executor answers.

pub mod handover;
pub mod relaunch;
pub mod task;

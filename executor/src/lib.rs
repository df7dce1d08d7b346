//! The kube-mesos executor: a kubelet-equivalent pod runner inside a Mesos custom executor.
pub mod mesos;
pub mod runner;

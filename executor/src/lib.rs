//! The kube-mesos executor: a kubelet-equivalent pod runner inside a Mesos custom executor.
pub mod config;
pub mod kube;
pub mod kubelet;
pub mod mesos;
pub mod node_role;
pub mod runner;
pub mod service;

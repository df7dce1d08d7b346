//! The kube-mesos framework scheduler: places Kubernetes pods on Mesos offers.
pub mod config;
pub mod core;
pub mod drain;
pub mod executor_info;
pub mod http;
pub mod kube;
pub mod leader;
pub mod memory;
pub mod mesos;
pub mod metrics;
pub mod nodes;
pub mod placement;
pub mod queue;
pub mod resources;
pub mod run;
pub mod status;
pub mod task_status;

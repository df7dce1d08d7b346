//! The kube-mesos framework scheduler: places Kubernetes pods on Mesos offers.
pub mod mesos;
pub mod core;
pub mod executor_info;
pub mod placement;
pub mod resources;
pub mod config;
pub mod http;
pub mod metrics;
pub mod run;
pub mod queue;
pub mod task_status;
pub mod kube;
pub mod leader;
pub mod nodes;

//! The devcluster's Mesos: an embedded master and agents that speak the real
//! Mesos v1 HTTP APIs (scheduler, executor, operator) so that the framework
//! and executor can be developed and tested without a Mesos installation.
//!
//! Master and agents run in one process and talk through [`link`], whose
//! messages mirror Mesos' libprocess messages.

pub mod agent;
pub mod build;
pub mod endpoint;
pub mod faults;
pub mod link;
pub mod master;
pub mod model;
pub mod standalone;
pub mod system_metrics;

//! Embedded Mesos master/agent and Kubernetes API server, for `kube-mesos local` and tests only.

pub mod apiserver;
pub mod mesos;

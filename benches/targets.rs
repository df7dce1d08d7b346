//! The clusters with real executors (process runtime) that the latency,
//! executor-memory and neighbourliness scenarios run on:
//!
//! - `kube-mesos local` (devcluster Mesos, API server and framework in one
//!   process; agents run real `kube-mesos executor`s), as a user runs it;
//! - the conformance harness' cluster (`tests/conformance`): a real Apache
//!   Mesos 1.11 or the devcluster's standalone Mesos as a child process, the
//!   devcluster API server, and the `kube-mesos framework` binary — the
//!   production wiring, so the two Mesos flavors compare like for like.
//!
//! Both harnesses are blocking; they are started and dropped outside any
//! async runtime.

use std::path::PathBuf;

use serde::Serialize;

use crate::cluster::{Cluster, FrameworkSpec};
use crate::mesos::Flavor;
use crate::support::{processes_with_cwd_under, Local};

/// Which cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `kube-mesos local --agents N`.
    Local(usize),
    /// The conformance wiring on the devcluster's standalone Mesos.
    Devcluster,
    /// The conformance wiring on Apache Mesos 1.11.
    RealMesos,
}

impl Kind {
    pub fn label(self) -> String {
        match self {
            Kind::Local(1) => "kube-mesos local, 1 agent".into(),
            Kind::Local(n) => format!("kube-mesos local, {n} agents"),
            Kind::Devcluster => "devcluster Mesos, 1 agent".into(),
            Kind::RealMesos => "Apache Mesos 1.11, 1 agent".into(),
        }
    }

    pub fn slug(self) -> String {
        match self {
            Kind::Local(n) => format!("local-{n}"),
            Kind::Devcluster => "devcluster-1".into(),
            Kind::RealMesos => "mesos-1.11-1".into(),
        }
    }
}

/// A running cluster of one [`Kind`].
pub enum Target {
    Local(Box<Local>),
    Conformance(Box<Cluster>),
}

impl Target {
    pub fn start(kind: Kind) -> Target {
        match kind {
            Kind::Local(n) => Target::Local(Box::new(Local::start(n, &[]))),
            Kind::Devcluster => Target::Conformance(Box::new(Cluster::start(
                Flavor::Devcluster,
                |spec| spec,
                FrameworkSpec::default(),
            ))),
            Kind::RealMesos => Target::Conformance(Box::new(Cluster::start(
                Flavor::Real,
                |spec| spec,
                FrameworkSpec::default(),
            ))),
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        match self {
            Target::Local(l) => l.kubeconfig.clone(),
            Target::Conformance(c) => c.kubeconfig.clone(),
        }
    }

    /// `http://host:port` of the Mesos master.
    pub fn master_url(&self) -> String {
        match self {
            Target::Local(l) => {
                let url = l.mesos_master.trim_end_matches('/');
                url.strip_suffix("/master").unwrap_or(url).to_string()
            }
            Target::Conformance(c) => c.mesos.url(),
        }
    }

    /// The `kube-mesos executor` processes of this cluster.
    pub fn executor_pids(&self) -> Vec<u32> {
        let pids = match self {
            Target::Local(l) => processes_with_cwd_under(&l.data_dir),
            Target::Conformance(c) => c.mesos.processes(),
        };
        pids.into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|raw| raw.split(|b| *b == 0).any(|a| a == b"executor"))
            })
            .collect()
    }
}

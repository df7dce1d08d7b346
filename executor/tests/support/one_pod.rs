//! A kubelet endpoint's pod directory holding one pod, `default/web`.

use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use kube_mesos_executor::kubelet::{KnownPod, PodDirectory};

/// The pod `default/web`, its status and its log directory.
pub struct OnePod {
    pub pod: Arc<core::Pod>,
    pub status: core::PodStatus,
    pub log_dir: PathBuf,
}

impl PodDirectory for OnePod {
    fn find(&self, namespace: &str, name: &str) -> Option<KnownPod> {
        (namespace == "default" && name == "web").then(|| KnownPod {
            pod: self.pod.clone(),
            status: self.status.clone(),
            log_dir: self.log_dir.clone(),
        })
    }
}

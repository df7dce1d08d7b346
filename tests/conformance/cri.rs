//! A private containerd for the CRI scenarios: the executor's own test
//! harness (`executor/tests/support/containerd.rs`), with busybox imported
//! under the name `image: busybox` resolves to, as `tests/e2e_cri.rs` does.
//! What runs in it is read with containerd's own client, `ctr`.

use std::collections::BTreeMap;
use std::process::Command;

#[path = "../../executor/tests/support/containerd.rs"]
mod containerd;

/// containerd for one scenario. Declare it before the [`crate::cluster::Cluster`]
/// that uses it, so that the cluster (and its executors) goes first.
pub struct Cri {
    runtime: tokio::runtime::Runtime,
    containerd: Option<containerd::Containerd>,
}

impl Cri {
    /// Starts containerd and imports busybox.
    pub fn start() -> Cri {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let containerd = runtime.block_on(async {
            let cd = containerd::Containerd::start().await;
            let name = "docker.io/library/busybox:latest";
            let tar = containerd::image::busybox_image(cd.dir(), name, &["/bin/sh"], &[]);
            cd.import(&tar, name).await;
            cd
        });
        Cri {
            runtime,
            containerd: Some(containerd),
        }
    }

    fn containerd(&self) -> &containerd::Containerd {
        self.containerd.as_ref().expect("containerd runs")
    }

    /// The executor settings that make it use this containerd.
    pub fn executor_env(&self) -> Vec<(String, String)> {
        vec![
            ("KUBE_MESOS_RUNTIME".into(), "cri".into()),
            (
                "KUBE_MESOS_CRI_SOCKET".into(),
                self.containerd().socket().display().to_string(),
            ),
        ]
    }

    /// containerd's tasks (running containers and sandboxes) in the CRI
    /// namespace: task ID → (pid, status), from `ctr tasks ls`.
    pub fn tasks(&self) -> BTreeMap<String, (u32, String)> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.containerd().socket())
            .args(["--namespace", "k8s.io", "tasks", "ls"])
            .output()
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr tasks ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let id = f.next()?.to_owned();
                let pid = f.next()?.parse().ok()?;
                let status = f.next()?.to_owned();
                Some((id, (pid, status)))
            })
            .collect()
    }

    pub fn diagnostics(&self) -> String {
        self.containerd().diagnostics()
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        if let Some(cd) = self.containerd.take() {
            let _guard = self.runtime.enter();
            drop(cd);
        }
    }
}

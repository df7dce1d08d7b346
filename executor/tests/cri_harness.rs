//! The containerd harness itself: containerd starts, CRI answers, the
//! imported images are visible and a sandbox gets a pod IP from CNI.

#[path = "support/containerd.rs"]
mod containerd;

use containerd::Containerd;
use kube_mesos_executor::runner::cri::client::CriClient;
use kube_mesos_executor::runner::cri::proto;

#[tokio::test]
async fn containerd_starts_and_a_sandbox_gets_a_pod_ip() {
    let cd = Containerd::start().await;
    let client = CriClient::new(cd.socket());
    let mut rt = client.runtime.clone();
    let version = rt
        .version(proto::VersionRequest {
            version: "v1".into(),
        })
        .await
        .expect("Version")
        .into_inner();
    assert_eq!(version.runtime_name, "containerd");
    assert_eq!(version.runtime_api_version, "v1");
    let config = proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: "smoke".into(),
            uid: "smoke-uid".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: "smoke".into(),
        log_directory: cd.dir().join("logs").display().to_string(),
        linux: Some(proto::LinuxPodSandboxConfig {
            cgroup_parent: cd.cgroup_parent.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = rt
        .run_pod_sandbox(proto::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.diagnostics()))
        .into_inner()
        .pod_sandbox_id;
    let status = rt
        .pod_sandbox_status(proto::PodSandboxStatusRequest {
            pod_sandbox_id: id.clone(),
            verbose: false,
        })
        .await
        .expect("PodSandboxStatus")
        .into_inner()
        .status
        .expect("status");
    let ip = status.network.map(|n| n.ip).unwrap_or_default();
    let prefix = cd.subnet.trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "pod IP {ip} not in {}", cd.subnet);
    rt.stop_pod_sandbox(proto::StopPodSandboxRequest {
        pod_sandbox_id: id.clone(),
    })
    .await
    .expect("StopPodSandbox");
    rt.remove_pod_sandbox(proto::RemovePodSandboxRequest { pod_sandbox_id: id })
        .await
        .expect("RemovePodSandbox");
}

#[tokio::test]
async fn dropping_the_harness_kills_what_a_failed_test_left_running() {
    let cd = Containerd::start().await;
    let client = CriClient::new(cd.socket());
    let mut rt = client.runtime.clone();
    let config = proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: "leak".into(),
            uid: "leak-uid".into(),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: cd.dir().join("logs").display().to_string(),
        linux: Some(proto::LinuxPodSandboxConfig {
            cgroup_parent: cd.cgroup_parent.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    rt.run_pod_sandbox(proto::RunPodSandboxRequest {
        config: Some(config),
        runtime_handler: String::new(),
    })
    .await
    .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", cd.diagnostics()));
    let pids = cd.cgroup_pids();
    assert!(!pids.is_empty(), "the pause process runs in our cgroup");
    let parent = cd.cgroup_parent.clone();
    // The "test" ends without removing its pod.
    drop(cd);
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "pid {pid} survived the harness");
    }
    let dir = std::path::Path::new("/sys/fs/cgroup/pids").join(parent.trim_start_matches('/'));
    assert!(!dir.exists(), "{} left behind", dir.display());
}

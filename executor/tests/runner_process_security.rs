//! The process runtime honours a pod's security context on real host
//! processes: containers run as `runAsUser`/`runAsGroup` with the pod's
//! supplemental groups and `fsGroup`, `runAsNonRoot` refuses what would
//! run as root with the kubelet's message, and sandboxes are not
//! world-readable. (The tests run as root, as an executor does.)

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_mesos_executor::runner::process::{container_labels, ProcessConfig, ProcessRuntime};
use kube_mesos_executor::runner::runtime::{
    ContainerConfig, ContainerRuntimeSpec, PodRuntimeSpec, Runtime, RuntimeError, SandboxConfig,
};

const UID: &str = "5ec-uid";

fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn sandbox_config(root: &Path) -> SandboxConfig {
    SandboxConfig {
        name: "web".into(),
        namespace: "default".into(),
        uid: UID.into(),
        log_directory: root.join("logs"),
        labels: BTreeMap::new(),
    }
}

fn shell(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        attempt: 0,
        image: "busybox".into(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        args: vec![],
        envs: vec![],
        working_dir: String::new(),
        mounts: vec![],
        log_path: PathBuf::from(format!("{name}/0.log")),
        labels: container_labels("web", "default", UID, name),
        stdin: false,
        stdin_once: false,
        tty: false,
    }
}

fn mode(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[tokio::test]
async fn containers_run_as_the_user_and_groups_they_ask_for() {
    if !as_root() {
        eprintln!("not root; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessConfig::new(dir.path().join("process")));
    let pod = PodRuntimeSpec {
        run_as_user: Some(1000),
        fs_group: Some(2000),
        supplemental_groups: vec![2000],
        ..PodRuntimeSpec::default()
    };
    let sb = rt
        .prepare_pod_with(&sandbox_config(dir.path()), &pod)
        .await
        .unwrap();
    // The sandbox is the pod's: its user and fsGroup, nobody else.
    assert_eq!(mode(&sb.dir), (1000, 2000, 0o2770));
    assert_eq!(mode(&sb.dir.join("containers")).2, 0o700);
    assert_eq!(mode(sb.dir.parent().unwrap()).2, 0o711);

    let spec = ContainerRuntimeSpec {
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        supplemental_groups: vec![2000],
        ..ContainerRuntimeSpec::default()
    };
    let id = rt
        .create_and_start_with(
            &sb,
            &shell(
                "c",
                "id -u; id -g; id -G; touch made-by-me && stat -c %u made-by-me",
            ),
            &spec,
        )
        .await
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), rt.wait(&id))
        .await
        .unwrap()
        .unwrap();
    let log = std::fs::read_to_string(sb.log_directory.join("c/0.log")).unwrap();
    assert_eq!(exit.exit_code, 0, "{log}");
    let out: Vec<&str> = log.lines().filter_map(|l| l.split(" F ").nth(1)).collect();
    assert_eq!(out[0], "1000");
    assert_eq!(out[1], "3000");
    assert_eq!(out[2].split(' ').collect::<Vec<_>>(), ["3000", "2000"]);
    assert_eq!(out[3], "1000");

    // Without a security context: the executor's own user, as before.
    let plain = rt
        .create_and_start(&sb, &shell("plain", "id -u"))
        .await
        .unwrap();
    rt.wait(&plain).await.unwrap();
    let log = std::fs::read_to_string(sb.log_directory.join("plain/0.log")).unwrap();
    assert!(log.trim_end().ends_with(" F 0"), "{log}");
}

#[tokio::test]
async fn run_as_non_root_refuses_to_run_as_root() {
    if !as_root() {
        eprintln!("not root; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessConfig::new(dir.path().join("process")));
    let sb = rt.prepare_pod(&sandbox_config(dir.path())).await.unwrap();
    assert_eq!(mode(&sb.dir).2, 0o700, "a sandbox is not world-readable");
    let refuse = |spec: ContainerRuntimeSpec| {
        let rt = &rt;
        let sb = &sb;
        async move {
            match rt
                .create_and_start_with(sb, &shell("c", "true"), &spec)
                .await
            {
                Err(e @ RuntimeError::InvalidContainerConfig { .. }) => {
                    assert_eq!(e.waiting_reason(), Some("CreateContainerConfigError"));
                    e.to_string()
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    let message = refuse(ContainerRuntimeSpec {
        run_as_non_root: true,
        ..ContainerRuntimeSpec::default()
    })
    .await;
    assert!(
        message.contains(&format!(
            "container has runAsNonRoot and image will run as root (pod: \"web_default({UID})\", container: c)"
        )),
        "{message}"
    );
    let message = refuse(ContainerRuntimeSpec {
        run_as_non_root: true,
        run_as_user: Some(0),
        ..ContainerRuntimeSpec::default()
    })
    .await;
    assert!(
        message.contains("runAsUser breaks non-root policy"),
        "{message}"
    );
    // A non-root user satisfies it.
    let ok = rt
        .create_and_start_with(
            &sb,
            &shell("ok", "true"),
            &ContainerRuntimeSpec {
                run_as_non_root: true,
                run_as_user: Some(1000),
                ..ContainerRuntimeSpec::default()
            },
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

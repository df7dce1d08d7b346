//! The CRI runtime against a real containerd (started by each test, see
//! `support/containerd.rs`): pods with init and app containers, a pod IP
//! from CNI, env and a configMap-like volume, exec probes, OOM kills,
//! graceful stops, re-adoption after an executor restart, cleanup, and the
//! kubelet's reasons for runtime errors, and the security context
//! (users, groups, `runAsNonRoot` against the image's user).

#[path = "support/containerd.rs"]
mod containerd;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use containerd::{Containerd, BUSYBOX_IMAGE};
use kube_mesos_executor::runner::cri::{proto, CriConfig, CriRuntime};
use kube_mesos_executor::runner::process::container_labels;
use kube_mesos_executor::runner::runtime::{
    ContainerConfig, ContainerRuntimeSpec, ContainerStateKind, ImagePullPolicy, Mount,
    PodRuntimeSpec, Runtime, RuntimeError, SandboxConfig, SandboxInfo, StdioRequest,
    StreamingEndpoint, StreamingRefusal,
};

fn config(cd: &Containerd) -> CriConfig {
    let mut c = CriConfig::new(cd.socket(), cd.dir().join("kube"));
    c.cgroup_parent = cd.cgroup_parent.clone();
    c.wait_poll = Duration::from_millis(100);
    c.request_timeout = Duration::from_secs(60);
    c
}

async fn runtime(cd: &Containerd) -> CriRuntime {
    CriRuntime::connect(config(cd))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", cd.diagnostics()))
}

fn sandbox_config(cd: &Containerd, name: &str, uid: &str) -> SandboxConfig {
    SandboxConfig {
        name: name.into(),
        namespace: "default".into(),
        uid: uid.into(),
        log_directory: cd.dir().join("logs").join(format!("default_{name}_{uid}")),
        labels: BTreeMap::new(),
    }
}

fn pod_spec(name: &str) -> PodRuntimeSpec {
    PodRuntimeSpec {
        hostname: name.into(),
        ..Default::default()
    }
}

async fn sandbox(rt: &CriRuntime, cd: &Containerd, name: &str, uid: &str) -> SandboxInfo {
    rt.prepare_pod_with(&sandbox_config(cd, name, uid), &pod_spec(name))
        .await
        .unwrap_or_else(|e| panic!("prepare pod: {e}\n{}", cd.diagnostics()))
}

fn shell(sb: &SandboxInfo, pod: &str, name: &str, attempt: u32, script: &str) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        attempt,
        image: BUSYBOX_IMAGE.into(),
        command: vec!["/bin/sh".into(), "-c".into()],
        args: vec![script.into()],
        envs: vec![("GREETING".into(), "hi from env".into())],
        working_dir: String::new(),
        mounts: vec![],
        log_path: PathBuf::from(format!("{name}/{attempt}.log")),
        labels: container_labels(pod, "default", &sb.pod_uid, name),
        stdin: false,
        stdin_once: false,
        tty: false,
    }
}

fn never_pull() -> ContainerRuntimeSpec {
    ContainerRuntimeSpec {
        pull_policy: ImagePullPolicy::Never,
        ..Default::default()
    }
}

async fn start(rt: &CriRuntime, cd: &Containerd, sb: &SandboxInfo, c: &ContainerConfig) -> String {
    rt.create_and_start_with(sb, c, &never_pull())
        .await
        .unwrap_or_else(|e| panic!("start {}: {e}\n{}", c.name, cd.diagnostics()))
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test step timed out")
}

fn log_of(sb: &SandboxInfo, c: &ContainerConfig) -> String {
    std::fs::read_to_string(sb.log_directory.join(&c.log_path)).unwrap_or_default()
}

async fn exec(rt: &CriRuntime, id: &str, script: &str) -> (i32, String) {
    let out = rt
        .exec(
            id,
            &["/bin/sh".into(), "-c".into(), script.into()],
            Duration::from_secs(10),
        )
        .await
        .expect("exec");
    (out.exit_code, out.output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_init_then_app_with_env_volumes_logs_and_a_pod_ip() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let sb = sandbox(&rt, &cd, "web", "uid-web").await;
    assert_eq!(sb.pod_ips.len(), 1, "one pod IP from CNI: {sb:?}");
    let prefix = cd.subnet.trim_end_matches("0/24");
    assert!(
        sb.pod_ips[0].starts_with(prefix),
        "{:?} in {}",
        sb.pod_ips,
        cd.subnet
    );

    // A configMap volume as the runner lays it out, and an emptyDir.
    let config_dir = sb.dir.join("volumes/config");
    let work_dir = sb.dir.join("volumes/work");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::create_dir_all(&work_dir).unwrap();
    std::fs::write(config_dir.join("greeting"), "hello from configmap\n").unwrap();
    let mounts = vec![
        Mount {
            container_path: "/etc/config".into(),
            host_path: config_dir.clone(),
            readonly: true,
        },
        Mount {
            container_path: "/work".into(),
            host_path: work_dir.clone(),
            readonly: false,
        },
    ];

    let mut init = shell(
        &sb,
        "web",
        "init",
        0,
        "echo init-ran > /work/init.txt; echo init done",
    );
    init.mounts = mounts.clone();
    let init_id = start(&rt, &cd, &sb, &init).await;
    let exit = within(rt.wait(&init_id)).await.expect("wait init");
    assert_eq!((exit.exit_code, exit.reason.as_str()), (0, "Completed"));
    assert_eq!(
        std::fs::read_to_string(work_dir.join("init.txt")).unwrap(),
        "init-ran\n"
    );

    let mut app = shell(
        &sb,
        "web",
        "app",
        0,
        "cat /etc/config/greeting; echo \"$GREETING\"; cat /work/init.txt; hostname; echo err >&2; exec sleep 3600",
    );
    app.mounts = mounts;
    app.working_dir = "/work".into();
    let app_id = start(&rt, &cd, &sb, &app).await;
    let status = rt.status(&app_id).await.expect("status");
    assert_eq!(status.state, ContainerStateKind::Running);
    assert!(status.started_at.is_some());
    assert_eq!(status.name, "app");

    // The CRI log format: `<RFC3339Nano> <stream> <F|P> <line>`.
    let mut log = String::new();
    for _ in 0..100 {
        log = log_of(&sb, &app);
        if log.contains("stderr F err") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for line in [
        "stdout F hello from configmap",
        "stdout F hi from env",
        "stdout F init-ran",
        "stdout F web",
        "stderr F err",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
    assert!(log_of(&sb, &init).contains("stdout F init done"));

    // The volume is read-only where it says so; the working dir applies.
    let (code, _) = exec(&rt, &app_id, "echo x > /etc/config/new").await;
    assert_ne!(code, 0, "readOnly mount is writable");
    let (code, out) = exec(&rt, &app_id, "pwd; ip addr show eth0 | grep -c 'inet '").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("/work\n"), "{out}");

    let listed = rt.list_containers("uid-web").await.expect("list");
    let names: Vec<_> = listed.iter().map(|c| (c.name.as_str(), c.state)).collect();
    assert_eq!(
        names,
        [
            ("app", ContainerStateKind::Running),
            ("init", ContainerStateKind::Exited)
        ]
    );

    within(rt.stop(&app_id, Duration::from_secs(2)))
        .await
        .expect("stop");
    rt.remove_container(&init_id).await.expect("remove init");
    rt.stop_pod(&sb).await.expect("stop pod");
    rt.remove_pod(&sb).await.expect("remove pod");
    assert!(rt
        .list_containers("uid-web")
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_probe_fails_and_the_container_is_restarted() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let sb = sandbox(&rt, &cd, "probe", "uid-probe").await;
    let c = shell(
        &sb,
        "probe",
        "app",
        0,
        "touch /tmp/healthy; exec sleep 3600",
    );
    let id = start(&rt, &cd, &sb, &c).await;
    let probe = vec!["/bin/test".to_string(), "-f".into(), "/tmp/healthy".into()];

    let mut ok = false;
    for _ in 0..50 {
        let out = rt
            .exec(&id, &probe, Duration::from_secs(1))
            .await
            .expect("probe");
        if out.exit_code == 0 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "liveness probe never succeeded");
    exec(&rt, &id, "rm /tmp/healthy").await;
    let out = rt
        .exec(&id, &probe, Duration::from_secs(1))
        .await
        .expect("probe");
    assert_eq!(
        (out.exit_code, out.timed_out),
        (1, false),
        "probe must now fail"
    );

    // A probe that outlives its timeout is reported as timed out.
    let slow = ["/bin/sleep".to_string(), "30".into()];
    let out = within(rt.exec(&id, &slow, Duration::from_secs(1)))
        .await
        .expect("slow probe");
    assert!(out.timed_out, "{out:?}");

    // The runner's reaction to a failed liveness probe: stop with the
    // grace period, then start the next attempt.
    within(rt.stop(&id, Duration::from_secs(1)))
        .await
        .expect("stop");
    let exit = within(rt.wait(&id)).await.expect("wait");
    // `sleep` as PID 1 has no TERM handler, so TERM is ignored and the
    // runtime KILLs it when the grace period ends.
    assert_eq!(exit.exit_code, 137, "{exit:?}");
    let again = shell(
        &sb,
        "probe",
        "app",
        1,
        "touch /tmp/healthy; exec sleep 3600",
    );
    let id2 = start(&rt, &cd, &sb, &again).await;
    assert_ne!(id, id2);
    let s = rt.status(&id2).await.expect("status");
    assert_eq!((s.attempt, s.state), (1, ContainerStateKind::Running));
    let out = rt
        .exec(&id2, &probe, Duration::from_secs(1))
        .await
        .expect("probe");
    assert_eq!(out.exit_code, 0);
    assert_eq!(
        rt.cleanup_orphans(&[]).await.expect("cleanup"),
        ["uid-probe"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_exceeded_is_reported_as_oom_killed() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let sb = sandbox(&rt, &cd, "hog", "uid-hog").await;
    // tail keeps the last "line" of a newline-free stream: all of it.
    let c = shell(&sb, "hog", "hog", 0, "head -c 200m /dev/zero | tail");
    let spec = ContainerRuntimeSpec {
        pull_policy: ImagePullPolicy::Never,
        memory_limit_bytes: 32 << 20,
        cpu_limit_milli: 500,
        ..Default::default()
    };
    let id = rt
        .create_and_start_with(&sb, &c, &spec)
        .await
        .unwrap_or_else(|e| panic!("start: {e}\n{}", cd.diagnostics()));
    let exit = within(rt.wait(&id)).await.expect("wait");
    assert_eq!(exit.reason, "OOMKilled", "{exit:?}");
    assert_eq!(exit.exit_code, 137, "{exit:?}");
    rt.cleanup_orphans(&[]).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_sends_term_then_kill_after_the_grace_period() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let sb = sandbox(&rt, &cd, "grace", "uid-grace").await;
    let polite = shell(
        &sb,
        "grace",
        "polite",
        0,
        "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 1; done",
    );
    let stubborn = shell(
        &sb,
        "grace",
        "stubborn",
        0,
        "trap 'echo ignoring TERM' TERM; echo ready; while true; do sleep 1; done",
    );
    let polite_id = start(&rt, &cd, &sb, &polite).await;
    let stubborn_id = start(&rt, &cd, &sb, &stubborn).await;
    for c in [&polite, &stubborn] {
        for _ in 0..100 {
            if log_of(&sb, c).contains("ready") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    within(rt.stop(&polite_id, Duration::from_secs(30)))
        .await
        .expect("stop polite");
    let exit = rt.wait(&polite_id).await.expect("wait");
    assert_eq!((exit.exit_code, exit.reason.as_str()), (0, "Completed"));
    assert!(log_of(&sb, &polite).contains("got TERM"));

    let begun = std::time::Instant::now();
    within(rt.stop(&stubborn_id, Duration::from_secs(2)))
        .await
        .expect("stop stubborn");
    let exit = rt.wait(&stubborn_id).await.expect("wait");
    assert_eq!((exit.exit_code, exit.reason.as_str()), (137, "Error"));
    assert!(
        begun.elapsed() >= Duration::from_secs(2),
        "KILL came before the grace period"
    );
    let mut log = String::new();
    for _ in 0..30 {
        log = log_of(&sb, &stubborn);
        if log.contains("ignoring TERM") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        log.contains("ignoring TERM"),
        "TERM was not sent first:\n{log}"
    );
    rt.cleanup_orphans(&[]).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_executor_readopts_the_running_pod_and_cleans_up_the_rest() {
    let cd = Containerd::start().await;
    let (sandbox_id, container_id) = {
        let first = runtime(&cd).await;
        let sb = sandbox(&first, &cd, "keep", "uid-keep").await;
        let c = shell(&sb, "keep", "app", 0, "exec sleep 3600");
        let id = start(&first, &cd, &sb, &c).await;
        let gone = sandbox(&first, &cd, "gone", "uid-gone").await;
        let g = shell(&gone, "gone", "app", 0, "exec sleep 3600");
        start(&first, &cd, &gone, &g).await;
        (sb.id, id)
        // The first executor's runtime is dropped here, containers running.
    };

    let second = runtime(&cd).await;
    let listed = second.list_containers("uid-keep").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, container_id);
    assert_eq!(listed[0].state, ContainerStateKind::Running);
    let sb = sandbox(&second, &cd, "keep", "uid-keep").await;
    assert_eq!(
        sb.id, sandbox_id,
        "prepare_pod must re-adopt the running sandbox"
    );
    let (code, out) = exec(&second, &container_id, "echo alive").await;
    assert_eq!((code, out.as_str()), (0, "alive\n"));

    let cleaned = second
        .cleanup_orphans(&["uid-keep".to_string()])
        .await
        .expect("cleanup");
    assert_eq!(cleaned, ["uid-gone"]);
    assert!(second
        .list_containers("uid-gone")
        .await
        .expect("list")
        .is_empty());
    let still = second.status(&container_id).await.expect("status");
    assert_eq!(
        still.state,
        ContainerStateKind::Running,
        "the kept pod survives"
    );

    // A sidecar added after the restart goes into the re-adopted sandbox.
    let side = shell(&sb, "keep", "side", 0, "exec sleep 3600");
    start(&second, &cd, &sb, &side).await;
    assert_eq!(
        second
            .list_containers("uid-keep")
            .await
            .expect("list")
            .len(),
        2
    );

    // SHUTDOWN: nothing is left.
    assert_eq!(
        second.cleanup_orphans(&[]).await.expect("cleanup"),
        ["uid-keep"]
    );
    assert!(second
        .list_containers("uid-keep")
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_errors_carry_the_kubelets_reasons() {
    let cd = Containerd::start().await;

    // Socket missing: an error of the step, never a panic.
    let mut missing = config(&cd);
    missing.endpoint = cd.dir().join("no-such.sock");
    assert!(CriRuntime::connect(missing.clone()).await.is_err());
    let lazy = CriRuntime::new(missing);
    let err = lazy
        .prepare_pod_with(&sandbox_config(&cd, "x", "uid-x"), &pod_spec("x"))
        .await
        .expect_err("no runtime");
    assert_eq!(err.waiting_reason(), Some("CreatePodSandboxError"), "{err}");

    let rt = runtime(&cd).await;
    let sb = sandbox(&rt, &cd, "errs", "uid-errs").await;

    // Image missing with pull policy Never.
    let mut c = shell(&sb, "errs", "c", 0, "true");
    c.image = "kube-mesos.local/missing:1".into();
    let err = rt
        .create_and_start_with(&sb, &c, &never_pull())
        .await
        .expect_err("never");
    assert_eq!(err.waiting_reason(), Some("ErrImageNeverPull"));
    assert_eq!(
        err.to_string(),
        "ErrImageNeverPull: Container image \"kube-mesos.local/missing:1\" is not present with pull policy of Never"
    );

    // Image missing and the registry unreachable (a closed loopback port):
    // ErrImagePull, then ImagePullBackOff without trying again.
    c.image = "127.0.0.1:9/missing:1".into();
    let spec = ContainerRuntimeSpec::default();
    let err = rt
        .create_and_start_with(&sb, &c, &spec)
        .await
        .expect_err("pull");
    assert_eq!(err.waiting_reason(), Some("ErrImagePull"), "{err}");
    let err = rt
        .create_and_start_with(&sb, &c, &spec)
        .await
        .expect_err("back-off");
    assert_eq!(err.waiting_reason(), Some("ImagePullBackOff"), "{err}");
    assert!(err
        .to_string()
        .ends_with("Back-off pulling image \"127.0.0.1:9/missing:1\""));

    // Empty image name.
    c.image = String::new();
    let err = rt
        .create_and_start_with(&sb, &c, &never_pull())
        .await
        .expect_err("name");
    assert_eq!(err.waiting_reason(), Some("InvalidImageName"));

    // A bad mount: a directory over the image's /bin/busybox file.
    let mut bad = shell(&sb, "errs", "bad", 0, "true");
    let dir = sb.dir.join("volumes/d");
    std::fs::create_dir_all(&dir).unwrap();
    bad.mounts = vec![Mount {
        container_path: "/bin/busybox".into(),
        host_path: dir,
        readonly: false,
    }];
    let err = rt
        .create_and_start_with(&sb, &bad, &never_pull())
        .await
        .expect_err("bad mount");
    // containerd creates the container; runc refuses the mount when the
    // task is created at StartContainer: the kubelet's RunContainerError.
    assert!(
        matches!(err, RuntimeError::StartContainerFailed { .. }),
        "{err:?}"
    );
    assert_eq!(err.waiting_reason(), Some("RunContainerError"), "{err:?}");
    // The failed container is not left behind, and the same name and
    // attempt can be created again (containerd reserves container names).
    assert!(rt
        .list_containers("uid-errs")
        .await
        .expect("list")
        .is_empty());
    bad.mounts.clear();
    let id = start(&rt, &cd, &sb, &bad).await;
    assert_eq!(within(rt.wait(&id)).await.expect("wait").exit_code, 0);

    // Unknown container IDs are reported as such.
    assert!(matches!(
        rt.status("no-such-container").await,
        Err(RuntimeError::ContainerNotFound(_))
    ));

    // A host-network pod has no pod IP of its own.
    let host = rt
        .prepare_pod_with(
            &sandbox_config(&cd, "host", "uid-host"),
            &PodRuntimeSpec {
                host_network: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("host network pod: {e}\n{}", cd.diagnostics()));
    assert!(host.pod_ips.is_empty());
    let mut cleaned = rt.cleanup_orphans(&[]).await.expect("cleanup");
    cleaned.sort();
    assert_eq!(cleaned, ["uid-errs", "uid-host"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_security_context_and_host_ports_reach_the_container() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    // A free loopback port for the hostPort.
    let host_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let pod = PodRuntimeSpec {
        hostname: "sec".into(),
        port_mappings: vec![kube_mesos_executor::runner::runtime::PortMapping {
            protocol: "TCP".into(),
            container_port: 8080,
            host_port: i32::from(host_port),
            host_ip: "127.0.0.1".into(),
        }],
        ..Default::default()
    };
    let sb = rt
        .prepare_pod_with(&sandbox_config(&cd, "sec", "uid-sec"), &pod)
        .await
        .unwrap_or_else(|e| panic!("prepare pod: {e}\n{}", cd.diagnostics()));

    let server = shell(
        &sb,
        "sec",
        "server",
        0,
        "exec nc -ll -p 8080 -e /bin/echo hello-from-pod",
    );
    start(&rt, &cd, &sb, &server).await;

    let c = shell(&sb, "sec", "limited", 0, "exec sleep 3600");
    let spec = ContainerRuntimeSpec {
        pull_policy: ImagePullPolicy::Never,
        cpu_request_milli: 250,
        cpu_limit_milli: 500,
        memory_limit_bytes: 64 << 20,
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        read_only_root_fs: true,
        cap_drop: vec!["ALL".into()],
        cap_add: vec!["NET_BIND_SERVICE".into()],
        ..Default::default()
    };
    let id = rt
        .create_and_start_with(&sb, &c, &spec)
        .await
        .unwrap_or_else(|e| panic!("start: {e}\n{}", cd.diagnostics()));

    // cgroup v1 as runc mounts it in the container: the container's own
    // cgroup at /sys/fs/cgroup/<controller>.
    let (code, out) = exec(
        &rt,
        &id,
        "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out, "256\n50000\n100000\n67108864\n",
        "kubelet's CPU/memory mapping"
    );

    let (code, out) = exec(&rt, &id, "id -u; id -g").await;
    assert_eq!((code, out.as_str()), (0, "1000\n3000\n"));
    let (code, _) = exec(&rt, &id, "touch /rootfs-write").await;
    assert_ne!(code, 0, "readOnlyRootFilesystem");
    let (_, out) = exec(&rt, &id, "grep CapBnd /proc/self/status").await;
    // Only CAP_NET_BIND_SERVICE (bit 10) is left in the bounding set.
    assert_eq!(
        out.split_whitespace().nth(1),
        Some("0000000000000400"),
        "{out}"
    );

    // The hostPort reaches the pod through CNI portmap.
    let mut answer = String::new();
    for _ in 0..50 {
        use tokio::io::AsyncReadExt;
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", host_port)).await {
            answer.clear();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut answer)).await;
            if answer.contains("hello-from-pod") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        answer, "hello-from-pod\n",
        "hostPort {host_port} did not reach the pod"
    );
    rt.cleanup_orphans(&[]).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_calls_return_stream_server_urls_and_refusals_in_the_runtimes_words() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let sb = sandbox(&rt, &cd, "stream", "uid-stream").await;
    let mut c = shell(&sb, "stream", "app", 0, "sleep 3600");
    c.stdin = true;
    c.tty = true;
    let id = start(&rt, &cd, &sb, &c).await;
    // The container is created with the stdin and tty its spec asks for
    // (what `kubectl attach` needs from containerd).
    let mut client = rt.client().runtime.clone();
    let status = client
        .container_status(proto::ContainerStatusRequest {
            container_id: id.clone(),
            verbose: true,
        })
        .await
        .expect("ContainerStatus")
        .into_inner();
    let info = status.info.get("info").cloned().unwrap_or_default();
    assert!(
        info.contains("\"stdin\":true") && info.contains("\"tty\":true"),
        "{info}"
    );

    // Each call answers a URL on containerd's stream server (loopback,
    // as configured), one token per request.
    let request = StdioRequest {
        stdin: true,
        stdout: true,
        stderr: false,
        tty: true,
    };
    let urls = [
        within(rt.exec_endpoint(&id, &["sh".into()], request)).await,
        within(rt.exec_endpoint(&id, &["sh".into()], request)).await,
        within(rt.attach_endpoint(&id, request)).await,
        within(rt.port_forward_endpoint("uid-stream", &[8080])).await,
    ]
    .map(|r| match r {
        Ok(StreamingEndpoint::Url(u)) => u,
        other => panic!("expected a stream server URL, got {other:?}"),
    });
    for (url, path) in urls
        .iter()
        .zip(["/exec/", "/exec/", "/attach/", "/portforward/"])
    {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(url.contains(path), "{url}");
    }
    assert_ne!(urls[0], urls[1], "a token is for one request");

    // Refusals carry the runtime's gRPC text and the kind the kubelet
    // turns into an HTTP status.
    match within(rt.exec_endpoint("no-such-container", &["ls".into()], request)).await {
        Err(RuntimeError::StreamingRefused {
            refusal: StreamingRefusal::NotFound,
            message,
            ..
        }) => assert!(
            message.starts_with("rpc error: code = NotFound desc = "),
            "{message}"
        ),
        other => panic!("expected NotFound, got {other:?}"),
    }
    match within(rt.port_forward_endpoint("no-such-pod", &[])).await {
        Err(RuntimeError::StreamingRefused { message, .. }) => {
            assert_eq!(message, "failed to find sandboxID for pod no-such-pod");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    within(rt.stop(&id, Duration::from_secs(1)))
        .await
        .expect("stop");
    match within(rt.attach_endpoint(&id, request)).await {
        Err(RuntimeError::StreamingRefused { message, .. }) => {
            assert!(message.starts_with("rpc error: code = "), "{message}");
        }
        other => panic!("attach to a stopped container: {other:?}"),
    }
    rt.remove_pod(&sb).await.expect("remove pod");
}

/// The pod's users and groups through CRI, as the kubelet verifies and
/// passes them: `runAsNonRoot` without `runAsUser` is refused for an image
/// without `USER` (it runs as root) with the kubelet's reason and message,
/// `runAsUser: 0` breaks it as well, and a non-root `runAsUser` runs with
/// `runAsGroup` and the pod's supplemental groups and `fsGroup`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_non_root_users_and_groups_reach_the_container() {
    let cd = Containerd::start().await;
    let rt = runtime(&cd).await;
    let pod = PodRuntimeSpec {
        hostname: "users".into(),
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        supplemental_groups: vec![4000, 2000],
        fs_group: Some(2000),
        ..Default::default()
    };
    let sb = rt
        .prepare_pod_with(&sandbox_config(&cd, "users", "uid-users"), &pod)
        .await
        .unwrap_or_else(|e| panic!("prepare pod: {e}\n{}", cd.diagnostics()));

    let c = shell(&sb, "users", "root-image", 0, "sleep 3600");
    let non_root = ContainerRuntimeSpec {
        run_as_non_root: true,
        ..never_pull()
    };
    let err = rt
        .create_and_start_with(&sb, &c, &non_root)
        .await
        .expect_err("an image without USER runs as root");
    assert_eq!(
        err.waiting_reason(),
        Some("CreateContainerConfigError"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("container has runAsNonRoot and image will run as root"),
        "{err}"
    );
    let as_root = ContainerRuntimeSpec {
        run_as_user: Some(0),
        ..non_root.clone()
    };
    let err = rt
        .create_and_start_with(&sb, &c, &as_root)
        .await
        .expect_err("runAsUser 0");
    assert!(
        err.to_string()
            .contains("container's runAsUser breaks non-root policy"),
        "{err}"
    );

    // A secret the way the executor writes it for fsGroup 2000: readable
    // by the group, nothing for others; the pod dir hides it on the host.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let secret = sb.dir.join("volumes/s");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("key"), "s3cret").unwrap();
    kube_mesos_executor::runner::security::set_volume_ownership(&secret, 2000, false).unwrap();
    std::fs::set_permissions(secret.join("key"), std::fs::Permissions::from_mode(0o440)).unwrap();
    for d in [sb.dir.clone(), sb.dir.parent().unwrap().to_path_buf()] {
        let meta = std::fs::metadata(&d).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o777),
            (0, 0o750),
            "{}",
            d.display()
        );
    }
    let mut c = shell(&sb, "users", "app", 0, "sleep 3600");
    c.mounts = vec![Mount {
        container_path: "/secret".into(),
        host_path: secret,
        readonly: true,
    }];
    let spec = ContainerRuntimeSpec {
        run_as_user: Some(1000),
        run_as_group: Some(3000),
        ..non_root
    };
    let id = rt
        .create_and_start_with(&sb, &c, &spec)
        .await
        .unwrap_or_else(|e| panic!("start: {e}\n{}", cd.diagnostics()));
    let (code, out) = exec(&rt, &id, "id -u; id -g; id -G").await;
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["1000", "3000"], "{out}");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["2000", "3000", "4000"], "{out}");
    let (code, out) = exec(&rt, &id, "cat /secret/key").await;
    assert_eq!((code, out.as_str()), (0, "s3cret"), "through fsGroup");
    rt.cleanup_orphans(&[]).await.expect("cleanup");
}

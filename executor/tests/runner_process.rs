//! Integration tests of the `process` runtime with real host processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_mesos_executor::runner::process::log::LogRotation;
use kube_mesos_executor::runner::process::{
    container_labels, ProcessConfig, ProcessRuntime, LOST_REASON,
};
use kube_mesos_executor::runner::runtime::{
    ContainerConfig, ContainerStateKind, Mount, Runtime, SandboxConfig, SandboxInfo, StdioRequest,
    TerminalSize,
};

const UID: &str = "0f3c-uid";

fn runtime(root: &Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessConfig::new(root))
}

async fn sandbox(rt: &ProcessRuntime, root: &Path) -> SandboxInfo {
    rt.prepare_pod(&SandboxConfig {
        name: "web".into(),
        namespace: "default".into(),
        uid: UID.into(),
        log_directory: root.join("logs").join(format!("default_web_{UID}")),
        labels: BTreeMap::new(),
    })
    .await
    .expect("prepare pod")
}

fn shell(name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        name: name.into(),
        attempt: 0,
        image: "busybox".into(),
        command: vec!["sh".into(), "-c".into()],
        args: vec![script.into()],
        envs: vec![("GREETING".into(), "hi".into())],
        working_dir: String::new(),
        mounts: vec![],
        log_path: PathBuf::from(format!("{name}/0.log")),
        labels: container_labels("web", "default", UID, name),
        stdin: false,
        stdin_once: false,
        tty: false,
    }
}

fn read_log(sb: &SandboxInfo, name: &str) -> String {
    std::fs::read_to_string(sb.log_directory.join(format!("{name}/0.log"))).unwrap_or_default()
}

async fn gone(pid: i32) -> bool {
    for _ in 0..100 {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        if !alive {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn with_timeout<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test step timed out")
}

#[tokio::test]
async fn exit_code_and_cri_logs() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;
    let id = rt
        .create_and_start(&sb, &shell("c", "echo $GREETING; echo oops >&2; exit 3"))
        .await
        .unwrap();
    let exit = with_timeout(rt.wait(&id)).await.unwrap();
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.reason, "Error");
    let status = rt.status(&id).await.unwrap();
    assert_eq!(status.state, ContainerStateKind::Exited);

    let log = read_log(&sb, "c");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for l in &lines {
        let (ts, rest) = l.split_once(' ').unwrap();
        assert!(
            ts.parse::<jiff::Timestamp>().is_ok() && ts.len() == 30,
            "{ts}"
        );
        assert!(rest == "stdout F hi" || rest == "stderr F oops", "{rest}");
    }

    let ok = rt
        .create_and_start(&sb, &shell("ok", "exit 0"))
        .await
        .unwrap();
    let exit = with_timeout(rt.wait(&ok)).await.unwrap();
    assert_eq!((exit.exit_code, exit.reason.as_str()), (0, "Completed"));
}

#[tokio::test]
async fn killed_by_signal_reports_128_plus_n() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;
    let id = rt
        .create_and_start(&sb, &shell("c", "kill -USR1 $$; sleep 5"))
        .await
        .unwrap();
    let exit = with_timeout(rt.wait(&id)).await.unwrap();
    assert_eq!(exit.exit_code, 128 + 10);
}

#[tokio::test]
async fn logs_rotate_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(ProcessConfig {
        log_rotation: LogRotation {
            max_size: 4096,
            max_files: 2,
        },
        ..ProcessConfig::new(dir.path())
    });
    let sb = sandbox(&rt, dir.path()).await;
    let id = rt
        .create_and_start(
            &sb,
            &shell(
                "c",
                "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done",
            ),
        )
        .await
        .unwrap();
    assert_eq!(with_timeout(rt.wait(&id)).await.unwrap().exit_code, 0);
    let cur = sb.log_directory.join("c/0.log");
    let old = sb.log_directory.join("c/0.log.1");
    assert!(std::fs::metadata(&cur).unwrap().len() <= 4096);
    assert!(std::fs::metadata(&old).unwrap().len() <= 4096);
    assert!(!sb.log_directory.join("c/0.log.2").exists());
    let last = std::fs::read_to_string(&cur).unwrap();
    assert!(last.trim_end().ends_with("stdout F line-399"), "{last}");
}

#[tokio::test]
async fn stop_sends_term_then_kill_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;

    // Honours TERM: exits 143 well before the grace ends.
    let polite = rt
        .create_and_start(&sb, &shell("polite", "echo up; sleep 100 & wait"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    with_timeout(rt.stop(&polite, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(rt.wait(&polite).await.unwrap().exit_code, 143);

    // Ignores TERM: killed after the 1 s grace.
    let stubborn = rt
        .create_and_start(
            &sb,
            &shell(
                "stubborn",
                "trap '' TERM; echo ready; while :; do sleep 0.1; done",
            ),
        )
        .await
        .unwrap();
    for _ in 0..100 {
        if read_log(&sb, "stubborn").contains("ready") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let begun = std::time::Instant::now();
    with_timeout(rt.stop(&stubborn, Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(begun.elapsed() >= Duration::from_secs(1));
    let exit = rt.wait(&stubborn).await.unwrap();
    assert_eq!(exit.exit_code, 137);
}

#[tokio::test]
async fn whole_process_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;

    // Stopping the container kills a child that ignores TERM.
    let id = rt
        .create_and_start(
            &sb,
            &shell(
                "c",
                "(trap '' TERM; sleep 1000) & echo $! > child.pid; wait",
            ),
        )
        .await
        .unwrap();
    let pid_file = sb.dir.join("child.pid");
    let mut child = None;
    for _ in 0..100 {
        if let Some(p) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            child = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let child = child.expect("child pid written");
    with_timeout(rt.stop(&id, Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(gone(child).await, "child {child} survived the stop");

    // The main process exiting on its own ends the rest of its group too.
    let id = rt
        .create_and_start(&sb, &shell("d", "sleep 1000 & echo $! > d.pid; exit 0"))
        .await
        .unwrap();
    assert_eq!(with_timeout(rt.wait(&id)).await.unwrap().exit_code, 0);
    let orphan: i32 = std::fs::read_to_string(sb.dir.join("d.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(gone(orphan).await, "orphan {orphan} survived its container");
}

#[tokio::test]
async fn exec_runs_in_container_context_with_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;
    let id = rt
        .create_and_start(&sb, &shell("c", "sleep 100"))
        .await
        .unwrap();
    let out = rt
        .exec(
            &id,
            &["sh".into(), "-c".into(), "echo $GREETING; exit 2".into()],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        (out.exit_code, out.output.as_str(), out.timed_out),
        (2, "hi\n", false)
    );
    let slow = rt
        .exec(
            &id,
            &["sleep".into(), "10".into()],
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    assert!(slow.timed_out);
    rt.stop(&id, Duration::ZERO).await.unwrap();
}

#[tokio::test]
async fn mounts_resolve_inside_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;
    let vol = sb.dir.join("volumes/cfg");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("greeting"), "hello from volume").unwrap();
    let mut c = shell("c", "cat etc/cfg/greeting");
    c.mounts = vec![Mount {
        container_path: "/etc/cfg".into(),
        host_path: vol.clone(),
        readonly: true,
    }];
    let id = rt.create_and_start(&sb, &c).await.unwrap();
    assert_eq!(with_timeout(rt.wait(&id)).await.unwrap().exit_code, 0);
    assert!(read_log(&sb, "c").contains("stdout F hello from volume"));
    // The host's /etc/cfg was not touched.
    assert_eq!(std::fs::read_link(sb.dir.join("etc/cfg")).unwrap(), vol);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_runtime_readopts_live_process_and_reports_lost_ones() {
    let dir = tempfile::tempdir().unwrap();
    let first = runtime(dir.path());
    let sb = sandbox(&first, dir.path()).await;
    let id = first
        .create_and_start(&sb, &shell("c", "sleep 1000"))
        .await
        .unwrap();

    // A lost container: its state file names a pid whose start time differs.
    let lost_path = sb.dir.join("containers").join(format!("{UID}-gone-0.json"));
    let mut rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sb.dir.join("containers").join(format!("{id}.json"))).unwrap(),
    )
    .unwrap();
    rec["id"] = format!("{UID}-gone-0").into();
    rec["name"] = "gone".into();
    rec["proc_start_ticks"] = 1.into();
    std::fs::write(&lost_path, serde_json::to_vec(&rec).unwrap()).unwrap();

    // A new executor process: a fresh runtime over the same root.
    let second = runtime(dir.path());
    let listed = second.list_containers(UID).await.unwrap();
    let live = listed
        .iter()
        .find(|c| c.id == id)
        .expect("live container listed");
    assert_eq!(live.state, ContainerStateKind::Running);
    assert_eq!(live.name, "c");
    let lost = listed
        .iter()
        .find(|c| c.name == "gone")
        .expect("lost container listed");
    assert_eq!(lost.state, ContainerStateKind::Exited);
    assert_eq!(lost.exit.as_ref().unwrap().reason, LOST_REASON);

    // kubectl exec still reaches the re-adopted container, in its context;
    // attach is refused with the reason (its stdio was the old executor's).
    let piped = StdioRequest {
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
    };
    let cmd = ["sh".to_string(), "-c".into(), "echo $GREETING".into()];
    let mut s = with_timeout(second.exec_session(&id, &cmd, piped))
        .await
        .expect("exec in a re-adopted container");
    let out = read_until(&mut s.stdout.take().expect("stdout"), "\n").await;
    assert_eq!(out, "hi\n");
    assert_eq!(with_timeout(s.done).await.expect("exit"), Some(0));
    let refused = with_timeout(second.attach_session(&id, piped))
        .await
        .expect_err("no attach to a re-adopted container");
    assert!(
        refused
            .to_string()
            .contains("started by a previous executor"),
        "{refused}"
    );

    let pid = rec["pid"].as_i64().unwrap() as i32;
    with_timeout(second.stop(&id, Duration::from_secs(1)))
        .await
        .unwrap();
    let exit = with_timeout(second.wait(&id)).await.unwrap();
    // Not our child, but we know we sent TERM.
    assert_eq!((exit.exit_code, exit.reason.as_str()), (143, "Error"));
    assert!(gone(pid).await);
}

/// Reads `rx` until what was read contains `needle`; returns it all.
async fn read_until(rx: &mut tokio::sync::mpsc::Receiver<bytes::Bytes>, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        match with_timeout(rx.recv()).await {
            Some(b) => seen.push_str(&String::from_utf8_lossy(&b)),
            None => panic!("output ended before {needle:?}: {seen:?}"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tty_container_runs_on_a_terminal_that_attach_joins_and_resizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;
    let mut c = shell("console", "echo on-a-terminal; exec sh -i");
    c.tty = true;
    c.stdin = true;
    c.stdin_once = true;
    let id = rt.create_and_start(&sb, &c).await.expect("start");
    let tty = StdioRequest {
        stdin: true,
        stdout: true,
        stderr: false,
        tty: true,
    };
    for (width, height) in [(77u16, 22u16), (101, 33)] {
        let mut s = with_timeout(rt.attach_session(&id, tty))
            .await
            .expect("attach");
        assert!(s.stderr.is_none(), "a terminal has one output stream");
        let resize = s.resize.take().expect("a terminal takes resizes");
        resize
            .send(TerminalSize { width, height })
            .await
            .expect("resize");
        let stdin = s.stdin.take().expect("stdin");
        let mut out = s.stdout.take().expect("stdout");
        stdin
            .send(bytes::Bytes::from_static(b"stty size; tty\n"))
            .await
            .expect("input");
        let seen = read_until(&mut out, "/dev/pts/").await;
        assert!(seen.contains(&format!("{height} {width}")), "{seen:?}");
        // The session ends; with a terminal stdinOnce keeps stdin, so the
        // next attach still types into the same shell.
        drop(stdin);
        drop(s);
    }
    let status = rt.status(&id).await.expect("status");
    assert_eq!(status.state, ContainerStateKind::Running);
    // The terminal's output is the container's log, as stdout, its lines
    // without the terminal's `\r\n`.
    let log = read_log(&sb, "console");
    assert!(log.contains(" stdout F on-a-terminal\n"), "{log:?}");
    with_timeout(rt.stop(&id, Duration::from_secs(2)))
        .await
        .expect("stop");
    let exit = with_timeout(rt.wait(&id)).await.expect("exit");
    assert_ne!(exit.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_sessions_end_when_their_client_leaves_and_the_container_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let sb = sandbox(&rt, dir.path()).await;
    // `stdin: true` without `stdinOnce`: the container's input outlives
    // every attach session.
    let mut c = shell("echo", "exec cat");
    c.stdin = true;
    let id = rt.create_and_start(&sb, &c).await.expect("start");
    let typing = StdioRequest {
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
    };
    let watching = StdioRequest {
        stdin: false,
        ..typing
    };
    let mut typist = rt.attach_session(&id, typing).await.expect("attach");
    let mut watcher = rt.attach_session(&id, watching).await.expect("attach");
    // The watcher's client is gone: the next output cannot reach it.
    drop(watcher.stdout.take());
    let input = typist.stdin.take().expect("stdin");
    input
        .send(bytes::Bytes::from_static(b"echoed\n"))
        .await
        .expect("input");
    let mut out = typist.stdout.take().expect("stdout");
    read_until(&mut out, "echoed").await;
    assert_eq!(with_timeout(watcher.done).await.expect("watcher"), None);
    // The typist's input ends: its session ends, as containerd's does.
    drop(input);
    assert_eq!(with_timeout(typist.done).await.expect("typist"), None);
    let status = rt.status(&id).await.expect("status");
    assert_eq!(status.state, ContainerStateKind::Running);
    // The container's stdin stayed open for the next client.
    let mut next = rt.attach_session(&id, typing).await.expect("attach");
    let input = next.stdin.take().expect("stdin");
    input
        .send(bytes::Bytes::from_static(b"again\n"))
        .await
        .expect("input");
    read_until(&mut next.stdout.take().expect("stdout"), "again").await;
    with_timeout(rt.stop(&id, Duration::from_secs(2)))
        .await
        .expect("stop");
}

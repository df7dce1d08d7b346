//! `kube-mesos local up | down | status | delete`: the cluster as a
//! background service, the way `kind` and `minikube` handle theirs.
//!
//! `up` starts this same binary as `kube-mesos local --data-dir ...` in a
//! session of its own (so closing the terminal does not stop it), its
//! output going to `<data-dir>/local.out`; it shows the progress lines the
//! instance prints and returns once the instance prints its ready line.
//! `down` sends the instance SIGTERM (its graceful stop) and waits until it
//! has released the data dir's lock; `status` probes each part; `delete`
//! stops it and removes the data dir. The instance itself is the
//! foreground `kube-mesos local`: one code path for both.

use std::io::{BufRead, Seek};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::Value;

use super::args::{ClusterFlags, DataDirArg, UpArgs};
use super::cluster::{prepare_data_dir, Layout, PROGRESS, READY_LINE, STOP_DEADLINE};
use super::error::{LocalError, Result};
use super::instance;
use super::kubeconfig;
use super::probe;
use super::state::{port_to_bind, state_path, write_private, LocalState};

/// Exit code of `status` when the cluster runs but is not healthy.
pub const EXIT_UNHEALTHY: i32 = 1;
/// Exit code of `status` when no cluster runs.
pub const EXIT_STOPPED: i32 = 3;

/// How often `up` and `down` look again.
const POLL: Duration = Duration::from_millis(200);

fn layout_if_exists(dir: &Path) -> Result<Option<Layout>> {
    if dir.exists() {
        prepare_data_dir(dir).map(Some)
    } else {
        Ok(None)
    }
}

/// Refuses a port that was asked for explicitly and is taken now.
fn check_port(what: &'static str, port: u16) -> Result<()> {
    if port != 0 && std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        return Err(LocalError::PortTaken { what, port });
    }
    Ok(())
}

/// `kube-mesos local up`.
pub fn up(args: UpArgs) -> Result<i32> {
    // Validate the flags before anything starts.
    args.flags
        .clone()
        .into_plan(super::args::HostSize::detect())?;
    let layout = prepare_data_dir(&args.flags.data_dir)?;
    if !instance::is_data_dir(&layout.root) && dir_has_entries(&layout.root) {
        return Err(LocalError::NotADataDir {
            path: layout.root.clone(),
        });
    }
    let flags = instance::flags_to_start(&layout, &args.flags)?;
    if instance::is_running(&layout)? {
        let pid = instance::read_pid(&layout)
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        println!(
            "kube-mesos local is already running on {}{pid}; nothing to do.",
            layout.root.display()
        );
        print_usage(&layout, kubeconfig_merged(&layout).as_deref());
        return Ok(0);
    }
    check_port("--api-port", flags.api_port)?;
    check_port("--mesos-port", flags.mesos_port)?;
    let resuming = state_path(&layout.root).exists();
    println!(
        "{} kube-mesos local in {} ...",
        if resuming { "Resuming" } else { "Starting" },
        layout.root.display()
    );
    let pid = spawn(&layout, &flags)?;
    wait_until_ready(&layout, pid, Duration::from_secs(args.wait))?;
    let merged = if args.no_kubeconfig_merge {
        None
    } else {
        merge_context(&layout)
    };
    println!("kube-mesos local is ready (pid {pid}).");
    print_usage(&layout, merged.as_deref());
    Ok(0)
}

fn dir_has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// Starts the instance in a session of its own, output to `local.out`.
fn spawn(layout: &Layout, flags: &ClusterFlags) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    let out_path = layout.root.join(instance::OUTPUT_FILE);
    let out = std::fs::File::create(&out_path).map_err(|source| LocalError::DataDirFailed {
        path: out_path.clone(),
        source,
    })?;
    let err = out.try_clone().map_err(LocalError::SpawnFailed)?;
    let exe = std::env::current_exe().map_err(LocalError::CurrentExeFailed)?;
    let mut cmd = Command::new(exe);
    cmd.arg("local")
        .arg("--data-dir")
        .arg(&layout.root)
        .args(flags.to_argv())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().map_err(LocalError::SpawnFailed)?;
    Ok(child.id())
}

/// Follows `local.out`, echoing progress, until the ready line, the
/// instance's exit, or the deadline.
fn wait_until_ready(layout: &Layout, pid: u32, wait: Duration) -> Result<()> {
    let log = layout.root.join(instance::OUTPUT_FILE);
    let started = Instant::now();
    let mut offset = 0u64;
    let mut lines_seen: Vec<String> = Vec::new();
    loop {
        if let Ok(mut f) = std::fs::File::open(&log) {
            if f.seek(std::io::SeekFrom::Start(offset)).is_ok() {
                let mut reader = std::io::BufReader::new(f);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if !line.ends_with('\n') {
                        break; // a partial line: read it whole next time
                    }
                    offset += line.len() as u64;
                    let text = line.trim_end().to_string();
                    line.clear();
                    if text == READY_LINE {
                        return Ok(());
                    }
                    if let Some(step) = show_progress(&text) {
                        println!("  [{:>3}s] {step}", started.elapsed().as_secs());
                    }
                    lines_seen.push(text);
                }
            }
        }
        if !process_alive(pid) {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().collect();
            return Err(LocalError::StartFailed {
                log,
                tail: tail[tail.len().saturating_sub(15)..].join("\n"),
            });
        }
        if started.elapsed() > wait {
            return Err(LocalError::StartTimedOut {
                secs: wait.as_secs(),
                pid,
                log,
            });
        }
        std::thread::sleep(POLL);
    }
}

/// What a line of the instance's output says about its progress, if
/// anything a user needs while waiting.
fn show_progress(line: &str) -> Option<String> {
    if let Some(p) = line.strip_prefix(PROGRESS) {
        return Some(p.to_string());
    }
    for (prefix, what) in [
        ("api server: ", "Kubernetes API server at "),
        ("mesos master: ", "Mesos master at "),
        ("status page: ", "framework status page at "),
        ("agent: ", "Mesos agent "),
        ("runtime: ", "pods run with the runtime "),
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let rest = rest.split(" (").next().unwrap_or(rest);
            return Some(format!("{what}{rest}"));
        }
    }
    None
}

/// Whether `pid` names a live process. The instance stays our child until
/// `up` exits, so one that died is a zombie here: that counts as dead.
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Merges the context; a failure is reported, not fatal (the data dir's
/// kubeconfig works anyway). Returns the file merged into.
fn merge_context(layout: &Layout) -> Option<String> {
    let target = kubeconfig::target_from_env()?;
    let state = LocalState::load_or_fresh(&layout.root).ok()?;
    let token = layout.root.join(kubeconfig::TOKEN_FILE);
    if let Err(e) = write_private(&token, state.token.as_bytes()) {
        eprintln!("warning: writing {}: {e}", token.display());
        return None;
    }
    let server = format!("https://127.0.0.1:{}", state.api_port);
    match kubeconfig::merge(&layout.root, &target, &server, &layout.ca_file()) {
        Ok(()) => Some(target.display().to_string()),
        Err(e) => {
            eprintln!(
                "warning: could not add the {} context to {}: {e}",
                kubeconfig::CONTEXT,
                target.display()
            );
            None
        }
    }
}

fn kubeconfig_merged(layout: &Layout) -> Option<String> {
    std::fs::read_to_string(layout.root.join("kubeconfig-merged-into"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn print_usage(layout: &Layout, merged: Option<&str>) {
    match merged {
        Some(file) => {
            println!(
                "kubectl context \"{}\" is set in {file}; try:",
                kubeconfig::CONTEXT
            );
            println!("  kubectl --context {} get nodes", kubeconfig::CONTEXT);
            println!(
                "  kubectl --context {} apply -f examples/hello.yaml",
                kubeconfig::CONTEXT
            );
        }
        None => {
            println!("Use it with:");
            println!("  export KUBECONFIG={}", layout.kubeconfig().display());
            println!("  kubectl get nodes");
        }
    }
    println!(
        "`kube-mesos local status` shows what runs, `kube-mesos local down` stops it, \
         `kube-mesos local delete` removes it."
    );
}

/// `kube-mesos local down`.
pub fn down(args: DataDirArg) -> Result<i32> {
    let Some(layout) = layout_if_exists(&args.data_dir)? else {
        println!(
            "No kube-mesos local cluster in {}.",
            args.data_dir.display()
        );
        return Ok(0);
    };
    stop(&layout)?;
    remove_context(&layout)?;
    println!("`kube-mesos local up` resumes it; `kube-mesos local delete` removes it.");
    Ok(0)
}

fn remove_context(layout: &Layout) -> Result<()> {
    if let Some(file) = kubeconfig::remove(&layout.root)? {
        println!(
            "Removed the {} context from {}.",
            kubeconfig::CONTEXT,
            file.display()
        );
    }
    Ok(())
}

/// Stops the instance if one runs; waits until it has.
fn stop(layout: &Layout) -> Result<()> {
    if !instance::is_running(layout)? {
        println!(
            "kube-mesos local is not running on {}.",
            layout.root.display()
        );
        return Ok(());
    }
    let pid = instance::read_pid(layout).ok_or_else(|| LocalError::PidUnknown {
        path: layout.root.clone(),
    })?;
    let signal = |pid: i32| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM).map_err(
            |e| LocalError::SignalFailed {
                pid,
                source: std::io::Error::from(e),
            },
        )
    };
    println!(
        "Stopping kube-mesos local (pid {pid}): pods are stopped gracefully, this can take up to {} s ...",
        super::cluster::EXECUTOR_SHUTDOWN_GRACE.as_secs()
    );
    signal(pid)?;
    let started = Instant::now();
    let graceful = STOP_DEADLINE + Duration::from_secs(15);
    let mut forced = false;
    while instance::is_running(layout)? {
        if !forced && started.elapsed() > graceful {
            println!("Still stopping after {} s; forcing it.", graceful.as_secs());
            signal(pid)?;
            forced = true;
        }
        if started.elapsed() > graceful + Duration::from_secs(15) {
            return Err(LocalError::StopTimedOut {
                pid,
                log: layout.root.join(super::LOG_FILE),
            });
        }
        std::thread::sleep(POLL);
    }
    println!("Stopped after {} s.", started.elapsed().as_secs());
    Ok(())
}

/// `kube-mesos local delete`.
pub fn delete(args: DataDirArg) -> Result<i32> {
    let Some(layout) = layout_if_exists(&args.data_dir)? else {
        println!(
            "No kube-mesos local cluster in {}.",
            args.data_dir.display()
        );
        return Ok(0);
    };
    if !instance::is_data_dir(&layout.root) {
        return Err(LocalError::NotADataDir { path: layout.root });
    }
    stop(&layout)?;
    remove_context(&layout)?;
    // After a crash, executors and pods outlive the instance: they are
    // this cluster's, and go with it.
    for round in 0..3 {
        let left = instance::processes_under(&layout.root);
        if left.is_empty() {
            break;
        }
        let sig = if round == 0 {
            nix::sys::signal::SIGTERM
        } else {
            nix::sys::signal::SIGKILL
        };
        println!(
            "Stopping {} leftover process(es) of this cluster.",
            left.len()
        );
        for pid in left {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    std::fs::remove_dir_all(&layout.root).map_err(|source| LocalError::RemoveFailed {
        path: layout.root.clone(),
        source,
    })?;
    println!("Deleted {}.", layout.root.display());
    Ok(0)
}

/// One line of `status`.
fn row(what: &str, detail: &str, ok: bool) -> bool {
    println!(
        "  {what:<14} {detail}{}",
        if ok { "" } else { "   <-- not healthy" }
    );
    ok
}

/// `kube-mesos local status`.
pub fn status(args: DataDirArg) -> Result<i32> {
    let Some(layout) = layout_if_exists(&args.data_dir)? else {
        println!(
            "kube-mesos local: no cluster in {} (`kube-mesos local up` starts one).",
            args.data_dir.display()
        );
        return Ok(EXIT_STOPPED);
    };
    if !instance::is_running(&layout)? {
        println!(
            "kube-mesos local: stopped (data dir {}; `kube-mesos local up` resumes it).",
            layout.root.display()
        );
        return Ok(EXIT_STOPPED);
    }
    let state = LocalState::load_or_fresh(&layout.root)?;
    let pid = instance::read_pid(&layout)
        .map(|p| p.to_string())
        .unwrap_or_else(|| "?".into());
    println!(
        "kube-mesos local: running (pid {pid}), data dir {}",
        layout.root.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LocalError::RuntimeFailed)?;
    let healthy = runtime.block_on(probe_all(&layout, &state));
    println!("{}", if healthy { "healthy" } else { "NOT healthy" });
    Ok(if healthy { 0 } else { EXIT_UNHEALTHY })
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port_to_bind(0, port)))
}

async fn probe_all(layout: &Layout, state: &LocalState) -> bool {
    let mut healthy = true;
    let api = probe::get(local(state.api_port), "/readyz").await;
    healthy &= row(
        "api server",
        &format!(
            "https://127.0.0.1:{} {}",
            state.api_port,
            if api.as_ref().is_some_and(|(c, _)| *c == 200) {
                "ready"
            } else {
                "not answering"
            }
        ),
        api.is_some_and(|(c, _)| c == 200),
    );
    let master = local(state.mesos_port);
    let agents = operator_call(master, "GET_AGENTS").await;
    let frameworks = operator_call(master, "GET_FRAMEWORKS").await;
    let master_ok = agents.is_some();
    let agent_list: Vec<(String, bool)> = agents
        .as_ref()
        .map(|v| {
            v["get_agents"]["agents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["agent_info"]["hostname"]
                            .as_str()
                            .unwrap_or("?")
                            .to_string(),
                        a["active"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    healthy &= row(
        "mesos master",
        &format!(
            "http://127.0.0.1:{} {}",
            state.mesos_port,
            if master_ok {
                "answering"
            } else {
                "not answering"
            }
        ),
        master_ok,
    );
    let active_agents = agent_list.iter().filter(|(_, a)| *a).count();
    let expected_agents = state.agent_ports.len();
    healthy &= row(
        "mesos agents",
        &format!(
            "{active_agents}/{expected_agents} active ({})",
            agent_list
                .iter()
                .map(|(h, _)| h.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        active_agents == expected_agents && expected_agents > 0,
    );
    let framework = frameworks.as_ref().and_then(|v| {
        v["get_frameworks"]["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["framework_info"]["name"] == "kube-mesos")
            .map(|f| f["active"] == true)
    });
    let ready = probe::get(local(state.framework_port), "/readyz").await;
    let framework_ok = framework == Some(true) && ready.as_ref().is_some_and(|(c, _)| *c == 200);
    healthy &= row(
        "framework",
        &format!(
            "kube-mesos {} with Mesos, /readyz {}",
            match framework {
                Some(true) => "subscribed",
                Some(false) => "registered but inactive",
                None => "not registered",
            },
            ready
                .map(|(c, _)| c.to_string())
                .unwrap_or_else(|| "not answering".into())
        ),
        framework_ok,
    );
    match kube_view(layout).await {
        Some(view) => {
            let ready_nodes = view.nodes.iter().filter(|(_, r)| *r).count();
            healthy &= row(
                "nodes",
                &format!(
                    "{ready_nodes}/{} Ready ({})",
                    view.nodes.len(),
                    view.nodes
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ready_nodes == view.nodes.len() && !view.nodes.is_empty(),
            );
            row("pods", &view.pods, true);
            row(
                "workloads",
                &format!("{} deployment(s), {} job(s)", view.deployments, view.jobs),
                true,
            );
        }
        None => {
            healthy &= row("nodes", "the API server did not answer", false);
        }
    }
    row(
        "kubeconfig",
        &match kubeconfig_merged(layout) {
            Some(f) => format!(
                "{} (context {} in {f})",
                layout.kubeconfig().display(),
                kubeconfig::CONTEXT
            ),
            None => layout.kubeconfig().display().to_string(),
        },
        true,
    );
    healthy
}

async fn operator_call(master: SocketAddr, call: &str) -> Option<Value> {
    let body = format!(r#"{{"type":"{call}"}}"#);
    let (code, text) = probe::post_json(master, "/api/v1", &body).await?;
    (code == 200)
        .then(|| serde_json::from_str(&text).ok())
        .flatten()
}

struct KubeView {
    nodes: Vec<(String, bool)>,
    pods: String,
    deployments: usize,
    jobs: usize,
}

async fn kube_view(layout: &Layout) -> Option<KubeView> {
    use kube::api::{Api, ListParams};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let yaml = std::fs::read_to_string(layout.kubeconfig()).ok()?;
    let client = kube_mesos_framework::kube::client_from_yaml(&yaml)
        .await
        .ok()?;
    let lp = ListParams::default();
    let nodes = Api::<Node>::all(client.clone()).list(&lp).await.ok()?;
    let nodes = nodes
        .items
        .iter()
        .map(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (n.metadata.name.clone().unwrap_or_default(), ready)
        })
        .collect();
    let pods = Api::<Pod>::all(client.clone()).list(&lp).await.ok()?;
    let mut phases: std::collections::BTreeMap<String, usize> = Default::default();
    for p in &pods.items {
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into());
        *phases.entry(phase).or_default() += 1;
    }
    let breakdown: Vec<String> = phases.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let pods = if pods.items.is_empty() {
        "none".to_string()
    } else {
        format!("{} ({})", pods.items.len(), breakdown.join(", "))
    };
    let deployments = Api::<Deployment>::all(client.clone())
        .list(&lp)
        .await
        .ok()?
        .items
        .len();
    let jobs = Api::<Job>::all(client).list(&lp).await.ok()?.items.len();
    Some(KubeView {
        nodes,
        pods,
        deployments,
        jobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_shown_and_others_not() {
        assert_eq!(
            show_progress("progress: framework subscribed to the Mesos master").as_deref(),
            Some("framework subscribed to the Mesos master")
        );
        assert_eq!(
            show_progress("agent: agent-0 (executor API 127.0.0.1:1, resources cpus:1)").as_deref(),
            Some("Mesos agent agent-0")
        );
        assert_eq!(show_progress("logs: /x"), None);
    }

    #[test]
    fn an_explicit_port_that_is_taken_is_refused() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(matches!(
            check_port("--api-port", port),
            Err(LocalError::PortTaken { port: p, .. }) if p == port
        ));
        assert!(check_port("--api-port", 0).is_ok());
    }

    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX - 1));
    }
}

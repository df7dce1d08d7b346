//! The async shell of `kube-mesos local`: binds the ports, starts the parts
//! in dependency order (API server, Mesos master, agents, framework), waits
//! until a pod can be scheduled, and stops them in reverse order.
//!
//! The parts are the same ones tests and production use: the devcluster API
//! server and Mesos master/agents (in this process), the framework's own
//! run loop (in this process, with a [`FrameworkConfig`] built here), and
//! the real `kube-mesos executor` (this binary, fetched into each sandbox
//! and started by the agents as a child process group of its own, so it
//! outlives a crash of this process just as executors outlive a Mesos
//! agent).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube_mesos_client::Shutdown;
use kube_mesos_devcluster::apiserver::auth::{StaticToken, UserInfo};
use kube_mesos_devcluster::apiserver::{self, ApiServer, ApiServerConfig};
use kube_mesos_devcluster::mesos::agent::{AgentConfig, AgentHandle};
use kube_mesos_devcluster::mesos::master::{self, MasterConfig, MasterHandle};
use kube_mesos_framework::config::FrameworkConfig;
use kube_mesos_framework::run::{self as framework_run, RunError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::args::{AgentSpec, LocalPlan, LocalRuntime};
use super::error::{LocalError, Result};
use super::probe;
use super::rbac;
use super::state::{port_to_bind, write_private, LocalState, MESOS_PRINCIPAL};

/// The line printed once a pod can be scheduled. Tests and scripts wait for it.
pub const READY_LINE: &str = "kube-mesos local is ready";

/// The prefix of the lines that tell how far starting got (`up` shows them).
pub const PROGRESS: &str = "progress: ";

/// How long the whole stop may take before we give up waiting (executors
/// stop their pods within their grace periods; this bounds a stuck part).
pub const STOP_DEADLINE: Duration = Duration::from_secs(90);

/// The agents' `--executor_shutdown_grace_period` (Mesos: 5 s): how long a
/// stopping executor may take before the agent kills it. Long enough for
/// pods with Kubernetes' default 30 s grace period to stop gracefully on
/// Ctrl-C; longer grace periods are cut short there.
pub const EXECUTOR_SHUTDOWN_GRACE: Duration = Duration::from_secs(35);

/// How often readiness is polled while starting.
const READY_POLL: Duration = Duration::from_millis(200);

/// Where everything lives inside the data dir.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The data dir, absolute.
    pub root: PathBuf,
}

impl Layout {
    /// API server store and its CA.
    pub fn apiserver(&self) -> PathBuf {
        self.root.join("apiserver")
    }
    /// The user's kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
    /// The API server's CA certificate, for the executors.
    pub fn ca_file(&self) -> PathBuf {
        self.root.join("ca.crt")
    }
    /// The executors' bootstrap kubeconfig (a bootstrap token; mode 0600).
    pub fn bootstrap_kubeconfig(&self) -> PathBuf {
        self.root.join("bootstrap-kubeconfig")
    }
    /// The framework's Mesos secret (mode 0600).
    pub fn mesos_secret(&self) -> PathBuf {
        self.root.join("mesos-secret")
    }
    /// Work dir (sandboxes, checkpoints) of agent `index`.
    pub fn agent_work_dir(&self, index: usize) -> PathBuf {
        self.root.join("agents").join(index.to_string())
    }
    /// The state root (pod sandboxes, container logs) of the executors of
    /// agent `index`. One per agent: an executor removes the sandboxes in
    /// its root that it does not run (orphans of an earlier executor), so
    /// agents must not share one.
    pub fn executor_root(&self, index: usize) -> PathBuf {
        self.agent_work_dir(index).join("kube-mesos")
    }
}

/// Runs the cluster until `shutdown` drains (stop gracefully) or forces
/// (exit now).
pub async fn run(plan: LocalPlan, shutdown: Shutdown) -> Result<()> {
    let layout = prepare_data_dir(&plan.data_dir)?;
    let mut state = LocalState::load_or_fresh(&layout.root)?;

    // Bind everything first: a busy port fails before anything started.
    let api_listener = bind("the API server", plan.api_port, state.api_port).await?;
    let mesos_listener = bind("the Mesos master", plan.mesos_port, state.mesos_port).await?;
    let framework_listener = bind("the framework endpoint", 0, state.framework_port).await?;
    let mut agent_listeners = Vec::new();
    for spec in &plan.agents {
        let remembered = state.agent_ports.get(&spec.index).copied().unwrap_or(0);
        agent_listeners.push(bind("an agent", 0, remembered).await?);
    }
    state.api_port = port_of(&api_listener);
    state.mesos_port = port_of(&mesos_listener);
    state.framework_port = port_of(&framework_listener);
    for (spec, listener) in plan.agents.iter().zip(&agent_listeners) {
        state.agent_ports.insert(spec.index, port_of(listener));
    }
    state.save(&layout.root)?;

    // The API server, the kubeconfig and the CA the executors trust. The
    // admin token is the user's (kubectl); the framework has its
    // ServiceAccount's token, bound by packaging/kubernetes/; each executor
    // bootstraps its node's certificate with a bootstrap token.
    let mut api_config = ApiServerConfig::new(layout.apiserver(), state.token.clone());
    api_config.tokens = vec![StaticToken {
        token: state.framework_token.clone(),
        user: UserInfo::service_account(rbac::NAMESPACE, rbac::FRAMEWORK_ACCOUNT),
    }];
    let api = ApiServer::start(api_config, api_listener)
        .await
        .map_err(LocalError::ApiServerFailed)?;
    let kubeconfig_path = layout.kubeconfig();
    apiserver::write_kubeconfig(
        &kubeconfig_path,
        &api.url(),
        &state.token,
        Some(api.ca_pem()),
    )
    .map_err(|source| LocalError::KubeconfigWriteFailed {
        path: kubeconfig_path.clone(),
        source,
    })?;
    write_private(&layout.ca_file(), api.ca_pem().as_bytes()).map_err(|source| {
        LocalError::KubeconfigWriteFailed {
            path: layout.ca_file(),
            source,
        }
    })?;
    let kube = kube_mesos_framework::kube::client_from_yaml(&api.kubeconfig())
        .await
        .map_err(|e| LocalError::KubeClientFailed(Box::new(e)))?;
    rbac::apply(&kube).await?;
    rbac::adopt_framework_id(&kube).await;
    let previous = std::mem::take(&mut state.bootstrap_token_id);
    let bootstrap = rbac::mint_bootstrap_token(&kube, &previous).await?;
    state.bootstrap_token_id = bootstrap.id.clone();
    state.save(&layout.root)?;
    bootstrap
        .write_kubeconfig(
            &layout.bootstrap_kubeconfig(),
            &api.url(),
            &layout.ca_file(),
        )
        .map_err(|source| LocalError::KubeconfigWriteFailed {
            path: layout.bootstrap_kubeconfig(),
            source,
        })?;
    let framework_kube = kube_mesos_framework::kube::client_from_yaml(&apiserver::kubeconfig_yaml(
        &api.url(),
        &state.framework_token,
        Some(api.ca_pem()),
    ))
    .await
    .map_err(|e| LocalError::KubeClientFailed(Box::new(e)))?;

    // The Mesos master and its agents.
    let (master_stop, master_stopped) = oneshot::channel::<()>();
    write_private(&layout.mesos_secret(), state.mesos_secret.as_bytes()).map_err(|source| {
        LocalError::KubeconfigWriteFailed {
            path: layout.mesos_secret(),
            source,
        }
    })?;
    let master = master::start(mesos_listener, master_config(&state), async {
        let _ = master_stopped.await;
    })
    .await
    .map_err(LocalError::MasterFailed)?;
    let mut agents = Vec::new();
    for (spec, listener) in plan.agents.iter().zip(agent_listeners) {
        let config = agent_config(spec, &layout)?;
        let agent = AgentHandle::start(config, listener, master.link(), std::future::pending())
            .await
            .map_err(|source| LocalError::AgentFailed {
                index: spec.index,
                source,
            })?;
        agents.push(agent);
    }

    // The framework, with a child shutdown so that we also decide when it
    // drains (before the agents stop); forcing the cluster forces it.
    let framework_config = framework_config(&plan, &layout, &master)?;
    let framework_http =
        framework_listener
            .local_addr()
            .map_err(|source| LocalError::BindFailed {
                what: "the framework endpoint",
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                source,
            })?;
    let framework_shutdown = shutdown.child();
    let mut framework = tokio::spawn(framework_run::run(
        framework_config,
        framework_kube,
        framework_listener,
        framework_shutdown.clone(),
    ));

    println!("kube-mesos local: data dir {}", layout.root.display());
    println!("runtime: {}", runtime_note(&plan));
    println!("kubeconfig: {}", kubeconfig_path.display());
    println!("api server: {}", api.url());
    println!("mesos master: {}", master.url());
    println!("status page: http://{framework_http}/");
    for (spec, agent) in plan.agents.iter().zip(&agents) {
        println!(
            "agent: {} (executor API {}, resources {}{}{})",
            spec.hostname,
            agent.addr(),
            spec.resources,
            if spec.attributes.is_empty() {
                ""
            } else {
                ", attributes "
            },
            spec.attributes
        );
    }

    // Wait until a pod can be scheduled, or a stop, or a failure.
    let mut outcome: Result<()> = Ok(());
    let ready = tokio::select! {
        r = wait_ready(&agents, &plan.agents, &kube, framework_http) => r,
        _ = shutdown.draining() => false,
        r = &mut framework => {
            outcome = framework_stopped(r, &shutdown);
            false
        }
    };
    if ready {
        println!("{READY_LINE}");
        println!(
            "  export KUBECONFIG={}\n  kubectl apply -f examples/hello.yaml",
            kubeconfig_path.display()
        );
        tokio::select! {
            _ = shutdown.draining() => {}
            r = &mut framework => outcome = framework_stopped(r, &shutdown),
        }
    }

    println!("kube-mesos local: stopping (a second Ctrl-C exits at once)");
    let stop = stop(
        framework,
        framework_shutdown,
        agents,
        master,
        master_stop,
        api,
    );
    tokio::select! {
        r = stop => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "stopping did not finish cleanly");
            }
        }
        _ = shutdown.forced() => return Err(LocalError::ForcedExit),
        _ = tokio::time::sleep(STOP_DEADLINE) => return Err(LocalError::ForcedExit),
    }
    println!("kube-mesos local: stopped");
    outcome
}

/// Reverse order: the framework drains (no TEARDOWN), the agents shut
/// their executors down (pods stop gracefully while the API server still
/// takes their status), then the master and the API server stop.
async fn stop(
    framework: JoinHandle<std::result::Result<(), RunError>>,
    framework_shutdown: Shutdown,
    agents: Vec<AgentHandle>,
    master: MasterHandle,
    master_stop: oneshot::Sender<()>,
    api: ApiServer,
) -> Result<()> {
    framework_shutdown.drain();
    if !framework.is_finished() {
        match framework.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the framework stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "the framework task failed"),
        }
    }
    for (index, agent) in agents.into_iter().enumerate() {
        agent
            .shutdown()
            .await
            .map_err(|source| LocalError::AgentFailed { index, source })?;
    }
    let _ = master_stop.send(());
    master.join().await.map_err(LocalError::MasterFailed)?;
    api.shutdown().await.map_err(LocalError::ApiServerFailed)?;
    Ok(())
}

/// The outcome of a framework that ended before the stop sequence awaited
/// it. Its shutdown is a child of the cluster's, so a signal drains both at
/// once and the framework may finish its drain before the select above sees
/// the signal: a clean end while draining is the stop, not a failure.
fn framework_stopped(
    r: std::result::Result<std::result::Result<(), RunError>, tokio::task::JoinError>,
    shutdown: &Shutdown,
) -> Result<()> {
    match r {
        Ok(Ok(())) if shutdown.is_draining() => Ok(()),
        r => Err(framework_ended(r)),
    }
}

fn framework_ended(
    r: std::result::Result<std::result::Result<(), RunError>, tokio::task::JoinError>,
) -> LocalError {
    match r {
        Ok(Err(e)) => LocalError::FrameworkFailed(e),
        Ok(Ok(())) => LocalError::FrameworkFailed(RunError::ForcedExit),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => LocalError::FrameworkFailed(RunError::ForcedExit),
    }
}

/// Creates the data dir and makes its path absolute: executors run in
/// their sandboxes and get paths inside it.
pub fn prepare_data_dir(path: &Path) -> Result<Layout> {
    let io = |source| LocalError::DataDirFailed {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io)?;
    let root = std::fs::canonicalize(path).map_err(io)?;
    Ok(Layout { root })
}

/// Takes `<data-dir>/local.lock` for as long as the returned file lives,
/// so two `kube-mesos local` never share one store and one set of agent
/// checkpoints. The lock is the kernel's (flock): a crashed process
/// releases it.
pub fn lock_data_dir(layout: &Layout) -> Result<std::fs::File> {
    let path = layout.root.join("local.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| LocalError::DataDirFailed {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LocalError::DataDirInUse {
            path: layout.root.clone(),
        }),
        Err(std::fs::TryLockError::Error(source)) => {
            Err(LocalError::DataDirFailed { path, source })
        }
    }
}

/// Binds `127.0.0.1:<port>`: the requested port, else the remembered one
/// (falling back to a free one if it is taken now), else a free one.
async fn bind(what: &'static str, requested: u16, remembered: u16) -> Result<TcpListener> {
    let port = port_to_bind(requested, remembered);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if requested == 0 && port != 0 => {
            tracing::warn!(what, port, error = %e, "the remembered port is taken; picking another (executors still running from before will not find it)");
            let any = SocketAddr::from(([127, 0, 0, 1], 0));
            TcpListener::bind(any)
                .await
                .map_err(|source| LocalError::BindFailed {
                    what,
                    addr: any,
                    source,
                })
        }
        Err(source) => Err(LocalError::BindFailed { what, addr, source }),
    }
}

fn port_of(listener: &TcpListener) -> u16 {
    listener.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// The master: Mesos defaults, except a shorter allocation interval so a
/// new pod is offered resources quickly on a one-machine cluster.
/// Frameworks authenticate (`--authenticate_http_frameworks`): the
/// framework's principal and secret are the only credentials.
fn master_config(state: &LocalState) -> MasterConfig {
    let credentials = [(MESOS_PRINCIPAL.to_string(), state.mesos_secret.clone())]
        .into_iter()
        .collect();
    MasterConfig {
        hostname: "localhost".into(),
        allocation_interval: Duration::from_millis(500),
        framework_credentials: Some(credentials),
        ..MasterConfig::default()
    }
}

fn agent_config(spec: &AgentSpec, layout: &Layout) -> Result<AgentConfig> {
    let invalid = |source| LocalError::AgentConfigInvalid {
        index: spec.index,
        source,
    };
    let mut config = AgentConfig::new(spec.hostname.clone(), layout.agent_work_dir(spec.index))
        .with_resources(&spec.resources)
        .map_err(invalid)?;
    config.executor_shutdown_grace_period = EXECUTOR_SHUTDOWN_GRACE;
    // Per-agent executor settings travel as the agent's
    // --executor_environment_variables; the framework's executor env is
    // the same for every agent.
    config.executor_environment = vec![(
        "KUBE_MESOS_ROOT_DIR".into(),
        layout.executor_root(spec.index).display().to_string(),
    )];
    if !spec.attributes.is_empty() {
        config = config.with_attributes(&spec.attributes).map_err(invalid)?;
    }
    Ok(config)
}

/// The framework as `kube-mesos local` runs it: one replica (no election),
/// also scheduling `default-scheduler` pods (no kube-scheduler runs here),
/// and this binary as the executor, given what it needs to reach the API
/// server and to serve `kubectl logs`.
fn framework_config(
    plan: &LocalPlan,
    layout: &Layout,
    master: &MasterHandle,
) -> Result<FrameworkConfig> {
    let master_url = url::Url::parse(&master.url()).map_err(|source| {
        LocalError::FrameworkConfigInvalid(
            kube_mesos_framework::config::ConfigError::MasterUrlInvalid {
                url: master.url(),
                source,
            },
        )
    })?;
    let exe = std::env::current_exe().map_err(LocalError::CurrentExeFailed)?;
    let exe_name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kube-mesos".into());
    let mut config = FrameworkConfig::new(vec![master_url]);
    config.hostname = Some("localhost".into());
    config.namespace = rbac::NAMESPACE.into();
    config.mesos_principal = Some(MESOS_PRINCIPAL.into());
    config.mesos_secret_file = Some(layout.mesos_secret());
    config.also_default_scheduler = true;
    config.leader_election.enabled = false;
    config.batch_window = Duration::from_millis(250);
    config.executor.uris = vec![exe.display().to_string()];
    config.executor.command = format!("./{} executor", shell_quote(&exe_name));
    let env = &mut config.executor.env;
    // Only a path: the bootstrap credential is a file on the agents' host
    // (here, the data dir), never part of the ExecutorInfo Mesos shows.
    env.insert(
        "KUBE_MESOS_BOOTSTRAP_KUBECONFIG".into(),
        layout.bootstrap_kubeconfig().display().to_string(),
    );
    // Who may call the executors' kubelet endpoints: client certificates
    // of the API server's CA (its kubelet client's, authorized there).
    env.insert(
        "KUBE_MESOS_KUBELET_CLIENT_CA_FILE".into(),
        layout.ca_file().display().to_string(),
    );
    env.insert("KUBE_MESOS_KUBELET_ADDRESS".into(), "127.0.0.1".into());
    env.insert("KUBE_MESOS_NODE_IP".into(), "127.0.0.1".into());
    env.insert("KUBE_MESOS_RUNTIME".into(), plan.runtime.as_str().into());
    if plan.runtime == LocalRuntime::Cri {
        env.insert(
            "KUBE_MESOS_CRI_SOCKET".into(),
            plan.cri_socket.display().to_string(),
        );
    }
    Ok(config)
}

/// Single-quotes `s` for `/bin/sh` unless it is plainly safe.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn runtime_note(plan: &LocalPlan) -> String {
    match plan.runtime {
        LocalRuntime::Process => "process (containers run as host processes in their pod's \
                                  sandbox directory: no images, no isolation)"
            .into(),
        LocalRuntime::Cri => format!("cri (containerd at {})", plan.cri_socket.display()),
    }
}

/// Ready = every agent registered, the framework subscribed (its /readyz
/// answers 200) and every agent's Node exists.
async fn wait_ready(
    agents: &[AgentHandle],
    specs: &[AgentSpec],
    kube: &kube::Client,
    framework_http: SocketAddr,
) -> bool {
    for agent in agents {
        if let Err(e) = agent.registered().await {
            tracing::error!(error = %e, "an agent stopped before it registered");
            return std::future::pending().await;
        }
    }
    tracing::info!("agents registered");
    println!(
        "{PROGRESS}{} Mesos agent(s) registered with the master",
        agents.len()
    );
    let started = tokio::time::Instant::now();
    let mut warned = false;
    loop {
        if probe::get(framework_http, "/readyz")
            .await
            .map(|(code, _)| code)
            == Some(200)
        {
            break;
        }
        warn_slow(
            &mut warned,
            started,
            "the framework has not subscribed to Mesos yet",
        );
        tokio::time::sleep(READY_POLL).await;
    }
    tracing::info!("framework subscribed");
    println!("{PROGRESS}framework subscribed to the Mesos master");
    let nodes: kube::Api<Node> = kube::Api::all(kube.clone());
    for spec in specs {
        loop {
            if let Ok(Some(_)) = nodes.get_opt(&spec.hostname).await {
                break;
            }
            warn_slow(&mut warned, started, "the agents' Nodes are not there yet");
            tokio::time::sleep(READY_POLL).await;
        }
    }
    println!("{PROGRESS}Nodes registered");
    true
}

fn warn_slow(warned: &mut bool, started: tokio::time::Instant, what: &str) {
    if !*warned && started.elapsed() > Duration::from_secs(60) {
        *warned = true;
        tracing::warn!("still not ready after 60 s: {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framework_that_drained_with_the_cluster_is_no_failure() {
        let shutdown = Shutdown::new();
        assert!(
            framework_stopped(Ok(Ok(())), &shutdown).is_err(),
            "ending on its own is"
        );
        shutdown.drain();
        assert!(framework_stopped(Ok(Ok(())), &shutdown).is_ok());
        assert!(framework_stopped(Ok(Err(RunError::ForcedExit)), &shutdown).is_err());
    }

    #[test]
    fn only_unsafe_names_are_quoted() {
        assert_eq!(shell_quote("kube-mesos"), "kube-mesos");
        assert_eq!(shell_quote("my exe"), "'my exe'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_data_dir_is_used_by_one_local_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let layout = prepare_data_dir(dir.path()).unwrap();
        let held = lock_data_dir(&layout).unwrap();
        assert!(matches!(
            lock_data_dir(&layout),
            Err(LocalError::DataDirInUse { .. })
        ));
        drop(held);
        assert!(lock_data_dir(&layout).is_ok());
    }

    #[test]
    fn the_data_dir_is_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let layout = prepare_data_dir(&dir.path().join("a/../b")).unwrap();
        assert!(layout.root.is_absolute());
        assert!(layout.root.ends_with("b"));
        assert_eq!(layout.agent_work_dir(1), layout.root.join("agents/1"));
        assert_eq!(
            layout.executor_root(1),
            layout.root.join("agents/1/kube-mesos")
        );
    }

    #[tokio::test]
    async fn a_remembered_port_that_is_taken_falls_back_to_a_free_one() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = port_of(&taken);
        let other = bind("test", 0, port).await.unwrap();
        assert_ne!(port_of(&other), port);
        assert!(matches!(
            bind("test", port, 0).await,
            Err(LocalError::BindFailed { .. })
        ));
    }
}

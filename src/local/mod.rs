//! `kube-mesos local`: a whole kube-mesos cluster on one machine in one
//! command, for a newcomer's first five minutes and for the end-to-end
//! tests.
//!
//! It wires the parts that exist anyway — the devcluster API server and
//! Mesos master/agents, the framework's run loop, and this binary as the
//! executor — rather than offering a separate "lite" mode, so what works
//! here is what runs against a real Mesos and a real kube-apiserver.
//!
//! Layout: [`args`] (flags → [`args::LocalPlan`], pure), [`state`] (ports and
//! tokens remembered in the data dir), [`cluster`] (the async shell:
//! start, readiness, stop), [`lifecycle`] (`up`, `down`, `status`,
//! `delete`: the cluster as a background service), [`instance`] (lock, pid
//! and saved flags of a data dir), [`kubeconfig`] (the context merged into
//! the user's kubeconfig), [`probe`] (HTTP probes), [`rbac`] (the
//! packaged RBAC, loaded at start), [`error`].

pub mod args;
pub mod cluster;
pub mod error;
pub mod instance;
pub mod kubeconfig;
pub mod lifecycle;
pub mod probe;
pub mod rbac;
pub mod state;

pub use args::LocalArgs;
pub use error::{LocalError, Result};

/// Runs `kube-mesos local` (in the foreground, or one of its lifecycle
/// subcommands); returns the process exit code.
pub fn run(args: LocalArgs) -> Result<i32> {
    match args.action {
        None => foreground(args.flags).map(|()| 0),
        Some(args::LocalAction::Up(a)) => lifecycle::up(a),
        Some(args::LocalAction::Down(a)) => lifecycle::down(a),
        Some(args::LocalAction::Status(a)) => lifecycle::status(a),
        Some(args::LocalAction::Delete(a)) => lifecycle::delete(a),
    }
}

/// Runs the cluster until SIGINT/SIGTERM (a second one exits at once).
fn foreground(flags: args::ClusterFlags) -> Result<()> {
    let plan = flags.clone().into_plan(args::HostSize::detect())?;
    let layout = cluster::prepare_data_dir(&plan.data_dir)?;
    let _lock = cluster::lock_data_dir(&layout)?;
    instance::write_pid(&layout)?;
    instance::save_flags(&layout, &flags)?;
    let log_path = layout.root.join(LOG_FILE);
    init_logging(&log_path)?;
    println!("logs: {}", log_path.display());
    // reqwest (Mesos client) and kube-rs use rustls with ring, chosen here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The framework runs in this process: its workers give back what a
    // burst left once it SUPPRESSes, as `kube-mesos framework`'s do.
    let runtime = kube_mesos_framework::memory::runtime().map_err(LocalError::RuntimeFailed)?;
    let result = runtime.block_on(async {
        let shutdown = kube_mesos_client::Shutdown::new();
        shutdown
            .on_signals()
            .map_err(LocalError::SignalSetupFailed)?;
        cluster::run(plan, shutdown).await
    });
    // Do not wait for tasks still running (kubectl watches, or everything
    // after a forced exit): exiting is what was asked for.
    runtime.shutdown_background();
    instance::remove_pid(&layout);
    result
}

/// The log file inside the data dir.
pub const LOG_FILE: &str = "kube-mesos-local.log";

/// Logs of every part go to `<data-dir>/kube-mesos-local.log` (appended;
/// `RUST_LOG` filters, default `info`); stderr shows warnings and errors
/// only, and stdout the few lines a user or a script reads (URLs, the
/// ready line), so the terminal stays readable.
fn init_logging(path: &std::path::Path) -> Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LocalError::DataDirFailed {
            path: path.to_path_buf(),
            source,
        })?;
    let filter = |default: &str| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .with_filter(filter("info")),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(EnvFilter::new("warn")),
        )
        .try_init();
    Ok(())
}

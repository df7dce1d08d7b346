//! `kube-mesos`: one binary that serves as the framework scheduler, the Mesos
//! executor, and the all-in-one `local` development cluster. One binary keeps
//! the release a single tarball that the Mesos fetcher can hand to agents.

use clap::{Parser, Subcommand};
use kube_mesos_framework::config::Allocator;
use kube_mesos_framework::memory::allocator;

mod local;

#[global_allocator]
static ALLOCATOR: allocator::Chosen = allocator::Chosen;

#[derive(Parser, Debug)]
#[command(
    name = "kube-mesos",
    version,
    about = "Run unmodified Kubernetes pods on Apache Mesos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the Mesos framework scheduler that places pods on offers.
    Framework(Box<kube_mesos_framework::config::FrameworkArgs>),
    /// Run the Mesos executor (started by a Mesos agent, not by hand).
    Executor(Box<kube_mesos_executor::config::ExecutorArgs>),
    /// Start a whole cluster on this machine for trying kube-mesos out.
    Local(Box<local::LocalArgs>),
    /// Print the version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("kube-mesos {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Framework(args) => run_framework(*args),
        Command::Executor(args) => run_executor(*args),
        Command::Local(args) => {
            // The framework runs in this process.
            allocator::use_mimalloc();
            match local::run(*args)? {
                0 => Ok(()),
                code => std::process::exit(code),
            }
        }
    }
}

/// `kube-mesos framework`: parse the flags once into a config value, then
/// either print it (`--check-config`) or run the scheduler until a signal.
fn run_framework(args: kube_mesos_framework::config::FrameworkArgs) -> anyhow::Result<()> {
    let check_only = args.check_config;
    let chosen = args.allocator;
    let config = args.into_config()?;
    if check_only {
        println!("{config}");
        return Ok(());
    }
    // Before the runtime starts its threads.
    match chosen {
        Allocator::Mimalloc => allocator::use_mimalloc(),
        Allocator::Glibc => kube_mesos_framework::memory::one_arena(),
    }
    init_logging(config.log_format);
    tracing::info!(allocator = ?chosen, "memory allocator");
    let runtime = kube_mesos_framework::memory::runtime()?;
    runtime.block_on(kube_mesos_framework::run::run_until_signal(config))?;
    Ok(())
}

/// `kube-mesos executor`: the Mesos side comes from the agent's `MESOS_*`
/// environment, everything else from flags / `KUBE_MESOS_*` variables. The
/// first SIGTERM or SIGINT stops the pods gracefully, a second one exits at
/// once.
fn run_executor(args: kube_mesos_executor::config::ExecutorArgs) -> anyhow::Result<()> {
    use kube_mesos_executor::config::LogFormat;
    let config = args.into_config()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    let env = kube_mesos_executor::mesos::ExecutorEnv::from_vars(std::env::vars())?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let shutdown = kube_mesos_client::Shutdown::new();
        shutdown.on_signals()?;
        let service = kube_mesos_executor::service::ExecutorService::new(config, env).await?;
        service.run(shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })
}

fn init_logging(format: kube_mesos_framework::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        kube_mesos_framework::config::LogFormat::Json => builder.json().try_init(),
        kube_mesos_framework::config::LogFormat::Text => builder.try_init(),
    };
}

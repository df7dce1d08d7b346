//! `kube-mesos`: one binary that serves as the framework scheduler, the Mesos
//! executor, and the all-in-one `local` development cluster. One binary keeps
//! the release a single tarball that the Mesos fetcher can hand to agents.

use clap::{Parser, Subcommand};

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
    Framework,
    /// Run the Mesos executor (started by a Mesos agent, not by hand).
    Executor,
    /// Start a whole cluster on this machine for trying kube-mesos out.
    Local,
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
        other => anyhow::bail!("`kube-mesos {other:?}` is not implemented yet"),
    }
}

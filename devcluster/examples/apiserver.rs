//! Runs the embedded API server in its own process: used by the restart
//! test (which SIGKILLs it) and handy for poking at it with kubectl.
//!
//! Usage: `apiserver <data-dir> <token> [addr]`; prints `listening <addr>`
//! once ready and writes `<data-dir>/kubeconfig`.

use kube_mesos_devcluster::apiserver::{ApiServer, ApiServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let data_dir = args
        .next()
        .ok_or("usage: apiserver <data-dir> <token> [addr]")?;
    let token = args
        .next()
        .ok_or("usage: apiserver <data-dir> <token> [addr]")?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let mut config = ApiServerConfig::new(&data_dir, &token);
    config.kubeconfig_path = Some(std::path::Path::new(&data_dir).join("kubeconfig"));
    let server = ApiServer::start(config, listener).await?;
    println!("listening {}", server.addr());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await?;
    Ok(())
}

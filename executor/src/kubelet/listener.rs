//! Binding the kubelet endpoint to a port the executor owns.
//!
//! The framework gives the executor its port(s) in `ExecutorInfo.resources`
//! (`ports`), so Mesos will not hand them to another task. A process outside
//! Mesos' accounting may still hold one (an agent whose port range overlaps
//! other services, another cluster on the same machine). The Node's
//! `daemonEndpoints.kubeletEndpoint.Port` tells the API server where to
//! proxy `kubectl logs`, so advertising a port we failed to bind sends users
//! to somebody else's server. The rule here: take the first owned port that
//! binds and advertise exactly that one; if none binds, fail with every port
//! named, so the executor exits instead of advertising a lie.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

/// No port the executor owns could be bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "the kubelet endpoint cannot listen on {ip}: every port the executor owns failed to bind ({ports:?}); \
     another process holds them, outside Mesos' port accounting"
)]
pub struct BindError {
    /// The address bound to.
    pub ip: IpAddr,
    /// The ports tried, in order.
    pub ports: Vec<u16>,
    /// The error of the last attempt (`None` when there was no port to try).
    #[source]
    pub source: Option<std::io::Error>,
}

/// Binds `ip` on the first of `ports` that is free and returns the listener
/// with the port it really has (port 0 binds any free port).
pub async fn bind_owned_port(ip: IpAddr, ports: &[u16]) -> Result<(TcpListener, u16), BindError> {
    let mut last = None;
    for &port in ports {
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(listener) => {
                let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
                return Ok((listener, bound));
            }
            Err(error) => {
                tracing::warn!(%ip, port, %error, "kubelet endpoint port unavailable; trying the next port the executor owns");
                last = Some(error);
            }
        }
    }
    Err(BindError {
        ip,
        ports: ports.to_vec(),
        source: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    async fn occupied() -> (TcpListener, u16) {
        let l = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    async fn free_port() -> u16 {
        occupied().await.1
    }

    #[tokio::test]
    async fn an_occupied_port_is_skipped_for_the_next_owned_one() {
        let (_holder, taken) = occupied().await;
        let free = free_port().await;
        let (listener, port) = bind_owned_port(LOOPBACK, &[taken, free]).await.unwrap();
        assert_eq!(port, free);
        assert_eq!(listener.local_addr().unwrap().port(), free);
    }

    #[tokio::test]
    async fn when_every_owned_port_is_taken_the_error_names_them() {
        let (_a, first) = occupied().await;
        let (_b, second) = occupied().await;
        let error = bind_owned_port(LOOPBACK, &[first, second])
            .await
            .unwrap_err();
        assert_eq!(error.ports, vec![first, second]);
        let source = error.source.as_ref().expect("the bind error");
        assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        let text = error.to_string();
        assert!(
            text.contains(&first.to_string()) && text.contains(&second.to_string()),
            "{text}"
        );
    }

    #[tokio::test]
    async fn port_zero_reports_the_port_it_got() {
        let (listener, port) = bind_owned_port(LOOPBACK, &[0]).await.unwrap();
        assert_ne!(port, 0);
        assert_eq!(listener.local_addr().unwrap().port(), port);
    }
}

//! `FrameworkInfo.webui_url`: where the Mesos and DC/OS UIs link the
//! framework's name, i.e. this status page.
//!
//! By default it is the address the framework listens on, with this
//! machine's hostname when it listens on every address. Behind a proxy
//! (DC/OS Admin Router, an ingress) the operator names what browsers reach
//! instead: `--webui-host` and `--webui-port`.

use std::net::{IpAddr, SocketAddr};

/// The URL from the listening address, the framework's hostname and the
/// operator's overrides.
pub fn webui_url(
    listen: SocketAddr,
    hostname: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> String {
    let host = match host.filter(|h| !h.is_empty()) {
        Some(h) => h.to_owned(),
        None if listen.ip().is_unspecified() => hostname.to_owned(),
        None => match listen.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        },
    };
    let port = port.unwrap_or(listen.port());
    format!("http://{host}:{port}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_the_listening_address() {
        let any: SocketAddr = "0.0.0.0:10251".parse().unwrap();
        assert_eq!(webui_url(any, "m1", None, None), "http://m1:10251/");
        let lo: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(webui_url(lo, "m1", None, None), "http://127.0.0.1:4000/");
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(webui_url(v6, "m1", None, None), "http://[::1]:4000/");
        let any6: SocketAddr = "[::]:4000".parse().unwrap();
        assert_eq!(webui_url(any6, "m1", None, None), "http://m1:4000/");
    }

    #[test]
    fn a_proxy_names_host_and_port() {
        let any: SocketAddr = "0.0.0.0:10251".parse().unwrap();
        assert_eq!(
            webui_url(
                any,
                "m1",
                Some("kube-mesos.marathon.l4lb.thisdcos.directory"),
                Some(80)
            ),
            "http://kube-mesos.marathon.l4lb.thisdcos.directory:80/"
        );
        assert_eq!(
            webui_url(any, "m1", Some(""), Some(8080)),
            "http://m1:8080/"
        );
    }
}

//! Where the agent's executor API is, found the way Mesos' own executor
//! library finds it (apache/mesos 1.11 `src/executor/executor.cpp`,
//! `MesosProcess::initialize`).
//!
//! The library does **not** use `MESOS_AGENT_ENDPOINT`. It parses the
//! agent's libprocess PID from `MESOS_SLAVE_PID` (`slave(1)@10.0.0.5:5051`,
//! required: it exits without it) and posts to
//! `<scheme>://<ip>:<port>/<pid id>/api/v1/executor`, i.e.
//! `/slave(1)/api/v1/executor`. The bare `/api/v1/executor` only reaches the
//! agent when the agent is the process's libprocess *delegate* (a standalone
//! `mesos-agent`); in a process that also runs a master (`mesos-local`,
//! tests) it reaches the master, which answers `400 Failed to parse body
//! into Call protobuf`.
//!
//! The scheme is `https` when libprocess SSL is enabled in the executor's
//! environment (`LIBPROCESS_SSL_ENABLED`, or the deprecated `SSL_ENABLED`;
//! the agent passes its environment on), else `http`. The TLS settings
//! follow libprocess' `openssl.cpp`: server certificates are verified only
//! with `LIBPROCESS_SSL_VERIFY_SERVER_CERT` (or its legacy name
//! `VERIFY_CERT`, or `REQUIRE_CLIENT_CERT`/`REQUIRE_CERT`, which imply it),
//! against `LIBPROCESS_SSL_CA_FILE`/`CA_DIR` or else the system's roots; the
//! `CERT_FILE`/`KEY_FILE` pair is presented as the client certificate.
//!
//! Deliberate differences: a PID host that is a name is left to the HTTP
//! client to resolve (libprocess resolves it itself, to IPv4); `[v6]:port`
//! is accepted; `MESOS_DOMAIN_SOCKET` (`http+unix`, agent flag
//! `--http_executor_domain_sockets`) is not spoken: the executor reports it
//! and uses the agent's TCP address, which the agent serves as well.

use std::collections::HashMap;
use std::path::PathBuf;

use url::Url;

use super::env::EnvError;

/// Path of the executor API below a libprocess process.
pub const EXECUTOR_API_PATH: &str = "api/v1/executor";

/// A libprocess PID: `<id>@<host>:<port>` (`slave(1)@10.0.0.5:5051`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPid {
    /// The process ID (`slave(1)`), the first path segment of its routes.
    pub id: String,
    /// IP address or hostname (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl AgentPid {
    /// Parses `<id>@<host>:<port>` as libprocess' `UPID` does; `None` when
    /// the id is empty, the port is missing or 0, or the host is empty or
    /// the unspecified address (libprocess' `UPID::operator bool`).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let (id, address) = value.split_once('@')?;
        let (host, port) = match address.strip_prefix('[') {
            Some(v6) => {
                let (host, rest) = v6.split_once(']')?;
                (host, rest.strip_prefix(':')?)
            }
            None => address.split_once(':')?,
        };
        let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
        let unspecified = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if id.is_empty() || host.is_empty() || unspecified || id.contains(['/', '?', '#']) {
            return None;
        }
        Some(Self {
            id: id.to_string(),
            host: host.to_string(),
            port,
        })
    }

    /// The executor API URL: `<scheme>://<host>:<port>/<id>/api/v1/executor`.
    pub fn executor_api_url(&self, https: bool) -> Option<Url> {
        let scheme = if https { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let mut url = Url::parse(&format!("{scheme}://{host}:{}/", self.port)).ok()?;
        url.path_segments_mut()
            .ok()?
            .push(&self.id)
            .extend(EXECUTOR_API_PATH.split('/'));
        Some(url)
    }
}

/// TLS to the agent, from the libprocess SSL variables (the shared client's
/// settings, under the name this module's readers know).
pub use kube_mesos_client::TlsSettings as AgentTls;

/// The libprocess SSL flags: names after the prefix are matched without
/// case (`LIBPROCESS_SSL_enabled` works too), `LIBPROCESS_SSL_*` wins over
/// the deprecated `SSL_*`.
struct SslFlags(HashMap<String, String>);

impl SslFlags {
    fn from_vars(vars: &HashMap<String, String>) -> Self {
        let mut flags = HashMap::new();
        // Deprecated prefix first, so the current one overwrites it.
        for prefix in ["SSL_", "LIBPROCESS_SSL_"] {
            for (key, value) in vars {
                if let Some(name) = key.strip_prefix(prefix) {
                    flags.insert(name.to_ascii_lowercase(), value.clone());
                }
            }
        }
        Self(flags)
    }

    /// A stout boolean flag: unset is `false`; empty, `true` or `1` is
    /// `true`; `false` or `0` is `false`; anything else is an error (the
    /// library exits on it).
    fn boolean(&self, name: &'static str, variable: &'static str) -> Result<bool, EnvError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(false),
            Some("" | "true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(EnvError::InvalidBool {
                name: variable,
                value: other.to_string(),
            }),
        }
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.0
            .get(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }
}

/// The agent's TLS settings, `None` when libprocess SSL is off (`http`).
pub fn agent_tls(vars: &HashMap<String, String>) -> Result<Option<AgentTls>, EnvError> {
    let flags = SslFlags::from_vars(vars);
    if !flags.boolean("enabled", "LIBPROCESS_SSL_ENABLED")? {
        return Ok(None);
    }
    let mut verify = false;
    for (name, variable) in [
        ("verify_server_cert", "LIBPROCESS_SSL_VERIFY_SERVER_CERT"),
        ("verify_cert", "LIBPROCESS_SSL_VERIFY_CERT"),
        ("require_client_cert", "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT"),
        ("require_cert", "LIBPROCESS_SSL_REQUIRE_CERT"),
    ] {
        verify |= flags.boolean(name, variable)?;
    }
    Ok(Some(AgentTls {
        verify_server_cert: verify,
        ca_file: flags.path("ca_file"),
        ca_dir: flags.path("ca_dir"),
        client_identity: flags.path("cert_file").zip(flags.path("key_file")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pid_gives_the_process_path() {
        let pid = AgentPid::parse("slave(1)@10.0.0.5:5051").unwrap();
        assert_eq!(
            pid,
            AgentPid {
                id: "slave(1)".into(),
                host: "10.0.0.5".into(),
                port: 5051
            }
        );
        assert_eq!(
            pid.executor_api_url(false).unwrap().as_str(),
            "http://10.0.0.5:5051/slave(1)/api/v1/executor"
        );
        assert_eq!(
            pid.executor_api_url(true).unwrap().as_str(),
            "https://10.0.0.5:5051/slave(1)/api/v1/executor"
        );
        let v6 = AgentPid::parse("slave(2)@[::1]:5051").unwrap();
        assert_eq!(
            v6.executor_api_url(false).unwrap().as_str(),
            "http://[::1]:5051/slave(2)/api/v1/executor"
        );
        let named = AgentPid::parse("slave(1)@agent.example:5051").unwrap();
        assert_eq!(named.host, "agent.example");
    }

    #[test]
    fn malformed_pids_are_refused() {
        for bad in [
            "",
            "10.0.0.5:5051",
            "@10.0.0.5:5051",
            "slave(1)@10.0.0.5",
            "slave(1)@10.0.0.5:0",
            "slave(1)@10.0.0.5:x",
            "slave(1)@:5051",
            "slave(1)@0.0.0.0:5051",
            "a/b@10.0.0.5:5051",
        ] {
            assert_eq!(AgentPid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ssl_is_off_unless_enabled() {
        assert_eq!(agent_tls(&vars(&[])).unwrap(), None);
        assert_eq!(
            agent_tls(&vars(&[("LIBPROCESS_SSL_ENABLED", "false")])).unwrap(),
            None
        );
        assert_eq!(
            agent_tls(&vars(&[("LIBPROCESS_SSL_ENABLED", "0")])).unwrap(),
            None
        );
        for on in ["true", "1", ""] {
            let tls = agent_tls(&vars(&[("LIBPROCESS_SSL_ENABLED", on)])).unwrap();
            assert_eq!(tls, Some(AgentTls::default()), "{on:?}");
        }
    }

    #[test]
    fn ssl_flags_follow_libprocess() {
        // The deprecated SSL_ prefix counts, and LIBPROCESS_SSL_ wins.
        assert!(agent_tls(&vars(&[("SSL_ENABLED", "1")])).unwrap().is_some());
        assert!(agent_tls(&vars(&[
            ("SSL_ENABLED", "1"),
            ("LIBPROCESS_SSL_ENABLED", "false")
        ]))
        .unwrap()
        .is_none());
        // Names are matched without case.
        assert!(agent_tls(&vars(&[("LIBPROCESS_SSL_enabled", "true")]))
            .unwrap()
            .is_some());
        // Verification: off by default, on by any of its four names.
        for name in [
            "LIBPROCESS_SSL_VERIFY_SERVER_CERT",
            "LIBPROCESS_SSL_VERIFY_CERT",
            "LIBPROCESS_SSL_REQUIRE_CLIENT_CERT",
            "SSL_REQUIRE_CERT",
        ] {
            let tls = agent_tls(&vars(&[("LIBPROCESS_SSL_ENABLED", "1"), (name, "true")]))
                .unwrap()
                .unwrap();
            assert!(tls.verify_server_cert, "{name}");
        }
        let tls = agent_tls(&vars(&[
            ("LIBPROCESS_SSL_ENABLED", "1"),
            ("LIBPROCESS_SSL_CA_FILE", "/etc/ca.pem"),
            ("LIBPROCESS_SSL_CERT_FILE", "/etc/cert.pem"),
            ("LIBPROCESS_SSL_KEY_FILE", "/etc/key.pem"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(tls.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            tls.client_identity,
            Some((
                PathBuf::from("/etc/cert.pem"),
                PathBuf::from("/etc/key.pem")
            ))
        );
        let error = agent_tls(&vars(&[("LIBPROCESS_SSL_ENABLED", "yes")])).unwrap_err();
        assert!(
            error.to_string().contains("LIBPROCESS_SSL_ENABLED"),
            "{error}"
        );
    }
}

//! The executor's own configuration: what the Mesos agent's `MESOS_*`
//! environment does not say.
//!
//! The framework puts these into `ExecutorInfo.command.environment` (its
//! `--executor-env KEY=VALUE` flag), so every setting has a `KUBE_MESOS_*`
//! variable as well as a flag. clap parses flags and variables exactly once
//! into [`ExecutorArgs`]; [`ExecutorArgs::into_config`] validates them into
//! the [`ExecutorConfig`] value that the service is built from. Tests build
//! the value directly and never touch the process environment.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

/// A configuration that cannot be used; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// clap refused the arguments.
    #[error(transparent)]
    ArgsInvalid(#[from] clap::Error),
    /// More than one way to reach Kubernetes was given.
    #[error(
        "give only one of --bootstrap-kubeconfig, --kubeconfig, --kubeconfig-data and --api-server"
    )]
    CredentialsAmbiguous,
    /// `--api-server` without a token, or a token without a server.
    #[error("--api-server and --token (KUBE_MESOS_API_SERVER, KUBE_MESOS_TOKEN) go together")]
    CredentialsIncomplete,
    /// `--kubeconfig-data` is not base64.
    #[error("--kubeconfig-data (KUBE_MESOS_KUBECONFIG_DATA) is not base64")]
    KubeconfigDataInvalid(#[source] base64::DecodeError),
    /// Only one of the kubelet serving certificate and key was given.
    #[error("--kubelet-tls-cert-file and --kubelet-tls-key-file go together")]
    KubeletTlsIncomplete,
    /// The kubelet endpoint accepts nobody.
    #[error("the kubelet endpoint needs --kubelet-token or --kubelet-client-ca-file, or --kubelet-anonymous-auth")]
    KubeletAuthMissing,
}

/// How the executor reaches the Kubernetes API.
#[derive(Clone, PartialEq, Eq)]
pub enum KubeCredentials {
    /// A kubeconfig file (`KUBE_MESOS_KUBECONFIG`).
    KubeconfigFile(PathBuf),
    /// A kubeconfig given inline (`KUBE_MESOS_KUBECONFIG_DATA`, base64),
    /// already decoded.
    KubeconfigData(String),
    /// An API server URL and a bearer token (`KUBE_MESOS_API_SERVER`,
    /// `KUBE_MESOS_TOKEN`), optionally a CA file to trust.
    Token {
        /// `https://host:port`.
        server: String,
        /// Bearer token.
        token: String,
        /// CA bundle (PEM) for the server's certificate.
        ca_file: Option<PathBuf>,
    },
    /// Nothing given: kube-rs' inference (`KUBECONFIG`, `~/.kube/config`,
    /// in-cluster service account).
    Infer,
    /// A bootstrap kubeconfig file (`KUBE_MESOS_BOOTSTRAP_KUBECONFIG`) on
    /// the agent host, whose credential may only create and read
    /// CertificateSigningRequests: the executor gets its node's own client
    /// certificate with it (kubelet TLS bootstrapping, see
    /// [`crate::kube::identity`]).
    Bootstrap(PathBuf),
}

impl std::fmt::Debug for KubeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KubeconfigFile(p) => f.debug_tuple("KubeconfigFile").field(p).finish(),
            Self::KubeconfigData(_) => f.write_str("KubeconfigData(<redacted>)"),
            Self::Token {
                server, ca_file, ..
            } => f
                .debug_struct("Token")
                .field("server", server)
                .field("ca_file", ca_file)
                .finish_non_exhaustive(),
            Self::Infer => f.write_str("Infer"),
            Self::Bootstrap(p) => f.debug_tuple("Bootstrap").field(p).finish(),
        }
    }
}

/// Which container runtime runs the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RuntimeKind {
    /// Host processes, no images, no isolation (development default).
    #[default]
    Process,
    /// A CRI runtime (containerd, CRI-O) over its unix socket.
    Cri,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Who may call the kubelet endpoint.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KubeletAuth {
    /// Bearer token the API server presents (its kubelet client token).
    pub token: Option<String>,
    /// CA (PEM file) whose client certificates are accepted.
    pub client_ca_file: Option<PathBuf>,
    /// Accept unauthenticated requests (the kubelet's `--anonymous-auth`;
    /// off unless asked for).
    pub anonymous: bool,
}

impl std::fmt::Debug for KubeletAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("client_ca_file", &self.client_ca_file)
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

/// Everything the executor service needs besides the Mesos environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    /// How to reach Kubernetes.
    pub credentials: KubeCredentials,
    /// The runtime. Default `process`.
    pub runtime: RuntimeKind,
    /// CRI socket for `runtime = cri`. Default
    /// `/run/containerd/containerd.sock`.
    pub cri_socket: PathBuf,
    /// Node name; default the agent's hostname (SUBSCRIBED.agent_info).
    pub node_name: Option<String>,
    /// Node IP (InternalIP, hostIP); default the IP of the agent's
    /// libprocess PID (`MESOS_SLAVE_PID`), else the agent hostname resolved.
    pub node_ip: Option<IpAddr>,
    /// State root (sandboxes of the process runtime, CRI bookkeeping).
    /// Must outlive one executor process so a new one re-adopts pods.
    /// Default `/var/lib/kube-mesos`.
    pub root_dir: PathBuf,
    /// Container log root (kubelet: `/var/log/pods`). Default
    /// `<root_dir>/pod-logs`.
    pub pod_log_dir: PathBuf,
    /// Kubelet endpoint bind address. Default `0.0.0.0`.
    pub kubelet_address: IpAddr,
    /// Kubelet port when the executor has no `ports` resource. Default 10250.
    pub kubelet_port: u16,
    /// Serving certificate and key (PEM files); default self-signed.
    pub kubelet_tls: Option<(PathBuf, PathBuf)>,
    /// Who may call the kubelet endpoint.
    pub kubelet_auth: KubeletAuth,
    /// How often the Node status is checked. Default 10 s (kubelet's
    /// `nodeStatusUpdateFrequency`); it is posted only when it changed or
    /// every 5 minutes (`nodeStatusReportFrequency` with node leases).
    pub node_status_interval: Duration,
    /// How often the node Lease is renewed. Default 10 s (a quarter of its
    /// 40 s duration, as the kubelet).
    pub lease_renew_interval: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Cluster DNS server IPs for `dnsPolicy: ClusterFirst` pods (kubelet
    /// `--cluster-dns`). Default none: pods keep the node's resolv.conf.
    pub cluster_dns: Vec<IpAddr>,
    /// Cluster domain (kubelet `--cluster-domain`). Default `cluster.local`.
    pub cluster_domain: String,
    /// How often pods that are gone from the API server (and not run by
    /// this executor) get their sandboxes, containers and logs removed.
    /// Default 60 s (the kubelet's housekeeping runs every 2 s; once a
    /// minute is plenty for leaks, and costs one pod list).
    pub housekeeping_interval: Duration,
}

impl ExecutorConfig {
    /// Defaults with the given credentials.
    pub fn new(credentials: KubeCredentials) -> Self {
        let root = PathBuf::from("/var/lib/kube-mesos");
        Self {
            credentials,
            runtime: RuntimeKind::Process,
            cri_socket: PathBuf::from("/run/containerd/containerd.sock"),
            node_name: None,
            node_ip: None,
            pod_log_dir: root.join("pod-logs"),
            root_dir: root,
            kubelet_address: IpAddr::from([0, 0, 0, 0]),
            kubelet_port: 10250,
            kubelet_tls: None,
            kubelet_auth: KubeletAuth::default(),
            node_status_interval: Duration::from_secs(10),
            lease_renew_interval: Duration::from_secs(10),
            log_format: LogFormat::Text,
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            housekeeping_interval: Duration::from_secs(60),
        }
    }

    /// The cluster DNS for pods, if any server is configured.
    pub fn cluster_dns(&self) -> Option<crate::runner::spec::ClusterDns> {
        (!self.cluster_dns.is_empty()).then(|| crate::runner::spec::ClusterDns {
            servers: self.cluster_dns.iter().map(ToString::to_string).collect(),
            domain: self.cluster_domain.clone(),
        })
    }

    /// The kubelet endpoint's address for `port`.
    pub fn kubelet_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.kubelet_address, port)
    }
}

/// `kube-mesos executor` flags. The agent starts the executor with its
/// `MESOS_*` environment; everything else comes from these flags or their
/// `KUBE_MESOS_*` variables (set by the framework's `--executor-env`).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kube-mesos executor",
    about = "The kube-mesos Mesos executor (started by a Mesos agent): runs pods like a kubelet",
    after_help = "Kubernetes credentials: one of KUBE_MESOS_BOOTSTRAP_KUBECONFIG (path; the \
node's own certificate is bootstrapped with it, recommended), KUBE_MESOS_KUBECONFIG (path), \
KUBE_MESOS_KUBECONFIG_DATA (base64 kubeconfig) or KUBE_MESOS_API_SERVER + KUBE_MESOS_TOKEN; \
without any, the usual kubeconfig/in-cluster inference is used. \
The Mesos side comes from the agent's MESOS_* environment."
)]
pub struct ExecutorArgs {
    /// Bootstrap kubeconfig on the agent host: its credential (a bootstrap
    /// token) may only create CertificateSigningRequests; the executor
    /// gets its node's client certificate with it and keeps it under
    /// <root-dir>/pki (kubelet TLS bootstrapping).
    #[arg(long, env = "KUBE_MESOS_BOOTSTRAP_KUBECONFIG")]
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// Kubeconfig file for the Kubernetes API.
    #[arg(long, env = "KUBE_MESOS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig content, base64-encoded.
    #[arg(long, env = "KUBE_MESOS_KUBECONFIG_DATA", hide_env_values = true)]
    pub kubeconfig_data: Option<String>,
    /// Kubernetes API server URL (with --token).
    #[arg(long, env = "KUBE_MESOS_API_SERVER")]
    pub api_server: Option<String>,
    /// Bearer token for --api-server.
    #[arg(long, env = "KUBE_MESOS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA bundle (PEM) for --api-server.
    #[arg(long, env = "KUBE_MESOS_API_CA_FILE")]
    pub api_ca_file: Option<PathBuf>,
    /// Container runtime: `process` (host processes, no images, no
    /// isolation) or `cri`.
    #[arg(
        long,
        env = "KUBE_MESOS_RUNTIME",
        value_enum,
        default_value = "process"
    )]
    pub runtime: RuntimeKind,
    /// CRI runtime socket (with --runtime cri).
    #[arg(
        long,
        env = "KUBE_MESOS_CRI_SOCKET",
        default_value = "/run/containerd/containerd.sock"
    )]
    pub cri_socket: PathBuf,
    /// Node name; default the Mesos agent's hostname.
    #[arg(long, env = "KUBE_MESOS_NODE_NAME")]
    pub node_name: Option<String>,
    /// Node IP; default the IP of the agent (MESOS_SLAVE_PID).
    #[arg(long, env = "KUBE_MESOS_NODE_IP")]
    pub node_ip: Option<IpAddr>,
    /// State directory that outlives one executor (pod sandboxes).
    #[arg(
        long,
        env = "KUBE_MESOS_ROOT_DIR",
        default_value = "/var/lib/kube-mesos"
    )]
    pub root_dir: PathBuf,
    /// Container log directory; default <root-dir>/pod-logs.
    #[arg(long, env = "KUBE_MESOS_POD_LOG_DIR")]
    pub pod_log_dir: Option<PathBuf>,
    /// Kubelet endpoint bind address.
    #[arg(long, env = "KUBE_MESOS_KUBELET_ADDRESS", default_value = "0.0.0.0")]
    pub kubelet_address: IpAddr,
    /// Kubelet endpoint port when the executor was given no `ports` resource.
    #[arg(long, env = "KUBE_MESOS_KUBELET_PORT", default_value_t = 10250)]
    pub kubelet_port: u16,
    /// Kubelet serving certificate (PEM); default a self-signed one.
    #[arg(long, env = "KUBE_MESOS_KUBELET_TLS_CERT_FILE")]
    pub kubelet_tls_cert_file: Option<PathBuf>,
    /// Kubelet serving key (PEM).
    #[arg(long, env = "KUBE_MESOS_KUBELET_TLS_KEY_FILE")]
    pub kubelet_tls_key_file: Option<PathBuf>,
    /// Static bearer token accepted by the kubelet endpoint without review
    /// (legacy: set through --executor-env it is a secret in the
    /// ExecutorInfo; prefer --kubelet-client-ca-file, whose callers and
    /// tokens the API server reviews).
    #[arg(long, env = "KUBE_MESOS_KUBELET_TOKEN", hide_env_values = true)]
    pub kubelet_token: Option<String>,
    /// CA (PEM) whose client certificates the kubelet endpoint accepts.
    #[arg(long, env = "KUBE_MESOS_KUBELET_CLIENT_CA_FILE")]
    pub kubelet_client_ca_file: Option<PathBuf>,
    /// Accept unauthenticated kubelet requests (not recommended).
    #[arg(long, env = "KUBE_MESOS_KUBELET_ANONYMOUS_AUTH")]
    pub kubelet_anonymous_auth: bool,
    /// Log format.
    #[arg(
        long,
        env = "KUBE_MESOS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Cluster DNS server IP(s) for `dnsPolicy: ClusterFirst` pods, comma
    /// separated (kubelet `--cluster-dns`); none keeps the node's resolv.conf.
    #[arg(long, env = "KUBE_MESOS_CLUSTER_DNS", value_delimiter = ',')]
    pub cluster_dns: Vec<IpAddr>,
    /// Cluster domain (kubelet `--cluster-domain`).
    #[arg(
        long,
        env = "KUBE_MESOS_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    pub cluster_domain: String,
}

impl ExecutorArgs {
    /// Parses `argv` (program name first) with environment fallbacks taken
    /// from `env` instead of the process environment (for tests).
    pub fn try_parse_with_env<I, T>(
        argv: I,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command();
        let env_args: Vec<(String, String)> = command
            .get_arguments()
            .filter_map(|a| {
                a.get_env()
                    .map(|e| (a.get_id().to_string(), e.to_string_lossy().into_owned()))
            })
            .collect();
        for (id, var) in env_args {
            // clap wants 'static defaults; the few strings of a test parse
            // are leaked.
            let value: Option<&'static str> = env(&var).map(|v| &*Box::leak(v.into_boxed_str()));
            command = command.mut_arg(id, |arg| {
                let arg = arg.env(None::<&str>);
                match value {
                    Some(v) if arg.get_action().takes_values() => arg.default_value(v),
                    Some(v) if v == "true" || v == "1" => arg.default_value("true"),
                    _ => arg,
                }
            });
        }
        let matches = command.try_get_matches_from(argv)?;
        Ok(Self::from_arg_matches(&matches)?)
    }

    /// Validates the flags into an [`ExecutorConfig`].
    pub fn into_config(self) -> Result<ExecutorConfig, ConfigError> {
        use base64::Engine;
        let non_empty = |s: Option<String>| s.filter(|v| !v.is_empty());
        let bootstrap = self
            .bootstrap_kubeconfig
            .filter(|p| !p.as_os_str().is_empty());
        let kubeconfig = self.kubeconfig.filter(|p| !p.as_os_str().is_empty());
        let data = non_empty(self.kubeconfig_data);
        let server = non_empty(self.api_server);
        let token = non_empty(self.token);
        let given = [
            bootstrap.is_some(),
            kubeconfig.is_some(),
            data.is_some(),
            server.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given > 1 {
            return Err(ConfigError::CredentialsAmbiguous);
        }
        let credentials = match (kubeconfig, data, server, token) {
            _ if bootstrap.is_some() => KubeCredentials::Bootstrap(bootstrap.unwrap_or_default()),
            (Some(path), _, _, _) => KubeCredentials::KubeconfigFile(path),
            (_, Some(data), _, _) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(ConfigError::KubeconfigDataInvalid)?;
                KubeCredentials::KubeconfigData(String::from_utf8_lossy(&bytes).into_owned())
            }
            (_, _, Some(server), Some(token)) => KubeCredentials::Token {
                server,
                token,
                ca_file: self.api_ca_file,
            },
            (_, _, Some(_), None) | (_, _, None, Some(_)) => {
                return Err(ConfigError::CredentialsIncomplete)
            }
            (None, None, None, None) => KubeCredentials::Infer,
        };
        let kubelet_tls = match (self.kubelet_tls_cert_file, self.kubelet_tls_key_file) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(ConfigError::KubeletTlsIncomplete),
        };
        let kubelet_auth = KubeletAuth {
            token: non_empty(self.kubelet_token),
            client_ca_file: self.kubelet_client_ca_file,
            anonymous: self.kubelet_anonymous_auth,
        };
        if kubelet_auth.token.is_none()
            && kubelet_auth.client_ca_file.is_none()
            && !kubelet_auth.anonymous
        {
            return Err(ConfigError::KubeletAuthMissing);
        }
        let mut config = ExecutorConfig::new(credentials);
        config.runtime = self.runtime;
        config.cri_socket = self.cri_socket;
        config.node_name = non_empty(self.node_name);
        config.node_ip = self.node_ip;
        config.pod_log_dir = self
            .pod_log_dir
            .unwrap_or_else(|| self.root_dir.join("pod-logs"));
        config.root_dir = self.root_dir;
        config.kubelet_address = self.kubelet_address;
        config.kubelet_port = self.kubelet_port;
        config.kubelet_tls = kubelet_tls;
        config.kubelet_auth = kubelet_auth;
        config.log_format = self.log_format;
        config.cluster_dns = self.cluster_dns;
        config.cluster_domain = self.cluster_domain;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn parse(argv: &[&str], env: &[(&str, &str)]) -> Result<ExecutorConfig, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut full = vec!["executor"];
        full.extend_from_slice(argv);
        ExecutorArgs::try_parse_with_env(full, |k| env.get(k).cloned())?.into_config()
    }

    #[test]
    fn env_fills_in_and_flags_win() {
        let c = parse(
            &["--node-name", "from-flag"],
            &[
                ("KUBE_MESOS_NODE_NAME", "from-env"),
                ("KUBE_MESOS_KUBECONFIG", "/etc/kube.conf"),
                ("KUBE_MESOS_RUNTIME", "cri"),
                ("KUBE_MESOS_KUBELET_TOKEN", "t"),
                ("KUBE_MESOS_ROOT_DIR", "/srv/km"),
            ],
        )
        .unwrap();
        assert_eq!(c.node_name.as_deref(), Some("from-flag"));
        assert_eq!(
            c.credentials,
            KubeCredentials::KubeconfigFile("/etc/kube.conf".into())
        );
        assert_eq!(c.runtime, RuntimeKind::Cri);
        assert_eq!(c.pod_log_dir, PathBuf::from("/srv/km/pod-logs"));
        assert_eq!(c.kubelet_auth.token.as_deref(), Some("t"));
    }

    #[test]
    fn cluster_dns_from_env_or_flag() {
        let c = parse(
            &["--kubelet-anonymous-auth"],
            &[("KUBE_MESOS_CLUSTER_DNS", "10.96.0.10,10.96.0.11")],
        )
        .unwrap();
        let dns = c.cluster_dns().expect("cluster dns");
        assert_eq!(dns.servers, ["10.96.0.10", "10.96.0.11"]);
        assert_eq!(dns.domain, "cluster.local");
        let c = parse(
            &["--kubelet-anonymous-auth", "--cluster-domain", "k.example"],
            &[],
        )
        .unwrap();
        assert!(c.cluster_dns().is_none(), "no servers, node resolv.conf");
    }

    #[test]
    fn credentials_must_be_unambiguous_and_complete() {
        assert!(matches!(
            parse(
                &["--kubelet-anonymous-auth"],
                &[
                    ("KUBE_MESOS_KUBECONFIG", "/a"),
                    ("KUBE_MESOS_API_SERVER", "https://x")
                ]
            ),
            Err(ConfigError::CredentialsAmbiguous)
        ));
        assert!(matches!(
            parse(
                &["--kubelet-anonymous-auth"],
                &[("KUBE_MESOS_API_SERVER", "https://x")]
            ),
            Err(ConfigError::CredentialsIncomplete)
        ));
        let c = parse(
            &["--kubelet-anonymous-auth"],
            &[
                ("KUBE_MESOS_API_SERVER", "https://x"),
                ("KUBE_MESOS_TOKEN", "tok"),
            ],
        )
        .unwrap();
        assert!(
            matches!(c.credentials, KubeCredentials::Token { ref server, .. } if server == "https://x")
        );
        assert!(!format!("{:?}", c.credentials).contains("tok"));
    }

    #[test]
    fn a_bootstrap_kubeconfig_is_a_credential_of_its_own() {
        let c = parse(
            &["--kubelet-anonymous-auth"],
            &[(
                "KUBE_MESOS_BOOTSTRAP_KUBECONFIG",
                "/etc/kube-mesos/bootstrap",
            )],
        )
        .unwrap();
        assert_eq!(
            c.credentials,
            KubeCredentials::Bootstrap("/etc/kube-mesos/bootstrap".into())
        );
        assert!(matches!(
            parse(
                &["--kubelet-anonymous-auth", "--kubeconfig", "/a"],
                &[("KUBE_MESOS_BOOTSTRAP_KUBECONFIG", "/b")]
            ),
            Err(ConfigError::CredentialsAmbiguous)
        ));
    }

    #[test]
    fn kubeconfig_data_is_base64() {
        let c = parse(
            &["--kubelet-token", "t"],
            &[("KUBE_MESOS_KUBECONFIG_DATA", "YXBpVmVyc2lvbjogdjE=")],
        )
        .unwrap();
        assert_eq!(
            c.credentials,
            KubeCredentials::KubeconfigData("apiVersion: v1".into())
        );
        assert!(matches!(
            parse(
                &["--kubelet-token", "t"],
                &[("KUBE_MESOS_KUBECONFIG_DATA", "%%%")]
            ),
            Err(ConfigError::KubeconfigDataInvalid(_))
        ));
    }

    #[test]
    fn kubelet_endpoint_needs_some_authentication() {
        assert!(matches!(
            parse(&[], &[]),
            Err(ConfigError::KubeletAuthMissing)
        ));
        let c = parse(&[], &[("KUBE_MESOS_KUBELET_ANONYMOUS_AUTH", "true")]).unwrap();
        assert!(c.kubelet_auth.anonymous);
    }

    #[test]
    fn help_documents_every_variable() {
        let help = ExecutorArgs::command().render_long_help().to_string();
        for var in [
            "KUBE_MESOS_BOOTSTRAP_KUBECONFIG",
            "KUBE_MESOS_KUBECONFIG",
            "KUBE_MESOS_KUBECONFIG_DATA",
            "KUBE_MESOS_API_SERVER",
            "KUBE_MESOS_TOKEN",
            "KUBE_MESOS_RUNTIME",
            "KUBE_MESOS_CRI_SOCKET",
            "KUBE_MESOS_NODE_NAME",
        ] {
            assert!(help.contains(var), "{var} missing from --help");
        }
    }
}

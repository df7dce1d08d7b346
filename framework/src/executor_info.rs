//! The executor every pod task runs on, and its identity.
//!
//! All pods of one agent share one executor per executor *configuration*
//! (URIs, command, resources, environment, version). Its ID is
//! `kube-mesos-<hash>` of a canonical serialization of that configuration,
//! so a new configuration (an upgrade, a new credential) yields a new
//! executor ID: new pods start on a new executor while pods on the old one
//! finish there, and scheduling never waits for an old executor to drain.
//!
//! The hash is SHA-256 (ring) over length-prefixed fields, so it is stable
//! across builds, platforms and field contents (no separator ambiguity), and
//! the first 12 hex digits are plenty to tell a handful of versions apart.

use kube_mesos_proto::v1::{
    command_info, environment, executor_info, CommandInfo, Environment, ExecutorId, ExecutorInfo,
    FrameworkId, Label, Labels, Resource,
};

/// One URI the Mesos fetcher downloads into the executor's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorUri {
    /// URL or path of the artifact.
    pub value: String,
    /// Mark the fetched file executable. Default true for a bare binary.
    pub executable: bool,
    /// Extract archives (tar.gz, zip, ...). Default false.
    pub extract: bool,
    /// Let the fetcher cache the artifact. Default false.
    pub cache: bool,
    /// File name in the sandbox (Mesos `output_file`), if not the URL's.
    pub output_file: Option<String>,
}

impl ExecutorUri {
    /// A plain executable binary at `value`.
    pub fn executable(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            executable: true,
            extract: false,
            cache: false,
            output_file: None,
        }
    }
}

/// How the executor is started. Part of the executor's identity: any change
/// here gives a new executor ID.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutorConfig {
    /// Artifacts to fetch (the `kube-mesos` binary, usually). Default none:
    /// the binary is expected on the agent's PATH.
    pub uris: Vec<ExecutorUri>,
    /// Shell command that runs the executor. Default `kube-mesos executor`;
    /// with a fetched binary, `./kube-mesos executor`.
    pub command: String,
    /// CPUs reserved for the executor itself. Default 0.1.
    pub cpus: f64,
    /// Memory (MB) reserved for the executor itself. Default 64.
    pub mem_mb: f64,
    /// Environment of the executor: what it needs to reach Kubernetes (API
    /// endpoint, credentials). Included in the hash.
    pub env: Vec<(String, String)>,
    /// Version of the executor; part of the identity. Default this crate's
    /// version.
    pub version: String,
    /// Human name shown by Mesos. Default `kube-mesos executor`.
    pub name: String,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            uris: Vec::new(),
            command: "kube-mesos executor".to_owned(),
            cpus: 0.1,
            mem_mb: 64.0,
            env: Vec::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            name: "kube-mesos executor".to_owned(),
        }
    }
}

impl ExecutorConfig {
    /// The canonical bytes the executor ID hashes: every field, each
    /// length-prefixed, in a fixed order.
    fn canonical_bytes(&self) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, field: &str) {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        let mut out = Vec::new();
        put(&mut out, "kube-mesos-executor-config/v1");
        put(&mut out, &self.version);
        put(&mut out, &self.name);
        put(&mut out, &self.command);
        put(&mut out, &format!("{:?}", self.cpus));
        put(&mut out, &format!("{:?}", self.mem_mb));
        put(&mut out, &self.uris.len().to_string());
        for uri in &self.uris {
            put(&mut out, &uri.value);
            put(
                &mut out,
                &format!("{}{}{}", uri.executable, uri.extract, uri.cache),
            );
            put(&mut out, uri.output_file.as_deref().unwrap_or(""));
        }
        put(&mut out, &self.env.len().to_string());
        for (k, v) in &self.env {
            put(&mut out, k);
            put(&mut out, v);
        }
        out
    }

    /// `kube-mesos-<first 12 hex digits of sha256(canonical config)>`.
    pub fn executor_id(&self) -> ExecutorId {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.canonical_bytes());
        let hex: String = digest
            .as_ref()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        ExecutorId {
            value: format!("kube-mesos-{hex}"),
        }
    }

    /// The `CommandInfo` that fetches the URIs and runs the executor.
    pub fn command_info(&self) -> CommandInfo {
        CommandInfo {
            uris: self
                .uris
                .iter()
                .map(|u| command_info::Uri {
                    value: u.value.clone(),
                    executable: Some(u.executable),
                    extract: Some(u.extract),
                    cache: Some(u.cache),
                    output_file: u.output_file.clone(),
                })
                .collect(),
            environment: if self.env.is_empty() {
                None
            } else {
                Some(Environment {
                    variables: self
                        .env
                        .iter()
                        .map(|(k, v)| environment::Variable {
                            name: k.clone(),
                            r#type: Some(environment::variable::Type::Value as i32),
                            value: Some(v.clone()),
                            secret: None,
                        })
                        .collect(),
                })
            },
            shell: Some(true),
            value: Some(self.command.clone()),
            arguments: Vec::new(),
            user: None,
        }
    }

    /// The full `ExecutorInfo` for a launch: type CUSTOM, our ID, the
    /// framework ID, the command, and `resources` (cpus, mem and one port,
    /// carved from the agent's offers by the placement engine — or, for an
    /// executor already running, exactly the resources it was launched
    /// with, as Mesos requires).
    pub fn executor_info(
        &self,
        framework_id: &FrameworkId,
        resources: Vec<Resource>,
    ) -> ExecutorInfo {
        #[allow(deprecated)]
        ExecutorInfo {
            r#type: Some(executor_info::Type::Custom as i32),
            executor_id: self.executor_id(),
            framework_id: Some(framework_id.clone()),
            command: Some(self.command_info()),
            resources,
            name: Some(self.name.clone()),
            source: None,
            data: None,
            discovery: None,
            shutdown_grace_period: None,
            labels: Some(Labels {
                labels: vec![Label {
                    key: "kube-mesos.io/executor-version".to_owned(),
                    value: Some(self.version.clone()),
                }],
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_id_is_stable_and_prefixed() {
        let a = ExecutorConfig::default();
        let id = a.executor_id().value;
        assert!(id.starts_with("kube-mesos-"), "{id}");
        assert_eq!(id.len(), "kube-mesos-".len() + 12);
        assert_eq!(a.executor_id(), a.clone().executor_id());
    }

    #[test]
    fn every_config_field_changes_the_executor_id() {
        let base = ExecutorConfig::default();
        let variants = [
            ExecutorConfig {
                uris: vec![ExecutorUri::executable("http://x/kube-mesos")],
                ..base.clone()
            },
            ExecutorConfig {
                command: "./kube-mesos executor".into(),
                ..base.clone()
            },
            ExecutorConfig {
                cpus: 0.2,
                ..base.clone()
            },
            ExecutorConfig {
                mem_mb: 128.0,
                ..base.clone()
            },
            ExecutorConfig {
                env: vec![("KUBERNETES_SERVICE_HOST".into(), "10.0.0.1".into())],
                ..base.clone()
            },
            ExecutorConfig {
                version: "9.9.9".into(),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.executor_id(), base.executor_id(), "{v:?}");
        }
    }

    #[test]
    fn env_fields_are_not_ambiguous() {
        let a = ExecutorConfig {
            env: vec![("AB".into(), "C".into())],
            ..ExecutorConfig::default()
        };
        let b = ExecutorConfig {
            env: vec![("A".into(), "BC".into())],
            ..ExecutorConfig::default()
        };
        assert_ne!(a.executor_id(), b.executor_id());
    }

    #[test]
    fn executor_info_is_custom_with_command_and_env() {
        let cfg = ExecutorConfig {
            uris: vec![ExecutorUri::executable("http://x/kube-mesos")],
            command: "./kube-mesos executor".into(),
            env: vec![("K".into(), "V".into())],
            ..ExecutorConfig::default()
        };
        let fw = FrameworkId { value: "fw".into() };
        let info = cfg.executor_info(&fw, Vec::new());
        assert_eq!(info.r#type, Some(executor_info::Type::Custom as i32));
        assert_eq!(info.executor_id, cfg.executor_id());
        assert_eq!(info.framework_id, Some(fw));
        let cmd = info.command.expect("command");
        assert_eq!(cmd.value.as_deref(), Some("./kube-mesos executor"));
        assert_eq!(cmd.uris[0].executable, Some(true));
        assert_eq!(cmd.uris[0].extract, Some(false));
        let env = cmd.environment.expect("env");
        assert_eq!(env.variables[0].name, "K");
        assert_eq!(env.variables[0].value.as_deref(), Some("V"));
    }
}

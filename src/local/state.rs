//! What `kube-mesos local` remembers between runs in `<data-dir>/local.json`:
//! the ports it listened on and the tokens it handed out.
//!
//! Executors outlive a crash of `kube-mesos local` and keep the addresses
//! they were started with (`MESOS_SLAVE_PID`, the API server URL in
//! their environment). A restart therefore listens on the same ports and
//! hands out the same tokens, so those executors reconnect and the
//! framework's executor ID (a hash of the executor's environment) is
//! unchanged. API server objects, agent checkpoints and the framework ID
//! live in their own directories; this file holds only the glue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::error::LocalError;

/// File name inside the data dir.
pub const STATE_FILE: &str = "local.json";

/// The framework's Mesos principal.
pub const MESOS_PRINCIPAL: &str = "kube-mesos";

/// The remembered glue of one data dir.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    /// Bearer token of the kubeconfig: the admin (`system:masters`).
    pub token: String,
    /// The framework's Mesos secret (principal [`MESOS_PRINCIPAL`]): the
    /// master authenticates the framework with HTTP Basic, as a Mesos
    /// configured with `--authenticate_http_frameworks` does.
    #[serde(default = "random_token")]
    pub mesos_secret: String,
    /// Bearer token of the framework's ServiceAccount
    /// (`kube-mesos:kube-mesos-framework`, bound by packaging/kubernetes/).
    #[serde(default = "random_token")]
    pub framework_token: String,
    /// The id of the bootstrap token the executors' bootstrap kubeconfig
    /// holds (Secret `kube-system/bootstrap-token-<id>`); replaced at every
    /// start.
    #[serde(default)]
    pub bootstrap_token_id: String,
    /// API server port.
    #[serde(default)]
    pub api_port: u16,
    /// Mesos master port.
    #[serde(default)]
    pub mesos_port: u16,
    /// Framework HTTP endpoint port (/healthz, /readyz, /metrics).
    #[serde(default)]
    pub framework_port: u16,
    /// Executor API port per agent index.
    #[serde(default)]
    pub agent_ports: BTreeMap<usize, u16>,
}

impl LocalState {
    /// A fresh state with new random tokens and no ports yet.
    pub fn fresh() -> Self {
        LocalState {
            token: random_token(),
            mesos_secret: random_token(),
            framework_token: random_token(),
            bootstrap_token_id: String::new(),
            api_port: 0,
            mesos_port: 0,
            framework_port: 0,
            agent_ports: BTreeMap::new(),
        }
    }

    /// Loads the state of `data_dir`, or a fresh one when there is none.
    pub fn load_or_fresh(data_dir: &Path) -> Result<Self, LocalError> {
        let path = state_path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| LocalError::StateInvalid { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::fresh()),
            Err(source) => Err(LocalError::StateIoFailed { path, source }),
        }
    }

    /// Writes the state (mode 0600: it holds tokens), atomically.
    pub fn save(&self, data_dir: &Path) -> Result<(), LocalError> {
        let path = state_path(data_dir);
        let tmp = path.with_extension("json.tmp");
        let io = |source| LocalError::StateIoFailed {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .map_err(io)?;
        write_private(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// `<data_dir>/local.json`.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATE_FILE)
}

/// The port to bind: the one asked for, else the remembered one, else 0.
pub fn port_to_bind(requested: u16, remembered: u16) -> u16 {
    if requested != 0 {
        requested
    } else {
        remembered
    }
}

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_back_and_a_missing_one_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = LocalState::load_or_fresh(dir.path()).unwrap();
        assert_eq!(fresh.token.len(), 64);
        assert_ne!(fresh.token, fresh.framework_token);
        assert_ne!(fresh.token, fresh.mesos_secret);
        let mut state = fresh.clone();
        state.api_port = 6443;
        state.agent_ports.insert(1, 40000);
        state.save(dir.path()).unwrap();
        assert_eq!(LocalState::load_or_fresh(dir.path()).unwrap(), state);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_garbled_state_file_is_an_error_not_a_fresh_cluster() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(state_path(dir.path()), b"{not json").unwrap();
        assert!(matches!(
            LocalState::load_or_fresh(dir.path()),
            Err(LocalError::StateInvalid { .. })
        ));
    }

    #[test]
    fn a_requested_port_wins_over_the_remembered_one() {
        assert_eq!(port_to_bind(6443, 1234), 6443);
        assert_eq!(port_to_bind(0, 1234), 1234);
        assert_eq!(port_to_bind(0, 0), 0);
    }
}

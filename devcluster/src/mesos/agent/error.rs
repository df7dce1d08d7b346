//! Errors of the devcluster agent.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What can go wrong while starting, restarting or stopping an agent.
/// [`AgentError::BindFailed`] may be retried (the old listener may still be
/// closing); the others need a different configuration or work dir.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The listener's local address could not be read.
    #[error("reading the listener's address failed")]
    ListenerAddrFailed(#[source] std::io::Error),
    /// Binding the agent's port again on restart failed.
    #[error("binding {addr} failed")]
    BindFailed {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The checkpointed state could not be read.
    #[error("reading the checkpoint '{path}' failed")]
    CheckpointReadFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The checkpointed state was not valid.
    #[error("parsing the checkpoint '{path}' failed")]
    CheckpointParseFailed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The agent's task ended (it was shut down or crashed).
    #[error("the agent is not running")]
    AgentStopped,
    /// The agent's task panicked.
    #[error("the agent's task failed")]
    AgentPanicked(#[source] tokio::task::JoinError),
}

/// Result alias of the agent.
pub type Result<T, E = AgentError> = std::result::Result<T, E>;

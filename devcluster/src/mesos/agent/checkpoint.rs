//! The agent's checkpoint under `<work_dir>/meta/`.
//!
//! A real agent checkpoints, for frameworks with `checkpoint: true`, each
//! executor (its info, container ID, forked pid, sandbox), each task and the
//! task status update streams, so that a restarted agent can find its
//! executors again (apache/mesos `src/slave/state.cpp`, `paths.cpp`). The
//! devcluster keeps the same facts in one JSON document per agent,
//! `meta/slaves/<agent id>/agent.json`, with `meta/slaves/latest` naming the
//! current agent ID as Mesos' `latest` symlink does. Protobuf messages are
//! stored as base64 of their encoding so the file can never disagree with
//! the wire types. The document is written whole and renamed into place, so a
//! crash (even `kill -9`) leaves either the old or the new state.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::error::{AgentError, Result};

/// Everything the agent recovers after a restart.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AgentState {
    /// The agent ID the master gave us.
    pub agent_id: String,
    /// Checkpointing frameworks with live executors.
    pub frameworks: Vec<FrameworkState>,
}

/// One framework.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FrameworkState {
    /// `FrameworkInfo`, encoded.
    pub info: String,
    /// Its executors.
    pub executors: Vec<ExecutorState>,
}

/// One executor run.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ExecutorState {
    /// `ExecutorInfo`, encoded.
    pub info: String,
    /// The run's container ID.
    pub container_id: String,
    /// The sandbox.
    pub directory: PathBuf,
    /// The forked pid, once started.
    pub pid: Option<u32>,
    /// The executor already terminated (its tasks await acknowledgements).
    pub terminated: bool,
    /// Its tasks.
    pub tasks: Vec<TaskState>,
}

/// One task and its status update stream.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct TaskState {
    /// `TaskInfo`, encoded.
    pub info: String,
    /// Latest `TaskState` value.
    pub state: i32,
    /// Latest `TaskStatus`, encoded (written by older agents; now `None`).
    pub latest: Option<String>,
    /// The task's status history (`TaskStatus`, encoded), oldest first.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Unacknowledged updates (`TaskStatus`, encoded), oldest first.
    pub pending: Vec<String>,
    /// Uuids received on the stream (base64).
    pub received: Vec<String>,
    /// The stream got its terminal update.
    pub stream_terminated: bool,
}

/// Encodes a protobuf message for the checkpoint.
pub fn encode<M: Message>(msg: &M) -> String {
    base64::engine::general_purpose::STANDARD.encode(msg.encode_to_vec())
}

/// Base64 of raw bytes.
pub fn encode_bytes(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes raw bytes; `None` if the text is not base64.
pub fn decode_bytes(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Decodes a protobuf message from the checkpoint; `None` if it is damaged.
pub fn decode<M: Message + Default>(text: &str) -> Option<M> {
    let bytes = decode_bytes(text)?;
    M::decode(bytes.as_slice()).ok()
}

fn latest_path(work_dir: &Path) -> PathBuf {
    work_dir.join("meta").join("slaves").join("latest")
}

fn state_path(work_dir: &Path, agent_id: &str) -> PathBuf {
    work_dir
        .join("meta")
        .join("slaves")
        .join(agent_id)
        .join("agent.json")
}

/// Reads the latest checkpoint, if the work dir has one.
pub fn load(work_dir: &Path) -> Result<Option<AgentState>> {
    let latest = latest_path(work_dir);
    let agent_id = match std::fs::read_to_string(&latest) {
        Ok(id) => id.trim().to_owned(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AgentError::CheckpointReadFailed {
                path: latest,
                source,
            })
        }
    };
    if agent_id.is_empty() {
        return Ok(None);
    }
    let path = state_path(work_dir, &agent_id);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(AgentState {
                agent_id,
                frameworks: Vec::new(),
            }))
        }
        Err(source) => return Err(AgentError::CheckpointReadFailed { path, source }),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| AgentError::CheckpointParseFailed { path, source })
}

/// Writes the checkpoint atomically.
pub fn store(work_dir: &Path, state: &AgentState) -> std::io::Result<()> {
    let path = state_path(work_dir, &state.agent_id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    write_atomically(&path, &text)?;
    write_atomically(&latest_path(work_dir), state.agent_id.as_bytes())
}

/// Forgets the agent (after the master shut it down): a restart registers
/// as a new agent, as Mesos does once `latest` is gone.
pub fn forget(work_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(latest_path(work_dir)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::FrameworkInfo;

    #[test]
    fn round_trip_and_forget() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("empty").is_none());
        let info = FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            ..Default::default()
        };
        let state = AgentState {
            agent_id: "A-S0".into(),
            frameworks: vec![FrameworkState {
                info: encode(&info),
                executors: vec![],
            }],
        };
        store(dir.path(), &state).expect("store");
        let back = load(dir.path()).expect("load").expect("some");
        assert_eq!(back.agent_id, "A-S0");
        assert_eq!(
            decode::<FrameworkInfo>(&back.frameworks[0].info),
            Some(info)
        );
        forget(dir.path()).expect("forget");
        assert!(load(dir.path()).expect("load").is_none());
        std::fs::create_dir_all(dir.path().join("meta/slaves/B")).expect("mkdir");
        std::fs::write(dir.path().join("meta/slaves/latest"), "B").expect("write");
        std::fs::write(dir.path().join("meta/slaves/B/agent.json"), "{").expect("write");
        assert!(load(dir.path()).is_err(), "damaged checkpoint is an error");
    }
}

//! The master's registry on disk, for `--registry=replicated_log` with a
//! work dir: what Mesos' registrar keeps so that a master started again
//! (`kill -9`, then the same work dir) recovers it (`Master::_recover`) —
//! the admitted agents, the unreachable ones with when they became so, and
//! the gone ones. Real Mesos keeps it in a replicated log; one JSON file,
//! replaced atomically on every change, gives a single master the same
//! guarantees.
//!
//! Pure conversion ([`RegistryFile::encode`], [`RegistryFile::decode`]) and
//! two small I/O functions; the master decides when to write.

use std::path::{Path, PathBuf};

use kube_mesos_proto::v1::{AgentInfo, TimeInfo};
use serde::{Deserialize, Serialize};

/// The file's name under the registry dir.
pub const FILE_NAME: &str = "registry.json";

/// A registry file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Reading or writing the file failed.
    #[error("registry file {path}")]
    IoFailed {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a registry.
    #[error("registry file {path} is not valid: {reason}")]
    DecodeFailed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What the registry holds (Mesos' `Registry`: `slaves`, `unreachable`,
/// `gone`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contents {
    /// Agents admitted (registered, or recovered and not yet back).
    pub admitted: Vec<AgentInfo>,
    /// Unreachable agents and since when.
    pub unreachable: Vec<(AgentInfo, TimeInfo)>,
    /// Gone agents (by ID) and since when.
    pub gone: Vec<(String, TimeInfo)>,
}

/// The file's shape: agents in Mesos' JSON, times in nanoseconds.
#[derive(Debug, Serialize, Deserialize)]
struct RegistryFile {
    admitted: Vec<serde_json::Value>,
    unreachable: Vec<TimedAgent>,
    gone: Vec<GoneAgent>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TimedAgent {
    agent: serde_json::Value,
    nanoseconds: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct GoneAgent {
    id: String,
    nanoseconds: i64,
}

impl RegistryFile {
    fn encode(registry: &Contents) -> Result<Self, String> {
        let json = |info: &AgentInfo| {
            kube_mesos_proto::json::to_json(info).map_err(|e| format!("encoding an agent: {e}"))
        };
        Ok(RegistryFile {
            admitted: registry
                .admitted
                .iter()
                .map(json)
                .collect::<Result<_, _>>()?,
            unreachable: registry
                .unreachable
                .iter()
                .map(|(info, at)| {
                    Ok(TimedAgent {
                        agent: json(info)?,
                        nanoseconds: at.nanoseconds,
                    })
                })
                .collect::<Result<_, String>>()?,
            gone: registry
                .gone
                .iter()
                .map(|(id, at)| GoneAgent {
                    id: id.clone(),
                    nanoseconds: at.nanoseconds,
                })
                .collect(),
        })
    }

    fn decode(self) -> Result<Contents, String> {
        let agent = |v: serde_json::Value| {
            kube_mesos_proto::json::from_json_value::<AgentInfo>(v)
                .map_err(|e| format!("an agent does not decode: {e}"))
        };
        Ok(Contents {
            admitted: self
                .admitted
                .into_iter()
                .map(agent)
                .collect::<Result<_, _>>()?,
            unreachable: self
                .unreachable
                .into_iter()
                .map(|t| {
                    Ok((
                        agent(t.agent)?,
                        TimeInfo {
                            nanoseconds: t.nanoseconds,
                        },
                    ))
                })
                .collect::<Result<_, String>>()?,
            gone: self
                .gone
                .into_iter()
                .map(|g| {
                    (
                        g.id,
                        TimeInfo {
                            nanoseconds: g.nanoseconds,
                        },
                    )
                })
                .collect(),
        })
    }
}

/// Reads the registry under `dir`; an empty one when there is no file yet.
pub fn load(dir: &Path) -> Result<Contents, RegistryError> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
        Err(source) => return Err(RegistryError::IoFailed { path, source }),
    };
    let invalid = |reason: String| RegistryError::DecodeFailed {
        path: path.clone(),
        reason,
    };
    let file: RegistryFile = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    file.decode().map_err(invalid)
}

/// Replaces the registry under `dir` (write a temporary file, then rename,
/// so that a crash leaves the old or the new registry, never half of one).
pub fn store(dir: &Path, registry: &Contents) -> Result<(), RegistryError> {
    let path = dir.join(FILE_NAME);
    let file = RegistryFile::encode(registry).map_err(|reason| RegistryError::DecodeFailed {
        path: path.clone(),
        reason,
    })?;
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| RegistryError::DecodeFailed {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let io = |source| RegistryError::IoFailed {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::AgentId;

    fn agent(id: &str, host: &str) -> AgentInfo {
        AgentInfo {
            hostname: host.into(),
            id: Some(AgentId { value: id.into() }),
            port: Some(5051),
            ..Default::default()
        }
    }

    #[test]
    fn a_stored_registry_loads_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Contents::default());
        let r = Contents {
            admitted: vec![agent("S0", "h0")],
            unreachable: vec![(agent("S1", "h1"), TimeInfo { nanoseconds: 7 })],
            gone: vec![("S2".into(), TimeInfo { nanoseconds: 9 })],
        };
        store(dir.path(), &r).unwrap();
        assert_eq!(load(dir.path()).unwrap(), r);
        // Replaced as a whole.
        store(dir.path(), &Contents::default()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Contents::default());
    }

    #[test]
    fn a_garbled_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{nope").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }
}

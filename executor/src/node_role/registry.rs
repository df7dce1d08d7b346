//! The registry of the executor generations running on this agent, kept
//! as files under `<root-dir>/executors/<node name>/` (the directory every
//! generation of one agent shares, and only they can open: mode 0700; per
//! node, so agents of one host that share a root dir keep apart).
//!
//! - `sequence`: the last start sequence handed out. A starting executor
//!   takes the next one under the file's lock, so sequences are unique and
//!   grow with start order: a higher sequence is a newer generation.
//! - `gen-<seq>.lock`: held (`flock`) by the executor for as long as its
//!   process lives. The kernel drops the lock when the process dies, however
//!   it dies, so a lock that can be taken marks a dead executor; its files
//!   are removed by whoever notices first. No pid is trusted (pids are
//!   reused).
//! - `gen-<seq>.json`: the [`Record`] — executor ID, kubelet port, whether
//!   it is draining, and the pods it runs. Written last at start (a record
//!   means its peer socket is ready) and replaced atomically (rename) on
//!   every change.
//! - `gen-<seq>.sock`: the executor's kubelet handler on a unix socket
//!   ([`crate::kubelet::peer`]), where the executor that owns the Node's
//!   kubelet endpoint sends requests for the pods it does not run.
//! - `node-role.lock`: held by the one executor that writes the Node status
//!   and Lease (see [`super::ownership`] for who that is).
//!
//! Every operation is a few small file operations: callers run them inline.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// The registry's directory under the executor root dir.
pub const REGISTRY_DIR: &str = "executors";
const SEQUENCE_FILE: &str = "sequence";
const NODE_ROLE_LOCK: &str = "node-role.lock";
/// `sun_path` holds 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// A registry file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file or directory of the registry could not be created, read,
    /// written or locked.
    #[error("executor registry: {what} {path} failed")]
    FileFailed {
        /// What was done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

fn file_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError {
    let path = path.to_path_buf();
    move |source| RegistryError::FileFailed { what, path, source }
}

/// A pod an executor runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PodKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

/// What one executor generation publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Start sequence: higher is newer.
    pub sequence: u64,
    /// Its Mesos executor ID (`kube-mesos-<config hash>`).
    pub executor_id: String,
    /// Its process ID (for operators; liveness is the lock's).
    pub pid: u32,
    /// The port its own kubelet endpoint listens on.
    pub kubelet_port: u16,
    /// It is stopping its pods and exiting.
    pub draining: bool,
    /// The pods it runs.
    pub pods: Vec<PodKey>,
}

/// The registry directory of one agent's executors.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

fn record_name(sequence: u64) -> String {
    format!("gen-{sequence}.json")
}

fn lock_name(sequence: u64) -> String {
    format!("gen-{sequence}.lock")
}

fn socket_name(sequence: u64) -> String {
    format!("gen-{sequence}.sock")
}

/// The sequence of a `gen-<seq>.<ext>` file name.
fn sequence_of(file_name: &str, ext: &str) -> Option<u64> {
    file_name
        .strip_prefix("gen-")?
        .strip_suffix(ext)?
        .strip_suffix('.')?
        .parse()
        .ok()
}

impl Registry {
    /// Opens (creating) `<root_dir>/executors/<node>`, readable by this
    /// user only.
    pub fn open(root_dir: &Path, node: &str) -> Result<Registry, RegistryError> {
        let node: String = node
            .chars()
            .map(|c| if c == '/' || c == '\0' { '_' } else { c })
            .collect();
        let dir = root_dir.join(REGISTRY_DIR).join(node);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(file_error("creating", &dir))?;
        for d in [dir.as_path(), root_dir.join(REGISTRY_DIR).as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                .map_err(file_error("restricting", d))?;
        }
        Ok(Registry { dir })
    }

    /// The registry directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Joins as a new generation: takes the next start sequence and the
    /// generation's liveness lock. Nothing is visible to others until
    /// [`Membership::publish`].
    pub fn join(&self, executor_id: &str, kubelet_port: u16) -> Result<Membership, RegistryError> {
        let sequence = self.next_sequence()?;
        let lock_path = self.dir.join(lock_name(sequence));
        let lock = open_lock(&lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(RegistryError::FileFailed {
                    what: "locking (already held)",
                    path: lock_path,
                    source: std::io::ErrorKind::WouldBlock.into(),
                })
            }
            Err(TryLockError::Error(e)) => return Err(file_error("locking", &lock_path)(e)),
        }
        Ok(Membership {
            registry: self.clone(),
            _lock: lock,
            record: Mutex::new(Record {
                sequence,
                executor_id: executor_id.to_string(),
                pid: std::process::id(),
                kubelet_port,
                draining: false,
                pods: Vec::new(),
            }),
        })
    }

    /// The next sequence: one more than both the counter and every
    /// generation file present (a lost or reset counter never hands out a
    /// sequence that is still in use).
    fn next_sequence(&self) -> Result<u64, RegistryError> {
        let path = self.dir.join(SEQUENCE_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(file_error("opening", &path))?;
        file.lock().map_err(file_error("locking", &path))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(file_error("reading", &path))?;
        let counter = text.trim().parse::<u64>().unwrap_or(0);
        let present = self
            .file_names()
            .filter_map(|n| sequence_of(&n, "lock").or_else(|| sequence_of(&n, "json")))
            .max()
            .unwrap_or(0);
        let next = counter.max(present) + 1;
        file.set_len(0).map_err(file_error("writing", &path))?;
        file.rewind().map_err(file_error("writing", &path))?;
        file.write_all(format!("{next}\n").as_bytes())
            .map_err(file_error("writing", &path))?;
        Ok(next)
    }

    fn file_names(&self) -> impl Iterator<Item = String> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
    }

    /// The records of the live generations, oldest first. Files of dead
    /// generations found on the way are removed.
    pub fn live(&self) -> Vec<Record> {
        let mut sequences: Vec<u64> = self
            .file_names()
            .filter_map(|n| sequence_of(&n, "json"))
            .collect();
        sequences.sort_unstable();
        sequences
            .into_iter()
            .filter_map(|seq| self.live_record(seq))
            .collect()
    }

    /// Generation `seq`'s record if it is alive; its files are removed if
    /// it is dead.
    fn live_record(&self, seq: u64) -> Option<Record> {
        let lock_path = self.dir.join(lock_name(seq));
        let alive = match File::open(&lock_path) {
            Ok(lock) => match lock.try_lock() {
                Err(TryLockError::WouldBlock) => true,
                Ok(()) => {
                    // Dead: remove its files while holding its lock, so a
                    // second cleaner finds nothing to remove.
                    self.remove_generation(seq);
                    false
                }
                Err(TryLockError::Error(e)) => {
                    tracing::warn!(path = %lock_path.display(), error = %e, "cannot tell whether an executor generation lives; skipped");
                    return None;
                }
            },
            // A record without a lock file: leftovers of a removal.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.remove_generation(seq);
                false
            }
            Err(e) => {
                tracing::warn!(path = %lock_path.display(), error = %e, "cannot open an executor generation's lock; skipped");
                return None;
            }
        };
        if !alive {
            tracing::info!(
                sequence = seq,
                "removed the registry entry of an executor that is gone"
            );
            return None;
        }
        let path = self.dir.join(record_name(seq));
        let text = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<Record>(&text) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable executor record; skipped");
                None
            }
        }
    }

    fn remove_generation(&self, seq: u64) {
        for name in [record_name(seq), socket_name(seq), lock_name(seq)] {
            match std::fs::remove_file(self.dir.join(&name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "removing a gone executor's registry file failed")
                }
            }
        }
    }

    /// The socket of the newest live generation other than `except` that
    /// runs pod `namespace/name`.
    pub fn locate(&self, namespace: &str, name: &str, except: u64) -> Option<PeerSocket> {
        self.live()
            .into_iter()
            .rev()
            .filter(|r| r.sequence != except)
            .find(|r| {
                r.pods
                    .iter()
                    .any(|p| p.namespace == namespace && p.name == name)
            })
            .map(|r| self.peer_socket(r.sequence))
    }

    /// Where generation `seq` serves its peer socket.
    pub fn peer_socket(&self, seq: u64) -> PeerSocket {
        PeerSocket {
            dir: self.dir.clone(),
            name: socket_name(seq),
        }
    }

    /// Takes the node role's lock if nobody holds it.
    pub fn try_node_role(&self) -> Result<Option<NodeRoleLock>, RegistryError> {
        let path = self.dir.join(NODE_ROLE_LOCK);
        let file = open_lock(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(NodeRoleLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(file_error("locking", &path)(e)),
        }
    }
}

fn open_lock(path: &Path) -> Result<File, RegistryError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(file_error("opening", path))
}

/// The node role's lock; dropping it releases the role.
#[derive(Debug)]
pub struct NodeRoleLock {
    _file: File,
}

/// A generation's unix socket. Its path may be longer than a socket
/// address holds (deep root dirs); it is then reached through
/// `/proc/self/fd/<dir>/<name>`, which the kernel resolves like the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSocket {
    dir: PathBuf,
    name: String,
}

impl PeerSocket {
    /// The socket's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// A socket address for it, and the directory handle that must stay
    /// open while the address is used (for the `/proc/self/fd` form).
    fn address(&self) -> std::io::Result<(PathBuf, Option<File>)> {
        let full = self.path();
        if full.as_os_str().len() <= MAX_SOCKET_PATH {
            return Ok((full, None));
        }
        use std::os::fd::AsRawFd;
        let dir = File::open(&self.dir)?;
        let short = PathBuf::from(format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), self.name));
        Ok((short, Some(dir)))
    }

    /// Binds the socket (replacing a file left at its path).
    pub fn bind(&self) -> std::io::Result<tokio::net::UnixListener> {
        let _ = std::fs::remove_file(self.path());
        let (address, _dir) = self.address()?;
        tokio::net::UnixListener::bind(address)
    }

    /// Connects to the socket.
    pub async fn connect(&self) -> std::io::Result<tokio::net::UnixStream> {
        let (address, _dir) = self.address()?;
        tokio::net::UnixStream::connect(address).await
    }
}

/// This executor's place in the registry: its liveness lock, its record.
/// Dropping it removes the generation's files (a crash leaves them to the
/// next reader, who finds the lock free).
#[derive(Debug)]
pub struct Membership {
    registry: Registry,
    _lock: File,
    record: Mutex<Record>,
}

impl Membership {
    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// This generation's start sequence.
    pub fn sequence(&self) -> u64 {
        self.record().sequence
    }

    /// The record as last changed.
    pub fn record(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// This generation's peer socket.
    pub fn socket(&self) -> PeerSocket {
        self.registry.peer_socket(self.sequence())
    }

    /// Changes the record with `f` and publishes it if it changed (or
    /// `force`).
    fn update(&self, force: bool, f: impl FnOnce(&mut Record)) -> Result<(), RegistryError> {
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        let before = record.clone();
        f(&mut record);
        if !force && *record == before {
            return Ok(());
        }
        let path = self.registry.dir.join(record_name(record.sequence));
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec(&*record).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(file_error("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(file_error("renaming", &tmp))
    }

    /// Publishes the record: from now on, peers see this generation.
    pub fn publish(&self) -> Result<(), RegistryError> {
        self.update(true, |_| {})
    }

    /// Publishes the pods this generation runs.
    pub fn set_pods(&self, mut pods: Vec<PodKey>) -> Result<(), RegistryError> {
        pods.sort();
        self.update(false, |r| r.pods = pods)
    }

    /// Publishes that this generation is draining.
    pub fn set_draining(&self) -> Result<(), RegistryError> {
        self.update(false, |r| r.draining = true)
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.registry.remove_generation(self.sequence());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> PodKey {
        PodKey {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    #[test]
    fn sequences_grow_with_start_order_and_survive_a_lost_counter() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path(), "agent-1").unwrap();
        let a = registry.join("kube-mesos-a", 31000).unwrap();
        let b = registry.join("kube-mesos-b", 31001).unwrap();
        assert_eq!((a.sequence(), b.sequence()), (1, 2));
        std::fs::remove_file(registry.dir().join(SEQUENCE_FILE)).unwrap();
        let c = registry.join("kube-mesos-c", 31002).unwrap();
        assert_eq!(c.sequence(), 3, "gen-2.lock is still there");
        let mode = std::fs::metadata(registry.dir())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn only_published_live_generations_are_listed_and_the_dead_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path(), "agent-1").unwrap();
        let a = registry.join("kube-mesos-a", 31000).unwrap();
        let b = registry.join("kube-mesos-b", 31001).unwrap();
        assert!(registry.live().is_empty(), "nothing published yet");
        a.publish().unwrap();
        b.set_pods(vec![pod("web")]).unwrap();
        let live = registry.live();
        assert_eq!(live.iter().map(|r| r.sequence).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(live[1].pods, [pod("web")]);
        assert_eq!(live[1].kubelet_port, 31001);

        // A generation whose process died: its record stays, its lock is
        // free (written here by hand, as a crash leaves them).
        std::fs::write(registry.dir().join("gen-9.json"), b"{}").unwrap();
        std::fs::write(registry.dir().join("gen-9.lock"), b"").unwrap();
        std::fs::write(registry.dir().join("gen-9.sock"), b"").unwrap();
        // And a record whose lock file is already gone.
        std::fs::write(registry.dir().join("gen-8.json"), b"{}").unwrap();
        assert_eq!(registry.live().len(), 2);
        for name in ["gen-9.json", "gen-9.lock", "gen-9.sock", "gen-8.json"] {
            assert!(!registry.dir().join(name).exists(), "{name} removed");
        }

        // A clean exit removes the generation's files.
        drop(a);
        assert!(!registry.dir().join("gen-1.json").exists());
        assert!(!registry.dir().join("gen-1.lock").exists());
        assert_eq!(registry.live().len(), 1);
    }

    #[test]
    fn a_pod_is_located_on_the_newest_other_generation_that_runs_it() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path(), "agent-1").unwrap();
        let a = registry.join("kube-mesos-a", 31000).unwrap();
        let b = registry.join("kube-mesos-b", 31001).unwrap();
        let c = registry.join("kube-mesos-c", 31002).unwrap();
        a.set_pods(vec![pod("old"), pod("moved")]).unwrap();
        b.set_pods(vec![pod("moved")]).unwrap();
        c.set_pods(vec![pod("new")]).unwrap();
        let at = |name: &str, except: u64| registry.locate("default", name, except);
        assert_eq!(at("old", 3), Some(registry.peer_socket(1)));
        assert_eq!(at("moved", 3), Some(registry.peer_socket(2)));
        assert_eq!(at("moved", 2), Some(registry.peer_socket(1)));
        assert_eq!(at("new", 3), None, "not elsewhere: it is ours");
        assert_eq!(at("nowhere", 3), None);
        assert_eq!(registry.locate("other-ns", "old", 3), None);
    }

    #[test]
    fn the_node_role_lock_is_held_by_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path(), "agent-1").unwrap();
        let held = registry.try_node_role().unwrap().expect("free");
        assert!(registry.try_node_role().unwrap().is_none());
        drop(held);
        assert!(registry.try_node_role().unwrap().is_some());
    }

    #[tokio::test]
    async fn sockets_work_under_paths_longer_than_a_socket_address() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        let registry = Registry::open(&deep, "agent-1").unwrap();
        let socket = registry.peer_socket(42);
        assert!(socket.path().as_os_str().len() > MAX_SOCKET_PATH);
        let listener = socket.bind().unwrap();
        assert!(socket.path().exists(), "created in the registry dir");
        let accepted = tokio::spawn(async move { listener.accept().await.map(|_| ()) });
        socket.connect().await.unwrap();
        accepted.await.unwrap().unwrap();
    }
}

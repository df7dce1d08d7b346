//! The object store: every object, the global resourceVersion, a bounded
//! history of changes for watches, and their persistence.
//!
//! One mutex guards everything, so a read-modify-write (`mutate`) is atomic
//! and a watch can take "history since rv N + a live receiver" without a gap.
//! Durability is an append-only JSON-lines write-ahead log: each change is
//! written (a `write(2)` on an unbuffered file) before the request is answered,
//! so anything answered 2xx survives `kill -9`. On start, and every
//! `compact_every` writes, the state (objects, rv and the retained history, so
//! watches from a pre-restart rv can resume) goes into `snapshot.json`
//! through a rename and the log starts over.
//!
//! The store also keeps the keys of the objects the garbage collector and
//! the Job controller look at (owner references, a deletion under way,
//! finalizers), so that their passes visit those instead of every object
//! under the lock: a cluster of 100,000 bare pods has none.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use super::error::{ApiResult, ApiServerError, Result, StatusError};

/// Store key: (bucket, namespace, name). Cluster-scoped objects use "".
pub type Key = (String, String, String);

/// Kind of a change, as in watch events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// resourceVersion of the write.
    pub rv: u64,
    /// What happened.
    pub ty: ChangeType,
    /// Bucket (see `ResourceType::storage`).
    pub storage: String,
    /// The object after the write (for deletes: the last state, with `rv`):
    /// the map's own, shared rather than copied.
    pub object: Arc<Value>,
    /// The object before the write, so watches with selectors can tell an
    /// object that stopped matching from one that never did. The log does
    /// not carry it (a replay knows it: the object as it stood); the
    /// snapshot's history does.
    #[serde(default)]
    pub prev: Option<Arc<Value>>,
}

/// A change as the log keeps it: a [`Change`] without `prev`, which would
/// double what each write serializes.
#[derive(Serialize)]
struct LogRecord<'a> {
    rv: u64,
    ty: ChangeType,
    storage: &'a str,
    object: &'a Value,
}

/// What a `mutate` closure decided.
pub enum Mutation {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object; the value is its final state.
    Delete(Value),
    /// Nothing to write; answer with this object.
    Unchanged(Value),
}

/// The result of a `mutate`.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The object as stored (or deleted), with its new resourceVersion.
    pub object: Arc<Value>,
    /// `None` if nothing was written.
    pub change: Option<ChangeType>,
}

/// A watch's starting point.
pub struct Subscription {
    /// Changes after the requested rv, oldest first.
    pub backlog: Vec<Arc<Change>>,
    /// Live changes after the backlog.
    pub live: broadcast::Receiver<Arc<Change>>,
}

#[derive(Serialize, Deserialize, Default)]
struct Snapshot {
    rv: u64,
    compacted_rv: u64,
    objects: Vec<(String, Arc<Value>)>,
    history: Vec<Change>,
}

struct Persist {
    dir: PathBuf,
    wal: File,
    /// Bytes of complete records in the log; a failed write is cut back to it,
    /// so a torn record never hides later ones.
    wal_len: u64,
    writes: usize,
    compact_every: usize,
}

struct Inner {
    rv: u64,
    compacted_rv: u64,
    /// Each object once: a write's change, a watch's backlog and a LIST
    /// share it instead of copying the tree.
    objects: BTreeMap<Key, Arc<Value>>,
    /// The keys of the objects that are [`owned_or_finalized`].
    marked: BTreeSet<Key>,
    history: VecDeque<Arc<Change>>,
    history_size: usize,
    persist: Option<Persist>,
}

/// The shared store.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
}

/// Namespace and name of an object.
pub fn ns_name(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
    )
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// Whether an object names owners, is being deleted or has finalizers:
/// what the garbage collector and the Job controller act on.
fn owned_or_finalized(obj: &Value) -> bool {
    let m = &obj["metadata"];
    let non_empty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    non_empty(&m["ownerReferences"])
        || non_empty(&m["finalizers"])
        || !m["deletionTimestamp"].is_null()
}

impl Inner {
    fn apply(&mut self, change: &Change) {
        self.write(&change.storage, change.ty, change.object.clone(), change.rv);
    }

    /// Stores (or, for a delete, removes) `object` of `storage` under the
    /// key its metadata names, written at `rv`; returns the object it
    /// replaced, moved out of the map.
    fn write(
        &mut self,
        storage: &str,
        ty: ChangeType,
        object: Arc<Value>,
        rv: u64,
    ) -> Option<Arc<Value>> {
        let (ns, name) = ns_name(&object);
        let key = (storage.to_string(), ns, name);
        self.rv = self.rv.max(rv);
        match ty {
            ChangeType::Deleted => {
                self.marked.remove(&key);
                self.objects.remove(&key)
            }
            _ => self.put(key, object),
        }
    }

    /// Stores `obj` under `key`; returns the object it replaced.
    fn put(&mut self, key: Key, obj: Arc<Value>) -> Option<Arc<Value>> {
        if owned_or_finalized(&obj) {
            self.marked.insert(key.clone());
        } else {
            self.marked.remove(&key);
        }
        self.objects.insert(key, obj)
    }

    fn remember(&mut self, change: Arc<Change>) {
        self.history.push_back(change);
        while self.history.len() > self.history_size {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            rv: self.rv,
            compacted_rv: self.compacted_rv,
            objects: self
                .objects
                .iter()
                .map(|((s, _, _), v)| (s.clone(), v.clone()))
                .collect(),
            history: self.history.iter().map(|c| (**c).clone()).collect(),
        }
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> ApiServerError + '_ {
    move |source| ApiServerError::WriteStoreFailed {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the snapshot atomically and starts an empty log.
fn compact_to_disk(dir: &Path, snap: &Snapshot) -> Result<File> {
    let snap_path = dir.join("snapshot.json");
    let tmp = dir.join("snapshot.json.tmp");
    let bytes = serde_json::to_vec(snap).map_err(|source| ApiServerError::DecodeStoreFailed {
        path: snap_path.clone(),
        source,
    })?;
    let mut f = File::create(&tmp).map_err(write_err(&tmp))?;
    f.write_all(&bytes).map_err(write_err(&tmp))?;
    f.sync_all().map_err(write_err(&tmp))?;
    std::fs::rename(&tmp, &snap_path).map_err(write_err(&snap_path))?;
    let wal_path = dir.join("wal.jsonl");
    let wal = File::create(&wal_path).map_err(write_err(&wal_path))?;
    Ok(wal)
}

impl Store {
    /// An in-memory store (nothing persisted).
    pub fn in_memory(history_size: usize) -> Self {
        Self::from_inner(Inner {
            rv: 0,
            compacted_rv: 0,
            objects: BTreeMap::new(),
            marked: BTreeSet::new(),
            history: VecDeque::new(),
            history_size: history_size.max(1),
            persist: None,
        })
    }

    fn from_inner(inner: Inner) -> Self {
        // A watcher may fall half the history behind before it is closed;
        // it then resumes from its resourceVersion out of the other half
        // (no 410, no new LIST) if it comes back in time.
        let (tx, _) = broadcast::channel((inner.history_size / 2).max(1024));
        Self {
            inner: Mutex::new(inner),
            tx,
        }
    }

    /// Opens (or creates) the store in `dir`: loads the snapshot, replays the
    /// log, and compacts both into a fresh snapshot.
    pub fn open(dir: &Path, history_size: usize, compact_every: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| ApiServerError::CreateDataDirFailed {
            path: dir.to_path_buf(),
            source,
        })?;
        let snap_path = dir.join("snapshot.json");
        let snap: Snapshot = match std::fs::read(&snap_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| {
                ApiServerError::DecodeStoreFailed {
                    path: snap_path.clone(),
                    source,
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Snapshot::default(),
            Err(source) => {
                return Err(ApiServerError::ReadStoreFailed {
                    path: snap_path,
                    source,
                })
            }
        };
        let mut inner = Inner {
            rv: snap.rv,
            compacted_rv: snap.compacted_rv,
            objects: BTreeMap::new(),
            marked: BTreeSet::new(),
            history: snap.history.into_iter().map(Arc::new).collect(),
            history_size: history_size.max(1),
            persist: None,
        };
        for (storage, obj) in snap.objects {
            let (ns, name) = ns_name(&obj);
            inner.put((storage, ns, name), obj);
        }
        let wal_path = dir.join("wal.jsonl");
        match File::open(&wal_path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(|source| ApiServerError::ReadStoreFailed {
                        path: wal_path.clone(),
                        source,
                    })?;
                    // A torn last line (killed mid-write) was never answered 2xx.
                    let Ok(mut change) = serde_json::from_str::<Change>(&line) else {
                        tracing::warn!(path = %wal_path.display(), "skipping torn log record");
                        break;
                    };
                    if change.rv <= inner.rv {
                        continue;
                    }
                    let (ns, name) = ns_name(&change.object);
                    change.prev = inner
                        .objects
                        .get(&(change.storage.clone(), ns, name))
                        .cloned();
                    inner.apply(&change);
                    inner.remember(Arc::new(change));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ApiServerError::ReadStoreFailed {
                    path: wal_path,
                    source,
                })
            }
        }
        while inner.history.len() > inner.history_size {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted_rv = old.rv;
            }
        }
        let wal = compact_to_disk(dir, &inner.snapshot())?;
        inner.persist = Some(Persist {
            dir: dir.to_path_buf(),
            wal,
            wal_len: 0,
            writes: 0,
            compact_every: compact_every.max(1),
        });
        tracing::info!(dir = %dir.display(), rv = inner.rv, objects = inner.objects.len(), "store opened");
        Ok(Self::from_inner(inner))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied write:
        // the map is only touched after the log write succeeded.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// One object (copied outside the lock).
    pub fn get(&self, storage: &str, ns: &str, name: &str) -> Option<Value> {
        let shared = self
            .lock()
            .objects
            .get(&(storage.to_string(), ns.to_string(), name.to_string()))
            .cloned();
        shared.map(Arc::unwrap_or_clone)
    }

    /// All objects of a bucket (in one namespace if given), sorted by
    /// namespace and name, and the rv they were read at.
    pub fn list(&self, storage: &str, ns: Option<&str>) -> (Vec<Value>, u64) {
        let (shared, rv) = {
            let g = self.lock();
            (Self::list_locked(&g, storage, ns), g.rv)
        };
        (shared.into_iter().map(Arc::unwrap_or_clone).collect(), rv)
    }

    /// Visits the objects of `storage` (in `ns`, if given) in key order
    /// under the lock, starting after the object `after` names (namespace,
    /// name) if given, until `visit` breaks; returns the current
    /// resourceVersion. A page of a large LIST clones only what it returns,
    /// and starts where the last page ended rather than walking past every
    /// object before it.
    pub fn scan(
        &self,
        storage: &str,
        ns: Option<&str>,
        after: Option<(&str, &str)>,
        mut visit: impl FnMut(&Value) -> std::ops::ControlFlow<()>,
    ) -> u64 {
        use std::ops::Bound;
        let g = self.lock();
        let start = match after {
            Some((ans, aname)) => {
                Bound::Excluded((storage.to_string(), ans.to_string(), aname.to_string()))
            }
            None => Bound::Included((
                storage.to_string(),
                ns.unwrap_or("").to_string(),
                String::new(),
            )),
        };
        for (_, v) in g
            .objects
            .range((start, Bound::Unbounded))
            .take_while(|((s, n, _), _)| s == storage && ns.is_none_or(|ns| n == ns))
        {
            if visit(v).is_break() {
                break;
            }
        }
        g.rv
    }

    /// Visits the objects of `storage` that name owners, are being deleted
    /// or have finalizers, in key order under the lock: what the
    /// controllers' passes look at, without a walk over every object.
    pub fn scan_owned_or_finalized(&self, storage: &str, mut visit: impl FnMut(&Value)) {
        let g = self.lock();
        let start = (storage.to_string(), String::new(), String::new());
        for key in g.marked.range(start..).take_while(|(s, _, _)| s == storage) {
            if let Some(v) = g.objects.get(key) {
                visit(v);
            }
        }
    }

    fn list_locked(g: &Inner, storage: &str, ns: Option<&str>) -> Vec<Arc<Value>> {
        let start = (
            storage.to_string(),
            ns.unwrap_or("").to_string(),
            String::new(),
        );
        g.objects
            .range(start..)
            .take_while(|((s, n, _), _)| s == storage && ns.is_none_or(|ns| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A list and a live receiver taken at the same instant, for watches
    /// that start with the current state.
    pub fn list_and_subscribe(
        &self,
        storage: &str,
        ns: Option<&str>,
    ) -> (Vec<Arc<Value>>, u64, broadcast::Receiver<Arc<Change>>) {
        let g = self.lock();
        let items = Self::list_locked(&g, storage, ns);
        (items, g.rv, self.tx.subscribe())
    }

    /// A receiver of every change committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Changes after `from_rv` plus a live receiver; `Err(oldest)` with the
    /// compacted rv when `from_rv` is older than the retained history.
    pub fn subscribe_from(&self, from_rv: u64) -> std::result::Result<Subscription, u64> {
        let g = self.lock();
        if from_rv < g.compacted_rv {
            return Err(g.compacted_rv);
        }
        let backlog = g
            .history
            .iter()
            .filter(|c| c.rv > from_rv)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            live: self.tx.subscribe(),
        })
    }

    /// Atomically reads the object at (storage, ns, name), lets `f` decide,
    /// and commits the decision: rv bump, log write, history, fan-out.
    pub fn mutate<F>(&self, storage: &str, ns: &str, name: &str, f: F) -> ApiResult<Outcome>
    where
        F: FnOnce(Option<&Value>) -> ApiResult<Mutation>,
    {
        let mut g = self.lock();
        let key = (storage.to_string(), ns.to_string(), name.to_string());
        let current = g.objects.get(&key).map(|o| &**o);
        let existed = current.is_some();
        let decision = f(current)?;
        let (mut object, ty) = match decision {
            Mutation::Unchanged(v) => {
                return Ok(Outcome {
                    object: Arc::new(v),
                    change: None,
                })
            }
            Mutation::Put(v) => {
                let ty = if existed {
                    ChangeType::Modified
                } else {
                    ChangeType::Added
                };
                (v, ty)
            }
            Mutation::Delete(v) => (v, ChangeType::Deleted),
        };
        let rv = g.rv + 1;
        set_rv(&mut object, rv);
        if let Some(p) = g.persist.as_mut() {
            let record = LogRecord {
                rv,
                ty,
                storage,
                object: &object,
            };
            let mut line =
                serde_json::to_vec(&record).map_err(|e| StatusError::internal(e.to_string()))?;
            line.push(b'\n');
            if let Err(e) = p.wal.write_all(&line) {
                let _ = p.wal.set_len(p.wal_len);
                let _ = p.wal.seek(SeekFrom::Start(p.wal_len));
                return Err(StatusError::internal(format!("writing store log: {e}")));
            }
            p.wal_len += line.len() as u64;
            p.writes += 1;
        }
        // As a replay applies it; the map, the change and the answer share
        // the one object, and the one it replaced moves out of the map.
        let object = Arc::new(object);
        let prev = g.write(storage, ty, object.clone(), rv);
        let change = Arc::new(Change {
            rv,
            ty,
            storage: storage.to_string(),
            object: object.clone(),
            prev,
        });
        g.remember(change.clone());
        let _ = self.tx.send(change);
        let due = g
            .persist
            .as_ref()
            .is_some_and(|p| p.writes >= p.compact_every);
        if due {
            let snap = g.snapshot();
            if let Some(p) = g.persist.as_mut() {
                match compact_to_disk(&p.dir, &snap) {
                    Ok(wal) => {
                        p.wal = wal;
                        p.wal_len = 0;
                        p.writes = 0;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "store compaction failed; keeping the log")
                    }
                }
            }
        }
        Ok(Outcome {
            object,
            change: Some(ty),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn rv_increases_and_history_is_bounded() {
        let s = Store::in_memory(2);
        for n in ["a", "b", "c"] {
            s.mutate("configmaps", "default", n, |_| Ok(Mutation::Put(cm(n))))
                .expect("put");
        }
        assert_eq!(s.current_rv(), 3);
        assert_eq!(s.subscribe_from(0).err(), Some(1));
        let sub = s.subscribe_from(1).map_err(|_| ()).expect("in history");
        assert_eq!(sub.backlog.len(), 2);
    }

    #[test]
    fn log_and_snapshot_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = Store::open(dir.path(), 10, 2).expect("open");
            for n in ["a", "b", "c"] {
                s.mutate("configmaps", "default", n, |_| Ok(Mutation::Put(cm(n))))
                    .expect("put");
            }
            s.mutate("configmaps", "default", "a", |cur| {
                Ok(Mutation::Delete(cur.cloned().unwrap_or_default()))
            })
            .expect("delete");
        }
        let s = Store::open(dir.path(), 10, 2).expect("reopen");
        assert_eq!(s.current_rv(), 4);
        let (items, _) = s.list("configmaps", Some("default"));
        assert_eq!(items.len(), 2);
        let sub = s.subscribe_from(2).map_err(|_| ()).expect("history kept");
        assert_eq!(sub.backlog.len(), 2);
    }

    /// The log leaves `prev` out; a replay gives each change the object
    /// as it stood before, as the write did.
    #[test]
    fn a_replayed_change_knows_the_object_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let labelled = |v: &str| json!({"metadata": {"name": "a", "namespace": "default", "labels": {"v": v}}});
        {
            let s = Store::open(dir.path(), 10, 100).expect("open");
            for v in ["1", "2"] {
                s.mutate("configmaps", "default", "a", |_| {
                    Ok(Mutation::Put(labelled(v)))
                })
                .expect("put");
            }
            let log = std::fs::read_to_string(dir.path().join("wal.jsonl")).expect("log");
            assert!(!log.contains("prev"), "{log}");
        }
        let s = Store::open(dir.path(), 10, 100).expect("reopen");
        let sub = s.subscribe_from(0).map_err(|_| ()).expect("history kept");
        let prevs: Vec<Option<&str>> = sub
            .backlog
            .iter()
            .map(|c| {
                c.prev
                    .as_ref()
                    .and_then(|p| p["metadata"]["labels"]["v"].as_str())
            })
            .collect();
        assert_eq!(prevs, [None, Some("1")]);
    }

    fn marked(s: &Store, storage: &str) -> Vec<String> {
        let mut names = Vec::new();
        s.scan_owned_or_finalized(storage, |o| {
            names.push(
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        names
    }

    #[test]
    fn owned_or_finalized_objects_are_indexed_across_writes_and_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let put = |s: &Store, storage: &str, name: &str, meta: Value| {
            let mut o = cm(name);
            if let (Some(m), Some(extra)) = (o["metadata"].as_object_mut(), meta.as_object()) {
                m.extend(extra.clone());
            }
            s.mutate(storage, "default", name, |_| Ok(Mutation::Put(o)))
                .expect("put");
        };
        {
            let s = Store::open(dir.path(), 10, 100).expect("open");
            put(&s, "pods", "bare", json!({}));
            put(
                &s,
                "pods",
                "owned",
                json!({"ownerReferences": [{"uid": "u"}]}),
            );
            put(&s, "pods", "final", json!({"finalizers": ["f"]}));
            put(
                &s,
                "pods",
                "going",
                json!({"deletionTimestamp": "2025-01-01T00:00:00Z"}),
            );
            put(
                &s,
                "pods",
                "empty",
                json!({"ownerReferences": [], "finalizers": []}),
            );
            put(&s, "replicasets", "rs", json!({"finalizers": ["f"]}));
            assert_eq!(marked(&s, "pods"), ["final", "going", "owned"]);
            assert_eq!(marked(&s, "replicasets"), ["rs"]);
            // Released, then deleted: out of the index.
            put(&s, "pods", "final", json!({}));
            s.mutate("pods", "default", "going", |cur| {
                Ok(Mutation::Delete(cur.cloned().unwrap_or_default()))
            })
            .expect("delete");
            assert_eq!(marked(&s, "pods"), ["owned"]);
        }
        // Rebuilt from the snapshot and the log.
        let s = Store::open(dir.path(), 10, 100).expect("reopen");
        assert_eq!(marked(&s, "pods"), ["owned"]);
        assert_eq!(marked(&s, "replicasets"), ["rs"]);
    }
}

//! Watch streams: `?watch=true` as chunked JSON lines, one event per chunk.
//!
//! A watch starts either from the current state (rv "" or "0", or
//! `sendInitialEvents=true`: synthetic ADDED events, then live changes) or
//! from a given resourceVersion (the retained history after it, then live
//! changes; an in-stream ERROR 410 Expired when that rv is older than the
//! history). A watcher that falls further behind than the live buffer
//! (half the history, at least 1024 changes) is closed without an error, as
//! kube-apiserver closes an unresponsive one, and resumes from its
//! resourceVersion. Selector transitions are translated as kube-apiserver's
//! watch cache does: an object that stops matching is sent as DELETED, one that
//! starts matching as ADDED.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::error::{ApiResult, StatusError};
use super::handlers::to_client;
use super::request::Shape;
use super::resources::ResourceType;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{Change, ChangeType, Store};
use super::table::{self, IncludeObject};

/// Everything a watch needs to filter and render events.
pub struct WatchSpec {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub shape: Shape,
    pub include: IncludeObject,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub bookmark_interval: Duration,
}

impl WatchSpec {
    fn matches(&self, obj: &Value) -> bool {
        let ns_ok = match &self.namespace {
            Some(ns) if self.rt.namespaced => {
                obj["metadata"]["namespace"].as_str() == Some(ns.as_str())
            }
            _ => true,
        };
        ns_ok && self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The object as this watch shows it; the stored object itself, not a
    /// copy, when nothing is converted.
    fn render<'a>(&self, stored: &'a Value) -> Cow<'a, Value> {
        if self.shape == Shape::Object && !self.rt.is_events_v1() {
            return Cow::Borrowed(stored);
        }
        let shown = to_client(self.rt, stored);
        Cow::Owned(match self.shape {
            Shape::Object => shown,
            Shape::PartialMetadata => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": shown["metadata"]})
            }
            Shape::Table => {
                let rv = stored["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default();
                table::table(
                    vec![table::row(self.rt, stored, &shown, self.include)],
                    table::columns(self.rt),
                    rv,
                    None,
                )
            }
        })
    }

    /// The event (if any) a change means to this watch.
    pub fn translate<'a>(&self, change: &'a Change) -> Option<(&'static str, Cow<'a, Value>)> {
        if change.storage != self.rt.storage {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.prev.as_ref().is_some_and(|p| self.matches(p));
        let ty = match change.ty {
            ChangeType::Added if now => "ADDED",
            ChangeType::Deleted if now || before => "DELETED",
            ChangeType::Modified => match (before, now) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            },
            _ => return None,
        };
        Some((ty, self.render(&change.object)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut md = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object =
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": md});
        event("BOOKMARK", &object)
    }
}

/// One watch event as a JSON line, `type` first as kube-apiserver writes
/// it (`metav1.WatchEvent`'s field order): a client that decodes the event
/// by its type (kube-rs' `WatchEvent`, an adjacently tagged enum) then
/// reads the object directly instead of buffering it until the type comes.
fn event(ty: &str, object: &Value) -> Bytes {
    let mut b = Vec::with_capacity(256);
    b.extend_from_slice(b"{\"type\":");
    // Neither can fail: a str and a JSON value into a Vec.
    let _ = serde_json::to_writer(&mut b, ty);
    b.extend_from_slice(b",\"object\":");
    let _ = serde_json::to_writer(&mut b, object);
    b.extend_from_slice(b"}\n");
    Bytes::from(b)
}

/// The lines of the latest changes, shared by the watches that send a
/// change as stored: each pod change goes to every pod watcher (a
/// scheduler, the kubelets' informers, a client's `-w`), and all but the
/// first send the bytes the first one wrote. Only the latest few are kept
/// (the history of 100,000 changes keeps no bytes): the watchers read a
/// change within moments of each other, and one that comes later writes
/// its own line.
#[derive(Default)]
pub struct Lines {
    recent: Mutex<VecDeque<(u64, &'static str, Bytes)>>,
}

/// Lines kept: a few hundred changes of a few KiB each.
const LINES_KEPT: usize = 256;

impl Lines {
    /// The line of change `rv` as `ty`, showing `object` as stored.
    fn line(&self, rv: u64, ty: &'static str, object: &Value) -> Bytes {
        let lock = || self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, line)) = lock().iter().rev().find(|(r, t, _)| *r == rv && *t == ty) {
            return line.clone();
        }
        let line = event(ty, object);
        let mut recent = lock();
        recent.push_back((rv, ty, line.clone()));
        if recent.len() > LINES_KEPT {
            recent.pop_front();
        }
        line
    }

    /// A change's line for `spec`'s watch, if it means an event to it.
    fn of(&self, spec: &WatchSpec, change: &Change) -> Option<Bytes> {
        let (ty, shown) = spec.translate(change)?;
        Some(match shown {
            Cow::Borrowed(stored) => self.line(change.rv, ty, stored),
            Cow::Owned(converted) => event(ty, &converted),
        })
    }
}

fn expired_event(requested: u64, oldest: u64) -> Bytes {
    let st = StatusError::expired(format!("too old resource version: {requested} ({oldest})"));
    event("ERROR", &st.to_status())
}

/// Where a watch starts.
pub enum Start {
    /// Current state as ADDED events; `initial_end` adds the
    /// `k8s.io/initial-events-end` bookmark (sendInitialEvents).
    Now { initial_end: bool },
    /// After this resourceVersion.
    From(u64),
}

/// Parses the watch parameters.
pub fn parse_start(q: &HashMap<String, String>) -> ApiResult<Start> {
    let initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    match q.get("resourceVersion").map(String::as_str) {
        _ if initial => Ok(Start::Now { initial_end: true }),
        None | Some("") | Some("0") => Ok(Start::Now { initial_end: false }),
        Some(rv) => rv
            .parse()
            .map(Start::From)
            .map_err(|_| StatusError::bad_request(format!("invalid resource version: {rv}"))),
    }
}

/// Starts a watch and returns the receiving end of its chunk stream.
pub fn spawn(
    store: Arc<Store>,
    lines: Arc<Lines>,
    spec: WatchSpec,
    start: Start,
    mut closing: tokio::sync::watch::Receiver<u64>,
) -> mpsc::Receiver<Result<Bytes, Infallible>> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    tokio::spawn(async move {
        let (mut live, mut last_rv) = match start {
            Start::Now { initial_end } => {
                let ns = if spec.rt.namespaced {
                    spec.namespace.as_deref()
                } else {
                    None
                };
                let (items, rv, live) = store.list_and_subscribe(spec.rt.storage, ns);
                for obj in items.iter().filter(|o| spec.matches(o)) {
                    if tx
                        .send(Ok(event("ADDED", &spec.render(obj))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if initial_end && tx.send(Ok(spec.bookmark(rv, true))).await.is_err() {
                    return;
                }
                (live, rv)
            }
            Start::From(rv) => match store.subscribe_from(rv) {
                Err(oldest) => {
                    let _ = tx.send(Ok(expired_event(rv, oldest))).await;
                    return;
                }
                Ok(sub) => {
                    let mut last = rv;
                    for change in sub.backlog {
                        last = last.max(change.rv);
                        if let Some(line) = lines.of(&spec, &change) {
                            if tx.send(Ok(line)).await.is_err() {
                                return;
                            }
                        }
                    }
                    (sub.live, last)
                }
            },
        };
        let deadline = tokio::time::sleep(spec.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(
            tokio::time::Instant::now() + spec.bookmark_interval,
            spec.bookmark_interval,
        );
        loop {
            tokio::select! {
                _ = tx.closed() => break,
                _ = &mut deadline => break,
                _ = closing.changed() => break,
                _ = ticker.tick(), if spec.bookmarks => {
                    if tx.send(Ok(spec.bookmark(last_rv, false))).await.is_err() {
                        break;
                    }
                }
                r = live.recv() => match r {
                    Ok(change) => {
                        if change.rv <= last_rv {
                            continue;
                        }
                        last_rv = change.rv;
                        if let Some(line) = lines.of(&spec, &change) {
                            if tx.send(Ok(line)).await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // A watcher too slow for the stream is closed, as
                        // kube-apiserver's cacher closes an unresponsive
                        // one: no 410, so the client resumes from its last
                        // resourceVersion (from the history while it holds
                        // it) instead of listing everything again.
                        tracing::debug!(resource = spec.rt.plural, last_rv, "watcher fell behind; stream closed");
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        tracing::debug!(resource = spec.rt.plural, "watch ended");
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;

    fn spec(labels: &str) -> WatchSpec {
        WatchSpec {
            rt: resources::pods(),
            namespace: Some("default".into()),
            labels: LabelSelector::parse(labels).expect("selector"),
            fields: FieldSelector::default(),
            shape: Shape::Object,
            include: IncludeObject::Metadata,
            bookmarks: false,
            timeout: Duration::from_secs(60),
            bookmark_interval: Duration::from_secs(60),
        }
    }

    fn change(ty: ChangeType, prev: Option<Value>, obj: Value) -> Change {
        Change {
            rv: 2,
            ty,
            storage: "pods".into(),
            object: Arc::new(obj),
            prev: prev.map(Arc::new),
        }
    }

    /// kube-apiserver's order: the type, then the object.
    #[test]
    fn an_event_line_names_its_type_first() {
        let obj = json!({"metadata": {"name": "p", "namespace": "default"}, "apiVersion": "v1"});
        let line = event("MODIFIED", &obj);
        let text = std::str::from_utf8(&line).expect("utf-8");
        assert!(
            text.starts_with("{\"type\":\"MODIFIED\",\"object\":{"),
            "{text}"
        );
        assert!(text.ends_with("}\n"), "{text}");
        let back: Value = serde_json::from_str(text).expect("json");
        assert_eq!(back, json!({"type": "MODIFIED", "object": obj}));
    }

    #[test]
    fn selector_transitions() {
        let s = spec("app=web");
        let web = json!({"metadata": {"namespace": "default", "labels": {"app": "web"}}});
        let db = json!({"metadata": {"namespace": "default", "labels": {"app": "db"}}});
        let t = |c: Change| s.translate(&c).map(|(ty, _)| ty);
        assert_eq!(
            t(change(ChangeType::Modified, Some(web.clone()), db.clone())),
            Some("DELETED")
        );
        assert_eq!(
            t(change(ChangeType::Modified, Some(db.clone()), web.clone())),
            Some("ADDED")
        );
        assert_eq!(
            t(change(ChangeType::Modified, Some(db.clone()), db.clone())),
            None
        );
        assert_eq!(
            t(change(ChangeType::Added, None, web.clone())),
            Some("ADDED")
        );
        let other_ns = json!({"metadata": {"namespace": "x", "labels": {"app": "web"}}});
        assert_eq!(t(change(ChangeType::Added, None, other_ns)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_rv_gets_410_in_stream() {
        let store = Arc::new(Store::in_memory(1));
        for n in ["a", "b", "c"] {
            store
                .mutate("pods", "default", n, |_| {
                    Ok(crate::apiserver::store::Mutation::Put(
                        json!({"metadata": {"name": n, "namespace": "default"}}),
                    ))
                })
                .expect("put");
        }
        let (_tx, closing) = tokio::sync::watch::channel(0);
        let mut rx = spawn(store, Arc::default(), spec(""), Start::From(1), closing);
        let first = rx.recv().await.expect("event").expect("bytes");
        let v: Value = serde_json::from_slice(&first).expect("json");
        assert_eq!(v["type"], "ERROR");
        assert_eq!(v["object"]["code"], 410);
        assert_eq!(v["object"]["message"], "too old resource version: 1 (2)");
    }

    /// Watches of the stored shape send one change as the same bytes; a
    /// watch to which the change means another event (an object that
    /// starts matching its selector) writes its own line.
    #[tokio::test]
    async fn watches_share_the_line_of_a_change() {
        let store = Arc::new(Store::in_memory(16));
        let lines: Arc<Lines> = Arc::default();
        let labelled = |app: &str| json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": app}}});
        let write = |obj: Value| {
            store
                .mutate("pods", "default", "p", |_| {
                    Ok(crate::apiserver::store::Mutation::Put(obj))
                })
                .expect("put");
        };
        write(labelled("db"));
        let (_tx, closing) = tokio::sync::watch::channel(0);
        let from = Start::From(store.current_rv());
        let mut all_a = spawn(
            store.clone(),
            lines.clone(),
            spec(""),
            Start::From(1),
            closing.clone(),
        );
        let mut all_b = spawn(
            store.clone(),
            lines.clone(),
            spec(""),
            Start::From(1),
            closing.clone(),
        );
        let mut web = spawn(store.clone(), lines.clone(), spec("app=web"), from, closing);
        tokio::task::yield_now().await;
        write(labelled("web"));
        async fn recv(rx: &mut mpsc::Receiver<Result<Bytes, Infallible>>) -> Bytes {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(Ok(line))) => line,
                other => panic!("no line: {other:?}"),
            }
        }
        let (a, b, w) = (
            recv(&mut all_a).await,
            recv(&mut all_b).await,
            recv(&mut web).await,
        );
        let ty =
            |line: &Bytes| serde_json::from_slice::<Value>(line).expect("json")["type"].clone();
        assert_eq!(
            (ty(&a), ty(&b), ty(&w)),
            (json!("MODIFIED"), json!("MODIFIED"), json!("ADDED"))
        );
        assert_eq!(a.as_ptr(), b.as_ptr(), "one line for both watches");
        assert_ne!(a.as_ptr(), w.as_ptr());
    }

    fn put(store: &Store, name: &str) {
        store
            .mutate("pods", "default", name, |_| {
                Ok(crate::apiserver::store::Mutation::Put(
                    json!({"metadata": {"name": name, "namespace": "default"}}),
                ))
            })
            .expect("put");
    }

    fn rv_of(v: &Value) -> u64 {
        v["object"]["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .expect("rv")
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_closed_without_410_and_resumes() {
        // The client reads the first changes, then stops reading while more
        // changes than the live buffer holds are made: the stream ends with
        // no ERROR event, and a watch from the last rv the client saw gets
        // every later change from the history, none twice, none lost.
        let history = 8192;
        let store = Arc::new(Store::in_memory(history));
        let (_tx, closing) = tokio::sync::watch::channel(0);
        let mut rx = spawn(
            store.clone(),
            Arc::default(),
            spec(""),
            Start::From(0),
            closing.clone(),
        );
        tokio::task::yield_now().await;
        let early = 10;
        for i in 0..early {
            put(&store, &format!("p{i}"));
        }
        let mut names = Vec::new();
        let mut last_rv = 0u64;
        for _ in 0..early {
            let b = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("hang guard")
                .expect("open")
                .expect("line");
            let v: Value = serde_json::from_slice(&b).expect("json");
            last_rv = rv_of(&v);
            names.push(v["object"]["metadata"]["name"].to_string());
        }
        let total = history * 3 / 4;
        for i in early..total {
            put(&store, &format!("p{i}"));
        }
        while let Some(Ok(b)) = rx.recv().await {
            let v: Value = serde_json::from_slice(&b).expect("json");
            assert_eq!(v["type"], "ADDED", "no ERROR event: {v}");
            last_rv = rv_of(&v);
            names.push(v["object"]["metadata"]["name"].to_string());
        }
        assert!(
            names.len() < total,
            "the watcher was closed ({} of {total} events)",
            names.len()
        );
        let mut rx = spawn(
            store,
            Arc::default(),
            spec(""),
            Start::From(last_rv),
            closing,
        );
        while names.len() < total {
            let Ok(Some(Ok(b))) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await
            else {
                break;
            };
            let v: Value = serde_json::from_slice(&b).expect("json");
            assert_eq!(v["type"], "ADDED", "no ERROR event on resuming: {v}");
            names.push(v["object"]["metadata"]["name"].to_string());
        }
        let expected: Vec<String> = (0..total).map(|i| format!("\"p{i}\"")).collect();
        assert_eq!(
            names, expected,
            "every change once, in order, across the two watches"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bookmarks_and_timeout() {
        let store = Arc::new(Store::in_memory(10));
        let mut s = spec("");
        s.bookmarks = true;
        s.bookmark_interval = Duration::from_secs(10);
        s.timeout = Duration::from_secs(25);
        let (_tx, closing) = tokio::sync::watch::channel(0);
        let mut rx = spawn(
            store,
            Arc::default(),
            s,
            Start::Now { initial_end: true },
            closing,
        );
        let mut kinds = Vec::new();
        while let Some(Ok(b)) = rx.recv().await {
            let v: Value = serde_json::from_slice(&b).expect("json");
            kinds.push(v["type"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(kinds, vec!["BOOKMARK", "BOOKMARK", "BOOKMARK"]);
    }
}

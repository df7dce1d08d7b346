//! `/containerLogs/{namespace}/{pod}/{container}` as the kubelet serves it.
//!
//! Both runtimes write container logs in the CRI format
//! (`<RFC3339Nano> <stdout|stderr> <P|F> <content>`), so one reader serves
//! both. Everything that decides *what* is sent is pure and follows the
//! kubelet exactly:
//! - query decoding and validation (`pkg/kubelet/server/server.go`
//!   getContainerLogs: the legacy `tail` parameter, 400 "Unable to decode
//!   query.", 422 "Invalid request.");
//! - which container instance's log is read (`kubelet_pods.go`
//!   validateContainerLogStatus, with its error messages);
//! - the reading itself (`pkg/kubelet/kuberuntime/logs/logs.go` ReadLogs):
//!   `tailLines` counts raw lines from the end of the current file, the CRI
//!   prefix is stripped unless `timestamps` (which prints the entry's time in
//!   RFC3339Nano with nine digits), a `P` entry loses its newline so partial
//!   lines join, `sinceSeconds`/`sinceTime` skip older entries, `limitBytes`
//!   cuts the output, rotated files are not read.
//!
//! Only the file reading and following ([`read_logs`]) does I/O: it polls
//! the file while the container runs (the kubelet's fsnotify watch also
//! falls back to a one-second poll), then drains what is left and ends.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use k8s_openapi::api::core::v1 as core;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

/// Options of a log request, as the kubelet's `LogOptions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Lines from the end; -1 for all.
    pub tail: i64,
    /// Byte limit; -1 for none.
    pub bytes: i64,
    /// Entries older than this are skipped.
    pub since: Option<Timestamp>,
    /// Keep streaming while the container runs.
    pub follow: bool,
    /// Prefix each entry with its time.
    pub timestamps: bool,
}

/// A decoded log request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// Read the previous instance's log.
    pub previous: bool,
    /// Reading options, resolved against the request time.
    pub options: LogOptions,
}

/// Why a query was refused; the status and body are the kubelet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter does not decode: 400.
    #[error(r#"{{"message": "Unable to decode query."}}"#)]
    Undecodable,
    /// The options fail validation: 422.
    #[error(r#"{{"message": "Invalid request."}}"#)]
    Invalid,
}

impl QueryError {
    /// The HTTP status the kubelet answers with.
    pub fn status(&self) -> u16 {
        match self {
            QueryError::Undecodable => 400,
            QueryError::Invalid => 422,
        }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Decodes and validates a `/containerLogs` query string at `now`.
pub fn parse_query(query: &str, now: Timestamp) -> Result<LogQuery, QueryError> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // Legacy `tail`: replaces tailLines; "all" means no tail.
    if let Some((_, tail)) = pairs.iter().rev().find(|(k, _)| k == "tail").cloned() {
        if !tail.is_empty() {
            pairs.retain(|(k, _)| k != "tailLines" && k != "tail");
            if tail != "all" {
                pairs.push(("tailLines".into(), tail));
            }
        }
    }
    // The first value of a parameter wins, as Go's url.Values.Get.
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let flag = |key: &str| -> Result<bool, QueryError> {
        match get(key) {
            None | Some("") => Ok(false),
            Some(v) => parse_bool(v).ok_or(QueryError::Undecodable),
        }
    };
    let int = |key: &str| -> Result<Option<i64>, QueryError> {
        match get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| QueryError::Undecodable),
        }
    };
    let follow = flag("follow")?;
    let previous = flag("previous")?;
    let timestamps = flag("timestamps")?;
    let tail_lines = int("tailLines")?;
    let limit_bytes = int("limitBytes")?;
    let since_seconds = int("sinceSeconds")?;
    let since_time = match get("sinceTime") {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<Timestamp>()
                .map_err(|_| QueryError::Undecodable)?,
        ),
    };
    // ValidatePodLogOptions.
    if tail_lines.is_some_and(|t| t < 0)
        || limit_bytes.is_some_and(|b| b < 1)
        || since_seconds.is_some_and(|s| s < 1)
        || (since_seconds.is_some() && since_time.is_some())
    {
        return Err(QueryError::Invalid);
    }
    // NewLogOptions: the later of sinceSeconds and sinceTime.
    let mut since = since_seconds.map(|s| {
        now.checked_sub(jiff::SignedDuration::from_secs(s))
            .unwrap_or(Timestamp::MIN)
    });
    if let Some(t) = since_time {
        if since.is_none_or(|s| t > s) {
            since = Some(t);
        }
    }
    Ok(LogQuery {
        previous,
        options: LogOptions {
            tail: tail_lines.unwrap_or(-1),
            bytes: limit_bytes.unwrap_or(-1),
            since,
            follow,
            timestamps,
        },
    })
}

/// Which container instance a request reads, from the pod's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Container ID as in the status (`process://...`).
    pub container_id: String,
    /// Whether it is the newest instance's log (its newest file), as
    /// opposed to the one before it (`previous`).
    pub current: bool,
}

/// The kubelet's `validateContainerLogStatus`: the container ID to read,
/// or the error text (sent with 400).
pub fn select_container(
    status: &core::PodStatus,
    pod_name: &str,
    container: &str,
    previous: bool,
) -> Result<LogTarget, String> {
    let cs = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .find(|c| c.name == container);
    let Some(cs) = cs else {
        return Err(format!(
            "container {container:?} in pod {pod_name:?} is not available"
        ));
    };
    let state = cs.state.clone().unwrap_or_default();
    let last = cs.last_state.clone().unwrap_or_default();
    let last_id = last
        .terminated
        .as_ref()
        .and_then(|t| t.container_id.clone())
        .filter(|id| !id.is_empty());
    let target = |id: String, current: bool| {
        Ok(LogTarget {
            container_id: id,
            current,
        })
    };
    if previous {
        return match last_id {
            Some(id) => target(id, false),
            None => Err(format!(
                "previous terminated container {container:?} in pod {pod_name:?} not found"
            )),
        };
    }
    if let Some(running) = &state.running {
        let _ = running;
        if let Some(id) = cs.container_id.clone().filter(|i| !i.is_empty()) {
            return target(id, true);
        }
    }
    if let Some(t) = &state.terminated {
        return match t.container_id.clone().filter(|i| !i.is_empty()) {
            Some(id) => target(id, true),
            None => match last_id {
                Some(id) => target(id, true),
                None => Err(format!(
                    "container {container:?} in pod {pod_name:?} is terminated"
                )),
            },
        };
    }
    if last.terminated.is_some() {
        return match last_id {
            Some(id) => target(id, true),
            None => Err(format!(
                "container {container:?} in pod {pod_name:?} is terminated"
            )),
        };
    }
    if let Some(w) = &state.waiting {
        let reason = w.reason.clone().unwrap_or_default();
        return Err(match reason.as_str() {
            "ErrImagePull" => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: image can't be pulled"
            ),
            "ImagePullBackOff" => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: trying and failing to pull image"
            ),
            _ => format!("container {container:?} in pod {pod_name:?} is waiting to start: {reason}"),
        });
    }
    Err(format!(
        "container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"
    ))
}

/// The offset where the last `n` lines of `data` start
/// (`pkg/util/tail.FindTailLineStartIndex`): 0 for `n < 0`.
pub fn tail_start(data: &[u8], n: i64) -> usize {
    if n < 0 {
        return 0;
    }
    let total = data.iter().filter(|b| **b == b'\n').count() as u64;
    let n = n as u64;
    if total <= n {
        return 0;
    }
    // Skip the first `total - n` lines.
    let mut skip = total - n;
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' {
            skip -= 1;
            if skip == 0 {
                return i + 1;
            }
        }
    }
    data.len()
}

/// One parsed CRI log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    /// Entry time.
    pub timestamp: Timestamp,
    /// `stdout` or `stderr`.
    pub stderr: bool,
    /// Content, with its newline for full entries, without for partial ones.
    pub log: Vec<u8>,
}

/// Parses one CRI log line (with its newline, if any) as `parseCRILog`.
pub fn parse_cri_line(line: &[u8]) -> Option<LogMessage> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?;
    let timestamp: Timestamp = ts.parse().ok()?;
    let stderr = match parts.next()? {
        b"stdout" => false,
        b"stderr" => true,
        _ => return None,
    };
    let tag = parts.next()?;
    let mut log = parts.next()?.to_vec();
    let partial = tag.split(|b| *b == b':').next() == Some(b"P");
    if partial && log.last() == Some(&b'\n') {
        log.pop();
    }
    Some(LogMessage {
        timestamp,
        stderr,
        log,
    })
}

/// RFC3339 with a fixed nine-digit fraction (`RFC3339NanoFixed`).
pub fn format_timestamp(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S.%NZ").to_string()
}

/// The kubelet's `logWriter`: since-filtering, timestamps and the byte limit.
#[derive(Debug, Clone)]
pub struct LogWriter {
    since: Option<Timestamp>,
    timestamps: bool,
    remain: i64,
}

impl LogWriter {
    /// A writer for `options`.
    pub fn new(options: &LogOptions) -> Self {
        Self {
            since: options.since,
            timestamps: options.timestamps,
            remain: if options.bytes >= 0 {
                options.bytes
            } else {
                i64::MAX
            },
        }
    }

    /// The bytes to send for `msg`, and whether the byte limit is reached.
    pub fn write(&mut self, msg: &LogMessage) -> (Vec<u8>, bool) {
        if self.since.is_some_and(|s| msg.timestamp < s) {
            return (Vec::new(), false);
        }
        let mut line = Vec::with_capacity(msg.log.len() + 32);
        if self.timestamps {
            line.extend_from_slice(format_timestamp(msg.timestamp).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&msg.log);
        if line.len() as i64 > self.remain {
            line.truncate(self.remain.max(0) as usize);
        }
        self.remain -= line.len() as i64;
        let done = self.remain <= 0;
        (line, done)
    }
}

/// The output of a whole (non-following) read of `data`.
pub fn render(data: &[u8], options: &LogOptions) -> Vec<u8> {
    let mut reader = Reader::new(options);
    let mut out = Vec::new();
    let start = tail_start(data, options.tail);
    reader.feed(&data[start..], true, &mut out);
    out
}

/// Incremental log reading state (lines counted, bytes left).
#[derive(Debug, Clone)]
struct Reader {
    writer: LogWriter,
    limited: Option<i64>,
    done: bool,
}

impl Reader {
    fn new(options: &LogOptions) -> Self {
        Self {
            writer: LogWriter::new(options),
            limited: (options.tail >= 0 && !options.follow).then_some(options.tail),
            done: false,
        }
    }

    /// Consumes complete lines of `data` (and, at `eof`, an unterminated
    /// last one); returns how many bytes were consumed.
    fn feed(&mut self, data: &[u8], eof: bool, out: &mut Vec<u8>) -> usize {
        let mut pos = 0;
        while !self.done && pos < data.len() {
            if self.limited == Some(0) {
                self.done = true;
                break;
            }
            let rest = &data[pos..];
            let line = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => &rest[..=i],
                None if eof => {
                    // An incomplete last line: written, then stop.
                    self.done = true;
                    rest
                }
                None => break,
            };
            pos += line.len();
            let Some(msg) = parse_cri_line(line) else {
                tracing::debug!("skipping a log line that is not in CRI format");
                continue;
            };
            let (bytes, full) = self.writer.write(&msg);
            out.extend_from_slice(&bytes);
            if full {
                self.done = true;
            }
            if let Some(n) = self.limited.as_mut() {
                *n -= 1;
            }
        }
        if self.limited == Some(0) {
            self.done = true;
        }
        pos
    }
}

/// How often a followed log is polled for new data. The kubelet wakes on
/// fsnotify and at least every second.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Reads `path` with `options` into `tx`; when following, keeps reading
/// while `running()` says the container runs. Ends when the receiver goes.
pub async fn read_logs<F>(
    path: &Path,
    options: &LogOptions,
    running: F,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> std::io::Result<()>
where
    F: Fn() -> futures::future::BoxFuture<'static, bool>,
{
    let data = tokio::fs::read(path).await?;
    let start = tail_start(&data, options.tail);
    let mut reader = Reader::new(options);
    let mut out = Vec::new();
    if !options.follow {
        reader.feed(&data[start..], true, &mut out);
        if !out.is_empty() {
            let _ = tx.send(Ok(Bytes::from(out))).await;
        }
        return Ok(());
    }
    let mut offset = start as u64 + reader.feed(&data[start..], false, &mut out) as u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut draining = false;
    loop {
        if !out.is_empty()
            && tx
                .send(Ok(Bytes::from(std::mem::take(&mut out))))
                .await
                .is_err()
        {
            return Ok(());
        }
        if reader.done {
            return Ok(());
        }
        // Read what was appended since `offset`.
        let mut file = tokio::fs::File::open(path).await?;
        let len = file.metadata().await?.len();
        if len < offset {
            // Truncated or replaced: start over at its beginning.
            offset = 0;
            pending.clear();
        }
        file.seek(std::io::SeekFrom::Start(offset + pending.len() as u64))
            .await?;
        let mut fresh = Vec::new();
        file.read_to_end(&mut fresh).await?;
        if !fresh.is_empty() {
            pending.extend_from_slice(&fresh);
            let used = reader.feed(&pending, false, &mut out);
            offset += used as u64;
            pending.drain(..used);
            continue;
        }
        if draining {
            return Ok(());
        }
        if !running().await {
            // One more read after the container stopped, then the end.
            draining = true;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn opts() -> LogOptions {
        LogOptions {
            tail: -1,
            bytes: -1,
            since: None,
            follow: false,
            timestamps: false,
        }
    }

    const LOG: &[u8] = b"2024-01-01T00:00:01.000000001Z stdout F one\n\
2024-01-01T00:00:02.5Z stderr F two\n\
2024-01-01T00:00:03Z stdout P thr\n\
2024-01-01T00:00:03.1Z stdout F ee\n\
2024-01-01T00:00:04Z stdout F four\n";

    #[test]
    fn prefix_is_stripped_and_partial_lines_join() {
        assert_eq!(render(LOG, &opts()), b"one\ntwo\nthree\nfour\n");
    }

    #[test]
    fn timestamps_are_rfc3339_with_nine_digits_on_every_entry() {
        let o = LogOptions {
            timestamps: true,
            ..opts()
        };
        let out = String::from_utf8(render(LOG, &o)).unwrap();
        assert_eq!(
            out,
            "2024-01-01T00:00:01.000000001Z one\n\
2024-01-01T00:00:02.500000000Z two\n\
2024-01-01T00:00:03.000000000Z thr\
2024-01-01T00:00:03.100000000Z ee\n\
2024-01-01T00:00:04.000000000Z four\n"
        );
    }

    #[test]
    fn tail_counts_raw_lines_from_the_end() {
        let o = |tail| LogOptions { tail, ..opts() };
        assert_eq!(render(LOG, &o(1)), b"four\n");
        // A partial entry is a line of its own for tail.
        assert_eq!(render(LOG, &o(2)), b"ee\nfour\n");
        assert_eq!(render(LOG, &o(0)), b"");
        assert_eq!(render(LOG, &o(99)), render(LOG, &opts()));
        assert_eq!(tail_start(b"a\nb\nc", 1), 2, "unterminated last line");
    }

    #[test]
    fn since_skips_older_entries_and_limit_cuts() {
        let o = LogOptions {
            since: Some(ts("2024-01-01T00:00:03Z")),
            ..opts()
        };
        assert_eq!(render(LOG, &o), b"three\nfour\n");
        let o = LogOptions { bytes: 6, ..opts() };
        assert_eq!(render(LOG, &o), b"one\ntw");
    }

    #[test]
    fn query_decoding_and_validation_match_the_kubelet() {
        let now = ts("2024-01-01T00:01:00Z");
        let q = parse_query(
            "follow=true&tailLines=5&timestamps=1&limitBytes=10&sinceSeconds=30",
            now,
        )
        .unwrap();
        assert!(q.options.follow && q.options.timestamps && !q.previous);
        assert_eq!(q.options.tail, 5);
        assert_eq!(q.options.bytes, 10);
        assert_eq!(q.options.since, Some(ts("2024-01-01T00:00:30Z")));
        assert_eq!(
            parse_query("tail=all&tailLines=3", now)
                .unwrap()
                .options
                .tail,
            -1
        );
        assert_eq!(parse_query("tail=7", now).unwrap().options.tail, 7);
        assert_eq!(
            parse_query("sinceTime=2024-01-01T00:00:10Z", now)
                .unwrap()
                .options
                .since,
            Some(ts("2024-01-01T00:00:10Z"))
        );
        assert_eq!(parse_query("follow=yes", now), Err(QueryError::Undecodable));
        assert_eq!(
            parse_query("tailLines=x", now),
            Err(QueryError::Undecodable)
        );
        assert_eq!(parse_query("tailLines=-1", now), Err(QueryError::Invalid));
        assert_eq!(parse_query("limitBytes=0", now), Err(QueryError::Invalid));
        assert_eq!(parse_query("sinceSeconds=0", now), Err(QueryError::Invalid));
        assert_eq!(
            parse_query("sinceSeconds=1&sinceTime=2024-01-01T00:00:10Z", now),
            Err(QueryError::Invalid)
        );
        assert_eq!(QueryError::Invalid.status(), 422);
        assert_eq!(
            QueryError::Undecodable.to_string(),
            r#"{"message": "Unable to decode query."}"#
        );
    }

    fn status(
        state: core::ContainerState,
        last: Option<core::ContainerState>,
        id: &str,
    ) -> core::PodStatus {
        core::PodStatus {
            container_statuses: Some(vec![core::ContainerStatus {
                name: "c".into(),
                container_id: (!id.is_empty()).then(|| id.to_string()),
                state: Some(state),
                last_state: last,
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn terminated(id: &str) -> core::ContainerState {
        core::ContainerState {
            terminated: Some(core::ContainerStateTerminated {
                container_id: Some(id.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_instance_read_follows_validate_container_log_status() {
        let running = core::ContainerState {
            running: Some(Default::default()),
            ..Default::default()
        };
        let waiting = |reason: &str| core::ContainerState {
            waiting: Some(core::ContainerStateWaiting {
                reason: Some(reason.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = status(
            running.clone(),
            Some(terminated("process://old")),
            "process://new",
        );
        assert_eq!(
            select_container(&s, "p", "c", false).unwrap(),
            LogTarget {
                container_id: "process://new".into(),
                current: true
            }
        );
        assert_eq!(
            select_container(&s, "p", "c", true).unwrap().container_id,
            "process://old"
        );
        // CrashLoopBackOff: waiting now, the last run's log is served.
        let s = status(
            waiting("CrashLoopBackOff"),
            Some(terminated("process://old")),
            "process://old",
        );
        assert_eq!(
            select_container(&s, "p", "c", false).unwrap().container_id,
            "process://old"
        );
        let s = status(waiting("ContainerCreating"), None, "");
        assert_eq!(
            select_container(&s, "p", "c", false).unwrap_err(),
            r#"container "c" in pod "p" is waiting to start: ContainerCreating"#
        );
        assert_eq!(
            select_container(&s, "p", "c", true).unwrap_err(),
            r#"previous terminated container "c" in pod "p" not found"#
        );
        let s = status(waiting("ImagePullBackOff"), None, "");
        assert_eq!(
            select_container(&s, "p", "c", false).unwrap_err(),
            r#"container "c" in pod "p" is waiting to start: trying and failing to pull image"#
        );
    }

    #[tokio::test]
    async fn following_streams_appended_lines_until_the_container_stops() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, &LOG[..44]).unwrap();
        let alive = Arc::new(AtomicBool::new(true));
        let (tx, mut rx) = mpsc::channel(8);
        let o = LogOptions {
            follow: true,
            ..opts()
        };
        let flag = alive.clone();
        let p = path.clone();
        let task = tokio::spawn(async move {
            read_logs(
                &p,
                &o,
                move || {
                    let f = flag.clone();
                    Box::pin(async move { f.load(Ordering::SeqCst) })
                },
                tx,
            )
            .await
        });
        assert_eq!(&rx.recv().await.unwrap().unwrap()[..], b"one\n");
        std::fs::write(&path, LOG).unwrap();
        let mut got = Vec::new();
        while got.len() < b"two\nthree\nfour\n".len() {
            got.extend_from_slice(&rx.recv().await.unwrap().unwrap());
        }
        assert_eq!(got, b"two\nthree\nfour\n");
        alive.store(false, Ordering::SeqCst);
        assert!(rx.recv().await.is_none());
        task.await.unwrap().unwrap();
    }
}

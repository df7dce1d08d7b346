//! Container logs in the kubelet's CRI format, with size-based rotation.
//!
//! Each line is `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>\n`,
//! the format containerd writes and the kubelet's log reader parses
//! (`pkg/kubelet/kuberuntime/logs`). A line longer than [`MAX_LINE`] bytes is
//! split into `P` (partial) entries ending with one `F` (full) entry, like
//! containerd's 16 KiB buffer. Writing the same format as the CRI runtime lets
//! one log server (`/containerLogs`) serve both runtimes.
//!
//! Rotation is by size: when the current file would exceed `max_size`, it is
//! renamed `<path>.1` (older ones shift to `.2`, ...) and only `max_files`
//! files in total are kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// Longest content of a single entry, as containerd's buffer.
pub const MAX_LINE: usize = 16 * 1024;

/// Log rotation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRotation {
    /// Largest size of one file in bytes. Default 10 MiB (kubelet's
    /// `containerLogMaxSize` default).
    pub max_size: u64,
    /// Files kept, the current one included. Default 2; at least 1.
    pub max_files: usize,
}

impl Default for LogRotation {
    fn default() -> Self {
        Self {
            max_size: 10 * 1024 * 1024,
            max_files: 2,
        }
    }
}

/// The stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Formats one CRI log entry. `full` selects the `F` tag, otherwise `P`.
pub fn format_entry(ts: Timestamp, stream: Stream, full: bool, content: &[u8]) -> Vec<u8> {
    // containerd writes a fixed nine-digit fraction; Go's RFC3339Nano parser
    // accepts it.
    let stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%NZ").to_string();
    let mut out = Vec::with_capacity(stamp.len() + content.len() + 12);
    out.extend_from_slice(stamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.push(b' ');
    out.push(if full { b'F' } else { b'P' });
    out.push(b' ');
    out.extend_from_slice(content);
    out.push(b'\n');
    out
}

/// Splits raw output into entries: completed lines become `F` entries,
/// over-long runs become `P` entries; the unterminated rest stays in `buf`.
/// A line ends with `\n` or `\r\n` (what a terminal writes), neither kept,
/// as containerd's log reader does.
pub fn drain_entries(buf: &mut Vec<u8>, eof: bool) -> Vec<(bool, Vec<u8>)> {
    let mut entries = Vec::new();
    loop {
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            if pos <= MAX_LINE {
                let mut line: Vec<u8> = buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                entries.push((true, line));
                continue;
            }
        }
        if buf.len() > MAX_LINE {
            let part: Vec<u8> = buf.drain(..MAX_LINE).collect();
            entries.push((false, part));
            continue;
        }
        break;
    }
    if eof && !buf.is_empty() {
        entries.push((true, std::mem::take(buf)));
    }
    entries
}

/// A CRI log file with rotation. Not thread-safe: share it behind a mutex.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    rotation: LogRotation,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Opens (appending) or creates the log file and its directory.
    pub fn open(path: &Path, rotation: LogRotation) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            rotation,
            file,
            size,
        })
    }

    /// The current file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry, rotating first if it would not fit.
    pub fn write_entry(
        &mut self,
        ts: Timestamp,
        stream: Stream,
        full: bool,
        content: &[u8],
    ) -> io::Result<()> {
        let entry = format_entry(ts, stream, full, content);
        if self.size > 0 && self.size + entry.len() as u64 > self.rotation.max_size {
            self.rotate()?;
        }
        self.file.write_all(&entry)?;
        self.size += entry.len() as u64;
        Ok(())
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.max_files.max(1);
        // Drop the oldest, shift the others up, move the current to `.1`.
        let oldest = self.rotated(keep - 1);
        if keep > 1 {
            let _ = std::fs::remove_file(&oldest);
            for n in (1..keep - 1).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_has_cri_shape() {
        let ts = Timestamp::from_second(1_700_000_000).unwrap();
        let e = format_entry(ts, Stream::Stderr, true, b"hello");
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "2023-11-14T22:13:20.000000000Z stderr F hello\n"
        );
    }

    #[test]
    fn long_lines_are_split_into_partials() {
        let mut buf = vec![b'a'; MAX_LINE + 10];
        buf.extend_from_slice(b"\nrest");
        let e = drain_entries(&mut buf, false);
        assert_eq!(e.len(), 2);
        assert!(!e[0].0);
        assert_eq!(e[0].1.len(), MAX_LINE);
        assert!(e[1].0);
        assert_eq!(e[1].1.len(), 10);
        assert_eq!(buf, b"rest");
        let e = drain_entries(&mut buf, true);
        assert_eq!(e, vec![(true, b"rest".to_vec())]);
    }

    #[test]
    fn terminal_line_ends_are_not_kept() {
        let mut buf = b"one\r\ntwo\n\r\nthree\rx\n".to_vec();
        let e = drain_entries(&mut buf, false);
        let lines: Vec<&[u8]> = e.iter().map(|(_, l)| l.as_slice()).collect();
        assert_eq!(lines, [&b"one"[..], b"two", b"", b"three\rx"]);
    }

    #[test]
    fn rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let rot = LogRotation {
            max_size: 200,
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, rot).unwrap();
        let ts = Timestamp::from_second(0).unwrap();
        for _ in 0..40 {
            w.write_entry(ts, Stream::Stdout, true, b"0123456789")
                .unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("c/0.log.1").exists());
        assert!(dir.path().join("c/0.log.2").exists());
        assert!(!dir.path().join("c/0.log.3").exists());
        for p in ["c/0.log", "c/0.log.1", "c/0.log.2"] {
            assert!(std::fs::metadata(dir.path().join(p)).unwrap().len() <= 200);
        }
    }
}

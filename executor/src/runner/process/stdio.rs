//! Streaming sessions of the process runtime: `kubectl exec` runs a host
//! process in the container's context, `kubectl attach` joins a running
//! container's stdio, `kubectl port-forward` connects to a loopback port.
//!
//! An exec gets exactly what the container got and nothing more: the
//! container's resolved environment, its working directory (inside the pod
//! sandbox) and its user (the uid/gid of the container's main process, when
//! the executor may switch to it). There is no other isolation: absolute
//! paths are the host's, as for the container itself.
//!
//! Terminals (`-t`): a pseudo-terminal whose slave becomes the command's
//! stdio and controlling terminal (through util-linux's `setsid --ctty`,
//! which keeps this crate free of `unsafe` pre-exec hooks); the master is
//! read and written without blocking ([`pty::Master`]), and resizes set
//! its window size.

use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::super::runtime::{Result, RuntimeError, StdioRequest, StdioSession};
use super::pty;

/// Chunks buffered between a process and its client.
const CHANNEL: usize = 16;
/// Where util-linux's `setsid` may be.
const SETSID: &[&str] = &["/usr/bin/setsid", "/bin/setsid"];

/// The context an exec inherits from its container.
#[derive(Debug, Clone)]
pub struct ExecContext {
    /// The container's environment (with `PATH`).
    pub envs: Vec<(String, String)>,
    /// Its working directory.
    pub working_dir: std::path::PathBuf,
    /// Its main process, whose uid/gid the exec takes.
    pub pid: i32,
}

/// The real uid and gid of a live process (`/proc/<pid>/status`).
pub fn process_owner(pid: i32) -> Option<(u32, u32)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((field("Uid:")?, field("Gid:")?))
}

fn exec_failed(id: &str, source: std::io::Error) -> RuntimeError {
    RuntimeError::ExecFailed {
        id: id.to_string(),
        source,
    }
}

/// Copies a reader into a channel until EOF (or EIO, a terminal's end).
async fn pump_out(mut r: impl AsyncRead + Unpin, tx: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Copies a channel into a writer; dropping the writer at the end closes
/// the process's input.
async fn pump_in(mut rx: mpsc::Receiver<Bytes>, mut w: impl AsyncWrite + Unpin) {
    while let Some(b) = rx.recv().await {
        if w.write_all(&b).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
}

/// Runs `cmd` as an exec of container `id`.
pub fn spawn_exec(
    id: &str,
    ctx: &ExecContext,
    cmd: &[String],
    request: StdioRequest,
) -> Result<StdioSession> {
    let Some((program, args)) = cmd.split_first() else {
        return Err(exec_failed(
            id,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty exec command"),
        ));
    };
    let mut command = command_for(program, args, request.tty);
    command
        .env_clear()
        .envs(ctx.envs.iter().map(|(k, v)| (k, v)))
        .current_dir(&ctx.working_dir)
        .kill_on_drop(false);
    if let Some((uid, gid)) = process_owner(ctx.pid) {
        let me = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        if (uid, gid) != me {
            command.uid(uid).gid(gid);
        }
    }
    if request.tty {
        spawn_tty(id, command, request)
    } else {
        spawn_piped(id, command, request)
    }
}

/// A command for `program args` in a process group of its own (its pid
/// is its group's id, what stopping a container signals); with `tty`, the
/// leader of a new session whose controlling terminal is its stdin (which
/// [`pty::slave_stdio`] makes a terminal), so that job control and terminal
/// signals work. Without util-linux's `setsid` a terminal still is its
/// stdio, without being its controlling terminal.
pub fn command_for(program: &str, args: &[String], tty: bool) -> tokio::process::Command {
    let setsid = SETSID.iter().find(|p| Path::new(p).exists());
    match (tty, setsid) {
        (true, Some(setsid)) => {
            // Not a group leader before it runs: setsid then makes the new
            // session in place instead of forking, so the pid is the
            // program's.
            let mut c = tokio::process::Command::new(setsid);
            c.arg("--ctty").arg(program).args(args);
            c
        }
        _ => {
            let mut c = tokio::process::Command::new(program);
            c.args(args).process_group(0);
            c
        }
    }
}

fn spawn_piped(
    id: &str,
    mut command: tokio::process::Command,
    request: StdioRequest,
) -> Result<StdioSession> {
    let pipe = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    command
        .stdin(pipe(request.stdin))
        .stdout(pipe(request.stdout))
        .stderr(pipe(request.stderr));
    let mut child = command.spawn().map_err(|e| exec_failed(id, e))?;
    let mut session = StdioSession {
        stdin: None,
        stdout: None,
        stderr: None,
        resize: None,
        done: futures::future::ready(Ok(None)).boxed(),
    };
    if let Some(w) = child.stdin.take() {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(pump_in(rx, w));
        session.stdin = Some(tx);
    }
    if let Some(r) = child.stdout.take() {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(pump_out(r, tx));
        session.stdout = Some(rx);
    }
    if let Some(r) = child.stderr.take() {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(pump_out(r, tx));
        session.stderr = Some(rx);
    }
    let id = id.to_string();
    session.done = async move {
        let status = child.wait().await.map_err(|e| exec_failed(&id, e))?;
        Ok(Some(super::exit_code_of(status)))
    }
    .boxed();
    Ok(session)
}

fn spawn_tty(
    id: &str,
    mut command: tokio::process::Command,
    request: StdioRequest,
) -> Result<StdioSession> {
    let (master, slave) = pty::open().map_err(|e| exec_failed(id, e))?;
    pty::slave_stdio(&mut command, &slave).map_err(|e| exec_failed(id, e))?;
    let mut child = command.spawn().map_err(|e| exec_failed(id, e))?;
    // Only the command holds the slave now: its exit is the master's EOF.
    drop(command);
    drop(slave);
    let writer = master.try_clone().map_err(|e| exec_failed(id, e))?;
    let sizer = master.try_clone().map_err(|e| exec_failed(id, e))?;
    let reader = pty::Master::new(master).map_err(|e| exec_failed(id, e))?;
    let writer = pty::Master::new(writer).map_err(|e| exec_failed(id, e))?;

    let (out_tx, out_rx) = mpsc::channel(CHANNEL);
    tokio::spawn(pump_out(reader, out_tx));
    let stdin = request.stdin.then(|| {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(pump_in(rx, writer));
        tx
    });
    let resize_tx = pty::resizer(sizer);
    let id = id.to_string();
    Ok(StdioSession {
        stdin,
        stdout: Some(out_rx),
        stderr: None,
        resize: Some(resize_tx),
        done: async move {
            let status = child.wait().await.map_err(|e| exec_failed(&id, e))?;
            Ok(Some(super::exit_code_of(status)))
        }
        .boxed(),
    })
}

/// A connection to `port` on loopback (the process runtime's pods share the
/// host's network), IPv4 first.
pub async fn dial_loopback(port: u16) -> std::io::Result<tokio::net::TcpStream> {
    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => Ok(s),
        Err(v4) => tokio::net::TcpStream::connect(("::1", port))
            .await
            .map_err(|_| v4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_owner_is_readable() {
        let me = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        assert_eq!(process_owner(std::process::id() as i32), Some(me));
        assert_eq!(process_owner(-1), None);
    }
}

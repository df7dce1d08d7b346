//! Pseudo-terminals for `tty: true` containers and `kubectl exec -t`: the
//! slave becomes the process's stdio, the executor keeps the master.
//!
//! The master is read and written without blocking, through the reactor
//! ([`Master`]): a container's terminal lives as long as the container, so
//! a thread blocked on it would be held for that long, and would hold up
//! the executor's exit while pods keep running (they outlive it by design).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{ready, Context, Poll};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use super::super::runtime::TerminalSize;

/// Resizes buffered between a client and the terminal.
const CHANNEL: usize = 16;

/// Opens a pseudo-terminal: the master and the slave.
pub fn open() -> io::Result<(OwnedFd, OwnedFd)> {
    // CLOEXEC: no other process (a container started later) may hold a
    // master, or the terminal would outlive its session.
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((master, slave))
}

/// Makes the terminal `slave` the command's stdin, stdout and stderr.
pub fn slave_stdio(command: &mut tokio::process::Command, slave: &OwnedFd) -> io::Result<()> {
    let io = |fd: &OwnedFd| -> io::Result<Stdio> { Ok(Stdio::from(fd.try_clone()?)) };
    command
        .stdin(io(slave)?)
        .stdout(io(slave)?)
        .stderr(io(slave)?);
    Ok(())
}

/// Sets the size of the terminal whose master is `master` to every size
/// sent on the returned channel, until it is dropped.
pub fn resizer(master: OwnedFd) -> mpsc::Sender<TerminalSize> {
    let (tx, mut rx) = mpsc::channel::<TerminalSize>(CHANNEL);
    tokio::spawn(async move {
        while let Some(s) = rx.recv().await {
            let w = Winsize {
                ws_row: s.height,
                ws_col: s.width,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            if let Err(e) = rustix::termios::tcsetwinsize(master.as_fd(), w) {
                tracing::debug!(error = %e, "setting the terminal size failed");
            }
        }
    });
    tx
}

/// A terminal's master as non-blocking async I/O. A read at the terminal's
/// end (EIO: its last slave closed) is the end of input.
#[derive(Debug)]
pub struct Master(AsyncFd<OwnedFd>);

impl Master {
    /// Wraps (a duplicate of) a master. Non-blocking mode belongs to the
    /// open terminal, so it applies to every duplicate; all of them are
    /// used through this type.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
        // SAFETY: `register` asks that the descriptor stay open and the
        // same for the AsyncFd's whole life. An OwnedFd owned by it is
        // exactly that: it is closed only when the AsyncFd drops it.
        let registered = unsafe { AsyncFd::register(fd) };
        Ok(Self(registered.map_err(io::Error::from)?))
    }
}

impl AsyncRead for Master {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut *unfilled)?)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Master {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| Ok(rustix::io::write(fd.get_ref(), data)?)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn master_io_echoes_and_ends_when_the_slave_closes() {
        let (master, slave) = open().expect("a pty");
        let mut writer = Master::new(master.try_clone().expect("dup")).expect("writer");
        let mut reader = Master::new(master).expect("reader");
        writer.write_all(b"hello\n").await.expect("write");
        // The line discipline echoes what the master writes.
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("hello"));
        drop(slave);
        let mut rest = Vec::new();
        reader
            .read_to_end(&mut rest)
            .await
            .expect("EIO reads as the end");
    }
}

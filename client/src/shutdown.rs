//! The one shutdown model of every kube-mesos process (framework, executor,
//! `kube-mesos local`): a *drain* token and a *force* token.
//!
//! The first SIGTERM/SIGINT cancels `drain`: the framework stops taking
//! offers and gives held ones back, the executor stops its pods gracefully,
//! `local` stops its parts in order. A second signal, or a deadline after
//! the first, cancels `force`: exit now, leave what still runs to Mesos
//! (STYLE.md 6). Forcing implies draining. Each process tracks what it
//! spawns (tokio-util's `TaskTracker`/`JoinSet`) and waits for exactly that
//! before it returns. Tokens, not channels, so that any number of tasks can
//! wait and a child process part (the framework inside `local`) can be
//! stopped alone with [`Shutdown::child`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Drain and force requests, shared by everything a process runs. Cheap to
/// clone; clones see the same requests.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    drain: CancellationToken,
    force: CancellationToken,
}

impl Shutdown {
    /// No request yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown that follows this one's requests and can also be drained
    /// or forced on its own (without affecting this one).
    pub fn child(&self) -> Self {
        Self {
            drain: self.drain.child_token(),
            force: self.force.child_token(),
        }
    }

    /// Asks to drain.
    pub fn drain(&self) {
        self.drain.cancel();
    }

    /// Asks to exit now (and so to drain, if not asked yet).
    pub fn force(&self) {
        self.drain.cancel();
        self.force.cancel();
    }

    /// One more stop request, as a signal is: the first drains, the next
    /// forces.
    pub fn escalate(&self) {
        if self.drain.is_cancelled() {
            self.force();
        } else {
            self.drain();
        }
    }

    /// Whether a drain was asked for.
    pub fn is_draining(&self) -> bool {
        self.drain.is_cancelled()
    }

    /// Whether the exit must be forced.
    pub fn is_forced(&self) -> bool {
        self.force.is_cancelled()
    }

    /// Completes once a drain is asked for.
    pub async fn draining(&self) {
        self.drain.cancelled().await
    }

    /// Completes once the exit must be forced.
    pub async fn forced(&self) {
        self.force.cancelled().await
    }

    /// Completes once the exit must be forced: asked for, or `deadline`
    /// after the drain began.
    pub async fn forced_within(&self, deadline: Duration) {
        let late = async {
            self.draining().await;
            tokio::time::sleep(deadline).await;
        };
        tokio::select! {
            _ = self.forced() => {}
            _ = late => {}
        }
    }

    /// The drain token, for APIs that take one.
    pub fn drain_token(&self) -> CancellationToken {
        self.drain.clone()
    }

    /// Turns SIGTERM and SIGINT into requests (see [`escalate`](Self::escalate))
    /// for as long as the process runs.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let shutdown = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                shutdown.escalate();
                tracing::info!(forced = shutdown.is_forced(), "shutdown signal received");
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_second_request_forces() {
        let s = Shutdown::new();
        assert!(!s.is_draining());
        s.escalate();
        s.draining().await;
        assert!(s.is_draining() && !s.is_forced());
        s.escalate();
        s.forced().await;
        assert!(s.is_forced());
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_after_a_drain_forces() {
        let s = Shutdown::new();
        let start = tokio::time::Instant::now();
        let forced = tokio::spawn({
            let s = s.clone();
            async move { s.forced_within(Duration::from_secs(30)).await }
        });
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!forced.is_finished(), "no deadline before a drain");
        s.drain();
        forced.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(130));
    }

    #[tokio::test]
    async fn a_child_follows_its_parent_but_not_back() {
        let parent = Shutdown::new();
        let child = parent.child();
        child.force();
        assert!(child.is_forced() && !parent.is_draining());
        let other = parent.child();
        parent.drain();
        other.draining().await;
        assert!(!other.is_forced());
    }
}

//! The shell around [`Ownership`]: looks at the registry every tick, feeds
//! the machine, and performs what it returns — the lock, and starting and
//! stopping the Node writers — through a [`RoleHost`], so the handover can
//! be tested with paused time and no files or API server.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use super::ownership::{Action, Input, Ownership, Role};

/// How often an executor looks at the registry: the longest a handover
/// waits for either side (a fraction of the Lease's 10 s renew interval).
pub const NODE_ROLE_TICK: Duration = Duration::from_secs(1);

/// What the coordinator acts on.
#[async_trait]
pub trait RoleHost: Send {
    /// This executor's claim and every live generation's, as
    /// [`Input::Observed`].
    fn observe(&mut self) -> Input;
    /// Takes the node-role lock if it is free.
    fn try_acquire(&mut self) -> bool;
    /// Releases the lock.
    fn release(&mut self);
    /// Starts the Node status and Lease writers.
    fn start_writers(&mut self);
    /// Stops them; returns once none of their writes can still land.
    async fn stop_writers(&mut self);
}

/// Runs the node role of one executor until `shutdown`, then lets it go
/// (writers stopped before the lock is released). Returns the host.
pub async fn run_coordinator<H: RoleHost>(
    mut host: H,
    tick: Duration,
    shutdown: impl Future<Output = ()>,
) -> H {
    let mut machine = Ownership::default();
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let input = tokio::select! {
            _ = &mut shutdown => Input::Exit,
            _ = ticker.tick() => host.observe(),
        };
        let exit = input == Input::Exit;
        drive(&mut machine, &mut host, input).await;
        if exit {
            return host;
        }
    }
}

/// Feeds `input` and every answer it leads to.
async fn drive(machine: &mut Ownership, host: &mut impl RoleHost, input: Input) {
    let mut inputs = VecDeque::from([input]);
    while let Some(input) = inputs.pop_front() {
        let before = machine.role();
        for action in machine.step(input) {
            match action {
                Action::TryAcquire => inputs.push_back(if host.try_acquire() {
                    Input::Acquired
                } else {
                    Input::Busy
                }),
                Action::StartWriters => host.start_writers(),
                Action::StopWriters => {
                    host.stop_writers().await;
                    inputs.push_back(Input::WritersStopped);
                }
                Action::Release => host.release(),
            }
        }
        match (before, machine.role()) {
            (Role::Standby, Role::Owner) => {
                tracing::info!("this executor now writes the Node status and Lease")
            }
            (Role::Owner, Role::Releasing) => tracing::info!(
                "another executor generation takes over the Node status and Lease; handing over"
            ),
            (Role::Releasing, Role::Standby) => {
                tracing::info!("node role handed over; this executor's pods stay reachable through the owner's kubelet endpoint")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::Instant;

    use super::super::ownership::Claim;
    use super::*;

    /// The agent as the executors share it: the registry, the lock, and
    /// who is writing the Node now.
    #[derive(Default)]
    struct World {
        live: Vec<Claim>,
        lock: Option<u64>,
        writing: Vec<u64>,
        /// (when, sequence, started?) for every writer start and stop.
        history: Vec<(Instant, u64, bool)>,
    }

    struct FakeExecutor {
        sequence: u64,
        world: Arc<Mutex<World>>,
    }

    /// How long stopping the writers takes (a write in flight).
    const IN_FLIGHT: Duration = Duration::from_millis(300);

    #[async_trait]
    impl RoleHost for FakeExecutor {
        fn observe(&mut self) -> Input {
            let w = self.world.lock().unwrap();
            let me = *w
                .live
                .iter()
                .find(|c| c.sequence == self.sequence)
                .expect("registered");
            Input::Observed {
                me,
                live: w.live.clone(),
            }
        }
        fn try_acquire(&mut self) -> bool {
            let mut w = self.world.lock().unwrap();
            if w.lock.is_some() {
                return false;
            }
            w.lock = Some(self.sequence);
            true
        }
        fn release(&mut self) {
            let mut w = self.world.lock().unwrap();
            assert_eq!(w.lock, Some(self.sequence), "released a lock it held");
            assert!(!w.writing.contains(&self.sequence), "writers stopped first");
            w.lock = None;
        }
        fn start_writers(&mut self) {
            let mut w = self.world.lock().unwrap();
            assert!(
                w.writing.is_empty(),
                "generation {} starts writing while {:?} write",
                self.sequence,
                w.writing
            );
            w.writing.push(self.sequence);
            w.history.push((Instant::now(), self.sequence, true));
        }
        async fn stop_writers(&mut self) {
            tokio::time::sleep(IN_FLIGHT).await;
            let mut w = self.world.lock().unwrap();
            w.writing.retain(|s| *s != self.sequence);
            w.history.push((Instant::now(), self.sequence, false));
        }
    }

    /// Starts an executor generation: registered, then coordinating until
    /// its stop sender fires.
    fn start(
        world: &Arc<Mutex<World>>,
        sequence: u64,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<FakeExecutor>,
    ) {
        world.lock().unwrap().live.push(Claim {
            sequence,
            draining: false,
        });
        let host = FakeExecutor {
            sequence,
            world: world.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_coordinator(host, NODE_ROLE_TICK, async {
            let _ = stopped.await;
        }));
        (stop, task)
    }

    fn writer(world: &Arc<Mutex<World>>) -> Vec<u64> {
        world.lock().unwrap().writing.clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_generation_takes_over_and_the_role_returns_when_it_exits() {
        let world = Arc::new(Mutex::new(World::default()));
        let (_stop_old, _old) = start(&world, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(writer(&world), [1], "a lone executor writes at once");

        // An upgrade: generation 2 starts.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let upgraded = Instant::now();
        let (stop_new, new) = start(&world, 2);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(writer(&world), [2]);
        let history = world.lock().unwrap().history.clone();
        let old_stopped = history
            .iter()
            .find(|(_, s, started)| *s == 1 && !started)
            .expect("the old writers stopped")
            .0;
        let new_started = history
            .iter()
            .find(|(_, s, started)| *s == 2 && *started)
            .expect("the new writers started")
            .0;
        assert!(old_stopped <= new_started);
        assert!(
            new_started - upgraded <= 2 * NODE_ROLE_TICK + IN_FLIGHT,
            "handed over within two ticks: {:?}",
            new_started - upgraded
        );
        // Nothing moves while both live.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(world.lock().unwrap().history.len(), 3);

        // The new generation exits: the old one writes again.
        let _ = stop_new.send(());
        new.await.unwrap();
        world.lock().unwrap().live.retain(|c| c.sequence != 2);
        assert!(writer(&world).is_empty());
        tokio::time::sleep(NODE_ROLE_TICK + Duration::from_millis(10)).await;
        assert_eq!(writer(&world), [1]);
        assert_eq!(world.lock().unwrap().lock, Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_owners_role_goes_to_the_newest_remaining_generation() {
        let world = Arc::new(Mutex::new(World::default()));
        let (_s1, _g1) = start(&world, 1);
        let (_s2, _g2) = start(&world, 2);
        let (_s3, g3) = start(&world, 3);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(writer(&world), [3]);
        // Generation 3 is killed: no goodbye, the kernel drops its lock.
        g3.abort();
        {
            let mut w = world.lock().unwrap();
            w.live.retain(|c| c.sequence != 3);
            w.writing.clear();
            w.lock = None;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(writer(&world), [2], "the newest remaining, not the oldest");
        let starts: Vec<u64> = world
            .lock()
            .unwrap()
            .history
            .iter()
            .filter(|(_, _, started)| *started)
            .map(|(_, s, _)| *s)
            .collect();
        // Generation 1 may have written before 2 and 3 registered, never after.
        assert_eq!(starts.last(), Some(&2));
        assert!(!starts[1..].contains(&1), "{starts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_draining_owner_hands_over_before_it_exits() {
        let world = Arc::new(Mutex::new(World::default()));
        let (_s1, _g1) = start(&world, 1);
        let (_s2, _g2) = start(&world, 2);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(writer(&world), [2]);
        world.lock().unwrap().live[1].draining = true;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(writer(&world), [1]);
    }
}

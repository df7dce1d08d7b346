//! Who writes the Node status and Lease, as a pure state machine.
//!
//! **The rule: the newest live generation that is not draining owns the
//! node role; when every live generation drains, the newest of them.**
//! "Newest" is the highest start sequence in the registry
//! ([`super::registry`]): the framework only ever launches its current
//! executor, so the last one started is the current configuration, and an
//! old generation never becomes newest again. A draining generation stops
//! its pods and exits, so it hands the role to one that stays.
//!
//! Holding the role is holding the registry's node-role lock, so two
//! executors never write at once even while their views of the registry
//! differ for a moment. The handover is ordered:
//! 1. the owner sees a generation with a better claim, stops its writers
//!    and waits until they stopped (no write of its can land later);
//! 2. it releases the lock;
//! 3. the rightful owner, which tried the lock on every observation,
//!    takes it and starts its writers, which post the Node status (with
//!    its own kubelet port) and renew the Lease at once.
//!
//! The Lease keeps its holder (the node name) and its renewals go on within
//! a tick or two, far inside its 40 s duration, and the status keeps Ready
//! True with its transition time: nothing the node lifecycle controller or
//! a user watching the Node sees flaps; only the kubelet port moves. When
//! the owner exits (or dies: the kernel drops its lock), the next rightful
//! owner takes the lock at its next observation.

/// A live generation as the registry shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Start sequence: higher is newer.
    pub sequence: u64,
    /// It is stopping its pods and exiting.
    pub draining: bool,
}

/// The generation that should own the node role among `live`.
pub fn rightful_owner(live: &[Claim]) -> Option<u64> {
    live.iter()
        .filter(|c| !c.draining)
        .map(|c| c.sequence)
        .max()
        .or_else(|| live.iter().map(|c| c.sequence).max())
}

/// This executor's part in the node role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not writing; takes the role when it is the rightful owner and the
    /// lock is free.
    Standby,
    /// Holds the lock; its writers run.
    Owner,
    /// Stopping its writers before releasing the lock.
    Releasing,
    /// Done for good (the executor exits).
    Exited,
}

/// What the machine reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A look at the registry: this executor's claim and every live one
    /// (this executor's included).
    Observed {
        /// This executor.
        me: Claim,
        /// Every live generation.
        live: Vec<Claim>,
    },
    /// The lock was taken.
    Acquired,
    /// The lock is held by another generation.
    Busy,
    /// The writers stopped.
    WritersStopped,
    /// The executor is exiting.
    Exit,
}

/// What the shell does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Try the lock (non-blocking) and answer `Acquired` or `Busy`.
    TryAcquire,
    /// Start the Node status and Lease writers.
    StartWriters,
    /// Stop them and answer `WritersStopped` once they stopped.
    StopWriters,
    /// Release the lock.
    Release,
}

/// The node-role state machine of one executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    role: Role,
    exiting: bool,
}

impl Default for Ownership {
    fn default() -> Self {
        Self {
            role: Role::Standby,
            exiting: false,
        }
    }
}

impl Ownership {
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// One transition.
    pub fn step(&mut self, input: Input) -> Vec<Action> {
        use Role::*;
        match (self.role, input) {
            (Exited, _) => Vec::new(),
            (_, Input::Exit) => {
                self.exiting = true;
                match self.role {
                    Owner => {
                        self.role = Releasing;
                        vec![Action::StopWriters]
                    }
                    Releasing => Vec::new(),
                    Standby | Exited => {
                        self.role = Exited;
                        Vec::new()
                    }
                }
            }
            (Standby, Input::Observed { me, live }) => {
                if rightful_owner(&live) == Some(me.sequence) {
                    vec![Action::TryAcquire]
                } else {
                    Vec::new()
                }
            }
            (Standby, Input::Acquired) => {
                self.role = Owner;
                vec![Action::StartWriters]
            }
            (Owner, Input::Observed { me, live }) => {
                if rightful_owner(&live).is_some_and(|s| s != me.sequence) {
                    self.role = Releasing;
                    vec![Action::StopWriters]
                } else {
                    Vec::new()
                }
            }
            (Releasing, Input::WritersStopped) => {
                self.role = if self.exiting { Exited } else { Standby };
                vec![Action::Release]
            }
            // Answers that no longer apply, and observations while
            // releasing: the next observation decides again.
            (Standby, Input::Busy | Input::WritersStopped)
            | (Owner, Input::Acquired | Input::Busy | Input::WritersStopped)
            | (Releasing, Input::Observed { .. } | Input::Acquired | Input::Busy) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(sequence: u64) -> Claim {
        Claim {
            sequence,
            draining: false,
        }
    }

    fn draining(sequence: u64) -> Claim {
        Claim {
            sequence,
            draining: true,
        }
    }

    fn seen(me: Claim, live: &[Claim]) -> Input {
        Input::Observed {
            me,
            live: live.to_vec(),
        }
    }

    #[test]
    fn the_newest_generation_that_stays_is_the_rightful_owner() {
        assert_eq!(rightful_owner(&[]), None);
        assert_eq!(rightful_owner(&[claim(1), claim(3), claim(2)]), Some(3));
        assert_eq!(rightful_owner(&[claim(1), draining(3)]), Some(1));
        assert_eq!(rightful_owner(&[draining(1), draining(3)]), Some(3));
    }

    #[test]
    fn a_lone_executor_takes_the_role_at_once() {
        let mut m = Ownership::default();
        assert_eq!(m.step(seen(claim(1), &[claim(1)])), [Action::TryAcquire]);
        assert_eq!(m.step(Input::Acquired), [Action::StartWriters]);
        assert_eq!(m.role(), Role::Owner);
        assert!(m.step(seen(claim(1), &[claim(1)])).is_empty(), "stays");
    }

    #[test]
    fn an_older_owner_hands_over_after_its_writers_stopped() {
        let mut old = Ownership::default();
        old.step(seen(claim(1), &[claim(1)]));
        old.step(Input::Acquired);
        let mut new = Ownership::default();
        // The newer one tries while the older still holds the lock.
        assert_eq!(
            new.step(seen(claim(2), &[claim(1), claim(2)])),
            [Action::TryAcquire]
        );
        assert!(new.step(Input::Busy).is_empty());
        assert_eq!(new.role(), Role::Standby);
        // The older one sees it: writers stop first, the lock goes after.
        assert_eq!(
            old.step(seen(claim(1), &[claim(1), claim(2)])),
            [Action::StopWriters]
        );
        assert_eq!(old.role(), Role::Releasing);
        assert!(old.step(seen(claim(1), &[claim(1), claim(2)])).is_empty());
        assert_eq!(old.step(Input::WritersStopped), [Action::Release]);
        assert_eq!(old.role(), Role::Standby);
        // The older stays in standby while the newer lives.
        assert!(old.step(seen(claim(1), &[claim(1), claim(2)])).is_empty());
        assert_eq!(
            new.step(seen(claim(2), &[claim(1), claim(2)])),
            [Action::TryAcquire]
        );
        assert_eq!(new.step(Input::Acquired), [Action::StartWriters]);
    }

    #[test]
    fn the_role_goes_back_to_a_remaining_generation_when_the_owner_leaves() {
        let mut old = Ownership::default();
        old.step(seen(claim(1), &[claim(1), claim(2)]));
        assert_eq!(old.role(), Role::Standby);
        // The newer one drains (it is being retired or shut down).
        assert_eq!(
            old.step(seen(claim(1), &[claim(1), draining(2)])),
            [Action::TryAcquire]
        );
        // Or is gone altogether.
        assert_eq!(old.step(seen(claim(1), &[claim(1)])), [Action::TryAcquire]);
        assert_eq!(old.step(Input::Acquired), [Action::StartWriters]);
    }

    #[test]
    fn a_draining_owner_hands_over_to_one_that_stays() {
        let mut m = Ownership::default();
        m.step(seen(claim(2), &[claim(1), claim(2)]));
        m.step(Input::Acquired);
        assert_eq!(
            m.step(seen(draining(2), &[claim(1), draining(2)])),
            [Action::StopWriters]
        );
        // Unless nobody stays: the newest draining one keeps the Node.
        let mut last = Ownership::default();
        last.step(seen(draining(2), &[draining(1), draining(2)]));
        assert_eq!(last.step(Input::Acquired), [Action::StartWriters]);
        assert!(last
            .step(seen(draining(2), &[draining(1), draining(2)]))
            .is_empty());
    }

    #[test]
    fn exiting_stops_the_writers_before_the_lock_goes() {
        let mut m = Ownership::default();
        m.step(seen(claim(1), &[claim(1)]));
        m.step(Input::Acquired);
        assert_eq!(m.step(Input::Exit), [Action::StopWriters]);
        assert!(m.step(seen(claim(1), &[claim(1)])).is_empty());
        assert_eq!(m.step(Input::WritersStopped), [Action::Release]);
        assert_eq!(m.role(), Role::Exited);
        assert!(m.step(seen(claim(1), &[claim(1)])).is_empty(), "for good");

        let mut standby = Ownership::default();
        assert!(standby.step(Input::Exit).is_empty());
        assert_eq!(standby.role(), Role::Exited);
        // Exiting while releasing ends there too.
        let mut releasing = Ownership::default();
        releasing.step(seen(claim(1), &[claim(1)]));
        releasing.step(Input::Acquired);
        releasing.step(seen(claim(1), &[claim(1), claim(2)]));
        assert!(releasing.step(Input::Exit).is_empty());
        assert_eq!(releasing.step(Input::WritersStopped), [Action::Release]);
        assert_eq!(releasing.role(), Role::Exited);
    }
}

//! Leader election on a `coordination.k8s.io/v1` Lease, following client-go's
//! `tools/leaderelection` (the algorithm kube-scheduler uses).
//!
//! Only the leader subscribes to Mesos: two subscribed replicas with one
//! framework ID would fight over the subscription. The rules, as client-go:
//!
//! - every `retry_period` a replica reads the Lease; a Lease held by someone
//!   else is respected until `lease_duration` has passed since this replica
//!   last *saw it change* (its own monotonic clock, never the holder's wall
//!   clock, so clock skew between machines does not matter);
//! - taking it over bumps `leaseTransitions` and sets `acquireTime`; renewing
//!   keeps both; writes use the Lease's resourceVersion, so of two replicas
//!   racing, one gets a 409 and stays follower;
//! - a leader that has not renewed for `renew_deadline` stops leading (the
//!   scheduler loop is stopped at once), before anyone else may take over
//!   (`renew_deadline < lease_duration`);
//! - on shutdown the leader releases the Lease (empty holder, 1 s duration)
//!   so a standby takes over without waiting out the lease.
//!
//! [`Elector`] is the pure state machine (time passed in); [`run`] is its
//! async shell.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::LeaderElectionConfig;

/// The fields of a Lease that election reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    /// `spec.holderIdentity`; `None`/empty when released.
    pub holder: Option<String>,
    /// `spec.leaseDurationSeconds`.
    pub lease_duration_seconds: i32,
    /// `spec.acquireTime`.
    pub acquire_time: Option<jiff::Timestamp>,
    /// `spec.renewTime`.
    pub renew_time: Option<jiff::Timestamp>,
    /// `spec.leaseTransitions`.
    pub transitions: i32,
}

impl LeaseRecord {
    /// Reads the record from a Lease spec.
    pub fn from_spec(spec: &LeaseSpec) -> Self {
        Self {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }

    /// Writes the record into a Lease spec.
    pub fn to_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: self.holder.clone(),
            lease_duration_seconds: Some(self.lease_duration_seconds),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            lease_transitions: Some(self.transitions),
            ..LeaseSpec::default()
        }
    }
}

/// What the elector wants done after reading the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Write this record (create when the Lease is missing).
    Write(LeaseRecord),
    /// Someone else holds a live lease: do nothing this round.
    Wait,
}

/// The election state machine of one replica.
#[derive(Debug)]
pub struct Elector {
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    observed: Option<(LeaseRecord, Instant)>,
    leader_since_renewal: Option<Instant>,
}

impl Elector {
    /// A follower with this identity and timing.
    pub fn new(identity: String, config: &LeaderElectionConfig) -> Self {
        Self {
            identity,
            lease_duration: config.lease_duration,
            renew_deadline: config.renew_deadline,
            observed: None,
            leader_since_renewal: None,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this replica leads (its last successful renewal is younger
    /// than the renew deadline — call [`Elector::check`] to expire it).
    pub fn is_leader(&self) -> bool {
        self.leader_since_renewal.is_some()
    }

    /// Decides what to write, given the Lease as read now (`None` = missing).
    pub fn observe(
        &mut self,
        current: Option<LeaseRecord>,
        now: Instant,
        wall: jiff::Timestamp,
    ) -> Attempt {
        let duration_seconds = self.lease_duration.as_secs().clamp(1, i32::MAX as u64) as i32;
        let Some(current) = current else {
            return Attempt::Write(LeaseRecord {
                holder: Some(self.identity.clone()),
                lease_duration_seconds: duration_seconds,
                acquire_time: Some(wall),
                renew_time: Some(wall),
                transitions: 0,
            });
        };
        // Remember when we last saw the record change (our own clock).
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|(seen, _)| *seen != current);
        if changed {
            self.observed = Some((current.clone(), now));
        }
        let observed_at = self.observed.as_ref().map(|(_, at)| *at).unwrap_or(now);
        let held_by_me = current.holder.as_deref() == Some(self.identity.as_str());
        let their_duration = Duration::from_secs(current.lease_duration_seconds.max(0) as u64);
        let held_by_other = current.holder.is_some() && !held_by_me;
        if held_by_other && observed_at + their_duration > now {
            return Attempt::Wait;
        }
        let (acquire_time, transitions) = if held_by_me {
            (current.acquire_time.or(Some(wall)), current.transitions)
        } else {
            (Some(wall), current.transitions.saturating_add(1))
        };
        Attempt::Write(LeaseRecord {
            holder: Some(self.identity.clone()),
            lease_duration_seconds: duration_seconds,
            acquire_time,
            renew_time: Some(wall),
            transitions,
        })
    }

    /// Reports the outcome of the write [`Elector::observe`] asked for.
    /// `written` is the record as stored when the write succeeded.
    pub fn written(&mut self, written: Option<LeaseRecord>, now: Instant) {
        match written {
            Some(record) => {
                self.observed = Some((record, now));
                self.leader_since_renewal = Some(now);
            }
            None => self.check(now),
        }
    }

    /// Reports a round without a successful renewal (Wait, or a failed read)
    /// and expires leadership past the renew deadline.
    pub fn check(&mut self, now: Instant) {
        if let Some(since) = self.leader_since_renewal {
            if now.saturating_duration_since(since) >= self.renew_deadline {
                self.leader_since_renewal = None;
            }
        }
    }

    /// How long the next attempt may take: a leader must know the outcome
    /// before its renew deadline passes, so its budget is what is left of it.
    pub fn attempt_budget(&self, now: Instant) -> Duration {
        match self.leader_since_renewal {
            Some(since) => self
                .renew_deadline
                .saturating_sub(now.saturating_duration_since(since))
                .max(Duration::from_millis(1)),
            None => self.renew_deadline,
        }
    }

    /// The record that releases the lease (client-go's release): no holder,
    /// 1 s duration, transitions kept.
    pub fn release_record(&self, current: &LeaseRecord, wall: jiff::Timestamp) -> LeaseRecord {
        LeaseRecord {
            holder: None,
            lease_duration_seconds: 1,
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: current.transitions,
        }
    }

    /// Marks this replica as no longer leading (after a release).
    pub fn step_down(&mut self) {
        self.leader_since_renewal = None;
    }
}

/// A default identity: `<hostname>_<uuid>`, as kube-scheduler builds it.
pub fn default_identity(hostname: &str) -> String {
    format!("{hostname}_{}", uuid::Uuid::new_v4())
}

/// Runs election against `namespace/<lease name>`, publishing leadership on
/// `leader` (true while leading) and the health of each round on `healthy`
/// (the API server answered). Returns after `shutdown`, releasing the lease
/// if held.
pub async fn run(
    client: kube::Client,
    namespace: String,
    config: LeaderElectionConfig,
    identity: String,
    leader: watch::Sender<bool>,
    healthy: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    let name = config.lease_name.clone();
    let mut elector = Elector::new(identity, &config);
    let retry = config.retry_period;
    tokio::pin!(shutdown);
    let deadline = config.renew_deadline;
    loop {
        let now = Instant::now();
        let wall = jiff::Timestamp::now();
        // One attempt, bounded by the renew deadline as client-go bounds it
        // with its context: a hanging API server must not keep a leader
        // leading past its deadline. Shutdown interrupts the attempt.
        let budget = elector.attempt_budget(now);
        let attempt = async {
            match api.get_opt(&name).await {
                Ok(current) => {
                    let _ = healthy.send(true);
                    let record = current
                        .as_ref()
                        .and_then(|l| l.spec.as_ref())
                        .map(LeaseRecord::from_spec);
                    match elector.observe(record, now, wall) {
                        Attempt::Wait => elector.check(Instant::now()),
                        Attempt::Write(record) => {
                            match write(&api, &name, current, &record).await {
                                Ok(()) => elector.written(Some(record), now),
                                Err(error) => {
                                    tracing::debug!(%error, lease = %name, "lease write failed");
                                    elector.written(None, Instant::now());
                                }
                            }
                        }
                    }
                }
                Err(error) => {
                    let _ = healthy.send(false);
                    tracing::warn!(%error, lease = %name, "reading the leader lease failed");
                    elector.check(Instant::now());
                }
            }
        };
        let stopping = tokio::select! {
            _ = &mut shutdown => true,
            done = tokio::time::timeout(budget, attempt) => {
                if done.is_err() {
                    let _ = healthy.send(false);
                    tracing::warn!(lease = %name, "leader lease attempt timed out");
                }
                false
            }
        };
        elector.check(Instant::now());
        let is_leader = elector.is_leader();
        if *leader.borrow() != is_leader {
            tracing::info!(identity = %elector.identity(), leader = is_leader, "leadership changed");
            let _ = leader.send(is_leader);
        }
        if stopping {
            break;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(jittered(retry, is_leader)) => {}
        }
    }
    if elector.is_leader() {
        let _ = leader.send(false);
        if tokio::time::timeout(deadline, release(&api, &name, &mut elector))
            .await
            .is_err()
        {
            tracing::warn!(lease = %name, "releasing the leader lease timed out");
        }
    }
    let _ = leader.send(false);
}

/// Followers jitter their retries (client-go: factor 1.2) so replicas do not
/// hit the API server in lockstep; the leader renews on the period.
fn jittered(period: Duration, leader: bool) -> Duration {
    if leader {
        period
    } else {
        period.mul_f64(1.0 + rand::random::<f64>() * 0.2)
    }
}

async fn write(
    api: &Api<Lease>,
    name: &str,
    current: Option<Lease>,
    record: &LeaseRecord,
) -> Result<(), kube::Error> {
    match current {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                spec: Some(record.to_spec()),
            };
            api.create(&PostParams::default(), &lease).await.map(drop)
        }
        Some(mut lease) => {
            // Keep metadata (resourceVersion) for optimistic concurrency.
            lease.spec = Some(record.to_spec());
            api.replace(name, &PostParams::default(), &lease)
                .await
                .map(drop)
        }
    }
}

async fn release(api: &Api<Lease>, name: &str, elector: &mut Elector) {
    let wall = jiff::Timestamp::now();
    match api.get_opt(name).await {
        Ok(Some(lease)) => {
            let record = lease
                .spec
                .as_ref()
                .map(LeaseRecord::from_spec)
                .unwrap_or_default();
            if record.holder.as_deref() != Some(elector.identity()) {
                elector.step_down();
                return;
            }
            let released = elector.release_record(&record, wall);
            match write(api, name, Some(lease), &released).await {
                Ok(()) => tracing::info!(lease = %name, "released the leader lease"),
                Err(error) => {
                    tracing::warn!(%error, lease = %name, "releasing the leader lease failed")
                }
            }
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, lease = %name, "reading the lease for release failed"),
    }
    elector.step_down();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LeaderElectionConfig {
        LeaderElectionConfig::default()
    }

    fn wall() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_000).unwrap()
    }

    fn held_by(holder: &str, transitions: i32) -> LeaseRecord {
        LeaseRecord {
            holder: Some(holder.into()),
            lease_duration_seconds: 15,
            acquire_time: Some(wall()),
            renew_time: Some(wall()),
            transitions,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn missing_lease_is_created_and_leads() {
        let mut e = Elector::new("a".into(), &config());
        let now = Instant::now();
        let Attempt::Write(r) = e.observe(None, now, wall()) else {
            panic!("expected a write")
        };
        assert_eq!(r.holder.as_deref(), Some("a"));
        assert_eq!(r.transitions, 0);
        assert_eq!(r.lease_duration_seconds, 15);
        e.written(Some(r), now);
        assert!(e.is_leader());
    }

    #[tokio::test(start_paused = true)]
    async fn live_lease_of_another_is_respected_until_it_expires_unchanged() {
        let mut e = Elector::new("b".into(), &config());
        let start = Instant::now();
        assert_eq!(
            e.observe(Some(held_by("a", 3)), start, wall()),
            Attempt::Wait
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            e.observe(Some(held_by("a", 3)), Instant::now(), wall()),
            Attempt::Wait
        );
        // The holder renews: the record changed, the clock restarts.
        let mut renewed = held_by("a", 3);
        renewed.renew_time = Some(jiff::Timestamp::from_second(1_010).unwrap());
        assert_eq!(
            e.observe(Some(renewed.clone()), Instant::now(), wall()),
            Attempt::Wait
        );
        tokio::time::advance(Duration::from_secs(14)).await;
        assert_eq!(
            e.observe(Some(renewed.clone()), Instant::now(), wall()),
            Attempt::Wait
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        let Attempt::Write(r) = e.observe(Some(renewed), Instant::now(), wall()) else {
            panic!("an expired lease must be taken over")
        };
        assert_eq!(r.holder.as_deref(), Some("b"));
        assert_eq!(r.transitions, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn renewal_keeps_acquire_time_and_transitions() {
        let mut e = Elector::new("a".into(), &config());
        let mut mine = held_by("a", 2);
        mine.acquire_time = Some(jiff::Timestamp::from_second(5).unwrap());
        let later = jiff::Timestamp::from_second(2_000).unwrap();
        let Attempt::Write(r) = e.observe(Some(mine.clone()), Instant::now(), later) else {
            panic!("own lease is renewed")
        };
        assert_eq!(r.transitions, 2);
        assert_eq!(r.acquire_time, mine.acquire_time);
        assert_eq!(r.renew_time, Some(later));
    }

    #[tokio::test(start_paused = true)]
    async fn released_lease_is_taken_at_once() {
        let mut e = Elector::new("b".into(), &config());
        let released = LeaseRecord {
            holder: None,
            lease_duration_seconds: 1,
            transitions: 5,
            ..LeaseRecord::default()
        };
        let Attempt::Write(r) = e.observe(Some(released), Instant::now(), wall()) else {
            panic!("a released lease is free")
        };
        assert_eq!(r.transitions, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn leader_steps_down_after_renew_deadline_without_renewal() {
        let mut e = Elector::new("a".into(), &config());
        let t0 = Instant::now();
        e.written(Some(held_by("a", 0)), t0);
        assert!(e.is_leader());
        tokio::time::advance(Duration::from_secs(9)).await;
        e.written(None, Instant::now());
        assert!(e.is_leader(), "still within the renew deadline");
        tokio::time::advance(Duration::from_secs(1)).await;
        e.check(Instant::now());
        assert!(!e.is_leader(), "10 s without renewal ends leadership");
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_attempt_never_outlives_the_renew_deadline() {
        let mut e = Elector::new("a".into(), &config());
        assert_eq!(e.attempt_budget(Instant::now()), Duration::from_secs(10));
        e.written(Some(held_by("a", 0)), Instant::now());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(e.attempt_budget(Instant::now()), Duration::from_secs(6));
    }

    #[test]
    fn release_record_clears_the_holder() {
        let e = Elector::new("a".into(), &config());
        let r = e.release_record(&held_by("a", 7), wall());
        assert_eq!(r.holder, None);
        assert_eq!(r.lease_duration_seconds, 1);
        assert_eq!(r.transitions, 7);
        assert_eq!(LeaseRecord::from_spec(&r.to_spec()), r);
    }
}

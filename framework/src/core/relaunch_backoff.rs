//! How long relaunches on an agent wait after launches there failed.
//!
//! A bound pod whose task failed before it ran is relaunched on its agent
//! (its `nodeName` is final). Without a pause, an executor that cannot start
//! there (a real Mesos run: it could not reach the agent's executor API)
//! was launched again on every offer, about every 5 s, until the pod's
//! relaunch deadline. The pause grows like the kubelet's CrashLoopBackOff:
//! `initial`, doubled per failure, capped at `max`, and back to `initial`
//! once a task launched after the last failure has run for `reset_after`.
//!
//! It is kept **per agent**, because the executor is: one executor failure
//! fails every task it had, and those failures are one failure, not many.
//! A failure counts (grows the pause) only for a task launched after the
//! last counted failure; tasks launched before it failed with it.
//!
//! A launch Mesos dropped (TASK_DROPPED: a stale offer, the agent gone
//! during the launch, the executor ID still being torn down) was never
//! tried and is no failure of the agent: it only
//! [holds](RelaunchBackoff::hold) relaunches for a short while. The module
//! is pure: time comes in with every call.

use std::collections::HashMap;
use std::time::Duration;

use super::Instant;

#[derive(Clone, Debug)]
struct AgentBackoff {
    /// Failures counted since the last reset (0: only held so far).
    failures: u32,
    /// When the last counted failure was seen.
    last_failure: Option<Instant>,
    /// Relaunches on the agent wait until then.
    retry_at: Instant,
    /// The end of the pause was reported by [`RelaunchBackoff::take_expired`].
    expiry_reported: bool,
    /// Since when a task launched after the last failure runs.
    running_since: Option<Instant>,
}

/// Relaunch pauses of all agents.
#[derive(Clone, Debug)]
pub(super) struct RelaunchBackoff {
    initial: Duration,
    max: Duration,
    reset_after: Duration,
    agents: HashMap<String, AgentBackoff>,
}

impl RelaunchBackoff {
    /// Pauses from `initial`, doubling up to `max`, reset after a task ran
    /// for `reset_after`.
    pub fn new(initial: Duration, max: Duration, reset_after: Duration) -> Self {
        Self {
            initial,
            max,
            reset_after,
            agents: HashMap::new(),
        }
    }

    /// A task on `agent`, launched at `launched_at` (`None`: before this
    /// framework process, so before any failure it knows of), failed at
    /// `now` without running. Returns how long relaunches on the agent
    /// wait from `now`.
    pub fn failed(&mut self, agent: &str, launched_at: Option<Instant>, now: Instant) -> Duration {
        let (initial, max, reset_after) = (self.initial, self.max, self.reset_after);
        let Some(b) = self.agents.get_mut(agent) else {
            self.agents.insert(
                agent.to_owned(),
                AgentBackoff {
                    failures: 1,
                    last_failure: Some(now),
                    retry_at: now + initial,
                    expiry_reported: false,
                    running_since: None,
                },
            );
            return initial;
        };
        if b.last_failure
            .is_some_and(|last| launched_at.is_none_or(|t| t < last))
        {
            // Failed together with the last counted failure.
            return b.retry_at.saturating_duration_since(now);
        }
        if b.running_since.is_some_and(|s| now >= s + reset_after) {
            b.failures = 0;
        }
        b.failures = b.failures.saturating_add(1);
        let delay = initial
            .checked_mul(2u32.saturating_pow(b.failures - 1))
            .unwrap_or(max)
            .min(max);
        b.last_failure = Some(now);
        b.retry_at = b.retry_at.max(now + delay);
        b.expiry_reported = false;
        b.running_since = None;
        b.retry_at.saturating_duration_since(now)
    }

    /// A task on `agent`, launched at `launched_at`, runs at `now`.
    pub fn running(&mut self, agent: &str, launched_at: Option<Instant>, now: Instant) {
        if let Some(b) = self.agents.get_mut(agent) {
            if launched_at.is_some_and(|t| b.last_failure.is_none_or(|last| t >= last)) {
                b.running_since.get_or_insert(now);
            }
        }
    }

    /// Relaunches on `agent` wait until `now + pause` at least, with no
    /// failure counted. Returns how long they wait from `now`.
    pub fn hold(&mut self, agent: &str, pause: Duration, now: Instant) -> Duration {
        let until = now + pause;
        let b = self
            .agents
            .entry(agent.to_owned())
            .or_insert_with(|| AgentBackoff {
                failures: 0,
                last_failure: None,
                retry_at: until,
                expiry_reported: false,
                running_since: None,
            });
        if b.retry_at < until {
            b.retry_at = until;
            b.expiry_reported = false;
        }
        b.retry_at.saturating_duration_since(now)
    }

    /// Whether relaunches on `agent` must still wait at `now`.
    pub fn waiting(&self, agent: &str, now: Instant) -> bool {
        self.agents.get(agent).is_some_and(|b| b.retry_at > now)
    }

    /// Whether some agent's pause ended by `now` since the last call (the
    /// core then asks for offers again).
    pub fn take_expired(&mut self, now: Instant) -> bool {
        let mut any = false;
        for b in self.agents.values_mut() {
            if !b.expiry_reported && b.retry_at <= now {
                b.expiry_reported = true;
                any = true;
            }
        }
        any
    }

    /// The next end of a pause not reported yet.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.agents
            .values()
            .filter(|b| !b.expiry_reported)
            .map(|b| b.retry_at)
            .min()
    }

    /// The agent is gone: nothing more is launched there.
    pub fn forget(&mut self, agent: &str) {
        self.agents.remove(agent);
    }
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`), as kubelet events
/// (`Back-off 5m0s restarting failed container`) show them.
pub(super) fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn backoff() -> RelaunchBackoff {
        RelaunchBackoff::new(secs(10), secs(300), secs(600))
    }

    #[test]
    fn pauses_double_up_to_the_cap() {
        let t0 = Instant::now();
        let mut b = backoff();
        let mut now = t0;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            // Each relaunch happens when the pause is over, and fails.
            let launched = now;
            now += secs(1);
            let pause = b.failed("a1", Some(launched), now);
            pauses.push(pause.as_secs());
            assert!(b.waiting("a1", now));
            now += pause;
            assert!(!b.waiting("a1", now));
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn tasks_that_failed_together_count_once() {
        let t0 = Instant::now();
        let mut b = backoff();
        // Three tasks of one executor launched at t0 fail at t0+5s.
        let at = t0 + secs(5);
        assert_eq!(b.failed("a1", Some(t0), at), secs(10));
        assert_eq!(b.failed("a1", Some(t0), at), secs(10));
        assert_eq!(b.failed("a1", Some(t0), at + secs(2)), secs(8));
        // Unknown launch time (framework restarted): same round.
        assert_eq!(b.failed("a1", None, at + secs(4)), secs(6));
        // Another agent has its own pause.
        assert!(!b.waiting("a2", at));
        assert_eq!(b.failed("a2", None, at), secs(10));
    }

    #[test]
    fn a_task_that_ran_long_enough_resets_the_pause() {
        let t0 = Instant::now();
        let mut b = backoff();
        b.failed("a1", Some(t0), t0 + secs(1));
        let relaunch = t0 + secs(11);
        assert_eq!(b.failed("a1", Some(relaunch), relaunch + secs(1)), secs(20));
        // The next launch runs for only 9 minutes: the pause grows.
        let run = t0 + secs(40);
        b.running("a1", Some(run), run + secs(1));
        assert_eq!(b.failed("a1", Some(run), run + secs(541)), secs(40));
        // Running from before the last failure does not count.
        b.running("a1", Some(run), run + secs(600));
        let later = run + secs(1300);
        assert_eq!(b.failed("a1", Some(run + secs(700)), later), secs(80));
        // One that runs 10 minutes does: back to the first pause.
        let good = later + secs(80);
        b.running("a1", Some(good), good + secs(2));
        assert_eq!(b.failed("a1", Some(good), good + secs(602)), secs(10));
    }

    #[test]
    fn a_hold_delays_relaunches_without_counting_a_failure() {
        let t0 = Instant::now();
        let mut b = backoff();
        assert_eq!(b.hold("a1", secs(10), t0), secs(10));
        assert!(b.waiting("a1", t0 + secs(9)));
        assert!(!b.waiting("a1", t0 + secs(10)));
        assert!(b.take_expired(t0 + secs(10)));
        // The first failure after a hold is the first failure.
        let launched = t0 + secs(10);
        assert_eq!(b.failed("a1", Some(launched), t0 + secs(11)), secs(10));
        // A hold inside a longer pause does not shorten it.
        assert_eq!(b.hold("a1", secs(2), t0 + secs(12)), secs(9));
        // Nor does a failure shorten a longer hold.
        let mut h = backoff();
        h.hold("a2", secs(30), t0);
        assert_eq!(h.failed("a2", Some(t0), t0 + secs(1)), secs(29));
    }

    #[test]
    fn the_end_of_a_pause_is_reported_once() {
        let t0 = Instant::now();
        let mut b = backoff();
        b.failed("a1", Some(t0), t0);
        assert_eq!(b.next_expiry(), Some(t0 + secs(10)));
        assert!(!b.take_expired(t0 + secs(9)));
        assert!(b.take_expired(t0 + secs(10)));
        assert!(!b.take_expired(t0 + secs(11)));
        assert_eq!(b.next_expiry(), None);
        b.forget("a1");
        assert!(!b.waiting("a1", t0));
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(secs(10)), "10s");
        assert_eq!(go_duration(secs(80)), "1m20s");
        assert_eq!(go_duration(secs(300)), "5m0s");
        assert_eq!(go_duration(secs(3661)), "1h1m1s");
    }
}

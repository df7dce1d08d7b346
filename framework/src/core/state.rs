//! The core's state and its step function.

use super::{Action, CoreConfig, CoreMetrics, Input, Instant};

/// The scheduler's state machine. See the module docs of [`crate::core`].
#[derive(Debug)]
pub struct SchedulerCore {
    config: CoreConfig,
    metrics: CoreMetrics,
}

impl SchedulerCore {
    /// A core with nothing known yet.
    pub fn new(config: CoreConfig) -> Self {
        Self {
            config,
            metrics: CoreMetrics::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Feed one input observed at `now`; perform the returned actions in
    /// order.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let _ = (input, now);
        Vec::new()
    }

    /// When the shell must call [`SchedulerCore::handle`] with
    /// [`Input::Tick`] next, if anything is timed.
    pub fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Counters and gauges for export.
    pub fn metrics(&self) -> CoreMetrics {
        self.metrics.clone()
    }

    /// Placement latencies (pod queued → launched) observed since the last
    /// call, for the shell's histogram.
    pub fn take_placement_latencies(&mut self) -> Vec<std::time::Duration> {
        Vec::new()
    }
}

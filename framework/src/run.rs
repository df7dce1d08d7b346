//! The async shell that drives the scheduler core (being wired up).

use crate::config::FrameworkConfig;

/// Errors of the run loop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run loop is not wired up yet.
    #[error("the framework run loop is not implemented yet")]
    NotImplemented,
}

/// Runs the framework until SIGTERM/SIGINT.
pub async fn run_until_signal(_config: FrameworkConfig) -> Result<(), RunError> {
    Err(RunError::NotImplemented)
}

//! Retrying a pod write that a restarted framework depends on.
//!
//! Most pod writes of the shell are tried once: the core writes them again
//! when it matters (a status it derives anew, an event it can do without).
//! The annotations that record a pod's task and a relaunch scheduled for it
//! are different: they are the only memory a restarted framework has of
//! them (see `core::relaunch_intent`), and they are written when the API
//! server is least likely to answer — while pods fail around an outage.
//! Such a write is tried again with a doubling pause until it lands, the
//! API server answers that it never will (the pod is gone or replaced:
//! 404, 409, 422), or [`GIVE_UP_AFTER`] has passed.

use std::future::Future;
use std::time::Duration;

use super::{is_status, KubeError};

/// First pause after a failed attempt.
pub const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// Longest pause between attempts.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
/// No attempt starts later than this after the first (an API server down
/// for longer has restarted the framework's world anyway: the core writes
/// the annotations again on its next relaunch).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// Whether trying the write again may help: anything but the API server
/// answering that the pod is gone (404), not the one the write was for
/// (409, the UID precondition) or that the write is invalid (422).
pub fn retryable(error: &KubeError) -> bool {
    match error {
        KubeError::AnnotatePodFailed { source, .. } => {
            ![404, 409, 422].iter().any(|code| is_status(source, *code))
        }
        _ => true,
    }
}

/// Runs `attempt` until it succeeds, fails for good, or time is up; each
/// failure that is tried again is passed to `on_retry` with the pause
/// before the next attempt. Returns the last error.
pub async fn until_done<F, Fut>(
    mut attempt: F,
    mut on_retry: impl FnMut(&KubeError, Duration),
) -> Result<(), KubeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), KubeError>>,
{
    let started = tokio::time::Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        let error = match attempt().await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if !retryable(&error) || started.elapsed() + pause > GIVE_UP_AFTER {
            return Err(error);
        }
        on_retry(&error, pause);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn api_error(code: u16) -> KubeError {
        KubeError::AnnotatePodFailed {
            namespace: "default".into(),
            name: "web".into(),
            source: kube::Error::Api(
                kube::core::Status::failure("no", "Reason")
                    .with_code(code)
                    .boxed(),
            ),
        }
    }

    #[test]
    fn a_gone_or_replaced_pod_is_not_written_again() {
        assert!(!retryable(&api_error(404)));
        assert!(!retryable(&api_error(409)));
        assert!(!retryable(&api_error(422)));
        assert!(retryable(&api_error(503)));
        assert!(retryable(&api_error(500)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_is_tried_again_with_doubling_pauses_until_it_lands() {
        let attempts = AtomicUsize::new(0);
        let mut pauses = Vec::new();
        let result = until_done(
            || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 6 {
                        Err(api_error(503))
                    } else {
                        Ok(())
                    }
                }
            },
            |_, pause| pauses.push(pause.as_secs()),
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(attempts.load(Ordering::SeqCst), 7);
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_never_lands_is_given_up() {
        let started = tokio::time::Instant::now();
        let result = until_done(|| async { Err(api_error(503)) }, |_, _| {}).await;
        assert!(result.is_err());
        assert!(started.elapsed() <= GIVE_UP_AFTER);
        assert!(started.elapsed() >= GIVE_UP_AFTER - MAX_PAUSE);
        let attempts = AtomicUsize::new(0);
        let result = until_done(
            || {
                attempts.fetch_add(1, Ordering::SeqCst);
                async { Err(api_error(404)) }
            },
            |_, _| {},
        )
        .await;
        assert!(result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "a gone pod: once");
    }
}

//! A Mesos event stream: the body of an accepted SUBSCRIBE, RecordIO-framed
//! events in the client's content type, and the silence timeout that tells
//! a half-open connection from a quiet one.
//!
//! Only buffering lives here: framing is [`kube_mesos_proto::recordio`] and
//! decoding [`crate::codec`], both pure. What a lost stream means (retry,
//! back off, exit) is each client's subscription policy.

use std::future::Future;
use std::time::Duration;

use kube_mesos_proto::recordio;

use crate::codec::ContentType;
use crate::error::StreamError;

/// Largest event accepted unless told otherwise: 16 MiB. A LAUNCH carries a
/// pod, a SUBSCRIBED of the operator API the whole cluster's state.
pub const DEFAULT_MAX_RECORD_SIZE: usize = recordio::DEFAULT_MAX_RECORD_SIZE;

/// An open event stream.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    decoder: recordio::Decoder,
    content_type: ContentType,
}

impl EventStream {
    /// Reads `response`'s body as events in `content_type`; a record larger
    /// than `max_record_size` ends the stream.
    pub fn new(
        response: reqwest::Response,
        content_type: ContentType,
        max_record_size: usize,
    ) -> Self {
        Self {
            response,
            decoder: recordio::Decoder::with_max_record_size(max_record_size),
            content_type,
        }
    }

    /// The next event; [`StreamError::Ended`] when the peer closed the stream
    /// cleanly on a record boundary.
    pub async fn next_event<M>(&mut self) -> Result<M, StreamError>
    where
        M: prost::Message + prost::Name + Default,
    {
        loop {
            if let Some(record) = self
                .decoder
                .next_record()
                .map_err(StreamError::FramingFailed)?
            {
                return self
                    .content_type
                    .decode(&record)
                    .map_err(StreamError::DecodeFailed);
            }
            match self
                .response
                .chunk()
                .await
                .map_err(StreamError::ReadFailed)?
            {
                Some(chunk) => self.decoder.push(&chunk),
                None => {
                    self.decoder.finish().map_err(StreamError::FramingFailed)?;
                    return Err(StreamError::Ended);
                }
            }
        }
    }
}

/// How long a stream may stay silent: `misses` heartbeat intervals (at
/// least one).
pub fn silence_timeout(heartbeat_interval: Duration, misses: u32) -> Duration {
    heartbeat_interval.saturating_mul(misses.max(1))
}

/// A heartbeat interval as a master sends it (`heartbeat_interval_seconds`),
/// or `default` when it is missing, not positive or not finite.
pub fn heartbeat_interval(seconds: Option<f64>, default: Duration) -> Duration {
    seconds
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(default)
}

/// Waits for `next` (the next event of a stream) at most `timeout`; silence
/// for longer is [`StreamError::Silent`]. The error type is the caller's, so
/// test doubles of a stream share the same rule.
pub async fn within<T, E>(
    timeout: Duration,
    next: impl Future<Output = Result<T, E>>,
) -> Result<T, E>
where
    E: From<StreamError>,
{
    match tokio::time::timeout(timeout, next).await {
        Ok(result) => result,
        Err(_) => Err(StreamError::Silent { timeout }.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn silence_past_the_timeout_is_an_error() {
        let timeout = silence_timeout(Duration::from_secs(15), 5);
        assert_eq!(timeout, Duration::from_secs(75));
        let start = tokio::time::Instant::now();
        let result: Result<(), StreamError> =
            within(timeout, std::future::pending::<Result<(), StreamError>>()).await;
        assert!(matches!(result, Err(StreamError::Silent { timeout: t }) if t == timeout));
        assert_eq!(start.elapsed(), timeout);
        let quick: Result<u8, StreamError> = within(timeout, async { Ok(7) }).await;
        assert_eq!(quick.unwrap(), 7);
    }

    #[test]
    fn heartbeat_interval_falls_back_on_nonsense() {
        let default = Duration::from_secs(15);
        assert_eq!(
            heartbeat_interval(Some(2.5), default),
            Duration::from_millis(2500)
        );
        for bad in [
            None,
            Some(0.0),
            Some(-1.0),
            Some(f64::NAN),
            Some(f64::INFINITY),
        ] {
            assert_eq!(heartbeat_interval(bad, default), default);
        }
        assert_eq!(silence_timeout(default, 0), default);
    }
}

//! Settings of the scheduler client, as a plain value.
//!
//! The binary builds this from flags and environment (clap); tests build it
//! directly. Nothing here reads the process environment, so two clients with
//! different settings can live in one process (and one test).

use std::time::Duration;

use url::Url;

use kube_mesos_client::{BackoffConfig, ContentType, Credential};

use super::error::{Error, Result};

/// Path of the scheduler API on a Mesos master.
pub const SCHEDULER_API_PATH: &str = "/api/v1/scheduler";

/// Heartbeat interval Mesos uses when SUBSCRIBED does not say
/// (`DEFAULT_HEARTBEAT_INTERVAL` in the master is 15 s).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// Everything the scheduler client needs to know.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Master URLs tried in order (`http://host:5050`, optionally with a path
    /// prefix). Any master will do: a non-leader redirects to the leader.
    pub masters: Vec<Url>,
    /// HTTP Basic credentials sent on every request when set. Default none.
    pub credential: Option<Credential>,
    /// Wire format of calls and events. Default protobuf, which is what Mesos'
    /// own libraries use and is cheaper than JSON.
    pub content_type: ContentType,
    /// Largest event accepted from the master. Default 16 MiB; a bigger record
    /// means a broken peer and ends the connection.
    pub max_record_size: usize,
    /// Backoff between subscription attempts.
    pub backoff: BackoffConfig,
    /// Missed heartbeats before the master counts as lost. Default 5, so with
    /// Mesos' 15 s heartbeat a master is given up after 75 s of silence.
    pub heartbeat_misses: u32,
    /// Limit for connecting and for the response head of any request. Default
    /// 10 s. It does not cover the event stream, which is open-ended.
    pub request_timeout: Duration,
    /// Redirects followed for one subscription attempt. Default 5; a longer
    /// chain means masters that disagree on the leader.
    pub max_redirects: u32,
}

impl SchedulerConfig {
    /// A configuration with defaults for the given masters.
    pub fn new(masters: Vec<Url>) -> Self {
        Self {
            masters,
            credential: None,
            content_type: ContentType::Protobuf,
            max_record_size: kube_mesos_proto::recordio::DEFAULT_MAX_RECORD_SIZE,
            backoff: BackoffConfig::default(),
            heartbeat_misses: 5,
            request_timeout: Duration::from_secs(10),
            max_redirects: 5,
        }
    }

    /// Parses master URLs (`http://host:5050`) into a configuration with
    /// defaults.
    pub fn from_master_urls<S: AsRef<str>>(urls: &[S]) -> Result<Self> {
        let masters = urls
            .iter()
            .map(|u| {
                Url::parse(u.as_ref()).map_err(|source| Error::InvalidMasterUrl {
                    url: u.as_ref().to_string(),
                    source,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::new(masters))
    }

    /// The scheduler API endpoints of the configured masters.
    pub(crate) fn endpoints(&self) -> Result<Vec<Url>> {
        if self.masters.is_empty() {
            return Err(Error::NoMasters);
        }
        self.masters.iter().map(scheduler_endpoint).collect()
    }
}

/// `http://host:5050` → `http://host:5050/api/v1/scheduler` (a path prefix is
/// kept, for masters behind a proxy).
pub(crate) fn scheduler_endpoint(master: &Url) -> Result<Url> {
    if !matches!(master.scheme(), "http" | "https") || master.host().is_none() {
        return Err(Error::UnsupportedMasterUrl {
            url: master.to_string(),
        });
    }
    let mut endpoint = master.clone();
    let prefix = master.path().trim_end_matches('/');
    endpoint.set_path(&format!("{prefix}{SCHEDULER_API_PATH}"));
    endpoint.set_query(None);
    endpoint.set_fragment(None);
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_is_appended_to_the_master_url() {
        let url = Url::parse("http://m1:5050").unwrap();
        assert_eq!(
            scheduler_endpoint(&url).unwrap().as_str(),
            "http://m1:5050/api/v1/scheduler"
        );
        let url = Url::parse("https://proxy/mesos/").unwrap();
        assert_eq!(
            scheduler_endpoint(&url).unwrap().as_str(),
            "https://proxy/mesos/api/v1/scheduler"
        );
    }

    #[test]
    fn bad_master_urls_are_rejected() {
        assert!(matches!(
            SchedulerConfig::from_master_urls(&["not a url"]),
            Err(Error::InvalidMasterUrl { .. })
        ));
        let config = SchedulerConfig::from_master_urls(&["zk://a:2181/mesos"]).unwrap();
        assert!(matches!(
            config.endpoints(),
            Err(Error::UnsupportedMasterUrl { .. })
        ));
        assert!(matches!(
            SchedulerConfig::new(vec![]).endpoints(),
            Err(Error::NoMasters)
        ));
    }
}

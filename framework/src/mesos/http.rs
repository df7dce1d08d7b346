//! The scheduler API's use of the shared Mesos HTTP client
//! ([`kube_mesos_client::MesosHttp`]): built from [`SchedulerConfig`], plus
//! the `Mesos-Stream-Id` header every call of a subscription carries.

use kube_mesos_client::{Auth, HttpSettings, MesosHttp};

use super::config::SchedulerConfig;
use super::error::{Error, Result};

/// Header naming the subscription a call belongs to.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";

/// The HTTP client of the configured scheduler API.
pub(crate) fn client(config: &SchedulerConfig) -> Result<MesosHttp> {
    MesosHttp::new(HttpSettings {
        content_type: config.content_type,
        auth: config.credential.clone().map(Auth::Basic),
        tls: None,
        request_timeout: config.request_timeout,
    })
    .map_err(Error::HttpClientFailed)
}

//! Client of the Mesos v1 operator API (`POST /api/v1` on the master), for
//! the agents behind our Nodes.
//!
//! GET_AGENTS gives the agents at start; SUBSCRIBE streams AGENT_ADDED and
//! AGENT_REMOVED (RecordIO-framed protobuf, decoded with
//! `kube_mesos_proto::recordio`). Like the scheduler API, a non-leading master
//! answers 307 with `Location: //host:port/api/v1`; the client follows it.
//! Decoding is pure ([`OperatorEvent::from_event`]); the stream only buffers.

use futures::{Stream, StreamExt};
use kube_mesos_proto::recordio::Decoder;
use kube_mesos_proto::v1::master::{call, event, response, Call, Event, Response};
use kube_mesos_proto::v1::{AgentId, AgentInfo, Resource};
use prost::Message;
use url::Url;

use crate::core::RunningExecutor;
use crate::mesos::Credential;

const PROTOBUF: &str = "application/x-protobuf";
const MAX_REDIRECTS: usize = 3;

/// A failed operator API request. All are retryable; a master without the
/// operator API (404/501) makes the registry fall back to offers.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The HTTP client could not be built.
    #[error("building the operator API client failed")]
    ClientBuildFailed(#[source] reqwest::Error),
    /// No configured master answered.
    #[error("operator call {call} to {endpoint} failed")]
    RequestFailed {
        /// Call type.
        call: &'static str,
        /// Endpoint.
        endpoint: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The master answered an error status.
    #[error("operator call {call} to {endpoint} answered {status}")]
    StatusFailed {
        /// Call type.
        call: &'static str,
        /// Endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
    },
    /// A redirect without a usable Location, or too many.
    #[error("operator call {call}: bad or endless redirects from {endpoint}")]
    RedirectFailed {
        /// Call type.
        call: &'static str,
        /// Endpoint.
        endpoint: String,
    },
    /// The response did not decode.
    #[error("decoding the {call} response failed")]
    DecodeFailed {
        /// Call type.
        call: &'static str,
        /// Cause.
        #[source]
        source: prost::DecodeError,
    },
    /// The event stream broke.
    #[error("the operator event stream failed")]
    StreamFailed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No master configured.
    #[error("no master configured")]
    NoMasters,
}

/// An agent as the operator API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    /// AgentInfo (hostname, attributes, domain, id).
    pub info: AgentInfo,
    /// Total resources (all roles).
    pub total_resources: Vec<Resource>,
}

/// What the operator subscription reports.
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorEvent {
    /// SUBSCRIBED: every registered agent now, and every executor.
    Snapshot {
        /// The registered agents.
        agents: Vec<AgentRecord>,
        /// The executors, of every framework.
        executors: Vec<RunningExecutor>,
    },
    /// AGENT_ADDED.
    AgentAdded(AgentRecord),
    /// AGENT_REMOVED (removed, gone, or marked unreachable: the master sends
    /// the same event for all three).
    AgentRemoved(AgentId),
}

impl OperatorEvent {
    /// Maps a master event; `None` for events we do not use (heartbeats,
    /// tasks, frameworks).
    pub fn from_event(event: Event) -> Option<Self> {
        match event.r#type.and_then(|t| event::Type::try_from(t).ok())? {
            event::Type::Subscribed => {
                let state = event.subscribed.and_then(|s| s.get_state);
                let (agents, executors) = match state {
                    Some(s) => (s.get_agents, s.get_executors),
                    None => (None, None),
                };
                let executors = executors
                    .map(|e| {
                        e.executors
                            .into_iter()
                            .map(|e| RunningExecutor {
                                agent_id: e.agent_id,
                                info: e.executor_info,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(OperatorEvent::Snapshot {
                    agents: agents.map(records).unwrap_or_default(),
                    executors,
                })
            }
            event::Type::AgentAdded => event
                .agent_added
                .map(|a| OperatorEvent::AgentAdded(record(a.agent))),
            event::Type::AgentRemoved => event
                .agent_removed
                .map(|r| OperatorEvent::AgentRemoved(r.agent_id)),
            _ => None,
        }
    }
}

fn record(agent: response::get_agents::Agent) -> AgentRecord {
    AgentRecord {
        info: agent.agent_info,
        total_resources: agent.total_resources,
    }
}

fn records(agents: response::GetAgents) -> Vec<AgentRecord> {
    agents.agents.into_iter().map(record).collect()
}

/// Operator API client over the configured masters.
#[derive(Debug, Clone)]
pub struct OperatorClient {
    http: reqwest::Client,
    masters: Vec<Url>,
    credential: Option<Credential>,
}

impl OperatorClient {
    /// A client for `masters` (`http://host:5050`).
    pub fn new(masters: Vec<Url>, credential: Option<Credential>) -> Result<Self, OperatorError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(OperatorError::ClientBuildFailed)?;
        Ok(Self {
            http,
            masters,
            credential,
        })
    }

    /// GET_AGENTS.
    pub async fn get_agents(&self) -> Result<Vec<AgentRecord>, OperatorError> {
        let call = Call {
            r#type: Some(call::Type::GetAgents as i32),
            ..Call::default()
        };
        let response = self.post("GET_AGENTS", &call, false).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| OperatorError::StreamFailed(Box::new(e)))?;
        let decoded = Response::decode(bytes).map_err(|source| OperatorError::DecodeFailed {
            call: "GET_AGENTS",
            source,
        })?;
        Ok(decoded.get_agents.map(records).unwrap_or_default())
    }

    /// SUBSCRIBE: a stream of [`OperatorEvent`]s; it ends when the master
    /// closes it (the caller resubscribes).
    pub async fn subscribe(
        &self,
    ) -> Result<
        impl Stream<Item = Result<OperatorEvent, OperatorError>> + Send + 'static,
        OperatorError,
    > {
        let call = Call {
            r#type: Some(call::Type::Subscribe as i32),
            ..Call::default()
        };
        let response = self.post("SUBSCRIBE", &call, true).await?;
        let body = response.bytes_stream();
        let state = (body.boxed(), Decoder::new(), false);
        Ok(futures::stream::unfold(
            state,
            |(mut body, mut decoder, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match decoder.next_record() {
                        Ok(Some(record)) => match Event::decode(record) {
                            Ok(event) => {
                                if let Some(e) = OperatorEvent::from_event(event) {
                                    return Some((Ok(e), (body, decoder, false)));
                                }
                                continue;
                            }
                            Err(source) => {
                                let e = OperatorError::DecodeFailed {
                                    call: "SUBSCRIBE",
                                    source,
                                };
                                return Some((Err(e), (body, decoder, true)));
                            }
                        },
                        Ok(None) => {}
                        Err(e) => {
                            return Some((
                                Err(OperatorError::StreamFailed(Box::new(e))),
                                (body, decoder, true),
                            ))
                        }
                    }
                    match body.next().await {
                        Some(Ok(chunk)) => decoder.push(&chunk),
                        Some(Err(e)) => {
                            return Some((
                                Err(OperatorError::StreamFailed(Box::new(e))),
                                (body, decoder, true),
                            ))
                        }
                        None => return None,
                    }
                }
            },
        ))
    }

    async fn post(
        &self,
        name: &'static str,
        call: &Call,
        streaming: bool,
    ) -> Result<reqwest::Response, OperatorError> {
        let mut last = OperatorError::NoMasters;
        for master in &self.masters {
            let mut endpoint = operator_endpoint(master);
            for _ in 0..=MAX_REDIRECTS {
                let mut request = self
                    .http
                    .post(endpoint.clone())
                    .header(reqwest::header::CONTENT_TYPE, PROTOBUF)
                    .header(reqwest::header::ACCEPT, PROTOBUF)
                    .body(call.encode_to_vec());
                if !streaming {
                    request = request.timeout(std::time::Duration::from_secs(30));
                }
                if let Some(c) = &self.credential {
                    request = request.basic_auth(&c.principal, Some(&c.secret));
                }
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(source) => {
                        last = OperatorError::RequestFailed {
                            call: name,
                            endpoint: endpoint.to_string(),
                            source,
                        };
                        break;
                    }
                };
                let status = response.status();
                if status.is_success() {
                    return Ok(response);
                }
                if status == reqwest::StatusCode::TEMPORARY_REDIRECT {
                    let next = response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .and_then(|l| endpoint.join(l).ok());
                    match next {
                        Some(next) => {
                            endpoint = next;
                            continue;
                        }
                        None => {
                            last = OperatorError::RedirectFailed {
                                call: name,
                                endpoint: endpoint.to_string(),
                            };
                            break;
                        }
                    }
                }
                last = OperatorError::StatusFailed {
                    call: name,
                    endpoint: endpoint.to_string(),
                    status: status.as_u16(),
                };
                break;
            }
        }
        Err(last)
    }
}

/// `http://host:5050[/prefix]` → `http://host:5050[/prefix]/api/v1`.
pub fn operator_endpoint(master: &Url) -> Url {
    let mut url = master.clone();
    let prefix = master.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{prefix}/api/v1"));
    url.set_query(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{ExecutorId, ExecutorInfo};

    #[test]
    fn endpoint_and_scheme_relative_redirects() {
        let m = Url::parse("http://m1:5050").unwrap();
        let e = operator_endpoint(&m);
        assert_eq!(e.as_str(), "http://m1:5050/api/v1");
        assert_eq!(
            e.join("//m2:5050/api/v1").unwrap().as_str(),
            "http://m2:5050/api/v1"
        );
    }

    #[test]
    fn events_map_to_agent_changes() {
        let agent = response::get_agents::Agent {
            agent_info: AgentInfo {
                hostname: "h1".into(),
                id: Some(AgentId { value: "S1".into() }),
                ..AgentInfo::default()
            },
            active: true,
            version: "1.11.0".into(),
            ..Default::default()
        };
        let added = Event {
            r#type: Some(event::Type::AgentAdded as i32),
            agent_added: Some(event::AgentAdded {
                agent: agent.clone(),
            }),
            ..Event::default()
        };
        // Through the wire and back, as the stream sees it.
        let decoded = Event::decode(added.encode_to_vec().as_slice()).unwrap();
        assert!(
            matches!(OperatorEvent::from_event(decoded), Some(OperatorEvent::AgentAdded(a)) if a.info.hostname == "h1")
        );
        let removed = Event {
            r#type: Some(event::Type::AgentRemoved as i32),
            agent_removed: Some(event::AgentRemoved {
                agent_id: AgentId { value: "S1".into() },
            }),
            ..Event::default()
        };
        assert_eq!(
            OperatorEvent::from_event(removed),
            Some(OperatorEvent::AgentRemoved(AgentId { value: "S1".into() }))
        );
        let heartbeat = Event {
            r#type: Some(event::Type::Heartbeat as i32),
            ..Event::default()
        };
        assert_eq!(OperatorEvent::from_event(heartbeat), None);
        let subscribed = Event {
            r#type: Some(event::Type::Subscribed as i32),
            subscribed: Some(event::Subscribed {
                get_state: Some(response::GetState {
                    get_agents: Some(response::GetAgents {
                        agents: vec![agent],
                        ..Default::default()
                    }),
                    get_executors: Some(response::GetExecutors {
                        executors: vec![response::get_executors::Executor {
                            executor_info: ExecutorInfo {
                                executor_id: ExecutorId { value: "e".into() },
                                ..Default::default()
                            },
                            agent_id: AgentId { value: "a".into() },
                        }],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                heartbeat_interval_seconds: Some(15.0),
            }),
            ..Event::default()
        };
        assert!(matches!(OperatorEvent::from_event(subscribed),
                Some(OperatorEvent::Snapshot { agents, executors })
                    if agents.len() == 1 && executors[0].agent_id.value == "a"
                        && executors[0].info.executor_id.value == "e"));
    }
}

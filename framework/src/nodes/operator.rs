//! Client of the Mesos v1 operator API (`POST /api/v1` on the master), for
//! the agents behind our Nodes.
//!
//! GET_AGENTS gives the agents at start; SUBSCRIBE streams AGENT_ADDED and
//! AGENT_REMOVED (RecordIO-framed protobuf, decoded with
//! `kube_mesos_proto::recordio`). Like the scheduler API, a non-leading master
//! answers 307 with `Location: //host:port/api/v1`; the client follows it.
//! Decoding is pure ([`OperatorEvent::from_event`]); the stream only buffers.

use std::time::Duration;

use futures::Stream;
use kube_mesos_client::stream::{heartbeat_interval, silence_timeout, within};
use kube_mesos_client::{Auth, Credential, EventStream, HttpSettings, MesosHttp, StreamError};
use kube_mesos_proto::v1::master::{call, event, response, Call, Event, Response};
use kube_mesos_proto::v1::{AgentId, AgentInfo, Resource};
use prost::Message;
use url::Url;

use crate::core::RunningExecutor;

const MAX_REDIRECTS: u32 = 3;
/// Heartbeat interval of operator subscribers until SUBSCRIBED says
/// (apache/mesos `src/master/constants.hpp`: 15 s).
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// Missed heartbeats before the stream counts as lost (as the scheduler
/// client's default): a half-open connection would otherwise leave Node
/// tracking deaf.
const HEARTBEAT_MISSES: u32 = 5;
/// Limit on GET_AGENTS and on a SUBSCRIBE's response head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A failed operator API request. All are retryable; a master without the
/// operator API (404/501) makes the registry fall back to offers.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The HTTP client could not be built.
    #[error("building the operator API client failed")]
    ClientBuildFailed(#[source] kube_mesos_client::Error),
    /// No configured master answered, or redirects did not end at a leader.
    #[error("operator call {call} failed")]
    RequestFailed {
        /// Call type.
        call: &'static str,
        /// Cause.
        #[source]
        source: kube_mesos_client::Error,
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
    /// The response did not decode.
    #[error("decoding the {call} response failed")]
    DecodeFailed {
        /// Call type.
        call: &'static str,
        /// Cause.
        #[source]
        source: prost::DecodeError,
    },
    /// The event stream broke, ended or went silent.
    #[error("the operator event stream failed")]
    StreamFailed(#[source] StreamError),
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
    http: MesosHttp,
    masters: Vec<Url>,
}

impl OperatorClient {
    /// A client for `masters` (`http://host:5050`).
    pub fn new(masters: Vec<Url>, credential: Option<Credential>) -> Result<Self, OperatorError> {
        let http = MesosHttp::new(HttpSettings {
            auth: credential.map(Auth::Basic),
            request_timeout: REQUEST_TIMEOUT,
            ..HttpSettings::default()
        })
        .map_err(OperatorError::ClientBuildFailed)?;
        Ok(Self { http, masters })
    }

    /// GET_AGENTS.
    pub async fn get_agents(&self) -> Result<Vec<AgentRecord>, OperatorError> {
        let call = Call {
            r#type: Some(call::Type::GetAgents as i32),
            ..Call::default()
        };
        let response = self.post("GET_AGENTS", &call).await?;
        let bytes = tokio::time::timeout(REQUEST_TIMEOUT, response.bytes())
            .await
            .map_err(|_| {
                OperatorError::StreamFailed(StreamError::Silent {
                    timeout: REQUEST_TIMEOUT,
                })
            })?
            .map_err(|e| OperatorError::StreamFailed(StreamError::ReadFailed(e)))?;
        let decoded = Response::decode(bytes).map_err(|source| OperatorError::DecodeFailed {
            call: "GET_AGENTS",
            source,
        })?;
        Ok(decoded.get_agents.map(records).unwrap_or_default())
    }

    /// SUBSCRIBE: a stream of [`OperatorEvent`]s. It ends after an error:
    /// the master closed it, it broke, or it was silent for
    /// [`HEARTBEAT_MISSES`] heartbeat intervals (the caller resubscribes).
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
        let response = self.post("SUBSCRIBE", &call).await?;
        let events = EventStream::new(
            response,
            self.http.content_type(),
            kube_mesos_client::stream::DEFAULT_MAX_RECORD_SIZE,
        );
        let state = Some((events, DEFAULT_HEARTBEAT_INTERVAL));
        Ok(futures::stream::unfold(state, |state| async move {
            let (mut events, mut interval) = state?;
            loop {
                let timeout = silence_timeout(interval, HEARTBEAT_MISSES);
                let event: Event = match within(timeout, events.next_event()).await {
                    Ok(event) => event,
                    Err(StreamError::Ended) => return None,
                    Err(error) => return Some((Err(OperatorError::StreamFailed(error)), None)),
                };
                if let Some(subscribed) = &event.subscribed {
                    interval = heartbeat_interval(
                        subscribed.heartbeat_interval_seconds,
                        DEFAULT_HEARTBEAT_INTERVAL,
                    );
                }
                if let Some(e) = OperatorEvent::from_event(event) {
                    return Some((Ok(e), Some((events, interval))));
                }
            }
        }))
    }

    /// POSTs `call` to the first master that answers, following redirects to
    /// the leader; a non-2xx answer is an error.
    async fn post(
        &self,
        name: &'static str,
        call: &Call,
    ) -> Result<reqwest::Response, OperatorError> {
        let mut last = OperatorError::NoMasters;
        let body = bytes::Bytes::from(call.encode_to_vec());
        for master in &self.masters {
            let endpoint = operator_endpoint(master);
            match self
                .http
                .post_to_leader(&endpoint, body.clone(), MAX_REDIRECTS, |r| r)
                .await
            {
                Ok((_, response)) if response.status().is_success() => return Ok(response),
                Ok((endpoint, response)) => {
                    last = OperatorError::StatusFailed {
                        call: name,
                        endpoint: endpoint.to_string(),
                        status: response.status().as_u16(),
                    }
                }
                Err(source) => last = OperatorError::RequestFailed { call: name, source },
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

    /// A master that answers SUBSCRIBE, sends SUBSCRIBED with `heartbeat`
    /// seconds and then nothing, keeping the connection open: a half-open
    /// stream as a dead master behind a live proxy leaves it.
    async fn silent_master(heartbeat: f64) -> (Url, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The head and the small protobuf body arrive together or soon.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let subscribed = Event {
                r#type: Some(event::Type::Subscribed as i32),
                subscribed: Some(event::Subscribed {
                    get_state: Some(response::GetState::default()),
                    heartbeat_interval_seconds: Some(heartbeat),
                }),
                ..Event::default()
            }
            .encode_to_vec();
            let mut record = format!("{}\n", subscribed.len()).into_bytes();
            record.extend_from_slice(&subscribed);
            let mut answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                Transfer-Encoding: chunked\r\n\r\n"
                .to_vec();
            answer.extend_from_slice(format!("{:x}\r\n", record.len()).as_bytes());
            answer.extend_from_slice(&record);
            answer.extend_from_slice(b"\r\n");
            socket.write_all(&answer).await.unwrap();
            // Never another byte, never a close.
            std::future::pending::<()>().await;
        });
        (url, server)
    }

    #[tokio::test]
    async fn a_stream_gone_silent_ends_with_an_error_for_the_caller_to_resubscribe() {
        use futures::StreamExt;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (master, server) = silent_master(0.05).await;
        let client = OperatorClient::new(vec![master], None).unwrap();
        let stream = client.subscribe().await.expect("subscribed");
        futures::pin_mut!(stream);
        // SUBSCRIBED's snapshot, then the silence of 5 heartbeats (0.25 s);
        // the 30 s guard only stops a hang.
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            let mut items = Vec::new();
            while let Some(item) = stream.next().await {
                items.push(item);
            }
            items
        })
        .await
        .expect("a silent stream must end");
        let last = ended.last().expect("at least the error");
        assert!(
            matches!(
                last,
                Err(OperatorError::StreamFailed(StreamError::Silent { timeout }))
                    if *timeout == Duration::from_millis(250)
            ),
            "{last:?}"
        );
        server.abort();
    }
}

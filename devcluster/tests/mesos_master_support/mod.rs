//! Helpers for the master's integration tests: a master on 127.0.0.1:0, a
//! raw scheduler client (reqwest + RecordIO), and a fake agent on the link.
#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use kube_mesos_devcluster::mesos::link::{AgentMessage, MasterLink, MasterMessage};
use kube_mesos_devcluster::mesos::master::{self, MasterConfig, MasterHandle};
use kube_mesos_proto::recordio::Decoder;
use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::scheduler::{call, event, Call, Event};
use kube_mesos_proto::v1::{
    self as v1, framework_info, AgentId, AgentInfo, ExecutorId, FrameworkId, FrameworkInfo, Offer,
    Resource, TaskState, TaskStatus,
};
use prost::Message;
use tokio::sync::{mpsc, oneshot};

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

/// A master with fast timers, and the trigger that stops it.
pub struct TestMaster {
    pub handle: MasterHandle,
    stop: Option<oneshot::Sender<()>>,
}

impl TestMaster {
    pub async fn start(config: MasterConfig) -> TestMaster {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, rx) = oneshot::channel();
        let handle = master::start(listener, config, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
        TestMaster {
            handle,
            stop: Some(stop),
        }
    }

    pub async fn fast() -> TestMaster {
        Self::start(fast_config()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.handle.url(), path)
    }

    /// Stops the master and surfaces any panic inside it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.handle.join())
            .await
            .expect("master stops in time")
            .unwrap();
    }
}

pub fn fast_config() -> MasterConfig {
    MasterConfig {
        master_id: Some("m1".into()),
        heartbeat_interval: Duration::from_secs(15),
        allocation_interval: Duration::from_millis(50),
        ..Default::default()
    }
}

pub fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// reqwest is built without a default TLS provider; install ring's.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub fn framework_info(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        failover_timeout: Some(3600.0),
        ..Default::default()
    }
}

pub fn multi_role(mut info: FrameworkInfo, roles: &[&str]) -> FrameworkInfo {
    info.roles = roles.iter().map(|r| r.to_string()).collect();
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::MultiRole as i32),
    });
    info
}

pub fn partition_aware(mut info: FrameworkInfo) -> FrameworkInfo {
    info.capabilities.push(framework_info::Capability {
        r#type: Some(framework_info::capability::Type::PartitionAware as i32),
    });
    info
}

pub fn subscribe_call(info: FrameworkInfo) -> Call {
    Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
        }),
        ..Default::default()
    }
}

pub fn encode(content_type: &str, call: &Call) -> Vec<u8> {
    if content_type == JSON {
        serde_json::to_vec(&kube_mesos_proto::json::to_json(call).unwrap()).unwrap()
    } else {
        call.encode_to_vec()
    }
}

/// An open SUBSCRIBE stream.
pub struct Stream {
    pub framework_id: String,
    pub stream_id: String,
    pub content_type: String,
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: Decoder,
    pub json: bool,
}

impl Stream {
    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(rec) = self.decoder.next_record().unwrap() {
                return Some(if self.json {
                    kube_mesos_proto::json::from_json::<Event>(&rec).unwrap()
                } else {
                    Event::decode(rec).unwrap()
                });
            }
            match tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event in time")
            {
                Some(Ok(chunk)) => self.decoder.push(&chunk),
                _ => return None,
            }
        }
    }

    /// The next raw record (JSON streams), for shape checks.
    pub async fn next_raw(&mut self) -> Option<bytes::Bytes> {
        loop {
            if let Some(rec) = self.decoder.next_record().unwrap() {
                return Some(rec);
            }
            match tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event in time")
            {
                Some(Ok(chunk)) => self.decoder.push(&chunk),
                _ => return None,
            }
        }
    }

    /// The next event of `ty`, skipping others (heartbeats, offers, ...).
    pub async fn next_of(&mut self, ty: event::Type) -> Event {
        loop {
            let ev = self.next().await.expect("stream still open");
            if ev.r#type() == ty {
                return ev;
            }
        }
    }

    pub async fn next_offers(&mut self) -> Vec<Offer> {
        self.next_of(event::Type::Offers)
            .await
            .offers
            .unwrap()
            .offers
    }

    pub async fn next_update(&mut self) -> TaskStatus {
        self.next_of(event::Type::Update)
            .await
            .update
            .unwrap()
            .status
    }

    /// Asserts that no event of `ty` arrives within `wait`.
    pub async fn expect_none_of(&mut self, ty: event::Type, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match tokio::time::timeout(left, self.next()).await {
                Err(_) => return,
                Ok(None) => return,
                Ok(Some(ev)) => assert_ne!(ev.r#type(), ty, "unexpected {ev:?}"),
            }
        }
    }
}

/// Subscribes and reads SUBSCRIBED.
pub async fn subscribe(master: &TestMaster, info: FrameworkInfo, content_type: &str) -> Stream {
    let mut s = open_stream(master, &subscribe_call(info), content_type).await;
    let ev = s.next().await.expect("SUBSCRIBED");
    assert_eq!(ev.r#type(), event::Type::Subscribed, "{ev:?}");
    s.framework_id = ev.subscribed.unwrap().framework_id.value;
    s
}

pub async fn open_stream(master: &TestMaster, call: &Call, content_type: &str) -> Stream {
    let resp = client()
        .post(master.url("/api/v1/scheduler"))
        .header("Content-Type", content_type)
        .header("Accept", content_type)
        .body(encode(content_type, call))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let stream_id = resp
        .headers()
        .get("Mesos-Stream-Id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let ct = resp
        .headers()
        .get("Content-Type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    Stream {
        framework_id: String::new(),
        stream_id,
        content_type: ct,
        body: resp.bytes_stream().boxed(),
        decoder: Decoder::new(),
        json: content_type == JSON,
    }
}

/// Posts a non-SUBSCRIBE call on behalf of `stream`; returns (status, body).
pub async fn post(master: &TestMaster, stream: &Stream, mut call: Call) -> (u16, String) {
    call.framework_id = Some(FrameworkId {
        value: stream.framework_id.clone(),
    });
    let ct = if stream.json { JSON } else { PROTOBUF };
    let resp = client()
        .post(master.url("/api/v1/scheduler"))
        .header("Content-Type", ct)
        .header("Mesos-Stream-Id", &stream.stream_id)
        .body(encode(ct, &call))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub fn call_of(ty: call::Type) -> Call {
    Call {
        r#type: Some(ty as i32),
        ..Default::default()
    }
}

pub fn decline(offers: &[Offer], refuse_seconds: f64) -> Call {
    Call {
        decline: Some(call::Decline {
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            filters: Some(v1::Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        }),
        ..call_of(call::Type::Decline)
    }
}

pub fn reconcile(tasks: &[(&str, Option<&str>)]) -> Call {
    Call {
        reconcile: Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|(t, a)| call::reconcile::Task {
                    task_id: v1::TaskId {
                        value: t.to_string(),
                    },
                    agent_id: a.map(|a| AgentId {
                        value: a.to_string(),
                    }),
                })
                .collect(),
        }),
        ..call_of(call::Type::Reconcile)
    }
}

pub fn kill(task_id: &str, agent_id: Option<&str>) -> Call {
    Call {
        kill: Some(call::Kill {
            task_id: v1::TaskId {
                value: task_id.into(),
            },
            agent_id: agent_id.map(|a| AgentId { value: a.into() }),
            kill_policy: None,
        }),
        ..call_of(call::Type::Kill)
    }
}

pub fn scalar(name: &str, v: f64) -> Resource {
    master::resources::scalar(name, v)
}

pub fn agent_resources() -> Vec<Resource> {
    vec![
        scalar("cpus", 4.0),
        scalar("mem", 4096.0),
        scalar("disk", 10000.0),
        master::resources::ranges("ports", &[(31000, 32000)]),
    ]
}

pub fn executor(id: &str) -> v1::ExecutorInfo {
    v1::ExecutorInfo {
        r#type: Some(v1::executor_info::Type::Custom as i32),
        executor_id: ExecutorId { value: id.into() },
        command: Some(v1::CommandInfo {
            value: Some("true".into()),
            ..Default::default()
        }),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        ..Default::default()
    }
}

pub fn task(id: &str, offer: &Offer, cpus: f64) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: offer.agent_id.clone(),
        resources: vec![scalar("cpus", cpus), scalar("mem", 64.0)],
        executor: Some(executor("ex")),
        ..Default::default()
    }
}

pub fn launch(offers: &[Offer], tasks: Vec<v1::TaskInfo>) -> Call {
    Call {
        accept: Some(call::Accept {
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            operations: vec![v1::offer::Operation {
                r#type: Some(v1::offer::operation::Type::Launch as i32),
                launch: Some(v1::offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: None,
        }),
        ..call_of(call::Type::Accept)
    }
}

/// A fake agent on the link: registers, records what the master sends.
pub struct FakeAgent {
    pub id: String,
    pub info: AgentInfo,
    pub link: MasterLink,
    pub inbox: mpsc::UnboundedReceiver<MasterMessage>,
}

impl FakeAgent {
    pub async fn register(link: MasterLink, hostname: &str, resources: Vec<Resource>) -> FakeAgent {
        let info = AgentInfo {
            hostname: hostname.into(),
            port: Some(5051),
            resources,
            ..Default::default()
        };
        Self::register_with(link, info, vec![]).await
    }

    pub async fn register_with(
        link: MasterLink,
        info: AgentInfo,
        tasks: Vec<v1::Task>,
    ) -> FakeAgent {
        let (tx, inbox) = mpsc::unbounded_channel();
        let (reply, rx) = oneshot::channel();
        link.send(AgentMessage::Register {
            info: info.clone(),
            executors: vec![],
            tasks,
            frameworks: vec![],
            inbox: tx,
            reply,
        })
        .unwrap();
        let id = rx.await.unwrap().unwrap();
        let mut info = info;
        info.id = Some(id.clone());
        FakeAgent {
            id: id.value,
            info,
            link,
            inbox,
        }
    }

    /// Re-registers with the same ID (after a restart or partition).
    pub async fn reregister(self, tasks: Vec<v1::Task>) -> FakeAgent {
        Self::register_with(self.link.clone(), self.info.clone(), tasks).await
    }

    /// The next message but an `UpdateFramework`, which the master sends
    /// every agent on each SUBSCRIBE (`Master::sendFrameworkUpdates`).
    pub async fn recv(&mut self) -> MasterMessage {
        loop {
            match self.recv_any().await {
                MasterMessage::UpdateFramework { .. } => {}
                other => return other,
            }
        }
    }

    /// The next message, whatever it is.
    pub async fn recv_any(&mut self) -> MasterMessage {
        tokio::time::timeout(Duration::from_secs(10), self.inbox.recv())
            .await
            .expect("a message in time")
            .expect("inbox open")
    }

    /// Sends a status update with a fresh uuid, as the agent's status update
    /// manager would; returns the uuid.
    pub fn update(&self, framework_id: &str, task_id: &str, state: TaskState) -> Vec<u8> {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        self.link
            .send(AgentMessage::StatusUpdate {
                agent_id: AgentId {
                    value: self.id.clone(),
                },
                framework_id: FrameworkId {
                    value: framework_id.into(),
                },
                status: TaskStatus {
                    task_id: v1::TaskId {
                        value: task_id.into(),
                    },
                    state: state as i32,
                    source: Some(v1::task_status::Source::Executor as i32),
                    agent_id: Some(AgentId {
                        value: self.id.clone(),
                    }),
                    executor_id: Some(ExecutorId { value: "ex".into() }),
                    uuid: Some(uuid.clone()),
                    ..Default::default()
                },
            })
            .unwrap();
        uuid
    }
}

/// One operator API call (`/api/v1`) without arguments, in `ct`.
pub async fn operator_call(
    master: &TestMaster,
    ty: operator::call::Type,
    ct: &str,
) -> operator::Response {
    let c = operator::Call {
        r#type: Some(ty as i32),
        ..Default::default()
    };
    let body = if ct == JSON {
        serde_json::to_vec(&kube_mesos_proto::json::to_json(&c).unwrap()).unwrap()
    } else {
        c.encode_to_vec()
    };
    let r = client()
        .post(master.url("/api/v1"))
        .header("Content-Type", ct)
        .header("Accept", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["Content-Type"], ct);
    let bytes = r.bytes().await.unwrap();
    if ct == JSON {
        kube_mesos_proto::json::from_json::<operator::Response>(&bytes).unwrap()
    } else {
        operator::Response::decode(bytes).unwrap()
    }
}

/// A framework with one running task "t1" on one fake agent.
pub async fn running_task(master: &TestMaster, info: v1::FrameworkInfo) -> (Stream, FakeAgent) {
    let mut agent = FakeAgent::register(master.handle.link(), "a1", agent_resources()).await;
    let mut s = subscribe(master, info, PROTOBUF).await;
    let offers = s.next_offers().await;
    post(
        master,
        &s,
        launch(&offers, vec![task("t1", &offers[0], 1.0)]),
    )
    .await;
    assert!(matches!(agent.recv().await, MasterMessage::RunTasks { .. }));
    agent.update(&s.framework_id, "t1", TaskState::TaskRunning);
    assert_eq!(s.next_update().await.state(), TaskState::TaskRunning);
    (s, agent)
}

/// "t1" as its agent reports it when re-registering.
pub fn running_t1(agent: &FakeAgent, framework_id: &str) -> v1::Task {
    v1::Task {
        name: "t1".into(),
        task_id: v1::TaskId { value: "t1".into() },
        framework_id: FrameworkId {
            value: framework_id.into(),
        },
        executor_id: Some(ExecutorId { value: "ex".into() }),
        agent_id: AgentId {
            value: agent.id.clone(),
        },
        state: TaskState::TaskRunning as i32,
        resources: vec![scalar("cpus", 1.0), scalar("mem", 64.0)],
        ..Default::default()
    }
}

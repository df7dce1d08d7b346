//! The master's HTTP endpoints: `/api/v1/scheduler`, `/api/v1` (operator),
//! `/version`, `/health`, the read-only JSON endpoints (`/master/state`,
//! `/master/frameworks`, `/master/slaves`, `/master/tasks`, also without the
//! `/master` prefix as the master is libprocess' delegate) and
//! `/metrics/snapshot`.
//!
//! Handlers check the request the way apache/mesos `src/master/http.cpp`
//! does, in the same order and with the same status codes and texts, then
//! apply one input to the [`State`](super::state::State). Event streams are
//! chunked RecordIO bodies fed by a channel; each stream also sends its own
//! HEARTBEATs (right after SUBSCRIBED, then every interval), like Mesos'
//! per-connection heartbeater.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::scheduler::{call, event, Call, Event};
use kube_mesos_proto::v1::VersionInfo;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use serde_json::Value;

use super::auth;
use super::codec::{self, BodyError, ContentType};
use super::state::metrics::Counter;
use super::state::readonly::{TasksQuery, TASK_LIMIT};
use super::state::CallRefused;
use super::state::State;
use super::Shared;
use crate::mesos::endpoint::{ok_json, Query};
use crate::mesos::standalone::parse_mesos_duration;
use crate::mesos::system_metrics;

/// The Mesos version this master claims to be.
pub use crate::mesos::build::MESOS_VERSION;
use crate::mesos::build::{BUILD_DATE, BUILD_TIME, BUILD_USER};

/// Builds the router over the shared master.
pub fn router(shared: Arc<Shared>, max_body: usize) -> Router {
    let router = Router::new()
        .route("/api/v1/scheduler", any(scheduler))
        .route("/master/api/v1/scheduler", any(scheduler))
        .route("/api/v1", any(operator_api))
        .route("/master/api/v1", any(operator_api))
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/master/health", get(health))
        .route("/master/state", any(master_state))
        .route("/state", any(master_state))
        .route("/master/frameworks", any(master_frameworks))
        .route("/frameworks", any(master_frameworks))
        .route("/master/slaves", any(master_slaves))
        .route("/slaves", any(master_slaves))
        .route("/master/tasks", any(master_tasks))
        .route("/tasks", any(master_tasks))
        .route("/metrics/snapshot", any(metrics_snapshot));
    super::http_maintenance::routes(router)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

pub(super) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(super) fn bad_request(body: impl Into<String>) -> Response {
    text(StatusCode::BAD_REQUEST, body)
}

fn method_not_allowed(method: &Method) -> Response {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("405 Method Not Allowed. Expecting one of {{ 'POST' }}, but received '{method}'."),
    );
    r.headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
    r
}

pub(super) fn redirect(leader: &str, uri: &Uri) -> Response {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let location = format!("//{leader}{path}");
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

fn body_error(e: BodyError) -> Response {
    match e {
        BodyError::MissingContentType => bad_request("Expecting 'Content-Type' to be present"),
        BodyError::UnsupportedContentType => text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Expecting 'Content-Type' of {} or {}",
                codec::APPLICATION_JSON,
                codec::APPLICATION_PROTOBUF
            ),
        ),
        BodyError::Malformed(m) => bad_request(m),
    }
}

fn not_acceptable() -> Response {
    text(
        StatusCode::NOT_ACCEPTABLE,
        format!(
            "Expecting 'Accept' to allow '{}' or '{}'",
            codec::APPLICATION_PROTOBUF,
            codec::APPLICATION_JSON
        ),
    )
}

/// Mesos' `validation::scheduler::call::validate`.
pub fn validate_call(call: &Call) -> Result<call::Type, String> {
    let ty = call
        .r#type
        .and_then(|t| call::Type::try_from(t).ok())
        .ok_or_else(|| "Expecting 'type' to be present".to_owned())?;
    if ty == call::Type::Subscribe {
        let Some(sub) = &call.subscribe else {
            return Err("Expecting 'subscribe' to be present".into());
        };
        if sub.framework_info.id != call.framework_id {
            return Err("'framework_id' differs from 'subscribe.framework_info.id'".into());
        }
        return Ok(ty);
    }
    if call.framework_id.is_none() {
        return Err("Expecting 'framework_id' to be present".into());
    }
    let missing = |name: &str| Err(format!("Expecting '{name}' to be present"));
    match ty {
        call::Type::Accept if call.accept.is_none() => missing("accept"),
        call::Type::Decline if call.decline.is_none() => missing("decline"),
        call::Type::AcceptInverseOffers if call.accept_inverse_offers.is_none() => {
            missing("accept_inverse_offers")
        }
        call::Type::DeclineInverseOffers if call.decline_inverse_offers.is_none() => {
            missing("decline_inverse_offers")
        }
        call::Type::Kill if call.kill.is_none() => missing("kill"),
        call::Type::Shutdown if call.shutdown.is_none() => missing("shutdown"),
        call::Type::Acknowledge => match &call.acknowledge {
            None => missing("acknowledge"),
            Some(a) if !valid_uuid(&a.uuid) => Err("Not a valid UUID".into()),
            Some(_) => Ok(ty),
        },
        call::Type::Reconcile if call.reconcile.is_none() => missing("reconcile"),
        call::Type::Message if call.message.is_none() => missing("message"),
        call::Type::Request if call.request.is_none() => missing("request"),
        call::Type::UpdateFramework => match &call.update_framework {
            None => missing("update_framework"),
            Some(u) if u.framework_info.id != call.framework_id => {
                Err("'framework_id' differs from 'update_framework.framework_info.id'".into())
            }
            Some(_) => Ok(ty),
        },
        _ => Ok(ty),
    }
}

/// The principal half of `validation::scheduler::call::validate`: a
/// SUBSCRIBE that names a principal must name the authenticated one.
fn validate_principal(call: &Call, principal: &Option<String>) -> Result<(), String> {
    let (Some(principal), Some(sub)) = (principal, &call.subscribe) else {
        return Ok(());
    };
    match &sub.framework_info.principal {
        Some(named) if named != principal => Err(format!(
            "Authenticated principal '{principal}' does not match principal '{named}' set in \
             `FrameworkInfo`"
        )),
        _ => Ok(()),
    }
}

/// stout's `UUID::fromBytes`: 16 bytes with a known version nibble.
fn valid_uuid(b: &[u8]) -> bool {
    b.len() == 16 && (1..=5).contains(&(b[6] >> 4))
}

/// Where ended streams are reported: (framework ID, stream ID).
type ClosedTx = mpsc::UnboundedSender<(String, String)>;

/// Tells the master (framework ID, stream ID) once the client is gone.
struct StreamGuard {
    notify: Option<(ClosedTx, String, String)>,
}

impl StreamGuard {
    fn new(shared: &Shared, ids: Option<(String, String)>) -> Self {
        StreamGuard {
            notify: ids.map(|(f, s)| (shared.closed_tx.clone(), f, s)),
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some((tx, f, s)) = self.notify.take() {
            let _ = tx.send((f, s));
        }
    }
}

/// A RecordIO body fed by `rx`, with a heartbeat every `interval` (the
/// first one right away, after what is already queued). `heartbeat` makes
/// each one (and may count it).
fn event_stream<M, H>(
    rx: mpsc::UnboundedReceiver<M>,
    content_type: ContentType,
    interval: Duration,
    heartbeat: H,
    guard: StreamGuard,
) -> Body
where
    M: prost::Message + prost::Name + Send + 'static,
    H: Fn() -> M + Send + 'static,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = (rx, ticker, guard, heartbeat);
    let stream = futures::stream::unfold(
        state,
        move |(mut rx, mut ticker, guard, heartbeat)| async move {
            let msg = tokio::select! {
                biased;
                m = rx.recv() => m?,
                _ = ticker.tick() => heartbeat(),
            };
            let bytes = Bytes::from(codec::encode_record(content_type, &msg));
            Some((Ok::<_, Infallible>(bytes), (rx, ticker, guard, heartbeat)))
        },
    );
    Body::from_stream(stream)
}

fn scheduler_heartbeat() -> Event {
    Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

fn operator_heartbeat() -> operator::Event {
    operator::Event {
        r#type: Some(operator::event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, super::state::State> {
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn scheduler(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // libprocess authenticates before the endpoint's handler runs.
    let credentials = lock(&shared).config.framework_credentials.clone();
    let principal = match &credentials {
        Some(credentials) => match auth::authenticate(credentials, &headers) {
            Some(p) => Some(p),
            None => return auth::unauthorized(),
        },
        None => None,
    };
    if let Some(leader) = lock(&shared).leader.clone() {
        return redirect(&leader, &uri);
    }
    if method != Method::POST {
        return method_not_allowed(&method);
    }
    let content_type = match codec::request_content_type(&headers) {
        Ok(c) => c,
        Err(e) => return body_error(e),
    };
    let mut call: Call = match codec::decode_call(content_type, &body) {
        Ok(c) => c,
        Err(e) => return body_error(e),
    };
    let ty = match validate_call(&call)
        .and_then(|ty| validate_principal(&call, &principal).map(|()| ty))
    {
        Ok(t) => t,
        Err(e) => {
            let ty = call.r#type.and_then(|t| call::Type::try_from(t).ok());
            lock(&shared).count_invalid_call(ty);
            return bad_request(format!("Failed to validate scheduler::Call: {e}"));
        }
    };

    if ty == call::Type::Subscribe {
        // An authenticated framework may leave its principal out; the
        // master fills it in (master/http.cpp).
        if let (Some(p), Some(sub)) = (&principal, call.subscribe.as_mut()) {
            sub.framework_info
                .principal
                .get_or_insert_with(|| p.clone());
        }
        let Some(accept) = codec::accept_type(&headers) else {
            return not_acceptable();
        };
        if headers.contains_key("Mesos-Stream-Id") {
            return bad_request("Subscribe calls should not include the 'Mesos-Stream-Id' header");
        }
        let Some(subscribe) = call.subscribe else {
            return bad_request(
                "Failed to validate scheduler::Call: Expecting 'subscribe' to be present",
            );
        };
        let stream_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        let (framework_id, interval) = {
            let mut st = lock(&shared);
            let id = st.subscribe(subscribe, stream_id.clone(), tx);
            (id, st.config.heartbeat_interval)
        };
        shared.wake.notify_one();
        let heartbeat = {
            let (shared, ids) = (shared.clone(), framework_id.clone());
            let sid = stream_id.clone();
            move || {
                if let Some(fid) = &ids {
                    lock(&shared).count_heartbeat(fid, &sid);
                }
                scheduler_heartbeat()
            }
        };
        let guard = StreamGuard::new(&shared, framework_id.map(|f| (f, stream_id.clone())));
        let body = event_stream(rx, accept, interval, heartbeat, guard);
        let mut r = Response::new(body);
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(accept.as_str()),
        );
        if let Ok(v) = HeaderValue::from_str(&stream_id) {
            r.headers_mut().insert("Mesos-Stream-Id", v);
        }
        return r;
    }

    let framework_id = call
        .framework_id
        .as_ref()
        .map(|f| f.value.clone())
        .unwrap_or_default();
    let stream_id = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let now = tokio::time::Instant::now();
    let response = {
        let mut st = lock(&shared);
        st.count_call(&framework_id, ty);
        if let Err(refused) =
            st.check_call(&framework_id, principal.as_deref(), stream_id.as_deref())
        {
            return match refused {
                CallRefused::BadRequest(m) => bad_request(m),
                CallRefused::Forbidden(m) => text(StatusCode::FORBIDDEN, m),
            };
        }
        let accepted = StatusCode::ACCEPTED.into_response();
        match ty {
            call::Type::Subscribe => accepted,
            call::Type::Teardown => {
                st.remove_framework(&framework_id);
                accepted
            }
            call::Type::Accept => {
                if let Some(a) = call.accept {
                    st.accept(&framework_id, a, now);
                }
                accepted
            }
            call::Type::Decline => {
                if let Some(d) = call.decline {
                    st.decline(&framework_id, d, now);
                }
                accepted
            }
            call::Type::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                st.revive(&framework_id, roles);
                accepted
            }
            call::Type::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                st.suppress(&framework_id, roles);
                accepted
            }
            call::Type::Kill => {
                if let Some(k) = call.kill {
                    st.kill(&framework_id, k);
                }
                accepted
            }
            call::Type::Shutdown => {
                if let Some(s) = call.shutdown {
                    st.shutdown_executor(&framework_id, s);
                }
                accepted
            }
            call::Type::Acknowledge => {
                if let Some(a) = call.acknowledge {
                    st.acknowledge(&framework_id, a);
                }
                accepted
            }
            call::Type::Reconcile => {
                st.count(Counter::MessagesReconcileTasks);
                if let Some(r) = call.reconcile {
                    st.reconcile(&framework_id, r);
                }
                accepted
            }
            call::Type::Message => {
                if let Some(m) = call.message {
                    st.message(&framework_id, m);
                }
                accepted
            }
            call::Type::Request => {
                st.count(Counter::MessagesResourceRequest);
                accepted
            }
            call::Type::AcceptInverseOffers | call::Type::DeclineInverseOffers => {
                let (ids, filters) = match (call.accept_inverse_offers, call.decline_inverse_offers)
                {
                    (Some(a), _) if ty == call::Type::AcceptInverseOffers => {
                        (a.inverse_offer_ids, a.filters)
                    }
                    (_, Some(d)) => (d.inverse_offer_ids, d.filters),
                    _ => (Vec::new(), None),
                };
                if let Some(answer) = super::state::maintenance::answer_of(ty) {
                    st.answer_inverse_offers(&framework_id, &ids, filters.as_ref(), answer, now);
                }
                accepted
            }
            call::Type::UpdateFramework => match call.update_framework {
                Some(u) => match st.update_framework(u) {
                    Ok(()) => StatusCode::OK.into_response(),
                    Err(e) => bad_request(e),
                },
                None => bad_request("Expecting 'update_framework' to be present"),
            },
            call::Type::AcknowledgeOperationStatus
            | call::Type::ReconcileOperations
            | call::Type::Unknown => StatusCode::NOT_IMPLEMENTED.into_response(),
        }
    };
    shared.wake.notify_one();
    response
}

fn encode_response(accept: ContentType, response: &operator::Response) -> Response {
    let mut r = Response::new(Body::from(codec::encode(accept, response)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(accept.as_str()),
    );
    r
}

async fn operator_api(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(leader) = lock(&shared).leader.clone() {
        return redirect(&leader, &uri);
    }
    if method != Method::POST {
        return method_not_allowed(&method);
    }
    let content_type = match codec::request_content_type(&headers) {
        Ok(c) => c,
        Err(e) => return body_error(e),
    };
    let call: operator::Call = match codec::decode_call(content_type, &body) {
        Ok(c) => c,
        Err(e) => return body_error(e),
    };
    let Some(ty) = call
        .r#type
        .and_then(|t| operator::call::Type::try_from(t).ok())
    else {
        return bad_request("Failed to validate master::Call: Expecting 'type' to be present");
    };
    let Some(accept) = codec::accept_type(&headers) else {
        return not_acceptable();
    };
    {
        let mut st = lock(&shared);
        if let Some(r) = super::http_maintenance::operator_call(&mut st, call.clone()) {
            drop(st);
            shared.wake.notify_one();
            return match r {
                Ok(Some(response)) => encode_response(accept, &response),
                Ok(None) => StatusCode::OK.into_response(),
                Err(refused) => refused,
            };
        }
    }
    use operator::call::Type as T;
    use operator::response::Type as R;
    let mut response = operator::Response::default();
    let st = lock(&shared);
    match ty {
        T::GetHealth => {
            response.r#type = Some(R::GetHealth as i32);
            response.get_health = Some(operator::response::GetHealth { healthy: true });
        }
        T::GetVersion => {
            response.r#type = Some(R::GetVersion as i32);
            response.get_version = Some(operator::response::GetVersion {
                version_info: version_info(&st.config.version),
            });
        }
        T::GetState => {
            response.r#type = Some(R::GetState as i32);
            response.get_state = Some(st.get_state());
        }
        T::GetAgents => {
            response.r#type = Some(R::GetAgents as i32);
            response.get_agents = Some(st.get_agents());
        }
        T::GetFrameworks => {
            response.r#type = Some(R::GetFrameworks as i32);
            response.get_frameworks = Some(st.get_frameworks());
        }
        T::GetTasks => {
            response.r#type = Some(R::GetTasks as i32);
            response.get_tasks = Some(st.get_tasks());
        }
        T::GetExecutors => {
            response.r#type = Some(R::GetExecutors as i32);
            response.get_executors = Some(st.get_executors());
        }
        T::GetMaster => {
            response.r#type = Some(R::GetMaster as i32);
            response.get_master = Some(operator::response::GetMaster {
                master_info: Some(st.master_info.clone()),
                start_time: Some(st.start_time),
                elected_time: Some(st.start_time),
            });
        }
        T::Subscribe => {
            drop(st);
            let (tx, rx) = mpsc::unbounded_channel();
            let (subscribed, interval) = {
                let mut st = lock(&shared);
                (
                    st.operator_subscribe(tx.clone()),
                    st.config.heartbeat_interval,
                )
            };
            let _ = tx.send(subscribed);
            drop(tx);
            let guard = StreamGuard::new(&shared, None);
            let body = event_stream(rx, accept, interval, operator_heartbeat, guard);
            let mut r = Response::new(body);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(accept.as_str()),
            );
            return r;
        }
        T::Teardown => {
            let id = call
                .teardown
                .map(|t| t.framework_id.value)
                .unwrap_or_default();
            drop(st);
            let mut st = lock(&shared);
            if !st.framework_ids().contains(&id) {
                return bad_request("No framework found with specified ID".to_string());
            }
            st.remove_framework(&id);
            drop(st);
            shared.wake.notify_one();
            return StatusCode::OK.into_response();
        }
        T::MarkAgentGone => {
            let id = call
                .mark_agent_gone
                .map(|t| t.agent_id.value)
                .unwrap_or_default();
            drop(st);
            let removed = lock(&shared).remove_agent(&id, super::state::Removal::Gone, true);
            shared.wake.notify_one();
            return if removed {
                StatusCode::OK.into_response()
            } else {
                bad_request("Agent not found")
            };
        }
        T::Unknown => return StatusCode::NOT_IMPLEMENTED.into_response(),
        _ => return StatusCode::NOT_IMPLEMENTED.into_response(),
    }
    encode_response(accept, &response)
}

fn version_info(version: &str) -> VersionInfo {
    VersionInfo {
        version: version.to_owned(),
        build_date: Some(BUILD_DATE.into()),
        build_time: Some(BUILD_TIME),
        build_user: Some(BUILD_USER.into()),
        ..Default::default()
    }
}

async fn version(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let v = lock(&shared).config.version.clone();
    axum::Json(serde_json::json!({
        "build_date": BUILD_DATE,
        "build_time": BUILD_TIME,
        "build_user": BUILD_USER,
        "version": v,
    }))
    .into_response()
}

async fn health() -> Response {
    StatusCode::OK.into_response()
}

/// The leader answers the read-only endpoints; others redirect to it, as
/// `Master::Http::state` and friends do.
fn read_only(shared: &Shared, uri: &Uri, view: impl FnOnce(&State, &Query) -> Value) -> Response {
    let query = Query::of(uri);
    let st = lock(shared);
    if let Some(leader) = st.leader.clone() {
        return redirect(&leader, uri);
    }
    let value = view(&st, &query);
    drop(st);
    ok_json(&value, query.get("jsonp"))
}

/// `/master/state`.
async fn master_state(AxState(shared): AxState<Arc<Shared>>, uri: Uri) -> Response {
    read_only(&shared, &uri, |st, _| st.state_json())
}

/// `/master/frameworks?framework_id=`.
async fn master_frameworks(AxState(shared): AxState<Arc<Shared>>, uri: Uri) -> Response {
    read_only(&shared, &uri, |st, q| {
        st.frameworks_json(q.get("framework_id"))
    })
}

/// `/master/slaves?slave_id=`.
async fn master_slaves(AxState(shared): AxState<Arc<Shared>>, uri: Uri) -> Response {
    read_only(&shared, &uri, |st, q| st.slaves_json(q.get("slave_id")))
}

/// `/master/tasks?limit=&offset=&order=&framework_id=&task_id=`.
async fn master_tasks(AxState(shared): AxState<Arc<Shared>>, uri: Uri) -> Response {
    read_only(&shared, &uri, |st, q| {
        st.tasks_json(&TasksQuery {
            limit: q.size("limit", TASK_LIMIT),
            offset: q.size("offset", 0),
            ascending: q.get("order") == Some("asc"),
            framework_id: q.get("framework_id").map(str::to_owned),
            task_id: q.get("task_id").map(str::to_owned),
        })
    })
}

/// libprocess' `/metrics/snapshot`: every master and allocator metric plus
/// `system/*`, whether or not this master leads. `timeout` is validated as
/// libprocess does; the answer is immediate either way.
async fn metrics_snapshot(AxState(shared): AxState<Arc<Shared>>, uri: Uri) -> Response {
    let query = Query::of(&uri);
    if let Some(t) = query.get("timeout") {
        if let Err(e) = parse_mesos_duration(t) {
            return bad_request(format!("Invalid timeout '{t}': {e}.\n"));
        }
    }
    let mut metrics = lock(&shared).metrics_snapshot(tokio::time::Instant::now());
    metrics.extend(system_metrics::snapshot());
    let value = serde_json::to_value(metrics).unwrap_or(Value::Null);
    ok_json(&value, query.get("jsonp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{FrameworkId, FrameworkInfo};

    fn call(ty: call::Type) -> Call {
        Call {
            r#type: Some(ty as i32),
            framework_id: Some(FrameworkId { value: "f".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_types_and_missing_parts_are_refused() {
        let mut c = call(call::Type::Accept);
        c.r#type = Some(99);
        assert_eq!(
            validate_call(&c),
            Err("Expecting 'type' to be present".into())
        );
        assert_eq!(
            validate_call(&call(call::Type::Accept)),
            Err("Expecting 'accept' to be present".into())
        );
        let mut c = call(call::Type::Subscribe);
        c.subscribe = Some(call::Subscribe {
            framework_info: FrameworkInfo::default(),
            suppressed_roles: vec![],
        });
        assert_eq!(
            validate_call(&c),
            Err("'framework_id' differs from 'subscribe.framework_info.id'".into())
        );
    }

    async fn next(
        frames: &mut (impl futures::Stream<Item = Result<Bytes, axum::Error>> + Unpin),
    ) -> event::Type {
        use futures::StreamExt;
        use prost::Message;
        let chunk = frames.next().await.unwrap().unwrap();
        let mut d = kube_mesos_proto::recordio::Decoder::new();
        d.push(&chunk);
        Event::decode(d.next_record().unwrap().unwrap())
            .unwrap()
            .r#type()
    }

    /// Heartbeats: one right after what is queued (SUBSCRIBED), then one per
    /// interval; the stream ends when the master drops its sender.
    #[tokio::test(start_paused = true)]
    async fn streams_heartbeat_at_once_then_every_interval() {
        use futures::StreamExt;

        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Event {
            r#type: Some(event::Type::Subscribed as i32),
            ..Default::default()
        })
        .unwrap();
        let guard = StreamGuard { notify: None };
        let body = event_stream(
            rx,
            ContentType::Protobuf,
            Duration::from_secs(15),
            scheduler_heartbeat,
            guard,
        );
        let mut frames = body.into_data_stream();
        let start = tokio::time::Instant::now();
        assert_eq!(next(&mut frames).await, event::Type::Subscribed);
        assert_eq!(next(&mut frames).await, event::Type::Heartbeat);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(next(&mut frames).await, event::Type::Heartbeat);
        assert_eq!(start.elapsed(), Duration::from_secs(15));
        assert_eq!(next(&mut frames).await, event::Type::Heartbeat);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        drop(tx);
        assert!(frames.next().await.is_none());
    }

    #[test]
    fn acknowledge_needs_a_real_uuid() {
        let mut c = call(call::Type::Acknowledge);
        c.acknowledge = Some(call::Acknowledge {
            agent_id: Default::default(),
            task_id: Default::default(),
            uuid: vec![1, 2, 3],
        });
        assert_eq!(validate_call(&c), Err("Not a valid UUID".into()));
        c.acknowledge.as_mut().unwrap().uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        assert!(validate_call(&c).is_ok());
    }
}

//! The operator's maintenance endpoints, as Mesos 1.11 `src/master/http.cpp`
//! serves them: the v1 operator calls (GET_MAINTENANCE_SCHEDULE,
//! GET_MAINTENANCE_STATUS, UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE,
//! STOP_MAINTENANCE) and the older JSON endpoints
//! `/master/maintenance/schedule` (GET, POST), `/master/maintenance/status`,
//! `/master/machine/down` and `/master/machine/up` (POST of a JSON array of
//! `MachineID`s). A refused change is 400 with Mesos' message; a done one
//! 200 with an empty body.

// Errors here are the HTTP answers themselves, built once per request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use kube_mesos_proto::json;
use kube_mesos_proto::v1::maintenance::Schedule;
use kube_mesos_proto::v1::master as operator;
use kube_mesos_proto::v1::MachineId;
use serde_json::Value;

use super::codec::error_chain;
use super::http::{bad_request, text};
use super::maintenance::MaintenanceError;
use super::state::State;
use super::Shared;
use crate::mesos::endpoint::{ok_json, Query};

/// The old endpoints, with and without the `/master` prefix.
pub fn routes(router: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    let mut router = router;
    for prefix in ["/master", ""] {
        router = router
            .route(
                &format!("{prefix}/maintenance/schedule"),
                any(maintenance_schedule),
            )
            .route(
                &format!("{prefix}/maintenance/status"),
                any(maintenance_status),
            )
            .route(&format!("{prefix}/machine/down"), any(machine_down))
            .route(&format!("{prefix}/machine/up"), any(machine_up));
    }
    router
}

/// libprocess' `MethodNotAllowed({...}, method)`.
fn method_not_allowed(allowed: &[&str], method: &Method) -> Response {
    let list = allowed
        .iter()
        .map(|m| format!("'{m}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("405 Method Not Allowed. Expecting one of {{ {list} }}, but received '{method}'."),
    );
    if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
        r.headers_mut().insert(http::header::ALLOW, v);
    }
    r
}

fn done(result: Result<(), MaintenanceError>) -> Response {
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

/// The leader answers; others redirect (`redirect(request)`).
fn leading<'a>(
    shared: &'a Shared,
    uri: &Uri,
) -> Result<std::sync::MutexGuard<'a, State>, Response> {
    let st = super::lock(shared);
    match st.leader.clone() {
        Some(leader) => Err(super::http::redirect(&leader, uri)),
        None => Ok(st),
    }
}

fn to_json<M: prost::Name>(msg: &M) -> Value {
    json::to_json(msg).unwrap_or(Value::Null)
}

/// `/master/maintenance/schedule`.
async fn maintenance_schedule(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let mut st = match leading(&shared, &uri) {
        Ok(st) => st,
        Err(r) => return r,
    };
    match method {
        Method::GET => {
            let query = Query::of(&uri);
            ok_json(&to_json(&st.maintenance_schedule()), query.get("jsonp"))
        }
        Method::POST => {
            let schedule = match serde_json::from_slice::<Value>(&body) {
                Ok(v) if v.is_object() => match json::from_json_value::<Schedule>(v) {
                    Ok(s) => s,
                    Err(e) => return bad_request(error_chain(&e)),
                },
                Ok(_) => return bad_request("Expecting a JSON object"),
                Err(e) => return bad_request(e.to_string()),
            };
            let r = done(st.update_maintenance_schedule(schedule));
            drop(st);
            shared.wake.notify_one();
            r
        }
        _ => method_not_allowed(&["GET", "POST"], &method),
    }
}

/// `/master/maintenance/status`.
async fn maintenance_status(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
) -> Response {
    let st = match leading(&shared, &uri) {
        Ok(st) => st,
        Err(r) => return r,
    };
    if method != Method::GET {
        return method_not_allowed(&["GET"], &method);
    }
    ok_json(
        &to_json(&st.maintenance_status()),
        Query::of(&uri).get("jsonp"),
    )
}

/// A JSON array of `MachineID`s, as `/machine/down` and `/machine/up` take.
fn machine_ids(body: &[u8]) -> Result<Vec<MachineId>, Response> {
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_request(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(bad_request("Expecting a JSON array"));
    };
    items
        .into_iter()
        .map(|v| json::from_json_value::<MachineId>(v).map_err(|e| bad_request(error_chain(&e))))
        .collect()
}

async fn machine_down(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    machine_mode(&shared, method, uri, body, State::start_maintenance)
}

async fn machine_up(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    machine_mode(&shared, method, uri, body, State::stop_maintenance)
}

fn machine_mode(
    shared: &Shared,
    method: Method,
    uri: Uri,
    body: Bytes,
    apply: fn(&mut State, &[MachineId]) -> Result<(), MaintenanceError>,
) -> Response {
    let mut st = match leading(shared, &uri) {
        Ok(st) => st,
        Err(r) => return r,
    };
    if method != Method::POST {
        return method_not_allowed(&["POST"], &method);
    }
    let ids = match machine_ids(&body) {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let r = done(apply(&mut st, &ids));
    drop(st);
    shared.wake.notify_one();
    r
}

/// The v1 operator calls on maintenance: `Some(response)` when `call` is
/// one of them; `Ok` carries the body to encode (None: 200, empty).
pub fn operator_call(
    st: &mut State,
    call: operator::Call,
) -> Option<Result<Option<operator::Response>, Response>> {
    use operator::call::Type as T;
    use operator::response::Type as R;
    let missing = |name: &str| {
        Err(bad_request(format!(
            "Failed to validate master::Call: Expecting '{name}' to be present"
        )))
    };
    let changed = |r: Result<(), MaintenanceError>| match r {
        Ok(()) => Ok(None),
        Err(e) => Err(bad_request(e.to_string())),
    };
    Some(match call.r#type() {
        T::GetMaintenanceSchedule => Ok(Some(operator::Response {
            r#type: Some(R::GetMaintenanceSchedule as i32),
            get_maintenance_schedule: Some(operator::response::GetMaintenanceSchedule {
                schedule: st.maintenance_schedule(),
            }),
            ..Default::default()
        })),
        T::GetMaintenanceStatus => Ok(Some(operator::Response {
            r#type: Some(R::GetMaintenanceStatus as i32),
            get_maintenance_status: Some(operator::response::GetMaintenanceStatus {
                status: st.maintenance_status(),
            }),
            ..Default::default()
        })),
        T::UpdateMaintenanceSchedule => match call.update_maintenance_schedule {
            Some(u) => changed(st.update_maintenance_schedule(u.schedule)),
            None => missing("update_maintenance_schedule"),
        },
        T::StartMaintenance => match call.start_maintenance {
            Some(s) => changed(st.start_maintenance(&s.machines)),
            None => missing("start_maintenance"),
        },
        T::StopMaintenance => match call.stop_maintenance {
            Some(s) => changed(st.stop_maintenance(&s.machines)),
            None => missing("stop_maintenance"),
        },
        _ => return None,
    })
}

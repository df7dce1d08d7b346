//! The executor HTTP API: `POST /slave(1)/api/v1/executor`, and
//! `POST /api/v1/executor`.
//!
//! A real agent's routes belong to its libprocess process `slave(1)`, so
//! `/slave(1)/api/v1/executor` always reaches it; the bare path reaches it
//! only where the agent is the process' delegate (a standalone agent, which
//! is what each devcluster agent listener stands for). Mesos' executor
//! library posts to the first, built from `MESOS_SLAVE_PID`; pymesos and
//! other clients use `MESOS_AGENT_ENDPOINT` and the second.
//!
//! This module turns HTTP requests into validated executor [`Call`]s and
//! the core's answers into responses, with the status codes and messages of
//! apache/mesos `src/slave/http.cpp` (`Http::executor`) and
//! `src/common/validation.cpp` (`validateExecutorCall`):
//! 405 for another method, 400 without `Content-Type` or on an unparsable or
//! invalid body, 415 for another content type, 406 when SUBSCRIBE's `Accept`
//! allows neither JSON nor protobuf, 400 for an unknown framework or
//! executor, 403 for calls before SUBSCRIBE, 202 for UPDATE / MESSAGE (and
//! HEARTBEAT), 501 for UNKNOWN, and for SUBSCRIBE a 200 chunked RecordIO
//! stream in the negotiated type. Bodies larger than the configured limit
//! get 413 (Mesos has no limit; ours protects the devcluster).
//! The parsing and validation are pure functions with their own tests.

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures::StreamExt as _;
use kube_mesos_proto::v1::executor::{call, Call, Event};
use kube_mesos_proto::{json, recordio};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::core::{Input, Rejection};

/// `application/json`.
pub const APPLICATION_JSON: &str = "application/json";
/// `application/x-protobuf`.
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";

/// Executor Call type 4 (`HEARTBEAT` in newer Mesos), answered 202 early.
const CALL_HEARTBEAT: i32 = 4;

/// The content type of a stream or body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Json,
    Protobuf,
}

impl ContentType {
    fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => APPLICATION_JSON,
            ContentType::Protobuf => APPLICATION_PROTOBUF,
        }
    }
}

#[derive(Clone)]
struct AppState {
    core: mpsc::UnboundedSender<Input>,
}

/// The libprocess process ID of an agent (`MESOS_SLAVE_PID` is
/// `slave(1)@<ip>:<port>`).
pub const AGENT_PROCESS_ID: &str = "slave(1)";
/// The executor API below the agent's process.
const AGENT_PROCESS_EXECUTOR_PATH: &str = "/slave(1)/api/v1/executor";

/// The router of one agent's HTTP server.
pub fn router(core: mpsc::UnboundedSender<Input>, max_body: usize) -> Router {
    Router::new()
        .route("/api/v1/executor", any(executor))
        .route(AGENT_PROCESS_EXECUTOR_PATH, any(executor))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(AppState { core })
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

async fn executor(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            format!("Expecting one of {{ 'POST' }}, but received '{method}'"),
        )
            .into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default());
    let call = match parse_call(content_type, &body) {
        Ok(call) => call,
        Err(rejection) => return text(rejection.status, rejection.message),
    };
    if let Err(message) = validate(&call) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("Failed to validate Executor::Call: {message}"),
        );
    }
    let accept_type = if call.r#type == Some(call::Type::Subscribe as i32) {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let accept = (!accept.is_empty()).then_some(accept);
        if accepts(accept.as_deref(), APPLICATION_JSON) {
            ContentType::Json
        } else if accepts(accept.as_deref(), APPLICATION_PROTOBUF) {
            ContentType::Protobuf
        } else {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                format!(
                    "Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"
                ),
            );
        }
    } else if call.r#type == Some(CALL_HEARTBEAT) {
        return StatusCode::ACCEPTED.into_response();
    } else {
        ContentType::Json
    };
    let (reply, answer) = oneshot::channel();
    let sent = state.core.send(Input::Call {
        call: Box::new(call),
        reply,
    });
    let Ok(answer) = (match sent {
        Ok(()) => answer.await.map_err(|_| ()),
        Err(_) => Err(()),
    }) else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Agent is not running");
    };
    match answer {
        Err(Rejection { status, message }) => text(status, message),
        Ok(None) => StatusCode::ACCEPTED.into_response(),
        Ok(Some(events)) => {
            let stream = UnboundedReceiverStream::new(events)
                .map(move |event| Ok::<_, std::convert::Infallible>(frame(&event, accept_type)));
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, accept_type.as_str())
                .body(Body::from_stream(stream))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// One RecordIO frame holding `event` in `content_type`.
pub fn frame(event: &Event, content_type: ContentType) -> Bytes {
    let record = match content_type {
        ContentType::Protobuf => event.encode_to_vec(),
        ContentType::Json => json::to_json(event)
            .ok()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .unwrap_or_default(),
    };
    Bytes::from(recordio::encode(&record))
}

/// Parses a request body as Mesos does, by exact `Content-Type`.
pub fn parse_call(content_type: Option<&str>, body: &[u8]) -> Result<Call, Rejection> {
    let bad = |message: String| Rejection {
        status: StatusCode::BAD_REQUEST,
        message,
    };
    match content_type {
        None => Err(bad("Expecting 'Content-Type' to be present".to_owned())),
        Some(APPLICATION_PROTOBUF) => {
            let parse_failed = || bad("Failed to parse body into Call protobuf".to_owned());
            Call::decode(body).map_err(|_| parse_failed())?;
            // protobuf's ParseFromString also refuses missing required
            // fields; the JSON mapping checks them for us.
            let value = json::encoded_to_json("mesos.v1.executor.Call", body)
                .map_err(|_| parse_failed())?;
            json::from_json_value::<Call>(value).map_err(|_| parse_failed())
        }
        Some(APPLICATION_JSON) => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| bad(format!("Failed to parse body into JSON: {e}")))?;
            json::from_json_value::<Call>(value)
                .map_err(|e| bad(format!("Failed to convert JSON into Call protobuf: {e}")))
        }
        Some(_) => Err(Rejection {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"
            ),
        }),
    }
}

/// `validateExecutorCall`: the error message, if the call is invalid.
pub fn validate(call: &Call) -> Result<(), String> {
    let Some(kind) = call.r#type else {
        return Err("Expecting 'type' to be present".to_owned());
    };
    if kind == CALL_HEARTBEAT {
        return Ok(());
    }
    let Ok(kind) = call::Type::try_from(kind) else {
        // An enum value protobuf does not know leaves `type` unset.
        return Err("Expecting 'type' to be present".to_owned());
    };
    match kind {
        call::Type::Subscribe if call.subscribe.is_none() => {
            Err("Expecting 'subscribe' to be present".to_owned())
        }
        call::Type::Update => {
            let Some(update) = &call.update else {
                return Err("Expecting 'update' to be present".to_owned());
            };
            let status = &update.status;
            let Some(uuid) = &status.uuid else {
                return Err("Expecting 'uuid' to be present".to_owned());
            };
            if !is_valid_uuid(uuid) {
                return Err("Not a valid UUID".to_owned());
            }
            if let Some(ex) = &status.executor_id {
                if ex.value != call.executor_id.value {
                    return Err(format!(
                        "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                        call.executor_id.value, ex.value
                    ));
                }
            }
            let executor_source = kube_mesos_proto::v1::task_status::Source::Executor as i32;
            if status.source != Some(executor_source) {
                return Err(format!(
                    "Received Call from executor {} of framework {} with invalid source, expecting 'SOURCE_EXECUTOR'",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            if status.state == kube_mesos_proto::v1::TaskState::TaskStaging as i32 {
                return Err(format!(
                    "Received TASK_STAGING from executor {} of framework {} which is not allowed",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            Ok(())
        }
        call::Type::Message if call.message.is_none() => {
            Err("Expecting 'message' to be present".to_owned())
        }
        _ => Ok(()),
    }
}

/// stout's `UUID::fromBytes`: 16 bytes with a known RFC 4122 version.
pub fn is_valid_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 16 && (1..=5).contains(&(bytes[6] >> 4))
}

/// Whether an `Accept` header allows `media` (no header allows everything;
/// `q=0` refuses; the most specific matching range decides).
pub fn accepts(accept: Option<&str>, media: &str) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, bool)> = None;
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let range = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1.0_f64;
        for param in parts {
            if let Some(value) = param.strip_prefix("q=") {
                q = value.trim().parse().unwrap_or(0.0);
            }
        }
        let specificity = if range == media {
            3
        } else if range == format!("{kind}/*") {
            2
        } else if range == "*/*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q > 0.0));
        }
    }
    best.is_some_and(|(_, ok)| ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::{ExecutorId, FrameworkId, TaskId, TaskStatus};

    fn call(kind: call::Type) -> Call {
        Call {
            executor_id: ExecutorId { value: "e".into() },
            framework_id: FrameworkId { value: "f".into() },
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    fn update(uuid: Vec<u8>, source: i32, state: i32) -> Call {
        let mut c = call(call::Type::Update);
        c.update = Some(call::Update {
            status: TaskStatus {
                task_id: TaskId { value: "t".into() },
                state,
                source: Some(source),
                uuid: Some(uuid),
                ..Default::default()
            },
        });
        c
    }

    #[test]
    fn validation_messages_match_mesos() {
        let v4 = uuid::Uuid::new_v4().as_bytes().to_vec();
        assert_eq!(validate(&update(v4.clone(), 2, 1)), Ok(()));
        assert_eq!(
            validate(&update(vec![1; 15], 2, 1)),
            Err("Not a valid UUID".into())
        );
        assert_eq!(
            validate(&update(vec![0; 16], 2, 1)),
            Err("Not a valid UUID".into())
        );
        assert!(validate(&update(v4.clone(), 1, 1))
            .unwrap_err()
            .ends_with("with invalid source, expecting 'SOURCE_EXECUTOR'"));
        assert!(validate(&update(v4, 2, 6))
            .unwrap_err()
            .contains("TASK_STAGING"));
        assert_eq!(
            validate(&call(call::Type::Subscribe)),
            Err("Expecting 'subscribe' to be present".into())
        );
        assert_eq!(
            validate(&call(call::Type::Message)),
            Err("Expecting 'message' to be present".into())
        );
        let mut untyped = call(call::Type::Unknown);
        assert_eq!(validate(&untyped), Ok(()));
        untyped.r#type = None;
        assert_eq!(
            validate(&untyped),
            Err("Expecting 'type' to be present".into())
        );
        untyped.r#type = Some(42);
        assert_eq!(
            validate(&untyped),
            Err("Expecting 'type' to be present".into())
        );
    }

    #[test]
    fn parsing_by_content_type() {
        assert_eq!(
            parse_call(None, b"").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            parse_call(Some("text/plain"), b"").unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            parse_call(Some(APPLICATION_PROTOBUF), b"\xff\xff\xff")
                .unwrap_err()
                .message,
            "Failed to parse body into Call protobuf"
        );
        // Missing required fields are a parse failure, as in protobuf.
        assert!(parse_call(Some(APPLICATION_PROTOBUF), b"").is_err());
        let good = call(call::Type::Subscribe).encode_to_vec();
        assert!(parse_call(Some(APPLICATION_PROTOBUF), &good).is_ok());
        assert!(parse_call(Some(APPLICATION_JSON), b"{")
            .unwrap_err()
            .message
            .starts_with("Failed to parse body into JSON"));
        assert!(
            parse_call(Some(APPLICATION_JSON), b"{\"type\":\"SUBSCRIBE\"}")
                .unwrap_err()
                .message
                .starts_with("Failed to convert JSON into Call protobuf")
        );
        let ok = br#"{"type":"SUBSCRIBE","executor_id":{"value":"e"},"framework_id":{"value":"f"},"subscribe":{}}"#;
        assert!(parse_call(Some(APPLICATION_JSON), ok).is_ok());
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts(None, APPLICATION_JSON));
        assert!(accepts(Some("*/*"), APPLICATION_JSON));
        assert!(accepts(Some("application/*"), APPLICATION_PROTOBUF));
        assert!(!accepts(Some(APPLICATION_PROTOBUF), APPLICATION_JSON));
        assert!(accepts(Some(APPLICATION_PROTOBUF), APPLICATION_PROTOBUF));
        assert!(!accepts(
            Some("application/json;q=0, */*"),
            APPLICATION_JSON
        ));
        assert!(!accepts(Some("text/html"), APPLICATION_PROTOBUF));
    }
}

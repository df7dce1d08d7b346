//! Errors of the embedded API server.
//!
//! Two kinds live here. [`ApiServerError`] is what the Rust caller of
//! [`serve`](super::serve) sees: the server could not start or its store could
//! not be read or written. [`StatusError`] is what an HTTP client sees: a
//! `metav1.Status` body with the code, reason and message kube-apiserver would
//! give (`k8s.io/apimachinery/pkg/api/errors`), so kubectl and kube-rs react to
//! it exactly as they do against a real cluster.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::resources::ResourceType;

/// Failures of the server as a whole. None of them is worth retrying without
/// operator action (fix the data directory or the listener).
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// The data directory could not be created.
    #[error("creating data directory {path}")]
    CreateDataDirFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The snapshot or write-ahead log could not be read.
    #[error("reading store file {path}")]
    ReadStoreFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A store file holds something that is not what we wrote.
    #[error("decoding store file {path}")]
    DecodeStoreFailed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Writing the snapshot or the write-ahead log failed.
    #[error("writing store file {path}")]
    WriteStoreFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error.
    #[error("serving HTTP")]
    ServeFailed(#[source] std::io::Error),
    /// Creating or loading the serving certificate failed.
    #[error("setting up serving TLS")]
    TlsSetupFailed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Building the TLS client for the kubelet log proxy failed.
    #[error("building kubelet client")]
    KubeletClientFailed(#[source] reqwest::Error),
}

/// Result alias for server-level operations.
pub type Result<T, E = ApiServerError> = std::result::Result<T, E>;

/// An API error as kube-apiserver reports it: a `Status` object with a code.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusError {
    /// HTTP status code, also `Status.code`.
    pub code: u16,
    /// `Status.reason` (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details`, when kube-apiserver fills it.
    pub details: Option<Value>,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for StatusError {}

/// Result alias for request handling.
pub type ApiResult<T> = std::result::Result<T, StatusError>;

fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.to_string()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({ "name": name, "kind": rt.plural });
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

impl StatusError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// The `Status` body.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden (`errors.NewForbidden`).
    pub fn forbidden(rt: &ResourceType, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {}", qualified(rt), name, why),
        );
        e.details = Some(details(rt, name));
        e
    }

    /// 404 for a path the server does not serve.
    pub fn path_not_found() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// 404 for a missing object (`errors.NewNotFound`).
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", qualified(rt), name),
        );
        e.details = Some(details(rt, name));
        e
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 409 AlreadyExists (`errors.NewAlreadyExists`).
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", qualified(rt), name),
        );
        e.details = Some(details(rt, name));
        e
    }

    /// 409 Conflict (`errors.NewConflict`) with a cause text.
    pub fn conflict(rt: &ResourceType, name: &str, cause: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                qualified(rt),
                name,
                cause
            ),
        );
        e.details = Some(details(rt, name));
        e
    }

    /// 409 Conflict for a stale resourceVersion (`storage.OptimisticLockErrorMsg`).
    pub fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 410 Expired, for watches and continue tokens older than the history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(accepted: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    /// 422 Invalid (`errors.NewInvalid`) from field errors.
    pub fn invalid(rt: &ResourceType, name: &str, errs: &[FieldError]) -> Self {
        let body = if errs.len() == 1 {
            errs[0].to_string()
        } else {
            let parts: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            format!("[{}]", parts.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{}\" is invalid: {}", rt.kind, name, body),
        );
        let causes: Vec<Value> = errs
            .iter()
            .map(|f| json!({"reason": f.kind.reason(), "message": f.body(), "field": f.field}))
            .collect();
        let mut d = json!({ "name": name, "kind": rt.kind, "causes": causes });
        if !rt.group.is_empty() {
            d["group"] = json!(rt.group);
        }
        e.details = Some(d);
        e
    }

    /// 500 InternalError, for store write failures.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// 429 TooManyRequests with `details` (an eviction a disruption budget
    /// forbids).
    pub fn too_many_requests(message: impl Into<String>, details: Value) -> Self {
        let mut e = Self::new(429, "TooManyRequests", message);
        e.details = Some(details);
        e
    }

    /// 503 ServiceUnavailable, e.g. a kubelet that cannot be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }
}

/// The kind of a field validation error (`field.ErrorType`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldErrorKind {
    /// `Required value`.
    Required,
    /// `Invalid value: <value>`.
    Invalid(Value),
    /// `Unsupported value: <value>: supported values: ...`.
    NotSupported(Value, Vec<String>),
    /// `Forbidden`.
    Forbidden,
    /// `Duplicate value: <value>`.
    Duplicate(Value),
    /// `Not found: <value>`.
    NotFound(Value),
    /// `Too long: may not be more than <n> bytes` (the value is not shown).
    TooLong(usize),
}

impl FieldErrorKind {
    fn reason(&self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid(_) => "FieldValueInvalid",
            Self::NotSupported(..) => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate(_) => "FieldValueDuplicate",
            Self::NotFound(_) => "FieldValueNotFound",
            Self::TooLong(_) => "FieldValueTooLong",
        }
    }
}

/// One field validation error (`field.Error`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    pub field: String,
    pub detail: String,
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Required,
            field: field.into(),
            detail: detail.into(),
        }
    }
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Invalid(value),
            field: field.into(),
            detail: detail.into(),
        }
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: FieldErrorKind::Forbidden,
            field: field.into(),
            detail: detail.into(),
        }
    }
    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        Self {
            kind: FieldErrorKind::Duplicate(value),
            field: field.into(),
            detail: String::new(),
        }
    }
    pub fn not_found(field: impl Into<String>, value: Value) -> Self {
        Self {
            kind: FieldErrorKind::NotFound(value),
            field: field.into(),
            detail: String::new(),
        }
    }
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        Self {
            kind: FieldErrorKind::TooLong(max_bytes),
            field: field.into(),
            detail: String::new(),
        }
    }
    pub fn not_supported(field: impl Into<String>, value: Value, valid: &[&str]) -> Self {
        Self {
            kind: FieldErrorKind::NotSupported(
                value,
                valid.iter().map(|s| s.to_string()).collect(),
            ),
            field: field.into(),
            detail: String::new(),
        }
    }

    /// `field.Error.ErrorBody()`.
    pub fn body(&self) -> String {
        let head = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {}", show(v)),
            FieldErrorKind::NotSupported(v, valid) => {
                let quoted: Vec<String> = valid.iter().map(|s| format!("{s:?}")).collect();
                format!(
                    "Unsupported value: {}: supported values: {}",
                    show(v),
                    quoted.join(", ")
                )
            }
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {}", show(v)),
            FieldErrorKind::NotFound(v) => format!("Not found: {}", show(v)),
            FieldErrorKind::TooLong(n) => format!("Too long: may not be more than {n} bytes"),
        };
        if self.detail.is_empty() {
            head
        } else {
            format!("{head}: {}", self.detail)
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

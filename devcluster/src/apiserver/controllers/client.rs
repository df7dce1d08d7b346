//! The controllers' only way to write: [`Action`]s performed through the
//! API server's verb handlers, exactly as a request from kube-controller-
//! manager would be, so defaulting, validation, preconditions, graceful
//! pod deletion and watch events apply to them as to any client.

use std::collections::HashMap;

use serde_json::Value;

use super::super::error::{ApiResult, StatusError};
use super::super::handlers::{self, DeleteOptions};
use super::super::propagation::Policy;
use super::super::resources::{self, ResourceType};
use super::meta;

/// One write a controller wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// POST the object (its namespace is in its metadata).
    Create(Value),
    /// PUT the whole object; its resourceVersion is the precondition.
    Update(Value),
    /// PUT the `status` subresource. Controllers own status, so no
    /// resourceVersion precondition: the latest pass wins.
    UpdateStatus(Value),
    /// PUT the `approval` subresource of a CertificateSigningRequest.
    UpdateApproval(Value),
    /// DELETE the object, if its uid is still `uid`.
    Delete {
        /// apiVersion of the object.
        api_version: String,
        /// Kind of the object.
        kind: String,
        /// Namespace ("" for cluster-scoped).
        namespace: String,
        /// Name.
        name: String,
        /// UID precondition.
        uid: String,
        /// Propagation policy.
        policy: Policy,
    },
}

impl Action {
    /// A delete of `obj` with `policy`.
    pub fn delete(obj: &Value, policy: Policy) -> Self {
        Action::Delete {
            api_version: obj["apiVersion"].as_str().unwrap_or_default().to_string(),
            kind: obj["kind"].as_str().unwrap_or_default().to_string(),
            namespace: meta::namespace(obj).to_string(),
            name: meta::name(obj).to_string(),
            uid: meta::uid(obj).to_string(),
            policy,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = |o: &Value| {
            format!(
                "{} {}/{}",
                o["kind"].as_str().unwrap_or("?"),
                meta::namespace(o),
                meta::name(o)
            )
        };
        match self {
            Action::Create(o) => write!(f, "create {}", id(o)),
            Action::Update(o) => write!(f, "update {}", id(o)),
            Action::UpdateStatus(o) => write!(f, "update status of {}", id(o)),
            Action::UpdateApproval(o) => write!(f, "approve {}", id(o)),
            Action::Delete {
                kind,
                namespace,
                name,
                policy,
                ..
            } => {
                write!(f, "delete {kind} {namespace}/{name} ({policy:?})")
            }
        }
    }
}

fn resource_of(obj: &Value) -> ApiResult<&'static ResourceType> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    resources::by_kind(api_version, kind)
        .ok_or_else(|| StatusError::bad_request(format!("no resource serves {api_version} {kind}")))
}

fn ns_arg(rt: &ResourceType, obj: &Value) -> Option<String> {
    rt.namespaced.then(|| meta::namespace(obj).to_string())
}

/// Performs one action through the handlers.
pub fn perform(store: &super::super::store::Store, action: &Action) -> ApiResult<()> {
    let q = HashMap::new();
    match action {
        Action::Create(obj) => {
            let rt = resource_of(obj)?;
            let body = serde_json::to_vec(obj).map_err(|e| StatusError::internal(e.to_string()))?;
            handlers::create(store, rt, ns_arg(rt, obj).as_deref(), &body, None, &q)?;
        }
        Action::Update(obj) | Action::UpdateStatus(obj) | Action::UpdateApproval(obj) => {
            let rt = resource_of(obj)?;
            let mut obj = obj.clone();
            let sub = match action {
                Action::UpdateStatus(_) => Some("status"),
                Action::UpdateApproval(_) => Some("approval"),
                _ => None,
            };
            if sub.is_some() {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
            }
            let body =
                serde_json::to_vec(&obj).map_err(|e| StatusError::internal(e.to_string()))?;
            let name = meta::name(&obj).to_string();
            handlers::update(
                store,
                rt,
                ns_arg(rt, &obj).as_deref(),
                &name,
                sub,
                &body,
                None,
                &q,
            )?;
        }
        Action::Delete {
            api_version,
            kind,
            namespace,
            name,
            uid,
            policy,
        } => {
            let rt = resources::by_kind(api_version, kind).ok_or_else(|| {
                StatusError::bad_request(format!("no resource serves {api_version} {kind}"))
            })?;
            let opts = DeleteOptions {
                uid: Some(uid.clone()),
                propagation: Some(*policy),
                ..Default::default()
            };
            let ns = rt.namespaced.then_some(namespace.as_str());
            match handlers::delete(store, rt, ns, name, &opts) {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

//! Deletion propagation (`DeleteOptions.propagationPolicy`, and the older
//! `orphanDependents`): which garbage-collection finalizer a DELETE puts on
//! the object, as kube-apiserver's `deletionFinalizersForGarbageCollection`
//! does. The garbage collector (`controllers/gc.rs`) then deletes or
//! orphans the dependents and removes the finalizer:
//!
//! - `Background`: no finalizer; the object goes now, its dependents after.
//! - `Foreground`: `foregroundDeletion`; the object stays (with a
//!   deletionTimestamp) until its blocking dependents are gone.
//! - `Orphan`: `orphan`; the dependents lose their owner reference, then
//!   the object goes.
//!
//! Without a policy each resource has its default: batch/v1 Jobs orphan
//! (kept for compatibility, `jobStrategy.DefaultGarbageCollectionPolicy`),
//! everything else here deletes in the background. kubectl always sends a
//! policy (`--cascade=background` by default).

use serde_json::Value;

use super::error::{ApiResult, StatusError};
use super::resources::ResourceType;

/// The finalizer of a foreground deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer of an orphaning deletion.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// `metav1.DeletionPropagation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Orphan,
    Background,
    Foreground,
}

impl Policy {
    fn parse(s: &str) -> ApiResult<Self> {
        match s {
            "Orphan" => Ok(Self::Orphan),
            "Background" => Ok(Self::Background),
            "Foreground" => Ok(Self::Foreground),
            other => Err(StatusError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }

    /// The finalizer this policy puts on the deleted object.
    pub fn finalizer(self) -> Option<&'static str> {
        match self {
            Self::Orphan => Some(ORPHAN_FINALIZER),
            Self::Foreground => Some(FOREGROUND_FINALIZER),
            Self::Background => None,
        }
    }
}

/// The policy a DeleteOptions body (and the query) asks for, if any.
pub fn requested(body: Option<&Value>, query_policy: Option<&str>) -> ApiResult<Option<Policy>> {
    let from_body = body.and_then(|b| b["propagationPolicy"].as_str());
    let orphan = body.and_then(|b| b["orphanDependents"].as_bool());
    let policy = match from_body.or(query_policy) {
        Some(p) if !p.is_empty() => Some(Policy::parse(p)?),
        _ => None,
    };
    if policy.is_some() && orphan.is_some() {
        return Err(StatusError::bad_request(
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"null\": orphanDependents and deletionPropagation cannot be both set",
        ));
    }
    Ok(policy.or(orphan.map(|o| {
        if o {
            Policy::Orphan
        } else {
            Policy::Background
        }
    })))
}

/// The policy a resource gets when the request names none.
pub fn default_for(rt: &ResourceType) -> Policy {
    if rt.group == "batch" && rt.kind == "Job" {
        Policy::Orphan
    } else {
        Policy::Background
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_query_and_legacy_field() {
        let fg = json!({"propagationPolicy": "Foreground"});
        assert_eq!(
            requested(Some(&fg), None).ok(),
            Some(Some(Policy::Foreground))
        );
        assert_eq!(
            requested(None, Some("Orphan")).ok(),
            Some(Some(Policy::Orphan))
        );
        let legacy = json!({"orphanDependents": true});
        assert_eq!(
            requested(Some(&legacy), None).ok(),
            Some(Some(Policy::Orphan))
        );
        let both = json!({"orphanDependents": false, "propagationPolicy": "Orphan"});
        assert!(requested(Some(&both), None).is_err());
        assert!(requested(None, Some("Sometimes")).is_err());
        assert_eq!(requested(None, None).ok(), Some(None));
    }
}

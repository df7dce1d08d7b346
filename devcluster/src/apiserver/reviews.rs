//! The review APIs: TokenReview (`authentication.k8s.io/v1`) and
//! SubjectAccessReview, SelfSubjectAccessReview and
//! LocalSubjectAccessReview (`authorization.k8s.io/v1`). They are created
//! and answered, never stored — what a kubelet asks before it serves a
//! request (webhook authentication and authorization), and what the CSR
//! approver asks before it approves.

use serde_json::{json, Value};

use super::auth::{self, Attributes, UserInfo};
use super::error::{ApiResult, FieldError, StatusError};
use super::handlers::Reply;
use super::resources::ResourceType;
use super::store::Store;

/// How to authenticate a token under review.
pub type TokenAuthenticator<'a> = dyn Fn(&str) -> Option<UserInfo> + 'a;

/// The attributes of a review's `resourceAttributes` or
/// `nonResourceAttributes`.
pub fn review_attributes(rt: &ResourceType, spec: &Value) -> ApiResult<Attributes> {
    let r = &spec["resourceAttributes"];
    let n = &spec["nonResourceAttributes"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match (r.is_object(), n.is_object()) {
        (true, false) => Ok(Attributes {
            resource_request: true,
            verb: s(&r["verb"]),
            api_group: s(&r["group"]),
            api_version: s(&r["version"]),
            namespace: s(&r["namespace"]),
            resource: s(&r["resource"]),
            subresource: s(&r["subresource"]),
            name: s(&r["name"]),
            field_selector: auth::attributes::parse_field_selector(
                r["fieldSelector"]["rawSelector"]
                    .as_str()
                    .unwrap_or_default(),
            ),
            ..Attributes::default()
        }),
        (false, true) => Ok(Attributes {
            path: s(&n["path"]),
            verb: s(&n["verb"]),
            ..Attributes::default()
        }),
        _ => Err(StatusError::invalid(
            rt,
            "",
            &[FieldError::invalid(
                "spec.resourceAttributes",
                r.clone(),
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )],
        )),
    }
}

/// Answers a review POSTed by `requester`.
pub fn create(
    store: &Store,
    rt: &ResourceType,
    ns: Option<&str>,
    body: &Value,
    requester: &UserInfo,
    tokens: &TokenAuthenticator,
) -> ApiResult<Reply> {
    let mut out = body.clone();
    out["apiVersion"] = json!(rt.api_version());
    out["kind"] = json!(rt.kind);
    if !out["metadata"].is_object() {
        out["metadata"] = json!({});
    }
    let spec = &body["spec"];
    out["status"] = match rt.kind {
        "TokenReview" => {
            let token = spec["token"].as_str().unwrap_or_default();
            // The token is never echoed back.
            if let Some(s) = out["spec"].as_object_mut() {
                s.remove("token");
            }
            match tokens(token) {
                Some(u) => json!({
                    "authenticated": true,
                    "user": {"username": u.name, "uid": u.uid, "groups": u.groups, "extra": u.extra},
                    "audiences": spec["audiences"].as_array().cloned().unwrap_or_default(),
                }),
                None => {
                    json!({"authenticated": false, "user": {}, "error": "invalid bearer token"})
                }
            }
        }
        kind => {
            let user = match kind {
                "SelfSubjectAccessReview" => requester.clone(),
                _ => auth::user::from_spec(spec, "user"),
            };
            let mut attrs = review_attributes(rt, spec)?;
            if kind == "LocalSubjectAccessReview" {
                let ns = ns.unwrap_or_default();
                if !attrs.namespace.is_empty() && attrs.namespace != ns {
                    return Err(StatusError::invalid(
                        rt,
                        "",
                        &[FieldError::invalid(
                            "spec.resourceAttributes.namespace",
                            json!(attrs.namespace),
                            "must match metadata.namespace",
                        )],
                    ));
                }
                attrs.namespace = ns.to_string();
            }
            match auth::authorize(store, &user, &attrs) {
                Ok(()) => json!({"allowed": true}),
                Err(reason) if reason.is_empty() => json!({"allowed": false}),
                Err(reason) => json!({"allowed": false, "reason": reason}),
            }
        }
    };
    Ok(Reply {
        code: 201,
        body: out,
        warnings: Vec::new(),
    })
}

//! The `scale` subresource of Deployments and ReplicaSets: an
//! `autoscaling/v1` Scale view of `spec.replicas` (and of `status.replicas`
//! and the selector), which `kubectl scale` and autoscalers read and write
//! instead of the whole object (`pkg/registry/apps/deployment/storage`'s
//! `ScaleREST`). A write changes only `spec.replicas`, through the same
//! update strategy as the main resource, so `generation` moves as it would
//! for an edit.

use axum::http::Method;
use serde_json::{json, Value};

use super::error::{ApiResult, FieldError, StatusError};
use super::handlers::Reply;
use super::label_selector;
use super::patch;
use super::request;
use super::resources::ResourceType;
use super::store::{Mutation, Store};
use super::strategy;

/// The Scale that `obj` shows.
pub fn to_scale(obj: &Value) -> Value {
    let md = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {
            "replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": label_selector::to_string(&obj["spec"]["selector"]),
        },
    })
}

fn scale_rt(rt: &ResourceType) -> ResourceType {
    ResourceType {
        group: "autoscaling",
        version: "v1",
        plural: rt.plural,
        singular: rt.singular,
        kind: "Scale",
        namespaced: rt.namespaced,
        short_names: &[],
        subresources: &[],
        storage: rt.storage,
    }
}

/// Checks a Scale (from a body or a patched view) and returns its replicas.
fn wanted_replicas(rt: &ResourceType, name: &str, scale: &Value) -> ApiResult<i64> {
    let kind = scale["kind"].as_str().unwrap_or("Scale");
    if kind != "Scale" {
        return Err(StatusError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a Scale: no kind \"{kind}\" is registered for version \"autoscaling/v1\""
        )));
    }
    let replicas = &scale["spec"]["replicas"];
    let n = if replicas.is_null() {
        0
    } else {
        replicas.as_i64().ok_or_else(|| {
            StatusError::bad_request(format!(
                "Scale in version \"v1\" cannot be handled as a Scale: json: cannot unmarshal {replicas} into Go struct field ScaleSpec.spec.replicas of type int32"
            ))
        })?
    };
    if n < 0 {
        let err = FieldError::invalid(
            "spec.replicas",
            json!(n),
            "must be greater than or equal to 0",
        );
        return Err(StatusError::invalid(&scale_rt(rt), name, &[err]));
    }
    Ok(n)
}

/// GET, PUT and PATCH of `<resource>/<name>/scale`.
#[allow(clippy::too_many_arguments)]
pub fn serve(
    store: &Store,
    method: &Method,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> ApiResult<Reply> {
    let reply = |obj: &Value| Reply {
        code: 200,
        body: to_scale(obj),
        warnings: Vec::new(),
    };
    if method == Method::GET {
        let obj = store
            .get(rt.storage, ns, name)
            .ok_or_else(|| StatusError::not_found(rt, name))?;
        return Ok(reply(&obj));
    }
    let media = request::media_type(content_type);
    let given: Value = if method == Method::PUT {
        request::decode_object(body, content_type)?
    } else if method == Method::PATCH {
        serde_json::from_slice(body)
            .map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?
    } else {
        return Err(StatusError::method_not_allowed());
    };
    let out = store.mutate(rt.storage, ns, name, |cur| {
        let Some(cur) = cur else {
            return Err(StatusError::not_found(rt, name));
        };
        let scale = if method == Method::PUT {
            given.clone()
        } else {
            let mut doc = to_scale(cur);
            match media.as_str() {
                "application/merge-patch+json" => patch::merge_patch(&mut doc, &given),
                "application/json-patch+json" => {
                    patch::json_patch(&mut doc, &given).map_err(StatusError::bad_request)?
                }
                "application/strategic-merge-patch+json" => {
                    patch::strategic_merge_patch(&mut doc, &given)
                        .map_err(StatusError::bad_request)?
                }
                _ => {
                    return Err(StatusError::unsupported_media_type(
                        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
                    ))
                }
            }
            doc
        };
        let want_rv = scale["metadata"]["resourceVersion"].as_str().unwrap_or("");
        if !want_rv.is_empty() && Some(want_rv) != cur["metadata"]["resourceVersion"].as_str() {
            return Err(StatusError::stale(rt, name));
        }
        let replicas = wanted_replicas(rt, name, &scale)?;
        let mut new = cur.clone();
        new["spec"]["replicas"] = json!(replicas);
        let mut next = strategy::prepare_update(rt, cur, new, None)?;
        next["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
        if &next == cur {
            return Ok(Mutation::Unchanged(next));
        }
        Ok(Mutation::Put(next))
    })?;
    Ok(reply(&out.object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_shows_replicas_and_selector() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}});
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"], json!({"replicas": 2, "selector": "app=web"}));
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }
}

//! Typed checks through k8s-openapi: a body must decode into the real type,
//! and any input key the decode/encode round trip loses is an unknown field.
//!
//! This gives kube-apiserver's strict field validation
//! (`strict decoding error: unknown field "spec.containers[0].imagee"`)
//! without a schema of our own: k8s-openapi's types are generated from the
//! same OpenAPI document as the server's Go types.

use k8s_openapi::api::authorization::v1 as authz;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::resources::ResourceType;

fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    // Decoded from the borrowed tree: a copy of it first would only be
    // taken apart again.
    let t = T::deserialize(v).map_err(|e| e.to_string())?;
    serde_json::to_value(&t).map_err(|e| e.to_string())
}

/// Decodes `obj` as the resource's type and encodes it back; `Err` carries
/// the decode error text.
pub fn round_trip_as(rt: &ResourceType, obj: &Value) -> Result<Value, String> {
    match (rt.group, rt.kind) {
        ("", "Pod") => round_trip::<Pod>(obj),
        ("", "Node") => round_trip::<Node>(obj),
        ("", "Namespace") => round_trip::<Namespace>(obj),
        ("", "Event") => round_trip::<Event>(obj),
        ("", "ConfigMap") => round_trip::<ConfigMap>(obj),
        ("", "Secret") => round_trip::<Secret>(obj),
        ("", "ServiceAccount") => round_trip::<ServiceAccount>(obj),
        ("coordination.k8s.io", "Lease") => round_trip::<Lease>(obj),
        ("scheduling.k8s.io", "PriorityClass") => round_trip::<PriorityClass>(obj),
        ("events.k8s.io", "Event") => round_trip::<k8s_openapi::api::events::v1::Event>(obj),
        ("apps", "Deployment") => round_trip::<k8s_openapi::api::apps::v1::Deployment>(obj),
        ("apps", "ReplicaSet") => round_trip::<k8s_openapi::api::apps::v1::ReplicaSet>(obj),
        ("batch", "Job") => round_trip::<k8s_openapi::api::batch::v1::Job>(obj),
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::Role>(obj),
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::ClusterRoleBinding>(obj)
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            round_trip::<k8s_openapi::api::certificates::v1::CertificateSigningRequest>(obj)
        }
        ("authentication.k8s.io", "TokenReview") => {
            round_trip::<k8s_openapi::api::authentication::v1::TokenReview>(obj)
        }
        ("authorization.k8s.io", "SubjectAccessReview") => {
            round_trip::<authz::SubjectAccessReview>(obj)
        }
        ("authorization.k8s.io", "SelfSubjectAccessReview") => {
            round_trip::<authz::SelfSubjectAccessReview>(obj)
        }
        ("authorization.k8s.io", "LocalSubjectAccessReview") => {
            round_trip::<authz::LocalSubjectAccessReview>(obj)
        }
        _ => Ok(obj.clone()),
    }
}

fn collect_lost(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, iv) in i {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match o.get(k) {
                    Some(ov) => collect_lost(iv, ov, &p, out),
                    // A null or empty value is dropped by the encoder, not unknown.
                    None if is_empty(iv) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o.iter()).enumerate() {
                collect_lost(iv, ov, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Every input key path the round trip lost, in input order.
pub fn unknown_fields(input: &Value, round_tripped: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_lost(input, round_tripped, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources;
    use serde_json::json;

    #[test]
    fn finds_a_misspelt_container_field() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "imagee": "x", "image": "y"}]}, "bogus": 1});
        let rt = round_trip_as(resources::pods(), &pod).expect("decodes");
        assert_eq!(
            unknown_fields(&pod, &rt),
            vec!["bogus", "spec.containers[0].imagee"]
        );
    }

    #[test]
    fn wrong_types_are_decode_errors() {
        let pod = json!({"spec": {"containers": "nope"}});
        assert!(round_trip_as(resources::pods(), &pod).is_err());
    }
}

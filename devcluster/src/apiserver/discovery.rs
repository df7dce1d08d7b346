//! Discovery and OpenAPI documents, shaped as kubectl reads them.
//!
//! Discovery answers in the legacy (unaggregated) format with
//! `Content-Type: application/json`; kubectl 1.32 asks for aggregated v2
//! discovery first and falls back to the legacy documents when the response
//! is not of the aggregated type.
//!
//! The OpenAPI v3 documents are deliberately small: for each resource the
//! collection, item and subresource paths with their operations, each write
//! operation carrying `x-kubernetes-group-version-kind` and the
//! `fieldValidation` query parameter. That is what kubectl's
//! `queryParamVerifierV3` looks for before it relies on server-side field
//! validation (`kubectl apply` then sends `fieldValidation=Strict`). The PATCH
//! operations declare no request body, so kubectl computes its apply patches
//! from its built-in types, as it does against servers without schemas.

use serde_json::{json, Map, Value};

use super::resources::{self, ResourceType, GROUPS, RESOURCES};

/// The Kubernetes version this server reports.
pub const VERSION: (&str, &str, &str) = ("1", "33", "v1.33.0");

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": VERSION.0,
        "minor": VERSION.1,
        "gitVersion": VERSION.2,
        "gitCommit": "kube-mesos-devcluster",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": format!("linux/{}", if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }),
    })
}

/// `/api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(name: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({"name": name, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|(g, v)| group_json(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = GROUPS.iter().find(|(g, _)| *g == group)?;
    let mut doc = group_json(g, v);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// Verbs of a resource's main endpoint.
pub fn verbs(rt: &ResourceType) -> Vec<&'static str> {
    if rt.is_review() {
        vec!["create"]
    } else if rt.kind == "Namespace" {
        vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ]
    } else {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

fn sub_entry(rt: &ResourceType, sub: &str) -> Value {
    let (kind, verbs): (&str, Vec<&str>) = match sub {
        "binding" => ("Binding", vec!["create"]),
        "eviction" => ("Eviction", vec!["create"]),
        "approval" => (rt.kind, vec!["get", "patch", "update"]),
        "log" => ("Pod", vec!["get"]),
        "scale" => ("Scale", vec!["get", "patch", "update"]),
        "attach" => ("PodAttachOptions", vec!["create", "get"]),
        "exec" => ("PodExecOptions", vec!["create", "get"]),
        "portforward" => ("PodPortForwardOptions", vec!["create", "get"]),
        _ => (rt.kind, vec!["get", "patch", "update"]),
    };
    let mut e = json!({"name": format!("{}/{}", rt.plural, sub), "singularName": "", "namespaced": rt.namespaced, "kind": kind, "verbs": verbs});
    if sub == "scale" {
        // kubectl scale finds the Scale's group/version here.
        e["group"] = json!("autoscaling");
        e["version"] = json!("v1");
    }
    e
}

/// `/api/v1` and `/apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut out = Vec::new();
    for rt in resources::of_group_version(group, version) {
        let mut e = json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": verbs(rt),
        });
        if !rt.short_names.is_empty() {
            e["shortNames"] = json!(rt.short_names);
        }
        if !resources::categories(rt).is_empty() {
            e["categories"] = json!(resources::categories(rt));
        }
        out.push(e);
        for sub in rt.subresources {
            out.push(sub_entry(rt, sub));
        }
    }
    if out.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut doc = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": out});
    if !group.is_empty() {
        doc["apiVersion"] = json!("v1");
    }
    Some(doc)
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

/// `/openapi/v3`.
pub fn openapi_root() -> Value {
    let mut paths = Map::new();
    let mut gvs: Vec<(&str, &str)> = vec![("", "v1")];
    gvs.extend(GROUPS.iter().copied());
    for (g, v) in gvs {
        if let Some(doc) = openapi_gv(g, v) {
            let p = gv_path(g, v);
            let url = format!("/openapi/v3/{p}?hash={}", fnv(&doc.to_string()));
            paths.insert(p, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        param("dryRun", "When present, indicates that modifications should not be persisted."),
        param("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
        param("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict"),
    ]
}

fn op(rt: &ResourceType, id: &str, params: Vec<Value>) -> Value {
    json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": id.split(|c: char| c.is_uppercase()).next().unwrap_or(id),
        "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
    })
}

/// `/openapi/v3/api/v1` and `/openapi/v3/apis/<group>/<version>`.
pub fn openapi_gv(group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut any = false;
    for rt in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        any = true;
        let base = if rt.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", rt.plural)
        } else {
            format!("{prefix}/{}", rt.plural)
        };
        let k = rt.kind;
        let mut collection = json!({
            "get": op(rt, &format!("list{k}"), vec![param("labelSelector", "A selector to restrict the list of returned objects by their labels.")]),
            "post": op(rt, &format!("create{k}"), write_params()),
        });
        if verbs(rt).contains(&"deletecollection") {
            collection["delete"] = op(rt, &format!("deletecollection{k}"), vec![]);
        }
        paths.insert(base.clone(), collection);
        let mut patch_params = write_params();
        patch_params.push(param(
            "force",
            "Force is going to \"force\" Apply requests.",
        ));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": op(rt, &format!("read{k}"), vec![]),
                "put": op(rt, &format!("replace{k}"), write_params()),
                "patch": op(rt, &format!("patch{k}"), patch_params.clone()),
                "delete": op(rt, &format!("delete{k}"), vec![]),
            }),
        );
        if rt.subresources.contains(&"status") {
            paths.insert(
                format!("{base}/{{name}}/status"),
                json!({
                    "get": op(rt, &format!("read{k}Status"), vec![]),
                    "put": op(rt, &format!("replace{k}Status"), write_params()),
                    "patch": op(rt, &format!("patch{k}Status"), patch_params),
                }),
            );
        }
    }
    if !any {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION.2},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_patch_declares_field_validation() {
        let doc = openapi_gv("", "v1").expect("core doc");
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert!(patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(
            openapi_root()["paths"]["apis/coordination.k8s.io/v1"]["serverRelativeURL"]
                .as_str()
                .is_some_and(|u| u.starts_with("/openapi/v3/apis/coordination.k8s.io/v1?hash="))
        );
    }

    #[test]
    fn core_resource_list_has_subresources() {
        let list = resource_list("", "v1").expect("core");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods/binding"));
        assert!(names.contains(&"pods/log"));
        assert!(names.contains(&"nodes/status"));
    }
}

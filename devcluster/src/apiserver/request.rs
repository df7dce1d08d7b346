//! Request parsing: which resource a URL names, the query parameters we
//! honour, body decoding with kube-apiserver's error texts, and the response
//! format the client asked for.

use std::collections::HashMap;

use serde_json::Value;

use super::error::{ApiResult, StatusError};
use super::resources::{self, ResourceType};

/// A resource URL, resolved.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    /// `/api/v1/watch/...` legacy watch paths.
    pub legacy_watch: bool,
}

/// What a path is.
#[derive(Debug, Clone)]
pub enum Route {
    Version,
    Health,
    ApiVersions,
    ApiGroupList,
    ApiGroup(String),
    ResourceList(String, String),
    OpenApiV2,
    OpenApiRoot,
    OpenApiGv(String, String),
    Resource(Target),
    NotFound,
}

/// Resolves a request path, like kube-apiserver's `RequestInfoFactory`.
pub fn route(path: &str) -> Route {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        ["version"] => Route::Version,
        ["healthz"] | ["livez"] | ["readyz"] => Route::Health,
        ["api"] => Route::ApiVersions,
        ["apis"] => Route::ApiGroupList,
        ["apis", g] => Route::ApiGroup(g.to_string()),
        ["api", v] => Route::ResourceList(String::new(), v.to_string()),
        ["apis", g, v] => Route::ResourceList(g.to_string(), v.to_string()),
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", "api", v] => Route::OpenApiGv(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApiGv(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => resource_route("", v, rest),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (legacy_watch, mut rest) = match rest.first() {
        Some(&"watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    let mut namespace = None;
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && rest[2] != "status" && rest[2] != "finalize" {
            rest = &rest[2..];
        } else {
            // The namespace object itself: namespaces/{name}[/status].
            let rt = match resources::find(group, version, "namespaces") {
                Some(rt) => rt,
                None => return Route::NotFound,
            };
            return Route::Resource(Target {
                rt,
                namespace: None,
                name: Some(rest[1].to_string()),
                sub: rest.get(2).map(|s| s.to_string()),
                legacy_watch,
            });
        }
    }
    let Some(plural) = rest.first() else {
        return Route::NotFound;
    };
    let Some(rt) = resources::find(group, version, plural) else {
        return Route::NotFound;
    };
    if rest.len() > 3 || (!rt.namespaced && namespace.is_some()) {
        return Route::NotFound;
    }
    let sub = rest.get(2).map(|s| s.to_string());
    if let Some(s) = &sub {
        if !rt.subresources.contains(&s.as_str()) {
            return Route::NotFound;
        }
    }
    Route::Resource(Target {
        rt,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        sub,
        legacy_watch,
    })
}

/// Query parameters, last value wins.
pub fn query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The response shape the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Object,
    Table,
    PartialMetadata,
}

/// Picks the first acceptable shape from an `Accept` header.
pub fn shape(accept: Option<&str>) -> Shape {
    let Some(accept) = accept else {
        return Shape::Object;
    };
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("as=Table") && has("g=meta.k8s.io") {
            return Shape::Table;
        }
        if (has("as=PartialObjectMetadata") || has("as=PartialObjectMetadataList"))
            && has("g=meta.k8s.io")
        {
            return Shape::PartialMetadata;
        }
        let media = params.first().copied().unwrap_or_default();
        if params.len() == 1 && (media == "application/json" || media == "*/*" || media.is_empty())
        {
            return Shape::Object;
        }
    }
    Shape::Object
}

/// `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Parses `fieldValidation` (default Warn, as kube-apiserver).
pub fn field_validation(q: &HashMap<String, String>) -> ApiResult<FieldValidation> {
    match q.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
        Some("Ignore") => Ok(FieldValidation::Ignore),
        Some("Strict") => Ok(FieldValidation::Strict),
        Some(other) => Err(StatusError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
        ))),
    }
}

/// The media type of a request body, without parameters.
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn json_error_text(e: &serde_json::Error) -> String {
    format!("{e}")
}

/// Decodes a create/update body as JSON (YAML bodies must be JSON-compatible).
pub fn decode_object(body: &[u8], content_type: Option<&str>) -> ApiResult<Value> {
    let media = media_type(content_type);
    if media == "application/vnd.kubernetes.protobuf" {
        return super::protobuf::decode(body).map_err(|e| match e {
            super::protobuf::DecodeError::Malformed(why) => StatusError::bad_request(format!(
                "the object provided is unrecognized (must be of type protobuf): {why}"
            )),
            super::protobuf::DecodeError::UnsupportedKind(_) => {
                StatusError::unsupported_media_type("application/json, application/yaml")
            }
        });
    }
    if !matches!(
        media.as_str(),
        "application/json" | "application/yaml" | "*/*" | ""
    ) {
        return Err(StatusError::unsupported_media_type(
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        if media == "application/yaml" {
            StatusError::bad_request(format!(
                "error converting YAML to JSON: yaml: {}",
                json_error_text(&e)
            ))
        } else {
            StatusError::bad_request(format!(
                "couldn't get version/kind; json parse error: {}",
                json_error_text(&e)
            ))
        }
    })?;
    if !v.is_object() {
        return Err(StatusError::bad_request(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            match v {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            }
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let Route::Resource(t) = route("/api/v1/namespaces/default/pods/p/status") else {
            panic!("not a resource route");
        };
        assert_eq!(
            (
                t.rt.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("pods", Some("default"), Some("p"), Some("status"))
        );
        let Route::Resource(t) = route("/api/v1/namespaces/kube-system") else {
            panic!("not a resource route");
        };
        assert_eq!(
            (t.rt.plural, t.name.as_deref()),
            ("namespaces", Some("kube-system"))
        );
        let Route::Resource(t) =
            route("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
        else {
            panic!("not a resource route");
        };
        assert_eq!(t.rt.kind, "Lease");
        assert!(matches!(route("/api/v1/widgets"), Route::NotFound));
        assert!(matches!(
            route("/api/v1/namespaces/a/pods/p/proxy"),
            Route::NotFound
        ));
        let Route::Resource(t) = route("/api/v1/namespaces/a/pods/p/exec") else {
            panic!("pods/exec is served");
        };
        assert_eq!(t.sub.as_deref(), Some("exec"));
        assert!(matches!(route("/api/v1/nodes"), Route::Resource(_)));
    }

    #[test]
    fn accept_shapes() {
        assert_eq!(shape(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")), Shape::Table);
        assert_eq!(shape(Some("application/json")), Shape::Object);
        assert_eq!(shape(None), Shape::Object);
    }

    #[test]
    fn bad_bodies() {
        assert_eq!(decode_object(b"{nope", None).map_err(|e| e.code), Err(400));
        assert_eq!(decode_object(b"[]", None).map_err(|e| e.code), Err(400));
        assert_eq!(
            decode_object(b"{}", Some("text/plain")).map_err(|e| e.code),
            Err(415)
        );
    }
}

//! What a request asks to do, in authorization terms: kube-apiserver's
//! `RequestInfoFactory` (verb, API group, resource, subresource, namespace,
//! name) plus the field selector the Node authorizer looks at.
//!
//! Parsed from the URL alone, independently of routing, as kube-apiserver
//! does, so that a path this server does not serve is still authorized
//! (and then answered 404) rather than skipped.

use std::collections::HashMap;

/// One `field=value` or `field!=value` of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field label.
    pub field: String,
    /// `=`/`==` (true) or `!=` (false).
    pub equals: bool,
    /// The value.
    pub value: String,
}

/// `authorizer.Attributes` without the user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// Whether this is an API resource request.
    pub resource_request: bool,
    /// The URL path (for non-resource requests).
    pub path: String,
    /// Kube verb (`get`, `list`, `watch`, `create`, ...); for non-resource
    /// requests the lowercase HTTP method.
    pub verb: String,
    /// API group, "" for core.
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Namespace, "" when cluster-scoped.
    pub namespace: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, "" if none.
    pub subresource: String,
    /// Object name, "" if none (a `metadata.name` field selector of a list
    /// or watch counts as the name).
    pub name: String,
    /// The field selector of a list or watch.
    pub field_selector: Vec<FieldRequirement>,
}

/// Parses a field selector without checking the field labels.
pub fn parse_field_selector(s: &str) -> Vec<FieldRequirement> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter_map(|part| {
            let (field, equals, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else {
                let (k, v) = part.split_once('=')?;
                (k, true, v)
            };
            Some(FieldRequirement {
                field: field.trim().to_string(),
                equals,
                value: value.trim().to_string(),
            })
        })
        .collect()
}

impl Attributes {
    /// `RequestInfoFactory.NewRequestInfo` for the `/api` and `/apis` prefixes.
    pub fn from_request(method: &str, path: &str, query: &HashMap<String, String>) -> Self {
        let mut info = Attributes {
            path: path.to_string(),
            verb: method.to_ascii_lowercase(),
            ..Self::default()
        };
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        let rest: &[&str] = match parts.as_slice() {
            ["api", rest @ ..] if rest.len() >= 2 => rest,
            ["apis", group, rest @ ..] if rest.len() >= 2 => {
                info.api_group = group.to_string();
                rest
            }
            _ => return info,
        };
        info.resource_request = true;
        info.api_version = rest[0].to_string();
        let mut rest = &rest[1..];
        if matches!(rest.first(), Some(&"watch") | Some(&"proxy")) && rest.len() >= 2 {
            info.verb = rest[0].to_string();
            rest = &rest[1..];
        } else {
            info.verb = match method {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_string();
        }
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            info.namespace = rest[1].to_string();
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        if rest.len() >= 3 && info.verb != "proxy" {
            info.subresource = rest[2].to_string();
        }
        if rest.len() >= 2 {
            info.name = rest[1].to_string();
        }
        if let Some(r) = rest.first() {
            info.resource = r.to_string();
        }
        if info.name.is_empty() && info.verb == "get" {
            info.verb = match query.get("watch").map(|w| w.to_ascii_lowercase()) {
                Some(w) if w != "false" && w != "0" => "watch",
                _ => "list",
            }
            .to_string();
        }
        if matches!(info.verb.as_str(), "list" | "watch") {
            info.field_selector = parse_field_selector(
                query
                    .get("fieldSelector")
                    .map(String::as_str)
                    .unwrap_or_default(),
            );
            if info.name.is_empty() {
                if let Some(r) = info
                    .field_selector
                    .iter()
                    .find(|r| r.field == "metadata.name" && r.equals)
                {
                    info.name = r.value.clone();
                }
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".into();
        }
        info
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// Whether the field selector requires `field` to equal `value`.
    pub fn selects(&self, field: &str, value: &str) -> bool {
        self.field_selector
            .iter()
            .any(|r| r.equals && r.field == field && r.value == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path_and_query: &str) -> Attributes {
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let query = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        Attributes::from_request(method, path, &query)
    }

    #[test]
    fn verbs_follow_kube_apiserver() {
        let a = attrs("GET", "/api/v1/namespaces/ns1/pods");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource.as_str()),
            ("list", "ns1", "pods")
        );
        assert_eq!(attrs("GET", "/api/v1/pods?watch=true").verb, "watch");
        assert_eq!(attrs("GET", "/api/v1/pods?watch=0").verb, "list");
        assert_eq!(
            attrs("GET", "/api/v1/watch/namespaces/a/pods").verb,
            "watch"
        );
        assert_eq!(
            attrs("DELETE", "/api/v1/namespaces/a/pods").verb,
            "deletecollection"
        );
        let s = attrs("PATCH", "/api/v1/namespaces/a/pods/p/status");
        assert_eq!(
            (
                s.verb.as_str(),
                s.combined_resource().as_str(),
                s.name.as_str()
            ),
            ("patch", "pods/status", "p")
        );
        let l = attrs(
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
        );
        assert_eq!(
            (l.api_group.as_str(), l.verb.as_str(), l.name.as_str()),
            ("coordination.k8s.io", "update", "n1")
        );
    }

    #[test]
    fn a_namespace_is_its_own_namespace() {
        let a = attrs("GET", "/api/v1/namespaces/kube-system");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let f = attrs("PUT", "/api/v1/namespaces/x/finalize");
        assert_eq!(f.subresource, "finalize");
    }

    #[test]
    fn a_name_field_selector_names_the_object() {
        let a = attrs(
            "GET",
            "/api/v1/nodes?fieldSelector=metadata.name%3Dn1&watch=1",
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "n1"));
        let p = attrs("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1");
        assert!(p.selects("spec.nodeName", "n1"));
        assert!(!p.selects("spec.nodeName", "n2"));
    }

    #[test]
    fn discovery_is_not_a_resource_request() {
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps/v1",
            "/version",
            "/healthz",
        ] {
            let a = attrs("GET", p);
            assert!(!a.resource_request, "{p}");
            assert_eq!(a.verb, "get");
        }
    }
}

//! The kubelet endpoint asks the API server who a caller is and whether it
//! may, as a kubelet with `--authentication-token-webhook` and
//! `--authorization-mode=Webhook` does (`pkg/kubelet/server/auth.go`):
//!
//! - a client certificate the TLS layer verified against the client CA is
//!   the user of its `CN`, in the groups of its `O`s;
//! - a bearer token is whoever a TokenReview says it is (401 if nobody);
//! - every request is then a SubjectAccessReview for `nodes/<subresource>`
//!   of this node, with the HTTP method as the verb (`get`, `create`, ...)
//!   and the subresource from the path: `/stats/` → `stats`, `/metrics` →
//!   `metrics`, `/logs/` → `log`, `/spec/` → `spec`, `/checkpoint/` →
//!   `checkpoint`, everything else (`/containerLogs`, `/exec`, `/attach`,
//!   `/portForward`, `/healthz`) → `proxy`. A refusal is a 403
//!   `Forbidden (user=…, verb=…, resource=nodes, subresource=…)`.
//!
//! Answers are cached as the kubelet caches them: TokenReviews 2 minutes,
//! allowed reviews 5 minutes, denied ones 30 seconds. The reviews go
//! through [`Reviews`], the API server's in production ([`ApiReviews`],
//! with the node's own identity, which the Node authorizer lets create
//! both), a fake in tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use tokio::time::Instant;

/// Who called.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Caller {
    /// User name.
    pub name: String,
    /// UID, if known.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// What the SubjectAccessReview asks about a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeRequest {
    /// `get`, `create`, `update`, `patch`, `delete`.
    pub verb: String,
    /// `proxy`, `log`, `stats`, `metrics`, `spec`, `checkpoint`.
    pub subresource: &'static str,
}

/// The kubelet's `GetRequestAttributes`: verb and `nodes` subresource of
/// a request.
pub fn node_request(method: &http::Method, path: &str) -> NodeRequest {
    let verb = match *method {
        http::Method::POST => "create",
        http::Method::GET => "get",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "",
    };
    let under = |prefix: &str| {
        let base = prefix.trim_end_matches('/');
        path == base || path.starts_with(&format!("{base}/"))
    };
    let subresource = if under("/stats/") {
        "stats"
    } else if under("/metrics") {
        "metrics"
    } else if under("/logs/") {
        "log"
    } else if under("/spec/") {
        "spec"
    } else if under("/checkpoint/") {
        "checkpoint"
    } else {
        "proxy"
    };
    NodeRequest {
        verb: verb.into(),
        subresource,
    }
}

/// The caller of a verified client certificate: `CN` and `O`s.
pub fn caller_of_certificate(der: &[u8]) -> Option<Caller> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(Caller {
        name,
        uid: String::new(),
        groups,
    })
}

/// Why a review could not be had (the API server did not answer); the
/// request is then refused, as the kubelet refuses it.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed")]
pub struct ReviewFailed {
    /// The review.
    pub what: &'static str,
    /// Cause.
    #[source]
    pub source: kube::Error,
}

/// The API server's reviews.
#[async_trait]
pub trait Reviews: Send + Sync + 'static {
    /// A TokenReview: the token's user, `None` if it authenticates nobody.
    async fn token(&self, token: &str) -> Result<Option<Caller>, ReviewFailed>;
    /// A SubjectAccessReview of `request` on node `node` for `caller`.
    async fn access(
        &self,
        caller: &Caller,
        node: &str,
        request: &NodeRequest,
    ) -> Result<bool, ReviewFailed>;
}

/// [`Reviews`] through the API.
pub struct ApiReviews {
    /// A client whose user may create TokenReviews and SubjectAccessReviews.
    pub client: kube::Client,
}

#[async_trait]
impl Reviews for ApiReviews {
    async fn token(&self, token: &str) -> Result<Option<Caller>, ReviewFailed> {
        let api: kube::Api<TokenReview> = kube::Api::all(self.client.clone());
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|source| ReviewFailed {
                what: "a TokenReview",
                source,
            })?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Ok(None);
        }
        let user = status.user.unwrap_or_default();
        Ok(Some(Caller {
            name: user.username.unwrap_or_default(),
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
        }))
    }

    async fn access(
        &self,
        caller: &Caller,
        node: &str,
        request: &NodeRequest,
    ) -> Result<bool, ReviewFailed> {
        let api: kube::Api<SubjectAccessReview> = kube::Api::all(self.client.clone());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(caller.name.clone()),
                uid: (!caller.uid.is_empty()).then(|| caller.uid.clone()),
                groups: Some(caller.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(request.verb.clone()),
                    version: Some("v1".into()),
                    resource: Some("nodes".into()),
                    subresource: Some(request.subresource.into()),
                    name: Some(node.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|source| ReviewFailed {
                what: "a SubjectAccessReview",
                source,
            })?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

/// How long answers are kept (the kubelet's webhook cache TTLs).
const TOKEN_TTL: Duration = Duration::from_secs(120);
const ALLOWED_TTL: Duration = Duration::from_secs(300);
const DENIED_TTL: Duration = Duration::from_secs(30);

/// The outcome of checking a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Served.
    Allowed(Caller),
    /// 401 `Unauthorized`.
    Unauthenticated,
    /// 403 with this body.
    Forbidden(String),
}

/// Authentication and authorization of the kubelet endpoint of `node`.
pub struct Access {
    node: String,
    reviews: Box<dyn Reviews>,
    tokens: Mutex<HashMap<String, (Instant, Option<Caller>)>>,
    decisions: Mutex<HashMap<(Caller, NodeRequest), (Instant, bool)>>,
}

impl Access {
    /// Checks requests to `node`'s endpoint with `reviews`.
    pub fn new(node: impl Into<String>, reviews: Box<dyn Reviews>) -> Self {
        Self {
            node: node.into(),
            reviews,
            tokens: Mutex::new(HashMap::new()),
            decisions: Mutex::new(HashMap::new()),
        }
    }

    async fn token_caller(&self, token: &str) -> Option<Caller> {
        let now = Instant::now();
        if let Some((at, caller)) = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
        {
            if now.duration_since(*at) < TOKEN_TTL {
                return caller.clone();
            }
        }
        match self.reviews.token(token).await {
            Ok(caller) => {
                self.tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(token.to_string(), (now, caller.clone()));
                caller
            }
            Err(e) => {
                tracing::warn!(error = %e, "kubelet endpoint: token review failed; request refused");
                None
            }
        }
    }

    async fn allowed(&self, caller: &Caller, request: &NodeRequest) -> bool {
        let now = Instant::now();
        let key = (caller.clone(), request.clone());
        if let Some((at, allowed)) = self
            .decisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            let ttl = if *allowed { ALLOWED_TTL } else { DENIED_TTL };
            if now.duration_since(*at) < ttl {
                return *allowed;
            }
        }
        match self.reviews.access(caller, &self.node, request).await {
            Ok(allowed) => {
                self.decisions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, (now, allowed));
                allowed
            }
            Err(e) => {
                tracing::warn!(error = %e, "kubelet endpoint: access review failed; request refused");
                false
            }
        }
    }

    /// Checks a request: `certificate` is the caller of a verified client
    /// certificate, `bearer` the token of its `Authorization` header.
    pub async fn check(
        &self,
        certificate: Option<&Caller>,
        bearer: Option<&str>,
        method: &http::Method,
        path: &str,
    ) -> Verdict {
        let caller = match (certificate, bearer) {
            (Some(c), _) => c.clone(),
            (None, Some(token)) => match self.token_caller(token).await {
                Some(c) => c,
                None => return Verdict::Unauthenticated,
            },
            (None, None) => return Verdict::Unauthenticated,
        };
        let request = node_request(method, path);
        if self.allowed(&caller, &request).await {
            Verdict::Allowed(caller)
        } else {
            Verdict::Forbidden(format!(
                "Forbidden (user={}, verb={}, resource=nodes, subresource={})",
                caller.name, request.verb, request.subresource
            ))
        }
    }
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn paths_map_to_the_kubelets_subresources() {
        let get = http::Method::GET;
        let sub = |m: &http::Method, p: &str| node_request(m, p);
        assert_eq!(sub(&get, "/containerLogs/ns/p/c").subresource, "proxy");
        assert_eq!(sub(&http::Method::POST, "/exec/ns/p/c").verb, "create");
        assert_eq!(sub(&get, "/exec/ns/p/c").verb, "get");
        assert_eq!(sub(&get, "/stats/summary").subresource, "stats");
        assert_eq!(sub(&get, "/stats").subresource, "stats");
        assert_eq!(sub(&get, "/metrics").subresource, "metrics");
        assert_eq!(sub(&get, "/metrics/cadvisor").subresource, "metrics");
        assert_eq!(sub(&get, "/logs/syslog").subresource, "log");
        assert_eq!(sub(&get, "/spec/").subresource, "spec");
        assert_eq!(sub(&get, "/healthz").subresource, "proxy");
        assert_eq!(sub(&get, "/statsx").subresource, "proxy");
    }

    #[test]
    fn bearer_tokens_are_read_as_the_kubelet_reads_them() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }

    /// Reviews that allow `proxy` for `admin` only and count the calls.
    struct Fake {
        calls: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Reviews for Fake {
        async fn token(&self, token: &str) -> Result<Option<Caller>, ReviewFailed> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(match token {
                "admin-token" | "viewer-token" => Some(Caller {
                    name: token.trim_end_matches("-token").into(),
                    ..Caller::default()
                }),
                _ => None,
            })
        }
        async fn access(
            &self,
            c: &Caller,
            node: &str,
            r: &NodeRequest,
        ) -> Result<bool, ReviewFailed> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(node == "n1" && c.name == "admin" && r.subresource == "proxy")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn callers_are_reviewed_and_answers_cached() {
        let calls = Arc::new(AtomicUsize::new(0));
        let access = Access::new(
            "n1",
            Box::new(Fake {
                calls: calls.clone(),
            }),
        );
        let get = http::Method::GET;
        let logs = "/containerLogs/ns/p/c";
        assert_eq!(
            access.check(None, None, &get, logs).await,
            Verdict::Unauthenticated
        );
        assert_eq!(
            access.check(None, Some("nope"), &get, logs).await,
            Verdict::Unauthenticated
        );
        assert!(
            matches!(access.check(None, Some("admin-token"), &get, logs).await, Verdict::Allowed(c) if c.name == "admin")
        );
        assert_eq!(
            access.check(None, Some("viewer-token"), &get, logs).await,
            Verdict::Forbidden(
                "Forbidden (user=viewer, verb=get, resource=nodes, subresource=proxy)".into()
            )
        );
        let cert = Caller {
            name: "admin".into(),
            ..Caller::default()
        };
        assert!(matches!(
            access.check(Some(&cert), None, &get, logs).await,
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            access.check(Some(&cert), None, &get, "/metrics").await,
            Verdict::Forbidden(_)
        ));
        // Cached: the same questions again ask nobody.
        let before = calls.load(Ordering::SeqCst);
        access.check(None, Some("admin-token"), &get, logs).await;
        access.check(None, Some("viewer-token"), &get, logs).await;
        assert_eq!(calls.load(Ordering::SeqCst), before);
        // A denial is asked again after 30 s, an allowance after 5 min.
        tokio::time::advance(Duration::from_secs(31)).await;
        access.check(Some(&cert), None, &get, "/metrics").await;
        access.check(Some(&cert), None, &get, logs).await;
        assert_eq!(calls.load(Ordering::SeqCst), before + 1);
    }
}

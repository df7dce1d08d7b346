//! The HTTP shell: authentication, body limits, routing to the handlers and
//! turning their replies (or `Status` errors) into responses.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures::FutureExt;
use serde_json::Value;

use super::admission::Requester;
use super::auth::{self, Attributes, UserInfo};
use super::config::{ApiServerConfig, KubeletScheme};
use super::discovery;
use super::error::{ApiResult, StatusError};
use super::eviction;
use super::handlers::{self, Reply};
use super::logs;
use super::openapi_v2;
use super::request::{self, Route, Shape, Target};
use super::reviews;
use super::scale;
use super::selector::{FieldSelector, LabelSelector};
use super::store::Store;
use super::streaming;
use super::table::IncludeObject;
use super::watch::{self, WatchSpec};

/// Shared server state.
pub struct Ctx {
    pub store: Arc<Store>,
    /// The latest watch event lines, shared by the watches that send them.
    pub watch_lines: Arc<watch::Lines>,
    pub config: ApiServerConfig,
    pub kubelet: reqwest::Client,
    /// TLS towards kubelets (exec, attach, port-forward), with the kubelet
    /// client certificate.
    pub kubelet_tls: Arc<rustls::ClientConfig>,
    pub closing: tokio::sync::watch::Sender<u64>,
    pub address: String,
}

fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

fn error_response(e: &StatusError) -> Response {
    json_response(e.code, &e.to_status(), &[])
}

fn reply(r: Reply) -> Response {
    json_response(r.code, &r.body, &r.warnings)
}

/// The user of a bearer token this server knows.
pub fn user_of_token(ctx: &Ctx, token: &str) -> Option<UserInfo> {
    auth::authn::user_of_token(
        &ctx.store,
        &ctx.config.token,
        &ctx.config.tokens,
        token,
        jiff::Timestamp::now(),
    )
}

/// Who sent the request: the client certificate's user (verified by the
/// TLS layer), else the bearer token's; `None` is a 401.
fn authenticate(ctx: &Ctx, req: &Request) -> Option<UserInfo> {
    if let Some(ClientCertUser(Some(user))) = req.extensions().get::<ClientCertUser>() {
        return Some(user.clone());
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    user_of_token(ctx, token.trim())
}

/// The verified client certificate's user of a TLS connection, attached
/// to each of its requests.
#[derive(Debug, Clone, Default)]
pub struct ClientCertUser(pub Option<UserInfo>);

/// The one request handler behind every path.
pub async fn handle(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let result = std::panic::AssertUnwindSafe(dispatch(ctx, req))
        .catch_unwind()
        .await;
    let resp = match result {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => error_response(&e),
        Err(_) => {
            tracing::error!(%method, %path, "handler panicked");
            error_response(&StatusError::internal(
                "the server panicked while handling the request",
            ))
        }
    };
    tracing::debug!(%method, %path, %query, code = resp.status().as_u16(), "request");
    resp
}

/// Bytes of an oversized body read (and dropped) before answering 413, so
/// the client sees the answer instead of a reset mid-upload.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

async fn read_body(ctx: &Ctx, req: Request) -> ApiResult<(HeaderMap, bytes::Bytes)> {
    use http_body_util::BodyExt;
    let limit = ctx.config.max_body_bytes;
    let (parts, mut body) = req.into_parts();
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            StatusError::bad_request(format!("error reading the request body: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_CAP {
                break;
            }
        }
    }
    if seen > limit {
        return Err(StatusError::too_large(limit));
    }
    Ok((parts.headers, buf.freeze()))
}

async fn dispatch(ctx: Arc<Ctx>, req: Request) -> ApiResult<Response> {
    let route = request::route(req.uri().path());
    if matches!(route, Route::Health) {
        return Ok(Response::new(Body::from("ok")));
    }
    let Some(user) = authenticate(&ctx, &req) else {
        return Err(StatusError::unauthorized());
    };
    let method = req.method().clone();
    let q = request::query(req.uri().query());
    let attrs = Attributes::from_request(method.as_str(), req.uri().path(), &q);
    if let Err(reason) = auth::authorize(&ctx.store, &user, &attrs) {
        // The marker the end-to-end suite looks for: a component that is
        // denied a call its manifests should allow fails the test.
        tracing::warn!(
            user = %user.name,
            groups = ?user.groups,
            verb = %attrs.verb,
            resource = %attrs.combined_resource(),
            api_group = %attrs.api_group,
            namespace = %attrs.namespace,
            name = %attrs.name,
            path = %attrs.path,
            %reason,
            "authorization denied"
        );
        return Err(auth::forbidden(&user, &attrs, &reason));
    }
    let shape = request::shape(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let get_only = |v: Option<Value>| -> ApiResult<Response> {
        if method != Method::GET {
            return Err(StatusError::method_not_allowed());
        }
        v.map(|v| json_response(200, &v, &[]))
            .ok_or_else(StatusError::path_not_found)
    };
    match route {
        Route::Health => Ok(Response::new(Body::from("ok"))),
        Route::Version => get_only(Some(discovery::version())),
        Route::ApiVersions => get_only(Some(discovery::api_versions(&ctx.address))),
        Route::ApiGroupList => get_only(Some(discovery::api_group_list())),
        Route::ApiGroup(g) => get_only(discovery::api_group(&g)),
        Route::ResourceList(g, v) => get_only(discovery::resource_list(&g, &v)),
        Route::OpenApiV2 => openapi_v2(&method, req.headers()),
        Route::OpenApiRoot => get_only(Some(discovery::openapi_root())),
        Route::OpenApiGv(g, v) => get_only(discovery::openapi_gv(&g, &v)),
        Route::NotFound => Err(StatusError::path_not_found()),
        Route::Resource(t) => resource(ctx, req, t, q, shape, &user).await,
    }
}

fn openapi_v2(method: &Method, headers: &HeaderMap) -> ApiResult<Response> {
    if method != Method::GET {
        return Err(StatusError::method_not_allowed());
    }
    let version = discovery::VERSION.2;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if !openapi_v2::wants_protobuf(accept) {
        return Ok(json_response(200, &openapi_v2::json(version), &[]));
    }
    let mut resp = Response::new(Body::from(openapi_v2::protobuf(version)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(openapi_v2::PROTOBUF_CONTENT_TYPE),
    );
    Ok(resp)
}

async fn resource(
    ctx: Arc<Ctx>,
    req: Request,
    t: Target,
    q: HashMap<String, String>,
    shape: Shape,
    user: &UserInfo,
) -> ApiResult<Response> {
    let store = &*ctx.store;
    let who = Requester(Some(user));
    let method = req.method().clone();
    let ns = t.namespace.as_deref();
    let rt = t.rt;
    let is_watch = t.legacy_watch || q.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (&method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET, None, None) if is_watch => start_watch(&ctx, &t, &q, shape),
        (&Method::GET, Some(name), None) if is_watch => {
            // watch on a single object: a field selector on its name.
            let mut q = q.clone();
            let fs = q.get("fieldSelector").cloned().unwrap_or_default();
            let pin = format!("metadata.name={name}");
            q.insert(
                "fieldSelector".into(),
                if fs.is_empty() {
                    pin
                } else {
                    format!("{fs},{pin}")
                },
            );
            start_watch(&ctx, &t, &q, shape)
        }
        (&Method::GET, None, None) => Ok(reply(handlers::list(store, rt, ns, shape, &q)?)),
        (&Method::GET, Some(name), None | Some("status")) => {
            Ok(reply(handlers::get(store, rt, ns, name, shape, &q)?))
        }
        (&Method::GET, Some(name), Some("log")) => {
            pod_logs(&ctx, ns.unwrap_or_default(), name, &q).await
        }
        (
            &Method::GET | &Method::POST,
            Some(name),
            Some(sub @ ("exec" | "attach" | "portforward")),
        ) => streaming::connect(&ctx, ns.unwrap_or_default(), name, sub, req).await,
        (&Method::POST, None, None) if rt.is_review() => {
            let (h, body) = read_body(&ctx, req).await?;
            let mut obj = request::decode_object(&body, content_type(&h))?;
            handlers::check_body(
                rt,
                &mut obj,
                request::FieldValidation::Ignore,
                handlers::Origin::Body,
            )?;
            let tokens = |t: &str| user_of_token(&ctx, t);
            Ok(reply(reviews::create(store, rt, ns, &obj, user, &tokens)?))
        }
        (_, _, _) if rt.is_review() => Err(StatusError::method_not_allowed()),
        (&Method::POST, None, None) => {
            let (h, body) = read_body(&ctx, req).await?;
            Ok(reply(handlers::create_as(
                who,
                store,
                rt,
                ns,
                &body,
                content_type(&h),
                &q,
            )?))
        }
        (&Method::POST, Some(name), Some("eviction")) if rt.plural == "pods" => {
            let (h, body) = read_body(&ctx, req).await?;
            Ok(reply(eviction::evict(
                store,
                ns.unwrap_or_default(),
                name,
                &body,
                content_type(&h),
            )?))
        }
        (&Method::POST, Some(name), Some("binding")) => {
            let (h, body) = read_body(&ctx, req).await?;
            Ok(reply(handlers::bind(
                store,
                ns,
                name,
                &body,
                content_type(&h),
            )?))
        }
        (&Method::PUT, Some(name), sub @ (None | Some("status") | Some("approval"))) => {
            let (h, body) = read_body(&ctx, req).await?;
            Ok(reply(handlers::update_as(
                who,
                store,
                rt,
                ns,
                name,
                sub,
                &body,
                content_type(&h),
                &q,
            )?))
        }
        (&Method::PATCH, Some(name), sub @ (None | Some("status") | Some("approval"))) => {
            let (h, body) = read_body(&ctx, req).await?;
            Ok(reply(handlers::patch_as(
                who,
                store,
                rt,
                ns,
                name,
                sub,
                &body,
                content_type(&h),
                &q,
            )?))
        }
        (&Method::DELETE, Some(name), None) => {
            let (_, body) = read_body(&ctx, req).await?;
            let opts = handlers::delete_options(&body, &q)?;
            Ok(reply(handlers::delete_as(who, store, rt, ns, name, &opts)?))
        }
        (&Method::DELETE, None, None) => {
            let (_, body) = read_body(&ctx, req).await?;
            let opts = handlers::delete_options(&body, &q)?;
            Ok(reply(handlers::delete_collection(
                who, store, rt, ns, &opts, &q,
            )?))
        }
        (_, Some(name), Some("scale")) => {
            let (h, body) = read_body(&ctx, req).await?;
            let ns = ns.unwrap_or_default();
            Ok(reply(scale::serve(
                store,
                &method,
                rt,
                ns,
                name,
                &body,
                content_type(&h),
            )?))
        }
        _ => Err(StatusError::method_not_allowed()),
    }
}

fn content_type(h: &HeaderMap) -> Option<&str> {
    h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn start_watch(
    ctx: &Arc<Ctx>,
    t: &Target,
    q: &HashMap<String, String>,
    shape: Shape,
) -> ApiResult<Response> {
    let labels = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let fields = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
        t.rt,
    )?;
    let start = watch::parse_start(q)?;
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(ctx.config.default_watch_timeout);
    let spec = WatchSpec {
        rt: t.rt,
        namespace: t.namespace.clone(),
        labels,
        fields,
        shape,
        include: IncludeObject::parse(q.get("includeObject").map(String::as_str)),
        bookmarks: q.get("allowWatchBookmarks").is_some_and(|v| v == "true"),
        timeout,
        bookmark_interval: ctx.config.bookmark_interval,
    };
    let rx = watch::spawn(
        ctx.store.clone(),
        ctx.watch_lines.clone(),
        spec,
        start,
        ctx.closing.subscribe(),
    );
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

async fn pod_logs(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> ApiResult<Response> {
    let scheme = match ctx.config.kubelet_scheme {
        KubeletScheme::Https => "https",
        KubeletScheme::Http => "http",
    };
    let url = logs::kubelet_url(&ctx.store, scheme, ns, name, q)?;
    let mut req = ctx.kubelet.get(&url);
    if let Some(token) = &ctx.config.kubelet_client_token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.map_err(|e| {
        tracing::warn!(%url, error = %e, "kubelet request failed");
        StatusError::internal(format!("Get \"{url}\": {e}"))
    })?;
    let code = resp.status().as_u16();
    let mut out = Response::new(Body::from_stream(resp.bytes_stream()));
    *out.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(out)
}

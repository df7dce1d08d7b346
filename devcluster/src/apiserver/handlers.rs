//! The verbs: get, list, create, update, patch, delete, deletecollection and
//! pods/binding, over the store, with kube-apiserver's status codes.
//!
//! Handlers take already-parsed inputs and return a [`Reply`]; the HTTP
//! shell in `server.rs` does the bytes. Every read-modify-write runs inside
//! one `Store::mutate` closure, so resourceVersion preconditions, uid
//! preconditions and "already bound" checks are atomic.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{json, Value};

use super::admission::{self, Requester, Write};
use super::error::{ApiResult, StatusError};
use super::meta;
use super::patch;
use super::pod_checks;
use super::priority;
use super::propagation;
use super::request::{self, FieldValidation, Shape};
use super::resources::{self, ResourceType, RESOURCES};
use super::selector::{FieldSelector, LabelSelector};
use super::store::{ns_name, Mutation, Store};
use super::strategy;
use super::table::{self, IncludeObject};
use super::typed;

/// A JSON answer.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub body: Value,
    /// `Warning` headers (field validation in Warn mode).
    pub warnings: Vec<String>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            code: 200,
            body,
            warnings: Vec::new(),
        }
    }
}

/// The object as the client's API version shows it.
pub fn to_client(rt: &ResourceType, stored: &Value) -> Value {
    if rt.is_events_v1() {
        strategy::event_core_to_v1(stored)
    } else {
        stored.clone()
    }
}

fn to_storage(rt: &ResourceType, obj: &Value) -> Value {
    if rt.is_events_v1() {
        strategy::event_v1_to_core(obj)
    } else {
        obj.clone()
    }
}

fn core_rt(rt: &'static ResourceType) -> &'static ResourceType {
    if rt.is_events_v1() {
        RESOURCES
            .iter()
            .find(|r| r.group.is_empty() && r.plural == "events")
            .unwrap_or(rt)
    } else {
        rt
    }
}

fn ns_of(rt: &ResourceType, ns: Option<&str>) -> String {
    if rt.namespaced {
        ns.unwrap_or_default().to_string()
    } else {
        String::new()
    }
}

/// Where a checked object came from: its error texts differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A create/update body (decode errors say "X in version v cannot be
    /// handled as a X: ...", `transformDecodeError`).
    Body,
    /// The result of applying a patch (bare `strict decoding error: ...`,
    /// as `applyPatchToObject` and the JSON patcher report it).
    Patched,
}

/// Checks a decoded body against the resource: kind/apiVersion, the typed
/// decode, and unknown fields per `fieldValidation`.
pub fn check_body(
    rt: &ResourceType,
    obj: &mut Value,
    fv: FieldValidation,
    origin: Origin,
) -> ApiResult<Vec<String>> {
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
    let version = api_version
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let known_kind = RESOURCES
        .iter()
        .any(|r| r.kind == kind && r.api_version() == api_version);
    if !kind.is_empty() && kind != rt.kind && !known_kind {
        return Err(StatusError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {}: no kind {kind:?} is registered for version {api_version:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
            rt.kind
        )));
    }
    if !kind.is_empty() && kind != rt.kind {
        return Err(StatusError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {}: converting ({version}.{kind}) to ({}.{}): unknown conversion",
            rt.kind, rt.version, rt.kind
        )));
    }
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(StatusError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    obj["kind"] = json!(rt.kind);
    obj["apiVersion"] = json!(rt.api_version());
    let prefix = format!(
        "{} in version {:?} cannot be handled as a {}",
        rt.kind, rt.version, rt.kind
    );
    let rt_obj = typed::round_trip_as(rt, obj)
        .map_err(|e| StatusError::bad_request(format!("{prefix}: {e}")))?;
    if rt.kind == "Pod" {
        if let Some(e) = pod_checks::quantity_decode_error(obj) {
            return Err(StatusError::bad_request(format!("{prefix}: {e}")));
        }
    }
    let unknown = typed::unknown_fields(obj, &rt_obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if fv == FieldValidation::Ignore {
        // Dropped silently, as the Go decoder does: the stored object never
        // holds a field its type lacks (a later update would see it vanish).
        *obj = rt_obj;
        return Ok(Vec::new());
    }
    let items: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    if fv == FieldValidation::Strict {
        let strict = format!("strict decoding error: {}", items.join(", "));
        return Err(StatusError::bad_request(match origin {
            Origin::Body => format!("{prefix}: {strict}"),
            Origin::Patched => strict,
        }));
    }
    // Unknown fields are dropped, as the Go decoder does.
    *obj = rt_obj;
    Ok(items)
}

fn selectors(
    rt: &ResourceType,
    q: &HashMap<String, String>,
) -> ApiResult<(LabelSelector, FieldSelector)> {
    let ls = LabelSelector::parse(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )?;
    let fs = FieldSelector::parse(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
        rt,
    )?;
    Ok((ls, fs))
}

fn require_namespace(store: &Store, rt: &ResourceType, ns: &str, creating: bool) -> ApiResult<()> {
    if !rt.namespaced {
        return Ok(());
    }
    match store.get("namespaces", "", ns) {
        None => Err(StatusError::not_found(resources::namespaces(), ns)),
        Some(n) if creating && n["status"]["phase"] == "Terminating" => {
            Err(StatusError::forbidden(
                rt,
                "",
                &format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            ))
        }
        Some(_) => Ok(()),
    }
}

fn dry_run(q: &HashMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
}

/// GET of one object.
pub fn get(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    shape: Shape,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    let ns = ns_of(rt, ns);
    let obj = store
        .get(rt.storage, &ns, name)
        .ok_or_else(|| StatusError::not_found(rt, name))?;
    let shown = to_client(rt, &obj);
    let body = match shape {
        Shape::Object => shown,
        Shape::PartialMetadata => partial(rt, &shown),
        Shape::Table => {
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            table::table(
                vec![table::row(rt, &obj, &shown, include)],
                table::columns(rt),
                &rv,
                None,
            )
        }
    };
    Ok(Reply::ok(body))
}

fn partial(_rt: &ResourceType, shown: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": shown["metadata"]})
}

fn encode_continue(rv: u64, after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"rv": rv, "after": after}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, String)> {
    let bad = || StatusError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((
        v["rv"].as_u64().ok_or_else(bad)?,
        v["after"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

/// LIST, with selectors and `limit`/`continue`.
pub fn list(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    shape: Shape,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    let (ls, fs) = selectors(rt, q)?;
    let ns_filter = if rt.namespaced { ns } else { None };
    let continued = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(c) => Some(decode_continue(c)?),
        None => None,
    };
    // The last object of the page before, as "namespace/name" (names and
    // namespaces hold no '/'); the walk starts after it, in the store's
    // (namespace, name) order.
    let after = match continued.as_ref() {
        Some((_, after)) => Some(after.split_once('/').ok_or_else(|| {
            StatusError::bad_request(format!("continue key is not valid: {after}"))
        })?),
        None => None,
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    // Only the page is cloned: a paginated LIST of many objects would
    // otherwise copy them all for every page, holding the store's lock.
    let mut selected: Vec<Value> = Vec::new();
    let mut cont = None;
    let mut remaining = 0usize;
    let current_rv = store.scan(rt.storage, ns_filter, after, |obj| {
        if !(ls.matches(obj) && fs.matches(obj)) {
            return std::ops::ControlFlow::Continue(());
        }
        if selected.len() >= limit {
            // Counted for remainingItemCount, not copied.
            remaining += 1;
            return std::ops::ControlFlow::Continue(());
        }
        if selected.len() + 1 == limit {
            let (ons, oname) = ns_name(obj);
            cont = Some(format!("{ons}/{oname}"));
        }
        selected.push(obj.clone());
        std::ops::ControlFlow::Continue(())
    });
    let rv = continued.map_or(current_rv, |(rv, _)| rv);
    let cont = if remaining > 0 {
        cont.map(|k| encode_continue(rv, &k))
    } else {
        None
    };
    let rv_s = rv.to_string();
    let body = match shape {
        Shape::Table => {
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
            let rows = selected
                .iter()
                .map(|o| table::row(rt, o, &to_client(rt, o), include))
                .collect();
            table::table(rows, table::columns(rt), &rv_s, cont.as_deref())
        }
        Shape::PartialMetadata => {
            let items: Vec<Value> = selected
                .iter()
                .map(|o| partial(rt, &to_client(rt, o)))
                .collect();
            let mut md = json!({"resourceVersion": rv_s});
            if let Some(c) = &cont {
                md["continue"] = json!(c);
            }
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": md, "items": items})
        }
        Shape::Object => {
            let items: Vec<Value> = selected
                .iter()
                .map(|o| {
                    let mut v = to_client(rt, o);
                    if let Some(m) = v.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    v
                })
                .collect();
            let mut md = json!({"resourceVersion": rv_s});
            if let Some(c) = &cont {
                md["continue"] = json!(c);
                md["remainingItemCount"] = json!(remaining);
            }
            json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": md, "items": items})
        }
    };
    Ok(Reply::ok(body))
}

/// POST: create, by the server itself (bootstrap, controllers).
pub fn create(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    body: &[u8],
    content_type: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    create_as(Requester::SYSTEM, store, rt, ns, body, content_type, q)
}

/// POST: create, by `who` (admission applies).
pub fn create_as(
    who: Requester,
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    body: &[u8],
    content_type: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    let fv = request::field_validation(q)?;
    let mut obj = request::decode_object(body, content_type)?;
    let warnings = check_body(rt, &mut obj, fv, Origin::Body)?;
    let ns = ns_of(rt, ns);
    {
        let md = obj
            .as_object_mut()
            .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
            .ok_or_else(|| StatusError::bad_request("object expected"))?;
        if !md.is_object() {
            *md = json!({});
        }
        let body_ns = md["namespace"].as_str().unwrap_or_default().to_string();
        if rt.namespaced {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(StatusError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            md["namespace"] = json!(ns);
        } else if let Some(m) = md.as_object_mut() {
            m.remove("namespace");
        }
        let name = md["name"].as_str().unwrap_or_default().to_string();
        let generate = md["generateName"].as_str().unwrap_or_default().to_string();
        if name.is_empty() && !generate.is_empty() {
            let base: String = generate.chars().take(58).collect();
            md["name"] = json!(format!("{base}{}", meta::generate_suffix()));
        }
    }
    let mut stored = to_storage(rt, &obj);
    let srt = core_rt(rt);
    priority::admit(store, srt, &mut stored, true)?;
    admission::admit(who, &Write::create(rt, None), Some(&mut stored))?;
    strategy::prepare_create(srt, &mut stored)?;
    strategy::init_meta(&mut stored);
    require_namespace(store, rt, &ns, true)?;
    let (_, name) = ns_name(&stored);
    if dry_run(q) {
        // A dry run goes through storage's checks too (kube-apiserver's
        // `dryrun.Storage.Create` looks the key up): a taken name conflicts.
        if store.get(rt.storage, &ns, &name).is_some() {
            return Err(StatusError::already_exists(rt, &name));
        }
        return Ok(Reply {
            code: 201,
            body: to_client(rt, &stored),
            warnings,
        });
    }
    let out = store.mutate(rt.storage, &ns, &name, |cur| {
        if cur.is_some() {
            return Err(StatusError::already_exists(rt, &name));
        }
        Ok(Mutation::Put(stored))
    })?;
    if rt.kind == "Namespace" {
        ensure_default_service_account(store, &name);
    }
    Ok(Reply {
        code: 201,
        body: to_client(rt, &out.object),
        warnings,
    })
}

/// Creates the `default` ServiceAccount of a namespace if missing (the
/// serviceaccounts controller's job in a real cluster).
pub fn ensure_default_service_account(store: &Store, ns: &str) {
    let mut sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
    strategy::init_meta(&mut sa);
    let res = store.mutate("serviceaccounts", ns, "default", |cur| match cur {
        Some(v) => Ok(Mutation::Unchanged(v.clone())),
        None => Ok(Mutation::Put(sa)),
    });
    if let Err(e) = res {
        tracing::warn!(namespace = ns, error = %e, "creating default service account failed");
    }
}

fn allow_create_on_update(rt: &ResourceType) -> bool {
    matches!(rt.kind, "Lease" | "Event")
}

/// Finishes an update: if the object is being deleted and nothing holds it
/// any more, it goes away.
fn settle(rt: &ResourceType, obj: Value) -> Mutation {
    let md = &obj["metadata"];
    let deleting = !md["deletionTimestamp"].is_null();
    let no_finalizers = md["finalizers"].as_array().is_none_or(|f| f.is_empty());
    let grace_done = rt.kind != "Pod" || md["deletionGracePeriodSeconds"].as_i64() == Some(0);
    if deleting && no_finalizers && grace_done {
        Mutation::Delete(obj)
    } else {
        Mutation::Put(obj)
    }
}

/// PUT: update (main resource or `status`), by the server itself.
#[allow(clippy::too_many_arguments)]
pub fn update(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
    content_type: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    update_as(
        Requester::SYSTEM,
        store,
        rt,
        ns,
        name,
        sub,
        body,
        content_type,
        q,
    )
}

/// PUT: update, by `who` (admission applies).
#[allow(clippy::too_many_arguments)]
pub fn update_as(
    who: Requester,
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
    content_type: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    let fv = request::field_validation(q)?;
    let mut obj = request::decode_object(body, content_type)?;
    let warnings = check_body(rt, &mut obj, fv, Origin::Body)?;
    let ns = ns_of(rt, ns);
    let body_name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if body_name != name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let body_ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if rt.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if rt.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    }
    let mut new = to_storage(rt, &obj);
    let srt = core_rt(rt);
    priority::admit(store, srt, &mut new, false)?;
    let dry = dry_run(q);
    let mut missing_create = false;
    let out = store.mutate(rt.storage, &ns, name, |cur| {
        let Some(cur) = cur else {
            if allow_create_on_update(rt) && sub.is_none() {
                missing_create = true;
                let mut fresh = new.clone();
                admission::admit(who, &Write::create(rt, sub), Some(&mut fresh))?;
                strategy::prepare_create(srt, &mut fresh)?;
                strategy::init_meta(&mut fresh);
                return Ok(if dry {
                    Mutation::Unchanged(fresh)
                } else {
                    Mutation::Put(fresh)
                });
            }
            return Err(StatusError::not_found(rt, name));
        };
        let want_rv = new["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !want_rv.is_empty() && Some(want_rv) != cur["metadata"]["resourceVersion"].as_str() {
            return Err(StatusError::stale(rt, name));
        }
        let mut next = strategy::prepare_update(srt, cur, new.clone(), sub)?;
        admission::admit(who, &Write::update(rt, sub, cur), Some(&mut next))?;
        next["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
        if &next == cur || dry {
            return Ok(Mutation::Unchanged(next));
        }
        Ok(settle(srt, next))
    })?;
    Ok(Reply {
        code: if missing_create { 201 } else { 200 },
        body: to_client(rt, &out.object),
        warnings,
    })
}

/// PATCH in any of the four content types, by `who` (admission applies).
#[allow(clippy::too_many_arguments)]
pub fn patch_as(
    who: Requester,
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
    content_type: Option<&str>,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    let fv = request::field_validation(q)?;
    let media = request::media_type(content_type);
    let kind = match media.as_str() {
        "application/merge-patch+json" => "merge",
        "application/json-patch+json" => "json",
        "application/strategic-merge-patch+json" => "strategic",
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => "apply",
        _ => {
            return Err(StatusError::unsupported_media_type(
                "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
            ))
        }
    };
    let patch_doc: Value = serde_json::from_slice(body)
        .map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?;
    if kind != "json" && !patch_doc.is_object() {
        return Err(StatusError::bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ));
    }
    let ns = ns_of(rt, ns);
    let srt = core_rt(rt);
    let dry = dry_run(q);
    let mut warnings = Vec::new();
    let mut created = false;
    let out = store.mutate(rt.storage, &ns, name, |cur| {
        let Some(cur) = cur else {
            if kind == "apply" && sub.is_none() {
                // Server-side apply creates a missing object.
                let mut obj = patch_doc.clone();
                warnings = check_body(rt, &mut obj, fv, Origin::Body)?;
                if rt.namespaced {
                    obj["metadata"]["namespace"] = json!(ns);
                }
                let mut stored = to_storage(rt, &obj);
                admission::admit(who, &Write::create(rt, sub), Some(&mut stored))?;
                strategy::prepare_create(srt, &mut stored)?;
                strategy::init_meta(&mut stored);
                created = true;
                return Ok(if dry {
                    Mutation::Unchanged(stored)
                } else {
                    Mutation::Put(stored)
                });
            }
            return Err(StatusError::not_found(rt, name));
        };
        let mut doc = to_client(rt, cur);
        match kind {
            "merge" => patch::merge_patch(&mut doc, &patch_doc),
            "json" => patch::json_patch(&mut doc, &patch_doc).map_err(|e| StatusError {
                code: 422,
                reason: "Invalid",
                message: e,
                details: None,
            })?,
            _ => patch::strategic_merge_patch(&mut doc, &patch_doc)
                .map_err(StatusError::bad_request)?,
        }
        warnings = check_body(rt, &mut doc, fv, Origin::Patched)?;
        let want_rv = doc["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        if !want_rv.is_empty() && Some(want_rv) != cur["metadata"]["resourceVersion"].as_str() {
            return Err(StatusError::stale(rt, name));
        }
        if doc["metadata"]["name"].as_str() != Some(name) {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                doc["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        let new = to_storage(rt, &doc);
        let mut next = strategy::prepare_update(srt, cur, new, sub)?;
        admission::admit(who, &Write::update(rt, sub, cur), Some(&mut next))?;
        next["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"].clone();
        if &next == cur || dry {
            return Ok(Mutation::Unchanged(next));
        }
        Ok(settle(srt, next))
    })?;
    Ok(Reply {
        code: if created { 201 } else { 200 },
        body: to_client(rt, &out.object),
        warnings,
    })
}

/// DeleteOptions from the body and the query.
#[derive(Debug, Default)]
pub struct DeleteOptions {
    pub grace: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    /// `propagationPolicy` / `orphanDependents`; `None`: the resource's default.
    pub propagation: Option<propagation::Policy>,
}

/// Reads DeleteOptions.
pub fn delete_options(body: &[u8], q: &HashMap<String, String>) -> ApiResult<DeleteOptions> {
    let mut o = DeleteOptions {
        grace: q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()),
        dry_run: dry_run(q),
        propagation: propagation::requested(None, q.get("propagationPolicy").map(String::as_str))?,
        ..Default::default()
    };
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            StatusError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?;
        o.propagation =
            propagation::requested(Some(&v), q.get("propagationPolicy").map(String::as_str))?;
        if let Some(g) = v["gracePeriodSeconds"].as_i64() {
            o.grace = Some(g);
        }
        o.uid = v["preconditions"]["uid"].as_str().map(str::to_string);
        o.resource_version = v["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
        if v["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "All"))
        {
            o.dry_run = true;
        }
    }
    Ok(o)
}

/// DELETE of one object. Pods delete gracefully, like kube-apiserver.
pub fn delete(
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Reply> {
    delete_as(Requester::SYSTEM, store, rt, ns, name, opts)
}

/// DELETE of one object, by `who` (admission applies).
pub fn delete_as(
    who: Requester,
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Reply> {
    let ns = ns_of(rt, ns);
    let srt = core_rt(rt);
    let out = store.mutate(rt.storage, &ns, name, |cur| {
        let Some(cur) = cur else {
            return Err(StatusError::not_found(rt, name));
        };
        admission::admit(who, &Write::delete(rt, cur), None)?;
        let md = &cur["metadata"];
        if let Some(uid) = &opts.uid {
            let have = md["uid"].as_str().unwrap_or_default();
            if uid != have {
                return Err(StatusError::conflict(
                    rt,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            let have = md["resourceVersion"].as_str().unwrap_or_default();
            if rv != have {
                return Err(StatusError::conflict(
                    rt,
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"),
                ));
            }
        }
        let mut next = cur.clone();
        let policy = opts.propagation.unwrap_or_else(|| propagation::default_for(srt));
        if let Some(f) = policy.finalizer() {
            add_finalizer(&mut next, f);
        }
        let md = &next["metadata"];
        let has_finalizers = md["finalizers"].as_array().is_some_and(|f| !f.is_empty());
        let grace = if srt.kind == "Pod" {
            let phase = cur["status"]["phase"].as_str().unwrap_or_default();
            let unbound = cur["spec"]["nodeName"].as_str().unwrap_or_default().is_empty();
            if unbound || phase == "Succeeded" || phase == "Failed" {
                0
            } else {
                opts.grace
                    .or_else(|| cur["spec"]["terminationGracePeriodSeconds"].as_i64())
                    .unwrap_or(30)
                    .max(0)
            }
        } else {
            0
        };
        let decision = if grace == 0 && !has_finalizers {
            Mutation::Delete(next)
        } else {
            let existing = md["deletionGracePeriodSeconds"].as_i64();
            if existing.is_some_and(|e| e <= grace) {
                return Ok(if &next == cur {
                    Mutation::Unchanged(next)
                } else {
                    Mutation::Put(next)
                });
            }
            next["metadata"]["deletionTimestamp"] = json!(meta::now_plus(grace));
            next["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            if grace == 0 && srt.kind == "Pod" && !has_finalizers {
                Mutation::Delete(next)
            } else {
                Mutation::Put(next)
            }
        };
        if opts.dry_run {
            return Ok(Mutation::Unchanged(match decision {
                Mutation::Delete(v) | Mutation::Put(v) | Mutation::Unchanged(v) => v,
            }));
        }
        Ok(decision)
    })?;
    if srt.kind == "Namespace" && out.change.is_some() {
        purge_namespace(store, name);
    }
    if matches!(srt.kind, "Pod" | "Namespace") {
        return Ok(Reply::ok(to_client(rt, &out.object)));
    }
    let uid = out.object["metadata"]["uid"].clone();
    let mut details = json!({"name": name, "kind": rt.plural, "uid": uid});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    Ok(Reply::ok(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })))
}

/// Adds `finalizer` to the object's finalizers unless it is there.
fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let list = &mut obj["metadata"]["finalizers"];
    if !list.is_array() {
        *list = json!([]);
    }
    if let Some(items) = list.as_array_mut() {
        if !items.iter().any(|f| f == finalizer) {
            items.push(json!(finalizer));
        }
    }
}

/// Removes everything in a deleted namespace (the namespace controller's job).
fn purge_namespace(store: &Store, ns: &str) {
    let mut buckets: Vec<&str> = RESOURCES
        .iter()
        .filter(|r| r.namespaced)
        .map(|r| r.storage)
        .collect();
    buckets.dedup();
    for bucket in buckets {
        let (items, _) = store.list(bucket, Some(ns));
        for obj in items {
            let (_, name) = ns_name(&obj);
            let _ = store.mutate(bucket, ns, &name, |cur| match cur {
                Some(v) => Ok(Mutation::Delete(v.clone())),
                None => Ok(Mutation::Unchanged(Value::Null)),
            });
        }
    }
}

/// DELETE on a collection.
pub fn delete_collection(
    who: Requester,
    store: &Store,
    rt: &'static ResourceType,
    ns: Option<&str>,
    opts: &DeleteOptions,
    q: &HashMap<String, String>,
) -> ApiResult<Reply> {
    if rt.kind == "Namespace" {
        return Err(StatusError::method_not_allowed());
    }
    let (ls, fs) = selectors(rt, q)?;
    let (items, _) = store.list(rt.storage, if rt.namespaced { ns } else { None });
    let mut deleted = Vec::new();
    for obj in items.iter().filter(|o| ls.matches(o) && fs.matches(o)) {
        let (ons, name) = ns_name(obj);
        match delete_as(who, store, rt, Some(&ons), &name, opts) {
            Ok(r) => {
                if r.body["kind"] != "Status" {
                    deleted.push(r.body);
                } else {
                    deleted.push(to_client(rt, obj));
                }
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = store.current_rv().to_string();
    Ok(Reply::ok(json!({
        "kind": format!("{}List", rt.kind),
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": rv},
        "items": deleted,
    })))
}

/// POST pods/{name}/binding.
pub fn bind(
    store: &Store,
    ns: Option<&str>,
    name: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> ApiResult<Reply> {
    let rt = resources::pods();
    let binding = request::decode_object(body, content_type)?;
    let kind = binding["kind"].as_str().unwrap_or("Binding");
    if kind != "Binding" {
        return Err(StatusError::bad_request(format!(
            "{kind} in version \"v1\" cannot be handled as a Binding: converting (v1.{kind}) to (core.Binding): unknown conversion"
        )));
    }
    let node = binding["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let target_kind = binding["target"]["kind"].as_str().unwrap_or_default();
    if node.is_empty() || !(target_kind.is_empty() || target_kind == "Node") {
        let mut errs = Vec::new();
        if node.is_empty() {
            errs.push(super::error::FieldError::required("target.name", ""));
        } else {
            errs.push(super::error::FieldError::not_supported(
                "target.kind",
                json!(target_kind),
                &["Node", "<empty>"],
            ));
        }
        let binding_rt = ResourceType {
            kind: "Binding",
            ..clone_rt(rt)
        };
        return Err(StatusError::invalid(&binding_rt, name, &errs));
    }
    let ns = ns.unwrap_or_default().to_string();
    let binding_rt = ResourceType {
        plural: "pods/binding",
        ..clone_rt(rt)
    };
    store.mutate("pods", &ns, name, |cur| {
        let Some(cur) = cur else {
            return Err(StatusError::not_found(rt, name));
        };
        // The Binding's UID is a precondition, as kube-apiserver's
        // `setPodNodeAndMetadata` makes it.
        if let (Some(want), Some(have)) = (
            binding["metadata"]["uid"].as_str().filter(|u| !u.is_empty()),
            cur["metadata"]["uid"].as_str(),
        ) {
            if want != have {
                return Err(StatusError::conflict(&binding_rt, name, &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {have}")));
            }
        }
        if !cur["metadata"]["deletionTimestamp"].is_null() {
            return Err(StatusError::conflict(&binding_rt, name, &format!("pod {name} is being deleted, cannot be assigned to a host")));
        }
        let existing = cur["spec"]["nodeName"].as_str().unwrap_or_default();
        if !existing.is_empty() {
            return Err(StatusError::conflict(&binding_rt, name, &format!("pod {name} is already assigned to node {existing:?}")));
        }
        let mut next = cur.clone();
        next["spec"]["nodeName"] = json!(node);
        if let Some(ann) = binding["metadata"]["annotations"].as_object() {
            if !next["metadata"]["annotations"].is_object() {
                next["metadata"]["annotations"] = json!({});
            }
            for (k, v) in ann {
                next["metadata"]["annotations"][k] = v.clone();
            }
        }
        let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now()});
        if !next["status"]["conditions"].is_array() {
            next["status"]["conditions"] = json!([]);
        }
        if let Some(conds) = next["status"]["conditions"].as_array_mut() {
            conds.retain(|c| c["type"] != "PodScheduled");
            conds.push(cond);
        }
        Ok(Mutation::Put(next))
    })?;
    Ok(Reply {
        code: 201,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        warnings: Vec::new(),
    })
}

fn clone_rt(rt: &ResourceType) -> ResourceType {
    ResourceType {
        group: rt.group,
        version: rt.version,
        plural: rt.plural,
        singular: rt.singular,
        kind: rt.kind,
        namespaced: rt.namespaced,
        short_names: rt.short_names,
        subresources: rt.subresources,
        storage: rt.storage,
    }
}

/// Creates `obj` as the server itself does (JSON, no options).
pub fn create_object(store: &Store, rt: &'static ResourceType, obj: &Value) -> ApiResult<Reply> {
    create(
        store,
        rt,
        None,
        obj.to_string().as_bytes(),
        None,
        &HashMap::new(),
    )
}

/// Creates `obj` unless one of its name exists.
pub fn ensure_created(store: &Store, rt: &'static ResourceType, obj: &Value) -> ApiResult<()> {
    match create_object(store, rt, obj) {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the namespaces every cluster starts with, and their default
/// ServiceAccounts, if missing.
pub fn bootstrap(store: &Store) -> ApiResult<()> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if store.get("namespaces", "", ns).is_none() {
            let ns_obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            ensure_created(store, resources::namespaces(), &ns_obj)?;
        }
        ensure_default_service_account(store, ns);
    }
    // The default roles and bindings (kube-apiserver's bootstrap-roles hook).
    for obj in crate::apiserver::auth::policy::bootstrap_objects() {
        let Some(rt) = resources::by_kind(
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default(),
        ) else {
            continue;
        };
        match create(
            store,
            rt,
            None,
            obj.to_string().as_bytes(),
            None,
            &HashMap::new(),
        ) {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    priority::bootstrap(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let s = Store::in_memory(100);
        bootstrap(&s).expect("bootstrap");
        s
    }

    fn pod(name: &str) -> Vec<u8> {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn create_conflicts_and_stale_updates() {
        let s = store();
        let q = HashMap::new();
        let r =
            create(&s, resources::pods(), Some("default"), &pod("a"), None, &q).expect("created");
        assert_eq!(r.code, 201);
        let e = create(&s, resources::pods(), Some("default"), &pod("a"), None, &q)
            .expect_err("exists");
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        let mut stale = r.body.clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        stale["metadata"]["labels"] = json!({"x": "y"});
        let e = update(
            &s,
            resources::pods(),
            Some("default"),
            "a",
            None,
            stale.to_string().as_bytes(),
            None,
            &q,
        )
        .expect_err("stale");
        assert_eq!(e.code, 409);
        assert!(e.message.ends_with("the object has been modified; please apply your changes to the latest version and try again"));
        let e = create(&s, resources::pods(), Some("nope"), &pod("b"), None, &q)
            .expect_err("no namespace");
        assert_eq!(e.code, 404);
    }

    /// Pages follow the store's (namespace, name) order: "a-b/x" sorts
    /// before "a/y" as text but after it as a key, and no object is missed
    /// or listed twice.
    #[test]
    fn pages_of_a_list_across_namespaces_cover_each_object_once() {
        let s = store();
        let q = HashMap::new();
        for ns in ["a", "a-b"] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            create(
                &s,
                resources::namespaces(),
                None,
                body.to_string().as_bytes(),
                None,
                &q,
            )
            .expect("namespace");
        }
        for (ns, name) in [("a", "y"), ("a", "z"), ("a-b", "x"), ("default", "p")] {
            create(&s, resources::pods(), Some(ns), &pod(name), None, &q).expect("pod");
        }
        let mut seen = Vec::new();
        let mut remaining = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = HashMap::from([("limit".to_string(), "1".to_string())]);
            if let Some(t) = &token {
                q.insert("continue".to_string(), t.clone());
            }
            let r = list(&s, resources::pods(), None, Shape::Object, &q).expect("page");
            for item in r.body["items"].as_array().expect("items") {
                let (ns, name) = ns_name(item);
                seen.push(format!("{ns}/{name}"));
            }
            remaining.push(r.body["metadata"]["remainingItemCount"].as_u64());
            token = r.body["metadata"]["continue"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, ["a/y", "a/z", "a-b/x", "default/p"]);
        assert_eq!(remaining, [Some(3), Some(2), Some(1), None]);
        let bad = HashMap::from([("continue".to_string(), encode_continue(1, "no-slash"))]);
        let e = list(&s, resources::pods(), None, Shape::Object, &bad).expect_err("bad token");
        assert_eq!(e.code, 400);
    }

    #[test]
    fn strict_unknown_field() {
        let s = store();
        let mut q = HashMap::new();
        q.insert("fieldValidation".to_string(), "Strict".to_string());
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "c", "imagee": "busybox"}]}});
        let e = create(
            &s,
            resources::pods(),
            Some("default"),
            body.to_string().as_bytes(),
            None,
            &q,
        )
        .expect_err("strict");
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagee\"");
    }

    #[test]
    fn strict_unknown_field_in_a_patch() {
        let s = store();
        let q = HashMap::new();
        create(&s, resources::pods(), Some("default"), &pod("a"), None, &q).expect("created");
        let mut strict = HashMap::new();
        strict.insert("fieldValidation".to_string(), "Strict".to_string());
        let p = json!({"spec": {"containers": [{"name": "c", "imagee": "x"}]}});
        let e = patch_as(
            Requester::SYSTEM,
            &s,
            resources::pods(),
            Some("default"),
            "a",
            None,
            p.to_string().as_bytes(),
            Some("application/strategic-merge-patch+json"),
            &strict,
        )
        .expect_err("strict");
        assert_eq!(
            e.message,
            "strict decoding error: unknown field \"spec.containers[0].imagee\""
        );
        let r = patch_as(
            Requester::SYSTEM,
            &s,
            resources::pods(),
            Some("default"),
            "a",
            None,
            p.to_string().as_bytes(),
            Some("application/strategic-merge-patch+json"),
            &q,
        )
        .expect("warn");
        assert_eq!(
            r.warnings,
            vec!["unknown field \"spec.containers[0].imagee\"".to_string()]
        );
    }

    #[test]
    fn binding_merges_annotations_and_checks_the_uid() {
        let s = store();
        let q = HashMap::new();
        let created =
            create(&s, resources::pods(), Some("default"), &pod("a"), None, &q).expect("created");
        let uid = created.body["metadata"]["uid"]
            .as_str()
            .unwrap()
            .to_string();
        let wrong = json!({"kind": "Binding", "metadata": {"name": "a", "uid": "not-a"},
                           "target": {"kind": "Node", "name": "n1"}});
        let e = bind(&s, Some("default"), "a", wrong.to_string().as_bytes(), None)
            .expect_err("UID precondition");
        assert_eq!(e.code, 409);
        let b = json!({"kind": "Binding",
                       "metadata": {"name": "a", "uid": uid, "annotations": {"k": "v"}},
                       "target": {"kind": "Node", "name": "n1"}});
        bind(&s, Some("default"), "a", b.to_string().as_bytes(), None).expect("bound");
        let got = s.get("pods", "default", "a").expect("pod");
        assert_eq!(got["spec"]["nodeName"], "n1");
        assert_eq!(got["metadata"]["annotations"]["k"], "v");
    }

    #[test]
    fn binding_and_graceful_delete() {
        let s = store();
        let q = HashMap::new();
        create(&s, resources::pods(), Some("default"), &pod("a"), None, &q).expect("created");
        let b = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "a"}, "target": {"kind": "Node", "name": "n1"}});
        bind(&s, Some("default"), "a", b.to_string().as_bytes(), None).expect("bound");
        let e = bind(&s, Some("default"), "a", b.to_string().as_bytes(), None)
            .expect_err("already bound");
        assert_eq!(e.code, 409);
        let r = delete(
            &s,
            resources::pods(),
            Some("default"),
            "a",
            &DeleteOptions::default(),
        )
        .expect("graceful");
        assert!(r.body["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 30);
        let wrong = DeleteOptions {
            grace: Some(0),
            uid: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            delete(&s, resources::pods(), Some("default"), "a", &wrong)
                .map_err(|e| e.code)
                .err(),
            Some(409)
        );
        let uid = r.body["metadata"]["uid"].as_str().map(str::to_string);
        let right = DeleteOptions {
            grace: Some(0),
            uid,
            ..Default::default()
        };
        delete(&s, resources::pods(), Some("default"), "a", &right).expect("removed");
        assert!(s.get("pods", "default", "a").is_none());
    }

    #[test]
    fn unbound_pod_goes_at_once_and_list_pages() {
        let s = store();
        let q = HashMap::new();
        for n in ["a", "b", "c"] {
            create(&s, resources::pods(), Some("default"), &pod(n), None, &q).expect("created");
        }
        let mut lq = HashMap::new();
        lq.insert("limit".to_string(), "2".to_string());
        let r = list(&s, resources::pods(), Some("default"), Shape::Object, &lq).expect("list");
        assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(r.body["metadata"]["remainingItemCount"], 1);
        let token = r.body["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_string();
        lq.insert("continue".to_string(), token);
        let r = list(&s, resources::pods(), Some("default"), Shape::Object, &lq).expect("list");
        assert_eq!(r.body["items"][0]["metadata"]["name"], "c");
        assert!(r.body["metadata"]["continue"].is_null(), "the last page");
        delete(
            &s,
            resources::pods(),
            Some("default"),
            "a",
            &DeleteOptions::default(),
        )
        .expect("deleted");
        assert!(s.get("pods", "default", "a").is_none());
    }

    #[test]
    fn patches_apply() {
        let s = store();
        let q = HashMap::new();
        create(&s, resources::pods(), Some("default"), &pod("a"), None, &q).expect("created");
        let smp = json!({"metadata": {"labels": {"l": "1"}}, "spec": {"containers": [{"name": "c", "image": "busybox:2"}]}});
        let r = patch_as(
            Requester::SYSTEM,
            &s,
            resources::pods(),
            Some("default"),
            "a",
            None,
            smp.to_string().as_bytes(),
            Some("application/strategic-merge-patch+json"),
            &q,
        )
        .expect("patched");
        assert_eq!(r.body["spec"]["containers"][0]["image"], "busybox:2");
        assert_eq!(r.body["metadata"]["labels"]["l"], "1");
        let st = json!({"status": {"phase": "Running"}});
        let r = patch_as(
            Requester::SYSTEM,
            &s,
            resources::pods(),
            Some("default"),
            "a",
            Some("status"),
            st.to_string().as_bytes(),
            Some("application/merge-patch+json"),
            &q,
        )
        .expect("status");
        assert_eq!(r.body["status"]["phase"], "Running");
        let e = patch_as(
            Requester::SYSTEM,
            &s,
            resources::pods(),
            Some("default"),
            "a",
            None,
            b"{}",
            Some("text/plain"),
            &q,
        )
        .expect_err("415");
        assert_eq!(e.code, 415);
    }
}

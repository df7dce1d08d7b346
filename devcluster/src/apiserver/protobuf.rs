//! Decoding of `application/vnd.kubernetes.protobuf` request bodies for the
//! kinds kubectl's generators send that way (`kubectl create namespace |
//! configmap | secret | serviceaccount | deployment | job | role |
//! clusterrole | rolebinding | clusterrolebinding`, `kubectl auth can-i`); kubectl sends
//! everything else as JSON. Responses are always JSON, which kubectl accepts.
//!
//! The envelope is `"k8s\0"` + `runtime.Unknown{typeMeta=1{apiVersion=1,
//! kind=2}, raw=2, contentEncoding=3, contentType=4}`; `raw` holds the object
//! as in `k8s.io/api/core/v1/generated.proto`. Field numbers below are copied
//! from those files (apimachinery `meta/v1` for ObjectMeta, Time,
//! OwnerReference). The decoder is schema-driven and skips unknown fields.

use base64::Engine;
use serde_json::{json, Map, Value};

/// How one field decodes.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Time,
    Msg(&'static [Field]),
    MapStrStr,
    MapStrBytes,
    RepStr,
    RepMsg(&'static [Field]),
    /// A non-pointer integer: gogo writes 0, Go's JSON omits it.
    Int0,
    /// A non-pointer bool: gogo writes false, Go's JSON omits it.
    Flag,
    /// `intstr.IntOrString{type=1, intVal=2, strVal=3}`.
    IntOrStr,
    /// `map<string, resource.Quantity{string=1}>`.
    MapStrQuantity,
}

type Field = (u32, &'static str, Kind);

static OWNER_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];

static OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (4, "selfLink", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int0),
    (8, "creationTimestamp", Kind::Time),
    (9, "deletionTimestamp", Kind::Time),
    (10, "deletionGracePeriodSeconds", Kind::Int),
    (11, "labels", Kind::MapStrStr),
    (12, "annotations", Kind::MapStrStr),
    (13, "ownerReferences", Kind::RepMsg(OWNER_REFERENCE)),
    (14, "finalizers", Kind::RepStr),
];

static OBJECT_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "namespace", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "fieldPath", Kind::Str),
];

static LOCAL_OBJECT_REFERENCE: &[Field] = &[(1, "name", Kind::Str)];

static NAMESPACE_CONDITION: &[Field] = &[
    (1, "type", Kind::Str),
    (2, "status", Kind::Str),
    (4, "lastTransitionTime", Kind::Time),
    (5, "reason", Kind::Str),
    (6, "message", Kind::Str),
];

static NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(&[(1, "finalizers", Kind::RepStr)])),
    (
        3,
        "status",
        Kind::Msg(&[
            (1, "phase", Kind::Str),
            (2, "conditions", Kind::RepMsg(NAMESPACE_CONDITION)),
        ]),
    ),
];

static CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapStrStr),
    (3, "binaryData", Kind::MapStrBytes),
    (4, "immutable", Kind::Bool),
];

static SECRET: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapStrBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStrStr),
    (5, "immutable", Kind::Bool),
];

static SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "secrets", Kind::RepMsg(OBJECT_REFERENCE)),
    (3, "imagePullSecrets", Kind::RepMsg(LOCAL_OBJECT_REFERENCE)),
    (4, "automountServiceAccountToken", Kind::Bool),
];

// RBAC as `kubectl create role|clusterrole|rolebinding|clusterrolebinding`
// sends it (k8s.io/api rbac/v1 generated.proto).

static POLICY_RULE: &[Field] = &[
    (1, "verbs", Kind::RepStr),
    (2, "apiGroups", Kind::RepStr),
    (3, "resources", Kind::RepStr),
    (4, "resourceNames", Kind::RepStr),
    (5, "nonResourceURLs", Kind::RepStr),
];

static ROLE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "rules", Kind::RepMsg(POLICY_RULE)),
];

static ROLE_BINDING: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "subjects",
        Kind::RepMsg(&[
            (1, "kind", Kind::Str),
            (2, "apiGroup", Kind::Str),
            (3, "name", Kind::Str),
            (4, "namespace", Kind::Str),
        ]),
    ),
    (
        3,
        "roleRef",
        Kind::Msg(&[
            (1, "apiGroup", Kind::Str),
            (2, "kind", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
];

// `kubectl auth can-i` (k8s.io/api authorization/v1 generated.proto).

static SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (
                1,
                "resourceAttributes",
                Kind::Msg(&[
                    (1, "namespace", Kind::Str),
                    (2, "verb", Kind::Str),
                    (3, "group", Kind::Str),
                    (4, "version", Kind::Str),
                    (5, "resource", Kind::Str),
                    (6, "subresource", Kind::Str),
                    (7, "name", Kind::Str),
                ]),
            ),
            (
                2,
                "nonResourceAttributes",
                Kind::Msg(&[(1, "path", Kind::Str), (2, "verb", Kind::Str)]),
            ),
        ]),
    ),
];

// Workloads as `kubectl create deployment|job` send them: the fields its
// generators set, from k8s.io/api apps/v1, batch/v1 and core/v1
// generated.proto and apimachinery's meta/v1 LabelSelector.

static LABEL_SELECTOR: &[Field] = &[
    (1, "matchLabels", Kind::MapStrStr),
    (
        2,
        "matchExpressions",
        Kind::RepMsg(&[
            (1, "key", Kind::Str),
            (2, "operator", Kind::Str),
            (3, "values", Kind::RepStr),
        ]),
    ),
];

static CONTAINER: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "image", Kind::Str),
    (3, "command", Kind::RepStr),
    (4, "args", Kind::RepStr),
    (5, "workingDir", Kind::Str),
    (
        6,
        "ports",
        Kind::RepMsg(&[
            (1, "name", Kind::Str),
            (2, "hostPort", Kind::Int0),
            (3, "containerPort", Kind::Int),
            (4, "protocol", Kind::Str),
            (5, "hostIP", Kind::Str),
        ]),
    ),
    (
        7,
        "env",
        Kind::RepMsg(&[(1, "name", Kind::Str), (2, "value", Kind::Str)]),
    ),
    (
        8,
        "resources",
        Kind::Msg(&[
            (1, "limits", Kind::MapStrQuantity),
            (2, "requests", Kind::MapStrQuantity),
        ]),
    ),
    (13, "terminationMessagePath", Kind::Str),
    (14, "imagePullPolicy", Kind::Str),
    (16, "stdin", Kind::Flag),
    (17, "stdinOnce", Kind::Flag),
    (18, "tty", Kind::Flag),
    (20, "terminationMessagePolicy", Kind::Str),
];

static POD_TEMPLATE_SPEC: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (2, "containers", Kind::RepMsg(CONTAINER)),
            (3, "restartPolicy", Kind::Str),
            (4, "terminationGracePeriodSeconds", Kind::Int),
            (5, "activeDeadlineSeconds", Kind::Int),
            (6, "dnsPolicy", Kind::Str),
            (7, "nodeSelector", Kind::MapStrStr),
            (8, "serviceAccountName", Kind::Str),
            (10, "nodeName", Kind::Str),
            (11, "hostNetwork", Kind::Flag),
            (19, "schedulerName", Kind::Str),
            (20, "initContainers", Kind::RepMsg(CONTAINER)),
        ]),
    ),
];

static DEPLOYMENT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "replicas", Kind::Int),
            (2, "selector", Kind::Msg(LABEL_SELECTOR)),
            (3, "template", Kind::Msg(POD_TEMPLATE_SPEC)),
            (
                4,
                "strategy",
                Kind::Msg(&[
                    (1, "type", Kind::Str),
                    (
                        2,
                        "rollingUpdate",
                        Kind::Msg(&[
                            (1, "maxUnavailable", Kind::IntOrStr),
                            (2, "maxSurge", Kind::IntOrStr),
                        ]),
                    ),
                ]),
            ),
            (5, "minReadySeconds", Kind::Int0),
            (6, "revisionHistoryLimit", Kind::Int),
            (7, "paused", Kind::Flag),
            (9, "progressDeadlineSeconds", Kind::Int),
        ]),
    ),
    (3, "status", Kind::Msg(&[])),
];

static JOB: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "parallelism", Kind::Int),
            (2, "completions", Kind::Int),
            (3, "activeDeadlineSeconds", Kind::Int),
            (4, "selector", Kind::Msg(LABEL_SELECTOR)),
            (5, "manualSelector", Kind::Bool),
            (6, "template", Kind::Msg(POD_TEMPLATE_SPEC)),
            (7, "backoffLimit", Kind::Int),
            (8, "ttlSecondsAfterFinished", Kind::Int),
            (9, "completionMode", Kind::Str),
            (10, "suspend", Kind::Bool),
            (14, "podReplacementPolicy", Kind::Str),
        ]),
    ),
    (3, "status", Kind::Msg(&[])),
];

static INT_OR_STRING: &[Field] = &[
    (1, "type", Kind::Int),
    (2, "intVal", Kind::Int),
    (3, "strVal", Kind::Str),
];

static TIME: &[Field] = &[(1, "seconds", Kind::Int), (2, "nanos", Kind::Int)];

/// Why a body could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not protobuf we can read (bad magic, truncated, bad wire type).
    Malformed(&'static str),
    /// A kind this decoder has no schema for.
    UnsupportedKind(String),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or(DecodeError::Malformed("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Malformed("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// Next (field number, wire type, payload): varints come back as their
    /// value in `.0` of the payload enum.
    fn next(&mut self) -> Result<Option<(u32, Payload<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| DecodeError::Malformed("field number"))?;
        let payload = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Payload::Skipped
            }
            2 => {
                let n = usize::try_from(self.varint()?)
                    .map_err(|_| DecodeError::Malformed("length"))?;
                Payload::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Payload::Skipped
            }
            _ => return Err(DecodeError::Malformed("unsupported wire type")),
        };
        Ok(Some((field, payload)))
    }
}

enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skipped,
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Malformed("invalid utf-8"))
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), DecodeError> {
    let mut r = Reader { buf: b };
    let (mut k, mut v) = (String::new(), json!(""));
    while let Some((f, p)) = r.next()? {
        if let Payload::Bytes(b) = p {
            match f {
                1 => k = utf8(b)?,
                2 if bytes_value => v = json!(base64::engine::general_purpose::STANDARD.encode(b)),
                2 => v = json!(utf8(b)?),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

/// A `map<string, Quantity>` entry: the quantity as its string.
fn quantity_entry(b: &[u8]) -> Result<(String, Value), DecodeError> {
    let mut r = Reader { buf: b };
    let (mut k, mut v) = (String::new(), json!("0"));
    while let Some((f, p)) = r.next()? {
        match (f, p) {
            (1, Payload::Bytes(b)) => k = utf8(b)?,
            (2, Payload::Bytes(b)) => {
                let q = message(b, &[(1, "string", Kind::Str)])?;
                v = q.get("string").cloned().unwrap_or(json!("0"));
            }
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, DecodeError> {
    let t = message(b, TIME)?;
    let secs = t["seconds"].as_i64().unwrap_or(0);
    if secs == 0 && t["nanos"].as_i64().unwrap_or(0) == 0 {
        // The zero metav1.Time: absent.
        return Ok(Value::Null);
    }
    let ts = jiff::Timestamp::from_second(secs)
        .map_err(|_| DecodeError::Malformed("time out of range"))?;
    Ok(json!(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn message(b: &[u8], schema: &[Field]) -> Result<Value, DecodeError> {
    let mut out = Map::new();
    let mut r = Reader { buf: b };
    while let Some((num, payload)) = r.next()? {
        let Some(&(_, name, kind)) = schema.iter().find(|(n, _, _)| *n == num) else {
            continue;
        };
        match (kind, payload) {
            (Kind::Bool, Payload::Varint(v)) => {
                out.insert(name.into(), json!(v != 0));
            }
            (Kind::Int0, Payload::Varint(0)) | (Kind::Flag, Payload::Varint(0)) => {}
            (Kind::Int0, Payload::Varint(v)) => {
                out.insert(name.into(), json!(v as i64));
            }
            (Kind::Flag, Payload::Varint(_)) => {
                out.insert(name.into(), json!(true));
            }
            (Kind::Int, Payload::Varint(v)) => {
                // int64/int32 are two's complement varints.
                out.insert(name.into(), json!(v as i64));
            }
            // gogo-protobuf writes empty non-pointer strings; Go's JSON omits them.
            (Kind::Str, Payload::Bytes(b)) => {
                let v = utf8(b)?;
                if !v.is_empty() {
                    out.insert(name.into(), json!(v));
                }
            }
            (Kind::Time, Payload::Bytes(b)) => {
                let t = time(b)?;
                if !t.is_null() {
                    out.insert(name.into(), t);
                }
            }
            (Kind::Msg(s), Payload::Bytes(b)) => {
                out.insert(name.into(), message(b, s)?);
            }
            (Kind::MapStrStr | Kind::MapStrBytes, Payload::Bytes(b)) => {
                let (k, v) = map_entry(b, matches!(kind, Kind::MapStrBytes))?;
                let m = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            (Kind::RepStr, Payload::Bytes(b)) => {
                let s = utf8(b)?;
                let a = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = a.as_array_mut() {
                    a.push(json!(s));
                }
            }
            (Kind::IntOrStr, Payload::Bytes(b)) => {
                let v = message(b, INT_OR_STRING)?;
                let value = if v["type"] == 1 {
                    json!(v["strVal"].as_str().unwrap_or_default())
                } else {
                    json!(v["intVal"].as_i64().unwrap_or(0))
                };
                out.insert(name.into(), value);
            }
            (Kind::MapStrQuantity, Payload::Bytes(b)) => {
                let (k, v) = quantity_entry(b)?;
                let m = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            (Kind::RepMsg(s), Payload::Bytes(b)) => {
                let v = message(b, s)?;
                let a = out.entry(name).or_insert_with(|| json!([]));
                if let Some(a) = a.as_array_mut() {
                    a.push(v);
                }
            }
            _ => return Err(DecodeError::Malformed("wire type does not match the field")),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body into the JSON form of the object.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or(DecodeError::Malformed("missing k8s protobuf magic"))?;
    let mut r = Reader { buf: rest };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((f, p)) = r.next()? {
        match (f, p) {
            (1, Payload::Bytes(tm)) => {
                let mut t = Reader { buf: tm };
                while let Some((tf, tp)) = t.next()? {
                    match (tf, tp) {
                        (1, Payload::Bytes(b)) => api_version = utf8(b)?,
                        (2, Payload::Bytes(b)) => kind = utf8(b)?,
                        _ => {}
                    }
                }
            }
            (2, Payload::Bytes(b)) => raw = b,
            (3, Payload::Bytes(b)) if !b.is_empty() => {
                return Err(DecodeError::Malformed(
                    "content encodings are not supported",
                ))
            }
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        ("batch/v1", "Job") => JOB,
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => ROLE_BINDING,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        _ => {
            return Err(DecodeError::UnsupportedKind(format!(
                "{api_version}, Kind={kind}"
            )))
        }
    };
    let mut obj = message(raw, schema)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_configmap_as_kubectl_sends_it() {
        let mut meta = field(1, b"c1");
        meta.extend(field(3, b"foo"));
        let mut label = field(1, b"app");
        label.extend(field(2, b"x"));
        meta.extend(field(11, &label));
        let mut entry = field(1, b"a");
        entry.extend(field(2, b"b"));
        let mut raw = field(1, &meta);
        raw.extend(field(2, &entry));
        let mut tm = field(1, b"v1");
        tm.extend(field(2, b"ConfigMap"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &tm));
        body.extend(field(2, &raw));
        let v = decode(&body).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "foo", "labels": {"app": "x"}}, "data": {"a": "b"}})
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"nope").is_err());
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        assert!(matches!(
            decode(b"k8s\0"),
            Err(DecodeError::UnsupportedKind(_))
        ));
    }
}

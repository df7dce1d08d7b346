//! `/openapi/v2`: the Swagger 2.0 document kube-apiserver serves, reduced
//! to its header (no paths, no definitions).
//!
//! kubectl needs it for one thing: `kubectl apply|create -f` of a `kind:
//! List` (what `kubectl get -o json` writes). Its field-validation verifier
//! (cli-runtime `queryParamVerifierV3.HasSupport`) answers "unsupported" for
//! `v1/List` whatever the server says, so with the default `--validate=strict`
//! kubectl validates a List client side, and that loads `/openapi/v2` as
//! protobuf (client-go `DiscoveryClient.OpenAPISchema`); a 404 there fails the
//! whole apply with "error validating data: the server could not find the
//! requested resource". Without definitions kubectl's schema validation finds
//! no model for the items and skips them (kubectl `SchemaValidation.
//! validateResource`); each item is then sent on its own with
//! `fieldValidation=Strict`, so this server still rejects unknown fields.
//!
//! The protobuf form is gnostic's `openapi.v2.Document` (field numbers from
//! google/gnostic `openapiv2/OpenAPIv2.proto`): `swagger = 1`, `info = 2`
//! with `title = 1`, `version = 2`.

use serde_json::{json, Value};

/// The `Content-Type` kube-openapi answers protobuf with, whichever
/// spelling was asked for (Go's `mime` parser rejects the `@` one, so
/// kubectl fails on it).
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// gnostic `openapi.v2.Info`, the fields we fill.
#[derive(Clone, PartialEq, prost::Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

/// gnostic `openapi.v2.Document`, the fields we fill.
#[derive(Clone, PartialEq, prost::Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
}

fn document(version: &str) -> Document {
    Document {
        swagger: "2.0".into(),
        info: Some(Info {
            title: "Kubernetes".into(),
            version: version.into(),
        }),
    }
}

/// Whether an `Accept` header asks for the protobuf form.
pub fn wants_protobuf(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            part.split(';')
                .next()
                .is_some_and(|m| m.trim().contains("proto-openapi"))
        })
    })
}

/// The document as protobuf.
pub fn protobuf(version: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&document(version))
}

/// The document as JSON.
pub fn json(version: &str) -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": {},
        "definitions": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The media type kubectl asks for (`Accept`; kube-openapi's deprecated
    /// spelling, which it still accepts).
    const PROTOBUF_ACCEPT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

    #[test]
    fn protobuf_is_gnostics_document_header() {
        // swagger (1) = "2.0"; info (2) = {title (1) "Kubernetes", version (2) "v1"}.
        let mut want = vec![0x0a, 3];
        want.extend_from_slice(b"2.0");
        want.extend_from_slice(&[0x12, 16, 0x0a, 10]);
        want.extend_from_slice(b"Kubernetes");
        want.extend_from_slice(&[0x12, 2]);
        want.extend_from_slice(b"v1");
        assert_eq!(protobuf("v1"), want);
    }

    #[test]
    fn protobuf_is_chosen_by_kubectls_accept_header() {
        assert!(wants_protobuf(Some(PROTOBUF_ACCEPT)));
        assert!(wants_protobuf(Some(PROTOBUF_CONTENT_TYPE)));
        assert!(wants_protobuf(Some(
            "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        )));
        assert!(!wants_protobuf(Some("application/json")));
        assert!(!wants_protobuf(None));
    }
}

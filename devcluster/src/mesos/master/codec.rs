//! Content types and the bytes of calls and events.
//!
//! The master accepts and answers `application/x-protobuf` and
//! `application/json` (Mesos' JSON mapping, [`kube_mesos_proto::json`]).
//! Streams are RecordIO: every event is `<length>\n<bytes>`. These are pure
//! functions over bytes so the HTTP handlers stay thin.

use http::HeaderMap;
use kube_mesos_proto::{json, recordio};
use prost::Message;

/// `application/x-protobuf`.
pub const APPLICATION_PROTOBUF: &str = "application/x-protobuf";
/// `application/json`.
pub const APPLICATION_JSON: &str = "application/json";

/// The two media types Mesos speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl ContentType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Protobuf => APPLICATION_PROTOBUF,
            ContentType::Json => APPLICATION_JSON,
        }
    }
}

/// Why a request body could not be turned into a call; the text is what
/// Mesos answers with 400/415.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    /// No `Content-Type` header (400).
    MissingContentType,
    /// A content type other than protobuf or JSON (415).
    UnsupportedContentType,
    /// The body did not parse (400).
    Malformed(String),
}

/// Reads the request's `Content-Type` as Mesos does (an exact match).
pub fn request_content_type(headers: &HeaderMap) -> Result<ContentType, BodyError> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Err(BodyError::MissingContentType);
    };
    match value.to_str().map(str::trim) {
        Ok(APPLICATION_PROTOBUF) => Ok(ContentType::Protobuf),
        Ok(APPLICATION_JSON) => Ok(ContentType::Json),
        _ => Err(BodyError::UnsupportedContentType),
    }
}

/// The media type of the answer: JSON if `Accept` allows it, else
/// protobuf if allowed, else `None` (406). A missing `Accept` allows all.
pub fn accept_type(headers: &HeaderMap) -> Option<ContentType> {
    let accepts: Vec<String> = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    if accepts.is_empty() {
        return Some(ContentType::Json);
    }
    let allows = |t: &str| {
        accepts
            .iter()
            .any(|a| a == t || a == "*/*" || a == "application/*")
    };
    if allows(APPLICATION_JSON) {
        Some(ContentType::Json)
    } else if allows(APPLICATION_PROTOBUF) {
        Some(ContentType::Protobuf)
    } else {
        None
    }
}

/// Decodes a call body with Mesos' error texts.
pub fn decode_call<M: Message + prost::Name + Default>(
    content_type: ContentType,
    body: &[u8],
) -> Result<M, BodyError> {
    match content_type {
        ContentType::Protobuf => M::decode(body)
            .map_err(|_| BodyError::Malformed("Failed to parse body into Call protobuf".into())),
        ContentType::Json => {
            let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                BodyError::Malformed(format!("Failed to parse body into JSON: {e}"))
            })?;
            json::from_json_value::<M>(value).map_err(|e| {
                BodyError::Malformed(format!(
                    "Failed to convert JSON into Call protobuf: {}",
                    error_chain(&e)
                ))
            })
        }
    }
}

/// Encodes a message in the given media type (no framing).
pub fn encode<M: Message + prost::Name>(content_type: ContentType, msg: &M) -> Vec<u8> {
    match content_type {
        ContentType::Protobuf => msg.encode_to_vec(),
        ContentType::Json => match json::to_json(msg) {
            Ok(v) => serde_json::to_vec(&v).unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "encoding an event as JSON failed");
                b"{}".to_vec()
            }
        },
    }
}

/// Encodes a message as one RecordIO record.
pub fn encode_record<M: Message + prost::Name>(content_type: ContentType, msg: &M) -> Vec<u8> {
    recordio::encode(&encode(content_type, msg))
}

/// An error and its sources, joined by `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::scheduler::{call, Call};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn content_type_is_matched_exactly() {
        assert_eq!(
            request_content_type(&headers(&[("content-type", "application/json")])),
            Ok(ContentType::Json)
        );
        assert_eq!(
            request_content_type(&headers(&[("content-type", "text/plain")])),
            Err(BodyError::UnsupportedContentType)
        );
        assert_eq!(
            request_content_type(&HeaderMap::new()),
            Err(BodyError::MissingContentType)
        );
    }

    #[test]
    fn accept_prefers_json_then_protobuf() {
        assert_eq!(accept_type(&HeaderMap::new()), Some(ContentType::Json));
        assert_eq!(
            accept_type(&headers(&[("accept", "application/x-protobuf")])),
            Some(ContentType::Protobuf)
        );
        assert_eq!(accept_type(&headers(&[("accept", "text/html")])), None);
    }

    #[test]
    fn garbled_bodies_are_errors_not_panics() {
        let r = decode_call::<Call>(ContentType::Protobuf, b"\xff\xff\xff\xff");
        assert!(matches!(r, Err(BodyError::Malformed(_))));
        let r = decode_call::<Call>(ContentType::Json, b"{not json");
        assert!(
            matches!(r, Err(BodyError::Malformed(m)) if m.starts_with("Failed to parse body into JSON"))
        );
        let ok = decode_call::<Call>(ContentType::Json, br#"{"type":"SUBSCRIBE"}"#).unwrap();
        assert_eq!(ok.r#type(), call::Type::Subscribe);
    }
}

//! What Mesos' read-only JSON endpoints share: the `OK(json, jsonp)`
//! response of libprocess and the query-string helpers.
//!
//! libprocess answers these endpoints for any method, as
//! `application/json`, or as `text/javascript` `callback(json)` when the
//! `jsonp` query parameter names a callback
//! (`3rdparty/libprocess/src/http.cpp`, `OK::OK(JSON::Value, jsonp)`).

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The decoded query parameters of a request (last one wins, as in
/// libprocess' `hashmap`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    /// Parses the query string of `uri`.
    pub fn of(uri: &Uri) -> Query {
        Query(
            url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// stout's `numify<int>` of `name` converted to `size_t` as Mesos does:
    /// absent or unparsable gives `default`; a negative number wraps to a
    /// huge size, which in practice means "no limit" / "past the end".
    pub fn size(&self, name: &str, default: usize) -> usize {
        match self.get(name).map(str::parse::<i32>) {
            Some(Ok(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            _ => default,
        }
    }
}

/// libprocess' `OK(json, jsonp)`.
pub fn ok_json(value: &Value, jsonp: Option<&str>) -> Response {
    let text = value.to_string();
    let (body, content_type) = match jsonp {
        Some(callback) => (format!("{callback}({text})"), "text/javascript"),
        None => (text, "application/json"),
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_sizes_follow_numify_and_size_t() {
        let q = Query::of(&"/x?limit=5&offset=-1&order=asc&bad=x1".parse().unwrap());
        assert_eq!(q.size("limit", 100), 5);
        assert_eq!(q.size("offset", 0), usize::MAX);
        assert_eq!(q.size("bad", 7), 7);
        assert_eq!(q.size("missing", 100), 100);
        assert_eq!(q.get("order"), Some("asc"));
        let q = Query::of(&"/x?task_id=pod.a%2Fb".parse().unwrap());
        assert_eq!(q.get("task_id"), Some("pod.a/b"));
    }

    #[tokio::test]
    async fn jsonp_wraps_the_body_in_the_callback() {
        let r = ok_json(&serde_json::json!({"a": 1}), Some("cb"));
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/javascript");
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"cb({\"a\":1})");
        let r = ok_json(&serde_json::json!([]), None);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}

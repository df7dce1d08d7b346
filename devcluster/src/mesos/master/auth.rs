//! HTTP framework authentication as Mesos' `basic` authenticator does it
//! (`--authenticate_http_frameworks --http_framework_authenticators=basic
//! --credentials=FILE`): libprocess checks the `Authorization: Basic`
//! header against the credentials before the scheduler endpoint's handler
//! runs, and answers 401 with a challenge for the realm
//! `mesos-master-scheduler` when it is missing or wrong.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// Mesos' `DEFAULT_HTTP_FRAMEWORK_AUTHENTICATION_REALM`.
pub const SCHEDULER_REALM: &str = "mesos-master-scheduler";

/// Principal → secret, as in Mesos' `--credentials`.
pub type Credentials = BTreeMap<String, String>;

/// Reads a Mesos credentials file: JSON (`{"credentials": [{"principal":
/// .., "secret": ..}]}`) or text, one `principal secret` per line. A
/// `file://` prefix is accepted, as Mesos' path flags do.
pub fn read_credentials(path: &str) -> Result<Credentials, String> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    let text = std::fs::read_to_string(Path::new(path))
        .map_err(|e| format!("reading credentials {path}: {e}"))?;
    parse_credentials(&text)
}

/// Parses either credentials format (see [`read_credentials`]).
pub fn parse_credentials(text: &str) -> Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    struct File {
        credentials: Vec<Credential>,
    }
    #[derive(serde::Deserialize)]
    struct Credential {
        principal: String,
        #[serde(default)]
        secret: String,
    }
    if text.trim_start().starts_with('{') {
        let file: File =
            serde_json::from_str(text).map_err(|e| format!("credentials JSON is invalid: {e}"))?;
        return Ok(file
            .credentials
            .into_iter()
            .map(|c| (c.principal, c.secret))
            .collect());
    }
    let mut credentials = Credentials::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(principal), Some(secret), None) => {
                credentials.insert(principal.to_owned(), secret.to_owned());
            }
            _ => return Err(format!("invalid credential line {line:?}")),
        }
    }
    Ok(credentials)
}

/// The principal a request authenticates as; `None` means answer with
/// [`unauthorized`].
pub fn authenticate(credentials: &Credentials, headers: &HeaderMap) -> Option<String> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    if let Some((principal, secret)) = presented.as_deref().and_then(|p| p.split_once(':')) {
        if credentials.get(principal).map(String::as_str) == Some(secret) {
            return Some(principal.to_owned());
        }
    }
    None
}

/// The 401 with a challenge for the scheduler realm.
pub fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "401 Unauthorized.").into_response();
    let headers = r.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{SCHEDULER_REALM}\"")) {
        headers.insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        );
        h.insert(http::header::AUTHORIZATION, v.parse().expect("header"));
        h
    }

    #[test]
    fn both_credential_formats_parse() {
        let json = parse_credentials(r#"{"credentials":[{"principal":"kube","secret":"s"}]}"#);
        assert_eq!(json.expect("json")["kube"], "s");
        let text = parse_credentials("kube s\nother t\n").expect("text");
        assert_eq!(text.len(), 2);
        assert!(parse_credentials("one two three").is_err());
    }

    #[test]
    fn only_a_known_principal_with_its_secret_passes() {
        let creds = parse_credentials("kube s3cret").expect("creds");
        assert_eq!(
            authenticate(&creds, &basic("kube:s3cret")).as_deref(),
            Some("kube")
        );
        for bad in [basic("kube:wrong"), basic("other:s3cret"), HeaderMap::new()] {
            assert_eq!(authenticate(&creds, &bad), None);
        }
        let r = unauthorized();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[http::header::WWW_AUTHENTICATE],
            "Basic realm=\"mesos-master-scheduler\""
        );
    }
}

//! Following a non-leading master's redirect.
//!
//! A Mesos master that is not the leader answers 307 with a scheme-relative
//! `Location: //leader-host:port/api/v1/scheduler` (see `Master::Http::redirect`
//! in apache/mesos `src/master/http.cpp`; the operator API's `/api/v1` the
//! same), leaving the scheme to the client.
//! reqwest would resolve it against the request URL correctly only by luck,
//! and would replay the POST with its body on its own terms, so the client
//! disables automatic redirects and resolves `Location` here: scheme-relative
//! keeps the original scheme, an absolute URL is taken as is, a relative path
//! is joined to the original URL.

use url::Url;

/// Resolves a `Location` header against the URL that was requested. Returns
/// `None` for a location that is not a usable http(s) URL.
pub fn resolve_location(requested: &Url, location: &str) -> Option<Url> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    // `Url::join` implements RFC 3986 reference resolution: `//host:port/p`
    // keeps the base's scheme, `/p` keeps scheme and authority, and an
    // absolute URL replaces the base.
    let resolved = requested.join(location).ok()?;
    if !matches!(resolved.scheme(), "http" | "https") || resolved.host().is_none() {
        return None;
    }
    Some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn scheme_relative_keeps_the_scheme() {
        let r = requested("http://m1:5050/api/v1/scheduler");
        assert_eq!(
            resolve_location(&r, "//m2:5051/api/v1/scheduler")
                .unwrap()
                .as_str(),
            "http://m2:5051/api/v1/scheduler"
        );
        let r = requested("https://m1:5050/api/v1/scheduler");
        assert_eq!(
            resolve_location(&r, "//m2:5051/api/v1/scheduler")
                .unwrap()
                .as_str(),
            "https://m2:5051/api/v1/scheduler"
        );
    }

    #[test]
    fn absolute_and_relative_locations() {
        let r = requested("http://m1:5050/api/v1/scheduler");
        assert_eq!(
            resolve_location(&r, "https://m3/api/v1/scheduler")
                .unwrap()
                .as_str(),
            "https://m3/api/v1/scheduler"
        );
        assert_eq!(
            resolve_location(&r, "/master/api/v1/scheduler")
                .unwrap()
                .as_str(),
            "http://m1:5050/master/api/v1/scheduler"
        );
    }

    #[test]
    fn unusable_locations() {
        let r = requested("http://m1:5050/api/v1/scheduler");
        assert_eq!(resolve_location(&r, ""), None);
        assert_eq!(resolve_location(&r, "ftp://m2/x"), None);
        assert_eq!(resolve_location(&r, "//[bad/x"), None);
    }
}

//! Who may use the kubelet endpoint.
//!
//! The kubelet authenticates every request on its port (bearer token or a
//! client certificate signed by `--client-ca-file`) and answers 401
//! "Unauthorized" otherwise. The API server proxies `kubectl logs` here with
//! its kubelet client credentials: a token (what the devcluster API server
//! sends) or a client certificate. The TLS layer has already verified any
//! client certificate against the configured CA, so the decision itself is
//! this pure function.

use subtle::ConstantTimeEq;

use crate::config::KubeletAuth;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authenticated {
    /// The configured bearer token.
    Token,
    /// A client certificate signed by the configured CA.
    ClientCertificate,
    /// Anonymous access is enabled.
    Anonymous,
}

/// The request is not authenticated: 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

/// Decides on a request from its `Authorization` header and whether the
/// TLS layer verified a client certificate.
pub fn authenticate(
    auth: &KubeletAuth,
    authorization: Option<&str>,
    verified_client_cert: bool,
) -> Result<Authenticated, Unauthorized> {
    if let (Some(expected), Some(header)) = (&auth.token, authorization) {
        let mut parts = header.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let token = parts.next().unwrap_or_default().trim();
        if scheme.eq_ignore_ascii_case("bearer")
            && !token.is_empty()
            && bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
        {
            return Ok(Authenticated::Token);
        }
    }
    if verified_client_cert && auth.client_ca_file.is_some() {
        return Ok(Authenticated::ClientCertificate);
    }
    if auth.anonymous {
        return Ok(Authenticated::Anonymous);
    }
    Err(Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_auth() -> KubeletAuth {
        KubeletAuth {
            token: Some("s3cret".into()),
            ..Default::default()
        }
    }

    #[test]
    fn bearer_token_must_match() {
        let a = token_auth();
        assert_eq!(
            authenticate(&a, Some("Bearer s3cret"), false),
            Ok(Authenticated::Token)
        );
        assert_eq!(
            authenticate(&a, Some("bearer s3cret"), false),
            Ok(Authenticated::Token)
        );
        assert_eq!(
            authenticate(&a, Some("Bearer wrong"), false),
            Err(Unauthorized)
        );
        assert_eq!(
            authenticate(&a, Some("Basic s3cret"), false),
            Err(Unauthorized)
        );
        assert_eq!(authenticate(&a, Some("Bearer "), false), Err(Unauthorized));
        assert_eq!(authenticate(&a, None, false), Err(Unauthorized));
        assert_eq!(Unauthorized.to_string(), "Unauthorized");
    }

    #[test]
    fn client_certificates_count_only_with_a_configured_ca() {
        assert_eq!(authenticate(&token_auth(), None, true), Err(Unauthorized));
        let a = KubeletAuth {
            client_ca_file: Some("/ca.pem".into()),
            ..Default::default()
        };
        assert_eq!(
            authenticate(&a, None, true),
            Ok(Authenticated::ClientCertificate)
        );
        assert_eq!(authenticate(&a, None, false), Err(Unauthorized));
    }

    #[test]
    fn anonymous_only_when_enabled() {
        let a = KubeletAuth {
            anonymous: true,
            ..Default::default()
        };
        assert_eq!(authenticate(&a, None, false), Ok(Authenticated::Anonymous));
        assert_eq!(
            authenticate(&KubeletAuth::default(), None, false),
            Err(Unauthorized)
        );
    }
}

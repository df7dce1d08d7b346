//! Credentials sent with every request: HTTP Basic for frameworks and
//! operators (a master with `--authenticate_http_frameworks`), a Bearer
//! token for executors (`MESOS_EXECUTOR_AUTHENTICATION_TOKEN`). Neither
//! `Debug` prints the secret.

/// HTTP Basic credentials for a master that authenticates frameworks.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The framework's principal (also put it in `FrameworkInfo.principal`).
    pub principal: String,
    /// The secret; may be empty.
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// How requests authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Basic` with a principal and secret.
    Basic(Credential),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic(credential) => f.debug_tuple("Basic").field(credential).finish(),
            Auth::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

impl Auth {
    /// Adds the credentials to a request.
    pub(crate) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Basic(c) => request.basic_auth(&c.principal, Some(&c.secret)),
            Auth::Bearer(token) => request.bearer_auth(token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credential {
            principal: "p".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Auth::Basic(c)).contains("hunter2"));
        assert!(!format!("{:?}", Auth::Bearer("tok3n".into())).contains("tok3n"));
    }
}

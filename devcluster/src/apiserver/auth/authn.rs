//! Authentication, as kube-apiserver's union of authenticators: a client
//! certificate signed by the server's CA (`CN` = user, `O` = groups), else
//! a bearer token — the admin token, a static token (`--token-auth-file`)
//! or a bootstrap token (a `bootstrap.kubernetes.io/token` Secret in
//! `kube-system`). A request with none is refused with 401 (anonymous
//! access is off); so is a token nobody knows.

use base64::Engine;
use serde_json::Value;

use super::user::{UserInfo, BOOTSTRAPPERS, MASTERS};
use crate::apiserver::store::Store;

/// The admin's user name (kubeadm's `kubernetes-admin`).
pub const ADMIN_USER: &str = "kube-mesos-admin";

/// A bearer token and whom it authenticates.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The token.
    pub token: String,
    /// Its user.
    pub user: UserInfo,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &"<redacted>")
            .field("user", &self.user.name)
            .finish()
    }
}

/// The user of the admin token.
pub fn admin() -> UserInfo {
    UserInfo::new(ADMIN_USER, &[MASTERS])
}

/// Compares secrets without an early exit on the first differing byte.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The user of a bearer token, if it is one the server knows.
pub fn user_of_token(
    store: &Store,
    admin_token: &str,
    tokens: &[StaticToken],
    token: &str,
    now: jiff::Timestamp,
) -> Option<UserInfo> {
    if !admin_token.is_empty() && same_secret(token, admin_token) {
        return Some(admin());
    }
    if let Some(t) = tokens.iter().find(|t| same_secret(token, &t.token)) {
        return Some(t.user.clone());
    }
    bootstrap_token_user(store, token, now)
}

fn is_token_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn secret_field(secret: &Value, key: &str) -> Option<String> {
    let raw = secret["data"][key].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()
}

/// The bootstrap token authenticator
/// (`plugin/pkg/auth/authenticator/token/bootstrap`): `<id>.<secret>`
/// matching Secret `kube-system/bootstrap-token-<id>` that is not expired,
/// not being deleted and allowed for authentication.
pub fn bootstrap_token_user(store: &Store, token: &str, now: jiff::Timestamp) -> Option<UserInfo> {
    let (id, secret) = token.split_once('.')?;
    if !is_token_part(id, 6) || !is_token_part(secret, 16) {
        return None;
    }
    let obj = store.get("secrets", "kube-system", &format!("bootstrap-token-{id}"))?;
    if obj["type"].as_str() != Some("bootstrap.kubernetes.io/token")
        || !obj["metadata"]["deletionTimestamp"].is_null()
    {
        return None;
    }
    if !same_secret(&secret_field(&obj, "token-secret")?, secret)
        || secret_field(&obj, "token-id").is_some_and(|i| i != id)
        || secret_field(&obj, "usage-bootstrap-authentication").as_deref() != Some("true")
    {
        return None;
    }
    if let Some(exp) = secret_field(&obj, "expiration") {
        match exp.parse::<jiff::Timestamp>() {
            Ok(t) if t > now => {}
            _ => return None,
        }
    }
    let mut user = UserInfo::new(format!("system:bootstrap:{id}"), &[BOOTSTRAPPERS]);
    for g in secret_field(&obj, "auth-extra-groups")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if !g.starts_with("system:bootstrappers:") {
            return None;
        }
        user.add_group(g);
    }
    Some(user)
}

/// The user of a client certificate the TLS layer verified against the
/// CA: `CN` is the name, each `O` a group.
pub fn user_of_certificate(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    if name.is_empty() {
        return None;
    }
    let groups: Vec<&str> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .collect();
    Some(UserInfo::new(name, &groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::store::Mutation;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn put_token(store: &Store, expiration: Option<&str>, groups: &str) {
        let mut data = json!({
            "token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef"),
            "usage-bootstrap-authentication": b64("true"), "auth-extra-groups": b64(groups)});
        if let Some(e) = expiration {
            data["expiration"] = json!(b64(e));
        }
        let s = json!({"metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
                       "type": "bootstrap.kubernetes.io/token", "data": data});
        store
            .mutate("secrets", "kube-system", "bootstrap-token-abcdef", |_| {
                Ok(Mutation::Put(s))
            })
            .expect("put");
    }

    #[test]
    fn bootstrap_tokens_authenticate_until_they_expire() {
        let store = Store::in_memory(10);
        let now: jiff::Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        put_token(
            &store,
            Some("2030-01-01T01:00:00Z"),
            "system:bootstrappers:kube-mesos",
        );
        let u = bootstrap_token_user(&store, "abcdef.0123456789abcdef", now).expect("valid");
        assert_eq!(u.name, "system:bootstrap:abcdef");
        assert!(u.in_group("system:bootstrappers:kube-mesos"));
        assert!(u.in_group(BOOTSTRAPPERS));
        assert!(bootstrap_token_user(&store, "abcdef.0123456789abcdee", now).is_none());
        let later: jiff::Timestamp = "2030-01-01T02:00:00Z".parse().unwrap();
        assert!(bootstrap_token_user(&store, "abcdef.0123456789abcdef", later).is_none());
        put_token(&store, None, "not-a-bootstrap-group");
        assert!(bootstrap_token_user(&store, "abcdef.0123456789abcdef", now).is_none());
    }

    #[test]
    fn tokens_map_to_their_users() {
        let store = Store::in_memory(10);
        let sa = StaticToken {
            token: "fw-token".into(),
            user: UserInfo::service_account("kube-mesos", "fw"),
        };
        let now = jiff::Timestamp::now();
        assert_eq!(
            user_of_token(&store, "admin", std::slice::from_ref(&sa), "admin", now)
                .unwrap()
                .name,
            ADMIN_USER
        );
        assert_eq!(
            user_of_token(&store, "admin", std::slice::from_ref(&sa), "fw-token", now),
            Some(sa.user.clone())
        );
        assert!(user_of_token(&store, "admin", &[sa], "nope", now).is_none());
        assert!(!format!(
            "{:?}",
            StaticToken {
                token: "s3cret".into(),
                user: admin()
            }
        )
        .contains("s3cret"));
    }
}

//! Object-metadata helpers shared by every resource: timestamps, names,
//! uids and the `generateName` suffix, with kube-apiserver's exact messages.

use rand::Rng;
use serde_json::{json, Value};

use super::error::FieldError;

/// Now, as a `metav1.Time` string (RFC 3339, seconds).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Now plus `secs`, as a `metav1.Time` string.
pub fn now_plus(secs: i64) -> String {
    let t = jiff::Timestamp::now();
    let t = t
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or(t);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Seconds since a `metav1.Time` string; `None` if absent or unparsable.
pub fn age_secs(ts: &Value) -> Option<i64> {
    let t: jiff::Timestamp = ts.as_str()?.parse().ok()?;
    let d = jiff::Timestamp::now().duration_since(t);
    Some(d.as_secs())
}

/// A fresh object uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The 5-character suffix kube-apiserver appends to `generateName`
/// (`utilrand.String(5)`: consonants and digits without look-alikes).
pub fn generate_suffix() -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHANUMS[rng.random_range(0..ALPHANUMS.len())] as char)
        .collect()
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// Whether `s` is an RFC 1123 label.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(is_label_char)
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is an RFC 1123 subdomain (`IsDNS1123Subdomain`: at most 253
/// characters matching the regex; unlike a label, a part between dots has
/// no length limit of its own, so a 253-character pod name is valid).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(is_label_char)
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

/// Validates a subdomain-style value at `field`.
pub fn check_subdomain(field: &str, s: &str, errs: &mut Vec<FieldError>) {
    if s.len() > 253 {
        errs.push(FieldError::invalid(
            field,
            json!(s),
            "must be no more than 253 characters",
        ));
    } else if !is_dns1123_subdomain(s) {
        errs.push(FieldError::invalid(field, json!(s), SUBDOMAIN_MSG));
    }
}

/// Validates a label-style value at `field`.
pub fn check_label(field: &str, s: &str, errs: &mut Vec<FieldError>) {
    if s.len() > 63 {
        errs.push(FieldError::invalid(
            field,
            json!(s),
            "must be no more than 63 characters",
        ));
    } else if !is_dns1123_label(s) {
        errs.push(FieldError::invalid(field, json!(s), LABEL_MSG));
    }
}

/// Seconds as Kubernetes prints ages (`duration.HumanDuration`).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    if s < 60 * 2 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rs = s % 60;
        return if rs == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rs}s")
        };
    }
    if m < 60 * 3 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        let rm = m % 60;
        return if rm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rm}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let rh = h % 24;
        let d = h / 24;
        return if rh == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rh}h")
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    if h < 24 * 365 * 8 {
        let y = h / 24 / 365;
        let dy = (h / 24) % 365;
        return if dy == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{dy}d")
        };
    }
    format!("{}y", h / 24 / 365)
}

/// `translateTimestampSince`: "<unknown>" for a missing timestamp.
pub fn age(ts: &Value) -> String {
    match age_secs(ts) {
        Some(s) => human_duration(s),
        None => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("Foo"));
        assert!(is_dns1123_subdomain(&"n".repeat(253)), "no per-part limit");
        assert!(!is_dns1123_subdomain(&"n".repeat(254)));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label("-a"));
    }

    #[test]
    fn durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(130), "2m10s");
        assert_eq!(human_duration(3600 * 3 + 60), "3h1m");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(86400 * 3 + 3600), "3d1h");
    }

    #[test]
    fn suffix_shape() {
        let s = generate_suffix();
        assert_eq!(s.len(), 5);
    }
}

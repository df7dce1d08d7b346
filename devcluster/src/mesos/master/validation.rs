//! FrameworkInfo and role validation, with Mesos' texts
//! (apache/mesos `src/master/validation.cpp`, `src/common/roles.cpp`).
//! Refusals are sent to the scheduler as an ERROR event, so the words matter.

// `FrameworkInfo.role` is deprecated upstream yet still validated by Mesos.
#![allow(deprecated)]

use std::collections::BTreeSet;

use kube_mesos_proto::v1::{framework_info, FrameworkInfo};

use super::state::roles_of;

/// Validates a role name as Mesos' `roles::validate` (src/common/roles.cpp).
fn validate_role(role: &str) -> Option<String> {
    if role == "*" {
        return None;
    }
    if role.starts_with('/') {
        return Some(format!("Role '{role}' cannot start with a slash"));
    }
    if role.ends_with('/') {
        return Some(format!("Role '{role}' cannot end with a slash"));
    }
    if role.contains("//") {
        return Some(format!("Role '{role}' cannot contain two adjacent slashes"));
    }
    let components: Vec<&str> = role.split('/').filter(|c| !c.is_empty()).collect();
    if components.is_empty() {
        return Some("Role names cannot be the empty string".into());
    }
    for c in components {
        if c == "." || c == ".." || c == "*" {
            return Some(format!("Role '{role}' cannot include '{c}' as a component"));
        }
        if c.starts_with('-') {
            return Some(format!(
                "Role component '{c}' is invalid because it starts with a dash"
            ));
        }
        if c.chars()
            .any(|ch| matches!(ch, '\x09'..='\x0d' | ' ' | '\x7f'))
        {
            return Some(format!(
                "Role component '{c}' is invalid because it contains backspace or whitespace"
            ));
        }
    }
    None
}

/// stout's `stringify(std::set<string>)`: `{ a, b }`.
fn stringify_set<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let set: BTreeSet<&String> = items.into_iter().collect();
    let names: Vec<&str> = set.iter().map(|s| s.as_str()).collect();
    format!("{{ {} }}", names.join(", "))
}

/// Mesos' `validateFramework` and friends, minus authorization.
pub fn validate_framework_info(
    info: &FrameworkInfo,
    suppressed: &[String],
    whitelist: Option<&BTreeSet<String>>,
) -> Option<String> {
    let multi = info
        .capabilities
        .iter()
        .any(|c| c.r#type() == framework_info::capability::Type::MultiRole);
    if multi {
        if info.role.is_some() {
            return Some(
                "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
                    .into(),
            );
        }
        let mut seen = BTreeSet::new();
        let duplicates: Vec<&String> = info.roles.iter().filter(|r| !seen.insert(*r)).collect();
        if !duplicates.is_empty() {
            return Some(format!(
                "'FrameworkInfo.roles' contains duplicate items: {}",
                stringify_set(duplicates)
            ));
        }
        for role in &info.roles {
            if let Some(e) = validate_role(role) {
                return Some(format!("'FrameworkInfo.roles' contains invalid role: {e}"));
            }
        }
    } else {
        if !info.roles.is_empty() {
            return Some(
                "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
                    .into(),
            );
        }
        if let Some(e) = validate_role(info.role()) {
            return Some(format!("'FrameworkInfo.role' is not a valid role: {e}"));
        }
    }
    let roles = roles_of(info);
    if let Some(list) = whitelist {
        let invalid: BTreeSet<&String> = roles
            .iter()
            .filter(|r| r.as_str() != "*" && !list.contains(*r))
            .collect();
        if !invalid.is_empty() {
            return Some(format!(
                "Roles {} are not present in the master's --roles",
                stringify_set(invalid)
            ));
        }
    }
    // stout's `Duration::create`: any finite value that fits in i64 nanoseconds.
    let ft = info.failover_timeout();
    if !ft.is_finite() || (ft * 1e9).abs() >= i64::MAX as f64 {
        return Some(format!("The framework failover_timeout ({ft}) is invalid"));
    }
    let invalid_suppressed: Vec<&String> =
        suppressed.iter().filter(|r| !roles.contains(r)).collect();
    if !invalid_suppressed.is_empty() {
        return Some(format!(
            "Suppressed roles {} are not contained in the set of roles",
            stringify_set(invalid_suppressed)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_validation_follows_mesos() {
        assert!(validate_role("*").is_none());
        assert!(validate_role("spark/streaming").is_none());
        assert!(validate_role("").is_some());
        assert!(validate_role("-a").is_some());
        assert!(validate_role("a/../b").is_some());
        assert!(validate_role("a b").is_some());
    }

    #[test]
    fn whitelisted_roles_are_enforced() {
        let info = FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            roles: vec!["web".into(), "bad".into()],
            capabilities: vec![framework_info::Capability {
                r#type: Some(framework_info::capability::Type::MultiRole as i32),
            }],
            ..Default::default()
        };
        let list = BTreeSet::from(["web".to_owned()]);
        assert_eq!(
            validate_framework_info(&info, &[], Some(&list)),
            Some("Roles { bad } are not present in the master's --roles".into())
        );
        assert!(validate_framework_info(&info, &[], None).is_none());
        assert!(validate_framework_info(&info, &["x".into()], None).is_some());
    }
}

//! A Node's labels and architecture from its Mesos agent.
//!
//! Labels: `kubernetes.io/hostname`, `kubernetes.io/os=linux`, one label
//! per text or scalar agent attribute (those that are valid label keys and
//! values), `topology.kubernetes.io/region`/`zone` from the agent's fault
//! domain, and `kubernetes.io/arch` when the architecture is known.
//!
//! **Architecture.** Mesos does not tell a framework an agent's
//! architecture: only the agent's operator can, with an `arch` attribute
//! (`--attributes=arch:arm64`), and the executor, which runs on the agent,
//! knows its own host's. [`node_arch`] is the rule both sides follow: the
//! `arch` attribute when the agent has one, else the architecture of the
//! host the Node's kubelet (the executor) runs on, else unknown. The
//! framework, which runs elsewhere, passes no host: it must never guess from
//! its own machine (on a mixed-architecture pool, nodeSelector and affinity
//! would send pods to the wrong agents). So the framework writes the arch of
//! an agent with an `arch` attribute, and the executor writes the same one,
//! or its host's when there is none; they never write different values.

use std::collections::BTreeMap;

use kube_mesos_proto::v1::{value, Attribute, DomainInfo};

/// The Node label of the architecture (`kubernetes.io/arch`).
pub const LABEL_ARCH: &str = "kubernetes.io/arch";
/// The agent attribute that names an agent's architecture.
pub const ATTRIBUTE_ARCH: &str = "arch";

/// The labels of the Node of an agent with this hostname, these attributes
/// and this fault domain (see the module docs). Used for the Node the
/// framework writes and, before that Node exists, by placement on offers, so
/// both see the same labels.
pub fn node_labels(
    hostname: &str,
    attributes: &[Attribute],
    domain: Option<&DomainInfo>,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for a in attributes {
        let v = if a.r#type == value::Type::Text as i32 {
            a.text.as_ref().map(|t| t.value.clone())
        } else if a.r#type == value::Type::Scalar as i32 {
            a.scalar.map(|s| format_scalar(s.value))
        } else {
            None
        };
        if let Some(v) = v.filter(|v| valid_label_key(&a.name) && valid_label_value(v)) {
            labels.insert(a.name.clone(), v);
        }
    }
    if let Some(fd) = domain.and_then(|d| d.fault_domain.as_ref()) {
        for (key, v) in [
            ("topology.kubernetes.io/region", &fd.region.name),
            ("topology.kubernetes.io/zone", &fd.zone.name),
        ] {
            if valid_label_value(v) {
                labels.insert(key.to_owned(), v.clone());
            }
        }
    }
    if valid_label_value(hostname) {
        labels.insert("kubernetes.io/hostname".to_owned(), hostname.to_owned());
    }
    labels.insert("kubernetes.io/os".to_owned(), "linux".to_owned());
    if let Some(arch) = node_arch(attributes, None) {
        labels.insert(LABEL_ARCH.to_owned(), arch);
    }
    labels
}

/// The architecture of an agent's Node, GOARCH-spelled: its `arch`
/// attribute, else `kubelet_host` (the architecture of the machine the
/// executor runs on; `None` from anywhere else), else unknown.
pub fn node_arch(attributes: &[Attribute], kubelet_host: Option<&str>) -> Option<String> {
    attributes
        .iter()
        .find(|a| a.name == ATTRIBUTE_ARCH && a.r#type == value::Type::Text as i32)
        .and_then(|a| a.text.as_ref())
        .map(|t| t.value.trim())
        .filter(|v| !v.is_empty() && valid_label_value(v))
        .or(kubelet_host)
        .map(|a| go_arch(a).to_owned())
}

/// GOARCH spelling of an architecture named as Rust (`std::env::consts::ARCH`)
/// or `uname -m` name it; other names are kept.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i386" | "i686" => "386",
        "powerpc64" | "ppc64le" => "ppc64le",
        other => other,
    }
}

/// A scalar attribute as a label value: integers without a fraction.
fn format_scalar(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A valid label value: at most 63 characters, alphanumerics with `-_.`
/// inside, or empty.
pub fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))))
}

/// A valid label key: an optional DNS-subdomain prefix and `/`, then a
/// non-empty name with the value's rules.
pub fn valid_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
    });
    prefix_ok && !name.is_empty() && valid_label_value(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::domain_info;

    fn text(name: &str, v: &str) -> Attribute {
        Attribute {
            name: name.into(),
            r#type: value::Type::Text as i32,
            text: Some(value::Text { value: v.into() }),
            ..Attribute::default()
        }
    }

    #[test]
    fn labels_come_from_hostname_attributes_and_fault_domain() {
        let gen = Attribute {
            name: "gen".into(),
            r#type: value::Type::Scalar as i32,
            scalar: Some(value::Scalar { value: 5.0 }),
            ..Attribute::default()
        };
        let domain = DomainInfo {
            fault_domain: Some(domain_info::FaultDomain {
                region: domain_info::fault_domain::RegionInfo { name: "eu".into() },
                zone: domain_info::fault_domain::ZoneInfo {
                    name: "eu-1a".into(),
                },
            }),
        };
        let l = node_labels(
            "Node-1.example",
            &[
                text("rack", "r1"),
                gen,
                text("bad key!", "x"),
                text("k", "bad value!"),
            ],
            Some(&domain),
        );
        let want: BTreeMap<String, String> = [
            ("gen", "5"),
            ("kubernetes.io/hostname", "Node-1.example"),
            ("kubernetes.io/os", "linux"),
            ("rack", "r1"),
            ("topology.kubernetes.io/region", "eu"),
            ("topology.kubernetes.io/zone", "eu-1a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(l, want, "no arch without an arch attribute");
    }

    /// Regression: the framework labelled every agent without an `arch`
    /// attribute with the framework host's own architecture.
    #[test]
    fn arch_is_the_attribute_or_the_kubelets_host_never_a_guess() {
        assert_eq!(node_arch(&[], None), None, "the framework does not guess");
        assert_eq!(node_arch(&[], Some("x86_64")).as_deref(), Some("amd64"));
        let arm = [text("arch", "aarch64")];
        assert_eq!(node_arch(&arm, None).as_deref(), Some("arm64"));
        assert_eq!(
            node_arch(&arm, Some("amd64")).as_deref(),
            Some("arm64"),
            "the operator's attribute wins"
        );
        assert_eq!(node_labels("a", &arm, None)[LABEL_ARCH], "arm64");
        assert_eq!(node_arch(&[text("arch", "not valid!")], None), None);
    }

    #[test]
    fn go_arch_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("s390x"), "s390x");
    }
}

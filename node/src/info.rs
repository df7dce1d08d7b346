//! `status.nodeInfo` values both writers of a Node put there.

/// `status.nodeInfo.kubeletVersion` of every Node kube-mesos writes: the
/// framework when it creates an agent's Node, the executor when it posts the
/// Node's status as its kubelet. Both must write this same value, or the
/// Node's version flips between the two writers.
///
/// Its form is `v<kubernetes version>+kube-mesos-<our version>`:
/// - the Kubernetes version is the API we implement (k8s-openapi's `v1_33`
///   feature), so version-skew checks (`k8s.io/apimachinery/pkg/util/version`
///   `ParseSemantic`/`ParseGeneric`, kubectl's skew warning) read 1.33;
/// - our version is semver *build metadata* (after `+`), which semver
///   comparison ignores: the node compares equal to v1.33.0. A pre-release
///   suffix (`v1.33.0-kube-mesos...`) would sort *below* v1.33.0 and fail
///   `AtLeast(1.33.0)` checks. Distributions do the same (`v1.33.1+k3s1`).
///
/// `kubectl get nodes` shows it whole in the VERSION column.
pub const KUBELET_VERSION: &str = concat!("v1.33.0+kube-mesos-", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    /// apimachinery's `ParseSemantic`, rule by rule (util/version/version.go):
    /// optional `v`, exactly three numeric components without leading zeros,
    /// then optional `-pre.release` and `+build.metadata` whose
    /// dot-separated identifiers are `[0-9A-Za-z-]+`. Returns the numbers,
    /// the pre-release and the build metadata.
    fn parse_semantic(s: &str) -> Option<([u64; 3], &str, &str)> {
        let s = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (numbers, extra) = s.split_at(end);
        let parts: Vec<&str> = numbers.split('.').collect();
        if parts.len() != 3 {
            return None;
        }
        let mut out = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || (p.starts_with('0') && *p != "0") {
                return None;
            }
            out[i] = p.parse().ok()?;
        }
        let identifiers_ok = |s: &str| {
            s.split('.').all(|id| {
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        };
        let (pre, build) = match extra.split_once('+') {
            Some((pre, build)) => (pre, build),
            None => (extra, ""),
        };
        let pre = match pre {
            "" => "",
            p => p.strip_prefix('-').filter(|p| identifiers_ok(p))?,
        };
        if extra.contains('+') && !identifiers_ok(build) {
            return None;
        }
        Some((out, pre, build))
    }

    #[test]
    fn kubelet_version_is_semver_equal_to_the_kubernetes_release() {
        let (numbers, pre, build) = parse_semantic(KUBELET_VERSION).expect(KUBELET_VERSION);
        assert_eq!(numbers, [1, 33, 0]);
        assert_eq!(pre, "", "a pre-release would sort below v1.33.0");
        assert_eq!(build, format!("kube-mesos-{}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn the_parser_rejects_what_apimachinery_rejects() {
        for bad in [
            "kube-mesos/v0.1.0",
            "v1.33",
            "v01.33.0",
            "v1.33.0-",
            "v1.33.0+",
            "v1.33.0+a..b",
            "v1.33.0+a_b",
        ] {
            assert!(parse_semantic(bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse_semantic("v1.33.1+k3s1"),
            Some(([1, 33, 1], "", "k3s1"))
        );
        assert_eq!(
            parse_semantic("1.33.0-rc.1+x"),
            Some(([1, 33, 0], "rc.1", "x"))
        );
    }
}

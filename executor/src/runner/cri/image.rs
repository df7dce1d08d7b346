//! Image rules of the kubelet's image manager (`pkg/kubelet/images`), kept
//! pure: the pull decision per `imagePullPolicy`, the per-pod-and-image pull
//! back-off (10 s doubling to 300 s), the kubelet's reasons and messages,
//! the default `:latest` tag, and credentials from `dockerconfigjson`
//! pull secrets matched to an image's registry.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::runner::runtime::{ImagePullPolicy, RegistryAuth};
// Pull-secret parsing is runtime-independent; it lives in `runner::spec`.
pub use crate::runner::spec::{registry_auths, PullSecretError};

/// Kubelet reason: pulling failed.
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
/// Kubelet reason: pulling failed recently, waiting before the next try.
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
/// Kubelet reason: absent and `imagePullPolicy: Never`.
pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
/// Kubelet reason: unparsable reference.
pub const INVALID_IMAGE_NAME: &str = "InvalidImageName";
/// Kubelet reason: `ImageStatus` failed.
pub const IMAGE_INSPECT_ERROR: &str = "ImageInspectError";

/// What to do about an image before creating a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullDecision {
    /// Use the image already present (its ID).
    UsePresent(String),
    /// Pull it.
    Pull,
    /// Absent and the policy forbids pulling.
    NeverPullAbsent,
}

/// `shouldPullImage` of the kubelet, given the image ID if present.
pub fn decide(policy: ImagePullPolicy, present: Option<&str>) -> PullDecision {
    match (policy, present) {
        (ImagePullPolicy::Never, None) => PullDecision::NeverPullAbsent,
        (ImagePullPolicy::Always, _) | (ImagePullPolicy::IfNotPresent, None) => PullDecision::Pull,
        (_, Some(id)) => PullDecision::UsePresent(id.to_string()),
    }
}

/// Kubelet message for [`ERR_IMAGE_NEVER_PULL`].
pub fn never_pull_message(image: &str) -> String {
    format!("Container image {image:?} is not present with pull policy of Never")
}

/// Kubelet message for [`IMAGE_PULL_BACK_OFF`].
pub fn back_off_message(image: &str) -> String {
    format!("Back-off pulling image {image:?}")
}

/// Kubelet message for [`IMAGE_INSPECT_ERROR`].
pub fn inspect_message(image: &str, error: &str) -> String {
    format!("Failed to inspect image {image:?}: {error}")
}

/// `applyDefaultImageTag`: `:latest` for a reference with neither tag nor
/// digest; `None` for an empty or blank reference (`InvalidImageName`).
pub fn with_default_tag(image: &str) -> Option<String> {
    if image.trim().is_empty() || image.chars().any(char::is_whitespace) {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        Some(image.to_string())
    } else {
        Some(format!("{image}:latest"))
    }
}

/// The registry host of an image reference, as docker's reference
/// normalisation sees it: the first path component when it looks like a
/// host (has `.` or `:`, or is `localhost`), else `docker.io`.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

fn normalise_server(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let s = s.strip_suffix("/v1").or(s.strip_suffix("/v2")).unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

/// Credentials matching `image`'s registry (and path prefix), best match
/// first, as the kubelet's keyring orders them.
pub fn auths_for<'a>(image: &str, auths: &'a [RegistryAuth]) -> Vec<&'a RegistryAuth> {
    let registry = registry_of(image);
    let path = if registry == "docker.io" && !image.starts_with("docker.io/") {
        format!("docker.io/{image}")
    } else {
        image.to_string()
    };
    let mut found: Vec<(usize, &RegistryAuth)> = auths
        .iter()
        .filter_map(|a| {
            let server = normalise_server(&a.server);
            let host = server.split('/').next().unwrap_or(&server);
            (host == registry && path.starts_with(server.as_str())).then_some((server.len(), a))
        })
        .collect();
    found.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    found.into_iter().map(|(_, a)| a).collect()
}

/// The kubelet's image pull back-off (`flowcontrol.Backoff` keyed by
/// `<pod uid>_<image>`): after a failed pull, pulls of that image for that
/// pod are refused for 10 s, doubling per failure up to 5 min; an entry idle
/// for twice the maximum starts over.
#[derive(Debug)]
pub struct PullBackOff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, (Instant, Duration)>,
}

impl PullBackOff {
    /// Back-off from `initial` doubling to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// Key of a pod's image.
    pub fn key(pod_uid: &str, image: &str) -> String {
        format!("{pod_uid}_{image}")
    }

    /// `IsInBackOffSinceUpdate`.
    pub fn in_back_off(&self, key: &str, now: Instant) -> bool {
        self.entries
            .get(key)
            .is_some_and(|(at, d)| now.saturating_duration_since(*at) < *d)
    }

    /// `Next`: record a failure.
    pub fn failed(&mut self, key: &str, now: Instant) {
        let next = match self.entries.get(key) {
            Some((at, d)) if now.saturating_duration_since(*at) <= self.max * 2 => {
                (*d * 2).min(self.max)
            }
            _ => self.initial,
        };
        self.entries.insert(key.to_string(), (now, next));
    }

    /// A successful pull forgets the key.
    pub fn succeeded(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_decisions_follow_the_policy() {
        use ImagePullPolicy::*;
        assert_eq!(decide(Never, None), PullDecision::NeverPullAbsent);
        assert_eq!(
            decide(Never, Some("sha256:a")),
            PullDecision::UsePresent("sha256:a".into())
        );
        assert_eq!(decide(IfNotPresent, None), PullDecision::Pull);
        assert_eq!(
            decide(IfNotPresent, Some("x")),
            PullDecision::UsePresent("x".into())
        );
        assert_eq!(decide(Always, Some("x")), PullDecision::Pull);
    }

    #[test]
    fn kubelet_messages() {
        assert_eq!(
            never_pull_message("busybox:1"),
            "Container image \"busybox:1\" is not present with pull policy of Never"
        );
        assert_eq!(back_off_message("a/b"), "Back-off pulling image \"a/b\"");
    }

    #[test]
    fn default_tag() {
        assert_eq!(
            with_default_tag("busybox").as_deref(),
            Some("busybox:latest")
        );
        assert_eq!(
            with_default_tag("localhost:5000/x").as_deref(),
            Some("localhost:5000/x:latest")
        );
        assert_eq!(with_default_tag("a/b:1").as_deref(), Some("a/b:1"));
        assert_eq!(
            with_default_tag("a@sha256:00").as_deref(),
            Some("a@sha256:00")
        );
        assert_eq!(with_default_tag(""), None);
    }

    #[test]
    fn docker_config_json_and_registry_matching() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
            "registry.example.com": {"username": "u", "password": "p"},
            "registry.example.com/team": {"username": "t", "password": "q"}
        }}"#;
        let auths = registry_auths(json).expect("parse");
        assert_eq!(auths.len(), 3);
        let hub = auths_for("library/busybox:1", &auths);
        assert_eq!(hub.len(), 1);
        assert_eq!(
            (hub[0].username.as_str(), hub[0].password.as_str()),
            ("user", "pass")
        );
        let team = auths_for("registry.example.com/team/app:1", &auths);
        assert_eq!(
            team.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(),
            ["t", "u"]
        );
        assert!(auths_for("quay.io/x:1", &auths).is_empty());
        assert!(
            !format!("{:?}", auths[0]).contains("pass"),
            "Debug hides secrets"
        );
        let legacy = registry_auths(br#"{"quay.io": {"auth": "YTpi"}}"#).expect("dockercfg");
        assert_eq!(legacy[0].username, "a");
    }

    #[tokio::test(start_paused = true)]
    async fn pull_back_off_doubles_to_five_minutes() {
        let mut b = PullBackOff::new(Duration::from_secs(10), Duration::from_secs(300));
        let k = PullBackOff::key("uid", "img");
        let t0 = Instant::now();
        assert!(!b.in_back_off(&k, t0));
        b.failed(&k, t0);
        assert!(b.in_back_off(&k, t0 + Duration::from_secs(9)));
        assert!(!b.in_back_off(&k, t0 + Duration::from_secs(10)));
        let mut now = t0;
        let mut last = Duration::ZERO;
        for _ in 0..8 {
            now += Duration::from_secs(11);
            b.failed(&k, now);
            last = b.entries[&k].1;
        }
        assert_eq!(last, Duration::from_secs(300));
        b.succeeded(&k);
        assert!(!b.in_back_off(&k, now));
    }
}

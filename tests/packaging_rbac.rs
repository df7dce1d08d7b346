//! The Kubernetes RBAC manifests (`packaging/kubernetes/`) cover every call
//! the framework and the executor make, and grant nothing else.
//!
//! The devcluster API server has no authorizer, so this is a static check
//! (`packaging/tests/check_rbac.py`): kube-rs calls found in
//! `framework/src` and `executor/src` must be listed in
//! `packaging/kubernetes/api-calls.yaml`, and the manifests must grant
//! exactly that list to each component's ServiceAccount.

mod packaging_support;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use packaging_support::{python, root};

#[test]
fn rbac_manifests_grant_exactly_the_declared_calls_and_the_code_makes_no_other() {
    python("packaging/tests/check_rbac.py", &[]);
}

/// A fresh scratch directory for one test (std only: the root package's
/// dev-dependencies are not ours to extend), removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("kube-mesos-rbac-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the checker with overridden inputs and returns whether it passed
/// and what it printed on stderr.
fn check_with(args: &[&str]) -> (bool, String) {
    let out = Command::new("python3")
        .arg(root().join("packaging/tests/check_rbac.py"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_grant_is_caught() {
    let dir = Scratch::new("grant");
    for entry in fs::read_dir(root().join("packaging/kubernetes")).expect("read dir") {
        let path = entry.expect("entry").path();
        let mut text = fs::read_to_string(&path).expect("read manifest");
        if path.ends_with("framework-rbac.yaml") {
            let rule = "  - apiGroups: [\"\"]\n    resources: [\"pods/binding\"]\n    verbs: [\"create\"]\n";
            assert!(text.contains(rule), "anchor rule moved");
            text = text.replace(rule, "");
        }
        fs::write(dir.path().join(path.file_name().expect("name")), text).expect("write");
    }
    let (ok, err) = check_with(&["--kube-dir", dir.path().to_str().expect("utf-8")]);
    assert!(!ok, "removing pods/binding create must fail");
    assert!(err.contains("lacks: create core/pods/binding"), "{err}");
}

#[test]
fn a_call_the_list_does_not_have_is_caught() {
    let dir = Scratch::new("call");
    fs::write(
        dir.path().join("evict.rs"),
        "use k8s_openapi::api::core::v1::Pod;\n\
         async fn evict(client: kube::Client) {\n    \
             let api: kube::Api<Pod> = kube::Api::all(client);\n    \
             let _ = api.delete_collection(&Default::default(), &Default::default()).await;\n\
         }\n",
    )
    .expect("write");
    let (ok, err) = check_with(&["--framework-src", dir.path().to_str().expect("utf-8")]);
    assert!(!ok, "an undeclared call must fail");
    assert!(err.contains("deletecollection core/pods"), "{err}");
}

#[test]
fn a_call_on_an_unresolvable_receiver_is_caught() {
    let dir = Scratch::new("opaque");
    fs::write(
        dir.path().join("opaque.rs"),
        "async fn f(x: Whatever) { let _ = x.patch_status(\"n\", &pp, &p).await; }\n",
    )
    .expect("write");
    let (ok, err) = check_with(&["--executor-src", dir.path().to_str().expect("utf-8")]);
    assert!(!ok, "an unresolvable kube call must fail");
    assert!(err.contains("cannot tell which Api<K>"), "{err}");
}

//! `scripts/release` makes a tarball that starts `kube-mesos --version`, a
//! sha256 that verifies it, and a DC/OS package whose resource.json points
//! at both — which then passes the whole Universe check and dry run with the
//! real tarball in the fake sandbox.
//!
//! The script is given this build's binary (`--binary`): a nested
//! `cargo build -p kube-mesos` would unify features differently from the
//! outer `cargo test --workspace` and rebuild half the dependency graph, too
//! slow for CI on 2 cores. Everything after the build step runs as in a
//! release.

mod packaging_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use packaging_support::{python, root};

const BASE_URL: &str = "https://downloads.example.test/kube-mesos/v1";

/// Scratch directory removed on drop (std only).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        other => other,
    }
}

#[test]
fn release_script_builds_a_tarball_that_runs_and_a_filled_in_dcos_package() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("kube-mesos-release-{}", std::process::id())));
    let _ = fs::remove_dir_all(&scratch.0);
    let dist = scratch.0.join("dist");
    let printed = run(Command::new(root().join("scripts/release"))
        .args(["--out-dir", dist.to_str().expect("utf-8")])
        .args(["--base-url", BASE_URL])
        .args(["--binary", env!("CARGO_BIN_EXE_kube-mesos")])
        .current_dir(root()));

    let version = env!("CARGO_PKG_VERSION");
    let name = format!("kube-mesos-{version}-linux-{}.tar.gz", arch());
    let tarball = dist.join(&name);
    assert_eq!(printed.trim(), tarball.to_str().expect("utf-8"));

    // The checksum file verifies the tarball, in sha256sum's own format.
    run(Command::new("sha256sum")
        .args(["-c", &format!("{name}.sha256")])
        .current_dir(&dist));

    // Flat layout: the binary at the top, README and the RBAC manifests.
    let listing = run(Command::new("tar").arg("-tzf").arg(&tarball));
    for entry in [
        "kube-mesos",
        "README.md",
        "packaging/kubernetes/framework-rbac.yaml",
        "packaging/kubernetes/executor-rbac.yaml",
        "packaging/kubernetes/00-namespace.yaml",
    ] {
        assert!(
            listing.lines().any(|l| l == entry),
            "{entry} missing from {listing}"
        );
    }

    // Unpacked, it starts and reports the crate's version.
    let unpacked = scratch.0.join("unpacked");
    fs::create_dir_all(&unpacked).expect("mkdir");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked));
    let binary = unpacked.join("kube-mesos");
    let out = run(Command::new(&binary).arg("--version"));
    assert_eq!(out.trim(), format!("kube-mesos {version}"));

    // The generated resource.json points at the published files; the
    // committed template is untouched.
    let resource: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(dist.join("dcos/resource.json")).expect("read resource.json"),
    )
    .expect("json");
    let uris = &resource["assets"]["uris"];
    assert_eq!(uris["kube-mesos-tgz"], format!("{BASE_URL}/{name}"));
    assert_eq!(
        uris["kube-mesos-tgz-sha256"],
        format!("{BASE_URL}/{name}.sha256")
    );
    let template = fs::read_to_string(root().join("packaging/dcos/resource.json")).expect("read");
    assert!(!template.contains(BASE_URL), "committed template rewritten");

    // The generated package passes the Universe check, and its cmd dry-runs
    // from the real tarball.
    dcos_check(&dist.join("dcos"), &binary, &tarball, version);
}

fn dcos_check(package: &Path, binary: &Path, tarball: &Path, version: &str) {
    let options = root().join("packaging/tests/options-custom.json");
    python(
        "packaging/tests/check_dcos.py",
        &[
            "--package-dir",
            package.to_str().expect("utf-8"),
            "--binary",
            binary.to_str().expect("utf-8"),
            "--tarball",
            tarball.to_str().expect("utf-8"),
            "--options",
            options.to_str().expect("utf-8"),
            "--version",
            version,
        ],
    );
}

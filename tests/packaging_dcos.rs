//! The DC/OS Universe package (`packaging/dcos/`) validated as Universe's
//! build validates it, rendered with a real mustache engine, and dry-run
//! against this build's `kube-mesos framework --check-config`.
//!
//! The checks live in `packaging/tests/check_dcos.py` because Universe's
//! tooling is Python (jsonschema + pystache); these tests only run it, so
//! `cargo test --workspace` (and `scripts/test`) covers the package.

mod packaging_support;

use packaging_support::{python, root};

#[test]
fn dcos_package_passes_universe_validation_and_dry_runs() {
    let binary = env!("CARGO_BIN_EXE_kube-mesos");
    let options = root().join("packaging/tests/options-custom.json");
    python(
        "packaging/tests/check_dcos.py",
        &[
            "--binary",
            binary,
            "--options",
            options.to_str().expect("utf-8 path"),
            "--version",
            env!("CARGO_PKG_VERSION"),
        ],
    );
}

#[test]
fn dcos_checker_catches_each_broken_rule() {
    python(
        "packaging/tests/check_dcos_mutations.py",
        &[env!("CARGO_BIN_EXE_kube-mesos")],
    );
}

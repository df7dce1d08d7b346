//! Plain-Mesos installs checked against this build: the systemd unit and
//! its env file (`--check-config` accepts the env file), the Marathon app
//! without DC/OS (single-instance rules, cmd dry-run in a fake sandbox) and
//! the container image recipe (copies what `scripts/release` writes, runs a
//! real subcommand, exposes the real HTTP port). See
//! `packaging/tests/check_installs.py`.

mod packaging_support;

use packaging_support::python;

#[test]
fn systemd_marathon_and_image_recipes_match_the_binary() {
    python(
        "packaging/tests/check_installs.py",
        &[
            "--binary",
            env!("CARGO_BIN_EXE_kube-mesos"),
            "--version",
            env!("CARGO_PKG_VERSION"),
        ],
    );
}

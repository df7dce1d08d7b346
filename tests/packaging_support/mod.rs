//! Shared by the `packaging_*` tests: run a checker script from
//! `packaging/tests/` with python3 and fail with its output.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root (the root package's manifest directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `python3 <script> <args>` from the repository root and panics with
/// its output unless it exits 0. The modules it needs (jsonschema, pystache,
/// yaml) are installed by `scripts/test`.
pub fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg(root().join(script))
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3 must be installed (scripts/test installs the modules)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        output.status.success(),
        "{script} failed ({}); missing modules are installed by scripts/test",
        output.status
    );
    stdout
}

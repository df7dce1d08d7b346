//! Compiles our CRI v1 `.proto` subset (`proto/cri/runtime/v1/api.proto`)
//! with `protox` (pure Rust, so no system `protoc` is needed on a fresh
//! machine) and generates the prost messages and tonic clients with
//! `tonic-prost-build`. Only clients are generated: the executor talks to
//! containerd / CRI-O, it never serves CRI.

use std::path::PathBuf;

const PROTOS: &[&str] = &["runtime/v1/api.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto/cri");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, [&root])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        // Deterministic map order for labels and annotations.
        .btree_map(".")
        // Registry credentials must never reach a log line: AuthConfig gets
        // a hand-written, redacting Debug (upstream marks them debug_redact).
        .skip_debug(["runtime.v1.AuthConfig"])
        .compile_fds(fds)?;
    Ok(())
}

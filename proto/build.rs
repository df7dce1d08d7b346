//! Compiles our Mesos v1 `.proto` files with `protox` (a pure-Rust protobuf
//! compiler, so no system `protoc` is needed on a fresh machine) and generates
//! the Rust types with `prost-build`. The encoded descriptor set is written to
//! `OUT_DIR/mesos_descriptor.bin` for the JSON codec (`src/json.rs`).

use std::path::PathBuf;

use prost::Message as _;

/// The files we compile, relative to the crate root (which is also the
/// include root, so imports read `mesos/v1/mesos.proto` as upstream).
const PROTOS: &[&str] = &[
    "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto",
    "mesos/v1/allocator/allocator.proto",
    "mesos/v1/maintenance/maintenance.proto",
    "mesos/v1/master/master.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, [&root])?;
    std::fs::write(out_dir.join("mesos_descriptor.bin"), fds.encode_to_vec())?;

    prost_build::Config::new()
        // `prost::Name` gives each message its full protobuf name, which the
        // JSON codec uses to find the message's descriptor.
        .enable_type_names()
        // Deterministic map order, so equal messages encode to equal bytes.
        .btree_map(["."])
        .compile_fds(fds)?;
    Ok(())
}

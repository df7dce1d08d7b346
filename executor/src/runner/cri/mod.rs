//! The `cri` runtime: pods in real containers through a CRI v1 runtime.
pub mod client;
pub mod proto;

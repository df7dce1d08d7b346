//! The pod runner: the kubelet's semantics for the pods an executor runs.
//!
//! It is independent of Mesos and of the API server on purpose: the Mesos
//! executor client feeds it pods and kills, the status writer follows its
//! status snapshots, and containers are run through the [`runtime::Runtime`]
//! trait (the `process` runtime here, a CRI runtime later).
//!
//! - [`runtime`]: the CRI-shaped runtime trait.
//! - [`process`]: the image-less host-process runtime.

pub mod cri;
pub mod env;
pub mod pod;
pub mod process;
pub mod quantity;
pub mod runtime;
pub mod status;
pub mod volumes;

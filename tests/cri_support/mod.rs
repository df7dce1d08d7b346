//! A private containerd for the end-to-end suite, and `kube-mesos local
//! --runtime cri` on it.
//!
//! The containerd harness is the executor's own
//! (`executor/tests/support/containerd.rs`, included by path rather than
//! copied): its own root, state, socket and CNI bridge in a temp dir,
//! busybox images imported from an OCI tarball built from the static
//! busybox (no registry is reachable). Here the busybox image is also
//! imported as `docker.io/library/busybox:latest`, the name `image:
//! busybox` resolves to, so manifests run unchanged. It needs root,
//! containerd, runc and the CNI plugins (`scripts/test` installs them) and
//! fails with the reason otherwise.
#![allow(dead_code)]

#[path = "../../executor/tests/support/containerd.rs"]
pub mod containerd;

use super::support::Local;

/// The name `image: busybox` resolves to.
pub const BUSYBOX: &str = "docker.io/library/busybox:latest";

/// A started containerd with busybox imported under [`BUSYBOX`].
pub fn start_containerd() -> containerd::Containerd {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let cd = containerd::Containerd::start().await;
        let tar = containerd::image::busybox_image(cd.dir(), BUSYBOX, &["/bin/sh"], &[]);
        cd.import(&tar, BUSYBOX).await;
        cd
    })
}

/// `kube-mesos local --runtime cri` on `cd` (one agent).
pub fn start_local(cd: &containerd::Containerd) -> Local {
    let socket = cd.socket().display().to_string();
    Local::start(1, &["--runtime", "cri", "--cri-socket", &socket])
}

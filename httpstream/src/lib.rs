//! The streaming protocols behind `kubectl exec`, `attach`, `cp` and
//! `port-forward`, shared by the executor's kubelet endpoint and the
//! devcluster's API server (which, like kube-apiserver, speaks to kubelets
//! with them). Protocol bytes only: neither side's policy lives here.
//!
//! - [`spdy`]: SPDY/3.1 framing, header compression and sessions;
//! - [`remotecommand`]: the exec/attach stream protocol (`v1`..`v5.channel.k8s.io`)
//!   over SPDY and over WebSocket channels, with its `Status` messages;
//! - [`portforward`]: the port-forward stream protocol;
//! - [`upgrade`]: HTTP/1.1 upgrades (server negotiation, client requests);
//! - [`wsstream`]: WebSocket channel framing (`channel.k8s.io` family).
//!
//! Sources of truth, read and re-implemented here: kubernetes/kubernetes
//! `staging/src/k8s.io/apimachinery/pkg/util/httpstream`, `client-go/tools/
//! remotecommand` and `tools/portforward`, `apiserver/pkg/util/proxy`,
//! `pkg/kubelet/cri/streaming`, moby/spdystream and the SPDY/3 draft.

pub mod portforward;
pub mod remotecommand;
pub mod spdy;
pub mod upgrade;
pub mod wsstream;

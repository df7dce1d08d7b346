//! The Node's Lease, which two writers keep: the executor while it runs on
//! the agent (holderIdentity = the node name, as the kubelet), the framework
//! otherwise (holderIdentity [`FRAMEWORK_LEASE_HOLDER`]). Each backs off
//! from a fresh lease the other holds, so both must agree on where the
//! lease lives, how long it lasts and how often it is renewed.

use std::time::Duration;

/// Namespace of node leases (the kubelet's).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// `leaseDurationSeconds`, the kubelet's default `nodeLeaseDurationSeconds`.
pub const NODE_LEASE_DURATION_SECONDS: i32 = 40;

/// How often a holder renews: a quarter of the duration, as the kubelet.
pub const NODE_LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// holderIdentity the framework writes into node leases it renews.
pub const FRAMEWORK_LEASE_HOLDER: &str = "kube-mesos-framework";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_leaves_three_chances_within_a_duration() {
        let duration = Duration::from_secs(NODE_LEASE_DURATION_SECONDS.unsigned_abs().into());
        assert_eq!(duration, NODE_LEASE_RENEW_INTERVAL * 4);
    }
}

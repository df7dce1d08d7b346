//! Kubernetes quantities (`100m`, `1.5Gi`, `2e3`) as both sides read them:
//! kube-mesos-node's one parser (the framework places a pod with its milli
//! reading, the executor runs it with its nano and unit readings). Parsing
//! must not panic on any input, and the readings must nest: whole units are
//! the milli reading rounded up, as Kubernetes rounds (`MilliValue`,
//! `Value`).

use kube_mesos_node::quantity;

/// The target.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Negative quantities are refused by API validation before either side
    // sees them (requests, limits and divisors must be positive), so only
    // their acceptance must not panic; readings are compared when positive.
    if let Some(n @ 0..) = quantity::parse(text) {
        let m = quantity::milli(n);
        assert_eq!(
            quantity::units(n),
            quantity::ceil_div(m, 1000),
            "{text:?}: {n} nanos, {m} millis"
        );
    }
}

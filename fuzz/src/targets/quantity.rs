//! Kubernetes quantities (`100m`, `1.5Gi`, `2e3`) as the framework
//! (placement, millis) and the executor (downward API and runtime limits,
//! nanos) parse them. Both must accept the same strings and agree on the
//! value where both represent it: the framework places a pod with one
//! number and the executor runs it with the other. Both round up to their
//! unit, as Kubernetes does.

use kube_mesos_executor::runner::quantity;
use kube_mesos_framework::placement::requests::parse_quantity_milli;

/// The target.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let nanos = quantity::parse(text);
    let milli = parse_quantity_milli(text);
    if let Some(n) = nanos {
        let _ = quantity::milli(n);
        let _ = quantity::units(n);
        let _ = quantity::ceil_div(n, 1_000_000);
    }
    // Negative quantities are refused by API validation before either side
    // sees them (requests, limits and divisors must be positive), so only
    // their acceptance must not panic; values are compared when positive.
    if let (Some(n @ 0..), Some(m)) = (nanos, milli) {
        let from_nanos = quantity::ceil_div(n, 1_000_000);
        assert_eq!(
            from_nanos, m,
            "{text:?}: the executor reads {n} nanos, the framework {m} millis"
        );
    }
}

//! A pod's effective resource request, computed as kube-scheduler does.
//!
//! kube-scheduler's `NodeResourcesFit` uses `resourcehelper.PodRequests`
//! (k8s.io/component-helpers/resource): the sum of the app containers'
//! requests plus restartable (sidecar) init containers, and at least the
//! largest regular init container (plus the sidecars started before it);
//! then `spec.overhead` is added. CPU is compared in millicores and memory
//! and ephemeral storage in bytes, rounded up. Pod-level `spec.resources`
//! (alpha, off by default in Kubernetes 1.33) is not used.
//!
//! Mesos counts memory and disk in MB (2^20 bytes), so bytes become
//! thousandths of a MB, rounded up.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::resources::{Milli, Scalars};

/// Parse a Kubernetes quantity into units × 1000 (so `100m` → 100,
/// `1` → 1000, `1Ki` → 1,024,000), rounded up. `None` if malformed.
pub fn parse_quantity_milli(q: &str) -> Option<i128> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    // Exponent form: 1e3, 1E-3.
    let (num, suffix, exp10): (&str, &str, i32) =
        if let Some(rest) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = rest.parse().ok()?;
            (num, "", e)
        } else {
            (num, suffix, 0)
        };
    // The suffix as a power of ten and a binary multiplier.
    let (suffix10, mult): (i32, i128) = match suffix {
        "" => (0, 1),
        "n" => (-9, 1),
        "u" => (-6, 1),
        "m" => (-3, 1),
        "k" => (3, 1),
        "M" => (6, 1),
        "G" => (9, 1),
        "T" => (12, 1),
        "P" => (15, 1),
        "E" => (18, 1),
        "Ki" => (0, 1 << 10),
        "Mi" => (0, 1 << 20),
        "Gi" => (0, 1 << 30),
        "Ti" => (0, 1 << 40),
        "Pi" => (0, 1 << 50),
        "Ei" => (0, 1 << 60),
        _ => return None,
    };
    let (negative, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Every digit counts: Kubernetes keeps them all and rounds the value
    // up (`MilliValue`), so a last digit far down the fraction still adds a
    // milli (dropping digits past the 18th made `1.00000000000000000005Gi`
    // a milli less than the executor reads, found by fuzzing). Trailing
    // zeros change nothing.
    let frac_part = frac_part.trim_end_matches('0');
    let all = format!("{int_part}{frac_part}");
    let mantissa: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    // millis = mantissa × mult × 10^e
    let e = exp10
        .checked_add(suffix10)?
        .checked_add(3)?
        .checked_sub(i32::try_from(frac_part.len()).ok()?)?;
    let base = mantissa.checked_mul(mult)?;
    let v = if e >= 0 {
        base.checked_mul(10i128.checked_pow(e.unsigned_abs())?)?
    } else {
        let d = 10i128.checked_pow(e.unsigned_abs())?;
        base.checked_add(d - 1)? / d // ceil for positives
    };
    Some(if negative { -v } else { v })
}

/// Requests in Kubernetes units: millicores, bytes, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodRequest {
    /// Millicores.
    pub milli_cpu: i128,
    /// Bytes of memory.
    pub memory: i128,
    /// Bytes of ephemeral storage.
    pub ephemeral_storage: i128,
}

impl PodRequest {
    fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let get = |k: &str| -> i128 {
            list.and_then(|l| l.get(k))
                .and_then(|q| parse_quantity_milli(&q.0))
                .unwrap_or(0)
                .max(0)
        };
        PodRequest {
            milli_cpu: get("cpu"),
            // Bytes: the parse is in thousandths; round up.
            memory: (get("memory") + 999) / 1000,
            ephemeral_storage: (get("ephemeral-storage") + 999) / 1000,
        }
    }

    fn add(&mut self, o: PodRequest) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
    }

    fn max(&mut self, o: PodRequest) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
    }

    /// In Mesos units (thousandths of cpus and of MB), rounded up.
    pub fn to_scalars(self) -> Scalars {
        const MB: i128 = 1 << 20;
        let mb_milli = |bytes: i128| -> Milli { ((bytes * 1000 + MB - 1) / MB) as Milli };
        Scalars {
            cpus: self.milli_cpu as Milli,
            mem: mb_milli(self.memory),
            disk: mb_milli(self.ephemeral_storage),
        }
    }
}

fn container_request(c: &Container) -> PodRequest {
    PodRequest::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

/// kube-scheduler's effective request of a pod (see the module docs).
pub fn pod_request(pod: &Pod) -> PodRequest {
    let Some(spec) = pod.spec.as_ref() else {
        return PodRequest::default();
    };
    let mut reqs = PodRequest::default();
    for c in &spec.containers {
        reqs.add(container_request(c));
    }
    let mut restartable = PodRequest::default();
    let mut init_max = PodRequest::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_request(c);
        let this = if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(r);
            restartable.add(r);
            restartable
        } else {
            let mut t = r;
            t.add(restartable);
            t
        };
        init_max.max(this);
    }
    reqs.max(init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(PodRequest::from_list(Some(overhead)));
    }
    reqs
}

/// The hostPorts a pod asks for (deduplicated; port numbers only — Mesos
/// offers a port number regardless of protocol and host IP).
pub fn host_ports(pod: &Pod) -> Vec<u64> {
    let mut out: Vec<u64> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.host_port)
        .filter(|&p| p > 0)
        .map(|p| p as u64)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity_milli("100m"), Some(100));
        assert_eq!(parse_quantity_milli("1"), Some(1000));
        assert_eq!(parse_quantity_milli("0.5"), Some(500));
        assert_eq!(parse_quantity_milli("1.5"), Some(1500));
        assert_eq!(parse_quantity_milli("1Ki"), Some(1_024_000));
        assert_eq!(parse_quantity_milli("128Mi"), Some(128 * (1 << 20) * 1000));
        assert_eq!(parse_quantity_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_quantity_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_quantity_milli("1E-3"), Some(1));
        assert_eq!(parse_quantity_milli("0.1m"), Some(1), "rounds up");
        assert_eq!(parse_quantity_milli("12x"), None);
        assert_eq!(parse_quantity_milli(".000"), Some(0));
        assert_eq!(
            parse_quantity_milli("1.5000000000000000000000000"),
            Some(1500)
        );
    }

    /// Every digit counts, however far down the fraction: Kubernetes rounds
    /// the exact value up (AFL++ found digits past the 18th dropped).
    #[test]
    fn far_fraction_digits_still_round_up() {
        assert_eq!(
            parse_quantity_milli("1.00000000000000000005Gi"),
            Some(1_073_741_824_001)
        );
        assert_eq!(
            parse_quantity_milli("11.111111111111111111111111111P"),
            Some(11_111_111_111_111_111_112)
        );
        assert_eq!(parse_quantity_milli(".000000000000000000011100m"), Some(1));
        assert_eq!(parse_quantity_milli("0.000000000000000000011E04"), Some(1));
        assert_eq!(parse_quantity_milli(""), None);
    }
}

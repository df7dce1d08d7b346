//! The short fuzz pass of the test suite: every target on its seeds and on
//! a few thousand deterministic mutations of them, each under the memory
//! bound. A failure prints the target, the case number and the input (hex),
//! which `scripts/soak --fuzz` can replay with the AFL driver.

use kube_mesos_fuzz::alloc::{bounded, CountingAlloc, MemoryBound};
use kube_mesos_fuzz::mutate::{mutate, Rng};
use kube_mesos_fuzz::{seeds::seeds, Target, TARGETS};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Mutations per target: about a second each on the CI machine.
const CASES: usize = 3000;

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn run_case(name: &str, target: Target, case: usize, data: &[u8]) {
    let result = std::panic::catch_unwind(|| bounded(target, data));
    if let Err(panic) = result {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "target {name}, case {case}: {message}\ninput ({} bytes): {}",
            data.len(),
            hex(data)
        );
    }
}

fn short_pass(name: &str) {
    let (_, target) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("target exists");
    let seeds = seeds(name);
    assert!(!seeds.is_empty(), "{name} has seeds");
    for (i, seed) in seeds.iter().enumerate() {
        run_case(name, *target, i, seed);
    }
    let mut rng = Rng::new(0x5eed ^ name.len() as u64);
    for case in 0..CASES {
        let a = &seeds[rng.below(seeds.len())];
        let b = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, a, b);
        run_case(name, *target, seeds.len() + case, &input);
    }
}

#[test]
fn every_target_has_a_short_pass() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "recordio",
            "scheduler_event",
            "executor_event",
            "pod_task",
            "pod_payload",
            "quantity",
            "selector"
        ]
    );
}

#[test]
fn recordio() {
    short_pass("recordio");
}

#[test]
fn scheduler_event() {
    short_pass("scheduler_event");
}

#[test]
fn executor_event() {
    short_pass("executor_event");
}

#[test]
fn pod_task() {
    short_pass("pod_task");
}

#[test]
fn pod_payload() {
    short_pass("pod_payload");
}

#[test]
fn quantity() {
    short_pass("quantity");
}

#[test]
fn selector() {
    short_pass("selector");
}

/// A RecordIO length prefix of 2^63 is refused without reserving it; the
/// counting allocator sees a peak far below the announced size.
#[test]
fn a_huge_recordio_length_allocates_nothing_like_it() {
    let bound = MemoryBound::arm(32);
    let mut decoder = kube_mesos_proto::recordio::Decoder::new();
    decoder.push(b"9223372036854775808\nxyz");
    assert!(decoder.next_record().is_err());
    assert!(bound.peak() < 1 << 20, "peak {}", bound.peak());
    bound.check();
}

/// The bound itself works: allocating far beyond it is caught.
#[test]
fn the_memory_bound_catches_a_large_allocation() {
    let result = std::panic::catch_unwind(|| {
        bounded(
            |data| {
                let v = vec![0u8; (data.len() + 1) * (64 << 20)];
                std::hint::black_box(v);
            },
            b"x",
        )
    });
    assert!(result.is_err());
}

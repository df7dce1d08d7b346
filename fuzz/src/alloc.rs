//! A counting global allocator, so a target can check that what it
//! allocates stays proportional to its input: a RecordIO length prefix of
//! 2^63, or a protobuf length of 2^32, must be refused, never reserved.
//!
//! The allocator only counts when [`MemoryBound`] is armed, on the thread
//! that armed it (the targets are single-threaded); a binary opts in with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator plus per-thread live/peak byte counts.
pub struct CountingAlloc;

fn add(n: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let live = LIVE.with(|l| {
                let v = l.get().saturating_add(n);
                l.set(v);
                v
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

fn sub(n: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            LIVE.with(|l| l.set(l.get().saturating_sub(n)));
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size);
        sub(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Fixed allowance: runtime structures a target builds whatever its input
/// (a scheduler core, a pod state machine, formatting buffers).
pub const BASE_ALLOWANCE: usize = 8 << 20;
/// Allowance per input byte: a JSON pod decodes into typed structs several
/// times its text, and targets keep a few copies.
pub const PER_BYTE: usize = 256;

/// Arms the counter for the current thread; [`MemoryBound::check`] reads the
/// peak since. Only meaningful when [`CountingAlloc`] is the global
/// allocator; otherwise the peak stays 0.
pub struct MemoryBound {
    input_len: usize,
}

impl MemoryBound {
    /// Starts counting for an input of `input_len` bytes.
    pub fn arm(input_len: usize) -> Self {
        LIVE.with(|l| l.set(0));
        PEAK.with(|p| p.set(0));
        ARMED.with(|a| a.set(true));
        Self { input_len }
    }

    /// The most bytes live at once since [`MemoryBound::arm`].
    pub fn peak(&self) -> usize {
        PEAK.with(Cell::get)
    }

    /// The bound for this input.
    pub fn limit(&self) -> usize {
        BASE_ALLOWANCE.saturating_add(self.input_len.saturating_mul(PER_BYTE))
    }

    /// Panics when the peak exceeded the bound.
    pub fn check(self) {
        let peak = self.peak();
        let limit = self.limit();
        drop(self);
        assert!(
            peak <= limit,
            "allocated {peak} bytes at once for {} input bytes (limit {limit})",
            limit.saturating_sub(BASE_ALLOWANCE) / PER_BYTE
        );
    }
}

impl Drop for MemoryBound {
    fn drop(&mut self) {
        ARMED.with(|a| a.set(false));
    }
}

/// Runs `target` on `data` under a [`MemoryBound`].
pub fn bounded(target: crate::Target, data: &[u8]) {
    let bound = MemoryBound::arm(data.len());
    target(data);
    bound.check();
}

//! The process's allocator, picked by what the process runs (the binary
//! declares [`Chosen`] its global allocator).
//!
//! The framework tracks every pod of the cluster, and a burst of pods
//! created at once is decoded, queued and placed in a few seconds. glibc
//! keeps the pages such a burst touched wherever a long-lived allocation
//! made meanwhile sits among them (`malloc_trim` gives back only whole free
//! pages): tracking 100,000 pods on 5,000 agents the framework stayed at
//! 425 MiB resident on glibc and 216 MiB on mimalloc, which returns the
//! pages it frees (docs/reports/PERF_REPORT.md, session 18). The executor
//! is the same binary and stays on glibc: on mimalloc its idle RSS passed
//! its 30 MB target (37.6 MiB against 24.5, session 17).
//!
//! The choice is made once, first thing in `main`, before any thread
//! starts. What was allocated before it (the arguments, std's start-up)
//! came from glibc and goes back there: a free asks mimalloc whether the
//! block is its own (`mi_is_in_heap_region`, a lookup in its map of
//! segments), so a block is always freed by the allocator that gave it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use libmimalloc_sys as mi;

/// glibc until [`use_mimalloc`], mimalloc after.
pub struct Chosen;

static MIMALLOC: AtomicBool = AtomicBool::new(false);

/// From now on allocations come from mimalloc. Called before the process
/// starts any thread (the flag is then seen by every thread it starts).
pub fn use_mimalloc() {
    MIMALLOC.store(true, Ordering::Relaxed);
}

/// Whether allocations come from mimalloc now.
pub fn on_mimalloc() -> bool {
    MIMALLOC.load(Ordering::Relaxed)
}

/// Has mimalloc purge now what it freed and would purge after a delay
/// (pages of this thread's heap, abandoned segments, arenas). Blocking.
pub fn collect() {
    // SAFETY: mi_collect takes no pointer; it works on mimalloc's own
    // structures under their own synchronisation.
    unsafe { mi::mi_collect(true) }
}

fn from_mimalloc(ptr: *mut u8) -> bool {
    // SAFETY: mi_is_in_heap_region only looks the address up in
    // mimalloc's own tables; it does not read through the pointer.
    on_mimalloc() && unsafe { mi::mi_is_in_heap_region(ptr as *const c_void) }
}

// SAFETY: each block is freed or resized by the allocator that gave it
// (see the module's comment); both allocators honour `Layout`'s size and
// alignment (mimalloc through its `_aligned` calls, as the mimalloc crate
// does).
unsafe impl GlobalAlloc for Chosen {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if on_mimalloc() {
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if on_mimalloc() {
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if from_mimalloc(ptr) {
            unsafe { mi::mi_free(ptr as *mut c_void) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if from_mimalloc(ptr) {
            unsafe {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        } else {
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks from either allocator, freed and resized after the switch,
    /// each by its own.
    #[test]
    fn blocks_from_before_the_switch_go_back_to_glibc() {
        let a = Chosen;
        let layouts = [
            Layout::from_size_align(24, 8).unwrap(),
            Layout::from_size_align(4096, 64).unwrap(),
            Layout::from_size_align(3 << 20, 4096).unwrap(),
        ];
        // Blocks taken straight from glibc stand for those made before the
        // switch.
        let before: Vec<*mut u8> = layouts
            .iter()
            .map(|l| unsafe { System.alloc(*l) })
            .collect();
        use_mimalloc();
        for (p, l) in before.iter().zip(&layouts) {
            assert!(!from_mimalloc(*p));
            let grown = unsafe { a.realloc(*p, *l, l.size() * 2) };
            assert!(!grown.is_null() && !from_mimalloc(grown));
            let l2 = Layout::from_size_align(l.size() * 2, l.align()).unwrap();
            unsafe { a.dealloc(grown, l2) };
        }
        for l in &layouts {
            let p = unsafe { a.alloc_zeroed(*l) };
            assert!(from_mimalloc(p));
            assert_eq!(p as usize % l.align(), 0);
            assert!(unsafe { std::slice::from_raw_parts(p, l.size()) }
                .iter()
                .all(|b| *b == 0));
            unsafe { a.dealloc(p, *l) };
        }
        // Allocated on other threads, freed on this one (as tokio's
        // workers do all the time).
        let small = layouts[0];
        let blocks: Vec<usize> = (0..4)
            .map(|_| std::thread::spawn(move || unsafe { Chosen.alloc(small) } as usize))
            .map(|t| t.join().unwrap())
            .collect();
        for p in blocks {
            assert!(from_mimalloc(p as *mut u8));
            unsafe { a.dealloc(p as *mut u8, small) };
        }
        collect();
    }
}

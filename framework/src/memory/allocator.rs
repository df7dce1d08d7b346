//! The process's allocator, picked by what the process runs (the binary
//! declares [`Chosen`] its global allocator).
//!
//! The framework tracks every pod of the cluster, and a burst of pods
//! created at once is decoded, queued and placed in a few seconds. glibc
//! keeps the pages such a burst touched wherever a long-lived allocation
//! made meanwhile sits among them (`malloc_trim` gives back only whole free
//! pages): tracking 100,000 pods on 5,000 agents the same build stayed at
//! 360 MiB resident on glibc and 187 MiB on mimalloc, which returns the
//! pages it frees (docs/reports/PERF_REPORT.md, session 18). The executor
//! is the same binary and stays on glibc: on mimalloc its idle RSS passed
//! its 30 MB target (37.6 MiB against 24.5, session 17).
//!
//! The choice is made once at start-up, before the process starts any
//! thread. What was allocated before it (the arguments, std's start-up)
//! came from glibc and goes back there: a free asks mimalloc whether the
//! block is its own (`mi_is_in_heap_region`, a lookup in its map of
//! segments), so a block is always freed by the allocator that gave it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use libmimalloc_sys as mi;

/// glibc until [`use_mimalloc`], mimalloc after.
pub struct Chosen;

static MIMALLOC: AtomicBool = AtomicBool::new(false);

/// mimalloc's options set here (`mi_option_t` of mimalloc 2.3's
/// `mimalloc.h`, which the exact version of `libmimalloc-sys` pins; the
/// crate names only some of them).
const PURGE_DELAY: mi::mi_option_t = 15;
const ALLOW_THP: mi::mi_option_t = 37;

/// How long freed pages wait before they are given back (ms), while the
/// framework places pods: longer than the time between two placement
/// rounds, so that the pages one round frees are still there for the next.
const BUSY_PURGE_DELAY_MS: std::ffi::c_long = 250;

/// The same once it is idle (SUPPRESSed): what is freed goes back at once.
const IDLE_PURGE_DELAY_MS: std::ffi::c_long = 0;

/// From now on allocations come from mimalloc. Called before the process
/// starts any thread (the flag is then seen by every thread it starts).
///
/// Without transparent huge pages: mimalloc asks for them on its arenas,
/// and a 2 MiB page stays resident while any 4 KiB of it is in use.
/// Tracking 100,000 pods: 259 MiB resident with the defaults, 202 without
/// them and without purge delay. While the framework places pods, freed
/// pages are purged [`BUSY_PURGE_DELAY_MS`] after they were freed: purged
/// at once, a page a placement round frees and the next one takes again
/// is given back and faulted in again — 13 page faults per placed pod, a
/// sixth of the core's time (`core_rounds`: 166 µs per pod at once, 140
/// at 10 ms); at 10 ms the whole framework still took 13.6 faults per
/// pod placing 30,000 pods (its rounds are further apart than in
/// `core_rounds`), 2.5–3 at 250 ms, 2 s less system time
/// (docs/reports/PERF_REPORT.md, session 23). Once it is idle
/// ([`set_busy`] at SUPPRESS) they are purged at once, and
/// [`collect_everywhere`] has every thread do its pending purges: what a
/// burst left is given back.
pub fn use_mimalloc() {
    // SAFETY: mi_option_set stores a value in mimalloc's option table.
    unsafe {
        mi::mi_option_set(PURGE_DELAY, BUSY_PURGE_DELAY_MS);
        mi::mi_option_set(ALLOW_THP, 0);
    }
    // What mimalloc does itself when started with THP off: under the
    // system's "always" policy its pages would be huge regardless.
    #[cfg(target_os = "linux")]
    if let Err(error) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(%error, "transparent huge pages left on");
    }
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

/// Bumped when the process goes idle: each runtime thread collects once
/// per bump, at its next park ([`on_thread_park`]).
static IDLE_EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COLLECTED_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// [`collect`] here, and on every runtime thread as it next parks: a
/// thread's pending purges are its own (`mi_collect` reaches the caller's
/// heap only), and a worker that goes idle with the burst over does no
/// allocation or free that would purge them after their delay.
pub fn collect_everywhere() {
    collect();
    IDLE_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// Sets how long freed pages wait before they are purged: the busy delay
/// while the framework places pods, the idle one once it has SUPPRESSed.
/// A purge already pending keeps the time it was given.
pub fn set_busy(busy: bool) {
    let ms = if busy {
        BUSY_PURGE_DELAY_MS
    } else {
        IDLE_PURGE_DELAY_MS
    };
    if on_mimalloc() {
        // SAFETY: mi_option_set stores a value in mimalloc's option table,
        // which every thread reads as it schedules a purge.
        unsafe { mi::mi_option_set(PURGE_DELAY, ms) }
    }
}

/// For the runtime's `on_thread_park`: collects once after each
/// [`collect_everywhere`]; otherwise an atomic load.
pub fn on_thread_park() {
    collect_if_asked();
}

/// Collects on this thread if [`collect_everywhere`] was called since it
/// last did; whether it did.
fn collect_if_asked() -> bool {
    if !on_mimalloc() {
        return false;
    }
    let epoch = IDLE_EPOCH.load(Ordering::Relaxed);
    let asked = COLLECTED_EPOCH.with(|seen| seen.replace(epoch)) != epoch;
    if asked {
        collect();
    }
    asked
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

/// Held by tests that set or read the purge delay (a process-wide option).
#[cfg(test)]
pub(crate) static OPTION_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    /// The option numbers are mimalloc's: their neighbours read their
    /// documented defaults.
    #[test]
    fn the_options_set_are_the_ones_meant() {
        let get = |o| unsafe { mi::mi_option_get(o) };
        assert_eq!(mi::mi_option_eager_commit_delay, PURGE_DELAY - 1);
        assert_eq!(get(PURGE_DELAY + 9), 10, "arena_purge_mult");
        assert_eq!(get(ALLOW_THP - 1), 10_000, "generic_collect");
        assert_eq!(ALLOW_THP + 1, 38, "_mi_option_last");
    }

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
        let _option = OPTION_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        set_busy(true);
        assert_eq!(
            unsafe { mi::mi_option_get(PURGE_DELAY) },
            BUSY_PURGE_DELAY_MS
        );
        assert_eq!(unsafe { mi::mi_option_get(ALLOW_THP) }, 0);
        set_busy(false);
        assert_eq!(
            unsafe { mi::mi_option_get(PURGE_DELAY) },
            IDLE_PURGE_DELAY_MS
        );
        set_busy(true);
        assert_eq!(
            unsafe { mi::mi_option_get(PURGE_DELAY) },
            BUSY_PURGE_DELAY_MS
        );
    }

    /// Every thread collects once at its next park after the process went
    /// idle, and not again until it goes idle once more.
    #[test]
    fn each_thread_collects_once_per_idle() {
        use_mimalloc();
        let parks = || {
            std::thread::spawn(|| {
                let first = collect_if_asked();
                let epoch = IDLE_EPOCH.load(Ordering::Relaxed);
                let second = collect_if_asked();
                // Another test may have gone idle in between.
                (first, second, epoch != IDLE_EPOCH.load(Ordering::Relaxed))
            })
            .join()
            .unwrap()
        };
        collect_everywhere();
        let (first, second, bumped) = parks();
        assert!(first, "a thread that never collected collects");
        assert!(!second || bumped, "then not again until the next idle");
    }
}

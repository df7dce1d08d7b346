//! The framework process's memory: which allocator it runs on
//! ([`allocator`]), and giving freed heap back to the system once a burst
//! of work is over.
//!
//! A placement round builds its launches, Bindings and events all at once,
//! and a pod list or a large OFFERS event is decoded whole: transient
//! allocations of tens of MiB. glibc's malloc keeps what was freed inside
//! its arenas (the top of a heap only is trimmed on free), so the resident
//! memory stays at the high-water mark of the busiest moment for as long as
//! the framework runs. `malloc_trim` returns every free page of every arena
//! to the system; it costs a walk over the free chunks (milliseconds), so
//! the shell calls it when the framework goes idle (SUPPRESS), not per
//! round. On mimalloc (the default, see [`allocator`]), which holds freed
//! pages only briefly while pods are placed, the same moment has every
//! thread purge what it still holds ([`allocator::collect_everywhere`]).
//!
//! On glibc (`--allocator glibc`), glibc also gives each thread that meets
//! contention an arena of its own (up to eight per core), each holding its
//! own freed memory and its own half-used pages. The framework's work is
//! one loop and a few writers, so [`one_arena`] has all threads share one:
//! the peak resident memory of a placement burst fell by a quarter
//! (docs/reports/PERF_REPORT.md, session 17; what stays after it did not
//! change beyond the runs' spread).

pub mod allocator;

/// Has every thread allocate from one arena (on glibc). Call it before any
/// thread is started (glibc reads the limit when a thread first needs an
/// arena). A no-op where the C library is not glibc.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            // glibc, <malloc.h>: int mallopt(int param, int value).
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // <malloc.h>: #define M_ARENA_MAX -8
        const M_ARENA_MAX: std::ffi::c_int = -8;
        // SAFETY: mallopt takes no pointer; it sets a limit under the
        // allocator's own lock.
        let set = unsafe { mallopt(M_ARENA_MAX, 1) } == 1;
        tracing::debug!(set, "one malloc arena for all threads");
    }
}

/// The multi-threaded tokio runtime of a process that runs the framework:
/// each worker does its pending purges at its next park after the
/// framework goes idle ([`allocator::on_thread_park`]).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::on_thread_park)
        .build()
}

/// Returns the free pages of the allocators' heaps to the system. Blocking
/// (a walk over the free chunks): call it from a blocking thread. glibc's
/// part is a no-op where the C library is not glibc.
pub fn give_back_free_memory() {
    if allocator::on_mimalloc() {
        allocator::collect_everywhere();
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            // glibc, <malloc.h>: int malloc_trim(size_t pad).
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim takes no pointer and only rearranges the
        // allocator's free lists under its own locks; any thread may call
        // it at any time.
        let released = unsafe { malloc_trim(0) } != 0;
        tracing::debug!(
            released,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "gave free heap memory back to the system"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arena_leaves_allocation_working_across_threads() {
        one_arena();
        let handles: Vec<_> = (0..4)
            .map(|i| std::thread::spawn(move || vec![i as u8; 1 << 20]))
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert!(h.join().unwrap().iter().all(|b| *b == i as u8));
        }
    }

    #[test]
    fn giving_back_after_a_large_free_keeps_live_memory_intact() {
        let live: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
        let garbage: Vec<Vec<u8>> = (0..4096).map(|_| vec![7u8; 4096]).collect();
        drop(garbage);
        let _option = allocator::OPTION_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        give_back_free_memory();
        for (i, v) in live.iter().enumerate() {
            assert!(v.iter().all(|b| *b == i as u8));
        }
    }
}

//! The process's allocator: mimalloc, with freed memory kept for a second
//! before it goes back to the system, and without transparent huge pages.
//!
//! mimalloc returns freed memory to the system 10 ms after it is freed by
//! default. A load frees and allocates tens of MiB every few milliseconds
//! (blocks of CSV, column buffers, Parquet pages), so most of what it
//! allocated had just been returned, and the kernel zeroed every page again
//! when it came back: 15 % of a 10 M-row load's CPU. With a delay of a second
//! the memory is reused instead (a 10 M-row load: 4.8 to 5.6 CPU seconds
//! down to 4.0, see docs/benchmarks.md), at the price of holding freed memory
//! a second longer. An operator's `MIMALLOC_PURGE_DELAY` still wins.
//!
//! mimalloc also asks the kernel for transparent huge pages, and the kernel
//! then zeroes 2 MiB at the first touch of any byte of them: a load's column
//! buffers, touched as they fill, made that zeroing 11 to 19 % of its CPU,
//! and more memory resident than the load used. With 4 KiB pages a 10 M-row
//! load took 3.8 CPU seconds instead of 4.3 to 4.9 and peaked 25 to 75 MiB
//! lower (three alternated runs each, docs/benchmarks.md, session 21). An
//! operator's `MIMALLOC_ALLOW_THP` still wins.

#[cfg(target_os = "linux")]
use std::ffi::c_ulong;
use std::ffi::{c_int, c_long};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the same in its v2 and v3).
const PURGE_DELAY: c_int = 15;

/// How long freed memory is kept, in milliseconds.
const KEEP_FREED_MS: c_long = 1000;

/// `PR_SET_THP_DISABLE` in linux/prctl.h.
#[cfg(target_os = "linux")]
const PR_SET_THP_DISABLE: c_int = 41;

#[allow(unsafe_code)]
extern "C" {
    /// From the mimalloc library that the `mimalloc` crate links.
    fn mi_option_set(option: c_int, value: c_long);
    /// From the C library.
    #[cfg(target_os = "linux")]
    fn prctl(option: c_int, ...) -> c_int;
}

/// Sets the purge delay and turns transparent huge pages off, each unless
/// the environment already says.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one entry of mimalloc's option table (an atomic
        // store); mimalloc documents options as settable at any time, from
        // any thread.
        #[allow(unsafe_code)]
        unsafe {
            mi_option_set(PURGE_DELAY, KEEP_FREED_MS);
        }
    }
    // mimalloc reads its own THP option once, at its start, before `main`;
    // the process-wide switch is what it would set (and it holds for memory
    // mapped already: the kernel checks it at every page fault).
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl with PR_SET_THP_DISABLE takes four further integer
        // arguments and changes only this process's page-fault policy. A
        // failure (an old kernel) leaves huge pages on: nothing to handle.
        #[allow(unsafe_code)]
        unsafe {
            let (on, unused): (c_ulong, c_ulong) = (1, 0);
            prctl(PR_SET_THP_DISABLE, on, unused, unused, unused);
        }
    }
}

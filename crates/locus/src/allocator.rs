//! The process's allocator: mimalloc, with freed memory kept for a second
//! before it goes back to the system.
//!
//! mimalloc returns freed memory to the system 10 ms after it is freed by
//! default. A load frees and allocates tens of MiB every few milliseconds
//! (blocks of CSV, column buffers, Parquet pages), so most of what it
//! allocated had just been returned, and the kernel zeroed every page again
//! when it came back: 15 % of a 10 M-row load's CPU. With a delay of a second
//! the memory is reused instead (a 10 M-row load: 4.8 to 5.6 CPU seconds
//! down to 4.0, see docs/benchmarks.md), at the price of holding freed memory
//! a second longer. An operator's `MIMALLOC_PURGE_DELAY` still wins.

use std::ffi::{c_int, c_long};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the same in its v2 and v3).
const PURGE_DELAY: c_int = 15;

/// How long freed memory is kept, in milliseconds.
const KEEP_FREED_MS: c_long = 1000;

#[allow(unsafe_code)]
extern "C" {
    /// From the mimalloc library that the `mimalloc` crate links.
    fn mi_option_set(option: c_int, value: c_long);
}

/// Sets the purge delay, unless the environment already does.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one entry of mimalloc's option table (an atomic store);
    // mimalloc documents options as settable at any time, from any thread.
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set(PURGE_DELAY, KEEP_FREED_MS);
    }
}

//! WAL checkpoints for an SQLite file, on a thread of their own, run only
//! after writes.
//!
//! Why: by default SQLite checkpoints inside whichever COMMIT takes the WAL
//! past `wal_autocheckpoint` pages (1,000). That commit copies the WAL back
//! into the database file and fsyncs both files, and the request behind it
//! waits milliseconds for the disk. Here a thread runs a PASSIVE checkpoint
//! (one that never waits for a reader or the writer) after transactions end,
//! at most once per [`INTERVAL`], so that commits only append to the WAL.
//! Connections keep an autocheckpoint of their own, [`BACKSTOP_PAGES`], should
//! this thread fall behind. docs/benchmarks.md (audit log, sessions 5 and 6)
//! has the figures.
//!
//! An idle store's thread sleeps on a condition variable: no write, no
//! wake-up. It ends when the store is dropped.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The shortest time between two checkpoints while writes go on: measured
/// best of 5, 20, 50, 100 and 500 ms (a checkpoint that copies more pages
/// stalls the commits beside it longer).
pub(crate) const INTERVAL: Duration = Duration::from_millis(5);

/// Every connection's `wal_autocheckpoint` (pages): a commit checkpoints
/// itself only once the WAL holds this many, about 32 MB.
pub(crate) const BACKSTOP_PAGES: u32 = 8192;

#[derive(Default)]
struct State {
    /// A transaction ended since the last checkpoint.
    dirty: bool,
    stop: bool,
    /// How many checkpoints the thread ran (for tests).
    runs: u64,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// Owned by the store's SQLite handle; the thread stops when it is dropped.
pub(crate) struct Checkpointer(Shared);

impl Checkpointer {
    /// Starts the checkpoint thread of the database file at `path`.
    pub(crate) fn start(path: PathBuf) -> Checkpointer {
        let shared: Shared = Arc::default();
        let theirs = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("locus-wal-checkpoint".to_owned())
            .spawn(move || run(&path, &theirs));
        if let Err(error) = spawned {
            // Commits then checkpoint themselves at the backstop.
            tracing::warn!(%error, "no WAL checkpoint thread");
        }
        Checkpointer(shared)
    }

    /// Says that a transaction ended; wakes the thread when it was idle.
    pub(crate) fn wrote(&self) {
        let (state, wake) = &*self.0;
        if let Ok(mut state) = state.lock() {
            if !state.dirty {
                state.dirty = true;
                wake.notify_one();
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (state, wake) = &*self.0;
        if let Ok(mut state) = state.lock() {
            state.stop = true;
            wake.notify_one();
        }
    }
}

fn run(path: &std::path::Path, shared: &Shared) {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match rusqlite::Connection::open_with_flags(path, flags) {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "no WAL checkpoint connection");
            return;
        }
    };
    let (state, wake) = &**shared;
    loop {
        {
            let Ok(mut guard) = state.lock() else { return };
            while !guard.dirty && !guard.stop {
                guard = match wake.wait(guard) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
            if guard.stop {
                return;
            }
            guard.dirty = false;
            guard.runs += 1;
        }
        // Busy (another process is checkpointing) is fine: the next write retries.
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(%error, "WAL checkpoint");
        }
        std::thread::sleep(INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn runs(c: &Checkpointer) -> u64 {
        c.0 .0.lock().unwrap().runs
    }

    /// Checkpoints follow writes, and an idle store's thread does not run:
    /// it waits on its condition variable instead of polling.
    #[test]
    fn checkpoints_follow_writes_and_idle_costs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL")
            .unwrap();
        let c = Checkpointer::start(path);
        std::thread::sleep(INTERVAL * 20);
        assert_eq!(runs(&c), 0, "no write, no checkpoint");
        c.wrote();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while runs(&c) == 0 {
            assert!(std::time::Instant::now() < deadline, "a write was never checkpointed");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(INTERVAL * 20);
        assert_eq!(runs(&c), 1, "one write, one checkpoint");
    }
}

//! WAL checkpoints for an SQLite file, on a thread of their own.
//!
//! Why: by default SQLite checkpoints inside whichever COMMIT takes the WAL
//! past `wal_autocheckpoint` pages (1,000). That commit copies the WAL back
//! into the database file and fsyncs both files, and the request behind it
//! waits milliseconds for the disk: one membership change in a few hundred had
//! to, and a change's mean latency was several times its median. Here a thread
//! runs a PASSIVE checkpoint (one that never waits for a reader or the writer)
//! every [`INTERVAL`], so that commits only append to the WAL. Connections
//! keep an autocheckpoint of their own, [`BACKSTOP_PAGES`], should this thread
//! fall behind. docs/benchmarks.md (audit log, sessions 5 and 6) has the figures.
//!
//! The thread ends within one interval of the last [`Store`](crate::Store)
//! handle going away: it holds only a weak reference to a token every handle
//! shares.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the WAL is checkpointed: measured best of 5, 20, 50, 100 and
/// 500 ms (a checkpoint that copies more pages stalls the commits beside it
/// longer). An idle database's checkpoint finds nothing to copy.
pub(crate) const INTERVAL: Duration = Duration::from_millis(5);

/// Every connection's `wal_autocheckpoint` (pages): a commit checkpoints
/// itself only once the WAL holds this many, about 32 MB.
pub(crate) const BACKSTOP_PAGES: u32 = 8192;

/// Shared by every handle of one store; the checkpoint thread runs while it lives.
pub(crate) type Token = Arc<()>;

/// Starts checkpointing the database file at `path`, for as long as the
/// returned token (or a clone of it) lives.
pub(crate) fn start(path: PathBuf) -> Token {
    let token: Token = Arc::new(());
    let alive = Arc::downgrade(&token);
    let spawned = std::thread::Builder::new()
        .name("locus-wal-checkpoint".to_owned())
        .spawn(move || run(&path, &alive));
    if let Err(error) = spawned {
        // Commits then checkpoint themselves at the backstop.
        tracing::warn!(%error, "no WAL checkpoint thread");
    }
    token
}

fn run(path: &std::path::Path, alive: &Weak<()>) {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match rusqlite::Connection::open_with_flags(path, flags) {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "no WAL checkpoint connection");
            return;
        }
    };
    while alive.strong_count() > 0 {
        std::thread::sleep(INTERVAL);
        // Busy (another process is checkpointing) is fine: the next turn retries.
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(%error, "WAL checkpoint");
        }
    }
}

//! Write transactions, and on SQLite the one connection they all run on.
//!
//! Why one connection: SQLite drops a connection's whole page cache whenever
//! another connection has written since it last looked. sqlx's pool hands out
//! its connections in turn, so every write transaction found a cold cache and
//! re-read each B-tree page it touched (for an audit event, the event table's
//! and the account index's paths) from the WAL, a system call per page. SQLite
//! takes one writer at a time anyway; here in-process writers queue on an async
//! mutex instead, and the writer's cache stays warm. Writers in other processes
//! (`locus admin`) still wait on SQLite's lock through the busy timeout.
//!
//! PostgreSQL, and an SQLite database that is not a file, keep sqlx's pooled
//! transactions. Either way a [`Tx`] derefs to the connection, so store code
//! writes `query.execute(&mut **tx)` whatever is underneath.

use crate::Result;
use sqlx::{AnyConnection, Executor};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// An open write transaction; rolled back when dropped without [`Tx::commit`].
pub(crate) struct Tx(Inner);

enum Inner {
    Pooled(sqlx::Transaction<'static, sqlx::Any>),
    Writer(WriterTx),
}

impl Tx {
    pub(crate) fn pooled(tx: sqlx::Transaction<'static, sqlx::Any>) -> Tx {
        Tx(Inner::Pooled(tx))
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self.0 {
            Inner::Pooled(tx) => tx.commit().await?,
            Inner::Writer(mut tx) => {
                tx.guard.conn.execute("COMMIT").await?;
                tx.guard.open = false;
            }
        }
        Ok(())
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Inner::Pooled(tx) => tx,
            Inner::Writer(tx) => &tx.guard.conn,
        }
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Inner::Pooled(tx) => &mut *tx,
            Inner::Writer(tx) => &mut tx.guard.conn,
        }
    }
}

/// The SQLite write connection, shared by every store handle of one database.
#[derive(Clone)]
pub(crate) struct Writer(Arc<Mutex<WriterConn>>);

struct WriterConn {
    conn: AnyConnection,
    /// A transaction was begun and neither committed nor rolled back yet.
    open: bool,
}

impl Writer {
    pub(crate) fn new(conn: AnyConnection) -> Writer {
        Writer(Arc::new(Mutex::new(WriterConn { conn, open: false })))
    }

    /// Waits for the connection (as long as the pool would wait for one), then
    /// takes SQLite's write lock up front (`BEGIN IMMEDIATE`, waiting on other
    /// processes through the busy timeout).
    pub(crate) async fn begin(&self) -> Result<Tx> {
        let mut guard = tokio::time::timeout(crate::ACQUIRE_TIMEOUT, self.0.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        rollback_if_open(&mut guard).await;
        // Marked open first: if BEGIN fails, or this future is dropped while
        // it runs, dropping `tx` rolls back whatever did begin.
        guard.open = true;
        let mut tx = WriterTx { guard };
        tx.guard.conn.execute("BEGIN IMMEDIATE").await?;
        Ok(Tx(Inner::Writer(tx)))
    }

    pub(crate) async fn close(&self) {
        rollback_if_open(&mut *self.0.lock().await).await;
    }
}

/// Ends a transaction that may still be open. "May": a request cancelled while
/// its COMMIT (or BEGIN) ran leaves the flag set on a connection that has no
/// transaction, and then SQLite's "no transaction is active" is the expected
/// answer. Any other failure shows again on the next BEGIN.
async fn rollback_if_open(conn: &mut WriterConn) {
    if conn.open {
        conn.open = false;
        if let Err(error) = conn.conn.execute("ROLLBACK").await {
            tracing::debug!(%error, "rolling back an abandoned SQLite transaction");
        }
    }
}

struct WriterTx {
    guard: OwnedMutexGuard<WriterConn>,
}

impl Drop for WriterTx {
    /// A transaction dropped open (an error, or a cancelled request) is rolled
    /// back at once by a task of its own, so that SQLite's write lock is not
    /// held until the next write; failing that, the next `begin` rolls it back.
    fn drop(&mut self) {
        if !self.guard.open {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = OwnedMutexGuard::mutex(&self.guard).clone();
            runtime.spawn(async move { rollback_if_open(&mut *writer.lock().await).await });
        }
    }
}

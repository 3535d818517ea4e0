//! Write transactions, and on an SQLite file the one connection they all run on.
//!
//! Why one connection: SQLite drops a connection's whole page cache whenever
//! another connection has written since it last looked, so a pool of writers
//! re-read each B-tree page they touched from the WAL, a system call per page.
//! SQLite takes one writer at a time anyway; here in-process writers queue on
//! an async mutex instead, and the writer's cache stays warm. Writers in other
//! processes (`locus admin`) are waited for at `BEGIN IMMEDIATE` without
//! blocking a thread (see [`Writer::begin`]).
//!
//! Why rusqlite there: sqlx runs each SQLite connection on a worker thread,
//! and every statement costs two handoffs between threads, more than SQLite
//! takes to run it. An audit event is one more statement in every change, so
//! that handoff was most of what an event cost (docs/benchmarks.md, audit log).
//! The writer runs its statements on the calling thread, as the fast read path
//! (`fast.rs`) does for reads. A statement that is not waiting for a lock
//! takes microseconds. The price: a long write (a retention purge of many
//! events, a large metadata push) holds a runtime thread for its duration,
//! as it held sqlx's worker before.
//!
//! PostgreSQL, and an SQLite database that is not a file, keep sqlx's pooled
//! transactions. Store code does not see the difference: it writes
//! `tx.query(sql).bind(…).execute().await` with `$n` placeholders, and decodes
//! [`Row`]s through [`Cols`], whatever is underneath.

use crate::row::Cols;
use crate::{Result, StoreError};
use rusqlite::types::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// An open write transaction; rolled back when dropped without [`Tx::commit`].
pub(crate) struct Tx(Inner);

enum Inner {
    Pooled(sqlx::Transaction<'static, sqlx::Any>),
    Writer(WriterTx),
}

/// The writer's connection while a transaction holds it.
struct WriterTx(OwnedMutexGuard<rusqlite::Connection>);

impl Tx {
    pub(crate) fn pooled(tx: sqlx::Transaction<'static, sqlx::Any>) -> Tx {
        Tx(Inner::Pooled(tx))
    }

    /// A statement to run in this transaction, with `$1…$n` bound in order.
    pub(crate) fn query<'a>(&'a mut self, sql: &'a str) -> Query<'a> {
        Query {
            tx: self,
            sql,
            params: Vec::new(),
        }
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self.0 {
            Inner::Pooled(tx) => tx.commit().await?,
            // Should COMMIT fail, dropping `tx` rolls back.
            Inner::Writer(tx) => tx.0.execute_batch("COMMIT")?,
        }
        Ok(())
    }
}

/// A value bound to a placeholder. Nulls keep their type: PostgreSQL refuses
/// a text NULL for an integer column.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    NullText,
    NullInt,
}

/// What [`Query::bind`] takes.
pub(crate) trait Bind {
    /// The NULL of this type, for `None`.
    const NULL: Param;
    fn param(self) -> Param;
}

impl Bind for &str {
    const NULL: Param = Param::NullText;
    fn param(self) -> Param {
        Param::Text(self.to_owned())
    }
}
impl Bind for String {
    const NULL: Param = Param::NullText;
    fn param(self) -> Param {
        Param::Text(self)
    }
}
impl Bind for &String {
    const NULL: Param = Param::NullText;
    fn param(self) -> Param {
        Param::Text(self.clone())
    }
}
impl Bind for i64 {
    const NULL: Param = Param::NullInt;
    fn param(self) -> Param {
        Param::Int(self)
    }
}
impl Bind for bool {
    const NULL: Param = Param::NullInt;
    fn param(self) -> Param {
        Param::Int(i64::from(self))
    }
}
impl Bind for &i64 {
    const NULL: Param = Param::NullInt;
    fn param(self) -> Param {
        Param::Int(*self)
    }
}
impl<'a, T> Bind for &'a Option<T>
where
    &'a T: Bind,
{
    const NULL: Param = <&'a T>::NULL;
    fn param(self) -> Param {
        self.as_ref().map_or(Self::NULL, Bind::param)
    }
}
impl<T: Bind> Bind for Option<T> {
    const NULL: Param = T::NULL;
    fn param(self) -> Param {
        self.map_or(T::NULL, Bind::param)
    }
}

/// A statement being built by [`Tx::query`].
pub(crate) struct Query<'a> {
    tx: &'a mut Tx,
    sql: &'a str,
    params: Vec<Param>,
}

impl Query<'_> {
    pub(crate) fn bind(mut self, value: impl Bind) -> Self {
        self.params.push(value.param());
        self
    }

    /// Runs the statement; answers how many rows it changed.
    pub(crate) async fn execute(self) -> Result<u64> {
        match &mut self.tx.0 {
            Inner::Pooled(tx) => Ok(sqlx_query(self.sql, self.params).execute(&mut **tx).await?.rows_affected()),
            Inner::Writer(WriterTx(conn)) => {
                let mut stmt = conn.prepare_cached(self.sql)?;
                bind_lite(&mut stmt, self.params)?;
                Ok(stmt.raw_execute()? as u64)
            }
        }
    }

    pub(crate) async fn fetch_all(self) -> Result<Vec<Row>> {
        self.fetch(false).await
    }

    pub(crate) async fn fetch_optional(self) -> Result<Option<Row>> {
        Ok(self.fetch(true).await?.pop())
    }

    pub(crate) async fn fetch_one(self) -> Result<Row> {
        self.fetch_optional().await?.ok_or(StoreError::NotFound)
    }

    /// Every row, or only the first.
    async fn fetch(self, first_only: bool) -> Result<Vec<Row>> {
        match &mut self.tx.0 {
            Inner::Pooled(tx) => {
                let query = sqlx_query(self.sql, self.params);
                Ok(if first_only {
                    query.fetch_optional(&mut **tx).await?.into_iter().map(Row::Any).collect()
                } else {
                    query.fetch_all(&mut **tx).await?.into_iter().map(Row::Any).collect()
                })
            }
            Inner::Writer(WriterTx(conn)) => {
                let mut stmt = conn.prepare_cached(self.sql)?;
                bind_lite(&mut stmt, self.params)?;
                let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
                let width = names.len();
                let mut rows = stmt.raw_query();
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let values = (0..width).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?;
                    out.push(Row::Lite(LiteRow {
                        names: names.clone(),
                        values,
                    }));
                    if first_only {
                        break;
                    }
                }
                Ok(out)
            }
        }
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn sqlx_query(sql: &str, params: Vec<Param>) -> AnyQuery<'_> {
    params.into_iter().fold(sqlx::query(sql), |q, p| match p {
        Param::Text(v) => q.bind(v),
        Param::Int(v) => q.bind(v),
        Param::NullText => q.bind(None::<String>),
        Param::NullInt => q.bind(None::<i64>),
    })
}

/// Binds `params[i]` to `$i+1`, wherever (and however often) it appears.
fn bind_lite(stmt: &mut rusqlite::CachedStatement<'_>, params: Vec<Param>) -> Result<()> {
    for (i, p) in params.into_iter().enumerate() {
        let name = placeholder(i + 1);
        let index = stmt
            .parameter_index(&name)?
            .ok_or_else(|| StoreError::Corrupt(format!("a value bound to {name}, which the statement lacks")))?;
        match p {
            Param::Text(v) => stmt.raw_bind_parameter(index, v)?,
            Param::Int(v) => stmt.raw_bind_parameter(index, v)?,
            Param::NullText | Param::NullInt => stmt.raw_bind_parameter(index, rusqlite::types::Null)?,
        }
    }
    Ok(())
}

/// `$n`, made once for the numbers statements use.
fn placeholder(n: usize) -> std::borrow::Cow<'static, str> {
    static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| (0..=32).map(|n| format!("${n}")).collect());
    NAMES.get(n).map_or_else(|| format!("${n}").into(), |name| name.as_str().into())
}

/// A row read in a write transaction, from either driver.
pub(crate) enum Row {
    Any(sqlx::any::AnyRow),
    Lite(LiteRow),
}

/// A row of the rusqlite writer, copied out of its statement.
pub(crate) struct LiteRow {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl LiteRow {
    fn value(&self, col: &str) -> Result<&Value> {
        self.names
            .iter()
            .position(|n| n == col)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }
}

fn mismatch(col: &str, value: &Value) -> StoreError {
    StoreError::Corrupt(format!("column {col} holds {:?}", value.data_type()))
}

impl Cols for LiteRow {
    fn text(&self, col: &str) -> Result<String> {
        self.opt_text(col)?.ok_or_else(|| mismatch(col, &Value::Null))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self.value(col)? {
            Value::Text(s) => Ok(Some(s.clone())),
            Value::Null => Ok(None),
            other => Err(mismatch(col, other)),
        }
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.opt_int(col)?.ok_or_else(|| mismatch(col, &Value::Null))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self.value(col)? {
            Value::Integer(i) => Ok(Some(*i)),
            Value::Null => Ok(None),
            other => Err(mismatch(col, other)),
        }
    }
}

impl Cols for Row {
    fn text(&self, col: &str) -> Result<String> {
        match self {
            Row::Any(r) => r.text(col),
            Row::Lite(r) => r.text(col),
        }
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        match self {
            Row::Any(r) => r.opt_text(col),
            Row::Lite(r) => r.opt_text(col),
        }
    }
    fn int(&self, col: &str) -> Result<i64> {
        match self {
            Row::Any(r) => r.int(col),
            Row::Lite(r) => r.int(col),
        }
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        match self {
            Row::Any(r) => r.opt_int(col),
            Row::Lite(r) => r.opt_int(col),
        }
    }
}

/// The SQLite write connection, shared by every store handle of one database.
#[derive(Clone)]
pub(crate) struct Writer(Arc<Mutex<rusqlite::Connection>>);

/// How long statements inside a transaction wait on a lock. Holding the write
/// lock, they should never have to; if one does, it blocks this thread.
const STATEMENT_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

impl Writer {
    /// Opens the write connection to the (migrated) database file at `path`,
    /// with the settings the pool's connections get.
    pub(crate) fn open(path: &std::path::Path) -> Result<Writer> {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.execute_batch(&crate::sqlite_pragmas())?;
        conn.busy_timeout(STATEMENT_BUSY_TIMEOUT)?;
        // Every statement of the store stays prepared (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(256);
        Ok(Writer(Arc::new(Mutex::new(conn))))
    }

    /// Waits for the connection (as long as the pool would wait for one), then
    /// takes SQLite's write lock up front (`BEGIN IMMEDIATE`). While another
    /// process holds it, it retries with an async sleep rather than SQLite's
    /// busy handler, which would block this thread.
    pub(crate) async fn begin(&self) -> Result<Tx> {
        let deadline = Instant::now() + crate::ACQUIRE_TIMEOUT;
        let conn = tokio::time::timeout(crate::ACQUIRE_TIMEOUT, self.0.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        let mut pause = Duration::from_micros(200);
        conn.busy_timeout(Duration::ZERO)?;
        let begun = loop {
            match conn.execute_batch("BEGIN IMMEDIATE") {
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                other => break other,
            }
        };
        conn.busy_timeout(STATEMENT_BUSY_TIMEOUT)?;
        begun?;
        Ok(Tx(Inner::Writer(WriterTx(conn))))
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Drop for WriterTx {
    /// A transaction dropped open (an error, a failed COMMIT, a request
    /// cancelled while it waited inside the transaction) is rolled back at
    /// once, so that SQLite's write lock is not held until the next write.
    /// SQLite itself says whether one is open.
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            if let Err(error) = self.0.execute_batch("ROLLBACK") {
                tracing::debug!(%error, "rolling back an abandoned SQLite transaction");
            }
        }
    }
}

//! The one way the store reaches each database, behind one statement builder.
//!
//! - **PostgreSQL**: sqlx's pool, for reads and for write transactions.
//! - **SQLite**: rusqlite, for reads and for write transactions
//!   ([`crate::sqlite`]): one write connection (SQLite takes one writer at a
//!   time; in-process writers queue on a mutex and its page cache stays warm)
//!   and a few read-only connections (WAL lets them read beside the writer).
//!
//! Store code does not see which: it writes `self.read(sql).bind(…).fetch_*()`
//! for a read and `self.write(|mut tx| async move { tx.query(sql)…; tx.commit().await?; Ok(x) })`
//! for a change, with the same `$n` SQL text on both backends, and decodes
//! [`Row`]s through [`Cols`].
//!
//! Why a write is a closure: the whole transaction is one unit of SQLite work,
//! run off the async runtime's workers ([`crate::sqlite::off_runtime_async`]), so
//! a long write (a retention purge, a large metadata push) or a wait for
//! another process's lock never stalls other requests, and the statements of
//! one transaction cost no thread handoff each (sqlx's SQLite driver paid two
//! per statement, which was most of what a change cost: docs/benchmarks.md).

use crate::row::Cols;
use crate::sqlite::{LiteRow, Sqlite};
use crate::{Result, StoreError};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// The database behind a [`Store`](crate::Store).
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(Arc<Sqlite>),
    Postgres(sqlx::AnyPool),
}

impl Db {
    /// Runs `body` with a new write transaction, which the body commits
    /// ([`Tx::commit`]); dropped uncommitted, it is rolled back. On SQLite it
    /// takes the write lock up front (`BEGIN IMMEDIATE`): a deferred
    /// transaction that reads and then writes fails with SQLITE_BUSY when
    /// another writer got in between, instead of waiting.
    pub(crate) async fn write<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: FnOnce(Tx) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        match self {
            Db::Postgres(pool) => body(Tx(Inner::Pooled(pool.begin().await?))).await,
            Db::Sqlite(lite) => {
                let writer = lite.writer();
                let run = async move {
                    let conn = tokio::time::timeout(crate::ACQUIRE_TIMEOUT, writer.lock_owned())
                        .await
                        .map_err(|_| StoreError::Busy)?;
                    // Waits (on SQLite's busy handler, off the runtime) while
                    // another process (`locus admin`) holds the write lock.
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    body(Tx(Inner::Lite(LiteTx(conn)))).await
                };
                let result = crate::sqlite::off_runtime_async(run).await;
                lite.wrote();
                result
            }
        }
    }

    /// Runs multi-statement SQL (a migration) in its own transaction, after
    /// `prelude` (a statement that serializes migrating instances).
    pub(crate) async fn batch(&self, prelude: Option<&str>, sql: &str) -> Result<()> {
        match self {
            Db::Postgres(pool) => {
                use sqlx::Executor as _;
                let mut tx = pool.begin().await?;
                if let Some(p) = prelude {
                    tx.execute(p).await?;
                }
                tx.execute(sql).await?;
                tx.commit().await?;
                Ok(())
            }
            Db::Sqlite(lite) => {
                let writer = lite.writer();
                let result = crate::sqlite::off_runtime_async(async move {
                    let conn = writer.lock_owned().await;
                    conn.execute_batch(&format!("BEGIN IMMEDIATE; {sql}; COMMIT;")).inspect_err(|_| {
                        if !conn.is_autocommit() {
                            let _ = conn.execute_batch("ROLLBACK");
                        }
                    })?;
                    Ok(())
                })
                .await;
                lite.wrote();
                result
            }
        }
    }
}

/// An open write transaction; rolled back when dropped without commit.
pub(crate) struct Tx(Inner);

enum Inner {
    Pooled(sqlx::Transaction<'static, sqlx::Any>),
    Lite(LiteTx),
}

/// The SQLite write connection while a transaction holds it.
struct LiteTx(OwnedMutexGuard<rusqlite::Connection>);

impl Drop for LiteTx {
    /// A transaction left open (an error inside the body, a failed COMMIT) is
    /// rolled back at once, so that SQLite's write lock is not held until the
    /// next write. SQLite itself says whether one is open.
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            if let Err(error) = self.0.execute_batch("ROLLBACK") {
                tracing::debug!(%error, "rolling back an abandoned SQLite transaction");
            }
        }
    }
}

impl Tx {
    /// A statement to run in this transaction, with `$1…$n` bound in order.
    pub(crate) fn query<'a>(&'a mut self, sql: &'a str) -> Query<'a> {
        Query {
            target: Target::Tx(self),
            sql,
            params: Vec::new(),
        }
    }

    pub(crate) async fn commit(self) -> Result<()> {
        match self.0 {
            Inner::Pooled(tx) => tx.commit().await?,
            // Should COMMIT fail, dropping the guard rolls back.
            Inner::Lite(tx) => tx.0.execute_batch("COMMIT")?,
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

/// Where a statement runs: on its own (a read) or inside a write transaction.
enum Target<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

/// A statement being built by [`Tx::query`] or [`Db::read`].
pub(crate) struct Query<'a> {
    target: Target<'a>,
    sql: &'a str,
    params: Vec<Param>,
}

impl Db {
    /// A read outside any transaction, with `$1…$n` bound in order. On
    /// SQLite it runs on a read-only connection, which in WAL mode sees the
    /// latest commit of any process.
    pub(crate) fn read<'a>(&'a self, sql: &'a str) -> Query<'a> {
        Query {
            target: Target::Db(self),
            sql,
            params: Vec::new(),
        }
    }
}

impl Query<'_> {
    pub(crate) fn bind(mut self, value: impl Bind) -> Self {
        self.params.push(value.param());
        self
    }

    /// Runs the statement; answers how many rows it changed.
    pub(crate) async fn execute(self) -> Result<u64> {
        match self.target {
            Target::Tx(Tx(Inner::Pooled(tx))) => Ok(sqlx_query(self.sql, self.params).execute(&mut **tx).await?.rows_affected()),
            Target::Tx(Tx(Inner::Lite(LiteTx(conn)))) => crate::sqlite::execute(conn, self.sql, self.params),
            // Changes go through `write`, whose transaction records their event.
            Target::Db(_) => Err(StoreError::Corrupt("a write outside a transaction".into())),
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

    /// The first column of the first row as an integer (a `COUNT(*)`).
    pub(crate) async fn fetch_int(self) -> Result<i64> {
        self.fetch_one().await?.first_int()
    }

    /// Every row, or only the first.
    async fn fetch(self, first_only: bool) -> Result<Vec<Row>> {
        let (sql, params) = (self.sql, self.params);
        match self.target {
            Target::Tx(Tx(Inner::Pooled(tx))) => {
                let query = sqlx_query(sql, params);
                Ok(if first_only {
                    query.fetch_optional(&mut **tx).await?.into_iter().map(Row::Any).collect()
                } else {
                    query.fetch_all(&mut **tx).await?.into_iter().map(Row::Any).collect()
                })
            }
            Target::Db(Db::Postgres(pool)) => {
                let query = sqlx_query(sql, params);
                Ok(if first_only {
                    query.fetch_optional(pool).await?.into_iter().map(Row::Any).collect()
                } else {
                    query.fetch_all(pool).await?.into_iter().map(Row::Any).collect()
                })
            }
            Target::Tx(Tx(Inner::Lite(LiteTx(conn)))) => Ok(crate::sqlite::fetch(conn, sql, params, first_only)?
                .into_iter()
                .map(Row::Lite)
                .collect()),
            Target::Db(Db::Sqlite(lite)) => Ok(lite.read(sql, params, first_only)?.into_iter().map(Row::Lite).collect()),
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

/// A result row, from either backend.
pub(crate) enum Row {
    Any(sqlx::any::AnyRow),
    Lite(LiteRow),
}

impl Row {
    fn first_int(&self) -> Result<i64> {
        match self {
            Row::Any(r) => Ok(sqlx::Row::try_get(r, 0)?),
            Row::Lite(r) => r.first_int(),
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

//! SQLite through rusqlite: the one write connection, the read-only
//! connections, and running their work off the async runtime.
//!
//! Freshness: in WAL mode every read statement starts a read transaction on
//! the latest commit, including commits by other processes (`locus admin`),
//! so nothing read here is stale.

use crate::db::Param;
use crate::row::Cols;
use crate::{checkpoint, Result, StoreError};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};

/// How long a statement waits for another process's lock before failing.
/// A write waits on a thread off the runtime ([`off_runtime_async`]); a reader
/// in WAL mode waits only in rare recovery cases.
const BUSY_TIMEOUT: Duration = crate::ACQUIRE_TIMEOUT;

/// Read-only connections kept open between reads.
const IDLE_READERS: usize = 16;

pub(crate) struct Sqlite {
    path: PathBuf,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    checkpoints: checkpoint::Checkpointer,
}

impl Sqlite {
    /// Opens (creating when missing) the database file a `sqlite:` URL names.
    pub(crate) fn open(url: &str) -> Result<Sqlite> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(StoreError::UnsupportedUrl)?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") {
            // Every connection of an in-memory database would be a database of its own.
            return Err(StoreError::UnsupportedUrl);
        }
        let path = PathBuf::from(path);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {};",
            checkpoint::BACKSTOP_PAGES
        ))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Every statement of the store stays prepared (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(256);
        Ok(Sqlite {
            checkpoints: checkpoint::Checkpointer::start(path.clone()),
            path,
            writer: Arc::new(tokio::sync::Mutex::new(conn)),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn writer(&self) -> Arc<tokio::sync::Mutex<Connection>> {
        self.writer.clone()
    }

    /// Tells the checkpointer that a transaction has ended.
    pub(crate) fn wrote(&self) {
        self.checkpoints.wrote();
    }

    /// Runs one read statement on a read-only connection, on the calling
    /// thread. In WAL mode a reader takes no lock that a writer holds, so it
    /// never waits for one: the store's reads are indexed lookups and pages
    /// that take microseconds. Handing each to another thread (through
    /// `block_in_place` or `spawn_blocking`) cost a third of the throughput
    /// of every authorized request (docs/benchmarks.md, "one way to each
    /// database"), so reads stay here; writes, which may wait, do not.
    pub(crate) fn read(&self, sql: &str, params: Vec<Param>, first_only: bool) -> Result<Vec<LiteRow>> {
        self.with_reader(|conn| fetch(conn, sql, params, first_only))
    }

    /// Lends an idle read-only connection (or a new one) to `f`.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self
            .readers
            .lock()
            .map_err(|_| StoreError::Corrupt("read pool poisoned".into()))?
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn.set_prepared_statement_cache_capacity(64);
                conn
            }
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.readers.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

/// Runs a whole write transaction (async code shared with PostgreSQL, whose
/// SQLite statements complete without waiting) off the async runtime's
/// workers: on a multi-threaded runtime (the server) through
/// `block_in_place`, which hands this worker's other tasks to another thread
/// for the duration, so a wait for another process's lock or a long purge
/// stalls nothing else. On a current-thread runtime (the CLI, some tests)
/// there is no other worker to hand them to, and the work runs in place.
pub(crate) async fn off_runtime_async<T>(work: impl Future<Output = T>) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(move || handle.block_on(work)),
        _ => work.await,
    }
}

/// Runs a statement that changes rows; answers how many.
pub(crate) fn execute(conn: &Connection, sql: &str, params: Vec<Param>) -> Result<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    Ok(stmt.raw_execute()? as u64)
}

/// Runs a statement and copies out every row, or only the first.
pub(crate) fn fetch(conn: &Connection, sql: &str, params: Vec<Param>, first_only: bool) -> Result<Vec<LiteRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    let names = column_names(sql, &stmt);
    let width = names.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..width).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?;
        out.push(LiteRow {
            names: names.clone(),
            values,
            hint: std::cell::Cell::new(0),
        });
        if first_only {
            break;
        }
    }
    Ok(out)
}

/// The column names of the statement `sql`, made once per SQL text and
/// shared by the rows (rusqlite would allocate them per query).
fn column_names(sql: &str, stmt: &rusqlite::CachedStatement<'_>) -> Arc<[String]> {
    static NAMES: std::sync::LazyLock<Mutex<std::collections::HashMap<String, Arc<[String]>>>> = std::sync::LazyLock::new(Mutex::default);
    let make = || -> Arc<[String]> { stmt.column_names().into_iter().map(str::to_owned).collect() };
    let Ok(mut cache) = NAMES.lock() else { return make() };
    if let Some(names) = cache.get(sql) {
        return names.clone();
    }
    let names = make();
    // Statements built with `format!` differ only in their own text; the
    // cache stays as small as the store's set of statements.
    cache.insert(sql.to_owned(), names.clone());
    names
}

/// Binds `params[i]` to `$i+1`, wherever (and however often) it appears.
fn bind(stmt: &mut rusqlite::CachedStatement<'_>, params: Vec<Param>) -> Result<()> {
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

/// A row copied out of its statement.
pub(crate) struct LiteRow {
    names: Arc<[String]>,
    values: Vec<Value>,
    /// Where the last lookup by name matched: decoders mostly read columns
    /// in order, so the next one is usually right after it.
    hint: std::cell::Cell<usize>,
}

impl LiteRow {
    fn value(&self, col: &str) -> Result<&Value> {
        let n = self.names.len();
        let start = self.hint.get();
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.names[i] == col)
            .inspect(|&i| self.hint.set(i + 1))
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }

    pub(crate) fn first_int(&self) -> Result<i64> {
        match self.values.first() {
            Some(Value::Integer(i)) => Ok(*i),
            other => Err(StoreError::Corrupt(format!("expected an integer, found {other:?}"))),
        }
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

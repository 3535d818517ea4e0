//! The SQLite fast read path for the queries every request makes (the session,
//! and the session with its project and membership).
//!
//! Why: sqlx runs each SQLite connection on a worker thread, and every query
//! pays two cross-thread handoffs; on the authentication path that handoff was
//! most of a request's cost. These reads run instead on a small pool of
//! read-only rusqlite connections to the same file, on the calling thread (an
//! indexed read takes microseconds). The SQL text is the same constant the sqlx
//! path uses, and rows decode through the same functions (`row::Cols`).
//!
//! Freshness: in WAL mode every statement starts a read transaction on the
//! latest commit, including commits by other processes (`locus admin`), so
//! nothing read here can be stale.

use crate::row::NamedRow;
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::PathBuf;
use std::sync::Mutex;

pub(crate) struct FastReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl FastReads {
    /// The fast path for a `sqlite:` URL naming a file; `None` for in-memory databases.
    pub(crate) fn for_url(url: &str) -> Option<FastReads> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") {
            return None;
        }
        Some(FastReads {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Runs `sql` with named `$n` parameters and decodes every row.
    pub(crate) fn query_all<T>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
        mut decode: impl FnMut(&NamedRow<'_, '_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.with_connection(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
            let mut rows = stmt.query(params)?;
            while let Some(row) = rows.next()? {
                out.push(decode(&NamedRow {
                    row,
                    names: &names,
                    hint: std::cell::Cell::new(0),
                })?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Lends an idle read-only connection (or a new one) to `f`.
    fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match self
            .idle
            .lock()
            .map_err(|_| StoreError::Corrupt("fast read pool poisoned".into()))?
            .pop()
        {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < 16 {
                idle.push(conn);
            }
        }
        result
    }

    /// Runs `sql` with named `$n` parameters and decodes the first row, if any.
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: &[(&str, &dyn ToSql)],
        decode: impl FnOnce(&NamedRow<'_, '_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.with_connection(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
            let mut rows = stmt.query(params)?;
            match rows.next()? {
                Some(row) => decode(&NamedRow {
                    row,
                    names: &names,
                    hint: std::cell::Cell::new(0),
                })
                .map(Some),
                None => Ok(None),
            }
        })
    }
}

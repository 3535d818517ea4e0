//! Reading a result row by column name, whichever driver produced it: sqlx's
//! `AnyRow`, or a rusqlite row ([`NamedRow`]) on the SQLite fast read path (`fast.rs`).
//! Each record type is decoded by one function over this trait.

use crate::{Result, StoreError};
use sqlx::Row as _;

pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>>;
}

impl Cols for sqlx::any::AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get(col)?)
    }
}

/// A rusqlite row whose column names were read once per query: rusqlite's own
/// lookup by name asks SQLite for every column's name on every `get`.
pub(crate) struct NamedRow<'a, 'stmt> {
    pub(crate) row: &'a rusqlite::Row<'stmt>,
    pub(crate) names: &'a [String],
    /// Where the last lookup matched; decoders mostly read columns in order.
    pub(crate) hint: std::cell::Cell<usize>,
}

impl NamedRow<'_, '_> {
    fn index(&self, col: &str) -> Result<usize> {
        let n = self.names.len();
        let start = self.hint.get();
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.names[i] == col)
            .inspect(|&i| self.hint.set(i + 1))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }

    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> Result<T> {
        Ok(self.row.get(self.index(col)?)?)
    }
}

impl Cols for NamedRow<'_, '_> {
    fn text(&self, col: &str) -> Result<String> {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>> {
        self.get(col)
    }
}

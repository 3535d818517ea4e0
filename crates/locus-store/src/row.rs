//! Reading a result row by column name, whichever driver produced it: sqlx's
//! `AnyRow`, or a `rusqlite::Row` on the SQLite fast read path (see `fast.rs`).
//! Each record type is decoded by one function over this trait.

use crate::{Result, StoreError};
use sqlx::Row as _;

pub(crate) trait Cols {
    fn text(&self, col: &str) -> Result<String>;
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
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
}

impl Cols for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<String> {
        self.get(col).map_err(StoreError::from)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        self.get(col).map_err(StoreError::from)
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.get(col).map_err(StoreError::from)
    }
}

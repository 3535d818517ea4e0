//! Test support: every test gets a database of its own, so runs never collide.
//!
//! PostgreSQL tests use `LOCUS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and work in a fresh schema each.
//! When that server cannot be reached they are skipped with a message, except
//! under `CI=true`, where they must run.

use sqlx::{Connection, Executor};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh SQLite database file in `dir`.
pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite:{}", dir.join("locus-test.db").display())
}

/// A URL of a new, empty schema on the test PostgreSQL server, or `None`
/// (after saying so) when there is none outside CI.
pub async fn fresh_postgres_url() -> Option<String> {
    sqlx::any::install_default_drivers();
    let base = std::env::var("LOCUS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let schema = format!("locus_test_{}", locus_core::ids::random_lower36(12));
    let created = async {
        let mut conn = sqlx::AnyConnection::connect(&base).await?;
        conn.execute(format!("CREATE SCHEMA {schema}").as_str()).await?;
        conn.close().await
    }
    .await;
    match created {
        Ok(()) => {
            let sep = if base.contains('?') { '&' } else { '?' };
            Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
        }
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but PostgreSQL at {base} is not usable: {e}")
        }
        Err(e) => {
            eprintln!("skipped: PostgreSQL at {base} is not reachable ({e}); set CI=true to make this fail");
            None
        }
    }
}

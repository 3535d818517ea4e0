//! A small migration runner: each backend has its own ordered, append-only list
//! of SQL files, applied once each and recorded in `locus_migrations`.
//! Several instances starting at once on PostgreSQL take turns through an
//! advisory lock; on SQLite `BEGIN IMMEDIATE` serializes them.

use crate::{Backend, Result, Store, StoreError};
use sqlx::Executor;

struct Migration {
    version: i64,
    sql: &'static str,
}

/// Each backend's migrations, in order. Append only: never edit one that has shipped.
macro_rules! migrations {
    ($($version:literal => $file:literal),* $(,)?) => {
        &[$(Migration { version: $version, sql: include_str!(concat!("../migrations/", $file)) }),*]
    };
}

// A migration whose SQL both databases accept lives in `common/`; one that needs
// a dialect (triggers) has a file per backend.
const SQLITE: &[Migration] = migrations!(
    1 => "common/0001_accounts.sql",
    2 => "common/0002_projects.sql",
    3 => "common/0003_invitations.sql",
    4 => "sqlite/0004_audit.sql",
    5 => "common/0005_metadata.sql",
    6 => "common/0006_public_access.sql",
);
const POSTGRES: &[Migration] = migrations!(
    1 => "common/0001_accounts.sql",
    2 => "common/0002_projects.sql",
    3 => "common/0003_invitations.sql",
    4 => "postgres/0004_audit.sql",
    5 => "common/0005_metadata.sql",
    6 => "common/0006_public_access.sql",
);

pub(crate) async fn run(store: &Store) -> Result<()> {
    let migrations = match store.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let mut tx = store.begin().await?;
    if store.backend == Backend::Postgres {
        // An arbitrary constant naming "locus migrations"; released at commit.
        sqlx::query("SELECT pg_advisory_xact_lock(7340912)").execute(&mut *tx).await?;
    }
    tx.execute("CREATE TABLE IF NOT EXISTS locus_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .await?;
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM locus_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let applied = applied.unwrap_or(0);
    for m in migrations.iter().filter(|m| m.version > applied) {
        tracing::info!(version = m.version, backend = store.backend.name(), "applying migration");
        tx.execute(m.sql).await.map_err(|source| StoreError::Migration {
            version: m.version,
            source,
        })?;
        sqlx::query("INSERT INTO locus_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(m.version)
            .bind(crate::now_millis())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

//! A small migration runner: each backend has its own ordered, append-only list
//! of SQL files, applied once each and recorded in `locus_migrations`.
//! Several instances starting at once on PostgreSQL take turns through an
//! advisory lock; on SQLite `BEGIN IMMEDIATE` serializes them.

use crate::{Backend, Result, Store, StoreError};

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
    7 => "sqlite/0007_audit_clustered.sql",
    8 => "common/0008_data_plane.sql",
    9 => "common/0009_dwh_requests.sql",
    10 => "common/0010_usage.sql",
    11 => "common/0011_email_verification.sql",
);
const POSTGRES: &[Migration] = migrations!(
    1 => "common/0001_accounts.sql",
    2 => "common/0002_projects.sql",
    3 => "common/0003_invitations.sql",
    4 => "postgres/0004_audit.sql",
    5 => "common/0005_metadata.sql",
    6 => "common/0006_public_access.sql",
    8 => "common/0008_data_plane.sql",
    9 => "common/0009_dwh_requests.sql",
    10 => "common/0010_usage.sql",
    11 => "common/0011_email_verification.sql",
);

pub(crate) async fn run(store: &Store) -> Result<()> {
    run_until(store, i64::MAX).await
}

/// Applies the migrations up to `last` (all of them in [`run`]; tests stop
/// earlier), each in a transaction of its own with its record.
async fn run_until(store: &Store, last: i64) -> Result<()> {
    let migrations = match store.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    // Instances starting at once take turns: on PostgreSQL through an advisory
    // lock (an arbitrary constant naming "locus migrations", released at
    // commit), on SQLite through BEGIN IMMEDIATE. Each one then finds what the
    // others applied.
    let prelude = (store.backend == Backend::Postgres).then_some("SELECT pg_advisory_xact_lock(7340912)");
    store
        .db
        .batch(
            prelude,
            "CREATE TABLE IF NOT EXISTS locus_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
    for m in migrations.iter().filter(|m| m.version <= last) {
        let record = format!(
            "INSERT INTO locus_migrations (version, applied_at) VALUES ({v}, {now})",
            v = m.version,
            now = crate::now_millis()
        );
        if applied(store, m.version).await? {
            continue;
        }
        tracing::info!(version = m.version, backend = store.backend.name(), "applying migration");
        // The record goes first: a second instance that got here meanwhile
        // fails on the primary key and rolls back the whole migration, then
        // finds it applied.
        if let Err(source) = store.db.batch(prelude, &format!("{record}; {}", m.sql)).await {
            if !applied(store, m.version).await? {
                return Err(StoreError::Migration {
                    version: m.version,
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(())
}

async fn applied(store: &Store, version: i64) -> Result<bool> {
    let n = store
        .read("SELECT COUNT(*) FROM locus_migrations WHERE version = $1")
        .bind(version)
        .fetch_int()
        .await?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use crate::{AuditQuery, Backend, Store};

    /// Migration 7 rebuilds SQLite's audit table: every event stays, readable
    /// as before, and the table is still append-only.
    #[tokio::test]
    async fn the_clustered_audit_table_keeps_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}?mode=rwc", dir.path().join("old.db").display());
        let old = Store::connect(&url).await.unwrap();
        assert_eq!(old.backend(), Backend::Sqlite);
        super::run_until(&old, 6).await.unwrap();
        for (id, project) in [("1", Some("p1")), ("2", None)] {
            old.write(|mut tx| async move {
                tx.query(
                    "INSERT INTO audit_events (event_id, project_id, account_id, request_id, remote_host, event_type, created_at, content) \
                     VALUES ($1, $2, 'acc', 'req', 'host', 'kind', 5, '{}')",
                )
                .bind(format!("{id:0>56}"))
                .bind(project)
                .execute()
                .await?;
                tx.commit().await
            })
            .await
            .unwrap();
        }
        drop(old);

        let store = Store::open(&url).await.unwrap();
        let in_project = AuditQuery {
            project_id: Some("p1".into()),
            limit: 10,
            ..AuditQuery::default()
        };
        let events = store.audit_events(&in_project).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            store.audit_event("p1", &events[0].event_id).await.unwrap().unwrap().event_type,
            "kind"
        );
        let of_account = AuditQuery {
            account_id: Some("acc".into()),
            limit: 10,
            ..AuditQuery::default()
        };
        let mut projects: Vec<Option<String>> = store
            .audit_events(&of_account)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.project_id)
            .collect();
        projects.sort();
        assert_eq!(projects, [None, Some("p1".to_owned())]);
        let refused = store
            .write(|mut tx| async move { tx.query("DELETE FROM audit_events").execute().await })
            .await;
        assert!(refused.is_err(), "still append-only");
    }
}

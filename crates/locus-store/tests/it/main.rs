//! The store contract: every case runs against SQLite and against PostgreSQL.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod accounts;
mod audit;
mod credentials;
mod invitations;
mod jobs;
mod metadata;
mod projects;
mod public;
mod sqlite_file;
mod throttle;

use locus_store::{testing, NewAccount, Store};

/// A store on a fresh database of the given backend; `None` when PostgreSQL
/// is unavailable outside CI (the case is then skipped, with a message).
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: tempfile::TempDir,
}

pub async fn open(backend: &str) -> Option<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        "sqlite" => testing::sqlite_url(dir.path()),
        _ => testing::fresh_postgres_url().await?,
    };
    let store = Store::open(&url).await.expect("open store");
    Some(TestDb { store, url, _dir: dir })
}

/// The actor of store calls made by the tests.
pub fn actor() -> locus_store::Actor {
    locus_store::Actor {
        account_id: None,
        request_id: "testrequest00000".into(),
        remote_host: "127.0.0.1:1".into(),
    }
}

/// A new account made through the store, with [`new_account`]'s fields.
pub async fn account(db: &TestDb, email: &str) -> locus_store::Account {
    db.store.create_account(&actor(), &new_account(email)).await.unwrap()
}

pub fn new_account(email: &str) -> NewAccount {
    NewAccount {
        email: email.to_owned(),
        given_name: "Test".to_owned(),
        surname: "User".to_owned(),
        phone_number: None,
        consent_granted: true,
        password_hash: "$argon2id$not-a-real-hash".to_owned(),
        operator: false,
        preferences: serde_json::json!({"language": "en"}),
        email_verified: true,
    }
}

/// Declares each listed case (an `async fn(TestDb)` in module `$module`) as
/// one test per backend.
#[macro_export]
macro_rules! contract {
    ($module:ident: $($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let db = $crate::open("sqlite").await.expect("sqlite always runs");
                super::$case(db).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(db) = $crate::open("postgres").await {
                    super::$case(db).await;
                }
            })*
        }
    };
}

//! Persistence for Locus. One [`Store`] speaks to either SQLite (the embedded
//! default, through rusqlite) or PostgreSQL (several instances sharing one
//! database, through sqlx), one driver per backend behind one statement
//! builder (`db`), so every query is written once, with `$n` placeholders
//! that both backends accept. Where the two dialects differ, the store asks
//! [`Backend`] and says why at that spot.
//!
//! Invariants:
//! - nothing else in the workspace imports sqlx or rusqlite;
//! - SQLite writes run off the async runtime's workers (`sqlite::off_runtime_async`);
//!   reads, which in WAL mode never wait for a lock, run in place;
//! - each backend has its own append-only migrations, run on open;
//! - every change that spans rows runs in one transaction ([`Store::write`]);
//! - database failures are translated here, by error kind and the statement
//!   that raised them, never by parsing messages.

mod accounts;
mod audit;
mod checkpoint;
mod credentials;
mod db;
mod error;
mod invitations;
mod jobs;
mod metadata;
mod migrate;
mod projects;
mod public;
mod row;
mod sqlite;
mod studio;
mod throttle;
mod uploads;

#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::{Account, AccountStatus, NewAccount};
pub use audit::{Actor, AuditEvent, AuditQuery};
pub use credentials::{AccessToken, EmailVerification, NewSession, PasswordReset, SessionAccount};
pub use error::StoreError;
pub use invitations::{Invitation, LinkSecret, NewInvitation};
pub use jobs::{job_actor, DataChange, DatasetVersion, Download, Job, JobEnd, JobQuery, JobStatus, NewJob, NewVersion, Usage, UsageSum};
pub use metadata::{Author, MdKey, MdObject, MdWrite, PushSummary, Visibility};
pub use projects::{
    Member, Membership, NewProject, Organization, Page, PageRequest, Project, ProjectAccess, ProjectFilter, ProjectOrder, ProjectPatch,
};
pub use public::{NewPublicToken, PublicSession, PublicToken};
pub use studio::{Bookmark, Share, Story};
pub use throttle::{Throttle, ThrottleVerdict};
pub use uploads::{Upload, UploadPart};

use db::Db;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The handle every part of Locus uses to reach the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

pub(crate) use db::Tx;

/// How long a change waits for the database: for a pooled connection, for
/// SQLite's writer, or for another process's write lock.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Connects, creating an SQLite file when needed, and runs the backend's migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        migrate::run(&store).await?;
        Ok(store)
    }

    /// Connects without migrating.
    async fn connect(url: &str) -> Result<Store> {
        let backend = Backend::from_url(url)?;
        let db = match backend {
            Backend::Sqlite => Db::Sqlite(std::sync::Arc::new(sqlite::Sqlite::open(url)?)),
            Backend::Postgres => {
                sqlx::any::install_default_drivers();
                let options = AnyConnectOptions::from_str(url)?;
                Db::Postgres(
                    AnyPoolOptions::new()
                        .max_connections(16)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        // No ping before every acquire: it doubled the round trips
                        // of every request. A connection that died (a database
                        // restart) fails the one request that finds it and is then
                        // dropped from the pool.
                        .test_before_acquire(false)
                        .connect_with(options)
                        .await?,
                )
            }
        };
        Ok(Store { db, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        self.read("SELECT 1").fetch_one().await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Db::Postgres(pool) = &self.db {
            pool.close().await;
        }
    }

    /// A read outside any transaction (`db::Query`).
    pub(crate) fn read<'a>(&'a self, sql: &'a str) -> db::Query<'a> {
        self.db.read(sql)
    }

    /// Runs `body` with a new write transaction, which it commits; dropped
    /// uncommitted, the transaction is rolled back (`db::Db::write`).
    pub(crate) async fn write<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: FnOnce(Tx) -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>> + Send,
        T: Send,
    {
        self.db.write(body).await
    }
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

//! Persistence for Locus. One [`Store`] speaks to either SQLite (the embedded
//! default) or PostgreSQL (several instances sharing one database) through
//! sqlx's `Any` driver, so every query is written once, with `$n` placeholders
//! that both backends accept. Where the two dialects differ, the store asks
//! [`Backend`] and says why at that spot. On an SQLite file, writes and the
//! hottest reads skip sqlx for rusqlite on the calling thread (`tx`, `fast`),
//! with the same SQL text.
//!
//! Invariants:
//! - nothing else in the workspace imports sqlx;
//! - each backend has its own append-only migrations, run on open;
//! - every change that spans rows runs in one transaction;
//! - database failures are translated here, by error kind and the statement
//!   that raised them, never by parsing messages.

mod accounts;
mod audit;
mod checkpoint;
mod credentials;
mod error;
mod fast;
mod invitations;
mod metadata;
mod migrate;
mod projects;
mod public;
mod row;
mod studio;
mod throttle;
mod tx;

#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::{Account, AccountStatus, NewAccount};
pub use audit::{Actor, AuditEvent, AuditQuery, AUDIT_EVENTS_WRITTEN};
pub use credentials::{AccessToken, NewSession, PasswordReset, SessionAccount};
pub use error::StoreError;
pub use invitations::{Invitation, LinkSecret, NewInvitation};
pub use metadata::{Author, MdKey, MdObject, MdWrite, PushSummary, Visibility};
pub use projects::{
    Member, Membership, NewProject, Organization, Page, PageRequest, Project, ProjectAccess, ProjectFilter, ProjectOrder, ProjectPatch,
};
pub use public::{NewPublicToken, PublicSession, PublicToken};
pub use studio::{Bookmark, Share, Story};
pub use throttle::{Throttle, ThrottleVerdict};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
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
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: synchronous reads for the per-request authentication queries.
    fast: Option<std::sync::Arc<fast::FastReads>>,
    /// SQLite files only: the one connection every write transaction runs on.
    writer: Option<tx::Writer>,
    /// SQLite files only: keeps the WAL checkpoint thread running (`checkpoint`).
    _checkpoints: Option<checkpoint::Token>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish()
    }
}

pub(crate) use tx::Tx;

/// How long a query waits for a connection (and a write for SQLite's writer).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Connects, creating an SQLite file when needed, and runs the backend's migrations.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            // mode=rwc creates the file on first start.
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // No ping before every acquire: on PostgreSQL it doubled the round trips
            // of every request. A connection that died (a database restart) fails
            // the one request that finds it and is then dropped from the pool.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(sqlite_pragmas().as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let mut store = Store {
            pool,
            backend,
            fast: None,
            writer: None,
            _checkpoints: None,
        };
        migrate::run(&store).await?;
        if backend == Backend::Sqlite {
            store.fast = fast::FastReads::for_url(&url).map(std::sync::Arc::new);
            if let Some(fast) = &store.fast {
                store.writer = Some(tx::Writer::open(fast.path())?);
                store._checkpoints = Some(checkpoint::start(fast.path().to_owned()));
            }
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes
    /// fails with SQLITE_BUSY when another writer got in between, instead of
    /// waiting. On an SQLite file it runs on the one write connection (`tx`).
    pub(crate) async fn begin(&self) -> Result<Tx> {
        if let Some(writer) = &self.writer {
            return writer.begin().await;
        }
        Ok(Tx::pooled(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        }))
    }
}

/// The settings of every SQLite connection that writes. WAL lets readers run
/// beside the one writer; the busy timeout makes a second writer wait instead
/// of failing; SQLite enforces foreign keys only when asked, per connection.
/// Checkpoints run on a thread of their own (`checkpoint`); a commit
/// checkpoints only past the backstop.
fn sqlite_pragmas() -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
         PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = {};",
        checkpoint::BACKSTOP_PAGES
    )
}

/// Milliseconds since the Unix epoch, the time unit of every stored timestamp.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

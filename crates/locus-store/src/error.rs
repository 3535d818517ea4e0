//! The store's one error type.

/// What can go wrong in the store. `Conflict` and `NotFound` are outcomes the
/// caller shows to users; the others are failures it logs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the change; the string names what is taken.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    /// The change would leave a project without an ENABLED ADMIN.
    #[error("a project must keep at least one enabled ADMIN")]
    LastAdmin,
    /// An invitation could not be accepted: it was in this status.
    #[error("the invitation is {}", .0.as_str())]
    InvitationNotPending(locus_core::InvitationStatus),
    /// An update named a version that is no longer the current one.
    #[error("the object changed meanwhile; its version is now {current}")]
    VersionMismatch { current: i64 },
    /// The object cannot be deleted or renamed: `by` (`type name`) links to it.
    #[error("{by} links to this object")]
    Referenced { by: String },
    /// A link at `path` names an object that does not exist.
    #[error("{path}: there is no {target}")]
    LinkMissing { path: String, target: String },
    /// A link at `path` names an object that is not what the link needs
    /// (`LinkNeeds`: a foreign key names a dwh dataset); `message` says why.
    #[error("{path}: {message}")]
    LinkUnfit { path: String, message: String },
    /// The change would make the object unfit for a link to it (a foreign
    /// key's dataset turned into a vt dataset): `by` (`type name`) at `path`.
    #[error("{by} links to this object at {path}, and then {message}")]
    ReferencedAs { by: String, path: String, message: String },
    /// One object of a push failed; the push changed nothing.
    #[error("{object}: {error}")]
    InObject { object: String, error: Box<StoreError> },
    /// A stored value that the code cannot read (a bug or a manual edit).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    #[error("database URL must start with sqlite: or postgres://")]
    UnsupportedUrl,
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: Box<StoreError> },
    /// The database stayed busy (its connections, SQLite's writer) past the timeout.
    #[error("the database is busy; try again")]
    Busy,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error (SQLite, rusqlite): {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation raised by one statement to `Conflict(what)`;
    /// any other error passes through. Either driver may have raised it (`tx`).
    pub(crate) fn unique(err: StoreError, what: &'static str) -> StoreError {
        let taken = match &err {
            StoreError::Database(sqlx::Error::Database(db)) => db.kind() == sqlx::error::ErrorKind::UniqueViolation,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => false,
        };
        if taken {
            StoreError::Conflict(what)
        } else {
            err
        }
    }
}

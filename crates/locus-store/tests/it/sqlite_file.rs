//! What only an SQLite file has: its WAL is checkpointed by a thread of the
//! store's own after writes, not by the commits of requests (`checkpoint` in
//! the store), and a change waits for another process's transaction
//! (`locus admin`) instead of failing.

use std::time::{Duration, Instant};

/// Accounts in the database file itself, leaving the WAL aside (an
/// `immutable` open reads neither the WAL nor its index); `None` while the
/// file does not have the table yet.
fn accounts_in_main_file(path: &std::path::Path) -> Option<i64> {
    let uri = format!("file:{}?immutable=1", path.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(uri, flags).ok()?;
    conn.query_row("SELECT COUNT(*) FROM accounts", [], |row| row.get(0)).ok()
}

/// Waits up to 5 s for the file to hold `accounts` accounts.
async fn main_file_reaches(path: &std::path::Path, accounts: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while accounts_in_main_file(path) != Some(accounts) {
        assert!(
            Instant::now() < deadline,
            "the database file lacks commits still only in the WAL after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_commit_reaches_the_database_file_without_another_write() {
    let db = crate::open("sqlite").await.unwrap();
    let path = db.url.strip_prefix("sqlite:").unwrap().to_owned();
    let path = std::path::Path::new(&path);
    // The migrations, then one account: each a few pages of WAL, far below
    // any autocheckpoint, so only the thread copies them into the file.
    main_file_reaches(path, 0).await;
    crate::account(&db, "wal@example.org").await;
    main_file_reaches(path, 1).await;
}

/// Another process (`locus admin`) holds SQLite's write lock: a change waits
/// for it instead of failing, and goes through, with its event, once it is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_waits_for_another_process() {
    let db = crate::open("sqlite").await.unwrap();
    let path = db.url.strip_prefix("sqlite:").unwrap().to_owned();
    let other_process = rusqlite::Connection::open(&path).unwrap();
    other_process.execute_batch("BEGIN IMMEDIATE").unwrap();

    let store = db.store.clone();
    let waiting = tokio::spawn(async move {
        store
            .create_account(&crate::actor(), &crate::new_account("waited@example.org"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the change waits while the lock is held");
    other_process.execute_batch("ROLLBACK").unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), waiting).await;
    waited.expect("the change goes through once the lock is free").unwrap().unwrap();

    let account = db.store.account_by_email("waited@example.org").await.unwrap();
    assert!(account.is_some());
    let query = locus_store::AuditQuery {
        event_types: vec!["register_new_account".into()],
        limit: 100,
        ..Default::default()
    };
    assert_eq!(db.store.audit_events(&query).await.unwrap().len(), 1);
}

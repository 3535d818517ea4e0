use crate::{contract, TestDb};
use locus_store::{Throttle, ThrottleVerdict};

contract!(throttle: hits_lock_at_the_limit_and_the_lock_ends, hits_during_a_lock_do_not_extend_it, windows_reset_and_clear_forgets,
    subjects_and_scopes_are_independent, concurrent_hits_all_count, purging_removes_only_what_cannot_matter);

const T: Throttle = Throttle {
    scope: "test",
    max_hits: 3,
    window_ms: 10_000,
    lock_ms: 1_000,
};

async fn hits_lock_at_the_limit_and_the_lock_ends(db: TestDb) {
    let s = &db.store;
    assert_eq!(s.throttle_hit(&T, "ann", 0).await.unwrap(), ThrottleVerdict::Open);
    assert_eq!(s.throttle_hit(&T, "ann", 1).await.unwrap(), ThrottleVerdict::Open);
    assert_eq!(
        s.throttle_hit(&T, "ann", 2).await.unwrap(),
        ThrottleVerdict::Locked { retry_after_ms: 1000 }
    );
    assert_eq!(
        s.throttle_check(&T, "ann", 500).await.unwrap(),
        ThrottleVerdict::Locked { retry_after_ms: 502 }
    );
    assert_eq!(s.throttle_check(&T, "ann", 1002).await.unwrap(), ThrottleVerdict::Open);
}

async fn hits_during_a_lock_do_not_extend_it(db: TestDb) {
    let s = &db.store;
    for now in 0..3 {
        s.throttle_hit(&T, "ann", now).await.unwrap();
    }
    for now in 3..900 {
        if now % 100 == 0 {
            assert!(matches!(
                s.throttle_hit(&T, "ann", now).await.unwrap(),
                ThrottleVerdict::Locked { .. }
            ));
        }
    }
    assert_eq!(
        s.throttle_check(&T, "ann", 1002).await.unwrap(),
        ThrottleVerdict::Open,
        "the lock ended on time"
    );
    assert_eq!(
        s.throttle_hit(&T, "ann", 1003).await.unwrap(),
        ThrottleVerdict::Open,
        "counting starts afresh"
    );
}

async fn windows_reset_and_clear_forgets(db: TestDb) {
    let s = &db.store;
    s.throttle_hit(&T, "ann", 0).await.unwrap();
    s.throttle_hit(&T, "ann", 1).await.unwrap();
    assert_eq!(
        s.throttle_hit(&T, "ann", 10_001).await.unwrap(),
        ThrottleVerdict::Open,
        "a new window"
    );
    s.throttle_hit(&T, "ann", 10_002).await.unwrap();
    s.throttle_clear(&T, "ann").await.unwrap();
    assert_eq!(s.throttle_hit(&T, "ann", 10_003).await.unwrap(), ThrottleVerdict::Open);
    assert_eq!(s.throttle_hit(&T, "ann", 10_004).await.unwrap(), ThrottleVerdict::Open);
}

async fn subjects_and_scopes_are_independent(db: TestDb) {
    let s = &db.store;
    for now in 0..3 {
        s.throttle_hit(&T, "ann", now).await.unwrap();
    }
    assert_eq!(s.throttle_check(&T, "bob", 5).await.unwrap(), ThrottleVerdict::Open);
    let other = Throttle { scope: "other", ..T };
    assert_eq!(s.throttle_check(&other, "ann", 5).await.unwrap(), ThrottleVerdict::Open);
}

async fn concurrent_hits_all_count(db: TestDb) {
    let big = Throttle { max_hits: 20, ..T };
    // Three stores on one database, as three instances (on SQLite: three
    // write connections that really contend for the file's lock, not one
    // connection's queue).
    let stores = [
        db.store.clone(),
        locus_store::Store::open(&db.url).await.unwrap(),
        locus_store::Store::open(&db.url).await.unwrap(),
    ];
    let tasks: Vec<_> = (0..19)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move { store.throttle_hit(&big, "ann", 10).await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), ThrottleVerdict::Open);
    }
    assert!(
        matches!(
            db.store.throttle_hit(&big, "ann", 11).await.unwrap(),
            ThrottleVerdict::Locked { .. }
        ),
        "the 20th hit locks"
    );
}

async fn purging_removes_only_what_cannot_matter(db: TestDb) {
    let day = 24 * 3600 * 1000;
    let now = 10 * day;
    db.store.throttle_hit(&T, "idle", now - 2 * day).await.unwrap();
    db.store.throttle_hit(&T, "recent", now - 1000).await.unwrap();
    let ann = db
        .store
        .create_account(&crate::actor(), &crate::new_account("ann@example.org"))
        .await
        .unwrap();
    for (id, expires_at) in [("old", now - 1), ("live", now + day)] {
        let s = locus_store::NewSession {
            id,
            account_id: &ann.id,
            access_token_id: None,
            secret_hash: "h",
            expires_at,
        };
        db.store.create_session(&crate::actor(), &s, 0).await.unwrap();
    }
    db.store.purge_expired(now).await.unwrap();
    assert!(db.store.session("live", now).await.unwrap().is_some());
    assert!(
        db.store.session("old", 0).await.unwrap().is_none(),
        "the expired session row is gone"
    );
    assert_eq!(db.store.throttle_hit(&T, "recent", now).await.unwrap(), ThrottleVerdict::Open);
    assert_eq!(
        db.store.throttle_hit(&T, "recent", now).await.unwrap(),
        ThrottleVerdict::Locked { retry_after_ms: 1000 },
        "a recent counter is kept"
    );
    assert_eq!(
        throttle_rows(&db, "idle").await,
        0,
        "the idle counter's row is gone (its window ended long ago)"
    );
}

/// Rows of `subject` in the throttles table, read past the store.
async fn throttle_rows(db: &TestDb, subject: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM throttles WHERE subject = '{subject}'");
    match db.url.strip_prefix("sqlite:") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .query_row(&sql, [], |row| row.get(0))
            .unwrap(),
        None => {
            use sqlx::Connection as _;
            let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

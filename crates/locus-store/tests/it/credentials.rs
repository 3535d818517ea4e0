use crate::{contract, TestDb};
use locus_store::{AccessToken, AccountStatus, NewSession, Store, StoreError};

contract!(credentials: sessions_live_until_they_expire, revoking_a_token_ends_its_sessions,
    a_password_change_ends_sessions_and_optionally_tokens, disabling_an_account_ends_its_sessions,
    a_reset_link_works_once_even_under_concurrent_use, expired_reset_links_cannot_be_completed);

pub async fn token_with_session(store: &Store, account_id: &str, token_id: &str, session_id: &str) {
    store
        .create_access_token(
            &crate::actor(),
            &AccessToken {
                id: token_id.to_owned(),
                account_id: account_id.to_owned(),
                name: "ci".to_owned(),
                secret_hash: "tokenhash".to_owned(),
                created_at: 1,
                expires_at: None,
                last_used_at: None,
            },
        )
        .await
        .unwrap();
    let session = NewSession {
        id: session_id,
        account_id,
        access_token_id: Some(token_id),
        secret_hash: "sessionhash",
        expires_at: i64::MAX,
    };
    store.create_session(&crate::actor(), &session, 1000).await.unwrap();
}

async fn sessions_live_until_they_expire(db: TestDb) {
    let a = crate::account(&db, "ann@example.org").await;
    let s = NewSession {
        id: "s1",
        account_id: &a.id,
        access_token_id: None,
        secret_hash: "h",
        expires_at: 5000,
    };
    db.store.create_session(&crate::actor(), &s, 1000).await.unwrap();
    let found = db.store.session("s1", 4999).await.unwrap().unwrap();
    assert_eq!(found.account.id, a.id);
    assert_eq!(found.secret_hash, "h");
    assert!(db.store.session("s1", 5000).await.unwrap().is_none(), "expired at its expiry");
    assert!(db.store.session("s2", 0).await.unwrap().is_none());
}

async fn revoking_a_token_ends_its_sessions(db: TestDb) {
    let a = crate::account(&db, "ann@example.org").await;
    token_with_session(&db.store, &a.id, "t1", "s1").await;
    let listed = db.store.access_tokens(&a.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(1000), "creating a session marks its token used");
    let other = crate::account(&db, "bob@example.org").await;
    assert!(
        matches!(
            db.store.revoke_access_token(&crate::actor(), &other.id, "t1").await,
            Err(StoreError::NotFound)
        ),
        "only the owner revokes"
    );
    db.store.revoke_access_token(&crate::actor(), &a.id, "t1").await.unwrap();
    assert!(db.store.session("s1", 2000).await.unwrap().is_none());
    assert!(db.store.access_tokens(&a.id).await.unwrap().is_empty());
}

async fn a_password_change_ends_sessions_and_optionally_tokens(db: TestDb) {
    let a = crate::account(&db, "ann@example.org").await;
    token_with_session(&db.store, &a.id, "t1", "s1").await;
    db.store.set_password(&crate::actor(), &a.id, "new-hash", false).await.unwrap();
    assert!(db.store.session("s1", 2000).await.unwrap().is_none());
    assert!(db.store.access_token("t1").await.unwrap().is_some(), "a change keeps tokens");
    assert_eq!(db.store.account(&a.id).await.unwrap().unwrap().password_hash, "new-hash");
    db.store.set_password(&crate::actor(), &a.id, "newer-hash", true).await.unwrap();
    assert!(db.store.access_token("t1").await.unwrap().is_none());
}

async fn disabling_an_account_ends_its_sessions(db: TestDb) {
    let a = crate::account(&db, "ann@example.org").await;
    token_with_session(&db.store, &a.id, "t1", "s1").await;
    db.store
        .set_account_status(&crate::actor(), &a.id, AccountStatus::Disabled)
        .await
        .unwrap();
    assert!(db.store.session("s1", 2000).await.unwrap().is_none());
    let s = NewSession {
        id: "s2",
        account_id: &a.id,
        access_token_id: None,
        secret_hash: "h",
        expires_at: i64::MAX,
    };
    db.store.create_session(&crate::actor(), &s, 3000).await.unwrap();
    assert!(
        db.store.session("s2", 3000).await.unwrap().is_none(),
        "a disabled account matches no session"
    );
}

async fn a_reset_link_works_once_even_under_concurrent_use(db: TestDb) {
    let a = crate::account(&db, "ann@example.org").await;
    token_with_session(&db.store, &a.id, "t1", "s1").await;
    db.store
        .create_password_reset(&crate::actor(), "r1", &a.id, "rh", i64::MAX)
        .await
        .unwrap();
    db.store
        .create_password_reset(&crate::actor(), "r2", &a.id, "rh2", i64::MAX)
        .await
        .unwrap();
    let found = db.store.password_reset("r1").await.unwrap().unwrap();
    assert_eq!(found.account.id, a.id);
    assert_eq!(found.used_at, None);
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = db.store.clone();
            let id = a.id.clone();
            tokio::spawn(async move {
                store
                    .complete_password_reset(&crate::actor(), "r1", &id, &format!("hash-{i}"), 5000)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::NotFound) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one completion wins");
    assert!(db.store.session("s1", 6000).await.unwrap().is_none());
    assert!(
        db.store.access_token("t1").await.unwrap().is_none(),
        "a reset revokes access tokens"
    );
    assert!(
        db.store.password_reset("r2").await.unwrap().unwrap().used_at.is_some(),
        "other links die too"
    );
}

async fn expired_reset_links_cannot_be_completed(db: TestDb) {
    let a = crate::account(&db, "ann@example.org").await;
    db.store
        .create_password_reset(&crate::actor(), "r1", &a.id, "rh", 1000)
        .await
        .unwrap();
    assert!(matches!(
        db.store.complete_password_reset(&crate::actor(), "r1", &a.id, "h", 1000).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        db.store.account(&a.id).await.unwrap().unwrap().password_hash,
        "$argon2id$not-a-real-hash"
    );
}

use crate::{contract, new_account, TestDb};
use locus_store::{AccountStatus, Store, StoreError};

contract!(accounts: accounts_are_found_by_id_and_by_email_whatever_its_case, a_taken_email_conflicts_case_insensitively,
    migrations_run_once_and_reopening_is_harmless, preferences_are_stored, deleting_an_account_removes_what_acts_for_it,
    concurrent_sign_ups_with_one_email_create_one_account, renaming_changes_the_name_and_is_audited,
    the_anonymous_flag_is_set_and_cleared);

async fn accounts_are_found_by_id_and_by_email_whatever_its_case(db: TestDb) {
    let created = db
        .store
        .create_account(&crate::actor(), &new_account("Ann.Lee@Example.org"))
        .await
        .unwrap();
    assert_eq!(created.id.len(), 20);
    assert_eq!(created.email, "Ann.Lee@Example.org");
    assert_eq!(created.status, AccountStatus::Enabled);
    assert_eq!(created.preferences["language"], "en");
    let by_id = db.store.account(&created.id).await.unwrap().unwrap();
    assert_eq!(by_id.email, created.email);
    let by_email = db.store.account_by_email("ann.lee@EXAMPLE.org").await.unwrap().unwrap();
    assert_eq!(by_email.id, created.id);
    assert!(db.store.account_by_email("nobody@example.org").await.unwrap().is_none());
    assert!(db.store.account("00000000000000000000").await.unwrap().is_none());
}

async fn a_taken_email_conflicts_case_insensitively(db: TestDb) {
    db.store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    let err = db
        .store
        .create_account(&crate::actor(), &new_account("ANN@example.org"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
}

async fn migrations_run_once_and_reopening_is_harmless(db: TestDb) {
    let a = db
        .store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    let again = Store::open(&db.url).await.unwrap();
    assert!(again.account(&a.id).await.unwrap().is_some(), "reopening keeps the data");
    again.ping().await.unwrap();
}

async fn preferences_are_stored(db: TestDb) {
    let a = db
        .store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    db.store
        .set_preferences(
            &crate::actor(),
            &a.id,
            &serde_json::json!({"language": "cs", "sendNewsletter": true}),
        )
        .await
        .unwrap();
    let a = db.store.account(&a.id).await.unwrap().unwrap();
    assert_eq!(a.preferences, serde_json::json!({"language": "cs", "sendNewsletter": true}));
    assert!(matches!(
        db.store.set_preferences(&crate::actor(), "missing", &a.preferences).await,
        Err(StoreError::NotFound)
    ));
}

async fn deleting_an_account_removes_what_acts_for_it(db: TestDb) {
    let a = db
        .store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    crate::credentials::token_with_session(&db.store, &a.id, "tok1", "ses1").await;
    db.store.delete_account(&crate::actor(), &a.id).await.unwrap();
    assert!(db.store.account(&a.id).await.unwrap().is_none());
    assert!(db.store.access_token("tok1").await.unwrap().is_none());
    assert!(db.store.session("ses1", 0).await.unwrap().is_none());
    assert!(matches!(
        db.store.delete_account(&crate::actor(), &a.id).await,
        Err(StoreError::NotFound)
    ));
    // The e-mail is free again.
    db.store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    let _ = db
        .store
        .set_account_status(&crate::actor(), &a.id, AccountStatus::Disabled)
        .await
        .unwrap_err();
}

async fn concurrent_sign_ups_with_one_email_create_one_account(db: TestDb) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move {
                store
                    .create_account(
                        &crate::actor(),
                        &new_account(if i % 2 == 0 { "race@example.org" } else { "RACE@example.org" }),
                    )
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::Conflict("email")) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
}

async fn renaming_changes_the_name_and_is_audited(db: TestDb) {
    let a = db
        .store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    db.store.set_name(&crate::actor(), &a.id, "Annabel", "Leigh").await.unwrap();
    let renamed = db.store.account(&a.id).await.unwrap().unwrap();
    assert_eq!(renamed.full_name(), "Annabel Leigh");
    let events = db
        .store
        .audit_events(&locus_store::AuditQuery {
            event_types: vec!["update_account".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].content_json()["surname"], "Leigh");
    assert!(matches!(
        db.store.set_name(&crate::actor(), "missing", "A", "B").await,
        Err(StoreError::NotFound)
    ));
}

async fn the_anonymous_flag_is_set_and_cleared(db: TestDb) {
    let a = db
        .store
        .create_account(&crate::actor(), &new_account("service@example.org"))
        .await
        .unwrap();
    assert!(!a.anonymous, "off by default");
    db.store.set_anonymous(&crate::actor(), &a.id, true).await.unwrap();
    assert!(db.store.account(&a.id).await.unwrap().unwrap().anonymous);
    db.store.set_anonymous(&crate::actor(), &a.id, false).await.unwrap();
    assert!(!db.store.account(&a.id).await.unwrap().unwrap().anonymous);
    assert!(matches!(
        db.store.set_anonymous(&crate::actor(), "missing", true).await,
        Err(StoreError::NotFound)
    ));
}

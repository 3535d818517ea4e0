use crate::{contract, new_account, TestDb};
use locus_store::AuditQuery;
use sqlx::Connection;

contract!(audit: events_cannot_be_changed_or_removed, keyset_pages_cover_every_event_once);

async fn events_cannot_be_changed_or_removed(db: TestDb) {
    db.store
        .create_account(&crate::actor(), &new_account("ann@example.org"))
        .await
        .unwrap();
    let events = db
        .store
        .audit_events(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    for sql in ["UPDATE audit_events SET event_type = 'forged'", "DELETE FROM audit_events"] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        db.store
            .audit_events(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()[0]
            .event_type,
        "register_new_account"
    );
}

async fn keyset_pages_cover_every_event_once(db: TestDb) {
    for i in 0..7 {
        db.store
            .create_account(&crate::actor(), &new_account(&format!("u{i}@example.org")))
            .await
            .unwrap();
    }
    for ascending in [true, false] {
        let mut seen = vec![];
        let mut after = None;
        loop {
            let page = db
                .store
                .audit_events(&AuditQuery {
                    after: after.clone(),
                    ascending,
                    limit: 3,
                    ..Default::default()
                })
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|e| e.event_id.clone());
            seen.extend(page.into_iter().map(|e| e.event_id));
        }
        assert_eq!(seen.len(), 7);
        let mut sorted = seen.clone();
        sorted.sort();
        if !ascending {
            sorted.reverse();
        }
        assert_eq!(seen, sorted);
    }
}

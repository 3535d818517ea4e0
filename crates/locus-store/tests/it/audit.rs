use crate::{contract, new_account, TestDb};
use locus_store::AuditQuery;
use sqlx::Connection;

contract!(audit: events_cannot_be_changed_or_removed, keyset_pages_cover_every_event_once, retention_purges_only_what_is_older_than_the_cutoff,
    expired_invitations_are_marked_once_with_an_event);

async fn events_cannot_be_changed_or_removed(db: TestDb) {
    crate::account(&db, "ann@example.org").await;
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

async fn retention_purges_only_what_is_older_than_the_cutoff(db: TestDb) {
    crate::account(&db, "old@example.org").await;
    let cutoff = locus_store::now_millis() + 1;
    // Until the clock passes the cutoff (a millisecond), without a fixed sleep.
    while locus_store::now_millis() <= cutoff {
        tokio::task::yield_now().await;
    }
    crate::account(&db, "new@example.org").await;
    assert_eq!(db.store.purge_audit(cutoff).await.unwrap(), 1);
    let left = db
        .store
        .audit_events(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    assert!(
        sqlx::query("DELETE FROM audit_events").execute(&mut conn).await.is_err(),
        "younger events stay protected"
    );
}

async fn expired_invitations_are_marked_once_with_an_event(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let new = locus_store::NewProject {
        title: "P".into(),
        description: None,
        organization_id: ann.default_organization_id.clone(),
    };
    let (p, _) = db.store.create_project(&crate::actor(), &ann.id, &new).await.unwrap();
    let secret = locus_store::LinkSecret {
        id: "e1".into(),
        hash: "h".into(),
        expires_at: 1,
    };
    let invite = locus_store::NewInvitation {
        email: "x@example.org".into(),
        role: locus_core::Role::Viewer,
        secret,
    };
    db.store
        .create_invitations(&crate::actor(), &p.id, &ann.id, &[invite])
        .await
        .unwrap();
    let now = locus_store::now_millis();
    let (a, b) = tokio::join!(db.store.expire_invitations(now), db.store.expire_invitations(now));
    assert_eq!(a.unwrap() + b.unwrap(), 1, "each invitation expires once");
    let events = db
        .store
        .audit_events(&AuditQuery {
            project_id: Some(p.id.clone()),
            event_types: vec!["expire_invitation".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        db.store.invitation_by_secret("e1", now).await.unwrap().unwrap().status,
        locus_core::InvitationStatus::Expired
    );
}

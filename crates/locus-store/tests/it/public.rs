use crate::metadata::{dashboard, fixture, metric, view};
use crate::{contract, TestDb};
use locus_core::metadata::MdType;
use locus_core::{MembershipStatus, Role};
use locus_store::{AccountStatus, AuditQuery, NewPublicToken, PageRequest, Visibility};

contract!(public: a_public_session_acts_only_while_token_account_and_membership_hold,
    a_restricted_token_reaches_its_views_and_what_they_link_to);

const FAR: i64 = i64::MAX / 2;

async fn token(db: &TestDb, pid: &str, account: &str, id: &str, views: &[String], expires_at: Option<i64>) {
    let new = NewPublicToken {
        id,
        project_id: pid,
        account_id: account,
        name: "conference",
        secret_hash: "hash",
        views,
        expires_at,
    };
    let created = db.store.create_public_token(&crate::actor(), &new).await.unwrap();
    assert_eq!((created.project_id.as_str(), created.views.as_slice()), (pid, views));
}

async fn a_public_session_acts_only_while_token_account_and_membership_hold(db: TestDb) {
    let f = fixture(db).await;
    let store = &f.db.store;
    let member = store
        .add_membership(&crate::actor(), &f.pid, &f.vic, Role::Viewer, MembershipStatus::Enabled)
        .await
        .unwrap();
    store.set_anonymous(&crate::actor(), &f.vic, true).await.unwrap();
    token(&f.db, &f.pid, &f.vic, "t1", &[], None).await;
    store.create_public_session("ps1", "t1", "sessionhash", FAR).await.unwrap();
    let now = locus_store::now_millis();

    let found = store.public_session_in_project("ps1", &f.pid, now).await.unwrap().unwrap();
    assert_eq!(
        (found.token_id.as_str(), found.restricted, found.account.id.as_str()),
        ("t1", false, f.vic.as_str())
    );
    assert_eq!(found.secret_hash, "sessionhash");
    let access = found.access.unwrap();
    assert_eq!(access.project.id, f.pid);
    assert_eq!(access.membership.unwrap().role, Role::Viewer);
    let elsewhere = store
        .public_session_in_project("ps1", "zzzzzzzzzzzzzzzz", now)
        .await
        .unwrap()
        .unwrap();
    assert!(elsewhere.access.is_none(), "a token acts in its own project only");
    assert!(store.public_session_in_project("nope", &f.pid, now).await.unwrap().is_none());
    assert!(
        store.public_session_in_project("ps1", &f.pid, FAR).await.unwrap().is_none(),
        "sessions expire"
    );

    store.set_anonymous(&crate::actor(), &f.vic, false).await.unwrap();
    assert!(
        store.public_session_in_project("ps1", &f.pid, now).await.unwrap().is_none(),
        "flag off"
    );
    store.set_anonymous(&crate::actor(), &f.vic, true).await.unwrap();
    store
        .set_account_status(&crate::actor(), &f.vic, AccountStatus::Disabled)
        .await
        .unwrap();
    assert!(
        store.public_session_in_project("ps1", &f.pid, now).await.unwrap().is_none(),
        "account disabled"
    );
    store
        .set_account_status(&crate::actor(), &f.vic, AccountStatus::Enabled)
        .await
        .unwrap();
    store.delete_membership(&crate::actor(), &f.pid, &member.id).await.unwrap();
    let removed = store.public_session_in_project("ps1", &f.pid, now).await.unwrap().unwrap();
    assert!(removed.access.unwrap().membership.is_none(), "no membership, no grant");

    token(&f.db, &f.pid, &f.vic, "t2", &[], Some(now + 60_000)).await;
    store.create_public_session("ps2", "t2", "h", FAR).await.unwrap();
    assert!(store.public_session_in_project("ps2", &f.pid, now).await.unwrap().is_some());
    assert!(
        store
            .public_session_in_project("ps2", &f.pid, now + 60_000)
            .await
            .unwrap()
            .is_none(),
        "the token's expiry ends it"
    );

    let listed = store.public_tokens(&f.pid, Some(&f.vic)).await.unwrap();
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().len(), 2);
    assert!(store.public_tokens(&f.pid, Some(&f.ann)).await.unwrap().is_empty());
    store.revoke_public_token(&crate::actor(), &f.pid, "t1").await.unwrap();
    assert!(
        store.public_session_in_project("ps1", &f.pid, now).await.unwrap().is_none(),
        "revoked"
    );
    assert!(matches!(
        store.revoke_public_token(&crate::actor(), &f.pid, "t1").await,
        Err(locus_store::StoreError::NotFound)
    ));
    let events = store
        .audit_events(&AuditQuery {
            project_id: Some(f.pid.clone()),
            event_types: vec!["create_public_access_token".into(), "revoke_public_access_token".into()],
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "revoke_public_access_token",
            "create_public_access_token",
            "create_public_access_token"
        ]
    );
    assert_eq!(events[0].content_json()["public_token_id"], "t1");

    // Deleting the service account takes its tokens with it.
    store.delete_account(&crate::actor(), &f.vic).await.unwrap();
    assert!(store.public_tokens(&f.pid, None).await.unwrap().is_empty());
}

async fn a_restricted_token_reaches_its_views_and_what_they_link_to(db: TestDb) {
    let f = fixture(db).await;
    let store = &f.db.store;
    let d1 = f.create(MdType::Dashboards, dashboard("d1"), &f.ann, false).await.unwrap();
    let v1 = f.create(MdType::Views, view("v1", "One", "d1"), &f.ann, false).await.unwrap();
    let d2 = f.create(MdType::Dashboards, dashboard("d2"), &f.ann, false).await.unwrap();
    let v2 = f.create(MdType::Views, view("v2", "Two", "d2"), &f.ann, false).await.unwrap();
    let m = f.create(MdType::Metrics, metric("sales"), &f.ann, false).await.unwrap();
    store.set_anonymous(&crate::actor(), &f.ann, true).await.unwrap();
    token(&f.db, &f.pid, &f.ann, "t1", &["v1".to_owned()], None).await;
    store.create_public_session("ps1", "t1", "h", FAR).await.unwrap();
    let found = store
        .public_session_in_project("ps1", &f.pid, locus_store::now_millis())
        .await
        .unwrap()
        .unwrap();
    assert!(found.restricted);

    let mut reach = store.public_reachable(&f.pid, "t1").await.unwrap();
    reach.sort();
    let mut expected = vec![v1.id.clone(), d1.id.clone()];
    expected.sort();
    assert_eq!(reach, expected);

    let within = Visibility::Reachable { token_id: "t1" };
    let page = PageRequest { page: 0, size: 10 };
    let names = |items: Vec<locus_store::MdObject>| items.into_iter().map(|o| o.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.md_list(&f.pid, MdType::Views, within, page).await.unwrap().items),
        ["v1"]
    );
    assert_eq!(
        names(store.md_list(&f.pid, MdType::Dashboards, within, page).await.unwrap().items),
        ["d1"]
    );
    let metrics = store.md_list(&f.pid, MdType::Metrics, within, page).await.unwrap();
    assert_eq!((metrics.items.len(), metrics.total), (0, 0));
    for (object, visible) in [(&v1, true), (&d1, true), (&v2, false), (&d2, false), (&m, false)] {
        assert_eq!(store.md_visible(object, within).await.unwrap(), visible, "{}", object.name);
    }
}

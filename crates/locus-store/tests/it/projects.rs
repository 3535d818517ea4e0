use crate::{contract, TestDb};
use locus_core::{MembershipStatus, Role};
use locus_store::{NewProject, PageRequest, ProjectFilter, ProjectOrder, ProjectPatch, StoreError};

contract!(projects: creating_a_project_makes_an_enabled_admin, access_reads_the_membership_fresh, lists_page_and_filter,
    the_last_admin_stays_under_concurrent_demotions, deleting_a_project_removes_its_memberships, one_membership_per_account,
    a_session_and_its_project_in_one_query, a_cancelled_change_is_whole_or_absent);

async fn project(db: &TestDb, owner: &str, title: &str) -> String {
    let org = db.store.account(owner).await.unwrap().unwrap().default_organization_id;
    let new = NewProject {
        title: title.to_owned(),
        description: None,
        organization_id: org,
    };
    db.store.create_project(&crate::actor(), owner, &new).await.unwrap().0.id
}

async fn creating_a_project_makes_an_enabled_admin(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let org = ann.default_organization_id.clone();
    let (p, m) = db
        .store
        .create_project(
            &crate::actor(),
            &ann.id,
            &NewProject {
                title: "P".into(),
                description: Some("d".into()),
                organization_id: org.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (p.title.as_str(), p.description.as_deref(), p.organization_id.as_str(), p.enabled),
        ("P", Some("d"), org.as_str(), true)
    );
    assert_eq!(p.dwh_cluster_id.len(), 6);
    assert_eq!(
        (m.role, m.status, m.account_id.as_str()),
        (Role::Admin, MembershipStatus::Enabled, ann.id.as_str())
    );
}

async fn access_reads_the_membership_fresh(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let bob = crate::account(&db, "bob@example.org").await;
    let pid = project(&db, &ann.id, "P").await;
    assert!(db.store.project_access(&pid, &bob.id).await.unwrap().unwrap().membership.is_none());
    let m = db
        .store
        .add_membership(&crate::actor(), &pid, &bob.id, Role::Viewer, MembershipStatus::Enabled)
        .await
        .unwrap();
    assert_eq!(
        db.store
            .project_access(&pid, &bob.id)
            .await
            .unwrap()
            .unwrap()
            .membership
            .unwrap()
            .role,
        Role::Viewer
    );
    db.store
        .update_membership(&crate::actor(), &pid, &m.id, Role::Editor, MembershipStatus::Disabled)
        .await
        .unwrap();
    let seen = db.store.project_access(&pid, &bob.id).await.unwrap().unwrap().membership.unwrap();
    assert_eq!((seen.role, seen.status), (Role::Editor, MembershipStatus::Disabled));
    assert!(db.store.project_access("zzzzzzzzzzzzzzzz", &bob.id).await.unwrap().is_none());
    let patched = db
        .store
        .update_project(
            &crate::actor(),
            &pid,
            &ProjectPatch {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!patched.enabled);
    assert_eq!(patched.title, "P", "a patch keeps what it does not name");
}

async fn lists_page_and_filter(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    for t in ["b", "a", "c"] {
        project(&db, &ann.id, t).await;
    }
    let all = ProjectFilter::default();
    let page = db
        .store
        .projects_of(&ann.id, &all, (ProjectOrder::Title, true), PageRequest { page: 0, size: 2 })
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items.iter().map(|(p, _)| p.title.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let page = db
        .store
        .projects_of(&ann.id, &all, (ProjectOrder::Title, false), PageRequest { page: 1, size: 2 })
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|(p, _)| p.title.as_str()).collect::<Vec<_>>(), ["a"]);
    let other = ProjectFilter {
        organization_id: Some("zzzzzzzzzzzzzzzz".into()),
        share: None,
    };
    assert_eq!(
        db.store
            .projects_of(&ann.id, &other, (ProjectOrder::CreatedAt, true), PageRequest { page: 0, size: 10 })
            .await
            .unwrap()
            .total,
        0
    );
    let demo = ProjectFilter {
        organization_id: None,
        share: Some("DEMO".into()),
    };
    assert_eq!(
        db.store
            .projects_of(&ann.id, &demo, (ProjectOrder::CreatedAt, true), PageRequest { page: 0, size: 10 })
            .await
            .unwrap()
            .total,
        0
    );
}

async fn the_last_admin_stays_under_concurrent_demotions(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let bob = crate::account(&db, "bob@example.org").await;
    let pid = project(&db, &ann.id, "P").await;
    let a = db.store.member(&pid, &ann.id, true).await.unwrap().unwrap().membership.id;
    let b = db
        .store
        .add_membership(&crate::actor(), &pid, &bob.id, Role::Admin, MembershipStatus::Enabled)
        .await
        .unwrap()
        .id;
    let actor = crate::actor();
    for round in 0..10 {
        // Two admins demote each other at the same moment.
        let (x, y) = tokio::join!(
            db.store
                .update_membership(&actor, &pid, &b, Role::Viewer, MembershipStatus::Enabled),
            db.store
                .update_membership(&actor, &pid, &a, Role::Editor, MembershipStatus::Disabled),
        );
        assert!(x.is_ok() != y.is_ok(), "round {round}: exactly one wins: {x:?} {y:?}");
        assert!(matches!(x.as_ref().err().or(y.as_ref().err()), Some(StoreError::LastAdmin)));
        let admins = db
            .store
            .members(&pid, PageRequest { page: 0, size: 10 })
            .await
            .unwrap()
            .items
            .iter()
            .filter(|m| m.membership.role == Role::Admin && m.membership.status == MembershipStatus::Enabled)
            .count();
        assert_eq!(admins, 1, "round {round}");
        let demoted = if x.is_ok() { &b } else { &a };
        db.store
            .update_membership(&crate::actor(), &pid, demoted, Role::Admin, MembershipStatus::Enabled)
            .await
            .unwrap();
    }
}

async fn deleting_a_project_removes_its_memberships(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let pid = project(&db, &ann.id, "P").await;
    db.store.delete_project(&crate::actor(), &pid).await.unwrap();
    assert!(db.store.project_access(&pid, &ann.id).await.unwrap().is_none());
    assert!(db.store.member(&pid, &ann.id, true).await.unwrap().is_none());
    assert!(matches!(
        db.store.delete_project(&crate::actor(), &pid).await,
        Err(StoreError::NotFound)
    ));
    db.store.delete_account(&crate::actor(), &ann.id).await.unwrap();
}

async fn one_membership_per_account(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let pid = project(&db, &ann.id, "P").await;
    let err = db
        .store
        .add_membership(&crate::actor(), &pid, &ann.id, Role::Viewer, MembershipStatus::Enabled)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("membership")), "{err:?}");
    assert!(matches!(
        db.store.delete_account(&crate::actor(), &ann.id).await,
        Err(StoreError::LastAdmin)
    ));
}

async fn a_session_and_its_project_in_one_query(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let pid = project(&db, &ann.id, "P").await;
    let s = locus_store::NewSession {
        id: "s1",
        account_id: &ann.id,
        access_token_id: None,
        secret_hash: "h",
        expires_at: i64::MAX,
    };
    db.store.create_session(&crate::actor(), &s, 1).await.unwrap();
    let (session, access) = db.store.session_in_project("s1", &pid, 2).await.unwrap().unwrap();
    assert_eq!(session.account.id, ann.id);
    let access = access.unwrap();
    assert_eq!(
        (access.project.id.as_str(), access.membership.unwrap().role),
        (pid.as_str(), Role::Admin)
    );
    let (_, none) = db.store.session_in_project("s1", "zzzzzzzzzzzzzzzz", 2).await.unwrap().unwrap();
    assert!(none.is_none());
    assert!(db.store.session_in_project("nope", &pid, 2).await.unwrap().is_none());
}

/// A request can be dropped at any await (the client went away). Whatever the
/// point, the change is applied with its event or not at all, and the next
/// write, here or from another process, goes through.
async fn a_cancelled_change_is_whole_or_absent(db: TestDb) {
    let ann = crate::account(&db, "ann@example.org").await;
    let bob = crate::account(&db, "bob@example.org").await;
    let pid = project(&db, &ann.id, "P").await;
    let m = db
        .store
        .add_membership(&crate::actor(), &pid, &bob.id, Role::Viewer, MembershipStatus::Enabled)
        .await
        .unwrap();
    let other = locus_store::Store::open(&db.url).await.unwrap();
    let events = |store: locus_store::Store| {
        let pid = pid.clone();
        async move {
            let query = locus_store::AuditQuery {
                project_id: Some(pid),
                event_types: vec!["update_membership".into()],
                limit: 1000,
                ..Default::default()
            };
            store.audit_events(&query).await.unwrap().len()
        }
    };
    let role_of = |store: locus_store::Store| {
        let (pid, bob) = (pid.clone(), bob.id.clone());
        async move { store.project_access(&pid, &bob).await.unwrap().unwrap().membership.unwrap().role }
    };
    let (mut cancelled, mut completed) = (0, 0);
    let actor = crate::actor();
    for step in 0..60u32 {
        let before = (role_of(db.store.clone()).await, events(db.store.clone()).await);
        let target = if before.0 == Role::Viewer { Role::Editor } else { Role::Viewer };
        let change = db.store.update_membership(&actor, &pid, &m.id, target, MembershipStatus::Enabled);
        // Cut short after 0, 1, 3, 7… scheduler turns (timers are too coarse
        // for this); the last steps are never cut, so that some complete on a
        // loaded machine too.
        let cut = async {
            if step >= 56 {
                std::future::pending::<()>().await;
            }
            for _ in 0..(1u32 << (step / 4)) - 1 {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            done = change => {
                done.unwrap();
                completed += 1;
            }
            () = cut => cancelled += 1,
        }
        // The other store writes next, as another instance or `locus admin` would.
        let renamed = ProjectPatch {
            title: Some(format!("P{step}")),
            ..Default::default()
        };
        let patched = tokio::time::timeout(std::time::Duration::from_secs(20), other.update_project(&actor, &pid, &renamed));
        assert_eq!(
            patched.await.expect("the write lock was released").unwrap().title,
            format!("P{step}")
        );
        let after = (role_of(db.store.clone()).await, events(db.store.clone()).await);
        if after.0 == before.0 {
            assert_eq!(after.1, before.1, "step {step}: no change, so no event");
        } else {
            assert_eq!(
                (after.0, after.1),
                (target, before.1 + 1),
                "step {step}: the change came with its event"
            );
        }
    }
    // On SQLite a change runs to its end off the runtime once started
    // (`db` in the store), so only PostgreSQL's are cut short here.
    if db.store.backend() == locus_store::Backend::Postgres {
        assert!(cancelled > 0, "some changes were cut short");
    }
    assert!(completed > 0, "some changes completed");
    let last = db
        .store
        .update_membership(&actor, &pid, &m.id, Role::Editor, MembershipStatus::Enabled);
    tokio::time::timeout(std::time::Duration::from_secs(20), last)
        .await
        .expect("the writer is free")
        .unwrap();
}

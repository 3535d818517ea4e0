use crate::{contract, TestDb};
use locus_core::{InvitationStatus, MembershipStatus, Role};
use locus_store::{LinkSecret, NewInvitation, NewProject, PageRequest, StoreError};

contract!(invitations: concurrent_accepts_have_one_winner, reinviting_cancels_the_earlier_invitation,
    accepting_enables_an_existing_membership_with_the_invited_role, transitions_apply_only_from_the_status_read);

async fn setup(db: &TestDb) -> (String, String, String) {
    let ann = crate::account(db, "ann@example.org").await;
    let bob = crate::account(db, "bob@example.org").await;
    let new = NewProject {
        title: "P".into(),
        description: None,
        organization_id: ann.default_organization_id.clone(),
    };
    let (p, _) = db.store.create_project(&crate::actor(), &ann.id, &new).await.unwrap();
    (ann.id, bob.id, p.id)
}

fn secret(id: &str) -> LinkSecret {
    LinkSecret {
        id: id.to_owned(),
        hash: format!("hash-{id}"),
        expires_at: i64::MAX,
    }
}

async fn concurrent_accepts_have_one_winner(db: TestDb) {
    let (ann, bob, pid) = setup(&db).await;
    let inv = db
        .store
        .create_invitations(
            &crate::actor(),
            &pid,
            &ann,
            &[NewInvitation {
                email: "BOB@example.org".into(),
                role: Role::Editor,
                secret: secret("s1"),
            }],
        )
        .await
        .unwrap();
    let inv = inv[0].clone();
    assert_eq!(
        (inv.status, inv.project_title.as_str(), inv.inviter_name.as_deref()),
        (InvitationStatus::Pending, "P", Some("Test User"))
    );
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (store, inv, bob) = (db.store.clone(), inv.clone(), bob.clone());
            tokio::spawn(async move {
                store
                    .accept_invitation(&crate::actor(), &inv, &bob, locus_store::now_millis())
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(m) => {
                assert_eq!((m.role, m.status), (Role::Editor, MembershipStatus::Enabled));
                won += 1;
            }
            Err(StoreError::InvitationNotPending(InvitationStatus::Accepted)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        db.store.invitation_by_secret("s1", 0).await.unwrap().unwrap().status,
        InvitationStatus::Accepted
    );
}

async fn reinviting_cancels_the_earlier_invitation(db: TestDb) {
    let (ann, _, pid) = setup(&db).await;
    db.store
        .create_invitations(
            &crate::actor(),
            &pid,
            &ann,
            &[NewInvitation {
                email: "c@example.org".into(),
                role: Role::Viewer,
                secret: secret("a"),
            }],
        )
        .await
        .unwrap();
    db.store
        .create_invitations(
            &crate::actor(),
            &pid,
            &ann,
            &[NewInvitation {
                email: "C@example.org".into(),
                role: Role::Admin,
                secret: secret("b"),
            }],
        )
        .await
        .unwrap();
    let now = locus_store::now_millis();
    assert_eq!(
        db.store.invitation_by_secret("a", now).await.unwrap().unwrap().status,
        InvitationStatus::Canceled
    );
    let pending = db
        .store
        .invitations(&pid, Some(InvitationStatus::Pending), PageRequest { page: 0, size: 10 }, now)
        .await
        .unwrap();
    assert_eq!((pending.total, pending.items[0].role), (1, Role::Admin));
}

async fn accepting_enables_an_existing_membership_with_the_invited_role(db: TestDb) {
    let (ann, bob, pid) = setup(&db).await;
    let m = db
        .store
        .add_membership(&crate::actor(), &pid, &bob, Role::Viewer, MembershipStatus::Disabled)
        .await
        .unwrap();
    let inv = db
        .store
        .create_invitations(
            &crate::actor(),
            &pid,
            &ann,
            &[NewInvitation {
                email: "bob@example.org".into(),
                role: Role::DataEditor,
                secret: secret("x"),
            }],
        )
        .await
        .unwrap();
    let after = db
        .store
        .accept_invitation(&crate::actor(), &inv[0], &bob, locus_store::now_millis())
        .await
        .unwrap();
    assert_eq!(
        (after.id, after.role, after.status),
        (m.id, Role::DataEditor, MembershipStatus::Enabled)
    );
}

async fn transitions_apply_only_from_the_status_read(db: TestDb) {
    let (ann, _, pid) = setup(&db).await;
    let inv = db
        .store
        .create_invitations(
            &crate::actor(),
            &pid,
            &ann,
            &[NewInvitation {
                email: "c@example.org".into(),
                role: Role::Viewer,
                secret: secret("t"),
            }],
        )
        .await
        .unwrap();
    let now = locus_store::now_millis();
    let canceled = db
        .store
        .change_invitation(
            &crate::actor(),
            &pid,
            &inv[0].id,
            InvitationStatus::Pending,
            InvitationStatus::Canceled,
            None,
            now,
        )
        .await
        .unwrap();
    assert_eq!(canceled.status, InvitationStatus::Canceled);
    let stale = db
        .store
        .change_invitation(
            &crate::actor(),
            &pid,
            &inv[0].id,
            InvitationStatus::Pending,
            InvitationStatus::Canceled,
            None,
            now,
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::NotFound)),
        "a change from a status it no longer has is refused"
    );
    let back = db
        .store
        .change_invitation(
            &crate::actor(),
            &pid,
            &inv[0].id,
            InvitationStatus::Canceled,
            InvitationStatus::Pending,
            Some(&secret("t2")),
            now,
        )
        .await
        .unwrap();
    assert_eq!(back.status, InvitationStatus::Pending);
    assert!(
        db.store.invitation_by_secret("t", now).await.unwrap().is_none(),
        "the old link is gone"
    );
    assert!(db.store.invitation_by_secret("t2", now).await.unwrap().is_some());
}

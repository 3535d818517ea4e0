use crate::projects::create_project;
use crate::{secret_in, TestApp, User, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn invite(app: &TestApp, admin: &User, pid: &str, email: &str, role: &str) -> Value {
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&admin.bearer),
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The secret of the `n`th mail (0-based) once `n + 1` mails are out.
async fn link(app: &TestApp, n: usize) -> String {
    let mails = app.mails(n + 1).await;
    assert!(mails[n].contains("Content-Type: text/html"), "an HTML part");
    assert!(mails[n].contains("Content-Type: text/plain"), "a plain-text part");
    secret_in(&mails[n], "linv")
}

async fn project(app: &TestApp, admin: &User) -> String {
    create_project(app, admin, "Stores").await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_existing_account_accepts_through_the_mailed_link() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = project(&app, &ann).await;
    let created = invite(&app, &ann, &pid, &bob.email.to_uppercase(), "EDITOR").await;
    assert_eq!(
        (created["status"].as_str(), created["role"].as_str()),
        (Some("PENDING"), Some("EDITOR"))
    );
    let mail = app.mails(1).await.remove(0);
    assert!(
        mail.replace("=\r\n", "").contains(&format!("{}/invitations/linv_", app.base)),
        "the link uses the public URL"
    );
    let hash = link(&app, 0).await;

    let (status, seen) = app.get(&format!("/rest/invitations/{hash}"), &bob.bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (seen["projectTitle"].as_str(), seen["invitedBy"].as_str(), seen["role"].as_str()),
        (Some("Stores"), Some("Test User"), Some("EDITOR"))
    );

    let (status, accepted) = app.post(&format!("/rest/invitations/{hash}"), Some(&bob.bearer), Value::Null).await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (StatusCode::OK, Some("ACCEPTED")),
        "{accepted}"
    );
    let (_, detail) = app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await;
    assert_eq!(detail["membership"]["role"], "EDITOR");
    let (status, again) = app.post(&format!("/rest/invitations/{hash}"), Some(&bob.bearer), Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(again["message"].as_str().unwrap().contains("accepted"), "{again}");
    let (_, list) = app
        .get(&format!("/rest/projects/{pid}/invitations?status=ACCEPTED"), &ann.bearer)
        .await;
    assert_eq!(list["content"][0]["id"], created["id"]);
}

#[tokio::test]
async fn a_new_person_signs_up_with_the_invited_email_and_joins() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    invite(&app, &ann, &pid, "newcomer@example.org", "VIEWER").await;
    let hash = link(&app, 0).await;
    assert_eq!(app.sign_up("newcomer@example.org", PASSWORD).await.0, StatusCode::OK);
    let (_, token) = app.sign_in("newcomer@example.org", PASSWORD).await;
    let bearer = token["access_token"].as_str().unwrap();
    let (status, _) = app.post(&format!("/rest/invitations/{hash}"), Some(bearer), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (_, projects) = app.get("/rest/projects", bearer).await;
    assert_eq!(projects["content"][0]["id"], pid.as_str());
    assert_eq!(projects["content"][0]["membership"]["role"], "VIEWER");
}

#[tokio::test]
async fn only_the_invited_email_may_accept_and_unknown_links_are_404() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let eve = app.user().await;
    let pid = project(&app, &ann).await;
    invite(&app, &ann, &pid, "bob@example.org", "ADMIN").await;
    let hash = link(&app, 0).await;
    let (status, _) = app.post(&format!("/rest/invitations/{hash}"), Some(&eve.bearer), Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}"), &eve.bearer).await.0,
        StatusCode::NOT_FOUND
    );
    let forged = crate::tamper(&hash);
    assert_eq!(
        app.post(&format!("/rest/invitations/{forged}"), Some(&eve.bearer), Value::Null)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/rest/invitations/garbage", Some(&eve.bearer), Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::POST, &format!("/rest/invitations/{hash}"), None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn expired_invitations_list_as_expired_and_reactivate_with_a_new_link() {
    let app = TestApp::spawn_with(|s| s.invitation_ttl = std::time::Duration::ZERO).await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = project(&app, &ann).await;
    let created = invite(&app, &ann, &pid, &bob.email, "VIEWER").await;
    assert_eq!(created["status"], "EXPIRED", "a zero lifetime expires at once");
    let old = link(&app, 0).await;
    let (status, body) = app.post(&format!("/rest/invitations/{old}"), Some(&bob.bearer), Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("expired"), "{body}");
    let (_, expired) = app
        .get(&format!("/rest/projects/{pid}/invitations?status=EXPIRED"), &ann.bearer)
        .await;
    assert_eq!(expired["page"]["totalElements"], 1);
    let path = format!("/rest/projects/{pid}/invitations/{}", created["id"].as_str().unwrap());
    let (status, _) = app
        .call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"status": "PENDING"})))
        .await;
    assert_eq!(status, StatusCode::OK, "EXPIRED → PENDING reactivates");
    let new = link(&app, 1).await;
    assert_ne!(new, old);
    assert_eq!(
        app.get(&format!("/rest/invitations/{old}"), &bob.bearer).await.0,
        StatusCode::NOT_FOUND,
        "the old link is dead"
    );
    assert_eq!(app.get(&format!("/rest/invitations/{new}"), &bob.bearer).await.0, StatusCode::OK);
}

#[tokio::test]
async fn cancel_resend_and_the_transitions_the_contract_refuses() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = project(&app, &ann).await;
    let created = invite(&app, &ann, &pid, &bob.email, "VIEWER").await;
    let first = link(&app, 0).await;
    let path = format!("/rest/projects/{pid}/invitations/{}", created["id"].as_str().unwrap());
    let (status, resent) = app
        .call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"status": "PENDING"})))
        .await;
    assert_eq!((status, resent["status"].as_str()), (StatusCode::OK, Some("PENDING")));
    let second = link(&app, 1).await;
    assert_eq!(
        app.get(&format!("/rest/invitations/{first}"), &bob.bearer).await.0,
        StatusCode::NOT_FOUND,
        "resend kills the old link"
    );
    let (status, canceled) = app.call(Method::DELETE, &path, Some(&ann.bearer), None).await;
    assert_eq!((status, canceled["status"].as_str()), (StatusCode::OK, Some("CANCELED")));
    let (status, body) = app
        .post(&format!("/rest/invitations/{second}"), Some(&bob.bearer), Value::Null)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("canceled"));
    let (status, body) = app
        .call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"status": "ACCEPTED"})))
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")));
    let (status, _) = app
        .call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"status": "SENT"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"status": "PENDING"})))
            .await
            .0,
        StatusCode::OK,
        "CANCELED → PENDING"
    );
}

#[tokio::test]
async fn of_concurrent_accepts_exactly_one_succeeds() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = project(&app, &ann).await;
    invite(&app, &ann, &pid, &bob.email, "VIEWER").await;
    let hash = link(&app, 0).await;
    let path = format!("/rest/invitations/{hash}");
    let tries = (0..6).map(|_| app.post(&path, Some(&bob.bearer), Value::Null));
    let results = futures_join(tries).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = results.iter().filter(|(s, _)| *s == StatusCode::BAD_REQUEST).count();
    assert_eq!((ok, refused), (1, 5), "{results:?}");
}

async fn futures_join<F: std::future::Future<Output = (StatusCode, Value)>>(futures: impl Iterator<Item = F>) -> Vec<(StatusCode, Value)> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::new();
    // Poll them together, not one after another.
    let joined = async {
        let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
        let mut results = vec![None; pinned.len()];
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in pinned.iter_mut().enumerate() {
                if results[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(r) => results[i] = Some(r),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        results.into_iter().flatten().collect::<Vec<_>>()
    };
    out.extend(joined.await);
    out
}

#[tokio::test]
async fn several_emails_at_once_each_get_a_link_and_duplicates_collapse() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let (status, list) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"emails": ["a@example.org", "b@example.org", "A@example.org"], "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let mails = app.mails(2).await;
    assert_ne!(secret_in(&mails[0], "linv"), secret_in(&mails[1], "linv"), "a unique link each");
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"emails": ["ok@example.org", "not an email"], "role": "VIEWER"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("emails[1]")));
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"email": "x@example.org", "role": "DUMP_DATA"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("role")));
}

#[tokio::test]
async fn inviting_reveals_nothing_about_accounts() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = project(&app, &ann).await;
    let known = invite(&app, &ann, &pid, &bob.email, "VIEWER").await;
    let unknown = invite(&app, &ann, &pid, "nobody@example.org", "VIEWER").await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(known["status"], unknown["status"]);
}

#[tokio::test]
async fn an_inviter_who_loses_the_right_to_invite_loses_their_pending_invitations() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = project(&app, &ann).await;
    let (_, m) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&ann.bearer),
            json!({"accountId": bob.id, "role": "ADMIN"}),
        )
        .await;
    invite(&app, &bob, &pid, "c1@example.org", "VIEWER").await;
    invite(&app, &ann, &pid, "c2@example.org", "VIEWER").await;
    let member = format!("/rest/projects/{pid}/members/{}", m["id"].as_str().unwrap());
    app.call(
        Method::PUT,
        &member,
        Some(&ann.bearer),
        Some(json!({"role": "EDITOR", "status": "ENABLED"})),
    )
    .await;
    let (_, list) = app.get(&format!("/rest/projects/{pid}/invitations"), &ann.bearer).await;
    let by_email = |e: &str| list["content"].as_array().unwrap().iter().find(|i| i["email"] == e).unwrap()["status"].clone();
    assert_eq!(by_email("c1@example.org"), "CANCELED", "bob's invitation died with his admin role");
    assert_eq!(by_email("c2@example.org"), "PENDING", "ann's lives on");
}

#[tokio::test]
async fn invitations_are_rate_limited_per_inviter() {
    let app = TestApp::spawn_with(|s| s.limits.invitations_per_inviter = 3).await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"emails": ["a@x.org", "b@x.org"], "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"email": "c@x.org", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

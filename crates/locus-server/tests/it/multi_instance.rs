//! Several instances on one PostgreSQL database: a change made through one is
//! in force on the very next request to another.

use crate::{TestApp, PASSWORD};
use reqwest::{Method, StatusCode};

async fn two_instances() -> Option<(TestApp, TestApp)> {
    let url = locus_store::testing::fresh_postgres_url().await?;
    Some((TestApp::spawn_on(&url).await, TestApp::spawn_on(&url).await))
}

#[tokio::test]
async fn revoking_a_token_on_one_instance_ends_its_bearer_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    assert_eq!(a.state.store.backend(), locus_store::Backend::Postgres);
    let ann = a.user().await;
    let (id, secret) = a.access_token(&ann).await;
    let (_, exchanged) = b.exchange(&secret).await;
    let bearer = exchanged["access_token"].as_str().unwrap().to_owned();
    assert_eq!(b.get("/rest/accounts/current", &bearer).await.0, StatusCode::OK);
    let (status, _) = a
        .call(
            Method::DELETE,
            &format!("/rest/accounts/current/accessTokens/{id}"),
            Some(&ann.bearer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(b.get("/rest/accounts/current", &bearer).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_on_one_instance_ends_sessions_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let ann = a.user().await;
    let (_, on_b) = b.sign_in(&ann.email, PASSWORD).await;
    let on_b = on_b["access_token"].as_str().unwrap().to_owned();
    let body = serde_json::json!({"oldPassword": PASSWORD, "newPassword": "Changed-on-A-1"});
    assert_eq!(
        a.call(
            Method::PUT,
            &format!("/rest/accounts/{}/password", ann.id),
            Some(&ann.bearer),
            Some(body)
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(b.get("/rest/accounts/current", &on_b).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_sign_in_lock_is_shared_by_every_instance() {
    let url = match locus_store::testing::fresh_postgres_url().await {
        Some(url) => url,
        None => return,
    };
    let configure = |s: &mut locus_server::Settings| {
        s.database_url = Some(locus_server::Redacted(url.clone()));
        s.limits.signin_per_account = 4;
    };
    let a = TestApp::spawn_with(configure).await;
    let b = TestApp::spawn_with(configure).await;
    let ann = a.user().await;
    for app in [&a, &b, &a, &b] {
        app.sign_in(&ann.email, "Wrong-passw0rd").await;
    }
    assert_eq!(b.sign_in(&ann.email, PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.sign_in(&ann.email, PASSWORD).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_role_change_on_one_instance_counts_on_the_next_request_to_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let ann = a.user().await;
    let bob = a.user().await;
    let pid = crate::projects::create_project(&a, &ann, "P").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, m) = a
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&ann.bearer),
            serde_json::json!({"accountId": bob.id, "role": "VIEWER"}),
        )
        .await;
    let member = format!("/rest/projects/{pid}/members/{}", m["id"].as_str().unwrap());
    let members = format!("/rest/projects/{pid}/members");
    assert_eq!(b.get(&members, &bob.bearer).await.0, StatusCode::FORBIDDEN);
    a.call(
        Method::PUT,
        &member,
        Some(&ann.bearer),
        Some(serde_json::json!({"role": "ADMIN", "status": "ENABLED"})),
    )
    .await;
    assert_eq!(
        b.get(&members, &bob.bearer).await.0,
        StatusCode::OK,
        "promoted through A, allowed by B at once"
    );
    a.call(
        Method::PUT,
        &member,
        Some(&ann.bearer),
        Some(serde_json::json!({"role": "ADMIN", "status": "DISABLED"})),
    )
    .await;
    assert_eq!(
        b.get(&members, &bob.bearer).await.0,
        StatusCode::FORBIDDEN,
        "disabled through A, refused by B at once"
    );
    a.call(Method::DELETE, &member, Some(&ann.bearer), None).await;
    assert_eq!(
        b.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.0,
        StatusCode::NOT_FOUND,
        "removed through A, gone on B at once"
    );
}

#[tokio::test]
async fn revoking_a_public_token_on_one_instance_ends_its_link_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let s = crate::public::shared_project(&a, "VIEWER").await;
    let created = s.token(&a, serde_json::json!({})).await;
    let bearer = crate::public::public_bearer(&b, created["token"].as_str().unwrap()).await;
    let detail = format!("/rest/projects/{}", s.pid);
    assert_eq!(b.get(&detail, &bearer).await.0, StatusCode::OK);
    let revoke = format!("/rest/projects/{}/publicAccessTokens/{}", s.pid, created["id"].as_str().unwrap());
    assert_eq!(
        a.call(Method::DELETE, &revoke, Some(&s.admin.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(b.get(&detail, &bearer).await.0, StatusCode::UNAUTHORIZED);
}

use crate::{TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_account_briefly_even_for_the_right_password() {
    let app = TestApp::spawn_with(|s| {
        s.limits.signin_per_account = 3;
        s.limits.lock = Duration::from_millis(1500);
    })
    .await;
    let ann = app.user().await;
    let bob = app.user().await;
    for _ in 0..2 {
        assert_eq!(app.sign_in(&ann.email, "Wrong-passw0rd").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app.sign_in(&ann.email, "Wrong-passw0rd").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app.sign_in(&ann.email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    assert_eq!(
        app.sign_in(&ann.email.to_uppercase(), PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the lock ignores case"
    );
    assert_eq!(
        app.sign_in(&bob.email, PASSWORD).await.0,
        StatusCode::OK,
        "other accounts are not locked"
    );
    // The lock is short: the owner gets back in once it ends.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(app.sign_in(&ann.email, PASSWORD).await.0, StatusCode::OK);
}

#[tokio::test]
async fn guessing_across_accounts_locks_the_client_address() {
    let app = TestApp::spawn_with(|s| s.limits.signin_per_address = 4).await;
    let ann = app.user().await;
    for i in 0..4 {
        app.sign_in(&format!("guess{i}@example.org"), "Wrong-passw0rd").await;
    }
    let (status, _) = app.sign_in(&ann.email, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = app.exchange("lpat_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "token exchange shares the address limit");
}

#[tokio::test]
async fn failed_token_exchanges_count_against_the_address() {
    let app = TestApp::spawn_with(|s| s.limits.signin_per_address = 3).await;
    for _ in 0..3 {
        assert_eq!(
            app.exchange("lpat_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.exchange("lpat_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn password_reset_mails_are_limited_per_account_without_revealing_it() {
    let app = TestApp::spawn_with(|s| s.limits.reset_per_account = 2).await;
    let ann = app.user().await;
    for _ in 0..4 {
        assert_eq!(
            app.post("/rest/accounts/passwordReset", None, json!({"email": ann.email})).await.0,
            StatusCode::CREATED
        );
    }
    app.mails(1).await;
    // Give any (wrongly) queued third mail the time the first one needed, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.mail_count(),
        1,
        "the second request reached the limit, so only one mail went out"
    );
}

#[tokio::test]
async fn password_reset_requests_are_limited_per_address() {
    let app = TestApp::spawn_with(|s| s.limits.reset_per_address = 2).await;
    assert_eq!(
        app.post("/rest/accounts/passwordReset", None, json!({"email": "a@example.org"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, _) = app
        .post("/rest/accounts/passwordReset", None, json!({"email": "b@example.org"}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

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
    // The lock is short: the owner gets back in once it ends (polled, bounded).
    let locked_at = std::time::Instant::now();
    let deadline = locked_at + Duration::from_secs(10);
    loop {
        let status = app.sign_in(&ann.email, PASSWORD).await.0;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(std::time::Instant::now() < deadline, "still locked long after the lock's end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(locked_at.elapsed() < Duration::from_millis(1500) + Duration::from_secs(5));
}

/// Fifty wrong passwords at once: each attempt is counted before its
/// password is checked, so at most the limit are checked (answered 401) and
/// the rest are refused (429) without an argon2 verification each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_get_at_most_the_limit_checked() {
    let app = TestApp::spawn_with(|s| s.limits.signin_per_account = 5).await;
    let ann = app.user().await;
    let guesses = (0..50).map(|_| app.sign_in(&ann.email, "Wrong-passw0rd"));
    let statuses: Vec<StatusCode> = futures_join_all(guesses).await.into_iter().map(|(s, _)| s).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + refused, 50, "{statuses:?}");
    assert!(checked <= 5, "{checked} guesses were checked, more than the limit of 5");
}

/// Polls every future to completion, all at once.
async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    let mut pending: Vec<_> = set.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}

#[tokio::test]
async fn sign_ups_are_limited_per_client_address() {
    let app = TestApp::spawn_with(|s| s.limits.signup_per_address = 2).await;
    for _ in 0..2 {
        app.user().await;
    }
    let (status, body) = app
        .post(
            "/rest/accounts",
            None,
            json!({"email": "third@example.org", "givenName": "T", "surname": "U", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
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
    // Every mail these responses queued is in the outbox once the mailer settles.
    app.state.mailer.settled().await;
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

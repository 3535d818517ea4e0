//! `--trusted-proxies`: forwarded client addresses are believed from trusted
//! peers only. The test server's peer is always 127.0.0.1: trusting
//! 127.0.0.0/8 makes it a proxy, trusting anything else a stranger.

use crate::{TestApp, PASSWORD};
use locus_server::proxy::parse_list;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn sign_in_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> StatusCode {
    app.client
        .post(format!("{}/rest/oauth/token", app.base))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"grant_type": "password", "username": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Creates a project through a proxy that says the client is `forwarded_for`;
/// answers the remoteHost of its audit event.
async fn remote_host_of_a_change(app: &TestApp, bearer: &str, forwarded_for: &str) -> String {
    let resp = app
        .client
        .post(format!("{}/rest/projects", app.base))
        .bearer_auth(bearer)
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"title": "Behind a proxy", "description": "d", "status": "ENABLED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let pid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let (status, page) = app.get(&format!("/rest/auditlog?projectId={pid}&sortDirection=ASC"), bearer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["content"][0]["remoteHost"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = parse_list("127.0.0.0/8").unwrap();
        s.limits.signin_per_address = 2;
    })
    .await;
    let ann = app.user().await;
    // The proxy appends what it saw; the left-most value is the client's own claim.
    assert_eq!(
        remote_host_of_a_change(&app, &ann.bearer, "192.0.2.1, 203.0.113.9").await,
        "203.0.113.9"
    );
    for _ in 0..2 {
        assert_eq!(
            sign_in_from(&app, "203.0.113.5", "guess@example.org", "Wrong-passw0rd").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_from(&app, "203.0.113.5", &ann.email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(&app, "203.0.113.6", &ann.email, PASSWORD).await,
        StatusCode::OK,
        "another client behind the same proxy is not locked"
    );
}

#[tokio::test]
async fn from_an_untrusted_peer_forwarded_headers_are_ignored() {
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = parse_list("10.0.0.0/8").unwrap();
        s.limits.signin_per_address = 2;
    })
    .await;
    let ann = app.user().await;
    assert!(remote_host_of_a_change(&app, &ann.bearer, "203.0.113.9")
        .await
        .starts_with("127.0.0.1:"));
    for i in 0..2 {
        let claimed = format!("203.0.113.{i}");
        assert_eq!(
            sign_in_from(&app, &claimed, "guess@example.org", "Wrong-passw0rd").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_from(&app, "203.0.113.77", &ann.email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up header does not escape the limit of the real address"
    );
}

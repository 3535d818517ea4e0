use crate::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn tokens_are_listed_without_secrets_and_revocation_ends_their_bearers_at_once() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (id, secret) = app.access_token(&ann).await;
    let (status, exchanged) = app.exchange(&secret).await;
    assert_eq!(status, StatusCode::OK);
    let bearer = exchanged["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/rest/accounts/current", &bearer).await.0, StatusCode::OK);

    let (status, list) = app.get("/rest/accounts/current/accessTokens", &ann.bearer).await;
    assert_eq!(status, StatusCode::OK);
    let listed = &list["content"][0];
    assert_eq!(listed["id"], id.as_str());
    assert!(listed.get("token").is_none(), "the secret is shown only once: {listed}");
    assert!(listed["lastUsedAt"].is_string(), "exchanging marks the token used");
    assert!(!list.to_string().contains(&secret));

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/rest/accounts/current/accessTokens/{id}"),
            Some(&ann.bearer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/rest/accounts/current", &bearer).await.0,
        StatusCode::UNAUTHORIZED,
        "the very next request"
    );
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/rest/accounts/current/accessTokens/{id}"),
            Some(&ann.bearer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn nobody_revokes_someone_elses_token() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let (id, secret) = app.access_token(&ann).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/rest/accounts/current/accessTokens/{id}"),
            Some(&bob.bearer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.exchange(&secret).await.0, StatusCode::OK);
}

#[tokio::test]
async fn expiring_tokens_cap_their_bearers_and_past_expiry_is_refused() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (status, body) = app
        .post(
            "/rest/accounts/current/accessTokens",
            Some(&ann.bearer),
            json!({"name": "old", "expiresAt": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("expiresAt")));
    let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    let soon = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (status, body) = app
        .post(
            "/rest/accounts/current/accessTokens",
            Some(&ann.bearer),
            json!({"name": "soon", "expiresAt": soon}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, exchanged) = app.exchange(body["token"].as_str().unwrap()).await;
    let expires_in = exchanged["expires_in"].as_u64().unwrap();
    assert!(
        expires_in <= 600 && expires_in > 590,
        "the bearer dies with its token: {expires_in}"
    );
}

#[tokio::test]
async fn unknown_malformed_and_missing_tokens_are_401_or_400() {
    let app = TestApp::spawn().await;
    let (status, body) = app.exchange("lpat_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(app.exchange("some.random-token").await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = app.exchange("has spaces/and+slashes=").await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("refresh_token")));
    let (status, body) = app.post("/rest/oauth/token", None, json!({})).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("refresh_token")));
    let (status, body) = app
        .post("/rest/oauth/token", None, json!({"grant_type": "client_credentials"}))
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("grant_type")));
    for header in [
        "",
        "Basic abc",
        "Bearer ",
        "Bearer lbt_x_y",
        "Bearer lbt_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    ] {
        let resp = app
            .client
            .get(format!("{}/rest/accounts/current", app.base))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    let ann = app.user().await;
    let tampered = crate::tamper(&ann.bearer);
    assert_eq!(
        app.get("/rest/accounts/current", &tampered).await.0,
        StatusCode::UNAUTHORIZED,
        "a wrong secret with a real id"
    );
}

#[tokio::test]
async fn bearers_expire() {
    let app = TestApp::spawn_with(|s| s.bearer_ttl = std::time::Duration::ZERO).await;
    let email = "ann@example.org";
    app.sign_up(email, crate::PASSWORD).await;
    let (status, token) = app.sign_in(email, crate::PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get("/rest/accounts/current", token["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

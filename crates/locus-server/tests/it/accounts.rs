use crate::{TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn sign_up_sign_in_token_exchange_and_current_account() {
    let app = TestApp::spawn().await;
    let (status, account) = app.sign_up("Ann.Lee@Example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["fullName"], "Test User");
    assert_eq!(account["email"], "Ann.Lee@Example.org");
    assert_eq!(account["status"], "ENABLED");
    let id = account["id"].as_str().unwrap();
    assert!(id.len() == 20 && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    assert_eq!(account["links"][0]["href"], format!("/rest/accounts/{id}"));

    let (status, token) = app.sign_in("ann.lee@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "sign-in ignores the e-mail's case");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let bearer = token["access_token"].as_str().unwrap();

    let (status, created) = app
        .post("/rest/accounts/current/accessTokens", Some(bearer), json!({"name": "laptop"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["token"].as_str().unwrap();
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));

    let (status, exchanged) = app.exchange(secret).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let (status, me) = app.get("/rest/accounts/current", exchanged["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], id);
}

#[tokio::test]
async fn a_taken_email_is_refused_case_insensitively() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up("ann@example.org", PASSWORD).await.0, StatusCode::OK);
    let (status, body) = app.sign_up("ANN@Example.ORG", PASSWORD).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["field"], "email");
}

#[tokio::test]
async fn closed_sign_up_is_refused() {
    let app = TestApp::spawn_with(|s| s.signup = locus_server::SignupMode::Closed).await;
    let (status, body) = app.sign_up("ann@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "forbidden");
}

#[tokio::test]
async fn weak_passwords_and_bad_names_are_refused_with_the_field() {
    let app = TestApp::spawn().await;
    for (password, why) in [
        ("Sh0rt", "too short"),
        ("alllowercase1", "no upper case"),
        ("NoDigitsAtAll", "no digit"),
        ("Password1", "common"),
    ] {
        let (status, body) = app.sign_up("ann@example.org", password).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(body["field"], "password", "{why}: {body}");
    }
    let (status, body) = app
        .post(
            "/rest/accounts",
            None,
            json!({"givenName": "<script>", "surname": "X", "email": "a@b.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "givenName");
}

#[tokio::test]
async fn find_by_email_answers_204_or_404_to_signed_in_callers_only() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let (status, _) = app
        .get(&format!("/rest/accounts?email={}", bob.email.to_uppercase()), &ann.bearer)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/rest/accounts?email=nobody@example.org", &ann.bearer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(Method::GET, &format!("/rest/accounts?email={}", bob.email), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn find_by_email_is_rate_limited_per_caller() {
    let app = TestApp::spawn_with(|s| s.limits.lookups_per_account = 3).await;
    let ann = app.user().await;
    let bob = app.user().await;
    for _ in 0..2 {
        assert_eq!(
            app.get("/rest/accounts?email=x@example.org", &ann.bearer).await.0,
            StatusCode::NOT_FOUND
        );
    }
    let (status, body) = app.get("/rest/accounts?email=x@example.org", &ann.bearer).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        app.get("/rest/accounts?email=x@example.org", &bob.bearer).await.0,
        StatusCode::NOT_FOUND,
        "others are not limited"
    );
}

#[tokio::test]
async fn other_accounts_are_hidden_unless_they_share_a_scope() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let (status, me) = app.get(&format!("/rest/accounts/{}", ann.id), &ann.bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], ann.email.as_str());
    assert!(me.get("preferences").is_some(), "the owner sees the full account");
    let (status, _) = app.get(&format!("/rest/accounts/{}", bob.id), &ann.bearer).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "strangers see nothing");
    let (status, body) = app.get("/rest/accounts/not-an-id", &ann.bearer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "accountId");
}

#[tokio::test]
async fn preferences_merge_and_only_the_owner_changes_them() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let path = format!("/rest/accounts/{}/preferences", ann.id);
    let put = |body| app.call(Method::PUT, &path, Some(&ann.bearer), Some(body));
    assert_eq!(
        put(json!({"language": "cs", "sendNewsletter": true})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(json!({"lastActiveProject": "kt3hz932v53vabh8", "unknownKey": 1})).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, me) = app.get("/rest/accounts/current", &ann.bearer).await;
    assert_eq!(
        me["preferences"],
        json!({"language": "cs", "sendNewsletter": true, "lastActiveProject": "kt3hz932v53vabh8"})
    );
    let (status, body) = put(json!({"language": "english"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("preferences.language"))
    );
    let (status, _) = app
        .call(Method::PUT, &path, Some(&bob.bearer), Some(json!({"language": "en"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/rest/accounts/{}/onboarding", ann.id),
            Some(&ann.bearer),
            Some(json!({"introShown": ["map"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, me) = app.get("/rest/accounts/current", &ann.bearer).await;
    assert_eq!(me["onboarding"]["introShown"], json!(["map"]));
}

#[tokio::test]
async fn changing_the_password_ends_sessions_and_needs_the_old_one() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (_, second) = app.sign_in(&ann.email, PASSWORD).await;
    let path = format!("/rest/accounts/{}/password", ann.id);
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&ann.bearer),
            Some(json!({"oldPassword": "Wrong-passw0rd", "newPassword": "An0ther-secret"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("oldPassword")));
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&ann.bearer),
            Some(json!({"oldPassword": PASSWORD, "newPassword": "weak"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("newPassword")));
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&ann.bearer),
            Some(json!({"oldPassword": PASSWORD, "newPassword": "An0ther-secret"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/rest/accounts/current", &ann.bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/rest/accounts/current", second["access_token"].as_str().unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.sign_in(&ann.email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sign_in(&ann.email, "An0ther-secret").await.0, StatusCode::OK);
}

#[tokio::test]
async fn deleting_your_account_ends_access_and_only_you_may() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let (_, token) = app.access_token(&ann).await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/rest/accounts/{}", ann.id), Some(&bob.bearer), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(Method::DELETE, &format!("/rest/accounts/{}", ann.id), Some(&ann.bearer), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/rest/accounts/current", &ann.bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.exchange(&token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sign_in(&ann.email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_disabled_account_loses_its_sessions_and_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (_, token) = app.access_token(&ann).await;
    app.state
        .store
        .set_account_status(&locus_store::Actor::operator_cli(), &ann.id, locus_store::AccountStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(app.get("/rest/accounts/current", &ann.bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sign_in(&ann.email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.exchange(&token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_operators_mark_accounts_as_able_to_share_publicly() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let service = app.user().await;
    let operator = app.operator().await;
    let path = format!("/rest/accounts/{}/anonymous", service.id);

    let (status, _) = app
        .call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"anonymous": true})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not an operator");
    let (status, _) = app
        .call(Method::PUT, &path, Some(&service.bearer), Some(json!({"anonymous": true})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not even for oneself");
    assert_eq!(app.get("/rest/accounts/current", &service.bearer).await.1["anonymous"], false);

    let (status, dto) = app
        .call(Method::PUT, &path, Some(&operator), Some(json!({"anonymous": true})))
        .await;
    assert_eq!((status, dto["anonymous"].as_bool()), (StatusCode::OK, Some(true)), "{dto}");
    assert_eq!(app.get("/rest/accounts/current", &service.bearer).await.1["anonymous"], true);
    let (status, err) = app
        .call(Method::PUT, &path, Some(&operator), Some(json!({"anonymous": "yes"})))
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("anonymous")));
    let missing = "/rest/accounts/AAAAAAAAAAAAAAAAAAAA/anonymous";
    assert_eq!(
        app.call(Method::PUT, missing, Some(&operator), Some(json!({"anonymous": true})))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, dto) = app
        .call(Method::PUT, &path, Some(&operator), Some(json!({"anonymous": false})))
        .await;
    assert_eq!((status, dto["anonymous"].as_bool()), (StatusCode::OK, Some(false)));
}

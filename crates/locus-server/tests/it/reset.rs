use crate::{secret_in, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_password_reset_completes_through_the_emailed_link_once() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (_, token) = app.access_token(&ann).await;
    let (status, body) = app
        .post("/rest/accounts/passwordReset", None, json!({"email": ann.email.to_uppercase()}))
        .await;
    assert_eq!((status, body), (StatusCode::CREATED, serde_json::Value::Null));

    let mail = app.mails(1).await.remove(0);
    assert!(mail.contains(&format!("To: {}", ann.email)), "{mail}");
    assert!(mail.contains("Subject: Reset your Locus password"));
    let secret = secret_in(&mail, "lrst");
    assert!(
        mail.replace("=\r\n", "").contains(&format!("{}/reset-password/{secret}", app.base)),
        "the link uses the public URL"
    );

    let (status, account) = app.get(&format!("/rest/accounts/passwordReset/{secret}"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(account["id"], ann.id.as_str());

    let path = format!("/rest/accounts/passwordReset/{secret}");
    let (status, body) = app.post(&path, None, json!({"newPassword": "weak"})).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("newPassword")));
    assert_eq!(
        app.post(&path, None, json!({"newPassword": "Brand-new-pass1"})).await.0,
        StatusCode::NO_CONTENT
    );

    assert_eq!(
        app.post(&path, None, json!({"newPassword": "Brand-new-pass2"})).await.0,
        StatusCode::NOT_FOUND,
        "single use"
    );
    assert_eq!(app.get(&path, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.sign_in(&ann.email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sign_in(&ann.email, "Brand-new-pass1").await.0, StatusCode::OK);
    assert_eq!(
        app.get("/rest/accounts/current", &ann.bearer).await.0,
        StatusCode::UNAUTHORIZED,
        "old sessions end"
    );
    assert_eq!(app.exchange(&token).await.0, StatusCode::UNAUTHORIZED, "old access tokens end");
}

#[tokio::test]
async fn reset_reveals_nothing_about_unknown_emails() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (status, body) = app
        .post("/rest/accounts/passwordReset", None, json!({"email": "nobody@example.org"}))
        .await;
    assert_eq!((status, body), (StatusCode::CREATED, serde_json::Value::Null));
    app.post("/rest/accounts/passwordReset", None, json!({"email": ann.email})).await;
    let mails = app.mails(1).await;
    assert_eq!(mails.len(), 1, "only the real account got a mail");
    assert!(mails[0].contains(&ann.email));
}

#[tokio::test]
async fn expired_and_forged_reset_links_are_404() {
    let app = TestApp::spawn_with(|s| s.reset_ttl = std::time::Duration::ZERO).await;
    let ann = app.user().await;
    app.post("/rest/accounts/passwordReset", None, json!({"email": ann.email})).await;
    let secret = secret_in(&app.mails(1).await[0], "lrst");
    let path = format!("/rest/accounts/passwordReset/{secret}");
    assert_eq!(app.get(&path, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post(&path, None, json!({"newPassword": "Brand-new-pass1"})).await.0,
        StatusCode::NOT_FOUND
    );
    let forged = crate::tamper(&secret);
    assert_eq!(
        app.get(&format!("/rest/accounts/passwordReset/{forged}"), "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/rest/accounts/passwordReset/garbage", "").await.0, StatusCode::NOT_FOUND);
}

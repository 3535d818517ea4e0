//! E-mail ownership (issue 20, item 2): a sign-up is found by its e-mail
//! only after its owner used the mailed link; adding such an address as a
//! member sends an invitation instead; accepting an invitation verifies.

use crate::projects::create_project;
use crate::{secret_in, tamper, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn a_squatted_address_is_invisible_until_its_owner_confirms_it() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Verified").await["id"].as_str().unwrap().to_owned();

    // Someone signs up with an address that is not theirs.
    let (status, squatter) = app.sign_up("victim@corp.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{squatter}");
    assert_eq!(squatter["emailVerified"], false);
    let (status, _) = app
        .call(Method::GET, "/rest/accounts?email=victim@corp.example", Some(&admin.bearer), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unverified address is not found");

    // Adding the address as a member sends an invitation to the address instead.
    let (status, added) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"email": "victim@corp.example", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added}");
    assert!(added["message"].as_str().unwrap().contains("invitation"), "{added}");
    assert_eq!(added["invitation"]["email"], "victim@corp.example");
    assert_eq!(added["invitation"]["status"], "PENDING");
    let (status, members) = app.get(&format!("/rest/projects/{pid}/members"), &admin.bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["content"].as_array().unwrap().len(), 1, "nobody joined: {members}");

    // The link was mailed to the address; an unknown, forged or used link is 404.
    let token = app.verification_link("victim@corp.example", false).await;
    let app = &app;
    let confirm = |token: String| async move {
        app.post(&format!("/rest/accounts/emailVerification/{token}"), None, Value::Null)
            .await
    };
    let forged = tamper(&token);
    assert_eq!(confirm(forged).await.0, StatusCode::NOT_FOUND);
    let (status, account) = confirm(token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["emailVerified"], true);
    assert_eq!(confirm(token).await.0, StatusCode::NOT_FOUND, "the link works once");
    let (status, _) = app
        .call(Method::GET, "/rest/accounts?email=VICTIM@corp.example", Some(&admin.bearer), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a verified address is found");
    let (status, added) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"email": "victim@corp.example", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["role"], "VIEWER");
}

#[tokio::test]
async fn links_expire_can_be_sent_again_and_an_accepted_invitation_verifies() {
    let app = TestApp::spawn_with(|s| s.verification_ttl = std::time::Duration::ZERO).await;
    let (status, _) = app.sign_up("late@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let expired = app.verification_link("late@example.org", true).await;
    let (status, _) = app
        .post(&format!("/rest/accounts/emailVerification/{expired}"), None, Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an expired link");

    // A new link, on request, for the signed-in owner.
    let (_, token) = app.sign_in("late@example.org", PASSWORD).await;
    let bearer = token["access_token"].as_str().unwrap();
    let (status, _) = app
        .call(Method::POST, "/rest/accounts/current/emailVerification", Some(bearer), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let again = app.verification_link("late@example.org", true).await;
    assert_ne!(again, expired);

    // An invitation accepted by the address's account verifies it.
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Invited").await["id"].as_str().unwrap().to_owned();
    let (status, _) = app.sign_up("guest@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (_, token) = app.sign_in("guest@example.org", PASSWORD).await;
    let guest = token["access_token"].as_str().unwrap().to_owned();
    let (status, added) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"email": "guest@example.org", "role": "EDITOR"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added}");
    let mails = app.mails(2).await;
    let invitation = mails.iter().find(|m| m.contains("linv_")).expect("an invitation mail");
    let link = secret_in(invitation, "linv");
    let (status, accepted) = app.post(&format!("/rest/invitations/{link}"), Some(&guest), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (_, me) = app.get("/rest/accounts/current", &guest).await;
    assert_eq!(me["emailVerified"], true, "{me}");
    let (status, _) = app
        .call(Method::POST, "/rest/accounts/current/emailVerification", Some(&guest), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing to send once verified");
}

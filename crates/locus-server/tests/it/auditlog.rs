use crate::projects::create_project;
use crate::{secret_in, TestApp, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// All events of a project, oldest first, following `next` links.
async fn project_events(app: &TestApp, bearer: &str, pid: &str) -> Vec<Value> {
    let mut events = vec![];
    let mut next = Some(format!("/rest/auditlog?projectId={pid}&sortDirection=ASC&pageSize=3"));
    while let Some(path) = next {
        let (status, page) = app.get(&path, bearer).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        events.extend(page["content"].as_array().unwrap().iter().cloned());
        next = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_owned());
    }
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["eventType"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_change_in_a_project_leaves_its_event_with_the_contracts_fields() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let resp = app
        .client
        .post(format!("{}/rest/projects", app.base))
        .bearer_auth(&ann.bearer)
        .json(&json!({"title": "Audited"}))
        .send()
        .await
        .unwrap();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let pid = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        &format!("/rest/projects/{pid}"),
        Some(&ann.bearer),
        Some(json!({"title": "Audited 2"})),
    )
    .await;
    let (_, m) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&ann.bearer),
            json!({"accountId": bob.id, "role": "VIEWER"}),
        )
        .await;
    let member = format!("/rest/projects/{pid}/members/{}", m["id"].as_str().unwrap());
    app.call(
        Method::PUT,
        &member,
        Some(&ann.bearer),
        Some(json!({"role": "EDITOR", "status": "ENABLED"})),
    )
    .await;
    app.call(Method::DELETE, &member, Some(&ann.bearer), None).await;
    let (_, inv) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"email": bob.email, "role": "VIEWER"}),
        )
        .await;
    let inv_path = format!("/rest/projects/{pid}/invitations/{}", inv["id"].as_str().unwrap());
    app.call(Method::PUT, &inv_path, Some(&ann.bearer), Some(json!({"status": "PENDING"})))
        .await;
    let hash = secret_in(&app.mails(2).await[1], "linv");
    app.post(&format!("/rest/invitations/{hash}"), Some(&bob.bearer), Value::Null).await;
    let (_, inv2) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&ann.bearer),
            json!({"email": "c@example.org", "role": "VIEWER"}),
        )
        .await;
    app.call(
        Method::DELETE,
        &format!("/rest/projects/{pid}/invitations/{}", inv2["id"].as_str().unwrap()),
        Some(&ann.bearer),
        None,
    )
    .await;

    let events = project_events(&app, &ann.bearer, &pid).await;
    assert_eq!(
        types(&events),
        [
            "create_project",
            "update_project",
            "create_membership",
            "update_membership",
            "delete_membership",
            "create_invitation",
            "update_invitation",
            "accept_invitation",
            "create_invitation",
            "cancel_invitation"
        ]
    );
    let first = &events[0];
    let event_id = first["eventId"].as_str().unwrap();
    assert!(event_id.len() == 56 && event_id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(first["accountId"], ann.id.as_str());
    assert_eq!(
        first["requestId"],
        request_id.as_str(),
        "the X-Request-Id of the request that made the change"
    );
    assert!(first["remoteHost"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(first["projectId"], pid.as_str());
    let ts = first["timestamp"].as_str().unwrap();
    assert!(ts.len() == 23 && &ts[19..20] == "," && &ts[10..11] == "T", "{ts}");
    assert_eq!(first["content"]["project_title"], "Audited");
    assert_eq!(events[3]["content"]["previous_role"], "VIEWER");
    assert_eq!(events[3]["content"]["role"], "EDITOR");
    assert_eq!(events[7]["accountId"], bob.id.as_str(), "the invitee accepted");
    assert!(!events.iter().any(|e| e.to_string().contains("linv_")), "no secret in the log");
    let ids: Vec<&str> = events.iter().map(|e| e["eventId"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "event ids order by time");

    let (status, one) = app.get(&format!("/rest/auditlog/{event_id}?projectId={pid}"), &ann.bearer).await;
    assert_eq!((status, one["eventType"].as_str()), (StatusCode::OK, Some("create_project")));
    let (_, filtered) = app
        .get(
            &format!("/rest/auditlog?projectId={pid}&eventTypes=create_invitation&eventTypes=cancel_invitation"),
            &ann.bearer,
        )
        .await;
    assert_eq!(
        types(filtered["content"].as_array().unwrap()),
        ["cancel_invitation", "create_invitation", "create_invitation"],
        "newest first"
    );

    app.call(Method::DELETE, &format!("/rest/projects/{pid}"), Some(&ann.bearer), None)
        .await;
    let kept = app
        .state
        .store
        .audit_events(&locus_store::AuditQuery {
            project_id: Some(pid.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(kept.len(), 11, "deleting the project keeps its events, and logs its deletion");
    assert_eq!(kept[0].event_type, "delete_project");
}

#[tokio::test]
async fn a_refused_change_writes_no_event() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    let (_, me) = app
        .get(&format!("/rest/projects/{pid}/members?accountId={}", ann.id), &ann.bearer)
        .await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/rest/projects/{pid}/members/{}", me["id"].as_str().unwrap()),
            Some(&ann.bearer),
            Some(json!({"role": "VIEWER", "status": "ENABLED"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(types(&project_events(&app, &ann.bearer, &pid).await), ["create_project"]);
}

#[tokio::test]
async fn denials_are_logged_once_an_hour_and_only_admins_read_the_log() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{pid}/members"),
        Some(&ann.bearer),
        json!({"accountId": bob.id, "role": "EDITOR"}),
    )
    .await;
    for _ in 0..5 {
        let (status, body) = app.get(&format!("/rest/auditlog?projectId={pid}"), &bob.bearer).await;
        assert_eq!((status, body["permission"].as_str()), (StatusCode::FORBIDDEN, Some("audit.read")));
    }
    let denied: Vec<Value> = project_events(&app, &ann.bearer, &pid)
        .await
        .into_iter()
        .filter(|e| e["eventType"] == "access_denied")
        .collect();
    assert_eq!(denied.len(), 1, "five denials, one event");
    assert_eq!(
        (denied[0]["accountId"].as_str(), denied[0]["content"]["permission"].as_str()),
        (Some(bob.id.as_str()), Some("audit.read"))
    );
    let (status, body) = app.get("/rest/auditlog", &ann.bearer).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("projectId")));
    let (status, body) = app.get(&format!("/rest/auditlog?projectId={pid}&pageSize=0"), &ann.bearer).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("pageSize")));
    let (status, body) = app
        .get(&format!("/rest/auditlog?projectId={pid}&from=yesterday"), &ann.bearer)
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("from")));
    let many = (0..101).map(|i| format!("eventTypes=t{i}")).collect::<Vec<_>>().join("&");
    let (status, body) = app.get(&format!("/rest/auditlog?projectId={pid}&{many}"), &ann.bearer).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("eventTypes")));
}

#[tokio::test]
async fn account_events_are_readable_by_their_account() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (token_id, token) = app.access_token(&ann).await;
    app.exchange(&token).await;
    app.call(
        Method::DELETE,
        &format!("/rest/accounts/current/accessTokens/{token_id}"),
        Some(&ann.bearer),
        None,
    )
    .await;
    app.sign_in(&ann.email, "Wrong-passw0rd").await;
    app.sign_in(&ann.email, "Wrong-passw0rd").await;
    app.post("/rest/accounts/passwordReset", None, json!({"email": ann.email})).await;
    let reset = secret_in(&app.mails(1).await[0], "lrst");
    app.post(
        &format!("/rest/accounts/passwordReset/{reset}"),
        None,
        json!({"newPassword": "Brand-new-pass1"}),
    )
    .await;
    let (_, token) = app.sign_in(&ann.email, "Brand-new-pass1").await;
    let bearer = token["access_token"].as_str().unwrap();
    let body = json!({"oldPassword": "Brand-new-pass1", "newPassword": PASSWORD});
    app.call(
        Method::PUT,
        &format!("/rest/accounts/{}/password", ann.id),
        Some(bearer),
        Some(body),
    )
    .await;
    let (_, token) = app.sign_in(&ann.email, PASSWORD).await;
    let (status, page) = app
        .get(
            "/rest/accounts/current/auditlog?sortDirection=ASC",
            token["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = page["content"].as_array().unwrap();
    assert_eq!(
        types(events),
        [
            "register_new_account",
            "email_verification_request",
            "request_access_token",
            "email_verified",
            "create_access_token",
            "request_access_token",
            "revoke_access_token",
            "sign_in_failed",
            "reset_password_request",
            "reset_password",
            "request_access_token",
            "change_password",
            "request_access_token"
        ],
        "two failed sign-ins, one event"
    );
    assert!(
        !page.to_string().contains("lpat_") && !page.to_string().contains(PASSWORD),
        "no secrets"
    );
}

/// Polls `check` every 20 ms for up to 5 s: the maintenance task runs on its own clock.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..250 {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn the_maintenance_task_expires_invitations_and_applies_the_retention() {
    let app = TestApp::spawn_with(|s| {
        s.invitation_ttl = std::time::Duration::ZERO;
        s.audit_retention = Some(std::time::Duration::from_millis(500));
        s.maintenance_interval = std::time::Duration::from_millis(50);
    })
    .await;
    let ann = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{pid}/invitations"),
        Some(&ann.bearer),
        json!({"email": "late@example.org", "role": "VIEWER"}),
    )
    .await;
    let store = app.state.store.clone();
    let query = |types: Vec<String>| locus_store::AuditQuery {
        project_id: Some(pid.clone()),
        event_types: types,
        limit: 100,
        ..Default::default()
    };
    assert!(
        eventually(async || store.audit_events(&query(vec!["expire_invitation".into()])).await.unwrap().len() == 1).await,
        "the expiry is recorded once"
    );
    assert!(
        eventually(async || store.audit_events(&query(vec![])).await.unwrap().is_empty()).await,
        "events past the retention are purged"
    );
}

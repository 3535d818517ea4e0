use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn add(app: &TestApp, admin: &User, project: &str, who: &User, role: &str) -> Value {
    let (status, m) = app
        .post(
            &format!("/rest/projects/{project}/members"),
            Some(&admin.bearer),
            json!({"accountId": who.id, "role": role, "status": "ENABLED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    m
}

#[tokio::test]
async fn members_are_added_listed_changed_and_removed() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    let m = add(&app, &ann, &pid, &bob, "VIEWER").await;
    assert_eq!(
        (m["role"].as_str(), m["status"].as_str(), m["accountId"].as_str()),
        (Some("VIEWER"), Some("ENABLED"), Some(bob.id.as_str()))
    );
    let mid = m["id"].as_str().unwrap().to_owned();

    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&ann.bearer),
            json!({"email": bob.email.to_uppercase(), "role": "EDITOR"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, list) = app.get(&format!("/rest/projects/{pid}/members?expand=account"), &ann.bearer).await;
    assert_eq!(list["content"].as_array().unwrap().len(), 2);
    // Both joined within the same millisecond at times: find Bob by id, not by position.
    let bobs = list["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["accountId"] == bob.id.as_str())
        .unwrap();
    assert_eq!(bobs["account"]["email"], bob.email.as_str());
    // An AccountDTO: the owner's private settings stay out.
    assert_eq!(bobs["account"]["fullName"], "Test User");
    assert_eq!(bobs["account"]["status"], "ENABLED");
    assert_eq!(bobs["account"]["anonymous"], false);
    assert_eq!(bobs["account"]["links"][0]["href"], format!("/rest/accounts/{}", bob.id));
    assert!(bobs["account"].get("preferences").is_none(), "{bobs}");
    assert_eq!(list["page"]["totalElements"], 2);

    let (status, one) = app
        .get(&format!("/rest/projects/{pid}/members?accountId={}", bob.id), &bob.bearer)
        .await;
    assert_eq!(status, StatusCode::OK, "a member reads their own membership");
    assert_eq!(one["id"], mid.as_str());
    let (status, _) = app
        .get(&format!("/rest/projects/{pid}/members?accountId={}", ann.id), &bob.bearer)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "but not someone else's");
    let (status, body) = app.get(&format!("/rest/projects/{pid}/members"), &bob.bearer).await;
    assert_eq!(
        (status, body["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("membership.list"))
    );

    let path = format!("/rest/projects/{pid}/members/{mid}");
    let (status, changed) = app
        .call(
            Method::PUT,
            &path,
            Some(&ann.bearer),
            Some(json!({"role": "EDITOR", "status": "ENABLED"})),
        )
        .await;
    assert_eq!((status, changed["role"].as_str()), (StatusCode::OK, Some("EDITOR")));
    let (_, detail) = app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await;
    assert_eq!(detail["membership"]["role"], "EDITOR", "in force on the next request");

    assert_eq!(
        app.call(Method::DELETE, &path, Some(&ann.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&ann.bearer), None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_member_requests_name_the_problem() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    let path = format!("/rest/projects/{pid}/members");
    for role in ["ANONYMOUS", "DUMP_DATA", "OWNER"] {
        let (status, body) = app.post(&path, Some(&ann.bearer), json!({"accountId": bob.id, "role": role})).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("role")), "{role}");
        assert!(
            body["message"].as_str().unwrap().contains("LOCATION_API_CONSUMER"),
            "names the allowed roles: {body}"
        );
    }
    let (status, body) = app
        .post(
            &path,
            Some(&ann.bearer),
            json!({"accountId": bob.id, "role": "VIEWER", "status": "PAUSED"}),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("status")));
    let (status, _) = app.post(&path, Some(&ann.bearer), json!({"role": "VIEWER"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An address without a (verified) account is invited instead.
    let (status, body) = app
        .post(&path, Some(&ann.bearer), json!({"email": "nobody@example.org", "role": "VIEWER"}))
        .await;
    assert_eq!(
        (status, &body["invitation"]["email"]),
        (StatusCode::ACCEPTED, &json!("nobody@example.org"))
    );
    let (status, _) = app
        .post(
            &path,
            Some(&ann.bearer),
            json!({"accountId": "nOsUcHaCcOuNtXyZ0123", "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.post(&path, Some(&ann.bearer), json!({"accountId": 42, "role": "VIEWER"})).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("accountId")));
    let m = add(&app, &ann, &pid, &bob, "VIEWER").await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("{path}/{}", m["id"].as_str().unwrap()),
            Some(&ann.bearer),
            Some(json!({"role": "VIEWER"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "status is required: {body}");
}

#[tokio::test]
async fn the_last_enabled_admin_cannot_be_demoted_disabled_or_removed() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    let (_, me) = app
        .get(&format!("/rest/projects/{pid}/members?accountId={}", ann.id), &ann.bearer)
        .await;
    let path = format!("/rest/projects/{pid}/members/{}", me["id"].as_str().unwrap());
    for body in [
        json!({"role": "EDITOR", "status": "ENABLED"}),
        json!({"role": "ADMIN", "status": "DISABLED"}),
    ] {
        let (status, err) = app.call(Method::PUT, &path, Some(&ann.bearer), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(err["message"].as_str().unwrap().contains("at least one enabled ADMIN"), "{err}");
    }
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&ann.bearer), None).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = app
        .call(Method::DELETE, &format!("/rest/accounts/{}", ann.id), Some(&ann.bearer), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the last admin cannot delete their account either");
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}"), &ann.bearer).await.1["membership"]["role"],
        "ADMIN"
    );
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    let bob_m = add(&app, &ann, &pid, &bob, "ADMIN").await;
    let (_, ann_m) = app
        .get(&format!("/rest/projects/{pid}/members?accountId={}", ann.id), &ann.bearer)
        .await;
    let bob_path = format!("/rest/projects/{pid}/members/{}", bob_m["id"].as_str().unwrap());
    let ann_path = format!("/rest/projects/{pid}/members/{}", ann_m["id"].as_str().unwrap());
    for _ in 0..5 {
        let a = app.call(
            Method::PUT,
            &bob_path,
            Some(&ann.bearer),
            Some(json!({"role": "VIEWER", "status": "ENABLED"})),
        );
        let b = app.call(
            Method::PUT,
            &ann_path,
            Some(&bob.bearer),
            Some(json!({"role": "VIEWER", "status": "ENABLED"})),
        );
        let ((sa, _), (sb, _)) = tokio::join!(a, b);
        let (_, list) = app
            .get(
                &format!("/rest/projects/{pid}/members"),
                if sa == StatusCode::OK { &ann.bearer } else { &bob.bearer },
            )
            .await;
        let admins = list["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "ADMIN" && m["status"] == "ENABLED")
            .count();
        assert_eq!(admins, 1, "statuses {sa} {sb}: {list}");
        // Restore both as admins for the next round.
        let (admin, other_m) = if sa == StatusCode::OK { (&ann, &bob_m) } else { (&bob, &ann_m) };
        let (status, _) = app
            .call(
                Method::PUT,
                &format!("/rest/projects/{pid}/members/{}", other_m["id"].as_str().unwrap()),
                Some(&admin.bearer),
                Some(json!({"role": "ADMIN", "status": "ENABLED"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_disabled_member_can_do_nothing_until_enabled_again() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    let m = add(&app, &ann, &pid, &bob, "ADMIN").await;
    let path = format!("/rest/projects/{pid}/members/{}", m["id"].as_str().unwrap());
    app.call(
        Method::PUT,
        &path,
        Some(&ann.bearer),
        Some(json!({"role": "ADMIN", "status": "DISABLED"})),
    )
    .await;
    let (status, body) = app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}/members"), &bob.bearer).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}/members?accountId={}", bob.id), &bob.bearer)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, list) = app.get("/rest/projects", &bob.bearer).await;
    assert_eq!(list["content"], json!([]), "not listed while disabled");
    app.call(
        Method::PUT,
        &path,
        Some(&ann.bearer),
        Some(json!({"role": "ADMIN", "status": "ENABLED"})),
    )
    .await;
    assert_eq!(app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.0, StatusCode::OK);
}

/// Lists kept in one order refuse a `sort` with a 400 naming it, rather than
/// ignoring it; the projects list honours its attributes.
#[tokio::test]
async fn a_sort_is_honoured_or_refused_never_ignored() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/rest/projects/{pid}/members?sort=email,asc"),
        format!("/rest/projects/{pid}/invitations?sort=email,asc"),
        format!("/rest/projects/{pid}/md/metrics?sort=name,desc"),
        "/rest/organizations?sort=title,asc".to_owned(),
    ] {
        let (status, body) = app.get(&path, &ann.bearer).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["field"], "sort", "{path}: {body}");
    }
    let (status, body) = app.get("/rest/projects?sort=title,desc", &ann.bearer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

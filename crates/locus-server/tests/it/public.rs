//! Public access over HTTP: a service account marked anonymous-capable by an
//! operator makes a token; anyone holding it reads the project, and nothing
//! else, until the token, the flag, the membership or the account ends.

use crate::metadata::{dashboard, view};
use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A project with two views, and a service account holding `role` in it,
/// switched on for public access by an operator.
pub struct Shared {
    pub pid: String,
    pub admin: User,
    pub service: User,
    pub membership_id: String,
    pub operator: String,
}

pub async fn shared_project(app: &TestApp, role: &str) -> Shared {
    let admin = app.user().await;
    let service = app.user().await;
    let pid = create_project(app, &admin, "Harbour").await["id"].as_str().unwrap().to_owned();
    for (segment, body) in [
        ("dashboards", dashboard("d1")),
        ("views", view("v1", "Shops", "d1")),
        ("dashboards", dashboard("d2")),
        ("views", view("v2", "Stock", "d2")),
    ] {
        let (status, answer) = app
            .post(&format!("/rest/projects/{pid}/md/{segment}"), Some(&admin.bearer), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, member) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"accountId": service.id, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    let operator = app.operator().await;
    set_anonymous(app, &operator, &service, true).await;
    Shared {
        pid,
        admin,
        service,
        membership_id: member["id"].as_str().unwrap().to_owned(),
        operator,
    }
}

pub(crate) async fn set_anonymous(app: &TestApp, operator: &str, who: &User, on: bool) {
    let path = format!("/rest/accounts/{}/anonymous", who.id);
    let (status, body) = app.call(Method::PUT, &path, Some(operator), Some(json!({"anonymous": on}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

impl Shared {
    /// The service account makes a token with `body`; answers the created DTO.
    pub async fn token(&self, app: &TestApp, body: Value) -> Value {
        let (status, created) = app
            .post(
                &format!("/rest/projects/{}/publicAccessTokens", self.pid),
                Some(&self.service.bearer),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }
}

/// Exchanges a public token for a bearer, as the landing page and API clients do.
pub async fn public_bearer(app: &TestApp, token: &str) -> String {
    let (status, body) = app.exchange(token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bearer = body["access_token"].as_str().unwrap().to_owned();
    assert!(bearer.starts_with("lpbt_"), "{bearer}");
    assert!(
        body["expires_in"].as_u64().unwrap() <= 900,
        "public bearers are short-lived: {body}"
    );
    bearer
}

fn names(page: &Value) -> Vec<&str> {
    page["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_public_link_opens_the_project_read_only_and_shows_no_emails() {
    let app = TestApp::spawn().await;
    let s = shared_project(&app, "VIEWER").await;
    let created = s.token(&app, json!({"name": "Conference"})).await;
    let secret = created["token"].as_str().unwrap();
    assert!(secret.starts_with("lpub_") && secret.len() >= 5 + 16 + 1 + 32, "{secret}");
    assert_eq!(
        created["link"],
        format!("{}/public/{}#token={secret}", app.base, s.pid),
        "the secret rides in the fragment"
    );
    let bearer = public_bearer(&app, secret).await;

    let mut seen = Vec::new();
    let (status, project) = app.get(&format!("/rest/projects/{}", s.pid), &bearer).await;
    assert_eq!(status, StatusCode::OK, "{project}");
    assert_eq!(
        (project["title"].as_str(), project["membership"]["role"].as_str()),
        (Some("Harbour"), Some("ANONYMOUS"))
    );
    seen.push(project);
    let (status, views) = app.get(&format!("/rest/projects/{}/md/views", s.pid), &bearer).await;
    assert_eq!(status, StatusCode::OK, "{views}");
    assert_eq!(names(&views), ["v1", "v2"]);
    assert!(views["content"][0]["accessInfo"].get("createdBy").is_none(), "{views}");
    seen.push(views);
    let (status, one) = app.get(&format!("/rest/projects/{}/md/dashboards/d1", s.pid), &bearer).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    seen.push(one);
    let (status, permissions) = app.get(&format!("/rest/projects/{}/permissions", s.pid), &bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(permissions["role"], "ANONYMOUS");
    let keys: Vec<&str> = permissions["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "project.access",
            "project.detail",
            "data.bulk_point_query",
            "data.dwh_query",
            "stories.view",
            "studio.export",
            "studio.json_metadata"
        ]
    );
    seen.push(permissions);
    let (status, stories) = app.get(&format!("/rest/projects/{}/stories", s.pid), &bearer).await;
    assert_eq!(status, StatusCode::OK);
    seen.push(stories);
    for body in &seen {
        let text = body.to_string();
        assert!(!text.contains('@'), "a public visitor sees no e-mail: {text}");
    }

    // Nothing that writes, even what VIEWER may do.
    let (status, denied) = app
        .post(
            &format!("/rest/projects/{}/bookmarks", s.pid),
            Some(&bearer),
            json!({"name": "b", "title": "B"}),
        )
        .await;
    assert_eq!(
        (status, denied["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("md.bookmarks.update"))
    );
    let own = format!("/rest/projects/{}/members?accountId={}", s.pid, s.service.id);
    assert_eq!(
        app.get(&own, &bearer).await.0,
        StatusCode::FORBIDDEN,
        "no membership of its own to read"
    );
    // Public bearers act in their project only, and never as the service account.
    assert_eq!(app.get("/rest/accounts/current", &bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/rest/projects", &bearer).await.0, StatusCode::UNAUTHORIZED);
    let other = create_project(&app, &s.service, "Mine").await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/rest/projects/{other}"), &bearer).await.0, StatusCode::NOT_FOUND);
    let (status, list) = app
        .post(&format!("/rest/projects/{}/publicAccessTokens", s.pid), Some(&bearer), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{list}");
}

#[tokio::test]
async fn only_anonymous_capable_members_make_tokens_and_bad_input_is_named() {
    let app = TestApp::spawn().await;
    let s = shared_project(&app, "VIEWER").await;
    let path = format!("/rest/projects/{}/publicAccessTokens", s.pid);
    // The admin was never switched on: no tokens, whatever the role.
    let (status, body) = app.post(&path, Some(&s.admin.bearer), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Switched on but not a member: the project does not exist for them.
    let stranger = app.user().await;
    set_anonymous(&app, &s.operator, &stranger, true).await;
    assert_eq!(app.post(&path, Some(&stranger.bearer), json!({})).await.0, StatusCode::NOT_FOUND);
    let future = "2999-01-01T00:00:00Z";
    for (body, field) in [
        (json!({"views": []}), "views"),
        (json!({"views": ["v1", "nope"]}), "views[1]"),
        (json!({"views": "v1"}), "views"),
        (json!({"expiresAt": "2001-01-01T00:00:00Z"}), "expiresAt"),
        (json!({"expiresAt": "soon"}), "expiresAt"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "  "}), "name"),
    ] {
        let (status, err) = app.post(&path, Some(&s.service.bearer), body.clone()).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {err}"
        );
    }
    assert!(
        app.state.store.public_tokens(&s.pid, None).await.unwrap().is_empty(),
        "nothing half made"
    );
    let created = s.token(&app, json!({"views": ["v1", "v1"], "expiresAt": future})).await;
    assert_eq!(created["views"], json!(["v1"]));
    assert_eq!(created["expiresAt"], future);

    // The service account lists its own, without secrets; so does an admin, who sees all.
    for who in [&s.service.bearer, &s.admin.bearer] {
        let (status, list) = app.get(&path, who).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["content"].as_array().unwrap().len(), 1);
        assert!(list["content"][0].get("token").is_none() && list["content"][0].get("link").is_none());
    }
    let viewer = app.user().await;
    app.post(
        &format!("/rest/projects/{}/members", s.pid),
        Some(&s.admin.bearer),
        json!({"accountId": viewer.id, "role": "VIEWER"}),
    )
    .await;
    let (status, err) = app.get(&path, &viewer.bearer).await;
    assert_eq!(
        (status, err["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("project.update"))
    );
    let id = created["id"].as_str().unwrap();
    let one = format!("{path}/{id}");
    assert_eq!(
        app.call(Method::DELETE, &one, Some(&viewer.bearer), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::DELETE, &one, Some(&s.admin.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(Method::DELETE, &one, Some(&s.admin.bearer), None).await.0,
        StatusCode::NOT_FOUND
    );

    let events = app
        .state
        .store
        .audit_events(&locus_store::AuditQuery {
            project_id: Some(s.pid.clone()),
            event_types: vec!["create_public_access_token".into(), "revoke_public_access_token".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["revoke_public_access_token", "create_public_access_token"]);
    assert_eq!(events[1].account_id.as_deref(), Some(s.service.id.as_str()));
    assert!(!events[1].content.get().contains("lpub_"), "no secret in the log");
}

#[tokio::test]
async fn public_access_ends_with_revocation_the_flag_the_membership_and_the_account() {
    let app = TestApp::spawn().await;
    let s = shared_project(&app, "VIEWER").await;
    let detail = format!("/rest/projects/{}", s.pid);
    let created = s.token(&app, json!({})).await;
    let secret = created["token"].as_str().unwrap().to_owned();
    let bearer = public_bearer(&app, &secret).await;
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::OK);

    // The operator switches the flag off: the very next request fails; on again, it works.
    set_anonymous(&app, &s.operator, &s.service, false).await;
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);
    set_anonymous(&app, &s.operator, &s.service, true).await;
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::OK);

    // The membership disabled, then removed.
    let member = format!("/rest/projects/{}/members/{}", s.pid, s.membership_id);
    let disable = json!({"role": "VIEWER", "status": "DISABLED"});
    assert_eq!(
        app.call(Method::PUT, &member, Some(&s.admin.bearer), Some(disable)).await.0,
        StatusCode::OK
    );
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);
    let enable = json!({"role": "VIEWER", "status": "ENABLED"});
    assert_eq!(
        app.call(Method::PUT, &member, Some(&s.admin.bearer), Some(enable)).await.0,
        StatusCode::OK
    );
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::OK);

    // Revoking the token ends it and every bearer exchanged from it.
    let second = public_bearer(&app, &secret).await;
    let revoke = format!("/rest/projects/{}/publicAccessTokens/{}", s.pid, created["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &revoke, Some(&s.service.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    for b in [&bearer, &second] {
        assert_eq!(app.get(&detail, b).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);

    // A new token; the membership removed: the project is gone for the link.
    let secret = s.token(&app, json!({})).await["token"].as_str().unwrap().to_owned();
    let bearer = public_bearer(&app, &secret).await;
    assert_eq!(
        app.call(Method::DELETE, &member, Some(&s.admin.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);

    // Deleting the service account ends its links too.
    let s = shared_project(&app, "VIEWER").await;
    let secret = s.token(&app, json!({})).await["token"].as_str().unwrap().to_owned();
    let bearer = public_bearer(&app, &secret).await;
    let me = format!("/rest/accounts/{}", s.service.id);
    assert_eq!(
        app.call(Method::DELETE, &me, Some(&s.service.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/rest/projects/{}", s.pid), &bearer).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_token_opens_nothing() {
    let app = TestApp::spawn().await;
    let s = shared_project(&app, "VIEWER").await;
    let detail = format!("/rest/projects/{}", s.pid);
    // Expiry has one-second precision on the wire: two seconds ahead.
    let soon = locus_store::now_millis() / 1000 * 1000 + 2000;
    let expires = time::OffsetDateTime::from_unix_timestamp(soon / 1000).unwrap();
    let expires = expires.format(&time::format_description::well_known::Rfc3339).unwrap();
    let created = s.token(&app, json!({"expiresAt": expires})).await;
    let secret = created["token"].as_str().unwrap().to_owned();
    let bearer = public_bearer(&app, &secret).await;
    assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::OK);
    // Polled, bounded: the bearer dies with the token, at its expiry.
    let mut status = StatusCode::OK;
    for _ in 0..60 {
        status = app.get(&detail, &bearer).await.0;
        if status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(locus_store::now_millis() >= soon, "not before the expiry");
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_views_allow_list_shows_only_those_views_and_what_they_reach() {
    let app = TestApp::spawn().await;
    let s = shared_project(&app, "ADMIN").await;
    let md = |rest: &str| format!("/rest/projects/{}/md/{rest}", s.pid);
    let (status, share) = app
        .post(
            &format!("/rest/projects/{}/shares", s.pid),
            Some(&s.admin.bearer),
            json!({"view": "v2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{share}");
    let (status, _) = app
        .post(
            &format!("/rest/projects/{}/stories", s.pid),
            Some(&s.admin.bearer),
            json!({"title": "Tour", "blocks": [{"type": "view", "view": "v2"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let created = s.token(&app, json!({"views": ["v1"]})).await;
    let bearer = public_bearer(&app, created["token"].as_str().unwrap()).await;

    let (_, views) = app.get(&md("views"), &bearer).await;
    assert_eq!(names(&views), ["v1"]);
    assert_eq!(views["page"]["totalElements"], 1, "{views}");
    let (_, dashboards) = app.get(&md("dashboards"), &bearer).await;
    assert_eq!(names(&dashboards), ["d1"]);
    assert_eq!(app.get(&md("views/v1"), &bearer).await.0, StatusCode::OK);
    assert_eq!(app.get(&md("dashboards/d1"), &bearer).await.0, StatusCode::OK);
    assert_eq!(app.get(&md("views/v2"), &bearer).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&md("views?name=v2"), &bearer).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&md("dashboards/d2"), &bearer).await.0, StatusCode::NOT_FOUND);
    let share = format!("/rest/projects/{}/shares/{}", s.pid, share["shareId"].as_str().unwrap());
    assert_eq!(app.get(&share, &bearer).await.0, StatusCode::NOT_FOUND);
    let (_, stories) = app.get(&format!("/rest/projects/{}/stories", s.pid), &bearer).await;
    assert_eq!(stories["content"], json!([]), "a story may show any view");

    // Without a list, the same service account's link shows both, and the share.
    let open = s.token(&app, json!({})).await;
    let bearer = public_bearer(&app, open["token"].as_str().unwrap()).await;
    assert_eq!(names(&app.get(&md("views"), &bearer).await.1), ["v1", "v2"]);
    assert_eq!(app.get(&share, &bearer).await.0, StatusCode::OK);
}

#[tokio::test]
async fn exchanges_and_public_requests_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(|s| {
        s.limits.public_exchanges_per_minute = 3;
        s.limits.public_requests_per_minute = 5;
    })
    .await;
    let s = shared_project(&app, "VIEWER").await;
    let secret = s.token(&app, json!({})).await["token"].as_str().unwrap().to_owned();
    let bearer = public_bearer(&app, &secret).await;
    public_bearer(&app, &secret).await;
    public_bearer(&app, &secret).await;
    let (status, err) = app.exchange(&secret).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_requests")),
        "{err}"
    );
    let detail = format!("/rest/projects/{}", s.pid);
    for _ in 0..5 {
        assert_eq!(app.get(&detail, &bearer).await.0, StatusCode::OK);
    }
    let resp = app
        .client
        .get(format!("{}{detail}", app.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    // Members are not slowed down by the public limit.
    assert_eq!(app.get(&detail, &s.admin.bearer).await.0, StatusCode::OK);
}

#[tokio::test]
async fn public_use_is_counted_per_token_and_window_not_per_request() {
    let app = TestApp::spawn_with(|s| {
        s.public_usage_window = std::time::Duration::from_secs(1);
        s.maintenance_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let s = shared_project(&app, "VIEWER").await;
    let created = s.token(&app, json!({})).await;
    let bearer = public_bearer(&app, created["token"].as_str().unwrap()).await;
    for _ in 0..4 {
        assert_eq!(app.get(&format!("/rest/projects/{}", s.pid), &bearer).await.0, StatusCode::OK);
    }
    let query = locus_store::AuditQuery {
        project_id: Some(s.pid.clone()),
        event_types: vec!["public_access".into()],
        limit: 10,
        ..Default::default()
    };
    let mut total = 0;
    for _ in 0..50 {
        let events = app.state.store.audit_events(&query).await.unwrap();
        total = events.iter().map(|e| e.content_json()["requests"].as_u64().unwrap()).sum::<u64>();
        if total >= 5 {
            assert!(events.len() <= 2, "one event per token and window: {events:?}");
            for e in &events {
                assert_eq!(e.content_json()["public_token_id"], created["id"]);
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(total, 5, "one exchange and four requests");
}

#[tokio::test]
async fn the_landing_page_reads_the_token_from_the_fragment_and_sends_no_referrer() {
    let app = TestApp::spawn().await;
    let s = shared_project(&app, "VIEWER").await;
    let resp = app.client.get(format!("{}/public/{}", app.base, s.pid)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("connect-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("data-project=\"{}\"", s.pid)) && html.contains("/static/public.js"));
    assert!(!html.contains("Harbour"), "the page itself reveals nothing about the project");
    let script = app.client.get(format!("{}/static/public.js", app.base)).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("location.hash"));
    let bad = app.client.get(format!("{}/public/NOT-AN-ID", app.base)).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::NOT_FOUND);
}

//! Project metadata over HTTP: the SDK's flows (get by name with an ETag,
//! update with If-Match), validation errors with JSON paths, links, ownership
//! and personal views; then shares, saved views, the data model, bookmarks and stories.

use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub fn metric(name: &str) -> Value {
    json!({"name": name, "type": "metric", "content": {"type": "function_sum", "content": [{"type": "property", "value": "baskets.amount"}]}})
}

pub fn dashboard(name: &str) -> Value {
    json!({"name": name, "type": "dashboard", "content": {"blockRows": []}})
}

pub fn view(name: &str, title: &str, dashboard: &str) -> Value {
    json!({"name": name, "type": "view", "title": title, "description": "A view",
        "content": {"dashboard": format!("/rest/projects/$projectId/md/dashboards?name={dashboard}")}})
}

pub fn settings(default_views: &[&str]) -> Value {
    let links: Vec<String> = default_views
        .iter()
        .map(|v| format!("/rest/projects/$projectId/md/views?name={v}"))
        .collect();
    json!({"name": "settings", "type": "projectSettings", "content": {"geoSearchProviders": ["Mapbox"], "defaultViews": links}})
}

/// Sends a request with extra headers; answers status, headers and JSON body.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.base)).bearer_auth(bearer);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn create(app: &TestApp, user: &User, pid: &str, segment: &str, body: Value) -> Value {
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/{segment}"), Some(&user.bearer), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created
}

pub(crate) async fn member(app: &TestApp, admin: &User, pid: &str, role: &str) -> User {
    let user = app.user().await;
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"accountId": user.id, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    user
}

async fn project(app: &TestApp, admin: &User) -> String {
    create_project(app, admin, "Content").await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_sdk_flow_get_by_name_then_update_with_the_etag() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let created = create(&app, &ann, &pid, "metrics", metric("sales")).await;
    assert_eq!(created["id"].as_str().unwrap().len(), 16);
    assert_eq!((created["version"].as_i64(), created["type"].as_str()), (Some(1), Some("metric")));
    assert_eq!(created["accessInfo"]["createdBy"], ann.email.as_str());
    assert_eq!(
        created["links"][0]["href"],
        format!("/rest/projects/{pid}/md/metrics/{}", created["id"].as_str().unwrap())
    );

    let (status, headers, one) = send(
        &app,
        Method::GET,
        &format!("/rest/projects/{pid}/md/metrics?name=sales"),
        &ann.bearer,
        &[],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], created["id"], "?name= answers one object, not a page");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"1\"");
    let id = one["id"].as_str().unwrap();
    let (status, _, by_name) = send(
        &app,
        Method::GET,
        &format!("/rest/projects/{pid}/md/metrics/sales"),
        &ann.bearer,
        &[],
        None,
    )
    .await;
    assert_eq!((status, &by_name["id"]), (StatusCode::OK, &one["id"]));

    // The SDK sends the whole object back, read-only keys included.
    let mut changed = one.clone();
    changed["description"] = json!("Sum of baskets");
    let path = format!("/rest/projects/{pid}/md/metrics/{id}");
    let (status, _, missing) = send(&app, Method::PUT, &path, &ann.bearer, &[], Some(changed.clone())).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{missing}");
    let headers = [("If-Match", etag.as_str()), ("X-CAN-STRICT-JSON-VALIDATION", "false")];
    let (status, new_headers, updated) = send(&app, Method::PUT, &path, &ann.bearer, &headers, Some(changed.clone())).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["version"].as_i64(), new_headers["etag"].to_str().unwrap()),
        (Some(2), "\"2\"")
    );
    assert_eq!(updated["description"], "Sum of baskets");
    let (status, _, stale) = send(&app, Method::PUT, &path, &ann.bearer, &headers, Some(changed)).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{stale}");

    let (status, list) = app.get(&format!("/rest/projects/{pid}/md/metrics?size=1"), &ann.bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["page"]["totalElements"], 1);
    assert_eq!(list["content"][0]["name"], "sales");
    let (status, _, _) = send(&app, Method::DELETE, &path, &ann.bearer, &[], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &ann.bearer).await.0, StatusCode::NOT_FOUND);
    let (_, log) = app
        .get(
            &format!("/rest/auditlog?projectId={pid}&eventTypes=create_metadata&eventTypes=update_metadata&eventTypes=delete_metadata"),
            &ann.bearer,
        )
        .await;
    let types: Vec<&str> = log["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 3, "{log}");
}

#[tokio::test]
async fn invalid_objects_get_400_with_every_path_and_strict_mode_refuses_unknown_keys() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let bad = json!({"name": "turnover", "type": "indicator", "title": "T", "description": "D",
        "content": {"metric": "/rest/projects/$projectId/md/views?name=x", "scale": "rainbow"}});
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/md/indicators"), Some(&ann.bearer), bad)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let paths: Vec<&str> = err["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"content.metric") && paths.contains(&"content.scale"), "{err}");
    assert!(err["field"].is_string());

    let missing_link = json!({"name": "turnover", "type": "indicator", "title": "T", "description": "D",
        "content": {"metric": "/rest/projects/$projectId/md/metrics?name=nothing"}});
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/md/indicators"), Some(&ann.bearer), missing_link)
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content.metric")),
        "{err}"
    );

    let mut extra = metric("sales");
    extra["colour"] = json!("red");
    let strict = [("X-CAN-STRICT-JSON-VALIDATION", "true")];
    let (status, _, err) = send(
        &app,
        Method::POST,
        &format!("/rest/projects/{pid}/md/metrics"),
        &ann.bearer,
        &strict,
        Some(extra.clone()),
    )
    .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("colour")), "{err}");
    let (status, _, ok) = send(
        &app,
        Method::POST,
        &format!("/rest/projects/{pid}/md/metrics"),
        &ann.bearer,
        &[],
        Some(extra),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");

    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/md/metrics"), Some(&ann.bearer), metric("sales"))
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::CONFLICT, Some("name")));
    let (status, _) = app
        .post(&format!("/rest/projects/{pid}/md/shares"), Some(&ann.bearer), metric("x"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "shares are not a public type");
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/md/metrics"), Some(&ann.bearer), json!([1, 2]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

    create(&app, &ann, &pid, "projectSettings", settings(&[])).await;
    let mut second = settings(&[]);
    second["name"] = json!("other_settings");
    let (status, _) = app
        .post(&format!("/rest/projects/{pid}/md/projectSettings"), Some(&ann.bearer), second)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one projectSettings per project");
}

#[tokio::test]
async fn referenced_objects_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let d = create(&app, &ann, &pid, "dashboards", dashboard("main")).await;
    let v = create(&app, &ann, &pid, "views", view("shops", "Shops", "main")).await;
    let d_path = format!("/rest/projects/{pid}/md/dashboards/{}", d["id"].as_str().unwrap());
    let (status, err) = app.call(Method::DELETE, &d_path, Some(&ann.bearer), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["message"].as_str().unwrap().contains("view shops"), "names the referrer: {err}");
    let v_path = format!("/rest/projects/{pid}/md/views/{}", v["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &v_path, Some(&ann.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(Method::DELETE, &d_path, Some(&ann.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn view_creators_own_what_they_create_and_personal_views_stay_theirs_until_published() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let vera = member(&app, &ann, &pid, "VIEW_CREATOR").await;
    let walt = member(&app, &ann, &pid, "VIEW_CREATOR").await;
    let ed = member(&app, &ann, &pid, "EDITOR").await;
    let viewer = member(&app, &ann, &pid, "VIEWER").await;
    create(&app, &ann, &pid, "dashboards", dashboard("main")).await;
    create(&app, &ann, &pid, "views", view("b_shared", "Shared", "main")).await;
    let mine = create(&app, &vera, &pid, "views", view("veras", "Vera's view", "main")).await;
    let walts = create(&app, &walt, &pid, "views", view("walts", "Walt's view", "main")).await;
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/md/metrics"), Some(&vera.bearer), metric("m"))
        .await;
    assert_eq!((status, err["permission"].as_str()), (StatusCode::FORBIDDEN, Some("md.create_all")));

    let names = |list: &Value| -> Vec<String> {
        list["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let views = format!("/rest/projects/{pid}/md/views");
    assert_eq!(names(&app.get(&views, &vera.bearer).await.1), ["b_shared", "veras"]);
    assert_eq!(
        names(&app.get(&views, &viewer.bearer).await.1),
        ["b_shared"],
        "personal views are their owners'"
    );
    assert_eq!(
        names(&app.get(&views, &ed.bearer).await.1),
        ["b_shared", "veras", "walts"],
        "md.update_all sees them, to publish them"
    );
    let walts_path = format!("{views}/{}", walts["id"].as_str().unwrap());
    assert_eq!(app.get(&walts_path, &vera.bearer).await.0, StatusCode::NOT_FOUND);

    // Published through projectSettings.defaultViews: visible to all, listed first in that order.
    create(&app, &ann, &pid, "projectSettings", settings(&["walts", "b_shared"])).await;
    assert_eq!(names(&app.get(&views, &viewer.bearer).await.1), ["walts", "b_shared"]);
    assert_eq!(
        names(&app.get(&views, &vera.bearer).await.1),
        ["walts", "b_shared", "veras"],
        "then their own, by title"
    );

    // Vera may delete her own view but not Walt's (visible now) nor a shared one.
    let (status, err) = app.call(Method::DELETE, &walts_path, Some(&vera.bearer), None).await;
    assert_eq!(
        (status, err["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("md.view.delete_own")),
        "{err}"
    );
    let mine_path = format!("{views}/{}", mine["id"].as_str().unwrap());
    let (status, _, updated) = send(
        &app,
        Method::PUT,
        &mine_path,
        &vera.bearer,
        &[("If-Match", "1")],
        Some(view("veras", "Vera's best", "main")),
    )
    .await;
    assert_eq!(
        (status, updated["title"].as_str()),
        (StatusCode::OK, Some("Vera's best")),
        "the owner replaces her personal view"
    );
    let (status, _, _) = send(
        &app,
        Method::PUT,
        &walts_path,
        &vera.bearer,
        &[("If-Match", "1")],
        Some(view("walts", "Mine now", "main")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call(Method::DELETE, &mine_path, Some(&vera.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    // The viewer cannot read metadata of a kind it may not; LOAD_DATA reads datasets only.
    let loader = member(&app, &ann, &pid, "LOAD_DATA").await;
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}/md/datasets"), &loader.bearer).await.0,
        StatusCode::OK
    );
    let (status, err) = app.get(&format!("/rest/projects/{pid}/md/metrics"), &loader.bearer).await;
    assert_eq!(
        (status, err["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("studio.json_metadata"))
    );
    let (status, err) = app.get(&format!("/rest/projects/{pid}/md/dataPermissions"), &ed.bearer).await;
    assert_eq!(
        (status, err["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("md.data_permissions.update"))
    );
}

#[tokio::test]
async fn shares_saved_views_data_model_bookmarks_and_stories() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let vic = member(&app, &ann, &pid, "VIEWER").await;
    let vera = member(&app, &ann, &pid, "VIEW_CREATOR").await;
    let d = create(&app, &ann, &pid, "dashboards", dashboard("main")).await;
    create(&app, &ann, &pid, "views", view("shops", "Shops", "main")).await;

    let (status, share) = app
        .post(
            &format!("/rest/projects/{pid}/shares"),
            Some(&vic.bearer),
            json!({"view": "shops", "state": {"zoom": 7}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{share}");
    assert!(share["link"].as_str().unwrap().ends_with(&format!(
        "/projects/{pid}/views/shops?shareId={}",
        share["shareId"].as_str().unwrap()
    )));
    let share_path = format!("/rest/projects/{pid}/shares/{}", share["shareId"].as_str().unwrap());
    let (status, opened) = app.get(&share_path, &vera.bearer).await;
    assert_eq!((status, opened["state"]["zoom"].as_i64()), (StatusCode::OK, Some(7)));
    let mut changed = dashboard("main");
    changed["description"] = json!("Changed");
    let d_path = format!("/rest/projects/{pid}/md/dashboards/{}", d["id"].as_str().unwrap());
    let (status, _, _) = send(&app, Method::PUT, &d_path, &ann.bearer, &[("If-Match", "1")], Some(changed)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(&share_path, &vera.bearer).await.0,
        StatusCode::NOT_FOUND,
        "the share died with the change"
    );

    // Saving views: personal for a VIEW_CREATOR, project views for those allowed.
    let (status, saved) = app
        .post(
            &format!("/rest/projects/{pid}/savedViews"),
            Some(&vera.bearer),
            json!({"view": view("my_state", "My state", "main")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (status, err) = app
        .post(
            &format!("/rest/projects/{pid}/savedViews"),
            Some(&vera.bearer),
            json!({"view": view("pub", "Pub", "main"), "scope": "project"}),
        )
        .await;
    assert_eq!(
        (status, err["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("studio.save_project_view"))
    );
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/savedViews"),
            Some(&ann.bearer),
            json!({"view": view("pub", "Pub", "main"), "scope": "project"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no projectSettings yet");
    create(&app, &ann, &pid, "projectSettings", settings(&["shops"])).await;
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/savedViews"),
            Some(&ann.bearer),
            json!({"view": view("pub", "Pub", "main"), "scope": "project"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, s) = app
        .get(&format!("/rest/projects/{pid}/md/projectSettings?name=settings"), &ann.bearer)
        .await;
    assert_eq!(s["content"]["defaultViews"][1], "/rest/projects/$projectId/md/views?name=pub");
    assert_eq!(s["version"], 2);
    let (_, views) = app.get(&format!("/rest/projects/{pid}/md/views"), &vic.bearer).await;
    let names: Vec<&str> = views["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shops", "pub"]);

    // The data model.
    let basic = |name: &str, fk: Option<&str>| {
        let mut property = json!({"name": "id", "column": "id", "type": "integer"});
        if let Some(fk) = fk {
            property = json!({"name": "customer_id", "column": "customer_id", "type": "integer", "foreignKey": fk});
        }
        json!({"name": name, "type": "dataset", "ref": {"type": "dwh", "subtype": "basic", "primaryKey": property["name"], "properties": [property]}})
    };
    create(&app, &ann, &pid, "datasets", basic("customers", None)).await;
    create(&app, &ann, &pid, "datasets", basic("orders", Some("customers"))).await;
    let (status, model) = app.get(&format!("/rest/projects/{pid}/dataModel"), &ann.bearer).await;
    assert_eq!(status, StatusCode::OK, "{model}");
    assert_eq!(model["datasets"].as_array().unwrap().len(), 2);
    assert_eq!(
        model["links"][0],
        json!({"from": "orders", "property": "customer_id", "to": "customers", "kind": "foreignKey"})
    );
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}/dataModel"), &vic.bearer).await.0,
        StatusCode::FORBIDDEN
    );

    // Bookmarks are private.
    let (status, b) = app
        .post(
            &format!("/rest/projects/{pid}/bookmarks"),
            Some(&vic.bearer),
            json!({"name": "north", "title": "North", "state": {"zoom": 3}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let b_path = format!("/rest/projects/{pid}/bookmarks/{}", b["id"].as_str().unwrap());
    assert_eq!(app.get(&b_path, &vera.bearer).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}/bookmarks"), &vera.bearer).await.1["content"],
        json!([])
    );
    assert_eq!(app.get(&b_path, &vic.bearer).await.1["title"], "North");

    // Stories: viewers read, view creators write, with versions.
    let story = json!({"title": "Q3", "description": "Review", "blocks": [{"type": "text", "text": "Hello"}, {"type": "view", "view": "shops", "state": {"zoom": 5}}]});
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/stories"), Some(&vic.bearer), story.clone())
        .await;
    assert_eq!((status, err["permission"].as_str()), (StatusCode::FORBIDDEN, Some("stories.edit")));
    let (status, created) = app.post(&format!("/rest/projects/{pid}/stories"), Some(&vera.bearer), story).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let s_path = format!("/rest/projects/{pid}/stories/{}", created["id"].as_str().unwrap());
    assert_eq!(app.get(&s_path, &vic.bearer).await.1["blocks"][1]["view"], "shops");
    let linked = json!({"title": "Linked", "blocks": [{"type": "view", "view": "/rest/projects/$projectId/md/views?name=shops"}]});
    assert_eq!(
        app.post(&format!("/rest/projects/{pid}/stories"), Some(&vera.bearer), linked)
            .await
            .0,
        StatusCode::CREATED
    );
    let elsewhere = json!({"title": "X", "blocks": [{"type": "view", "view": "/rest/projects/zzzzzzzzzzzzzzzz/md/views?name=shops"}]});
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/stories"), Some(&vera.bearer), elsewhere)
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("blocks[0].view")),
        "{err}"
    );
    let bad = json!({"title": "Q3", "blocks": [{"type": "view", "view": "nowhere"}]});
    let (status, err) = app.post(&format!("/rest/projects/{pid}/stories"), Some(&vera.bearer), bad).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("blocks[0].view")));
    let (status, _, v2) = send(
        &app,
        Method::PUT,
        &s_path,
        &vera.bearer,
        &[("If-Match", "\"1\"")],
        Some(json!({"title": "Q3 final", "blocks": []})),
    )
    .await;
    assert_eq!((status, v2["version"].as_i64()), (StatusCode::OK, Some(2)));
    let (status, _, _) = send(
        &app,
        Method::PUT,
        &s_path,
        &vera.bearer,
        &[("If-Match", "1")],
        Some(json!({"title": "late", "blocks": []})),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.call(Method::DELETE, &s_path, Some(&vera.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_push_of_a_whole_project_is_not_held_to_the_usual_body_limit() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    // About 1.5 MB of metrics, more than the 1 MiB other bodies may have.
    let objects: Vec<Value> = (0..5000)
        .map(|i| {
            let mut m = metric(&format!("metric_{i:05}"));
            m["description"] = json!("x".repeat(200));
            m
        })
        .collect();
    let body = json!({"objects": objects});
    assert!(body.to_string().len() > locus_server::BODY_LIMIT);
    let (status, summary) = app.post(&format!("/rest/projects/{pid}/md:push"), Some(&ann.bearer), body).await;
    assert_eq!((status, summary["created"].as_u64()), (StatusCode::OK, Some(5000)), "{summary}");
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/md/metrics"),
            Some(&ann.bearer),
            json!({"name": "big", "content": {"x": "y".repeat(1_100_000)}}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "other routes keep the limit");
}

#[tokio::test]
async fn a_push_over_the_object_limit_is_refused_whole() {
    let app = TestApp::spawn_with(|s| s.md_push_max_objects = 3).await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let objects: Vec<Value> = (0..4).map(|i| metric(&format!("metric_{i}"))).collect();
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/md:push"),
            Some(&ann.bearer),
            json!({"objects": objects}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "objects", "{body}");
    let (_, list) = app.get(&format!("/rest/projects/{pid}/md/metrics"), &ann.bearer).await;
    assert_eq!(list["content"].as_array().map(Vec::len), Some(0), "nothing was written: {list}");
    let objects: Vec<Value> = (0..3).map(|i| metric(&format!("metric_{i}"))).collect();
    let (status, body) = app
        .post(
            &format!("/rest/projects/{pid}/md:push"),
            Some(&ann.bearer),
            json!({"objects": objects}),
        )
        .await;
    assert_eq!((status, body["created"].as_u64()), (StatusCode::OK, Some(3)), "{body}");
}

/// A check made inside a handler (here md:push, which needs md create and
/// update beyond reading the project) is audited like the extractor's own.
#[tokio::test]
async fn a_denial_inside_a_handler_is_audited_once() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let vic = member(&app, &ann, &pid, "VIEWER").await;
    for _ in 0..2 {
        let (status, body) = app
            .post(&format!("/rest/projects/{pid}/md:push"), Some(&vic.bearer), json!({"objects": []}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (_, body) = app
        .post(&format!("/rest/projects/{pid}/md:push"), Some(&vic.bearer), json!({"objects": []}))
        .await;
    let permission = body["permission"].as_str().unwrap().to_owned();
    let (status, log) = app
        .get(&format!("/rest/auditlog?projectId={pid}&eventTypes=access_denied"), &ann.bearer)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let denials: Vec<&Value> = log["content"].as_array().unwrap().iter().collect();
    assert_eq!(denials.len(), 1, "once an hour per account and permission: {log}");
    assert_eq!(denials[0]["content"]["permission"], permission.as_str());
    assert_eq!(denials[0]["accountId"], vic.id.as_str());
}

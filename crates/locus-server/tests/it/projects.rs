use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub async fn create_project(app: &TestApp, user: &User, title: &str) -> Value {
    let (status, project) = app
        .post(
            "/rest/projects",
            Some(&user.bearer),
            json!({"title": title, "description": "d", "status": "ENABLED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{project}");
    project
}

#[tokio::test]
async fn creating_a_project_makes_the_creator_its_admin() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let project = create_project(&app, &ann, "Coffee shops").await;
    let id = project["id"].as_str().unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(project["membership"]["role"], "ADMIN");
    assert_eq!(project["membership"]["status"], "ENABLED");
    assert_eq!(project["membership"]["accountId"], ann.id.as_str());
    assert_eq!(project["status"], "ENABLED");
    assert_eq!(project["share"], "PRIVATE");
    assert_eq!(project["services"]["md"], format!("/rest/projects/{id}/md"));
    let dwh = project["services"]["dwh"].as_str().unwrap();
    assert!(
        dwh.starts_with(&format!("/rest/projects/{id}/dwh/")) && dwh.len() == format!("/rest/projects/{id}/dwh/").len() + 6,
        "{dwh}"
    );
    assert_eq!(project["links"][0]["href"], format!("/rest/projects/{id}"));
    let (_, orgs) = app.get("/rest/organizations", &ann.bearer).await;
    assert_eq!(project["organizationId"], orgs["content"][0]["id"], "the default organization");

    let (status, detail) = app.get(&format!("/rest/projects/{id}"), &ann.bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["title"], "Coffee shops");
}

#[tokio::test]
async fn a_stranger_cannot_tell_a_project_exists() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let id = create_project(&app, &ann, "Secret").await["id"].as_str().unwrap().to_owned();
    let (status, body) = app.get(&format!("/rest/projects/{id}"), &bob.bearer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status2, body2) = app.get("/rest/projects/zzzzzzzzzzzzzzzz", &bob.bearer).await;
    assert_eq!(
        (status, body),
        (status2, body2),
        "an existing project and a missing one look the same"
    );
    let (status, body) = app.get("/rest/projects/NOT-AN-ID", &bob.bearer).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("projectId")));
}

#[tokio::test]
async fn project_lists_page_with_next_links_that_keep_the_filters() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    for i in 0..5 {
        create_project(&app, &ann, &format!("P{i}")).await;
    }
    create_project(&app, &bob, "Bob's").await;
    let (_, orgs) = app.get("/rest/organizations", &ann.bearer).await;
    let org = orgs["content"][0]["id"].as_str().unwrap().to_owned();
    let mut next = Some(format!("/rest/projects?organizationId={org}&size=2&sort=title,asc"));
    let mut titles = vec![];
    let mut pages = 0;
    while let Some(path) = next {
        let (status, page) = app.get(&path, &ann.bearer).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["page"]["totalElements"], 5);
        assert_eq!(page["page"]["totalPages"], 3);
        titles.extend(
            page["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["title"].as_str().unwrap().to_owned()),
        );
        let links = page["links"].as_array().unwrap();
        assert_eq!(links[0]["rel"], "self");
        next = links
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_owned());
        if let Some(n) = &next {
            assert!(
                n.starts_with("/rest/projects?") && n.contains(&org) && n.contains("sort=title%2Casc"),
                "{n}"
            );
        }
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        titles,
        ["P0", "P1", "P2", "P3", "P4"],
        "only the caller's projects, in the asked order"
    );
    let (_, empty) = app.get("/rest/projects?share=demo", &ann.bearer).await;
    assert_eq!(empty["content"], json!([]));
    assert!(empty["links"].as_array().unwrap().iter().all(|l| l["rel"] != "next"));
    for (query, field) in [
        ("share=secret", "share"),
        ("size=0", "size"),
        ("page=-1", "page"),
        ("sort=password,asc", "sort"),
        ("size=abc", "size"),
    ] {
        let (status, body) = app.get(&format!("/rest/projects?{query}"), &ann.bearer).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn admins_update_and_delete_projects_and_deletion_takes_the_memberships() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let id = create_project(&app, &ann, "Old").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{id}/members"),
        Some(&ann.bearer),
        json!({"accountId": bob.id, "role": "VIEWER"}),
    )
    .await;
    let path = format!("/rest/projects/{id}");
    let (status, updated) = app.call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"title": "New"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (updated["title"].as_str(), updated["description"].as_str()),
        (Some("New"), Some("d")),
        "a merge: description kept"
    );
    let (status, body) = app.call(Method::PUT, &path, Some(&ann.bearer), Some(json!({"title": ""}))).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("title")));
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&ann.bearer),
            Some(json!({"organizationId": "zzzzzzzzzzzzzzzz"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("organizationId")));
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&ann.bearer), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path, &ann.bearer).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, &bob.bearer).await.0, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/rest/projects", &bob.bearer).await;
    assert_eq!(list["content"], json!([]));
}

#[tokio::test]
async fn permissions_list_the_callers_effective_keys() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let id = create_project(&app, &ann, "P").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{id}/members"),
        Some(&ann.bearer),
        json!({"email": bob.email, "role": "LOAD_DATA"}),
    )
    .await;
    let (status, perms) = app.get(&format!("/rest/projects/{id}/permissions"), &bob.bearer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(perms["role"], "LOAD_DATA");
    let keys: Vec<&str> = perms["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["project.detail", "data.load", "data.validate"]);
}

#[tokio::test]
async fn organizations_are_private_to_their_members() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let (_, orgs) = app.get("/rest/organizations", &ann.bearer).await;
    let org = &orgs["content"][0];
    assert_eq!(org["dwhClusterId"].as_str().unwrap().len(), 6);
    let id = org["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/rest/organizations/{id}"), &ann.bearer).await.0, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/rest/organizations/{id}"), &bob.bearer).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = app
        .post("/rest/projects", Some(&bob.bearer), json!({"title": "x", "organizationId": id}))
        .await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("organizationId")));
}

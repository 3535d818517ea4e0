//! Bad input gets a 4xx with a JSON body naming the problem, never a 500.

use crate::{TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn raw(app: &TestApp, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}{path}", app.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "errors are JSON, got {ct:?} for {status}");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn().await;
    for body in ["{", "not json", "{\"givenName\": \"A\"} trailing", "", "[1,2]"] {
        let (status, err) = raw(&app, "/rest/accounts", "application/json", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {err}");
        assert_eq!(err["status"], 400);
        assert_eq!(err["error"], "bad_request");
        assert!(err["message"].as_str().unwrap().len() > 5);
    }
}

#[tokio::test]
async fn wrong_types_and_missing_fields_name_the_field() {
    let app = TestApp::spawn().await;
    let (status, err) = app
        .post(
            "/rest/accounts",
            None,
            json!({"givenName": 5, "surname": "X", "email": "a@b.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("givenName")));
    let (status, err) = app
        .post(
            "/rest/accounts",
            None,
            json!({"givenName": "A", "surname": "X", "email": "a@b.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["message"].as_str().unwrap().contains("password"), "{err}");
    let (status, err) = app
        .post(
            "/rest/accounts",
            None,
            json!({"givenName": "A", "surname": "X", "email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("email")));
    let (status, err) = app
        .post(
            "/rest/accounts",
            None,
            json!({"givenName": "A", "surname": "X", "email": "a@b.org", "password": PASSWORD, "preferences": {"sendNewsletter": "yes"}}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("preferences.sendNewsletter"))
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .post("/rest/accounts", None, json!({"givenName": "A", "surname": "X", "email": "a@b.org", "password": PASSWORD, "utmParameters": {"medium": "x"}, "whatever": [1]}))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_wrong_content_types_415() {
    let app = TestApp::spawn().await;
    let huge = format!("{{\"givenName\": \"{}\"}}", "a".repeat(locus_server::BODY_LIMIT + 10));
    let (status, err) = raw(&app, "/rest/accounts", "application/json", huge).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (status, _) = raw(&app, "/rest/accounts", "text/plain", "{}").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (status, err) = app.get("/rest/nothing-here", &ann.bearer).await;
    assert_eq!((status, err["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, err) = app
        .call(reqwest::Method::PATCH, "/rest/accounts/current", Some(&ann.bearer), None)
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn malformed_path_parameters_answer_in_json() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let probes = [
        (reqwest::Method::GET, "/rest/accounts/%FF%FE"),
        (reqwest::Method::DELETE, "/rest/accounts/current/accessTokens/%C0"),
        (reqwest::Method::GET, "/rest/organizations/%FF"),
    ];
    for (method, path) in probes {
        let resp = app
            .client
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(&ann.bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = resp.json().await.expect("a JSON body");
        assert_eq!(body["error"], "bad_request");
    }
}

#[tokio::test]
async fn bad_query_parameters_name_the_parameter() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let (status, err) = app.get("/rest/accounts?email=", &ann.bearer).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("email")));
    let (status, _) = app.get("/rest/accounts", &ann.bearer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

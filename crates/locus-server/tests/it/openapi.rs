use crate::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

/// The routes the foundation must serve; each must be in the document.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/rest/openapi.json"),
    ("post", "/rest/oauth/token"),
    ("post", "/rest/accounts"),
    ("get", "/rest/accounts"),
    ("get", "/rest/accounts/current"),
    ("get", "/rest/accounts/{accountId}"),
    ("delete", "/rest/accounts/{accountId}"),
    ("put", "/rest/accounts/{accountId}/preferences"),
    ("put", "/rest/accounts/{accountId}/onboarding"),
    ("put", "/rest/accounts/{accountId}/password"),
    ("post", "/rest/accounts/passwordReset"),
    ("get", "/rest/accounts/passwordReset/{passwordResetToken}"),
    ("post", "/rest/accounts/passwordReset/{passwordResetToken}"),
    ("post", "/rest/accounts/current/accessTokens"),
    ("get", "/rest/accounts/current/accessTokens"),
    ("delete", "/rest/accounts/current/accessTokens/{tokenId}"),
];

async fn document(app: &TestApp) -> Value {
    let resp = app.client.get(format!("{}/rest/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn every_route_is_in_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in EXPECTED {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
}

/// The other direction: every documented operation is served (a request to it
/// never falls through to the "no such route" fallback or a 405).
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{accountId}", "AAAAAAAAAAAAAAAAAAAA")
                .replace('{', "x")
                .replace('}', "");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let resp = app
                .client
                .request(method.clone(), format!("{}{concrete}", app.base))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND && body["message"] == "route not found"),
                "{method} {path} is documented but not routed"
            );
            assert!(status.as_u16() < 500, "{method} {path} answered {status}");
            count += 1;
        }
    }
    assert!(count >= EXPECTED.len());
}

#[tokio::test]
async fn every_operation_documents_its_error_body_and_the_bearer_scheme_exists() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if path != "/rest/openapi.json" {
                assert!(op["responses"]["default"].is_object(), "{method} {path} lacks the error response");
            }
        }
    }
}

//! Dataset definitions over HTTP (data-plane.md §1): the rules of one
//! definition, foreign keys to other datasets of the project, on create,
//! update and push.

use crate::metadata::{create, send};
use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn prop(name: &str, t: &str) -> Value {
    json!({"name": name, "column": name, "type": t})
}

fn dwh(name: &str, subtype: &str, primary_key: &str, properties: Vec<Value>) -> Value {
    json!({"name": name, "type": "dataset", "title": name, "ref": {
        "type": "dwh", "subtype": subtype, "primaryKey": primary_key, "properties": properties}})
}

fn districts() -> Value {
    dwh(
        "districts",
        "geometryPolygon",
        "district_id",
        vec![prop("district_id", "string"), prop("shape", "geometry")],
    )
}

/// Shops as points, each with the district it is in (filled by the area mapper).
fn shops() -> Value {
    let mut district = prop("district_id", "string");
    district["foreignKey"] = json!("districts");
    district["calculated"] = json!(true);
    dwh(
        "shops",
        "geometryPoint",
        "shop_id",
        vec![
            prop("shop_id", "integer"),
            prop("lat", "latitude"),
            prop("lng", "longitude"),
            district,
        ],
    )
}

async fn project(app: &TestApp, admin: &User) -> String {
    create_project(app, admin, "Datasets").await["id"].as_str().unwrap().to_owned()
}

/// POSTs a dataset that must be refused: answers the error body after
/// checking the status, the field and the words of the message.
async fn refused(app: &TestApp, user: &User, pid: &str, dataset: Value, field: &str, words: &[&str]) -> Value {
    let (status, err) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&user.bearer), dataset)
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{err}");
    assert_eq!(
        (err["status"].as_u64(), err["error"].as_str()),
        (Some(400), Some("bad_request")),
        "{err}"
    );
    let message = err["message"].as_str().unwrap();
    for word in words {
        assert!(message.contains(word), "{message:?} should mention {word:?}");
    }
    err
}

#[tokio::test]
async fn dataset_definitions_are_checked_when_created() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    create(&app, &ann, &pid, "datasets", districts()).await;
    let created = create(&app, &ann, &pid, "datasets", shops()).await;
    assert_eq!(created["ref"]["properties"][3]["foreignKey"], "districts");

    let mut bad_type = shops();
    bad_type["name"] = json!("bad_type");
    bad_type["ref"]["properties"][3]["type"] = json!("text");
    refused(
        &app,
        &ann,
        &pid,
        bad_type,
        "ref.properties[3].type",
        &[
            "\"district_id\"",
            "\"text\"",
            "integer, bigint, decimal, string, boolean, date, latitude, longitude, geometry",
        ],
    )
    .await;

    let mut no_longitude = shops();
    no_longitude["name"] = json!("no_longitude");
    no_longitude["ref"]["properties"].as_array_mut().unwrap().remove(2);
    refused(&app, &ann, &pid, no_longitude, "ref.properties", &["geometryPoint", "no longitude"]).await;

    let mut no_geometry = districts();
    no_geometry["name"] = json!("no_geometry");
    no_geometry["ref"]["properties"][1]["type"] = json!("string");
    refused(&app, &ann, &pid, no_geometry, "ref.properties", &["geometryPolygon", "no geometry"]).await;

    let mut unknown_key = districts();
    unknown_key["name"] = json!("unknown_key");
    unknown_key["ref"]["primaryKey"] = json!("id");
    refused(&app, &ann, &pid, unknown_key, "ref.primaryKey", &["\"id\"", "district_id, shape"]).await;

    let mut missing = shops();
    missing["name"] = json!("missing_fk");
    missing["ref"]["properties"][3]["foreignKey"] = json!("regions");
    refused(
        &app,
        &ann,
        &pid,
        missing,
        "ref.properties[3].foreignKey",
        &["dataset regions", "does not exist"],
    )
    .await;

    // A foreign key names a dwh dataset, and a calculated one a polygon dataset.
    let tiles = json!({"name": "tiles", "type": "dataset", "ref": {"type": "vt", "urlTemplate": "https://t.example/{z}/{x}/{y}.pbf"}});
    create(&app, &ann, &pid, "datasets", tiles).await;
    let mut to_tiles = shops();
    to_tiles["name"] = json!("to_tiles");
    to_tiles["ref"]["properties"][3]["foreignKey"] = json!("tiles");
    refused(
        &app,
        &ann,
        &pid,
        to_tiles,
        "ref.properties[3].foreignKey",
        &["dwh dataset", "\"tiles\" is a vt dataset"],
    )
    .await;
    let mut to_points = shops();
    to_points["name"] = json!("to_points");
    to_points["ref"]["properties"][3]["foreignKey"] = json!("shops");
    refused(
        &app,
        &ann,
        &pid,
        to_points,
        "ref.properties[3].foreignKey",
        &["geometryPolygon", "geometryPoint"],
    )
    .await;

    let (_, list) = app.get(&format!("/rest/projects/{pid}/md/datasets"), &ann.bearer).await;
    assert_eq!(list["page"]["totalElements"], 3, "only the good ones were stored: {list}");
}

#[tokio::test]
async fn updates_are_checked_and_a_foreign_key_keeps_its_dataset() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    let d = create(&app, &ann, &pid, "datasets", districts()).await;
    let s = create(&app, &ann, &pid, "datasets", shops()).await;
    let d_path = format!("/rest/projects/{pid}/md/datasets/{}", d["id"].as_str().unwrap());
    let s_path = format!("/rest/projects/{pid}/md/datasets/{}", s["id"].as_str().unwrap());

    // The same rules on PUT.
    let mut bad = shops();
    bad["ref"]["properties"][0]["type"] = json!("float");
    let (status, _, err) = send(&app, Method::PUT, &s_path, &ann.bearer, &[("If-Match", "1")], Some(bad)).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("ref.properties[0].type")),
        "{err}"
    );

    // A dataset named by a foreign key cannot be deleted, nor become unfit for it.
    let (status, err) = app.call(Method::DELETE, &d_path, Some(&ann.bearer), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(err["message"].as_str().unwrap().contains("dataset shops"), "{err}");
    let mut as_basic = districts();
    as_basic["ref"]["subtype"] = json!("basic");
    let (status, _, err) = send(&app, Method::PUT, &d_path, &ann.bearer, &[("If-Match", "1")], Some(as_basic)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("dataset shops") && message.contains("ref.properties[3].foreignKey"),
        "{message}"
    );
    let mut retitled = districts();
    retitled["title"] = json!("Districts of 2024");
    let (status, _, err) = send(&app, Method::PUT, &d_path, &ann.bearer, &[("If-Match", "1")], Some(retitled)).await;
    assert_eq!(status, StatusCode::OK, "{err}");

    // Once the foreign key is gone, so is the hold.
    let mut unmapped = shops();
    unmapped["ref"]["properties"].as_array_mut().unwrap().remove(3);
    let (status, _, err) = send(&app, Method::PUT, &s_path, &ann.bearer, &[("If-Match", "1")], Some(unmapped)).await;
    assert_eq!(status, StatusCode::OK, "{err}");
    let (status, err) = app.call(Method::DELETE, &d_path, Some(&ann.bearer), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{err}");
}

#[tokio::test]
async fn a_push_may_hold_datasets_that_name_each_other() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let pid = project(&app, &ann).await;
    // Each customer has a favourite shop; each shop a manager who is a customer.
    let mut favourite = prop("favourite_shop", "integer");
    favourite["foreignKey"] = json!("stores");
    let customers = dwh("customers", "basic", "customer_id", vec![prop("customer_id", "integer"), favourite]);
    let mut manager = prop("manager_id", "integer");
    manager["foreignKey"] = json!("customers");
    let stores = dwh("stores", "basic", "store_id", vec![prop("store_id", "integer"), manager]);
    let push = |objects: Vec<Value>| {
        let app = &app;
        let bearer = ann.bearer.clone();
        let path = format!("/rest/projects/{pid}/md:push");
        async move { app.post(&path, Some(&bearer), json!({"objects": objects})).await }
    };
    let (status, summary) = push(vec![customers.clone(), stores.clone()]).await;
    assert_eq!((status, summary["created"].as_u64()), (StatusCode::OK, Some(2)), "{summary}");
    let (_, model) = app.get(&format!("/rest/projects/{pid}/dataModel"), &ann.bearer).await;
    assert_eq!(model["links"].as_array().unwrap().len(), 2, "{model}");

    // Neither can be deleted while the other names it.
    let (_, c) = app
        .get(&format!("/rest/projects/{pid}/md/datasets?name=customers"), &ann.bearer)
        .await;
    let c_path = format!("/rest/projects/{pid}/md/datasets/{}", c["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &c_path, Some(&ann.bearer), None).await.0,
        StatusCode::CONFLICT
    );

    // A push is checked as a whole: a foreign key to a vt dataset of the same
    // push, or to no dataset, refuses all of it and names the property.
    let tiles = json!({"name": "tiles", "type": "dataset", "ref": {"type": "vt", "urlTemplate": "https://t.example/{z}/{x}/{y}.pbf"}});
    let mut to_tiles = stores.clone();
    to_tiles["ref"]["properties"][1]["foreignKey"] = json!("tiles");
    let (status, err) = push(vec![to_tiles, tiles.clone()]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["field"], "datasets/stores: ref.properties[1].foreignKey", "{err}");
    assert!(err["message"].as_str().unwrap().contains("\"tiles\" is a vt dataset"), "{err}");
    let mut to_nothing = customers.clone();
    to_nothing["ref"]["properties"][1]["foreignKey"] = json!("warehouses");
    let (status, err) = push(vec![tiles, to_nothing]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["field"], "datasets/customers: ref.properties[1].foreignKey", "{err}");
    let (_, list) = app.get(&format!("/rest/projects/{pid}/md/datasets"), &ann.bearer).await;
    assert_eq!(list["page"]["totalElements"], 2, "nothing of the refused pushes stayed: {list}");

    // And the rules of one definition, named by object.
    let mut bad = customers;
    bad["ref"]["properties"][0]["type"] = json!("int");
    let (status, err) = push(vec![bad, stores]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["field"], "datasets/customers: ref.properties[0].type", "{err}");
}

/// POSTs a CSV sample to generateDataset; answers the status and body.
async fn generate(app: &TestApp, user: &User, pid: &str, query: &str, csv: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/rest/projects/{pid}/md/datasets/generateDataset?{query}", app.base))
        .bearer_auth(&user.bearer)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_definition_generated_from_a_sample_loads_the_file_it_came_from() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Generated").await["id"].as_str().unwrap().to_owned();
    let csv = "Shop ID;Name;Opened;Revenue;Lat;Lng\n1;Alfa;2024-01-02;10.5;50.08;14.42\n2;\"Beta; the second\";2024-03-01;7;49.19;16.61\n";
    let (status, generated) = generate(&app, &admin, &pid, "name=shops&subtype=geometryPoint&csvSeparator=%3B", csv).await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    let properties: Vec<(&str, &str)> = generated["ref"]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        properties,
        [
            ("shop_id", "integer"),
            ("name", "string"),
            ("opened", "date"),
            ("revenue", "decimal"),
            ("lat", "latitude"),
            ("lng", "longitude")
        ]
    );
    assert_eq!(generated["ref"]["primaryKey"], "shop_id", "the first column, with no id column");
    // Not saved: the name is free until the definition is created.
    let (status, _) = app.get(&format!("/rest/projects/{pid}/md/datasets/shops"), &admin.bearer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), generated)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let href = crate::data_load::upload(&app, &admin, &pid, csv.as_bytes()).await;
    let job = crate::data_load::run_job(
        &app,
        &admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "shops", "mode": "full", "type": "csv",
            "upload": href, "csvOptions": {"separator": ";"}}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // Taken names, long samples, bad parameters and readers.
    let (status, err) = generate(&app, &admin, &pid, "name=shops", "id\n1\n").await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::CONFLICT, Some("name")), "{err}");
    let long = format!("id\n{}", "1\n".repeat(10));
    assert_eq!(
        generate(&app, &admin, &pid, "name=more", &long).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for (query, csv, field) in [
        ("", "id\n1\n", "name"),
        ("name=x&csvSeparator=ab", "id\n1\n", "csvSeparator"),
        ("name=x&primaryKey=nope", "id\n1\n", "primaryKey"),
        ("name=x&subtype=cube", "id\n1\n", "subtype"),
        ("name=x", "a,b\n1\n", "body"),
    ] {
        let (status, err) = generate(&app, &admin, &pid, query, csv).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{query}: {err}"
        );
    }
    let viewer = crate::metadata::member(&app, &admin, &pid, "VIEWER").await;
    assert_eq!(generate(&app, &viewer, &pid, "name=x", "id\n1\n").await.0, StatusCode::FORBIDDEN);
}

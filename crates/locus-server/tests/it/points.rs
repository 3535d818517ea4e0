//! Bulk point queries (issue 18): nearest rows and air isochrones around many
//! points through the query compiler, aggregates only for LOCATION_API_CONSUMER,
//! and metering per account.

use crate::data_load::{run_job, upload};
use crate::metadata::member;
use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Great-circle metres on the sphere data-plane.md names.
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6_371_008.8 * h.sqrt().asin()
}

const POIS: &str = "id,name,kind,lat,lng,revenue\n1,Cafe A,cafe,50.0800,14.4200,10\n2,Cafe B,cafe,50.0850,14.4300,20\n\
3,Shop C,shop,50.1000,14.5000,40\n4,Cafe D,cafe,49.2000,16.6000,80\n5,Nowhere,cafe,,,1000\n";

async fn project(app: &TestApp, admin: &User) -> String {
    let pid = create_project(app, admin, "Points").await["id"].as_str().unwrap().to_owned();
    let prop = |name: &str, ty: &str| json!({"name": name, "column": name, "type": ty});
    let pois = json!({"name": "pois", "type": "dataset", "title": "POIs", "ref": {"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id",
        "properties": [prop("id", "integer"), prop("name", "string"), prop("kind", "string"), prop("lat", "latitude"), prop("lng", "longitude"), prop("revenue", "decimal")]}});
    let metric = json!({"name": "revenue", "type": "metric", "content": {"type": "function_sum", "content": [{"type": "property", "value": "pois.revenue"}]}});
    for (segment, body) in [("datasets", pois), ("metrics", metric)] {
        let (status, created) = app
            .post(&format!("/rest/projects/{pid}/md/{segment}"), Some(&admin.bearer), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
    }
    let href = upload(app, admin, &pid, POIS.as_bytes()).await;
    let job = run_job(
        app,
        admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "pois", "mode": "full", "type": "csv", "upload": href}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    pid
}

fn request(pid: &str, point_queries: Value) -> Value {
    json!({"type": "bulkPointQuery", "projectId": pid, "content": {"enableBilling": true,
        "points": [{"id": "prague", "lat": 50.0810, "lng": 14.4210}, {"id": "brno", "lat": 49.1951, "lng": 16.6068}],
        "pointQueries": point_queries}})
}

#[tokio::test]
async fn nearest_rows_and_air_isochrones_around_each_point() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let metric = format!("/rest/projects/{pid}/md/metrics?name=revenue");
    let job = run_job(&app, &admin, request(&pid, json!([
        {"type": "nearest", "queryId": "two_cafes", "dataset": "pois", "options": {"limit": 2},
            "properties": [{"id": "name", "type": "property", "value": "pois.name"}],
            "filterBy": [{"property": "pois.kind", "operator": "eq", "value": "cafe"}]},
        {"type": "isochrone", "queryId": "within_2km", "dataset": "pois", "options": {"profile": "air", "unit": "distance", "amount": 2000},
            "properties": [{"id": "revenue", "type": "metric", "metric": metric}]}
    ]))).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let points = job["result"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let prague = &points[0];
    assert_eq!(prague["id"], "prague");
    let cafes = prague["queries"]["two_cafes"].as_array().unwrap();
    let names: Vec<&str> = cafes.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Cafe A", "Cafe B"], "the two nearest cafés, nearest first");
    let expected = metres((50.0810, 14.4210), (50.0800, 14.4200));
    assert!(
        (cafes[0]["distance"].as_f64().unwrap() - expected).abs() < 0.01,
        "{cafes:?} vs {expected}"
    );
    // Within 2 km of Prague: A and B (C is ~6 km away); the row with no location is never in.
    assert_eq!(prague["queries"]["within_2km"], json!([{"revenue": 30.0}]));
    let brno = &points[1];
    assert_eq!(brno["queries"]["two_cafes"][0]["name"], "Cafe D");
    assert_eq!(brno["queries"]["within_2km"], json!([{"revenue": 80.0}]));
    // A profile that needs a routing engine says what to configure.
    let (status, err) = app
        .post(
            "/rest/jobs",
            Some(&admin.bearer),
            request(
                &pid,
                json!([
        {"type": "isochrone", "dataset": "pois", "options": {"profile": "car", "unit": "time", "amount": 10}}]),
            ),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content.pointQueries[0].options.profile")),
        "{err}"
    );
    assert!(err["message"].as_str().unwrap().contains("routing engine"), "{err}");
}

#[tokio::test]
async fn a_location_api_consumer_gets_aggregates_only_and_its_use_is_metered() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let consumer = member(&app, &admin, &pid, "LOCATION_API_CONSUMER").await;
    let rows = json!([{"type": "nearest", "dataset": "pois", "options": {"limit": 1},
        "properties": [{"id": "name", "type": "property", "value": "pois.name"}]}]);
    let (status, err) = app.post("/rest/jobs", Some(&consumer.bearer), request(&pid, rows)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert!(err["message"].as_str().unwrap().contains("pois.name"), "{err}");
    let metric = format!("/rest/projects/{pid}/md/metrics?name=revenue");
    let aggregates = json!([{"type": "isochrone", "queryId": "q", "dataset": "pois", "options": {"profile": "air", "unit": "time", "amount": 4},
        "properties": [{"id": "revenue", "type": "metric", "metric": metric}, {"id": "n", "type": "function_count", "content": [{"type": "property", "value": "pois.id"}]}]}]);
    let job = run_job(&app, &consumer, request(&pid, aggregates)).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // 4 minutes at 30 km/h is 2 km.
    assert_eq!(job["result"]["points"][0]["queries"]["q"], json!([{"revenue": 30.0, "n": 2}]));
    // No other data endpoint for this role.
    let (status, _) = app
        .post(&format!("/rest/projects/{pid}/dwh/x/queries"), Some(&consumer.bearer), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The admin reads the metered use; the consumer may not.
    let (status, usage) = app
        .get(&format!("/rest/projects/{pid}/usage?accountId={}", consumer.id), &admin.bearer)
        .await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let row = &usage["content"][0];
    assert_eq!(
        (row["jobs"].as_i64(), row["points"].as_i64(), row["pointQueries"].as_i64()),
        (Some(1), Some(2), Some(2)),
        "{usage}"
    );
    assert_eq!(
        (row["metrics"].as_i64(), row["rowsScanned"].as_i64(), row["billablePoints"].as_i64()),
        (Some(2), Some(10), Some(2)),
        "{usage}"
    );
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}/usage"), &consumer.bearer).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn full_text_search_finds_features_by_title_page_by_page() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let (status, first) = app
        .get(
            &format!("/rest/projects/{pid}/search?query=CAFE&dataset=pois&size=2&page=0"),
            &admin.bearer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["page"]["totalElements"], 3,
        "the row with no location cannot be shown, so it is not found"
    );
    let titles: Vec<&str> = first["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Cafe A", "Cafe B"]);
    assert_eq!(first["content"][0]["lat"], 50.08);
    let next = first["links"].as_array().unwrap().iter().find(|l| l["rel"] == "next").unwrap()["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, second) = app.get(&next, &admin.bearer).await;
    assert_eq!(second["content"][0]["title"], "Cafe D");
    // Exact and prefix matches rank first.
    let (_, exact) = app
        .get(&format!("/rest/projects/{pid}/search?query=shop%20c&dataset=pois"), &admin.bearer)
        .await;
    assert_eq!(exact["content"][0]["title"], "Shop C");
    let (status, err) = app
        .get(&format!("/rest/projects/{pid}/search?query=x&dataset=nope"), &admin.bearer)
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("dataset")));
}

/// A stand-in for Valhalla's `/isochrone` (a real Valhalla needs road tiles
/// built from OSM data, which this machine has no package for): it checks
/// the request's documented shape and answers a FeatureCollection with one
/// square Polygon around the location, `time` minutes (or `distance` km)
/// times 0.01 degrees across each way. A location north of 60° gets a 400,
/// as an engine answers a point off its road network; the requests are counted.
async fn stand_in_valhalla() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().route(
        "/isochrone",
        post(move |axum::Json(body): axum::Json<Value>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let location = &body["locations"][0];
                let (lat, lon) = (location["lat"].as_f64().unwrap(), location["lon"].as_f64().unwrap());
                assert_eq!(body["polygons"], true);
                assert!(
                    matches!(body["costing"].as_str(), Some("auto" | "bicycle" | "pedestrian")),
                    "{body}"
                );
                let contour = &body["contours"][0];
                let size = contour["time"].as_f64().or_else(|| contour["distance"].as_f64()).unwrap() * 0.01;
                if lat > 60.0 {
                    let error = json!({"error_code": 171, "error": "No suitable edges near location", "status_code": 400});
                    return (StatusCode::BAD_REQUEST, axum::Json(error));
                }
                let ring = json!([
                    [lon - size, lat - size],
                    [lon + size, lat - size],
                    [lon + size, lat + size],
                    [lon - size, lat + size],
                    [lon - size, lat - size]
                ]);
                let answer = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
                    "properties": {"contour": contour["time"], "metric": "time"},
                    "geometry": {"type": "Polygon", "coordinates": [ring]}}]});
                (StatusCode::OK, axum::Json(answer))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (format!("http://{address}"), seen)
}

#[tokio::test]
async fn car_bike_and_foot_isochrones_come_from_the_configured_routing_engine() {
    let (engine, requests) = stand_in_valhalla().await;
    let app = TestApp::spawn_with(|s| s.routing_url = Some(engine.clone())).await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let mut request = request(
        &pid,
        json!([
            // 3 minutes: a square 0.03° each way around the point.
            {"type": "isochrone", "queryId": "drive", "dataset": "pois", "options": {"profile": "car", "unit": "time", "amount": 3},
                "properties": [{"id": "n", "type": "function_count", "content": [{"type": "property", "value": "pois.id"}]}]},
            // 1 km on foot: a square 0.01° each way.
            {"type": "isochrone", "queryId": "walk", "dataset": "pois", "options": {"profile": "foot", "unit": "distance", "amount": 1000},
                "properties": [{"id": "name", "type": "property", "value": "pois.name"}]}
        ]),
    );
    request["content"]["points"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "north", "lat": 70.0, "lng": 20.0}));
    let job = run_job(&app, &admin, request).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let points = job["result"]["points"].as_array().unwrap();
    // Prague (50.081, 14.421): A (50.080, 14.420) and B (50.085, 14.430) lie
    // within 0.03°; C (50.1, 14.5) does not. Within 0.01°: A and B (B is 0.009° east).
    assert_eq!(points[0]["queries"]["drive"], json!([{"n": 2}]), "{job}");
    let walk: Vec<&str> = points[0]["queries"]["walk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(walk, ["Cafe A", "Cafe B"], "nearest first");
    assert_eq!(points[1]["queries"]["drive"], json!([{"n": 1}]), "Brno: D only");
    // The engine refused the third point: its entries say why, the job went on.
    let north = &points[2]["queries"];
    assert!(north["drive"]["error"].as_str().unwrap().contains("No suitable edges"), "{north}");
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        6,
        "one request per point and query"
    );
}

#[tokio::test]
async fn nearest_rows_without_filters_come_from_the_index_in_the_queries_order() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let job = run_job(
        &app,
        &admin,
        request(
            &pid,
            json!([
                {"type": "nearest", "queryId": "three", "dataset": "pois", "options": {"limit": 3},
                    "properties": [{"id": "name", "type": "property", "value": "pois.name"}]},
                {"type": "nearest", "queryId": "ids", "dataset": "pois", "options": {"limit": 10}}
            ]),
        ),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // Brute force over the rows with a location.
    let rows: Vec<(i64, &str, f64, f64)> = POIS
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f[0].parse().ok()?, f[1], f[3].parse().ok()?, f[4].parse().ok()?))
        })
        .collect();
    for point in job["result"]["points"].as_array().unwrap() {
        let here = (point["lat"].as_f64().unwrap(), point["lng"].as_f64().unwrap());
        let mut by_distance = rows.clone();
        by_distance.sort_by(|a, b| metres(here, (a.2, a.3)).total_cmp(&metres(here, (b.2, b.3))));
        let names: Vec<&str> = point["queries"]["three"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = by_distance.iter().take(3).map(|r| r.1).collect();
        assert_eq!(names, expected, "{point}");
        // More than there are: every row with a location, nearest first, with its distance.
        let ids = point["queries"]["ids"].as_array().unwrap();
        assert_eq!(ids.len(), 4, "{point}");
        for (row, want) in ids.iter().zip(&by_distance) {
            assert_eq!(row["id"].as_i64(), Some(want.0));
            assert!((row["distance"].as_f64().unwrap() - metres(here, (want.2, want.3))).abs() < 0.01);
        }
    }
}

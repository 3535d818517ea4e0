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
    // A page far past the matches is empty, with the same total.
    let (status, far) = app
        .get(
            &format!("/rest/projects/{pid}/search?query=CAFE&dataset=pois&size=1000&page=999999"),
            &admin.bearer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{far}");
    assert_eq!(
        (far["content"].as_array().map(Vec::len), &far["page"]["totalElements"]),
        (Some(0), &json!(3))
    );
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

/// A generated row: (id, kind, lat, lng, revenue).
type Row = (i64, &'static str, f64, f64, f64);

/// Random rows around Prague (a fixed seed), as CSV and as [`Row`]s.
fn scattered(n: usize) -> (String, Vec<Row>) {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let kinds = ["cafe", "shop", "bank"];
    let mut csv = String::from("id,name,kind,lat,lng,revenue\n");
    let mut rows = Vec::new();
    for id in 0..n as i64 {
        let kind = kinds[(next() * 3.0) as usize % 3];
        let (lat, lng, revenue) = (50.0 + next() * 0.2, 14.3 + next() * 0.3, (next() * 1000.0).round());
        csv.push_str(&format!("{id},row {id},{kind},{lat},{lng},{revenue}\n"));
        rows.push((id, kind, lat, lng, revenue));
    }
    (csv, rows)
}

/// Every kind of point query over a few thousand rows and forty points,
/// against a brute-force scan in the test: the index's rows, one plan for
/// all points, a query per point where a filter chooses the nearest rows,
/// groups, a per-point limit, empty surroundings, and a data permission.
#[tokio::test]
async fn every_point_query_agrees_with_a_brute_force_scan() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Scattered").await["id"].as_str().unwrap().to_owned();
    let prop = |name: &str, ty: &str| json!({"name": name, "column": name, "type": ty});
    let pois = json!({"name": "pois", "type": "dataset", "title": "POIs", "ref": {"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id",
        "properties": [prop("id", "integer"), prop("name", "string"), prop("kind", "string"), prop("lat", "latitude"), prop("lng", "longitude"), prop("revenue", "decimal")]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), pois)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let (csv, rows) = scattered(3000);
    let href = upload(&app, &admin, &pid, csv.as_bytes()).await;
    let job = run_job(
        &app,
        &admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "pois", "mode": "full", "type": "csv", "upload": href}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // Forty points over the area, and one far away with nothing around it.
    let mut points: Vec<(f64, f64)> = (0..40)
        .map(|i| (50.01 + (i % 8) as f64 * 0.025, 14.31 + (i / 8) as f64 * 0.06))
        .collect();
    points.push((45.0, 10.0));
    let count = json!({"id": "n", "type": "function_count", "content": [{"type": "property", "value": "pois.id"}]});
    let revenue = json!({"id": "revenue", "type": "function_sum", "content": [{"type": "property", "value": "pois.revenue"}]});
    let name = json!({"id": "name", "type": "property", "value": "pois.name"});
    let kind = json!({"id": "kind", "type": "property", "value": "pois.kind"});
    let cafes = json!([{"property": "pois.kind", "operator": "eq", "value": "cafe"}]);
    let air = |m: f64| json!({"profile": "air", "unit": "distance", "amount": m});
    let point_queries = json!([
        {"type": "isochrone", "queryId": "count", "dataset": "pois", "options": air(1500.0), "properties": [count, revenue]},
        {"type": "nearest", "queryId": "nearest", "dataset": "pois", "options": {"limit": 5}, "properties": [name]},
        {"type": "nearest", "queryId": "nearest_cafes", "dataset": "pois", "options": {"limit": 3}, "properties": [name], "filterBy": cafes},
        {"type": "isochrone", "queryId": "cafes_within", "dataset": "pois", "options": air(1000.0), "properties": [name], "filterBy": cafes, "limit": 2},
        {"type": "isochrone", "queryId": "by_kind", "dataset": "pois", "options": air(800.0), "properties": [kind, count]},
        {"type": "isochrone", "queryId": "ids", "dataset": "pois", "options": air(500.0)}
    ]);
    let body = |pq: &Value| {
        json!({"type": "bulkPointQuery", "projectId": pid, "content": {
            "points": points.iter().enumerate().map(|(i, p)| json!({"id": i, "lat": p.0, "lng": p.1})).collect::<Vec<_>>(),
            "pointQueries": pq}})
    };
    let job = run_job(&app, &admin, body(&point_queries)).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let answers = job["result"]["points"].as_array().unwrap().clone();
    let around = |here: (f64, f64), keep: &dyn Fn(&&Row) -> bool| {
        let mut found: Vec<(f64, Row)> = rows.iter().filter(keep).map(|r| (metres(here, (r.2, r.3)), *r)).collect();
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1 .0.cmp(&b.1 .0)));
        found
    };
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut nonempty = 0;
    for (answer, &here) in answers.iter().zip(&points) {
        let q = &answer["queries"];
        let within = around(here, &|_| true);
        let near: Vec<_> = within.iter().filter(|f| f.0 <= 1500.0).collect();
        nonempty += usize::from(!near.is_empty());
        let total: f64 = near.iter().map(|f| f.1 .4).sum();
        assert_eq!(q["count"][0]["n"].as_i64(), Some(near.len() as i64), "{here:?}: {}", q["count"]);
        if near.is_empty() {
            assert!(q["count"][0]["revenue"].is_null(), "a sum over no rows is null: {}", q["count"]);
        } else {
            assert!((q["count"][0]["revenue"].as_f64().unwrap() - total).abs() < 1e-6, "{here:?}");
        }
        let want: Vec<String> = within.iter().take(5).map(|f| format!("row {}", f.1 .0)).collect();
        assert_eq!(names(&q["nearest"]), want, "{here:?}");
        let distance = q["nearest"][0]["distance"].as_f64().unwrap();
        assert!((distance - within[0].0).abs() < 1e-6, "{here:?}");
        let cafes_around = around(here, &|r| r.1 == "cafe");
        let want: Vec<String> = cafes_around.iter().take(3).map(|f| format!("row {}", f.1 .0)).collect();
        assert_eq!(names(&q["nearest_cafes"]), want, "{here:?}");
        let want: Vec<String> = cafes_around
            .iter()
            .filter(|f| f.0 <= 1000.0)
            .take(2)
            .map(|f| format!("row {}", f.1 .0))
            .collect();
        assert_eq!(names(&q["cafes_within"]), want, "{here:?}: the limit is per point");
        let mut by_kind: Vec<(String, i64)> = Vec::new();
        for kind in ["bank", "cafe", "shop"] {
            let n = within.iter().filter(|f| f.0 <= 800.0 && f.1 .1 == kind).count() as i64;
            if n > 0 {
                by_kind.push((kind.to_owned(), n));
            }
        }
        let got: Vec<(String, i64)> = q["by_kind"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["kind"].as_str().unwrap().to_owned(), r["n"].as_i64().unwrap()))
            .collect();
        assert_eq!(got, by_kind, "{here:?}");
        let ids: Vec<i64> = q["ids"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        let want: Vec<i64> = within.iter().filter(|f| f.0 <= 500.0).map(|f| f.1 .0).collect();
        assert_eq!(ids, want, "{here:?}");
    }
    assert!(nonempty > 30, "the points are among the rows");
    // A viewer limited to cafés counts cafés only, in every kind of query.
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "cafes_only", "type": "dataPermission", "content": {"accountId": viewer.id, "filters": cafes}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let job = run_job(&app, &viewer, body(&point_queries)).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    for (answer, &here) in job["result"]["points"].as_array().unwrap().iter().zip(&points) {
        let q = &answer["queries"];
        let cafes_around = around(here, &|r| r.1 == "cafe");
        let n = cafes_around.iter().filter(|f| f.0 <= 1500.0).count() as i64;
        assert_eq!(q["count"][0]["n"].as_i64(), Some(n), "{here:?}");
        let want: Vec<String> = cafes_around.iter().take(5).map(|f| format!("row {}", f.1 .0)).collect();
        assert_eq!(names(&q["nearest"]), want, "{here:?}");
        let kinds: Vec<&str> = q["by_kind"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.iter().all(|k| *k == "cafe"), "{here:?}: {kinds:?}");
        let want: Vec<i64> = cafes_around.iter().filter(|f| f.0 <= 500.0).map(|f| f.1 .0).collect();
        let ids: Vec<i64> = q["ids"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, want, "{here:?}");
    }
}

/// Search ignores accents and case, finds titles by the beginning of their
/// words while they are typed, ranks whole words first, and counts only the
/// rows a data permission lets the caller see.
#[tokio::test]
async fn search_matches_word_prefixes_without_accents_within_data_permissions() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Towns").await["id"].as_str().unwrap().to_owned();
    let prop = |name: &str, ty: &str| json!({"name": name, "column": name, "type": ty});
    let towns = json!({"name": "towns", "type": "dataset", "title": "Towns", "properties": {"featureTitle": {"type": "property", "value": "towns.name"}},
        "ref": {"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id",
        "properties": [prop("id", "integer"), prop("name", "string"), prop("region", "string"), prop("lat", "latitude"), prop("lng", "longitude")]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), towns)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let csv = "id,name,region,lat,lng\n1,Plzeň,west,49.74,13.37\n2,Praha,centre,50.08,14.42\n3,Prachatice,south,49.01,14.0\n\
4,Přerov,east,49.45,17.45\n5,Nová Praha,centre,50.1,14.5\n6,Brno,east,49.19,16.6\n";
    let href = upload(&app, &admin, &pid, csv.as_bytes()).await;
    let job = run_job(
        &app,
        &admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "towns", "mode": "full", "type": "csv", "upload": href}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let search = |user: &User, text: &str| {
        let url = format!("/rest/projects/{pid}/search?dataset=towns&query={}", text.replace(' ', "%20"));
        let bearer = user.bearer.clone();
        let app = &app;
        async move {
            let (status, body) = app.get(&url, &bearer).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let titles: Vec<String> = body["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["title"].as_str().unwrap().to_owned())
                .collect();
            (body["page"]["totalElements"].as_i64().unwrap(), titles)
        }
    };
    assert_eq!(search(&admin, "plzen").await, (1, vec!["Plzeň".to_owned()]), "accents are ignored");
    assert_eq!(search(&admin, "PŘEROV").await.1, ["Přerov"]);
    // A whole word ranks above a word that only begins with it.
    let (n, titles) = search(&admin, "pra").await;
    assert_eq!(n, 3, "{titles:?}");
    assert_eq!(search(&admin, "praha").await.1, ["Praha", "Nová Praha"], "the shorter title first");
    assert_eq!(search(&admin, "nova pr").await.1, ["Nová Praha"], "every word must match");
    assert_eq!(search(&admin, "rah").await.0, 0, "words match from their beginning");
    // A viewer limited to the centre finds and counts nothing else.
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "centre", "type": "dataPermission", "content": {"accountId": viewer.id,
        "filters": [{"property": "towns.region", "operator": "eq", "value": "centre"}]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(search(&viewer, "pr").await, (2, vec!["Praha".to_owned(), "Nová Praha".to_owned()]));
    assert_eq!(search(&viewer, "plzen").await.0, 0);
    // Its permission changed: the very next search follows it.
    let id = created["id"].as_str().unwrap();
    let mut changed = created.clone();
    changed["content"]["filters"][0]["value"] = json!("west");
    let version = created["version"].to_string();
    let resp = app
        .client
        .put(format!("{}/rest/projects/{pid}/md/dataPermissions/{id}", app.base))
        .bearer_auth(&admin.bearer)
        .header("If-Match", version)
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    assert_eq!(search(&viewer, "pr").await.0, 0);
    assert!(search(&viewer, "plzen").await.0 > 0);
}

#[tokio::test]
async fn search_follows_a_permission_through_a_dimension_that_is_loaded_again() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Shops").await["id"].as_str().unwrap().to_owned();
    let prop = |name: &str, ty: &str| json!({"name": name, "column": name, "type": ty});
    let mut region = prop("region_id", "integer");
    region["foreignKey"] = json!("regions");
    let datasets = [
        json!({"name": "regions", "type": "dataset", "title": "Regions",
            "ref": {"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [prop("id", "integer"), prop("zone", "string")]}}),
        json!({"name": "shops", "type": "dataset", "title": "Shops", "properties": {"featureTitle": {"type": "property", "value": "shops.name"}},
            "ref": {"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id",
            "properties": [prop("id", "integer"), prop("name", "string"), region, prop("lat", "latitude"), prop("lng", "longitude")]}}),
    ];
    for body in datasets {
        let (status, created) = app
            .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
    }
    let load = |dataset: &'static str, csv: &'static str| {
        let (app, admin, pid) = (&app, &admin, &pid);
        async move {
            let href = upload(app, admin, pid, csv.as_bytes()).await;
            let job = run_job(
                app,
                admin,
                json!({"type": "dataPull", "projectId": pid, "content": {"dataset": dataset, "mode": "full", "type": "csv", "upload": href}}),
            )
            .await;
            assert_eq!(job["status"], "SUCCEEDED", "{job}");
        }
    };
    load("regions", "id,zone\n1,north\n2,south\n").await;
    load(
        "shops",
        "id,name,region_id,lat,lng\n1,Shop one,1,50.1,14.4\n2,Shop two,2,49.2,16.6\n",
    )
    .await;
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "north", "type": "dataPermission", "content": {"accountId": viewer.id,
        "filters": [{"property": "regions.zone", "operator": "eq", "value": "north"}]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let url = format!("/rest/projects/{pid}/search?query=shop&dataset=shops");
    let titles = |body: Value| -> Vec<String> {
        body["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["title"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(titles(app.get(&url, &viewer.bearer).await.1), ["Shop one"]);
    // The regions change zones: the shops' own version is the same, and the
    // viewer's next search follows the dimension's new rows.
    load("regions", "id,zone\n1,south\n2,north\n").await;
    assert_eq!(titles(app.get(&url, &viewer.bearer).await.1), ["Shop two"]);
}

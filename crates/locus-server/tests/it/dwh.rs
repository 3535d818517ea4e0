//! DWH queries over HTTP (issue 17): the POST-then-GET protocol the official
//! client speaks (202 + Location, long poll, paging with the POST's size),
//! property values, metric ranges, available datasets, explain, and data
//! permissions counted on the very next request. The query semantics
//! themselves are checked case by case against DuckDB in locus-data.

use crate::data_load::{run_job, upload};
use crate::metadata::member;
use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CITIES: &str = "id,name\n1,Brno\n2,Praha\n3,Ostrava\n";
/// Five shops: partners in Brno and Praha, one with no city.
const SHOPS: &str = "id,name,city_id,partner,revenue\n1,A,1,yes,10\n2,B,1,no,20\n3,C,2,yes,30.5\n4,D,3,no,40\n5,E,,no,50\n";

fn dataset(name: &str, key: &str, properties: Value) -> Value {
    json!({"name": name, "type": "dataset", "title": name, "ref": {"type": "dwh", "subtype": "basic", "primaryKey": key, "properties": properties}})
}

fn prop(name: &str, ty: &str) -> Value {
    json!({"name": name, "column": name, "type": ty})
}

/// A project with cities and shops loaded and a `revenue` metric; answers
/// (project id, the dwh service path).
async fn star(app: &TestApp, admin: &User) -> (String, String) {
    let project = create_project(app, admin, "Star").await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let md = |segment: &str| format!("/rest/projects/{pid}/md/{segment}");
    let cities = dataset("cities", "id", json!([prop("id", "integer"), prop("name", "string")]));
    let mut city_id = prop("city_id", "integer");
    city_id["foreignKey"] = json!("cities");
    let shops = dataset(
        "shops",
        "id",
        json!([
            prop("id", "integer"),
            prop("name", "string"),
            city_id,
            prop("partner", "string"),
            prop("revenue", "decimal")
        ]),
    );
    for body in [cities, shops] {
        let (status, created) = app.post(&md("datasets"), Some(&admin.bearer), body).await;
        assert_eq!(status, StatusCode::OK, "{created}");
    }
    let metric = json!({"name": "revenue", "type": "metric", "content": {"type": "function_sum",
        "content": [{"type": "property", "value": "shops.revenue"}]}});
    let (status, created) = app.post(&md("metrics"), Some(&admin.bearer), metric).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    for (name, csv) in [("cities", CITIES), ("shops", SHOPS)] {
        let href = upload(app, admin, &pid, csv.as_bytes()).await;
        let job = run_job(
            app,
            admin,
            json!({"type": "dataPull", "projectId": pid, "content": {"dataset": name, "mode": "full", "type": "csv", "upload": href}}),
        )
        .await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
    }
    let dwh = project["services"]["dwh"].as_str().unwrap().to_owned();
    (pid, dwh)
}

fn query(pid: &str) -> Value {
    json!({"properties": [
        {"id": "cities_name", "type": "property", "value": "cities.name"},
        {"id": "revenue", "type": "metric", "metric": format!("/rest/projects/{pid}/md/metrics?name=revenue")}
    ]})
}

/// POSTs `body` (JSON, or nothing at all) to `path` and expects 202; answers
/// the `Location` and the response body.
async fn accept(app: &TestApp, user: &User, path: &str, body: Option<&Value>) -> (String, Value) {
    let mut request = app.client.post(format!("{}{path}", app.base)).bearer_auth(&user.bearer);
    if let Some(body) = body {
        request = request.json(body);
    }
    let resp = request.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    (location, resp.json().await.unwrap())
}

/// POSTs to `{dwh}/{what}`, then reads every page from the Location.
async fn rows(app: &TestApp, user: &User, dwh: &str, what: &str, body: Value) -> Vec<Value> {
    let (location, _) = accept(app, user, &format!("{dwh}/{what}"), Some(&body)).await;
    let mut next = Some(location);
    let mut out = Vec::new();
    while let Some(href) = next {
        let (status, page) = app.get(&href, &user.bearer).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        out.extend(page["content"].as_array().unwrap().iter().cloned());
        next = page["links"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["rel"] == "next"))
            .map(|l| l["href"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test]
async fn a_query_is_accepted_then_read_page_by_page_with_the_size_of_the_post() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let (pid, dwh) = star(&app, &admin).await;
    let (location, body) = accept(&app, &admin, &format!("{dwh}/queries?page=0&size=2"), Some(&query(&pid))).await;
    assert_eq!(body["executionDetail"]["dwhQueryMetricNames"], json!(["revenue"]));
    assert!(
        location.starts_with(&format!("{dwh}/queries/")) && location.ends_with("size=2"),
        "{location}"
    );
    let (status, first) = app.get(&location, &admin.bearer).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["page"]["totalElements"], 4);
    assert_eq!(first["content"].as_array().unwrap().len(), 2);
    // Rows come by dimension ascending, nulls last; each wrapped in `content`.
    assert_eq!(first["content"][0]["content"], json!({"cities_name": "Brno", "revenue": 30.0}));
    let all = rows(&app, &admin, &dwh, "queries?size=2", query(&pid)).await;
    let got: Vec<Value> = all.iter().map(|r| r["content"].clone()).collect();
    assert_eq!(
        got,
        vec![
            json!({"cities_name": "Brno", "revenue": 30.0}),
            json!({"cities_name": "Ostrava", "revenue": 40.0}),
            json!({"cities_name": "Praha", "revenue": 30.5}),
            json!({"cities_name": null, "revenue": 50.0}),
        ]
    );
    // The same question again is the same result, from the cache.
    let (again, _) = accept(&app, &admin, &format!("{dwh}/queries?size=2"), Some(&query(&pid))).await;
    let id = |l: &str| l.split('?').next().unwrap().to_owned();
    assert_eq!(id(&again), id(&location));
    // Unknown results are 404 (the client retries those); a bad query is a 400 naming the node.
    assert_eq!(
        app.get(&format!("{dwh}/queries/q:nope"), &admin.bearer).await.0,
        StatusCode::NOT_FOUND
    );
    let bad = json!({"properties": [{"id": "x", "type": "property", "value": "shops.nope"}]});
    let (status, err) = app.post(&format!("{dwh}/queries"), Some(&admin.bearer), bad).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("properties[0].value")),
        "{err}"
    );
    // A wrong cluster is not found.
    let (status, _) = app
        .post(&format!("/rest/projects/{pid}/dwh/other/queries"), Some(&admin.bearer), query(&pid))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn property_values_ranges_available_datasets_and_explain() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let (pid, dwh) = star(&app, &admin).await;
    // The official client sends the property in the query string with an empty body.
    let (location, _) = accept(&app, &admin, &format!("{dwh}/propertyValues?property=shops.name"), None).await;
    let (status, values) = app.get(&location, &admin.bearer).await;
    assert_eq!(status, StatusCode::OK, "{values}");
    assert_eq!(values["content"], json!(["A", "B", "C", "D", "E"]));
    let filtered = rows(
        &app,
        &admin,
        &dwh,
        "propertyValues?sort=desc",
        json!({"property": "cities.name", "filter": "A"}),
    )
    .await;
    assert_eq!(filtered, vec![json!("Praha"), json!("Ostrava")]);
    let (location, _) = accept(&app, &admin, &format!("{dwh}/metricRanges"), Some(&query(&pid))).await;
    let (status, ranges) = app.get(&location, &admin.bearer).await;
    assert_eq!(status, StatusCode::OK, "{ranges}");
    assert_eq!(ranges["content"], json!([{"propertyId": "revenue", "min": 30.0, "max": 50.0}]));
    let metric =
        json!({"metrics": [{"id": "revenue", "type": "metric", "metric": format!("/rest/projects/{pid}/md/metrics?name=revenue")}]});
    let (status, available) = app
        .post(
            &format!("{dwh}/availableDatasets?expand=dataset"),
            Some(&admin.bearer),
            metric.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{available}");
    let names: Vec<&str> = available["content"][0]["availableDatasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cities", "shops"]);
    assert_eq!(available["content"][0]["availableDatasets"][0]["ref"]["primaryKey"], "id");
    let (status, plan) = app.post(&format!("{dwh}/explain"), Some(&admin.bearer), query(&pid)).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert!(plan["plan"].as_str().unwrap().contains("Aggregate"), "{plan}");
}

#[tokio::test]
async fn data_permissions_filter_every_read_and_count_on_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let (pid, dwh) = star(&app, &admin).await;
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let by_city = |rows: Vec<Value>| -> Vec<Value> { rows.into_iter().map(|r| r["content"].clone()).collect() };
    assert_eq!(by_city(rows(&app, &viewer, &dwh, "queries", query(&pid)).await).len(), 4);
    // The admin limits the viewer to partner shops.
    let permission = json!({"name": "partners_only", "type": "dataPermission", "content": {
        "accountId": viewer.id, "filters": [{"property": "shops.partner", "operator": "eq", "value": "yes"}]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let seen = by_city(rows(&app, &viewer, &dwh, "queries", query(&pid)).await);
    assert_eq!(
        seen,
        vec![
            json!({"cities_name": "Brno", "revenue": 10.0}),
            json!({"cities_name": "Praha", "revenue": 30.5})
        ]
    );
    let values = rows(&app, &viewer, &dwh, "propertyValues", json!({"property": "shops.name"})).await;
    assert_eq!(values, vec![json!("A"), json!("C")]);
    // Grouped by another dimension: the filter follows the foreign key.
    let cities = rows(&app, &viewer, &dwh, "propertyValues", json!({"property": "cities.name"})).await;
    assert_eq!(
        cities,
        vec![json!("Brno"), json!("Praha")],
        "a dimension is seen through the shops the viewer may see"
    );
    // The admin is not filtered by someone else's permission.
    assert_eq!(by_city(rows(&app, &admin, &dwh, "queries", query(&pid)).await).len(), 4);
    // The viewer cannot read the permission.
    let (status, _) = app.get(&format!("/rest/projects/{pid}/md/dataPermissions"), &viewer.bearer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Removing it counts on the very next request.
    let id = created["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/rest/projects/{pid}/md/dataPermissions/{id}"),
            Some(&admin.bearer),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(by_city(rows(&app, &viewer, &dwh, "queries", query(&pid)).await).len(), 4);
    // A role without data.dwh_query is refused.
    let loader = member(&app, &admin, &pid, "LOAD_DATA").await;
    let (status, err) = app.post(&format!("{dwh}/queries"), Some(&loader.bearer), query(&pid)).await;
    assert_eq!(
        (status, err["permission"].as_str()),
        (StatusCode::FORBIDDEN, Some("data.dwh_query")),
        "{err}"
    );
}

#[tokio::test]
async fn a_new_load_is_never_answered_from_an_old_result() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let (pid, dwh) = star(&app, &admin).await;
    let before = rows(&app, &admin, &dwh, "queries", query(&pid)).await;
    assert_eq!(before[0]["content"]["revenue"], 30.0);
    let href = upload(&app, &admin, &pid, b"id,name,city_id,partner,revenue\n1,A,1,yes,1000\n").await;
    let job = run_job(
        &app,
        &admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "shops", "mode": "full", "type": "csv", "upload": href}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let after = rows(&app, &admin, &dwh, "queries", query(&pid)).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["content"], json!({"cities_name": "Brno", "revenue": 1000.0}));
}

#[tokio::test]
async fn an_export_writes_the_rows_the_caller_may_see_for_that_caller_only() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let (pid, _) = star(&app, &admin).await;
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "partners_only", "type": "dataPermission", "content": {
        "email": viewer.email, "filters": [{"property": "shops.partner", "operator": "eq", "value": "yes"}]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    // As the official client sends it, with keys outside the schema.
    let request = json!({"type": "export", "projectId": pid, "headerTitles": false, "content": {"filename": "out.csv", "format": "csv",
        "query": query(&pid), "csvOptions": {"header": true, "separator": ",", "quote": "\"", "escape": "\\"}}});
    let job = run_job(&app, &viewer, request).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let url = job["result"]["exportResult"].as_str().unwrap();
    assert!(url.starts_with(&format!("/rest/projects/{pid}/export/")), "{url}");
    let resp = app
        .client
        .get(format!("{}{url}", app.base))
        .bearer_auth(&viewer.bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "cities_name,revenue\r\nBrno,10.0\r\nPraha,30.5\r\n");
    // Nobody else reads it, not even the admin: it holds the viewer's view.
    assert_eq!(app.get(url, &admin.bearer).await.0, StatusCode::NOT_FOUND);
    // The same as xlsx: a workbook holding the viewer's rows only.
    let request = json!({"type": "export", "projectId": pid, "content": {"format": "xlsx", "query": query(&pid)}});
    let job = run_job(&app, &viewer, request).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let resp = app
        .client
        .get(format!("{}{}", app.base, job["result"]["exportResult"].as_str().unwrap()))
        .bearer_auth(&viewer.bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = resp.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.xlsx");
    std::fs::write(&file, &bytes).unwrap();
    // Read back with Python's zipfile (the workbook is a zip of XML parts).
    let read = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read('xl/sharedStrings.xml').decode()); print(z.read('xl/worksheets/sheet1.xml').decode())"])
        .arg(&file)
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&read.stdout);
    assert!(
        xml.contains(">Brno<") && xml.contains(">Praha<") && xml.contains(">cities_name<"),
        "{xml}"
    );
    assert!(!xml.contains("Ostrava") && xml.contains("<v>30.5</v>"), "{xml}");
    // A bad query or format is a 400 at submission.
    let bad = json!({"type": "export", "projectId": pid, "content": {"format": "csv", "query": {"properties": [{"type": "property", "value": "x.y"}]}}});
    let (status, err) = app.post("/rest/jobs", Some(&viewer.bearer), bad).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content.query.properties[0].value")),
        "{err}"
    );
    let bad = json!({"type": "export", "projectId": pid, "content": {"format": "pdf", "query": query(&pid)}});
    let (status, err) = app.post("/rest/jobs", Some(&viewer.bearer), bad).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content.format")),
        "{err}"
    );
}

/// Another instance on `a`'s database and object store.
async fn beside(a: &TestApp) -> TestApp {
    let url = a.state.settings.database_url();
    let objects = a.state.settings.object_store_url();
    TestApp::spawn_with(move |s| {
        s.database_url = Some(locus_server::Redacted(url));
        s.object_store_url = Some(locus_server::Redacted(objects));
    })
    .await
}

#[tokio::test]
async fn a_result_accepted_by_one_instance_is_read_from_another() {
    let Some(url) = locus_store::testing::fresh_postgres_url().await else {
        return;
    };
    let a = TestApp::spawn_on(&url).await;
    let b = beside(&a).await;
    let admin = a.user().await;
    let (pid, dwh) = star(&a, &admin).await;
    let (location, _) = accept(&a, &admin, &format!("{dwh}/queries?size=3"), Some(&query(&pid))).await;
    // B never saw the POST: it computes the result again from the stored request.
    let (status, page) = b.get(&location, &admin.bearer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["page"]["totalElements"], 4);
    assert_eq!(page["content"][0]["content"], json!({"cities_name": "Brno", "revenue": 30.0}));
    // A caller with other permissions cannot read it, from memory or recomputed.
    let viewer = member(&a, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "p", "type": "dataPermission", "content": {
        "accountId": viewer.id, "filters": [{"property": "shops.partner", "operator": "eq", "value": "yes"}]}});
    let (status, _) = a
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.get(&location, &viewer.bearer).await.0, StatusCode::NOT_FOUND, "not from memory");
    let other = beside(&a).await;
    assert_eq!(
        other.get(&location, &viewer.bearer).await.0,
        StatusCode::NOT_FOUND,
        "not recomputed"
    );
}

/// The histogram and date filters' questions: a number's values in equal
/// buckets and a date's first and last day, whole and within a filter,
/// through the caller's data permissions; bad requests name the field.
#[tokio::test]
async fn value_distributions_and_date_ranges_for_the_studio_filters() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let project = create_project(&app, &admin, "Sales").await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let dwh = project["services"]["dwh"].as_str().unwrap().to_owned();
    let sales = dataset(
        "sales",
        "id",
        json!([
            prop("id", "integer"),
            prop("day", "date"),
            prop("amount", "decimal"),
            prop("region", "string")
        ]),
    );
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), sales)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let mut csv = String::from("id,day,amount,region\n");
    let mut rows_of = Vec::new();
    for i in 0..40i64 {
        let (day, amount, region) = (
            format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            (i * 7 % 23) as f64 + 0.5,
            ["east", "west"][(i % 2) as usize],
        );
        csv.push_str(&format!("{i},{day},{amount},{region}\n"));
        rows_of.push((day, amount, region));
    }
    csv.push_str("40,,,east\n");
    let href = upload(&app, &admin, &pid, csv.as_bytes()).await;
    let job = run_job(
        &app,
        &admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "sales", "mode": "full", "type": "csv", "upload": href}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // Four buckets between the values' own minimum and maximum, each counted by brute force.
    let histogram = |user: &User, body: Value| {
        let (app, dwh) = (&app, &dwh);
        let user = user.clone();
        async move { rows(app, &user, dwh, "propertyValuesDistributions", body).await }
    };
    let expect = |keep: &dyn Fn(&str) -> bool, lo: f64, hi: f64, buckets: usize| -> Vec<(f64, f64, u64)> {
        let width = (hi - lo) / buckets as f64;
        (0..buckets)
            .map(|b| {
                let (from, to) = (
                    lo + width * b as f64,
                    if b + 1 == buckets { hi } else { lo + width * (b + 1) as f64 },
                );
                let n = rows_of
                    .iter()
                    .filter(|r| keep(r.2) && r.1 >= lo && r.1 <= hi)
                    .filter(|r| (((r.1 - lo) / width) as usize).min(buckets - 1) == b)
                    .count() as u64;
                (from, to, n)
            })
            .collect()
    };
    let seen = |content: Vec<Value>| -> Vec<(f64, f64, u64)> {
        content
            .iter()
            .map(|b| {
                assert_eq!(b["content"][0]["propertyId"], "sales.amount");
                (
                    b["min"].as_f64().unwrap(),
                    b["max"].as_f64().unwrap(),
                    b["content"][0]["frequency"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let all = |_: &str| true;
    let got = seen(histogram(&admin, json!({"property": "sales.amount", "buckets": 4})).await);
    assert_eq!(got, expect(&all, 0.5, 22.5, 4));
    assert_eq!(got.iter().map(|b| b.2).sum::<u64>(), 40, "every value once, the null none");
    assert_eq!(
        seen(histogram(&admin, json!({"property": "sales.amount"})).await).len(),
        20,
        "20 buckets by default"
    );
    let got = seen(histogram(&admin, json!({"property": "sales.amount", "buckets": 3, "min": 5, "max": 11})).await);
    assert_eq!(got, expect(&all, 5.0, 11.0, 3), "values outside the bounds are not counted");
    for (body, field) in [
        (json!({"property": "sales.region"}), "property"),
        (json!({"property": "sales.amount", "buckets": 0}), "buckets"),
        (json!({"property": "sales.nope"}), "property"),
    ] {
        let (status, err) = app
            .post(&format!("{dwh}/propertyValuesDistributions"), Some(&admin.bearer), body)
            .await;
        assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{err}");
    }
    // Date ranges: the whole range, then within the filter's bounds.
    let days = |keep: &dyn Fn(&(String, f64, &str)) -> bool| -> (String, String) {
        let mut d: Vec<&String> = rows_of.iter().filter(|r| keep(r)).map(|r| &r.0).collect();
        d.sort();
        (d[0].clone(), d[d.len() - 1].clone())
    };
    let ranges = rows(
        &app,
        &admin,
        &dwh,
        "dateRanges",
        json!({"from": "sales.day",
        "filter": {"startDate": {"value": "2024-03-01"}, "endDate": {"value": "2024-06-30"}}}),
    )
    .await;
    let (first, last) = days(&|_| true);
    assert_eq!(
        ranges[0],
        json!({"property": "sales.day", "filtered": false, "min": first, "max": last})
    );
    let (first, last) = days(&|r| r.0.as_str() >= "2024-03-01" && r.0.as_str() <= "2024-06-30");
    assert_eq!(
        ranges[1],
        json!({"property": "sales.day", "filtered": true, "min": first, "max": last})
    );
    let (status, err) = app
        .post(&format!("{dwh}/dateRanges"), Some(&admin.bearer), json!({"from": "sales.amount"}))
        .await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("from")), "{err}");
    let (status, err) = app
        .post(
            &format!("{dwh}/dateRanges"),
            Some(&admin.bearer),
            json!({"from": "sales.day", "filter": {"startDate": {"value": "March"}}}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("filter.startDate.value")),
        "{err}"
    );
    // A viewer limited to the east sees the east's values and days only.
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "east", "type": "dataPermission", "content": {"accountId": viewer.id,
        "filters": [{"property": "sales.region", "operator": "eq", "value": "east"}]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let east = |r: &str| r == "east";
    let (lo, hi) = rows_of
        .iter()
        .filter(|r| r.2 == "east")
        .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(r.1), h.max(r.1)));
    let got = seen(histogram(&viewer, json!({"property": "sales.amount", "buckets": 4})).await);
    assert_eq!(got, expect(&east, lo, hi, 4));
    let ranges = rows(&app, &viewer, &dwh, "dateRanges", json!({"from": "sales.day"})).await;
    let (first, last) = days(&|r| r.2 == "east");
    assert_eq!(
        ranges,
        vec![json!({"property": "sales.day", "filtered": false, "min": first, "max": last})]
    );
}

#[tokio::test]
async fn overlaps_compare_two_brands_over_districts_by_brute_force() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let project = create_project(&app, &admin, "Brands").await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let dwh = project["services"]["dwh"].as_str().unwrap().to_owned();
    let outlets = dataset(
        "outlets",
        "id",
        json!([
            prop("id", "integer"),
            prop("district", "string"),
            prop("brand", "string"),
            prop("revenue", "decimal"),
            prop("zone", "string")
        ]),
    );
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), outlets)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    // Districts where A alone, B alone, A > 90 %, A at 75 %, both near
    // half, B at 89 %, B and a third brand, A at zero beside B.
    let rows_of: Vec<(&str, &str, f64, &str)> = vec![
        ("d0", "A", 10.0, "north"),
        ("d0", "A", 20.0, "north"),
        ("d1", "B", 5.0, "north"),
        ("d2", "A", 100.0, "north"),
        ("d2", "B", 5.0, "north"),
        ("d3", "A", 30.0, "north"),
        ("d3", "B", 10.0, "south"),
        ("d4", "A", 20.0, "south"),
        ("d4", "B", 25.0, "south"),
        ("d5", "A", 5.0, "south"),
        ("d5", "B", 40.0, "south"),
        ("d6", "B", 200.0, "south"),
        ("d6", "C", 50.0, "south"),
        ("d7", "A", 0.0, "south"),
        ("d7", "B", 7.0, "south"),
    ];
    let mut csv = String::from("id,district,brand,revenue,zone\n");
    for (i, (district, brand, revenue, zone)) in rows_of.iter().enumerate() {
        csv.push_str(&format!("{i},{district},{brand},{revenue},{zone}\n"));
    }
    let href = upload(&app, &admin, &pid, csv.as_bytes()).await;
    let job = run_job(
        &app,
        &admin,
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "outlets", "mode": "full", "type": "csv", "upload": href}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let operators = [
        "subtract",
        "intersect",
        "major_dominance",
        "minor_dominance",
        "equivalent_dominance",
    ];
    let request = json!({
        "operators": operators,
        "objects": [{"property": "outlets.brand", "operator": "eq", "value": "A"},
                    {"property": "outlets.brand", "operator": "eq", "value": "B"}],
        "granularity": "outlets.district",
        "query": {"properties": [
            {"id": "revenue", "type": "function_sum", "content": [{"type": "property", "value": "outlets.revenue"}]},
            {"id": "outlets", "type": "function_count", "content": [{"type": "property", "value": "outlets.id"}]}]}
    });
    // The same by brute force over the rows a caller sees: per district each
    // brand's sum, the districts each operator keeps, then the metric over
    // the kept districts' rows of the brands named.
    let expect = |seen: &dyn Fn(&str) -> bool| -> Vec<Value> {
        let visible: Vec<_> = rows_of.iter().filter(|r| seen(r.3)).collect();
        let mut districts: Vec<&str> = visible.iter().map(|r| r.0).collect();
        districts.dedup();
        // A metric of a brand in a district: none where it has no outlet.
        let of = |id: &str, d: &str, b: &str| -> Option<f64> {
            let v: Vec<f64> = visible.iter().filter(|r| r.0 == d && r.1 == b).map(|r| r.2).collect();
            match id {
                _ if v.is_empty() => None,
                "revenue" => Some(v.iter().sum()),
                _ => Some(v.len() as f64),
            }
        };
        let covers = |v: Option<f64>| v.is_some_and(|v| v != 0.0);
        let metric = |id: &str, kept: &[&str], brands: &[&str]| -> Value {
            if kept.is_empty() {
                return Value::Null;
            }
            let picked = visible.iter().filter(|r| kept.contains(&r.0) && brands.contains(&r.1));
            match id {
                "revenue" => json!(picked.map(|r| r.2).sum::<f64>()),
                _ => json!(picked.count()),
            }
        };
        ["revenue", "outlets"]
            .iter()
            .map(|id| {
                let sum = |d: &str, b: &str| of(id, d, b);
                let share = |d: &str, x: &str, y: &str| {
                    let (a, b) = (sum(d, x).unwrap_or(0.0), sum(d, y).unwrap_or(0.0));
                    (a + b > 0.0).then(|| a / (a + b))
                };
                let mut results = Vec::new();
                let sums = |x, y| -> Vec<&str> {
                    districts
                        .iter()
                        .copied()
                        .filter(|d| covers(sum(d, x)) && !covers(sum(d, y)))
                        .collect()
                };
                let shared = |lo: f64, hi: f64, x: &str, y: &str| -> Vec<&str> {
                    districts
                        .iter()
                        .copied()
                        .filter(|d| share(d, x, y).is_some_and(|s| s > lo && s <= hi))
                        .collect()
                };
                for (x, y) in [("A", "B"), ("B", "A")] {
                    results.push(json!({"operator": "subtract", "objects": [x, y], "value": metric(id, &sums(x, y), &[x])}));
                }
                let both: Vec<&str> = districts
                    .iter()
                    .copied()
                    .filter(|d| covers(sum(d, "A")) && covers(sum(d, "B")))
                    .collect();
                results.push(json!({"operator": "intersect", "objects": ["A", "B"], "value": metric(id, &both, &["A", "B"])}));
                for (operator, lo, hi) in [("major_dominance", 0.9, 1.0), ("minor_dominance", 0.6, 0.9)] {
                    for (x, y) in [("A", "B"), ("B", "A")] {
                        results.push(json!({"operator": operator, "objects": [x], "value": metric(id, &shared(lo, hi, x, y), &[x])}));
                    }
                }
                let even: Vec<&str> = districts
                    .iter()
                    .copied()
                    .filter(|d| share(d, "A", "B").is_some_and(|s| (0.4..=0.6).contains(&s)))
                    .collect();
                results.push(json!({"operator": "equivalent_dominance", "objects": ["A", "B"], "value": metric(id, &even, &["A", "B"])}));
                json!({"propertyId": id, "results": results})
            })
            .collect()
    };
    let numbers = |v: Vec<Value>| -> Vec<Value> {
        // Sums come back as floats, counts as integers: compare as numbers.
        v.into_iter()
            .map(|mut m| {
                for r in m["results"].as_array_mut().unwrap() {
                    if let Some(x) = r["value"].as_f64() {
                        r["value"] = json!(x);
                    }
                }
                m
            })
            .collect()
    };
    let got = rows(&app, &admin, &dwh, "overlaps", request.clone()).await;
    let want = expect(&|_| true);
    assert_eq!(numbers(got), numbers(want.clone()));
    // Every operator found some district in this data, by revenue.
    for r in want[0]["results"].as_array().unwrap() {
        assert!(!r["value"].is_null(), "{r}");
    }
    // A viewer limited to the north compares only the north's outlets.
    let viewer = member(&app, &admin, &pid, "VIEWER").await;
    let permission = json!({"name": "north", "type": "dataPermission", "content": {"accountId": viewer.id,
        "filters": [{"property": "outlets.zone", "operator": "eq", "value": "north"}]}});
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/dataPermissions"), Some(&admin.bearer), permission)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let got = rows(&app, &viewer, &dwh, "overlaps", request.clone()).await;
    assert_eq!(numbers(got), numbers(expect(&|zone| zone == "north")));
    // Bad requests name their field.
    let mut bad = Vec::new();
    for (field, value) in [
        ("operators", json!(["union"])),
        ("objects", json!([{"property": "outlets.brand", "operator": "eq", "value": "A"}])),
        ("granularity", json!("outlets.nope")),
        (
            "query",
            json!({"properties": [{"id": "d", "type": "property", "value": "outlets.district"}]}),
        ),
    ] {
        let mut body = request.clone();
        body[field] = value;
        let (status, err) = app.post(&format!("{dwh}/overlaps"), Some(&admin.bearer), body).await;
        bad.push((
            status,
            err["field"].as_str().map(|f| f.split(['[', '.']).next().unwrap().to_owned()),
        ));
    }
    let want: Vec<_> = ["operators", "objects", "granularity", "query"]
        .iter()
        .map(|f| (StatusCode::BAD_REQUEST, Some(f.to_string())))
        .collect();
    assert_eq!(bad, want);
}

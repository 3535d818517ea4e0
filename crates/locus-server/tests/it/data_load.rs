//! Loading data over HTTP (issue 16): uploads through capability links, the
//! jobs API, dataPull (full and incremental), dataDump, truncate, restore,
//! importProject, and what a bad file or a dead worker leaves behind.

use crate::projects::create_project;
use crate::{TestApp, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

fn shops() -> Value {
    json!({"name": "shops", "type": "dataset", "title": "Shops", "ref": {"type": "dwh", "subtype": "basic",
        "primaryKey": "shop_id", "properties": [
            {"name": "shop_id", "column": "shop_id", "type": "integer"},
            {"name": "name", "column": "name", "type": "string"},
            {"name": "revenue", "column": "revenue", "type": "decimal"}]}})
}

/// A project of `admin`'s with the `shops` dataset.
async fn project(app: &TestApp, admin: &User) -> String {
    let pid = create_project(app, admin, "Data").await["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), shops())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    pid
}

/// Creates an upload and PUTs `bytes` to its link without a bearer, as the
/// official client does; answers the upload's self href.
pub(crate) async fn upload(app: &TestApp, user: &User, pid: &str, bytes: &[u8]) -> String {
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/dwh/data/uploads"), Some(&user.bearer), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(
        created.get("uploadUrls").is_none(),
        "a single upload's answer must not fit the multipart model"
    );
    let url = created["uploadUrlEncoded"].as_str().unwrap();
    let resp = app
        .client
        .put(url)
        .header("content-type", "text/csv")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    created["links"][0]["href"].as_str().unwrap().to_owned()
}

/// Submits a job and polls its `links[0]` until it is no longer RUNNING.
pub(crate) async fn run_job(app: &TestApp, user: &User, request: Value) -> Value {
    let (status, job) = app.post("/rest/jobs", Some(&user.bearer), request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    wait_job(app, user, job["links"][0]["href"].as_str().unwrap()).await
}

async fn wait_job(app: &TestApp, user: &User, href: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, job) = app.get(href, &user.bearer).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] != "RUNNING" {
            return job;
        }
        assert!(Instant::now() < deadline, "the job did not end: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pull(pid: &str, upload: &str, mode: &str) -> Value {
    json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "shops", "mode": mode, "type": "csv", "upload": upload,
        "csvOptions": {"header": true, "separator": ",", "quote": "\"", "escape": "\\"}}})
}

async fn load(app: &TestApp, user: &User, pid: &str, csv: &str, mode: &str) -> Value {
    let href = upload(app, user, pid, csv.as_bytes()).await;
    run_job(app, user, pull(pid, &href, mode)).await
}

/// Dumps `shops` and downloads the CSV.
async fn dump(app: &TestApp, user: &User, pid: &str) -> String {
    let job = run_job(
        app,
        user,
        json!({"type": "dataDump", "projectId": pid, "content": {"dataset": "shops"}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let url = job["result"]["dumpUrl"].as_str().unwrap();
    let resp = app
        .client
        .get(format!("{}{url}", app.base))
        .bearer_auth(&user.bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    resp.text().await.unwrap()
}

fn sorted_lines(csv: &str) -> Vec<String> {
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    lines[1..].sort();
    lines
}

#[tokio::test]
async fn a_full_load_replaces_the_rows_and_a_dump_gives_them_back() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    assert_eq!(
        dump(&app, &admin, &pid).await,
        "shop_id,name,revenue\n",
        "never loaded: the header only"
    );

    let job = load(
        &app,
        &admin,
        &pid,
        "id,title,money\n1,Alpha,10.5\n2,\"Beta, the second\",\n",
        "full",
    )
    .await;
    assert_eq!(
        (job["status"].as_str(), job["result"]["rows"].as_u64()),
        (Some("SUCCEEDED"), Some(2)),
        "{job}"
    );
    assert_eq!(job["result"]["progress"]["rows"], 2);
    assert_eq!(
        sorted_lines(&dump(&app, &admin, &pid).await),
        ["shop_id,name,revenue", "1,Alpha,10.5", "2,\"Beta, the second\","]
    );

    let job = load(&app, &admin, &pid, "a,b,c\n3,Gamma,1\n", "full").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(sorted_lines(&dump(&app, &admin, &pid).await), ["shop_id,name,revenue", "3,Gamma,1"]);

    let (status, versions) = app
        .get(&format!("/rest/projects/{pid}/dwh/datasets/shops/versions"), &admin.bearer)
        .await;
    assert_eq!(status, StatusCode::OK);
    let versions = versions["content"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (versions[0]["current"].as_bool(), versions[0]["rows"].as_i64()),
        (Some(true), Some(1))
    );
    assert_eq!(
        (versions[1]["current"].as_bool(), versions[1]["rows"].as_i64()),
        (Some(false), Some(2))
    );
    assert_eq!(versions[0]["loadedBy"], admin.id.as_str());

    // The history lists the jobs, newest first, filtered by type.
    let (status, history) = app
        .get(
            &format!("/rest/jobs/history?projectId={pid}&type=dataPull&accountId={}", admin.id),
            &admin.bearer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let content = history["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert!(content.iter().all(|j| j["type"] == "dataPull" && j["status"] == "SUCCEEDED"));
    assert!(content[0]["createdDate"].as_i64() >= content[1]["createdDate"].as_i64());
    let (_, paged) = app.get(&format!("/rest/jobs/history?projectId={pid}&size=1"), &admin.bearer).await;
    let next = paged["links"].as_array().unwrap().iter().find(|l| l["rel"] == "next").unwrap()["href"]
        .as_str()
        .unwrap();
    let (_, second) = app.get(next, &admin.bearer).await;
    assert_ne!(paged["content"][0]["id"], second["content"][0]["id"], "the next page moves on");
}

#[tokio::test]
async fn an_incremental_load_upserts_by_primary_key() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    assert_eq!(
        load(&app, &admin, &pid, "h,h,h\n1,Alpha,1\n2,Beta,2\n", "full").await["status"],
        "SUCCEEDED"
    );
    let job = load(&app, &admin, &pid, "h,h,h\n2,Beta again,20\n3,Gamma,3\n", "incremental").await;
    assert_eq!(
        (job["status"].as_str(), job["result"]["rows"].as_u64()),
        (Some("SUCCEEDED"), Some(3)),
        "{job}"
    );
    assert_eq!(
        sorted_lines(&dump(&app, &admin, &pid).await),
        ["shop_id,name,revenue", "1,Alpha,1", "2,Beta again,20", "3,Gamma,3"]
    );
}

#[tokio::test]
async fn a_bad_file_fails_the_job_naming_line_property_and_value_and_keeps_the_previous_rows() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    assert_eq!(load(&app, &admin, &pid, "h,h,h\n1,Alpha,1\n", "full").await["status"], "SUCCEEDED");
    for (csv, words) in [
        ("h,h,h\n2,Beta,lots\n", vec!["line 2", "revenue", "lots", "decimal"]),
        ("h,h,h\n2,Beta\n", vec!["line 2", "3 fields"]),
        ("h,h,h\n2,\"Beta,1\n", vec!["quote"]),
        ("h,h,h\n2,B\u{e9}ta,1\n3,x,1\n3,y,2\n", vec!["line 4", "shop_id", "3"]),
    ] {
        let job = load(&app, &admin, &pid, csv, "full").await;
        assert_eq!(job["status"], "FAILED", "{job}");
        let message = job["message"].as_str().unwrap();
        for w in words {
            assert!(message.contains(w), "{message:?} should say {w:?}");
        }
        assert!(job["result"]["problems"].as_array().is_some_and(|p| !p.is_empty()), "{job}");
    }
    let not_utf8 = upload(&app, &admin, &pid, b"h,h,h\n2,B\xffta,1\n").await;
    let job = run_job(&app, &admin, pull(&pid, &not_utf8, "full")).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job["message"].as_str().unwrap().contains("UTF-8"), "{job}");
    assert_eq!(sorted_lines(&dump(&app, &admin, &pid).await), ["shop_id,name,revenue", "1,Alpha,1"]);
}

/// An upload whose stored file no longer holds what was received (cut short
/// by a power loss before it reached the disk) fails its job instead of
/// loading fewer rows; the previous rows stay current.
#[tokio::test]
async fn an_upload_cut_short_after_it_was_received_fails_the_job() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    assert_eq!(load(&app, &admin, &pid, "h,h,h\n1,Alpha,1\n", "full").await["status"], "SUCCEEDED");
    let href = upload(&app, &admin, &pid, b"h,h,h\n2,Beta,2\n3,Gamma,3\n").await;
    let id = href.rsplit('/').next().unwrap();
    let part = std::path::Path::new(&app.state.settings.object_store_url()).join(format!("projects/{pid}/uploads/{id}/1"));
    std::fs::write(part, "h,h,h\n2,Beta,2\n").unwrap();
    let job = run_job(&app, &admin, pull(&pid, &href, "full")).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    let message = job["message"].as_str().unwrap();
    assert!(message.contains("15 bytes, not the 25 received"), "{message}");
    assert_eq!(sorted_lines(&dump(&app, &admin, &pid).await), ["shop_id,name,revenue", "1,Alpha,1"]);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn a_multipart_upload_takes_gzip_parts_and_their_etags() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let (status, created) = app
        .post(
            &format!("/rest/projects/{pid}/dwh/data/uploads?parts=2"),
            Some(&admin.bearer),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created.get("uploadUrl").is_none());
    let id = created["id"].as_str().unwrap();
    let urls: Vec<&str> = created["uploadUrlsEncoded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(urls.len(), 2);

    let not_gzip = app.client.put(urls[0]).body("plain text").send().await.unwrap();
    assert_eq!(not_gzip.status(), StatusCode::BAD_REQUEST);
    let mut etags = Vec::new();
    for (url, part) in urls.iter().zip(["h,h,h\n1,Alpha,1\n", "2,Beta,2\n"]) {
        let resp = app.client.put(*url).body(gzip(part.as_bytes())).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        etags.push(resp.headers()["etag"].to_str().unwrap().to_owned());
    }
    let path = format!("/rest/projects/{pid}/dwh/data/uploads/{id}");
    let (status, early) = app.post("/rest/jobs", Some(&admin.bearer), pull(&pid, &path, "full")).await;
    assert_eq!(
        (status, early["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content.upload")),
        "{early}"
    );
    assert!(early["message"].as_str().unwrap().contains("not complete"), "{early}");
    let wrong = json!({"id": id, "partETags": [{"partNumber": 1, "eTag": etags[1]}, {"partNumber": 2, "eTag": etags[1]}]});
    let (status, err) = app.call(Method::PUT, &path, Some(&admin.bearer), Some(wrong)).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("partETags[0].eTag")),
        "{err}"
    );
    let complete = json!({"id": id, "uploadId": id,
        "partETags": [{"partNumber": 1, "eTag": etags[0]}, {"partNumber": 2, "eTag": etags[1].trim_matches('"')}]});
    let (status, done) = app.call(Method::PUT, &path, Some(&admin.bearer), Some(complete)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["id"], id);
    let job = run_job(&app, &admin, pull(&pid, &path, "full")).await;
    assert_eq!(
        (job["status"].as_str(), job["result"]["rows"].as_u64()),
        (Some("SUCCEEDED"), Some(2)),
        "{job}"
    );
}

#[tokio::test]
async fn upload_links_are_capabilities_with_a_size_limit() {
    let app = TestApp::spawn_with(|s| s.upload_max_bytes = 1000).await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let (_, created) = app
        .post(&format!("/rest/projects/{pid}/dwh/data/uploads"), Some(&admin.bearer), Value::Null)
        .await;
    let url = created["uploadUrl"].as_str().unwrap().to_owned();
    // The secret's last character changed (to one it is not: a secret that
    // ended in `x` once made this "forgery" the real link).
    let other = if url.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{other}", &url[..url.len() - 1]);
    assert_ne!(forged, url);
    let resp = app.client.put(&forged).body("h\n").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "a wrong secret opens nothing");
    let resp = app.client.put(&url).body(vec![b'x'; 1001]).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("1000"), "{body}");
    let resp = app.client.put(&url).body("h,h,h\n1,a,1\n").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "a refused body leaves the link usable");
    let resp = app.client.put(&url).body("h,h,h\n1,a,1\n").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT, "a single upload takes one file");

    // A link of another project's upload does not load here.
    let other = project(&app, &admin).await;
    let href = created["links"][0]["href"].as_str().unwrap();
    let (status, err) = app.post("/rest/jobs", Some(&admin.bearer), pull(&other, href, "full")).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content.upload")),
        "{err}"
    );
}

#[tokio::test]
async fn bad_submissions_are_4xx_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let vt = json!({"name": "tiles", "type": "dataset", "title": "Tiles", "ref": {"type": "vt", "urlTemplate": "https://t.example.org/{z}/{x}/{y}.pbf"}});
    let (status, body) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), vt)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let href = upload(&app, &admin, &pid, b"h,h,h\n1,a,1\n").await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut request = pull(&pid, &href, "full");
        f(&mut request);
        request
    };
    for (request, field, words) in [
        (with(&|r| r["content"]["dataset"] = json!("nope")), "content.dataset", "no dataset"),
        (with(&|r| r["content"]["dataset"] = json!("tiles")), "content.dataset", "vt"),
        (
            with(&|r| r["content"]["mode"] = json!("append")),
            "content.mode",
            "full or incremental",
        ),
        (
            with(&|r| r["content"]["csvOptions"]["separator"] = json!(";;")),
            "content.csvOptions.separator",
            "",
        ),
        (
            with(&|r| r["content"]["upload"] = json!("/rest/projects/x/dwh/data/uploads/nope")),
            "content.upload",
            "no live upload",
        ),
        (with(&|r| r["type"] = json!("fly")), "type", "dataPull"),
        (
            with(&|r| r["content"].as_object_mut().unwrap().remove("mode").map(drop).unwrap_or(())),
            "content",
            "mode",
        ),
    ] {
        let (status, err) = app.post("/rest/jobs", Some(&admin.bearer), request).await;
        assert_eq!((status, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{err}");
        assert!(err["message"].as_str().unwrap().contains(words), "{err}");
    }
}

#[tokio::test]
async fn truncate_drops_the_data_and_restore_brings_a_version_back() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let first = load(&app, &admin, &pid, "h,h,h\n1,Alpha,1\n", "full").await;
    assert_eq!(load(&app, &admin, &pid, "h,h,h\n2,Beta,2\n", "full").await["status"], "SUCCEEDED");
    let version = first["result"]["version"].as_str().unwrap();
    let job = run_job(
        &app,
        &admin,
        json!({"type": "restore", "projectId": pid, "content": {"dataset": "shops", "versionId": version}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(sorted_lines(&dump(&app, &admin, &pid).await), ["shop_id,name,revenue", "1,Alpha,1"]);

    let job = run_job(&app, &admin, json!({"type": "truncate", "projectId": pid})).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(dump(&app, &admin, &pid).await, "shop_id,name,revenue\n");
    let (_, versions) = app
        .get(&format!("/rest/projects/{pid}/dwh/datasets/shops/versions"), &admin.bearer)
        .await;
    assert_eq!(versions["content"].as_array().unwrap().len(), 0);
    let (_, events) = app
        .get(&format!("/rest/auditlog?projectId={pid}&eventTypes=job_ended"), &admin.bearer)
        .await;
    assert!(
        events["content"].as_array().unwrap().len() >= 6,
        "every job's end is audited: {events}"
    );
}

#[tokio::test]
async fn clone_copies_metadata_and_data_into_the_target() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let source = project(&app, &admin).await;
    assert_eq!(
        load(&app, &admin, &source, "h,h,h\n1,Alpha,1\n", "full").await["status"],
        "SUCCEEDED"
    );
    let target = create_project(&app, &admin, "Copy").await["id"].as_str().unwrap().to_owned();
    let job = run_job(
        &app,
        &admin,
        json!({"type": "importProject", "projectId": target,
        "content": {"sourceProjectId": source, "force": true, "skipData": false}}),
    )
    .await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        sorted_lines(&dump(&app, &admin, &target).await),
        ["shop_id,name,revenue", "1,Alpha,1"]
    );
    // The copy is the target's own: truncating the source leaves it.
    assert_eq!(
        run_job(&app, &admin, json!({"type": "truncate", "projectId": source})).await["status"],
        "SUCCEEDED"
    );
    assert_eq!(
        sorted_lines(&dump(&app, &admin, &target).await),
        ["shop_id,name,revenue", "1,Alpha,1"]
    );
    // A source the caller is not ADMIN of cannot be copied.
    let other = app.user().await;
    let theirs = create_project(&app, &other, "Theirs").await["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            "/rest/jobs",
            Some(&admin.bearer),
            json!({"type": "importProject", "projectId": target,
        "content": {"sourceProjectId": theirs, "force": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_job_whose_worker_died_ends_failed_and_a_job_past_its_limit_times_out() {
    let app = TestApp::spawn_with(|s| {
        s.job_workers = 0;
        s.job_lease = Duration::from_millis(300);
    })
    .await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let (status, job) = app
        .post(
            "/rest/jobs",
            Some(&admin.bearer),
            json!({"type": "validate", "projectId": pid, "content": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(job["status"], "RUNNING", "queued reads RUNNING");
    // A worker of another instance claims it and dies (never renews its lease).
    let claimed = app.state.store.claim_job("dead-instance/0", 300, 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, job["id"].as_str().unwrap());
    let ended = wait_job(&app, &admin, job["links"][0]["href"].as_str().unwrap()).await;
    assert_eq!(ended["status"], "FAILED", "{ended}");
    assert!(ended["message"].as_str().unwrap().contains("worker"), "{ended}");

    // A load far longer than its limit: stopped, and nothing of it is kept.
    let app = TestApp::spawn_with(|s| s.job_time_limit = Duration::from_millis(50)).await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let mut csv = String::from("h,h,h\n");
    for i in 0..400_000 {
        csv.push_str(&format!("{i},name {i},{i}.5\n"));
    }
    let job = load(&app, &admin, &pid, &csv, "full").await;
    assert_eq!(job["status"], "TIMED_OUT", "{job}");
    assert!(job["message"].as_str().unwrap().contains("limit"), "{job}");
    assert_eq!(dump(&app, &admin, &pid).await, "shop_id,name,revenue\n");
}

/// Writes a file of `text` at `path` under the test server's object store.
fn put_file(app: &TestApp, path: &str, text: &str) -> std::path::PathBuf {
    let file = std::path::Path::new(&app.state.settings.object_store_url()).join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, text).unwrap();
    file
}

/// A time when every file written so far is older than any job may run.
fn after_every_job(app: &TestApp) -> i64 {
    let settle = app.state.settings.job_time_limit + app.state.settings.job_lease;
    locus_store::now_millis() + i64::try_from(settle.as_millis()).unwrap() + 1000
}

/// Files of rows that no version records (left by a crash between writing a
/// version and ending its job, by a project's deletion cut short, or half
/// written by a killed load) are deleted by the orphan sweep once older than
/// any job may run; recorded versions stay, and so does every file of a
/// project with a job in flight, which may still record its files.
#[tokio::test]
async fn the_orphan_sweep_deletes_unrecorded_files_and_nothing_a_job_may_still_record() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    assert_eq!(load(&app, &admin, &pid, "h,h,h\n1,Alpha,1\n", "full").await["status"], "SUCCEEDED");
    let orphans: Vec<_> = [
        format!("projects/{pid}/datasets/shops/crashed.parquet"),
        format!("projects/{pid}/staging/merge.parquet"),
        format!("projects/{pid}/datasets/shops/killed.parquet#7"),
        "projects/deleted/datasets/shops/v1.parquet".to_owned(),
    ]
    .iter()
    .map(|path| put_file(&app, path, "rows"))
    .collect();
    let upload = put_file(&app, &format!("projects/{pid}/uploads/u1/1"), "h,h,h\n");
    let sweep = |now| locus_server::sweep_orphan_files(&app.state, now);
    assert_eq!(sweep(locus_store::now_millis()).await.unwrap(), 0, "younger than a job may run");
    assert!(orphans.iter().all(|f| f.exists()));
    assert_eq!(sweep(after_every_job(&app)).await.unwrap(), 4);
    assert!(orphans.iter().all(|f| !f.exists()));
    assert!(upload.exists(), "uploads are the retention's to expire");
    assert_eq!(app.state.data.list_versions(&pid, "shops").await.unwrap().len(), 1);
    assert_eq!(sorted_lines(&dump(&app, &admin, &pid).await), ["shop_id,name,revenue", "1,Alpha,1"]);

    // No worker here: a submitted job stays queued, and its project's files
    // are left alone while another project's are swept.
    let app = TestApp::spawn_with(|s| s.job_workers = 0).await;
    let admin = app.user().await;
    let (busy, idle) = (project(&app, &admin).await, project(&app, &admin).await);
    let (status, job) = app
        .post(
            "/rest/jobs",
            Some(&admin.bearer),
            json!({"type": "validate", "projectId": busy, "content": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let kept = put_file(&app, &format!("projects/{busy}/datasets/shops/written.parquet"), "rows");
    let swept = put_file(&app, &format!("projects/{idle}/datasets/shops/crashed.parquet"), "rows");
    assert_eq!(
        locus_server::sweep_orphan_files(&app.state, after_every_job(&app)).await.unwrap(),
        1
    );
    assert!(kept.exists() && !swept.exists());
}

#[tokio::test]
async fn deleting_a_project_deletes_its_files() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let job = load(&app, &admin, &pid, "shop_id,name,revenue\n1,A,1\n", "full").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(app.state.data.list_versions(&pid, "shops").await.unwrap().len(), 1);
    let (status, _) = app
        .call(Method::DELETE, &format!("/rest/projects/{pid}"), Some(&admin.bearer), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let prefix = locus_data::DataStore::project_prefix(&pid);
    let left = locus_data::transfer::delete_prefix(&app.state.data.store, &prefix).await.unwrap();
    assert_eq!(left, 0, "no file of the project is left");
}

/// Posts a dataset's metadata.
async fn dataset(app: &TestApp, admin: &User, pid: &str, body: Value) {
    let (status, created) = app
        .post(&format!("/rest/projects/{pid}/md/datasets"), Some(&admin.bearer), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
}

async fn load_into(app: &TestApp, user: &User, pid: &str, dataset: &str, csv: &str) -> Value {
    let href = upload(app, user, pid, csv.as_bytes()).await;
    let mut request = pull(pid, &href, "full");
    request["content"]["dataset"] = json!(dataset);
    run_job(app, user, request).await
}

#[tokio::test]
async fn points_are_mapped_to_the_polygon_holding_them_and_validate_reports_what_is_wrong() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Areas").await["id"].as_str().unwrap().to_owned();
    dataset(
        &app,
        &admin,
        &pid,
        json!({"name": "zones", "type": "dataset", "title": "Zones", "ref": {"type": "dwh",
        "subtype": "geometryPolygon", "primaryKey": "zone_id", "properties": [
            {"name": "zone_id", "column": "zone_id", "type": "string"},
            {"name": "geom", "column": "geom", "type": "geometry"}]}}),
    )
    .await;
    dataset(
        &app,
        &admin,
        &pid,
        json!({"name": "shops", "type": "dataset", "title": "Shops", "ref": {"type": "dwh",
        "subtype": "geometryPoint", "primaryKey": "shop_id", "properties": [
            {"name": "shop_id", "column": "shop_id", "type": "integer"},
            {"name": "lat", "column": "lat", "type": "latitude"},
            {"name": "lng", "column": "lng", "type": "longitude"},
            {"name": "zone", "column": "zone", "type": "string", "foreignKey": "zones", "calculated": true}]}}),
    )
    .await;
    dataset(
        &app,
        &admin,
        &pid,
        json!({"name": "sales", "type": "dataset", "title": "Sales", "ref": {"type": "dwh",
        "subtype": "basic", "primaryKey": "sale_id", "properties": [
            {"name": "sale_id", "column": "sale_id", "type": "integer"},
            {"name": "shop", "column": "shop", "type": "integer", "foreignKey": "shops"}]}}),
    )
    .await;
    dataset(
        &app,
        &admin,
        &pid,
        json!({"name": "later", "type": "dataset", "title": "Later", "ref": {"type": "dwh",
        "subtype": "basic", "primaryKey": "id", "properties": [{"name": "id", "column": "id", "type": "integer"}]}}),
    )
    .await;

    // Z1 and Z2 share the border x = 10; Z3 overlaps both; Z9 is a bow tie
    // (self-intersecting), one in WKT and one in GeoJSON.
    let zones = "zone_id,geom\n\
        Z2,\"POLYGON ((10 0, 20 0, 20 10, 10 10, 10 0))\"\n\
        Z1,\"{\"\"type\"\":\"\"Polygon\"\",\"\"coordinates\"\":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}\"\n\
        Z3,\"POLYGON ((5 5, 15 5, 15 15, 5 15, 5 5))\"\n\
        Z9,\"POLYGON ((30 30, 40 40, 40 30, 30 40, 30 30))\"\n";
    let job = load_into(&app, &admin, &pid, "zones", zones).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // lat is y, lng is x.
    let shops = "shop_id,lat,lng\n1,5,5\n2,5,15\n3,7,7\n4,50,50\n5,12,12\n6,5,10\n7,,\n";
    let job = load_into(&app, &admin, &pid, "shops", shops).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"]["unmappedPoints"], json!({"zone": 2}), "{job}");
    let request = json!({"type": "dataDump", "projectId": pid, "content": {"dataset": "shops"}});
    let job = run_job(&app, &admin, request).await;
    let url = job["result"]["dumpUrl"].as_str().unwrap();
    let csv = app
        .client
        .get(format!("{}{url}", app.base))
        .bearer_auth(&admin.bearer)
        .send()
        .await
        .unwrap();
    let csv = csv.text().await.unwrap();
    let zone: std::collections::BTreeMap<String, String> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[3].to_owned())
        })
        .collect();
    let expected = [
        ("1", "Z1"),
        ("2", "Z2"),
        ("3", "Z1"),
        ("4", ""),
        ("5", "Z3"),
        ("6", "Z1"),
        ("7", ""),
    ];
    for (shop, z) in expected {
        assert_eq!(zone[shop], z, "shop {shop} in {csv}");
    }

    let job = load_into(&app, &admin, &pid, "sales", "sale_id,shop\n1,1\n2,99\n3,99\n4,\n5,98\n").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let job = run_job(&app, &admin, json!({"type": "validate", "projectId": pid, "content": {}})).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let mut findings: Vec<Value> = job["result"]["findings"].as_array().unwrap().clone();
    findings.sort_by_key(|f| f["dataset"].as_str().unwrap().to_owned());
    assert_eq!(
        findings,
        [
            json!({"dataset": "later", "property": null, "kind": "notLoaded", "count": 0, "samples": []}),
            json!({"dataset": "sales", "property": "shop", "kind": "foreignKey", "count": 3, "samples": ["98", "99"]}),
            json!({"dataset": "shops", "property": "zone", "kind": "outsideAreas", "count": 2, "samples": ["4", "7"]}),
            json!({"dataset": "zones", "property": "geom", "kind": "invalidGeometry", "count": 1, "samples": ["Z9"]}),
        ],
        "{job}"
    );
}

/// Serves `csv` at `/shops.csv` (and a redirect to it at `/moved`) over
/// plain HTTP on loopback; answers the base URL.
async fn file_server(csv: &'static str) -> String {
    use axum::response::Redirect;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/shops.csv", get(move || async move { csv }))
        .route("/moved", get(|| async { Redirect::temporary("/shops.csv") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{address}")
}

#[tokio::test]
async fn a_pull_from_a_url_reads_public_hosts_only_unless_the_operator_allows_private_ones() {
    let files = file_server("shop_id,name,revenue\n1,From the web,2.5\n").await;
    let https = |url: &str| json!({"url": url});
    let submit = |pid: &str, source: Value| {
        json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "shops", "mode": "full", "type": "csv",
            "httpsUpload": source}})
    };

    // By default: loopback, private and link-local hosts, and plain http, are refused on submit.
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    for url in [
        format!("{files}/shops.csv"),
        "https://127.0.0.1/shops.csv".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/x.csv".to_owned(),
        "https://10.0.0.1/x.csv".to_owned(),
        "https://localhost/x.csv".to_owned(),
        "ftp://example.org/x.csv".to_owned(),
    ] {
        let (status, body) = app.post("/rest/jobs", Some(&admin.bearer), submit(&pid, https(&url))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["field"], "content.httpsUpload.url", "{url}: {body}");
    }
    let s3 = json!({"uri": "s3://bucket/x.csv", "endpointOverride": "https://127.0.0.1:9000"});
    let mut request = submit(&pid, Value::Null);
    request["content"].as_object_mut().unwrap().remove("httpsUpload");
    request["content"]["s3Upload"] = s3;
    let (status, body) = app.post("/rest/jobs", Some(&admin.bearer), request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "content.s3Upload.endpointOverride", "{body}");

    // An operator who allows private sources: the file is loaded; a
    // redirect is not followed, and an error status fails the job.
    let app = TestApp::spawn_with(|s| s.allow_private_sources = true).await;
    let admin = app.user().await;
    let pid = project(&app, &admin).await;
    let job = run_job(&app, &admin, submit(&pid, https(&format!("{files}/shops.csv")))).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        sorted_lines(&dump(&app, &admin, &pid).await),
        ["shop_id,name,revenue", "1,From the web,2.5"]
    );
    let job = run_job(&app, &admin, submit(&pid, https(&format!("{files}/moved")))).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job["message"].as_str().unwrap().contains("307"), "{job}");
    let job = run_job(&app, &admin, submit(&pid, https(&format!("{files}/missing.csv")))).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert!(job["message"].as_str().unwrap().contains("404"), "{job}");
    // The failed pulls changed nothing.
    assert_eq!(
        sorted_lines(&dump(&app, &admin, &pid).await),
        ["shop_id,name,revenue", "1,From the web,2.5"]
    );
}

#[tokio::test]
async fn validate_finds_stored_values_that_a_changed_definition_no_longer_fits() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let pid = create_project(&app, &admin, "Changed").await["id"].as_str().unwrap().to_owned();
    let codes = |ty: &str| {
        json!({"name": "codes", "type": "dataset", "title": "Codes", "ref": {"type": "dwh", "subtype": "basic",
            "primaryKey": "id", "properties": [{"name": "id", "column": "id", "type": "integer"},
            {"name": "code", "column": "code", "type": ty}]}})
    };
    dataset(&app, &admin, &pid, codes("string")).await;
    let job = load_into(&app, &admin, &pid, "codes", "id,code\n1,12\n2,x7\n3,\n4,40\n").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // The column becomes an integer: the stored "x7" no longer fits.
    let (_, current) = app
        .get(&format!("/rest/projects/{pid}/md/datasets?name=codes"), &admin.bearer)
        .await;
    let path = format!("/rest/projects/{pid}/md/datasets/{}", current["id"].as_str().unwrap());
    let (status, _, body) = crate::metadata::send(
        &app,
        Method::PUT,
        &path,
        &admin.bearer,
        &[("If-Match", "1")],
        Some(codes("integer")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job = run_job(&app, &admin, json!({"type": "validate", "projectId": pid, "content": {}})).await;
    assert_eq!(
        job["result"]["findings"],
        json!([{"dataset": "codes", "property": "code", "kind": "type", "count": 1, "samples": ["2"]}]),
        "{job}"
    );
}

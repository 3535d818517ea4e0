//! The `locus` binary as an operator runs it: `serve` in one process, `admin`
//! in another, on the same database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_locus");
const PASSWORD: &str = "Operator-pass-1";

/// A `locus serve` child process on a free port.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &std::path::Path, database_url: Option<&str>) -> Server {
        Self::start_with(data_dir, database_url, &[], &[])
    }

    /// Starts with further flags and environment variables.
    fn start_with(data_dir: &std::path::Path, database_url: Option<&str>, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").args(args).envs(envs.iter().copied());
        cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let mut child = cmd.spawn().expect("spawn locus serve");
        // The server logs its bound address once it listens; read until then.
        let log = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(log).lines();
        let base = loop {
            let line = lines.next().expect("locus serve exited before listening").expect("read log");
            if let Some(rest) = line.split("address=").nth(1) {
                break format!("http://{}", rest.split_whitespace().next().expect("address"));
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if std::env::var_os("LOCUS_TEST_SERVER_LOG").is_some() {
                    eprintln!("{line}");
                }
            }
        });
        Server { child, base }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn admin(data_dir: &std::path::Path, database_url: Option<&str>, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("admin").arg("--data-dir").arg(data_dir).args(args).env("NO_COLOR", "1");
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn locus admin");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("locus admin");
    assert!(
        out.status.success(),
        "locus admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

async fn post(base: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send_post(reqwest::Client::new().post(format!("{base}{path}")), body).await
}

/// POSTs `body` with `bearer`; answers the JSON it got back.
async fn post_as(base: &str, bearer: &str, path: &str, body: Value) -> Value {
    send_post(reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(bearer), body)
        .await
        .1
}

async fn send_post(req: reqwest::RequestBuilder, body: Value) -> (StatusCode, Value) {
    let resp = req.json(&body).send().await.expect("request");
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

async fn current(base: &str, bearer: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/rest/accounts/current"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn serve_runs_on_the_embedded_default_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    for probe in ["/healthz", "/readyz", "/rest/openapi.json"] {
        let resp = reqwest::get(format!("{}{probe}", server.base)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{probe}");
    }
    assert!(
        dir.path().join("locus.db").exists(),
        "the embedded database lives in the data directory"
    );
    assert!(server.stop().success(), "SIGTERM ends the server cleanly");
}

async fn operator_changes_take_effect_on_the_next_request(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let id = admin(
        dir.path(),
        database_url,
        &[
            "create-account",
            "--email",
            "Ops@Example.org",
            "--name",
            "Olga Ops",
            "--password-stdin",
            "--operator",
        ],
        Some(PASSWORD),
    );
    assert_eq!(id.len(), 20);
    let token = admin(
        dir.path(),
        database_url,
        &["create-token", "--email", "ops@example.org", "--name", "automation"],
        None,
    );
    assert!(token.starts_with("lpat_"));

    let server = Server::start(dir.path(), database_url);
    let (status, exchanged) = post(&server.base, "/rest/oauth/token", json!({"refresh_token": token})).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let bearer = exchanged["access_token"].as_str().unwrap().to_owned();
    assert_eq!(current(&server.base, &bearer).await, StatusCode::OK);

    admin(dir.path(), database_url, &["disable-account", "--email", "ops@example.org"], None);
    assert_eq!(
        current(&server.base, &bearer).await,
        StatusCode::UNAUTHORIZED,
        "disabled from another process"
    );
    let (status, _) = post(
        &server.base,
        "/rest/oauth/token",
        json!({"grant_type": "password", "username": "ops@example.org", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    admin(dir.path(), database_url, &["enable-account", "--email", "ops@example.org"], None);
    let (status, _) = post(
        &server.base,
        "/rest/oauth/token",
        json!({"grant_type": "password", "username": "ops@example.org", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.stop();
}

#[tokio::test]
async fn operator_changes_take_effect_on_the_next_request_on_sqlite() {
    operator_changes_take_effect_on_the_next_request(None).await;
}

#[tokio::test]
async fn operator_changes_take_effect_on_the_next_request_on_postgres() {
    if let Some(url) = locus_store::testing::fresh_postgres_url().await {
        operator_changes_take_effect_on_the_next_request(Some(&url)).await;
    }
}

#[test]
fn weak_operator_passwords_and_unknown_accounts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["admin", "--data-dir"])
        .arg(dir.path())
        .args(["create-token", "--email", "nobody@example.org", "--name", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account has the e-mail"));
    let mut child = Command::new(BIN)
        .args(["admin", "--data-dir"])
        .arg(dir.path())
        .args(["create-account", "--email", "a@example.org", "--name", "A B", "--password-stdin"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[tokio::test]
async fn audit_export_writes_the_project_log_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    admin(
        dir.path(),
        None,
        &[
            "create-account",
            "--email",
            "ops@example.org",
            "--name",
            "Olga Ops",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    let token = admin(
        dir.path(),
        None,
        &["create-token", "--email", "ops@example.org", "--name", "audit"],
        None,
    );
    let server = Server::start(dir.path(), None);
    let (_, exchanged) = post(&server.base, "/rest/oauth/token", json!({"refresh_token": token})).await;
    let bearer = exchanged["access_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let pid = new_project(&server.base, &bearer, "Exported").await;
    for i in 0..3 {
        client
            .put(format!("{}/rest/projects/{pid}", server.base))
            .bearer_auth(&bearer)
            .json(&json!({"title": format!("T{i}")}))
            .send()
            .await
            .unwrap();
    }
    let out = Command::new(BIN)
        .args(["audit", "export", "--server", &server.base, "--token", &token, "--project", &pid])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["create_project", "update_project", "update_project", "update_project"]);
    let later = lines[2]["timestamp"].as_str().unwrap();
    let out = Command::new(BIN)
        .args([
            "audit",
            "export",
            "--server",
            &server.base,
            "--token",
            &token,
            "--project",
            &pid,
            "--from",
            later,
        ])
        .output()
        .unwrap();
    // Events within the same millisecond as the third one come along too.
    let count = String::from_utf8(out.stdout).unwrap().lines().count();
    assert!((2..=3).contains(&count), "--from leaves out the earliest events: {count}");
    server.stop();
}

/// An operator account with a token and a fresh project on a running server: (token, bearer, project id).
async fn operator_with_project(dir: &std::path::Path, server: &Server, title: &str) -> (String, String, String) {
    admin(
        dir,
        None,
        &[
            "create-account",
            "--email",
            "ops@example.org",
            "--name",
            "Olga Ops",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    let token = admin(dir, None, &["create-token", "--email", "ops@example.org", "--name", "shell"], None);
    let (_, exchanged) = post(&server.base, "/rest/oauth/token", json!({"refresh_token": token})).await;
    let bearer = exchanged["access_token"].as_str().unwrap().to_owned();
    let pid = new_project(&server.base, &bearer, title).await;
    (token, bearer, pid)
}

async fn new_project(base: &str, bearer: &str, title: &str) -> String {
    let project = post_as(base, bearer, "/rest/projects", json!({"title": title})).await;
    project["id"].as_str().unwrap().to_owned()
}

async fn md(base: &str, bearer: &str, pid: &str, segment: &str, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/rest/projects/{pid}/md/{segment}"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
}

fn shell(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[tokio::test]
async fn project_dump_and_push_copy_metadata_between_projects_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let (token, bearer, source) = operator_with_project(dir.path(), &server, "Source").await;
    let base = server.base.clone();
    md(
        &base,
        &bearer,
        &source,
        "metrics",
        json!({"name": "sales", "content": {"type": "function_sum",
        "content": [{"type": "property", "value": "baskets.amount"}]}}),
    )
    .await;
    md(
        &base,
        &bearer,
        &source,
        "indicators",
        json!({"name": "sales_indicator", "title": "Sales", "description": "Sales",
        "content": {"metric": "/rest/projects/$projectId/md/metrics?name=sales"}}),
    )
    .await;
    md(
        &base,
        &bearer,
        &source,
        "dashboards",
        json!({"name": "main", "content": {"blockRows": []}}),
    )
    .await;
    md(
        &base,
        &bearer,
        &source,
        "views",
        json!({"name": "shops", "title": "Shops", "description": "Shops",
        "content": {"dashboard": "/rest/projects/$projectId/md/dashboards?name=main"}}),
    )
    .await;

    let dump = dir.path().join("dump");
    let dump_arg = dump.to_str().unwrap();
    let out = shell(&[
        "project",
        "dump",
        "--server",
        &base,
        "--token",
        &token,
        "--project",
        &source,
        dump_arg,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let view: Value = serde_json::from_str(&std::fs::read_to_string(dump.join("metadata/views/shops.json")).unwrap()).unwrap();
    assert_eq!(
        (view["version"].as_i64(), view["content"]["name"].as_str()),
        (Some(1), Some("shops"))
    );
    let url = view["url"].as_str().unwrap();
    let id = url
        .strip_prefix(&format!("/rest/projects/{source}/md/views/"))
        .unwrap_or_else(|| panic!("{url}"));
    assert_eq!(id.len(), 16, "{url}");
    assert!(
        view["content"].get("id").is_none() && view["content"].get("accessInfo").is_none(),
        "no server-set keys"
    );
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(dump.join("dumpMetadata.json")).unwrap()).unwrap();
    assert_eq!(
        (meta["projectId"].as_str(), meta["content"].as_array().unwrap().len()),
        (Some(source.as_str()), 4)
    );

    // Into an empty project: everything is created, links resolve whatever the order of the files.
    let target = new_project(&base, &bearer, "Target").await;
    let out = shell(&[
        "project",
        "push",
        "--server",
        &base,
        "--token",
        &token,
        "--project",
        &target,
        dump_arg,
    ]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("4 created, 0 updated, 0 unchanged"), "{said}");
    let out = shell(&[
        "project",
        "push",
        "--server",
        &base,
        "--token",
        &token,
        "--project",
        &target,
        dump_arg,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 created, 0 updated, 4 unchanged"));

    // A broken file and a bad enum: refused with every problem, nothing applied.
    let metric_file = dump.join("metadata/metrics/sales.json");
    let mut metric: Value = serde_json::from_str(&std::fs::read_to_string(&metric_file).unwrap()).unwrap();
    metric["content"]["description"] = json!("changed");
    std::fs::write(&metric_file, metric.to_string()).unwrap();
    let indicator_file = dump.join("metadata/indicators/sales_indicator.json");
    let mut indicator: Value = serde_json::from_str(&std::fs::read_to_string(&indicator_file).unwrap()).unwrap();
    indicator["content"]["content"]["scale"] = json!("rainbow");
    std::fs::write(&indicator_file, indicator.to_string()).unwrap();
    let out = shell(&[
        "project",
        "push",
        "--server",
        &base,
        "--token",
        &token,
        "--project",
        &target,
        dump_arg,
    ]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(said.contains("indicators/sales_indicator: content.scale"), "{said}");
    let (status, sales) = {
        let resp = reqwest::Client::new()
            .get(format!("{base}/rest/projects/{target}/md/metrics?name=sales"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };
    assert_eq!(
        (status, sales["description"].as_str()),
        (StatusCode::OK, None),
        "all or nothing: the metric did not change"
    );

    // A file whose name is not its object's name is caught before anything is sent.
    std::fs::write(dump.join("metadata/metrics/wrong.json"), metric.to_string()).unwrap();
    let out = shell(&[
        "project",
        "push",
        "--server",
        &base,
        "--token",
        &token,
        "--project",
        &target,
        dump_arg,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("metadata/metrics/wrong.json: the object's name must equal the file name"));
    server.stop();
}

#[tokio::test]
async fn admin_set_anonymous_turns_public_sharing_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let (_, bearer, pid) = operator_with_project(dir.path(), &server, "Shared").await;
    let anonymous = |bearer: String| {
        let base = server.base.clone();
        async move {
            let me: Value = reqwest::Client::new()
                .get(format!("{base}/rest/accounts/current"))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            me["anonymous"].as_bool()
        }
    };
    assert_eq!(anonymous(bearer.clone()).await, Some(false));
    admin(dir.path(), None, &["set-anonymous", "--email", "ops@example.org", "on"], None);
    assert_eq!(
        anonymous(bearer.clone()).await,
        Some(true),
        "seen on the next request, from another process"
    );
    // A public link of the project works while the flag is on…
    let path = format!("/rest/projects/{pid}/publicAccessTokens");
    let created = post_as(&server.base, &bearer, &path, json!({"name": "launch"})).await;
    let (status, exchanged) = post(&server.base, "/rest/oauth/token", json!({"refresh_token": created["token"]})).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let public = exchanged["access_token"].as_str().unwrap().to_owned();
    let detail = |bearer: String| {
        let url = format!("{}/rest/projects/{pid}", server.base);
        async move { reqwest::Client::new().get(url).bearer_auth(bearer).send().await.unwrap().status() }
    };
    assert_eq!(detail(public.clone()).await, StatusCode::OK);
    admin(dir.path(), None, &["set-anonymous", "--email", "ops@example.org", "off"], None);
    assert_eq!(anonymous(bearer).await, Some(false));
    // …and ends on the next request once another process switched it off.
    assert_eq!(detail(public).await, StatusCode::UNAUTHORIZED);
    server.stop();
}

/// An ADMIN who disables a project keeps its settings: they can read it and
/// enable it again; nothing else works there meanwhile, and an operator can
/// enable it from another process.
#[tokio::test]
async fn a_disabled_project_can_be_enabled_again_by_its_admin_or_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let (_, bearer, pid) = operator_with_project(dir.path(), &server, "Switched").await;
    let client = reqwest::Client::new();
    let url = format!("{}/rest/projects/{pid}", server.base);
    let set = |status: &'static str| client.put(&url).bearer_auth(&bearer).json(&json!({"status": status})).send();
    let members = format!("{}/rest/projects/{pid}/members", server.base);
    assert_eq!(set("DISABLED").await.unwrap().status(), StatusCode::OK);
    let detail: Value = client.get(&url).bearer_auth(&bearer).send().await.unwrap().json().await.unwrap();
    assert_eq!(detail["status"], "DISABLED", "the ADMIN still reads the project");
    let listed = client.get(&members).bearer_auth(&bearer).send().await.unwrap().status();
    assert_eq!(listed, StatusCode::FORBIDDEN, "nothing else works in a disabled project");
    assert_eq!(set("ENABLED").await.unwrap().status(), StatusCode::OK, "the ADMIN enables it again");
    assert_eq!(
        client.get(&members).bearer_auth(&bearer).send().await.unwrap().status(),
        StatusCode::OK
    );

    assert_eq!(set("DISABLED").await.unwrap().status(), StatusCode::OK);
    admin(dir.path(), None, &["enable-project", "--project", &pid], None);
    assert_eq!(
        client.get(&members).bearer_auth(&bearer).send().await.unwrap().status(),
        StatusCode::OK,
        "an operator enabled it, seen on the next request"
    );
    server.stop();
}

#[tokio::test]
async fn data_load_and_dump_move_csv_through_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let (token, bearer, pid) = operator_with_project(dir.path(), &server, "Data").await;
    md(
        &server.base,
        &bearer,
        &pid,
        "datasets",
        json!({"name": "shops", "type": "dataset", "title": "Shops", "ref": {"type": "dwh", "subtype": "basic", "primaryKey": "id",
            "properties": [{"name": "id", "column": "id", "type": "integer"}, {"name": "city", "column": "city", "type": "string"}]}}),
    )
    .await;
    let remote = ["--server", &server.base, "--token", &token, "--project", &pid, "--dataset", "shops"];
    let file = dir.path().join("shops.csv");
    std::fs::write(&file, "id;city\n1;Praha\n2;Brno\n").unwrap();
    let mut load = vec!["data", "load"];
    load.extend(remote);
    let out = shell(&[&load[..], &["--separator", ";", file.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loaded 2 rows"));

    // Multipart (gzip parts) for anything over the threshold; incremental upsert.
    std::fs::write(&file, "id,city\n2,Brno-south\n3,Ostrava\n").unwrap();
    let args = ["--mode", "incremental", "--multipart-threshold", "10", file.to_str().unwrap()];
    let out = shell(&[&load[..], &args].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A bad file: non-zero exit, the problems printed, the data unchanged.
    std::fs::write(&file, "id,city\nseven,Plzen\n").unwrap();
    let out = shell(&[&load[..], &[file.to_str().unwrap()]].concat());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("line 2") && stderr.contains("seven"),
        "{stderr}"
    );

    let dumped = dir.path().join("dump.csv");
    let mut dump = vec!["data", "dump"];
    dump.extend(remote);
    let out = shell(&[&dump[..], &["-o", dumped.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&dumped).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].sort_unstable();
    assert_eq!(lines, ["id,city", "1,Praha", "2,Brno-south", "3,Ostrava"]);

    // A file of two parts of 5 MiB at most: the second is read and
    // compressed while the first uploads, and every row arrives.
    let rows = 350_000;
    let csv: String = std::iter::once("id,city\n".to_owned())
        .chain((0..rows).map(|i| format!("{i},city {i}\n")))
        .collect();
    assert!(csv.len() > 5 << 20 && csv.len() < 10 << 20);
    std::fs::write(&file, csv).unwrap();
    let args = ["--multipart-threshold", "10", "--part-size", "5242880", file.to_str().unwrap()];
    let out = shell(&[&load[..], &args].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains(&format!("loaded {rows} rows")), "{stderr}");
    server.stop();
}

/// moto_server (PyPI), a real S3-compatible server: `LOCUS_TEST_MOTO_SERVER`,
/// or the one `scripts/test` installs in `target/moto-venv`.
fn moto_server() -> Option<String> {
    let path = std::env::var("LOCUS_TEST_MOTO_SERVER")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/moto-venv/bin/moto_server").to_owned());
    if std::path::Path::new(&path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI needs moto_server ({path}): scripts/test installs it"
    );
    eprintln!("skipped: no moto_server at {path} (scripts/test installs it)");
    None
}

#[tokio::test]
async fn an_s3_object_store_holds_uploads_versions_and_dumps() {
    let Some(moto) = moto_server() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s3 = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while client.put(format!("{endpoint}/locus-test")).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://locus-test/instance?endpoint={endpoint}&region=us-east-1");
    let server = Server::start_with(
        dir.path(),
        None,
        &["--object-store-url", &url, "--allow-private-sources"],
        &[("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")],
    );
    let (token, bearer, pid) = operator_with_project(dir.path(), &server, "S3").await;
    md(
        &server.base,
        &bearer,
        &pid,
        "datasets",
        json!({"name": "shops", "type": "dataset", "title": "Shops", "ref": {"type": "dwh", "subtype": "basic", "primaryKey": "id",
            "properties": [{"name": "id", "column": "id", "type": "integer"}]}}),
    )
    .await;
    let file = dir.path().join("shops.csv");
    std::fs::write(&file, "id\n1\n2\n").unwrap();
    let remote = ["--server", &server.base, "--token", &token, "--project", &pid, "--dataset", "shops"];
    let out = shell(&[&["data", "load"][..], &remote, &[file.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = shell(&[&["data", "dump"][..], &remote].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "id\n1\n2\n");
    // The rows, the upload and the dump are objects in the bucket, nothing in the data directory.
    let listing = client
        .get(format!("{endpoint}/locus-test?list-type=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for part in [
        format!("instance/projects/{pid}/datasets/shops/"),
        format!("instance/projects/{pid}/uploads/"),
        format!("instance/projects/{pid}/dumps/"),
    ] {
        assert!(listing.contains(&part), "{part} not in the bucket: {listing}");
    }
    assert!(!dir.path().join("objects").exists());

    // The orphan sweep's listing (locus_server::sweep_orphan_files) on S3,
    // with an unrecorded file beside the loaded version; run in a child of
    // this test binary, which gets S3 credentials in its own environment
    // (setting them here would race with the other tests' threads).
    let crashed = format!("projects/{pid}/datasets/shops/crashed.parquet");
    let put = client
        .put(format!("{endpoint}/locus-test/instance/{crashed}"))
        .body("rows")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    let listing = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "s3_listing_of_rows_files", "--ignored", "--nocapture"])
        .env("LOCUS_TEST_S3_URL", &url)
        .env("LOCUS_TEST_S3_PROJECT", &pid)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.status.success() && said.contains("1 passed"), "{said}");

    // A dataPull from an object of another bucket (s3Upload), with the
    // user's own credentials, gzip-compressed.
    client.put(format!("{endpoint}/incoming")).send().await.unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"id\n7\n8\n").unwrap();
    let put = client
        .put(format!("{endpoint}/incoming/more.csv.gz"))
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    let pull = json!({"type": "dataPull", "projectId": pid, "content": {"dataset": "shops", "mode": "full", "type": "csv",
        "s3Upload": {"uri": "s3://incoming/more.csv.gz", "endpointOverride": endpoint, "forcePathStyle": true,
            "accessKeyId": "user", "secretAccessKey": "secret", "region": "us-east-1"}}});
    let job = post_as(&server.base, &bearer, "/rest/jobs", pull).await;
    let href = job["links"][0]["href"].as_str().unwrap().to_owned();
    let mut job = job;
    for _ in 0..600 {
        if job["status"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        job = client
            .get(format!("{}{href}", server.base))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    }
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let out = shell(&[&["data", "dump"][..], &remote].concat());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "id\n7\n8\n");
    server.stop();
    let _ = s3.kill();
    let _ = s3.wait();
}

/// Run by `an_s3_object_store_holds_uploads_versions_and_dumps` as a child
/// process: the files of rows under `LOCUS_TEST_S3_URL` are the project's
/// loaded version and its unrecorded `crashed.parquet`, and no upload or
/// dump; none when every file is newer than asked.
#[tokio::test]
#[ignore = "run by an_s3_object_store_holds_uploads_versions_and_dumps"]
async fn s3_listing_of_rows_files() {
    let url = std::env::var("LOCUS_TEST_S3_URL").expect("LOCUS_TEST_S3_URL");
    let pid = std::env::var("LOCUS_TEST_S3_PROJECT").expect("LOCUS_TEST_S3_PROJECT");
    let data = locus_data::DataStore::open(&url).unwrap();
    let files = data.rows_files_before(i64::MAX).await.unwrap();
    assert_eq!(files.len(), 2, "the loaded version and the crashed file: {files:?}");
    let shops = format!("projects/{pid}/datasets/shops/");
    assert!(files.iter().all(|f| f.project_id == pid && f.path.as_ref().starts_with(&shops)));
    assert!(
        files.iter().any(|f| f.path.as_ref() == format!("{shops}crashed.parquet")),
        "{files:?}"
    );
    assert!(data.rows_files_before(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_usage_quota_set_by_the_operator_refuses_points_past_it_and_the_report_sums_the_use() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let (token, bearer, pid) = operator_with_project(dir.path(), &server, "Points").await;
    md(
        &server.base,
        &bearer,
        &pid,
        "datasets",
        json!({"name": "stops", "type": "dataset", "title": "Stops", "ref": {"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id",
            "properties": [{"name": "id", "column": "id", "type": "integer"}, {"name": "lat", "column": "lat", "type": "latitude"},
                {"name": "lng", "column": "lng", "type": "longitude"}]}}),
    )
    .await;
    let file = dir.path().join("stops.csv");
    std::fs::write(&file, "id,lat,lng\n1,50.08,14.42\n2,49.19,16.61\n").unwrap();
    let out = shell(&[
        "data",
        "load",
        "--server",
        &server.base,
        "--token",
        &token,
        "--project",
        &pid,
        "--dataset",
        "stops",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    admin(
        dir.path(),
        None,
        &["set-quota", "--project", &pid, "--email", "ops@example.org", "--points", "3"],
        None,
    );
    let job = |points: usize| {
        let points: Vec<Value> = (0..points).map(|i| json!({"id": i, "lat": 50.0, "lng": 14.4})).collect();
        json!({"type": "bulkPointQuery", "projectId": pid, "content": {"points": points, "pointQueries": [{"type": "nearest", "dataset": "stops",
            "properties": [{"id": "n", "type": "function_count", "content": [{"type": "property", "value": "stops.id"}]}]}]}})
    };
    let first = post_as(&server.base, &bearer, "/rest/jobs", job(2)).await;
    let href = first["links"][0]["href"].as_str().unwrap().to_owned();
    // The use counts once the job has ended.
    let client = reqwest::Client::new();
    for _ in 0..400 {
        let j: Value = client
            .get(format!("{}{href}", server.base))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if j["status"] != "RUNNING" {
            assert_eq!(j["status"], "SUCCEEDED", "{j}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let resp = client
        .post(format!("{}/rest/jobs", server.base))
        .bearer_auth(&bearer)
        .json(&job(2))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let err: Value = resp.json().await.unwrap();
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("quota of 3 points") && message.contains("2 used") && message.contains("resets at"),
        "{message}"
    );
    let out = shell(&["usage", "report", "--server", &server.base, "--token", &token, "--project", &pid]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    let line = report
        .lines()
        .find(|l| !l.starts_with("usage") && !l.starts_with("account"))
        .unwrap_or_default()
        .to_owned();
    let numbers: Vec<&str> = line.split_whitespace().skip(1).collect();
    assert_eq!(numbers[..3], ["1", "2", "2"], "jobs, points, point queries: {report}");
}

#[tokio::test]
async fn an_operator_vouches_for_an_address_with_verify_email() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let (_, bearer, _) = operator_with_project(dir.path(), &server, "Verify").await;
    let client = reqwest::Client::new();
    let body = json!({"givenName": "Vera", "surname": "Unverified", "email": "vera@example.org", "password": PASSWORD});
    let (status, account) = send_post(client.post(format!("{}/rest/accounts", server.base)), body).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let lookup = || async {
        client
            .get(format!("{}/rest/accounts?email=vera@example.org", server.base))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(lookup().await, StatusCode::NOT_FOUND, "not verified yet");
    admin(dir.path(), None, &["verify-email", "--email", "vera@example.org"], None);
    assert_eq!(lookup().await, StatusCode::NO_CONTENT, "verified by the operator");
    server.stop();
}

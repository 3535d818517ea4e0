//! Every role against the endpoint behind every permission that has one,
//! compared with the matrix file (the vendored copy of shared/spec/permissions.csv,
//! itself checked against the original by locus-core's tests).

use crate::metadata::{dashboard, metric, settings, view};
use crate::projects::create_project;
use crate::{TestApp, User};
use locus_core::metadata::{validate, MdType};
use locus_core::Permission;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;

/// role -> permission key -> granted, read from the CSV.
fn matrix() -> HashMap<String, HashMap<String, bool>> {
    let csv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../locus-core/permissions.csv")).expect("permissions.csv");
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_owned).collect();
    let mut by_role: HashMap<String, HashMap<String, bool>> = HashMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let n = fields.len();
        for (i, role) in header[3..].iter().enumerate() {
            by_role
                .entry(role.clone())
                .or_default()
                .insert(fields[n - 8].to_owned(), fields[n - 7 + i] == "1");
        }
    }
    by_role
}

/// One probe: the permission it exercises and the request that needs it.
struct Probe {
    permission: &'static str,
    /// A broader permission that also allows the request (`md.create_all`
    /// also creates views), so the expectation is "either".
    or: Option<&'static str>,
    method: Method,
    /// `{pid}` is the project, `{mid}` a membership and `{iid}` an invitation
    /// the probe may change, `{metric}` a fresh metric, `{own}` a fresh personal
    /// object of the path's type created by the member, `{share}` a live share.
    path: &'static str,
    body: Option<fn(&Fixture) -> Value>,
}

impl Probe {
    fn new(permission: &'static str, method: Method, path: &'static str, body: Option<fn(&Fixture) -> Value>) -> Probe {
        Probe {
            permission,
            or: None,
            method,
            path,
            body,
        }
    }

    fn or(mut self, broader: &'static str) -> Probe {
        self.or = Some(broader);
        self
    }
}

/// What the probes act on, made fresh for each role.
struct Fixture {
    pid: String,
    spare: User,
    /// A project the member is ADMIN of, to import from.
    source: String,
}

fn probes() -> Vec<Probe> {
    vec![
        Probe::new("project.detail", Method::GET, "/rest/projects/{pid}", None),
        Probe::new(
            "project.update",
            Method::PUT,
            "/rest/projects/{pid}",
            Some(|_| json!({"title": "renamed"})),
        ),
        Probe::new("membership.list", Method::GET, "/rest/projects/{pid}/members", None),
        Probe::new(
            "membership.add",
            Method::POST,
            "/rest/projects/{pid}/members",
            Some(|f| json!({"accountId": f.spare.id, "role": "VIEWER"})),
        ),
        Probe::new(
            "membership.update",
            Method::PUT,
            "/rest/projects/{pid}/members/{mid}",
            Some(|_| json!({"role": "EDITOR", "status": "ENABLED"})),
        ),
        Probe::new("membership.delete", Method::DELETE, "/rest/projects/{pid}/members/{mid}", None),
        Probe::new(
            "invitation.create",
            Method::POST,
            "/rest/projects/{pid}/invitations",
            Some(|_| json!({"email": "someone@example.org", "role": "VIEWER"})),
        ),
        Probe::new("invitation.list", Method::GET, "/rest/projects/{pid}/invitations", None),
        Probe::new(
            "invitation.update",
            Method::PUT,
            "/rest/projects/{pid}/invitations/{iid}",
            Some(|_| json!({"status": "CANCELED"})),
        ),
        Probe::new(
            "md.create_all",
            Method::POST,
            "/rest/projects/{pid}/md/metrics",
            Some(|_| fresh(metric)),
        ),
        Probe::new(
            "md.update_all",
            Method::PUT,
            "/rest/projects/{pid}/md/metrics/{metric}",
            Some(|_| fresh(metric)),
        ),
        Probe::new("md.delete_all", Method::DELETE, "/rest/projects/{pid}/md/metrics/{metric}", None),
        // A definition generated from a sample (a JSON string is a CSV of one column here).
        Probe::new(
            "md.create_all",
            Method::POST,
            "/rest/projects/{pid}/md/datasets/generateDataset?name=probe_generated",
            Some(|_| json!("id\n1\n")),
        ),
        Probe::new(
            "md.view.create",
            Method::POST,
            "/rest/projects/{pid}/md/views",
            Some(|_| fresh(|n| view(n, "Probe", "main"))),
        )
        .or("md.create_all"),
        Probe::new("md.view.delete_own", Method::DELETE, "/rest/projects/{pid}/md/views/{own}", None).or("md.delete_all"),
        Probe::new(
            "md.dashboard.create",
            Method::POST,
            "/rest/projects/{pid}/md/dashboards",
            Some(|_| fresh(dashboard)),
        )
        .or("md.create_all"),
        Probe::new(
            "md.dashboard.delete_own",
            Method::DELETE,
            "/rest/projects/{pid}/md/dashboards/{own}",
            None,
        )
        .or("md.delete_all"),
        Probe::new(
            "md.marker_selector.create",
            Method::POST,
            "/rest/projects/{pid}/md/markerSelectors",
            Some(|_| fresh(marker_selector)),
        )
        .or("md.create_all"),
        Probe::new(
            "md.marker_selector.delete_own",
            Method::DELETE,
            "/rest/projects/{pid}/md/markerSelectors/{own}",
            None,
        )
        .or("md.delete_all"),
        Probe::new(
            "md.indicator_drill.create",
            Method::POST,
            "/rest/projects/{pid}/md/indicatorDrills",
            Some(|_| fresh(indicator_drill)),
        )
        .or("md.create_all"),
        Probe::new(
            "md.indicator_drill.delete_own",
            Method::DELETE,
            "/rest/projects/{pid}/md/indicatorDrills/{own}",
            None,
        )
        .or("md.delete_all"),
        Probe::new(
            "md.data_permissions.update",
            Method::GET,
            "/rest/projects/{pid}/md/dataPermissions",
            None,
        ),
        Probe::new(
            "md.bookmarks.update",
            Method::POST,
            "/rest/projects/{pid}/bookmarks",
            Some(|_| json!({"name": unique("b"), "title": "B"})),
        ),
        Probe::new("studio.json_metadata", Method::GET, "/rest/projects/{pid}/md/metrics", None),
        Probe::new("studio.data_model", Method::GET, "/rest/projects/{pid}/dataModel", None),
        Probe::new(
            "studio.share_link",
            Method::POST,
            "/rest/projects/{pid}/shares",
            Some(|_| json!({"view": "shared_view"})),
        ),
        Probe::new("project.access", Method::GET, "/rest/projects/{pid}/shares/{share}", None),
        Probe::new(
            "studio.save_personal_view",
            Method::POST,
            "/rest/projects/{pid}/savedViews",
            Some(|_| json!({"view": fresh(|n| view(n, "Mine", "main"))})),
        ),
        Probe::new(
            "studio.save_project_view",
            Method::POST,
            "/rest/projects/{pid}/savedViews",
            Some(|_| json!({"view": fresh(|n| view(n, "Ours", "main")), "scope": "project"})),
        ),
        Probe::new("stories.view", Method::GET, "/rest/projects/{pid}/stories", None),
        Probe::new(
            "stories.edit",
            Method::POST,
            "/rest/projects/{pid}/stories",
            Some(|_| json!({"title": "Probe", "blocks": [{"type": "text", "text": "x"}]})),
        ),
        Probe::new("data.load", Method::POST, "/rest/projects/{pid}/dwh/data/uploads", None),
        Probe::new(
            "data.validate",
            Method::POST,
            "/rest/jobs",
            Some(|f| json!({"type": "validate", "projectId": f.pid, "content": {}})),
        ),
        Probe::new(
            "data.dump",
            Method::POST,
            "/rest/jobs",
            Some(|f| json!({"type": "dataDump", "projectId": f.pid, "content": {"dataset": "probe_rows"}})),
        ),
        Probe::new(
            "data.load",
            Method::POST,
            "/rest/jobs",
            Some(
                |f| json!({"type": "importProject", "projectId": f.pid, "content": {"sourceProjectId": f.source, "force": true, "skipData": true}}),
            ),
        ),
        Probe::new(
            "project.update",
            Method::POST,
            "/rest/jobs",
            Some(|f| json!({"type": "truncate", "projectId": f.pid})),
        ),
        Probe::new(
            "data.dwh_query",
            Method::POST,
            "{dwh}/queries",
            Some(|_| json!({"properties": [{"id": "id", "type": "property", "value": "probe_rows.id"}]})),
        ),
        Probe::new(
            "data.dwh_query",
            Method::POST,
            "{dwh}/propertyValues?property=probe_rows.id",
            Some(|_| json!({})),
        ),
        Probe::new(
            "data.dwh_query",
            Method::POST,
            "{dwh}/metricRanges",
            Some(
                |_| json!({"properties": [{"id": "n", "type": "function_count", "content": [{"type": "property", "value": "probe_rows.id"}]}]}),
            ),
        ),
        Probe::new(
            "data.dwh_query",
            Method::POST,
            "{dwh}/propertyValuesDistributions",
            Some(|_| json!({"property": "probe_rows.id", "buckets": 2})),
        ),
        Probe::new(
            "data.dwh_query",
            Method::POST,
            "{dwh}/availableDatasets",
            Some(
                |_| json!({"metrics": [{"id": "n", "type": "function_count", "content": [{"type": "property", "value": "probe_rows.id"}]}]}),
            ),
        ),
        Probe::new(
            "studio.export",
            Method::POST,
            "/rest/jobs",
            Some(|f| {
                json!({"type": "export", "projectId": f.pid, "content": {"format": "csv",
                "query": {"properties": [{"id": "id", "type": "property", "value": "probe_rows.id"}]}}})
            }),
        ),
        Probe::new(
            "data.bulk_point_query",
            Method::POST,
            "/rest/jobs",
            Some(|f| {
                json!({"type": "bulkPointQuery", "projectId": f.pid, "content": {"points": [{"lat": 50.0, "lng": 14.0}],
                "pointQueries": [{"type": "isochrone", "dataset": "probe_points", "options": {"profile": "air", "unit": "distance", "amount": 100},
                    "properties": [{"id": "n", "type": "function_count", "content": [{"type": "property", "value": "probe_points.id"}]}]}]}})
            }),
        ),
        Probe::new("data.dwh_query", Method::GET, "/rest/projects/{pid}/search?query=probe", None),
        Probe::new("project.update", Method::GET, "/rest/projects/{pid}/usage", None),
        // Last: it removes the project.
        Probe::new("project.delete", Method::DELETE, "/rest/projects/{pid}", None),
    ]
}

/// A name no other probe used.
fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", locus_core::random_base62(10).to_lowercase())
}

fn fresh(make: fn(&str) -> Value) -> Value {
    make(&unique("probe"))
}

fn marker_selector(name: &str) -> Value {
    json!({"name": name, "type": "markerSelector", "content": {"hideGranularity": false}})
}

fn indicator_drill(name: &str) -> Value {
    json!({"name": name, "type": "indicatorDrill", "content": {"blocks": []}})
}

/// What every role's project holds before the probes: a dashboard, a shared
/// view, project settings and a live share of the view.
async fn content(app: &TestApp, admin: &User, pid: &str) -> String {
    for (segment, body) in [
        ("dashboards", dashboard("main")),
        ("views", view("shared_view", "Shared", "main")),
        ("projectSettings", settings(&[])),
        (
            "datasets",
            json!({"name": "probe_rows", "type": "dataset", "title": "Rows", "ref": {"type": "dwh", "subtype": "basic",
                "primaryKey": "id", "properties": [{"name": "id", "column": "id", "type": "integer"}]}}),
        ),
        (
            "datasets",
            json!({"name": "probe_points", "type": "dataset", "title": "Points", "ref": {"type": "dwh", "subtype": "geometryPoint",
                "primaryKey": "id", "properties": [{"name": "id", "column": "id", "type": "integer"},
                    {"name": "lat", "column": "lat", "type": "latitude"}, {"name": "lng", "column": "lng", "type": "longitude"}]}}),
        ),
    ] {
        let (status, answer) = app
            .post(&format!("/rest/projects/{pid}/md/{segment}"), Some(&admin.bearer), body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, share) = app
        .post(
            &format!("/rest/projects/{pid}/shares"),
            Some(&admin.bearer),
            json!({"view": "shared_view"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{share}");
    share["shareId"].as_str().unwrap().to_owned()
}

/// The probe's path with its placeholders filled, creating what they name.
async fn resolve(app: &TestApp, admin: &User, member: &User, pid: &str, share: &str, probe: &Probe) -> String {
    let target = app.user().await;
    let (_, m) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"accountId": target.id, "role": "VIEWER"}),
        )
        .await;
    let (_, inv) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&admin.bearer),
            json!({"email": "probe@example.org", "role": "VIEWER"}),
        )
        .await;
    let mut path = probe
        .path
        .replace("{pid}", pid)
        .replace("{share}", share)
        .replace("{mid}", m["id"].as_str().unwrap_or("none"))
        .replace("{iid}", inv["id"].as_str().unwrap_or("none"));
    if path.contains("{dwh}") {
        let (_, project) = app.get(&format!("/rest/projects/{pid}"), &admin.bearer).await;
        path = path.replace("{dwh}", project["services"]["dwh"].as_str().unwrap());
    }
    if path.contains("{metric}") {
        let (status, created) = app
            .post(&format!("/rest/projects/{pid}/md/metrics"), Some(&admin.bearer), fresh(metric))
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        path = path.replace("{metric}", created["id"].as_str().unwrap());
    }
    if path.contains("{own}") {
        // Created in the store as the member's own personal object, whatever the member's role may create.
        let segment = path.split('/').nth_back(1).unwrap();
        let md_type = MdType::from_segment(segment).unwrap();
        let body = match md_type {
            MdType::Views => fresh(|n| view(n, "Own", "main")),
            MdType::Dashboards => fresh(dashboard),
            MdType::MarkerSelectors => fresh(marker_selector),
            _ => fresh(indicator_drill),
        };
        let links = validate(md_type, &body, false, pid).unwrap();
        let write = locus_store::MdWrite {
            md_type,
            name: body["name"].as_str().unwrap(),
            title: body["title"].as_str(),
            body: &body,
            links: &links,
        };
        let author = locus_store::Author {
            account_id: &member.id,
            email: &member.email,
        };
        let created = app
            .state
            .store
            .create_md(&locus_store::Actor::operator_cli(), pid, author, &write, true)
            .await
            .unwrap();
        path = path.replace("{own}", &created.id);
    }
    path
}

/// A fresh project of `admin`'s with its content, `member` holding `role` in
/// it; answers the fixture and the live share.
async fn project_with(app: &TestApp, admin: &User, member: &User, role: &str) -> (Fixture, String) {
    let fixture = Fixture {
        pid: create_project(app, admin, role).await["id"].as_str().unwrap().to_owned(),
        spare: app.user().await,
        source: create_project(app, member, "Source").await["id"].as_str().unwrap().to_owned(),
    };
    let (status, _) = app
        .post(
            &format!("/rest/projects/{}/members", fixture.pid),
            Some(&admin.bearer),
            json!({"accountId": member.id, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let share = content(app, admin, &fixture.pid).await;
    (fixture, share)
}

/// Runs every probe with `bearer` (acting for `member`) and checks each
/// answer against `allowed(permission key)`; answers the number of probes.
#[allow(clippy::too_many_arguments)]
async fn probe_all(
    app: &TestApp,
    admin: &User,
    member: &User,
    bearer: &str,
    fixture: &Fixture,
    share: &str,
    who: &str,
    allowed: impl Fn(&str) -> bool,
) -> usize {
    let mut checked = 0;
    for probe in probes() {
        let path = resolve(app, admin, member, &fixture.pid, share, &probe).await;
        let body = probe.body.map(|make| make(fixture));
        let mut req = app
            .client
            .request(probe.method.clone(), format!("{}{path}", app.base))
            .bearer_auth(bearer);
        if probe.method == Method::PUT && path.contains("/md/") {
            req = req.header("If-Match", "1");
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        let expected = allowed(probe.permission) || probe.or.is_some_and(&allowed);
        if expected {
            assert!(
                status.is_success(),
                "{who} should be allowed {} ({} {path}): {status} {answer}",
                probe.permission,
                probe.method
            );
        } else {
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who} should be denied {}: {answer}",
                probe.permission
            );
            assert_eq!(answer["permission"], probe.permission, "the 403 names the missing permission");
        }
        checked += 1;
    }
    checked
}

#[tokio::test]
async fn every_role_gets_exactly_what_the_matrix_grants() {
    let app = TestApp::spawn().await;
    let matrix = matrix();
    let admin = app.user().await;
    let mut checked = 0;
    for role in [
        "VIEWER",
        "VIEW_CREATOR",
        "EDITOR",
        "DATA_EDITOR",
        "ADMIN",
        "LOAD_DATA",
        "LOCATION_API_CONSUMER",
    ] {
        let grants = &matrix[role];
        let member = app.user().await;
        let (fixture, share) = project_with(&app, &admin, &member, role).await;
        let allowed = |key: &str| grants[key];
        checked += probe_all(&app, &admin, &member, &member.bearer, &fixture, &share, role, allowed).await;
    }
    assert_eq!(checked, 7 * probes().len());
}

#[tokio::test]
async fn non_members_get_404_and_disabled_members_403_on_every_probe() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let stranger = app.user().await;
    let disabled = app.user().await;
    let pid = create_project(&app, &admin, "P").await["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"accountId": disabled.id, "role": "ADMIN", "status": "DISABLED"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let fixture = Fixture {
        pid: pid.clone(),
        spare: app.user().await,
        source: pid.clone(),
    };
    let share = content(&app, &admin, &pid).await;
    for probe in probes() {
        let path = resolve(&app, &admin, &disabled, &pid, &share, &probe).await;
        let body = probe.body.map(|make| make(&fixture));
        let (status, _) = app.call(probe.method.clone(), &path, Some(&stranger.bearer), body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "stranger {}", probe.permission);
        let (status, _) = app.call(probe.method.clone(), &path, Some(&disabled.bearer), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "disabled member {}", probe.permission);
    }
}

/// The ANONYMOUS column: every probe with a public bearer, for a service
/// account holding VIEWER and one holding ADMIN. Whatever the role, a public
/// visitor gets the role's grants within the public read-only set.
#[tokio::test]
async fn a_public_visitor_gets_the_service_accounts_grants_capped_at_reading() {
    let app = TestApp::spawn().await;
    let matrix = matrix();
    let admin = app.user().await;
    let operator = app.operator().await;
    let mut checked = 0;
    for role in ["VIEWER", "ADMIN"] {
        let grants = &matrix[role];
        let service = app.user().await;
        let (fixture, share) = project_with(&app, &admin, &service, role).await;
        let flag = format!("/rest/accounts/{}/anonymous", service.id);
        let (status, _) = app
            .call(Method::PUT, &flag, Some(&operator), Some(json!({"anonymous": true})))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, token) = app
            .post(
                &format!("/rest/projects/{}/publicAccessTokens", fixture.pid),
                Some(&service.bearer),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        let bearer = crate::public::public_bearer(&app, token["token"].as_str().unwrap()).await;
        let allowed = |key: &str| grants[key] && Permission::from_key(key).is_some_and(Permission::reaches_public);
        let who = format!("ANONYMOUS through {role}");
        checked += probe_all(&app, &admin, &service, &bearer, &fixture, &share, &who, allowed).await;
    }
    assert_eq!(checked, 2 * probes().len());
}

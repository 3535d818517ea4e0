//! Every role against the endpoint behind every permission that has one,
//! compared with the matrix file (the vendored copy of shared/spec/permissions.csv,
//! itself checked against the original by locus-core's tests).

use crate::projects::create_project;
use crate::{TestApp, User};
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
    method: Method,
    /// `{pid}` is the project, `{mid}` a membership and `{iid}` an invitation the probe may change.
    path: &'static str,
    body: Option<fn(&Fixture) -> Value>,
}

/// What the probes act on, made fresh for each role.
struct Fixture {
    pid: String,
    spare: User,
}

fn probes() -> Vec<Probe> {
    vec![
        Probe {
            permission: "project.detail",
            method: Method::GET,
            path: "/rest/projects/{pid}",
            body: None,
        },
        Probe {
            permission: "project.update",
            method: Method::PUT,
            path: "/rest/projects/{pid}",
            body: Some(|_| json!({"title": "renamed"})),
        },
        Probe {
            permission: "membership.list",
            method: Method::GET,
            path: "/rest/projects/{pid}/members",
            body: None,
        },
        Probe {
            permission: "membership.add",
            method: Method::POST,
            path: "/rest/projects/{pid}/members",
            body: Some(|f| json!({"accountId": f.spare.id, "role": "VIEWER"})),
        },
        Probe {
            permission: "membership.update",
            method: Method::PUT,
            path: "/rest/projects/{pid}/members/{mid}",
            body: Some(|_| json!({"role": "EDITOR", "status": "ENABLED"})),
        },
        Probe {
            permission: "membership.delete",
            method: Method::DELETE,
            path: "/rest/projects/{pid}/members/{mid}",
            body: None,
        },
        Probe {
            permission: "invitation.create",
            method: Method::POST,
            path: "/rest/projects/{pid}/invitations",
            body: Some(|_| json!({"email": "someone@example.org", "role": "VIEWER"})),
        },
        Probe {
            permission: "invitation.list",
            method: Method::GET,
            path: "/rest/projects/{pid}/invitations",
            body: None,
        },
        Probe {
            permission: "invitation.update",
            method: Method::PUT,
            path: "/rest/projects/{pid}/invitations/{iid}",
            body: Some(|_| json!({"status": "CANCELED"})),
        },
        // Last: it removes the project.
        Probe {
            permission: "project.delete",
            method: Method::DELETE,
            path: "/rest/projects/{pid}",
            body: None,
        },
    ]
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
        let fixture = Fixture {
            pid: create_project(&app, &admin, role).await["id"].as_str().unwrap().to_owned(),
            spare: app.user().await,
        };
        let (status, _) = app
            .post(
                &format!("/rest/projects/{}/members", fixture.pid),
                Some(&admin.bearer),
                json!({"accountId": member.id, "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        for probe in probes() {
            // A membership of someone else for the probe to change or remove.
            let target = app.user().await;
            let (_, m) = app
                .post(
                    &format!("/rest/projects/{}/members", fixture.pid),
                    Some(&admin.bearer),
                    json!({"accountId": target.id, "role": "VIEWER"}),
                )
                .await;
            let (_, inv) = app
                .post(
                    &format!("/rest/projects/{}/invitations", fixture.pid),
                    Some(&admin.bearer),
                    json!({"email": "probe@example.org", "role": "VIEWER"}),
                )
                .await;
            let path = probe
                .path
                .replace("{pid}", &fixture.pid)
                .replace("{mid}", m["id"].as_str().unwrap())
                .replace("{iid}", inv["id"].as_str().unwrap());
            let body = probe.body.map(|make| make(&fixture));
            let (status, answer) = app.call(probe.method.clone(), &path, Some(&member.bearer), body).await;
            let expected = grants[probe.permission];
            if expected {
                assert!(
                    status.is_success(),
                    "{role} should be allowed {} ({} {path}): {status} {answer}",
                    probe.permission,
                    probe.method
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} should be denied {}: {answer}",
                    probe.permission
                );
                assert_eq!(answer["permission"], probe.permission, "the 403 names the missing permission");
            }
            checked += 1;
        }
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
    let (_, dm) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&admin.bearer),
            json!({"accountId": disabled.id, "role": "ADMIN", "status": "DISABLED"}),
        )
        .await;
    let (_, inv) = app
        .post(
            &format!("/rest/projects/{pid}/invitations"),
            Some(&admin.bearer),
            json!({"email": "probe@example.org", "role": "VIEWER"}),
        )
        .await;
    let fixture = Fixture {
        pid: pid.clone(),
        spare: app.user().await,
    };
    for probe in probes() {
        let path = probe
            .path
            .replace("{pid}", &pid)
            .replace("{mid}", dm["id"].as_str().unwrap())
            .replace("{iid}", inv["id"].as_str().unwrap());
        let body = probe.body.map(|make| make(&fixture));
        let (status, _) = app.call(probe.method.clone(), &path, Some(&stranger.bearer), body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "stranger {}", probe.permission);
        let (status, _) = app.call(probe.method.clone(), &path, Some(&disabled.bearer), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "disabled member {}", probe.permission);
    }
}

//! The web application in a real browser: headless Chromium (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs) driven over
//! WebDriver by fantoccini. Screenshots of the main pages land in
//! `target/screenshots/`.
//!
//! Set `LOCUS_SKIP_BROWSER=1` to skip on a machine without Chromium; CI never does.

use crate::{secret_in, TestApp, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A chromedriver process on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let binary = std::env::var("LOCUS_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} ({e}): install chromium and chromium-driver (.ci/run does), or set LOCUS_SKIP_BROWSER=1")
            });
        // Owned by a Driver from here on, so that it is killed and reaped whatever happens.
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/status", driver.url))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up on port {port}");
    }

    /// A new browser window with its own profile (so its own cookies).
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let args = [
            "--headless=new",
            "--no-sandbox",
            // WebGL for the map, in software (see notes.md).
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ];
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": all });
        if let Ok(binary) = std::env::var("LOCUS_CHROMIUM") {
            options["binary"] = json!(binary);
        } else if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits for an element; on a timeout, fails with the page the browser is on.
async fn find(c: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    match c.wait().at_most(Duration::from_secs(10)).for_element(locator).await {
        Ok(element) => element,
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let source = c.source().await.unwrap_or_default();
            panic!("{locator:?} not found ({e}) on {url}:\n{source}");
        }
    }
}

async fn fill(c: &Client, id: &str, text: &str) {
    let field = find(c, Locator::Id(id)).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks a link or a submit button and waits until the next page replaced this one.
async fn click(c: &Client, css: &str) {
    let before = c.find(Locator::Css("html")).await.unwrap();
    find(c, Locator::Css(css)).await.click().await.unwrap();
    for _ in 0..200 {
        if before.tag_name().await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("clicking {css} did not lead to another page");
}

async fn text(c: &Client, css: &str) -> String {
    find(c, Locator::Css(css)).await.text().await.unwrap()
}

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

/// The table row of the member or invitation with this e-mail, as a CSS prefix.
fn row(table: &str, email: &str) -> String {
    format!("#{table} tr[data-email=\"{email}\"]")
}

#[tokio::test]
async fn the_user_management_story_in_a_real_browser() {
    if std::env::var("LOCUS_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("LOCUS_SKIP_BROWSER=1: the browser story is skipped");
        return;
    }
    let app = TestApp::spawn().await;
    let driver = Driver::start().await;
    let profiles = tempfile::tempdir().unwrap();
    let admin = driver.browser(&profiles.path().join("admin")).await;
    let guest = driver.browser(&profiles.path().join("guest")).await;
    let base = app.base.clone();

    // The admin signs up and creates a project.
    admin.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(path(&admin).await, "/sign-in");
    shot(&admin, "sign-in").await;
    click(&admin, "#sign-up-link").await;
    fill(&admin, "given_name", "Ada").await;
    fill(&admin, "surname", "Admin").await;
    fill(&admin, "email", "ada@example.org").await;
    fill(&admin, "password", PASSWORD).await;
    click(&admin, "#submit").await;
    find(&admin, Locator::Id("no-projects")).await;
    fill(&admin, "project-title", "Retail network").await;
    fill(&admin, "project-description", "Stores, catchments and footfall").await;
    click(&admin, "#create-project").await;
    assert_eq!(text(&admin, "#my-role").await, "ADMIN");
    let project_path = path(&admin).await;
    shot(&admin, "project").await;

    // Two invitations at once.
    click(&admin, "#menu-users").await;
    fill(&admin, "invite-emails", "gus@example.org, second@example.org").await;
    admin
        .find(Locator::Id("invite-role"))
        .await
        .unwrap()
        .select_by_value("VIEW_CREATOR")
        .await
        .unwrap();
    click(&admin, "#invite").await;
    assert!(text(&admin, "#notice").await.contains("Invitations sent"));
    assert_eq!(
        text(&admin, &format!("{} .status", row("invitation-list", "gus@example.org"))).await,
        "PENDING"
    );
    assert_eq!(
        text(&admin, &format!("{} .status", row("invitation-list", "second@example.org"))).await,
        "PENDING"
    );
    shot(&admin, "users-invited").await;

    // A second browser opens Gus's link from the outbox and signs up.
    let mails = app.mails(2).await;
    let mail = mails.iter().find(|m| m.contains("To: gus@example.org")).unwrap();
    let link = format!("{base}/invitations/{}", secret_in(mail, "linv"));
    guest.goto(&link).await.unwrap();
    assert_eq!(text(&guest, "#project-title").await, "Retail network");
    assert_eq!(text(&guest, "#inviter").await, "Ada Admin");
    assert_eq!(text(&guest, "#role").await, "VIEW_CREATOR");
    shot(&guest, "invitation").await;
    click(&guest, "#sign-up-invited").await;
    let email_field = find(&guest, Locator::Id("email")).await;
    assert_eq!(email_field.prop("value").await.unwrap().as_deref(), Some("gus@example.org"));
    assert_eq!(email_field.attr("readonly").await.unwrap().as_deref(), Some("true"));
    fill(&guest, "given_name", "Gus").await;
    fill(&guest, "surname", "Guest").await;
    fill(&guest, "password", PASSWORD).await;
    click(&guest, "#submit").await;
    assert_eq!(text(&guest, "#my-role").await, "VIEW_CREATOR");
    assert_eq!(path(&guest).await, project_path, "the sign-up ends in the project");
    assert!(
        guest.find(Locator::Id("menu-users")).await.is_err(),
        "no user management for a VIEW_CREATOR"
    );

    // The admin changes Gus's role, disables, re-enables and removes him.
    admin.refresh().await.unwrap();
    let gus = row("members", "gus@example.org");
    admin
        .find(Locator::Css(&format!("{gus} select[name=role]")))
        .await
        .unwrap()
        .select_by_value("EDITOR")
        .await
        .unwrap();
    click(&admin, &format!("{gus} button.change-role")).await;
    assert!(text(&admin, "#notice").await.contains("role is changed"));
    guest.refresh().await.unwrap();
    assert_eq!(text(&guest, "#my-role").await, "EDITOR", "in force on his next request");

    click(&admin, &format!("{gus} button.disable")).await;
    assert_eq!(text(&admin, &format!("{gus} .status")).await, "DISABLED");
    shot(&admin, "users").await;
    guest.refresh().await.unwrap();
    assert!(
        text(&guest, "#error").await.contains("disabled"),
        "a disabled member can do nothing"
    );

    click(&admin, &format!("{gus} button.enable")).await;
    assert_eq!(text(&admin, &format!("{gus} .status")).await, "ENABLED");
    guest.refresh().await.unwrap();
    assert_eq!(text(&guest, "#my-role").await, "EDITOR");

    find(&admin, Locator::Css(&format!("{gus} summary.remove")))
        .await
        .click()
        .await
        .unwrap();
    click(&admin, &format!("{gus} button.confirm-remove")).await;
    assert!(text(&admin, "#notice").await.contains("removed"));
    assert!(admin.find(Locator::Css(&gus)).await.is_err());
    guest.refresh().await.unwrap();
    assert!(text(&guest, "#error").await.contains("not found"));

    // The last admin cannot demote herself; the page says why.
    let ada = row("members", "ada@example.org");
    admin
        .find(Locator::Css(&format!("{ada} select[name=role]")))
        .await
        .unwrap()
        .select_by_value("VIEWER")
        .await
        .unwrap();
    click(&admin, &format!("{ada} button.change-role")).await;
    assert!(text(&admin, "#error").await.contains("at least one enabled ADMIN"));
    shot(&admin, "last-admin").await;

    // Gus comes back as a VIEWER through a new invitation, signed in already,
    // and sees no user management; the server refuses it to him anyway.
    fill(&admin, "invite-emails", "gus@example.org").await;
    admin
        .find(Locator::Id("invite-role"))
        .await
        .unwrap()
        .select_by_value("VIEWER")
        .await
        .unwrap();
    click(&admin, "#invite").await;
    let mails = app.mails(3).await;
    let newest = mails
        .iter()
        .filter(|m| m.contains("To: gus@example.org"))
        .map(|m| secret_in(m, "linv"))
        .find(|s| !link.contains(s));
    guest.goto(&format!("{base}/invitations/{}", newest.unwrap())).await.unwrap();
    click(&guest, "#accept").await;
    assert_eq!(text(&guest, "#my-role").await, "VIEWER");
    assert!(guest.find(Locator::Id("menu-users")).await.is_err());
    shot(&guest, "viewer-project").await;
    guest.goto(&format!("{base}{project_path}/users")).await.unwrap();
    assert!(text(&guest, "#error").await.contains("membership.list"));

    // The audit log page and the account page, for the record.
    click(&admin, "#menu-audit").await;
    assert!(text(&admin, "#events").await.contains("accept_invitation"));
    shot(&admin, "audit").await;
    admin.goto(&format!("{base}/account")).await.unwrap();
    fill(&admin, "token-name", "notebook").await;
    click(&admin, "#create-token").await;
    assert!(text(&admin, "#new-token-secret").await.starts_with("lpat_"));
    shot(&admin, "account").await;

    // Signing out ends the session.
    click(&admin, "#sign-out").await;
    assert_eq!(path(&admin).await, "/sign-in");
    admin.goto(&format!("{base}/projects")).await.unwrap();
    assert_eq!(path(&admin).await, "/sign-in");

    admin.close().await.unwrap();
    guest.close().await.unwrap();
}

#[tokio::test]
async fn the_public_link_story_in_a_real_browser() {
    if std::env::var("LOCUS_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("LOCUS_SKIP_BROWSER=1: the public link story is skipped");
        return;
    }
    let app = TestApp::spawn().await;
    let shared = crate::public::shared_project(&app, "VIEWER").await;
    let driver = Driver::start().await;
    let profiles = tempfile::tempdir().unwrap();
    let service = driver.browser(&profiles.path().join("service")).await;
    let visitor = driver.browser(&profiles.path().join("visitor")).await;
    let base = app.base.clone();

    // The service account signs in and makes a link that shows one view.
    service.goto(&format!("{base}/sign-in")).await.unwrap();
    fill(&service, "email", &shared.service.email).await;
    fill(&service, "password", PASSWORD).await;
    click(&service, "#submit").await;
    service.goto(&format!("{base}/projects/{}", shared.pid)).await.unwrap();
    click(&service, "#menu-public").await;
    find(&service, Locator::Id("no-public-links")).await;
    fill(&service, "public-name", "Conference").await;
    find(&service, Locator::Id("public-view-v1")).await.click().await.unwrap();
    click(&service, "#create-public-link").await;
    let link = find(&service, Locator::Id("new-public-link"))
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(link.starts_with(&format!("{base}/public/{}#token=lpub_", shared.pid)), "{link}");
    assert!(text(&service, "#public-links").await.contains("v1"));
    shot(&service, "public-access").await;

    // Anyone with the link, signed in nowhere, sees the project and that view only.
    visitor.goto(&link).await.unwrap();
    assert_eq!(text(&visitor, "#public-title").await, "Harbour");
    find(&visitor, Locator::Css("#public-views li[data-view=\"v1\"]")).await;
    assert!(visitor.find(Locator::Css("#public-views li[data-view=\"v2\"]")).await.is_err());
    assert!(!visitor.source().await.unwrap().contains('@'), "no e-mail on the public page");
    shot(&visitor, "public").await;

    // Revoked, the link opens nothing on the visitor's next visit.
    click(&service, "button.revoke-link").await;
    assert!(text(&service, "#notice").await.contains("revoked"));
    visitor.refresh().await.unwrap();
    let status = find(&visitor, Locator::Css("#public-status.error")).await;
    assert!(status.text().await.unwrap().contains("does not open the project"));

    service.close().await.unwrap();
    visitor.close().await.unwrap();
}

/// A project with zones (polygons), shops (points in them), a revenue
/// indicator on a dashboard, a view, and a viewer limited to partner shops.
pub(crate) async fn map_project(app: &TestApp, admin: &crate::User) -> (String, crate::User) {
    let pid = crate::projects::create_project(app, admin, "Retail map").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let md = |segment: &str| format!("/rest/projects/{pid}/md/{segment}");
    let link = |segment: &str, name: &str| format!("/rest/projects/{pid}/md/{segment}?name={name}");
    let prop = |name: &str, ty: &str| json!({"name": name, "column": name, "type": ty});
    let mut zone_id = prop("zone_id", "integer");
    zone_id["foreignKey"] = json!("zones");
    let mut opened = prop("opened", "date");
    opened["foreignKey"] = json!("days");
    let objects = [
        (
            "datasets",
            json!({"name": "days", "type": "dataset", "title": "Days",
            "ref": {"type": "dwh", "subtype": "date", "primaryKey": "day", "properties": [prop("day", "date")]}}),
        ),
        (
            "datasets",
            json!({"name": "zones", "type": "dataset", "title": "Zones", "properties": {"featureTitle": {"type": "property", "value": "name"}},
            "ref": {"type": "dwh", "subtype": "geometryPolygon", "primaryKey": "id",
                "properties": [prop("id", "integer"), prop("name", "string"), prop("geom", "geometry")]}}),
        ),
        (
            "datasets",
            json!({"name": "shops", "type": "dataset", "title": "Shops", "properties": {"featureTitle": {"type": "property", "value": "name"}},
            "ref": {"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id",
                "properties": [prop("id", "integer"), prop("name", "string"), zone_id, prop("partner", "string"),
                    prop("lat", "latitude"), prop("lng", "longitude"), prop("revenue", "decimal"), opened]}}),
        ),
        (
            "metrics",
            json!({"name": "revenue", "type": "metric", "content": {"type": "function_sum", "content": [{"type": "property", "value": "shops.revenue"}]}}),
        ),
        (
            "indicators",
            json!({"name": "revenue_indicator", "type": "indicator", "title": "Revenue", "description": "Sum of shop revenue",
            "content": {"metric": link("metrics", "revenue"), "scale": "standard", "distribution": "uniform", "format": {"type": "number", "fraction": 0, "symbol": "€"}}}),
        ),
        (
            "indicatorDrills",
            json!({"name": "revenue_drill", "type": "indicatorDrill", "content": {"blocks": [
                {"type": "categories", "title": "By partner", "splitProperty": "shops.partner", "indicator": link("indicators", "revenue_indicator")},
                {"type": "ranking", "title": "Rank", "indicator": link("indicators", "revenue_indicator")},
                {"type": "distribution", "title": "Among zones", "indicator": link("indicators", "revenue_indicator")},
                {"type": "timeSeries", "title": "By opening day", "indicator": link("indicators", "revenue_indicator"),
                    "defaultPeriod": link("datasets", "days")}]}}),
        ),
        (
            "dashboards",
            json!({"name": "main", "type": "dashboard", "content": {"blockRows": [{"type": "indicator",
            "indicator": link("indicators", "revenue_indicator"), "indicatorDrill": link("indicatorDrills", "revenue_drill")}]}}),
        ),
        (
            "markers",
            json!({"name": "partner_shops", "type": "marker", "title": "Partner shops",
            "content": {"style": "marker-orange", "propertyFilters": [{"propertyName": "partner", "operator": "eq", "value": "yes"}]}}),
        ),
        (
            "markerSelectors",
            json!({"name": "shops_selector", "type": "markerSelector", "content": {"categories": [
            {"dataset": link("datasets", "shops"), "markers": [{"marker": link("markers", "partner_shops"), "visible": true}]}]}}),
        ),
        (
            "views",
            json!({"name": "retail", "type": "view", "title": "Retail", "description": "Revenue by zone",
            "content": {"dashboard": link("dashboards", "main"), "defaultGranularity": link("datasets", "zones"),
                "markerSelector": link("markerSelectors", "shops_selector"),
                "filterGroup": [{"type": "multiSelect", "property": "shops.partner"}, {"type": "histogram", "property": "shops.revenue"}]}}),
        ),
    ];
    for (segment, body) in objects {
        let (status, created) = app.post(&md(segment), Some(&admin.bearer), body).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{segment}: {created}");
    }
    // The third zone is a 400-gon (a circle in its square), to be simplified
    // when the map is zoomed out.
    let circle: Vec<String> = (0..=400)
        .map(|i| {
            let a = f64::from(i % 400) / 400.0 * std::f64::consts::TAU;
            format!("{} {}", 16.5 + 0.5 * a.cos(), 49.5 + 0.5 * a.sin())
        })
        .collect();
    let zones = format!(
        "id,name,geom\n1,West,\"POLYGON ((14 49, 15 49, 15 50, 14 50, 14 49))\"\n2,East,\"POLYGON ((15 49, 16 49, 16 50, 15 50, 15 49))\"\n3,Empty,\"POLYGON (({}))\"\n",
        circle.join(", ")
    );
    let zones = zones.as_str();
    let shops = "id,name,zone_id,partner,lat,lng,revenue,opened\n1,A,1,yes,49.5,14.5,100,2026-01-01\n2,B,1,no,49.6,14.6,50,2026-02-01\n3,C,2,no,49.5,15.5,400,2026-02-01\n";
    let days = "day\n2026-01-01\n2026-02-01\n";
    for (name, csv) in [("days", days), ("zones", zones), ("shops", shops)] {
        let href = crate::data_load::upload(app, admin, &pid, csv.as_bytes()).await;
        let job = crate::data_load::run_job(
            app,
            admin,
            json!({"type": "dataPull", "projectId": pid, "content": {"dataset": name, "mode": "full", "type": "csv", "upload": href}}),
        )
        .await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
    }
    let viewer = crate::metadata::member(app, admin, &pid, "VIEWER").await;
    let permission = json!({"name": "partners", "type": "dataPermission", "content": {"accountId": viewer.id,
        "filters": [{"property": "shops.partner", "operator": "eq", "value": "yes"}]}});
    let (status, created) = app.post(&md("dataPermissions"), Some(&admin.bearer), permission).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{created}");
    (pid, viewer)
}

async fn sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    fill(c, "email", email).await;
    fill(c, "password", PASSWORD).await;
    click(c, "#submit").await;
}

/// Waits until an element shows `want`.
async fn wait_text(c: &Client, css: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..600 {
        last = text(c, css).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} shows {last:?}, not {want:?}");
}

/// Waits for the map to say it drew (`data-state="ready"`), and answers its status line.
async fn map_ready(c: &Client) -> String {
    for _ in 0..400 {
        let ready = c
            .execute("return document.getElementById('map-view').dataset.state || ''", vec![])
            .await
            .unwrap();
        if ready == json!("ready") {
            return text(c, "#map-status").await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = text(c, "#map-status").await;
    panic!("the map did not finish drawing: {status}");
}

#[tokio::test]
async fn the_map_story_in_a_real_browser() {
    if std::env::var("LOCUS_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("LOCUS_SKIP_BROWSER=1: the browser story is skipped");
        return;
    }
    let app = TestApp::spawn().await;
    let admin_user = app.user().await;
    let (pid, viewer_user) = map_project(&app, &admin_user).await;
    let driver = Driver::start().await;
    let profiles = tempfile::tempdir().unwrap();
    let base = app.base.clone();
    let view = format!("{base}/projects/{pid}/views/retail");

    // The admin opens the view: zones as a choropleth of revenue.
    let admin = driver.browser(&profiles.path().join("admin")).await;
    sign_in(&admin, &base, &admin_user.email).await;
    admin.goto(&view).await.unwrap();
    assert_eq!(map_ready(&admin).await, "3 features of zones, Revenue");
    assert_eq!(
        text(&admin, "#indicators li[data-indicator=revenue_indicator] .value").await,
        "€ 550"
    );
    wait_text(&admin, "#markers [data-marker=partner_shops]", "Partner shops (1)").await;
    let legend = text(&admin, "#legend").await;
    assert!(legend.contains("€"), "{legend}");
    shot(&admin, "map-admin").await;
    // A click on the middle zone (East) drills into it.
    find(&admin, Locator::Id("map")).await.click().await.unwrap();
    wait_text(&admin, "#drill-title", "East").await;
    assert_eq!(
        text(&admin, "#drill-values li[data-indicator=revenue_indicator]").await,
        "Revenue: € 400"
    );
    assert_eq!(text(&admin, ".drill-block[data-type=categories] li").await, "no: € 400");
    assert_eq!(text(&admin, ".drill-block[data-type=ranking] li").await, "#1 of 2");
    // Among the zones' values (150 and 400), East sits in the top bucket.
    assert_eq!(
        text(&admin, ".drill-block[data-type=distribution] li.selected").await,
        "€ 375 – € 400: 1"
    );
    assert_eq!(text(&admin, ".drill-block[data-type=timeSeries] li").await, "2026-02-01: € 400");
    // The drill is below the panel's indicators: in sight for the screenshot.
    admin
        .execute("document.getElementById('drill').scrollIntoView({block: 'end'})", vec![])
        .await
        .unwrap();
    shot(&admin, "map-drill").await;
    // The map's state is in the URL; the points dataset draws as dots.
    let url = admin.current_url().await.unwrap();
    assert!(url.fragment().unwrap_or_default().contains("indicator=revenue_indicator"), "{url}");
    admin
        .find(Locator::Id("granularity"))
        .await
        .unwrap()
        .select_by_value("shops")
        .await
        .unwrap();
    assert_eq!(map_ready(&admin).await, "3 features of shops, Revenue");
    // The locked filter list is empty for the admin.
    assert_eq!(admin.find_all(Locator::Css("#locked-filters li")).await.unwrap().len(), 0);
    // A filter of the view re-queries the values.
    find(&admin, Locator::Css("fieldset[data-property='shops.partner'] input[value='no']"))
        .await
        .click()
        .await
        .unwrap();
    wait_text(&admin, "#indicators li[data-indicator=revenue_indicator] .value", "€ 450").await;
    let to = find(&admin, Locator::Css("fieldset[data-property='shops.revenue'] input[name=to]")).await;
    to.send_keys("100").await.unwrap();
    admin
        .execute(
            "document.querySelector(\"fieldset[data-property='shops.revenue'] input[name=to]\").dispatchEvent(new Event('change'))",
            vec![],
        )
        .await
        .unwrap();
    wait_text(&admin, "#indicators li[data-indicator=revenue_indicator] .value", "€ 50").await;
    shot(&admin, "map-filtered").await;
    // Search finds a zone by name and flies there.
    admin
        .find(Locator::Id("granularity"))
        .await
        .unwrap()
        .select_by_value("zones")
        .await
        .unwrap();
    map_ready(&admin).await;
    find(&admin, Locator::Id("search-text")).await.send_keys("eas").await.unwrap();
    let hit = find(&admin, Locator::Css("#search-hits li button")).await;
    assert_eq!(hit.text().await.unwrap(), "East");
    hit.click().await.unwrap();
    let flown = admin
        .execute("return document.getElementById('map-view').dataset.flown || ''", vec![])
        .await
        .unwrap();
    assert_eq!(flown, json!("2"));

    // Shops as H3 hexagons, whose values add up to the indicator's total,
    // and as a heat map.
    admin
        .find(Locator::Id("granularity"))
        .await
        .unwrap()
        .select_by_value("shops")
        .await
        .unwrap();
    map_ready(&admin).await;
    admin
        .find(Locator::Id("visualization"))
        .await
        .unwrap()
        .select_by_value("grid")
        .await
        .unwrap();
    let drawn = map_ready(&admin).await;
    assert!(drawn.contains(" hexagons of shops, Revenue"), "{drawn}");
    let total = admin
        .execute(
            "const url = document.getElementById('map-view').dataset.view + '/features?dataset=shops&indicator=revenue_indicator&grid=7&filters=[]';
             return fetch(url).then((r) => r.json()).then((c) => [c.features.length, c.features.reduce((a, f) => a + f.properties.value, 0),
               c.features.every((f) => f.geometry.type === 'Polygon' && f.geometry.coordinates[0].length === 7)]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(total[1].as_f64(), Some(550.0), "{total}");
    assert_eq!(total[2], json!(true), "closed hexagons: {total}");
    // Polygons come simplified to the zoom the map asks for.
    let vertices = admin
        .execute(
            "const url = (zoom) => document.getElementById('map-view').dataset.view + '/features?dataset=zones&filters=[]' + zoom;
             const count = (c) => c.features.find((f) => f.properties.title === 'Empty').geometry.coordinates[0].length;
             return Promise.all(['', '&zoom=10', '&zoom=4'].map((z) => fetch(url(z)).then((r) => r.json()).then(count)));",
            vec![],
        )
        .await
        .unwrap();
    let vertices: Vec<u64> = vertices.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(
        vertices[0] == 401 && vertices[1] < vertices[0] && vertices[2] < vertices[1] && vertices[2] >= 4,
        "whole, zoom 10, zoom 4: {vertices:?}"
    );
    shot(&admin, "map-grid").await;
    admin
        .find(Locator::Id("visualization"))
        .await
        .unwrap()
        .select_by_value("heatmap")
        .await
        .unwrap();
    assert_eq!(map_ready(&admin).await, "3 points (heat map) of shops, Revenue");
    assert!(admin
        .current_url()
        .await
        .unwrap()
        .fragment()
        .unwrap_or_default()
        .contains("vis=heatmap"));

    // The viewer sees only partner shops, and the filter as a locked chip.
    let viewer = driver.browser(&profiles.path().join("viewer")).await;
    sign_in(&viewer, &base, &viewer_user.email).await;
    viewer.goto(&format!("{view}#dataset=shops")).await.unwrap();
    assert_eq!(map_ready(&viewer).await, "1 features of shops, Revenue");
    assert!(text(&viewer, "#locked-filters li").await.contains("shops.partner eq yes"));
    assert_eq!(
        text(&viewer, "#indicators li[data-indicator=revenue_indicator] .value").await,
        "€ 100"
    );
    shot(&viewer, "map-viewer").await;

    // Shared publicly (a link that shows this view), the same map opens for
    // anyone, signed in nowhere, with the token in the fragment only.
    let operator = app.operator().await;
    crate::public::set_anonymous(&app, &operator, &admin_user, true).await;
    let (status, created) = app
        .post(
            &format!("/rest/projects/{pid}/publicAccessTokens"),
            Some(&admin_user.bearer),
            json!({"name": "Map", "views": ["retail"]}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    let link = created["link"].as_str().unwrap();
    let public = driver.browser(&profiles.path().join("public")).await;
    public.goto(link).await.unwrap();
    find(&public, Locator::Css("#public-views li[data-view=retail] a"))
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(map_ready(&public).await, "3 features of zones, Revenue");
    assert_eq!(text(&public, "#view-title").await, "Retail");
    assert_eq!(
        text(&public, "#indicators li[data-indicator=revenue_indicator] .value").await,
        "€ 550"
    );
    let url = public.current_url().await.unwrap();
    assert!(url.path().starts_with(&format!("/public/{pid}/views/retail")), "{url}");
    assert!(
        url.fragment().unwrap_or_default().contains("token=lpub_"),
        "the state keeps the token: {url}"
    );
    shot(&public, "map-public").await;
    admin.close().await.unwrap();
    viewer.close().await.unwrap();
    public.close().await.unwrap();
}

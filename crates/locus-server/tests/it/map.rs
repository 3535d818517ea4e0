//! The map's JSON and tile routes over HTTP (the page itself is driven in
//! Chromium by `browser.rs`): polygons reach the map as vector tiles with
//! the indicator's values joined in, filtered by the reader's permissions.

use crate::browser::map_project;
use crate::TestApp;
use geozero::mvt::{Message, Tile, TileValue};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ASKED: &str = "dataset=zones&indicator=revenue_indicator&filters=%5B%5D";

/// A tile's features by title: each feature's tags as JSON.
async fn tile(app: &TestApp, bearer: &str, pid: &str, zxy: &str, query: &str) -> (StatusCode, BTreeMap<String, Value>) {
    let response = app
        .client
        .get(format!("{}/projects/{pid}/views/retail/tiles/{zxy}?{query}", app.base))
        .bearer_auth(bearer)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{zxy}?{query}: {status} {text}"));
        return (status, BTreeMap::from([("error".to_owned(), body)]));
    }
    assert_eq!(response.headers()["content-type"], "application/vnd.mapbox-vector-tile");
    let tile = Tile::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(tile.layers.len(), 1);
    let layer = &tile.layers[0];
    assert_eq!(layer.name, "features");
    let mut out = BTreeMap::new();
    for feature in &layer.features {
        assert!(!feature.geometry.is_empty());
        let mut tags = serde_json::Map::new();
        for kv in feature.tags.chunks(2) {
            let value = match TileValue::try_from(layer.values[kv[1] as usize].clone()).unwrap() {
                TileValue::Str(s) => json!(s),
                TileValue::Int(i) => json!(i),
                TileValue::Double(d) => json!(d),
                other => panic!("{other:?}"),
            };
            tags.insert(layer.keys[kv[0] as usize].clone(), value);
        }
        out.insert(tags["title"].as_str().unwrap().to_owned(), Value::Object(tags));
    }
    (status, out)
}

#[tokio::test]
async fn polygons_reach_the_map_as_tiles_with_the_readers_values() {
    let app = TestApp::spawn().await;
    let admin = app.user().await;
    let (pid, viewer) = map_project(&app, &admin).await;

    // The summary the page asks first: three zones, their values, their box.
    let (status, summary) = app.get(&format!("/projects/{pid}/views/retail/layer?{ASKED}"), &admin.bearer).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["count"], 3);
    let mut values: Vec<String> = summary["values"].as_array().unwrap().iter().map(Value::to_string).collect();
    values.sort();
    assert_eq!(values, ["150.0", "400.0", "null"]);
    let bounds: Vec<f64> = summary["bounds"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for (got, want) in bounds.iter().zip([14.0, 49.0, 17.0, 50.0]) {
        assert!((got - want).abs() < 0.01, "{bounds:?}");
    }

    // The world's tile holds the three; a value is the zone's revenue, and
    // the zone without shops has none.
    let (status, world) = tile(&app, &admin.bearer, &pid, "0/0/0", ASKED).await;
    assert_eq!(status, StatusCode::OK, "{world:?}");
    assert_eq!(world.keys().collect::<Vec<_>>(), ["East", "Empty", "West"]);
    assert_eq!(world["West"], json!({"id": 1, "title": "West", "value": 150.0}));
    assert_eq!(world["East"]["value"], 400.0);
    assert!(world["Empty"].get("value").is_none(), "{world:?}");
    // At zoom 8 the tile west of 14.06° E, over 49–49.8° N, holds West alone.
    let (_, west) = tile(&app, &admin.bearer, &pid, "8/137/87", ASKED).await;
    assert_eq!(west.keys().collect::<Vec<_>>(), ["West"]);
    // A filter shapes the values; the rows stay.
    let partners = "dataset=zones&indicator=revenue_indicator&filters=%5B%7B%22property%22%3A%22shops.partner%22%2C%22operator%22%3A%22eq%22%2C%22value%22%3A%22no%22%7D%5D";
    let (_, filtered) = tile(&app, &admin.bearer, &pid, "0/0/0", partners).await;
    assert_eq!(
        (filtered["West"]["value"].clone(), filtered["East"]["value"].clone()),
        (json!(50.0), json!(400.0))
    );

    // The viewer, limited to partner shops, gets their revenue only.
    let (_, seen) = tile(&app, &viewer.bearer, &pid, "0/0/0", ASKED).await;
    assert_eq!(seen["West"]["value"], 100.0, "{seen:?}");
    assert!(seen.get("East").is_none_or(|e| e.get("value").is_none()), "{seen:?}");
    // Without the permission, on the very next request, the viewer sees all.
    let (status, permissions) = app.get(&format!("/rest/projects/{pid}/md/dataPermissions"), &admin.bearer).await;
    assert_eq!(status, StatusCode::OK);
    let id = permissions["content"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/rest/projects/{pid}/md/dataPermissions/{id}");
    let (status, _) = app.call(Method::DELETE, &path, Some(&admin.bearer), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, unlimited) = tile(&app, &viewer.bearer, &pid, "0/0/0", ASKED).await;
    assert_eq!(unlimited["West"]["value"], 150.0, "{unlimited:?}");

    // Bad tiles and layers are 400s naming what is wrong.
    for (zxy, query, field) in [
        ("17/0/0", ASKED, "z"),
        ("2/4/0", ASKED, "x"),
        ("0/0/0", "dataset=shops&filters=%5B%5D", "dataset"),
        ("0/0/0", "dataset=nothing", "dataset"),
        ("0/0/0", "dataset=zones&indicator=nothing", "indicator"),
    ] {
        let (status, body) = tile(&app, &admin.bearer, &pid, zxy, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{zxy}?{query}: {body:?}");
        let text = body["error"].to_string();
        assert!(text.contains(field), "{zxy}?{query}: {text}");
    }
    // Without a session or bearer, nothing.
    let anonymous = app
        .client
        .get(format!("{}/projects/{pid}/views/retail/tiles/0/0/0?{ASKED}", app.base))
        .send()
        .await
        .unwrap();
    assert_ne!(anonymous.status(), StatusCode::OK);
}

//! Isochrones from a routing engine with Valhalla's `/isochrone` API
//! (`--routing-url`): for `car`, `bike` and `foot` point queries, the area
//! reachable from a point, as a GeoJSON polygon.
//!
//! The engine is the operator's (often on the same host), so its address is
//! not checked like a user's URL. Each point's isochrone is one request with
//! a time limit; an engine that fails, times out or answers something that
//! is not a polygon fails that point's entry, not the job.

use std::time::Duration;

use locus_data::query::points::Isochrone;
use serde_json::{json, Value};

/// A routing engine at `base` (`http://valhalla:8002`).
#[derive(Debug, Clone)]
pub struct Router {
    base: String,
    client: reqwest::Client,
}

impl Router {
    pub fn new(base: &str, timeout: Duration) -> Result<Router, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("the routing client: {e}"))?;
        Ok(Router {
            base: base.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// The area reachable from (`lat`, `lng`): a GeoJSON Polygon or MultiPolygon.
    pub async fn isochrone(&self, lat: f64, lng: f64, how: &Isochrone) -> Result<Value, String> {
        let costing = match how.profile.as_str() {
            "car" => "auto",
            "bike" => "bicycle",
            _ => "pedestrian",
        };
        let contour = match (how.minutes, how.metres) {
            (Some(minutes), _) => json!({"time": minutes}),
            (None, Some(metres)) => json!({"distance": metres / 1000.0}),
            (None, None) => return Err("the isochrone has no amount".into()),
        };
        let request = json!({"locations": [{"lat": lat, "lon": lng}], "costing": costing,
            "contours": [contour], "polygons": true});
        let url = format!("{}/isochrone", self.base);
        let response = self
            .client
            .post(&url)
            .json(&request)
            .send()
            .await
            .map_err(|e| format!("the routing engine did not answer: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("the routing engine answered {status} with no JSON: {e}"))?;
        if !status.is_success() {
            let why = body.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            return Err(format!("the routing engine answered {status}: {why}"));
        }
        let geometry = body
            .pointer("/features/0/geometry")
            .filter(|g| matches!(g.get("type").and_then(Value::as_str), Some("Polygon" | "MultiPolygon")))
            .ok_or("the routing engine's answer holds no polygon (expected a GeoJSON FeatureCollection)")?;
        locus_data::query::points::area_shape(geometry).map_err(|e| e.to_string())?;
        Ok(geometry.clone())
    }
}

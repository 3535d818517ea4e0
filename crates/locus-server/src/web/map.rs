//! The map of a view (issue 19): the page's script (`static/map.js`) draws
//! the view's dashboard indicators with MapLibre GL JS, which, like the
//! Natural Earth outlines of the base layer, comes from the npm registry at
//! build time (`build.rs`, `assets/package-lock.json`) and is served here,
//! from Locus's own origin: the map works with no internet.
//!
//! The script reads two JSON documents through the visitor's session:
//! `…/views/{view}/map` (the indicators of the view's dashboard, the
//! datasets it can be drawn at, the visitor's locked data-permission filters)
//! and the layer drawn: for polygons and lines `…/views/{view}/layer` (how
//! many features, their values for the legend, their bounds) and then
//! `…/views/{view}/tiles/{z}/{x}/{y}` (vector tiles that MapLibre asks for
//! as the map moves), for points `…/views/{view}/features` (a GeoJSON
//! FeatureCollection); each with one indicator's values computed by the
//! query engine, filtered by the visitor's data permissions.
//! `…/views/{view}/values` gives each indicator's value over the whole
//! (filtered) map for the side panel.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use locus_core::metadata::MdType;
use locus_store::MdKey;
use serde::Deserialize;
use serde_json::{json, Value};

use super::render::WebError;
use super::session::Member;
use crate::auth::access::{need, Authorized, Required};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::AppState;

macro_rules! vendor {
    ($path:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/npm/node_modules/", $path))
    };
}

const MAPLIBRE: &[u8] = vendor!("maplibre-gl/dist/maplibre-gl.mjs");
const MAPLIBRE_WORKER: &[u8] = vendor!("maplibre-gl/dist/maplibre-gl-worker.mjs");
const MAPLIBRE_CSS: &[u8] = vendor!("maplibre-gl/dist/maplibre-gl.css");
const TOPOJSON: &[u8] = vendor!("topojson-client/dist/topojson-client.min.js");
// Country outlines: the coarse ones (110 KB) draw the first frame, the
// detailed ones (740 KB) replace them once the map has opened.
const COUNTRIES_COARSE: &[u8] = vendor!("world-atlas/countries-110m.json");
const COUNTRIES: &[u8] = vendor!("world-atlas/countries-50m.json");
const MAP_SCRIPT: &str = include_str!("../../static/map.js");

/// The content security policy of the view page: the map's worker is a
/// module script of this origin; tiles, when the operator configures a tile
/// URL, come from its origin too.
pub fn view_csp(settings: &crate::Settings) -> String {
    let tiles = settings
        .map_tile_url
        .as_deref()
        .and_then(|u| url::Url::parse(&u.replace(['{', '}'], "")).ok())
        .map(|u| format!(" {}", u.origin().ascii_serialization()))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; worker-src 'self' blob:; style-src 'self'; img-src 'self' data: blob:{tiles}; \
         connect-src 'self'{tiles}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// `/static/vendor/{file}`: the npm libraries, and `/static/map.js`.
pub async fn vendor(Path(file): Path<String>) -> Response {
    let (body, kind): (&'static [u8], &'static str) = match file.as_str() {
        "maplibre-gl.mjs" => (MAPLIBRE, "text/javascript; charset=utf-8"),
        "maplibre-gl-worker.mjs" => (MAPLIBRE_WORKER, "text/javascript; charset=utf-8"),
        "maplibre-gl.css" => (MAPLIBRE_CSS, "text/css; charset=utf-8"),
        "topojson-client.min.js" => (TOPOJSON, "text/javascript; charset=utf-8"),
        "countries-110m.json" => (COUNTRIES_COARSE, "application/json"),
        "countries-50m.json" => (COUNTRIES, "application/json"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut response = static_file(body, kind);
    if file == "maplibre-gl-worker.mjs" {
        // A worker runs under its own script's policy: this one fetches the
        // map's vector tiles from this origin (and nothing else).
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; connect-src 'self'"),
        );
    }
    response
}

pub async fn script() -> Response {
    static_file(MAP_SCRIPT.as_bytes(), "text/javascript; charset=utf-8")
}

fn static_file(body: &'static [u8], kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        body,
    )
        .into_response()
}

/// Who reads a map's JSON: a member through the page's session, or a
/// public visitor through the bearer its page exchanged from the share
/// link's token (an `Authorization` header), decided by the same
/// [`Authorized`] check either way.
pub struct MapReader<P> {
    pub access: Authorized<P>,
}

impl<P: Required + Send + Sync> FromRequestParts<AppState> for MapReader<P> {
    /// The map's routes answer JSON, errors too (a 401 where a page would
    /// send the visitor to sign in).
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let access = Authorized::<P>::from_request_parts(parts, state).await?;
            return Ok(MapReader { access });
        }
        let member = Member::<P>::from_request_parts(parts, state).await.map_err(|e| match e {
            WebError::Api(e) => e,
            WebError::SignIn { .. } | WebError::Page { .. } => ApiError::Unauthorized("sign in to read this map"),
        })?;
        Ok(MapReader { access: member.access })
    }
}

/// `{view}` of the path; the project is the member extractor's.
#[derive(Debug, Deserialize)]
pub struct ViewPath {
    view: String,
}

/// The name a metadata link (`…/md/{type}?name=N` or `…/md/{type}/{id}`) points to.
fn link_key(link: &str) -> Option<MdKey<'_>> {
    if let Some((_, name)) = link.split_once("?name=") {
        return Some(MdKey::Name(name.split('&').next().unwrap_or(name)));
    }
    link.rsplit('/').next().filter(|s| !s.is_empty()).map(MdKey::IdOrName)
}

async fn linked(state: &AppState, pid: &str, t: MdType, link: Option<&str>) -> Result<Option<Value>, ApiError> {
    let Some(key) = link.and_then(link_key) else { return Ok(None) };
    let Some(object) = state.store.md_object(pid, t, key).await? else {
        return Ok(None);
    };
    let mut body = object.body_json()?;
    body["name"] = Value::from(object.name.clone());
    Ok(Some(body))
}

/// The indicator links of a dashboard, in order (blockRows, nested rows and groups).
fn indicator_links(blocks: &Value, out: &mut Vec<(String, Option<String>)>) {
    for block in blocks.as_array().map(Vec::as_slice).unwrap_or_default() {
        match block.get("type").and_then(Value::as_str) {
            Some("indicator") => {
                if let Some(l) = block.get("indicator").and_then(Value::as_str) {
                    let drill = block.get("indicatorDrill").and_then(Value::as_str).map(str::to_owned);
                    out.push((l.to_owned(), drill));
                }
            }
            _ => {
                indicator_links(block.get("blocks").unwrap_or(&Value::Null), out);
                indicator_links(block.get("blockRows").unwrap_or(&Value::Null), out);
            }
        }
    }
}

struct ViewMap {
    /// The view's title (its name when it has none).
    title: String,
    /// The view's `defaultVisualization` (areas, grid, dotmap, heatmap, …).
    visualization: Option<String>,
    indicators: Vec<Value>,
    datasets: Vec<Value>,
    granularity: Option<String>,
    /// `filterGroup` and `defaultActiveFilters` of the view, as they are.
    filters: Value,
    active: Value,
    /// The markers of the view's marker selector: `{name, title, dataset, color, visible, filters}`.
    markers: Vec<Value>,
}

/// A marker style (`marker-orange`) as a colour.
fn marker_color(style: &str) -> &'static str {
    let named = [
        ("orange", "#f28e2b"),
        ("red", "#e15759"),
        ("green", "#59a14f"),
        ("blue", "#4e79a7"),
        ("purple", "#b07aa1"),
        ("yellow", "#edc948"),
        ("pink", "#ff9da7"),
        ("brown", "#9c755f"),
        ("grey", "#7f7f7f"),
        ("gray", "#7f7f7f"),
        ("black", "#222222"),
    ];
    named.iter().find(|(n, _)| style.contains(n)).map_or("#4e79a7", |(_, c)| c)
}

/// The markers of a view's marker selector, with their rows' filters as FilterBy.
async fn markers(state: &AppState, pid: &str, view: &Value) -> Result<Vec<Value>, ApiError> {
    let Some(selector) = linked(
        state,
        pid,
        MdType::MarkerSelectors,
        view.pointer("/content/markerSelector").and_then(Value::as_str),
    )
    .await?
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for category in selector
        .pointer("/content/categories")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let Some(dataset) = category.get("dataset").and_then(Value::as_str).and_then(link_key) else {
            continue;
        };
        let Some(dataset) = state.store.md_object(pid, MdType::Datasets, dataset).await? else {
            continue;
        };
        for entry in category.get("markers").and_then(Value::as_array).cloned().unwrap_or_default() {
            let Some(marker) = linked(state, pid, MdType::Markers, entry.get("marker").and_then(Value::as_str)).await? else {
                continue;
            };
            let filters: Vec<Value> = marker
                .pointer("/content/propertyFilters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    json!({"property": format!("{}.{}", dataset.name, f.get("propertyName").and_then(Value::as_str).unwrap_or_default()),
                        "operator": f.get("operator").cloned().unwrap_or(Value::from("eq")), "value": f.get("value").cloned().unwrap_or(Value::Null)})
                })
                .collect();
            let style = marker.pointer("/content/style").and_then(Value::as_str).unwrap_or_default();
            out.push(
                json!({"name": marker["name"], "title": marker.get("title").cloned().unwrap_or_else(|| marker["name"].clone()),
                "dataset": dataset.name, "color": marker_color(style),
                "visible": entry.get("visible").and_then(Value::as_bool).unwrap_or(true), "filters": filters}),
            );
        }
    }
    Ok(out)
}

async fn view_map(state: &AppState, access: &Authorized<need::DwhQuery>, view: &str) -> Result<ViewMap, ApiError> {
    let pid = access.project.id.as_str();
    let found = crate::routes::metadata::find_visible(state, access, MdType::Views, MdKey::IdOrName(view)).await?;
    let view = found.body_json()?;
    let dashboard = linked(
        state,
        pid,
        MdType::Dashboards,
        view.pointer("/content/dashboard").and_then(Value::as_str),
    )
    .await?;
    let mut links = Vec::new();
    if let Some(d) = &dashboard {
        indicator_links(d.pointer("/content/blockRows").unwrap_or(&Value::Null), &mut links);
    }
    let mut indicators = Vec::new();
    for (link, drill) in links {
        if let Some(i) = linked(state, pid, MdType::Indicators, Some(&link)).await? {
            let content = i.get("content").cloned().unwrap_or(Value::Null);
            indicators.push(json!({
                "name": i["name"], "title": i.get("title").cloned().unwrap_or_else(|| i["name"].clone()),
                "metric": content.get("metric"), "format": content.get("format"), "scale": content.get("scale"),
                "distribution": content.get("distribution"), "drill": drill,
            }));
        }
    }
    let mut datasets = Vec::new();
    for o in state.store.md_all(pid, Some(MdType::Datasets)).await? {
        let body = o.body_json()?;
        let subtype = body.pointer("/ref/subtype").and_then(Value::as_str).unwrap_or_default();
        if body.pointer("/ref/type").and_then(Value::as_str) == Some("dwh")
            && matches!(subtype, "geometryPolygon" | "geometryPoint" | "geometryLine")
        {
            datasets.push(json!({"name": o.name, "title": o.title.clone().unwrap_or_else(|| o.name.clone()),
                "subtype": subtype, "titleProperty": crate::routes::dwh::title_property(&body)}));
        }
    }
    let granularity = view
        .pointer("/content/defaultGranularity")
        .and_then(Value::as_str)
        .and_then(|l| {
            l.split_once("?name=")
                .map(|(_, n)| n.to_owned())
                .or_else(|| l.rsplit('/').next().map(str::to_owned))
        })
        .filter(|g| datasets.iter().any(|d| d["name"] == *g))
        .or_else(|| datasets.first().and_then(|d| d["name"].as_str()).map(str::to_owned));
    Ok(ViewMap {
        title: found.title.clone().unwrap_or_else(|| found.name.clone()),
        visualization: view
            .pointer("/content/defaultVisualization")
            .and_then(Value::as_str)
            .map(str::to_owned),
        indicators,
        datasets,
        granularity,
        markers: markers(state, pid, &view).await?,
        filters: view.pointer("/content/filterGroup").cloned().unwrap_or(Value::Array(Vec::new())),
        active: view
            .pointer("/content/defaultActiveFilters")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    })
}

fn json_response(value: impl serde::Serialize) -> Response {
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], axum::Json(value)).into_response()
}

/// `GET /projects/{id}/views/{view}/map`: what the map can show.
pub async fn config(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
) -> Result<Response, ApiError> {
    let access = &member.access;
    let map = view_map(&state, access, &path.view).await?;
    let context = crate::routes::dwh::context(&state, &access.project.id, &access.caller.account).await?;
    // The visitor's own data permissions, shown as locked filters.
    let locked: Vec<Value> = context
        .permissions
        .iter()
        .flat_map(|f| f.as_array().cloned().unwrap_or_default())
        .collect();
    Ok(json_response(json!({
        "title": map.title, "visualization": map.visualization, "indicators": map.indicators, "datasets": map.datasets, "granularity": map.granularity,
        "lockedFilters": locked, "tileUrl": state.settings.map_tile_url,
        "filters": map.filters, "activeFilters": map.active, "markers": map.markers,
    })))
}

#[derive(Debug, Deserialize)]
pub struct FeaturesQuery {
    dataset: String,
    indicator: Option<String>,
    /// A marker of the view: its rows (its property filters), with no values.
    marker: Option<String>,
    /// A JSON array of FilterBy objects.
    filters: Option<String>,
    /// Draw a point dataset as H3 hexagons of this resolution (0 to 15).
    grid: Option<u8>,
    /// The map's zoom (0 to 24): lines and polygons simplified to it.
    zoom: Option<u8>,
}

fn filters(text: Option<&str>) -> Result<Value, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(Value::Array(Vec::new())),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(v @ Value::Array(_)) => Ok(v),
            _ => Err(ApiError::bad_request("filters", "a JSON array of filters")),
        },
    }
}

/// The layer a map route draws, as its query string names it: a map
/// dataset of the view, the metric of one of its indicators, the filters
/// (a marker's own, for a marker), and what the caller reads under.
struct AskedLayer {
    dataset: Value,
    metric: Option<Value>,
    filter_by: Value,
    context: crate::routes::dwh::Context,
}

impl AskedLayer {
    async fn of(state: &AppState, access: &Authorized<need::DwhQuery>, view: &str, q: &FeaturesQuery) -> Result<Self, ApiError> {
        let map = view_map(state, access, view).await?;
        let dataset = map
            .datasets
            .iter()
            .find(|d| d["name"] == q.dataset.as_str())
            .cloned()
            .ok_or_else(|| ApiError::bad_request("dataset", "not a map dataset of this project"))?;
        let metric = match q.indicator.as_deref() {
            None => None,
            Some(name) => {
                let i = map
                    .indicators
                    .iter()
                    .find(|i| i["name"] == name)
                    .ok_or_else(|| ApiError::bad_request("indicator", "not an indicator of this view"))?;
                Some(json!({"type": "metric", "metric": i["metric"]}))
            }
        };
        let mut filter_by = filters(q.filters.as_deref())?;
        if let Some(name) = q.marker.as_deref() {
            let marker = map
                .markers
                .iter()
                .find(|m| m["name"] == name && m["dataset"] == q.dataset.as_str())
                .ok_or_else(|| ApiError::bad_request("marker", "not a marker of this view's marker selector for this dataset"))?;
            filter_by = marker["filters"].clone();
        }
        let context = crate::routes::dwh::context(state, &access.project.id, &access.caller.account).await?;
        Ok(AskedLayer {
            dataset,
            metric,
            filter_by,
            context,
        })
    }

    fn layer(&self, zoom: Option<u8>) -> locus_data::query::Layer<'_> {
        locus_data::query::Layer {
            dataset: self.dataset["name"].as_str().unwrap_or_default(),
            title: self.dataset["titleProperty"].as_str(),
            value: self.metric.as_ref(),
            filter_by: &self.filter_by,
            zoom,
            fingerprint: Some(self.context.fingerprint()),
        }
    }
}

/// `GET /projects/{id}/views/{view}/features?dataset&indicator&filters`: GeoJSON.
pub async fn features(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
    Query(q): Query<FeaturesQuery>,
) -> Result<Response, ApiError> {
    if q.zoom.is_some_and(|z| z > 24) {
        return Err(ApiError::bad_request("zoom", "a map zoom from 0 to 24"));
    }
    let asked = AskedLayer::of(&state, &member.access, &path.view, &q).await?;
    let layer = asked.layer(q.zoom);
    let (data, snapshot, perms) = (&state.data, &asked.context.snapshot, &asked.context.filters);
    match q.grid {
        Some(resolution) if resolution > 15 => Err(ApiError::bad_request("grid", "an H3 resolution from 0 to 15")),
        Some(resolution) => {
            let grid = state.engine.grid(data, snapshot, &layer, resolution, perms).await;
            Ok(json_response(grid.map_err(ApiError::from)?))
        }
        None => {
            let features = state.engine.features(data, snapshot, &layer, perms).await;
            Ok(json_response(features.map_err(ApiError::from)?))
        }
    }
}

/// `GET /projects/{id}/views/{view}/layer?dataset&indicator&filters`: what
/// the map needs of a polygon or line layer before its tiles: how many
/// features, their values (for the legend) and their bounds.
pub async fn layer(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
    Query(q): Query<FeaturesQuery>,
) -> Result<Response, ApiError> {
    let asked = AskedLayer::of(&state, &member.access, &path.view, &q).await?;
    let (data, snapshot, perms) = (&state.data, &asked.context.snapshot, &asked.context.filters);
    let summary = state.engine.layer_summary(data, snapshot, &asked.layer(None), perms).await;
    Ok(json_response(summary.map_err(ApiError::from)?))
}

/// `{view}/tiles/{z}/{x}/{y}` of the path.
#[derive(Debug, Deserialize)]
pub struct TilePath {
    view: String,
    z: u8,
    x: u32,
    y: u32,
}

/// `GET /projects/{id}/views/{view}/tiles/{z}/{x}/{y}?dataset&indicator&filters`:
/// a vector tile (MVT) of a polygon or line layer, values joined in.
pub async fn tile(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<TilePath>,
    Query(q): Query<FeaturesQuery>,
) -> Result<Response, ApiError> {
    let asked = AskedLayer::of(&state, &member.access, &path.view, &q).await?;
    let (data, snapshot, perms) = (&state.data, &asked.context.snapshot, &asked.context.filters);
    let tile = state
        .engine
        .tile(data, snapshot, &asked.layer(None), (path.z, path.x, path.y), perms)
        .await
        .map_err(ApiError::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.mapbox-vector-tile")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        tile,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct PropertyQuery {
    property: String,
}

/// `GET /projects/{id}/views/{view}/options?property=`: the values a select
/// filter of the view offers (the visitor's data permissions apply).
pub async fn options(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
    Query(q): Query<PropertyQuery>,
) -> Result<Response, ApiError> {
    let access = &member.access;
    let map = view_map(&state, access, &path.view).await?;
    let offered = map.filters.as_array().is_some_and(|fs| {
        fs.iter()
            .any(|f| f.get("property").and_then(Value::as_str) == Some(q.property.as_str()))
    });
    if !offered {
        return Err(ApiError::bad_request("property", "not a filter of this view"));
    }
    let context = crate::routes::dwh::context(&state, &access.project.id, &access.caller.account).await?;
    let values = state
        .engine
        .property_values(&state.data, &context.snapshot, &q.property, None, false, &context.filters)
        .await
        .map_err(ApiError::from)?;
    Ok(json_response(Value::Array(values)))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    dataset: String,
    query: String,
}

/// `GET /projects/{id}/views/{view}/search?dataset&query`: features of a map
/// dataset whose title has the words, to fly to.
pub async fn search(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let access = &member.access;
    let map = view_map(&state, access, &path.view).await?;
    let title = map
        .datasets
        .iter()
        .find(|d| d["name"] == q.dataset.as_str())
        .and_then(|d| d["titleProperty"].as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::bad_request("dataset", "not a map dataset with a title"))?;
    let context = crate::routes::dwh::context(&state, &access.project.id, &access.caller.account).await?;
    let found = state
        .engine
        .search(
            &state.data,
            &context.snapshot,
            &q.dataset,
            &title,
            q.query.trim(),
            20,
            &context.filters,
        )
        .await
        .map_err(ApiError::from)?;
    Ok(json_response(Value::Array(found.hits)))
}

#[derive(Debug, Deserialize)]
pub struct DrillQuery {
    dataset: String,
    /// The feature's primary key, as JSON (a number or a string).
    id: String,
    indicator: Option<String>,
    filters: Option<String>,
}

/// `GET /projects/{id}/views/{view}/drill?dataset&id&indicator&filters`: a
/// clicked feature: every indicator's value for it, and the blocks of the
/// selected indicator's drill (`categories` split by a property, `ranking`
/// among all features). Other block types are listed without values.
pub async fn drill(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
    Query(q): Query<DrillQuery>,
) -> Result<Response, ApiError> {
    let access = &member.access;
    let pid = access.project.id.as_str();
    let map = view_map(&state, access, &path.view).await?;
    if !map.datasets.iter().any(|d| d["name"] == q.dataset.as_str()) {
        return Err(ApiError::bad_request("dataset", "not a map dataset of this project"));
    }
    let id: Value = serde_json::from_str(&q.id).unwrap_or(Value::String(q.id.clone()));
    let context = crate::routes::dwh::context(&state, &access.project.id, &access.caller.account).await?;
    let model = &context.snapshot.model;
    let def = model
        .datasets
        .get(&q.dataset)
        .ok_or_else(|| ApiError::bad_request("dataset", "not a dwh dataset"))?;
    let pk = format!("{}.{}", q.dataset, def.primary_key);
    let base = filters(q.filters.as_deref())?;
    let mut here = base.as_array().cloned().unwrap_or_default();
    here.push(json!({"property": pk, "operator": "eq", "value": id}));
    let run = |body: Value| {
        let state = &state;
        let context = &context;
        async move {
            let request = context.request(&body)?;
            state.engine.query(&state.data, &context.snapshot, &request, &context.filters).await
        }
    };
    let mut values = Vec::new();
    for i in &map.indicators {
        let body = json!({"properties": [{"id": "value", "type": "metric", "metric": i["metric"]}], "filterBy": here});
        let value = run(body)
            .await
            .ok()
            .and_then(|out| out.rows.into_iter().next())
            .and_then(|mut r| r.remove("value"));
        values.push(json!({"name": i["name"], "title": i["title"], "value": value, "format": i["format"]}));
    }
    let mut blocks = Vec::new();
    let selected = q.indicator.as_deref().and_then(|n| map.indicators.iter().find(|i| i["name"] == n));
    if let Some(indicator) = selected {
        let drill = linked(&state, pid, MdType::IndicatorDrills, indicator["drill"].as_str()).await?;
        for block in drill
            .and_then(|d| d.pointer("/content/blocks").cloned())
            .and_then(|b| b.as_array().cloned())
            .unwrap_or_default()
        {
            let kind = block.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
            let metric = match block.get("indicator").and_then(Value::as_str) {
                Some(link) => linked(&state, pid, MdType::Indicators, Some(link))
                    .await?
                    .and_then(|i| i.pointer("/content/metric").cloned()),
                None => None,
            }
            .unwrap_or_else(|| indicator["metric"].clone());
            let title = block.get("title").cloned().unwrap_or(Value::from(kind.clone()));
            let rows = match kind.as_str() {
                "categories" => {
                    let split = block.get("splitProperty").and_then(Value::as_str).unwrap_or_default();
                    let limit = block.get("sizeLimit").and_then(Value::as_u64).unwrap_or(10).clamp(1, 100);
                    let body = json!({"properties": [{"id": "label", "type": "property", "value": split},
                        {"id": "value", "type": "metric", "metric": metric}], "filterBy": here,
                        "orderBy": [{"propertyId": "value", "direction": "desc"}], "limit": limit});
                    match run(body).await {
                        Ok(out) => json!(out.rows),
                        Err(e) => json!({"error": e.to_string()}),
                    }
                }
                "ranking" => {
                    let body = json!({"properties": [{"id": "id", "type": "property", "value": pk},
                        {"id": "value", "type": "metric", "metric": metric}], "filterBy": base,
                        "orderBy": [{"propertyId": "value", "direction": "desc"}]});
                    match run(body).await {
                        Ok(out) => {
                            let of = out.rows.len();
                            let rank = out.rows.iter().position(|r| r.get("id") == Some(&id)).map(|p| p + 1);
                            json!([{"label": "rank", "value": rank, "of": of}])
                        }
                        Err(e) => json!({"error": e.to_string()}),
                    }
                }
                "distribution" => {
                    // Where the feature stands among all of the map's features:
                    // ten equal buckets of the values, the feature's marked.
                    let body = json!({"properties": [{"id": "id", "type": "property", "value": pk},
                        {"id": "value", "type": "metric", "metric": metric}], "filterBy": base});
                    match run(body).await {
                        Ok(out) => histogram(&out.rows, &id),
                        Err(e) => json!({"error": e.to_string()}),
                    }
                }
                "timeSeries" => {
                    // The indicator over the dates of the block's period
                    // dataset (or the project's first date dataset), for this feature.
                    let period = match block.get("defaultPeriod").and_then(Value::as_str).and_then(link_key) {
                        Some(key) => state
                            .store
                            .md_object(pid, MdType::Datasets, key)
                            .await
                            .map_err(ApiError::from)?
                            .map(|o| o.name),
                        None => None,
                    }
                    .or_else(|| {
                        model
                            .datasets
                            .values()
                            .find(|d| d.subtype == locus_data::Subtype::Date)
                            .map(|d| d.name.clone())
                    });
                    match period.as_ref().and_then(|p| model.datasets.get(p)) {
                        None => json!({"error": "no date dataset to draw a time series over"}),
                        Some(dates) => {
                            let date = format!("{}.{}", dates.name, dates.primary_key);
                            let body = json!({"properties": [{"id": "label", "type": "property", "value": date},
                                {"id": "value", "type": "metric", "metric": metric}], "filterBy": here,
                                "orderBy": [{"propertyId": "label"}], "limit": 1000});
                            match run(body).await {
                                Ok(out) => json!(out.rows),
                                Err(e) => json!({"error": e.to_string()}),
                            }
                        }
                    }
                }
                _ => Value::Null,
            };
            blocks.push(json!({"type": kind, "title": title, "rows": rows}));
        }
    }
    Ok(json_response(
        json!({"dataset": q.dataset, "id": id, "values": values, "blocks": blocks}),
    ))
}

/// Ten equal-width buckets of the rows' `value`s: `{label, value: count,
/// from, to, selected}`, `selected` on the bucket of the row whose `id` is `id`.
fn histogram(rows: &[serde_json::Map<String, Value>], id: &Value) -> Value {
    const BUCKETS: usize = 10;
    let values: Vec<(f64, bool)> = rows
        .iter()
        .filter_map(|r| Some((r.get("value")?.as_f64()?, r.get("id") == Some(id))))
        .collect();
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (v, _)| (lo.min(*v), hi.max(*v)));
    if values.is_empty() {
        return json!([]);
    }
    let width = (high - low) / BUCKETS as f64;
    let bucket = |v: f64| {
        if width > 0.0 {
            // Truncation is the bucketing; the top value goes in the last bucket.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let b = ((v - low) / width) as usize;
            b.min(BUCKETS - 1)
        } else {
            0
        }
    };
    let mut counts = [0u64; BUCKETS];
    let mut selected = None;
    for &(v, this) in &values {
        counts[bucket(v)] += 1;
        if this {
            selected = Some(bucket(v));
        }
    }
    let used = if width > 0.0 { BUCKETS } else { 1 };
    let out: Vec<Value> = (0..used)
        .map(|b| {
            let from = low + width * b as f64;
            let to = if b + 1 == used { high } else { low + width * (b + 1) as f64 };
            json!({"label": format!("{from} – {to}"), "from": from, "to": to, "value": counts[b], "selected": selected == Some(b)})
        })
        .collect();
    Value::Array(out)
}

#[derive(Debug, Deserialize)]
pub struct ValuesQuery {
    filters: Option<String>,
}

/// `GET /projects/{id}/views/{view}/values?filters`: each indicator's value over the map.
pub async fn values(
    State(state): State<AppState>,
    member: MapReader<need::DwhQuery>,
    Path(path): Path<ViewPath>,
    Query(q): Query<ValuesQuery>,
) -> Result<Response, ApiError> {
    let access = &member.access;
    let map = view_map(&state, access, &path.view).await?;
    let filter_by = filters(q.filters.as_deref())?;
    let context = crate::routes::dwh::context(&state, &access.project.id, &access.caller.account).await?;
    // All the indicators in one query (one pass over their facts)...
    let together: Vec<Value> = map
        .indicators
        .iter()
        .enumerate()
        .map(|(k, i)| json!({"id": format!("i{k}"), "type": "metric", "metric": i["metric"]}))
        .collect();
    if let Ok(request) = context.request(&json!({"properties": together, "filterBy": filter_by})) {
        if let Ok(result) = state.engine.query(&state.data, &context.snapshot, &request, &context.filters).await {
            let row = result.rows.first();
            let out: Vec<Value> = map
                .indicators
                .iter()
                .enumerate()
                .map(|(k, i)| json!({"name": i["name"], "value": row.and_then(|r| r.get(&format!("i{k}"))).cloned()}))
                .collect();
            return Ok(json_response(Value::Array(out)));
        }
    }
    // ...and, when that fails, one by one, so that each failing one says why.
    let mut out = Vec::new();
    for i in &map.indicators {
        let body = json!({"properties": [{"id": "value", "type": "metric", "metric": i["metric"]}], "filterBy": filter_by});
        let value = match context.request(&body) {
            Ok(request) => match state.engine.query(&state.data, &context.snapshot, &request, &context.filters).await {
                Ok(result) => json!({"name": i["name"], "value": result.rows.first().and_then(|r| r.get("value")).cloned()}),
                Err(e) => json!({"name": i["name"], "error": e.to_string()}),
            },
            Err(e) => json!({"name": i["name"], "error": e.to_string()}),
        };
        out.push(value);
    }
    Ok(json_response(Value::Array(out)))
}

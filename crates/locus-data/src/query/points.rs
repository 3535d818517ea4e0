//! Bulk point queries (api-contract.md §7.2, issue 18): for one location, the
//! rows of a point dataset that are `nearest` to it, or inside an `air`
//! isochrone (a great-circle radius) around it, and what the query's
//! `properties` compute over them, through the same compiler, filters and
//! data permissions as every other query.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use datafusion::datasource::{MemTable, TableProvider};
use serde_json::{json, Map, Value};

use super::ast::{Filter, Parser};
use super::plan::EARTH_RADIUS_M;
use super::{Engine, QueryError, Snapshot};
use crate::DataStore;

/// Which rows around a point a point query takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Around {
    /// The `n` nearest rows.
    Nearest(usize),
    /// Every row within this many metres.
    Within(f64),
    /// Every row inside the area a routing engine reaches from the point
    /// (the caller asks the engine and passes the area to
    /// [`Engine::point_query`]).
    Routed(Isochrone),
}

/// A routed isochrone: how far, by which means.
#[derive(Debug, Clone, PartialEq)]
pub struct Isochrone {
    /// `car`, `bike` or `foot`.
    pub profile: String,
    /// Minutes of travel, or else…
    pub minutes: Option<f64>,
    /// …metres along the network.
    pub metres: Option<f64>,
}

/// One point query of a request, already checked.
#[derive(Debug, Clone)]
pub struct PointQuery {
    pub id: String,
    pub dataset: String,
    pub around: Around,
    /// `properties`, `filterBy`, `having`, `resultSetFilter`, `orderBy`,
    /// `variables`, `limit` of the point query (a DwhQueryRequest without
    /// the properties when it gives none).
    pub query: Value,
}

impl PointQuery {
    /// Checks the query against the model at `path` (a JSON path for errors).
    pub fn check(&self, snapshot: &Snapshot, path: &str) -> Result<(), QueryError> {
        let pk = self.primary_key(snapshot, path)?;
        let body = self.body(&pk, (0.0, 0.0), &[]);
        Parser::new(&snapshot.model).request(&body, path).map(|_| ())
    }

    /// A property of the rows this query would answer bare (not inside an
    /// aggregate), if any: what a caller limited to aggregates may not see.
    /// A query with no properties lists the rows' ids.
    pub fn row_property(&self, snapshot: &Snapshot) -> Option<String> {
        let given = self.query.get("properties").and_then(Value::as_array).filter(|p| !p.is_empty());
        let Some(given) = given else {
            return Some(format!(
                "{}.{} (the rows' ids; give aggregate properties)",
                self.dataset,
                snapshot.model.datasets.get(&self.dataset).map_or("id", |d| d.primary_key.as_str())
            ));
        };
        let mut parser = Parser::new(&snapshot.model);
        for (i, node) in given.iter().enumerate() {
            if let Ok(parsed) = parser.node(node, &format!("properties[{i}]"), &super::ast::AggScope::default()) {
                if let Some(p) = parsed.bare_properties().first() {
                    return Some(p.column());
                }
            }
        }
        None
    }

    fn primary_key(&self, snapshot: &Snapshot, path: &str) -> Result<String, QueryError> {
        snapshot.model.lat_lng(&self.dataset).map_err(|m| {
            QueryError::new(
                &format!("{path}.dataset"),
                format!("{m}: point queries look for rows of a point dataset"),
            )
        })?;
        let def = &snapshot.model.datasets[&self.dataset];
        Ok(format!("{}.{}", self.dataset, def.primary_key))
    }

    fn distance(&self, point: (f64, f64)) -> Value {
        json!({"type": "function_distance", "options": {"dataset": self.dataset, "centralPoint": {"lat": point.0, "lng": point.1}}})
    }

    /// The query over the rows found: the given properties (with the row's id
    /// and distance when nothing is aggregated), or the rows' ids and distances.
    fn body(&self, pk: &str, point: (f64, f64), ids: &[Value]) -> Value {
        let mut body = self.query.as_object().cloned().unwrap_or_default();
        let given: Vec<Value> = body.get("properties").and_then(Value::as_array).cloned().unwrap_or_default();
        let aggregated = given.iter().any(|p| {
            p.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t == "metric" || t.starts_with("function_"))
        });
        let mut properties = Vec::new();
        if !aggregated {
            properties.push(json!({"id": "id", "type": "property", "value": pk}));
            let mut distance = self.distance(point);
            distance["id"] = json!("distance");
            properties.push(distance);
        }
        properties.extend(given);
        body.insert("properties".into(), Value::Array(properties));
        let mut filters: Vec<Value> = body.get("filterBy").and_then(Value::as_array).cloned().unwrap_or_default();
        match self.around {
            Around::Nearest(_) | Around::Routed(_) => filters.push(json!({"property": pk, "operator": "in", "value": ids})),
            Around::Within(metres) => filters.push(json!({"function": self.distance(point), "operator": "lte", "value": metres})),
        }
        body.insert("filterBy".into(), Value::Array(filters));
        if !aggregated && !body.contains_key("orderBy") {
            body.insert("orderBy".into(), json!([{"propertyId": "distance"}]));
        }
        Value::Object(body)
    }
}

/// Names of the columns the rows around points carry besides their own:
/// which point (its position in the job), how far from it, and which row of
/// the index. No dataset
/// property may start with `__` (see schema.rs), so they cannot clash.
const POINT_COLUMN: &str = "__point";
const DISTANCE_COLUMN: &str = "__distance";
/// The row's position in the [`PointIndex`].
const ROW_COLUMN: &str = "__row";

/// The model with the columns the rows around points add to `dataset`.
fn with_around_columns(model: &super::Model, dataset: &str) -> super::Model {
    let mut model = model.clone();
    if let Some(def) = model.datasets.get_mut(dataset) {
        for (name, ty) in [
            (POINT_COLUMN, crate::PropertyType::Integer),
            (DISTANCE_COLUMN, crate::PropertyType::Decimal),
            (ROW_COLUMN, crate::PropertyType::Integer),
        ] {
            def.properties.push(crate::PropertyDef {
                name: name.to_owned(),
                column: name.to_owned(),
                ty,
                foreign_key: None,
                calculated: true,
            });
        }
    }
    model
}

fn around_schema(rows: arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    let mut fields: Vec<Field> = rows.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(POINT_COLUMN, DataType::Int64, false));
    fields.push(Field::new(DISTANCE_COLUMN, DataType::Float64, false));
    fields.push(Field::new(ROW_COLUMN, DataType::Int64, false));
    std::sync::Arc::new(Schema::new(fields))
}

/// The answer of one point query at one point: the rows it computed.
pub type PointRows = Vec<Map<String, Value>>;

impl PointQuery {
    /// The query over the rows around every point ([`PointIndex::rows_around`]):
    /// the given properties per point (with each row's id and distance when
    /// nothing is aggregated), ordered by point first. The query's `limit`
    /// is for each point, so the caller applies it.
    ///
    /// Without `per_point`, the same query over all the rows as one (for
    /// what it computes over no rows at all).
    fn body_around(&self, pk: &str, aggregated: bool, per_point: bool) -> Value {
        let mut body = self.query.as_object().cloned().unwrap_or_default();
        let column = |name: &str| format!("{}.{name}", self.dataset);
        let mut properties = Vec::new();
        let mut order = Vec::new();
        if per_point {
            properties.push(json!({"id": POINT_COLUMN, "type": "property", "value": column(POINT_COLUMN)}));
            order.push(json!({"propertyId": POINT_COLUMN}));
        }
        if !aggregated {
            properties.push(json!({"id": "id", "type": "property", "value": pk}));
            properties.push(json!({"id": "distance", "type": "property", "value": column(DISTANCE_COLUMN)}));
        }
        properties.extend(body.get("properties").and_then(Value::as_array).cloned().unwrap_or_default());
        body.insert("properties".into(), Value::Array(properties));
        body.remove("limit");
        match body.get("orderBy").and_then(Value::as_array) {
            Some(given) => order.extend(given.iter().cloned()),
            None if !aggregated => order.push(json!({"propertyId": "distance"})),
            None => {}
        }
        body.insert("orderBy".into(), Value::Array(order));
        Value::Object(body)
    }
}

impl Engine {
    /// Runs one point query at every point of a job (lat, lng) for a caller
    /// with `perms`: the answer per point, in order. A [`Around::Routed`]
    /// query takes, per point, the `areas` the routing engine answered (a
    /// GeoJSON Polygon or MultiPolygon).
    ///
    /// The rows around every point are found in the dataset's spatial index
    /// and the properties are computed for all points by one plan over those
    /// rows, grouped by point. Where the index cannot know the rows (the
    /// nearest rows among those a filter or a data permission leaves), or
    /// where a window function must see one point's rows alone, each point
    /// is its own query.
    pub async fn point_queries(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        perms: &[Filter],
        query: &PointQuery,
        points: &[(f64, f64)],
        areas: &[Value],
    ) -> Result<Vec<PointRows>, QueryError> {
        let pk = query.primary_key(snapshot, "pointQueries")?;
        let shape = Shape::of(snapshot, query)?;
        let narrowed = !perms.is_empty() || has_filters(&query.query);
        if shape.windowed {
            let mut out = Vec::with_capacity(points.len());
            for (i, &point) in points.iter().enumerate() {
                out.push(self.point_query(data, snapshot, perms, point, query, &pk, areas.get(i)).await?);
            }
            return Ok(out);
        }
        let index = self.point_index(data, snapshot, &query.dataset).await?;
        let around = Snapshot {
            model: with_around_columns(&snapshot.model, &query.dataset),
            versions: snapshot.versions.clone(),
        };
        let shapes = areas.iter().map(area_shape).collect::<Result<Vec<_>, _>>()?;
        let found: Vec<Vec<Found>> = match query.around {
            Around::Nearest(n) if narrowed => self.nearest_passing(data, &around, perms, query, &index, points, n.max(1)).await?,
            _ => points
                .iter()
                .enumerate()
                .map(|(i, &point)| match &query.around {
                    &Around::Nearest(n) => Ok(index.nearest(point, n.max(1))),
                    &Around::Within(metres) => Ok(index.within(point, metres)),
                    Around::Routed(_) => shapes
                        .get(i)
                        .map(|area| index.inside(point, area))
                        .ok_or_else(|| QueryError::new("pointQueries", "a routed isochrone needs its area")),
                })
                .collect::<Result<_, _>>()?,
        };
        if asks_only_rows(&query.query) && !narrowed {
            // The rows' ids and distances are all it asks: the index has them.
            return Ok(found
                .into_iter()
                .map(|rows| {
                    rows.into_iter()
                        .map(|f| {
                            Map::from_iter([
                                ("id".to_owned(), index.rows[f.row].id.clone()),
                                ("distance".to_owned(), Value::from(f.metres)),
                            ])
                        })
                        .collect()
                })
                .collect());
        }
        // One plan for every point: the query over the rows found, grouped by point.
        let body = query.body_around(&pk, shape.aggregated, true);
        let request = Parser::new(&around.model).request(&body, "pointQueries")?;
        let rows = std::sync::Arc::new(index.rows_around(&found, self.partitions)?);
        let overrides = HashMap::from([(query.dataset.clone(), rows as std::sync::Arc<dyn TableProvider>)]);
        let output = self.query_with(data, &around, &request, perms, &overrides).await?;
        let mut out: Vec<PointRows> = vec![Vec::new(); points.len()];
        let limit = query.query.get("limit").and_then(Value::as_u64).map_or(usize::MAX, |l| l as usize);
        for mut row in output.rows {
            let Some(p) = row.remove(POINT_COLUMN).and_then(|p| p.as_u64()) else {
                continue;
            };
            if let Some(rows) = out.get_mut(p as usize).filter(|rows| rows.len() < limit) {
                rows.push(row);
            }
        }
        if shape.aggregated && !shape.grouped {
            // A point with no rows around it gets what the query computes
            // over no rows (a count of 0), as a query of its own would.
            let none = index.rows_around(&[Vec::new()], 1)?;
            let overrides = HashMap::from([(
                query.dataset.clone(),
                std::sync::Arc::new(none) as std::sync::Arc<dyn TableProvider>,
            )]);
            let request = Parser::new(&around.model).request(&query.body_around(&pk, true, false), "pointQueries")?;
            let nothing = self.query_with(data, &around, &request, perms, &overrides).await?.rows;
            for rows in out.iter_mut().filter(|rows| rows.is_empty()) {
                rows.clone_from(&nothing);
            }
        }
        Ok(out)
    }

    /// The `n` nearest rows to each point among those the query's filters and
    /// the caller's permissions leave: the index's nearest `k` rows of every
    /// point still open are checked by one plan, and a point with fewer than
    /// `n` passing is asked again with `k` four times larger, until every
    /// row was a candidate. The passing candidates are the nearest passing
    /// rows, since every row left out is farther than all of them.
    #[allow(clippy::too_many_arguments)]
    async fn nearest_passing(
        &self,
        data: &DataStore,
        around: &Snapshot,
        perms: &[Filter],
        query: &PointQuery,
        index: &PointIndex,
        points: &[(f64, f64)],
        n: usize,
    ) -> Result<Vec<Vec<Found>>, QueryError> {
        let column = |name: &str| format!("{}.{name}", query.dataset);
        let body = json!({"properties": [{"id": POINT_COLUMN, "type": "property", "value": column(POINT_COLUMN)},
                {"id": ROW_COLUMN, "type": "property", "value": column(ROW_COLUMN)},
                {"id": DISTANCE_COLUMN, "type": "property", "value": column(DISTANCE_COLUMN)}],
            "filterBy": query.query.get("filterBy").cloned().unwrap_or(Value::Array(Vec::new())),
            "variables": query.query.get("variables").cloned().unwrap_or(Value::Null)});
        let request = Parser::new(&around.model).request(&body, "pointQueries")?;
        let mut out: Vec<Vec<Found>> = vec![Vec::new(); points.len()];
        let mut open: Vec<usize> = (0..points.len()).collect();
        let mut k = n.saturating_mul(4).max(16);
        while !open.is_empty() {
            let candidates: Vec<Vec<Found>> = open.iter().map(|&p| index.nearest(points[p], k)).collect();
            let rows = std::sync::Arc::new(index.rows_around(&candidates, self.partitions)?);
            let overrides = HashMap::from([(query.dataset.clone(), rows as std::sync::Arc<dyn TableProvider>)]);
            let passing = self.query_with(data, around, &request, perms, &overrides).await?;
            let mut kept: Vec<Vec<Found>> = vec![Vec::new(); open.len()];
            for row in &passing.rows {
                let field = |name: &str| row.get(name).and_then(Value::as_f64);
                if let (Some(p), Some(r), Some(metres)) = (field(POINT_COLUMN), field(ROW_COLUMN), field(DISTANCE_COLUMN)) {
                    if let Some(rows) = kept.get_mut(p as usize) {
                        rows.push(Found { row: r as usize, metres });
                    }
                }
            }
            let everything = k >= index.rows.len();
            let mut still = Vec::new();
            for (slot, mut rows) in open.into_iter().zip(kept) {
                if rows.len() >= n || everything {
                    index.sort(&mut rows);
                    rows.truncate(n);
                    out[slot] = rows;
                } else {
                    still.push(slot);
                }
            }
            open = still;
            k = k.saturating_mul(4);
        }
        Ok(out)
    }

    /// Runs one point query around one point: the rows around it found by
    /// a query of their own, then the query's properties over them.
    #[allow(clippy::too_many_arguments)]
    async fn point_query(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        perms: &[Filter],
        point: (f64, f64),
        query: &PointQuery,
        pk: &str,
        area: Option<&Value>,
    ) -> Result<PointRows, QueryError> {
        let model = &snapshot.model;
        let ids = match &query.around {
            Around::Within(_) => Vec::new(),
            Around::Routed(_) => {
                let area = area.ok_or_else(|| QueryError::new("pointQueries", "a routed isochrone needs its area"))?;
                self.inside(data, snapshot, perms, query, pk, &area_shape(area)?).await?
            }
            &Around::Nearest(n) => {
                let mut distance = query.distance(point);
                distance["id"] = json!("distance");
                let mut filters: Vec<Value> = query.query.get("filterBy").and_then(Value::as_array).cloned().unwrap_or_default();
                filters.push(json!({"function": query.distance(point), "operator": "isNotNull"}));
                let body = json!({"properties": [{"id": "id", "type": "property", "value": pk}, distance],
                    "filterBy": filters, "orderBy": [{"propertyId": "distance"}, {"propertyId": "id"}], "limit": n.max(1),
                    "variables": query.query.get("variables").cloned().unwrap_or(Value::Null)});
                let request = Parser::new(model).request(&body, "pointQueries")?;
                let found = self.query(data, snapshot, &request, perms).await?;
                found.rows.into_iter().filter_map(|mut r| r.remove("id")).collect()
            }
        };
        if ids.is_empty() && !matches!(query.around, Around::Within(_)) {
            return Ok(Vec::new());
        }
        let body = query.body(pk, point, &ids);
        let request = Parser::new(model).request(&body, "pointQueries")?;
        Ok(self.query(data, snapshot, &request, perms).await?.rows)
    }

    /// The ids of the rows of the query's dataset (with its filters and the
    /// caller's permissions) inside `area`: the rows in its bounding box, by
    /// one query, then geo's exact test on each.
    async fn inside(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        perms: &[Filter],
        query: &PointQuery,
        pk: &str,
        shape: &geo::Geometry,
    ) -> Result<Vec<Value>, QueryError> {
        use geo::{BoundingRect, Intersects};
        let Some(rect) = shape.bounding_rect() else { return Ok(Vec::new()) };
        let (lat, lng) = snapshot
            .model
            .lat_lng(&query.dataset)
            .map_err(|m| QueryError::new("pointQueries.dataset", m))?;
        let (lat, lng) = (lat.column(), lng.column());
        let mut filters: Vec<Value> = query.query.get("filterBy").and_then(Value::as_array).cloned().unwrap_or_default();
        filters.extend([
            json!({"property": lat, "operator": "gte", "value": rect.min().y}),
            json!({"property": lat, "operator": "lte", "value": rect.max().y}),
            json!({"property": lng, "operator": "gte", "value": rect.min().x}),
            json!({"property": lng, "operator": "lte", "value": rect.max().x}),
        ]);
        let body = json!({"properties": [{"id": "id", "type": "property", "value": pk},
                {"id": "lat", "type": "property", "value": lat}, {"id": "lng", "type": "property", "value": lng}],
            "filterBy": filters, "variables": query.query.get("variables").cloned().unwrap_or(Value::Null)});
        let request = Parser::new(&snapshot.model).request(&body, "pointQueries")?;
        let found = self.query(data, snapshot, &request, perms).await?;
        Ok(found
            .rows
            .into_iter()
            .filter_map(|mut row| {
                let (y, x) = (row.get("lat")?.as_f64()?, row.get("lng")?.as_f64()?);
                shape.intersects(&geo::Point::new(x, y)).then(|| row.remove("id")).flatten()
            })
            .collect())
    }
}

/// The routing engine's area as a geometry: a polygon or multipolygon.
pub fn area_shape(area: &Value) -> Result<geo::Geometry, QueryError> {
    use geozero::ToGeo;
    let garbage = |why: String| QueryError::new("pointQueries", format!("the routing engine's area: {why}"));
    let shape = geozero::geojson::GeoJson(&area.to_string())
        .to_geo()
        .map_err(|e| garbage(e.to_string()))?;
    if !matches!(shape, geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)) {
        return Err(garbage("not a polygon".into()));
    }
    Ok(shape)
}

/// What a point query's properties compute, read from the parsed query.
struct Shape {
    /// Some property aggregates (a measure per point, or per group).
    aggregated: bool,
    /// Some bare property groups the measures (several rows per point).
    grouped: bool,
    /// A window function or a percent of total: it must see one point's
    /// rows alone.
    windowed: bool,
}

impl Shape {
    fn of(snapshot: &Snapshot, query: &PointQuery) -> Result<Self, QueryError> {
        let mut shape = Shape {
            aggregated: false,
            grouped: false,
            windowed: false,
        };
        let given = query.query.get("properties").and_then(Value::as_array).filter(|p| !p.is_empty());
        let Some(given) = given else { return Ok(shape) };
        let body = json!({"properties": given, "variables": query.query.get("variables").cloned().unwrap_or(Value::Null)});
        let request = Parser::new(&snapshot.model).request(&body, "pointQueries")?;
        for output in &request.outputs {
            if output.node.has_aggregate() {
                shape.aggregated = true;
            } else {
                shape.grouped = true;
            }
            output
                .node
                .walk(&mut |n| shape.windowed |= matches!(n, super::ast::Node::Window { .. } | super::ast::Node::PercentToTotal(_)));
        }
        Ok(shape)
    }
}

/// Whether a point query asks for nothing but the rows found (their ids and
/// distances): no properties, filters, having, order or limit.
fn asks_only_rows(query: &Value) -> bool {
    query.as_object().is_none_or(|q| {
        q.iter()
            .all(|(k, v)| k == "variables" || (k == "properties" && v.as_array().is_some_and(Vec::is_empty)))
    })
}

/// Whether a point query narrows its rows with `filterBy`.
fn has_filters(query: &Value) -> bool {
    query.get("filterBy").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

/// A point dataset's rows on the unit sphere, in an R*-tree (rstar): the
/// straight-line (chord) distance between two points of the sphere grows
/// with their great-circle distance, so the tree's nearest neighbours are
/// the nearest rows on the Earth, in order. Built once per version.
pub(crate) struct PointIndex {
    tree: rstar::RTree<rstar::primitives::GeomWithData<[f64; 3], usize>>,
    /// Per row of the tree: its primary key, (lat, lng), and where it is
    /// in `batches` (batch, row).
    rows: Vec<IndexedRow>,
    /// The version's rows the index was built from (shared with the table
    /// cache, not copied), to take the rows found from.
    batches: Vec<arrow::record_batch::RecordBatch>,
}

struct IndexedRow {
    id: Value,
    lat: f64,
    lng: f64,
    at: (usize, usize),
}

fn on_sphere(lat: f64, lng: f64) -> [f64; 3] {
    let (lat, lng) = (lat.to_radians(), lng.to_radians());
    [lat.cos() * lng.cos(), lat.cos() * lng.sin(), lat.sin()]
}

/// Great-circle metres, as `function_distance` computes them.
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat0, lng0, lat1, lng1) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let (half_dlat, half_dlng) = (((lat1 - lat0) / 2.0).sin(), ((lng1 - lng0) / 2.0).sin());
    let h = half_dlat * half_dlat + lat0.cos() * lat1.cos() * half_dlng * half_dlng;
    2.0 * EARTH_RADIUS_M * h.sqrt().asin()
}

/// Orders primary keys as the query's `orderBy` on them does.
fn key_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.as_str().unwrap_or_default().cmp(b.as_str().unwrap_or_default()),
    }
}

impl PointIndex {
    fn build(batches: &[arrow::record_batch::RecordBatch], key: &str, lat: &str, lng: &str) -> Result<Self, QueryError> {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{DataType, Float64Type, Int64Type};
        let mut rows = Vec::new();
        let mut entries = Vec::new();
        for (b, batch) in batches.iter().enumerate() {
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| QueryError::Internal(format!("the stored rows have no column {name}")))
            };
            let (keys, lats, lngs) = (column(key)?, column(lat)?, column(lng)?);
            // Integer keys stay numbers; any other key is compared as text.
            let keys = if keys.data_type() == &DataType::Int64 {
                keys.clone()
            } else {
                arrow::compute::cast(keys, &DataType::Utf8).map_err(|e| QueryError::Internal(e.to_string()))?
            };
            let (Some(lats), Some(lngs)) = (lats.as_primitive_opt::<Float64Type>(), lngs.as_primitive_opt::<Float64Type>()) else {
                return Err(QueryError::Internal("latitude and longitude are not stored as numbers".into()));
            };
            for i in 0..batch.num_rows() {
                if keys.is_null(i) || lats.is_null(i) || lngs.is_null(i) {
                    continue;
                }
                let id = match (keys.as_primitive_opt::<Int64Type>(), keys.as_string_opt::<i32>()) {
                    (Some(ints), _) => Value::from(ints.value(i)),
                    (None, Some(text)) => Value::from(text.value(i)),
                    (None, None) => continue,
                };
                entries.push(rstar::primitives::GeomWithData::new(
                    on_sphere(lats.value(i), lngs.value(i)),
                    rows.len(),
                ));
                rows.push(IndexedRow {
                    id,
                    lat: lats.value(i),
                    lng: lngs.value(i),
                    at: (b, i),
                });
            }
        }
        Ok(PointIndex {
            tree: rstar::RTree::bulk_load(entries),
            rows,
            batches: batches.to_vec(),
        })
    }

    /// The `n` rows nearest to `point` (lat, lng) with their great-circle
    /// metres, nearest first; rows at the same distance in key order, as the
    /// query would give them.
    fn nearest(&self, point: (f64, f64), n: usize) -> Vec<Found> {
        use rstar::PointDistance;
        let here = on_sphere(point.0, point.1);
        let mut found: Vec<Found> = Vec::new();
        let mut last = f64::INFINITY;
        for entry in self.tree.nearest_neighbor_iter(&here) {
            let chord = entry.geom().distance_2(&here);
            // Past the n-th, only rows as near as it (ties) may still count.
            if found.len() >= n && chord > last + 1e-18 {
                break;
            }
            if found.len() < n {
                last = chord;
            }
            found.push(self.found(point, entry.data));
        }
        self.sort(&mut found);
        found.truncate(n);
        found
    }

    /// The rows within `radius` metres of `point`, nearest first.
    fn within(&self, point: (f64, f64), radius: f64) -> Vec<Found> {
        // The chord of the arc, a little longer so that no row the exact
        // test keeps is missed by rounding.
        let chord = 2.0 * (radius / EARTH_RADIUS_M / 2.0).min(std::f64::consts::FRAC_PI_2).sin() * (1.0 + 1e-9) + 1e-12;
        let mut found: Vec<Found> = self
            .tree
            .locate_within_distance(on_sphere(point.0, point.1), chord * chord)
            .map(|entry| self.found(point, entry.data))
            .filter(|f| f.metres <= radius)
            .collect();
        self.sort(&mut found);
        found
    }

    /// The rows inside `area` (a polygon in lng/lat), nearest to `point` first.
    fn inside(&self, point: (f64, f64), area: &geo::Geometry) -> Vec<Found> {
        use geo::{BoundingRect, Intersects};
        let Some(rect) = area.bounding_rect() else { return Vec::new() };
        // Every row inside lies within the farthest corner or edge middle of
        // the area's bounding box from the point (a margin for the sphere).
        let (min, max) = (rect.min(), rect.max());
        let (mid_x, mid_y) = ((min.x + max.x) / 2.0, (min.y + max.y) / 2.0);
        let radius = [
            (min.y, min.x),
            (min.y, max.x),
            (max.y, min.x),
            (max.y, max.x),
            (min.y, mid_x),
            (max.y, mid_x),
            (mid_y, min.x),
            (mid_y, max.x),
        ]
        .into_iter()
        .map(|corner| metres(point, corner))
        .fold(0.0, f64::max);
        let mut found = self.within(point, radius * 1.01 + 10.0);
        found.retain(|f| {
            let row = &self.rows[f.row];
            area.intersects(&geo::Point::new(row.lng, row.lat))
        });
        found
    }

    fn found(&self, point: (f64, f64), row: usize) -> Found {
        let r = &self.rows[row];
        Found {
            row,
            metres: metres(point, (r.lat, r.lng)),
        }
    }

    fn sort(&self, found: &mut [Found]) {
        found.sort_by(|a, b| {
            a.metres
                .total_cmp(&b.metres)
                .then_with(|| key_order(&self.rows[a.row].id, &self.rows[b.row].id))
        });
    }

    /// The rows found around each point, taken from the version's rows, with
    /// three more columns: which point ([`POINT_COLUMN`]), how far from it
    /// ([`DISTANCE_COLUMN`]) and which row of the index ([`ROW_COLUMN`]); in
    /// `partitions` parts for the query to share out.
    fn rows_around(&self, found: &[Vec<Found>], partitions: usize) -> Result<MemTable, QueryError> {
        use arrow::array::{ArrayRef, Float64Array, Int64Array};
        let internal = |e: arrow::error::ArrowError| QueryError::Internal(e.to_string());
        let schema = around_schema(
            self.batches
                .first()
                .map(|b| b.schema())
                .ok_or_else(|| QueryError::Internal("no rows".into()))?,
        );
        let total: usize = found.iter().map(Vec::len).sum();
        let per_part = total.div_ceil(partitions.max(1)).max(1);
        let flat: Vec<(usize, &Found)> = found.iter().enumerate().flat_map(|(p, f)| f.iter().map(move |f| (p, f))).collect();
        let mut parts = Vec::new();
        for chunk in flat.chunks(per_part) {
            let at: Vec<(usize, usize)> = chunk.iter().map(|(_, f)| self.rows[f.row].at).collect();
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for c in 0..schema.fields().len() - 3 {
                let arrays: Vec<&dyn arrow::array::Array> = self.batches.iter().map(|b| b.column(c).as_ref()).collect();
                columns.push(arrow::compute::interleave(&arrays, &at).map_err(internal)?);
            }
            columns.push(std::sync::Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|(p, _)| *p as i64),
            )));
            columns.push(std::sync::Arc::new(Float64Array::from_iter_values(
                chunk.iter().map(|(_, f)| f.metres),
            )));
            columns.push(std::sync::Arc::new(Int64Array::from_iter_values(
                chunk.iter().map(|(_, f)| f.row as i64),
            )));
            parts.push(vec![RecordBatch::try_new(schema.clone(), columns).map_err(internal)?]);
        }
        if parts.is_empty() {
            parts.push(Vec::new());
        }
        MemTable::try_new(schema, parts).map_err(QueryError::plan)
    }
}

/// A row an index found around a point: its position in the index, and how
/// far it is.
#[derive(Debug, Clone, Copy)]
struct Found {
    row: usize,
    metres: f64,
}

impl Engine {
    /// Builds the spatial index of a point dataset's current version ahead
    /// of its first point query (after a load); other datasets are left be.
    pub async fn index_points(&self, data: &DataStore, snapshot: &Snapshot, dataset: &str) -> Result<(), QueryError> {
        if snapshot.model.lat_lng(dataset).is_ok() {
            self.point_index(data, snapshot, dataset).await?;
        }
        Ok(())
    }

    /// The index of the query dataset's current version, built on first use
    /// (a few of them are kept; versions are immutable, so an index never
    /// goes stale, it only stops being asked for).
    async fn point_index(&self, data: &DataStore, snapshot: &Snapshot, dataset: &str) -> Result<std::sync::Arc<PointIndex>, QueryError> {
        let def = snapshot
            .model
            .dataset(dataset)
            .map_err(|m| QueryError::new("pointQueries.dataset", m))?;
        let path = snapshot
            .versions
            .get(dataset)
            .ok_or_else(|| QueryError::NoData(dataset.to_owned()))?;
        let key = path.to_string();
        if let Some(index) = self.point_indexes.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(index);
        }
        let (lat, lng) = snapshot
            .model
            .lat_lng(dataset)
            .map_err(|m| QueryError::new("pointQueries.dataset", m))?;
        let table = self.tables.table(data, path, def).await?;
        let mut batches = Vec::new();
        for partition in &table.batches {
            batches.extend(partition.read().await.iter().cloned());
        }
        let (pk, lat, lng) = (def.primary_key.clone(), lat.property, lng.property);
        let index = tokio::task::spawn_blocking(move || PointIndex::build(&batches, &pk, &lat, &lng))
            .await
            .map_err(|e| QueryError::Internal(e.to_string()))??;
        let index = std::sync::Arc::new(index);
        if let Ok(mut indexes) = self.point_indexes.lock() {
            if indexes.len() >= 8 {
                indexes.clear();
            }
            indexes.insert(key, index.clone());
        }
        Ok(index)
    }
}

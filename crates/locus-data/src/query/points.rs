//! Bulk point queries (api-contract.md §7.2, issue 18): for one location, the
//! rows of a point dataset that are `nearest` to it, or inside an `air`
//! isochrone (a great-circle radius) around it, and what the query's
//! `properties` compute over them, through the same compiler, filters and
//! data permissions as every other query.

use serde_json::{json, Map, Value};

use super::ast::{Filter, Parser};
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

impl Engine {
    /// Runs one point query around `point` (lat, lng) for a caller with
    /// `perms`. A [`Around::Routed`] query takes the `area` the routing
    /// engine answered (a GeoJSON Polygon or MultiPolygon).
    pub async fn point_query(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        perms: &[Filter],
        point: (f64, f64),
        query: &PointQuery,
        area: Option<&Value>,
    ) -> Result<Vec<Map<String, Value>>, QueryError> {
        let pk = query.primary_key(snapshot, "pointQueries")?;
        let model = &snapshot.model;
        let ids = match &query.around {
            Around::Within(_) => Vec::new(),
            Around::Routed(_) => {
                let area = area.ok_or_else(|| QueryError::new("pointQueries", "a routed isochrone needs its area"))?;
                let ids = self.inside(data, snapshot, perms, query, &pk, area).await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                ids
            }
            &Around::Nearest(n) if perms.is_empty() && !has_filters(&query.query) => {
                // Nothing narrows the rows: the index answers which are nearest.
                let index = self.point_index(data, snapshot, &query.dataset).await?;
                let found = index.nearest(point, n.max(1));
                if asks_only_rows(&query.query) {
                    // The rows' ids and distances are all it asks: the index has them.
                    return Ok(found
                        .into_iter()
                        .map(|(id, metres)| Map::from_iter([("id".to_owned(), id), ("distance".to_owned(), Value::from(metres))]))
                        .collect());
                }
                if found.is_empty() {
                    return Ok(Vec::new());
                }
                found.into_iter().map(|(id, _)| id).collect()
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
                let ids: Vec<Value> = found.rows.into_iter().filter_map(|mut r| r.remove("id")).collect();
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                ids
            }
        };
        let body = query.body(&pk, point, &ids);
        let request = Parser::new(model).request(&body, "pointQueries")?;
        Ok(self.query(data, snapshot, &request, perms).await?.rows)
    }
}

impl Engine {
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
        area: &Value,
    ) -> Result<Vec<Value>, QueryError> {
        use geo::{BoundingRect, Intersects};
        use geozero::ToGeo;
        let garbage = |why: String| QueryError::new("pointQueries", format!("the routing engine's area: {why}"));
        let shape = geozero::geojson::GeoJson(&area.to_string())
            .to_geo()
            .map_err(|e| garbage(e.to_string()))?;
        if !matches!(shape, geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)) {
            return Err(garbage("not a polygon".into()));
        }
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
    /// Per row of the tree: its primary key and (lat, lng).
    rows: Vec<(Value, f64, f64)>,
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
    2.0 * 6_371_008.8 * h.sqrt().asin()
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
        for batch in batches {
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
                rows.push((id, lats.value(i), lngs.value(i)));
            }
        }
        Ok(PointIndex {
            tree: rstar::RTree::bulk_load(entries),
            rows,
        })
    }

    /// The keys of the `n` rows nearest to `point` (lat, lng) with their
    /// great-circle metres, nearest first; rows at the same distance in key
    /// order, as the query would give them.
    pub(crate) fn nearest(&self, point: (f64, f64), n: usize) -> Vec<(Value, f64)> {
        use rstar::PointDistance;
        let here = on_sphere(point.0, point.1);
        let mut found: Vec<(f64, usize)> = Vec::new();
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
            let (_, lat, lng) = &self.rows[entry.data];
            found.push((metres(point, (*lat, *lng)), entry.data));
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| key_order(&self.rows[a.1].0, &self.rows[b.1].0)));
        found
            .into_iter()
            .take(n)
            .map(|(metres, row)| (self.rows[row].0.clone(), metres))
            .collect()
    }
}

impl Engine {
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

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

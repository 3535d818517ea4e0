//! Overlaps (semantics.md §7, the Studio's `overlaps` DWH request): how two
//! objects — two filters of the same rows, say two retail brands — share a
//! metric over the areas of a granularity (say districts).
//!
//! Per area, the metric is computed once under each object's filter; an
//! object covers an area where its value is neither null nor zero, and its
//! share of an area is its value over the sum of both. Each operator then
//! chooses areas and computes the metric over just those areas, again
//! through the compiler (so a ratio or an average is recomputed over the
//! chosen rows, not summed from the areas' values, and data permissions
//! apply):
//!
//! | operator | areas | filter | `objects` of the result |
//! |---|---|---|---|
//! | `subtract` | covered by A and not by B | A | `[A, B]`, and `[B, A]` the other way |
//! | `intersect` | covered by both | A or B | `[A, B]` |
//! | `major_dominance` | A's share over 90 % | A | `[A]`, and `[B]` likewise |
//! | `minor_dominance` | A's share over 60 % up to 90 % | A | `[A]`, and `[B]` likewise |
//! | `equivalent_dominance` | A's share from 40 % to 60 % | A or B | `[A, B]` |
//!
//! An object is named by its `id` when it has one, else by its filter's
//! value (values joined with ", "), else by its position. A result over no
//! area has a null value.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::ast::{Filter, Parser};
use super::{Engine, QueryError, Snapshot};
use crate::DataStore;

/// The operators, in the order results list them.
pub const OPERATORS: [&str; 5] = [
    "subtract",
    "intersect",
    "major_dominance",
    "minor_dominance",
    "equivalent_dominance",
];

/// An `overlaps` request, checked.
#[derive(Debug, Clone)]
pub struct Overlaps {
    operators: Vec<&'static str>,
    /// The two objects: their names and their filters (as given).
    objects: [(String, Value); 2],
    /// The property whose values are the areas (`dataset.property`).
    granularity: String,
    /// Each metric of the query: its id and its node (as given).
    metrics: Vec<(String, Value)>,
    /// The query's own filters and variables, kept for every computation.
    filter_by: Vec<Value>,
    variables: Value,
}

impl Overlaps {
    /// Reads `{operators, objects: [FilterBy, FilterBy], granularity, query}`;
    /// a 400 names the field.
    pub fn read(snapshot: &Snapshot, body: &Value) -> Result<Self, QueryError> {
        let model = &snapshot.model;
        let given = body
            .get("operators")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| QueryError::new("operators", format!("give one or more of {}", OPERATORS.join(", "))))?;
        let mut operators = Vec::new();
        for (i, op) in given.iter().enumerate() {
            let name = op.as_str().unwrap_or_default();
            let known = OPERATORS.iter().find(|o| **o == name).ok_or_else(|| {
                QueryError::new(
                    &format!("operators[{i}]"),
                    format!("unknown operator {op}: one of {}", OPERATORS.join(", ")),
                )
            })?;
            if !operators.contains(known) {
                operators.push(*known);
            }
        }
        operators.sort_by_key(|o| OPERATORS.iter().position(|x| x == o));

        let objects = body
            .get("objects")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .ok_or_else(|| QueryError::new("objects", "give exactly two objects, each a filter (FilterBy)"))?;
        for (i, object) in objects.iter().enumerate() {
            Parser::new(model).filter(object, &format!("objects[{i}]"))?;
        }
        let name = |i: usize| -> String {
            let object = &objects[i];
            match (object.get("id"), object.get("value")) {
                (Some(Value::String(id)), _) => id.clone(),
                (_, Some(Value::Array(values))) if !values.is_empty() => values.iter().map(plain).collect::<Vec<_>>().join(", "),
                (_, Some(value)) if !value.is_null() && !value.is_array() => plain(value),
                _ => i.to_string(),
            }
        };
        let (a, b) = match (name(0), name(1)) {
            (a, b) if a == b => ("0".to_owned(), "1".to_owned()),
            names => names,
        };
        let objects = [(a, strip_id(&objects[0])), (b, strip_id(&objects[1]))];

        let granularity = body.get("granularity").and_then(Value::as_str).unwrap_or_default();
        let granularity = if granularity.contains('.') {
            let p = model.property(granularity).map_err(|m| QueryError::new("granularity", m))?;
            if model.property_type(&p) == Some(crate::PropertyType::Geometry) {
                return Err(QueryError::new(
                    "granularity",
                    format!("{granularity} is a geometry: name its dataset, whose key tells the areas apart"),
                ));
            }
            granularity.to_owned()
        } else {
            let dataset = model.dataset(granularity).map_err(|m| {
                QueryError::new(
                    "granularity",
                    format!("{m} (give a dataset, or a property as dataset.property, whose values are the areas)"),
                )
            })?;
            format!("{granularity}.{}", dataset.primary_key)
        };

        let query = body
            .get("query")
            .and_then(Value::as_object)
            .ok_or_else(|| QueryError::new("query", "a query with the metrics to compare is required"))?;
        for key in ["having", "resultSetFilter", "orderBy", "limit"] {
            if query.get(key).is_some_and(|v| !v.is_null()) {
                return Err(QueryError::new(
                    &format!("query.{key}"),
                    "overlaps computes each metric over areas; this key has no meaning here",
                ));
            }
        }
        let request = Parser::new(model).request(&Value::Object(query.clone()), "query")?;
        let nodes = query.get("properties").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut metrics = Vec::new();
        for (i, (output, node)) in request.outputs.iter().zip(nodes).enumerate() {
            if !output.node.has_aggregate() {
                return Err(QueryError::new(
                    &format!("query.properties[{i}]"),
                    format!(
                        "{} is not a metric or an aggregate: overlaps compares metrics over areas",
                        output.id
                    ),
                ));
            }
            metrics.push((output.id.clone(), node));
        }
        Ok(Overlaps {
            operators,
            objects,
            granularity,
            metrics,
            filter_by: query.get("filterBy").and_then(Value::as_array).cloned().unwrap_or_default(),
            variables: query.get("variables").cloned().unwrap_or(Value::Null),
        })
    }
}

/// A filter value as text (a string without its quotes).
fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// An object's filter without the `id` that names it.
fn strip_id(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(o) = object.as_object_mut() {
        o.remove("id");
    }
    object
}

/// Which areas an operator keeps, from A's and B's values in an area.
fn keeps(operator: &str, a: Option<f64>, b: Option<f64>) -> bool {
    let covers = |v: Option<f64>| v.is_some_and(|v| v != 0.0);
    let share = || {
        let (a, b) = (a.unwrap_or(0.0), b.unwrap_or(0.0));
        (a + b > 0.0).then(|| a / (a + b))
    };
    match operator {
        "subtract" => covers(a) && !covers(b),
        "intersect" => covers(a) && covers(b),
        "major_dominance" => share().is_some_and(|s| s > 0.9),
        "minor_dominance" => share().is_some_and(|s| s > 0.6 && s <= 0.9),
        "equivalent_dominance" => share().is_some_and(|s| (0.4..=0.6).contains(&s)),
        _ => false,
    }
}

impl Engine {
    /// The overlaps of two objects, per metric of the query:
    /// `[{propertyId, results: [{operator, objects, value}]}]`.
    pub async fn overlaps(&self, data: &DataStore, snapshot: &Snapshot, o: &Overlaps, perms: &[Filter]) -> Result<Vec<Value>, QueryError> {
        let mut content = Vec::new();
        for (id, node) in &o.metrics {
            let mut node = node.clone();
            node["id"] = json!("value");
            let query = |extra: Vec<Value>, by_area: bool| {
                let mut properties = vec![node.clone()];
                if by_area {
                    properties.insert(0, json!({"id": "area", "type": "property", "value": o.granularity}));
                }
                let mut filter_by = o.filter_by.clone();
                filter_by.extend(extra);
                let mut body = json!({"properties": properties, "filterBy": filter_by});
                if !o.variables.is_null() {
                    body["variables"] = o.variables.clone();
                }
                body
            };
            // The metric per area under each object.
            let mut per_area: HashMap<String, (Value, [Option<f64>; 2])> = HashMap::new();
            for (i, (_, filter)) in o.objects.iter().enumerate() {
                let rows = self.query_json(data, snapshot, &query(vec![filter.clone()], true), perms).await?;
                for mut row in rows {
                    let area = row.remove("area").unwrap_or(Value::Null);
                    if area.is_null() {
                        continue;
                    }
                    let value = row.get("value").and_then(Value::as_f64);
                    per_area.entry(area.to_string()).or_insert((area, [None, None])).1[i] = value;
                }
            }
            let [(a, fa), (b, fb)] = &o.objects;
            let either = json!({"operator": "or", "content": [fa, fb]});
            let mut results = Vec::new();
            for &operator in &o.operators {
                // (names in the result, whose share or cover is tested first, filter)
                let cases: Vec<(Vec<&String>, bool, &Value)> = match operator {
                    "subtract" => vec![(vec![a, b], false, fa), (vec![b, a], true, fb)],
                    "intersect" | "equivalent_dominance" => vec![(vec![a, b], false, &either)],
                    _ => vec![(vec![a], false, fa), (vec![b], true, fb)],
                };
                for (names, swapped, filter) in cases {
                    let mut areas: Vec<&Value> = per_area
                        .values()
                        .filter(|(_, [x, y])| {
                            if swapped {
                                keeps(operator, *y, *x)
                            } else {
                                keeps(operator, *x, *y)
                            }
                        })
                        .map(|(area, _)| area)
                        .collect();
                    areas.sort_by_key(|v| v.to_string());
                    let value = if areas.is_empty() {
                        Value::Null
                    } else {
                        let within = json!({"property": o.granularity, "operator": "in", "value": areas});
                        let rows = self
                            .query_json(data, snapshot, &query(vec![filter.clone(), within], false), perms)
                            .await?;
                        rows.into_iter().next().and_then(|mut r| r.remove("value")).unwrap_or(Value::Null)
                    };
                    results.push(json!({"operator": operator, "objects": names, "value": value}));
                }
            }
            content.push(json!({"propertyId": id, "results": results}));
        }
        Ok(content)
    }

    /// Runs a query given as JSON (made by this module from a checked request).
    async fn query_json(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        body: &Value,
        perms: &[Filter],
    ) -> Result<Vec<Map<String, Value>>, QueryError> {
        let request = Parser::new(&snapshot.model).request(body, "")?;
        Ok(self.query(data, snapshot, &request, perms).await?.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::keeps;

    #[test]
    fn each_operator_keeps_the_areas_its_shares_say() {
        let cases: [(&str, Option<f64>, Option<f64>, bool); 14] = [
            ("subtract", Some(3.0), None, true),
            ("subtract", Some(3.0), Some(0.0), true),
            ("subtract", Some(3.0), Some(1.0), false),
            ("subtract", None, Some(1.0), false),
            ("intersect", Some(3.0), Some(1.0), true),
            ("intersect", Some(3.0), None, false),
            ("major_dominance", Some(91.0), Some(9.0), true),
            ("major_dominance", Some(90.0), Some(10.0), false),
            ("minor_dominance", Some(90.0), Some(10.0), true),
            ("minor_dominance", Some(60.0), Some(40.0), false),
            ("minor_dominance", Some(61.0), Some(39.0), true),
            ("equivalent_dominance", Some(60.0), Some(40.0), true),
            ("equivalent_dominance", Some(40.0), Some(60.0), true),
            ("equivalent_dominance", Some(0.0), Some(0.0), false),
        ];
        for (operator, a, b, kept) in cases {
            assert_eq!(keeps(operator, a, b), kept, "{operator} {a:?} {b:?}");
        }
    }
}

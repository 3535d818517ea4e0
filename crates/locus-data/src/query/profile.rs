//! What the Studio asks of a property to draw its filters (semantics.md §7):
//! the distribution of a number's values in equal buckets (a histogram
//! filter, `propertyValuesDistributions`) and the range of a date (a date
//! filter, `dateRanges`). Both are queries through the compiler, so data
//! permissions apply as to every read of rows.

use serde_json::{json, Value};

use super::ast::{Filter, Parser};
use super::{Engine, QueryError, Snapshot};
use crate::{DataStore, PropertyType};

/// Buckets when the request names none (CleverMaps' default).
pub const DEFAULT_BUCKETS: usize = 20;
/// The most buckets a request may ask for.
pub const MAX_BUCKETS: usize = 1000;

/// A `propertyValuesDistributions` request, checked.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub property: String,
    pub buckets: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Distribution {
    /// Reads `{property, buckets?, min?, max?}`; a 400 names the field.
    pub fn read(snapshot: &Snapshot, body: &Value) -> Result<Self, QueryError> {
        let property = body.get("property").and_then(Value::as_str).unwrap_or_default();
        let p = snapshot.model.property(property).map_err(|m| QueryError::new("property", m))?;
        match snapshot.model.property_type(&p) {
            Some(
                PropertyType::Integer | PropertyType::Bigint | PropertyType::Decimal | PropertyType::Latitude | PropertyType::Longitude,
            ) => {}
            other => {
                return Err(QueryError::new(
                    "property",
                    format!(
                        "{property} is {}, not a number: a distribution needs numbers",
                        other.map_or("unknown", PropertyType::name)
                    ),
                ))
            }
        }
        let buckets = match body.get("buckets") {
            None | Some(Value::Null) => DEFAULT_BUCKETS,
            Some(b) => b
                .as_u64()
                .and_then(|b| usize::try_from(b).ok())
                .filter(|b| (1..=MAX_BUCKETS).contains(b))
                .ok_or_else(|| QueryError::new("buckets", format!("must be a whole number from 1 to {MAX_BUCKETS}")))?,
        };
        let bound = |name: &str| match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| QueryError::new(name, "must be a number")),
        };
        let (min, max) = (bound("min")?, bound("max")?);
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err(QueryError::new("min", format!("{lo} is more than max {hi}")));
            }
        }
        Ok(Distribution {
            property: property.to_owned(),
            buckets,
            min,
            max,
        })
    }
}

/// A `dateRanges` request, checked: the date property (`from`) and the
/// bounds of its filter (`filter.startDate` / `filter.endDate`), as dates.
#[derive(Debug, Clone)]
pub struct DateRanges {
    pub from: String,
    pub start: Option<String>,
    pub end: Option<String>,
}

impl DateRanges {
    pub fn read(snapshot: &Snapshot, body: &Value) -> Result<Self, QueryError> {
        let from = body.get("from").and_then(Value::as_str).unwrap_or_default();
        let p = snapshot.model.property(from).map_err(|m| QueryError::new("from", m))?;
        if snapshot.model.property_type(&p) != Some(PropertyType::Date) {
            return Err(QueryError::new("from", format!("{from} is not a date property")));
        }
        let bound = |name: &str| -> Result<Option<String>, QueryError> {
            let path = format!("filter.{name}");
            match body.pointer(&format!("/filter/{name}")) {
                None | Some(Value::Null) => Ok(None),
                Some(b) => match (b.get("value"), b.pointer("/function/type").and_then(Value::as_str)) {
                    (Some(Value::String(date)), _) => crate::load::parse_date(date)
                        .map(|_| Some(date.clone()))
                        .ok_or_else(|| QueryError::new(&format!("{path}.value"), format!("{date:?} is not a date (YYYY-MM-DD)"))),
                    (None, Some("function_today")) => Ok(Some(today())),
                    _ => Err(QueryError::new(
                        &path,
                        "give {\"value\": \"YYYY-MM-DD\"} or {\"function\": {\"type\": \"function_today\"}}",
                    )),
                },
            }
        };
        Ok(DateRanges {
            from: from.to_owned(),
            start: bound("startDate")?,
            end: bound("endDate")?,
        })
    }
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    crate::load::format_date(i32::try_from(days).unwrap_or(0))
}

impl Engine {
    /// The values of a number property in `buckets` equal ranges between
    /// `min` and `max` (the values' own when not given; values outside are
    /// not counted): `[{min, max, content: [{propertyId, frequency}]}]`.
    pub async fn distribution(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        d: &Distribution,
        perms: &[Filter],
    ) -> Result<Vec<Value>, QueryError> {
        let property = d.property.as_str();
        // Each distinct value and its rows, counted by the engine.
        let body = json!({"properties": [{"id": "value", "type": "property", "value": property},
                {"id": "n", "type": "function_count", "content": [{"type": "property", "value": property}]}],
            "filterBy": [{"property": property, "operator": "isNotNull"}]});
        let request = Parser::new(&snapshot.model).request(&body, "")?;
        let counted: Vec<(f64, u64)> = self
            .query(data, snapshot, &request, perms)
            .await?
            .rows
            .iter()
            .filter_map(|r| Some((r.get("value")?.as_f64()?, r.get("n")?.as_u64()?)))
            .collect();
        let seen = |pick: fn(f64, f64) -> f64| counted.iter().map(|c| c.0).reduce(pick);
        let (Some(lo), Some(hi)) = (d.min.or(seen(f64::min)), d.max.or(seen(f64::max))) else {
            return Ok(Vec::new());
        };
        let width = (hi - lo) / d.buckets as f64;
        let mut frequency = vec![0u64; d.buckets];
        for &(value, n) in &counted {
            if value < lo || value > hi {
                continue;
            }
            // The last bucket holds its upper bound.
            let bucket = if width > 0.0 { ((value - lo) / width) as usize } else { 0 };
            frequency[bucket.min(d.buckets - 1)] += n;
        }
        Ok(frequency
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let (from, to) = (
                    lo + width * i as f64,
                    if i + 1 == d.buckets { hi } else { lo + width * (i + 1) as f64 },
                );
                json!({"min": from, "max": to, "content": [{"propertyId": property, "frequency": n}]})
            })
            .collect())
    }

    /// The first and last date of a date property (`filtered: false`), and
    /// within the filter's bounds when given (`filtered: true`); the same for
    /// the key of a date dimension the property links to, when it has one:
    /// `[{property, filtered, min, max}]`, null bounds when there are no dates.
    pub async fn date_ranges(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        r: &DateRanges,
        perms: &[Filter],
    ) -> Result<Vec<Value>, QueryError> {
        let model = &snapshot.model;
        let mut properties = vec![r.from.clone()];
        let p = model.property(&r.from).map_err(|m| QueryError::new("from", m))?;
        let dimension = model
            .datasets
            .get(&p.dataset)
            .and_then(|d| d.property(&p.property))
            .and_then(|prop| prop.foreign_key.clone())
            .and_then(|target| model.datasets.get(&target).map(|d| format!("{target}.{}", d.primary_key)));
        properties.extend(dimension);
        let mut out = Vec::new();
        for property in properties {
            let mut cases = vec![(false, Vec::new())];
            if r.start.is_some() || r.end.is_some() {
                let mut bounds = Vec::new();
                if let Some(start) = &r.start {
                    bounds.push(json!({"property": property, "operator": "gte", "value": start}));
                }
                if let Some(end) = &r.end {
                    bounds.push(json!({"property": property, "operator": "lte", "value": end}));
                }
                cases.push((true, bounds));
            }
            for (filtered, filters) in cases {
                let body = json!({"properties": [
                        {"id": "min", "type": "function_min", "content": [{"type": "property", "value": property}]},
                        {"id": "max", "type": "function_max", "content": [{"type": "property", "value": property}]}],
                    "filterBy": filters});
                let request = Parser::new(model).request(&body, "")?;
                let row = self
                    .query(data, snapshot, &request, perms)
                    .await?
                    .rows
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                out.push(json!({"property": property, "filtered": filtered,
                    "min": row.get("min").cloned().unwrap_or(Value::Null), "max": row.get("max").cloned().unwrap_or(Value::Null)}));
            }
        }
        Ok(out)
    }
}

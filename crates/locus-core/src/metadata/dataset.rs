//! The rules of data-plane.md §1 for the definition of a `dwh` dataset, on
//! top of its shape (`schema.rs`): property types, the primary key, unique
//! property names, the geometry properties each subtype carries, and where
//! `calculated` may stand.
//!
//! A `foreignKey` names another object, so part of its rule needs the
//! project: the walker answers it as a link to a dataset, [`mark_links`] says
//! what that link asks of its target ([`LinkNeeds`]), and the store checks it
//! against the target when the links are resolved, in the same transaction.

use super::{LinkTarget, MdLink, MdType, Problem};
use serde_json::{Map, Value};

/// The property `type`s of a dwh dataset (data-plane.md §1).
pub const PROPERTY_TYPES: [&str; 9] = [
    "integer",
    "bigint",
    "decimal",
    "string",
    "boolean",
    "date",
    "latitude",
    "longitude",
    "geometry",
];

/// What a link asks of its target beyond being an object of its type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkNeeds {
    /// Any object of the link's type.
    #[default]
    Nothing,
    /// A property's `foreignKey`: a dwh dataset (its rows are what the key
    /// values name).
    DwhDataset,
    /// A `calculated` foreignKey, which the automatic area mapper fills with
    /// the containing polygon's key: a dwh dataset of subtype geometryPolygon.
    PolygonDataset,
}

impl LinkNeeds {
    /// Whether the dataset `target` (its JSON, named `name`) is what the link
    /// needs; `Err` says why not, for a message about the linking property.
    pub fn check(self, name: &str, target: &Value) -> Result<(), String> {
        let reference = target.get("ref");
        let text = |key: &str| reference.and_then(|r| r.get(key)).and_then(Value::as_str).unwrap_or("?");
        let (ref_type, subtype) = (text("type"), text("subtype"));
        match self {
            LinkNeeds::Nothing => Ok(()),
            LinkNeeds::DwhDataset if ref_type == "dwh" => Ok(()),
            LinkNeeds::DwhDataset => Err(format!(
                "a foreignKey names a dwh dataset, and {name:?} is a {ref_type} dataset"
            )),
            LinkNeeds::PolygonDataset if ref_type == "dwh" && subtype == "geometryPolygon" => Ok(()),
            LinkNeeds::PolygonDataset if ref_type == "dwh" => Err(format!(
                "a calculated foreignKey names a geometryPolygon dataset (the automatic area mapper fills it with the containing polygon's key), and {name:?} is a {subtype} dataset"
            )),
            LinkNeeds::PolygonDataset => Err(format!(
                "a calculated foreignKey names a dwh dataset of subtype geometryPolygon, and {name:?} is a {ref_type} dataset"
            )),
        }
    }
}

/// Every problem of a dataset's definition that this one object shows, each
/// with its JSON path (`ref.properties[3].type`). Only `dwh` datasets have
/// rules here. What the shape check reports already (a missing or malformed
/// key) is skipped, so that a value is not blamed twice.
pub fn dataset_problems(dataset: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(reference) = dwh_ref(dataset) else {
        return problems;
    };
    let Some(properties) = reference.get("properties").and_then(Value::as_array) else {
        return problems;
    };
    let own_name = dataset.get("name").and_then(Value::as_str);
    let subtype = reference.get("subtype").and_then(Value::as_str);
    let mut problem = |path: String, message: String| problems.push(Problem { path, message });
    let props: Vec<(usize, &Map<String, Value>)> = properties
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_object().map(|p| (i, p)))
        .collect();
    let name_of = |p: &Map<String, Value>, i: usize| match p.get("name").and_then(Value::as_str) {
        Some(name) => format!("property {name:?}"),
        None => format!("property [{i}]"),
    };

    for &(i, p) in &props {
        let at = |key: &str| format!("ref.properties[{i}].{key}");
        if let Some(t) = type_of(p) {
            if !PROPERTY_TYPES.contains(&t) {
                problem(
                    at("type"),
                    format!(
                        "{}: {t:?} is not a property type; the types are: {}",
                        name_of(p, i),
                        PROPERTY_TYPES.join(", ")
                    ),
                );
            }
        }
        if let Some(name) = p.get("name").and_then(Value::as_str).filter(|n| super::is_name(n)) {
            let first = props
                .iter()
                .find(|(_, other)| other.get("name").and_then(Value::as_str) == Some(name))
                .map_or(i, |(j, _)| *j);
            if first != i {
                problem(
                    at("name"),
                    format!("property names are unique within a dataset, and ref.properties[{first}] is {name:?} already"),
                );
            }
        }
        let foreign_key = p.get("foreignKey").and_then(Value::as_str);
        if foreign_key.is_some() && foreign_key == own_name {
            problem(
                at("foreignKey"),
                format!("{}: a foreignKey names another dwh dataset, not this one", name_of(p, i)),
            );
        }
        if p.get("calculated") == Some(&Value::Bool(true)) {
            if subtype != Some("geometryPoint") {
                problem(
                    at("calculated"),
                    format!(
                        "{}: only a geometryPoint dataset has calculated properties (foreign keys the automatic area mapper fills)",
                        name_of(p, i)
                    ),
                );
            } else if foreign_key.is_none() {
                problem(
                    at("calculated"),
                    format!(
                        "{}: a calculated property is a foreignKey to a polygon dataset, which the automatic area mapper fills; this one has no foreignKey",
                        name_of(p, i)
                    ),
                );
            }
        }
    }

    if let Some(key) = reference.get("primaryKey").and_then(Value::as_str).filter(|k| super::is_name(k)) {
        if !props.iter().any(|(_, p)| p.get("name").and_then(Value::as_str) == Some(key)) {
            let names: Vec<&str> = props.iter().filter_map(|(_, p)| p.get("name").and_then(Value::as_str)).collect();
            problem(
                "ref.primaryKey".into(),
                format!(
                    "{key:?} names no property of this dataset; its properties are: {}",
                    names.join(", ")
                ),
            );
        }
    }

    // The geometry a subtype is drawn from: exactly one property of each of
    // these types. Other subtypes have no rule on them; in particular a
    // `geometry` property on a `basic` (or `date`) dataset is accepted as an
    // ordinary attribute (it is loaded and exported, never drawn).
    let needed: &[&str] = match subtype {
        Some("geometryPoint") => &["latitude", "longitude"],
        Some("geometryPolygon" | "geometryLine") => &["geometry"],
        _ => &[],
    };
    let subtype = subtype.unwrap_or_default();
    let mut missing = Vec::new();
    for &needed_type in needed {
        let mut holders = props.iter().filter(|(_, p)| type_of(p) == Some(needed_type));
        match holders.next() {
            None => missing.push(needed_type),
            Some(&(_, first)) => {
                let first_name = first.get("name").and_then(Value::as_str).unwrap_or("?");
                for &(j, extra) in holders {
                    problem(
                        format!("ref.properties[{j}].type"),
                        format!(
                            "{}: a {subtype} dataset has exactly one {needed_type} property, and {first_name:?} is one already",
                            name_of(extra, j)
                        ),
                    );
                }
            }
        }
    }
    if !missing.is_empty() {
        let wanted: Vec<String> = needed.iter().map(|t| format!("one {t} property")).collect();
        problem(
            "ref.properties".into(),
            format!(
                "a {subtype} dataset has {}; this one has no {} property",
                wanted.join(" and "),
                missing.join(" and no ")
            ),
        );
    }
    problems
}

/// Says what each `foreignKey` link of a dwh dataset needs of its target
/// (`links` as the walker answered them, with their paths).
pub(crate) fn mark_links(dataset: &Value, links: &mut [MdLink]) {
    let Some(properties) = dwh_ref(dataset).and_then(|r| r.get("properties")).and_then(Value::as_array) else {
        return;
    };
    for (i, p) in properties.iter().enumerate() {
        let Some(target) = p.get("foreignKey").and_then(Value::as_str) else {
            continue;
        };
        let needs = if p.get("calculated") == Some(&Value::Bool(true)) {
            LinkNeeds::PolygonDataset
        } else {
            LinkNeeds::DwhDataset
        };
        let path = format!("ref.properties[{i}].foreignKey");
        for link in links.iter_mut() {
            if link.path == path && link.md_type == MdType::Datasets && link.target == LinkTarget::Name(target.to_owned()) {
                link.needs = needs;
            }
        }
    }
}

fn type_of(property: &Map<String, Value>) -> Option<&str> {
    property.get("type").and_then(Value::as_str)
}

fn dwh_ref(dataset: &Value) -> Option<&Value> {
    dataset.get("ref").filter(|r| r.get("type").and_then(Value::as_str) == Some("dwh"))
}

#[cfg(test)]
mod tests;

//! Validation of a metadata object (the `TDTO` of api-contract.md §9.3 and
//! the content keys of §9.5): the envelope here, the content of each type
//! against its schema (`schema.rs`, written in the vocabulary of `shape.rs`).

use super::dataset::{dataset_problems, mark_links};
use super::schema::{content_schema, DATASET_KEYS};
use super::shape::{looks_like_link, Walker};
use super::{is_name, parse_link, MdLink, MdType, Problem};
use serde_json::Value;

/// Keys the server sets; clients send them back on PUT (the SDK does), and
/// they are ignored on input.
const RESPONSE_ONLY: [&str; 4] = ["accessInfo", "version", "links", "page"];

/// Checks `object` as a `md_type` object of project `project_id`. With
/// `strict`, unknown keys are problems too (also inside the content, where
/// the spec does not leave objects open). Answers the links the object makes
/// (link strings found anywhere in `content`, `ref` and `properties`, then the
/// datasets a dataset names by bare name in `ref.geometry` and its properties'
/// `foreignKey` and `geometry`, a foreign key's link saying that it needs a
/// dwh dataset), or every problem found, each with its JSON path
/// (`content.blockRows[0].indicator`). A dwh dataset also meets the rules of
/// data-plane.md §1 (`dataset_problems`).
pub fn validate(md_type: MdType, object: &Value, strict: bool, project_id: &str) -> Result<Vec<MdLink>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut links = Vec::new();
    let Some(map) = object.as_object() else {
        return Err(vec![Problem {
            path: "$".into(),
            message: "must be a JSON object".into(),
        }]);
    };
    let mut problem = |path: &str, message: String| {
        problems.push(Problem {
            path: path.into(),
            message,
        })
    };
    match map.get("name") {
        Some(Value::String(name)) if is_name(name) && (!matches!(md_type, MdType::Metrics | MdType::Markers) || name.len() <= 50) => {}
        Some(Value::String(_)) => problem(
            "name",
            "must match ^[a-z][a-z0-9_-]*$ (at most 50 characters for metrics and markers)".into(),
        ),
        Some(_) => problem("name", "must be a string".into()),
        None => problem("name", "is required".into()),
    }
    match map.get("type") {
        Some(Value::String(t)) if t == md_type.type_value() => {}
        Some(_) => problem("type", format!("must be {:?}", md_type.type_value())),
        None if md_type == MdType::Datasets => problem("type", "is required for datasets".into()),
        None => {}
    }
    let title_required = matches!(md_type, MdType::Indicators | MdType::Markers | MdType::Views);
    match map.get("title") {
        Some(Value::String(t)) if (1..=255).contains(&t.chars().count()) => {}
        Some(Value::Null) | None if !title_required => {}
        None | Some(Value::Null) => problem("title", "is required for this type".into()),
        Some(_) => problem("title", "must be a string of 1 to 255 characters".into()),
    }
    let description_required = matches!(md_type, MdType::Indicators | MdType::Views);
    let description_nonempty = matches!(md_type, MdType::Dashboards | MdType::ProjectSettings);
    match map.get("description") {
        Some(Value::String(d)) if d.chars().count() <= 2000 && (!description_nonempty || !d.is_empty()) => {}
        Some(Value::Null) | None if !description_required => {}
        None | Some(Value::Null) => problem("description", "is required for this type".into()),
        Some(_) => problem("description", "must be a string of at most 2000 characters".into()),
    }
    let content_key = if md_type == MdType::Datasets { "ref" } else { "content" };
    match map.get(content_key) {
        Some(Value::Object(_)) => {}
        Some(_) => problem(content_key, "must be an object".into()),
        None => problem(content_key, "is required".into()),
    }
    if strict {
        let known = ["id", "name", "type", "title", "description", "content"];
        let dataset_only = ["ref", "origin", "properties", "dataSources"];
        for key in map.keys() {
            let ok = known.contains(&key.as_str())
                || RESPONSE_ONLY.contains(&key.as_str())
                || (md_type == MdType::Datasets && dataset_only.contains(&key.as_str()));
            if !ok {
                problem(key, "is not a known key (X-CAN-STRICT-JSON-VALIDATION is on)".into());
            }
        }
    }
    for key in ["content", "ref", "properties"] {
        if let Some(value) = map.get(key) {
            collect_links(value, key, project_id, &mut links, &mut problems);
        }
    }
    // The content against the type's schema. A content (or ref) that is not
    // an object has been reported above.
    let mut walker = Walker::new(project_id, strict);
    if let Some(content @ Value::Object(_)) = map.get(content_key) {
        walker.check(content_schema(md_type), content, content_key);
    }
    if md_type == MdType::Datasets {
        for (key, schema) in DATASET_KEYS {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(value) => walker.check(schema, value, key),
            }
        }
    }
    problems.append(&mut walker.problems);
    links.append(&mut walker.links);
    if md_type == MdType::Datasets {
        problems.extend(dataset_problems(object));
        mark_links(object, &mut links);
    }
    if problems.is_empty() {
        Ok(links)
    } else {
        Err(problems)
    }
}

/// Every string that looks like a metadata link, wherever it sits.
fn collect_links(value: &Value, path: &str, project_id: &str, links: &mut Vec<MdLink>, problems: &mut Vec<Problem>) {
    match value {
        Value::String(s) if looks_like_link(s) => {
            // A view link with ?shareId= (bookmarks) is not a metadata reference.
            match parse_link(s, project_id, path) {
                Ok(link) => links.push(link),
                Err(message) => problems.push(Problem {
                    path: path.into(),
                    message,
                }),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_links(item, &format!("{path}[{i}]"), project_id, links, problems);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                collect_links(v, &format!("{path}.{k}"), project_id, links, problems);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;

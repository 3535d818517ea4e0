//! A small schema vocabulary for JSON values, and the one walker that checks a
//! value against a shape, so that the per-type schemas (`schema.rs`) read like
//! the tables of api-contract.md §9.5.
//!
//! The walker reports every problem it finds, each with the dotted JSON path of
//! the offending value (`content.blockRows[0].indicator`), and answers the
//! datasets named by bare name (`foreignKey`, `geometry`). Link strings are
//! collected generically by `validate`; the walker only checks that a link
//! field links the right type. No regex: the patterns are small functions.

use super::{is_name, parse_link, LinkNeeds, LinkTarget, MdLink, MdType, Problem};
use serde_json::{Map, Value};

/// What a JSON value must look like.
pub(crate) enum Shape {
    /// Anything at all (the spec's "opt extras" and open objects).
    Any,
    /// A string of `min..=max` characters.
    Str {
        min: usize,
        max: usize,
    },
    Bool,
    /// An integer within `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A number of at least `min`.
    Num {
        min: f64,
    },
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A string the function accepts; `what` describes it in messages.
    Pattern {
        what: &'static str,
        matches: fn(&str) -> bool,
    },
    /// A metadata link string to this type (`link(T)` in the spec).
    Link(MdType),
    /// The bare name of a dataset: answered as a link to that dataset.
    DatasetName,
    /// `null` or the inner shape.
    Nullable(&'static Shape),
    /// An array of `min..=max` items, each of the shape `items`.
    Array {
        items: &'static Shape,
        min: usize,
        max: usize,
    },
    /// An object with these keys; with `open`, other keys are accepted even in
    /// strict mode.
    Object {
        fields: &'static [Field],
        open: bool,
    },
    /// An object discriminated by the string at key `tag`.
    OneOf {
        tag: &'static str,
        variants: &'static [Variant],
    },
    /// The first alternative whose JSON kind (string, object...) matches.
    Either(&'static [&'static Shape]),
}

/// One key of an object.
pub(crate) struct Field {
    pub key: &'static str,
    pub required: bool,
    pub shape: &'static Shape,
}

/// The keys of the objects whose tag is one of `tags` (the tag key aside).
pub(crate) struct Variant {
    pub tags: &'static [&'static str],
    pub fields: &'static [Field],
}

// The vocabulary the schemas are written in.

/// A required key (REQ in the spec).
pub(crate) const fn req(key: &'static str, shape: &'static Shape) -> Field {
    Field {
        key,
        required: true,
        shape,
    }
}

/// An optional key; `null` counts as absent.
pub(crate) const fn opt(key: &'static str, shape: &'static Shape) -> Field {
    Field {
        key,
        required: false,
        shape,
    }
}

/// An object with exactly these keys (in strict mode).
pub(crate) const fn object(fields: &'static [Field]) -> Shape {
    Shape::Object { fields, open: false }
}

/// An object with these keys checked and any others accepted.
pub(crate) const fn open_object(fields: &'static [Field]) -> Shape {
    Shape::Object { fields, open: true }
}

pub(crate) const fn array(items: &'static Shape) -> Shape {
    Shape::Array {
        items,
        min: 0,
        max: usize::MAX,
    }
}

pub(crate) const fn array_min(items: &'static Shape, min: usize) -> Shape {
    Shape::Array {
        items,
        min,
        max: usize::MAX,
    }
}

pub(crate) const fn array_len(items: &'static Shape, min: usize, max: usize) -> Shape {
    Shape::Array { items, min, max }
}

pub(crate) const fn int(min: i64, max: i64) -> Shape {
    Shape::Int { min, max }
}

pub(crate) const fn int_min(min: i64) -> Shape {
    Shape::Int { min, max: i64::MAX }
}

pub(crate) const fn num_min(min: f64) -> Shape {
    Shape::Num { min }
}

pub(crate) const fn text(min: usize, max: usize) -> Shape {
    Shape::Str { min, max }
}

pub(crate) const fn pattern(what: &'static str, matches: fn(&str) -> bool) -> Shape {
    Shape::Pattern { what, matches }
}

pub(crate) const fn one_of(tag: &'static str, variants: &'static [Variant]) -> Shape {
    Shape::OneOf { tag, variants }
}

pub(crate) const fn variant(tags: &'static [&'static str], fields: &'static [Field]) -> Variant {
    Variant { tags, fields }
}

pub(crate) const ANY: Shape = Shape::Any;
pub(crate) const BOOL: Shape = Shape::Bool;
pub(crate) const STRING: Shape = text(0, usize::MAX);
pub(crate) const NON_EMPTY: Shape = text(1, usize::MAX);
pub(crate) const INTEGER: Shape = int(i64::MIN, i64::MAX);
pub(crate) const NUMBER: Shape = num_min(f64::NEG_INFINITY);
/// The metadata name regex `^[a-z][a-z0-9_-]*$` (also properties and columns).
pub(crate) const NAME: Shape = pattern("^[a-z][a-z0-9_-]*$", is_name);
/// A `dataset.property` reference.
pub(crate) const DATASET_PROPERTY: Shape = pattern("dataset.property (two names joined by a dot)", is_dataset_property);

/// Checks values against shapes, gathering problems and dataset-name links.
pub(crate) struct Walker<'a> {
    project_id: &'a str,
    strict: bool,
    pub problems: Vec<Problem>,
    pub links: Vec<MdLink>,
}

impl<'a> Walker<'a> {
    pub fn new(project_id: &'a str, strict: bool) -> Self {
        Walker {
            project_id,
            strict,
            problems: Vec::new(),
            links: Vec::new(),
        }
    }

    fn problem(&mut self, path: &str, message: String) {
        self.problems.push(Problem {
            path: path.to_owned(),
            message,
        });
    }

    /// Checks `value`, found at `path`, against `shape`.
    pub fn check(&mut self, shape: &Shape, value: &Value, path: &str) {
        match shape {
            Shape::Any => {}
            Shape::Str { min, max } => match value {
                Value::String(s) => {
                    let n = s.chars().count();
                    if n < *min || n > *max {
                        self.problem(path, format!("must be {}", describe(shape)));
                    }
                }
                _ => self.problem(path, format!("must be {}", describe(shape))),
            },
            Shape::Bool => {
                if !value.is_boolean() {
                    self.problem(path, "must be a boolean".into());
                }
            }
            Shape::Int { min, max } => match as_integer(value) {
                Some(n) if n >= i128::from(*min) && n <= i128::from(*max) => {}
                _ => self.problem(path, format!("must be {}", describe(shape))),
            },
            Shape::Num { min } => match value.as_f64() {
                Some(n) if n >= *min => {}
                _ => self.problem(path, format!("must be {}", describe(shape))),
            },
            Shape::Enum(allowed) => match value {
                Value::String(s) if allowed.contains(&s.as_str()) => {}
                _ => self.problem(path, format!("must be one of: {}", allowed.join(", "))),
            },
            Shape::Pattern { what, matches } => match value {
                Value::String(s) if matches(s) => {}
                Value::String(_) => self.problem(path, format!("must match {what}")),
                _ => self.problem(path, format!("must be a string matching {what}")),
            },
            Shape::Link(md_type) => self.check_link(*md_type, value, path),
            Shape::DatasetName => match value {
                Value::String(s) if is_name(s) => self.links.push(MdLink {
                    md_type: MdType::Datasets,
                    target: LinkTarget::Name(s.clone()),
                    path: path.to_owned(),
                    needs: LinkNeeds::Nothing,
                }),
                _ => self.problem(path, format!("must be {}", describe(shape))),
            },
            Shape::Nullable(inner) => {
                if !value.is_null() {
                    self.check(inner, value, path);
                }
            }
            Shape::Array { items, min, max } => match value.as_array() {
                Some(list) => {
                    if list.len() < *min || list.len() > *max {
                        self.problem(path, format!("must be {}", describe(shape)));
                    }
                    for (i, item) in list.iter().enumerate() {
                        self.check(items, item, &format!("{path}[{i}]"));
                    }
                }
                None => self.problem(path, "must be an array".into()),
            },
            Shape::Object { fields, open } => match value.as_object() {
                Some(map) => self.check_fields(map, fields, None, *open, path),
                None => self.problem(path, "must be an object".into()),
            },
            Shape::OneOf { tag, variants } => self.check_one_of(tag, variants, value, path),
            Shape::Either(alternatives) => match alternatives.iter().find(|alt| same_kind(alt, value)) {
                Some(alt) => self.check(alt, value, path),
                None => {
                    let kinds: Vec<String> = alternatives.iter().map(|alt| describe(alt)).collect();
                    self.problem(path, format!("must be {}", kinds.join(" or ")));
                }
            },
        }
    }

    fn check_link(&mut self, md_type: MdType, value: &Value, path: &str) {
        let segment = md_type.segment();
        let expected = || format!("must be a link to {segment}, like /rest/projects/$projectId/md/{segment}?name=some_name");
        match value {
            Value::String(s) => match parse_link(s, self.project_id, path) {
                Ok(link) if link.md_type == md_type => {}
                Ok(link) => self.problem(path, format!("must link to {segment}, not to {}", link.md_type.segment())),
                // Link-like strings that do not parse are reported by the
                // generic link collection already.
                Err(_) if looks_like_link(s) => {}
                Err(_) => self.problem(path, expected()),
            },
            _ => self.problem(path, expected()),
        }
    }

    fn check_one_of(&mut self, tag: &str, variants: &[Variant], value: &Value, path: &str) {
        let Some(map) = value.as_object() else {
            self.problem(path, "must be an object".into());
            return;
        };
        let allowed = || {
            let tags: Vec<&str> = variants.iter().flat_map(|v| v.tags.iter().copied()).collect();
            tags.join(", ")
        };
        let tag_path = format!("{path}.{tag}");
        match map.get(tag) {
            None | Some(Value::Null) => self.problem(&tag_path, format!("is required (one of: {})", allowed())),
            Some(Value::String(t)) => match variants.iter().find(|v| v.tags.contains(&t.as_str())) {
                Some(v) => self.check_fields(map, v.fields, Some(tag), false, path),
                None => self.problem(&tag_path, format!("must be one of: {}", allowed())),
            },
            Some(_) => self.problem(&tag_path, format!("must be one of: {}", allowed())),
        }
    }

    fn check_fields(&mut self, map: &Map<String, Value>, fields: &[Field], tag: Option<&str>, open: bool, path: &str) {
        for field in fields {
            let child = format!("{path}.{}", field.key);
            match map.get(field.key) {
                None if field.required => self.problem(&child, "is required".into()),
                None => {}
                Some(Value::Null) if !field.required => {}
                Some(value) => self.check(field.shape, value, &child),
            }
        }
        if self.strict && !open {
            for key in map.keys() {
                if tag != Some(key.as_str()) && !fields.iter().any(|f| f.key == key) {
                    let known: Vec<&str> = tag.into_iter().chain(fields.iter().map(|f| f.key)).collect();
                    self.problem(
                        &format!("{path}.{key}"),
                        format!(
                            "is not a known key (X-CAN-STRICT-JSON-VALIDATION is on); known keys: {}",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// What a shape accepts, for messages ("must be ...").
fn describe(shape: &Shape) -> String {
    match shape {
        Shape::Any => "anything".into(),
        Shape::Str { min: 0, max: usize::MAX } => "a string".into(),
        Shape::Str { min, max: usize::MAX } => format!("a string of at least {min} characters"),
        Shape::Str { min: 0, max } => format!("a string of at most {max} characters"),
        Shape::Str { min, max } => format!("a string of {min} to {max} characters"),
        Shape::Bool => "a boolean".into(),
        Shape::Int {
            min: i64::MIN,
            max: i64::MAX,
        } => "an integer".into(),
        Shape::Int { min, max: i64::MAX } => format!("an integer of at least {min}"),
        Shape::Int { min, max } => format!("an integer from {min} to {max}"),
        Shape::Num { min } if min.is_finite() => format!("a number of at least {min}"),
        Shape::Num { .. } => "a number".into(),
        Shape::Enum(allowed) => format!("one of: {}", allowed.join(", ")),
        Shape::Pattern { what, .. } => format!("a string matching {what}"),
        Shape::Link(md_type) => format!("a link to {}", md_type.segment()),
        Shape::DatasetName => "the name of a dataset (^[a-z][a-z0-9_-]*$)".into(),
        Shape::Nullable(inner) => format!("null or {}", describe(inner)),
        Shape::Array {
            min: 0, max: usize::MAX, ..
        } => "an array".into(),
        Shape::Array { min, max: usize::MAX, .. } => format!("an array of at least {min} items"),
        Shape::Array { min, max, .. } if min == max => format!("an array of exactly {min} items"),
        Shape::Array { min, max, .. } => format!("an array of {min} to {max} items"),
        Shape::Object { .. } | Shape::OneOf { .. } => "an object".into(),
        Shape::Either(alternatives) => {
            let kinds: Vec<String> = alternatives.iter().map(|alt| describe(alt)).collect();
            kinds.join(" or ")
        }
    }
}

/// Whether `value` is of the JSON kind `shape` checks (for `Either`).
fn same_kind(shape: &Shape, value: &Value) -> bool {
    match shape {
        Shape::Any => true,
        Shape::Str { .. } | Shape::Enum(_) | Shape::Pattern { .. } | Shape::Link(_) | Shape::DatasetName => value.is_string(),
        Shape::Bool => value.is_boolean(),
        Shape::Int { .. } | Shape::Num { .. } => value.is_number(),
        Shape::Nullable(inner) => value.is_null() || same_kind(inner, value),
        Shape::Array { .. } => value.is_array(),
        Shape::Object { .. } | Shape::OneOf { .. } => value.is_object(),
        Shape::Either(alternatives) => alternatives.iter().any(|alt| same_kind(alt, value)),
    }
}

/// An integral JSON number (`3` or `3.0`).
fn as_integer(value: &Value) -> Option<i128> {
    let n = value.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    // Integral and well inside i64: the cast is exact.
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i128)
}

/// What the generic link collection takes for a link.
pub(crate) fn looks_like_link(s: &str) -> bool {
    s.starts_with("/rest/projects/") && s.contains("/md/")
}

// Matchers for the spec's patterns.

/// `dataset.property`: two names joined by one dot.
pub(crate) fn is_dataset_property(s: &str) -> bool {
    s.split_once('.')
        .is_some_and(|(dataset, property)| is_name(dataset) && is_name(property))
}

/// A column id of a query: 1..60 characters `[A-Za-z0-9_-]` (`^[\w_-]+$`).
pub(crate) fn is_column_id(s: &str) -> bool {
    (1..=60).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `^[a-z_]+$` (view icons).
pub(crate) fn is_icon(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// `^[a-z-]+$` (marker styles).
pub(crate) fn is_marker_style(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

/// `^[a-z0-9_-]+$` (marker selector split property names).
pub(crate) fn is_split_property_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A name of at most 50 characters (linked layer styles).
pub(crate) fn is_short_name(s: &str) -> bool {
    s.len() <= 50 && is_name(s)
}

/// `#` and six hexadecimal digits (7 characters).
pub(crate) fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.strip_prefix('#').is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An ISO 3166 alpha-2 country code: two letters (`GB`).
pub(crate) fn is_country_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// `^[a-zA-Z0-9 _-]*(\.csv|\.xlsx)$` (export file names).
pub(crate) fn is_export_filename(s: &str) -> bool {
    let stem = s.strip_suffix(".csv").or_else(|| s.strip_suffix(".xlsx"));
    stem.is_some_and(|stem| {
        stem.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'_' || b == b'-')
    })
}

/// `^mapbox:\/\/styles\/.*$` (custom tile layers).
pub(crate) fn is_mapbox_style_url(s: &str) -> bool {
    s.starts_with("mapbox://styles/")
}

/// An account to apply a data permission to: a UUID (the spec's regex) or a
/// Locus account id (20 characters `[a-zA-Z0-9]`, api-contract.md §13 #2).
pub(crate) fn is_account_id(s: &str) -> bool {
    let locus = s.len() == 20 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let uuid = s.split('-').map(str::len).eq([8, 4, 4, 4, 12]) && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    locus || uuid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        assert!(is_dataset_property("baskets.amount") && !is_dataset_property("baskets") && !is_dataset_property("a.b.c"));
        assert!(is_column_id("obec_dwh-nazev2") && !is_column_id("") && !is_column_id("a.b"));
        assert!(is_icon("shop_bag") && !is_icon("shop-bag") && !is_icon(""));
        assert!(is_marker_style("marker-orange") && !is_marker_style("marker_orange"));
        assert!(is_hex_color("#1a2B3c") && !is_hex_color("1a2b3c0") && !is_hex_color("#1a2b3"));
        assert!(is_export_filename("Customer ids_2.xlsx") && is_export_filename(".csv") && !is_export_filename("a.txt"));
        assert!(!is_export_filename("a/b.csv"));
        assert!(is_account_id("00ubfu6dpmnTMIQKs0h7") && is_account_id("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_account_id("123e4567-e89b-12d3-a456-42661417400") && !is_account_id("someone"));
        assert!(is_country_code("GB") && !is_country_code("GBR"));
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        assert_eq!(as_integer(&serde_json::json!(3)), Some(3));
        assert_eq!(as_integer(&serde_json::json!(3.0)), Some(3));
        assert_eq!(as_integer(&serde_json::json!(3.5)), None);
        assert_eq!(as_integer(&serde_json::json!(u64::MAX)), Some(i128::from(u64::MAX)));
        assert_eq!(as_integer(&serde_json::json!("3")), None);
    }
}

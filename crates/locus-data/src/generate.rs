//! A dataset definition generated from the first lines of a CSV file
//! (`POST /projects/{id}/md/datasets/generateDataset`, semantics.md §9): a
//! user about to load a file gets the `ref` to start from instead of typing
//! one property per column.
//!
//! Each column becomes a property named after its header (lower case, other
//! characters as `_`) and typed by what every non-empty sample value parses
//! as, with the loader's own parsers, so that the file loads under the
//! definition: `integer` (`bigint` beyond 32 bits), `decimal`, `boolean`
//! (`true`/`false`), `date` (`YYYY-MM-DD`), else `string`. A
//! `geometryPoint` dataset takes its `latitude` and `longitude` from the
//! columns so named (`lat`, `latitude`, `lng`, `lon`, `longitude`); a
//! `geometryPolygon` dataset's `geometry` column is typed `geometry`.

use serde_json::{json, Value};

use crate::csv::{CsvOptions, CsvReader, Record};
use crate::DataError;

/// The most lines (the header included) a sample may have.
pub const MAX_LINES: usize = 10;

/// What to generate: the dataset's name and subtype, the columns that are
/// its key and its geometry (by header or generated name), and the CSV's
/// separator, quote and escape.
#[derive(Debug, Clone)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub subtype: &'a str,
    pub primary_key: Option<&'a str>,
    pub geometry: Option<&'a str>,
    pub csv: CsvOptions,
}

fn wrong(field: &'static str, message: impl Into<String>) -> DataError {
    DataError::Sample {
        field,
        message: message.into(),
    }
}

/// The DatasetDTO for `csv` (a header line and up to nine lines of values).
pub fn generate_dataset(csv: &[u8], sample: &Sample<'_>) -> Result<Value, DataError> {
    if !matches!(sample.subtype, "basic" | "geometryPoint" | "geometryPolygon") {
        return Err(wrong("subtype", "one of basic, geometryPoint, geometryPolygon"));
    }
    let mut reader = CsvReader::new(csv, &sample.csv);
    let mut record = Record::new();
    let mut lines: Vec<Vec<String>> = Vec::new();
    while reader.read_record(&mut record).map_err(|e| wrong("body", e.to_string()))? {
        if lines.len() == MAX_LINES {
            return Err(DataError::SampleTooLong { lines: MAX_LINES });
        }
        let fields = record
            .fields()
            .map_err(|e| wrong("body", format!("line {}: field {} is not UTF-8", record.line(), e.field + 1)))?;
        lines.push(fields.map(|f| f.text.to_owned()).collect());
    }
    let Some((header, rows)) = lines.split_first() else {
        return Err(wrong("body", "a header line naming the columns is required"));
    };
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(wrong("body", "the header line names no column"));
    }
    for (i, row) in rows.iter().enumerate() {
        if row.len() != header.len() {
            return Err(wrong(
                "body",
                format!("line {} has {} fields, the header {}", i + 2, row.len(), header.len()),
            ));
        }
    }
    let names = property_names(header);
    let find = |field: &'static str, wanted: &str| -> Result<usize, DataError> {
        header
            .iter()
            .zip(&names)
            .position(|(h, n)| h == wanted || n == wanted)
            .ok_or_else(|| wrong(field, format!("no column named {wanted:?}; the columns are {}", header.join(", "))))
    };
    let key = match sample.primary_key {
        Some(k) => find("primaryKey", k)?,
        None => names.iter().position(|n| n == "id").unwrap_or(0),
    };
    let geometry = match (sample.subtype, sample.geometry) {
        ("geometryPolygon", Some(g)) => Some(find("geometry", g)?),
        ("geometryPolygon", None) => {
            let guess = names
                .iter()
                .position(|n| matches!(n.as_str(), "geometry" | "geom" | "wkt" | "shape"));
            Some(guess.ok_or_else(|| wrong("geometry", "name the column that holds the polygons (WKT or GeoJSON)"))?)
        }
        (_, Some(_)) => return Err(wrong("geometry", "only a geometryPolygon dataset has a geometry column")),
        _ => None,
    };
    let mut properties = Vec::with_capacity(header.len());
    // Columns are matched by position when the file is loaded; a dwh
    // column's name follows the same rule as a property's.
    for (i, name) in names.iter().enumerate() {
        let values: Vec<&str> = rows.iter().map(|r| r[i].trim()).filter(|v| !v.is_empty()).collect();
        let ty = if geometry == Some(i) {
            "geometry"
        } else if sample.subtype == "geometryPoint" && is_latitude(name) && fits(&values, 90.0) {
            "latitude"
        } else if sample.subtype == "geometryPoint" && is_longitude(name) && fits(&values, 180.0) {
            "longitude"
        } else {
            infer(&values)
        };
        properties.push(json!({"name": name, "column": name, "type": ty}));
    }
    if sample.subtype == "geometryPoint" {
        for (ty, names) in [("latitude", "lat or latitude"), ("longitude", "lng, lon or longitude")] {
            if !properties.iter().any(|p| p["type"] == ty) {
                return Err(wrong(
                    "body",
                    format!("a geometryPoint dataset needs a {ty} column ({names}) of numbers in range"),
                ));
            }
        }
    }
    Ok(json!({
        "name": sample.name,
        "type": "dataset",
        "title": sample.name,
        "ref": {"type": "dwh", "subtype": sample.subtype, "primaryKey": names[key], "properties": properties}
    }))
}

/// Property names from headers: lower-case ASCII letters, digits and `_`,
/// starting with a letter, unique (`_2`, `_3` after a repeat).
fn property_names(header: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        let mut name = String::new();
        for c in h.trim().chars().flat_map(char::to_lowercase) {
            match c {
                'a'..='z' | '0'..='9' => name.push(c),
                _ if !name.ends_with('_') => name.push('_'),
                _ => {}
            }
        }
        let mut name = name.trim_matches('_').to_owned();
        if name.is_empty() {
            name = format!("column_{}", i + 1);
        } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            name = format!("c_{name}");
        }
        let base = name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

fn is_latitude(name: &str) -> bool {
    matches!(name, "lat" | "latitude")
}

fn is_longitude(name: &str) -> bool {
    matches!(name, "lng" | "lon" | "long" | "longitude")
}

fn fits(values: &[&str], limit: f64) -> bool {
    !values.is_empty()
        && values
            .iter()
            .all(|v| v.parse::<f64>().is_ok_and(|x| x.is_finite() && x.abs() <= limit))
}

/// The narrowest type every value parses as, by the loader's parsers.
fn infer(values: &[&str]) -> &'static str {
    let all = |ok: &dyn Fn(&str) -> bool| !values.is_empty() && values.iter().all(|v| ok(v));
    if all(&|v| v.parse::<i32>().is_ok()) {
        "integer"
    } else if all(&|v| v.parse::<i64>().is_ok()) {
        "bigint"
    } else if all(&|v| v.parse::<f64>().is_ok_and(f64::is_finite)) {
        "decimal"
    } else if all(&|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) {
        "boolean"
    } else if all(&|v| crate::load::parse_date(v).is_some()) {
        "date"
    } else {
        "string"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(subtype: &'a str) -> Sample<'a> {
        Sample {
            name: "shops",
            subtype,
            primary_key: None,
            geometry: None,
            csv: CsvOptions::default(),
        }
    }

    #[test]
    fn columns_become_properties_typed_by_their_values() {
        let csv = "ID,Shop name,Opened,Revenue,Big,Partner,Lat,Lng,Note\n\
                   1,Alpha,2024-01-02,10.5,3000000000,true,50.1,14.4,\n\
                   2,Beta,2024-02-30,7,1,FALSE,49.2,16.6,x\n";
        let got = generate_dataset(csv.as_bytes(), &sample("geometryPoint")).unwrap();
        let types: Vec<(&str, &str, &str)> = got["ref"]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap(),
                    p["column"].as_str().unwrap(),
                    p["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            types,
            [
                ("id", "id", "integer"),
                ("shop_name", "shop_name", "string"),
                // 2024-02-30 is no day: the column is text.
                ("opened", "opened", "string"),
                ("revenue", "revenue", "decimal"),
                ("big", "big", "bigint"),
                ("partner", "partner", "boolean"),
                ("lat", "lat", "latitude"),
                ("lng", "lng", "longitude"),
                ("note", "note", "string"),
            ]
        );
        assert_eq!(got["ref"]["primaryKey"], "id");
        assert_eq!(got["ref"]["subtype"], "geometryPoint");
        // The loader's date parser decides what a date is.
        let dates = generate_dataset(b"day\n2024-02-29\n", &sample("basic")).unwrap();
        assert_eq!(dates["ref"]["properties"][0]["type"], "date");
    }

    #[test]
    fn names_are_made_valid_and_unique_and_the_key_and_geometry_are_found() {
        let csv = "Kód obce;2nd;2nd;;Tvar\n1;a;b;c;POLYGON ((0 0, 1 0, 1 1, 0 0))\n";
        let mut s = sample("geometryPolygon");
        s.csv.separator = b';';
        s.primary_key = Some("Kód obce");
        s.geometry = Some("tvar");
        let got = generate_dataset(csv.as_bytes(), &s).unwrap();
        let names: Vec<&str> = got["ref"]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["k_d_obce", "c_2nd", "c_2nd_2", "column_4", "tvar"]);
        assert_eq!(got["ref"]["primaryKey"], "k_d_obce");
        assert_eq!(got["ref"]["properties"][4]["type"], "geometry");
    }

    #[test]
    fn bad_samples_name_what_is_wrong() {
        let field = |r: Result<Value, DataError>| match r {
            Err(DataError::Sample { field, .. }) => field.to_owned(),
            Err(DataError::SampleTooLong { .. }) => "too long".to_owned(),
            other => format!("{other:?}"),
        };
        let long = format!("id\n{}", "1\n".repeat(MAX_LINES));
        assert_eq!(field(generate_dataset(long.as_bytes(), &sample("basic"))), "too long");
        let just_enough = format!("id\n{}", "1\n".repeat(MAX_LINES - 1));
        assert!(generate_dataset(just_enough.as_bytes(), &sample("basic")).is_ok());
        assert_eq!(field(generate_dataset(b"", &sample("basic"))), "body");
        assert_eq!(field(generate_dataset(b"a,b\n1\n", &sample("basic"))), "body");
        assert_eq!(field(generate_dataset(b"a\n1\n", &sample("cube"))), "subtype");
        assert_eq!(field(generate_dataset(b"name\nx\n", &sample("geometryPoint"))), "body");
        assert_eq!(field(generate_dataset(b"id,lat\n1,95\n", &sample("geometryPoint"))), "body");
        let mut s = sample("basic");
        s.primary_key = Some("nope");
        assert_eq!(field(generate_dataset(b"id\n1\n", &s)), "primaryKey");
        assert_eq!(field(generate_dataset(b"id,name\n1,x\n", &sample("geometryPolygon"))), "geometry");
    }
}

//! `csvOptions` of a dataPull job (api-contract.md §7.2), read from the wire
//! JSON with errors that name the field.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::DataError;

/// How a CSV file is written. Defaults: a header line, `,` `"` `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first line holds column names and is skipped (they need not match).
    pub header: bool,
    pub separator: u8,
    pub quote: u8,
    /// Inside quotes, escapes a following quote or escape character; before
    /// any other character it is taken literally (as PostgreSQL's COPY does).
    pub escape: u8,
    /// A further text read as NULL (quoted or not).
    pub null: Option<String>,
    /// The columns (property or column names) where `null` applies; all
    /// columns when absent. With `forceNull` and no `null`, a quoted empty
    /// field is NULL in those columns.
    pub force_null: Option<Vec<String>>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            separator: b',',
            quote: b'"',
            escape: b'\\',
            null: None,
            force_null: None,
        }
    }
}

impl CsvOptions {
    /// Reads the wire object `{header, separator, quote, escape, null, forceNull}`;
    /// absent or null keys keep their defaults, unknown keys are ignored.
    pub fn from_json(value: &Value) -> Result<Self, DataError> {
        let mut opts = CsvOptions::default();
        let obj = match value {
            Value::Null => return Ok(opts),
            Value::Object(obj) => obj,
            _ => return Err(bad("", "must be an object")),
        };
        let get = |key: &str| obj.get(key).filter(|v| !v.is_null());
        if let Some(v) = get("header") {
            opts.header = v.as_bool().ok_or_else(|| bad("header", "must be a boolean"))?;
        }
        if let Some(v) = get("separator") {
            opts.separator = one_char("separator", v)?;
        }
        if let Some(v) = get("quote") {
            opts.quote = one_char("quote", v)?;
        }
        if let Some(v) = get("escape") {
            opts.escape = one_char("escape", v)?;
        }
        if let Some(v) = get("null") {
            opts.null = Some(v.as_str().ok_or_else(|| bad("null", "must be a string"))?.to_owned());
        }
        if let Some(v) = get("forceNull") {
            let items = v.as_array().ok_or_else(|| bad("forceNull", "must be an array of column names"))?;
            let names = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("forceNull", "must be an array of column names"))?;
            opts.force_null = Some(names);
        }
        opts.check()?;
        Ok(opts)
    }

    /// Refuses combinations the reader cannot tell apart.
    pub fn check(&self) -> Result<(), DataError> {
        for (field, c) in [("separator", self.separator), ("quote", self.quote), ("escape", self.escape)] {
            if !c.is_ascii() || c == b'\n' || c == b'\r' {
                return Err(bad(field, "must be one ASCII character other than a line break"));
            }
        }
        if self.separator == self.quote {
            return Err(bad("quote", "must differ from the separator"));
        }
        if self.separator == self.escape {
            return Err(bad("escape", "must differ from the separator"));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for CsvOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        CsvOptions::from_json(&value).map_err(serde::de::Error::custom)
    }
}

fn one_char(field: &'static str, v: &Value) -> Result<u8, DataError> {
    let s = v.as_str().ok_or_else(|| bad(field, "must be a one-character string"))?;
    match s.as_bytes() {
        [c] => Ok(*c),
        _ => Err(bad(field, format!("must be one ASCII character, not {s:?}"))),
    }
}

fn bad(field: &'static str, message: impl Into<String>) -> DataError {
    DataError::CsvOption {
        field,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_wire_shape() {
        let o: CsvOptions = serde_json::from_value(json!({
            "header": false, "separator": ";", "quote": "'", "escape": "'", "null": "NA", "forceNull": ["a"]
        }))
        .unwrap();
        assert_eq!((o.header, o.separator, o.quote, o.escape), (false, b';', b'\'', b'\''));
        assert_eq!(o.null.as_deref(), Some("NA"));
        assert_eq!(o.force_null, Some(vec!["a".to_owned()]));
        assert_eq!(CsvOptions::from_json(&json!({})).unwrap(), CsvOptions::default());
    }

    #[test]
    fn bad_values_name_the_field() {
        for (wire, field) in [
            (json!({"separator": ";;"}), "separator"),
            (json!({"separator": "é"}), "separator"),
            (json!({"quote": 1}), "quote"),
            (json!({"escape": ""}), "escape"),
            (json!({"header": "yes"}), "header"),
            (json!({"forceNull": "a"}), "forceNull"),
            (json!({"quote": ","}), "quote"),
        ] {
            match CsvOptions::from_json(&wire) {
                Err(DataError::CsvOption { field: f, .. }) => assert_eq!(f, field, "{wire}"),
                other => panic!("{wire}: {other:?}"),
            }
        }
        let err = serde_json::from_value::<CsvOptions>(json!({"separator": "ab"})).unwrap_err();
        assert!(err.to_string().starts_with("csvOptions.separator: "), "{err}");
    }
}

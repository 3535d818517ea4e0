//! Integration tests of locus-data: one binary, one module per concern.
#![allow(clippy::unwrap_used)]

mod csv_rules;
mod dump;
mod incremental;
mod load;
mod queries;
mod versions;

use std::sync::Arc;

use locus_data::{DataStore, DatasetDef, ObjectStore};
use serde_json::json;

/// A fresh local store in a temporary directory (kept alive by the guard).
pub fn temp_store() -> (tempfile::TempDir, Arc<dyn ObjectStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = DataStore::open(dir.path().join("data").to_str().unwrap()).unwrap().store;
    (dir, store)
}

/// A dataset with one property of every type; `id` is the key, `zone` is
/// calculated (so it is not in CSVs).
pub fn everything() -> DatasetDef {
    DatasetDef::from_metadata(
        "things",
        &json!({"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [
            {"name": "id", "column": "id", "type": "integer"},
            {"name": "name", "column": "name", "type": "string"},
            {"name": "big", "column": "big", "type": "bigint"},
            {"name": "price", "column": "price", "type": "decimal"},
            {"name": "open", "column": "open", "type": "boolean"},
            {"name": "day", "column": "day", "type": "date"},
            {"name": "lat", "column": "lat", "type": "latitude"},
            {"name": "lng", "column": "lng", "type": "longitude"},
            {"name": "shape", "column": "shape", "type": "geometry"},
            {"name": "zone", "column": "zone", "type": "string", "foreignKey": "zones", "calculated": true}
        ]}),
    )
    .unwrap()
}

/// A dataset of (id integer key, name string).
pub fn pairs() -> DatasetDef {
    DatasetDef::from_metadata(
        "pairs",
        &json!({"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [
            {"name": "id", "column": "id", "type": "integer"},
            {"name": "name", "column": "name", "type": "string"}
        ]}),
    )
    .unwrap()
}

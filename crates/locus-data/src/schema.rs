//! Dataset definitions: what a `dwh` dataset's metadata says about its rows,
//! and the Arrow schema those rows are stored with.
//!
//! The metadata object is validated for its shape by locus-core; this module
//! reads only what the data plane needs and refuses what it cannot store.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

use crate::DataError;

/// The type of a property, as named by `ref.properties[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyType {
    Integer,
    Bigint,
    Decimal,
    String,
    Boolean,
    Date,
    Latitude,
    Longitude,
    /// A polygon or line, stored as WKB.
    Geometry,
}

impl PropertyType {
    /// The type names accepted on a dwh dataset, for error messages.
    pub const NAMES: &'static str = "integer, bigint, decimal, string, boolean, date, latitude, longitude, geometry";

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "integer" => Self::Integer,
            "bigint" => Self::Bigint,
            "decimal" => Self::Decimal,
            "string" => Self::String,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "latitude" => Self::Latitude,
            "longitude" => Self::Longitude,
            "geometry" => Self::Geometry,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Bigint => "bigint",
            Self::Decimal => "decimal",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Latitude => "latitude",
            Self::Longitude => "longitude",
            Self::Geometry => "geometry",
        }
    }

    /// The Arrow type values of this property are stored as.
    pub fn data_type(self) -> DataType {
        match self {
            Self::Integer | Self::Bigint => DataType::Int64,
            Self::Decimal | Self::Latitude | Self::Longitude => DataType::Float64,
            Self::String => DataType::Utf8,
            Self::Boolean => DataType::Boolean,
            Self::Date => DataType::Date32,
            Self::Geometry => DataType::Binary,
        }
    }
}

/// `ref.subtype` of a dwh dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Subtype {
    Basic,
    Date,
    GeometryPoint,
    GeometryPolygon,
    GeometryLine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyDef {
    /// The property's id within the dataset; also the stored column's name.
    pub name: String,
    /// The physical column name of the metadata (kept for exports).
    pub column: String,
    pub ty: PropertyType,
    /// The dwh dataset whose primary key this property's values are.
    pub foreign_key: Option<String>,
    /// Filled at load time (the area mapper), never read from a CSV.
    pub calculated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetDef {
    pub name: String,
    /// The name of the property that identifies a row.
    pub primary_key: String,
    pub subtype: Subtype,
    pub properties: Vec<PropertyDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRef {
    #[serde(rename = "type")]
    ty: String,
    subtype: Option<Subtype>,
    primary_key: Option<String>,
    properties: Option<Vec<WireProperty>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireProperty {
    name: String,
    column: String,
    #[serde(rename = "type")]
    ty: String,
    foreign_key: Option<String>,
    calculated: Option<bool>,
}

impl DatasetDef {
    /// Reads a dataset's definition from its metadata's `ref` object.
    pub fn from_metadata(name: &str, content_ref: &serde_json::Value) -> Result<Self, DataError> {
        let wire = WireRef::deserialize(content_ref).map_err(|e| DataError::definition(name, format!("ref: {e}")))?;
        if wire.ty != "dwh" {
            return Err(DataError::definition(
                name,
                format!("a {} dataset holds no rows; only dwh datasets do", wire.ty),
            ));
        }
        let subtype = wire.subtype.ok_or_else(|| DataError::definition(name, "ref.subtype is missing"))?;
        let primary_key = wire
            .primary_key
            .ok_or_else(|| DataError::definition(name, "ref.primaryKey is missing"))?;
        let wire_properties = wire.properties.unwrap_or_default();
        if wire_properties.is_empty() {
            return Err(DataError::definition(name, "ref.properties is empty"));
        }
        let mut properties = Vec::with_capacity(wire_properties.len());
        for p in wire_properties {
            let ty = PropertyType::parse(&p.ty).ok_or_else(|| {
                DataError::definition(
                    name,
                    format!("property {}: type {:?} is not one of {}", p.name, p.ty, PropertyType::NAMES),
                )
            })?;
            if p.name.starts_with("__") {
                return Err(DataError::definition(
                    name,
                    format!("property {}: names starting with __ are reserved for columns Locus adds", p.name),
                ));
            }
            if properties.iter().any(|q: &PropertyDef| q.name == p.name) {
                return Err(DataError::definition(name, format!("property {} is defined twice", p.name)));
            }
            properties.push(PropertyDef {
                name: p.name,
                column: p.column,
                ty,
                foreign_key: p.foreign_key,
                calculated: p.calculated.unwrap_or(false),
            });
        }
        let def = DatasetDef {
            name: name.to_owned(),
            primary_key,
            subtype,
            properties,
        };
        match def.properties.iter().find(|p| p.name == def.primary_key) {
            None => Err(DataError::definition(
                name,
                format!("primary key {} is not one of its properties", def.primary_key),
            )),
            Some(p) if p.calculated => Err(DataError::definition(
                name,
                format!("primary key {} cannot be calculated", def.primary_key),
            )),
            Some(p) if p.ty == PropertyType::Geometry => Err(DataError::definition(
                name,
                format!("primary key {} cannot be a geometry", def.primary_key),
            )),
            Some(_) => Ok(def),
        }
    }

    /// The schema of stored rows: one column per property, named like it, in
    /// the metadata's order; only the primary key is non-null.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .properties
            .iter()
            .map(|p| Field::new(&p.name, p.ty.data_type(), p.name != self.primary_key))
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The properties a CSV's columns map to, by position: all but the
    /// calculated ones.
    pub fn load_columns(&self) -> impl Iterator<Item = &PropertyDef> {
        self.properties.iter().filter(|p| !p.calculated)
    }

    /// The index of the primary key among [`Self::properties`].
    pub fn primary_key_index(&self) -> usize {
        // from_metadata guarantees the key is a property; a hand-built
        // definition without it gets the first column.
        self.properties.iter().position(|p| p.name == self.primary_key).unwrap_or(0)
    }

    pub fn property(&self, name: &str) -> Option<&PropertyDef> {
        self.properties.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn shops() -> serde_json::Value {
        json!({"type": "dwh", "subtype": "geometryPoint", "primaryKey": "id", "properties": [
            {"name": "id", "column": "id", "type": "integer"},
            {"name": "lat", "column": "lat", "type": "latitude"},
            {"name": "zone", "column": "zone_id", "type": "string", "foreignKey": "zones", "calculated": true}
        ]})
    }

    #[test]
    fn reads_a_dwh_ref() {
        let def = DatasetDef::from_metadata("shops", &shops()).unwrap();
        assert_eq!(def.subtype, Subtype::GeometryPoint);
        assert_eq!(def.properties[2].foreign_key.as_deref(), Some("zones"));
        let loaded: Vec<_> = def.load_columns().map(|p| p.name.as_str()).collect();
        assert_eq!(loaded, ["id", "lat"]);
        let schema = def.arrow_schema();
        assert!(!schema.field(0).is_nullable());
        assert!(schema.field(1).is_nullable());
        assert_eq!(schema.field(1).data_type(), &DataType::Float64);
    }

    #[test]
    fn refuses_what_holds_no_rows_or_cannot_be_stored() {
        let err = DatasetDef::from_metadata("t", &json!({"type": "vt", "urlTemplate": "x"})).unwrap_err();
        assert!(err.to_string().contains("a vt dataset holds no rows"), "{err}");
        let mut bad = shops();
        bad["properties"][1]["type"] = json!("float");
        let err = DatasetDef::from_metadata("shops", &bad).unwrap_err();
        assert!(err.to_string().contains("type \"float\" is not one of integer"), "{err}");
        let mut bad = shops();
        bad["primaryKey"] = json!("nope");
        let err = DatasetDef::from_metadata("shops", &bad).unwrap_err();
        assert!(err.to_string().contains("primary key nope is not one of"), "{err}");
    }
}

//! The automatic area mapper (data-plane.md §1): a point dataset's
//! `calculated` foreign key to a polygon dataset is filled at load time with
//! the primary key of the polygon that contains the point.
//!
//! The polygons of the target's current version are read once per load into
//! an R*-tree of their bounding boxes (rstar, through geo); each point looks
//! up the boxes that hold it and tests the candidates exactly (geo's
//! `Intersects`, so a point on a shared border belongs to a polygon). With
//! overlapping polygons the one with the smallest key wins; a point in no
//! polygon, or with no coordinates, gets NULL. The mapping runs on the
//! load's parsing thread, batch by batch, so memory stays bounded by the
//! polygons.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, UInt32Array};
use arrow::compute::{cast, sort_to_indices, take};
use arrow::datatypes::Float64Type;
use arrow::record_batch::RecordBatch;
use geo::{BoundingRect, Geometry, Intersects, Point};
use geozero::wkb::Wkb;
use geozero::ToGeo;
use rstar::{RTree, RTreeObject, AABB};

use crate::schema::{DatasetDef, PropertyType, Subtype};
use crate::DataError;

/// One polygon in the tree; `rank` is its key's position in key order.
struct Area {
    shape: Geometry<f64>,
    rank: u32,
    envelope: AABB<[f64; 2]>,
}

impl RTreeObject for Area {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// The polygons of one version of a polygon dataset, indexed.
pub struct AreaIndex {
    tree: RTree<Area>,
    /// The polygons' keys, sorted; an [`Area::rank`] indexes it.
    keys: ArrayRef,
}

impl AreaIndex {
    /// Indexes the rows of `def` (a polygon dataset) in `batches`. Rows with
    /// a NULL geometry are left out; a geometry that does not decode is an
    /// error (loads write only decodable ones).
    pub fn new(def: &DatasetDef, batches: &[RecordBatch]) -> Result<Self, DataError> {
        let geometry = polygon_geometry(def)?;
        let mut keys = Vec::new();
        let mut shapes = Vec::new();
        for batch in batches {
            let key = column(batch, &def.primary_key)?;
            let wkb = column(batch, geometry)?;
            let wkb = wkb
                .as_binary_opt::<i32>()
                .ok_or_else(|| DataError::Corrupt(format!("{}.{geometry} is not stored as WKB", def.name)))?;
            for row in 0..batch.num_rows() {
                if wkb.is_null(row) || key.is_null(row) {
                    continue;
                }
                keys.push(key.slice(row, 1));
                shapes.push(decode(wkb, row, &def.name)?);
            }
        }
        let keys = if keys.is_empty() {
            arrow::array::new_empty_array(&key_type(def))
        } else {
            let parts: Vec<&dyn Array> = keys.iter().map(AsRef::as_ref).collect();
            arrow::compute::concat(&parts)?
        };
        let order = sort_to_indices(&keys, None, None)?;
        let mut areas = Vec::with_capacity(shapes.len());
        let mut shapes: Vec<Option<Geometry<f64>>> = shapes.into_iter().map(Some).collect();
        for (rank, &row) in order.values().iter().enumerate() {
            let Some(shape) = shapes.get_mut(row as usize).and_then(Option::take) else {
                continue;
            };
            let Some(rect) = shape.bounding_rect() else { continue };
            areas.push(Area {
                shape,
                rank: u32::try_from(rank).map_err(|_| DataError::Corrupt("more than 4 billion polygons".into()))?,
                envelope: AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]),
            });
        }
        Ok(AreaIndex {
            tree: RTree::bulk_load(areas),
            keys: take(&keys, &order, None)?,
        })
    }

    /// The rank of the smallest-keyed polygon holding the point, if any.
    fn locate(&self, lng: f64, lat: f64) -> Option<u32> {
        let point = Point::new(lng, lat);
        self.tree
            .locate_in_envelope_intersecting(&AABB::from_point([lng, lat]))
            .filter(|area| area.shape.intersects(&point))
            .map(|area| area.rank)
            .min()
    }
}

/// The geometry property of a polygon dataset, or why it cannot be mapped to.
fn polygon_geometry(def: &DatasetDef) -> Result<&str, DataError> {
    let geometry = def.properties.iter().find(|p| p.ty == PropertyType::Geometry);
    match (def.subtype, geometry) {
        (Subtype::GeometryPolygon, Some(p)) => Ok(&p.name),
        _ => Err(DataError::definition(
            &def.name,
            format!(
                "dataset {} is the target of a calculated (area-mapped) foreign key, so it must be a geometryPolygon dataset with a geometry property",
                def.name
            ),
        )),
    }
}

fn key_type(def: &DatasetDef) -> arrow::datatypes::DataType {
    def.property(&def.primary_key)
        .map_or(arrow::datatypes::DataType::Utf8, |p| p.ty.data_type())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, DataError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataError::Corrupt(format!("the stored file has no column {name}")))
}

fn decode(wkb: &BinaryArray, row: usize, dataset: &str) -> Result<Geometry<f64>, DataError> {
    Wkb(wkb.value(row))
        .to_geo()
        .map_err(|e| DataError::Corrupt(format!("a stored geometry of {dataset}: {e}")))
}

/// One calculated column to fill.
struct Fill {
    /// The column's index in the point dataset's schema.
    column: usize,
    index: Arc<AreaIndex>,
    data_type: arrow::datatypes::DataType,
    /// Rows that got no polygon.
    unmapped: AtomicU64,
}

/// Fills a point dataset's area-mapped columns in each batch of a load.
#[derive(Default)]
pub struct AreaMapper {
    fills: Vec<Fill>,
    /// The latitude and longitude columns.
    coordinates: Option<(usize, usize)>,
}

impl AreaMapper {
    /// The calculated foreign keys of `def` that need a polygon index: the
    /// property and the dataset it names.
    pub fn targets(def: &DatasetDef) -> Vec<(String, String)> {
        def.properties
            .iter()
            .filter(|p| p.calculated)
            .filter_map(|p| Some((p.name.clone(), p.foreign_key.clone()?)))
            .collect()
    }

    /// A mapper for `def` (a point dataset) filling each named property from
    /// its polygon index.
    pub fn new(def: &DatasetDef, indexes: Vec<(String, Arc<AreaIndex>)>) -> Result<Self, DataError> {
        if indexes.is_empty() {
            // A dataset without area-mapped columns: nothing to fill.
            return Ok(AreaMapper::default());
        }
        let position = |ty: PropertyType| def.properties.iter().position(|p| p.ty == ty);
        let coordinates = match (position(PropertyType::Latitude), position(PropertyType::Longitude)) {
            (Some(lat), Some(lng)) => (lat, lng),
            _ => {
                return Err(DataError::definition(
                    &def.name,
                    "an area-mapped (calculated) foreign key needs a point dataset with a latitude and a longitude property",
                ))
            }
        };
        let mut fills = Vec::new();
        for (name, index) in indexes {
            let column = def
                .properties
                .iter()
                .position(|p| p.name == name && p.calculated)
                .ok_or_else(|| DataError::definition(&def.name, format!("{name} is not a calculated property of {}", def.name)))?;
            fills.push(Fill {
                column,
                index,
                data_type: def.properties[column].ty.data_type(),
                unmapped: AtomicU64::new(0),
            });
        }
        Ok(AreaMapper {
            fills,
            coordinates: Some(coordinates),
        })
    }

    /// `batch` with its area-mapped columns filled.
    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, DataError> {
        let Some((lat, lng)) = self.coordinates else { return Ok(batch) };
        let lats = batch.column(lat).as_primitive_opt::<Float64Type>();
        let lngs = batch.column(lng).as_primitive_opt::<Float64Type>();
        let (Some(lats), Some(lngs)) = (lats, lngs) else {
            return Err(DataError::Corrupt("latitude and longitude are not stored as numbers".into()));
        };
        let mut columns = batch.columns().to_vec();
        for fill in &self.fills {
            let ranks: UInt32Array = (0..batch.num_rows())
                .map(|row| {
                    if lats.is_null(row) || lngs.is_null(row) {
                        return None;
                    }
                    fill.index.locate(lngs.value(row), lats.value(row))
                })
                .collect();
            fill.unmapped.fetch_add(ranks.null_count() as u64, Ordering::Relaxed);
            let keys = take(&fill.index.keys, &ranks, None)?;
            columns[fill.column] = cast(&keys, &fill.data_type)?;
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }

    /// Per filled property: how many rows got no polygon so far.
    pub fn unmapped(&self, def: &DatasetDef) -> Vec<(String, u64)> {
        self.fills
            .iter()
            .map(|f| (def.properties[f.column].name.clone(), f.unmapped.load(Ordering::Relaxed)))
            .collect()
    }
}

//! Vector tiles (MVT) of a polygon or line dataset for the map (issue 19).
//!
//! Sent whole, a dataset of 10,000 municipalities is megabytes of GeoJSON
//! that the browser parses and re-tiles at every zoom; as tiles, the map
//! asks only for the squares it shows, each with the shapes simplified for
//! its zoom ([`crate::simplify`]) and the indicator's values joined in.
//!
//! A [`TileIndex`] holds one version's shapes at one tolerance, projected
//! to Web Mercator once and indexed by their bounding boxes (rstar); a tile
//! is then the shapes whose boxes meet it, moved to its 4096-unit grid and
//! encoded by geozero. Which rows a caller sees, and their values, come from
//! the query engine per request ([`Attributes`]); the index knows no rows.

use std::collections::HashMap;
use std::f64::consts::PI;

use geo::orient::{Direction, Orient};
use geo::{BoundingRect, Geometry, MapCoordsInPlace};
use geozero::geojson::GeoJson;
use geozero::mvt::{tile, Message, TagsBuilder, Tile, TileValue};
use geozero::{ToGeo, ToMvt};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde_json::Value;

/// The side of a tile in its own units (MVT's usual extent).
pub const EXTENT: u32 = 4096;
/// The closest zoom tiles are made at; MapLibre scales them up beyond.
pub const MAX_TILE_ZOOM: u8 = 16;
/// The layer every tile holds its features in.
pub const LAYER: &str = "features";
/// How far past its edges a tile takes shapes in (a fraction of its side),
/// so that outlines meet across tiles.
const BUFFER: f64 = 1.0 / 64.0;
/// Mercator's latitude limit: the world is a square.
const MAX_LATITUDE: f64 = 85.051_128_78;

/// What a map feature carries besides its shape: its key as JSON, its title
/// and its value (null when it has none).
#[derive(Debug, Clone)]
pub struct Attributes {
    pub id: Value,
    pub title: Value,
    pub value: Value,
}

type Boxed = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// One version's shapes at one tolerance, in the unit square of Web
/// Mercator (x east from 0 at 180° W, y south from 0 at the top), their
/// outer rings clockwise on screen as MVT wants.
pub struct TileIndex {
    shapes: Vec<(String, Geometry<f64>)>,
    tree: RTree<Boxed>,
}

impl TileIndex {
    /// Indexes GeoJSON geometry texts by key (the key as JSON text); a text
    /// that is no geometry is left out.
    pub fn new<'a>(geometries: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut shapes = Vec::new();
        let mut boxes = Vec::new();
        for (key, text) in geometries {
            let Ok(mut geometry) = GeoJson(text).to_geo() else {
                continue;
            };
            geometry.map_coords_in_place(|c| {
                let (x, y) = mercator(c.x, c.y);
                geo::coord! {x: x, y: y}
            });
            let geometry = match geometry {
                Geometry::Polygon(p) => Geometry::Polygon(p.orient(Direction::Default)),
                Geometry::MultiPolygon(p) => Geometry::MultiPolygon(p.orient(Direction::Default)),
                other => other,
            };
            let Some(rect) = geometry.bounding_rect() else {
                continue;
            };
            boxes.push(GeomWithData::new(
                Rectangle::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]),
                shapes.len(),
            ));
            shapes.push((key.to_owned(), geometry));
        }
        TileIndex {
            shapes,
            tree: RTree::bulk_load(boxes),
        }
    }

    /// The tile `z/x/y` as MVT bytes: one layer, [`LAYER`], with a feature
    /// per shape of a row in `rows` (by key) that meets the tile, carrying
    /// `id`, `title` and `value` (those not null).
    pub fn tile(&self, z: u8, x: u32, y: u32, rows: &HashMap<String, Attributes>) -> Vec<u8> {
        let scale = f64::from(1u32 << z);
        let (left, top) = (f64::from(x) / scale, f64::from(y) / scale);
        let side = 1.0 / scale;
        let pad = side * BUFFER;
        let area = AABB::from_corners([left - pad, top - pad], [left + side + pad, top + side + pad]);
        let mut hits: Vec<usize> = self.tree.locate_in_envelope_intersecting(&area).map(|b| b.data).collect();
        hits.sort_unstable();
        let units = f64::from(EXTENT) * scale;
        let mut tags = TagsBuilder::new();
        let mut features = Vec::with_capacity(hits.len());
        for i in hits {
            let (key, shape) = &self.shapes[i];
            let Some(row) = rows.get(key) else { continue };
            let mut local = shape.clone();
            local.map_coords_in_place(|c| geo::coord! {x: ((c.x - left) * units).round(), y: ((c.y - top) * units).round()});
            let Ok(mut feature) = local.to_mvt_unscaled() else {
                continue;
            };
            feature.id = row.id.as_u64();
            for (name, value) in [("id", &row.id), ("title", &row.title), ("value", &row.value)] {
                if let Some(value) = tile_value(value) {
                    let (k, v) = tags.insert_ref(name, value);
                    feature.tags.extend([k, v]);
                }
            }
            features.push(feature);
        }
        let (keys, values) = tags.into_tags();
        let layer = tile::Layer {
            version: 2,
            name: LAYER.to_owned(),
            features,
            keys,
            values: values.into_iter().map(Into::into).collect(),
            extent: Some(EXTENT),
        };
        Tile { layers: vec![layer] }.encode_to_vec()
    }

    /// The bounding box, in degrees `[west, south, east, north]`, of the
    /// shapes of the rows in `rows`; `None` when none has a shape.
    pub fn bounds(&self, rows: &HashMap<String, Attributes>) -> Option<[f64; 4]> {
        let mut out: Option<[f64; 4]> = None;
        for b in self.tree.iter() {
            if !rows.contains_key(&self.shapes[b.data].0) {
                continue;
            }
            let (lo, hi) = (b.geom().lower(), b.geom().upper());
            out = Some(match out {
                None => [lo[0], lo[1], hi[0], hi[1]],
                Some([x0, y0, x1, y1]) => [x0.min(lo[0]), y0.min(lo[1]), x1.max(hi[0]), y1.max(hi[1])],
            });
        }
        out.map(|[x0, y0, x1, y1]| {
            let (west, north) = degrees(x0, y0);
            let (east, south) = degrees(x1, y1);
            [west, south, east, north]
        })
    }
}

/// A JSON value as a tile value; null (no value) and nested values have none.
fn tile_value(value: &Value) -> Option<TileValue> {
    match value {
        Value::String(s) => Some(TileValue::Str(s.clone())),
        Value::Bool(b) => Some(TileValue::Bool(*b)),
        Value::Number(n) => n.as_i64().map(TileValue::Int).or_else(|| n.as_f64().map(TileValue::Double)),
        _ => None,
    }
}

/// Longitude and latitude in the unit square of Web Mercator.
fn mercator(lng: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE).to_radians();
    let x = (lng + 180.0) / 360.0;
    let y = 0.5 - (PI / 4.0 + lat / 2.0).tan().ln() / (2.0 * PI);
    (x, y)
}

/// The inverse of [`mercator`].
fn degrees(x: f64, y: f64) -> (f64, f64) {
    let lng = x * 360.0 - 180.0;
    let lat = (2.0 * ((0.5 - y) * 2.0 * PI).exp().atan() - PI / 2.0).to_degrees();
    (lng, lat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geozero::mvt::tile::GeomType;
    use serde_json::json;

    fn rows(keys: &[&str]) -> HashMap<String, Attributes> {
        keys.iter()
            .map(|k| {
                let id: Value = serde_json::from_str(k).unwrap();
                (
                    (*k).to_owned(),
                    Attributes {
                        id,
                        title: json!(format!("t{k}")),
                        value: json!(1.5),
                    },
                )
            })
            .collect()
    }

    fn json_of(value: tile::Value) -> Value {
        match TileValue::try_from(value) {
            Ok(TileValue::Str(s)) => json!(s),
            Ok(TileValue::Int(i)) => json!(i),
            Ok(TileValue::Double(d)) => json!(d),
            other => panic!("{other:?}"),
        }
    }

    fn square(lng: f64, lat: f64, d: f64) -> String {
        json!({"type": "Polygon", "coordinates": [[[lng, lat], [lng, lat + d], [lng + d, lat + d], [lng + d, lat], [lng, lat]]]})
            .to_string()
    }

    #[test]
    fn mercator_round_trips() {
        for (lng, lat) in [(0.0, 0.0), (14.42, 50.08), (-122.4, 37.77), (179.0, -60.0)] {
            let (x, y) = mercator(lng, lat);
            let (back_lng, back_lat) = degrees(x, y);
            assert!((back_lng - lng).abs() < 1e-9 && (back_lat - lat).abs() < 1e-9, "{lng} {lat}");
        }
        assert_eq!(mercator(-180.0, 0.0), (0.0, 0.5));
    }

    #[test]
    fn a_tile_holds_the_visible_shapes_that_meet_it_with_their_attributes() {
        // Prague, one further east, a key the caller may not see, and a shape far away.
        let texts = [
            ("1", square(14.3, 50.0, 0.2)),
            ("2", square(17.6, 49.1, 0.2)),
            ("3", square(14.6, 50.0, 0.1)),
            ("4", square(-70.0, -30.0, 1.0)),
        ];
        let index = TileIndex::new(texts.iter().map(|(k, t)| (*k, t.as_str())));
        let visible = rows(&["1", "2", "4"]);
        // Zoom 7: Prague is in tile 69/43, the shape at 17.6° E in 70/43.
        let tile = Tile::decode(index.tile(7, 69, 43, &visible).as_slice()).unwrap();
        let layer = &tile.layers[0];
        assert_eq!((layer.name.as_str(), layer.extent), (LAYER, Some(EXTENT)));
        assert_eq!(layer.features.len(), 1, "Prague only: 2 is in the next tile, 3 is not visible");
        let feature = &layer.features[0];
        assert_eq!(feature.id, Some(1));
        assert_eq!(feature.r#type, Some(GeomType::Polygon as i32));
        let tags: Vec<(String, Value)> = feature
            .tags
            .chunks(2)
            .map(|kv| (layer.keys[kv[0] as usize].clone(), json_of(layer.values[kv[1] as usize].clone())))
            .collect();
        assert_eq!(
            tags,
            vec![("id".into(), json!(1)), ("title".into(), json!("t1")), ("value".into(), json!(1.5))]
        );
        // MoveTo(1), x, y: the ring starts at the square's first corner, in tile units.
        let (x, y) = mercator(14.3, 50.0);
        let want = (
            ((x * 128.0 - 69.0) * 4096.0).round() as i32,
            ((y * 128.0 - 43.0) * 4096.0).round() as i32,
        );
        let zigzag = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
        assert_eq!(feature.geometry[0], 9, "one MoveTo");
        assert_eq!((zigzag(feature.geometry[1]), zigzag(feature.geometry[2])), want);
        // The exterior ring is clockwise on screen: positive area in tile units.
        let mut ring = vec![(0i64, 0i64)];
        let (mut cx, mut cy) = (0i64, 0i64);
        let mut i = 0;
        while i < feature.geometry.len() {
            let (command, count) = (feature.geometry[i] & 7, feature.geometry[i] >> 3);
            i += 1;
            if command == 7 {
                continue;
            }
            for _ in 0..count {
                cx += i64::from(zigzag(feature.geometry[i]));
                cy += i64::from(zigzag(feature.geometry[i + 1]));
                ring.push((cx, cy));
                i += 2;
            }
        }
        let ring = &ring[1..];
        let area: i64 = (0..ring.len())
            .map(|k| {
                let (a, b) = (ring[k], ring[(k + 1) % ring.len()]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum();
        assert!(area > 0, "{ring:?}");
        // The whole world at zoom 0 holds every visible shape.
        let world = Tile::decode(index.tile(0, 0, 0, &visible).as_slice()).unwrap();
        assert_eq!(world.layers[0].features.len(), 3);
    }

    #[test]
    fn bounds_cover_the_visible_shapes_only() {
        let texts = [
            ("1", square(14.0, 50.0, 0.5)),
            ("2", square(16.0, 49.0, 0.5)),
            ("3", square(-70.0, -30.0, 1.0)),
        ];
        let index = TileIndex::new(texts.iter().map(|(k, t)| (*k, t.as_str())));
        let [w, s, e, n] = index.bounds(&rows(&["1", "2"])).unwrap();
        for (got, want) in [(w, 14.0), (s, 49.0), (e, 16.5), (n, 50.5)] {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert!(index.bounds(&rows(&["9"])).is_none());
    }
}

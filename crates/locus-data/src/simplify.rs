//! Geometries for a map at a zoom level (issue 19): a polygon dataset of
//! thousands of municipalities is megabytes of vertices the screen cannot
//! show when the whole country is in view. The map asks for its zoom; the
//! GeoJSON it gets has lines and rings simplified by Ramer–Douglas–Peucker
//! (geo's `Simplify`) to a quarter of a pixel at that zoom, and coordinates
//! rounded to the digits that still resolve a tenth of that.
//!
//! Works on GeoJSON geometry objects as the query engine renders them, so
//! the same rows, filters and permissions reach the map at every zoom.

use geo::{LineString, Simplify};
use serde_json::{json, Value};

/// The zoom from which geometries are sent whole (a building's detail).
pub const FULL_DETAIL_ZOOM: u8 = 20;

/// Degrees of longitude a quarter of a pixel spans at `zoom` on 512-pixel
/// tiles (MapLibre's), at the equator: what may be dropped unseen.
pub fn tolerance_at_zoom(zoom: u8) -> f64 {
    360.0 / (512.0 * 2f64.powi(i32::from(zoom))) / 4.0
}

/// A GeoJSON geometry simplified to `tolerance` degrees. A ring that would
/// collapse (a polygon smaller than the tolerance) becomes its bounding box,
/// so every feature stays on the map; a hole or a part of a multipolygon
/// that collapses is dropped while another part remains. Geometries it does
/// not know come back as they are.
pub fn simplify_geojson(geometry: &Value, tolerance: f64) -> Value {
    let digits = decimals(tolerance);
    let coordinates = geometry.get("coordinates");
    let kind = geometry.get("type").and_then(Value::as_str).unwrap_or_default();
    let simplified = match (kind, coordinates) {
        ("Point", Some(c)) => position(c).map(|p| json!(rounded(p, digits))),
        ("MultiPoint", Some(c)) => positions(c).map(|ps| json!(ps.into_iter().map(|p| rounded(p, digits)).collect::<Vec<_>>())),
        ("LineString", Some(c)) => positions(c).map(|ps| json!(line(ps, tolerance, digits))),
        ("MultiLineString", Some(Value::Array(lines))) => lines
            .iter()
            .map(|l| positions(l).map(|ps| json!(line(ps, tolerance, digits))))
            .collect::<Option<Vec<_>>>()
            .map(Value::from),
        ("Polygon", Some(c)) => polygon(c, tolerance, digits).map(|(rings, _)| json!(rings)),
        ("MultiPolygon", Some(Value::Array(parts))) => {
            let parts = parts.iter().map(|p| polygon(p, tolerance, digits)).collect::<Option<Vec<_>>>();
            parts.map(|parts| {
                let kept: Vec<&Vec<Vec<[f64; 2]>>> = parts.iter().filter(|(_, collapsed)| !collapsed).map(|(r, _)| r).collect();
                if kept.is_empty() {
                    json!(parts.first().map(|(rings, _)| vec![rings]).unwrap_or_default())
                } else {
                    json!(kept)
                }
            })
        }
        ("GeometryCollection", _) => {
            let members = geometry.get("geometries").and_then(Value::as_array);
            return members.map_or_else(
                || geometry.clone(),
                |g| json!({"type": kind, "geometries": g.iter().map(|m| simplify_geojson(m, tolerance)).collect::<Vec<_>>()}),
            );
        }
        _ => None,
    };
    match simplified {
        Some(coordinates) => json!({"type": kind, "coordinates": coordinates}),
        None => geometry.clone(),
    }
}

/// The decimal places that resolve a tenth of `tolerance` degrees.
fn decimals(tolerance: f64) -> i32 {
    if tolerance > 0.0 {
        ((-(tolerance / 10.0).log10()).ceil() as i32).clamp(0, 9)
    } else {
        9
    }
}

fn rounded(p: [f64; 2], digits: i32) -> [f64; 2] {
    let scale = 10f64.powi(digits);
    [(p[0] * scale).round() / scale, (p[1] * scale).round() / scale]
}

fn position(v: &Value) -> Option<[f64; 2]> {
    let a = v.as_array()?;
    Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
}

fn positions(v: &Value) -> Option<Vec<[f64; 2]>> {
    v.as_array()?.iter().map(position).collect()
}

fn line(points: Vec<[f64; 2]>, tolerance: f64, digits: i32) -> Vec<[f64; 2]> {
    let line: LineString<f64> = points.into_iter().map(|[x, y]| (x, y)).collect();
    let mut out: Vec<[f64; 2]> = line.simplify(tolerance).0.iter().map(|c| rounded([c.x, c.y], digits)).collect();
    out.dedup();
    out
}

/// A polygon's rings simplified, and whether its outer ring collapsed (and
/// was replaced by its bounding box).
fn polygon(v: &Value, tolerance: f64, digits: i32) -> Option<(Vec<Vec<[f64; 2]>>, bool)> {
    let rings = v.as_array()?.iter().map(positions).collect::<Option<Vec<_>>>()?;
    let mut out = Vec::with_capacity(rings.len());
    let mut collapsed = false;
    for (i, ring) in rings.into_iter().enumerate() {
        let bounds = bounding_ring(&ring, digits);
        let simple = line(ring, tolerance, digits);
        // A ring needs three corners and its closing point.
        match (i, simple.len() >= 4) {
            (_, true) => out.push(simple),
            (0, false) => {
                collapsed = true;
                out.extend(bounds);
            }
            (_, false) => {}
        }
    }
    Some((out, collapsed))
}

/// The closed ring of a ring's bounding box (at least one rounding step
/// across, so that it draws).
fn bounding_ring(ring: &[[f64; 2]], digits: i32) -> Option<Vec<[f64; 2]>> {
    let (first, rest) = ring.split_first()?;
    let (mut lo, mut hi) = (*first, *first);
    for p in rest {
        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
    }
    let step = 10f64.powi(-digits);
    let (lo, mut hi) = (rounded(lo, digits), rounded(hi, digits));
    hi = [hi[0].max(lo[0] + step), hi[1].max(lo[1] + step)];
    Some(vec![lo, [hi[0], lo[1]], hi, [lo[0], hi[1]], lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A circle of `n` vertices around (15, 50), `r` degrees across.
    fn circle(n: usize, r: f64) -> Vec<[f64; 2]> {
        let mut ring: Vec<[f64; 2]> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                [15.0 + r * a.cos(), 50.0 + r * a.sin()]
            })
            .collect();
        ring.push(ring[0]);
        ring
    }

    fn ring_of(g: &Value, path: &str) -> Vec<[f64; 2]> {
        positions(g.pointer(path).unwrap()).unwrap()
    }

    /// The largest distance from a point of `fine` to the closest segment of `coarse`.
    fn farthest(fine: &[[f64; 2]], coarse: &[[f64; 2]]) -> f64 {
        let segment = |p: [f64; 2], a: [f64; 2], b: [f64; 2]| {
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
            ((a[0] + t * dx - p[0]).powi(2) + (a[1] + t * dy - p[1]).powi(2)).sqrt()
        };
        fine.iter()
            .map(|&p| coarse.windows(2).map(|w| segment(p, w[0], w[1])).fold(f64::MAX, f64::min))
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_ring_keeps_fewer_vertices_when_zoomed_out_and_stays_within_the_tolerance() {
        let ring = circle(2000, 0.2);
        let polygon = json!({"type": "Polygon", "coordinates": [ring.clone()]});
        // From the closest zoom out: ever fewer vertices.
        let mut previous = usize::MAX;
        let mut closest = None;
        for zoom in [13u8, 10, 7, 4] {
            let tolerance = tolerance_at_zoom(zoom);
            let simple = simplify_geojson(&polygon, tolerance);
            let kept = ring_of(&simple, "/coordinates/0");
            assert!(kept.len() >= 4 && kept.first() == kept.last(), "zoom {zoom}: a closed ring");
            assert!(
                kept.len() < previous,
                "zoom {zoom}: {} vertices, {previous} one step closer",
                kept.len()
            );
            // Every input vertex lies within the tolerance (plus rounding) of the simplified ring.
            let rounding = 10f64.powi(-decimals(tolerance));
            assert!(farthest(&ring, &kept) <= tolerance + rounding, "zoom {zoom}");
            previous = kept.len();
            closest.get_or_insert(kept.len());
        }
        assert!(closest < Some(2000), "even at zoom 13 a 2000-gon of this size loses vertices");
    }

    #[test]
    fn a_polygon_smaller_than_the_tolerance_becomes_its_box_and_small_holes_and_parts_go() {
        let tiny = circle(50, 0.0001);
        let big = circle(400, 1.0);
        let tolerance = tolerance_at_zoom(3);
        let alone = simplify_geojson(&json!({"type": "Polygon", "coordinates": [tiny.clone()]}), tolerance);
        let boxed = ring_of(&alone, "/coordinates/0");
        assert_eq!(boxed.len(), 5, "{alone}");
        let (xs, ys): (Vec<f64>, Vec<f64>) = boxed.iter().map(|p| (p[0], p[1])).unzip();
        assert!(xs.iter().cloned().fold(f64::MAX, f64::min) <= 15.0 && ys.iter().cloned().fold(f64::MIN, f64::max) >= 50.0);
        let holed = simplify_geojson(&json!({"type": "Polygon", "coordinates": [big.clone(), tiny.clone()]}), tolerance);
        assert_eq!(holed["coordinates"].as_array().unwrap().len(), 1, "the hole went");
        let parts = simplify_geojson(
            &json!({"type": "MultiPolygon", "coordinates": [[big.clone()], [tiny.clone()]]}),
            tolerance,
        );
        assert_eq!(parts["coordinates"].as_array().unwrap().len(), 1, "the island went");
        let only_tiny = simplify_geojson(&json!({"type": "MultiPolygon", "coordinates": [[tiny]]}), tolerance);
        assert_eq!(ring_of(&only_tiny, "/coordinates/0/0").len(), 5, "a lone island stays, as its box");
    }

    #[test]
    fn points_are_rounded_and_unknown_geometries_come_back_whole() {
        let point = simplify_geojson(
            &json!({"type": "Point", "coordinates": [15.123456789, 50.987654321]}),
            tolerance_at_zoom(5),
        );
        assert_eq!(point["coordinates"], json!([15.1235, 50.9877]));
        let odd = json!({"type": "Curve", "coordinates": 1});
        assert_eq!(simplify_geojson(&odd, 0.1), odd);
        let line = simplify_geojson(
            &json!({"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 0.0001], [2.0, 0.0]]}),
            0.01,
        );
        assert_eq!(line["coordinates"], json!([[0.0, 0.0], [2.0, 0.0]]));
    }
}

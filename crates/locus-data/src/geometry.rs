//! Geometry values: WKT or GeoJSON text in a CSV, WKB in storage, WKT in dumps.
//!
//! geozero converts between the encodings directly (no intermediate geometry
//! objects, no GEOS or GDAL).

use geozero::wkb::Wkb;
use geozero::wkt::Wkt;
use geozero::{CoordDimensions, ToJson, ToWkb, ToWkt};

use crate::DataError;

/// What a geometry field must hold, for problems.
pub const EXPECTED: &str = "a geometry (WKT or GeoJSON)";

/// Parses WKT (`POLYGON ((…))`) or a GeoJSON geometry object (text starting
/// with `{`) into 2-D WKB; `None` when it is neither.
pub fn text_to_wkb(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let wkb = if text.starts_with('{') {
        geozero::geojson::GeoJson(text).to_wkb(CoordDimensions::xy())
    } else {
        Wkt(text).to_wkb(CoordDimensions::xy())
    };
    // geozero accepts an empty WKB for some unparsable inputs; a geometry
    // has at least its byte order, type and a count.
    wkb.ok().filter(|w| w.len() >= 9)
}

/// Renders stored WKB as WKT.
pub fn wkb_to_wkt(wkb: &[u8]) -> Result<String, DataError> {
    Wkb(wkb).to_wkt().map_err(|e| DataError::Corrupt(format!("stored geometry: {e}")))
}

/// Renders stored WKB as a GeoJSON geometry object.
pub fn wkb_to_geojson(wkb: &[u8]) -> Result<serde_json::Value, DataError> {
    let text = Wkb(wkb)
        .to_json()
        .map_err(|e| DataError::Corrupt(format!("stored geometry: {e}")))?;
    serde_json::from_str(&text).map_err(|e| DataError::Corrupt(format!("stored geometry: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wkt_and_geojson_give_the_same_wkb() {
        let from_wkt = text_to_wkb("LINESTRING (1 2, 3 4)").unwrap();
        let from_json = text_to_wkb(r#"{"type":"LineString","coordinates":[[1,2],[3,4]]}"#).unwrap();
        assert_eq!(from_wkt, from_json);
        assert_eq!(wkb_to_wkt(&from_wkt).unwrap(), "LINESTRING(1 2,3 4)");
    }

    #[test]
    fn refuses_what_is_no_geometry() {
        for bad in ["", "POLYGON", "hello", "{\"type\":\"Nope\"}", "{", "POINT (1)"] {
            assert_eq!(text_to_wkb(bad), None, "{bad}");
        }
    }
}

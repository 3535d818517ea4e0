//! The rules of data-plane.md §1, one row per case: a dataset and the
//! problems expected (JSON path, words its message must contain).

use super::*;
use crate::metadata::validate;
use serde_json::json;

const PID: &str = "abcdefghij012345";

fn prop(name: &str, t: &str) -> Value {
    json!({"name": name, "column": name, "type": t})
}

fn dwh(name: &str, subtype: &str, primary_key: &str, properties: Vec<Value>) -> Value {
    json!({"name": name, "type": "dataset", "ref": {
        "type": "dwh", "subtype": subtype, "primaryKey": primary_key, "properties": properties}})
}

/// Shops as points, with the district each one is in filled by the area mapper.
fn shops() -> Value {
    let mut district = prop("district_id", "string");
    district["foreignKey"] = json!("districts");
    district["calculated"] = json!(true);
    dwh(
        "shops",
        "geometryPoint",
        "shop_id",
        vec![
            prop("shop_id", "integer"),
            prop("lat", "latitude"),
            prop("lng", "longitude"),
            district,
        ],
    )
}

fn districts() -> Value {
    dwh(
        "districts",
        "geometryPolygon",
        "district_id",
        vec![prop("district_id", "string"), prop("shape", "geometry")],
    )
}

/// `dataset` with `edit` applied to its `ref`.
fn edited(dataset: Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut dataset = dataset;
    edit(&mut dataset["ref"]);
    dataset
}

type Expected = &'static [(&'static str, &'static [&'static str])];

#[test]
fn dataset_rules() {
    let all_types: Vec<Value> = PROPERTY_TYPES.iter().map(|t| prop(&format!("p_{t}"), t)).collect();
    let cases: Vec<(&str, Value, Expected)> = vec![
        // Good definitions.
        ("a point dataset with its area mapper key", shops(), &[]),
        ("a polygon dataset", districts(), &[]),
        (
            "a line dataset",
            dwh(
                "roads",
                "geometryLine",
                "road_id",
                vec![prop("road_id", "bigint"), prop("path", "geometry")],
            ),
            &[],
        ),
        (
            "a basic dataset with every type once",
            dwh("all", "basic", "p_integer", all_types.clone()),
            &[],
        ),
        (
            "a date dataset",
            dwh("dates", "date", "day", vec![prop("day", "date"), prop("holiday", "boolean")]),
            &[],
        ),
        (
            "a basic dataset may hold latitudes without longitudes",
            dwh("b", "basic", "id", vec![prop("id", "integer"), prop("lat", "latitude")]),
            &[],
        ),
        (
            "a foreign key that is not calculated, on any subtype",
            edited(districts(), |r| r["properties"][0]["foreignKey"] = json!("regions")),
            &[],
        ),
        (
            "calculated: false needs nothing",
            edited(districts(), |r| r["properties"][0]["calculated"] = json!(false)),
            &[],
        ),
        // Types.
        (
            "an unknown type",
            edited(shops(), |r| r["properties"][3]["type"] = json!("text")),
            &[(
                "ref.properties[3].type",
                &["\"district_id\"", "\"text\"", "integer, bigint, decimal", "geometry"],
            )],
        ),
        (
            "types are case-sensitive",
            edited(districts(), |r| r["properties"][0]["type"] = json!("String")),
            &[("ref.properties[0].type", &["\"String\"", "string"])],
        ),
        // The primary key.
        (
            "a primary key that names no property",
            edited(shops(), |r| r["primaryKey"] = json!("id")),
            &[("ref.primaryKey", &["\"id\"", "shop_id, lat, lng, district_id"])],
        ),
        // Unique names.
        (
            "a property name used twice",
            edited(districts(), |r| r["properties"][1]["name"] = json!("district_id")),
            &[("ref.properties[1].name", &["unique", "ref.properties[0]", "\"district_id\""])],
        ),
        (
            "the same column under two names is fine",
            edited(districts(), |r| r["properties"][1]["column"] = json!("district_id")),
            &[],
        ),
        // Geometry per subtype.
        (
            "a point dataset without longitude",
            edited(shops(), |r| {
                r["properties"].as_array_mut().unwrap().remove(2);
            }),
            &[(
                "ref.properties",
                &["geometryPoint", "one latitude property and one longitude property", "no longitude"],
            )],
        ),
        (
            "a point dataset without either",
            dwh("p", "geometryPoint", "id", vec![prop("id", "integer")]),
            &[("ref.properties", &["no latitude and no longitude property"])],
        ),
        (
            "a point dataset with two latitudes",
            edited(shops(), |r| r["properties"].as_array_mut().unwrap().push(prop("lat2", "latitude"))),
            &[("ref.properties[4].type", &["\"lat2\"", "exactly one latitude", "\"lat\""])],
        ),
        (
            "a polygon dataset without geometry",
            edited(districts(), |r| r["properties"][1]["type"] = json!("string")),
            &[("ref.properties", &["geometryPolygon", "one geometry property", "no geometry"])],
        ),
        (
            "a line dataset with two geometries",
            dwh(
                "roads",
                "geometryLine",
                "id",
                vec![prop("id", "integer"), prop("a", "geometry"), prop("b", "geometry")],
            ),
            &[("ref.properties[2].type", &["geometryLine", "exactly one geometry", "\"a\""])],
        ),
        // Calculated properties.
        (
            "calculated without a foreign key",
            edited(shops(), |r| {
                r["properties"][3].as_object_mut().unwrap().remove("foreignKey");
            }),
            &[("ref.properties[3].calculated", &["\"district_id\"", "no foreignKey"])],
        ),
        (
            "a null foreign key is none",
            edited(shops(), |r| r["properties"][3]["foreignKey"] = Value::Null),
            &[("ref.properties[3].calculated", &["no foreignKey"])],
        ),
        (
            "calculated on a polygon dataset",
            edited(districts(), |r| {
                r["properties"][0]["foreignKey"] = json!("regions");
                r["properties"][0]["calculated"] = json!(true);
            }),
            &[("ref.properties[0].calculated", &["only a geometryPoint dataset"])],
        ),
        // Foreign keys name another dataset.
        (
            "a foreign key to the dataset itself",
            edited(districts(), |r| r["properties"][0]["foreignKey"] = json!("districts")),
            &[("ref.properties[0].foreignKey", &["\"district_id\"", "another"])],
        ),
        // Only dwh datasets have these rules, and malformed values are the shape check's.
        (
            "a vt dataset",
            json!({"name": "tiles", "type": "dataset", "ref": {"type": "vt", "urlTemplate": "https://t.example/{z}/{x}/{y}"}}),
            &[],
        ),
    ];
    for (what, dataset, expected) in cases {
        let problems = dataset_problems(&dataset);
        let mut paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        let mut wanted: Vec<&str> = expected.iter().map(|(path, _)| *path).collect();
        paths.sort_unstable();
        wanted.sort_unstable();
        assert_eq!(paths, wanted, "{what}: {problems:?}");
        for (path, words) in expected {
            let message = &problems.iter().find(|p| p.path == *path).unwrap().message;
            for word in *words {
                assert!(message.contains(word), "{what}: {message:?} should mention {word:?}");
            }
        }
        // `validate` reports the same, and nothing more on a well-formed object.
        match validate(MdType::Datasets, &dataset, true, PID) {
            Ok(_) => assert!(expected.is_empty(), "{what}: valid, but {wanted:?} expected"),
            Err(all) => assert_eq!(all, problems, "{what}"),
        }
    }
}

#[test]
fn malformed_values_are_blamed_once_by_the_shape_check() {
    let dataset = edited(shops(), |r| {
        r["primaryKey"] = json!("Shop ID");
        r["properties"][0]["type"] = json!(7);
        r["properties"][1]["name"] = json!("Lat");
        r["properties"][2]["name"] = json!("Lat");
    });
    assert_eq!(dataset_problems(&dataset), vec![], "the shape check reports these");
    let problems = validate(MdType::Datasets, &dataset, false, PID).unwrap_err();
    for path in [
        "ref.primaryKey",
        "ref.properties[0].type",
        "ref.properties[1].name",
        "ref.properties[2].name",
    ] {
        assert_eq!(problems.iter().filter(|p| p.path == path).count(), 1, "{path}: {problems:?}");
    }
    // Not objects, not arrays: nothing to say here.
    for reference in [
        json!({"type": "dwh", "properties": 3}),
        json!({"type": "dwh", "properties": [1, "a"]}),
        json!([]),
    ] {
        assert_eq!(dataset_problems(&json!({"name": "d", "ref": reference})), vec![]);
    }
}

#[test]
fn foreign_key_links_say_what_their_target_must_be() {
    let mut dataset = shops();
    dataset["ref"]["properties"][0]["foreignKey"] = json!("chains");
    let links = validate(MdType::Datasets, &dataset, true, PID).unwrap();
    let needs: Vec<(&str, LinkNeeds)> = links.iter().map(|l| (l.path.as_str(), l.needs)).collect();
    assert_eq!(
        needs,
        vec![
            ("ref.properties[0].foreignKey", LinkNeeds::DwhDataset),
            ("ref.properties[3].foreignKey", LinkNeeds::PolygonDataset),
        ]
    );
    // A property's geometry names a vt dataset: no foreign key rule.
    let mut dataset = districts();
    dataset["ref"]["properties"][1]["geometry"] = json!("district_tiles");
    let links = validate(MdType::Datasets, &dataset, true, PID).unwrap();
    assert_eq!(links[0].needs, LinkNeeds::Nothing);
}

#[test]
fn link_needs_are_checked_against_the_target() {
    let vt = json!({"name": "tiles", "ref": {"type": "vt", "urlTemplate": "u"}});
    let h3 = json!({"name": "grid", "ref": {"type": "h3Grid", "resolution": 8}});
    let cases: [(LinkNeeds, &Value, Option<&[&str]>); 9] = [
        (LinkNeeds::Nothing, &vt, None),
        (LinkNeeds::DwhDataset, &districts(), None),
        (LinkNeeds::DwhDataset, &shops(), None),
        (LinkNeeds::DwhDataset, &vt, Some(&["dwh dataset", "\"t\"", "vt dataset"])),
        (LinkNeeds::DwhDataset, &h3, Some(&["h3Grid dataset"])),
        (LinkNeeds::PolygonDataset, &districts(), None),
        (
            LinkNeeds::PolygonDataset,
            &shops(),
            Some(&["geometryPolygon", "geometryPoint dataset"]),
        ),
        (LinkNeeds::PolygonDataset, &vt, Some(&["geometryPolygon", "vt dataset"])),
        (LinkNeeds::PolygonDataset, &json!({}), Some(&["\"t\""])),
    ];
    for (needs, target, expected) in cases {
        match (needs.check("t", target), expected) {
            (Ok(()), None) => {}
            (Err(message), Some(words)) => {
                for word in words {
                    assert!(message.contains(word), "{needs:?}: {message:?} should mention {word:?}");
                }
            }
            (got, _) => panic!("{needs:?} on {target}: {got:?}"),
        }
    }
}

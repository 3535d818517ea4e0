use super::*;
use crate::metadata::{LinkNeeds, LinkTarget};
use serde_json::{json, Value};

const PID: &str = "abcdefghij012345";

fn link(segment: &str, name: &str) -> String {
    format!("/rest/projects/$projectId/md/{segment}?name={name}")
}

/// Valid in strict mode (and so in lax mode); answers the links.
fn valid(md_type: MdType, object: &Value) -> Vec<MdLink> {
    let lax = validate(md_type, object, false, PID);
    assert!(lax.is_ok(), "{lax:?}");
    let strict = validate(md_type, object, true, PID);
    assert_eq!(strict, lax);
    strict.unwrap()
}

/// The problems of an invalid object (strict mode).
fn strict_problems(md_type: MdType, object: &Value) -> Vec<Problem> {
    validate(md_type, object, true, PID).unwrap_err()
}

/// The one problem at `path`, whose message must contain every one of `words`.
fn assert_problem(problems: &[Problem], path: &str, words: &[&str]) {
    let at: Vec<&Problem> = problems.iter().filter(|p| p.path == path).collect();
    assert_eq!(at.len(), 1, "one problem at {path} expected, got {problems:?}");
    for word in words {
        assert!(at[0].message.contains(word), "{:?} should mention {word:?}", at[0].message);
    }
}

// The envelope (the tests that came with it).

#[test]
fn a_minimal_metric_is_valid_and_links_are_collected() {
    let metric = json!({"name": "sales", "type": "metric", "content": {"type": "function_sum", "content": [{"type": "property", "value": "baskets.amount"}]}});
    assert_eq!(validate(MdType::Metrics, &metric, true, PID).unwrap(), vec![]);
    let indicator = json!({"name": "sales_indicator", "title": "Sales", "description": "Turnover",
        "content": {"metric": "/rest/projects/$projectId/md/metrics?name=sales"}});
    let links = validate(MdType::Indicators, &indicator, false, PID).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].path, "content.metric");
}

#[test]
fn envelope_problems_name_their_paths() {
    let view = json!({"name": "Bad Name", "type": "metric", "content": []});
    let problems = validate(MdType::Views, &view, false, PID).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for expected in ["name", "type", "title", "description", "content"] {
        assert!(paths.contains(&expected), "{paths:?}");
    }
}

#[test]
fn strict_mode_refuses_unknown_keys_and_lax_mode_ignores_them() {
    let metric = json!({"name": "m", "content": {"type": "number", "value": 1}, "colour": "red", "version": 3});
    assert!(validate(MdType::Metrics, &metric, false, PID).is_ok());
    let problems = validate(MdType::Metrics, &metric, true, PID).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "colour");
}

// A valid, realistic object of every type.

fn project_settings() -> Value {
    json!({"name": "project_settings_gb", "type": "projectSettings", "content": {
        "geoSearchProviders": ["Mapbox", "LocationIQ"],
        "geoSearchCountries": ["GB"],
        "defaultViews": [link("views", "shops_view"), "/rest/projects/abcdefghij012345/md/views/0123456789abcdef"],
        "projectTemplate": {"templateDatasets": [{"dataset": link("datasets", "shops")}]},
        "trustedOrigins": ["https://example.com"],
        "allowUnsecuredOrigins": false
    }})
}

fn data_permission() -> Value {
    json!({"name": "partners_permission", "type": "dataPermission", "content": {
        "accountId": "00ubfu6dpmnTMIQKs0h7",
        "filters": [
            {"property": "shops.partner", "operator": "eq", "value": "yes"},
            {"operator": "or", "content": [
                {"property": "shops.region", "operator": "in", "value": ["north", "south"]},
                {"property": "shops.region", "operator": "isNull"},
                {"function": {"type": "metric", "metric": link("metrics", "sales")}, "operator": "gte", "value": 100}
            ]},
            {"property": "shops.shop_id", "operator": "inAttribute", "query": {
                "properties": [{"id": "shop_id", "type": "property", "value": "baskets.shop_id"}],
                "filterBy": [{"property": "baskets.amount", "operator": "gt", "value": 1000}],
                "having": [{"propertyId": "shop_id", "operator": "isNotNull"}],
                "orderBy": [{"property": "baskets.shop_id", "direction": "asc", "nulls": "last"}],
                "limit": 10
            }}
        ]
    }})
}

fn dwh_dataset() -> Value {
    json!({"name": "transactions", "type": "dataset", "title": "Transactions", "origin": "https://example.com/transactions",
        "ref": {
            "type": "dwh", "subtype": "basic", "primaryKey": "transaction_id", "table": "transactions",
            "categorizable": true, "fullTextIndex": false,
            "properties": [
                {"name": "transaction_id", "column": "transaction_id", "type": "integer", "filterable": false},
                {"name": "customer_id", "column": "customer_id", "type": "integer", "foreignKey": "customers"},
                {"name": "amount", "column": "amount", "type": "decimal", "title": "Amount", "geometry": null},
                {"name": "channel", "column": "channel", "type": "string", "calculated": false, "displayOptions": {"valueOptions": [
                    {"value": "online", "color": "purple", "pattern": "dot"},
                    {"value": null, "hexColor": "#1a2b3c", "weight": 0.5}
                ]}}
            ],
            "zoom": {"min": 2, "optimal": 10, "max": 18, "visibleFrom": 5}
        },
        "properties": {
            "featureTitle": {"type": "property", "value": "transaction_id"},
            "featureSubtitle": {"type": "function", "value": "concat", "content": [
                {"type": "text", "value": "Transaction "}, {"type": "property", "value": "amount"}]},
            "featureAttributes": [{"type": "property", "value": "amount", "format": {"type": "number", "fraction": 2, "symbol": "£"}, "layout": "primary"}]
        },
        "dataSources": [{"licenceHolder": "Acme", "licenceHolderUrl": "https://acme.example"}]
    })
}

fn polygon_dataset() -> Value {
    json!({"name": "districts", "type": "dataset", "ref": {
        "type": "dwh", "subtype": "geometryPolygon", "primaryKey": "district_id", "geometry": "district_tiles",
        "visualizations": [{"type": "areas"}, {"type": "heatmap", "zoom": {"min": 2, "optimal": 8, "max": 12}}],
        "properties": [
            {"name": "district_id", "column": "district_id", "type": "string"},
            {"name": "shape", "column": "shape", "type": "geometry", "geometry": "district_tiles"}
        ]
    }, "properties": {"featureTitle": {"type": "property", "value": "district_id"}}})
}

fn vt_dataset() -> Value {
    json!({"name": "district_tiles", "type": "dataset", "ref": {
        "type": "vt", "urlTemplate": "https://tiles.example/{z}/{x}/{y}.pbf", "zoom": {"min": 4, "optimal": 8, "max": 14}
    }})
}

fn h3_dataset() -> Value {
    json!({"name": "h3_grid_8", "type": "dataset", "ref": {"type": "h3Grid", "resolution": 8}})
}

fn metric() -> Value {
    json!({"name": "purchases_per_customer", "type": "metric", "content": {
        "type": "function_divide",
        "content": [
            {"type": "function_count", "content": [{"type": "property", "value": "baskets.basket_id"}],
             "options": {"filterBy": [{"property": "baskets.channel", "operator": "eq", "value": "offline"}], "withoutFilters": ["dates.date"]}},
            {"type": "function_ifnull", "content": [
                {"type": "metric", "metric": link("metrics", "customers_count")}, {"type": "number", "value": 1}]}
        ]
    }})
}

fn view() -> Value {
    json!({"name": "shops_view", "type": "view", "title": "Shops", "description": "Shops and their turnover", "content": {
        "icon": "shop_bag",
        "dashboard": link("dashboards", "shops_dashboard"),
        "markerSelector": link("markerSelectors", "shops_marker_selector"),
        "defaultGranularity": link("datasets", "districts"),
        "defaultVisualized": link("indicators", "turnover_indicator"),
        "defaultVisualization": "areas",
        "defaultTool": "filter",
        "defaultCompareType": "dominance",
        "markersOnly": false,
        "fitnessGroups": 4,
        "filterGroup": [
            {"type": "globalDate", "property": "dates.date"},
            {"type": "histogram", "property": "shops.area", "format": {"type": "number", "fraction": 0}},
            {"type": "multiSelect", "property": "shops.region", "orderBy": [{"property": "shops.region", "direction": "asc"}]},
            {"type": "indicator", "indicator": link("indicators", "turnover_indicator")},
            {"type": "feature", "dataset": link("datasets", "districts")}
        ],
        "defaultActiveFilters": [
            {"type": "date", "property": "dates.date", "defaultValues": {"startDate": {"value": "2020-01-01"}, "endDate": {"function": "function_today"}}},
            {"type": "histogram", "property": "shops.area", "defaultValues": {"values": [10, 200.5], "nullFiltered": true}},
            {"type": "singleSelect", "property": "shops.region", "defaultValues": {"value": "north"}}
        ],
        "variables": [{"type": "variables", "title": "Assumptions", "variables": [
            {"name": "margin", "title": "Margin", "minValue": 0, "maxValue": 1, "defaultValue": 0.2, "format": {"type": "percentage"}}]}],
        "spatialQuery": {"lat": 51.5, "lng": -0.12, "profile": "car", "unit": "time", "amount": 15, "geometry": {"type": "Point"}},
        "mapOptions": {"center": {"lat": 51.5, "lng": -0.12}, "zoom": 9, "minZoom": 4, "maxZoom": 16, "tileLayerMenu": true,
            "tileLayer": "mapboxLight", "customTileLayer": {"url": "mapbox://styles/acme/abc", "accessToken": "pk.x"}},
        "mapContextMenu": {"items": [{"type": "googleStreetView"}, {"type": "cuzkParcelInfo"}]},
        "exports": [{"export": link("exports", "customer_ids_export")}],
        "measure": {"type": "isoline", "points": [], "anything": true},
        "defaultSelected": {"dataset": "districts", "ids": [1, 2]},
        "excludeDatasets": ["h3_grid_8"]
    }})
}

fn dashboard() -> Value {
    json!({"name": "shops_dashboard", "type": "dashboard", "description": "Shops", "content": {
        "blockRows": [
            {"type": "blockRow", "blocks": [
                {"type": "indicator", "indicator": link("indicators", "turnover_indicator"), "indicatorDrill": link("indicatorDrills", "turnover_drill"), "layout": "secondary"},
                {"type": "indicator", "indicator": link("indicators", "customers_indicator"), "indicatorDrill": link("indicatorDrills", "customers_drill"), "layout": "secondary"}
            ]},
            {"type": "indicator", "indicator": link("indicators", "turnover_indicator"), "indicatorDrill": link("indicatorDrills", "turnover_drill"),
             "title": "Turnover", "collapsed": false, "itemId": "0123456789abcdef0123456789abcdef",
             "blockRows": [{"type": "categories", "splitProperty": "shops.region"}]},
            {"type": "indicatorGroup", "title": "Customers", "collapsed": true, "blockRows": [
                {"type": "indicator", "indicator": link("indicators", "customers_indicator"), "indicatorDrill": link("indicatorDrills", "customers_drill")}
            ]},
            {"type": "ranking", "indicator": link("indicators", "turnover_indicator"), "direction": "desc"}
        ],
        "datasetProperties": [{"dataset": link("datasets", "shops"), "defaultSearch": "auto",
            "featureAttributes": [{"type": "property", "value": "shops.name"}]}]
    }})
}

fn indicator() -> Value {
    json!({"name": "turnover_indicator", "type": "indicator", "title": "Turnover", "description": "Turnover of the shops", "content": {
        "metric": link("metrics", "turnover"),
        "scale": "standard",
        "distribution": "geometric",
        "visualizations": {"areas": true, "grid": true, "heatmap": false, "heatmapScaleFactor": 1.5},
        "format": {"type": "number", "fraction": 0, "symbol": "£"},
        "relations": {"type": "opposite", "reversedMetric": link("metrics", "costs")},
        "scaleOptions": {
            "static": [{"dataset": "districts", "breaks": {"global": [1, 10, 100], "selection": [2, 20]}, "maxValues": [{"zoom": 8, "global": 1000}]}],
            "defaultDistribution": {"range": [0, 1], "displayIntervals": 5}
        }
    }})
}

fn indicator_drill() -> Value {
    json!({"name": "turnover_drill", "type": "indicatorDrill", "content": {"blocks": [
        {"type": "categories", "title": "By region", "splitProperty": "shops.region", "attributeStyle": link("attributeStyles", "region_style"),
         "indicator": link("indicators", "turnover_indicator"), "sizeLimit": 10, "orderBy": {"property": "value", "direction": "desc"},
         "dualProperty": "shops.channel", "label": {"text": "x"}},
        {"type": "distribution", "title": "Distribution", "indicator": link("indicators", "turnover_indicator"), "defaultDataset": "districts", "visualized": true},
        {"type": "ranking", "indicator": link("indicators", "turnover_indicator"), "featureType": "granularity", "direction": "asc", "defaultLayer": "districts"},
        {"type": "timeSeries", "indicator": link("indicators", "turnover_indicator"), "defaultPeriod": link("datasets", "dates"),
         "additionalSeries": [{"indicator": link("indicators", "customers_indicator")}], "annotations": [{"dataset": link("datasets", "events")}]}
    ]}})
}

fn marker() -> Value {
    json!({"name": "shops_marker", "type": "marker", "title": "Own shops", "content": {
        "style": "marker-orange",
        "propertyFilters": [{"propertyName": "partner", "operator": "eq", "value": "no"}, {"propertyName": "kind", "operator": "in", "value": ["a", "b"]}]
    }})
}

fn marker_selector() -> Value {
    json!({"name": "shops_marker_selector", "type": "markerSelector", "content": {
        "categories": [{"dataset": link("datasets", "shops"), "markers": [
            {"marker": link("markers", "shops_marker"), "visible": true},
            {"marker": link("markers", "competitor_marker"), "visible": false, "addOnExpand": true}
        ], "linkedLayers": [{"dataset": "catchments", "style": "catchment-blue", "visible": true}]}],
        "granularityCategories": [{"dataset": link("datasets", "districts"), "splitPropertyName": "region_type", "styleType": "pattern"}],
        "hideGranularity": false,
        "clusterMarkers": true,
        "keepFiltered": {"granularity": true, "markers": false}
    }})
}

fn export() -> Value {
    json!({"name": "customer_ids_export", "type": "export", "content": {
        "properties": ["customers.customer_id", "customers.name"],
        "output": {"type": "file", "format": "xlsx", "filename": "Customer ids.xlsx", "header": "export"}
    }})
}

#[test]
fn every_type_has_a_valid_example() {
    let examples = [
        (MdType::ProjectSettings, project_settings()),
        (MdType::DataPermissions, data_permission()),
        (MdType::Datasets, dwh_dataset()),
        (MdType::Datasets, polygon_dataset()),
        (MdType::Datasets, vt_dataset()),
        (MdType::Datasets, h3_dataset()),
        (MdType::Metrics, metric()),
        (MdType::Views, view()),
        (MdType::Dashboards, dashboard()),
        (MdType::Indicators, indicator()),
        (MdType::IndicatorDrills, indicator_drill()),
        (MdType::Markers, marker()),
        (MdType::MarkerSelectors, marker_selector()),
        (MdType::Exports, export()),
        (
            MdType::Maps,
            json!({"name": "base_map", "type": "map", "content": {"layers": [{"anything": 1}]}}),
        ),
        (
            MdType::AttributeStyles,
            json!({"name": "region_style", "type": "attributeStyle", "content": {"north": {"color": "blue"}}}),
        ),
    ];
    let mut covered: Vec<MdType> = examples.iter().map(|(t, _)| *t).collect();
    covered.dedup();
    assert_eq!(covered, MdType::ALL);
    for (md_type, object) in &examples {
        valid(*md_type, object);
    }
}

#[test]
fn links_of_a_view_are_all_collected() {
    let links = valid(MdType::Views, &view());
    let dashboard = links.iter().find(|l| l.path == "content.dashboard").unwrap();
    assert_eq!(
        (dashboard.md_type, &dashboard.target),
        (MdType::Dashboards, &LinkTarget::Name("shops_dashboard".into()))
    );
    assert!(links
        .iter()
        .any(|l| l.path == "content.filterGroup[3].indicator" && l.md_type == MdType::Indicators));
    assert!(links
        .iter()
        .any(|l| l.path == "content.exports[0].export" && l.md_type == MdType::Exports));
}

// Datasets named by bare name.

#[test]
fn foreign_keys_and_geometries_link_datasets_by_name() {
    let links = valid(MdType::Datasets, &dwh_dataset());
    assert_eq!(
        links,
        vec![MdLink {
            md_type: MdType::Datasets,
            target: LinkTarget::Name("customers".into()),
            path: "ref.properties[1].foreignKey".into(),
            needs: LinkNeeds::DwhDataset,
        }]
    );
    let links = valid(MdType::Datasets, &polygon_dataset());
    let mut paths: Vec<(&str, &LinkTarget)> = links.iter().map(|l| (l.path.as_str(), &l.target)).collect();
    paths.sort();
    let tiles = LinkTarget::Name("district_tiles".into());
    assert_eq!(paths, vec![("ref.geometry", &tiles), ("ref.properties[1].geometry", &tiles)]);
    assert!(links.iter().all(|l| l.md_type == MdType::Datasets));
}

#[test]
fn a_foreign_key_must_be_a_dataset_name() {
    let mut dataset = dwh_dataset();
    dataset["ref"]["properties"][1]["foreignKey"] = json!("Customers!");
    dataset["ref"]["properties"][2]["geometry"] = json!(7);
    let problems = strict_problems(MdType::Datasets, &dataset);
    assert_problem(&problems, "ref.properties[1].foreignKey", &["dataset"]);
    assert_problem(&problems, "ref.properties[2].geometry", &["dataset"]);
}

// Required keys.

#[test]
fn missing_required_keys_are_reported_where_they_belong() {
    let mut indicator = indicator();
    indicator["content"].as_object_mut().unwrap().remove("metric");
    indicator["content"]["relations"] = json!({"type": "self"});
    let problems = strict_problems(MdType::Indicators, &indicator);
    assert_problem(&problems, "content.metric", &["is required"]);
    assert_problem(&problems, "content.relations.reversedMetric", &["is required"]);
    assert_eq!(problems.len(), 2, "{problems:?}");

    let settings = json!({"name": "s", "content": {"defaultViews": []}});
    assert_problem(
        &validate(MdType::ProjectSettings, &settings, false, PID).unwrap_err(),
        "content.geoSearchProviders",
        &["is required"],
    );

    let dataset = json!({"name": "d", "type": "dataset", "ref": {"type": "dwh", "subtype": "basic", "properties": [{"name": "a", "type": "string"}]}});
    let problems = validate(MdType::Datasets, &dataset, false, PID).unwrap_err();
    assert_problem(&problems, "ref.primaryKey", &["is required"]);
    assert_problem(&problems, "ref.properties[0].column", &["is required"]);
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn a_missing_or_unknown_discriminator_lists_the_variants() {
    let dataset = json!({"name": "d", "type": "dataset", "ref": {"resolution": 5}});
    assert_problem(
        &strict_problems(MdType::Datasets, &dataset),
        "ref.type",
        &["is required", "dwh", "vt", "h3Grid"],
    );
    let mut dashboard = dashboard();
    dashboard["content"]["blockRows"][2]["blockRows"][0]["type"] = json!("chart");
    assert_problem(
        &strict_problems(MdType::Dashboards, &dashboard),
        "content.blockRows[2].blockRows[0].type",
        &[
            "blockRow",
            "indicator",
            "indicatorGroup",
            "categories",
            "distribution",
            "ranking",
            "timeSeries",
        ],
    );
    let metric = json!({"name": "m", "content": {"type": "function_median", "content": []}});
    assert_problem(
        &strict_problems(MdType::Metrics, &metric),
        "content.type",
        &["function_sum", "function_ntile", "metric"],
    );
}

// Types, enums, ranges and patterns.

#[test]
fn wrong_enum_values_list_the_allowed_ones() {
    let mut indicator = indicator();
    indicator["content"]["scale"] = json!("rainbow");
    indicator["content"]["format"]["type"] = json!("currency");
    let problems = strict_problems(MdType::Indicators, &indicator);
    assert_problem(&problems, "content.scale", &["standard", "viridis", "divergingWithZeroNegative"]);
    assert_problem(&problems, "content.format.type", &["number", "percentage"]);

    let mut settings = project_settings();
    settings["content"]["geoSearchProviders"][1] = json!("Google");
    assert_problem(
        &validate(MdType::ProjectSettings, &settings, false, PID).unwrap_err(),
        "content.geoSearchProviders[1]",
        &["Mapbox", "LocationIQ"],
    );

    let mut view = view();
    view["content"]["mapOptions"]["tileLayer"] = json!("osm");
    view["content"]["spatialQuery"]["profile"] = json!("boat");
    view["content"]["defaultTool"] = json!(3);
    let problems = strict_problems(MdType::Views, &view);
    assert_problem(&problems, "content.mapOptions.tileLayer", &["mapboxStreets", "mapboxDark"]);
    assert_problem(&problems, "content.spatialQuery.profile", &["car", "bike", "foot", "air"]);
    assert_problem(&problems, "content.defaultTool", &["search", "measure", "filter", "compare"]);
    assert_eq!(problems.len(), 3, "{problems:?}");

    let mut selector = marker_selector();
    selector["content"]["granularityCategories"][0]["styleType"] = json!("size");
    assert_problem(
        &lax_problems(MdType::MarkerSelectors, &selector),
        "content.granularityCategories[0].styleType",
        &["color", "pattern", "weight"],
    );

    let mut export = export();
    export["content"]["output"]["format"] = json!("pdf");
    export["content"]["output"]["header"] = json!("fancy");
    let problems = lax_problems(MdType::Exports, &export);
    assert_problem(&problems, "content.output.format", &["csv", "xlsx"]);
    assert_problem(&problems, "content.output.header", &["basic", "export", "template"]);

    let mut drill = indicator_drill();
    drill["content"]["blocks"][2]["featureType"] = json!("points");
    assert_problem(
        &lax_problems(MdType::IndicatorDrills, &drill),
        "content.blocks[2].featureType",
        &["granularity", "markers"],
    );

    let mut dataset = dwh_dataset();
    dataset["ref"]["subtype"] = json!("geometryCircle");
    dataset["ref"]["properties"][3]["displayOptions"]["valueOptions"][0]["color"] = json!("black");
    let problems = lax_problems(MdType::Datasets, &dataset);
    assert_problem(&problems, "ref.subtype", &["geometryPolygon", "basic", "date"]);
    assert_problem(
        &problems,
        "ref.properties[3].displayOptions.valueOptions[0].color",
        &["purple", "yellow"],
    );

    let mut marker = marker();
    marker["content"]["propertyFilters"][0]["operator"] = json!("like");
    assert_problem(
        &lax_problems(MdType::Markers, &marker),
        "content.propertyFilters[0].operator",
        &["eq", "gte", "in"],
    );
}

/// Lax mode: the same checks, unknown keys aside.
fn lax_problems(md_type: MdType, object: &Value) -> Vec<Problem> {
    validate(md_type, object, false, PID).unwrap_err()
}

#[test]
fn ranges_and_patterns_are_checked() {
    let mut dataset = polygon_dataset();
    dataset["ref"]["visualizations"][1]["zoom"]["max"] = json!(19);
    dataset["ref"]["visualizations"][1]["zoom"]["min"] = json!(1.5);
    dataset["ref"]["primaryKey"] = json!("District ID");
    let problems = strict_problems(MdType::Datasets, &dataset);
    assert_problem(&problems, "ref.visualizations[1].zoom.max", &["2 to 18"]);
    assert_problem(&problems, "ref.visualizations[1].zoom.min", &["integer", "2 to 18"]);
    assert_problem(&problems, "ref.primaryKey", &["^[a-z][a-z0-9_-]*$"]);
    assert_eq!(problems.len(), 3, "{problems:?}");

    let h3 = json!({"name": "h", "type": "dataset", "ref": {"type": "h3Grid", "resolution": 12}});
    assert_problem(&strict_problems(MdType::Datasets, &h3), "ref.resolution", &["2 to 11"]);

    let mut view = view();
    view["content"]["fitnessGroups"] = json!(6);
    view["content"]["icon"] = json!("Shop");
    view["content"]["spatialQuery"]["amount"] = json!(0);
    view["content"]["mapOptions"]["customTileLayer"]["url"] = json!("https://tiles");
    view["content"]["defaultActiveFilters"][1]["defaultValues"]["values"] = json!([1]);
    let problems = strict_problems(MdType::Views, &view);
    assert_problem(&problems, "content.fitnessGroups", &["3 to 5"]);
    assert_problem(&problems, "content.icon", &["^[a-z_]+$"]);
    assert_problem(&problems, "content.spatialQuery.amount", &["at least 1"]);
    assert_problem(&problems, "content.mapOptions.customTileLayer.url", &["mapbox://styles/"]);
    assert_problem(&problems, "content.defaultActiveFilters[1].defaultValues.values", &["exactly 2"]);
    assert_eq!(problems.len(), 5, "{problems:?}");

    let mut marker = marker();
    marker["content"]["style"] = json!("marker_orange");
    assert_problem(&strict_problems(MdType::Markers, &marker), "content.style", &["^[a-z-]+$"]);

    let mut export = export();
    export["content"]["output"]["filename"] = json!("ids.txt");
    export["content"]["properties"][1] = json!("name");
    let problems = strict_problems(MdType::Exports, &export);
    assert_problem(&problems, "content.output.filename", &[".csv", ".xlsx"]);
    assert_problem(&problems, "content.properties[1]", &["dataset.property"]);

    let mut dataset = dwh_dataset();
    dataset["ref"]["properties"][3]["displayOptions"]["valueOptions"][1]["hexColor"] = json!("#12345");
    dataset["ref"]["properties"] = json!([]);
    assert_problem(&lax_problems(MdType::Datasets, &dataset), "ref.properties", &["at least 1"]);

    let mut selector = marker_selector();
    selector["content"]["categories"][0]["markers"] = json!([]);
    assert_problem(
        &strict_problems(MdType::MarkerSelectors, &selector),
        "content.categories[0].markers",
        &["at least 1"],
    );

    let metric = json!({"name": "m", "content": {"type": "function_sum", "content": [
        {"type": "property", "value": "a.b"}, {"type": "number", "value": "2"}]}});
    let problems = strict_problems(MdType::Metrics, &metric);
    assert_problem(&problems, "content.content", &["exactly 1"]);
    assert_problem(&problems, "content.content[1].value", &["number"]);

    let permission =
        json!({"name": "p", "content": {"accountId": "someone", "filters": [{"operator": "and", "content": [{"operator": "isNull"}]}]}});
    let problems = strict_problems(MdType::DataPermissions, &permission);
    assert_problem(&problems, "content.accountId", &["UUID"]);
    assert_problem(&problems, "content.filters[0].content[0].property", &["is required"]);
}

#[test]
fn wrong_value_types_name_the_expected_type() {
    let mut view = view();
    view["content"]["markersOnly"] = json!("no");
    view["content"]["filterGroup"] = json!({"type": "date"});
    view["content"]["mapOptions"] = json!([]);
    let problems = strict_problems(MdType::Views, &view);
    assert_problem(&problems, "content.markersOnly", &["boolean"]);
    assert_problem(&problems, "content.filterGroup", &["array"]);
    assert_problem(&problems, "content.mapOptions", &["object"]);
}

// Link fields.

#[test]
fn a_link_field_must_link_its_type() {
    let mut view = view();
    view["content"]["dashboard"] = json!(link("indicators", "turnover_indicator"));
    view["content"]["map"] = json!("base_map");
    let problems = strict_problems(MdType::Views, &view);
    assert_problem(&problems, "content.dashboard", &["dashboards", "indicators"]);
    assert_problem(&problems, "content.map", &["link to maps"]);
    assert_eq!(problems.len(), 2, "{problems:?}");

    let mut indicator = indicator();
    indicator["content"]["metric"] = json!(link("datasets", "shops"));
    assert_problem(&lax_problems(MdType::Indicators, &indicator), "content.metric", &["metrics"]);

    let mut dashboard = dashboard();
    dashboard["content"]["blockRows"][0]["blocks"][1]["indicatorDrill"] = json!(link("indicators", "customers_indicator"));
    assert_problem(
        &strict_problems(MdType::Dashboards, &dashboard),
        "content.blockRows[0].blocks[1].indicatorDrill",
        &["indicatorDrills"],
    );
}

#[test]
fn a_malformed_link_is_reported_once() {
    let mut view = view();
    view["content"]["dashboard"] = json!("/rest/projects/$projectId/md/dashboards?name=Bad Name");
    let problems = strict_problems(MdType::Views, &view);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "content.dashboard");
}

// Strict and lax mode.

#[test]
fn unknown_content_keys_are_refused_in_strict_mode_only() {
    let mut view = view();
    view["content"]["colour"] = json!("red");
    view["content"]["mapOptions"]["rotation"] = json!(45);
    view["content"]["filterGroup"][0]["hidden"] = json!(true);
    let problems = strict_problems(MdType::Views, &view);
    assert_problem(&problems, "content.colour", &["not a known key", "dashboard"]);
    assert_problem(&problems, "content.mapOptions.rotation", &["not a known key", "tileLayer"]);
    assert_problem(&problems, "content.filterGroup[0].hidden", &["not a known key", "type", "property"]);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(validate(MdType::Views, &view, false, PID).is_ok());

    let mut dataset = vt_dataset();
    dataset["ref"]["tileSize"] = json!(512);
    dataset["dataSources"] = json!([{"licenceHolder": "a", "licenceHolderUrl": "b", "year": 2020}]);
    let problems = strict_problems(MdType::Datasets, &dataset);
    assert_problem(&problems, "ref.tileSize", &["not a known key"]);
    assert_problem(&problems, "dataSources[0].year", &["not a known key"]);
    assert!(validate(MdType::Datasets, &dataset, false, PID).is_ok());
}

#[test]
fn open_objects_accept_anything_even_in_strict_mode() {
    let mut view = view();
    view["content"]["measure"] = json!([1, "two", {"three": 3}]);
    view["content"]["spatialQuery"]["geometry"] = json!({"type": "Polygon", "coordinates": []});
    valid(MdType::Views, &view);
    let mut dataset = h3_dataset();
    dataset["content"] = json!({"whatever": [1, 2]});
    valid(MdType::Datasets, &dataset);
    let metric = json!({"name": "m", "content": {"type": "function_rank", "content": [{"type": "number", "value": 1}], "options": {"anything": true}}});
    valid(MdType::Metrics, &metric);
}

#[test]
fn null_optional_keys_count_as_absent() {
    let mut indicator = indicator();
    indicator["content"]["scale"] = Value::Null;
    indicator["content"]["format"] = Value::Null;
    valid(MdType::Indicators, &indicator);
    indicator["content"]["metric"] = Value::Null;
    assert_problem(
        &strict_problems(MdType::Indicators, &indicator),
        "content.metric",
        &["link to metrics"],
    );
}

#[test]
fn odd_inputs_never_panic() {
    let odd = [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!({"name": "a", "content": null, "ref": 1}),
        json!({"name": "a", "content": [1, {"type": null}], "ref": {"type": ["dwh"]}, "properties": "p", "dataSources": {}}),
        json!({"name": "a", "content": {"type": "function_sum", "content": [[[]]], "blocks": [null, 1], "blockRows": [{"type": 1}]}}),
        json!({"name": "a", "type": "dataset", "ref": {"type": "dwh", "properties": [null, {"foreignKey": {}}], "zoom": {"min": 1e300}}}),
        json!({"name": "a", "content": {"geoSearchProviders": [null], "filters": [{"operator": "and", "content": [{"operator": "in"}]}]}}),
    ];
    for md_type in MdType::ALL {
        for object in &odd {
            for strict in [false, true] {
                let _ = validate(md_type, object, strict, PID);
            }
        }
    }
    let mut deep = json!({"type": "number", "value": 1});
    for _ in 0..100 {
        deep = json!({"type": "function_sum", "content": [deep]});
    }
    valid(MdType::Metrics, &json!({"name": "deep", "content": deep}));
}

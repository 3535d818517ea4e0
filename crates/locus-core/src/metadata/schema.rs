//! The content of each metadata type, written in the vocabulary of `shape.rs`
//! so that it reads like the tables of api-contract.md §9.5 (with the DWH
//! expression nodes and filters of §10.2 and §10.3 for metrics and data
//! permissions).
//!
//! Where the spec leaves an object open ("opt extras", `options`, maps and
//! attribute styles, a dataset's `content`) the schema says `ANY` or
//! `open_object`, and anything goes there, even in strict mode.

use super::shape::*;
use super::MdType;

/// The schema of the `content` of a type (for datasets: of `ref`).
pub(crate) fn content_schema(md_type: MdType) -> &'static Shape {
    match md_type {
        MdType::ProjectSettings => &PROJECT_SETTINGS,
        MdType::DataPermissions => &DATA_PERMISSIONS,
        MdType::Datasets => &DATASET_REF,
        MdType::Metrics => &NODE,
        MdType::Views => &VIEWS,
        MdType::Dashboards => &DASHBOARDS,
        MdType::Indicators => &INDICATORS,
        MdType::IndicatorDrills => &INDICATOR_DRILLS,
        MdType::Markers => &MARKERS,
        MdType::MarkerSelectors => &MARKER_SELECTORS,
        MdType::Exports => &EXPORTS,
        MdType::Maps | MdType::AttributeStyles => &ANY,
    }
}

/// The top-level keys of a dataset besides `ref`: `(key, schema)`.
pub(crate) const DATASET_KEYS: [(&str, &Shape); 4] = [
    ("properties", &DATASET_PROPERTIES),
    ("dataSources", &DATA_SOURCES),
    ("origin", &NON_EMPTY),
    // "an opt free object"
    ("content", &ANY),
];

// Shared pieces.

const TITLE: Shape = text(1, 255);
const DESCRIPTION: Shape = text(0, 2000);
const VISUALIZATION_TYPES: Shape = Shape::Enum(&["areas", "grid", "zones", "line", "dotmap", "heatmap"]);
const DIRECTION: Shape = Shape::Enum(&["asc", "desc"]);
const LAYOUT: Shape = Shape::Enum(&["primary", "secondary"]);
const FRACTION: Shape = int_min(0);
const COLUMN_ID: Shape = pattern("^[\\w_-]+$ (1 to 60 characters)", is_column_id);

const LINK_DATASET: Shape = Shape::Link(MdType::Datasets);
const LINK_METRIC: Shape = Shape::Link(MdType::Metrics);
const LINK_INDICATOR: Shape = Shape::Link(MdType::Indicators);
const LINK_ATTRIBUTE_STYLE: Shape = Shape::Link(MdType::AttributeStyles);

/// ZoomDTO.
const ZOOM_LEVEL: Shape = int(2, 18);
const ZOOM: Shape = object(&[
    req("min", &ZOOM_LEVEL),
    req("optimal", &ZOOM_LEVEL),
    req("max", &ZOOM_LEVEL),
    opt("visibleFrom", &ZOOM_LEVEL),
]);

/// `{type number/percentage, fraction ≥0, symbol}` (views, histograms).
const VALUE_FORMAT: Shape = object(&[
    opt("type", &Shape::Enum(&["number", "percentage"])),
    opt("fraction", &FRACTION),
    opt("symbol", &STRING),
]);

/// A feature attribute (dataset `properties`, dashboard `datasetProperties`).
const FEATURE_ATTRIBUTE: Shape = object(&[
    req("type", &Shape::Enum(&["property", "expression"])),
    req("value", &ANY),
    opt(
        "format",
        &object(&[
            opt("type", &Shape::Enum(&["text", "number", "percentage", "email", "link"])),
            opt("fraction", &FRACTION),
            opt("symbol", &STRING),
        ]),
    ),
    opt("layout", &LAYOUT),
]);

// projectSettings.content

static PROJECT_SETTINGS: Shape = object(&[
    req("geoSearchProviders", &array(&Shape::Enum(&["Mapbox", "LocationIQ"]))),
    opt(
        "geoSearchCountries",
        &array(&pattern("an ISO 3166 alpha-2 code (two letters, like GB)", is_country_code)),
    ),
    opt("defaultViews", &array(&Shape::Link(MdType::Views))),
    opt(
        "projectTemplate",
        &object(&[opt("templateDatasets", &array(&object(&[req("dataset", &LINK_DATASET)])))]),
    ),
    opt("trustedOrigins", &array(&STRING)),
    opt("allowUnsecuredOrigins", &BOOL),
]);

// dataPermissions.content

static DATA_PERMISSIONS: Shape = object(&[
    req("filters", &array(&FILTER_BY)),
    opt("email", &STRING),
    opt(
        "accountId",
        &pattern("a UUID or an account id of 20 characters [a-zA-Z0-9]", is_account_id),
    ),
]);

// datasets: ref, properties, dataSources

static DATASET_REF: Shape = one_of(
    "type",
    &[
        variant(
            &["dwh"],
            &[
                req(
                    "subtype",
                    &Shape::Enum(&["geometryPolygon", "geometryPoint", "geometryLine", "basic", "date"]),
                ),
                req("primaryKey", &NAME),
                req("properties", &array_min(&DWH_PROPERTY, 1)),
                opt("geometry", &Shape::DatasetName),
                opt("h3Geometries", &array(&STRING)),
                opt(
                    "visualizations",
                    &array(&object(&[req("type", &VISUALIZATION_TYPES), opt("zoom", &ZOOM)])),
                ),
                opt("table", &NAME),
                opt("geometryTable", &NAME),
                opt("categorizable", &BOOL),
                opt("fullTextIndex", &BOOL),
                opt("spatialIndex", &BOOL),
                opt("zoom", &ZOOM),
            ],
        ),
        variant(&["vt"], &[req("urlTemplate", &NON_EMPTY), opt("zoom", &ZOOM)]),
        variant(&["h3Grid"], &[req("resolution", &int(2, 11)), opt("zoom", &ZOOM)]),
    ],
);

/// DwhAbstractProperty: one column of a dwh dataset.
const DWH_PROPERTY: Shape = object(&[
    req("name", &NAME),
    req("column", &NAME),
    req("type", &STRING),
    opt("title", &TITLE),
    opt("description", &DESCRIPTION),
    opt("filterable", &BOOL),
    opt("calculated", &BOOL),
    opt(
        "displayOptions",
        &object(&[opt(
            "valueOptions",
            &array(&object(&[
                req("value", &ANY),
                opt(
                    "color",
                    &Shape::Enum(&[
                        "purple",
                        "green",
                        "orange",
                        "blue",
                        "turquoise",
                        "pink",
                        "red",
                        "lime",
                        "brown",
                        "yellow",
                    ]),
                ),
                opt("hexColor", &pattern("# and 6 hexadecimal digits (7 characters)", is_hex_color)),
                opt("weight", &NUMBER),
                opt("pattern", &Shape::Enum(&["solid", "dot", "dash", "longdash", "dotdash"])),
            ])),
        )]),
    ),
    opt("foreignKey", &Shape::Nullable(&Shape::DatasetName)),
    opt("geometry", &Shape::Nullable(&Shape::DatasetName)),
]);

/// featureTitle, featureSubtitle.
const FEATURE_TEXT: Shape = one_of(
    "type",
    &[
        variant(&["property", "text"], &[req("value", &STRING)]),
        variant(
            &["function"],
            &[
                req("value", &STRING),
                req(
                    "content",
                    &array_min(&one_of("type", &[variant(&["property", "text"], &[req("value", &STRING)])]), 2),
                ),
            ],
        ),
    ],
);

/// DatasetPropertiesDTO (the dataset's top-level `properties`).
const DATASET_PROPERTIES: Shape = object(&[
    opt("featureTitle", &FEATURE_TEXT),
    opt("featureSubtitle", &FEATURE_TEXT),
    opt("featureAttributes", &array(&FEATURE_ATTRIBUTE)),
]);

const DATA_SOURCES: Shape = array(&object(&[
    req("licenceHolder", &STRING),
    req("licenceHolderUrl", &STRING),
    opt("licenceHolderLogo", &STRING),
    opt("licenceUrl", &STRING),
]));

// metrics.content: one DWH expression node (§10.2).

const NODE_ID: Field = opt("id", &COLUMN_ID);
/// Function options: open objects ("`options` opt object"; metrics also put
/// `aggregateBy`, `withoutFilters`... there), with the known keys checked.
static FUNCTION_OPTIONS: Shape = open_object(&[opt("filterBy", &array(&FILTER_BY))]);
const INTERVAL: Shape = Shape::Enum(&["day", "week", "month", "quarter", "year"]);
const AGGREGATES: &[&str] = &[
    "function_avg",
    "function_sum",
    "function_count",
    "function_count_dist",
    "function_max",
    "function_min",
    "function_stddev_samp",
    "function_stddev_pop",
    "function_var_samp",
    "function_var_pop",
    "function_percent_to_total",
    "function_round",
];
const NUMBER_NODE: Shape = object(&[req("type", &Shape::Enum(&["number"])), req("value", &NUMBER), NODE_ID]);

pub(crate) static NODE: Shape = one_of(
    "type",
    &[
        variant(&["number"], &[req("value", &NUMBER), NODE_ID]),
        variant(&["variable"], &[req("value", &NAME), NODE_ID]),
        variant(&["property"], &[req("value", &DATASET_PROPERTY), NODE_ID]),
        variant(&["metric"], &[req("metric", &LINK_METRIC), NODE_ID]),
        variant(
            AGGREGATES,
            &[req("content", &array_len(&NODE, 1, 1)), opt("options", &FUNCTION_OPTIONS), NODE_ID],
        ),
        variant(
            &[
                "function_plus",
                "function_minus",
                "function_multiply",
                "function_divide",
                "function_modulo",
            ],
            &[req("content", &array_min(&NODE, 2)), opt("options", &FUNCTION_OPTIONS), NODE_ID],
        ),
        variant(
            &["function_ifnull"],
            &[req("content", &array_len(&NODE, 2, 2)), opt("options", &FUNCTION_OPTIONS), NODE_ID],
        ),
        variant(
            &["function_ntile"],
            &[
                req("content", &array_min(&NODE, 1)),
                req(
                    "options",
                    &open_object(&[
                        req("buckets", &INTEGER),
                        opt("sort", &DIRECTION),
                        opt("partitionBy", &array(&STRING)),
                        opt("filterBy", &array(&FILTER_BY)),
                    ]),
                ),
                NODE_ID,
            ],
        ),
        variant(
            &["function_rank", "function_percentile", "function_row_number"],
            &[req("content", &array_min(&NODE, 1)), req("options", &FUNCTION_OPTIONS), NODE_ID],
        ),
        variant(&["function_today"], &[opt("options", &FUNCTION_OPTIONS), NODE_ID]),
        variant(
            &["function_date_trunc"],
            &[
                req("content", &array_len(&NODE, 1, 1)),
                req("options", &open_object(&[req("interval", &INTERVAL)])),
                NODE_ID,
            ],
        ),
        variant(
            &["function_interval"],
            &[
                req("content", &array_len(&NUMBER_NODE, 1, 1)),
                opt("options", &open_object(&[opt("interval", &INTERVAL)])),
                NODE_ID,
            ],
        ),
        variant(
            &["function_h3_grid"],
            &[
                req("options", &open_object(&[req("dataset", &NAME), req("resolution", &int(0, 15))])),
                NODE_ID,
            ],
        ),
        variant(
            &["function_distance"],
            &[
                req(
                    "options",
                    &open_object(&[
                        req("dataset", &NAME),
                        req("centralPoint", &object(&[req("lat", &NUMBER), req("lng", &NUMBER)])),
                    ]),
                ),
                NODE_ID,
            ],
        ),
    ],
);

// FilterBy (§10.3), shared by metrics and data permissions, and the nested
// DwhQueryRequest of inAttribute (§10.2).

const COMPARISONS: &[&str] = &["eq", "ne", "lt", "lte", "gt", "gte"];

pub(crate) static FILTER_BY: Shape = one_of(
    "operator",
    &[
        variant(
            COMPARISONS,
            &[opt("property", &DATASET_PROPERTY), opt("function", &NODE), opt("value", &ANY)],
        ),
        variant(
            &["in"],
            &[
                opt("property", &DATASET_PROPERTY),
                opt("function", &NODE),
                req("value", &array(&ANY)),
            ],
        ),
        variant(&["isNull", "isNotNull"], &[req("property", &DATASET_PROPERTY)]),
        variant(
            &["inAttribute", "notInAttribute"],
            &[opt("property", &DATASET_PROPERTY), opt("function", &NODE), req("query", &QUERY)],
        ),
        variant(&["and", "or", "not"], &[req("content", &array(&FILTER_BY))]),
    ],
);

/// Having: on an output column, comparisons with a number.
static HAVING: Shape = one_of(
    "operator",
    &[
        variant(COMPARISONS, &[req("propertyId", &COLUMN_ID), req("value", &NUMBER)]),
        variant(&["in"], &[req("propertyId", &COLUMN_ID), req("value", &array(&ANY))]),
        variant(&["isNull", "isNotNull"], &[req("propertyId", &COLUMN_ID)]),
    ],
);

/// ResultSetFilter: as Having, but comparisons with any value.
static RESULT_SET_FILTER: Shape = one_of(
    "operator",
    &[
        variant(COMPARISONS, &[req("propertyId", &COLUMN_ID), req("value", &ANY)]),
        variant(&["in"], &[req("propertyId", &COLUMN_ID), req("value", &array(&ANY))]),
        variant(&["isNull", "isNotNull"], &[req("propertyId", &COLUMN_ID)]),
    ],
);

static QUERY: Shape = object(&[
    req("properties", &array_min(&NODE, 1)),
    opt("filterBy", &array(&FILTER_BY)),
    opt("having", &array(&HAVING)),
    opt("resultSetFilter", &array(&RESULT_SET_FILTER)),
    opt(
        "orderBy",
        &array(&object(&[
            opt("property", &Shape::Either(&[&STRING, &NODE])),
            opt("propertyId", &COLUMN_ID),
            opt("direction", &DIRECTION),
            opt("nulls", &Shape::Enum(&["first", "last"])),
        ])),
    ),
    opt("variables", &array(&object(&[req("variable", &NAME), req("value", &NUMBER)]))),
    opt("limit", &int_min(1)),
    opt("executionContext", &open_object(&[opt("feature", &STRING), opt("viewName", &NAME)])),
]);

// views.content (ViewContentDTO)

const ORDER_BY_PROPERTY: Shape = array(&object(&[opt("property", &STRING), opt("direction", &DIRECTION)]));
const TWO_NUMBERS: Shape = array_len(&NUMBER, 2, 2);
/// A date default: `{value str}` or `{function}`.
const DATE_DEFAULT: Shape = object(&[opt("value", &STRING), opt("function", &ANY)]);
const DATE_DEFAULTS: Shape = object(&[opt("startDate", &DATE_DEFAULT), opt("endDate", &DATE_DEFAULT)]);

/// The filters of `filterGroup`.
static FILTER: Shape = one_of(
    "type",
    &[
        variant(&["date", "globalDate"], &[req("property", &DATASET_PROPERTY)]),
        variant(&["histogram"], &[req("property", &DATASET_PROPERTY), opt("format", &VALUE_FORMAT)]),
        variant(
            &["multiSelect", "singleSelect"],
            &[req("property", &DATASET_PROPERTY), opt("orderBy", &ORDER_BY_PROPERTY)],
        ),
        variant(&["indicator"], &[req("indicator", &LINK_INDICATOR), opt("filterSelection", &ANY)]),
        variant(&["feature"], &[req("dataset", &LINK_DATASET)]),
    ],
);

/// The filters of `defaultActiveFilters`: the same, each with its REQ `defaultValues`.
static ACTIVE_FILTER: Shape = one_of(
    "type",
    &[
        variant(
            &["date", "globalDate"],
            &[req("property", &DATASET_PROPERTY), req("defaultValues", &DATE_DEFAULTS)],
        ),
        variant(
            &["histogram"],
            &[
                req("property", &DATASET_PROPERTY),
                opt("format", &VALUE_FORMAT),
                req("defaultValues", &object(&[req("values", &TWO_NUMBERS), opt("nullFiltered", &BOOL)])),
            ],
        ),
        variant(
            &["multiSelect"],
            &[
                req("property", &DATASET_PROPERTY),
                opt("orderBy", &ORDER_BY_PROPERTY),
                req("defaultValues", &object(&[req("values", &array(&ANY))])),
            ],
        ),
        variant(
            &["singleSelect"],
            &[
                req("property", &DATASET_PROPERTY),
                opt("orderBy", &ORDER_BY_PROPERTY),
                req("defaultValues", &object(&[req("value", &ANY)])),
            ],
        ),
        variant(
            &["indicator"],
            &[
                req("indicator", &LINK_INDICATOR),
                opt("filterSelection", &ANY),
                req(
                    "defaultValues",
                    &object(&[req("values", &TWO_NUMBERS), opt("breaks", &ANY), opt("granularity", &ANY)]),
                ),
            ],
        ),
        variant(
            &["feature"],
            &[
                req("dataset", &LINK_DATASET),
                req("defaultValues", &object(&[req("values", &array(&STRING))])),
            ],
        ),
    ],
);

static VIEWS: Shape = object(&[
    req("dashboard", &Shape::Link(MdType::Dashboards)),
    opt("icon", &pattern("^[a-z_]+$", is_icon)),
    opt("map", &Shape::Link(MdType::Maps)),
    opt("markerSelector", &Shape::Link(MdType::MarkerSelectors)),
    opt("defaultGranularity", &LINK_DATASET),
    opt("defaultVisualized", &LINK_INDICATOR),
    opt("defaultDrilled", &LINK_INDICATOR),
    opt("defaultVisualization", &VISUALIZATION_TYPES),
    opt("defaultTool", &Shape::Enum(&["search", "measure", "filter", "compare"])),
    opt("defaultCompareType", &Shape::Enum(&["dominance"])),
    opt("markersOnly", &BOOL),
    opt("showAttributesOnDrill", &BOOL),
    opt("compareCollapsed", &BOOL),
    opt("disableFitness", &BOOL),
    opt("filterGroup", &array(&FILTER)),
    opt("defaultActiveFilters", &array(&ACTIVE_FILTER)),
    opt(
        "variables",
        &array(&object(&[
            req("type", &Shape::Enum(&["variables"])),
            req("title", &STRING),
            req(
                "variables",
                &array(&object(&[
                    opt("name", &NAME),
                    opt("title", &STRING),
                    opt("minValue", &NUMBER),
                    opt("maxValue", &NUMBER),
                    opt("defaultValue", &NUMBER),
                    opt("format", &VALUE_FORMAT),
                ])),
            ),
        ])),
    ),
    opt(
        "spatialQuery",
        &object(&[
            opt("lat", &NUMBER),
            opt("lng", &NUMBER),
            opt("profile", &Shape::Enum(&["car", "bike", "foot", "air"])),
            opt("unit", &Shape::Enum(&["time", "distance"])),
            opt("amount", &num_min(1.0)),
            opt("geometry", &ANY),
        ]),
    ),
    opt("fitnessGroups", &int(3, 5)),
    opt(
        "mapOptions",
        &object(&[
            opt("center", &object(&[req("lat", &NUMBER), req("lng", &NUMBER)])),
            opt("zoom", &NUMBER),
            opt("minZoom", &num_min(0.0)),
            opt("maxZoom", &NUMBER),
            opt("tileLayerMenu", &BOOL),
            opt(
                "tileLayer",
                &Shape::Enum(&[
                    "mapbox",
                    "mapboxStreets",
                    "mapboxOutdoors",
                    "mapboxSatelliteStreets",
                    "mapboxLight",
                    "mapboxDark",
                ]),
            ),
            opt(
                "customTileLayer",
                &object(&[
                    opt("url", &pattern("^mapbox://styles/.*$", is_mapbox_style_url)),
                    opt("accessToken", &STRING),
                ]),
            ),
        ]),
    ),
    opt(
        "mapContextMenu",
        &object(&[opt(
            "items",
            &array(&object(&[req(
                "type",
                &Shape::Enum(&[
                    "googleSatellite",
                    "googleStreetView",
                    "googleEarth",
                    "mapyczPanorama",
                    "mapyczOrtophoto",
                    "cuzkParcelInfo",
                ]),
            )])),
        )]),
    ),
    opt("exports", &array(&object(&[req("export", &Shape::Link(MdType::Exports))]))),
    opt("measure", &ANY),
    opt("defaultSelected", &ANY),
    opt("excludeDatasets", &ANY),
]);

// indicatorDrills.content, whose blocks dashboards show too.

/// The generated 32-character id of a dashboard item (semantics §4).
const ITEM_ID: Field = opt("itemId", &STRING);

const CATEGORIES: Variant = variant(
    &["categories"],
    &[
        opt("title", &STRING),
        opt("description", &STRING),
        opt("splitProperty", &DATASET_PROPERTY),
        opt("attributeStyle", &LINK_ATTRIBUTE_STYLE),
        opt("indicator", &LINK_INDICATOR),
        opt("collapsed", &BOOL),
        opt("visualized", &BOOL),
        opt("filterable", &BOOL),
        opt("hideNullItems", &BOOL),
        opt("sizeLimit", &int_min(0)),
        opt("orderBy", &object(&[opt("property", &STRING), opt("direction", &DIRECTION)])),
        opt("vertical", &BOOL),
        opt("condensed", &BOOL),
        opt("dualProperty", &DATASET_PROPERTY),
        opt("dualAttributeStyle", &LINK_ATTRIBUTE_STYLE),
        opt("label", &ANY),
        ITEM_ID,
    ],
);

const DISTRIBUTION: Variant = variant(
    &["distribution"],
    &[
        opt("title", &STRING),
        opt("indicator", &LINK_INDICATOR),
        opt("defaultDataset", &STRING),
        opt("collapsed", &BOOL),
        opt("visualized", &BOOL),
        ITEM_ID,
    ],
);

const RANKING: Variant = variant(
    &["ranking"],
    &[
        opt("title", &STRING),
        opt("indicator", &LINK_INDICATOR),
        opt("defaultLayer", &STRING),
        opt("featureType", &Shape::Enum(&["granularity", "markers"])),
        opt("direction", &DIRECTION),
        opt("collapsed", &BOOL),
        opt("visualized", &BOOL),
        ITEM_ID,
    ],
);

const TIME_SERIES: Variant = variant(
    &["timeSeries"],
    &[
        opt("title", &STRING),
        opt("indicator", &LINK_INDICATOR),
        opt("collapsed", &BOOL),
        opt("visualized", &BOOL),
        opt("defaultPeriod", &LINK_DATASET),
        opt("additionalSeries", &array(&object(&[opt("indicator", &LINK_INDICATOR)]))),
        opt("annotations", &array(&object(&[opt("dataset", &LINK_DATASET)]))),
        ITEM_ID,
    ],
);

static DRILL_BLOCK: Shape = one_of("type", &[CATEGORIES, DISTRIBUTION, RANKING, TIME_SERIES]);

static INDICATOR_DRILLS: Shape = object(&[opt("blocks", &array(&DRILL_BLOCK))]);

// dashboards.content

/// IndicatorLinkDTO, without its `type`.
static INDICATOR_LINK: &[Field] = &[
    req("indicator", &LINK_INDICATOR),
    req("indicatorDrill", &Shape::Link(MdType::IndicatorDrills)),
    opt("title", &STRING),
    opt("layout", &LAYOUT),
    opt("collapsed", &BOOL),
    opt("blockRows", &array(&DRILL_BLOCK)),
    ITEM_ID,
];

static DASHBOARD_ITEM: Shape = one_of(
    "type",
    &[
        // At most two indicators side by side (semantics §4).
        variant(
            &["blockRow"],
            &[
                req(
                    "blocks",
                    &array_len(&one_of("type", &[variant(&["indicator"], INDICATOR_LINK)]), 0, 2),
                ),
                ITEM_ID,
            ],
        ),
        variant(&["indicator"], INDICATOR_LINK),
        variant(
            &["indicatorGroup"],
            &[
                req("title", &STRING),
                opt("description", &STRING),
                opt("collapsed", &BOOL),
                req("blockRows", &array(&DASHBOARD_ITEM)),
                ITEM_ID,
            ],
        ),
        // The drill blocks, shown directly on the dashboard.
        CATEGORIES,
        DISTRIBUTION,
        RANKING,
        TIME_SERIES,
    ],
);

static DASHBOARDS: Shape = object(&[
    opt("blockRows", &array(&DASHBOARD_ITEM)),
    opt(
        "datasetProperties",
        &array(&object(&[
            req("dataset", &LINK_DATASET),
            opt("defaultSearch", &Shape::Enum(&["enable", "disable", "auto"])),
            req("featureAttributes", &array_min(&FEATURE_ATTRIBUTE, 1)),
        ])),
    ),
]);

// indicators.content

static INDICATORS: Shape = object(&[
    req("metric", &LINK_METRIC),
    opt(
        "scale",
        &Shape::Enum(&[
            "standard",
            "positive",
            "negative",
            "binaryStandard",
            "binaryNegative",
            "divergingStandard",
            "divergingNegative",
            "inverse",
            "traffic",
            "trafficInverse",
            "heatmap",
            "magma",
            "heat",
            "viridis",
            "divergingWithZeroStandard",
            "divergingWithZeroNegative",
        ]),
    ),
    opt("distribution", &Shape::Enum(&["geometric", "uniform"])),
    opt(
        "visualizations",
        &object(&[
            opt("areas", &BOOL),
            opt("grid", &BOOL),
            opt("zones", &BOOL),
            opt("line", &BOOL),
            opt("dotmap", &BOOL),
            opt("heatmap", &BOOL),
            opt("dominance", &BOOL),
            opt("heatmapScaleFactor", &NUMBER),
        ]),
    ),
    opt(
        "format",
        &object(&[
            req("type", &Shape::Enum(&["number", "percentage"])),
            opt("fraction", &FRACTION),
            opt("symbol", &STRING),
        ]),
    ),
    opt(
        "relations",
        &object(&[
            req("type", &Shape::Enum(&["self", "none", "opposite"])),
            req("reversedMetric", &LINK_METRIC),
        ]),
    ),
    opt(
        "scaleOptions",
        &object(&[
            opt(
                "static",
                &array(&object(&[
                    opt("dataset", &STRING),
                    req(
                        "breaks",
                        &object(&[opt("global", &array(&NUMBER)), opt("selection", &array(&NUMBER))]),
                    ),
                    opt(
                        "maxValues",
                        &array(&object(&[
                            opt("zoom", &ZOOM_LEVEL),
                            opt("global", &NUMBER),
                            opt("selection", &NUMBER),
                        ])),
                    ),
                ])),
            ),
            opt(
                "defaultDistribution",
                &object(&[opt("range", &ANY), opt("breaks", &ANY), opt("displayIntervals", &ANY)]),
            ),
        ]),
    ),
]);

// markers.content

static MARKERS: Shape = object(&[
    req("style", &pattern("^[a-z-]+$", is_marker_style)),
    opt(
        "propertyFilters",
        &array(&one_of(
            "operator",
            &[
                variant(COMPARISONS, &[req("propertyName", &NAME), req("value", &ANY)]),
                variant(&["in"], &[req("propertyName", &NAME), req("value", &array(&ANY))]),
            ],
        )),
    ),
]);

// markerSelectors.content

static MARKER_SELECTORS: Shape = object(&[
    opt(
        "categories",
        &array(&object(&[
            req("dataset", &LINK_DATASET),
            req(
                "markers",
                &array_min(
                    &object(&[
                        req("marker", &Shape::Link(MdType::Markers)),
                        req("visible", &BOOL),
                        opt("addOnExpand", &BOOL),
                    ]),
                    1,
                ),
            ),
            opt(
                "linkedLayers",
                &array(&object(&[
                    req("dataset", &STRING),
                    opt("style", &pattern("^[a-z][a-z0-9_-]*$ (at most 50 characters)", is_short_name)),
                    opt("visible", &BOOL),
                ])),
            ),
        ])),
    ),
    opt(
        "granularityCategories",
        &array(&object(&[
            req("dataset", &LINK_DATASET),
            req("splitPropertyName", &pattern("^[a-z0-9_-]+$", is_split_property_name)),
            req("styleType", &Shape::Enum(&["color", "pattern", "weight"])),
        ])),
    ),
    opt("hideGranularity", &BOOL),
    opt("showIndicatorValuesOnMap", &BOOL),
    opt("clusterMarkers", &BOOL),
    opt("keepFiltered", &object(&[opt("granularity", &BOOL), opt("markers", &BOOL)])),
]);

// exports.content

static EXPORTS: Shape = object(&[
    opt("properties", &array(&DATASET_PROPERTY)),
    opt(
        "output",
        &object(&[
            req("type", &Shape::Enum(&["file"])),
            req("format", &Shape::Enum(&["csv", "xlsx"])),
            opt("filename", &pattern("^[a-zA-Z0-9 _-]*(.csv|.xlsx)$", is_export_filename)),
            opt("header", &Shape::Enum(&["basic", "export", "template"])),
        ]),
    ),
]);

//! A job's `content`, per type (api-contract.md §7.2): parsed and checked when
//! submitted, so that a bad request is a 400 naming its field rather than a
//! failed job, and parsed again by the worker from the stored JSON.

use crate::error::{ApiError, ApiResult};
use locus_core::Permission;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// The job types Locus runs, with what submitting each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    DataPull,
    DataDump,
    Truncate,
    Validate,
    ImportProject,
    /// Locus addition: makes a kept version of a dataset current again.
    Restore,
    /// A query's rows to a CSV file, filtered by the caller's permissions.
    Export,
    /// Aggregates around many locations at once, metered.
    BulkPointQuery,
}

impl JobKind {
    pub fn parse(s: &str) -> ApiResult<JobKind> {
        Ok(match s {
            "dataPull" => JobKind::DataPull,
            "dataDump" => JobKind::DataDump,
            "truncate" => JobKind::Truncate,
            "validate" => JobKind::Validate,
            "importProject" => JobKind::ImportProject,
            "restore" => JobKind::Restore,
            "export" => JobKind::Export,
            "bulkPointQuery" => JobKind::BulkPointQuery,
            _ => {
                return Err(ApiError::bad_request(
                    "type",
                    "must be dataPull, dataDump, export, bulkPointQuery, truncate, validate, importProject or restore",
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::DataPull => "dataPull",
            JobKind::DataDump => "dataDump",
            JobKind::Truncate => "truncate",
            JobKind::Validate => "validate",
            JobKind::ImportProject => "importProject",
            JobKind::Restore => "restore",
            JobKind::Export => "export",
            JobKind::BulkPointQuery => "bulkPointQuery",
        }
    }

    /// The permission submitting this type needs in the job's project
    /// (semantics.md §8; truncate and restore are ADMIN's, as `project.update` is).
    pub fn permission(self) -> Permission {
        match self {
            JobKind::DataPull | JobKind::ImportProject => Permission::DataLoad,
            JobKind::DataDump => Permission::DataDump,
            JobKind::Validate => Permission::DataValidate,
            JobKind::Truncate | JobKind::Restore => Permission::ProjectUpdate,
            JobKind::Export => Permission::StudioExport,
            JobKind::BulkPointQuery => Permission::DataBulkPointQuery,
        }
    }
}

/// ExportRequest (the official client also sends `filename`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub format: String,
    pub query: Value,
    pub csv_header_format: Option<String>,
    #[serde(default)]
    pub csv_options: Value,
    pub filename: Option<String>,
}

impl Export {
    /// The one-byte separator of the CSV (default `,`).
    pub fn separator(&self) -> ApiResult<u8> {
        match self.csv_options.get("separator").and_then(Value::as_str) {
            None => Ok(b','),
            Some(s) if s.len() == 1 && s != "\"" && s != "\n" => Ok(s.as_bytes()[0]),
            Some(_) => Err(ApiError::bad_request(
                "content.csvOptions.separator",
                "one character, not a quote or a newline",
            )),
        }
    }

    pub fn check(&self) -> ApiResult<()> {
        if !matches!(self.format.as_str(), "csv" | "xlsx") {
            return Err(ApiError::bad_request("content.format", "must be csv or xlsx"));
        }
        if !matches!(self.csv_header_format.as_deref(), None | Some("basic" | "export" | "template")) {
            return Err(ApiError::bad_request(
                "content.csvHeaderFormat",
                "must be basic, export or template",
            ));
        }
        self.separator()?;
        Ok(())
    }
}

/// The most points one bulk point query takes.
pub const MAX_POINTS: usize = 1000;

/// BulkPointQueryRequest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkPointQuery {
    #[serde(default)]
    pub enable_billing: bool,
    pub points: Vec<Point>,
    pub point_queries: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Point {
    pub id: Option<Value>,
    pub lat: f64,
    pub lng: f64,
}

impl BulkPointQuery {
    /// Checks the points and reads each point query (its shape; the model
    /// checks its nodes). `air_speed_mpm`: metres per minute of `unit: time`;
    /// `routing`: whether a routing engine is configured.
    pub fn read(&self, air_speed_mpm: f64, routing: bool) -> ApiResult<Vec<locus_data::query::points::PointQuery>> {
        use locus_data::query::points::{Around, Isochrone, PointQuery};
        if self.points.is_empty() || self.points.len() > MAX_POINTS {
            return Err(ApiError::bad_request("content.points", format!("1 to {MAX_POINTS} points")));
        }
        for (i, p) in self.points.iter().enumerate() {
            if !(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lng) {
                return Err(ApiError::bad_request(
                    format!("content.points[{i}]"),
                    "lat is -90 to 90 and lng -180 to 180",
                ));
            }
        }
        if self.point_queries.is_empty() {
            return Err(ApiError::bad_request("content.pointQueries", "at least one point query"));
        }
        let mut out = Vec::with_capacity(self.point_queries.len());
        for (i, q) in self.point_queries.iter().enumerate() {
            let at = |k: &str| format!("content.pointQueries[{i}].{k}");
            let kind = q.get("type").and_then(Value::as_str).unwrap_or_default();
            let options = q.get("options").cloned().unwrap_or(Value::Null);
            let around = match kind {
                "nearest" => {
                    let n = match options.get("limit") {
                        None | Some(Value::Null) => 1,
                        Some(v) => v
                            .as_u64()
                            .filter(|n| (1..=1000).contains(n))
                            .ok_or_else(|| ApiError::bad_request(at("options.limit"), "1 to 1000"))?,
                    };
                    Around::Nearest(usize::try_from(n).unwrap_or(1))
                }
                "isochrone" => {
                    let profile = options.get("profile").and_then(Value::as_str).unwrap_or_default();
                    let amount = options
                        .get("amount")
                        .and_then(Value::as_f64)
                        .filter(|a| *a >= 1.0)
                        .ok_or_else(|| ApiError::bad_request(at("options.amount"), "a number of at least 1"))?;
                    let unit = options.get("unit").and_then(Value::as_str).unwrap_or_default();
                    match (profile, unit) {
                        ("air", "distance") => Around::Within(amount),
                        ("air", "time") => Around::Within(amount * air_speed_mpm),
                        ("air", _) => return Err(ApiError::bad_request(at("options.unit"), "time or distance")),
                        ("car" | "bike" | "foot", _) if !routing => {
                            return Err(ApiError::bad_request(
                                at("options.profile"),
                                format!(
                                "{profile} isochrones need a routing engine, which this server does not have: its operator sets one with --routing-url (Valhalla's isochrone API); use profile air"
                            ),
                            ))
                        }
                        ("car" | "bike" | "foot", "time" | "distance") => Around::Routed(Isochrone {
                            profile: profile.to_owned(),
                            minutes: (unit == "time").then_some(amount),
                            metres: (unit == "distance").then_some(amount),
                        }),
                        ("car" | "bike" | "foot", _) => {
                            return Err(ApiError::bad_request(at("options.unit"), "time or distance"))
                        }
                        _ => return Err(ApiError::bad_request(at("options.profile"), "car, bike, foot or air")),
                    }
                }
                _ => return Err(ApiError::bad_request(at("type"), "nearest or isochrone")),
            };
            let dataset = q
                .get("dataset")
                .and_then(Value::as_str)
                .map(|d| d.rsplit(['=', '/']).next().unwrap_or(d).to_owned())
                .ok_or_else(|| ApiError::bad_request(at("dataset"), "a point dataset is required"))?;
            let mut query = serde_json::Map::new();
            for key in [
                "properties",
                "filterBy",
                "having",
                "resultSetFilter",
                "orderBy",
                "variables",
                "limit",
            ] {
                if let Some(v) = q.get(key).filter(|v| !v.is_null()) {
                    query.insert(key.to_owned(), v.clone());
                }
            }
            out.push(PointQuery {
                id: q
                    .get("queryId")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("query{i}"), str::to_owned),
                dataset,
                around,
                query: Value::Object(query),
            });
        }
        Ok(out)
    }
}

/// DataPullRequest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataPull {
    pub dataset: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub format: Option<String>,
    pub upload: Option<String>,
    pub s3_upload: Option<Value>,
    pub https_upload: Option<Value>,
    #[serde(default)]
    pub csv_options: Value,
    #[allow(dead_code)] // no materialized views in Locus; accepted as sent
    pub skip_refreshing_materialized_views: Option<bool>,
}

impl DataPull {
    pub fn incremental(&self) -> bool {
        self.mode == "incremental"
    }

    /// The upload id its `upload` link names (`…/dwh/data/uploads/{id}`, relative or absolute).
    pub fn upload_id(&self) -> Option<&str> {
        let link = self.upload.as_deref()?;
        let path = link.split(['?', '#']).next().unwrap_or_default();
        path.trim_end_matches('/').rsplit('/').next()
    }

    /// The project an `upload` link names, if it names one.
    pub fn upload_project(&self) -> Option<&str> {
        let link = self.upload.as_deref()?;
        let rest = &link[link.find("/projects/")? + "/projects/".len()..];
        rest.split('/').next()
    }
}

/// DataDumpRequest.
#[derive(Debug, Clone, Deserialize)]
pub struct DataDump {
    pub dataset: String,
}

/// ImportProjectRequest. With no type switch on (the official client sends
/// none), every metadata type is copied.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportProject {
    pub source_project_id: String,
    #[allow(dead_code)] // Locus copies only objects that passed validation when saved
    pub force: bool,
    pub cascade_from: Option<String>,
    pub prefix: Option<String>,
    #[serde(default)]
    pub skip_data: bool,
    #[serde(flatten)]
    pub switches: std::collections::BTreeMap<String, Value>,
}

/// The per-type switches of an import and the metadata types they select.
pub const IMPORT_SWITCHES: &[(&str, &[&str])] = &[
    ("attributeStyles", &["attributeStyles"]),
    ("dashboard", &["dashboards"]),
    ("dataPermissions", &["dataPermissions"]),
    ("datasets", &["datasets"]),
    ("exports", &["exports"]),
    ("indicators", &["indicators"]),
    ("indicatorDrills", &["indicatorDrills"]),
    ("maps", &["maps"]),
    ("markers", &["markers"]),
    ("markerSelectors", &["markerSelectors"]),
    ("metrics", &["metrics"]),
    ("projectSettings", &["projectSettings"]),
    ("views", &["views"]),
];

impl ImportProject {
    /// The metadata type segments to copy; None is every type.
    pub fn selected_types(&self) -> Option<Vec<&'static str>> {
        let on: Vec<&'static str> = IMPORT_SWITCHES
            .iter()
            .filter(|(key, _)| self.switches.get(*key).and_then(Value::as_bool) == Some(true))
            .flat_map(|(_, types)| types.iter().copied())
            .collect();
        (!on.is_empty()).then_some(on)
    }
}

/// Restore (Locus addition): `{dataset, versionId}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restore {
    pub dataset: String,
    pub version_id: String,
}

/// Parses `content` as `T`; an error names the field (`content.mode`).
pub fn content<T: DeserializeOwned>(content: &Value) -> ApiResult<T> {
    serde_path_to_error::deserialize(content).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "content".to_owned()
        } else {
            format!("content.{path}")
        };
        ApiError::bad_request(field, e.inner().to_string())
    })
}

/// The `result` of a finished `bulkPointQuery` job (documented in the OpenAPI
/// document's components; the job answers it as JSON).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BulkPointQueryResult {
    /// One entry per point, in the request's order.
    pub points: Vec<PointResult>,
}

/// What the point queries found around one point.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PointResult {
    /// The point's `id` as sent, or its index when it had none.
    #[schema(value_type = Object)]
    pub id: Value,
    pub lat: f64,
    pub lng: f64,
    /// Per `queryId` (`query{i}` when none was given), the rows computed: each
    /// an object keyed by the point query's property ids. A query of
    /// aggregates gives one row over the rows found; a query of bare
    /// properties gives one row per row found, nearest first, with its `id`
    /// (primary key) and `distance` (great-circle metres). A `car`, `bike`
    /// or `foot` isochrone whose routing engine failed for this point gives
    /// `{"error": "…"}` instead.
    #[schema(value_type = Object)]
    pub queries: serde_json::Map<String, Value>,
}

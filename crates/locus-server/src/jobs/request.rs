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
            "bulkPointQuery" => {
                return Err(ApiError::bad_request(
                    "type",
                    format!("{s} jobs are not available on this server yet (they come with queries over loaded data)"),
                ))
            }
            _ => {
                return Err(ApiError::bad_request(
                    "type",
                    "must be dataPull, dataDump, export, truncate, validate, importProject or restore",
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
        match self.format.as_str() {
            "csv" => {}
            "xlsx" => {
                return Err(ApiError::bad_request(
                    "content.format",
                    "xlsx exports are not available on this server yet; use csv",
                ))
            }
            _ => return Err(ApiError::bad_request("content.format", "must be csv or xlsx")),
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

//! Reading what the data jobs made: a dump's CSV (api-contract.md §8.2) and
//! the kept versions of a dataset (Locus addition, restored with a `restore` job).

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::wire::Link;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use locus_data::StorePath;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dump))
        .routes(routes!(export))
        .routes(routes!(versions))
}

/// A dump made by a `dataDump` job, as RFC 4180 CSV with a header; kept 24 h.
#[utoipa::path(get, path = "/rest/projects/{projectId}/data/dumps/{dumpId}", tag = "data",
    params(("projectId" = String, Path), ("dumpId" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn dump(State(state): State<AppState>, access: Authorized<need::DataDump>, Path(ids): Path<(String, String)>) -> ApiResult<Response> {
    let (_, dump_id) = ids;
    download(&state, &access.project.id, "dump", &dump_id).await
}

/// A file made by an `export` job (CSV); kept 24 h. Only the account that
/// asked for it can read it: it holds the rows that account may see.
#[utoipa::path(get, path = "/rest/projects/{projectId}/export/{exportId}", tag = "data",
    params(("projectId" = String, Path), ("exportId" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn export(
    State(state): State<AppState>,
    access: Authorized<need::StudioExport>,
    Path(ids): Path<(String, String)>,
) -> ApiResult<Response> {
    let (_, export_id) = ids;
    let job = state.store.download_job_account(&access.project.id, &export_id).await?;
    if job.as_deref() != Some(access.caller.account.id.as_str()) {
        return Err(ApiError::NotFound("export (exports are kept 24 hours)"));
    }
    download(&state, &access.project.id, "export", &export_id).await
}

/// Streams a dump or an export file.
async fn download(state: &AppState, project_id: &str, kind: &str, dump_id: &str) -> ApiResult<Response> {
    let download = state
        .store
        .download(project_id, dump_id, locus_store::now_millis())
        .await?
        .filter(|d| d.kind == kind)
        .ok_or(ApiError::NotFound("file (dumps and exports are kept 24 hours)"))?;
    let path = StorePath::from(download.path.as_str());
    let stream = locus_data::transfer::file_stream(state.data.store.clone(), &path)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let body = Body::from_stream(stream.map_err(std::io::Error::other));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let (kind, extension) = if download.path.ends_with(".xlsx") {
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
    } else {
        ("text/csv; charset=utf-8", "csv")
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{dump_id}.{extension}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionDto {
    id: String,
    dataset: String,
    current: bool,
    rows: i64,
    /// The stored (Parquet) size.
    bytes: i64,
    /// The account whose job loaded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    loaded_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<String>,
    /// Epoch milliseconds.
    created: i64,
    /// Epoch milliseconds: when another version became current; it is deleted
    /// after the retention period.
    #[serde(skip_serializing_if = "Option::is_none")]
    replaced: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionsDto {
    content: Vec<VersionDto>,
    links: Vec<Link>,
}

/// The kept versions of a dataset's rows, newest first (Locus addition).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/datasets/{dataset}/versions", tag = "data",
    params(("projectId" = String, Path), ("dataset" = String, Path)), responses((status = 200, body = VersionsDto)))]
async fn versions(
    State(state): State<AppState>,
    access: Authorized<need::DataLoad>,
    Path(ids): Path<(String, String)>,
) -> ApiResult<axum::Json<VersionsDto>> {
    let (pid, dataset) = ids;
    let versions = state.store.dataset_versions(&access.project.id, &dataset).await?;
    Ok(axum::Json(VersionsDto {
        content: versions
            .into_iter()
            .map(|v| VersionDto {
                id: v.version_id,
                dataset: v.dataset,
                current: v.current,
                rows: v.rows,
                bytes: v.bytes,
                loaded_by: v.loaded_by,
                job_id: v.job_id,
                created: v.created_at,
                replaced: v.replaced_at,
            })
            .collect(),
        links: Link::this(format!("/rest/projects/{pid}/dwh/datasets/{dataset}/versions")),
    }))
}

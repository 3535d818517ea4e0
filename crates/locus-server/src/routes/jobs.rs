//! Jobs (api-contract.md §7): submitting, reading one, and the history.
//!
//! `POST /rest/jobs` names its project in the body, so it authorizes after
//! parsing it, against the permission the job's type needs. The job is in the
//! store before the 202 is sent, so `links[0]` is readable at once (the SDK
//! does not retry a 404 there). A job is read by members of its project.

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::jobs::request::{self, DataPull, JobKind};
use crate::jobs::source;
use crate::wire::Link;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use locus_core::metadata::MdType;
use locus_core::ProjectId;
use locus_store::{Job, JobQuery, MdKey, NewJob};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit))
        .routes(routes!(history))
        .routes(routes!(detail))
}

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

/// JobDetailResponse.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobDto {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    /// RUNNING (queued or running), SUCCEEDED, FAILED, TIMED_OUT, ABORTED.
    status: &'static str,
    project_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataset: Option<String>,
    /// Epoch milliseconds: when it was submitted.
    created_date: i64,
    /// Epoch milliseconds: when a worker started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// Per type (data-plane.md §5); while running, `progress` with rows and bytes done.
    #[schema(value_type = Object)]
    result: Value,
    links: Vec<Link>,
}

impl From<&Job> for JobDto {
    fn from(job: &Job) -> Self {
        let mut result = job
            .result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_else(|| json!({}));
        if let Some(map) = result.as_object_mut() {
            map.insert("progress".into(), json!({"rows": job.progress_rows, "bytes": job.progress_bytes}));
        }
        JobDto {
            id: job.id.clone(),
            kind: job.kind.clone(),
            status: job.status.wire(),
            project_id: job.project_id.clone(),
            account_id: job.account_id.clone(),
            dataset: job.dataset.clone(),
            created_date: job.created_at,
            start_date: job.started_at,
            end_date: job.ended_at,
            message: job.message.clone(),
            result,
            links: Link::this(format!("/rest/jobs/{}?type={}", job.id, job.kind)),
        }
    }
}

/// Submits a job: `{type, projectId, content}`. Answers 202 with the job.
#[utoipa::path(post, path = "/rest/jobs", tag = "jobs", request_body(content = Object, description = "GeneralJobRequest"),
    responses((status = 202, body = JobDto)))]
async fn submit(State(state): State<AppState>, parts: Parts, body: Bytes) -> ApiResult<(StatusCode, axum::Json<JobDto>)> {
    let body: Value = crate::extract::parse_json(&body)?;
    let field = |name: &'static str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad_request(name, "required (a string)"))
    };
    let kind_name = field("type")?;
    let raw_project = field("projectId")?;
    let access = Authorized::<need::ProjectDetail>::in_project(&parts, &state, raw_project).await?;
    let kind = JobKind::parse(kind_name)?;
    access.require(kind.permission())?;
    let content = body.get("content").cloned().unwrap_or(Value::Null);
    let pid = access.project.id.as_str();
    let dataset = check(&state, &parts, &access, kind, &content).await?;
    let job = state
        .store
        .create_job(
            &access.caller.actor,
            NewJob {
                project_id: pid,
                account_id: Some(&access.caller.account.id),
                kind: kind.as_str(),
                dataset: dataset.as_deref(),
                content: content.to_string(),
            },
        )
        .await?;
    state.jobs.wake();
    Ok((StatusCode::ACCEPTED, axum::Json(JobDto::from(&job))))
}

/// Checks a submission's content; returns the dataset it concerns.
async fn check(
    state: &AppState,
    parts: &Parts,
    access: &Authorized<need::ProjectDetail>,
    kind: JobKind,
    content: &Value,
) -> ApiResult<Option<String>> {
    let pid = access.project.id.as_str();
    match kind {
        JobKind::DataPull => {
            let pull: DataPull = request::content(content)?;
            dwh_dataset(state, pid, &pull.dataset).await?;
            if !matches!(pull.mode.as_str(), "full" | "incremental") {
                return Err(ApiError::bad_request("content.mode", "must be full or incremental"));
            }
            if pull.format.as_deref().is_some_and(|f| f != "csv") {
                return Err(ApiError::bad_request("content.type", "must be csv"));
            }
            locus_data::CsvOptions::from_json(&pull.csv_options).map_err(|e| match e {
                locus_data::DataError::CsvOption { field, message } => {
                    ApiError::bad_request(format!("content.csvOptions.{field}"), message)
                }
                other => ApiError::bad_request("content.csvOptions", other.to_string()),
            })?;
            let sources = [pull.upload.is_some(), pull.s3_upload.is_some(), pull.https_upload.is_some()];
            match sources.iter().filter(|s| **s).count() {
                1 => {}
                0 => {
                    return Err(ApiError::bad_request(
                        "content.upload",
                        "name the data: upload, s3Upload or httpsUpload",
                    ))
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "content",
                        "name one source only: upload, s3Upload or httpsUpload",
                    ))
                }
            }
            let allow_private = state.settings.allow_private_sources;
            let refused = |e: source::SourceError| ApiError::bad_request(e.field, e.message);
            if let Some(value) = &pull.https_upload {
                source::https_url(value, allow_private).await.map_err(refused)?;
                return Ok(Some(pull.dataset));
            }
            if let Some(value) = &pull.s3_upload {
                source::s3_object(value, allow_private).await.map_err(refused)?;
                return Ok(Some(pull.dataset));
            }
            let foreign = pull.upload_project().is_some_and(|p| p != pid);
            let upload = match pull.upload_id() {
                Some(id) if !foreign => state.store.upload(id).await?,
                _ => None,
            };
            let upload = upload
                .filter(|u| u.project_id == pid && u.expires_at > locus_store::now_millis())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "content.upload",
                        "names no live upload of this project (uploads expire after a day)",
                    )
                })?;
            if upload.completed_at.is_none() {
                let message = if upload.is_multipart() {
                    "the multipart upload is not complete: PUT its part ETags to the upload first"
                } else {
                    "nothing was uploaded to this upload's URL yet"
                };
                return Err(ApiError::bad_request("content.upload", message));
            }
            Ok(Some(pull.dataset))
        }
        JobKind::DataDump => {
            let dump: request::DataDump = request::content(content)?;
            dwh_dataset(state, pid, &dump.dataset).await?;
            Ok(Some(dump.dataset))
        }
        JobKind::Restore => {
            let restore: request::Restore = request::content(content)?;
            let versions = state.store.dataset_versions(pid, &restore.dataset).await?;
            if !versions.iter().any(|v| v.version_id == restore.version_id) {
                return Err(ApiError::bad_request("content.versionId", "names no kept version of this dataset"));
            }
            Ok(Some(restore.dataset))
        }
        JobKind::ImportProject => {
            let import: request::ImportProject = request::content(content)?;
            if import.prefix.is_some() || import.cascade_from.is_some() {
                let field = if import.prefix.is_some() {
                    "content.prefix"
                } else {
                    "content.cascadeFrom"
                };
                return Err(ApiError::bad_request(field, "is not supported by this server; import without it"));
            }
            let source = ProjectId::parse("content.sourceProjectId", &import.source_project_id)?;
            if source.as_str() == pid {
                return Err(ApiError::bad_request("content.sourceProjectId", "must name another project"));
            }
            // A copy shows everything of the source: it takes the source's
            // ADMIN (data.dump), decided like any request to the source.
            Authorized::<need::DataDump>::in_project(parts, state, source.as_str())
                .await
                .map_err(|e| match e {
                    ApiError::NotFound(_) => ApiError::NotFound("source project"),
                    other => other,
                })?;
            Ok(None)
        }
        JobKind::Export => {
            let export: request::Export = request::content(content)?;
            export.check()?;
            // The query is checked now, as the caller sees the data.
            let context = crate::routes::dwh::context(state, pid, &access.caller.account).await?;
            context.request(&export.query).map_err(|e| match e {
                locus_data::query::QueryError::Invalid { path, message } => ApiError::bad_request(
                    if path.is_empty() {
                        "content.query".to_owned()
                    } else {
                        format!("content.query.{path}")
                    },
                    message,
                ),
                other => ApiError::from(other),
            })?;
            Ok(None)
        }
        JobKind::BulkPointQuery => {
            let bulk: request::BulkPointQuery = request::content(content)?;
            let queries = bulk.read(state.settings.air_speed_metres_per_minute(), state.settings.routing_url.is_some())?;
            let account = &access.caller.account;
            let context = crate::routes::dwh::context(state, pid, account).await?;
            let aggregates_only = access.membership.role == locus_core::Role::LocationApiConsumer;
            for (i, q) in queries.iter().enumerate() {
                let path = format!("content.pointQueries[{i}]");
                q.check(&context.snapshot, &path).map_err(|e| match e {
                    locus_data::query::QueryError::Invalid { path, message } => ApiError::bad_request(path, message),
                    other => ApiError::from(other),
                })?;
                if aggregates_only {
                    if let Some(property) = q.row_property(&context.snapshot) {
                        return Err(access.deny(
                            locus_core::Permission::DataBulkPointQuery,
                            format!(
                                "{path}.properties: LOCATION_API_CONSUMER gets aggregates only (metrics and aggregate functions), not the property {property} of the rows"
                            ),
                        ));
                    }
                }
            }
            check_quota(state, pid, &account.id, bulk.points.len()).await?;
            Ok(None)
        }
        JobKind::Truncate | JobKind::Validate => Ok(None),
    }
}

/// The dwh dataset `name` of the project, whose definition can hold rows.
pub(crate) async fn dwh_dataset(state: &AppState, pid: &str, name: &str) -> ApiResult<locus_data::DatasetDef> {
    let object = state
        .store
        .md_object(pid, MdType::Datasets, MdKey::Name(name))
        .await?
        .ok_or_else(|| ApiError::bad_request("content.dataset", format!("the project has no dataset {name:?}")))?;
    let body = object.body_json()?;
    let kind = body.pointer("/ref/type").and_then(Value::as_str).unwrap_or_default();
    if kind != "dwh" {
        return Err(ApiError::bad_request(
            "content.dataset",
            format!("dataset {name:?} is of type {kind:?}: only dwh datasets hold loaded data"),
        ));
    }
    let reference = body.get("ref").cloned().unwrap_or(Value::Null);
    locus_data::DatasetDef::from_metadata(name, &reference).map_err(|e| ApiError::bad_request("content.dataset", e.to_string()))
}

/// Refuses a bulk point query that would take the account past its monthly
/// quota of points in the project (calendar months, UTC), with 429.
async fn check_quota(state: &AppState, pid: &str, account_id: &str, points: usize) -> ApiResult<()> {
    let Some(quota) = state.store.usage_quota(pid, account_id).await? else {
        return Ok(());
    };
    let now = time::OffsetDateTime::now_utc();
    let month_start = now.replace_day(1).ok().map(|d| d.replace_time(time::Time::MIDNIGHT)).unwrap_or(now);
    let next_month = if month_start.month() == time::Month::December {
        month_start
            .replace_year(month_start.year() + 1)
            .and_then(|d| d.replace_month(time::Month::January))
    } else {
        month_start.replace_month(month_start.month().next())
    }
    .unwrap_or(now);
    let from = i64::try_from(month_start.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let to = i64::try_from(next_month.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let used: i64 = state
        .store
        .usage(pid, from, to, Some(account_id))
        .await?
        .iter()
        .map(|u| u.usage.points)
        .sum();
    let asked = i64::try_from(points).unwrap_or(i64::MAX);
    if used.saturating_add(asked) > quota {
        let resets = crate::wire::timestamp(to);
        return Err(ApiError::QuotaExceeded {
            message: format!(
                "this request's {asked} points would exceed the monthly quota of {quota} points for your account in this project: {used} used this month; the quota resets at {resets}"
            ),
            retry_after_secs: u64::try_from((to - locus_store::now_millis()) / 1000).unwrap_or(0).max(1),
        });
    }
    Ok(())
}

/// A job, for members of its project. Any other caller reads 404.
#[utoipa::path(get, path = "/rest/jobs/{jobId}", tag = "jobs", params(("jobId" = String, Path), ("type" = Option<String>, Query)),
    responses((status = 200, body = JobDto)))]
async fn detail(
    State(state): State<AppState>,
    _caller: crate::auth::Caller,
    parts: Parts,
    Path(job_id): Path<String>,
) -> ApiResult<axum::Json<JobDto>> {
    let job = state.store.job(&job_id).await?.ok_or(ApiError::NotFound("job"))?;
    Authorized::<need::ProjectDetail>::in_project(&parts, &state, &job.project_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound("job"),
            other => other,
        })?;
    Ok(axum::Json(JobDto::from(&job)))
}

/// JobHistoryPagedModelDTO.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPageDto {
    content: Vec<JobDto>,
    #[schema(value_type = Object)]
    page: Value,
    links: Vec<Link>,
}

/// A project's jobs, newest first; filters `accountId`, `type`, `dataset`;
/// the `next` link carries the cursor.
#[utoipa::path(get, path = "/rest/jobs/history", tag = "jobs", params(("projectId" = String, Query), ("accountId" = Option<String>, Query),
    ("type" = Option<String>, Query), ("dataset" = Option<String>, Query), ("sortDirection" = Option<String>, Query),
    ("lastEvaluatedTimestamp" = Option<i64>, Query), ("lastEvaluatedId" = Option<String>, Query), ("size" = Option<i64>, Query)),
    responses((status = 200, body = JobPageDto)))]
async fn history(State(state): State<AppState>, access: Authorized<need::ProjectDetail>, uri: Uri) -> ApiResult<axum::Json<JobPageDto>> {
    let mut q = JobQuery {
        project_id: access.project.id.clone(),
        limit: DEFAULT_PAGE,
        ..JobQuery::default()
    };
    let mut cursor_ts = None;
    let mut cursor_id = None;
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "accountId" if !value.is_empty() => q.account_id = Some(value),
            "type" if !value.is_empty() => q.kind = Some(value),
            "dataset" if !value.is_empty() => q.dataset = Some(value),
            "sortDirection" => {
                q.ascending = match value.to_ascii_uppercase().as_str() {
                    "ASC" => true,
                    "DESC" => false,
                    _ => return Err(ApiError::bad_request("sortDirection", "must be ASC or DESC")),
                }
            }
            "lastEvaluatedTimestamp" => {
                cursor_ts = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| ApiError::bad_request("lastEvaluatedTimestamp", "must be epoch milliseconds"))?,
                )
            }
            "lastEvaluatedId" => cursor_id = Some(value),
            "size" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| ApiError::bad_request("size", format!("must be 1 to {MAX_PAGE}")))?;
            }
            _ => {}
        }
    }
    q.cursor = match (cursor_ts, cursor_id) {
        (Some(ts), id) => Some((ts, id.unwrap_or_else(|| if q.ascending { String::new() } else { "~".to_owned() }))),
        (None, _) => None,
    };
    let jobs = state.store.job_history(&q).await?;
    let full = i64::try_from(jobs.len()).unwrap_or(0) == q.limit;
    let mut links = vec![Link {
        rel: "self",
        href: uri.to_string(),
    }];
    let last = jobs.last().filter(|_| full);
    if let Some(last) = last {
        let kept = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .filter(|(k, _)| k != "lastEvaluatedTimestamp" && k != "lastEvaluatedId");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .append_pair("lastEvaluatedTimestamp", &last.created_at.to_string())
            .append_pair("lastEvaluatedId", &last.id)
            .finish();
        links.push(Link {
            rel: "next",
            href: format!("{}?{query}", uri.path()),
        });
    }
    let page = json!({
        "size": q.limit,
        "lastEvaluatedTimestamp": last.map(|j| j.created_at),
    });
    Ok(axum::Json(JobPageDto {
        content: jobs.iter().map(JobDto::from).collect(),
        page,
        links,
    }))
}

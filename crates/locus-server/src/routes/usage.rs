//! Metered use of bulk point queries (issue 18), for a project's ADMIN:
//! sums per account over a period, from the rows written with each job's end.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::wire::{parse_timestamp, timestamp, Link};
use crate::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct UsageQuery {
    /// Start of the period (ISO 8601), inclusive; default: the beginning.
    pub from: Option<String>,
    /// End of the period (ISO 8601), exclusive; default: now.
    pub to: Option<String>,
    /// Only this account.
    pub account_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageDto {
    account_id: Option<String>,
    /// Bulk point query jobs that ended successfully.
    jobs: i64,
    points: i64,
    /// Points × point queries evaluated.
    point_queries: i64,
    /// Points × metric nodes computed.
    metrics: i64,
    rows_scanned: i64,
    compute_ms: i64,
    /// Points of the jobs submitted with `enableBilling`.
    billable_points: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageResponse {
    content: Vec<UsageDto>,
    from: String,
    to: String,
    links: Vec<Link>,
}

/// Bulk point query usage per account over a period (Locus addition; ADMIN).
#[utoipa::path(get, path = "/rest/projects/{projectId}/usage", tag = "data",
    params(("projectId" = String, Path), UsageQuery), responses((status = 200, body = UsageResponse)))]
async fn usage(
    State(state): State<AppState>,
    access: Authorized<need::ProjectUpdate>,
    Path(pid): Path<String>,
    Query(q): Query<UsageQuery>,
) -> ApiResult<axum::Json<UsageResponse>> {
    let from = q.from.as_deref().map(|f| parse_timestamp("from", f)).transpose()?.unwrap_or(0);
    let to =
        q.to.as_deref()
            .map(|t| parse_timestamp("to", t))
            .transpose()?
            .unwrap_or_else(|| locus_store::now_millis().saturating_add(1));
    if to < from {
        return Err(ApiError::bad_request("to", "must not be before from"));
    }
    let sums = state.store.usage(&access.project.id, from, to, q.account_id.as_deref()).await?;
    Ok(axum::Json(UsageResponse {
        content: sums
            .into_iter()
            .map(|s| UsageDto {
                account_id: s.account_id,
                jobs: s.jobs,
                points: s.usage.points,
                point_queries: s.usage.point_queries,
                metrics: s.usage.metrics,
                rows_scanned: s.usage.rows_scanned,
                compute_ms: s.usage.compute_ms,
                billable_points: s.billable_points,
            })
            .collect(),
        from: timestamp(from),
        to: timestamp(to),
        links: Link::this(format!("/rest/projects/{pid}/usage")),
    }))
}

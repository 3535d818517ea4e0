//! Reading the audit log (api-contract.md §6): a project's events for members
//! with `audit.read`, and (Locus addition) each account's own events.
//! Paging is by keyset: every page's `next` link carries the cursor, as the
//! official SDK follows `next`.

use crate::auth::access::{need, Authorized};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::wire::Link;
use crate::AppState;
use axum::extract::State;
use axum::http::Uri;
use locus_store::{AuditEvent, AuditQuery};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(project_log))
        .routes(routes!(one_event))
        .routes(routes!(own_log))
}

/// Stands for "no account" (an operator command) where the contract requires an account id.
const NO_ACCOUNT: &str = "00000000000000000000";
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;
/// Each event type is one bound parameter; the databases cap their number.
const MAX_EVENT_TYPES: usize = 100;

/// AuditLogSingleResource.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventDto {
    event_id: String,
    account_id: String,
    request_id: String,
    remote_host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<String>,
    event_type: String,
    /// `YYYY-MM-DDTHH:MM:SS,mmm`, UTC.
    timestamp: String,
    #[schema(value_type = Object)]
    content: Box<serde_json::value::RawValue>,
    links: Vec<Link>,
}

impl From<&AuditEvent> for AuditEventDto {
    fn from(e: &AuditEvent) -> Self {
        let href = match &e.project_id {
            Some(p) => format!("/rest/auditlog/{}?projectId={p}", e.event_id),
            None => "/rest/accounts/current/auditlog".to_owned(),
        };
        AuditEventDto {
            event_id: e.event_id.clone(),
            account_id: e.account_id.clone().unwrap_or_else(|| NO_ACCOUNT.to_owned()),
            request_id: e.request_id.clone(),
            remote_host: e.remote_host.clone(),
            project_id: e.project_id.clone(),
            event_type: e.event_type.clone(),
            timestamp: comma_time(e.created_at),
            content: e.content.clone(),
            links: Link::this(href),
        }
    }
}

/// The cursor to pass back for the next page.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastEvaluatedKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    project_id: Option<String>,
    last_evaluated_event_id: String,
    last_evaluated_timestamp: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPageDto {
    size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_evaluated_key: Option<LastEvaluatedKey>,
}

/// AuditLogPagedResource.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogPageDto {
    content: Vec<AuditEventDto>,
    links: Vec<Link>,
    page: AuditPageDto,
}

fn comma_time(millis: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second],[subsecond digits:3]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

fn parse_comma_time(field: &'static str, s: &str) -> ApiResult<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second],[subsecond digits:3]");
    let t = time::PrimitiveDateTime::parse(s, format)
        .map(|t| t.assume_utc())
        .or_else(|_| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339))
        .map_err(|_| ApiError::bad_request(field, "must be a time like 2019-01-17T19:09:28,918 (UTC)"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| ApiError::bad_request(field, "out of range"))
}

/// The query of the audit log endpoints, read by hand because `eventTypes`
/// may repeat (`eventTypes=a&eventTypes=b`, as the SDK sends it).
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // only documents the parameters; `parse` reads them
struct AuditParams {
    /// Only this actor's events.
    #[param(value_type = Option<String>)]
    account_id: (),
    /// Only these event types; repeat the parameter for several.
    #[param(value_type = Option<Vec<String>>)]
    event_types: (),
    /// From this time on (`YYYY-MM-DDTHH:MM:SS,mmm`).
    #[param(value_type = Option<String>)]
    from: (),
    /// Up to this time.
    #[param(value_type = Option<String>)]
    to: (),
    /// The cursor: the last event of the previous page.
    #[param(value_type = Option<String>)]
    last_evaluated_event_id: (),
    /// Accepted with the cursor; the event id alone orders the log.
    #[param(value_type = Option<String>)]
    last_evaluated_timestamp: (),
    /// Events per page, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>)]
    page_size: (),
    /// ASC or DESC (default DESC, newest first).
    #[param(value_type = Option<String>)]
    sort_direction: (),
}

fn parse(uri: &Uri) -> ApiResult<AuditQuery> {
    let mut q = AuditQuery {
        limit: DEFAULT_PAGE,
        ..AuditQuery::default()
    };
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "accountId" => q.account_id = Some(value),
            "eventTypes" => {
                q.event_types.extend(value.split(',').filter(|t| !t.is_empty()).map(str::to_owned));
                if q.event_types.len() > MAX_EVENT_TYPES {
                    return Err(ApiError::bad_request(
                        "eventTypes",
                        format!("at most {MAX_EVENT_TYPES} event types"),
                    ));
                }
            }
            "from" => q.from = Some(parse_comma_time("from", &value)?),
            "to" => q.to = Some(parse_comma_time("to", &value)?),
            "lastEvaluatedEventId" => {
                if value.len() != 56 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ApiError::bad_request("lastEvaluatedEventId", "must be 56 digits"));
                }
                q.after = Some(value);
            }
            "pageSize" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| ApiError::bad_request("pageSize", format!("must be 1 to {MAX_PAGE}")))?;
            }
            "sortDirection" => {
                q.ascending = match value.to_ascii_uppercase().as_str() {
                    "ASC" => true,
                    "DESC" => false,
                    _ => return Err(ApiError::bad_request("sortDirection", "must be ASC or DESC")),
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

/// One page, with a `next` link (carrying the cursor and every filter) while the page is full.
fn page(events: Vec<AuditEvent>, query: &AuditQuery, uri: &Uri) -> AuditLogPageDto {
    let last = events
        .last()
        .filter(|_| i64::try_from(events.len()).unwrap_or(0) == query.limit)
        .map(|e| LastEvaluatedKey {
            project_id: e.project_id.clone(),
            last_evaluated_event_id: e.event_id.clone(),
            last_evaluated_timestamp: comma_time(e.created_at),
        });
    let mut links = vec![Link {
        rel: "self",
        href: uri.to_string(),
    }];
    if let Some(key) = &last {
        let kept = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .filter(|(k, _)| k != "lastEvaluatedEventId" && k != "lastEvaluatedTimestamp");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .append_pair("lastEvaluatedEventId", &key.last_evaluated_event_id)
            .append_pair("lastEvaluatedTimestamp", &key.last_evaluated_timestamp)
            .finish();
        links.push(Link {
            rel: "next",
            href: format!("{}?{query}", uri.path()),
        });
    }
    AuditLogPageDto {
        content: events.iter().map(AuditEventDto::from).collect(),
        links,
        page: AuditPageDto {
            size: query.limit,
            last_evaluated_key: last,
        },
    }
}

/// A project's events (`projectId` is required), newest first by default.
#[utoipa::path(get, path = "/rest/auditlog", tag = "audit log", params(("projectId" = String, Query), AuditParams),
    responses((status = 200, body = AuditLogPageDto)))]
async fn project_log(
    State(state): State<AppState>,
    access: Authorized<need::AuditRead>,
    uri: Uri,
) -> ApiResult<axum::Json<AuditLogPageDto>> {
    let mut query = parse(&uri)?;
    query.project_id = Some(access.project.id.clone());
    let events = state.store.audit_events(&query).await?;
    Ok(axum::Json(page(events, &query, &uri)))
}

/// One event of a project.
#[utoipa::path(get, path = "/rest/auditlog/{eventId}", tag = "audit log", params(("eventId" = String, Path), ("projectId" = String, Query)),
    responses((status = 200, body = AuditEventDto)))]
async fn one_event(
    State(state): State<AppState>,
    access: Authorized<need::AuditRead>,
    Path(event_id): Path<String>,
) -> ApiResult<axum::Json<AuditEventDto>> {
    let event = state.store.audit_event(&access.project.id, &event_id).await?;
    Ok(axum::Json(AuditEventDto::from(&event.ok_or(ApiError::NotFound("event"))?)))
}

/// The caller's own events, in every project and outside them (Locus addition).
#[utoipa::path(get, path = "/rest/accounts/current/auditlog", tag = "audit log", params(AuditParams), responses((status = 200, body = AuditLogPageDto)))]
async fn own_log(State(state): State<AppState>, caller: Caller, uri: Uri) -> ApiResult<axum::Json<AuditLogPageDto>> {
    let mut query = parse(&uri)?;
    query.account_id = Some(caller.account.id.clone());
    let events = state.store.audit_events(&query).await?;
    Ok(axum::Json(page(events, &query, &uri)))
}

//! Organizations (api-contract.md §3.1): the caller's, read-only. Every account
//! has a default organization, made at sign-up.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::wire::{timestamp, Link, PageQuery, Paged};
use crate::AppState;
use axum::extract::State;
use axum::http::Uri;
use locus_core::OrganizationId;
use locus_store::Organization;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_organizations))
        .routes(routes!(get_organization))
}

/// OrganizationResponseDTO.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationDto {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    invitation_email: Option<String>,
    dwh_cluster_id: String,
    created_at: String,
    modified_at: String,
    links: Vec<Link>,
}

impl From<&Organization> for OrganizationDto {
    fn from(o: &Organization) -> Self {
        OrganizationDto {
            id: o.id.clone(),
            title: o.title.clone(),
            invitation_email: o.invitation_email.clone(),
            dwh_cluster_id: o.dwh_cluster_id.clone(),
            created_at: timestamp(o.created_at),
            modified_at: timestamp(o.modified_at),
            links: Link::this(format!("/rest/organizations/{}", o.id)),
        }
    }
}

/// The caller's organizations, paged.
#[utoipa::path(get, path = "/rest/organizations", tag = "organizations", params(PageQuery), responses((status = 200, body = Paged<OrganizationDto>)))]
async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<Paged<OrganizationDto>>> {
    let request = paging.request_unsorted()?;
    let page = state.store.organizations_of(&caller.account.id, request).await?;
    Ok(axum::Json(Paged::new(
        page.items.iter().map(OrganizationDto::from).collect(),
        page.total,
        request,
        &uri,
    )))
}

/// One of the caller's organizations; 404 for any other.
#[utoipa::path(get, path = "/rest/organizations/{organizationId}", tag = "organizations", params(("organizationId" = String, Path)),
    responses((status = 200, body = OrganizationDto)))]
async fn get_organization(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<axum::Json<OrganizationDto>> {
    let id = OrganizationId::parse("organizationId", &id)?;
    let org = state
        .store
        .organization_of(id.as_str(), &caller.account.id)
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    Ok(axum::Json(OrganizationDto::from(&org)))
}

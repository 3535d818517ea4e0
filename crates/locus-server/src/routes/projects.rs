//! Projects (api-contract.md §3.2–3.3): create, list the caller's, detail,
//! update, delete; and the Locus addition `GET …/permissions`.

use crate::auth::access::{need, Authorized};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::routes::members::MembershipDto;
use crate::wire::{timestamp, Link, PageQuery, Paged};
use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use locus_core::OrganizationId;
use locus_store::{Membership, NewProject, Project, ProjectFilter, ProjectOrder, ProjectPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(permissions))
}

/// Where the SDK finds a project's metadata and data services: relative paths.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesDto {
    md: String,
    dwh: String,
}

/// ProjectResponseDTO.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectDto {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    organization_id: String,
    #[schema(example = "ENABLED")]
    status: &'static str,
    #[schema(example = "PRIVATE")]
    share: String,
    created_at: String,
    modified_at: String,
    /// The caller's own membership.
    membership: MembershipDto,
    services: ServicesDto,
    links: Vec<Link>,
}

impl ProjectDto {
    pub fn new(project: &Project, membership: &Membership) -> ProjectDto {
        ProjectDto {
            id: project.id.clone(),
            title: project.title.clone(),
            description: project.description.clone(),
            organization_id: project.organization_id.clone(),
            status: if project.enabled { "ENABLED" } else { "DISABLED" },
            share: project.share.clone(),
            created_at: timestamp(project.created_at),
            modified_at: timestamp(project.modified_at),
            membership: MembershipDto::new(membership, None),
            services: ServicesDto {
                md: format!("/rest/projects/{}/md", project.id),
                dwh: format!("/rest/projects/{}/dwh/{}", project.id, project.dwh_cluster_id),
            },
            links: Link::this(format!("/rest/projects/{}", project.id)),
        }
    }
}

/// CreateProjectDTO. The SDK also sends `status`, which is ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateProjectDto {
    title: String,
    #[serde(default)]
    description: Option<String>,
    /// One of the caller's organizations; their default one when left out.
    #[serde(default)]
    organization_id: Option<String>,
}

fn title(s: &str) -> ApiResult<String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 255 {
        return Err(ApiError::bad_request("title", "must be 1 to 255 characters"));
    }
    Ok(t.to_owned())
}

fn description(s: Option<String>) -> ApiResult<Option<String>> {
    match s {
        Some(d) if d.chars().count() > 2000 => Err(ApiError::bad_request("description", "must be at most 2000 characters")),
        other => Ok(other),
    }
}

/// Checks that `id` is an organization of the caller's.
async fn callers_organization(state: &AppState, caller: &Caller, id: &str) -> ApiResult<String> {
    let id = OrganizationId::parse("organizationId", id)?;
    if !state.store.is_organization_member(id.as_str(), &caller.account.id).await? {
        return Err(ApiError::bad_request("organizationId", "is not an organization of yours"));
    }
    Ok(id.into_string())
}

/// Creates a project; the caller becomes its ENABLED ADMIN.
#[utoipa::path(post, path = "/rest/projects", tag = "projects", request_body = CreateProjectDto, responses((status = 200, body = ProjectDto)))]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateProjectDto>,
) -> ApiResult<axum::Json<ProjectDto>> {
    let (project, membership) = create(&state, &caller, body.organization_id.as_deref(), &body.title, body.description).await?;
    Ok(axum::Json(ProjectDto::new(&project, &membership)))
}

/// Creates a project in one of the caller's organizations (their default one
/// when none is named), with the caller as its ENABLED ADMIN.
pub(crate) async fn create(
    state: &AppState,
    caller: &Caller,
    organization_id: Option<&str>,
    project_title: &str,
    project_description: Option<String>,
) -> ApiResult<(Project, Membership)> {
    let organization_id = match organization_id {
        Some(id) => callers_organization(state, caller, id).await?,
        None => caller.account.default_organization_id.clone(),
    };
    let new = NewProject {
        title: title(project_title)?,
        description: description(project_description)?,
        organization_id,
    };
    let (project, membership) = state.store.create_project(&caller.actor, &caller.account.id, &new).await?;
    tracing::info!(project_id = %project.id, account_id = %caller.account.id, "project created");
    Ok((project, membership))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ProjectListQuery {
    /// Only projects of this organization.
    organization_id: Option<String>,
    /// Only projects shared this way (PRIVATE, PUBLIC, DEMO, DIMENSION, TEMPLATE; any case).
    share: Option<String>,
    /// Accepted for compatibility; the caller's membership is always inlined.
    #[allow(dead_code)]
    expand: Option<String>,
}

const SHARES: [&str; 5] = ["PRIVATE", "PUBLIC", "DEMO", "DIMENSION", "TEMPLATE"];

/// The projects in which the caller has an ENABLED membership, paged.
#[utoipa::path(get, path = "/rest/projects", tag = "projects", params(PageQuery, ProjectListQuery), responses((status = 200, body = Paged<ProjectDto>)))]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    Query(paging): Query<PageQuery>,
    Query(q): Query<ProjectListQuery>,
) -> ApiResult<axum::Json<Paged<ProjectDto>>> {
    let request = paging.request()?;
    let order = match paging.sort(&["createdAt", "title", "modifiedAt"])? {
        Some(("title", asc)) => (ProjectOrder::Title, asc),
        Some(("modifiedAt", asc)) => (ProjectOrder::ModifiedAt, asc),
        Some((_, asc)) => (ProjectOrder::CreatedAt, asc),
        None => (ProjectOrder::CreatedAt, true),
    };
    let share = match q.share.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            let upper = s.to_ascii_uppercase();
            if !SHARES.contains(&upper.as_str()) {
                return Err(ApiError::bad_request("share", format!("must be one of {}", SHARES.join(", "))));
            }
            Some(upper)
        }
        None => None,
    };
    let organization_id = match q.organization_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => Some(OrganizationId::parse("organizationId", id)?.into_string()),
        None => None,
    };
    let page = state
        .store
        .projects_of(&caller.account.id, &ProjectFilter { organization_id, share }, order, request)
        .await?;
    let content = page.items.iter().map(|(p, m)| ProjectDto::new(p, m)).collect();
    Ok(axum::Json(Paged::new(content, page.total, request, &uri)))
}

/// A project, with the caller's membership and its service paths.
#[utoipa::path(get, path = "/rest/projects/{projectId}", tag = "projects", params(("projectId" = String, Path)), responses((status = 200, body = ProjectDto)))]
async fn get_project(access: Authorized<need::ProjectDetail>) -> axum::Json<ProjectDto> {
    let mut dto = ProjectDto::new(&access.project, &access.membership);
    if access.is_public() {
        dto.membership = MembershipDto::anonymous(&access.membership);
    }
    axum::Json(dto)
}

/// UpdateProjectDTO: keys left out keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProjectDto {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    #[schema(example = "ENABLED")]
    status: Option<String>,
}

/// Updates a project (ADMIN).
#[utoipa::path(put, path = "/rest/projects/{projectId}", tag = "projects", params(("projectId" = String, Path)), request_body = UpdateProjectDto,
    responses((status = 200, body = ProjectDto)))]
async fn update_project(
    State(state): State<AppState>,
    access: Authorized<need::ProjectUpdate>,
    Json(body): Json<UpdateProjectDto>,
) -> ApiResult<axum::Json<ProjectDto>> {
    let organization_id = match body.organization_id.as_deref() {
        Some(id) => Some(callers_organization(&state, &access.caller, id).await?),
        None => None,
    };
    let enabled = match body.status.as_deref() {
        None => None,
        Some("ENABLED") => Some(true),
        Some("DISABLED") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(
                "status",
                format!("unknown status {other:?}; allowed: ENABLED, DISABLED"),
            ))
        }
    };
    let patch = ProjectPatch {
        title: body.title.as_deref().map(title).transpose()?,
        description: description(body.description)?,
        organization_id,
        enabled,
    };
    let project = state.store.update_project(&access.caller.actor, &access.project.id, &patch).await?;
    tracing::info!(project_id = %project.id, account_id = %access.caller.account.id, "project updated");
    Ok(axum::Json(ProjectDto::new(&project, &access.membership)))
}

/// Deletes a project and everything in it (ADMIN).
#[utoipa::path(delete, path = "/rest/projects/{projectId}", tag = "projects", params(("projectId" = String, Path)), responses((status = 204, description = "deleted")))]
async fn delete_project(State(state): State<AppState>, access: Authorized<need::ProjectDelete>) -> ApiResult<StatusCode> {
    state.store.delete_project(&access.caller.actor, &access.project.id).await?;
    // Rows first (nothing can use the files any more), then the files: the
    // datasets' versions, uploads, dumps and exports.
    match state.data.delete_project(&access.project.id).await {
        Ok(files) => tracing::info!(project_id = %access.project.id, files, "project files deleted"),
        Err(e) => tracing::warn!(project_id = %access.project.id, error = %e, "deleting the project's files failed"),
    }
    tracing::info!(project_id = %access.project.id, account_id = %access.caller.account.id, "project deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's effective permissions in a project (Locus addition, for user interfaces).
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsDto {
    role: &'static str,
    permissions: Vec<&'static str>,
}

#[utoipa::path(get, path = "/rest/projects/{projectId}/permissions", tag = "projects", params(("projectId" = String, Path)),
    responses((status = 200, body = PermissionsDto)))]
async fn permissions(access: Authorized<need::ProjectDetail>) -> axum::Json<PermissionsDto> {
    axum::Json(PermissionsDto {
        role: access.role_name(),
        permissions: access.permissions().map(|p| p.key()).collect(),
    })
}

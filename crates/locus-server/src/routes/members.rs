//! Project members (api-contract.md §4): add, list, read, change role and
//! status, remove. Every project keeps at least one ENABLED ADMIN.

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::invitations::{self, InvitationDto};
use crate::wire::{timestamp, Link, PageQuery, Paged};
use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use locus_core::{AccountId, Email, MembershipStatus, Permission, Role};
use locus_store::{Member, Membership};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_member, list_members))
        .routes(routes!(get_member, update_member, delete_member))
}

/// The member's account, inlined with `expand=account`: an AccountDTO with
/// every field but the owner's private settings (phone number, preferences,
/// onboarding), which only the owner reads.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberAccountDto {
    id: String,
    full_name: String,
    email: String,
    status: String,
    anonymous: bool,
    consent_granted: bool,
    links: Vec<Link>,
}

/// MembershipResponseDTO.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipDto {
    id: String,
    account_id: String,
    #[schema(example = "ENABLED")]
    status: &'static str,
    #[schema(example = "VIEWER")]
    role: &'static str,
    created_at: String,
    modified_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<MemberAccountDto>,
    links: Vec<Link>,
}

impl MembershipDto {
    /// What a public visitor is shown as their membership: the ANONYMOUS role,
    /// through the service account's membership.
    pub fn anonymous(m: &Membership) -> MembershipDto {
        MembershipDto {
            role: "ANONYMOUS",
            ..MembershipDto::new(m, None)
        }
    }

    pub fn new(m: &Membership, account: Option<MemberAccountDto>) -> MembershipDto {
        MembershipDto {
            id: m.id.clone(),
            account_id: m.account_id.clone(),
            status: m.status.as_str(),
            role: m.role.as_str(),
            created_at: timestamp(m.created_at),
            modified_at: timestamp(m.modified_at),
            account,
            links: Link::this(format!("/rest/projects/{}/members/{}", m.project_id, m.id)),
        }
    }

    fn of(member: &Member, expand: bool) -> MembershipDto {
        let account = expand.then(|| MemberAccountDto {
            id: member.membership.account_id.clone(),
            full_name: member.full_name.clone(),
            email: member.email.clone(),
            status: member.account_status.clone(),
            anonymous: member.account_anonymous,
            consent_granted: member.account_consent_granted,
            links: Link::this(format!("/rest/accounts/{}", member.membership.account_id)),
        });
        MembershipDto::new(&member.membership, account)
    }
}

/// Whether `expand` asks for the account.
fn expands_account(expand: Option<&str>) -> bool {
    expand.is_some_and(|e| e.split(',').any(|part| part.trim() == "account"))
}

/// CreateMembershipDTO: exactly one of `email` and `accountId`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMembershipDto {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[schema(example = "VIEWER")]
    role: String,
    /// ENABLED by default.
    #[serde(default)]
    status: Option<String>,
}

/// What adding a member answers: the membership (200), or for an e-mail
/// with no verified account, the invitation sent instead (202).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AddedMember {
    Member(MembershipDto),
    Invited(InvitedInstead),
}

/// The invitation sent instead of adding a member, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitedInstead {
    message: &'static str,
    invitation: InvitationDto,
}

/// Adds an existing account to the project, effective at once. By e-mail,
/// only an account whose owner verified that e-mail is added; any other
/// address is sent an invitation (202), so that nobody joins a project by
/// signing up with someone else's address.
#[utoipa::path(post, path = "/rest/projects/{projectId}/members", tag = "members", params(("projectId" = String, Path)),
    request_body = CreateMembershipDto, responses((status = 200, body = MembershipDto),
        (status = 202, description = "no verified account has the e-mail: an invitation was sent", body = InvitedInstead)))]
async fn add_member(
    State(state): State<AppState>,
    access: Authorized<need::MembershipAdd>,
    Json(body): Json<CreateMembershipDto>,
) -> ApiResult<(StatusCode, axum::Json<AddedMember>)> {
    let role = Role::parse("role", &body.role)?;
    let status = match body.status.as_deref() {
        Some(s) => MembershipStatus::parse("status", s)?,
        None => MembershipStatus::Enabled,
    };
    let account = match (body.account_id.as_deref(), body.email.as_deref()) {
        (Some(id), None) => state.store.account(AccountId::parse("accountId", id)?.as_str()).await?,
        (None, Some(email)) => {
            let email = Email::parse("email", email)?;
            let verified = state
                .store
                .account_by_email(&email.normalized())
                .await?
                .filter(locus_store::Account::email_verified);
            if verified.is_none() {
                access.require(Permission::InvitationCreate)?;
                let sent = invitations::invite(&state, &access.caller, &access.project.id, vec![email], role).await?;
                let invitation = sent.first().map(InvitationDto::from).ok_or(ApiError::NotFound("invitation"))?;
                let message = "no account with a verified e-mail has this address, so an invitation was sent to it instead; \
                               the address joins when its owner accepts";
                return Ok((
                    StatusCode::ACCEPTED,
                    axum::Json(AddedMember::Invited(InvitedInstead { message, invitation })),
                ));
            }
            verified
        }
        _ => {
            return Err(ApiError::BadRequest {
                message: "give exactly one of accountId and email".into(),
                field: Some("accountId".into()),
            })
        }
    };
    let account = account.ok_or(ApiError::NotFound("account"))?;
    let membership = state
        .store
        .add_membership(&access.caller.actor, &access.project.id, &account.id, role, status)
        .await
        .map_err(|e| match e {
            locus_store::StoreError::Conflict(_) => ApiError::Conflict {
                message: "the account is already a member of this project".into(),
                field: None,
            },
            other => other.into(),
        })?;
    tracing::info!(project_id = %access.project.id, member = %account.id, role = %role, by = %access.caller.account.id, "membership created");
    Ok((
        StatusCode::OK,
        axum::Json(AddedMember::Member(MembershipDto::new(&membership, None))),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct MemberListQuery {
    /// `account` inlines each member's account.
    expand: Option<String>,
    /// Returns that account's single membership; a member may ask for their own.
    account_id: Option<String>,
}

/// A page of members, or with `accountId` that one membership (as the contract has it).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MembersResponse {
    Page(Paged<MembershipDto>),
    One(MembershipDto),
}

/// The project's members, paged; with `accountId`, that one membership.
#[utoipa::path(get, path = "/rest/projects/{projectId}/members", tag = "members", params(("projectId" = String, Path), PageQuery, MemberListQuery),
    responses((status = 200, body = MembersResponse)))]
async fn list_members(
    State(state): State<AppState>,
    access: Authorized<need::ProjectDetail>,
    uri: Uri,
    Query(paging): Query<PageQuery>,
    Query(q): Query<MemberListQuery>,
) -> ApiResult<axum::Json<MembersResponse>> {
    let expand = expands_account(q.expand.as_deref());
    if let Some(account_id) = q.account_id.as_deref() {
        let account_id = AccountId::parse("accountId", account_id)?;
        // Members may read their own membership; a public visitor has none of its own.
        if account_id.as_str() != access.caller.account.id || access.is_public() {
            access.require(Permission::MembershipList)?;
        }
        let member = state
            .store
            .member(&access.project.id, account_id.as_str(), true)
            .await?
            .ok_or(ApiError::NotFound("membership"))?;
        return Ok(axum::Json(MembersResponse::One(MembershipDto::of(&member, expand))));
    }
    access.require(Permission::MembershipList)?;
    let request = paging.request_unsorted()?;
    let page = state.store.members(&access.project.id, request).await?;
    let content = page.items.iter().map(|m| MembershipDto::of(m, expand)).collect();
    Ok(axum::Json(MembersResponse::Page(Paged::new(content, page.total, request, &uri))))
}

/// `{projectId}/members/{membershipId}`; the project is checked by [`Authorized`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberPath {
    membership_id: String,
}

async fn find_member(state: &AppState, project_id: &str, membership_id: &str) -> ApiResult<Member> {
    state
        .store
        .member(project_id, membership_id, false)
        .await?
        .ok_or(ApiError::NotFound("membership"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ExpandQuery {
    /// `account` inlines the member's account.
    expand: Option<String>,
}

/// One membership.
#[utoipa::path(get, path = "/rest/projects/{projectId}/members/{membershipId}", tag = "members",
    params(("projectId" = String, Path), ("membershipId" = String, Path), ExpandQuery), responses((status = 200, body = MembershipDto)))]
async fn get_member(
    State(state): State<AppState>,
    access: Authorized<need::MembershipList>,
    Path(path): Path<MemberPath>,
    Query(q): Query<ExpandQuery>,
) -> ApiResult<axum::Json<MembershipDto>> {
    let member = find_member(&state, &access.project.id, &path.membership_id).await?;
    Ok(axum::Json(MembershipDto::of(&member, expands_account(q.expand.as_deref()))))
}

/// UpdateMembershipDTO: both keys are required and replace the stored values.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMembershipDto {
    #[schema(example = "ENABLED")]
    status: String,
    #[schema(example = "EDITOR")]
    role: String,
}

/// Changes a member's role and status; in force on the member's next request.
#[utoipa::path(put, path = "/rest/projects/{projectId}/members/{membershipId}", tag = "members",
    params(("projectId" = String, Path), ("membershipId" = String, Path)), request_body = UpdateMembershipDto,
    responses((status = 200, body = MembershipDto)))]
async fn update_member(
    State(state): State<AppState>,
    access: Authorized<need::MembershipUpdate>,
    Path(path): Path<MemberPath>,
    Json(body): Json<UpdateMembershipDto>,
) -> ApiResult<axum::Json<MembershipDto>> {
    let role = Role::parse("role", &body.role)?;
    let status = MembershipStatus::parse("status", &body.status)?;
    let updated = state
        .store
        .update_membership(&access.caller.actor, &access.project.id, &path.membership_id, role, status)
        .await
        .map_err(not_found_membership)?;
    tracing::info!(project_id = %access.project.id, member = %updated.account_id, role = %role, status = status.as_str(), by = %access.caller.account.id, "membership updated");
    Ok(axum::Json(MembershipDto::new(&updated, None)))
}

/// Removes a member.
#[utoipa::path(delete, path = "/rest/projects/{projectId}/members/{membershipId}", tag = "members",
    params(("projectId" = String, Path), ("membershipId" = String, Path)), responses((status = 204, description = "removed")))]
async fn delete_member(
    State(state): State<AppState>,
    access: Authorized<need::MembershipDelete>,
    Path(path): Path<MemberPath>,
) -> ApiResult<StatusCode> {
    let removed = state
        .store
        .delete_membership(&access.caller.actor, &access.project.id, &path.membership_id)
        .await
        .map_err(not_found_membership)?;
    tracing::info!(project_id = %access.project.id, member = %removed.account_id, by = %access.caller.account.id, "membership deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn not_found_membership(e: locus_store::StoreError) -> ApiError {
    match e {
        locus_store::StoreError::NotFound => ApiError::NotFound("membership"),
        other => other.into(),
    }
}

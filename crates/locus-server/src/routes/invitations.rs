//! Invitations (api-contract.md §5): admins invite e-mails with a role; the
//! owner of an invited e-mail accepts through the link's secret while signed in.
//!
//! Locus additions: a body with `emails` (a list) invites several at once and
//! answers the list; the DTO also carries `projectId`, `projectTitle`,
//! `invitedBy` and `expiresAt`, which the invitee's landing page shows.

use crate::auth::access::{need, Authorized};
use crate::auth::secrets::{self, Kind};
use crate::auth::{limits, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::mail::Mail;
use crate::wire::{timestamp, Link, PageQuery, Paged};
use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use locus_core::invitation::transition;
use locus_core::{Email, InvitationStatus, Role, Transition};
use locus_store::{Invitation, LinkSecret, NewInvitation, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The most e-mails one request may invite.
pub const MAX_BATCH: usize = 50;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invitations, list_invitations))
        .routes(routes!(get_invitation, update_invitation, cancel_invitation))
        .routes(routes!(view_invitation, accept_invitation))
}

/// InvitationDTO.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationDto {
    id: String,
    email: String,
    #[schema(example = "PENDING")]
    status: &'static str,
    #[schema(example = "VIEWER")]
    role: &'static str,
    created_at: String,
    modified_at: String,
    expires_at: String,
    project_id: String,
    project_title: String,
    /// The inviter's name, while their account exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    invited_by: Option<String>,
    links: Vec<Link>,
}

impl From<&Invitation> for InvitationDto {
    fn from(i: &Invitation) -> Self {
        InvitationDto {
            id: i.id.clone(),
            email: i.email.clone(),
            status: i.status.as_str(),
            role: i.role.as_str(),
            created_at: timestamp(i.created_at),
            modified_at: timestamp(i.modified_at),
            expires_at: timestamp(i.expires_at),
            project_id: i.project_id.clone(),
            project_title: i.project_title.clone(),
            invited_by: i.inviter_name.clone(),
            links: Link::this(format!("/rest/projects/{}/invitations/{}", i.project_id, i.id)),
        }
    }
}

/// CreateInvitation, or (Locus) `emails` to invite several with one role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateInvitationDto {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    emails: Option<Vec<String>>,
    #[schema(example = "VIEWER")]
    role: String,
}

/// One invitation, or the list when the request named several.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreatedInvitations {
    One(Box<InvitationDto>),
    Many(Vec<InvitationDto>),
}

fn new_link(state: &AppState, now: i64) -> (LinkSecret, String) {
    let issued = secrets::issue(Kind::Invitation);
    let ttl = i64::try_from(state.settings.invitation_ttl.as_millis()).unwrap_or(i64::MAX);
    let link = format!("{}/invitations/{}", state.settings.public_url, issued.token);
    (
        LinkSecret {
            id: issued.id,
            hash: issued.hash,
            expires_at: now.saturating_add(ttl),
        },
        link,
    )
}

/// The invitation mail, rendered from `templates/mail/invitation.*` (the
/// HTML part escaped like every page).
fn invitation_mail(state: &AppState, invitation: &Invitation, inviter: &str, link: &str) -> ApiResult<Mail> {
    let values = minijinja::context! {
        inviter,
        title => invitation.project_title,
        role => invitation.role.as_str(),
        link,
        days => state.settings.invitation_ttl.as_secs() / 86_400,
    };
    Ok(Mail {
        to: invitation.email.clone(),
        subject: format!("{inviter} invites you to {} on Locus", invitation.project_title),
        text: crate::web::render::mail("mail/invitation.txt", values.clone())?,
        html: Some(crate::web::render::mail("mail/invitation.html", values)?),
    })
}

/// Invites one e-mail, or several at once, with one role; each gets a mail
/// with its own link. The answer is the same whether or not the e-mails have accounts.
#[utoipa::path(post, path = "/rest/projects/{projectId}/invitations", tag = "invitations", params(("projectId" = String, Path)),
    request_body = CreateInvitationDto, responses((status = 201, body = CreatedInvitations)))]
async fn create_invitations(
    State(state): State<AppState>,
    access: Authorized<need::InvitationCreate>,
    Json(body): Json<CreateInvitationDto>,
) -> ApiResult<(StatusCode, axum::Json<CreatedInvitations>)> {
    let role = Role::parse("role", &body.role)?;
    let (raw, many) = match (body.email, body.emails) {
        (Some(one), None) => (vec![one], false),
        (None, Some(list)) if !list.is_empty() && list.len() <= MAX_BATCH => (list, true),
        (None, Some(_)) => return Err(ApiError::bad_request("emails", format!("give 1 to {MAX_BATCH} e-mails"))),
        _ => return Err(ApiError::bad_request("email", "give exactly one of email and emails")),
    };
    let mut emails: Vec<Email> = Vec::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let field = if many { "emails" } else { "email" };
        let email = Email::parse(field, e)
            .map_err(|err| ApiError::bad_request(if many { format!("emails[{i}]") } else { field.to_owned() }, err.message))?;
        emails.push(email);
    }
    let created = invite(&state, &access.caller, &access.project.id, emails, role).await?;
    let mut dtos: Vec<InvitationDto> = created.iter().map(InvitationDto::from).collect();
    let body = match (many, dtos.pop()) {
        (false, Some(one)) => CreatedInvitations::One(Box::new(one)),
        (_, last) => CreatedInvitations::Many(dtos.into_iter().chain(last).collect()),
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
}

/// Invites each e-mail (duplicates once) with `role`, under the limits per
/// project and per inviter, and mails each its own link.
pub(crate) async fn invite(
    state: &AppState,
    inviter: &Caller,
    project_id: &str,
    mut emails: Vec<Email>,
    role: Role,
) -> ApiResult<Vec<Invitation>> {
    let mut seen = std::collections::HashSet::new();
    emails.retain(|e| seen.insert(e.normalized()));
    let now = locus_store::now_millis();
    let limits = &state.settings.limits;
    for _ in &emails {
        limits::too_many(state.store.throttle_hit(&limits.invitations_project(), project_id, now).await?)?;
        limits::too_many(
            state
                .store
                .throttle_hit(&limits.invitations_inviter(), &inviter.account.id, now)
                .await?,
        )?;
    }
    let mut links = Vec::with_capacity(emails.len());
    let new: Vec<NewInvitation> = emails
        .iter()
        .map(|email| {
            let (secret, link) = new_link(state, now);
            links.push(link);
            NewInvitation {
                email: email.as_str().to_owned(),
                role,
                secret,
            }
        })
        .collect();
    let created = state
        .store
        .create_invitations(&inviter.actor, project_id, &inviter.account.id, &new)
        .await?;
    let inviter_name = inviter.account.full_name();
    for (invitation, link) in created.iter().zip(&links) {
        state.mailer.send_later(invitation_mail(state, invitation, &inviter_name, link)?);
        tracing::info!(project_id, invitation_id = %invitation.id, role = %role, by = %inviter.account.id, "invitation created");
    }
    Ok(created)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct InvitationListQuery {
    /// Only invitations in this status (PENDING, ACCEPTED, CANCELED, EXPIRED).
    status: Option<String>,
}

/// The project's invitations, newest first.
#[utoipa::path(get, path = "/rest/projects/{projectId}/invitations", tag = "invitations",
    params(("projectId" = String, Path), PageQuery, InvitationListQuery), responses((status = 200, body = Paged<InvitationDto>)))]
async fn list_invitations(
    State(state): State<AppState>,
    access: Authorized<need::InvitationList>,
    uri: Uri,
    Query(paging): Query<PageQuery>,
    Query(q): Query<InvitationListQuery>,
) -> ApiResult<axum::Json<Paged<InvitationDto>>> {
    let request = paging.request_unsorted()?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| InvitationStatus::parse("status", s))
        .transpose()?;
    let page = state
        .store
        .invitations(&access.project.id, status, request, locus_store::now_millis())
        .await?;
    Ok(axum::Json(Paged::new(
        page.items.iter().map(InvitationDto::from).collect(),
        page.total,
        request,
        &uri,
    )))
}

/// `{projectId}/invitations/{invitationId}`; the project is checked by [`Authorized`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvitationPath {
    invitation_id: String,
}

pub(crate) async fn find(state: &AppState, project_id: &str, id: &str) -> ApiResult<Invitation> {
    state
        .store
        .invitation(project_id, id, locus_store::now_millis())
        .await?
        .ok_or(ApiError::NotFound("invitation"))
}

#[utoipa::path(get, path = "/rest/projects/{projectId}/invitations/{invitationId}", tag = "invitations",
    params(("projectId" = String, Path), ("invitationId" = String, Path)), responses((status = 200, body = InvitationDto)))]
async fn get_invitation(
    State(state): State<AppState>,
    access: Authorized<need::InvitationList>,
    Path(path): Path<InvitationPath>,
) -> ApiResult<axum::Json<InvitationDto>> {
    Ok(axum::Json(InvitationDto::from(
        &find(&state, &access.project.id, &path.invitation_id).await?,
    )))
}

/// UpdateInvitation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateInvitationDto {
    #[schema(example = "PENDING")]
    status: String,
}

/// Applies a status change: cancel, resend or reactivate (the last two mail a new link; the old one dies).
pub(crate) async fn apply(
    state: &AppState,
    access: &Caller,
    project_id: &str,
    id: &str,
    requested: InvitationStatus,
) -> ApiResult<Invitation> {
    let current = find(state, project_id, id).await?;
    let change = transition(current.status, requested)?;
    let now = locus_store::now_millis();
    let (secret, link) = match change {
        Transition::Cancel => (None, None),
        Transition::Resend | Transition::Reactivate => {
            let (secret, link) = new_link(state, now);
            (Some(secret), Some(link))
        }
    };
    let updated = state
        .store
        .change_invitation(&access.actor, project_id, id, current.status, requested, secret.as_ref(), now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::Conflict {
                message: "the invitation changed meanwhile; read it again".into(),
                field: None,
            },
            other => other.into(),
        })?;
    if let Some(link) = link {
        state
            .mailer
            .send_later(invitation_mail(state, &updated, &access.account.full_name(), &link)?);
    }
    tracing::info!(project_id, invitation_id = id, change = ?change, by = %access.account.id, "invitation updated");
    Ok(updated)
}

/// Changes an invitation's status (PENDING→CANCELED, PENDING→PENDING resends,
/// CANCELED or EXPIRED→PENDING reactivates; anything else is 400).
#[utoipa::path(put, path = "/rest/projects/{projectId}/invitations/{invitationId}", tag = "invitations",
    params(("projectId" = String, Path), ("invitationId" = String, Path)), request_body = UpdateInvitationDto,
    responses((status = 200, body = InvitationDto)))]
async fn update_invitation(
    State(state): State<AppState>,
    access: Authorized<need::InvitationUpdate>,
    Path(path): Path<InvitationPath>,
    Json(body): Json<UpdateInvitationDto>,
) -> ApiResult<axum::Json<InvitationDto>> {
    let requested = InvitationStatus::parse("status", &body.status)?;
    let updated = apply(&state, &access.caller, &access.project.id, &path.invitation_id, requested).await?;
    Ok(axum::Json(InvitationDto::from(&updated)))
}

/// Cancels an invitation (as PUT CANCELED), answering it.
#[utoipa::path(delete, path = "/rest/projects/{projectId}/invitations/{invitationId}", tag = "invitations",
    params(("projectId" = String, Path), ("invitationId" = String, Path)), responses((status = 200, body = InvitationDto)))]
async fn cancel_invitation(
    State(state): State<AppState>,
    access: Authorized<need::InvitationUpdate>,
    Path(path): Path<InvitationPath>,
) -> ApiResult<axum::Json<InvitationDto>> {
    let updated = apply(
        &state,
        &access.caller,
        &access.project.id,
        &path.invitation_id,
        InvitationStatus::Canceled,
    )
    .await?;
    Ok(axum::Json(InvitationDto::from(&updated)))
}

/// The invitation behind a link's secret, or 404.
pub async fn by_link(state: &AppState, token: &str) -> ApiResult<Invitation> {
    let not_found = || ApiError::NotFound("invitation");
    let (id, secret) = secrets::parse(Kind::Invitation, token).ok_or_else(not_found)?;
    let invitation = state
        .store
        .invitation_by_secret(id, locus_store::now_millis())
        .await?
        .ok_or_else(not_found)?;
    if secrets::verify(secret, &invitation.secret_hash) {
        Ok(invitation)
    } else {
        Err(not_found())
    }
}

/// The invitation a link leads to, for its landing page.
#[utoipa::path(get, path = "/rest/invitations/{invitationHash}", tag = "invitations", params(("invitationHash" = String, Path)),
    responses((status = 200, body = InvitationDto)))]
async fn view_invitation(State(state): State<AppState>, _caller: Caller, Path(hash): Path<String>) -> ApiResult<axum::Json<InvitationDto>> {
    Ok(axum::Json(InvitationDto::from(&by_link(&state, &hash).await?)))
}

/// Accepts the invitation as `account` (acting as `actor`): only the owner of
/// the invited e-mail may.
pub async fn accept(state: &AppState, account: &locus_store::Account, actor: &locus_store::Actor, token: &str) -> ApiResult<Invitation> {
    let invitation = by_link(state, token).await?;
    if invitation.email.to_lowercase() != account.email.to_lowercase() {
        return Err(ApiError::forbidden(
            "this invitation is for another e-mail address; sign in with that one",
        ));
    }
    let now = locus_store::now_millis();
    state
        .store
        .accept_invitation(actor, &invitation, &account.id, now)
        .await
        .map_err(|e| match e {
            StoreError::InvitationNotPending(status) => ApiError::bad_request(
                "invitation",
                format!("the invitation is {}, so it cannot be accepted", status.as_str().to_lowercase()),
            ),
            other => other.into(),
        })?;
    tracing::info!(project_id = %invitation.project_id, invitation_id = %invitation.id, account_id = %account.id, "invitation accepted");
    state
        .store
        .invitation(&invitation.project_id, &invitation.id, now)
        .await?
        .ok_or(ApiError::NotFound("invitation"))
}

#[utoipa::path(post, path = "/rest/invitations/{invitationHash}", tag = "invitations", params(("invitationHash" = String, Path)),
    responses((status = 200, body = InvitationDto)))]
async fn accept_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
) -> ApiResult<axum::Json<InvitationDto>> {
    Ok(axum::Json(InvitationDto::from(
        &accept(&state, &caller.account, &caller.actor, &hash).await?,
    )))
}

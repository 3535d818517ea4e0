//! Project pages: the caller's projects, one project, its user management
//! (members and invitations) and its audit log. Each page takes a
//! [`Member<P>`] naming the permission it needs, decided exactly as for the API.

use super::render::{page, redirect, sentence, WebError};
use super::session::{Form, Member, SignedIn};
use crate::auth::access::{need, Authorized};
use crate::error::ApiError;
use crate::routes::{invitations, projects};
use crate::wire::{parse_form_time, timestamp};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use locus_core::metadata::MdType;
use locus_core::{Email, InvitationStatus, MembershipStatus, Permission, Role};
use locus_store::{AuditQuery, PageRequest, ProjectFilter, ProjectOrder, StoreError};
use minijinja::{context, Value};
use serde::Deserialize;

/// How many members or invitations the user management page lists.
const LIST_LIMIT: i64 = 500;
const AUDIT_PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

/// The fixed sentences a redirect may ask the next page to show.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "role" => Some("The role is changed; it applies from the member's next request."),
        "enabled" => Some("The member is enabled."),
        "disabled" => Some("The member is disabled and can do nothing in this project until enabled again."),
        "removed" => Some("The member is removed from the project."),
        "invited" => Some("Invitations sent."),
        "resent" => Some("The invitation is sent again with a new link; the old link no longer works."),
        "canceled" => Some("The invitation is canceled."),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    page: i64,
}

async fn projects_page(
    state: &AppState,
    signed_in: &SignedIn,
    page_number: i64,
    status: StatusCode,
    extra: Value,
) -> Result<Response, WebError> {
    let request = PageRequest {
        page: page_number.max(0),
        size: 50,
    };
    let filter = ProjectFilter {
        organization_id: None,
        share: None,
    };
    let found = state
        .store
        .projects_of(&signed_in.caller.account.id, &filter, (ProjectOrder::Title, true), request)
        .await
        .map_err(ApiError::from)?;
    let projects: Vec<Value> = found
        .items
        .iter()
        .map(|(p, m)| context! { id => p.id, title => p.title, description => p.description, role => m.role.as_str() })
        .collect();
    let more = (request.page + 1) * request.size < found.total;
    let values = context! {
        projects, total => found.total, page => request.page,
        next_page => more.then_some(request.page + 1),
        previous_page => (request.page > 0).then(|| request.page - 1),
        ..extra
    };
    Ok(page(&signed_in.visitor, status, "projects.html", values))
}

pub async fn list(State(state): State<AppState>, signed_in: SignedIn, Query(q): Query<ListQuery>) -> Result<Response, WebError> {
    projects_page(&state, &signed_in, q.page, StatusCode::OK, context! {}).await
}

#[derive(Debug, Deserialize)]
pub struct NewProjectForm {
    title: String,
    #[serde(default)]
    description: String,
}

pub async fn create(State(state): State<AppState>, signed_in: SignedIn, Form(form): Form<NewProjectForm>) -> Result<Response, WebError> {
    let description = Some(form.description.trim().to_owned()).filter(|d| !d.is_empty());
    match projects::create(&state, &signed_in.caller, None, form.title.trim(), description).await {
        Ok((project, _)) => Ok(redirect(&format!("/projects/{}", project.id))),
        Err(e @ ApiError::BadRequest { .. }) => {
            let values = context! { error => sentence(&e.public_message()), title => form.title, description => form.description };
            projects_page(&state, &signed_in, 0, StatusCode::BAD_REQUEST, values).await
        }
        Err(e) => Err(e.into()),
    }
}

/// What every project page shows in its header and menu.
pub(super) fn project_values<P>(access: &Authorized<P>) -> Value {
    let can = |p: Permission| access.require(p).is_ok();
    context! {
        project => context! {
            id => access.project.id,
            title => access.project.title,
            description => access.project.description,
        },
        role => access.membership.role.as_str(),
        can_manage_users => can(Permission::MembershipList),
        can_read_audit => can(Permission::AuditRead),
        can_share_publicly => access.caller.account.anonymous || can(Permission::ProjectUpdate),
    }
}

/// How many views and stories the project page lists.
const CONTENT_LIMIT: i64 = 200;

/// The project page: the views the caller may see (default views first, in
/// defaultViews order, then the others, the caller's personal ones among
/// them, by title) and the stories, each for those whose role may read them.
pub async fn show(State(state): State<AppState>, member: Member<need::ProjectDetail>) -> Result<Response, WebError> {
    let access = &member.access;
    let request = PageRequest {
        page: 0,
        size: CONTENT_LIMIT,
    };
    let views: Vec<Value> = if access.require(Permission::StudioJsonMetadata).is_ok() {
        let visibility = crate::routes::metadata::visibility(access);
        let found = state
            .store
            .md_list(&access.project.id, MdType::Views, visibility, request)
            .await
            .map_err(ApiError::from)?;
        found
            .items
            .iter()
            .map(|v| context! { name => v.name, title => v.title.clone().unwrap_or_else(|| v.name.clone()), personal => v.personal })
            .collect()
    } else {
        Vec::new()
    };
    let stories: Vec<Value> = if access.require(Permission::StoriesView).is_ok() {
        let found = state.store.stories(&access.project.id, request).await.map_err(ApiError::from)?;
        found
            .items
            .iter()
            .map(|s| context! { title => s.title, description => s.description })
            .collect()
    } else {
        Vec::new()
    };
    let values = context! { views, stories, ..project_values(access) };
    Ok(page(&member.visitor, StatusCode::OK, "project.html", values))
}

/// The user management page: members, and invitations for those who may see them.
/// Every handler that renders it holds a permission that implies `membership.list`
/// (checked again here, so a role that lacks it cannot be shown the members).
async fn users_page<P>(state: &AppState, member: &Member<P>, status: StatusCode, extra: Value) -> Result<Response, WebError> {
    let access = &member.access;
    access.require(Permission::MembershipList)?;
    let request = PageRequest { page: 0, size: LIST_LIMIT };
    let members = state.store.members(&access.project.id, request).await.map_err(ApiError::from)?;
    let members: Vec<Value> = members
        .items
        .iter()
        .map(|m| {
            context! {
                id => m.membership.id,
                name => m.full_name,
                email => m.email,
                role => m.membership.role.as_str(),
                enabled => m.membership.status == MembershipStatus::Enabled,
                is_me => m.membership.account_id == access.caller.account.id,
            }
        })
        .collect();
    let can_list_invitations = access.require(Permission::InvitationList).is_ok();
    let invitations: Vec<Value> = if can_list_invitations {
        let now = locus_store::now_millis();
        let found = state
            .store
            .invitations(&access.project.id, None, request, now)
            .await
            .map_err(ApiError::from)?;
        found
            .items
            .iter()
            .map(|i| {
                context! {
                    id => i.id, email => i.email, role => i.role.as_str(), status => i.status.as_str(),
                    invited_by => i.inviter_name, expires_at => timestamp(i.expires_at),
                    pending => i.status == InvitationStatus::Pending,
                    reactivable => matches!(i.status, InvitationStatus::Canceled | InvitationStatus::Expired),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let can = |p: Permission| access.require(p).is_ok();
    let values = context! {
        members, invitations, can_list_invitations,
        can_update_members => can(Permission::MembershipUpdate),
        can_remove_members => can(Permission::MembershipDelete),
        can_invite => can(Permission::InvitationCreate),
        can_update_invitations => can(Permission::InvitationUpdate),
        roles => Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ..minijinja::value::merge_maps([extra, project_values(access)])
    };
    Ok(page(&member.visitor, status, "users.html", values))
}

pub async fn users(
    State(state): State<AppState>,
    member: Member<need::MembershipList>,
    Query(q): Query<Notice>,
) -> Result<Response, WebError> {
    users_page(&state, &member, StatusCode::OK, context! { notice => notice(q.done.as_deref()) }).await
}

/// Turns a refused change into the user management page with the reason
/// (the last-admin rule, a bad role…); anything else is an error page.
async fn refused_on_users_page<P>(state: &AppState, member: &Member<P>, e: ApiError) -> Result<Response, WebError> {
    match e {
        ApiError::BadRequest { .. } | ApiError::Conflict { .. } | ApiError::TooManyRequests { .. } | ApiError::Forbidden { .. } => {
            let status = e.status();
            users_page(state, member, status, context! { error => sentence(&e.public_message()) }).await
        }
        other => Err(other.into()),
    }
}

fn not_found_membership(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("membership"),
        other => other.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberPath {
    project_id: String,
    membership_id: String,
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    role: Option<String>,
    status: Option<String>,
}

/// Changes a member's role or status (the form sends one of them; the other stays).
pub async fn update_member(
    State(state): State<AppState>,
    member: Member<need::MembershipUpdate>,
    Path(path): Path<MemberPath>,
    Form(form): Form<MemberForm>,
) -> Result<Response, WebError> {
    let access = &member.access;
    let current = state
        .store
        .member(&access.project.id, &path.membership_id, false)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::NotFound("membership"))?;
    let parsed = (|| {
        let role = form.role.as_deref().map(|r| Role::parse("role", r)).transpose()?;
        let status = form.status.as_deref().map(|s| MembershipStatus::parse("status", s)).transpose()?;
        Ok::<_, ApiError>((role, status))
    })();
    let (role, status) = match parsed {
        Ok(both) => both,
        Err(e) => return refused_on_users_page(&state, &member, e).await,
    };
    let done = match (role, status) {
        (Some(_), _) => "role",
        (None, Some(MembershipStatus::Enabled)) => "enabled",
        (None, Some(MembershipStatus::Disabled)) => "disabled",
        (None, None) => return Ok(redirect(&format!("/projects/{}/users", path.project_id))),
    };
    let role = role.unwrap_or(current.membership.role);
    let status = status.unwrap_or(current.membership.status);
    match state
        .store
        .update_membership(&access.caller.actor, &access.project.id, &path.membership_id, role, status)
        .await
        .map_err(not_found_membership)
    {
        Ok(updated) => {
            tracing::info!(project_id = %access.project.id, member = %updated.account_id, role = %role, status = status.as_str(), by = %access.caller.account.id, "membership updated");
            if updated.account_id == access.caller.account.id {
                // Their own membership: the user management page may be out of reach now.
                return Ok(redirect(&format!("/projects/{}", path.project_id)));
            }
            Ok(redirect(&format!("/projects/{}/users?done={done}", path.project_id)))
        }
        Err(e) => refused_on_users_page(&state, &member, e).await,
    }
}

pub async fn remove_member(
    State(state): State<AppState>,
    member: Member<need::MembershipDelete>,
    Path(path): Path<MemberPath>,
    Form(_): Form<super::auth::Empty>,
) -> Result<Response, WebError> {
    let access = &member.access;
    match state
        .store
        .delete_membership(&access.caller.actor, &access.project.id, &path.membership_id)
        .await
        .map_err(not_found_membership)
    {
        Ok(removed) => {
            tracing::info!(project_id = %access.project.id, member = %removed.account_id, by = %access.caller.account.id, "membership deleted");
            if removed.account_id == access.caller.account.id {
                return Ok(redirect("/projects"));
            }
            Ok(redirect(&format!("/projects/{}/users?done=removed", path.project_id)))
        }
        Err(e) => refused_on_users_page(&state, &member, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    /// E-mails separated by commas, semicolons, spaces or new lines.
    emails: String,
    role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    member: Member<need::InvitationCreate>,
    Form(form): Form<InviteForm>,
) -> Result<Response, WebError> {
    let access = &member.access;
    let parsed = (|| {
        let role = Role::parse("role", &form.role)?;
        let raw: Vec<&str> = form
            .emails
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .collect();
        if raw.is_empty() || raw.len() > invitations::MAX_BATCH {
            return Err(ApiError::bad_request(
                "emails",
                format!("give 1 to {} e-mails", invitations::MAX_BATCH),
            ));
        }
        let emails = raw.iter().map(|e| Email::parse("emails", e)).collect::<Result<Vec<_>, _>>()?;
        Ok::<_, ApiError>((role, emails))
    })();
    let result = match parsed {
        Ok((role, emails)) => invitations::invite(&state, &access.caller, &access.project.id, emails, role).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect(&format!("/projects/{}/users?done=invited#invitations", access.project.id))),
        Err(e) => refused_on_users_page(&state, &member, e).await,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationPath {
    project_id: String,
    invitation_id: String,
}

#[derive(Debug, Deserialize)]
pub struct InvitationForm {
    /// `resend` (also re-activates a canceled or expired one) or `cancel`.
    action: String,
}

pub async fn change_invitation(
    State(state): State<AppState>,
    member: Member<need::InvitationUpdate>,
    Path(path): Path<InvitationPath>,
    Form(form): Form<InvitationForm>,
) -> Result<Response, WebError> {
    let (requested, done) = match form.action.as_str() {
        "resend" => (InvitationStatus::Pending, "resent"),
        "cancel" => (InvitationStatus::Canceled, "canceled"),
        _ => {
            let e = ApiError::bad_request("action", "must be resend or cancel");
            return refused_on_users_page(&state, &member, e).await;
        }
    };
    let access = &member.access;
    match invitations::apply(&state, &access.caller, &access.project.id, &path.invitation_id, requested).await {
        Ok(_) => Ok(redirect(&format!("/projects/{}/users?done={done}#invitations", path.project_id))),
        Err(e) => refused_on_users_page(&state, &member, e).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditFilter {
    event_type: Option<String>,
    account_id: Option<String>,
    /// `YYYY-MM-DDTHH:MM` (a datetime-local field), UTC.
    from: Option<String>,
    to: Option<String>,
    /// The last event of the previous page.
    after: Option<String>,
}

/// The project's audit log, newest first, filtered and paged by keyset.
pub async fn audit(
    State(state): State<AppState>,
    member: Member<need::AuditRead>,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, WebError> {
    let access = &member.access;
    let nonempty = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let bound = |field: &'static str, s: &Option<String>| nonempty(s).map(|t| parse_form_time(field, &t)).transpose();
    let query = AuditQuery {
        project_id: Some(access.project.id.clone()),
        account_id: nonempty(&filter.account_id),
        event_types: nonempty(&filter.event_type).into_iter().collect(),
        from: bound("from", &filter.from)?,
        to: bound("to", &filter.to)?,
        after: nonempty(&filter.after),
        ascending: false,
        limit: AUDIT_PAGE + 1,
    };
    let mut events = state.store.audit_events(&query).await.map_err(ApiError::from)?;
    let more = events.len() > AUDIT_PAGE as usize;
    events.truncate(AUDIT_PAGE as usize);
    let members = state
        .store
        .members(&access.project.id, PageRequest { page: 0, size: LIST_LIMIT })
        .await
        .map_err(ApiError::from)?;
    let name_of = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| members.items.iter().find(|m| &m.membership.account_id == id))
            .map(|m| format!("{} <{}>", m.full_name, m.email))
    };
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            context! {
                time => timestamp(e.created_at), event_type => e.event_type,
                account => name_of(&e.account_id).or_else(|| e.account_id.clone()),
                remote_host => e.remote_host, content => e.content.get(),
            }
        })
        .collect();
    let next_after = if more { events.last().map(|e| e.event_id.clone()) } else { None };
    let accounts: Vec<Value> = members
        .items
        .iter()
        .map(|m| context! { id => m.membership.account_id, label => format!("{} <{}>", m.full_name, m.email) })
        .collect();
    let values = context! {
        events => rows, accounts, next_after,
        filter => context! {
            event_type => nonempty(&filter.event_type), account_id => nonempty(&filter.account_id),
            from => nonempty(&filter.from), to => nonempty(&filter.to),
        },
        ..project_values(access)
    };
    Ok(page(&member.visitor, StatusCode::OK, "audit.html", values))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewPath {
    project_id: String,
    view: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareQuery {
    share_id: Option<String>,
    /// After saving: `bookmark`, to say so.
    saved: Option<String>,
}

/// A view, and the state a share link carries (`?shareId=`): where Studio
/// share links lead. A share that ended with a change of the view says so.
pub async fn view(
    State(state): State<AppState>,
    member: Member<need::ProjectDetail>,
    Path(path): Path<ViewPath>,
    Query(q): Query<ShareQuery>,
) -> Result<Response, WebError> {
    let access = &member.access;
    access.require(Permission::StudioJsonMetadata)?;
    let found = crate::routes::metadata::find_visible(&state, access, MdType::Views, locus_store::MdKey::IdOrName(&path.view)).await?;
    let body = found.body_json().map_err(ApiError::from)?;
    let shared = match q.share_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => {
            access.require(Permission::ProjectAccess)?;
            match state.store.share(&path.project_id, id).await.map_err(ApiError::from)? {
                Some(share) if share.view_id == found.id => Some(context! {
                    state => serde_json::to_string_pretty(&share.state).unwrap_or_default(),
                    created_at => timestamp(share.created_at),
                }),
                _ => None,
            }
        }
        None => None,
    };
    let values = context! {
        view => context! {
            name => found.name,
            title => found.title.clone().unwrap_or_else(|| found.name.clone()),
            description => body.get("description").and_then(serde_json::Value::as_str),
            personal => found.personal,
            version => found.version,
        },
        shared,
        share_link => shared.as_ref().and(q.share_id.as_deref()).map(|id| format!(
            "{}/projects/{}/views/{}?shareId={id}", state.settings.public_url, access.project.id, found.name
        )),
        share_ended => q.share_id.is_some() && shared.is_none(),
        bookmarked => q.saved.as_deref() == Some("bookmark"),
        can_query => access.require(Permission::DataDwhQuery).is_ok(),
        can_share => access.require(Permission::StudioShareLink).is_ok(),
        can_bookmark => access.require(Permission::MdBookmarksUpdate).is_ok(),
        can_save_personal => access.require(Permission::StudioSavePersonalView).is_ok(),
        can_save_project => access.require(Permission::StudioSaveProjectView).is_ok(),
        ..project_values(access)
    };
    let mut response = page(&member.visitor, StatusCode::OK, "view.html", values);
    if let Ok(csp) = axum::http::HeaderValue::from_str(&super::map::view_csp(&state.settings)) {
        response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
    }
    Ok(response)
}

/// What the view page's buttons send: the map's state (as `map.js` keeps
/// it in the URL, as a JSON object) and, to save, a title and a scope.
#[derive(Debug, Deserialize)]
pub struct StateForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    scope: Option<String>,
}

impl StateForm {
    fn state(&self) -> Result<serde_json::Value, ApiError> {
        match self.state.trim() {
            "" => Ok(serde_json::json!({})),
            text => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v @ serde_json::Value::Object(_)) => Ok(v),
                _ => Err(ApiError::bad_request("state", "must be a JSON object")),
            },
        }
    }

    /// The title given, or `fallback`; and a name made from it.
    fn title_and_name(&self, fallback: &str) -> (String, String) {
        let title = if self.title.trim().is_empty() {
            fallback.to_owned()
        } else {
            self.title.trim().to_owned()
        };
        let mut slug: String = title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        if !slug.starts_with(|c: char| c.is_ascii_lowercase()) {
            slug.insert(0, 'v');
        }
        (title, format!("{slug}_{}", locus_core::ids::random_lower36(6)))
    }
}

/// "Share link": shares the map's state; the view page then shows the link.
pub async fn share_view(
    State(state): State<AppState>,
    member: Member<need::StudioShareLink>,
    Path(path): Path<ViewPath>,
    Form(form): Form<StateForm>,
) -> Result<Response, WebError> {
    let share = crate::routes::studio::share_view(&state, &member.access, &path.view, &form.state()?).await?;
    Ok(redirect(&format!(
        "/projects/{}/views/{}?shareId={}",
        path.project_id, share.view_name, share.id
    )))
}

/// "Save as bookmark": a private bookmark of the map's state.
pub async fn bookmark_view(
    State(state): State<AppState>,
    member: Member<need::MdBookmarksUpdate>,
    Path(path): Path<ViewPath>,
    Form(form): Form<StateForm>,
) -> Result<Response, WebError> {
    let (title, name) = form.title_and_name(&path.view);
    let mut saved = form.state()?;
    saved["view"] = serde_json::Value::from(path.view.clone());
    let input = crate::routes::studio::BookmarkInput { name, title, state: None };
    crate::routes::studio::bookmark(&state, &member.access, &input, &saved).await?;
    Ok(redirect(&format!(
        "/projects/{}/views/{}?saved=bookmark",
        path.project_id, path.view
    )))
}

/// "Save as personal view" / "Save as project view": a copy of the view
/// under a new title, opened at once.
pub async fn save_view_as(
    State(state): State<AppState>,
    member: Member<need::ProjectDetail>,
    Path(path): Path<ViewPath>,
    Form(form): Form<StateForm>,
) -> Result<Response, WebError> {
    let access = &member.access;
    let found = crate::routes::metadata::find_visible(&state, access, MdType::Views, locus_store::MdKey::IdOrName(&path.view)).await?;
    let mut body = found.body_json().map_err(ApiError::from)?;
    let (title, name) = form.title_and_name(&format!("{} (copy)", found.title.as_deref().unwrap_or(&found.name)));
    if let Some(object) = body.as_object_mut() {
        for key in ["id", "accessInfo", "version", "links", "page"] {
            object.remove(key);
        }
        object.insert("name".into(), serde_json::Value::from(name));
        object.insert("title".into(), serde_json::Value::from(title));
    }
    let created = crate::routes::studio::save_as_view(&state, access, body, form.scope.as_deref()).await?;
    Ok(redirect(&format!("/projects/{}/views/{}", path.project_id, created.name)))
}

//! Public access in the browser. The landing page, `/public/{projectId}#token=…`,
//! is where share links lead: the same page for every project id (it reveals
//! nothing); its script exchanges the token from the fragment and reads the
//! project through the API as an ANONYMOUS visitor. The project's public
//! access page is where an anonymous-capable member makes and revokes links.

use super::projects::project_values;
use super::render::{page, redirect, sentence, WebError};
use super::session::{Form, Member, Visitor};
use crate::auth::access::need;
use crate::error::ApiError;
use crate::routes::metadata::visibility;
use crate::routes::public_access;
use crate::wire::{parse_form_time, timestamp};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use locus_core::metadata::MdType;
use locus_core::ProjectId;
use locus_store::PageRequest;
use minijinja::{context, Value};
use serde::Deserialize;
use std::collections::HashMap;

const SCRIPT: &str = include_str!("../../static/public.js");

/// The policy of the landing page: its script talks to the API; nothing
/// else changes from every page's policy.
const LANDING_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn landing(visitor: Visitor, Path(project_id): Path<String>) -> Result<Response, WebError> {
    shared_page(&visitor, &project_id, "public.html", context! {}, LANDING_CSP)
}

/// `/public/{projectId}/views/{view}#token=…`: a shared view's map. Like the
/// landing page it reveals nothing by itself; `map.js` exchanges the token
/// from the fragment and reads the map's JSON with the public bearer, as an
/// ANONYMOUS visitor capped at reading, filtered by the sharing account's
/// data permissions.
pub async fn view(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((project_id, view)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let csp = super::map::view_csp(&state.settings);
    shared_page(&visitor, &project_id, "public_view.html", context! { view }, &csp)
}

/// A page a share link leads to: the same page for every project id (it
/// reveals nothing; its script reads the token from the link's fragment),
/// with `csp` and no Referer. The pages have no forms, so nothing needs the
/// Origin that `no-referrer` withholds.
fn shared_page(visitor: &Visitor, project_id: &str, template: &str, values: Value, csp: &str) -> Result<Response, WebError> {
    let project_id = ProjectId::parse("projectId", project_id).map_err(|_| WebError::Page {
        status: StatusCode::NOT_FOUND,
        message: "There is no page here.".into(),
    })?;
    let mut response = page(
        visitor,
        StatusCode::OK,
        template,
        context! { project_id => project_id.as_str(), ..values },
    );
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The public access page of a project: the anonymous-capable member makes
/// links (shown once) and revokes them; project admins see and revoke every
/// link. The rules are the API's (`routes::public_access`).
async fn manage_page(
    state: &AppState,
    member: &Member<need::ProjectDetail>,
    status: StatusCode,
    extra: Value,
) -> Result<Response, WebError> {
    let access = &member.access;
    let owner = public_access::managed_by(access)?;
    let tokens = state.store.public_tokens(&access.project.id, owner).await.map_err(ApiError::from)?;
    let links: Vec<Value> = tokens
        .iter()
        .map(|t| {
            context! {
                id => t.id, name => t.name, views => t.views.join(", "),
                created_at => timestamp(t.created_at), expires_at => t.expires_at.map(timestamp),
            }
        })
        .collect();
    let can_create = access.caller.account.anonymous;
    let views: Vec<Value> = if can_create {
        let request = PageRequest { page: 0, size: 200 };
        let found = state
            .store
            .md_list(&access.project.id, MdType::Views, visibility(access), request)
            .await
            .map_err(ApiError::from)?;
        found
            .items
            .iter()
            .map(|v| context! { name => v.name, title => v.title.clone().unwrap_or_else(|| v.name.clone()) })
            .collect()
    } else {
        Vec::new()
    };
    let values = context! { links, views, can_create, ..minijinja::value::merge_maps([extra, project_values(access)]) };
    Ok(page(&member.visitor, status, "public_access.html", values))
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

pub async fn manage(
    State(state): State<AppState>,
    member: Member<need::ProjectDetail>,
    Query(q): Query<Notice>,
) -> Result<Response, WebError> {
    let notice = (q.done.as_deref() == Some("revoked")).then_some("The link is revoked: it opens nothing any more.");
    manage_page(&state, &member, StatusCode::OK, context! { notice }).await
}

/// The form: a name, an optional expiry, and one `view:{name}` checkbox per view.
#[derive(Debug, Deserialize)]
pub struct NewLinkForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_at: String,
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

pub async fn create_link(
    State(state): State<AppState>,
    member: Member<need::ProjectDetail>,
    Form(form): Form<NewLinkForm>,
) -> Result<Response, WebError> {
    let mut views: Vec<String> = form
        .fields
        .keys()
        .filter_map(|k| k.strip_prefix("view:"))
        .map(str::to_owned)
        .collect();
    views.sort();
    let name = Some(form.name.trim()).filter(|n| !n.is_empty());
    let made = match form.expires_at.trim() {
        "" => Ok(None),
        t => parse_form_time("expires_at", t).map(Some),
    };
    let made = match made {
        Ok(expires_at) => {
            let views = (!views.is_empty()).then_some(views.as_slice());
            public_access::issue(&state, &member.access, name, expires_at, views).await
        }
        Err(e) => Err(e),
    };
    match made {
        Ok((token, secret)) => {
            let new_link = context! { name => token.name, link => public_access::share_link(&state, &token.project_id, &secret) };
            manage_page(&state, &member, StatusCode::CREATED, context! { new_link }).await
        }
        Err(e @ (ApiError::BadRequest { .. } | ApiError::Forbidden { .. })) => {
            let status = e.status();
            manage_page(&state, &member, status, context! { error => sentence(&e.public_message()) }).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkPath {
    project_id: String,
    token_id: String,
}

pub async fn revoke_link(
    State(state): State<AppState>,
    member: Member<need::ProjectDetail>,
    Path(path): Path<LinkPath>,
    Form(_): Form<super::auth::Empty>,
) -> Result<Response, WebError> {
    public_access::revoke_token(&state, &member.access, &path.token_id).await?;
    Ok(redirect(&format!("/projects/{}/public?done=revoked", path.project_id)))
}

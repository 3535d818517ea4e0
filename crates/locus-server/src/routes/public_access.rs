//! Public access tokens (Locus addition; the flow of shared/seeds/000):
//! `/rest/projects/{projectId}/publicAccessTokens`. An account the platform
//! operator marked anonymous-capable, and that is an ENABLED member of the
//! project, makes tokens that let anyone open the project read-only. The
//! answer to a creation carries the secret, once, and the share link
//! `{public-url}/public/{projectId}#token=…`: the secret rides in the
//! fragment, which browsers send to no server.
//!
//! The token's service account and project admins (`project.update`) list
//! and revoke tokens; a revoked token's bearers stop at once.

use crate::auth::access::{need, Authorized};
use crate::auth::secrets::{self, Kind};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::routes::metadata::find_visible;
use crate::wire::{parse_timestamp, timestamp, Link};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use locus_core::metadata::MdType;
use locus_core::Permission;
use locus_store::{MdKey, NewPublicToken, PublicToken, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(revoke))
}

/// The most views one token may name.
const MAX_VIEWS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPublicTokenDto {
    /// What the link is for (1 to 100 characters); "Public link" when left out.
    #[serde(default)]
    name: Option<String>,
    /// When the link stops working (RFC 3339); never when left out.
    #[serde(default)]
    expires_at: Option<String>,
    /// The only views the link shows, by name (and what they link to); every
    /// view the service account sees when left out.
    #[serde(default)]
    views: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicTokenDto {
    id: String,
    name: String,
    /// The service account the link acts through.
    account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    views: Option<Vec<String>>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// The secret: only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// The link to share (it holds the secret): only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    links: Vec<Link>,
}

impl From<&PublicToken> for PublicTokenDto {
    fn from(t: &PublicToken) -> Self {
        PublicTokenDto {
            id: t.id.clone(),
            name: t.name.clone(),
            account_id: t.account_id.clone(),
            views: (!t.views.is_empty()).then(|| t.views.clone()),
            created_at: timestamp(t.created_at),
            expires_at: t.expires_at.map(timestamp),
            token: None,
            link: None,
            links: Link::this(format!("/rest/projects/{}/publicAccessTokens/{}", t.project_id, t.id)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTokenListDto {
    content: Vec<PublicTokenDto>,
}

/// The link that opens the project for anyone holding `secret`.
pub(crate) fn share_link(state: &AppState, project_id: &str, secret: &str) -> String {
    format!("{}/public/{project_id}#token={secret}", state.settings.public_url)
}

/// Creates a public access token. The answer is the only time its secret and link are shown.
#[utoipa::path(post, path = "/rest/projects/{projectId}/publicAccessTokens", tag = "public access",
    params(("projectId" = String, Path)), request_body = NewPublicTokenDto, responses((status = 201, body = PublicTokenDto)))]
async fn create(
    State(state): State<AppState>,
    access: Authorized<need::ProjectDetail>,
    Json(body): Json<NewPublicTokenDto>,
) -> ApiResult<(StatusCode, axum::Json<PublicTokenDto>)> {
    let expires_at = body.expires_at.as_deref().map(|s| parse_timestamp("expiresAt", s)).transpose()?;
    let (token, secret) = issue(&state, &access, body.name.as_deref(), expires_at, body.views.as_deref()).await?;
    let mut dto = PublicTokenDto::from(&token);
    dto.link = Some(share_link(&state, &token.project_id, &secret));
    dto.token = Some(secret);
    Ok((StatusCode::CREATED, axum::Json(dto)))
}

/// Makes a public token for the caller's project, checking that the caller
/// may share it and that the views exist; answers it with its secret.
pub(crate) async fn issue<P>(
    state: &AppState,
    access: &Authorized<P>,
    name: Option<&str>,
    expires_at: Option<i64>,
    views: Option<&[String]>,
) -> ApiResult<(PublicToken, String)> {
    if access.is_public() || !access.caller.account.anonymous {
        return Err(ApiError::forbidden(
            "this account may not share projects publicly; the platform operator switches it on (locus admin set-anonymous)",
        ));
    }
    let name = name.map_or("Public link", str::trim);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name", "must be 1 to 100 characters"));
    }
    let now = locus_store::now_millis();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::bad_request("expiresAt", "must be in the future"));
    }
    let mut names: Vec<String> = Vec::new();
    if let Some(views) = views {
        if views.is_empty() {
            return Err(ApiError::bad_request(
                "views",
                "name at least one view, or leave views out to share every view",
            ));
        }
        if views.len() > MAX_VIEWS {
            return Err(ApiError::bad_request("views", format!("at most {MAX_VIEWS} views")));
        }
        for (i, view) in views.iter().enumerate() {
            let found = find_visible(state, access, MdType::Views, MdKey::Name(view)).await;
            match found {
                Ok(found) if !names.contains(&found.name) => names.push(found.name),
                Ok(_) => {}
                Err(ApiError::NotFound(_)) => {
                    return Err(ApiError::bad_request(
                        format!("views[{i}]"),
                        format!("there is no view {view:?} in this project"),
                    ))
                }
                Err(other) => return Err(other),
            }
        }
    }
    let issued = secrets::issue(Kind::PublicToken);
    let token = state
        .store
        .create_public_token(
            &access.caller.actor,
            &NewPublicToken {
                id: &issued.id,
                project_id: &access.project.id,
                account_id: &access.caller.account.id,
                name,
                secret_hash: &issued.hash,
                views: &names,
                expires_at,
            },
        )
        .await?;
    tracing::info!(project_id = %access.project.id, account_id = %access.caller.account.id, token_id = %token.id, "public access token created");
    Ok((token, issued.token))
}

/// Whose tokens the caller may manage: every token of the project with
/// `project.update`, else an anonymous-capable member's own.
pub(crate) fn managed_by<P>(access: &Authorized<P>) -> ApiResult<Option<&str>> {
    if access.is_public() {
        return Err(ApiError::forbidden("public visitors cannot manage public access"));
    }
    match access.require(Permission::ProjectUpdate) {
        Ok(()) => Ok(None),
        Err(_) if access.caller.account.anonymous => Ok(Some(&access.caller.account.id)),
        Err(denied) => Err(denied),
    }
}

/// The project's public tokens the caller manages, newest first, without secrets.
#[utoipa::path(get, path = "/rest/projects/{projectId}/publicAccessTokens", tag = "public access",
    params(("projectId" = String, Path)), responses((status = 200, body = PublicTokenListDto)))]
async fn list(State(state): State<AppState>, access: Authorized<need::ProjectDetail>) -> ApiResult<axum::Json<PublicTokenListDto>> {
    let tokens = state.store.public_tokens(&access.project.id, managed_by(&access)?).await?;
    Ok(axum::Json(PublicTokenListDto {
        content: tokens.iter().map(PublicTokenDto::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenPath {
    token_id: String,
}

/// Revokes a public token: its link and every bearer exchanged from it stop at once.
#[utoipa::path(delete, path = "/rest/projects/{projectId}/publicAccessTokens/{tokenId}", tag = "public access",
    params(("projectId" = String, Path), ("tokenId" = String, Path)), responses((status = 204, description = "revoked")))]
async fn revoke(
    State(state): State<AppState>,
    access: Authorized<need::ProjectDetail>,
    Path(path): Path<TokenPath>,
) -> ApiResult<StatusCode> {
    revoke_token(&state, &access, &path.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the tokens the caller manages.
pub(crate) async fn revoke_token<P>(state: &AppState, access: &Authorized<P>, token_id: &str) -> ApiResult<()> {
    let owner = managed_by(access)?;
    let not_found = || ApiError::NotFound("public access token");
    let token = state
        .store
        .public_token(&access.project.id, token_id)
        .await?
        .filter(|t| owner.is_none_or(|o| o == t.account_id))
        .ok_or_else(not_found)?;
    state
        .store
        .revoke_public_token(&access.caller.actor, &access.project.id, &token.id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => other.into(),
        })?;
    tracing::info!(project_id = %access.project.id, token_id = %token.id, "public access token revoked");
    Ok(())
}

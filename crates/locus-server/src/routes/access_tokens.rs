//! Personal access tokens (`/rest/accounts/current/accessTokens`): long-lived
//! secrets for scripts and the official clients, shown once at creation.

use crate::auth::secrets::{self, Kind};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::wire::{parse_timestamp, timestamp};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use locus_store::AccessToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(revoke))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewAccessTokenDto {
    /// What the token is for (1 to 100 characters).
    name: String,
    /// When the token stops working (RFC 3339); never when left out.
    #[serde(default)]
    expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenDto {
    id: String,
    name: String,
    /// The secret: present only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<String>,
}

impl From<&AccessToken> for AccessTokenDto {
    fn from(t: &AccessToken) -> Self {
        AccessTokenDto {
            id: t.id.clone(),
            name: t.name.clone(),
            token: None,
            created_at: timestamp(t.created_at),
            expires_at: t.expires_at.map(timestamp),
            last_used_at: t.last_used_at.map(timestamp),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenListDto {
    content: Vec<AccessTokenDto>,
}

/// Creates a token. The answer is the only time its secret is shown.
#[utoipa::path(post, path = "/rest/accounts/current/accessTokens", tag = "access tokens", request_body = NewAccessTokenDto,
    responses((status = 201, body = AccessTokenDto)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewAccessTokenDto>,
) -> ApiResult<(StatusCode, axum::Json<AccessTokenDto>)> {
    let expires_at = body.expires_at.as_deref().map(|s| parse_timestamp("expiresAt", s)).transpose()?;
    let (token, secret) = issue(&state, &caller, &body.name, expires_at).await?;
    let mut dto = AccessTokenDto::from(&token);
    dto.token = Some(secret);
    Ok((StatusCode::CREATED, axum::Json(dto)))
}

/// Creates a personal access token; answers it with its secret, which is
/// never available again.
pub(crate) async fn issue(state: &AppState, caller: &Caller, name: &str, expires_at: Option<i64>) -> ApiResult<(AccessToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name", "must be 1 to 100 characters"));
    }
    let now = locus_store::now_millis();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::bad_request("expiresAt", "must be in the future"));
    }
    let issued = secrets::issue(Kind::AccessToken);
    let token = AccessToken {
        id: issued.id,
        account_id: caller.account.id.clone(),
        name: name.to_owned(),
        secret_hash: issued.hash,
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    state.store.create_access_token(&caller.actor, &token).await?;
    tracing::info!(account_id = %caller.account.id, token_id = %token.id, "access token created");
    Ok((token, issued.token))
}

/// The caller's tokens, newest first, without secrets.
#[utoipa::path(get, path = "/rest/accounts/current/accessTokens", tag = "access tokens", responses((status = 200, body = AccessTokenListDto)))]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<AccessTokenListDto>> {
    let tokens = state.store.access_tokens(&caller.account.id).await?;
    Ok(axum::Json(AccessTokenListDto {
        content: tokens.iter().map(AccessTokenDto::from).collect(),
    }))
}

/// Revokes a token; bearers exchanged from it stop working at once.
#[utoipa::path(delete, path = "/rest/accounts/current/accessTokens/{tokenId}", tag = "access tokens", params(("tokenId" = String, Path)),
    responses((status = 204, description = "revoked")))]
async fn revoke(State(state): State<AppState>, caller: Caller, Path(token_id): Path<String>) -> ApiResult<StatusCode> {
    state
        .store
        .revoke_access_token(&caller.actor, &caller.account.id, &token_id)
        .await
        .map_err(|e| match e {
            locus_store::StoreError::NotFound => ApiError::NotFound("access token"),
            other => other.into(),
        })?;
    tracing::info!(account_id = %caller.account.id, token_id = %token_id, "access token revoked");
    Ok(StatusCode::NO_CONTENT)
}

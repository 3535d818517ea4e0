//! The authenticated caller. Every request re-reads its session and account
//! from the database (one indexed query), so a revoked token, a disabled or
//! deleted account or a changed password ends access on the very next request,
//! on every instance: nothing is cached.

use super::secrets::{self, Kind};
use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use locus_store::{Account, SessionAccount};

/// Who is calling: a live bearer session and its ENABLED account.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub session_id: String,
    pub access_token_id: Option<String>,
    /// This request as the audit log records it, acting as this account.
    pub actor: locus_store::Actor,
}

pub(crate) const INVALID: ApiError = ApiError::Unauthorized("invalid or expired bearer token");

/// The (session id, secret) of the request's `Authorization: Bearer` header.
pub(crate) fn bearer(parts: &Parts) -> Result<(&str, &str), ApiError> {
    secrets::parse(Kind::Bearer, bearer_token(parts)?).ok_or(INVALID)
}

/// The token of the request's `Authorization: Bearer` header, of whatever kind.
pub(crate) fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing Authorization: Bearer header"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("Authorization must use the Bearer scheme"))?
        .trim();
    Ok(token)
}

impl Caller {
    /// The caller behind a session the store found, if the presented secret matches it.
    pub(crate) fn verify(session_id: &str, secret: &str, found: Option<SessionAccount>, meta: &RequestMeta) -> Result<Caller, ApiError> {
        let session = found.filter(|s| secrets::verify(secret, &s.secret_hash)).ok_or(INVALID)?;
        Ok(Caller {
            actor: meta.actor(Some(&session.account.id)),
            account: session.account,
            session_id: session_id.to_owned(),
            access_token_id: session.access_token_id,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (id, secret) = bearer(parts)?;
        Caller::resolve(state, &RequestMeta::from_parts(parts), id, secret).await
    }
}

impl Caller {
    /// The caller holding session `id` with `secret`, whichever way it was
    /// presented (a bearer header, or the web application's cookie).
    pub(crate) async fn resolve(state: &AppState, meta: &RequestMeta, id: &str, secret: &str) -> Result<Caller, ApiError> {
        let found = state.store.session(id, locus_store::now_millis()).await?;
        Caller::verify(id, secret, found, meta)
    }
}

//! The authenticated caller. Every request re-reads its session and account
//! from the database (one indexed query), so a revoked token, a disabled or
//! deleted account or a changed password ends access on the very next request,
//! on every instance: nothing is cached.

use super::secrets::{self, Kind};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use locus_store::Account;

/// Who is calling: a live bearer session and its ENABLED account.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub session_id: String,
    pub access_token_id: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
        let (id, secret) = secrets::parse(Kind::Bearer, token).ok_or(ApiError::Unauthorized("invalid or expired bearer token"))?;
        let session = state
            .store
            .session(id, locus_store::now_millis())
            .await?
            .filter(|s| secrets::verify(secret, &s.secret_hash))
            .ok_or(ApiError::Unauthorized("invalid or expired bearer token"))?;
        Ok(Caller {
            account: session.account,
            session_id: id.to_owned(),
            access_token_id: session.access_token_id,
        })
    }
}

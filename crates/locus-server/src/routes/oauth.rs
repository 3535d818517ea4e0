//! `POST /rest/oauth/token`: exchanges a personal access token (the official
//! clients' `refresh_token`) or an e-mail and password for a short-lived bearer.

use crate::auth::secrets::{self, Kind};
use crate::auth::{limits, passwords};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientAddr, Json, RequestMeta};
use crate::AppState;
use axum::extract::State;
use locus_store::Account;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token))
}

/// TokenRequestDTO, plus the password grant for interactive sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequestDto {
    /// A personal access token (`^[\w._-]+$`, at most 2000 characters).
    #[serde(default)]
    refresh_token: Option<String>,
    /// `password` to sign in with `username` (the e-mail) and `password`.
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// TokenResponseDTO: the only snake_case payload of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponseDto {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

#[utoipa::path(post, path = "/rest/oauth/token", tag = "authentication", security(()), request_body = TokenRequestDto,
    responses((status = 200, body = TokenResponseDto)))]
async fn token(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    meta: RequestMeta,
    Json(body): Json<TokenRequestDto>,
) -> ApiResult<axum::Json<TokenResponseDto>> {
    let address_limit = state.settings.limits.signin_address();
    limits::ensure_open(&state.store, &[(address_limit, &addr)]).await?;
    let (account, access_token_id, token_expiry) = match (body.refresh_token, body.grant_type.as_deref()) {
        (Some(token), None | Some("refresh_token")) => {
            if token.is_empty() || token.len() > 2000 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
                return Err(ApiError::bad_request(
                    "refresh_token",
                    "must be 1 to 2000 characters of [A-Za-z0-9._-]",
                ));
            }
            if let Some((id, secret)) = secrets::parse(Kind::PublicToken, &token) {
                return exchange_public_token(&state, &addr, id, secret).await.map(axum::Json);
            }
            match exchange_access_token(&state, &token).await? {
                Some(found) => found,
                None => {
                    limits::count_failure(&state.store, &[(address_limit, &addr)]).await?;
                    tracing::warn!(client = %addr, "token exchange with an unknown, revoked or expired access token");
                    return Err(ApiError::Unauthorized("access token not accepted"));
                }
            }
        }
        (None, Some("password")) => {
            let username = body
                .username
                .ok_or_else(|| ApiError::bad_request("username", "required with grant_type password"))?;
            let password = body
                .password
                .ok_or_else(|| ApiError::bad_request("password", "required with grant_type password"))?;
            (password_sign_in(&state, &addr, &username, password).await?, None, None)
        }
        (None, None) => return Err(ApiError::bad_request("refresh_token", "required")),
        (_, Some(other)) => {
            return Err(ApiError::bad_request(
                "grant_type",
                format!("unsupported grant type {other:?}; use refresh_token or password"),
            ))
        }
    };
    let now = locus_store::now_millis();
    let ttl = i64::try_from(state.settings.bearer_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = token_expiry.map_or(now.saturating_add(ttl), |t: i64| t.min(now.saturating_add(ttl)));
    let token = crate::auth::open_session(&state, &meta, &account.id, access_token_id.as_deref(), expires_at).await?;
    Ok(axum::Json(TokenResponseDto {
        access_token: token,
        token_type: "Bearer",
        expires_in: u64::try_from((expires_at - now) / 1000).unwrap_or(0),
    }))
}

/// The account behind a live access token, the token's id and its expiry.
async fn exchange_access_token(state: &AppState, token: &str) -> ApiResult<Option<(Account, Option<String>, Option<i64>)>> {
    let Some((id, secret)) = secrets::parse(Kind::AccessToken, token) else {
        return Ok(None);
    };
    let Some(stored) = state.store.access_token(id).await? else {
        return Ok(None);
    };
    let now = locus_store::now_millis();
    if !secrets::verify(secret, &stored.secret_hash) || stored.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let account = state.store.account(&stored.account_id).await?.filter(Account::is_active);
    Ok(account.map(|a| (a, Some(stored.id), stored.expires_at)))
}

/// Exchanges a public access token for a short-lived public bearer, which acts
/// in the token's project only, as an ANONYMOUS visitor. Exchanges are
/// rate-limited per client address, and counted for the token's hourly event.
async fn exchange_public_token(state: &AppState, addr: &str, id: &str, secret: &str) -> ApiResult<TokenResponseDto> {
    state.public.exchanges.hit(addr)?;
    let address_limit = state.settings.limits.signin_address();
    let now = locus_store::now_millis();
    let live = match state.store.public_token_to_exchange(id).await? {
        Some((found, account))
            if secrets::verify(secret, &found.secret_hash) && found.is_live(now) && account.is_active() && account.anonymous =>
        {
            // Fail early for a link whose membership is gone; every request checks it again.
            let access = state.store.project_access(&found.project_id, &account.id).await?;
            let enabled = |a: &locus_store::ProjectAccess| {
                a.project.enabled
                    && a.membership
                        .as_ref()
                        .is_some_and(|m| m.status == locus_core::MembershipStatus::Enabled)
            };
            access.filter(enabled).map(|_| found)
        }
        _ => None,
    };
    let Some(found) = live else {
        limits::count_failure(&state.store, &[(address_limit, addr)]).await?;
        tracing::warn!(client = %addr, "token exchange with an unknown, revoked or expired public access token");
        return Err(ApiError::Unauthorized("access token not accepted"));
    };
    let ttl = i64::try_from(state.settings.public_bearer_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = found.expires_at.map_or(now.saturating_add(ttl), |t| t.min(now.saturating_add(ttl)));
    let bearer = secrets::issue(Kind::PublicBearer);
    state
        .store
        .create_public_session(&bearer.id, &found.id, &bearer.hash, expires_at)
        .await?;
    state.public.usage.count(&found.id, &found.project_id, now);
    Ok(TokenResponseDto {
        access_token: bearer.token,
        token_type: "Bearer",
        expires_in: u64::try_from((expires_at - now) / 1000).unwrap_or(0),
    })
}

/// Checks an e-mail and password under the brute-force limits. Every failure
/// answers the same 401, whether or not the e-mail has an account.
pub async fn password_sign_in(state: &AppState, addr: &str, username: &str, password: String) -> ApiResult<Account> {
    let limits = &state.settings.limits;
    let subject = username.trim().to_lowercase();
    let checks = [(limits.signin_account(), subject.as_str()), (limits.signin_address(), addr)];
    // Counted before the password is checked: fifty guesses in parallel get
    // at most the limit checked, not fifty.
    limits::count_attempt(&state.store, &checks).await?;
    let account = if subject.len() <= locus_core::Email::MAX_LEN {
        state.store.account_by_email(&subject).await?
    } else {
        None
    };
    let verified = password.len() <= locus_core::password::MAX_LEN * 4
        && passwords::verify(password, account.as_ref().map(|a| a.password_hash.clone())).await?;
    match account {
        Some(account) if verified && account.is_active() => {
            state.store.throttle_clear(&checks[0].0, &subject).await?;
            limits::refund(&state.store, &checks[1..]).await?;
            Ok(account)
        }
        _ => {
            record_failed_sign_in(state, addr, &subject, account.as_ref().map(|a| a.id.as_str())).await?;
            tracing::warn!(client = %addr, username = %subject, "failed sign-in");
            Err(ApiError::Unauthorized("wrong e-mail or password"))
        }
    }
}

/// Records a failed sign-in in the account's audit log, at most once per
/// e-mail and client address an hour.
async fn record_failed_sign_in(state: &AppState, addr: &str, username: &str, account_id: Option<&str>) -> ApiResult<()> {
    let Some(account_id) = account_id else { return Ok(()) };
    let once_an_hour = locus_store::Throttle {
        scope: "audit.signin",
        max_hits: 1,
        window_ms: 3_600_000,
        lock_ms: 3_600_000,
    };
    let key = format!("{username}|{addr}");
    let now = locus_store::now_millis();
    if state.store.throttle_check(&once_an_hour, &key, now).await? == locus_store::ThrottleVerdict::Open {
        state.store.throttle_hit(&once_an_hour, &key, now).await?;
        let actor = locus_store::Actor {
            account_id: Some(account_id.to_owned()),
            request_id: locus_core::ids::random_lower36(16),
            remote_host: addr.to_owned(),
        };
        let content = serde_json::json!({"client": addr, "note": "later failures from this address within the hour are not recorded"});
        state.store.record_event(&actor, None, "sign_in_failed", content).await?;
    }
    Ok(())
}

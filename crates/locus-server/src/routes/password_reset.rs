//! Password reset through a single-use e-mailed link that expires
//! (`Settings::reset_ttl`, one hour by default).
//!
//! Deviation from the contract: `POST /rest/accounts/passwordReset` answers 201
//! whether or not the e-mail has an account (the contract says 404), so that
//! the endpoint reveals no accounts.

use crate::auth::secrets::{self, Kind};
use crate::auth::{limits, passwords};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientAddr, Json, Path, RequestMeta};
use crate::mail::Mail;
use crate::routes::accounts::AccountDto;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use locus_core::{password::check_policy, Email};
use locus_store::{PasswordReset, ThrottleVerdict};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(check_reset, complete_reset))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendResetPasswordDto {
    email: String,
}

/// Sends a reset link if the e-mail has an account. Always 201.
#[utoipa::path(post, path = "/rest/accounts/passwordReset", tag = "password reset", security(()), request_body = SendResetPasswordDto,
    responses((status = 201, description = "a link was sent if the e-mail has an account")))]
async fn request_reset(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    meta: RequestMeta,
    Json(body): Json<SendResetPasswordDto>,
) -> ApiResult<StatusCode> {
    send_reset_link(&state, &addr, &meta, &body.email).await?;
    Ok(StatusCode::CREATED)
}

/// Mails a reset link if the e-mail has an active account, under the limits
/// per client address and per e-mail. Succeeds alike whether or not it has one.
pub(crate) async fn send_reset_link(state: &AppState, addr: &str, meta: &RequestMeta, email: &str) -> ApiResult<()> {
    let email = Email::parse("email", email)?;
    let limits = &state.settings.limits;
    let now = locus_store::now_millis();
    limits::too_many(state.store.throttle_hit(&limits.reset_address(), addr, now).await?)?;
    // Over the per-account limit the answer stays 201, so it reveals nothing; no mail goes out.
    let account_verdict = state.store.throttle_hit(&limits.reset_account(), &email.normalized(), now).await?;
    let account = state.store.account_by_email(&email.normalized()).await?.filter(|a| a.is_active());
    match (account, account_verdict) {
        (Some(account), ThrottleVerdict::Open) => {
            let issued = secrets::issue(Kind::PasswordReset);
            let ttl = i64::try_from(state.settings.reset_ttl.as_millis()).unwrap_or(i64::MAX);
            state
                .store
                .create_password_reset(
                    &meta.actor(Some(&account.id)),
                    &issued.id,
                    &account.id,
                    &issued.hash,
                    now.saturating_add(ttl),
                )
                .await?;
            let link = format!("{}/reset-password/{}", state.settings.public_url, issued.token);
            let minutes = state.settings.reset_ttl.as_secs() / 60;
            state.mailer.send_later(Mail {
                to: account.email.clone(),
                subject: "Reset your Locus password".to_owned(),
                text: format!(
                    "Hello {},\n\nsomeone asked to reset the password of your Locus account. \
                     To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n\
                     The link works once. If you did not ask for it, ignore this message: your password stays as it is.\n",
                    account.full_name()
                ),
                html: None,
            });
            tracing::info!(account_id = %account.id, "password reset requested");
        }
        (Some(account), ThrottleVerdict::Locked { .. }) => {
            tracing::warn!(account_id = %account.id, client = %addr, "password reset requests over the limit; no mail sent");
        }
        (None, _) => {
            tracing::info!(client = %addr, "password reset requested for an e-mail without an account")
        }
    }
    Ok(())
}

/// Finds the live reset behind a link, or 404.
pub(crate) async fn live_reset(state: &AppState, token: &str) -> ApiResult<PasswordReset> {
    let not_found = || ApiError::NotFound("password reset link");
    let (id, secret) = secrets::parse(Kind::PasswordReset, token).ok_or_else(not_found)?;
    let reset = state.store.password_reset(id).await?.ok_or_else(not_found)?;
    let live = secrets::verify(secret, &reset.secret_hash)
        && reset.used_at.is_none()
        && reset.expires_at > locus_store::now_millis()
        && reset.account.is_active();
    if live {
        Ok(reset)
    } else {
        Err(not_found())
    }
}

/// The account a live link resets.
#[utoipa::path(get, path = "/rest/accounts/passwordReset/{passwordResetToken}", tag = "password reset", security(()),
    params(("passwordResetToken" = String, Path)), responses((status = 200, body = AccountDto)))]
async fn check_reset(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<axum::Json<AccountDto>> {
    let reset = live_reset(&state, &token).await?;
    Ok(axum::Json(AccountDto::from(&reset.account)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordDto {
    new_password: String,
}

/// Sets the new password. The link dies, and so do every session and access
/// token of the account: whoever had the old password loses access.
#[utoipa::path(post, path = "/rest/accounts/passwordReset/{passwordResetToken}", tag = "password reset", security(()),
    params(("passwordResetToken" = String, Path)), request_body = ResetPasswordDto, responses((status = 204, description = "password set")))]
async fn complete_reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    meta: RequestMeta,
    Json(body): Json<ResetPasswordDto>,
) -> ApiResult<StatusCode> {
    reset_password(&state, &meta, &token, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a new password through a live reset link, which dies with it.
pub(crate) async fn reset_password(state: &AppState, meta: &RequestMeta, token: &str, new_password: String) -> ApiResult<()> {
    let reset = live_reset(state, token).await?;
    check_policy("newPassword", &new_password)?;
    let hash = passwords::hash(new_password).await?;
    state
        .store
        .complete_password_reset(
            &meta.actor(Some(&reset.account.id)),
            &reset.id,
            &reset.account.id,
            &hash,
            locus_store::now_millis(),
        )
        .await
        .map_err(|e| match e {
            locus_store::StoreError::NotFound => ApiError::NotFound("password reset link"),
            other => other.into(),
        })?;
    tracing::info!(account_id = %reset.account.id, "password reset completed");
    Ok(())
}

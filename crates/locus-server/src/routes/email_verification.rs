//! E-mail ownership (issue 20, item 2): a new account proves that its owner
//! reads its e-mail by using a single-use link mailed to it, which expires
//! (`Settings::verification_ttl`, two days by default).
//!
//! Until then the account works, but nobody finds it by e-mail: the e-mail
//! lookup says no, and adding a member by e-mail sends an invitation
//! instead, so that signing up with someone else's address before they do
//! gains nothing. Accepting an invitation mailed to the address verifies it
//! too, and operators can vouch for an account (`locus admin verify-email`).
//!
//! The mailed link opens a page with a button (a POST): mail scanners that
//! open every link must not verify an address for whoever signed up with it.
//! Locus additions to the contract: the two endpoints below.

use crate::auth::secrets::{self, Kind};
use crate::auth::{limits, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, RequestMeta};
use crate::mail::Mail;
use crate::routes::accounts::AccountDto;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use locus_store::{Account, EmailVerification, StoreError};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(resend)).routes(routes!(complete))
}

/// Mails a new verification link to the caller's e-mail; 204 without a
/// mail when it is verified already. Limited per account like password resets.
#[utoipa::path(post, path = "/rest/accounts/current/emailVerification", tag = "accounts",
    responses((status = 202, description = "a link was mailed"), (status = 204, description = "the e-mail is verified already")))]
async fn resend(State(state): State<AppState>, caller: Caller, meta: RequestMeta) -> ApiResult<StatusCode> {
    if resend_link(&state, &meta, &caller.account).await? {
        Ok(StatusCode::ACCEPTED)
    } else {
        Ok(StatusCode::NO_CONTENT)
    }
}

/// Mails `account` a new link unless its e-mail is verified already (then
/// false), under the per-account limit.
pub(crate) async fn resend_link(state: &AppState, meta: &RequestMeta, account: &Account) -> ApiResult<bool> {
    if account.email_verified() {
        return Ok(false);
    }
    let now = locus_store::now_millis();
    let limit = state.settings.limits.verification_account();
    limits::too_many(state.store.throttle_hit(&limit, &account.id, now).await?)?;
    send_link(state, meta, account).await?;
    Ok(true)
}

/// Uses a verification link: the account's e-mail is verified, the link dies.
#[utoipa::path(post, path = "/rest/accounts/emailVerification/{verificationToken}", tag = "accounts", security(()),
    params(("verificationToken" = String, Path)), responses((status = 200, body = AccountDto)))]
async fn complete(State(state): State<AppState>, meta: RequestMeta, Path(token): Path<String>) -> ApiResult<axum::Json<AccountDto>> {
    let account = verify(&state, &meta, &token).await?;
    Ok(axum::Json(AccountDto::from(&account)))
}

/// Issues a link for `account`'s e-mail and mails it.
pub(crate) async fn send_link(state: &AppState, meta: &RequestMeta, account: &Account) -> ApiResult<()> {
    let issued = secrets::issue(Kind::EmailVerification);
    let ttl = i64::try_from(state.settings.verification_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = locus_store::now_millis().saturating_add(ttl);
    state
        .store
        .create_email_verification(&meta.actor(Some(&account.id)), &issued.id, account, &issued.hash, expires_at)
        .await?;
    let values = minijinja::context! {
        name => account.full_name(),
        email => account.email,
        link => format!("{}/verify-email/{}", state.settings.public_url, issued.token),
        hours => state.settings.verification_ttl.as_secs() / 3600,
    };
    state.mailer.send_later(Mail {
        to: account.email.clone(),
        subject: "Confirm your e-mail address for Locus".to_owned(),
        text: crate::web::render::mail("mail/verification.txt", values.clone())?,
        html: Some(crate::web::render::mail("mail/verification.html", values)?),
    });
    tracing::info!(account_id = %account.id, "e-mail verification link sent");
    Ok(())
}

/// The live verification behind a link, or 404: unknown, wrong secret,
/// used, expired, or sent to an address the account no longer has.
pub(crate) async fn live(state: &AppState, token: &str) -> ApiResult<EmailVerification> {
    let not_found = || ApiError::NotFound("e-mail verification link");
    let (id, secret) = secrets::parse(Kind::EmailVerification, token).ok_or_else(not_found)?;
    let verification = state.store.email_verification(id).await?.ok_or_else(not_found)?;
    let live = secrets::verify(secret, &verification.secret_hash)
        && verification.used_at.is_none()
        && verification.expires_at > locus_store::now_millis()
        && verification.account.email.eq_ignore_ascii_case(&verification.email);
    if live {
        Ok(verification)
    } else {
        Err(not_found())
    }
}

/// Verifies the e-mail through a live link, which dies with it; answers the
/// account as it is now.
pub(crate) async fn verify(state: &AppState, meta: &RequestMeta, token: &str) -> ApiResult<Account> {
    let verification = live(state, token).await?;
    let account_id = verification.account.id.clone();
    let now = locus_store::now_millis();
    state
        .store
        .complete_email_verification(&meta.actor(Some(&account_id)), &verification, now)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("e-mail verification link"),
            other => other.into(),
        })?;
    tracing::info!(account_id = %account_id, "e-mail verified");
    state.store.account(&account_id).await?.ok_or(ApiError::NotFound("account"))
}

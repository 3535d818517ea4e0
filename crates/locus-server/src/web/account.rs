//! The account page: name, password, personal access tokens.

use super::render::{page, redirect, sentence, WebError};
use super::session::{Form, SignedIn};
use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::routes::{access_tokens, accounts, email_verification};
use crate::wire::timestamp;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use locus_core::PersonName;
use minijinja::{context, Value};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    done: Option<String>,
}

/// The fixed sentences a redirect may ask the next page to show.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "name" => Some("Your name is changed."),
        "revoked" => Some("The token is revoked; it no longer works."),
        "verification" => Some("A confirmation link is on its way to your e-mail address."),
        _ => None,
    }
}

/// Renders the account page, with `extra` values (an error, a new token).
async fn account_page(state: &AppState, signed_in: &SignedIn, status: StatusCode, extra: Value) -> Result<Response, WebError> {
    let account = &signed_in.caller.account;
    let tokens: Vec<Value> = state
        .store
        .access_tokens(&account.id)
        .await
        .map_err(ApiError::from)?
        .iter()
        .map(|t| {
            context! {
                id => t.id, name => t.name, created_at => timestamp(t.created_at),
                expires_at => t.expires_at.map(timestamp), last_used_at => t.last_used_at.map(timestamp),
            }
        })
        .collect();
    let values = context! {
        given_name => account.given_name, surname => account.surname, email => account.email, tokens,
        email_verified => account.email_verified(),
        ..extra
    };
    Ok(page(&signed_in.visitor, status, "account.html", values))
}

pub async fn show(State(state): State<AppState>, signed_in: SignedIn, Query(q): Query<Notice>) -> Result<Response, WebError> {
    account_page(&state, &signed_in, StatusCode::OK, context! { notice => notice(q.done.as_deref()) }).await
}

/// Answers a failed form with the account page and the error's message.
async fn refused(state: &AppState, signed_in: &SignedIn, e: ApiError) -> Result<Response, WebError> {
    match e {
        ApiError::BadRequest { .. } | ApiError::Conflict { .. } | ApiError::TooManyRequests { .. } => {
            let status = e.status();
            account_page(state, signed_in, status, context! { error => sentence(&e.public_message()) }).await
        }
        other => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct NameForm {
    given_name: String,
    surname: String,
}

pub async fn rename(State(state): State<AppState>, signed_in: SignedIn, Form(form): Form<NameForm>) -> Result<Response, WebError> {
    let names = PersonName::parse("givenName", &form.given_name).and_then(|g| Ok((g, PersonName::parse("surname", &form.surname)?)));
    let (given_name, surname) = match names {
        Ok(names) => names,
        Err(invalid) => return refused(&state, &signed_in, invalid.into()).await,
    };
    let caller = &signed_in.caller;
    state
        .store
        .set_name(&caller.actor, &caller.account.id, given_name.as_str(), surname.as_str())
        .await
        .map_err(ApiError::from)?;
    Ok(redirect("/account?done=name"))
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    old_password: String,
    new_password: String,
}

/// Changes the password; every session ends, this one too, so the next stop is the sign-in page.
pub async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    match accounts::change_own_password(&state, &signed_in.caller, form.old_password, form.new_password).await {
        Ok(()) => Ok(redirect("/sign-in?changed=1")),
        Err(e) => refused(&state, &signed_in, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    name: String,
}

/// Creates a personal access token and shows its secret, this once.
pub async fn create_token(State(state): State<AppState>, signed_in: SignedIn, Form(form): Form<TokenForm>) -> Result<Response, WebError> {
    match access_tokens::issue(&state, &signed_in.caller, &form.name, None).await {
        Ok((token, secret)) => {
            let created = context! { name => token.name, secret };
            account_page(&state, &signed_in, StatusCode::OK, context! { created }).await
        }
        Err(e) => refused(&state, &signed_in, e).await,
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(_): Form<super::auth::Empty>,
) -> Result<Response, WebError> {
    let caller = &signed_in.caller;
    match state.store.revoke_access_token(&caller.actor, &caller.account.id, &id).await {
        Ok(()) => Ok(redirect("/account?done=revoked")),
        Err(locus_store::StoreError::NotFound) => Err(ApiError::NotFound("access token").into()),
        Err(e) => Err(ApiError::from(e).into()),
    }
}

/// Mails a new e-mail confirmation link.
pub async fn resend_verification(
    State(state): State<AppState>,
    signed_in: SignedIn,
    meta: RequestMeta,
    Form(_): Form<super::auth::Empty>,
) -> Result<Response, WebError> {
    match email_verification::resend_link(&state, &meta, &signed_in.caller.account).await {
        Ok(_) => Ok(redirect("/account?done=verification")),
        Err(e) => refused(&state, &signed_in, e).await,
    }
}

//! Signing up, in and out, resetting a forgotten password, and the page an
//! invitation link opens. Each goes through the same operations as the API
//! (`routes::…`), under the same limits and with the same audit events.

use super::render::{page, redirect, sentence, WebError};
use super::session::{end_session, safe_next, start_session, Form, SignedIn, Visitor};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ClientAddr, RequestMeta};
use crate::routes::{accounts, email_verification, invitations, oauth, password_reset};
use crate::{AppState, SignupMode};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use locus_core::InvitationStatus;
use locus_store::Invitation;
use minijinja::context;
use serde::Deserialize;

/// Where a sign-in or sign-up goes next: back to `next`, or into an invitation.
#[derive(Debug, Default, Deserialize)]
pub struct Continue {
    next: Option<String>,
    /// The invitation link's secret, when the visitor came from one.
    invitation: Option<String>,
    email: Option<String>,
}

impl Continue {
    fn values(&self) -> minijinja::Value {
        context! { next => self.next, invitation => self.invitation }
    }
}

/// The invitation a sign-in or sign-up continues into, if it is still live.
async fn continued_invitation(state: &AppState, token: Option<&str>) -> Result<Option<Invitation>, ApiError> {
    match token.filter(|t| !t.is_empty()) {
        Some(t) => invitations::by_link(state, t).await.map(Some),
        None => Ok(None),
    }
}

/// After signing in or up: accept the invitation the visitor came with and
/// open its project, or go where they were headed. An invitation that cannot
/// be accepted (another e-mail, no longer pending) leads back to its page,
/// which says why.
async fn finish(state: &AppState, meta: &RequestMeta, account: &locus_store::Account, then: &Continue) -> Result<Response, ApiError> {
    let to = match then.invitation.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => match invitations::accept(state, account, &meta.actor(Some(&account.id)), token).await {
            Ok(invitation) => format!("/projects/{}", invitation.project_id),
            Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
            Err(_) => format!("/invitations/{token}"),
        },
        None => safe_next(then.next.as_deref()),
    };
    start_session(state, meta, account, &to).await
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn sign_in_page(visitor: Visitor, Query(then): Query<Continue>) -> Response {
    if visitor.caller.is_some() {
        return redirect(&safe_next(then.next.as_deref()));
    }
    let values = context! { email => then.email, ..then.values() };
    page(&visitor, StatusCode::OK, "sign_in.html", values)
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    #[serde(flatten)]
    then: Continue,
}

pub async fn sign_in(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr(addr): ClientAddr,
    meta: RequestMeta,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    match oauth::password_sign_in(&state, &addr, &form.email, form.password).await {
        Ok(account) => Ok(finish(&state, &meta, &account, &form.then).await?),
        Err(e @ (ApiError::Unauthorized(_) | ApiError::TooManyRequests { .. })) => {
            let status = e.status();
            let values = context! { email => form.email, error => sentence(&e.public_message()), ..form.then.values() };
            Ok(page(&visitor, status, "sign_in.html", values))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn sign_up_page(State(state): State<AppState>, visitor: Visitor, Query(then): Query<Continue>) -> Result<Response, WebError> {
    let invitation = continued_invitation(&state, then.invitation.as_deref()).await?;
    let values = context! {
        fixed_email => invitation.as_ref().map(|i| i.email.clone()),
        closed => state.settings.signup == SignupMode::Closed && invitation.is_none(),
        ..then.values()
    };
    Ok(page(&visitor, StatusCode::OK, "sign_up.html", values))
}

#[derive(Debug, Deserialize)]
pub struct SignUpForm {
    given_name: String,
    surname: String,
    #[serde(default)]
    email: String,
    password: String,
    #[serde(flatten)]
    then: Continue,
}

/// Signs up. With an invitation the e-mail is the invited one, whatever the
/// form says, and sign-up is possible even when it is otherwise closed.
pub async fn sign_up(
    State(state): State<AppState>,
    visitor: Visitor,
    meta: RequestMeta,
    ClientAddr(client): ClientAddr,
    Form(form): Form<SignUpForm>,
) -> Result<Response, WebError> {
    let invitation = continued_invitation(&state, form.then.invitation.as_deref()).await?;
    let email = invitation.as_ref().map_or(form.email.clone(), |i| i.email.clone());
    let fail = |e: ApiError| {
        let values = context! {
            given_name => form.given_name, surname => form.surname, email => email,
            fixed_email => invitation.as_ref().map(|i| i.email.clone()),
            error => sentence(&e.public_message()),
            ..form.then.values()
        };
        Ok(page(&visitor, e.status(), "sign_up.html", values))
    };
    if state.settings.signup == SignupMode::Closed && invitation.is_none() {
        return fail(ApiError::forbidden(
            "sign-up is closed on this server; ask an operator for an account",
        ));
    }
    let body = accounts::NewAccountDto {
        given_name: form.given_name.clone(),
        surname: form.surname.clone(),
        email: email.clone(),
        password: form.password.clone(),
        consent_granted: None,
        phone_number: None,
        preferences: None,
    };
    match accounts::register(&state, &meta, &client, body).await {
        Ok(account) => {
            // Accepting the invitation the visitor came with verifies the
            // e-mail; otherwise a link is mailed.
            if invitation.is_none() {
                email_verification::send_link(&state, &meta, &account).await?;
            }
            Ok(finish(&state, &meta, &account, &form.then).await?)
        }
        Err(e @ (ApiError::BadRequest { .. } | ApiError::Conflict { .. })) => fail(e),
        Err(e) => Err(e.into()),
    }
}

pub async fn sign_out(State(state): State<AppState>, signed_in: SignedIn, Form(_): Form<Empty>) -> Result<Response, WebError> {
    Ok(end_session(&state, &signed_in.caller).await?)
}

pub async fn forgot_page(visitor: Visitor) -> Response {
    page(&visitor, StatusCode::OK, "forgot.html", context! {})
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// Sends a reset link. The page says the same whether or not the e-mail has an account.
pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr(addr): ClientAddr,
    meta: RequestMeta,
    Form(form): Form<ForgotForm>,
) -> Result<Response, WebError> {
    match password_reset::send_reset_link(&state, &addr, &meta, &form.email).await {
        Ok(()) => Ok(page(
            &visitor,
            StatusCode::OK,
            "forgot.html",
            context! { sent => true, email => form.email },
        )),
        Err(e @ (ApiError::BadRequest { .. } | ApiError::TooManyRequests { .. })) => {
            let values = context! { email => form.email, error => sentence(&e.public_message()) };
            Ok(page(&visitor, e.status(), "forgot.html", values))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn reset_page(State(state): State<AppState>, visitor: Visitor, Path(token): Path<String>) -> Result<Response, WebError> {
    let reset = password_reset::live_reset(&state, &token).await.map_err(|_| WebError::Page {
        status: StatusCode::NOT_FOUND,
        message: "This reset link is not valid: it was used already, it expired, or a newer one replaced it. Ask for a new one.".into(),
    })?;
    Ok(page(
        &visitor,
        StatusCode::OK,
        "reset.html",
        context! { email => reset.account.email },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    new_password: String,
}

pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    meta: RequestMeta,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response, WebError> {
    match password_reset::reset_password(&state, &meta, &token, form.new_password).await {
        Ok(()) => Ok(redirect("/sign-in?reset=1")),
        Err(e @ ApiError::BadRequest { .. }) => {
            let values = context! { error => sentence(&e.public_message()) };
            Ok(page(&visitor, e.status(), "reset.html", values))
        }
        Err(ApiError::NotFound(_)) => Err(WebError::Page {
            status: StatusCode::NOT_FOUND,
            message: "This reset link is not valid any more. Ask for a new one.".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn dead_verification_link() -> WebError {
    WebError::Page {
        status: StatusCode::NOT_FOUND,
        message:
            "This confirmation link is not valid: it was used already or it expired. Sign in and ask for a new one on your account page."
                .into(),
    }
}

/// The page a verification link opens: it names the address and asks for
/// a click (a POST), so that opening the link alone verifies nothing.
pub async fn verify_email_page(State(state): State<AppState>, visitor: Visitor, Path(token): Path<String>) -> Result<Response, WebError> {
    let verification = email_verification::live(&state, &token)
        .await
        .map_err(|_| dead_verification_link())?;
    Ok(page(
        &visitor,
        StatusCode::OK,
        "verify_email.html",
        context! { email => verification.email },
    ))
}

pub async fn verify_email(
    State(state): State<AppState>,
    visitor: Visitor,
    meta: RequestMeta,
    Path(token): Path<String>,
    Form(_): Form<Empty>,
) -> Result<Response, WebError> {
    match email_verification::verify(&state, &meta, &token).await {
        Ok(account) => Ok(page(
            &visitor,
            StatusCode::OK,
            "verify_email.html",
            context! { email => account.email, verified => true },
        )),
        Err(ApiError::NotFound(_)) => Err(dead_verification_link()),
        Err(e) => Err(e.into()),
    }
}

/// What an invitation's landing page shows for a given visitor.
fn invitation_values(invitation: &Invitation, token: &str, caller: Option<&Caller>) -> minijinja::Value {
    let is_invitee = caller.is_some_and(|c| c.account.email.eq_ignore_ascii_case(&invitation.email));
    let ended = match invitation.status {
        InvitationStatus::Pending => None,
        other => Some(other.as_str().to_lowercase()),
    };
    context! {
        token,
        project_title => invitation.project_title,
        inviter => invitation.inviter_name,
        role => invitation.role.as_str(),
        email => invitation.email,
        ended,
        is_invitee,
        signed_in_as => caller.map(|c| c.account.email.clone()),
    }
}

pub async fn invitation_page(State(state): State<AppState>, visitor: Visitor, Path(token): Path<String>) -> Result<Response, WebError> {
    let invitation = invitations::by_link(&state, &token).await.map_err(|_| not_a_live_link())?;
    let values = invitation_values(&invitation, &token, visitor.caller.as_ref());
    Ok(page(&visitor, StatusCode::OK, "invitation.html", values))
}

fn not_a_live_link() -> WebError {
    WebError::Page {
        status: StatusCode::NOT_FOUND,
        message: "This invitation link is not valid. If you were sent a newer one, use that; otherwise ask the project's admin to invite you again."
            .into(),
    }
}

/// Accepts the invitation as the signed-in visitor and opens its project.
pub async fn accept_invitation(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(token): Path<String>,
    Form(_): Form<Empty>,
) -> Result<Response, WebError> {
    match invitations::accept(&state, &signed_in.caller.account, &signed_in.caller.actor, &token).await {
        Ok(invitation) => Ok(redirect(&format!("/projects/{}", invitation.project_id))),
        Err(ApiError::NotFound(_)) => Err(not_a_live_link()),
        Err(e @ (ApiError::BadRequest { .. } | ApiError::Forbidden { .. })) => {
            let invitation = invitations::by_link(&state, &token).await.map_err(|_| not_a_live_link())?;
            let values =
                context! { error => sentence(&e.public_message()), ..invitation_values(&invitation, &token, Some(&signed_in.caller)) };
            Ok(page(&signed_in.visitor, e.status(), "invitation.html", values))
        }
        Err(e) => Err(e.into()),
    }
}

//! The web application: server-rendered pages for people, beside the `/rest`
//! API for programs. Pages are templates with automatic escaping
//! (`templates/`), one stylesheet and no front-end build. The one script is
//! the public landing page's (`static/public.js`), which must read the token
//! from the link's fragment, where no server can.
//!
//! Handlers here hold no rules of their own: they parse a form, call the same
//! operation the API calls (`routes::…`) or the store, and render the outcome.
//! Who may see a page is decided by the same `Authorized<P>` check as the API,
//! reached through [`session::Member`]; a refused change re-renders the page
//! with the reason.

mod account;
mod auth;
mod map;
mod projects;
mod public;
pub mod render;
pub mod session;

use crate::AppState;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

const STYLESHEET: &str = include_str!("../../static/app.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-up", get(auth::sign_up_page).post(auth::sign_up))
        .route("/sign-out", post(auth::sign_out))
        .route("/forgot-password", get(auth::forgot_page).post(auth::forgot))
        .route("/reset-password/{token}", get(auth::reset_page).post(auth::reset))
        .route("/verify-email/{token}", get(auth::verify_email_page).post(auth::verify_email))
        .route("/account/verification", post(account::resend_verification))
        .route("/invitations/{token}", get(auth::invitation_page).post(auth::accept_invitation))
        .route("/account", get(account::show))
        .route("/account/name", post(account::rename))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{projectId}", get(projects::show))
        .route("/projects/{projectId}/users", get(projects::users))
        .route("/projects/{projectId}/users/{membershipId}", post(projects::update_member))
        .route("/projects/{projectId}/users/{membershipId}/remove", post(projects::remove_member))
        .route("/projects/{projectId}/invitations", post(projects::invite))
        .route(
            "/projects/{projectId}/invitations/{invitationId}",
            post(projects::change_invitation),
        )
        .route("/projects/{projectId}/audit", get(projects::audit))
        .route("/projects/{projectId}/views/{view}", get(projects::view))
        .route("/projects/{projectId}/views/{view}/share", post(projects::share_view))
        .route("/projects/{projectId}/views/{view}/bookmark", post(projects::bookmark_view))
        .route("/projects/{projectId}/views/{view}/save", post(projects::save_view_as))
        .route("/projects/{projectId}/views/{view}/map", get(map::config))
        .route("/projects/{projectId}/views/{view}/features", get(map::features))
        .route("/projects/{projectId}/views/{view}/layer", get(map::layer))
        .route("/projects/{projectId}/views/{view}/tiles/{z}/{x}/{y}", get(map::tile))
        .route("/projects/{projectId}/views/{view}/values", get(map::values))
        .route("/projects/{projectId}/views/{view}/options", get(map::options))
        .route("/projects/{projectId}/views/{view}/search", get(map::search))
        .route("/projects/{projectId}/views/{view}/drill", get(map::drill))
        .route("/static/map.js", get(map::script))
        .route("/static/vendor/{file}", get(map::vendor))
        .route("/projects/{projectId}/public", get(public::manage).post(public::create_link))
        .route("/projects/{projectId}/public/{tokenId}/revoke", post(public::revoke_link))
        .route("/public/{projectId}", get(public::landing))
        .route("/public/{projectId}/views/{view}", get(public::view))
        .route("/static/app.css", get(stylesheet))
        .route("/static/public.js", get(public::script))
        .layer(axum::middleware::from_fn(render::security_headers))
}

/// Signed-in visitors start at their projects, others at the sign-in page.
async fn home(visitor: session::Visitor) -> Response {
    let to = if visitor.caller.is_some() { "/projects" } else { "/sign-in" };
    visitor.cookies.apply(render::redirect(to))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        STYLESHEET,
    )
        .into_response()
}

//! The public landing page, `/public/{projectId}#token=…`: where share links
//! from `POST …/publicAccessTokens` lead. The page is the same for every
//! project id (it reveals nothing); its script exchanges the token from the
//! fragment and reads the project through the API as an ANONYMOUS visitor.

use super::render::{page, WebError};
use super::session::Visitor;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use locus_core::ProjectId;
use minijinja::context;

const SCRIPT: &str = include_str!("../../static/public.js");

pub async fn landing(visitor: Visitor, Path(project_id): Path<String>) -> Result<Response, WebError> {
    let project_id = ProjectId::parse("projectId", &project_id).map_err(|_| WebError::Page {
        status: StatusCode::NOT_FOUND,
        message: "There is no page here.".into(),
    })?;
    let mut response = page(
        &visitor,
        StatusCode::OK,
        "public.html",
        context! { project_id => project_id.as_str() },
    );
    let headers = response.headers_mut();
    // The script talks to the API; nothing else changes from every page's policy.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    // The page has no forms, so nothing needs the Origin that `no-referrer` withholds.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        SCRIPT,
    )
        .into_response()
}

//! Who is on the other end of a page. The browser holds two cookies, both
//! HttpOnly and SameSite=Lax (and Secure when the public URL is https):
//!
//! - `locus_session`: a bearer secret of the same sessions table the API uses,
//!   so a web session is checked, revoked and expired exactly like a bearer
//!   (fresh from the database on every request, on every instance);
//! - `locus_csrf`: a random value given to every browser on its first page.
//!
//! Every form carries a CSRF token derived from both cookies, so it is bound to
//! the browser and, once signed in, to the session; [`Form`] refuses a POST
//! whose token does not match, or whose `Origin` is another site.

use super::render::WebError;
use crate::auth::access::{Authorized, Required};
use crate::auth::secrets::{self, Kind};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::RequestMeta;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use locus_store::Account;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "locus_session";
pub const CSRF_COOKIE: &str = "locus_csrf";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The value of cookie `name` in the request, if sent.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a browser holding these two cookie values.
fn csrf_token(csrf_cookie: &str, session_cookie: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"locus-csrf\0")
        .chain_update(csrf_cookie.as_bytes())
        .chain_update(b"\0")
        .chain_update(session_cookie.as_bytes())
        .finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A `Set-Cookie` value with the attributes every Locus cookie has.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: Option<u64>) -> String {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if state.settings.public_url.starts_with("https://") {
        cookie.push_str("; Secure");
    }
    if let Some(age) = max_age_secs {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    cookie
}

/// The cookies a response sets, applied by [`Cookies::apply`].
#[derive(Debug, Default, Clone)]
pub struct Cookies(Vec<String>);

impl Cookies {
    pub fn apply(&self, mut response: Response) -> Response {
        for c in &self.0 {
            if let Ok(value) = HeaderValue::from_str(c) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }
}

/// Anyone opening a page: signed in or not, with the CSRF token their forms need.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub caller: Option<Caller>,
    pub csrf: String,
    /// The requested path and query, where sign-in sends them back to.
    pub path: String,
    pub cookies: Cookies,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let mut cookies = Cookies::default();
        let csrf_cookie = match cookie(&parts.headers, CSRF_COOKIE) {
            Some(c) => c.to_owned(),
            None => {
                let fresh = locus_core::random_base62(32);
                cookies.0.push(set_cookie(state, CSRF_COOKIE, &fresh, None));
                fresh
            }
        };
        let mut session_cookie = cookie(&parts.headers, SESSION_COOKIE).unwrap_or_default().to_owned();
        let mut caller = None;
        if !session_cookie.is_empty() {
            let meta = RequestMeta::from_parts(parts);
            let resolved = match secrets::parse(Kind::Bearer, &session_cookie) {
                Some((id, secret)) => Caller::resolve(state, &meta, id, secret).await,
                None => Err(ApiError::Unauthorized("malformed session cookie")),
            };
            match resolved {
                Ok(found) => caller = Some(found),
                // An ended session: forget the cookie, so the forms below are anonymous ones.
                Err(ApiError::Unauthorized(_)) => {
                    cookies.0.push(set_cookie(state, SESSION_COOKIE, "", Some(0)));
                    session_cookie.clear();
                }
                Err(other) => return Err(other.into()),
            }
        }
        Ok(Visitor {
            caller,
            csrf: csrf_token(&csrf_cookie, &session_cookie),
            path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            cookies,
        })
    }
}

/// A signed-in visitor; anyone else is sent to the sign-in page and back.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub caller: Caller,
    pub visitor: Visitor,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.caller.clone() {
            Some(caller) => Ok(SignedIn { caller, visitor }),
            None => Err(WebError::SignIn {
                next: visitor.path,
                cookies: visitor.cookies,
            }),
        }
    }
}

/// A signed-in member allowed `P` in the project of the path's `projectId`,
/// decided by the same [`Authorized`] check as the API.
#[derive(Debug)]
pub struct Member<P> {
    pub access: Authorized<P>,
    pub visitor: Visitor,
}

impl<P: Required + Send + Sync> FromRequestParts<AppState> for Member<P> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        let project_id = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(name, _)| *name == "projectId").map(|(_, v)| v.to_owned()))
            .ok_or(WebError::Api(ApiError::NotFound("project")))?;
        let meta = RequestMeta::from_parts(parts);
        let access = Authorized::resolve(
            state,
            &meta,
            &signed_in.caller.session_id,
            session_secret(&parts.headers).unwrap_or_default(),
            &project_id,
        )
        .await?;
        Ok(Member {
            access,
            visitor: signed_in.visitor,
        })
    }
}

/// The secret half of the session cookie.
fn session_secret(headers: &HeaderMap) -> Option<&str> {
    let token = cookie(headers, SESSION_COOKIE)?;
    secrets::parse(Kind::Bearer, token).map(|(_, secret)| secret)
}

/// Starts a web session for `account` and answers a redirect to `to` that sets its cookie.
pub async fn start_session(state: &AppState, meta: &RequestMeta, account: &Account, to: &str) -> Result<Response, ApiError> {
    let ttl = state.settings.session_ttl;
    let expires_at = locus_store::now_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let token = crate::auth::open_session(state, meta, &account.id, None, expires_at).await?;
    tracing::info!(account_id = %account.id, "web session started");
    let cookies = Cookies(vec![set_cookie(state, SESSION_COOKIE, &token, Some(ttl.as_secs()))]);
    Ok(cookies.apply(super::render::redirect(to)))
}

/// Ends the visitor's session on the server and forgets its cookie.
pub async fn end_session(state: &AppState, caller: &Caller) -> Result<Response, ApiError> {
    state.store.delete_session(&caller.session_id).await?;
    tracing::info!(account_id = %caller.account.id, "web session ended");
    let cookies = Cookies(vec![set_cookie(state, SESSION_COOKIE, "", Some(0))]);
    Ok(cookies.apply(super::render::redirect("/sign-in")))
}

/// Where a sign-in may send the browser afterwards: a path on this site only.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains("://") => n.to_owned(),
        _ => "/projects".to_owned(),
    }
}

/// An `application/x-www-form-urlencoded` body from a page of this site: the
/// CSRF token must match the browser's cookies and the `Origin`, when sent,
/// must be this server. A bad field is a 400 naming it.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Form<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let expired = || {
            WebError::Page {
                status: axum::http::StatusCode::FORBIDDEN,
                message: "This form has expired or did not come from this site. Go back, reload the page and try again.".into(),
            }
            .into_response()
        };
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
            let ours = origin == state.settings.public_url.trim_end_matches('/')
                || origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
            if !ours {
                tracing::warn!(origin, "form posted from another origin");
                return Err(expired());
            }
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| WebError::from(ApiError::bad_request("body", e.body_text())).into_response())?;
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
        let sent = pairs
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let expected = csrf_token(
            cookie(&headers, CSRF_COOKIE).unwrap_or_default(),
            cookie(&headers, SESSION_COOKIE).unwrap_or_default(),
        );
        let cookie_present = cookie(&headers, CSRF_COOKIE).is_some();
        if !cookie_present || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            tracing::warn!("form with a missing or wrong CSRF token");
            return Err(expired());
        }
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(&bytes));
        serde_path_to_error::deserialize(de).map(Form).map_err(|e| {
            let path = e.path().to_string();
            WebError::from(ApiError::BadRequest {
                message: format!("invalid form: {}", e.into_inner()),
                field: (path != ".").then_some(path),
            })
            .into_response()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_bind_both_cookies() {
        let anonymous = csrf_token("a", "");
        assert_eq!(anonymous.len(), 32);
        assert_ne!(anonymous, csrf_token("b", ""));
        assert_ne!(anonymous, csrf_token("a", "lbt_x"));
        assert_eq!(csrf_token("a", "s"), csrf_token("a", "s"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("x=1; locus_csrf=abc; locus_sessionx=no"));
        assert_eq!(cookie(&headers, CSRF_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/projects/abc")), "/projects/abc");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil", "/x?u=https://e"] {
            assert_eq!(safe_next(Some(bad)), "/projects", "{bad}");
        }
        assert_eq!(safe_next(None), "/projects");
    }
}

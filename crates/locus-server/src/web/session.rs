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

/// What the browser presented: its CSRF cookie (made on the spot if missing)
/// and its session cookie, before the session is looked up.
struct Presented {
    csrf_cookie: String,
    session_cookie: String,
    cookies: Cookies,
    path: String,
    meta: RequestMeta,
}

impl Presented {
    fn read(parts: &Parts, state: &AppState) -> Presented {
        let mut cookies = Cookies::default();
        let csrf_cookie = match cookie(&parts.headers, CSRF_COOKIE) {
            Some(c) => c.to_owned(),
            None => {
                let fresh = locus_core::random_base62(32);
                cookies.0.push(set_cookie(state, CSRF_COOKIE, &fresh, None));
                fresh
            }
        };
        Presented {
            csrf_cookie,
            session_cookie: cookie(&parts.headers, SESSION_COOKIE).unwrap_or_default().to_owned(),
            cookies,
            path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            meta: RequestMeta::from_parts(parts),
        }
    }

    /// The session cookie as (session id, secret), if it has the shape of one.
    fn session(&self) -> Option<(&str, &str)> {
        secrets::parse(Kind::Bearer, &self.session_cookie)
    }

    /// Settles how the session lookup went: an ended or malformed session is
    /// forgotten (its cookie cleared, so the page's forms are anonymous ones);
    /// any other failure is an error page.
    fn settle<T>(mut self, state: &AppState, looked_up: Result<T, ApiError>) -> Result<(Option<T>, Visitor), WebError> {
        let found = match looked_up {
            Ok(found) => Some(found),
            Err(ApiError::Unauthorized(_)) => {
                if !self.session_cookie.is_empty() {
                    self.cookies.0.push(set_cookie(state, SESSION_COOKIE, "", Some(0)));
                    self.session_cookie.clear();
                }
                None
            }
            Err(other) => return Err(other.into()),
        };
        let visitor = Visitor {
            caller: None,
            csrf: csrf_token(&self.csrf_cookie, &self.session_cookie),
            path: self.path,
            cookies: self.cookies,
        };
        Ok((found, visitor))
    }
}

const NO_SESSION: ApiError = ApiError::Unauthorized("no session");

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let presented = Presented::read(parts, state);
        let looked_up = match presented.session() {
            Some((id, secret)) => Caller::resolve(state, &presented.meta, id, secret).await,
            None => Err(NO_SESSION),
        };
        let (caller, mut visitor) = presented.settle(state, looked_up)?;
        visitor.caller = caller;
        Ok(visitor)
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
            None => Err(visitor.sign_in()),
        }
    }
}

impl Visitor {
    /// Off to the sign-in page, and back here afterwards.
    fn sign_in(self) -> WebError {
        WebError::SignIn {
            next: self.path,
            cookies: self.cookies,
        }
    }
}

/// A signed-in member allowed `P` in the project of the path's `projectId`,
/// decided by the same [`Authorized`] check as the API, which also finds the
/// session: one query for the whole page.
#[derive(Debug)]
pub struct Member<P> {
    pub access: Authorized<P>,
    pub visitor: Visitor,
}

impl<P: Required + Send + Sync> FromRequestParts<AppState> for Member<P> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let project_id = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(name, _)| *name == "projectId").map(|(_, v)| v.to_owned()))
            .ok_or(WebError::Api(ApiError::NotFound("project")))?;
        let presented = Presented::read(parts, state);
        let looked_up = match presented.session() {
            Some((id, secret)) => Authorized::resolve(state, &presented.meta, id, secret, &project_id).await,
            None => Err(NO_SESSION),
        };
        match presented.settle(state, looked_up)? {
            (Some(access), mut visitor) => {
                visitor.caller = Some(access.caller.clone());
                Ok(Member { access, visitor })
            }
            (None, visitor) => Err(visitor.sign_in()),
        }
    }
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

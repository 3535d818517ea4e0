//! Turning pages into responses: the templates (compiled into the binary,
//! escaped automatically because their names end in `.html`), error pages,
//! redirects, and the security headers every page carries.

use super::session::{Cookies, Visitor};
use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Environment, Value};
use std::sync::LazyLock;

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "base.html",
    "error.html",
    "sign_in.html",
    "sign_up.html",
    "forgot.html",
    "reset.html",
    "verify_email.html",
    "invitation.html",
    "account.html",
    "projects.html",
    "project.html",
    "project_menu.html",
    "users.html",
    "view.html",
    "map_panel.html",
    "audit.html",
    "public.html",
    "public_view.html",
    "public_access.html",
    "mail/invitation.txt",
    "mail/invitation.html",
    "mail/verification.txt",
    "mail/verification.html",
);

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        // A broken template is a bug caught by every test that renders a page.
        if let Err(e) = env.add_template(name, source) {
            panic!("template {name} does not compile: {e:#}");
        }
    }
    env
});

/// Renders `template` for `visitor` with `values` (plus `me` and `csrf`).
pub fn page(visitor: &Visitor, status: StatusCode, template: &str, values: Value) -> Response {
    let me = visitor.caller.as_ref().map(|c| {
        context! {
            name => c.account.full_name(),
            email => c.account.email,
        }
    });
    let values = context! { me, csrf => visitor.csrf, ..values };
    let response = match ENV.get_template(template).and_then(|t| t.render(values)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template, error = %format!("{e:#}"), "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    visitor.cookies.apply(response)
}

/// Renders a mail body from `template` (`mail/*.txt` as it is, `mail/*.html`
/// escaped like the pages).
pub fn mail(template: &str, values: Value) -> Result<String, ApiError> {
    ENV.get_template(template)
        .and_then(|t| t.render(values))
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("rendering mail {template}: {e:#}")))
}

/// A 303 to `to`, the answer to a successful form.
pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in: off to the sign-in page, and back to `next` afterwards.
    SignIn {
        next: String,
        cookies: Cookies,
    },
    /// A page saying what went wrong.
    Page {
        status: StatusCode,
        message: String,
    },
    Api(ApiError),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message, audit) = match self {
            WebError::SignIn { next, cookies } => {
                let to = format!(
                    "/sign-in?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return cookies.apply(redirect(&to));
            }
            WebError::Api(ApiError::Unauthorized(_)) => return redirect("/sign-in"),
            WebError::Page { status, message } => (status, message, None),
            WebError::Api(e) => {
                let audit = match &e {
                    ApiError::Forbidden { audit, .. } => audit.clone(),
                    _ => None,
                };
                (e.status(), sentence(&e.public_message()), audit)
            }
        };
        let html = ENV
            .get_template("error.html")
            .and_then(|t| t.render(context! { status => status.as_u16(), message }))
            .unwrap_or_else(|_| "error".to_owned());
        let mut response = (status, Html(html)).into_response();
        if let Some(audit) = audit {
            // Recorded like an API denial (`auth::access::audit_denials`).
            response.extensions_mut().insert(*audit);
        }
        response
    }
}

/// An API message as a sentence for a page: capitalised, with a full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut s: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The security headers of every page: no inline scripts or styles, no
/// framing, no MIME sniffing, and no referrer to other sites (invitation and
/// reset links carry secrets in their paths). `same-origin` rather than
/// `no-referrer`, because under `no-referrer` browsers send `Origin: null`
/// with forms, which the CSRF check must refuse. A page that needs another
/// policy or referrer rule sets its own, which stands.
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Pages show personal data: keep them out of shared caches (static files say otherwise).
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        assert_eq!(super::ENV.templates().count(), super::TEMPLATES.len());
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(super::sentence("project not found"), "Project not found.");
        assert_eq!(super::sentence("Done."), "Done.");
    }
}

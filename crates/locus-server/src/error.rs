//! The one error type of the HTTP layer and its single mapping to status codes
//! and the JSON error body `{"status", "error", "message", "field"?, "permission"?}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use locus_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated.
    pub status: u16,
    /// A stable machine-readable code, e.g. `bad_request`.
    pub error: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The offending request field (JSON path, query or path parameter), when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The permission key a 403 lacked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<&'static str>,
    /// Every problem found in the body, when there are several to report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<Problem>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String, field: Option<String> },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{message}")]
    Forbidden {
        message: String,
        permission: Option<&'static str>,
        /// Who was denied where, for the audit log (`auth::access::audit_denials`).
        audit: Option<Box<DenialAudit>>,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { message: String, field: Option<String> },
    /// Several problems in one body (metadata validation), each with its JSON path.
    #[error("{}", problems_message(.0))]
    Invalid(Vec<Problem>),
    /// `If-Match` names a version that is no longer current.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("this request needs an If-Match header with the version (ETag) it changes")]
    PreconditionRequired,
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A body whose content is longer than the route takes (not its bytes).
    #[error("{0}")]
    TooLong(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A usage quota is spent: the message says the quota, the use and when it resets.
    #[error("{message}")]
    QuotaExceeded { message: String, retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Too much work queued (password hashing): try again shortly.
    #[error("the server is busy; try again in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    /// Anything unexpected: logged in full, answered with a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A denial of a project permission, as the audit log records it. It rides
/// on the 403 (the error, then the response's extensions) to the one place
/// that records denials, `auth::access::audit_denials`.
#[derive(Debug, Clone)]
pub struct DenialAudit {
    pub actor: locus_store::Actor,
    pub account_id: String,
    pub project_id: String,
    pub permission: &'static str,
}

/// One problem of an [`ApiError::Invalid`] body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

fn problems_message(problems: &[Problem]) -> String {
    let all: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.path, p.message)).collect();
    all.join("; ")
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            message: message.into(),
            permission: None,
            audit: None,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge { .. } | ApiError::TooLong(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client may read: everything but internal errors, which are
    /// logged in full here and answered with a bare phrase.
    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Invalid(_) => "bad_request",
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::PreconditionRequired => "precondition_required",
            ApiError::PayloadTooLarge { .. } | ApiError::TooLong(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<locus_core::Invalid> for ApiError {
    fn from(e: locus_core::Invalid) -> Self {
        ApiError::BadRequest {
            message: e.message,
            field: Some(e.field.to_owned()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict {
                message: format!("{what} is already taken"),
                field: Some(what.to_owned()),
            },
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::VersionMismatch { current } => {
                ApiError::PreconditionFailed(format!("the object changed meanwhile: its version is now {current}; read it again"))
            }
            StoreError::Referenced { by } => ApiError::Conflict {
                message: format!("{by} links to this object; change or delete that first"),
                field: None,
            },
            StoreError::LinkMissing { path, target } => ApiError::BadRequest {
                message: format!("links to a {target} that does not exist in this project"),
                field: Some(path),
            },
            StoreError::LinkUnfit { path, message } => ApiError::BadRequest {
                message,
                field: Some(path),
            },
            StoreError::ReferencedAs { by, path, message } => ApiError::Conflict {
                message: format!("{by} names this object at {path}: {message}; change that first"),
                field: None,
            },
            StoreError::LastAdmin => ApiError::BadRequest {
                message: "a project must keep at least one enabled ADMIN; appoint another admin first".into(),
                field: None,
            },
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        let (field, permission) = match &self {
            ApiError::BadRequest { field, .. } | ApiError::Conflict { field, .. } => (field.clone(), None),
            ApiError::Forbidden { permission, .. } => (None, *permission),
            ApiError::Invalid(problems) => (problems.first().map(|p| p.path.clone()), None),
            _ => (None, None),
        };
        let problems = match &self {
            ApiError::Invalid(problems) => Some(problems.clone()),
            _ => None,
        };
        let body = ErrorBody {
            status: status.as_u16(),
            error: self.code(),
            message,
            field,
            permission,
            problems,
        };
        let mut response = (status, axum::Json(body)).into_response();
        match self {
            ApiError::Forbidden { audit: Some(audit), .. } => {
                response.extensions_mut().insert(*audit);
            }
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::Busy { retry_after_secs }
            | ApiError::QuotaExceeded { retry_after_secs, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

//! Our own extractors, so that every rejection speaks the project's error format
//! and names the offending field.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON request body. Unknown fields are ignored (the official clients send
/// extra ones); a missing or wrongly typed field is a 400 naming its JSON path.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "expected Content-Type application/json, got {essence:?}"
                )));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: crate::BODY_LIMIT }
            } else {
                ApiError::BadRequest {
                    message: format!("could not read the request body: {rejection}"),
                    field: None,
                }
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Deserializes JSON, reporting the path of the first bad value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            message: "request body is empty; expected a JSON document".into(),
            field: None,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest {
                message: format!("malformed JSON: {inner}"),
                field: None,
            };
        }
        ApiError::BadRequest {
            message: inner.to_string(),
            field: (path != "." && path != "?").then_some(path),
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        message: format!("malformed JSON: {e}"),
        field: None,
    })?;
    Ok(value)
}

/// Query parameters; a bad one is a 400 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let path = e.path().to_string();
            ApiError::BadRequest {
                message: format!("invalid query: {}", e.into_inner()),
                field: (path != ".").then_some(path),
            }
        })
    }
}

/// The client's address, for rate limits and logs.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientAddr(addr))
    }
}

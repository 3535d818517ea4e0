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
        Ok(ClientAddr::of(parts))
    }
}

impl ClientAddr {
    pub fn of(parts: &Parts) -> ClientAddr {
        ClientAddr(client_of(parts).map_or_else(|| "unknown".to_owned(), |c| c.ip.to_string()))
    }
}

/// The request's client, as [`client`] found it (or the TCP peer, for a
/// router run without that middleware).
fn client_of(parts: &Parts) -> Option<crate::proxy::Client> {
    if let Some(client) = parts.extensions.get::<crate::proxy::Client>() {
        return Some(client.clone());
    }
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?;
    Some(crate::proxy::client(peer.0, &parts.headers, &[]))
}

/// Finds the request's client once (behind trusted proxies, the forwarded
/// address), for the rate limits and the audit log.
pub async fn client(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0);
    if let Some(peer) = peer {
        let client = crate::proxy::client(peer, req.headers(), &state.settings.trusted_proxies);
        req.extensions_mut().insert(client);
    }
    next.run(req).await
}

/// The request's id (16 characters `[a-z0-9]`), made by [`request_id`] and
/// returned to the client in `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives every request an id, and every response its `X-Request-Id` header.
pub async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let id = locus_core::ids::random_lower36(16);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Where a request comes from, for the audit log: its id and the client's
/// `ip:port` (behind a trusted proxy, the forwarded address).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub remote_host: String,
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> RequestMeta {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_else(|| locus_core::ids::random_lower36(16));
        let remote_host = client_of(parts).map_or_else(|| "unknown".to_owned(), |c| c.remote_host);
        RequestMeta { request_id, remote_host }
    }

    /// The audit actor for this request, acting as `account_id` (if known).
    pub fn actor(&self, account_id: Option<&str>) -> locus_store::Actor {
        locus_store::Actor {
            account_id: account_id.map(str::to_owned),
            request_id: self.request_id.clone(),
            remote_host: self.remote_host.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(parts))
    }
}

/// Path parameters; a malformed one (bad percent-encoding, wrong type) is a
/// JSON 400 like every other error.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::BadRequest {
                message: format!("invalid path: {}", e.body_text()),
                field: None,
            })
    }
}

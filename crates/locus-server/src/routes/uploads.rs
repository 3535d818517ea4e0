//! Uploads (api-contract.md §8.1). Creating one needs `data.load`; the bytes
//! then go to a capability link that Locus serves itself: no bearer, a secret
//! in the URL of which only a hash is stored, valid for a day, for one
//! project. The body is streamed to the object store as it arrives (parts of
//! a multipart upload are gunzipped on the way), so no upload is ever whole in
//! memory, and one over the size limit is cut off with a 413.

use crate::auth::access::{need, Authorized};
use crate::auth::secrets;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::extract::Query;
use crate::wire::Link;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use futures::StreamExt;
use locus_data::transfer::{FileSink, SinkError};
use locus_data::StorePath;
use locus_store::{Upload, UploadPart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload))
        .routes(routes!(upload_detail, complete_upload))
        .routes(routes!(put_single))
        .routes(routes!(put_part))
}

/// The most parts one multipart upload may have (S3's limit).
const MAX_PARTS: i64 = 10_000;

/// Where the bytes of part `n` of an upload are kept.
pub(crate) fn part_path(project_id: &str, upload_id: &str, n: i64) -> StorePath {
    StorePath::from_iter(["projects", project_id, "uploads", upload_id, &n.to_string()])
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateParams {
    /// Ask for a multipart upload of this many parts (each sent gzip-compressed).
    parts: Option<i64>,
}

/// DataCreateUploadResponse, or DataCreateMultipartUploadResponse with `?parts`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadCreatedDto {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_url_encoded: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upload_urls_encoded: Option<Vec<String>>,
    links: Vec<Link>,
}

fn self_href(project_id: &str, id: &str) -> String {
    format!("/rest/projects/{project_id}/dwh/data/uploads/{id}")
}

/// A new upload link: one URL, or with `?parts=N` one URL per part. The
/// `self` link is what a `dataPull` job's `upload` names.
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/data/uploads", tag = "data", params(("projectId" = String, Path), CreateParams),
    responses((status = 200, body = UploadCreatedDto)))]
async fn create_upload(
    State(state): State<AppState>,
    access: Authorized<need::DataLoad>,
    Query(params): Query<CreateParams>,
) -> ApiResult<axum::Json<UploadCreatedDto>> {
    let parts = match params.parts {
        None => 0,
        Some(n) if (1..=MAX_PARTS).contains(&n) => n,
        Some(_) => return Err(ApiError::bad_request("parts", format!("must be 1 to {MAX_PARTS}"))),
    };
    let id = locus_core::ids::random_lower36(32);
    let secret = locus_core::random_base62(32);
    let ttl = i64::try_from(state.settings.upload_ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = locus_store::now_millis().saturating_add(ttl);
    let pid = &access.project.id;
    state
        .store
        .create_upload(&access.caller.actor, pid, &id, &secrets::hash(&secret), parts, expires_at)
        .await?;
    let base = format!("{}/rest/uploads/{id}/{secret}", state.settings.public_url);
    let links = Link::this(self_href(pid, &id));
    let dto = if parts == 0 {
        UploadCreatedDto {
            id,
            upload_url: Some(base.clone()),
            upload_url_encoded: Some(base),
            upload_id: None,
            upload_urls: None,
            upload_urls_encoded: None,
            links,
        }
    } else {
        let urls: Vec<String> = (1..=parts).map(|n| format!("{base}/parts/{n}")).collect();
        UploadCreatedDto {
            upload_id: Some(id.clone()),
            id,
            upload_url: None,
            upload_url_encoded: None,
            upload_urls: Some(urls.clone()),
            upload_urls_encoded: Some(urls),
            links,
        }
    };
    Ok(axum::Json(dto))
}

/// An upload's state (Locus addition): what arrived, and whether it is complete.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadDto {
    id: String,
    multipart: bool,
    complete: bool,
    bytes: i64,
    parts_received: Vec<i64>,
    /// Epoch milliseconds.
    expires: i64,
    links: Vec<Link>,
}

#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/data/uploads/{uploadId}", tag = "data",
    params(("projectId" = String, Path), ("uploadId" = String, Path)), responses((status = 200, body = UploadDto)))]
async fn upload_detail(
    State(state): State<AppState>,
    access: Authorized<need::DataLoad>,
    Path(ids): Path<(String, String)>,
) -> ApiResult<axum::Json<UploadDto>> {
    let (_, upload_id) = ids;
    let upload = project_upload(&state, &access.project.id, &upload_id).await?;
    let parts = state.store.upload_parts(&upload.id).await?;
    Ok(axum::Json(UploadDto {
        multipart: upload.is_multipart(),
        complete: upload.completed_at.is_some(),
        bytes: if upload.completed_at.is_some() {
            upload.bytes
        } else {
            parts.iter().map(|p| p.bytes).sum()
        },
        parts_received: parts.iter().map(|p| p.part_number).collect(),
        expires: upload.expires_at,
        links: Link::this(self_href(&upload.project_id, &upload.id)),
        id: upload.id,
    }))
}

/// A live upload of the project; an expired or foreign one is not found.
async fn project_upload(state: &AppState, project_id: &str, upload_id: &str) -> ApiResult<Upload> {
    state
        .store
        .upload(upload_id)
        .await?
        .filter(|u| u.project_id == project_id && u.expires_at > locus_store::now_millis())
        .ok_or(ApiError::NotFound("upload"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartEtagDto {
    part_number: i64,
    e_tag: String,
}

/// DataCompleteMultipartUploadRequest.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteDto {
    id: String,
    #[serde(default)]
    #[allow(dead_code)] // the path names the upload; accepted as the contract sends it
    upload_id: Option<String>,
    part_e_tags: Vec<PartEtagDto>,
}

/// DataCompleteMultipartUploadResponse.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletedDto {
    id: String,
    e_tag: String,
}

/// Completes a multipart upload: the parts named, in ascending order, each
/// with the ETag its PUT answered, make the file.
#[utoipa::path(put, path = "/rest/projects/{projectId}/dwh/data/uploads/{uploadId}", tag = "data",
    params(("projectId" = String, Path), ("uploadId" = String, Path)), request_body = CompleteDto,
    responses((status = 200, body = CompletedDto)))]
async fn complete_upload(
    State(state): State<AppState>,
    access: Authorized<need::DataLoad>,
    Path(ids): Path<(String, String)>,
    crate::extract::Json(body): crate::extract::Json<CompleteDto>,
) -> ApiResult<axum::Json<CompletedDto>> {
    let (_, upload_id) = ids;
    if body.id != upload_id {
        return Err(ApiError::bad_request("id", "must repeat the upload id of the path"));
    }
    let upload = project_upload(&state, &access.project.id, &upload_id).await?;
    if !upload.is_multipart() {
        return Err(ApiError::bad_request("id", "a single upload needs no completion"));
    }
    if upload.completed_at.is_some() {
        return Err(ApiError::Conflict {
            message: "the upload is already complete".into(),
            field: Some("id".into()),
        });
    }
    if body.part_e_tags.is_empty() {
        return Err(ApiError::bad_request("partETags", "name at least one part"));
    }
    let received = state.store.upload_parts(&upload.id).await?;
    let mut order = Vec::with_capacity(body.part_e_tags.len());
    let mut bytes = 0;
    let mut digest = Sha256::new();
    for (i, p) in body.part_e_tags.iter().enumerate() {
        let field = format!("partETags[{i}]");
        if order.last().is_some_and(|&last| p.part_number <= last) {
            return Err(ApiError::bad_request(field, "parts must be listed in ascending order, each once"));
        }
        let Some(got) = received.iter().find(|r| r.part_number == p.part_number) else {
            return Err(ApiError::bad_request(field, format!("part {} was not uploaded", p.part_number)));
        };
        if p.e_tag.trim_matches('"') != got.etag {
            return Err(ApiError::bad_request(
                format!("{field}.eTag"),
                format!("does not match the ETag of part {} (\"{}\")", p.part_number, got.etag),
            ));
        }
        order.push(p.part_number);
        bytes += got.bytes;
        digest.update(got.etag.as_bytes());
    }
    state.store.complete_upload(&upload.id, &order, bytes).await?;
    Ok(axum::Json(CompletedDto {
        id: upload.id,
        e_tag: format!("\"{}\"", hex32(&digest.finalize())),
    }))
}

fn hex32(digest: &[u8]) -> String {
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The upload link of a single upload: the request body is the file.
#[utoipa::path(put, path = "/rest/uploads/{uploadId}/{secret}", tag = "data",
    params(("uploadId" = String, Path), ("secret" = String, Path)), request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "stored; the ETag header names the bytes received")))]
async fn put_single(State(state): State<AppState>, Path(ids): Path<(String, String)>, body: Body) -> ApiResult<axum::response::Response> {
    let (upload_id, secret) = ids;
    let upload = linked_upload(&state, &upload_id, &secret).await?;
    if upload.is_multipart() {
        return Err(ApiError::bad_request(
            "uploadId",
            "a multipart upload takes its parts at …/parts/{n}",
        ));
    }
    receive(&state, &upload, 1, false, body).await
}

/// The upload link of part `n` of a multipart upload: the body is that part,
/// gzip-compressed. A part may be sent again until the upload is complete.
#[utoipa::path(put, path = "/rest/uploads/{uploadId}/{secret}/parts/{partNumber}", tag = "data",
    params(("uploadId" = String, Path), ("secret" = String, Path), ("partNumber" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the part, gzip-compressed"),
    responses((status = 200, description = "stored; the ETag header is what completion names")))]
async fn put_part(
    State(state): State<AppState>,
    Path(ids): Path<(String, String, String)>,
    body: Body,
) -> ApiResult<axum::response::Response> {
    let (upload_id, secret, part) = ids;
    let upload = linked_upload(&state, &upload_id, &secret).await?;
    if !upload.is_multipart() {
        return Err(ApiError::bad_request(
            "partNumber",
            "this is a single upload: PUT the file to its own URL",
        ));
    }
    let n: i64 = part
        .parse()
        .ok()
        .filter(|n| (1..=upload.parts).contains(n))
        .ok_or_else(|| ApiError::bad_request("partNumber", format!("must be 1 to {}", upload.parts)))?;
    receive(&state, &upload, n, true, body).await
}

/// The upload a capability link names, if its secret is right and it has
/// not expired. Every failure reads the same: no link is told from another.
async fn linked_upload(state: &AppState, upload_id: &str, secret: &str) -> ApiResult<Upload> {
    let upload = state.store.upload(upload_id).await?;
    let valid = upload.filter(|u| secrets::verify(secret, &u.secret_hash) && u.expires_at > locus_store::now_millis());
    valid.ok_or(ApiError::NotFound("upload link (it may have expired)"))
}

/// Streams the body into part `n`'s file and records it, answering its ETag.
async fn receive(state: &AppState, upload: &Upload, n: i64, gzip: bool, body: Body) -> ApiResult<axum::response::Response> {
    if upload.completed_at.is_some() {
        return Err(ApiError::Conflict {
            message: "the upload is complete; create a new one to send another file".into(),
            field: None,
        });
    }
    let limit = state.settings.upload_max_bytes;
    let path = part_path(&upload.project_id, &upload.id, n);
    let mut sink = FileSink::create(state.data.store.clone(), &path, gzip, limit);
    // The ETag names the bytes received: their CRC-32 and their count. A
    // checksum, not a cryptographic hash: it only has to tell one sending of
    // a part from another, and SHA-256 here was 4% of a load's CPU.
    let (mut crc, mut received) = (crc32fast::Hasher::new(), 0u64);
    let mut stream = body.into_data_stream();
    let failure = loop {
        match stream.next().await {
            None => break None,
            Some(Err(e)) => break Some(ApiError::bad_request("body", format!("the upload was cut off: {e}"))),
            Some(Ok(chunk)) => {
                crc.update(&chunk);
                received += chunk.len() as u64;
                if let Err(e) = sink.write(&chunk).await {
                    break Some(sink_error(e, n, gzip));
                }
            }
        }
    };
    if let Some(e) = failure {
        sink.abort().await;
        return Err(e);
    }
    let bytes = sink.finish().await.map_err(|e| sink_error(e, n, gzip))?;
    let etag = format!("{:08x}{received:016x}", crc.finalize());
    let part = UploadPart {
        part_number: n,
        etag: etag.clone(),
        bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
    };
    state.store.put_upload_part(&upload.id, &part, !upload.is_multipart()).await?;
    Ok(etag_response(&etag))
}

fn sink_error(e: SinkError, n: i64, gzip: bool) -> ApiError {
    match e {
        SinkError::TooLarge { limit } => ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
        SinkError::NotGzip(e) if gzip => ApiError::bad_request(format!("part {n}"), format!("each part must be gzip-compressed: {e}")),
        SinkError::NotGzip(e) => ApiError::bad_request("body", e.to_string()),
        SinkError::Data(e) => ApiError::Internal(anyhow::Error::new(e)),
    }
}

/// 200 with the part's ETag, as a header (S3 style, what clients read) and in the body.
fn etag_response(etag: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let quoted = format!("\"{etag}\"");
    let mut response = axum::Json(serde_json::json!({ "eTag": quoted })).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&quoted) {
        response.headers_mut().insert(axum::http::header::ETAG, value);
    }
    response
}

//! Project metadata (api-contract.md §9): `/rest/projects/{projectId}/md/{type}`
//! for the 13 public types, with the ownership rules of VIEW_CREATOR and
//! DATA_EDITOR and the visibility of personal views (semantics.md §4).
//!
//! Who may do what (permissions.csv):
//! - read: `studio.json_metadata`; LOAD_DATA also reads datasets (`data.load`);
//!   dataPermissions only with `md.data_permissions.update`;
//! - create: `md.create_all`; or `md.<type>.create` for views, dashboards,
//!   marker selectors and indicator drills, which are then the creator's own;
//! - update: `md.update_all`; or the owner of a personal object who may create
//!   and delete such objects (Locus choice: who may create and delete may replace);
//! - delete: `md.delete_all`; or `md.<type>.delete_own` for the owner.
//!
//! A personal view is listed and readable only by its creator and by members
//! with `md.update_all`, until projectSettings.defaultViews lists it.

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{parse_json, Path, Query};
use crate::wire::{timestamp, PageQuery, Paged};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use locus_core::metadata::{self, MdType};
use locus_core::Permission;
use locus_store::{Author, MdKey, MdObject, MdWrite, StoreError, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_objects, create_object))
        .routes(routes!(get_object, update_object, delete_object))
        .routes(routes!(generate_dataset))
        .merge(
            // A push carries a whole project's metadata: more than the usual body limit.
            OpenApiRouter::new()
                .routes(routes!(push))
                .layer(axum::extract::DefaultBodyLimit::max(PUSH_LIMIT)),
        )
}

/// The largest `md:push` body, in bytes.
pub const PUSH_LIMIT: usize = 64 * 1024 * 1024;

/// The keys the server sets; on input they are ignored.
const SERVER_KEYS: [&str; 5] = ["id", "accessInfo", "version", "links", "page"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectPath {
    object: String,
}

fn md_type(segment: &str) -> ApiResult<MdType> {
    MdType::from_segment(segment).ok_or(ApiError::NotFound("metadata type"))
}

/// May the caller read objects of this type?
fn require_read<P>(access: &Authorized<P>, t: MdType) -> ApiResult<()> {
    match t {
        MdType::DataPermissions => access.require(Permission::MdDataPermissionsUpdate),
        MdType::Datasets => access
            .require(Permission::StudioJsonMetadata)
            .or_else(|_| access.require(Permission::DataLoad)),
        _ => access.require(Permission::StudioJsonMetadata),
    }
}

/// Which personal objects the caller may see. A public visitor sees what the
/// service account sees without `md.update_all` (which is never public), or,
/// with a token that names its views, only those and what they link to.
pub(crate) fn visibility<P>(access: &Authorized<P>) -> Visibility<'_> {
    if let Some(grant) = access.public.as_ref().filter(|g| g.restricted) {
        return Visibility::Reachable { token_id: &grant.token_id };
    }
    if access.require(Permission::MdUpdateAll).is_ok() {
        Visibility::All
    } else {
        Visibility::OwnPersonal(&access.caller.account.id)
    }
}

fn owns<P>(access: &Authorized<P>, object: &MdObject) -> bool {
    object.created_by_id.as_deref() == Some(access.caller.account.id.as_str())
}

/// Whether a create makes a personal object: `None` (shared) with
/// `md.create_all`, else the type's own-create permission or a 403.
fn require_create<P>(access: &Authorized<P>, t: MdType) -> ApiResult<bool> {
    if t == MdType::DataPermissions {
        return access.require(Permission::MdDataPermissionsUpdate).map(|()| false);
    }
    match access.require(Permission::MdCreateAll) {
        Ok(()) => Ok(false),
        Err(denied) => match t.create_own() {
            Some(own) => access.require(own).map(|()| true),
            None => Err(denied),
        },
    }
}

fn require_update<P>(access: &Authorized<P>, object: &MdObject) -> ApiResult<()> {
    let t = object.md_type;
    if t == MdType::DataPermissions {
        return access.require(Permission::MdDataPermissionsUpdate);
    }
    match access.require(Permission::MdUpdateAll) {
        Ok(()) => Ok(()),
        Err(denied) => match (t.create_own(), t.delete_own()) {
            (Some(create), Some(delete)) if object.personal && owns(access, object) => {
                access.require(create)?;
                access.require_on(delete, true)
            }
            _ => Err(denied),
        },
    }
}

fn require_delete<P>(access: &Authorized<P>, object: &MdObject) -> ApiResult<()> {
    let t = object.md_type;
    if t == MdType::DataPermissions {
        return access.require(Permission::MdDataPermissionsUpdate);
    }
    match access.require(Permission::MdDeleteAll) {
        Ok(()) => Ok(()),
        Err(denied) => match t.delete_own() {
            Some(delete) => access.require_on(delete, owns(access, object)),
            None => Err(denied),
        },
    }
}

/// What a metadata route needs on the `{mdType}` of its path. The
/// [`MdAccess`] extractor decides it before the handler runs, so a handler
/// cannot forget the check; routes whose decision also depends on the object
/// (update, delete of another's object) check that on top.
pub(crate) trait MdNeed: Send + Sync {
    /// Allowed or the denial; for creates, whether the new object is personal.
    fn decide(access: &Authorized<need::ProjectDetail>, t: MdType) -> ApiResult<bool>;
}

/// Read objects of the type.
pub(crate) struct Read;
/// Create an object of the type (personal unless `md.create_all`).
pub(crate) struct Create;
/// Replace some object of the type: every one, or one's own.
pub(crate) struct Update;
/// Delete some object of the type: every one, or one's own.
pub(crate) struct Delete;

impl MdNeed for Read {
    fn decide(access: &Authorized<need::ProjectDetail>, t: MdType) -> ApiResult<bool> {
        require_read(access, t).map(|()| false)
    }
}

impl MdNeed for Create {
    fn decide(access: &Authorized<need::ProjectDetail>, t: MdType) -> ApiResult<bool> {
        require_create(access, t)
    }
}

impl MdNeed for Update {
    fn decide(access: &Authorized<need::ProjectDetail>, t: MdType) -> ApiResult<bool> {
        if t == MdType::DataPermissions {
            return access.require(Permission::MdDataPermissionsUpdate).map(|()| false);
        }
        match access.require(Permission::MdUpdateAll) {
            Ok(()) => Ok(false),
            Err(denied) => match (t.create_own(), t.delete_own()) {
                (Some(create), Some(delete)) => {
                    access.require(create)?;
                    access.require_on(delete, true).map(|()| false)
                }
                _ => Err(denied),
            },
        }
    }
}

impl MdNeed for Delete {
    fn decide(access: &Authorized<need::ProjectDetail>, t: MdType) -> ApiResult<bool> {
        if t == MdType::DataPermissions {
            return access.require(Permission::MdDataPermissionsUpdate).map(|()| false);
        }
        match access.require(Permission::MdDeleteAll) {
            Ok(()) => Ok(false),
            Err(denied) => match t.delete_own() {
                Some(delete) => access.require_on(delete, true).map(|()| false),
                None => Err(denied),
            },
        }
    }
}

/// A caller allowed `N` on the path's metadata type.
pub(crate) struct MdAccess<N> {
    pub access: Authorized<need::ProjectDetail>,
    pub md_type: MdType,
    /// For [`Create`]: the new object is the caller's personal one.
    pub personal: bool,
    _need: std::marker::PhantomData<N>,
}

impl<N: MdNeed> FromRequestParts<AppState> for MdAccess<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let access = Authorized::<need::ProjectDetail>::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("metadata type"))?;
        let segment = params.iter().find(|(name, _)| *name == "mdType").map(|(_, v)| v);
        let md_type = md_type(segment.unwrap_or_default())?;
        let personal = N::decide(&access, md_type)?;
        Ok(MdAccess {
            access,
            md_type,
            personal,
            _need: std::marker::PhantomData,
        })
    }
}

/// An object as the wire shows it (TResponseDTO), as JSON text: the stored
/// body with the keys the server sets put in front, without parsing the body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ObjectDto(Box<RawValue>);

/// `authors`: whether `accessInfo` names who created and changed the object
/// (their e-mails); never for a public visitor.
pub(crate) fn object_dto(o: &MdObject, authors: bool) -> ObjectDto {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let href = format!("/rest/projects/{}/md/{}/{}", o.project_id, o.md_type.segment(), o.id);
    let access_info = if authors {
        format!(
            "{{\"createdAt\":{},\"createdBy\":{},\"modifiedAt\":{},\"modifiedBy\":{}}}",
            text(&timestamp(o.created_at)),
            text(&o.created_by),
            text(&timestamp(o.modified_at)),
            text(&o.modified_by),
        )
    } else {
        format!(
            "{{\"createdAt\":{},\"modifiedAt\":{}}}",
            text(&timestamp(o.created_at)),
            text(&timestamp(o.modified_at)),
        )
    };
    let head = format!(
        "{{\"id\":{},\"accessInfo\":{access_info},\"version\":{},\"links\":[{{\"rel\":\"self\",\"href\":{}}}]",
        text(&o.id),
        o.version,
        text(&href),
    );
    // The store keeps only JSON objects (`{…}`); their keys never clash with these.
    let rest = o.body.trim().strip_prefix('{').unwrap_or("}").trim_start();
    let joined = if rest.starts_with('}') {
        format!("{head}{rest}")
    } else {
        format!("{head},{rest}")
    };
    ObjectDto(RawValue::from_string(joined).unwrap_or_else(|e| {
        // Only a body that is not a JSON object gets here, and the store refuses to read those.
        tracing::error!(id = %o.id, error = %e, "a stored metadata object does not make JSON");
        RawValue::NULL.to_owned()
    }))
}

/// One object with its `ETag` (the version), as the official SDK reads it.
fn with_etag(o: &MdObject, authors: bool) -> Response {
    let mut response = axum::Json(object_dto(o, authors)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", o.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// `X-CAN-STRICT-JSON-VALIDATION: true` (any case) turns on strict validation.
fn strict(headers: &HeaderMap) -> bool {
    headers
        .get("x-can-strict-json-validation")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A parsed and validated request body, ready for the store.
pub(crate) struct Checked {
    pub body: Value,
    pub links: Vec<metadata::MdLink>,
}

impl Checked {
    pub(crate) fn write(&self, md_type: MdType) -> MdWrite<'_> {
        MdWrite {
            md_type,
            name: self.body.get("name").and_then(Value::as_str).unwrap_or_default(),
            title: self.body.get("title").and_then(Value::as_str),
            body: &self.body,
            links: &self.links,
        }
    }
}

/// Validates an object of type `t` for project `project_id`, dropping the keys the server sets.
pub(crate) fn check(t: MdType, mut body: Value, strict: bool, project_id: &str) -> ApiResult<Checked> {
    let links = metadata::validate(t, &body, strict, project_id).map_err(|problems| {
        ApiError::Invalid(
            problems
                .into_iter()
                .map(|p| Problem {
                    path: p.path,
                    message: p.message,
                })
                .collect(),
        )
    })?;
    if let Some(map) = body.as_object_mut() {
        for key in SERVER_KEYS {
            map.remove(key);
        }
        map.insert("type".into(), json!(t.type_value()));
    }
    Ok(Checked { body, links })
}

fn parse_body(bytes: &Bytes) -> ApiResult<Value> {
    let body: Value = parse_json(bytes)?;
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::bad_request("$", "must be a JSON object"))
    }
}

pub(crate) fn author<P>(access: &Authorized<P>) -> Author<'_> {
    Author {
        account_id: &access.caller.account.id,
        email: &access.caller.account.email,
    }
}

fn name_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict("name") => ApiError::Conflict {
            message: "another object of this type has that name".into(),
            field: Some("name".into()),
        },
        StoreError::Conflict("projectSettings") => ApiError::Conflict {
            message: "the project has its projectSettings already; update that one".into(),
            field: None,
        },
        StoreError::NotFound => ApiError::NotFound("metadata object"),
        other => other.into(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct NameQuery {
    /// Answers that one object (with its ETag) instead of a page.
    name: Option<String>,
}

/// The objects of a type, paged; with `name`, that one object and its ETag.
#[utoipa::path(get, path = "/rest/projects/{projectId}/md/{mdType}", tag = "metadata",
    params(("projectId" = String, Path), ("mdType" = String, Path, description = "metrics, views, dashboards, …"), PageQuery, NameQuery),
    responses((status = 200, description = "a page of objects, or one object with ?name=", body = Object)))]
async fn list_objects(
    State(state): State<AppState>,
    MdAccess { access, md_type: t, .. }: MdAccess<Read>,
    uri: Uri,
    Query(paging): Query<PageQuery>,
    Query(q): Query<NameQuery>,
) -> ApiResult<Response> {
    if let Some(name) = q.name.as_deref() {
        let object = find_visible(&state, &access, t, MdKey::Name(name)).await?;
        return Ok(with_etag(&object, !access.is_public()));
    }
    let request = paging.request_unsorted()?;
    let page = state.store.md_list(&access.project.id, t, visibility(&access), request).await?;
    let content: Vec<ObjectDto> = page.items.iter().map(|o| object_dto(o, !access.is_public())).collect();
    Ok(axum::Json(Paged::new(content, page.total, request, &uri)).into_response())
}

/// An object of type `t` the caller may see (personal views are their owners'), or 404.
pub(crate) async fn find_visible<P>(state: &AppState, access: &Authorized<P>, t: MdType, key: MdKey<'_>) -> ApiResult<MdObject> {
    let not_found = ApiError::NotFound("metadata object");
    let object = state.store.md_object(&access.project.id, t, key).await?.ok_or(not_found)?;
    if state.store.md_visible(&object, visibility(access)).await? {
        Ok(object)
    } else {
        Err(ApiError::NotFound("metadata object"))
    }
}

/// One object by id, or else by name.
#[utoipa::path(get, path = "/rest/projects/{projectId}/md/{mdType}/{object}", tag = "metadata",
    params(("projectId" = String, Path), ("mdType" = String, Path), ("object" = String, Path, description = "id or name")),
    responses((status = 200, description = "the object, with an ETag", body = Object)))]
async fn get_object(
    State(state): State<AppState>,
    MdAccess { access, md_type: t, .. }: MdAccess<Read>,
    Path(path): Path<ObjectPath>,
) -> ApiResult<Response> {
    let object = find_visible(&state, &access, t, MdKey::IdOrName(&path.object)).await?;
    Ok(with_etag(&object, !access.is_public()))
}

/// Creates an object (200, as the contract has it).
#[utoipa::path(post, path = "/rest/projects/{projectId}/md/{mdType}", tag = "metadata",
    params(("projectId" = String, Path), ("mdType" = String, Path)), request_body = Object,
    responses((status = 200, description = "the created object", body = Object)))]
async fn create_object(
    State(state): State<AppState>,
    MdAccess {
        access,
        md_type: t,
        personal,
        ..
    }: MdAccess<Create>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Response> {
    let checked = check(t, parse_body(&bytes)?, strict(&headers), &access.project.id)?;
    let created = state
        .store
        .create_md(
            &access.caller.actor,
            &access.project.id,
            author(&access),
            &checked.write(t),
            personal,
        )
        .await
        .map_err(name_conflict)?;
    tracing::info!(project_id = %access.project.id, md_type = t.segment(), id = %created.id, personal, "metadata created");
    Ok(with_etag(&created, true))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct GenerateQuery {
    /// The new dataset's name (required; `^[a-z][a-z0-9_-]*$`).
    name: Option<String>,
    /// `basic` (the default), `geometryPoint` or `geometryPolygon`.
    subtype: Option<String>,
    /// The key column (its header or generated name); `id`, else the first.
    primary_key: Option<String>,
    /// A geometryPolygon dataset's geometry column.
    geometry: Option<String>,
    /// One character each: `,`, `"` and `\` by default.
    csv_separator: Option<String>,
    csv_quote: Option<String>,
    csv_escape: Option<String>,
}

/// A dataset definition generated from a CSV sample (a header line and at
/// most nine lines of values, `text/csv`): a property per column, typed by
/// its values; not saved (create it with `POST …/md/datasets`). 409 when a
/// dataset has the name already, 413 past ten lines.
#[utoipa::path(post, path = "/rest/projects/{projectId}/md/datasets/generateDataset", tag = "metadata",
    params(("projectId" = String, Path), GenerateQuery), request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "the generated definition (a DatasetDTO, not saved)", body = Object)))]
async fn generate_dataset(
    State(state): State<AppState>,
    access: Authorized<need::ProjectDetail>,
    Query(q): Query<GenerateQuery>,
    bytes: Bytes,
) -> ApiResult<axum::Json<Value>> {
    Create::decide(&access, MdType::Datasets)?;
    let name = q.name.as_deref().unwrap_or_default();
    if !metadata::is_name(name) {
        return Err(ApiError::bad_request("name", "required: the dataset's name, ^[a-z][a-z0-9_-]*$"));
    }
    let one = |field: &str, given: Option<&str>, default: u8| -> ApiResult<u8> {
        match given {
            None => Ok(default),
            Some(c) if c.len() == 1 => Ok(c.as_bytes()[0]),
            Some(_) => Err(ApiError::bad_request(field, "exactly one (ASCII) character")),
        }
    };
    let csv = locus_data::csv::CsvOptions {
        separator: one("csvSeparator", q.csv_separator.as_deref(), b',')?,
        quote: one("csvQuote", q.csv_quote.as_deref(), b'"')?,
        escape: one("csvEscape", q.csv_escape.as_deref(), b'\\')?,
        ..Default::default()
    };
    let pid = &access.project.id;
    if state.store.md_object(pid, MdType::Datasets, MdKey::Name(name)).await?.is_some() {
        return Err(ApiError::Conflict {
            message: format!("a dataset named {name} exists already"),
            field: Some("name".into()),
        });
    }
    let sample = locus_data::generate::Sample {
        name,
        subtype: q.subtype.as_deref().unwrap_or("basic"),
        primary_key: q.primary_key.as_deref(),
        geometry: q.geometry.as_deref(),
        csv,
    };
    let generated = locus_data::generate::generate_dataset(&bytes, &sample).map_err(|e| match e {
        locus_data::DataError::Sample { field, message } => ApiError::bad_request(field, message),
        e @ locus_data::DataError::SampleTooLong { .. } => ApiError::TooLong(e.to_string()),
        other => ApiError::Internal(other.into()),
    })?;
    // What is generated passes the checks of a definition a user sends.
    Ok(axum::Json(check(MdType::Datasets, generated, false, pid)?.body))
}

/// The version an `If-Match` names: `"3"`, `W/"3"` or `3`.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<i64> {
    let raw = headers.get(header::IF_MATCH).ok_or(ApiError::PreconditionRequired)?;
    let text = raw.to_str().unwrap_or_default().trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse()
        .map_err(|_| ApiError::bad_request("If-Match", "must be the version from the object's ETag, e.g. \"3\""))
}

/// Replaces an object, if `If-Match` names its current version.
#[utoipa::path(put, path = "/rest/projects/{projectId}/md/{mdType}/{object}", tag = "metadata",
    params(("projectId" = String, Path), ("mdType" = String, Path), ("object" = String, Path, description = "id"),
        ("If-Match" = String, Header, description = "the ETag read")),
    request_body = Object, responses((status = 200, description = "the updated object", body = Object)))]
async fn update_object(
    State(state): State<AppState>,
    MdAccess { access, md_type: t, .. }: MdAccess<Update>,
    Path(path): Path<ObjectPath>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Response> {
    // The write permission decides (whoever may replace an object may read
    // it); the extractor checked it for the type, this for the object.
    let current = find_visible(&state, &access, t, MdKey::Id(&path.object)).await?;
    require_update(&access, &current)?;
    let version = if_match(&headers)?;
    let checked = check(t, parse_body(&bytes)?, strict(&headers), &access.project.id)?;
    let updated = state
        .store
        .update_md(
            &access.caller.actor,
            &access.project.id,
            &current.id,
            version,
            author(&access),
            &checked.write(t),
        )
        .await
        .map_err(name_conflict)?;
    tracing::info!(project_id = %access.project.id, md_type = t.segment(), id = %updated.id, version = updated.version, "metadata updated");
    Ok(with_etag(&updated, true))
}

/// Deletes an object that nothing links to.
#[utoipa::path(delete, path = "/rest/projects/{projectId}/md/{mdType}/{object}", tag = "metadata",
    params(("projectId" = String, Path), ("mdType" = String, Path), ("object" = String, Path, description = "id")),
    responses((status = 204, description = "deleted")))]
async fn delete_object(
    State(state): State<AppState>,
    MdAccess { access, md_type: t, .. }: MdAccess<Delete>,
    Path(path): Path<ObjectPath>,
) -> ApiResult<StatusCode> {
    let current = find_visible(&state, &access, t, MdKey::Id(&path.object)).await?;
    require_delete(&access, &current)?;
    state
        .store
        .delete_md(&access.caller.actor, &access.project.id, t, &current.id)
        .await
        .map_err(name_conflict)?;
    tracing::info!(project_id = %access.project.id, md_type = t.segment(), id = %current.id, "metadata deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A whole set of objects to apply at once (Locus addition, used by `locus project push`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PushDto {
    /// Objects of any public types, each with its `type`.
    #[schema(value_type = Vec<Object>)]
    objects: Vec<Value>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PushResultDto {
    created: usize,
    updated: usize,
    unchanged: usize,
}

/// Validates a whole set of objects and applies it in one transaction, all or
/// nothing: each object is created, or replaces the object of its type and
/// name, or stays when identical. Objects may link to each other, in cycles
/// too (two datasets naming each other as foreign keys). A refusal
/// lists every problem, each named `{type}/{name}: {path}`. Needs
/// `md.create_all` and `md.update_all` (and `md.data_permissions.update` for
/// dataPermissions).
#[utoipa::path(post, path = "/rest/projects/{projectId}/md:push", tag = "metadata", params(("projectId" = String, Path)),
    request_body = PushDto, responses((status = 200, body = PushResultDto)))]
async fn push(
    State(state): State<AppState>,
    access: Authorized<need::MdCreateAll>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<PushDto>,
) -> ApiResult<axum::Json<PushResultDto>> {
    access.require(Permission::MdUpdateAll)?;
    let strict = strict(&headers);
    let limit = state.settings.md_push_max_objects;
    if body.objects.len() > limit {
        return Err(ApiError::bad_request(
            "objects",
            format!("a push carries at most {limit} objects (this one has {})", body.objects.len()),
        ));
    }
    let mut problems = Vec::new();
    let mut checked: Vec<(MdType, String, Checked)> = Vec::new();
    // Linear in the objects: each is looked up once in this set.
    let mut seen: std::collections::HashSet<(MdType, String)> = std::collections::HashSet::new();
    for (i, object) in body.objects.into_iter().enumerate() {
        let name = object.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(t) = object.get("type").and_then(Value::as_str).and_then(MdType::from_type_value) else {
            problems.push(Problem {
                path: format!("objects[{i}].type"),
                message: "must name a public metadata type (metric, view, …)".into(),
            });
            continue;
        };
        if t == MdType::DataPermissions {
            access.require(Permission::MdDataPermissionsUpdate)?;
        }
        let label = format!(
            "{}/{}",
            t.segment(),
            if name.is_empty() { format!("objects[{i}]") } else { name.clone() }
        );
        if !seen.insert((t, name.clone())) {
            problems.push(Problem {
                path: label.clone(),
                message: "appears twice".into(),
            });
            continue;
        }
        match check(t, object, strict, &access.project.id) {
            Ok(c) => checked.push((t, name, c)),
            Err(ApiError::Invalid(found)) => problems.extend(found.into_iter().map(|p| Problem {
                path: format!("{label}: {}", p.path),
                message: p.message,
            })),
            Err(other) => return Err(other),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    // In any order: the store resolves the links once every object is written.
    let writes: Vec<MdWrite<'_>> = checked.iter().map(|(t, _, c)| c.write(*t)).collect();
    let summary = state
        .store
        .push_md(&access.caller.actor, &access.project.id, author(&access), &writes)
        .await
        .map_err(|e| match e {
            StoreError::InObject { object, error } => {
                let (path, message) = match ApiError::from(*error) {
                    ApiError::BadRequest { message, field } | ApiError::Conflict { message, field } => {
                        (field.map_or(object.clone(), |f| format!("{object}: {f}")), message)
                    }
                    other => (object, other.public_message()),
                };
                ApiError::Invalid(vec![Problem { path, message }])
            }
            other => other.into(),
        })?;
    tracing::info!(project_id = %access.project.id, ?summary, "metadata pushed");
    Ok(axum::Json(PushResultDto {
        created: summary.created,
        updated: summary.updated,
        unchanged: summary.unchanged,
    }))
}

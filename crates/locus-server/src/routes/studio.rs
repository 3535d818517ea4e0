//! Studio actions and stories (Locus additions beside the contract's §9):
//! share a view state (`studio.share_link`), save a state as a personal or a
//! project view (`studio.save_personal_view`, `studio.save_project_view`),
//! show the data model (`studio.data_model`), private bookmarks
//! (`md.bookmarks.update`) and stories (`stories.view`, `stories.edit`).

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::metadata::{author, check, find_visible, if_match, object_dto, ObjectDto};
use crate::wire::{timestamp, Link, PageQuery, Paged};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use locus_core::metadata::{self, is_name, MdType};
use locus_core::Permission;
use locus_store::{Bookmark, MdKey, StoreError, Story};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_share))
        .routes(routes!(open_share))
        .routes(routes!(save_view))
        .routes(routes!(data_model))
        .routes(routes!(list_bookmarks, create_bookmark))
        .routes(routes!(get_bookmark, update_bookmark, delete_bookmark))
        .routes(routes!(list_stories, create_story))
        .routes(routes!(get_story, update_story, delete_story))
}

/// A view named by its name or id, visible to the caller.
async fn view_of<P>(state: &AppState, access: &Authorized<P>, view: &str) -> ApiResult<locus_store::MdObject> {
    match find_visible(state, access, MdType::Views, MdKey::IdOrName(view)).await {
        Err(ApiError::NotFound(_)) => Err(ApiError::bad_request("view", format!("there is no view {view:?} in this project"))),
        found => found,
    }
}

fn state_object(field: &str, state: Option<Value>) -> ApiResult<Value> {
    match state {
        None => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::bad_request(field.to_owned(), "must be an object")),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewShareDto {
    /// The view's name or id.
    view: String,
    /// The Studio state (map position, filters, selection…); any JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    state: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareDto {
    share_id: String,
    view: String,
    /// Where the share opens: the view with `?shareId=`.
    link: String,
    #[schema(value_type = Object)]
    state: Value,
    created_at: String,
}

fn share_dto(state: &AppState, s: &locus_store::Share) -> ShareDto {
    ShareDto {
        share_id: s.id.clone(),
        view: s.view_name.clone(),
        link: format!(
            "{}/projects/{}/views/{}?shareId={}",
            state.settings.public_url, s.project_id, s.view_name, s.id
        ),
        state: s.state.clone(),
        created_at: timestamp(s.created_at),
    }
}

/// Shares a state of a view with every member of the project. The share dies
/// when the view or anything under it (but datasets and exports) changes.
#[utoipa::path(post, path = "/rest/projects/{projectId}/shares", tag = "studio", params(("projectId" = String, Path)),
    request_body = NewShareDto, responses((status = 201, body = ShareDto)))]
async fn create_share(
    State(state): State<AppState>,
    access: Authorized<need::StudioShareLink>,
    Json(body): Json<NewShareDto>,
) -> ApiResult<(StatusCode, axum::Json<ShareDto>)> {
    let saved = state_object("state", body.state)?;
    let share = share_view(&state, &access, &body.view, &saved).await?;
    Ok((StatusCode::CREATED, axum::Json(share_dto(&state, &share))))
}

/// Shares `saved`, a state of `view` (name or id), for the API and the view page.
pub(crate) async fn share_view<P>(state: &AppState, access: &Authorized<P>, view: &str, saved: &Value) -> ApiResult<locus_store::Share> {
    let view = view_of(state, access, view).await?;
    Ok(state
        .store
        .create_share(&access.caller.actor, &access.project.id, &view.id, &access.caller.account.id, saved)
        .await?)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SharePath {
    share_id: String,
}

/// Opens a share: any member with project access may.
#[utoipa::path(get, path = "/rest/projects/{projectId}/shares/{shareId}", tag = "studio",
    params(("projectId" = String, Path), ("shareId" = String, Path)), responses((status = 200, body = ShareDto)))]
async fn open_share(
    State(state): State<AppState>,
    access: Authorized<need::ProjectAccess>,
    Path(path): Path<SharePath>,
) -> ApiResult<axum::Json<ShareDto>> {
    let share = state
        .store
        .share(&access.project.id, &path.share_id)
        .await?
        .ok_or(ApiError::NotFound("share (it ends when its view changes)"))?;
    // Only shares of views the caller may see (a public token may name its views).
    view_of(&state, &access, &share.view_id)
        .await
        .map_err(|_| ApiError::NotFound("share (it ends when its view changes)"))?;
    Ok(axum::Json(share_dto(&state, &share)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SaveViewDto {
    /// The new view (a ViewDTO: name, title, description, content).
    #[schema(value_type = Object)]
    view: Value,
    /// `personal` (the default) or `project`, which also appends it to projectSettings.defaultViews.
    #[serde(default)]
    scope: Option<String>,
}

/// Saves the current Studio state as a new view: personal (its creator's,
/// `studio.save_personal_view`) or a project view that every member sees
/// (`studio.save_project_view`; appended to projectSettings.defaultViews in
/// the same transaction).
#[utoipa::path(post, path = "/rest/projects/{projectId}/savedViews", tag = "studio", params(("projectId" = String, Path)),
    request_body = SaveViewDto, responses((status = 201, description = "the new view", body = Object)))]
async fn save_view(
    State(state): State<AppState>,
    access: Authorized<need::ProjectDetail>,
    Json(body): Json<SaveViewDto>,
) -> ApiResult<(StatusCode, axum::Json<ObjectDto>)> {
    let created = save_as_view(&state, &access, body.view, body.scope.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(object_dto(&created, true))))
}

/// Saves `view` (a ViewDTO) as a new personal or (`scope: project`) project
/// view, for the API and the view page.
pub(crate) async fn save_as_view<P>(
    state: &AppState,
    access: &Authorized<P>,
    view: Value,
    scope: Option<&str>,
) -> ApiResult<locus_store::MdObject> {
    let project_view = match scope.unwrap_or("personal") {
        "personal" => false,
        "project" => true,
        _ => return Err(ApiError::bad_request("scope", "must be personal or project")),
    };
    access.require(if project_view {
        Permission::StudioSaveProjectView
    } else {
        Permission::StudioSavePersonalView
    })?;
    let checked = check(MdType::Views, view, false, &access.project.id)?;
    state
        .store
        .save_view(
            &access.caller.actor,
            &access.project.id,
            author(access),
            &checked.write(MdType::Views),
            project_view,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict("name") => ApiError::Conflict {
                message: "another view has that name".into(),
                field: Some("view.name".into()),
            },
            StoreError::NotFound => ApiError::Conflict {
                message: "a project view needs the project's projectSettings; create them first".into(),
                field: None,
            },
            other => other.into(),
        })
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataModelDataset {
    id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// `dwh`, `vt` or `h3Grid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ref_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataModelLink {
    /// The dataset holding the property.
    from: String,
    property: Option<String>,
    /// The dataset it points to.
    to: String,
    /// `foreignKey` or `geometry`.
    kind: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataModelDto {
    datasets: Vec<DataModelDataset>,
    links: Vec<DataModelLink>,
}

/// The project's data model as a graph: its datasets, and the links their
/// properties make to other datasets (foreign keys and geometries).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dataModel", tag = "studio", params(("projectId" = String, Path)),
    responses((status = 200, body = DataModelDto)))]
async fn data_model(State(state): State<AppState>, access: Authorized<need::StudioDataModel>) -> ApiResult<axum::Json<DataModelDto>> {
    let found = state.store.md_all(&access.project.id, Some(MdType::Datasets)).await?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut datasets = Vec::with_capacity(found.len());
    let mut links = Vec::new();
    for d in &found {
        let reference = d.body_json()?.get("ref").cloned().unwrap_or(Value::Null);
        if let Some(to) = text(&reference, "geometry") {
            links.push(DataModelLink {
                from: d.name.clone(),
                property: None,
                to,
                kind: "geometry",
            });
        }
        for property in reference.get("properties").and_then(Value::as_array).into_iter().flatten() {
            for kind in ["foreignKey", "geometry"] {
                if let Some(to) = text(property, kind) {
                    links.push(DataModelLink {
                        from: d.name.clone(),
                        property: text(property, "name"),
                        to,
                        kind,
                    });
                }
            }
        }
        datasets.push(DataModelDataset {
            id: d.id.clone(),
            name: d.name.clone(),
            title: d.title.clone(),
            ref_type: text(&reference, "type"),
            subtype: text(&reference, "subtype"),
            primary_key: text(&reference, "primaryKey"),
        });
    }
    Ok(axum::Json(DataModelDto { datasets, links }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct BookmarkInput {
    /// `^[a-z][a-z0-9_-]*$`, unique among the caller's bookmarks in the project.
    pub(crate) name: String,
    pub(crate) title: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(crate) state: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BookmarkDto {
    id: String,
    name: String,
    title: String,
    #[schema(value_type = Object)]
    state: Value,
    created_at: String,
    modified_at: String,
    links: Vec<Link>,
}

fn bookmark_dto(b: &Bookmark) -> BookmarkDto {
    BookmarkDto {
        id: b.id.clone(),
        name: b.name.clone(),
        title: b.title.clone(),
        state: b.state.clone(),
        created_at: timestamp(b.created_at),
        modified_at: timestamp(b.modified_at),
        links: Link::this(format!("/rest/projects/{}/bookmarks/{}", b.project_id, b.id)),
    }
}

fn bookmark_fields(b: &BookmarkInput) -> ApiResult<()> {
    if !is_name(&b.name) {
        return Err(ApiError::bad_request("name", "must match ^[a-z][a-z0-9_-]*$"));
    }
    if !(1..=255).contains(&b.title.chars().count()) {
        return Err(ApiError::bad_request("title", "must be 1 to 255 characters"));
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookmarkListDto {
    content: Vec<BookmarkDto>,
}

/// The caller's own bookmarks in the project.
#[utoipa::path(get, path = "/rest/projects/{projectId}/bookmarks", tag = "studio", params(("projectId" = String, Path)),
    responses((status = 200, body = BookmarkListDto)))]
async fn list_bookmarks(
    State(state): State<AppState>,
    access: Authorized<need::MdBookmarksUpdate>,
) -> ApiResult<axum::Json<BookmarkListDto>> {
    let found = state.store.bookmarks(&access.project.id, &access.caller.account.id).await?;
    Ok(axum::Json(BookmarkListDto {
        content: found.iter().map(bookmark_dto).collect(),
    }))
}

#[utoipa::path(post, path = "/rest/projects/{projectId}/bookmarks", tag = "studio", params(("projectId" = String, Path)),
    request_body = BookmarkInput, responses((status = 201, body = BookmarkDto)))]
async fn create_bookmark(
    State(state): State<AppState>,
    access: Authorized<need::MdBookmarksUpdate>,
    Json(body): Json<BookmarkInput>,
) -> ApiResult<(StatusCode, axum::Json<BookmarkDto>)> {
    let saved = state_object("state", body.state.clone())?;
    let created = bookmark(&state, &access, &body, &saved).await?;
    Ok((StatusCode::CREATED, axum::Json(bookmark_dto(&created))))
}

/// Saves a private bookmark of the caller's, for the API and the view page.
pub(crate) async fn bookmark<P>(state: &AppState, access: &Authorized<P>, body: &BookmarkInput, saved: &Value) -> ApiResult<Bookmark> {
    bookmark_fields(body)?;
    state
        .store
        .create_bookmark(
            &access.caller.actor,
            &access.project.id,
            &access.caller.account.id,
            &body.name,
            &body.title,
            saved,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict {
                message: "you have a bookmark with that name already".into(),
                field: Some("name".into()),
            },
            other => other.into(),
        })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookmarkPath {
    bookmark_id: String,
}

#[utoipa::path(get, path = "/rest/projects/{projectId}/bookmarks/{bookmarkId}", tag = "studio",
    params(("projectId" = String, Path), ("bookmarkId" = String, Path)), responses((status = 200, body = BookmarkDto)))]
async fn get_bookmark(
    State(state): State<AppState>,
    access: Authorized<need::MdBookmarksUpdate>,
    Path(path): Path<BookmarkPath>,
) -> ApiResult<axum::Json<BookmarkDto>> {
    let found = state
        .store
        .bookmark(&access.project.id, &access.caller.account.id, &path.bookmark_id)
        .await?
        .ok_or(ApiError::NotFound("bookmark"))?;
    Ok(axum::Json(bookmark_dto(&found)))
}

/// Replaces a bookmark's title and state (its name stays).
#[utoipa::path(put, path = "/rest/projects/{projectId}/bookmarks/{bookmarkId}", tag = "studio",
    params(("projectId" = String, Path), ("bookmarkId" = String, Path)), request_body = BookmarkInput, responses((status = 200, body = BookmarkDto)))]
async fn update_bookmark(
    State(state): State<AppState>,
    access: Authorized<need::MdBookmarksUpdate>,
    Path(path): Path<BookmarkPath>,
    Json(body): Json<BookmarkInput>,
) -> ApiResult<axum::Json<BookmarkDto>> {
    bookmark_fields(&body)?;
    let saved = state_object("state", body.state)?;
    let updated = state
        .store
        .update_bookmark(
            &access.caller.actor,
            &access.project.id,
            &access.caller.account.id,
            &path.bookmark_id,
            &body.title,
            &saved,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("bookmark"),
            other => other.into(),
        })?;
    Ok(axum::Json(bookmark_dto(&updated)))
}

#[utoipa::path(delete, path = "/rest/projects/{projectId}/bookmarks/{bookmarkId}", tag = "studio",
    params(("projectId" = String, Path), ("bookmarkId" = String, Path)), responses((status = 204, description = "deleted")))]
async fn delete_bookmark(
    State(state): State<AppState>,
    access: Authorized<need::MdBookmarksUpdate>,
    Path(path): Path<BookmarkPath>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_bookmark(
            &access.caller.actor,
            &access.project.id,
            &access.caller.account.id,
            &path.bookmark_id,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("bookmark"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// A story: a title, a description, and blocks in order, each `{"type":
/// "text", "text": …}` or `{"type": "view", "view": <view name or link>,
/// "state": {…}}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StoryInput {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    blocks: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoryDto {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[schema(value_type = Vec<Object>)]
    blocks: Value,
    version: i64,
    #[schema(value_type = Object)]
    access_info: Value,
    links: Vec<Link>,
}

/// `authors`: whether `accessInfo` names the story's authors (their e-mails);
/// never for a public visitor.
fn story_dto(s: &Story, authors: bool) -> StoryDto {
    let access_info = if authors {
        json!({"createdAt": timestamp(s.created_at), "createdBy": s.created_by,
            "modifiedAt": timestamp(s.modified_at), "modifiedBy": s.modified_by})
    } else {
        json!({"createdAt": timestamp(s.created_at), "modifiedAt": timestamp(s.modified_at)})
    };
    StoryDto {
        id: s.id.clone(),
        title: s.title.clone(),
        description: s.description.clone(),
        blocks: s.blocks.clone(),
        version: s.version,
        access_info,
        links: Link::this(format!("/rest/projects/{}/stories/{}", s.project_id, s.id)),
    }
}

fn story_response(s: &Story, status: StatusCode, authors: bool) -> Response {
    let mut response = (status, axum::Json(story_dto(s, authors))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", s.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Checks a story's fields; each view block must name a view the caller sees.
async fn story_fields<P>(state: &AppState, access: &Authorized<P>, s: &StoryInput) -> ApiResult<Value> {
    if !(1..=255).contains(&s.title.chars().count()) {
        return Err(ApiError::bad_request("title", "must be 1 to 255 characters"));
    }
    if s.description.as_ref().is_some_and(|d| d.chars().count() > 2000) {
        return Err(ApiError::bad_request("description", "must be at most 2000 characters"));
    }
    for (i, block) in s.blocks.iter().enumerate() {
        let at = |key: &str| format!("blocks[{i}]{key}");
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if !block.get("text").is_some_and(Value::is_string) {
                    return Err(ApiError::bad_request(at(".text"), "a text block needs its text"));
                }
            }
            Some("view") => {
                let view = block
                    .get("view")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request(at(".view"), "a view block names its view"))?;
                // A view's name or id, or a metadata link to it.
                let key = if view.starts_with("/rest/") {
                    match metadata::parse_link(view, &access.project.id, &at(".view")) {
                        Ok(metadata::MdLink {
                            md_type: MdType::Views,
                            target: metadata::LinkTarget::Name(k) | metadata::LinkTarget::Id(k),
                            ..
                        }) => k,
                        Ok(_) => return Err(ApiError::bad_request(at(".view"), "must link to a view")),
                        Err(message) => return Err(ApiError::bad_request(at(".view"), message)),
                    }
                } else {
                    view.to_owned()
                };
                view_of(state, access, &key)
                    .await
                    .map_err(|_| ApiError::bad_request(at(".view"), format!("there is no view {view:?}")))?;
                if block.get("state").is_some_and(|st| !st.is_object()) {
                    return Err(ApiError::bad_request(at(".state"), "must be an object"));
                }
            }
            _ => return Err(ApiError::bad_request(at(".type"), "must be text or view")),
        }
    }
    Ok(Value::Array(s.blocks.clone()))
}

/// A public token that names its views shows no stories: a story may show
/// any view of the project.
fn hides_stories<P>(access: &Authorized<P>) -> bool {
    access.public.as_ref().is_some_and(|g| g.restricted)
}

#[utoipa::path(get, path = "/rest/projects/{projectId}/stories", tag = "stories", params(("projectId" = String, Path), PageQuery),
    responses((status = 200, body = Paged<StoryDto>)))]
async fn list_stories(
    State(state): State<AppState>,
    access: Authorized<need::StoriesView>,
    uri: Uri,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<Paged<StoryDto>>> {
    let request = paging.request_unsorted()?;
    if hides_stories(&access) {
        return Ok(axum::Json(Paged::new(Vec::new(), 0, request, &uri)));
    }
    let page = state.store.stories(&access.project.id, request).await?;
    let authors = !access.is_public();
    Ok(axum::Json(Paged::new(
        page.items.iter().map(|s| story_dto(s, authors)).collect(),
        page.total,
        request,
        &uri,
    )))
}

#[utoipa::path(post, path = "/rest/projects/{projectId}/stories", tag = "stories", params(("projectId" = String, Path)),
    request_body = StoryInput, responses((status = 201, body = StoryDto)))]
async fn create_story(
    State(state): State<AppState>,
    access: Authorized<need::StoriesEdit>,
    Json(body): Json<StoryInput>,
) -> ApiResult<Response> {
    let blocks = story_fields(&state, &access, &body).await?;
    let created = state
        .store
        .create_story(
            &access.caller.actor,
            &access.project.id,
            author(&access),
            &body.title,
            body.description.as_deref(),
            &blocks,
        )
        .await?;
    Ok(story_response(&created, StatusCode::CREATED, true))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoryPath {
    story_id: String,
}

#[utoipa::path(get, path = "/rest/projects/{projectId}/stories/{storyId}", tag = "stories",
    params(("projectId" = String, Path), ("storyId" = String, Path)), responses((status = 200, body = StoryDto)))]
async fn get_story(
    State(state): State<AppState>,
    access: Authorized<need::StoriesView>,
    Path(path): Path<StoryPath>,
) -> ApiResult<Response> {
    let story = state
        .store
        .story(&access.project.id, &path.story_id)
        .await?
        .filter(|_| !hides_stories(&access))
        .ok_or(ApiError::NotFound("story"))?;
    Ok(story_response(&story, StatusCode::OK, !access.is_public()))
}

/// Replaces a story, if `If-Match` names its current version.
#[utoipa::path(put, path = "/rest/projects/{projectId}/stories/{storyId}", tag = "stories",
    params(("projectId" = String, Path), ("storyId" = String, Path), ("If-Match" = String, Header)), request_body = StoryInput,
    responses((status = 200, body = StoryDto)))]
async fn update_story(
    State(state): State<AppState>,
    access: Authorized<need::StoriesEdit>,
    Path(path): Path<StoryPath>,
    headers: HeaderMap,
    Json(body): Json<StoryInput>,
) -> ApiResult<Response> {
    let version = if_match(&headers)?;
    let blocks = story_fields(&state, &access, &body).await?;
    let updated = state
        .store
        .update_story(
            &access.caller.actor,
            &access.project.id,
            &path.story_id,
            version,
            author(&access),
            &body.title,
            body.description.as_deref(),
            &blocks,
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("story"),
            other => other.into(),
        })?;
    Ok(story_response(&updated, StatusCode::OK, true))
}

#[utoipa::path(delete, path = "/rest/projects/{projectId}/stories/{storyId}", tag = "stories",
    params(("projectId" = String, Path), ("storyId" = String, Path)), responses((status = 204, description = "deleted")))]
async fn delete_story(
    State(state): State<AppState>,
    access: Authorized<need::StoriesEdit>,
    Path(path): Path<StoryPath>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_story(&access.caller.actor, &access.project.id, &path.story_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("story"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

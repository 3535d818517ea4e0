//! DWH queries (api-contract.md §10): queries, property values, metric
//! ranges, available datasets and explain, under
//! `/rest/projects/{projectId}/dwh/{clusterId}/`.
//!
//! A POST checks the query (400 naming the JSON path of a wrong node),
//! starts computing it and answers 202 with a `Location`; a GET of that
//! location waits up to 30 s for the result (long poll), so the official
//! client, which retries a 404 every 5 s, never has to. Results are kept 10
//! minutes, keyed by everything that can change them: the request, the
//! project's metadata versions, the current data versions and the caller's
//! data-permission filters. A repeated query is answered from that cache; a
//! new load, a metadata change or a permission change makes a new key.
//!
//! Every read is filtered by the dataPermissions objects that target the
//! caller (by account id or e-mail), all combined with AND.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use locus_core::metadata::MdType;
use locus_data::query::ast::{Filter, Request};
use locus_data::query::{Engine, Model, QueryError, QueryOutput, Snapshot};
use locus_data::StorePath;
use locus_store::MdKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::access::{need, Authorized};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::wire::{Link, Paged};
use crate::AppState;

/// How long a result is kept.
pub(crate) const RESULT_TTL: Duration = Duration::from_secs(600);
/// How long a GET waits for a result still being computed.
const LONG_POLL: Duration = Duration::from_secs(30);
/// The largest page of rows.
const MAX_ROWS_PAGE: i64 = 20_000;

/// The title property of a dataset (`properties.featureTitle`, a property
/// name or `{value: name}`), else a `name` or `title` property, else none.
pub(crate) fn title_property(dataset: &Value) -> Option<String> {
    let given = dataset.pointer("/properties/featureTitle");
    let named = given
        .and_then(Value::as_str)
        .or_else(|| given.and_then(|g| g.get("value")).and_then(Value::as_str))
        .map(|s| s.rsplit('.').next().unwrap_or(s).to_owned());
    let props = dataset
        .pointer("/ref/properties")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |n: &str| props.iter().any(|p| p.get("name").and_then(Value::as_str) == Some(n));
    named
        .filter(|n| has(n))
        .or_else(|| ["name", "title"].into_iter().find(|n| has(n)).map(str::to_owned))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_query))
        .routes(routes!(get_query))
        .routes(routes!(post_property_values))
        .routes(routes!(get_property_values))
        .routes(routes!(post_metric_ranges))
        .routes(routes!(get_metric_ranges))
        .routes(routes!(post_distributions))
        .routes(routes!(get_distributions))
        .routes(routes!(post_date_ranges))
        .routes(routes!(get_date_ranges))
        .routes(routes!(post_overlaps))
        .routes(routes!(get_overlaps))
        .routes(routes!(available_datasets))
        .routes(routes!(explain))
        .routes(routes!(search))
}

/// What a computation ended with.
#[derive(Debug)]
enum Outcome {
    Rows(QueryOutput),
    Values(Vec<Value>),
    Ranges(Vec<Value>),
    /// A value distribution's buckets, a date property's ranges or two
    /// objects' overlaps.
    Content(Vec<Value>),
    Failed {
        status: StatusCode,
        message: String,
        field: Option<String>,
    },
}

struct Slot {
    project_id: String,
    /// Whose data permissions it was computed with (see [`permission_key`]).
    permission_key: String,
    created: Instant,
    done: watch::Receiver<Option<Arc<Outcome>>>,
}

/// Results being computed or kept, by id; one per process.
#[derive(Default)]
pub struct Results {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Results {
    /// A fresh result of the project computed under the same permissions.
    fn get(&self, id: &str, project_id: &str, permission_key: &str) -> Option<Arc<Slot>> {
        let slots = self.slots.lock().ok()?;
        slots
            .get(id)
            .filter(|s| s.project_id == project_id && s.permission_key == permission_key && s.created.elapsed() < RESULT_TTL)
            .cloned()
    }

    /// The slot of `id`, started with `compute` unless one is fresh.
    fn start<F>(&self, id: &str, project_id: &str, permission_key: &str, compute: F)
    where
        F: std::future::Future<Output = Outcome> + Send + 'static,
    {
        let Ok(mut slots) = self.slots.lock() else { return };
        slots.retain(|_, s| s.created.elapsed() < RESULT_TTL);
        // A failed computation is tried again; a good one is reused.
        if slots.get(id).is_some_and(|s| !s.failed()) {
            return;
        }
        let (tx, rx) = watch::channel(None);
        slots.insert(
            id.to_owned(),
            Arc::new(Slot {
                project_id: project_id.to_owned(),
                permission_key: permission_key.to_owned(),
                created: Instant::now(),
                done: rx,
            }),
        );
        tokio::spawn(async move {
            let outcome = compute.await;
            let _ = tx.send(Some(Arc::new(outcome)));
        });
    }
}

impl Slot {
    /// Whether the computation ended in a failure (then it is tried again).
    fn failed(&self) -> bool {
        matches!(self.done.borrow().as_deref(), Some(Outcome::Failed { .. }))
    }

    /// The outcome, waiting up to the long-poll time; `None` if still running.
    async fn wait(&self) -> Option<Arc<Outcome>> {
        let mut rx = self.done.clone();
        let ready = tokio::time::timeout(LONG_POLL, rx.wait_for(Option::is_some)).await;
        match ready {
            Ok(Ok(value)) => value.clone(),
            _ => None,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid { path, message } => {
                ApiError::bad_request(if path.is_empty() { "query".to_owned() } else { path }, message)
            }
            QueryError::NoData(_) | QueryError::Timeout(_) | QueryError::Resources(_) => ApiError::bad_request("query", e.to_string()),
            QueryError::Internal(m) => ApiError::Internal(anyhow::anyhow!(m)),
        }
    }
}

fn failed(e: QueryError) -> Outcome {
    match ApiError::from(e) {
        ApiError::BadRequest { message, field } => Outcome::Failed {
            status: StatusCode::BAD_REQUEST,
            message,
            field,
        },
        other => {
            tracing::error!(error = %other, "query failed");
            Outcome::Failed {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "the query failed on the server".to_owned(),
                field: None,
            }
        }
    }
}

/// What a query reads, with a fingerprint of everything that changes results.
pub(crate) struct Context {
    pub snapshot: Snapshot,
    /// The caller's data-permission filters as sent (each object's `filters`).
    pub permissions: Vec<Value>,
    /// The same, parsed against the model: what every read of rows applies.
    pub filters: Vec<Filter>,
    permission_key: String,
    fingerprint: String,
}

impl Context {
    /// What identifies everything a read under this context depends on:
    /// the model, the data versions and the caller's permissions.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Parses a DwhQueryRequest against the project's model.
    pub fn request(&self, body: &Value) -> Result<Request, QueryError> {
        Engine::parse_request(&self.snapshot.model, body)
    }
}

/// Loads the project's model, current versions and the caller's permissions
/// (a permission that no longer fits the model is a 400 for the caller).
pub(crate) async fn context(state: &AppState, project_id: &str, account: &locus_store::Account) -> ApiResult<Context> {
    let mut hasher = Sha256::new();
    let datasets = state.store.md_all(project_id, Some(MdType::Datasets)).await?;
    let mut defs = Vec::new();
    for o in &datasets {
        let body = o.body_json()?;
        hasher.update(format!("d:{}:{};", o.id, o.version));
        if body.pointer("/ref/type").and_then(Value::as_str) != Some("dwh") {
            continue;
        }
        let reference = body.get("ref").cloned().unwrap_or(Value::Null);
        if let Ok(def) = locus_data::DatasetDef::from_metadata(&o.name, &reference) {
            defs.push(def);
        }
    }
    let mut model = Model::new(defs);
    for o in state.store.md_all(project_id, Some(MdType::Metrics)).await? {
        hasher.update(format!("m:{}:{};", o.id, o.version));
        let body = o.body_json()?;
        model.add_metric(&o.id, &o.name, body.get("content").cloned().unwrap_or(Value::Null));
    }
    let mut versions = HashMap::new();
    for v in state.store.current_versions(project_id).await? {
        hasher.update(format!("v:{}:{};", v.dataset, v.version_id));
        versions.insert(v.dataset.clone(), StorePath::from(v.path.as_str()));
    }
    let permissions = permissions_of(state, project_id, account).await?;
    let permission_key = permission_key_of(&permissions);
    hasher.update(&permission_key);
    let filters = locus_data::query::parse_permissions(&model, &permissions)?;
    Ok(Context {
        snapshot: Snapshot { model, versions },
        permissions,
        filters,
        permission_key,
        fingerprint: hex(&hasher.finalize()),
    })
}

/// The filters of every dataPermissions object targeting the account (by id
/// or e-mail), in a stable order.
async fn permissions_of(state: &AppState, project_id: &str, account: &locus_store::Account) -> ApiResult<Vec<Value>> {
    let mut permissions = Vec::new();
    for o in state.store.md_all(project_id, Some(MdType::DataPermissions)).await? {
        let body = o.body_json()?;
        let content = body.get("content").cloned().unwrap_or(Value::Null);
        let targets_me = content.get("accountId").and_then(Value::as_str) == Some(account.id.as_str())
            || content
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(&account.email));
        if targets_me {
            permissions.push(content.get("filters").cloned().unwrap_or(Value::Array(Vec::new())));
        }
    }
    Ok(permissions)
}

/// A digest of the permission filters a result was computed under: a result
/// is served only to callers with the same filters.
fn permission_key_of(permissions: &[Value]) -> String {
    hex(&Sha256::digest(Value::Array(permissions.to_vec()).to_string().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A result id: what is asked, by whom (permissions), over which versions.
fn result_id(kind: &str, context: &Context, request: &Value) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(context.fingerprint.as_bytes());
    h.update(request.to_string().as_bytes());
    format!("{}:{}", &kind[..1], &hex(&h.finalize())[..40])
}

/// What a result id computes, checked before it starts.
enum Work {
    Query(Request),
    Values {
        property: String,
        filter: Option<String>,
        descending: bool,
    },
    Ranges(Request),
    Histogram(locus_data::query::profile::Distribution),
    Dates(locus_data::query::profile::DateRanges),
    Overlaps(locus_data::query::overlaps::Overlaps),
}

/// The kinds of result: `query`, `values` (property values), `ranges`,
/// `histogram` (a value distribution), `dates` (date ranges), `overlaps`.
fn prepare(kind: &str, context: &Context, body: &Value) -> ApiResult<Work> {
    let model = &context.snapshot.model;
    Ok(match kind {
        "query" => Work::Query(context.request(body)?),
        "ranges" => Work::Ranges(context.request(body)?),
        "histogram" => Work::Histogram(locus_data::query::profile::Distribution::read(&context.snapshot, body)?),
        "dates" => Work::Dates(locus_data::query::profile::DateRanges::read(&context.snapshot, body)?),
        "overlaps" => Work::Overlaps(locus_data::query::overlaps::Overlaps::read(&context.snapshot, body)?),
        "values" => {
            let property = body.get("property").and_then(Value::as_str).unwrap_or_default().to_owned();
            model.property(&property).map_err(|m| ApiError::bad_request("property", m))?;
            Work::Values {
                property,
                filter: body.get("filter").and_then(Value::as_str).map(str::to_owned),
                descending: body.get("desc").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        other => return Err(ApiError::Internal(anyhow::anyhow!("unknown DWH result kind {other}"))),
    })
}

/// Checks a request, remembers it in the store (so that any instance can
/// answer its GET) and starts computing it; answers its result id.
async fn begin(state: &AppState, project_id: &str, kind: &str, context: Context, body: &Value) -> ApiResult<String> {
    let work = prepare(kind, &context, body)?;
    let id = result_id(kind, &context, body);
    // A result this instance holds was recorded when it was asked first (its
    // id is its content): a repeated question writes nothing.
    let held = state
        .results
        .get(&id, project_id, &context.permission_key)
        .is_some_and(|slot| !slot.failed());
    if !held {
        state
            .store
            .put_dwh_request(project_id, &id, kind, &body.to_string(), locus_store::now_millis())
            .await?;
    }
    run(state, project_id, &id, context, work);
    Ok(id)
}

fn run(state: &AppState, project_id: &str, id: &str, context: Context, work: Work) {
    let engine = state.engine.clone();
    let data = state.data.clone();
    let key = context.permission_key.clone();
    state.results.start(id, project_id, &key, async move {
        let (snapshot, perms) = (&context.snapshot, &context.filters);
        let result = match work {
            Work::Query(request) => engine.query(&data, snapshot, &request, perms).await.map(Outcome::Rows),
            Work::Ranges(request) => engine
                .query(&data, snapshot, &request, perms)
                .await
                .map(|out| Outcome::Ranges(ranges(&out))),
            Work::Histogram(d) => engine.distribution(&data, snapshot, &d, perms).await.map(Outcome::Content),
            Work::Dates(r) => engine.date_ranges(&data, snapshot, &r, perms).await.map(Outcome::Content),
            Work::Overlaps(o) => engine.overlaps(&data, snapshot, &o, perms).await.map(Outcome::Content),
            Work::Values {
                property,
                filter,
                descending,
            } => engine
                .property_values(&data, snapshot, &property, filter.as_deref(), descending, perms)
                .await
                .map(Outcome::Values),
        };
        result.unwrap_or_else(failed)
    });
}

/// A result this instance does not hold: computed again from the request
/// another instance stored, if the caller would get the very same id (same
/// data versions, metadata and permissions).
async fn recover<P>(state: &AppState, access: &Authorized<P>, id: &str) -> ApiResult<Option<Arc<Slot>>> {
    let Some((kind, body)) = state.store.dwh_request(&access.project.id, id).await? else {
        return Ok(None);
    };
    let body: Value = serde_json::from_str(&body).map_err(anyhow::Error::from)?;
    let context = load_context(state, access).await?;
    if result_id(&kind, &context, &body) != id {
        return Ok(None);
    }
    let work = prepare(&kind, &context, &body)?;
    let key = context.permission_key.clone();
    run(state, &access.project.id, id, context, work);
    Ok(state.results.get(id, &access.project.id, &key))
}

async fn load_context<P>(state: &AppState, access: &Authorized<P>) -> ApiResult<Context> {
    context(state, &access.project.id, &access.caller.account).await
}

fn check_cluster<P>(access: &Authorized<P>, cluster: &str) -> ApiResult<()> {
    if cluster == access.project.dwh_cluster_id {
        Ok(())
    } else {
        Err(ApiError::NotFound("DWH cluster"))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostPage {
    /// Rows per page of the result (1 to 20000, default 200); remembered for the GET.
    pub size: Option<i64>,
    pub page: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDetail {
    double_counting_warnings: Vec<Value>,
    dwh_query_metric_names: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueriesResponse {
    execution_detail: ExecutionDetail,
}

fn accepted(location: String, metrics: Vec<String>) -> Response {
    let body = QueriesResponse {
        execution_detail: ExecutionDetail {
            double_counting_warnings: Vec::new(),
            dwh_query_metric_names: metrics,
        },
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn metric_names(body: &Value) -> Vec<String> {
    body.get("properties")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("metric").and_then(Value::as_str))
                .filter_map(|l| l.rsplit(['=', '/']).next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The result's location, carrying the POST's `page` and `size` to the GET.
fn location(path: String, page: Option<i64>, size: Option<i64>) -> ApiResult<String> {
    let mut query = Vec::new();
    match page {
        None => {}
        Some(p) if (0..=MAX_PAGE).contains(&p) => query.push(format!("page={p}")),
        Some(_) => return Err(ApiError::bad_request("page", format!("must be 0 to {MAX_PAGE}"))),
    }
    match size {
        None => {}
        Some(s) if (1..=MAX_ROWS_PAGE).contains(&s) => query.push(format!("size={s}")),
        Some(_) => return Err(ApiError::bad_request("size", format!("must be 1 to {MAX_ROWS_PAGE}"))),
    }
    Ok(if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    })
}

/// Runs a DWH query: 202 and a `Location` where its rows are read.
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/queries", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), PostPage),
    request_body = Object, responses((status = 202, body = QueriesResponse)))]
async fn post_query(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Query(page): Query<PostPage>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let (pid, cluster) = ids;
    check_cluster(&access, &cluster)?;
    let context = load_context(&state, &access).await?;
    location(String::new(), page.page, page.size)?;
    let id = begin(&state, &access.project.id, "query", context, &body).await?;
    let location = location(format!("/rest/projects/{pid}/dwh/{cluster}/queries/{id}"), page.page, page.size)?;
    Ok(accepted(location, metric_names(&body)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetPage {
    pub page: Option<i64>,
    /// Rows per page (1 to 20000, default 100).
    pub size: Option<i64>,
}

impl GetPage {
    fn request(&self, default_size: i64) -> ApiResult<locus_store::PageRequest> {
        page_request(self.page, self.size, default_size, MAX_ROWS_PAGE)
    }
}

/// The highest page index accepted (as for every other paged list).
const MAX_PAGE: i64 = 1_000_000;

/// `page` (0 to 1,000,000, default 0) and `size` (1 to `max_size`).
fn page_request(page: Option<i64>, size: Option<i64>, default_size: i64, max_size: i64) -> ApiResult<locus_store::PageRequest> {
    let page = page.unwrap_or(0);
    let size = size.unwrap_or(default_size);
    if !(0..=MAX_PAGE).contains(&page) {
        return Err(ApiError::bad_request("page", format!("must be 0 to {MAX_PAGE}")));
    }
    if !(1..=max_size).contains(&size) {
        return Err(ApiError::bad_request("size", format!("must be 1 to {max_size}")));
    }
    Ok(locus_store::PageRequest { page, size })
}

/// One row of a result: `{content: {columnId: value}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryRow {
    #[schema(value_type = Object)]
    content: Map<String, Value>,
}

/// The outcome of a result id, waiting for it; 404 while computing or unknown.
async fn outcome<P>(state: &AppState, access: &Authorized<P>, id: &str) -> ApiResult<Arc<Outcome>> {
    let mine = permission_key_of(&permissions_of(state, &access.project.id, &access.caller.account).await?);
    let slot = match state.results.get(id, &access.project.id, &mine) {
        Some(slot) => slot,
        None => recover(state, access, id)
            .await?
            .ok_or(ApiError::NotFound("result (results are kept 10 minutes)"))?,
    };
    let outcome = slot.wait().await.ok_or(ApiError::NotFound("result (still computing; ask again)"))?;
    if let Outcome::Failed { status, message, field } = outcome.as_ref() {
        return Err(if *status == StatusCode::BAD_REQUEST {
            ApiError::BadRequest {
                message: message.clone(),
                field: field.clone(),
            }
        } else {
            ApiError::Internal(anyhow::anyhow!(message.clone()))
        });
    }
    Ok(outcome)
}

fn page_of<T: Clone>(items: &[T], request: locus_store::PageRequest) -> Vec<T> {
    let start = usize::try_from(request.page.saturating_mul(request.size)).unwrap_or(usize::MAX);
    let size = usize::try_from(request.size).unwrap_or(0);
    items.iter().skip(start).take(size).cloned().collect()
}

/// A page of a query's rows (long-polls up to 30 s while it computes).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/{clusterId}/queries/{resultId}", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ("resultId" = String, Path), GetPage),
    responses((status = 200, body = Paged<QueryRow>), (status = 404, description = "unknown, expired or still computing")))]
async fn get_query(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String, String)>,
    Query(page): Query<GetPage>,
    uri: Uri,
) -> ApiResult<axum::Json<Paged<QueryRow>>> {
    let (_, cluster, id) = ids;
    check_cluster(&access, &cluster)?;
    let request = page.request(100)?;
    let outcome = outcome(&state, &access, &id).await?;
    let Outcome::Rows(out) = outcome.as_ref() else {
        return Err(ApiError::NotFound("query result"));
    };
    let rows: Vec<QueryRow> = page_of(&out.rows, request)
        .into_iter()
        .map(|content| QueryRow { content })
        .collect();
    Ok(axum::Json(Paged::new(rows, out.rows.len() as i64, request, &uri)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValuesQuery {
    /// `dataset.property` (also accepted in the body).
    pub property: Option<String>,
    /// A case-insensitive substring the values must contain.
    pub filter: Option<String>,
    /// `asc` (default) or `desc` (also `value,desc`).
    pub sort: Option<String>,
    pub size: Option<i64>,
    pub page: Option<i64>,
}

/// Starts listing the distinct values of a property (202 + `Location`).
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/propertyValues", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ValuesQuery),
    request_body = Option<Object>, responses((status = 202, body = QueriesResponse)))]
async fn post_property_values(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Query(q): Query<ValuesQuery>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (pid, cluster) = ids;
    check_cluster(&access, &cluster)?;
    // The official client sends the property in the query string and an
    // empty body; the generated one sends it in a JSON body.
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("body", format!("not JSON: {e}")))?
    };
    let from_body = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let property = q
        .property
        .clone()
        .or_else(|| from_body("property"))
        .ok_or_else(|| ApiError::bad_request("property", "a property \"dataset.property\" is required (query string or body)"))?;
    let filter = q.filter.clone().or_else(|| from_body("filter"));
    let descending = match q.sort.as_deref().map(|s| s.rsplit(',').next().unwrap_or(s).to_ascii_lowercase()) {
        None => false,
        Some(s) if s == "asc" || s.is_empty() => false,
        Some(s) if s == "desc" => true,
        Some(_) => return Err(ApiError::bad_request("sort", "asc or desc")),
    };
    location(String::new(), q.page, q.size)?;
    let context = load_context(&state, &access).await?;
    let key = json!({"property": property, "filter": filter, "desc": descending});
    let id = begin(&state, &access.project.id, "values", context, &key).await?;
    let location = location(format!("/rest/projects/{pid}/dwh/{cluster}/propertyValues/{id}"), q.page, q.size)?;
    Ok(accepted(location, Vec::new()))
}

/// A page of property values (long-polls up to 30 s).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/{clusterId}/propertyValues/{resultId}", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ("resultId" = String, Path), GetPage),
    responses((status = 200, body = Paged<Object>)))]
async fn get_property_values(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String, String)>,
    Query(page): Query<GetPage>,
    uri: Uri,
) -> ApiResult<axum::Json<Paged<Value>>> {
    let (_, cluster, id) = ids;
    check_cluster(&access, &cluster)?;
    let request = page.request(200)?;
    let outcome = outcome(&state, &access, &id).await?;
    let Outcome::Values(values) = outcome.as_ref() else {
        return Err(ApiError::NotFound("property values result"));
    };
    Ok(axum::Json(Paged::new(page_of(values, request), values.len() as i64, request, &uri)))
}

/// Starts computing each measure's minimum and maximum over the query's rows.
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/metricRanges", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path)),
    request_body = Object, responses((status = 202, body = QueriesResponse)))]
async fn post_metric_ranges(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let (pid, cluster) = ids;
    check_cluster(&access, &cluster)?;
    let context = load_context(&state, &access).await?;
    let id = begin(&state, &access.project.id, "ranges", context, &body).await?;
    let location = format!("/rest/projects/{pid}/dwh/{cluster}/metricRanges/{id}");
    Ok(accepted(location, metric_names(&body)))
}

/// `{propertyId, min, max}` of each measure column; null bounds when it has no values.
fn ranges(out: &QueryOutput) -> Vec<Value> {
    out.measures
        .iter()
        .map(|id| {
            let values = out.rows.iter().filter_map(|r| r.get(id).and_then(Value::as_f64));
            let (min, max) = values.fold((None::<f64>, None::<f64>), |(lo, hi), v| {
                (Some(lo.map_or(v, |l| l.min(v))), Some(hi.map_or(v, |h| h.max(v))))
            });
            json!({"propertyId": id, "min": min, "max": max})
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RangesResponse {
    content: Vec<Value>,
    links: Vec<Link>,
}

/// Each measure's range (long-polls up to 30 s).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/{clusterId}/metricRanges/{resultId}", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ("resultId" = String, Path)),
    responses((status = 200, body = RangesResponse)))]
async fn get_metric_ranges(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<axum::Json<RangesResponse>> {
    let (_, cluster, id) = ids;
    check_cluster(&access, &cluster)?;
    let outcome = outcome(&state, &access, &id).await?;
    let Outcome::Ranges(content) = outcome.as_ref() else {
        return Err(ApiError::NotFound("metric ranges result"));
    };
    Ok(axum::Json(RangesResponse {
        content: content.clone(),
        links: Link::this(uri.path().to_owned()),
    }))
}

/// Starts a computation whose result is one `content` list (a value
/// distribution, date ranges, overlaps); answers 202 with its Location under `segment`.
async fn post_content(
    state: &AppState,
    access: &Authorized<need::DwhQuery>,
    ids: (String, String),
    body: &Value,
    kind: &str,
    segment: &str,
) -> ApiResult<Response> {
    let (pid, cluster) = ids;
    check_cluster(access, &cluster)?;
    let context = load_context(state, access).await?;
    let id = begin(state, &access.project.id, kind, context, body).await?;
    Ok(accepted(format!("/rest/projects/{pid}/dwh/{cluster}/{segment}/{id}"), Vec::new()))
}

/// The `content` list of such a computation (long-polls up to 30 s).
async fn get_content(
    state: &AppState,
    access: &Authorized<need::DwhQuery>,
    ids: (String, String, String),
    uri: &Uri,
) -> ApiResult<axum::Json<RangesResponse>> {
    let (_, cluster, id) = ids;
    check_cluster(access, &cluster)?;
    let outcome = outcome(state, access, &id).await?;
    let Outcome::Content(content) = outcome.as_ref() else {
        return Err(ApiError::NotFound("result"));
    };
    Ok(axum::Json(RangesResponse {
        content: content.clone(),
        links: Link::this(uri.path().to_owned()),
    }))
}

/// Starts computing the distribution of a number property's values in equal
/// buckets (a histogram filter): `{property, buckets? (20), min?, max?}`.
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/propertyValuesDistributions", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path)),
    request_body = Object, responses((status = 202, body = QueriesResponse)))]
async fn post_distributions(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    post_content(&state, &access, ids, &body, "histogram", "propertyValuesDistributions").await
}

/// The buckets `[{min, max, content: [{propertyId, frequency}]}]` (long-polls
/// up to 30 s; `nullCacheId` and `property` are accepted and not needed).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/{clusterId}/propertyValuesDistributions/{resultId}", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ("resultId" = String, Path)),
    responses((status = 200, body = RangesResponse)))]
async fn get_distributions(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<axum::Json<RangesResponse>> {
    get_content(&state, &access, ids, &uri).await
}

/// Starts computing the range of a date property (a date filter):
/// `{from: "dataset.date", filter?: {startDate?, endDate?}}`, each bound
/// `{value: "YYYY-MM-DD"}` or `{function: {type: "function_today"}}`.
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/dateRanges", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path)),
    request_body = Object, responses((status = 202, body = QueriesResponse)))]
async fn post_date_ranges(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    post_content(&state, &access, ids, &body, "dates", "dateRanges").await
}

/// `[{property, filtered, min, max}]`: the property's first and last date,
/// and within the filter (`filtered: true`); the same for the date
/// dimension's key it links to, if any (long-polls up to 30 s).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/{clusterId}/dateRanges/{resultId}", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ("resultId" = String, Path)),
    responses((status = 200, body = RangesResponse)))]
async fn get_date_ranges(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<axum::Json<RangesResponse>> {
    get_content(&state, &access, ids, &uri).await
}

/// Starts computing how two objects (two filters, say two brands) share a
/// metric over the areas of a granularity: `{operators: [subtract |
/// intersect | major_dominance | minor_dominance | equivalent_dominance],
/// objects: [FilterBy, FilterBy], granularity: "dataset" or
/// "dataset.property", query: {properties: [metrics], filterBy?, variables?}}`.
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/overlaps", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path)),
    request_body = Object, responses((status = 202, body = QueriesResponse)))]
async fn post_overlaps(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    post_content(&state, &access, ids, &body, "overlaps", "overlaps").await
}

/// `[{propertyId, results: [{operator, objects, value}]}]`: per metric, the
/// metric over the areas each operator chooses (long-polls up to 30 s).
#[utoipa::path(get, path = "/rest/projects/{projectId}/dwh/{clusterId}/overlaps/{resultId}", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), ("resultId" = String, Path)),
    responses((status = 200, body = RangesResponse)))]
async fn get_overlaps(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<axum::Json<RangesResponse>> {
    get_content(&state, &access, ids, &uri).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailableQuery {
    /// `dataset` to get whole dataset objects.
    pub expand: Option<String>,
    /// Keep datasets of these subtypes (repeatable: `subtype=a&subtype=b` or `a,b`).
    pub subtype: Option<String>,
    /// Dataset types (only `dwh` datasets can hold computed values).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableEntry {
    metric_id: String,
    #[schema(value_type = Vec<Object>)]
    available_datasets: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableResponse {
    content: Vec<AvailableEntry>,
}

/// The datasets each metric can be computed at (along foreign keys from its facts).
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/availableDatasets", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path), AvailableQuery),
    request_body = Object, responses((status = 200, body = AvailableResponse)))]
async fn available_datasets(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Query(q): Query<AvailableQuery>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<AvailableResponse>> {
    let (pid, cluster) = ids;
    check_cluster(&access, &cluster)?;
    let metrics = body
        .get("metrics")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("metrics", "at least one metric node is required"))?;
    if let Some(kind) = q.kind.as_deref().filter(|k| !k.split(',').any(|k| k == "dwh")) {
        return Err(ApiError::bad_request(
            "type",
            format!("{kind:?}: only dwh datasets hold computed values"),
        ));
    }
    let subtypes: Vec<&str> = q.subtype.as_deref().map(|s| s.split(',').collect()).unwrap_or_default();
    let context = load_context(&state, &access).await?;
    let expand = q.expand.as_deref().is_some_and(|e| e.split(',').any(|e| e == "dataset"));
    let mut content = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let names = Engine::available_datasets(&context.snapshot.model, m, &format!("metrics[{i}]"))?;
        let mut datasets = Vec::new();
        for name in names {
            let Some(object) = state
                .store
                .md_object(&access.project.id, MdType::Datasets, MdKey::Name(&name))
                .await?
            else {
                continue;
            };
            let body = object.body_json()?;
            if !subtypes.is_empty() && !subtypes.contains(&body.pointer("/ref/subtype").and_then(Value::as_str).unwrap_or_default()) {
                continue;
            }
            datasets.push(if expand {
                serde_json::to_value(super::metadata::object_dto(&object, !access.is_public())).map_err(anyhow::Error::from)?
            } else {
                json!({"name": name, "links": [{"rel": "self", "href": format!("/rest/projects/{pid}/md/datasets/{}", object.id)}]})
            });
        }
        let metric_id = m
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("metric{i}"));
        content.push(AvailableEntry {
            metric_id,
            available_datasets: datasets,
        });
    }
    Ok(axum::Json(AvailableResponse { content }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainResponse {
    /// DataFusion's optimized logical plan, one operator per line.
    plan: String,
}

/// The plan a query would run, as text (with the caller's permissions applied).
#[utoipa::path(post, path = "/rest/projects/{projectId}/dwh/{clusterId}/explain", tag = "dwh",
    params(("projectId" = String, Path), ("clusterId" = String, Path)),
    request_body = Object, responses((status = 200, body = ExplainResponse)))]
async fn explain(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(ids): Path<(String, String)>,
    Json(body): Json<Value>,
) -> ApiResult<axum::Json<ExplainResponse>> {
    let (_, cluster) = ids;
    check_cluster(&access, &cluster)?;
    let context = load_context(&state, &access).await?;
    let request = context.request(&body)?;
    let plan = state
        .engine
        .explain(&state.data, &context.snapshot, &request, &context.filters)
        .await?;
    Ok(axum::Json(ExplainResponse { plan }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The text to find in feature titles: every word must begin a word of
    /// the title, ignoring case and accents.
    pub query: String,
    /// The dataset to search (a name or a metadata link); all map datasets when absent.
    pub dataset: Option<String>,
    pub page: Option<i64>,
    /// Hits per page (1 to 1000, default 20).
    pub size: Option<i64>,
}

/// Full-text search of features by title (the dataset's `properties.featureTitle`),
/// through the caller's data permissions.
#[utoipa::path(get, path = "/rest/projects/{projectId}/search", tag = "dwh",
    params(("projectId" = String, Path), SearchQuery), responses((status = 200, body = Paged<Object>)))]
async fn search(
    State(state): State<AppState>,
    access: Authorized<need::DwhQuery>,
    Path(_pid): Path<String>,
    Query(q): Query<SearchQuery>,
    uri: Uri,
) -> ApiResult<axum::Json<Paged<Value>>> {
    let request = page_request(q.page, q.size, 20, 1000)?;
    let text = q.query.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("query", "text to search for is required"));
    }
    let wanted = q.dataset.as_deref().map(|d| d.rsplit(['=', '/']).next().unwrap_or(d).to_owned());
    let context = load_context(&state, &access).await?;
    let mut hits = Vec::new();
    let mut total = 0;
    let mut searched = 0;
    // Enough hits of each dataset for the page asked.
    let limit = usize::try_from((request.page + 1).saturating_mul(request.size)).unwrap_or(usize::MAX);
    for o in state.store.md_all(&access.project.id, Some(MdType::Datasets)).await? {
        if wanted.as_deref().is_some_and(|w| w != o.name) || !context.snapshot.versions.contains_key(&o.name) {
            continue;
        }
        let body = o.body_json()?;
        let Some(title) = title_property(&body) else { continue };
        let drawable = context.snapshot.model.datasets.get(&o.name).is_some_and(|d| {
            d.properties.iter().any(|p| p.ty == locus_data::PropertyType::Geometry) || context.snapshot.model.lat_lng(&o.name).is_ok()
        });
        if !drawable {
            continue;
        }
        searched += 1;
        let found = state
            .engine
            .search(&state.data, &context.snapshot, &o.name, &title, text, limit, &context.filters)
            .await?;
        total += found.total;
        hits.extend(found.hits);
    }
    if let (Some(w), 0) = (&wanted, searched) {
        return Err(ApiError::bad_request(
            "dataset",
            format!("{w:?} is no loaded dataset with a geometry or a location and a title property (properties.featureTitle)"),
        ));
    }
    Ok(axum::Json(Paged::new(page_of(&hits, request), total as i64, request, &uri)))
}

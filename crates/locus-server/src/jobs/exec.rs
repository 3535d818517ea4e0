//! What each job type does. A job computes its outcome (new files on the
//! object store, and the [`DataChange`] that makes them current) without
//! touching the control data; the runner commits the change with the job's
//! end. Errors a user can fix end the job FAILED with a message that says
//! what to fix; the data stays as it was.

use super::request::{self, DataPull, JobKind};
use super::{routing, source, Progress};
use crate::routes::jobs::dwh_dataset;
use crate::routes::uploads::part_path;
use crate::AppState;
use locus_core::metadata::MdType;
use locus_data::query::points::Around;
use locus_data::{AreaIndex, AreaMapper, CsvOptions, DataError, DataStore, StorePath};
use locus_store::{DataChange, Job, JobEnd, JobStatus, NewVersion};
use serde_json::{json, Value};
use std::sync::Arc;

/// A job's outcome, and files to delete once it is recorded.
pub struct Done {
    pub end: JobEnd,
    pub cleanup: Vec<String>,
}

/// Why a job failed, as its message (and, for bad rows, a result listing them).
struct Fail {
    message: String,
    result: Option<Value>,
}

impl Fail {
    fn new(message: impl Into<String>) -> Fail {
        Fail {
            message: message.into(),
            result: None,
        }
    }
}

impl From<crate::error::ApiError> for Fail {
    fn from(e: crate::error::ApiError) -> Fail {
        Fail::new(e.public_message())
    }
}

impl From<locus_store::StoreError> for Fail {
    fn from(e: locus_store::StoreError) -> Fail {
        tracing::error!(error = %e, "a job's store access failed");
        Fail::new("the job could not reach the database; nothing was changed")
    }
}

impl From<DataError> for Fail {
    fn from(e: DataError) -> Fail {
        match e {
            DataError::Invalid { problems, total } => {
                let listed: Vec<Value> = problems
                    .iter()
                    .map(|p| json!({"line": p.line, "property": p.column, "value": p.value, "expected": p.expected}))
                    .collect();
                let first = problems.first().map(ToString::to_string).unwrap_or_default();
                Fail {
                    message: format!("{total} problem(s) in the data, nothing was loaded; the first: {first}"),
                    result: Some(json!({"problems": listed, "total": total})),
                }
            }
            e @ (DataError::Definition { .. } | DataError::CsvOption { .. }) => Fail::new(e.to_string()),
            DataError::Io(io) => Fail::new(format!("reading the data failed: {io}")),
            other => {
                tracing::error!(error = %other, "a job's data access failed");
                Fail::new(format!("the data store failed: {other}"))
            }
        }
    }
}

/// Runs `job` and says how it ends.
pub async fn run(state: AppState, job: Job, progress: Arc<Progress>) -> Done {
    let outcome = match JobKind::parse(&job.kind) {
        Ok(JobKind::DataPull) => data_pull(&state, &job, progress).await,
        Ok(JobKind::DataDump) => data_dump(&state, &job).await,
        Ok(JobKind::Truncate) => truncate(&state, &job).await,
        Ok(JobKind::Restore) => restore(&job),
        Ok(JobKind::ImportProject) => import_project(&state, &job).await,
        Ok(JobKind::Validate) => validate(&state, &job).await,
        Ok(JobKind::Export) => export(&state, &job).await,
        Ok(JobKind::BulkPointQuery) => bulk_point_query(&state, &job).await,
        Err(e) => Err(Fail::from(e)),
    };
    // What a successful job wrote reaches the disk before its end makes
    // it current; if it cannot, the job fails and the files go.
    let outcome = match outcome {
        Ok(done) => {
            let files = written_files(done.end.change.as_ref());
            let paths: Vec<StorePath> = files.iter().map(|p| StorePath::from(p.as_str())).collect();
            match state.data.make_durable(&paths).await {
                Ok(()) => Ok(done),
                Err(e) => {
                    delete_quietly(&state, &files).await;
                    Err(Fail::from(e))
                }
            }
        }
        Err(fail) => Err(fail),
    };
    match outcome {
        Ok(done) => done,
        Err(fail) => Done {
            end: JobEnd {
                status: JobStatus::Failed,
                message: Some(fail.message),
                result: fail.result,
                change: None,
            },
            cleanup: Vec::new(),
        },
    }
}

fn succeeded(result: Value, change: Option<DataChange>) -> Done {
    Done {
        end: JobEnd {
            status: JobStatus::Succeeded,
            message: None,
            result: Some(result),
            change,
        },
        cleanup: Vec::new(),
    }
}

fn content<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T, Fail> {
    let value: Value = serde_json::from_str(&job.content).map_err(|e| Fail::new(format!("content: {e}")))?;
    Ok(request::content(&value)?)
}

/// The files an end would make current (deleted again if it cannot be recorded).
pub fn written_files(change: Option<&DataChange>) -> Vec<String> {
    match change {
        Some(DataChange::NewVersions(versions)) => versions.iter().map(|v| v.path.clone()).collect(),
        Some(DataChange::Download { path, .. }) => vec![path.clone()],
        _ => Vec::new(),
    }
}

/// The datasets a change gives a new current version.
pub fn loaded_datasets(change: Option<&DataChange>) -> Vec<String> {
    match change {
        Some(DataChange::NewVersions(versions)) => versions.iter().map(|v| v.dataset.clone()).collect(),
        _ => Vec::new(),
    }
}

/// Builds the indexes of the versions a committed job loaded (the spatial
/// index of a point dataset, the full-text index of a dataset with a title,
/// a polygon dataset's shapes for the map's zooms), so that the first bulk
/// point query, search or map does not wait for them; its rows are read
/// into memory first, so that the first query does not either.
/// Best effort: a query builds what is missing.
pub async fn index_loaded(state: AppState, job: Job, datasets: Vec<String>) {
    let Ok(context) = reader(&state, &job).await else { return };
    let Ok(objects) = state
        .store
        .md_all(&job.project_id, Some(locus_core::metadata::MdType::Datasets))
        .await
    else {
        return;
    };
    for dataset in datasets {
        let title = objects
            .iter()
            .find(|o| o.name == dataset)
            .and_then(|o| o.body_json().ok())
            .and_then(|body| crate::routes::dwh::title_property(&body));
        let (engine, data, snapshot) = (&state.engine, &state.data, &context.snapshot);
        let built = async {
            // Its rows in memory first: the indexes below read them from there.
            engine.warm_table(data, snapshot, &dataset).await?;
            engine.index_points(data, snapshot, &dataset).await?;
            if let Some(title) = &title {
                engine.index_titles(data, snapshot, &dataset, title).await?;
            }
            // A polygon dataset's shapes for the map's zooms.
            engine.prepare_shapes(data, snapshot, &dataset).await
        }
        .await;
        if let Err(e) = built {
            tracing::warn!(job = %job.id, %dataset, error = %e, "indexing the loaded rows failed");
        }
    }
}

pub async fn delete_quietly(state: &AppState, paths: &[String]) {
    if paths.is_empty() {
        return;
    }
    let paths: Vec<StorePath> = paths.iter().map(|p| StorePath::from(p.as_str())).collect();
    if let Err(e) = locus_data::transfer::delete_files(&state.data.store, &paths).await {
        tracing::warn!(error = %e, "deleting a job's files failed");
    }
}

async fn data_pull(state: &AppState, job: &Job, progress: Arc<Progress>) -> Result<Done, Fail> {
    let pull: DataPull = content(job)?;
    let pid = job.project_id.as_str();
    let def = dwh_dataset(state, pid, &pull.dataset).await?;
    let downloaded = StorePath::from_iter(["projects", pid, "staging", &format!("{}.csv", job.id)]);
    let loaded = async {
        let input = pull_input(state, job, &pull, &downloaded).await?;
        load_version(state, job, &pull, &def, input, progress).await
    }
    .await;
    if pull.https_upload.is_some() {
        locus_data::transfer::delete_files(&state.data.store, &[downloaded]).await.ok();
    }
    loaded
}

/// The CSV a dataPull reads: its upload's parts, or the file behind its
/// `httpsUpload` (first downloaded to `downloaded`), or its `s3Upload` object.
async fn pull_input(state: &AppState, job: &Job, pull: &DataPull, downloaded: &StorePath) -> Result<Box<dyn std::io::Read + Send>, Fail> {
    let pid = job.project_id.as_str();
    let store = state.data.store.clone();
    let allow_private = state.settings.allow_private_sources;
    let limit = state.settings.upload_max_bytes;
    let refused = |e: source::SourceError| Fail::new(format!("{}: {}", e.field, e.message));
    if let Some(value) = &pull.https_upload {
        let (url, addresses) = source::https_url(value, allow_private).await.map_err(refused)?;
        source::download(&url, &addresses, store.clone(), downloaded, limit)
            .await
            .map_err(Fail::new)?;
        return Ok(Box::new(locus_data::transfer::read_files(store, vec![downloaded.clone()])));
    }
    if let Some(value) = &pull.s3_upload {
        let object = source::s3_object(value, allow_private).await.map_err(refused)?;
        let (s3, key) = object.open()?;
        let size = locus_data::transfer::object_size(&s3, &key)
            .await
            .map_err(|e| Fail::new(format!("reading {} failed: {e}", object.uri)))?;
        match size {
            None => return Err(Fail::new(format!("{} does not exist", object.uri))),
            Some(n) if n > limit => return Err(Fail::new(format!("{} is larger than the limit of {limit} bytes", object.uri))),
            Some(_) => {}
        }
        let input = locus_data::transfer::read_files(s3, vec![key]);
        if object.uri.ends_with(".gz") {
            return Ok(Box::new(locus_data::transfer::gunzip(input)));
        }
        return Ok(Box::new(input));
    }
    let upload_id = pull.upload_id().ok_or_else(|| Fail::new("content.upload names no upload"))?;
    let upload = state
        .store
        .upload(upload_id)
        .await?
        .filter(|u| u.project_id == pid)
        .ok_or_else(|| Fail::new("the upload expired before the job ran; upload the file again"))?;
    let parts = upload.part_list.clone().ok_or_else(|| Fail::new("the upload is not complete"))?;
    let input_paths: Vec<StorePath> = parts.iter().map(|&n| part_path(pid, &upload.id, n)).collect();
    // The parts must still hold what was received: a local directory's
    // upload is not flushed to the disk when answered (the version written
    // from it is), so a power loss before the job could leave it cut short,
    // which would otherwise load as fewer rows. (S3's parts are durable.)
    if state.data.is_local() {
        let mut stored = 0;
        for path in &input_paths {
            stored += locus_data::transfer::file_size(&store, path).await?;
        }
        if i64::try_from(stored).ok() != Some(upload.bytes) {
            return Err(Fail::new(format!(
                "the upload's stored parts hold {stored} bytes, not the {} received; upload the file again",
                upload.bytes
            )));
        }
    }
    Ok(Box::new(locus_data::transfer::read_files(store, input_paths)))
}

/// Loads `input` into a new version of `def` (replacing or upserting).
async fn load_version(
    state: &AppState,
    job: &Job,
    pull: &DataPull,
    def: &locus_data::DatasetDef,
    input: Box<dyn std::io::Read + Send>,
    progress: Arc<Progress>,
) -> Result<Done, Fail> {
    let pid = job.project_id.as_str();
    let store = state.data.store.clone();
    let opts = CsvOptions::from_json(&pull.csv_options)?;
    let version_id = locus_core::ids::random_lower36(16);
    let out = DataStore::version_path(pid, &def.name, &version_id);
    let report = move |p: locus_data::Progress| progress.set(p.rows, p.bytes);
    let areas = Arc::new(area_mapper(state, pid, def).await?);
    let (rows, csv_bytes, parquet_bytes) = if pull.incremental() {
        let staged = StorePath::from_iter(["projects", pid, "staging", &format!("{version_id}.parquet")]);
        let loaded = locus_data::load_csv(input, def, &opts, store.clone(), &staged, areas.clone(), report).await?;
        let previous = state.store.current_version(pid, &def.name).await?;
        let previous = previous.map(|v| StorePath::from(v.path.as_str()));
        let merged = locus_data::upsert(store.clone(), def, previous.as_ref(), &staged, &out).await;
        locus_data::transfer::delete_files(&store, &[staged]).await.ok();
        let rows = merged?;
        let bytes = locus_data::transfer::file_size(&store, &out).await?;
        (rows, loaded.bytes, bytes)
    } else {
        let loaded = locus_data::load_csv(input, def, &opts, store.clone(), &out, areas.clone(), report).await?;
        (loaded.rows, loaded.bytes, loaded.parquet_bytes)
    };
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let version = NewVersion {
        dataset: def.name.clone(),
        version_id: version_id.clone(),
        path: out.to_string(),
        rows: to_i64(rows),
        bytes: to_i64(parquet_bytes),
    };
    let mut result = json!({
        "rows": rows, "bytes": csv_bytes, "storedBytes": parquet_bytes, "version": version_id,
        "dataset": def.name, "mode": pull.mode,
    });
    let unmapped = areas.unmapped(def);
    if !unmapped.is_empty() {
        // The loaded rows (of an incremental load: the new file's) that lie
        // in no polygon, per area-mapped property.
        result["unmappedPoints"] = unmapped.into_iter().map(|(p, n)| (p, json!(n))).collect();
    }
    Ok(succeeded(result, Some(DataChange::NewVersions(vec![version]))))
}

/// The automatic area mapper for the calculated foreign keys of `def`, over
/// the current versions of the polygon datasets they name (a polygon
/// dataset not loaded yet maps every point to NULL).
async fn area_mapper(state: &AppState, pid: &str, def: &locus_data::DatasetDef) -> Result<AreaMapper, Fail> {
    let mut indexes = Vec::new();
    for (property, target) in AreaMapper::targets(def) {
        let polygons = dwh_dataset(state, pid, &target)
            .await
            .map_err(|e| Fail::new(format!("property {property} is area-mapped to {target}: {}", e.public_message())))?;
        let batches = match state.store.current_version(pid, &target).await? {
            Some(v) => locus_data::read_all(state.data.store.clone(), &StorePath::from(v.path.as_str())).await?,
            None => Vec::new(),
        };
        let index = tokio::task::spawn_blocking(move || AreaIndex::new(&polygons, &batches))
            .await
            .map_err(|e| Fail::new(format!("indexing the polygons of {target}: {e}")))??;
        indexes.push((property, Arc::new(index)));
    }
    Ok(AreaMapper::new(def, indexes)?)
}

async fn data_dump(state: &AppState, job: &Job) -> Result<Done, Fail> {
    let dump: request::DataDump = content(job)?;
    let pid = job.project_id.as_str();
    let def = dwh_dataset(state, pid, &dump.dataset).await?;
    let current = state.store.current_version(pid, &def.name).await?;
    let version = current.as_ref().map(|v| StorePath::from(v.path.as_str()));
    let dump_id = locus_core::ids::random_lower36(32);
    let to = StorePath::from_iter(["projects", pid, "dumps", &format!("{dump_id}.csv")]);
    let rows = locus_data::transfer::dump_to_file(state.data.store.clone(), &def, version.as_ref(), &to).await?;
    let ttl = i64::try_from(state.settings.upload_ttl.as_millis()).unwrap_or(i64::MAX);
    let url = format!("/rest/projects/{pid}/data/dumps/{dump_id}");
    let result = json!({"dumpId": dump_id, "dumpUrl": url, "rows": rows, "dataset": def.name,
        "version": current.map(|v| v.version_id)});
    let change = DataChange::Download {
        id: dump_id,
        kind: "dump".into(),
        path: to.to_string(),
        expires_at: locus_store::now_millis().saturating_add(ttl),
    };
    Ok(succeeded(result, Some(change)))
}

/// What the job's account may read in the job's project (its data
/// permissions included): jobs that read rows run as the account that asked.
async fn reader(state: &AppState, job: &Job) -> Result<crate::routes::dwh::Context, Fail> {
    let account_id = job
        .account_id
        .as_deref()
        .ok_or_else(|| Fail::new("this job reads rows for an account, and has none"))?;
    let account = state
        .store
        .account(account_id)
        .await?
        .ok_or_else(|| Fail::new("the account that asked for this job no longer exists"))?;
    Ok(crate::routes::dwh::context(state, &job.project_id, &account).await?)
}

/// Runs the export's query as the job's account (with its data
/// permissions) and writes the rows as CSV, downloadable for a day.
async fn export(state: &AppState, job: &Job) -> Result<Done, Fail> {
    let export: request::Export = content(job)?;
    export.check()?;
    let pid = job.project_id.as_str();
    let context = reader(state, job).await?;
    let request = context.request(&export.query).map_err(|e| Fail::new(format!("query: {e}")))?;
    let out = state
        .engine
        .query(&state.data, &context.snapshot, &request, &context.filters)
        .await
        .map_err(|e| Fail::new(format!("query: {e}")))?;
    let header = export.csv_options.get("header").and_then(Value::as_bool).unwrap_or(true);
    let bytes = match export.format.as_str() {
        "xlsx" => locus_data::query::to_xlsx(&out, header).map_err(|e| Fail::new(e.to_string()))?,
        _ => locus_data::query::to_csv(&out, export.separator()?, header),
    };
    let export_id = locus_core::ids::random_lower36(32);
    let to = StorePath::from_iter(["projects", pid, "exports", &format!("{export_id}.{}", export.format)]);
    locus_data::transfer::put_file(state.data.store.clone(), &to, bytes).await?;
    let ttl = i64::try_from(state.settings.upload_ttl.as_millis()).unwrap_or(i64::MAX);
    let url = format!("/rest/projects/{pid}/export/{export_id}");
    let result = json!({"exportResult": url, "rows": out.rows.len(), "format": export.format});
    let change = DataChange::Download {
        id: export_id,
        kind: "export".into(),
        path: to.to_string(),
        expires_at: locus_store::now_millis().saturating_add(ttl),
    };
    Ok(succeeded(result, Some(change)))
}

/// How many isochrones are asked of the routing engine at once.
const ROUTING_CONCURRENCY: usize = 8;

/// Evaluates every point query at every point as the job's account (with its
/// data permissions); the usage is metered in the job's end transaction.
async fn bulk_point_query(state: &AppState, job: &Job) -> Result<Done, Fail> {
    let started = std::time::Instant::now();
    let bulk: request::BulkPointQuery = content(job)?;
    let settings = &state.settings;
    let queries = bulk.read(settings.air_speed_metres_per_minute(), settings.routing_url.is_some())?;
    let router = match &settings.routing_url {
        Some(url) => Some(routing::Router::new(url, settings.routing_timeout).map_err(Fail::new)?),
        None => None,
    };
    let pid = job.project_id.as_str();
    let context = reader(state, job).await?;
    let mut results = vec![serde_json::Map::new(); bulk.points.len()];
    for q in &queries {
        // A routed isochrone asks the engine first (a few points at a time);
        // where it fails, that point's entry says why and the job goes on.
        let mut at: Vec<usize> = (0..bulk.points.len()).collect();
        let mut areas = Vec::new();
        if let (Around::Routed(how), Some(router)) = (&q.around, &router) {
            let mut answers: Vec<Result<Value, String>> = Vec::with_capacity(bulk.points.len());
            for some in bulk.points.chunks(ROUTING_CONCURRENCY) {
                answers.extend(futures::future::join_all(some.iter().map(|p| router.isochrone(p.lat, p.lng, how))).await);
            }
            at.clear();
            for (i, answer) in answers.into_iter().enumerate() {
                match answer {
                    Ok(area) => {
                        at.push(i);
                        areas.push(area);
                    }
                    Err(why) => {
                        results[i].insert(q.id.clone(), json!({"error": why}));
                    }
                }
            }
        }
        let points: Vec<(f64, f64)> = at.iter().map(|&i| (bulk.points[i].lat, bulk.points[i].lng)).collect();
        let answers = state
            .engine
            .point_queries(&state.data, &context.snapshot, &context.filters, q, &points, &areas)
            .await
            .map_err(|e| Fail::new(format!("{}: {e}", q.id)))?;
        for (i, rows) in at.into_iter().zip(answers) {
            results[i].insert(q.id.clone(), Value::Array(rows.into_iter().map(Value::Object).collect()));
        }
    }
    let points = bulk
        .points
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (point, queries))| request::PointResult {
            id: point.id.clone().unwrap_or_else(|| Value::from(i)),
            lat: point.lat,
            lng: point.lng,
            queries,
        })
        .collect();
    let versions = state.store.current_versions(pid).await?;
    let rows_of = |dataset: &str| versions.iter().find(|v| v.dataset == dataset).map_or(0, |v| v.rows);
    let n = i64::try_from(bulk.points.len()).unwrap_or(i64::MAX);
    let metrics: i64 = queries
        .iter()
        .map(|q| {
            q.query.get("properties").and_then(Value::as_array).map_or(0, |ps| {
                ps.iter()
                    .filter(|p| p.get("type").and_then(Value::as_str) == Some("metric"))
                    .count()
            })
        })
        .sum::<usize>()
        .try_into()
        .unwrap_or(i64::MAX);
    let usage = locus_store::Usage {
        points: n,
        point_queries: n.saturating_mul(i64::try_from(queries.len()).unwrap_or(i64::MAX)),
        metrics: n.saturating_mul(metrics),
        rows_scanned: queries.iter().map(|q| rows_of(&q.dataset)).sum::<i64>().saturating_mul(n),
        compute_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        billable: bulk.enable_billing,
    };
    let result = serde_json::to_value(request::BulkPointQueryResult { points }).map_err(|e| Fail::new(e.to_string()))?;
    Ok(succeeded(result, Some(DataChange::Usage(usage))))
}

async fn truncate(state: &AppState, job: &Job) -> Result<Done, Fail> {
    let paths = state.store.all_version_paths(&job.project_id).await?;
    let mut done = succeeded(json!({"deletedVersions": paths.len()}), Some(DataChange::Truncate));
    done.cleanup = paths;
    Ok(done)
}

fn restore(job: &Job) -> Result<Done, Fail> {
    let restore: request::Restore = content(job)?;
    let result = json!({"dataset": restore.dataset, "version": restore.version_id});
    let change = DataChange::Restore {
        dataset: restore.dataset,
        version_id: restore.version_id,
    };
    Ok(succeeded(result, Some(change)))
}

/// Copies the source project's metadata (the selected types, or all) and,
/// unless `skipData`, the current version of each copied dataset: on the
/// object store itself, without reading the rows.
async fn import_project(state: &AppState, job: &Job) -> Result<Done, Fail> {
    let import: request::ImportProject = content(job)?;
    let source = import.source_project_id.as_str();
    let target = job.project_id.as_str();
    let selected = import.selected_types();
    let objects = state.store.md_all(source, None).await?;
    let objects: Vec<_> = objects
        .into_iter()
        .filter(|o| selected.as_ref().is_none_or(|types| types.contains(&o.md_type.segment())))
        .collect();
    // Links name their project: point them at the target.
    let from = format!("/rest/projects/{source}/");
    let to = format!("/rest/projects/{target}/");
    let mut checked = Vec::with_capacity(objects.len());
    for object in &objects {
        let body: Value = serde_json::from_str(&object.body.replace(&from, &to)).map_err(|e| Fail::new(format!("metadata: {e}")))?;
        let c = crate::routes::metadata::check(object.md_type, body, false, target)
            .map_err(|e| Fail::new(format!("{}/{}: {}", object.md_type.segment(), object.name, e.public_message())))?;
        checked.push((object.md_type, c));
    }
    let account_id = job
        .account_id
        .clone()
        .ok_or_else(|| Fail::new("the submitter's account no longer exists"))?;
    let account = state
        .store
        .account(&account_id)
        .await?
        .ok_or_else(|| Fail::new("the submitter's account no longer exists"))?;
    // The data first: if copying fails, no metadata was written either.
    let mut versions = Vec::new();
    if !import.skip_data {
        let datasets: Vec<&str> = objects
            .iter()
            .filter(|o| o.md_type == MdType::Datasets)
            .map(|o| o.name.as_str())
            .collect();
        for current in state.store.current_versions(source).await? {
            let copied = datasets.contains(&current.dataset.as_str())
                || state
                    .store
                    .md_object(target, MdType::Datasets, locus_store::MdKey::Name(&current.dataset))
                    .await?
                    .is_some();
            if !copied {
                continue;
            }
            let version_id = locus_core::ids::random_lower36(16);
            let from = StorePath::from(current.path.as_str());
            match state.data.copy_version(&from, target, &current.dataset, &version_id).await {
                Ok(path) => versions.push(NewVersion {
                    dataset: current.dataset.clone(),
                    version_id,
                    path: path.to_string(),
                    rows: current.rows,
                    bytes: current.bytes,
                }),
                Err(e) => {
                    let written: Vec<String> = versions.iter().map(|v: &NewVersion| v.path.clone()).collect();
                    delete_quietly(state, &written).await;
                    return Err(e.into());
                }
            }
        }
    }
    if !checked.is_empty() {
        let writes: Vec<_> = checked.iter().map(|(t, c)| c.write(*t)).collect();
        let author = locus_store::Author {
            account_id: &account.id,
            email: &account.email,
        };
        let actor = locus_store::job_actor(job);
        if let Err(e) = state.store.push_md(&actor, target, author, &writes).await {
            let written: Vec<String> = versions.iter().map(|v| v.path.clone()).collect();
            delete_quietly(state, &written).await;
            return Err(Fail::new(format!(
                "copying the metadata failed: {}",
                crate::error::ApiError::from(e).public_message()
            )));
        }
    }
    let result = json!({
        "sourceProjectId": source,
        "metadata": checked.len(),
        "datasets": versions.iter().map(|v| json!({"dataset": v.dataset, "rows": v.rows})).collect::<Vec<_>>(),
    });
    let change = (!versions.is_empty()).then_some(DataChange::NewVersions(versions));
    Ok(succeeded(result, change))
}

/// Checks the project's datasets (`locus_data::validate`). Findings do not
/// fail the job; it fails only when it cannot run.
async fn validate(state: &AppState, job: &Job) -> Result<Done, Fail> {
    let pid = job.project_id.as_str();
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    let current = state.store.current_versions(pid).await?;
    for object in state.store.md_all(pid, Some(MdType::Datasets)).await? {
        let body = object.body_json()?;
        if body.pointer("/ref/type").and_then(Value::as_str) != Some("dwh") {
            continue;
        }
        let reference = body.get("ref").cloned().unwrap_or(Value::Null);
        match locus_data::DatasetDef::from_metadata(&object.name, &reference) {
            Ok(def) => {
                let version = current.iter().find(|v| v.dataset == object.name);
                let version = version.map(|v| StorePath::from(v.path.as_str()));
                checked.push(locus_data::validate::Checked { def, version });
            }
            Err(e) => findings.push(json!({"dataset": object.name, "property": null, "kind": "definition",
                "count": 1, "samples": [e.to_string()]})),
        }
    }
    let found = locus_data::validate::validate(state.data.store.clone(), &checked).await?;
    findings.extend(found.iter().map(|f| json!(f)));
    let result = json!({"findings": findings, "datasets": checked.len()});
    Ok(succeeded(result, None))
}

//! The HTTP face of Locus: the `/rest` API of the CleverMaps wire contract,
//! authentication, and mail. Only this crate knows HTTP and JSON.
//!
//! [`serve`] takes an already bound listener and a shutdown future, so tests
//! start the real application on port 0; [`router`] builds the routes and the
//! OpenAPI document from the same declarations.

pub mod auth;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod mail;
mod openapi;
pub mod proxy;
mod routes;
pub mod settings;
pub mod web;
mod wire;

pub use settings::{Redacted, Settings, SignupMode};

use axum::Router;
use locus_store::Store;
use mail::Mailer;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The largest request body accepted, in bytes; larger ones get 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub mailer: Mailer,
    pub settings: Arc<Settings>,
    /// Rate limits and use counters of public access, per process.
    pub public: Arc<auth::public::PublicAccess>,
    /// Datasets' rows and uploads: the object store (locus-data).
    pub data: locus_data::DataStore,
    /// Wakes this instance's job workers.
    pub jobs: Arc<jobs::Queue>,
    /// Runs DWH queries (locus-data), holding hot dataset versions in memory.
    pub engine: Arc<locus_data::query::Engine>,
    /// DWH query results of this instance, kept 10 minutes.
    pub results: Arc<routes::dwh::Results>,
}

impl AppState {
    /// Opens the store (running migrations) and the mailer the settings ask for.
    pub async fn open(settings: Settings) -> anyhow::Result<AppState> {
        use anyhow::Context as _;
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
        let store = Store::open(&settings.database_url()).await.context("opening the database")?;
        let mailer = match &settings.smtp_url {
            Some(url) => Mailer::smtp(&url.0, &settings.mail_from).context("configuring SMTP")?,
            None => Mailer::outbox(settings.outbox_dir(), &settings.mail_from).context("creating the mail outbox")?,
        };
        let data = locus_data::DataStore::open(&settings.object_store_url()).context("opening the object store")?;
        Ok(AppState {
            store,
            mailer,
            data,
            jobs: Arc::new(jobs::Queue::default()),
            engine: Arc::new(locus_data::query::Engine::new(
                settings.query_memory_bytes,
                settings.table_cache_bytes,
                settings.query_timeout,
                std::thread::available_parallelism().map_or(2, usize::from),
            )),
            results: Arc::new(routes::dwh::Results::default()),
            public: Arc::new(auth::public::PublicAccess::new(&settings.limits, settings.public_usage_window)),
            settings: Arc::new(settings),
        })
    }
}

/// The whole application: `/rest`, the health probes, the OpenAPI document
/// and the web pages.
pub fn router(state: AppState) -> Router {
    let (router, api) = openapi::routes().split_for_parts();
    let api = Arc::new(openapi::finish(api));
    router
        .route(
            "/rest/openapi.json",
            axum::routing::get(move || std::future::ready(axum::Json(api.as_ref().clone()))),
        )
        .merge(web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::access::audit_denials))
        .layer(axum::middleware::from_fn_with_state(state.clone(), extract::client))
        .layer(axum::middleware::from_fn(extract::request_id))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// An unknown path: a JSON error under `/rest`, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/rest") {
        error::ApiError::NotFound("route").into_response()
    } else {
        web::render::WebError::Page {
            status: axum::http::StatusCode::NOT_FOUND,
            message: "There is no page here.".into(),
        }
        .into_response()
    }
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
/// A maintenance task runs beside it for as long.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let maintenance = tokio::spawn(maintain(state.clone()));
    let jobs = tokio::spawn(jobs::run(state.clone()));
    let app = router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    maintenance.abort();
    jobs.abort();
    if let Err(e) = state.public.usage.flush(&state.store, None).await {
        tracing::warn!(error = %e, "recording the last public access counts failed");
    }
    served
}

/// Periodic upkeep, safe to run on every instance at once: invitations past
/// their expiry become EXPIRED (with their audit events), the public-access
/// counts of ended windows go to the audit log, expired sessions,
/// reset links and idle throttle counters are deleted, and audit events older
/// than the retention, if one is set, are purged.
async fn maintain(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.maintenance_interval);
    let mut orphans_swept: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        let now = locus_store::now_millis();
        if orphans_swept.is_none_or(|t| t.elapsed() >= ORPHAN_SWEEP_EVERY) {
            orphans_swept = Some(std::time::Instant::now());
            match sweep_orphan_files(&state, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "orphaned data files deleted"),
                Err(e) => tracing::warn!(error = %e, "sweeping orphaned data files failed"),
            }
        }
        match state.store.expire_invitations(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "invitations expired"),
            Err(e) => tracing::warn!(error = %e, "expiring invitations failed"),
        }
        if let Err(e) = state.public.usage.flush(&state.store, Some(now)).await {
            tracing::warn!(error = %e, "recording public access counts failed");
        }
        if let Err(e) = state.store.purge_expired(now).await {
            tracing::warn!(error = %e, "purging expired credentials failed");
        }
        expire_files(&state, now).await;
        let results_ttl = i64::try_from(routes::dwh::RESULT_TTL.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = state.store.expire_dwh_requests(now.saturating_sub(results_ttl)).await {
            tracing::warn!(error = %e, "expiring DWH requests failed");
        }
        if let Some(retention) = state.settings.audit_retention {
            let cutoff = now.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
            match state.store.purge_audit(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = n, "old audit events purged"),
                Err(e) => tracing::warn!(error = %e, "purging audit events failed"),
            }
        }
    }
}

/// How often the orphan sweep runs: it lists every project's files.
const ORPHAN_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes files of projects' rows that no version records, with their
/// count: what a crash or a kill left between writing a version and ending
/// its job, or between deleting a project's records and its files, and the
/// half-written files of a load killed mid-way. Only files last written
/// longer ago than any job may run (its time limit and lease) are looked at,
/// and only in projects with no job queued or running, read before the
/// listing and again after it, before the records: a job that wrote a file
/// the listing saw either shows as in flight or has ended, and then its
/// version is recorded or its file deleted by the job itself.
pub async fn sweep_orphan_files(state: &AppState, now: i64) -> anyhow::Result<u64> {
    let settle = state.settings.job_time_limit + state.settings.job_lease;
    let before = now.saturating_sub(i64::try_from(settle.as_millis()).unwrap_or(i64::MAX));
    let mut removed = state.data.remove_abandoned_writes(before).await?;
    let in_flight = state.store.projects_with_jobs_in_flight().await?;
    let files = state.data.rows_files_before(before).await?;
    let still_in_flight = state.store.projects_with_jobs_in_flight().await?;
    let mut by_project: std::collections::BTreeMap<String, Vec<locus_data::StorePath>> = Default::default();
    for file in files {
        if !in_flight.contains(&file.project_id) && !still_in_flight.contains(&file.project_id) {
            by_project.entry(file.project_id).or_default().push(file.path);
        }
    }
    for (project_id, paths) in by_project {
        let recorded: std::collections::HashSet<String> = state.store.all_version_paths(&project_id).await?.into_iter().collect();
        let orphans: Vec<_> = paths.into_iter().filter(|p| !recorded.contains(p.as_ref())).collect();
        locus_data::transfer::delete_files(&state.data.store, &orphans).await?;
        removed += orphans.len() as u64;
    }
    Ok(removed)
}

/// Deletes expired uploads and downloads, and versions replaced longer ago
/// than the retention: first their rows (so nothing can use them any more),
/// then their files.
async fn expire_files(state: &AppState, now: i64) {
    let mut paths: Vec<locus_data::StorePath> = Vec::new();
    match state.store.expire_uploads(now).await {
        Ok(uploads) => {
            for (project_id, id) in uploads {
                let prefix = locus_data::StorePath::from_iter(["projects", &project_id, "uploads", &id]);
                if let Err(e) = locus_data::transfer::delete_prefix(&state.data.store, &prefix).await {
                    tracing::warn!(error = %e, "deleting an expired upload failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "expiring uploads failed"),
    }
    match state.store.expire_downloads(now).await {
        Ok(found) => paths.extend(found.iter().map(|p| locus_data::StorePath::from(p.as_str()))),
        Err(e) => tracing::warn!(error = %e, "expiring downloads failed"),
    }
    let retention = i64::try_from(state.settings.version_retention.as_millis()).unwrap_or(i64::MAX);
    match state.store.expire_versions(now.saturating_sub(retention)).await {
        Ok(found) => paths.extend(found.iter().map(|p| locus_data::StorePath::from(p.as_str()))),
        Err(e) => tracing::warn!(error = %e, "expiring dataset versions failed"),
    }
    if let Err(e) = locus_data::transfer::delete_files(&state.data.store, &paths).await {
        tracing::warn!(error = %e, "deleting expired files failed");
    }
}

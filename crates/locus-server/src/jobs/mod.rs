//! The job runner inside `locus serve`: `settings.job_workers` workers take
//! queued jobs from the store (any instance may take any job), run them and
//! end them; a sweeper ends the jobs of workers that died.
//!
//! A worker holds a lease on its job and renews it, with the job's progress,
//! every third of the lease. If it dies (a crash, a kill, a lost database),
//! the lease lapses and the next sweep, on any instance, ends the job FAILED.
//! A job past `settings.job_time_limit` is stopped and ends TIMED_OUT. What a
//! job changes in the data (a new current version) is committed together
//! with its end, so a job that did not end SUCCEEDED changed nothing; files
//! it wrote are deleted, and the orphan sweep (`crate::sweep_orphan_files`)
//! removes any a crash left.

mod exec;
pub mod request;
pub mod routing;
pub mod source;

use crate::AppState;
use locus_store::{Job, JobEnd, JobStatus};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often an idle worker looks for jobs submitted on other instances.
const POLL: Duration = Duration::from_secs(1);

/// Wakes this instance's workers when a job is submitted here.
#[derive(Debug)]
pub struct Queue {
    notify: Notify,
    /// Names this process's workers in the store (`worker` column).
    pub instance: String,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            notify: Notify::new(),
            instance: format!("{}-{}", std::process::id(), locus_core::ids::random_lower36(8)),
        }
    }
}

impl Queue {
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// How far a running job has come, shared between the job and its lease keeper.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
}

impl Progress {
    /// (rows, bytes), as the store keeps them.
    pub fn get(&self) -> (i64, i64) {
        let load = |n: &AtomicU64| i64::try_from(n.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        (load(&self.rows), load(&self.bytes))
    }

    pub fn set(&self, rows: u64, bytes: u64) {
        self.rows.store(rows, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs the workers and the sweeper until the task is aborted.
pub async fn run(state: AppState) {
    let mut tasks = tokio::task::JoinSet::new();
    // 0 workers: this instance only sweeps (tests use it to play a dead worker).
    for n in 0..state.settings.job_workers {
        let worker = format!("{}/{n}", state.jobs.instance);
        tasks.spawn(work(state.clone(), worker));
    }
    tasks.spawn(sweep(state.clone()));
    while tasks.join_next().await.is_some() {}
}

async fn sweep(state: AppState) {
    let mut tick = tokio::time::interval((state.settings.job_lease / 3).max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        match state.store.sweep_jobs().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "jobs of stopped workers ended"),
            Err(e) => tracing::warn!(error = %e, "sweeping jobs failed"),
        }
    }
}

async fn work(state: AppState, worker: String) {
    let lease = millis(state.settings.job_lease);
    let limit = millis(state.settings.job_time_limit);
    loop {
        match state.store.claim_job(&worker, lease, limit).await {
            Ok(Some(job)) => run_one(&state, &worker, job).await,
            Ok(None) => {
                let _ = tokio::time::timeout(POLL, state.jobs.notify.notified()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming a job failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Runs one claimed job to its end, keeping its lease meanwhile.
async fn run_one(state: &AppState, worker: &str, job: Job) {
    let progress = Arc::new(Progress::default());
    let keeper = tokio::spawn(keep_lease(state.clone(), worker.to_owned(), job.id.clone(), progress.clone()));
    let exec = tokio::spawn(exec::run(state.clone(), job.clone(), progress.clone()));
    let abort = exec.abort_handle();
    let outcome = tokio::time::timeout(state.settings.job_time_limit, exec).await;
    keeper.abort();
    let (end, cleanup) = match outcome {
        Ok(Ok(done)) => (done.end, done.cleanup),
        Ok(Err(panic)) => {
            tracing::error!(job = %job.id, error = %panic, "a job panicked");
            (failed("the job failed on an internal error; nothing was changed"), Vec::new())
        }
        Err(_) => {
            abort.abort();
            let limit = state.settings.job_time_limit.as_secs();
            let end = JobEnd {
                status: JobStatus::TimedOut,
                message: Some(format!(
                    "the job ran longer than the limit of {limit} s and was stopped; nothing was changed"
                )),
                result: None,
                change: None,
            };
            (end, Vec::new())
        }
    };
    let succeeded = end.status == JobStatus::Succeeded;
    let files = exec::written_files(end.change.as_ref());
    let loaded = exec::loaded_datasets(end.change.as_ref());
    let done = progress.get();
    match state.store.finish_job(&job, worker, end, done).await {
        Ok(true) => {
            if !loaded.is_empty() {
                tokio::spawn(exec::index_loaded(state.clone(), job, loaded));
            }
        }
        Ok(false) => {
            tracing::warn!(job = %job.id, "the job's lease was lost before it ended; its work is dropped");
            exec::delete_quietly(state, &files).await;
        }
        Err(e) => {
            tracing::error!(job = %job.id, error = %e, "ending a job failed");
            let message = "the job's result could not be recorded; nothing was changed";
            if succeeded {
                exec::delete_quietly(state, &files).await;
            }
            if let Err(e) = state.store.finish_job(&job, worker, failed(message), done).await {
                tracing::error!(job = %job.id, error = %e, "ending a job as failed failed too; the sweep will");
            }
        }
    }
    // Files made obsolete by the committed end (a truncate's versions).
    exec::delete_quietly(state, &cleanup).await;
}

fn failed(message: &str) -> JobEnd {
    JobEnd {
        status: JobStatus::Failed,
        message: Some(message.to_owned()),
        result: None,
        change: None,
    }
}

async fn keep_lease(state: AppState, worker: String, job_id: String, progress: Arc<Progress>) {
    let lease = millis(state.settings.job_lease);
    let mut tick = tokio::time::interval((state.settings.job_lease / 3).max(Duration::from_millis(50)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (rows, bytes) = progress.get();
        match state.store.renew_job(&job_id, &worker, lease, rows, bytes).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(job = %job_id, error = %e, "renewing a job's lease failed"),
        }
    }
}

//! Jobs (api-contract.md §7): a queue in the control database that every
//! instance's workers take from.
//!
//! A job is QUEUED when submitted. A worker claims the oldest one in one
//! statement (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so instances never
//! claim the same job; SQLite has one writer) and holds a lease that it renews
//! while the job runs. A job ends in one transaction with its data change
//! (a new current version, a restore, a truncate) and its audit event, and
//! only if the worker still holds it: a worker that lost its lease (it
//! stalled, and the sweep ended the job FAILED) changes nothing.

use crate::audit::{record, Actor};
use crate::row::Cols;
use crate::{Backend, Result, Store, StoreError, Tx};

/// Where a job is. On the wire QUEUED reads RUNNING ("queued or running").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
            JobStatus::TimedOut => "TIMED_OUT",
            JobStatus::Aborted => "ABORTED",
        }
    }

    /// The status the contract shows.
    pub fn wire(self) -> &'static str {
        match self {
            JobStatus::Queued => "RUNNING",
            other => other.as_str(),
        }
    }

    fn parse(s: &str) -> Result<JobStatus> {
        Ok(match s {
            "QUEUED" => JobStatus::Queued,
            "RUNNING" => JobStatus::Running,
            "SUCCEEDED" => JobStatus::Succeeded,
            "FAILED" => JobStatus::Failed,
            "TIMED_OUT" => JobStatus::TimedOut,
            "ABORTED" => JobStatus::Aborted,
            other => return Err(StoreError::Corrupt(format!("job status {other:?}"))),
        })
    }

    pub fn is_done(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub project_id: String,
    pub account_id: Option<String>,
    pub kind: String,
    pub dataset: Option<String>,
    /// The request's `content`, as JSON text.
    pub content: String,
    pub status: JobStatus,
    pub message: Option<String>,
    /// The result, as JSON text.
    pub result: Option<String>,
    pub progress_rows: i64,
    pub progress_bytes: i64,
    pub worker: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub deadline_at: Option<i64>,
}

pub struct NewJob<'a> {
    pub project_id: &'a str,
    pub account_id: Option<&'a str>,
    pub kind: &'a str,
    pub dataset: Option<&'a str>,
    pub content: String,
}

/// Filters of the job history; `before`/`after` is the keyset cursor
/// `(created_at, id)` of the last job of the previous page.
#[derive(Debug, Clone, Default)]
pub struct JobQuery {
    pub project_id: String,
    pub account_id: Option<String>,
    pub kind: Option<String>,
    pub dataset: Option<String>,
    pub cursor: Option<(i64, String)>,
    pub ascending: bool,
    pub limit: i64,
}

/// A new stored version of a dataset's rows.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub dataset: String,
    pub version_id: String,
    pub path: String,
    pub rows: i64,
    pub bytes: i64,
}

/// What a job changes in the project's data, with its end.
#[derive(Debug, Clone)]
pub enum DataChange {
    /// Stores versions and makes each its dataset's current one (a load, an import).
    NewVersions(Vec<NewVersion>),
    /// Makes an existing version current again.
    Restore { dataset: String, version_id: String },
    /// Forgets every version of the project; the caller deletes the files after.
    Truncate,
    /// A file for download (a dump), kept until `expires_at`.
    Download {
        id: String,
        kind: String,
        path: String,
        expires_at: i64,
    },
    /// What a bulk point query used, for metering.
    Usage(Usage),
}

/// The metered use of one bulk point query job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub points: i64,
    pub point_queries: i64,
    pub metrics: i64,
    pub rows_scanned: i64,
    pub compute_ms: i64,
    pub billable: bool,
}

/// Usage summed per account over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSum {
    pub account_id: Option<String>,
    pub jobs: i64,
    pub usage: Usage,
    /// The billable part of `usage.points`.
    pub billable_points: i64,
}

/// How a job ends.
#[derive(Debug, Clone)]
pub struct JobEnd {
    pub status: JobStatus,
    pub message: Option<String>,
    pub result: Option<serde_json::Value>,
    pub change: Option<DataChange>,
}

const COLUMNS: &str = "id, project_id, account_id, type, dataset, content, status, message, result, progress_rows, \
     progress_bytes, worker, created_at, started_at, ended_at, deadline_at";

fn job_from_row(row: &impl Cols) -> Result<Job> {
    Ok(Job {
        id: row.text("id")?,
        project_id: row.text("project_id")?,
        account_id: row.opt_text("account_id")?,
        kind: row.text("type")?,
        dataset: row.opt_text("dataset")?,
        content: row.text("content")?,
        status: JobStatus::parse(&row.text("status")?)?,
        message: row.opt_text("message")?,
        result: row.opt_text("result")?,
        progress_rows: row.int("progress_rows")?,
        progress_bytes: row.int("progress_bytes")?,
        worker: row.opt_text("worker")?,
        created_at: row.int("created_at")?,
        started_at: row.opt_int("started_at")?,
        ended_at: row.opt_int("ended_at")?,
        deadline_at: row.opt_int("deadline_at")?,
    })
}

/// The actor of what a job does: its submitter, with the job as the "request".
pub fn job_actor(job: &Job) -> Actor {
    Actor {
        account_id: job.account_id.clone(),
        request_id: job.id.chars().take(16).collect(),
        remote_host: "locus-job".to_owned(),
    }
}

impl Store {
    /// Queues a job, with its audit event.
    pub async fn create_job(&self, actor: &Actor, new: NewJob<'_>) -> Result<Job> {
        let now = crate::now_millis();
        let id = locus_core::ids::random_lower36(32);
        let job_id = &id;
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO jobs (id, project_id, account_id, type, dataset, content, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'QUEUED', $7)",
            )
            .bind(job_id)
            .bind(new.project_id)
            .bind(new.account_id)
            .bind(new.kind)
            .bind(new.dataset)
            .bind(&new.content)
            .bind(now)
            .execute()
            .await?;
            let content = serde_json::json!({"job_id": job_id, "type": new.kind, "dataset": new.dataset});
            record(&mut tx, actor, Some(new.project_id), "submit_job", content).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.job(&id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn job(&self, id: &str) -> Result<Option<Job>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        self.read(&sql)
            .bind(id)
            .fetch_optional()
            .await?
            .map(|r| job_from_row(&r))
            .transpose()
    }

    /// A page of a project's jobs, newest first unless `ascending`.
    pub async fn job_history(&self, q: &JobQuery) -> Result<Vec<Job>> {
        let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE project_id = $1");
        let mut texts: Vec<&str> = Vec::new();
        let mut n = 1;
        let mut param = |sql: &mut String, cond: &str| {
            n += 1;
            sql.push_str(&cond.replace('?', &format!("${n}")));
        };
        if let Some(a) = &q.account_id {
            param(&mut sql, " AND account_id = ?");
            texts.push(a);
        }
        if let Some(k) = &q.kind {
            param(&mut sql, " AND type = ?");
            texts.push(k);
        }
        if let Some(d) = &q.dataset {
            param(&mut sql, " AND dataset = ?");
            texts.push(d);
        }
        let (op, order) = if q.ascending { (">", "ASC") } else { ("<", "DESC") };
        if q.cursor.is_some() {
            // $k is the timestamp, $k+1 the id
            let ts = n + 1;
            let idp = n + 2;
            sql.push_str(&format!(" AND (created_at {op} ${ts} OR (created_at = ${ts} AND id {op} ${idp}))"));
        }
        sql.push_str(&format!(" ORDER BY created_at {order}, id {order} LIMIT {}", q.limit.max(1)));
        let mut query = self.read(&sql).bind(q.project_id.as_str());
        for t in texts {
            query = query.bind(t);
        }
        if let Some((ts, id)) = &q.cursor {
            query = query.bind(*ts).bind(id.as_str());
        }
        query.fetch_all().await?.iter().map(job_from_row).collect()
    }

    /// Claims the oldest queued job for `worker`, with a lease until
    /// `now + lease_ms` and a deadline `now + time_limit_ms`.
    pub async fn claim_job(&self, worker: &str, lease_ms: i64, time_limit_ms: i64) -> Result<Option<Job>> {
        let now = crate::now_millis();
        let pick = match self.backend {
            Backend::Postgres => "SELECT id FROM jobs WHERE status = 'QUEUED' ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "SELECT id FROM jobs WHERE status = 'QUEUED' ORDER BY created_at LIMIT 1",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'RUNNING', worker = $1, lease_until = $2, started_at = $3, deadline_at = $4 \
             WHERE id = ({pick}) AND status = 'QUEUED' RETURNING {COLUMNS}"
        );
        let sql = &sql;
        self.write(|mut tx| async move {
            let row = tx
                .query(sql)
                .bind(worker)
                .bind(now + lease_ms)
                .bind(now)
                .bind(now.saturating_add(time_limit_ms))
                .fetch_optional()
                .await?;
            let job = row.map(|r| job_from_row(&r)).transpose()?;
            tx.commit().await?;
            Ok(job)
        })
        .await
    }

    /// Renews `worker`'s lease on a running job and records its progress.
    /// False when the worker no longer holds the job (the sweep ended it).
    pub async fn renew_job(&self, id: &str, worker: &str, lease_ms: i64, rows: i64, bytes: i64) -> Result<bool> {
        let now = crate::now_millis();
        self.write(|mut tx| async move {
            let n = tx
                .query(
                    "UPDATE jobs SET lease_until = $1, progress_rows = $2, progress_bytes = $3 \
                     WHERE id = $4 AND worker = $5 AND status = 'RUNNING'",
                )
                .bind(now + lease_ms)
                .bind(rows)
                .bind(bytes)
                .bind(id)
                .bind(worker)
                .execute()
                .await?;
            tx.commit().await?;
            Ok(n == 1)
        })
        .await
    }

    /// Ends a job that `worker` holds, with its data change and audit event,
    /// in one transaction. False (and nothing changed) when the worker no
    /// longer holds it.
    pub async fn finish_job(&self, job: &Job, worker: &str, end: JobEnd, progress: (i64, i64)) -> Result<bool> {
        let now = crate::now_millis();
        let actor = job_actor(job);
        let end = &end;
        let actor = &actor;
        self.write(|mut tx| async move {
            let result = end.result.as_ref().map(serde_json::Value::to_string);
            let n = tx
                .query(
                    "UPDATE jobs SET status = $1, message = $2, result = $3, ended_at = $4, lease_until = NULL, \
                     progress_rows = $7, progress_bytes = $8 WHERE id = $5 AND worker = $6 AND status = 'RUNNING'",
                )
                .bind(end.status.as_str())
                .bind(end.message.as_deref())
                .bind(result)
                .bind(now)
                .bind(&job.id)
                .bind(worker)
                .bind(progress.0)
                .bind(progress.1)
                .execute()
                .await?;
            if n != 1 {
                return Ok(false);
            }
            if end.status == JobStatus::Succeeded {
                if let Some(change) = &end.change {
                    apply_change(&mut tx, job, change, now).await?;
                }
            }
            let content = serde_json::json!({
                "job_id": job.id, "type": job.kind, "dataset": job.dataset,
                "status": end.status.as_str(), "message": end.message, "result": end.result,
            });
            record(&mut tx, actor, Some(&job.project_id), "job_ended", content).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Ends jobs whose worker stopped renewing its lease: FAILED, with a
    /// message, and an audit event each. Returns how many.
    pub async fn sweep_jobs(&self) -> Result<u64> {
        let now = crate::now_millis();
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE status = 'RUNNING' AND lease_until < $1");
        let lapsed: Vec<Job> = self
            .read(&sql)
            .bind(now)
            .fetch_all()
            .await?
            .iter()
            .map(job_from_row)
            .collect::<Result<_>>()?;
        let mut ended = 0;
        for job in &lapsed {
            let (status, message) = match job.deadline_at {
                Some(d) if d < now => (
                    JobStatus::TimedOut,
                    "the job ran past its time limit and its worker stopped answering",
                ),
                _ => (
                    JobStatus::Failed,
                    "the worker running this job stopped (a crash, a kill or a lost connection); nothing it did was kept",
                ),
            };
            let end = JobEnd {
                status,
                message: Some(message.to_owned()),
                result: None,
                change: None,
            };
            if let Some(worker) = &job.worker {
                // Ends it only if it is still the lapsed lease found above.
                let still = self
                    .read("SELECT COUNT(*) FROM jobs WHERE id = $1 AND status = 'RUNNING' AND lease_until < $2")
                    .bind(job.id.as_str())
                    .bind(now)
                    .fetch_int()
                    .await?;
                if still == 1 && self.finish_job(job, worker, end, (job.progress_rows, job.progress_bytes)).await? {
                    ended += 1;
                }
            }
        }
        Ok(ended)
    }

    /// The current version of each loaded dataset of a project: (dataset, version).
    pub async fn current_versions(&self, project_id: &str) -> Result<Vec<DatasetVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM dataset_heads h JOIN dataset_versions v \
             ON v.project_id = h.project_id AND v.dataset = h.dataset AND v.version_id = h.version_id \
             WHERE h.project_id = $1 ORDER BY v.dataset"
        );
        self.read(&sql)
            .bind(project_id)
            .fetch_all()
            .await?
            .iter()
            .map(version_from_row)
            .collect()
    }

    /// The current version of one dataset, if it was ever loaded.
    pub async fn current_version(&self, project_id: &str, dataset: &str) -> Result<Option<DatasetVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM dataset_heads h JOIN dataset_versions v \
             ON v.project_id = h.project_id AND v.dataset = h.dataset AND v.version_id = h.version_id \
             WHERE h.project_id = $1 AND h.dataset = $2"
        );
        self.read(&sql)
            .bind(project_id)
            .bind(dataset)
            .fetch_optional()
            .await?
            .map(|r| version_from_row(&r))
            .transpose()
    }

    /// Every kept version of a dataset: the current one first, then the newest first.
    pub async fn dataset_versions(&self, project_id: &str, dataset: &str) -> Result<Vec<DatasetVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM dataset_versions v LEFT JOIN dataset_heads h \
             ON v.project_id = h.project_id AND v.dataset = h.dataset AND v.version_id = h.version_id \
             WHERE v.project_id = $1 AND v.dataset = $2 ORDER BY (h.version_id IS NULL), v.created_at DESC, v.version_id DESC"
        );
        self.read(&sql)
            .bind(project_id)
            .bind(dataset)
            .fetch_all()
            .await?
            .iter()
            .map(version_from_row)
            .collect()
    }

    /// Every version file of a project (for a truncate, after it committed).
    pub async fn all_version_paths(&self, project_id: &str) -> Result<Vec<String>> {
        let rows = self
            .read("SELECT path FROM dataset_versions WHERE project_id = $1")
            .bind(project_id)
            .fetch_all()
            .await?;
        rows.iter().map(|r| r.text("path")).collect()
    }

    /// The projects with a job queued or running, whose files the orphan
    /// sweep leaves alone: such a job may have written files not recorded yet.
    pub async fn projects_with_jobs_in_flight(&self) -> Result<std::collections::HashSet<String>> {
        let rows = self
            .read("SELECT DISTINCT project_id FROM jobs WHERE status IN ('QUEUED', 'RUNNING')")
            .fetch_all()
            .await?;
        rows.iter().map(|r| r.text("project_id")).collect()
    }

    /// Forgets versions replaced before `before` and returns their files, for
    /// the caller to delete. A version replaced later stays restorable.
    pub async fn expire_versions(&self, before: i64) -> Result<Vec<String>> {
        self.write(|mut tx| async move {
            let rows = tx
                .query(
                    "DELETE FROM dataset_versions WHERE replaced_at IS NOT NULL AND replaced_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM dataset_heads h WHERE h.project_id = dataset_versions.project_id \
                       AND h.dataset = dataset_versions.dataset AND h.version_id = dataset_versions.version_id) \
                     RETURNING path",
                )
                .bind(before)
                .fetch_all()
                .await?;
            tx.commit().await?;
            rows.iter().map(|r| r.text("path")).collect()
        })
        .await
    }

    /// A download of a project, if it has not expired.
    pub async fn download(&self, project_id: &str, id: &str, now: i64) -> Result<Option<Download>> {
        let row = self
            .read("SELECT id, kind, path, expires_at FROM downloads WHERE project_id = $1 AND id = $2 AND expires_at > $3")
            .bind(project_id)
            .bind(id)
            .bind(now)
            .fetch_optional()
            .await?;
        row.map(|r| {
            Ok(Download {
                id: r.text("id")?,
                kind: r.text("kind")?,
                path: r.text("path")?,
                expires_at: r.int("expires_at")?,
            })
        })
        .transpose()
    }

    /// The account whose job made a download (exports are read only by it).
    pub async fn download_job_account(&self, project_id: &str, id: &str) -> Result<Option<String>> {
        let row = self
            .read(
                "SELECT j.account_id FROM downloads d JOIN jobs j ON j.id = d.job_id \
                 WHERE d.project_id = $1 AND d.id = $2",
            )
            .bind(project_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| r.opt_text("account_id")).transpose().map(Option::flatten)
    }

    /// Remembers a DWH query request under its result id (a cache row: no
    /// audit event; the same id twice is the same request).
    pub async fn put_dwh_request(&self, project_id: &str, id: &str, kind: &str, body: &str, now: i64) -> Result<()> {
        let (project_id, id, kind, body) = (project_id.to_owned(), id.to_owned(), kind.to_owned(), body.to_owned());
        self.write(|mut tx| async move {
            tx.query(
                "INSERT INTO dwh_requests (id, project_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(project_id)
            .bind(kind)
            .bind(body)
            .bind(now)
            .execute()
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// A remembered DWH request: `(kind, body)`.
    pub async fn dwh_request(&self, project_id: &str, id: &str) -> Result<Option<(String, String)>> {
        let row = self
            .read("SELECT kind, body FROM dwh_requests WHERE project_id = $1 AND id = $2")
            .bind(project_id)
            .bind(id)
            .fetch_optional()
            .await?;
        row.map(|r| Ok((r.text("kind")?, r.text("body")?))).transpose()
    }

    /// Forgets DWH requests made before `before`.
    pub async fn expire_dwh_requests(&self, before: i64) -> Result<u64> {
        self.write(|mut tx| async move {
            let done = tx
                .query("DELETE FROM dwh_requests WHERE created_at < $1")
                .bind(before)
                .execute()
                .await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// Bulk point query usage of a project in `[from, to)`, summed per account
    /// (one account when `account_id` is given), by account id.
    pub async fn usage(&self, project_id: &str, from: i64, to: i64, account_id: Option<&str>) -> Result<Vec<UsageSum>> {
        let rows = self
            .read(
                "SELECT account_id, COUNT(*) AS jobs, CAST(SUM(points) AS BIGINT) AS points, \
                 CAST(SUM(point_queries) AS BIGINT) AS point_queries, CAST(SUM(metrics) AS BIGINT) AS metrics, \
                 CAST(SUM(rows_scanned) AS BIGINT) AS rows_scanned, CAST(SUM(compute_ms) AS BIGINT) AS compute_ms, \
                 CAST(SUM(CASE WHEN billable = 1 THEN points ELSE 0 END) AS BIGINT) AS billable_points \
                 FROM usage_records WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 \
                 AND (CAST($4 AS TEXT) IS NULL OR account_id = $4) GROUP BY account_id ORDER BY account_id",
            )
            .bind(project_id)
            .bind(from)
            .bind(to)
            .bind(account_id.map(str::to_owned))
            .fetch_all()
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageSum {
                    account_id: r.opt_text("account_id")?,
                    jobs: r.int("jobs")?,
                    usage: Usage {
                        points: r.int("points")?,
                        point_queries: r.int("point_queries")?,
                        metrics: r.int("metrics")?,
                        rows_scanned: r.int("rows_scanned")?,
                        compute_ms: r.int("compute_ms")?,
                        billable: false,
                    },
                    billable_points: r.int("billable_points")?,
                })
            })
            .collect()
    }

    /// Sets (or, with `None`, removes) an account's monthly quota of bulk
    /// point query points in a project; audited.
    pub async fn set_usage_quota(&self, actor: &Actor, project_id: &str, account_id: &str, monthly_points: Option<i64>) -> Result<()> {
        let (project_id, account_id) = (project_id.to_owned(), account_id.to_owned());
        self.write(|mut tx| async move {
            tx.query("DELETE FROM usage_quotas WHERE project_id = $1 AND account_id = $2")
                .bind(&project_id)
                .bind(&account_id)
                .execute()
                .await?;
            if let Some(points) = monthly_points {
                tx.query("INSERT INTO usage_quotas (project_id, account_id, monthly_points) VALUES ($1, $2, $3)")
                    .bind(&project_id)
                    .bind(&account_id)
                    .bind(points)
                    .execute()
                    .await?;
            }
            crate::audit::record(
                &mut tx,
                actor,
                Some(&project_id),
                "update_usage_quota",
                serde_json::json!({"account_id": account_id, "monthly_points": monthly_points}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// An account's monthly quota of points in a project, if one is set.
    pub async fn usage_quota(&self, project_id: &str, account_id: &str) -> Result<Option<i64>> {
        let row = self
            .read("SELECT monthly_points FROM usage_quotas WHERE project_id = $1 AND account_id = $2")
            .bind(project_id)
            .bind(account_id)
            .fetch_optional()
            .await?;
        row.map(|r| r.int("monthly_points")).transpose()
    }

    /// Forgets expired downloads and returns their files, for the caller to delete.
    pub async fn expire_downloads(&self, now: i64) -> Result<Vec<String>> {
        self.write(|mut tx| async move {
            let rows = tx
                .query("DELETE FROM downloads WHERE expires_at <= $1 RETURNING path")
                .bind(now)
                .fetch_all()
                .await?;
            tx.commit().await?;
            rows.iter().map(|r| r.text("path")).collect()
        })
        .await
    }
}

/// A file made for download.
#[derive(Debug, Clone)]
pub struct Download {
    pub id: String,
    pub kind: String,
    pub path: String,
    pub expires_at: i64,
}

/// One stored version of a dataset.
#[derive(Debug, Clone)]
pub struct DatasetVersion {
    pub dataset: String,
    pub version_id: String,
    pub path: String,
    pub rows: i64,
    pub bytes: i64,
    pub loaded_by: Option<String>,
    pub job_id: Option<String>,
    pub created_at: i64,
    pub replaced_at: Option<i64>,
    pub current: bool,
}

const VERSION_COLUMNS: &str = "v.dataset, v.version_id, v.path, v.row_count, v.byte_count, v.loaded_by, v.job_id, v.created_at, \
     v.replaced_at, h.version_id AS head";

fn version_from_row(row: &impl Cols) -> Result<DatasetVersion> {
    Ok(DatasetVersion {
        dataset: row.text("dataset")?,
        version_id: row.text("version_id")?,
        path: row.text("path")?,
        rows: row.int("row_count")?,
        bytes: row.int("byte_count")?,
        loaded_by: row.opt_text("loaded_by")?,
        job_id: row.opt_text("job_id")?,
        created_at: row.int("created_at")?,
        replaced_at: row.opt_int("replaced_at")?,
        current: row.opt_text("head")?.is_some(),
    })
}

async fn apply_change(tx: &mut Tx, job: &Job, change: &DataChange, now: i64) -> Result<()> {
    let pid = job.project_id.as_str();
    match change {
        DataChange::NewVersions(versions) => {
            for v in versions {
                tx.query(
                    "INSERT INTO dataset_versions (project_id, dataset, version_id, path, row_count, byte_count, loaded_by, job_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(pid)
                .bind(&v.dataset)
                .bind(&v.version_id)
                .bind(&v.path)
                .bind(v.rows)
                .bind(v.bytes)
                .bind(job.account_id.as_deref())
                .bind(&job.id)
                .bind(now)
                .execute()
                .await?;
                make_current(tx, pid, &v.dataset, &v.version_id, now).await?;
            }
        }
        DataChange::Restore { dataset, version_id } => {
            let found = tx
                .query("SELECT COUNT(*) FROM dataset_versions WHERE project_id = $1 AND dataset = $2 AND version_id = $3")
                .bind(pid)
                .bind(dataset)
                .bind(version_id)
                .fetch_int()
                .await?;
            if found != 1 {
                return Err(StoreError::NotFound);
            }
            make_current(tx, pid, dataset, version_id, now).await?;
        }
        DataChange::Truncate => {
            tx.query("DELETE FROM dataset_heads WHERE project_id = $1")
                .bind(pid)
                .execute()
                .await?;
            tx.query("DELETE FROM dataset_versions WHERE project_id = $1")
                .bind(pid)
                .execute()
                .await?;
        }
        DataChange::Usage(u) => {
            tx.query(
                "INSERT INTO usage_records (job_id, project_id, account_id, points, point_queries, metrics, rows_scanned, \
                 compute_ms, billable, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&job.id)
            .bind(pid)
            .bind(job.account_id.clone())
            .bind(u.points)
            .bind(u.point_queries)
            .bind(u.metrics)
            .bind(u.rows_scanned)
            .bind(u.compute_ms)
            .bind(u.billable)
            .bind(now)
            .execute()
            .await?;
        }
        DataChange::Download {
            id,
            kind,
            path,
            expires_at,
        } => {
            tx.query(
                "INSERT INTO downloads (id, project_id, kind, path, job_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(pid)
            .bind(kind)
            .bind(path)
            .bind(&job.id)
            .bind(now)
            .bind(*expires_at)
            .execute()
            .await?;
        }
    }
    Ok(())
}

/// Makes `version_id` the dataset's current version; the one it replaces is
/// marked replaced now (the retention counts from here).
async fn make_current(tx: &mut Tx, pid: &str, dataset: &str, version_id: &str, now: i64) -> Result<()> {
    tx.query(
        "UPDATE dataset_versions SET replaced_at = $1 WHERE project_id = $2 AND dataset = $3 AND version_id IN \
         (SELECT version_id FROM dataset_heads WHERE project_id = $2 AND dataset = $3)",
    )
    .bind(now)
    .bind(pid)
    .bind(dataset)
    .execute()
    .await?;
    tx.query("DELETE FROM dataset_heads WHERE project_id = $1 AND dataset = $2")
        .bind(pid)
        .bind(dataset)
        .execute()
        .await?;
    tx.query("INSERT INTO dataset_heads (project_id, dataset, version_id) VALUES ($1, $2, $3)")
        .bind(pid)
        .bind(dataset)
        .bind(version_id)
        .execute()
        .await?;
    tx.query("UPDATE dataset_versions SET replaced_at = NULL WHERE project_id = $1 AND dataset = $2 AND version_id = $3")
        .bind(pid)
        .bind(dataset)
        .bind(version_id)
        .execute()
        .await?;
    Ok(())
}

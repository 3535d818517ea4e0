//! The job queue and dataset versions: every queued job is claimed once
//! however many instances claim at once; a job ends (with its data change)
//! only by the worker holding it; a lapsed lease ends the job FAILED; a
//! replaced version is forgotten only after the retention.

use crate::metadata::fixture;
use crate::{contract, TestDb};
use locus_store::{DataChange, JobEnd, JobStatus, NewJob, NewVersion, Store};
use std::collections::HashSet;

contract!(jobs: concurrent_claims_take_each_job_once, only_the_holder_ends_a_job_and_its_change_counts,
    a_lapsed_lease_ends_the_job_failed, replaced_versions_expire_after_the_retention,
    projects_with_jobs_in_flight_are_those_with_a_job_queued_or_running);

async fn submit(store: &Store, pid: &str, kind: &str) -> String {
    let new = NewJob {
        project_id: pid,
        account_id: None,
        kind,
        dataset: Some("shops"),
        content: "{}".into(),
    };
    store.create_job(&crate::actor(), new).await.unwrap().id
}

fn end(status: JobStatus, change: Option<DataChange>) -> JobEnd {
    JobEnd {
        status,
        message: None,
        result: Some(serde_json::json!({})),
        change,
    }
}

fn version(id: &str) -> DataChange {
    DataChange::NewVersions(vec![NewVersion {
        dataset: "shops".into(),
        version_id: id.into(),
        path: format!("projects/p/datasets/shops/{id}.parquet"),
        rows: 10,
        bytes: 100,
    }])
}

async fn concurrent_claims_take_each_job_once(db: TestDb) {
    let f = fixture(db).await;
    let mut submitted = HashSet::new();
    for _ in 0..30 {
        submitted.insert(submit(&f.db.store, &f.pid, "validate").await);
    }
    // Three instances, two workers each, all claiming at once.
    let mut tasks = tokio::task::JoinSet::new();
    for instance in 0..3 {
        let store = Store::open(&f.db.url).await.unwrap();
        for worker in 0..2 {
            let store = store.clone();
            tasks.spawn(async move {
                let mut got = Vec::new();
                while let Some(job) = store.claim_job(&format!("i{instance}/{worker}"), 60_000, 60_000).await.unwrap() {
                    got.push(job.id);
                }
                got
            });
        }
    }
    let mut claimed = Vec::new();
    while let Some(got) = tasks.join_next().await {
        claimed.extend(got.unwrap());
    }
    assert_eq!(claimed.len(), submitted.len(), "each job once");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), submitted);
}

async fn only_the_holder_ends_a_job_and_its_change_counts(db: TestDb) {
    let f = fixture(db).await;
    let s = &f.db.store;
    submit(s, &f.pid, "dataPull").await;
    let job = s.claim_job("w/0", 60_000, 60_000).await.unwrap().unwrap();
    assert!(!s
        .finish_job(&job, "w/1", end(JobStatus::Succeeded, Some(version("v1"))), (1, 2))
        .await
        .unwrap());
    assert!(
        s.current_version(&f.pid, "shops").await.unwrap().is_none(),
        "another worker changed nothing"
    );
    assert!(s
        .finish_job(&job, "w/0", end(JobStatus::Succeeded, Some(version("v1"))), (10, 20))
        .await
        .unwrap());
    assert_eq!(s.current_version(&f.pid, "shops").await.unwrap().unwrap().version_id, "v1");
    let ended = s.job(&job.id).await.unwrap().unwrap();
    assert_eq!((ended.status, ended.progress_rows), (JobStatus::Succeeded, 10));
    assert!(
        !s.finish_job(&job, "w/0", end(JobStatus::Failed, None), (0, 0)).await.unwrap(),
        "ends once"
    );

    // A failed job's change is not applied.
    submit(s, &f.pid, "dataPull").await;
    let job = s.claim_job("w/0", 60_000, 60_000).await.unwrap().unwrap();
    assert!(s
        .finish_job(&job, "w/0", end(JobStatus::Failed, Some(version("v2"))), (0, 0))
        .await
        .unwrap());
    assert_eq!(s.current_version(&f.pid, "shops").await.unwrap().unwrap().version_id, "v1");

    submit(s, &f.pid, "dataPull").await;
    let job = s.claim_job("w/0", 60_000, 60_000).await.unwrap().unwrap();
    assert!(s
        .finish_job(&job, "w/0", end(JobStatus::Succeeded, Some(version("v3"))), (0, 0))
        .await
        .unwrap());
    let versions = s.dataset_versions(&f.pid, "shops").await.unwrap();
    let current: Vec<(&str, bool)> = versions.iter().map(|v| (v.version_id.as_str(), v.current)).collect();
    assert_eq!(current, [("v3", true), ("v1", false)]);
}

async fn projects_with_jobs_in_flight_are_those_with_a_job_queued_or_running(db: TestDb) {
    let f = fixture(db).await;
    let s = &f.db.store;
    assert!(s.projects_with_jobs_in_flight().await.unwrap().is_empty());
    submit(s, &f.pid, "validate").await;
    let queued = s.projects_with_jobs_in_flight().await.unwrap();
    assert_eq!(queued, HashSet::from([f.pid.clone()]));
    let job = s.claim_job("w/0", 60_000, 60_000).await.unwrap().unwrap();
    assert_eq!(s.projects_with_jobs_in_flight().await.unwrap(), queued, "running");
    assert!(s.finish_job(&job, "w/0", end(JobStatus::Failed, None), (0, 0)).await.unwrap());
    assert!(s.projects_with_jobs_in_flight().await.unwrap().is_empty(), "ended");
}

async fn a_lapsed_lease_ends_the_job_failed(db: TestDb) {
    let f = fixture(db).await;
    let s = &f.db.store;
    let id = submit(s, &f.pid, "validate").await;
    let job = s.claim_job("dead/0", -1, 60_000).await.unwrap().unwrap();
    assert_eq!(job.id, id);
    assert_eq!(s.sweep_jobs().await.unwrap(), 1);
    let ended = s.job(&id).await.unwrap().unwrap();
    assert_eq!(ended.status, JobStatus::Failed);
    assert!(ended.message.unwrap().contains("worker"));
    assert!(
        !s.renew_job(&id, "dead/0", 60_000, 0, 0).await.unwrap(),
        "the worker learns it lost the job"
    );
    // A live lease is left alone.
    submit(s, &f.pid, "validate").await;
    s.claim_job("live/0", 60_000, 60_000).await.unwrap().unwrap();
    assert_eq!(s.sweep_jobs().await.unwrap(), 0);
}

async fn replaced_versions_expire_after_the_retention(db: TestDb) {
    let f = fixture(db).await;
    let s = &f.db.store;
    for v in ["v1", "v2"] {
        submit(s, &f.pid, "dataPull").await;
        let job = s.claim_job("w/0", 60_000, 60_000).await.unwrap().unwrap();
        assert!(s
            .finish_job(&job, "w/0", end(JobStatus::Succeeded, Some(version(v))), (0, 0))
            .await
            .unwrap());
    }
    let replaced_at = s.dataset_versions(&f.pid, "shops").await.unwrap()[1].replaced_at.unwrap();
    assert!(
        s.expire_versions(replaced_at).await.unwrap().is_empty(),
        "not yet past the retention"
    );
    let expired = s.expire_versions(replaced_at + 1).await.unwrap();
    assert_eq!(expired, ["projects/p/datasets/shops/v1.parquet"]);
    let left: Vec<String> = s
        .dataset_versions(&f.pid, "shops")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version_id)
        .collect();
    assert_eq!(left, ["v2"], "the current version never expires");
}

//! What the audit event costs the change it records. Target: "writing the event
//! adds at most 10% to the latency of the change it records", on SQLite and on
//! PostgreSQL.
//!
//! The change is a member's role change, `Store::update_membership` (VIEWER and
//! EDITOR in turn, ENABLED): a typical change with a typical event. On each
//! backend a fresh database (SQLite: a file in a temporary directory;
//! PostgreSQL: a fresh schema from `locus_store::testing::fresh_postgres_url`,
//! skipped when the server is not reachable) gets an account, a project and a
//! second member through the public store API. Five things are timed there:
//!
//! - `store (with event)`: `Store::update_membership`, the real code path;
//! - `pool without event`: the same transaction as `update_membership` runs it,
//!   statement for statement, through a second sqlx `Any` pool on the same
//!   database (set up like the store's: WAL, synchronous=NORMAL, busy timeout
//!   and foreign keys on SQLite): BEGIN (IMMEDIATE on SQLite); on PostgreSQL
//!   `SELECT … FOR UPDATE` of the project; SELECT the membership; UPDATE
//!   memberships; UPDATE invitations (the cancel of the member's pending
//!   invitations, as VIEWER and EDITOR may not invite; 0 rows); COMMIT;
//! - `pool with event`: that same transaction plus the identical
//!   `INSERT INTO audit_events` that `audit::record` runs (same columns, an
//!   event id made the same way, the same JSON content);
//! - `conn without event` / `conn with event`: the same two on one dedicated
//!   connection outside any pool (no acquire, no ping, no hand-back).
//!
//! The event's cost is `with event / without event` on the same pool or
//! connection (only the INSERT differs). Against the real code path it is
//! `(pool with - pool without) / (store - (pool with - pool without))`: what
//! the INSERT adds over what `update_membership` would take without it.
//!
//! Before criterion runs, a paired measurement runs the five in a shuffled
//! order each round for `AUDIT_PAIRED_ROUNDS` rounds (default 3000; 20
//! without `--bench`, as under `cargo test --benches`; 0 skips it), so that all
//! see the same background load and the same state of the database, and prints
//! per-kind median, mean, p90 and p99 and those ratios. This is the figure to
//! read: criterion then times each kind in a run of its own, where the write
//! lock, the SQLite page caches (reset whenever another connection wrote) and
//! the wake-ups of idle threads differ from kind to kind. `AUDIT_KINDS=4,3`
//! limits criterion to those kinds, in that order.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-audit cargo bench -p locus-bench --bench audit`
//! (PostgreSQL from `LOCUS_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; its schema is dropped at the end).

use criterion::Criterion;
use locus_core::{MembershipStatus, Role};
use locus_store::{Actor, NewAccount, NewProject, Store};
use rand::seq::SliceRandom;
use rand::Rng;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor, Row};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// As in crates/locus-store/src/projects.rs.
const MEMBERSHIP_COLUMNS: &str = "m.id AS m_id, m.project_id AS m_project_id, m.account_id AS m_account_id, \
     m.role AS m_role, m.status AS m_status, m.created_at AS m_created_at, m.modified_at AS m_modified_at";

const KINDS: [&str; 5] = [
    "store (with event)",
    "pool without event",
    "pool with event",
    "conn without event",
    "conn with event",
];

struct Fixture {
    name: &'static str,
    postgres: bool,
    store: Store,
    raw: AnyPool,
    /// One connection of its own, outside any pool (taken out while in use).
    conn: std::sync::Mutex<Option<sqlx::AnyConnection>>,
    actor: Actor,
    project_id: String,
    membership_id: String,
    /// Which of VIEWER / EDITOR the next change sets (each call flips it).
    editor_next: AtomicBool,
    /// What to remove at the end: the SQLite directory or the PostgreSQL schema.
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Schema { base: String, schema: String },
}

fn now_millis() -> i64 {
    locus_store::now_millis()
}

fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

/// As `audit::event_id`: 20 digits of microseconds, then 36 random digits.
fn event_id(now_micros: i64) -> String {
    let mut rng = rand::thread_rng();
    let random: String = (0..36).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
    format!("{:020}{random}", now_micros.max(0))
}

impl Fixture {
    async fn open(name: &'static str, url: String, cleanup: Cleanup) -> Fixture {
        let store = Store::open(&url).await.expect("open store");
        let postgres = !url.starts_with("sqlite:");
        let url = if postgres { url } else { format!("{url}?mode=rwc") };
        let raw = AnyPoolOptions::new()
            .max_connections(if postgres { 16 } else { 8 })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if !postgres {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .expect("raw pool");
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("dedicated connection");
        if !postgres {
            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                .await
                .expect("pragmas");
        }

        let actor = Actor {
            account_id: None,
            request_id: locus_core::ids::random_lower36(16),
            remote_host: "127.0.0.1".to_owned(),
        };
        let new_account = |email: &str, given: &str| NewAccount {
            email: email.to_owned(),
            given_name: given.to_owned(),
            surname: "Bench".to_owned(),
            phone_number: None,
            consent_granted: true,
            password_hash: "not-a-hash".to_owned(),
            operator: false,
            preferences: serde_json::json!({}),
            email_verified: true,
        };
        let admin = store
            .create_account(&actor, &new_account("admin@audit.example", "Admin"))
            .await
            .expect("admin account");
        let member = store
            .create_account(&actor, &new_account("member@audit.example", "Member"))
            .await
            .expect("member account");
        let actor = Actor {
            account_id: Some(admin.id.clone()),
            ..actor
        };
        let (project, _) = store
            .create_project(
                &actor,
                &admin.id,
                &NewProject {
                    title: "Audit bench".to_owned(),
                    description: None,
                    organization_id: admin.default_organization_id.clone(),
                },
            )
            .await
            .expect("project");
        let membership = store
            .add_membership(&actor, &project.id, &member.id, Role::Viewer, MembershipStatus::Enabled)
            .await
            .expect("membership");
        Fixture {
            name,
            postgres,
            store,
            raw,
            conn: std::sync::Mutex::new(Some(conn)),
            actor,
            project_id: project.id,
            membership_id: membership.id,
            editor_next: AtomicBool::new(true),
            cleanup,
        }
    }

    fn next_role(&self) -> Role {
        if self.editor_next.fetch_xor(true, Ordering::Relaxed) {
            Role::Editor
        } else {
            Role::Viewer
        }
    }

    /// The real thing: `Store::update_membership`, which records its event.
    async fn store_change(&self) {
        let role = self.next_role();
        self.store
            .update_membership(&self.actor, &self.project_id, &self.membership_id, role, MembershipStatus::Enabled)
            .await
            .expect("update_membership");
    }

    /// `update_membership`'s transaction, statement for statement, with or
    /// without its event: through the second pool, or on the dedicated connection.
    async fn raw_change(&self, with_event: bool, dedicated: bool) {
        if dedicated {
            let mut conn = self.conn.lock().expect("conn lock").take().expect("dedicated connection");
            let mut tx = if self.postgres {
                conn.begin().await
            } else {
                conn.begin_with("BEGIN IMMEDIATE").await
            }
            .expect("begin");
            self.statements(&mut tx, with_event).await;
            tx.commit().await.expect("commit");
            *self.conn.lock().expect("conn lock") = Some(conn);
        } else {
            let mut tx = if self.postgres {
                self.raw.begin().await
            } else {
                self.raw.begin_with("BEGIN IMMEDIATE").await
            }
            .expect("begin");
            self.statements(&mut tx, with_event).await;
            tx.commit().await.expect("commit");
        }
    }

    /// The statements of the transaction, between BEGIN and COMMIT.
    async fn statements(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, with_event: bool) {
        let role = self.next_role();
        let status = MembershipStatus::Enabled;
        if self.postgres {
            sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
                .bind(&self.project_id)
                .execute(&mut **tx)
                .await
                .expect("lock project");
        }
        let row = sqlx::query(&format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships m WHERE m.project_id = $1 AND m.id = $2"
        ))
        .bind(&self.project_id)
        .bind(&self.membership_id)
        .fetch_one(&mut **tx)
        .await
        .expect("membership");
        // Decoded as the store decodes it.
        let _id: String = row.try_get("m_id").expect("m_id");
        let _project: String = row.try_get("m_project_id").expect("m_project_id");
        let account_id: String = row.try_get("m_account_id").expect("m_account_id");
        let previous_role: String = row.try_get("m_role").expect("m_role");
        let previous_status: String = row.try_get("m_status").expect("m_status");
        let _created: i64 = row.try_get("m_created_at").expect("m_created_at");
        let _modified: i64 = row.try_get("m_modified_at").expect("m_modified_at");
        let now = now_millis();
        sqlx::query("UPDATE memberships SET role = $1, status = $2, modified_at = $3 WHERE id = $4")
            .bind(role.as_str())
            .bind(status.as_str())
            .bind(now)
            .bind(&self.membership_id)
            .execute(&mut **tx)
            .await
            .expect("update membership");
        // VIEWER and EDITOR may not invite: the store cancels the member's pending invitations.
        sqlx::query(
            "UPDATE invitations SET status = 'CANCELED', modified_at = $1 WHERE project_id = $2 AND invited_by = $3 AND status = 'PENDING'",
        )
        .bind(now)
        .bind(&self.project_id)
        .bind(&account_id)
        .execute(&mut **tx)
        .await
        .expect("cancel invitations");
        if with_event {
            let content = serde_json::json!({
                "updated_account_id": account_id, "role": role.as_str(), "membership_status": status.as_str(),
                "previous_role": previous_role, "previous_membership_status": previous_status,
            });
            let micros = now_micros();
            sqlx::query(
                "INSERT INTO audit_events (event_id, project_id, account_id, request_id, remote_host, event_type, created_at, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(event_id(micros))
            .bind(Some(self.project_id.as_str()))
            .bind(self.actor.account_id.as_deref())
            .bind(&self.actor.request_id)
            .bind(&self.actor.remote_host)
            .bind("update_membership")
            .bind(micros / 1000)
            .bind(content.to_string())
            .execute(&mut **tx)
            .await
            .expect("insert event");
        }
    }

    async fn run(&self, kind: usize) {
        match kind {
            0 => self.store_change().await,
            1 => self.raw_change(false, false).await,
            2 => self.raw_change(true, false).await,
            3 => self.raw_change(false, true).await,
            _ => self.raw_change(true, true).await,
        }
    }

    async fn close(self) {
        let conn = self.conn.lock().expect("conn lock").take();
        if let Some(conn) = conn {
            let _ = conn.close().await;
        }
        self.raw.close().await;
        self.store.close().await;
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { base, schema } => {
                if let Ok(mut conn) = sqlx::AnyConnection::connect(&base).await {
                    let _ = conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str()).await;
                    let _ = conn.close().await;
                }
            }
        }
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The kinds in a shuffled order each round, so that they share the background load.
fn paired(rt: &tokio::runtime::Runtime, fx: &Fixture, rounds: usize) {
    let mut samples: [Vec<Duration>; KINDS.len()] = Default::default();
    let mut order: Vec<usize> = (0..KINDS.len()).collect();
    rt.block_on(async {
        // Warm-up.
        for _ in 0..rounds.min(200) {
            for kind in 0..KINDS.len() {
                fx.run(kind).await;
            }
        }
        for _ in 0..rounds {
            order.shuffle(&mut rand::thread_rng());
            for &kind in &order {
                let start = Instant::now();
                fx.run(kind).await;
                samples[kind].push(start.elapsed());
            }
        }
    });
    let mut median = Vec::new();
    let mut mean = Vec::new();
    println!("\naudit_write/{} paired, {rounds} rounds (microseconds):", fx.name);
    println!("  {:<20} {:>9} {:>9} {:>9} {:>9}", "kind", "median", "mean", "p90", "p99");
    for (kind, s) in samples.iter_mut().enumerate() {
        s.sort();
        let m = micros(s.iter().sum::<Duration>()) / s.len().max(1) as f64;
        println!(
            "  {:<20} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            KINDS[kind],
            micros(percentile(s, 0.5)),
            m,
            micros(percentile(s, 0.9)),
            micros(percentile(s, 0.99))
        );
        median.push(micros(percentile(s, 0.5)));
        mean.push(m);
    }
    for (label, with, without) in [("pool", 2, 1), ("conn", 4, 3)] {
        println!(
            "  {label} with event / {label} without event: median {:.3}, mean {:.3}",
            median[with] / median[without],
            mean[with] / mean[without]
        );
    }
    // What the event adds to the store's own latency: the INSERT's cost on the
    // pool (with - without), over the store's latency less that cost.
    let added = |v: &[f64]| (v[2] - v[1]) / (v[0] - (v[2] - v[1]));
    println!(
        "  store: the event adds {:.1}% (medians), {:.1}% (means)",
        100.0 * added(&median),
        100.0 * added(&mean)
    );
    println!("  (second pool: {} connections)", fx.raw.size());
}

fn criterion_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, fx: &Fixture) {
    let mut group = c.benchmark_group(format!("audit_write/{}", fx.name));
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(6));
    // AUDIT_KINDS=4,3 runs only those kinds, in that order.
    let kinds: Vec<usize> = std::env::var("AUDIT_KINDS")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|k| k.trim().parse().ok())
                .filter(|k| *k < KINDS.len())
                .collect()
        })
        .unwrap_or_else(|| (0..KINDS.len()).collect());
    for kind in kinds {
        let label = KINDS[kind];
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        fx.run(kind).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("AUDIT_PAIRED_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 3000 } else { 20 });
    // As the server runs it: a multi-threaded runtime, one worker per core (here 2).
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut criterion = Criterion::default().configure_from_args();

    let mut fixtures = Vec::new();
    let dir = std::env::temp_dir().join(format!("locus-audit-bench-{}", locus_core::ids::random_lower36(8)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sqlite_url = format!("sqlite:{}", dir.join("locus.db").display());
    fixtures.push(rt.block_on(Fixture::open("sqlite", sqlite_url, Cleanup::Dir(dir))));
    if let Some(url) = rt.block_on(locus_store::testing::fresh_postgres_url()) {
        let (base, schema) = url.split_once("options=-c%20search_path%3D").expect("schema in url");
        let cleanup = Cleanup::Schema {
            base: base.trim_end_matches(['?', '&']).to_owned(),
            schema: schema.to_owned(),
        };
        fixtures.push(rt.block_on(Fixture::open("postgres", url.clone(), cleanup)));
    }

    if !benching && rounds > 0 {
        println!("(test mode, {rounds} paired rounds: too few for the figures to mean anything; run `cargo bench`)");
    }
    for fx in fixtures.iter().filter(|_| rounds > 0) {
        paired(&rt, fx, rounds);
    }
    for fx in &fixtures {
        criterion_benches(&mut criterion, &rt, fx);
    }
    criterion.final_summary();
    for fx in fixtures {
        rt.block_on(fx.close());
    }
}

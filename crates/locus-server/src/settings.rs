//! The server's settings. The CLI fills them from flags and `LOCUS_*`
//! environment variables; tests build them directly.

use crate::auth::limits::Limits;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    Open,
    Closed,
}

/// A string that never shows in `Debug` output (URLs with passwords).
#[derive(Clone)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where data lives: the SQLite file by default, and the mail outbox.
    pub data_dir: PathBuf,
    /// `sqlite:…` or `postgres://…`; by default `sqlite:{data_dir}/locus.db`.
    pub database_url: Option<Redacted>,
    /// The base of links written into e-mails, without a trailing slash.
    pub public_url: String,
    pub signup: SignupMode,
    /// SMTP server URL; without it, mail goes to `{data_dir}/outbox`.
    pub smtp_url: Option<Redacted>,
    /// The From: of every mail.
    pub mail_from: String,
    /// Lifetime of bearers from `POST /rest/oauth/token`.
    pub bearer_ttl: Duration,
    /// Lifetime of bearers exchanged from public access tokens.
    pub public_bearer_ttl: Duration,
    /// How long a public token's uses are counted before they go to the audit log as one event.
    pub public_usage_window: Duration,
    /// Lifetime of a web application session (its cookie).
    pub session_ttl: Duration,
    /// Lifetime of password-reset links.
    pub reset_ttl: Duration,
    /// Lifetime of e-mail verification links.
    pub verification_ttl: Duration,
    /// Lifetime of invitation links.
    pub invitation_ttl: Duration,
    /// How long audit events are kept; `None` (the default) keeps them forever.
    pub audit_retention: Option<Duration>,
    /// How often the maintenance task runs (expiring invitations, purging old events).
    pub maintenance_interval: Duration,
    pub limits: Limits,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-*` headers are
    /// believed (see `proxy.rs`); none by default.
    pub trusted_proxies: Vec<crate::proxy::Cidr>,
    /// The most objects one `md:push` may carry (a push is one transaction).
    pub md_push_max_objects: usize,
    /// Where datasets' rows live: a directory or `s3://bucket/prefix?endpoint=…`;
    /// by default `{data_dir}/objects`.
    pub object_store_url: Option<Redacted>,
    /// The largest upload accepted (decompressed), in bytes.
    pub upload_max_bytes: u64,
    /// Lifetime of upload links (and of dumps for download).
    pub upload_ttl: Duration,
    /// Jobs run at once on this instance.
    pub job_workers: usize,
    /// A job running longer ends TIMED_OUT.
    pub job_time_limit: Duration,
    /// A running job's worker renews its lease this often ×3; a job whose lease
    /// lapsed (its worker died) is ended FAILED by the next sweep.
    pub job_lease: Duration,
    /// How long a replaced version of a dataset stays restorable.
    pub version_retention: Duration,
    /// A DWH query running longer is cancelled.
    pub query_timeout: Duration,
    /// Memory one query's operators may use (a DataFusion memory pool).
    pub query_memory_bytes: usize,
    /// Current dataset versions kept in memory as Arrow, least recently used out.
    pub table_cache_bytes: usize,
    /// A raster tile URL template (`https://…/{z}/{x}/{y}.png`) drawn under
    /// the map; without one the map shows Natural Earth country outlines.
    pub map_tile_url: Option<String>,
    /// The speed of an `air` isochrone given in time, in km/h.
    pub air_speed_kmh: f64,
    /// Whether dataPull's `httpsUpload` and `s3Upload` may name hosts at
    /// private addresses (and plain http). Off: the server cannot be made to
    /// read its own network.
    pub allow_private_sources: bool,
    /// A routing engine with Valhalla's `/isochrone` API, for `car`, `bike`
    /// and `foot` isochrones (without one they are refused).
    pub routing_url: Option<String>,
    /// How long one isochrone request may take.
    pub routing_timeout: Duration,
}

impl Settings {
    /// Defaults for a server on `listen`, keeping its data in `data_dir`.
    pub fn new(data_dir: PathBuf, public_url: String) -> Settings {
        Settings {
            data_dir,
            database_url: None,
            public_url,
            signup: SignupMode::Open,
            smtp_url: None,
            mail_from: "Locus <locus@localhost>".to_owned(),
            bearer_ttl: Duration::from_secs(3600),
            public_bearer_ttl: Duration::from_secs(15 * 60),
            public_usage_window: Duration::from_secs(3600),
            session_ttl: Duration::from_secs(12 * 3600),
            reset_ttl: Duration::from_secs(3600),
            verification_ttl: Duration::from_secs(48 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            audit_retention: None,
            md_push_max_objects: 10_000,
            maintenance_interval: Duration::from_secs(60),
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            object_store_url: None,
            upload_max_bytes: 5 << 30,
            upload_ttl: Duration::from_secs(24 * 3600),
            job_workers: 2,
            job_time_limit: Duration::from_secs(6 * 3600),
            job_lease: Duration::from_secs(30),
            version_retention: Duration::from_secs(7 * 24 * 3600),
            query_timeout: Duration::from_secs(60),
            query_memory_bytes: 1 << 30,
            table_cache_bytes: 1 << 30,
            map_tile_url: None,
            air_speed_kmh: 30.0,
            allow_private_sources: false,
            routing_url: None,
            routing_timeout: Duration::from_secs(30),
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.0.clone(),
            None => format!("sqlite:{}", self.data_dir.join("locus.db").display()),
        }
    }

    /// Metres covered per minute by an `air` isochrone given in time.
    pub fn air_speed_metres_per_minute(&self) -> f64 {
        self.air_speed_kmh * 1000.0 / 60.0
    }

    pub fn object_store_url(&self) -> String {
        match &self.object_store_url {
            Some(url) => url.0.clone(),
            None => self.data_dir.join("objects").display().to_string(),
        }
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

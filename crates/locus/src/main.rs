//! The `locus` command: `serve` runs the server, `admin` works directly on the
//! configured database for bootstrapping and automation.

mod allocator;
mod data;
mod project;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use locus_server::{Redacted, Settings, SignupMode};
use locus_store::AccountStatus;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "locus",
    version,
    about = "A self-hostable, CleverMaps-compatible project, user and permission server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Load a CSV file into a dataset, or dump a dataset as CSV, through a server's REST API.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Dump a project's metadata to a directory, or push a directory back (like the CleverMaps Shell).
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Read a project's audit log from a Locus server.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Report a project's bulk point query usage per account, through a server's REST API.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// Operator commands that act directly on the database.
    Admin {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// Where the data is; shared by `serve` and `admin`.
#[derive(Args, Clone)]
struct DbArgs {
    /// Directory for the embedded database and the mail outbox.
    #[arg(long, env = "LOCUS_DATA_DIR", default_value = "./locus-data", global = true)]
    data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://…`; default: an SQLite file in the data directory.
    #[arg(long, env = "LOCUS_DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Signup {
    Open,
    Closed,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "LOCUS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL written into e-mailed links; default http:// + the listen address.
    #[arg(long, env = "LOCUS_PUBLIC_URL")]
    public_url: Option<String>,
    /// Whether anyone may sign up.
    #[arg(long, env = "LOCUS_SIGNUP", value_enum, default_value = "open")]
    signup: Signup,
    /// SMTP server, e.g. smtp://user:pass@mail.example.com:587?tls=required; default: the outbox directory.
    #[arg(long, env = "LOCUS_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The From: address of every mail.
    #[arg(long, env = "LOCUS_MAIL_FROM", default_value = "Locus <locus@localhost>")]
    mail_from: String,
    /// Lifetime of bearer tokens, in seconds.
    #[arg(long, env = "LOCUS_BEARER_TTL", default_value_t = 3600)]
    bearer_ttl: u64,
    /// Seconds a bearer exchanged from a public access token lives.
    #[arg(long, env = "LOCUS_PUBLIC_BEARER_TTL", default_value_t = 900)]
    public_bearer_ttl: u64,
    /// Public-token exchanges allowed per client address a minute, on each instance.
    #[arg(long, env = "LOCUS_PUBLIC_EXCHANGES_PER_MINUTE", default_value_t = 30)]
    public_exchanges_per_minute: u32,
    /// Requests with public bearers allowed per client address a minute, on each instance.
    #[arg(long, env = "LOCUS_PUBLIC_REQUESTS_PER_MINUTE", default_value_t = 600)]
    public_requests_per_minute: u32,
    /// Lifetime of a web application session, in seconds (default 12 hours).
    #[arg(long, env = "LOCUS_SESSION_TTL", default_value_t = 12 * 3600)]
    session_ttl: u64,
    /// Lifetime of password-reset links, in seconds.
    #[arg(long, env = "LOCUS_RESET_TTL", default_value_t = 3600)]
    reset_ttl: u64,
    /// Lifetime of e-mail confirmation links, in seconds (default 2 days).
    #[arg(long, env = "LOCUS_VERIFICATION_TTL", default_value_t = 48 * 3600)]
    verification_ttl: u64,
    /// Lifetime of invitation links, in seconds (default 7 days).
    #[arg(long, env = "LOCUS_INVITATION_TTL", default_value_t = 7 * 24 * 3600)]
    invitation_ttl: u64,
    /// Keep audit events this many days; by default they are kept forever.
    #[arg(long, env = "LOCUS_AUDIT_RETENTION_DAYS")]
    audit_retention_days: Option<u64>,
    /// The most objects one metadata push (`md:push`) may carry.
    #[arg(long, env = "LOCUS_MD_PUSH_MAX_OBJECTS", default_value_t = 10_000)]
    md_push_max_objects: usize,
    /// Reverse proxies (comma-separated CIDRs, e.g. 10.0.0.0/8,::1) whose
    /// Forwarded / X-Forwarded-For / X-Forwarded-Proto headers are believed.
    #[arg(long, env = "LOCUS_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Where datasets' rows are stored: a directory, or an S3-compatible store
    /// as s3://bucket/prefix?endpoint=https://…&region=… (credentials from the
    /// AWS_* environment variables); default: {data-dir}/objects.
    #[arg(long, env = "LOCUS_OBJECT_STORE_URL", hide_env_values = true)]
    object_store_url: Option<String>,
    /// The largest file one upload may carry, in bytes (default 5 GiB).
    #[arg(long, env = "LOCUS_UPLOAD_MAX_BYTES", default_value_t = 5 << 30)]
    upload_max_bytes: u64,
    /// Jobs run at once on this instance.
    #[arg(long, env = "LOCUS_JOB_WORKERS", default_value_t = 2)]
    job_workers: usize,
    /// A job running longer than this many seconds ends TIMED_OUT (default 6 hours).
    #[arg(long, env = "LOCUS_JOB_TIME_LIMIT", default_value_t = 6 * 3600)]
    job_time_limit: u64,
    /// Days a replaced version of a dataset stays restorable.
    #[arg(long, env = "LOCUS_VERSION_RETENTION_DAYS", default_value_t = 7)]
    version_retention_days: u64,
    /// A DWH query running longer than this many seconds is cancelled.
    #[arg(long, env = "LOCUS_QUERY_TIMEOUT", default_value_t = 60)]
    query_timeout: u64,
    /// Memory one DWH query may use, in MiB.
    #[arg(long, env = "LOCUS_QUERY_MEMORY_MIB", default_value_t = 1024)]
    query_memory_mib: usize,
    /// Memory for dataset versions kept as Arrow for queries, in MiB.
    #[arg(long, env = "LOCUS_TABLE_CACHE_MIB", default_value_t = 1024)]
    table_cache_mib: usize,
    /// A raster tile URL template (https://…/{z}/{x}/{y}.png) drawn under maps;
    /// without one, maps show Natural Earth country outlines and need no internet.
    #[arg(long, env = "LOCUS_MAP_TILE_URL")]
    map_tile_url: Option<String>,
    /// The speed of an `air` isochrone given in minutes, in km/h.
    #[arg(long, env = "LOCUS_AIR_SPEED_KMH", default_value_t = 30.0)]
    air_speed_kmh: f64,
    /// Let dataPull jobs read `httpsUpload` URLs and `s3Upload` endpoints at
    /// private, loopback or link-local addresses (and over plain http). Off by
    /// default, so that users cannot make the server read its own network.
    #[arg(long, env = "LOCUS_ALLOW_PRIVATE_SOURCES")]
    allow_private_sources: bool,
    /// A routing engine with Valhalla's `/isochrone` API (e.g. http://valhalla:8002)
    /// for car, bike and foot isochrones in bulk point queries.
    #[arg(long, env = "LOCUS_ROUTING_URL")]
    routing_url: Option<String>,
}

/// Where a project lives, for commands that talk to a server's REST API.
#[derive(Args)]
struct Remote {
    /// The server's base URL, e.g. https://locus.example.org
    #[arg(long)]
    server: String,
    /// A personal access token of a member of the project.
    #[arg(long, env = "LOCUS_TOKEN", hide_env_values = true)]
    token: String,
    #[arg(long)]
    project: String,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Write every metadata object the token may read, one JSON file per object.
    Dump {
        #[command(flatten)]
        remote: Remote,
        /// The directory to write (`metadata/{type}/{name}.json`, `dumpMetadata.json`).
        dir: std::path::PathBuf,
    },
    /// Validate a dump directory and apply it to the project in one transaction, all or nothing.
    Push {
        #[command(flatten)]
        remote: Remote,
        dir: std::path::PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LoadMode {
    /// Replace the dataset's rows.
    Full,
    /// Upsert by the dataset's primary key.
    Incremental,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Upload a CSV file and load it; prints the job's problems and exits non-zero if it fails.
    Load {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        dataset: String,
        #[arg(long, value_enum, default_value = "full")]
        mode: LoadMode,
        /// The field separator.
        #[arg(long, default_value = ",")]
        separator: String,
        #[arg(long, default_value = "\"")]
        quote: String,
        #[arg(long, default_value = "\\")]
        escape: String,
        /// The file has no header line.
        #[arg(long)]
        no_header: bool,
        /// A further text read as NULL.
        #[arg(long)]
        null: Option<String>,
        /// Files larger than this many bytes go as a multipart upload of gzip-compressed parts
        /// (gzip costs both sides far more CPU than a single streamed upload: keep it for files
        /// near or over the server's single-upload limit, 5 GiB by default).
        #[arg(long, default_value_t = 4 << 30)]
        multipart_threshold: u64,
        /// The size of each part of a multipart upload, in bytes.
        #[arg(long, default_value_t = 64 << 20)]
        part_size: u64,
        file: std::path::PathBuf,
    },
    /// Dump a dataset's rows as CSV (with a header) to a file or standard output.
    Dump {
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        dataset: String,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write a project's events, oldest first, as JSON Lines on standard output.
    /// (The token's account needs `audit.read` in the project.)
    Export {
        #[command(flatten)]
        remote: Remote,
        /// Only events from this time on (`YYYY-MM-DDTHH:MM:SS,mmm`, UTC).
        #[arg(long)]
        from: Option<String>,
    },
}

#[derive(Subcommand)]
enum UsageCommand {
    /// Print the usage summed per account over a period, as a table (the token's
    /// account needs to be the project's ADMIN).
    Report {
        #[command(flatten)]
        remote: Remote,
        /// Start (ISO 8601, e.g. 2026-12-01T00:00:00Z), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// End (ISO 8601), exclusive.
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account; the password is read from standard input.
    CreateAccount {
        #[arg(long)]
        email: String,
        /// Full name: the first word becomes the given name, the rest the surname.
        #[arg(long)]
        name: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the account a platform operator.
        #[arg(long)]
        operator: bool,
    },
    /// Mark an account's e-mail as verified (the operator vouches that the
    /// owner reads it): it can then be found and added to projects by e-mail.
    VerifyEmail {
        #[arg(long)]
        email: String,
    },
    /// Disable an account: its sessions end at once, on every instance.
    DisableAccount {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    EnableAccount {
        #[arg(long)]
        email: String,
    },
    /// Let an account share projects publicly (`on`), or stop it (`off`).
    SetAnonymous {
        #[arg(long)]
        email: String,
        #[arg(value_enum)]
        state: OnOff,
    },
    /// Enable a disabled project (its ADMINs can too, from its settings).
    EnableProject {
        /// The project id.
        #[arg(long)]
        project: String,
    },
    /// Set an account's monthly quota of bulk point query points in a project
    /// (`--points none` removes it); requests past it get 429.
    SetQuota {
        #[arg(long)]
        project: String,
        #[arg(long)]
        email: String,
        /// Points per calendar month (UTC), or `none`.
        #[arg(long)]
        points: String,
    },
    /// Create a personal access token for an account and print it.
    CreateToken {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
}

fn main() -> Result<()> {
    allocator::configure();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LOCUS_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // DataFusion's planner and optimizer recurse deeply: an unoptimized build
    // can overflow tokio's default 2 MiB thread stacks on a query plan.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Admin { db, command } => admin(db, command).await,
            Command::Project {
                command: ProjectCommand::Dump { remote, dir },
            } => project::dump(&remote.server, &remote.token, &remote.project, &dir).await,
            Command::Project {
                command: ProjectCommand::Push { remote, dir },
            } => project::push(&remote.server, &remote.token, &remote.project, &dir).await,
            Command::Data { command } => data_command(command).await,
            Command::Audit {
                command: AuditCommand::Export { remote, from },
            } => export_audit(&remote.server, &remote.token, &remote.project, from.as_deref()).await,
            Command::Usage {
                command: UsageCommand::Report { remote, from, to },
            } => usage_report(&remote, from.as_deref(), to.as_deref()).await,
        }
    })
}

async fn data_command(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Load {
            remote,
            dataset,
            mode,
            separator,
            quote,
            escape,
            no_header,
            null,
            multipart_threshold,
            part_size,
            file,
        } => {
            let mut csv_options = serde_json::json!({"header": !no_header, "separator": separator, "quote": quote, "escape": escape});
            if let Some(null) = null {
                csv_options["null"] = serde_json::Value::String(null);
            }
            let args = data::LoadArgs {
                project: &remote.project,
                dataset: &dataset,
                mode: match mode {
                    LoadMode::Full => "full",
                    LoadMode::Incremental => "incremental",
                },
                file: &file,
                csv_options,
                multipart_threshold,
                part_size,
            };
            data::load(&remote.server, &remote.token, args).await
        }
        DataCommand::Dump { remote, dataset, output } => {
            data::dump(&remote.server, &remote.token, &remote.project, &dataset, output.as_deref()).await
        }
    }
}

fn settings(db: &DbArgs, public_url: String) -> Settings {
    let mut settings = Settings::new(db.data_dir.clone(), public_url);
    settings.database_url = db.database_url.clone().map(Redacted);
    settings
}

async fn serve(args: ServeArgs) -> Result<()> {
    // Bound first, so that the default public URL names the real port (with --listen …:0).
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let bound = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
    let mut settings = settings(&args.db, public_url.trim_end_matches('/').to_owned());
    settings.signup = match args.signup {
        Signup::Open => SignupMode::Open,
        Signup::Closed => SignupMode::Closed,
    };
    settings.smtp_url = args.smtp_url.map(Redacted);
    settings.mail_from = args.mail_from;
    settings.bearer_ttl = Duration::from_secs(args.bearer_ttl);
    settings.public_bearer_ttl = Duration::from_secs(args.public_bearer_ttl);
    settings.limits.public_exchanges_per_minute = args.public_exchanges_per_minute;
    settings.limits.public_requests_per_minute = args.public_requests_per_minute;
    settings.reset_ttl = Duration::from_secs(args.reset_ttl);
    settings.verification_ttl = Duration::from_secs(args.verification_ttl);
    settings.session_ttl = Duration::from_secs(args.session_ttl);
    settings.invitation_ttl = Duration::from_secs(args.invitation_ttl);
    settings.audit_retention = args.audit_retention_days.map(|d| Duration::from_secs(d * 86_400));
    settings.md_push_max_objects = args.md_push_max_objects;
    settings.trusted_proxies =
        locus_server::proxy::parse_list(&args.trusted_proxies).map_err(|e| anyhow::anyhow!("--trusted-proxies: {e}"))?;
    settings.object_store_url = args.object_store_url.map(Redacted);
    settings.upload_max_bytes = args.upload_max_bytes;
    settings.job_workers = args.job_workers.max(1);
    settings.job_time_limit = Duration::from_secs(args.job_time_limit.max(1));
    settings.version_retention = Duration::from_secs(args.version_retention_days * 86_400);
    settings.query_timeout = Duration::from_secs(args.query_timeout.max(1));
    settings.query_memory_bytes = args.query_memory_mib.max(16) << 20;
    settings.table_cache_bytes = args.table_cache_mib << 20;
    settings.map_tile_url = args.map_tile_url;
    if !(args.air_speed_kmh > 0.0 && args.air_speed_kmh.is_finite()) {
        anyhow::bail!("--air-speed-kmh must be a positive number");
    }
    settings.air_speed_kmh = args.air_speed_kmh;
    settings.allow_private_sources = args.allow_private_sources;
    settings.routing_url = args.routing_url;
    let state = locus_server::AppState::open(settings).await?;
    tracing::info!(address = %bound, backend = state.store.backend().name(), "locus is listening");
    let store = state.store.clone();
    locus_server::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("locus stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

async fn admin(db: DbArgs, command: AdminCommand) -> Result<()> {
    let settings = settings(&db, String::new());
    std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let store = locus_store::Store::open(&settings.database_url())
        .await
        .context("opening the database")?;
    match command {
        AdminCommand::CreateAccount {
            email,
            name,
            password_stdin: _,
            operator,
        } => {
            let email = locus_core::Email::parse("--email", &email)?;
            let (given, surname) = name.trim().split_once(' ').unwrap_or((name.trim(), ""));
            let given = locus_core::PersonName::parse("--name", given)?;
            let surname = if surname.trim().is_empty() {
                given.clone()
            } else {
                locus_core::PersonName::parse("--name", surname)?
            };
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']).to_owned();
            locus_core::password::check_policy("password", &password)?;
            let account = store
                .create_account(
                    &locus_store::Actor::operator_cli(),
                    &locus_store::NewAccount {
                        email: email.as_str().to_owned(),
                        given_name: given.as_str().to_owned(),
                        surname: surname.as_str().to_owned(),
                        phone_number: None,
                        consent_granted: false,
                        password_hash: locus_server::auth::passwords::hash(password).await?,
                        operator,
                        preferences: serde_json::json!({}),
                        // The operator vouches for the address.
                        email_verified: true,
                    },
                )
                .await
                .context("creating the account")?;
            println!("{}", account.id);
        }
        AdminCommand::VerifyEmail { email } => {
            let account = account_by_email(&store, &email).await?;
            store
                .set_email_verified(&locus_store::Actor::operator_cli(), &account)
                .await
                .context("marking the e-mail verified")?;
            eprintln!("{email} is verified");
        }
        AdminCommand::DisableAccount { email } => set_status(&store, &email, AccountStatus::Disabled).await?,
        AdminCommand::EnableAccount { email } => set_status(&store, &email, AccountStatus::Enabled).await?,
        AdminCommand::SetAnonymous { email, state } => {
            let account = account_by_email(&store, &email).await?;
            let on = matches!(state, OnOff::On);
            store.set_anonymous(&locus_store::Actor::operator_cli(), &account.id, on).await?;
            eprintln!("{email} {} share projects publicly", if on { "may now" } else { "may no longer" });
        }
        AdminCommand::EnableProject { project } => {
            let patch = locus_store::ProjectPatch {
                enabled: Some(true),
                ..Default::default()
            };
            store
                .update_project(&locus_store::Actor::operator_cli(), &project, &patch)
                .await
                .with_context(|| format!("enabling project {project}"))?;
            eprintln!("project {project} is enabled");
        }
        AdminCommand::SetQuota { project, email, points } => {
            let account = account_by_email(&store, &email).await?;
            let points = match points.as_str() {
                "none" => None,
                n => Some(
                    n.parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .context("--points: a whole number of points, or none")?,
                ),
            };
            store
                .set_usage_quota(&locus_store::Actor::operator_cli(), &project, &account.id, points)
                .await
                .with_context(|| format!("setting the quota in project {project}"))?;
            match points {
                Some(n) => eprintln!("{email} may use {n} points a month in project {project}"),
                None => eprintln!("{email} has no quota in project {project}"),
            }
        }
        AdminCommand::CreateToken { email, name } => {
            let account = account_by_email(&store, &email).await?;
            let issued = locus_server::auth::secrets::issue(locus_server::auth::secrets::Kind::AccessToken);
            store
                .create_access_token(
                    &locus_store::Actor::operator_cli(),
                    &locus_store::AccessToken {
                        id: issued.id,
                        account_id: account.id,
                        name,
                        secret_hash: issued.hash,
                        created_at: locus_store::now_millis(),
                        expires_at: None,
                        last_used_at: None,
                    },
                )
                .await?;
            println!("{}", issued.token);
        }
    }
    store.close().await;
    Ok(())
}

async fn set_status(store: &locus_store::Store, email: &str, status: AccountStatus) -> Result<()> {
    let account = account_by_email(store, email).await?;
    store
        .set_account_status(&locus_store::Actor::operator_cli(), &account.id, status)
        .await?;
    println!("{} is {}", account.email, status.as_str());
    Ok(())
}

async fn account_by_email(store: &locus_store::Store, email: &str) -> Result<locus_store::Account> {
    match store.account_by_email(email).await? {
        Some(account) => Ok(account),
        None => bail!("no account has the e-mail {email}"),
    }
}

/// Follows the audit log's `next` links through the REST API, so it works
/// against any Locus server; one event per line.
async fn usage_report(remote: &Remote, from: Option<&str>, to: Option<&str>) -> Result<()> {
    let project::Api { server, client, bearer } = project::Api::connect(&remote.server, &remote.token).await?;
    let mut query = Vec::new();
    if let Some(from) = from {
        query.push(("from", from));
    }
    if let Some(to) = to {
        query.push(("to", to));
    }
    let report: serde_json::Value = client
        .get(format!("{server}/rest/projects/{}/usage", remote.project))
        .query(&query)
        .bearer_auth(&bearer)
        .send()
        .await?
        .error_for_status()
        .context("reading the usage")?
        .json()
        .await?;
    println!("usage of project {} from {} to {}", remote.project, report["from"], report["to"]);
    println!(
        "{:<24} {:>6} {:>10} {:>14} {:>10} {:>14} {:>12} {:>16}",
        "account", "jobs", "points", "point queries", "metrics", "rows scanned", "compute ms", "billable points"
    );
    for row in report["content"].as_array().into_iter().flatten() {
        let n = |k: &str| row[k].as_i64().unwrap_or(0);
        println!(
            "{:<24} {:>6} {:>10} {:>14} {:>10} {:>14} {:>12} {:>16}",
            row["accountId"].as_str().unwrap_or("-"),
            n("jobs"),
            n("points"),
            n("pointQueries"),
            n("metrics"),
            n("rowsScanned"),
            n("computeMs"),
            n("billablePoints")
        );
    }
    Ok(())
}

async fn export_audit(server: &str, token: &str, project: &str, from: Option<&str>) -> Result<()> {
    use std::io::Write as _;
    let project::Api { server, client, bearer } = project::Api::connect(server, token).await?;
    let mut query = vec![("projectId", project), ("sortDirection", "ASC"), ("pageSize", "1000")];
    if let Some(from) = from {
        query.push(("from", from));
    }
    let mut request = client.get(format!("{server}/rest/auditlog")).query(&query);
    let mut out = std::io::stdout().lock();
    loop {
        let page: serde_json::Value = request
            .bearer_auth(&bearer)
            .send()
            .await?
            .error_for_status()
            .context("reading the audit log")?
            .json()
            .await?;
        for event in page["content"].as_array().into_iter().flatten() {
            writeln!(out, "{event}")?;
        }
        match project::next_link(&page) {
            Some(href) => request = client.get(format!("{server}{href}")),
            None => break,
        }
    }
    Ok(())
}

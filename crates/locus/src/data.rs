//! `locus data load` and `locus data dump`: the upload and job flows of the
//! REST API (api-contract.md §7–8) from the command line, with progress.
//!
//! A file up to `--multipart-threshold` (4 GiB) is streamed as one upload
//! (the server streams it to its object store); a larger one goes as a
//! multipart upload of gzip-compressed parts, as the contract asks, each
//! part compressed while the one before it uploads. Gzip is the expensive
//! way: 905 MB took 10.0 to 10.4 s as parts (6.1 to 6.4 s of it uploading,
//! with the client's gzip and the server's gunzip on the two cores) against
//! about 0.85 s as one upload, hence the high threshold.

use crate::project::Api;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// How often the job is polled: often in its first seconds, when a small
/// load ends and every poll missed is time added to it, then less.
fn poll_interval(running: Duration) -> Duration {
    if running < Duration::from_secs(10) {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(250)
    }
}

fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// An answer's JSON, or an error with the server's message.
async fn json_of(resp: reqwest::Response, what: &str) -> Result<Value> {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        let field = body["field"].as_str().map(|f| format!(" ({f})")).unwrap_or_default();
        bail!("{what}: {status}: {message}{field}");
    }
    Ok(body)
}

pub struct LoadArgs<'a> {
    pub project: &'a str,
    pub dataset: &'a str,
    pub mode: &'a str,
    pub file: &'a Path,
    pub csv_options: Value,
    pub multipart_threshold: u64,
    pub part_size: u64,
}

/// Uploads `file`, loads it into the dataset, and waits for the job.
pub async fn load(server: &str, token: &str, args: LoadArgs<'_>) -> Result<()> {
    let api = Api::connect(server, token).await?;
    let size = std::fs::metadata(args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    let upload = if size > args.multipart_threshold {
        upload_multipart(&api, args.project, args.file, size, args.part_size.max(5 << 20)).await?
    } else {
        upload_single(&api, args.project, args.file, size).await?
    };
    let request = json!({"type": "dataPull", "projectId": args.project, "content": {
        "dataset": args.dataset, "mode": args.mode, "type": "csv", "upload": upload, "csvOptions": args.csv_options}});
    let job = run_job(&api, &request, "loading").await?;
    let result = &job["result"];
    eprintln!(
        "loaded {} rows ({} bytes of CSV) into {}: version {}",
        result["rows"], result["bytes"], args.dataset, result["version"]
    );
    Ok(())
}

async fn upload_single(api: &Api, project: &str, file: &Path, size: u64) -> Result<String> {
    let created = api
        .client
        .post(format!("{}/rest/projects/{project}/dwh/data/uploads", api.server))
        .bearer_auth(&api.bearer)
        .json(&Value::Null)
        .send()
        .await?;
    let created = json_of(created, "creating the upload").await?;
    let url = created["uploadUrlEncoded"].as_str().context("no uploadUrlEncoded in the answer")?;
    let bar = bar(Some(size), "uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec}");
    let reader = tokio::fs::File::open(file).await?;
    let counted = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20);
    let stream = futures::StreamExt::inspect(stream, move |chunk| {
        if let Ok(c) = chunk {
            counted.inc(c.len() as u64);
        }
    });
    let resp = api
        .client
        .put(url)
        .header("content-type", "text/csv")
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await?;
    json_of(resp, "uploading").await?;
    bar.finish_and_clear();
    self_link(&created)
}

fn self_link(created: &Value) -> Result<String> {
    created["links"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["rel"] == "self"))
        .and_then(|l| l["href"].as_str())
        .map(str::to_owned)
        .context("no self link in the upload's answer")
}

async fn upload_multipart(api: &Api, project: &str, file: &Path, size: u64, part_size: u64) -> Result<String> {
    let parts = size.div_ceil(part_size).max(1);
    let created = api
        .client
        .post(format!("{}/rest/projects/{project}/dwh/data/uploads?parts={parts}", api.server))
        .bearer_auth(&api.bearer)
        .json(&Value::Null)
        .send()
        .await?;
    let created = json_of(created, "creating the upload").await?;
    let id = created["id"].as_str().context("no id in the answer")?.to_owned();
    let urls: Vec<String> = created["uploadUrlsEncoded"]
        .as_array()
        .context("no uploadUrlsEncoded in the answer")?
        .iter()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect();
    let bar = bar(Some(size), "uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec} (gzip parts)");
    let input = std::fs::File::open(file)?;
    let mut etags = Vec::new();
    // Each part is read and compressed on a blocking thread while the one
    // before it uploads.
    let mut next = Some(tokio::task::spawn_blocking(move || gzip_part(input, part_size)));
    for (i, url) in urls.iter().enumerate() {
        let Some(compressing) = next.take() else { break };
        let (input, n, compressed) = compressing.await??;
        if i + 1 < urls.len() {
            next = Some(tokio::task::spawn_blocking(move || gzip_part(input, part_size)));
        }
        let resp = api.client.put(url).body(compressed).send().await?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .context("a part's answer has no ETag")?;
        json_of(resp, &format!("uploading part {}", i + 1)).await?;
        etags.push(json!({"partNumber": i + 1, "eTag": etag}));
        bar.inc(n);
    }
    bar.finish_and_clear();
    let resp = api
        .client
        .put(format!("{}/rest/projects/{project}/dwh/data/uploads/{id}", api.server))
        .bearer_auth(&api.bearer)
        .json(&json!({"id": id, "uploadId": id, "partETags": etags}))
        .send()
        .await?;
    json_of(resp, "completing the upload").await?;
    self_link(&created)
}

/// Reads the next `part_size` bytes of `input` and gzips them (the fastest
/// level); hands `input` back with the part's plain size and its bytes.
fn gzip_part(mut input: std::fs::File, part_size: u64) -> std::io::Result<(std::fs::File, u64, Vec<u8>)> {
    let mut chunk = Vec::with_capacity(usize::try_from(part_size).unwrap_or(usize::MAX).min(1 << 30));
    (&mut input).take(part_size).read_to_end(&mut chunk)?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&chunk)?;
    Ok((input, chunk.len() as u64, encoder.finish()?))
}

/// Submits a job and waits for its end, showing its progress; a job that
/// did not succeed is an error carrying its message and problems.
async fn run_job(api: &Api, request: &Value, what: &str) -> Result<Value> {
    let submitted = std::time::Instant::now();
    let resp = api
        .client
        .post(format!("{}/rest/jobs", api.server))
        .bearer_auth(&api.bearer)
        .json(request)
        .send()
        .await?;
    let job = json_of(resp, "submitting the job").await?;
    let href = job["links"][0]["href"].as_str().context("no link to the job")?.to_owned();
    let bar = bar(None, &format!("{{spinner}} {what}: {{msg}}"));
    let job = loop {
        let resp = api
            .client
            .get(format!("{}{href}", api.server))
            .bearer_auth(&api.bearer)
            .send()
            .await?;
        let job = json_of(resp, "reading the job").await?;
        if job["status"] != "RUNNING" {
            break job;
        }
        let progress = &job["result"]["progress"];
        bar.set_message(format!("{} rows, {} bytes", progress["rows"], progress["bytes"]));
        tokio::time::sleep(poll_interval(submitted.elapsed())).await;
    };
    bar.finish_and_clear();
    if job["status"] != "SUCCEEDED" {
        let mut report = format!(
            "the job ended {}: {}",
            job["status"].as_str().unwrap_or("?"),
            job["message"].as_str().unwrap_or("no message")
        );
        for p in job["result"]["problems"].as_array().into_iter().flatten() {
            report.push_str(&format!(
                "\n  line {}, {}: {} is not {}",
                p["line"],
                p["property"].as_str().filter(|s| !s.is_empty()).unwrap_or("(record)"),
                p["value"],
                p["expected"].as_str().unwrap_or("?")
            ));
        }
        bail!(report);
    }
    Ok(job)
}

/// Dumps a dataset as CSV into `out`, or to standard output.
pub async fn dump(server: &str, token: &str, project: &str, dataset: &str, out: Option<&Path>) -> Result<()> {
    let api = Api::connect(server, token).await?;
    let request = json!({"type": "dataDump", "projectId": project, "content": {"dataset": dataset}});
    let job = run_job(&api, &request, "dumping").await?;
    let url = job["result"]["dumpUrl"].as_str().context("no dumpUrl in the job's result")?;
    let mut resp = api
        .client
        .get(format!("{}{url}", api.server))
        .bearer_auth(&api.bearer)
        .header("accept", "text/csv")
        .send()
        .await?;
    if !resp.status().is_success() {
        return json_of(resp, "downloading the dump").await.map(drop);
    }
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    while let Some(chunk) = resp.chunk().await? {
        sink.write_all(&chunk)?;
    }
    sink.flush()?;
    if let Some(path) = out {
        eprintln!("dumped {} rows of {dataset} to {}", job["result"]["rows"], path.display());
    }
    Ok(())
}

//! `locus project dump` and `locus project push`: a project's metadata as a
//! directory of JSON files, like the CleverMaps Shell, through the REST API of
//! any Locus server.
//!
//! Layout (semantics.md, "Dump structure"):
//! ```text
//! DIR/dumpMetadata.json                  server, project, dump time, what is in the dump
//! DIR/metadata/{type}/{name}.json        {url, dumpTime, version, content: <the object>}
//! ```
//! `push` reads the same layout (a bare object without the wrapper is
//! accepted too), checks locally what it can (file names equal object names,
//! types match their directories), then sends everything in one request that
//! the server applies in one transaction, or refuses with every problem.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;

/// The public types, by directory name, in the order a dump lists them.
const TYPES: [&str; 13] = [
    "projectSettings",
    "dataPermissions",
    "datasets",
    "metrics",
    "indicators",
    "indicatorDrills",
    "markers",
    "markerSelectors",
    "dashboards",
    "views",
    "exports",
    "maps",
    "attributeStyles",
];

/// The keys the server sets, which a pushed object need not carry.
const SERVER_KEYS: [&str; 4] = ["accessInfo", "links", "version", "id"];

/// A Locus server's REST API, signed in with a personal access token.
pub(crate) struct Api {
    pub(crate) server: String,
    pub(crate) client: reqwest::Client,
    pub(crate) bearer: String,
}

impl Api {
    /// Exchanges the access token for a bearer.
    pub(crate) async fn connect(server: &str, token: &str) -> Result<Api> {
        let server = server.trim_end_matches('/').to_owned();
        let client = reqwest::Client::new();
        let exchanged: Value = client
            .post(format!("{server}/rest/oauth/token"))
            .json(&json!({"refresh_token": token}))
            .send()
            .await
            .with_context(|| format!("reaching {server}"))?
            .error_for_status()
            .context("exchanging the access token")?
            .json()
            .await?;
        let bearer = exchanged["access_token"]
            .as_str()
            .context("no access_token in the answer")?
            .to_owned();
        Ok(Api { server, client, bearer })
    }

    async fn get(&self, path: &str) -> Result<(reqwest::StatusCode, Value)> {
        let resp = self
            .client
            .get(format!("{}{path}", self.server))
            .bearer_auth(&self.bearer)
            .send()
            .await?;
        let status = resp.status();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }
}

/// The `next` link of a paged answer, while there are more pages.
pub(crate) fn next_link(page: &Value) -> Option<String> {
    page["links"]
        .as_array()?
        .iter()
        .find(|l| l["rel"] == "next")
        .and_then(|l| l["href"].as_str())
        .map(str::to_owned)
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Writes every object of the project the token may read into `dir`.
pub async fn dump(server: &str, token: &str, project: &str, dir: &Path) -> Result<()> {
    let api = Api::connect(server, token).await?;
    let (status, detail) = api.get(&format!("/rest/projects/{project}")).await?;
    if !status.is_success() {
        bail!(
            "reading project {project}: {status} {}",
            detail["message"].as_str().unwrap_or_default()
        );
    }
    let dump_time = now_rfc3339();
    let mut listed = Vec::new();
    for segment in TYPES {
        let mut next = Some(format!("/rest/projects/{project}/md/{segment}?size=500"));
        let mut objects = Vec::new();
        while let Some(path) = next.take() {
            let (status, page) = api.get(&path).await?;
            if status == reqwest::StatusCode::FORBIDDEN {
                eprintln!("skipping {segment}: {}", page["message"].as_str().unwrap_or("forbidden"));
                break;
            }
            if !status.is_success() {
                bail!("listing {segment}: {status} {page}");
            }
            objects.extend(page["content"].as_array().cloned().unwrap_or_default());
            next = next_link(&page);
        }
        if objects.is_empty() {
            continue;
        }
        let type_dir = dir.join("metadata").join(segment);
        std::fs::create_dir_all(&type_dir).with_context(|| format!("creating {}", type_dir.display()))?;
        for object in objects {
            let name = object["name"].as_str().context("an object without a name")?.to_owned();
            let url = object["links"][0]["href"].as_str().unwrap_or_default().to_owned();
            let version = object["version"].clone();
            let mut content = object;
            if let Some(map) = content.as_object_mut() {
                for key in SERVER_KEYS {
                    map.remove(key);
                }
            }
            let file = json!({"url": url, "dumpTime": dump_time, "version": version, "content": content});
            let path = type_dir.join(format!("{name}.json"));
            std::fs::write(&path, serde_json::to_string_pretty(&file)? + "\n").with_context(|| format!("writing {}", path.display()))?;
            listed.push(json!({"type": segment, "name": name, "version": version}));
        }
    }
    let meta = json!({
        "server": api.server,
        "projectId": project,
        "projectTitle": detail["title"],
        "dumpTime": dump_time,
        "content": listed,
    });
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("dumpMetadata.json"), serde_json::to_string_pretty(&meta)? + "\n")?;
    eprintln!("dumped {} objects of project {project} into {}", listed.len(), dir.display());
    Ok(())
}

/// Reads a dump directory: its objects, or every local problem found.
pub fn read_dir(dir: &Path) -> Result<Result<Vec<Value>, Vec<String>>> {
    let root = dir.join("metadata");
    if !root.is_dir() {
        bail!("{} has no metadata directory", dir.display());
    }
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    let mut type_dirs: Vec<_> = std::fs::read_dir(&root)?.flatten().map(|e| e.path()).collect();
    type_dirs.sort();
    for type_dir in type_dirs {
        let segment = type_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !TYPES.contains(&segment.as_str()) {
            problems.push(format!("metadata/{segment}: not a metadata type directory"));
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&type_dir)?.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            let shown = format!(
                "metadata/{segment}/{}",
                file.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            );
            if file.extension().and_then(|e| e.to_str()) != Some("json") {
                problems.push(format!("{shown}: not a .json file"));
                continue;
            }
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {shown}"))?;
            let parsed: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{shown}: not JSON ({e})"));
                    continue;
                }
            };
            let mut object = match parsed.get("content") {
                Some(content) if parsed.get("dumpTime").is_some() => content.clone(),
                _ => parsed,
            };
            let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if object["name"].as_str() != Some(stem) {
                problems.push(format!("{shown}: the object's name must equal the file name ({stem})"));
            }
            let expected = type_value(&segment);
            match object.get("type").and_then(Value::as_str) {
                None => object["type"] = json!(expected),
                Some(t) if t == expected => {}
                Some(t) => problems.push(format!("{shown}: type {t:?} does not belong in metadata/{segment}")),
            }
            objects.push(object);
        }
    }
    Ok(if problems.is_empty() { Ok(objects) } else { Err(problems) })
}

fn type_value(segment: &str) -> &'static str {
    locus_core::metadata::MdType::from_segment(segment).map_or("", |t| t.type_value())
}

/// Validates the directory and applies it to the project, all or nothing.
pub async fn push(server: &str, token: &str, project: &str, dir: &Path) -> Result<()> {
    let objects = match read_dir(dir)? {
        Ok(objects) => objects,
        Err(problems) => {
            for p in &problems {
                eprintln!("  {p}");
            }
            bail!("{} problems in {}; nothing was pushed", problems.len(), dir.display());
        }
    };
    let api = Api::connect(server, token).await?;
    let count = objects.len();
    let resp = api
        .client
        .post(format!("{}/rest/projects/{project}/md:push", api.server))
        .bearer_auth(&api.bearer)
        .json(&json!({"objects": objects}))
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        eprintln!(
            "pushed {count} objects to project {project}: {} created, {} updated, {} unchanged",
            body["created"], body["updated"], body["unchanged"]
        );
        return Ok(());
    }
    match body["problems"].as_array() {
        Some(problems) => {
            for p in problems {
                eprintln!(
                    "  {}: {}",
                    p["path"].as_str().unwrap_or_default(),
                    p["message"].as_str().unwrap_or_default()
                );
            }
            bail!("the server refused the push ({} problems); nothing was changed", problems.len())
        }
        None => bail!(
            "the server refused the push: {status} {}",
            body["message"].as_str().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dump_times_are_rfc3339() {
        let t = super::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T", "{t}");
    }
}

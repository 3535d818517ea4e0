//! The HTTP side of issue 17's query benchmark: the ten dashboard questions
//! of `benches/queries.rs` sent to a running server as a dashboard sends them
//! (all ten at once, at most 8 in flight), each timed from its POST to the
//! last page of its answer; p50 and p99 over many dashboard openings.
//!
//! ```text
//! dwh-http BASE BEARER PROJECT_ID ROUNDS
//! ```
//!
//! "cold" rounds give every question a filter no earlier question had
//! (`sales.id >= -round`, true of every row), so each is planned and computed
//! anew (the tables stay in memory as Arrow, as on a server in use); "cached"
//! rounds repeat one round's exact questions, answered from the result cache.
//! The floor is two authorized `GET /rest/projects/{id}`: two round trips,
//! the bearer and the membership checked each time, what a cached answer
//! costs at least. `scripts/bench-dwh-http.sh` sets up the server, the
//! project and the data.
//!
//! In Rust rather than Python so that the client, which shares the machine's
//! two cores with the server, costs little: one thread, connections kept.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

/// Questions in flight at once, as a dashboard's browser would send them.
const CLIENTS: usize = 8;

struct Api {
    client: reqwest::Client,
    base: String,
    bearer: String,
    project: String,
}

impl Api {
    fn url(&self, href: &str) -> String {
        if href.starts_with("http") {
            href.to_owned()
        } else {
            format!("{}{href}", self.base)
        }
    }

    async fn get(&self, href: &str) -> Result<Value> {
        let resp = self.client.get(self.url(href)).bearer_auth(&self.bearer).send().await?;
        ensure!(resp.status() == 200, "GET {href}: {}", resp.status());
        Ok(resp.json().await?)
    }

    /// POSTs the query, then GETs its result (a long poll) until every page
    /// is read.
    async fn ask(&self, cluster: &str, body: &Value) -> Result<Duration> {
        let started = Instant::now();
        let url = format!("{}/rest/projects/{}/dwh/{cluster}/queries?size=1000", self.base, self.project);
        let resp = self.client.post(url).bearer_auth(&self.bearer).json(body).send().await?;
        if resp.status() != 202 {
            bail!("POST queries: {} {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        let mut next = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned)
            .context("no Location")?;
        loop {
            let page = self.get(&next).await?;
            let link = page["links"]
                .as_array()
                .and_then(|links| links.iter().find(|l| l["rel"] == "next"))
                .and_then(|l| l["href"].as_str());
            match link {
                Some(href) => next = href.to_owned(),
                None => return Ok(started.elapsed()),
            }
        }
    }

    async fn floor(&self) -> Result<Duration> {
        let started = Instant::now();
        for _ in 0..2 {
            self.get(&format!("/rest/projects/{}", self.project)).await?;
        }
        Ok(started.elapsed())
    }
}

fn questions(project: &str) -> Vec<Value> {
    let p = |id: &str, value: &str| json!({"id": id, "type": "property", "value": value});
    let metric =
        |id: &str, name: &str| json!({"id": id, "type": "metric", "metric": format!("/rest/projects/{project}/md/metrics?name={name}")});
    let revenue = metric("revenue", "revenue");
    vec![
        json!({"properties": [p("region", "cities.region"), revenue]}),
        json!({"properties": [p("category", "products.category"), revenue]}),
        json!({"properties": [p("category", "products.category"), p("region", "cities.region"), revenue]}),
        json!({"properties": [p("city", "cities.name"), revenue],
               "filterBy": [{"property": "cities.region", "operator": "eq", "value": "region 3"}]}),
        json!({"properties": [p("category", "products.category"), revenue],
               "filterBy": [{"property": "sales.day", "operator": "gte", "value": "2025-04-01"},
                            {"property": "sales.day", "operator": "lt", "value": "2025-07-01"}]}),
        json!({"properties": [p("region", "cities.region"), metric("ticket", "avg_ticket")]}),
        json!({"properties": [p("region", "cities.region"), metric("share", "revenue_share")]}),
        json!({"properties": [p("shop", "shops.name"), revenue],
               "orderBy": [{"propertyId": "revenue", "direction": "desc"}], "limit": 10}),
        json!({"properties": [p("city", "cities.name"), revenue],
               "having": [{"propertyId": "revenue", "operator": "gt", "value": 2_000_000}]}),
        json!({"properties": [p("region", "cities.region"), metric("partner", "partner_revenue")]}),
    ]
}

/// The question with a filter true of every row that no other round has.
fn with_round(body: &Value, round: i64) -> Value {
    let mut body = body.clone();
    let filter = json!({"property": "sales.id", "operator": "gte", "value": -round});
    match body.get_mut("filterBy").and_then(Value::as_array_mut) {
        Some(filters) => filters.push(filter),
        None => body["filterBy"] = json!([filter]),
    }
    body
}

/// All ten questions at once, at most [`CLIENTS`] in flight; their times.
async fn dashboard(api: &Api, cluster: &str, bodies: &[Value]) -> Result<Vec<Duration>> {
    stream::iter(bodies.iter().map(|b| api.ask(cluster, b)))
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 100_000.0).round() / 100.0;
    let at = |q: f64| samples[((q * (samples.len() - 1) as f64).round() as usize).min(samples.len() - 1)];
    println!(
        "{}",
        json!({"name": name, "samples": samples.len(), "p50_ms": ms(at(0.5)), "p99_ms": ms(at(0.99)),
               "max_ms": ms(samples[samples.len() - 1])})
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, bearer, project, rounds] = args.as_slice() else {
        bail!("usage: dwh-http BASE BEARER PROJECT_ID ROUNDS");
    };
    let rounds: i64 = rounds.parse().context("ROUNDS")?;
    ensure!(rounds > 0, "ROUNDS must be at least 1");
    let api = Api {
        client: reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?,
        base: base.trim_end_matches('/').to_owned(),
        bearer: bearer.clone(),
        project: project.clone(),
    };
    // The DWH cluster of the project's organization, as the official client finds it.
    let org = api.get(&format!("/rest/projects/{project}")).await?["organizationId"]
        .as_str()
        .context("no organizationId")?
        .to_owned();
    let cluster = api.get(&format!("/rest/organizations/{org}")).await?["dwhClusterId"]
        .as_str()
        .context("no dwhClusterId")?
        .to_owned();
    let qs = questions(project);
    let round = |n: i64| qs.iter().map(|b| with_round(b, n)).collect::<Vec<_>>();
    dashboard(&api, &cluster, &round(0)).await?; // warm-up: tables into memory
    let mut cold = Vec::new();
    for n in 1..=rounds {
        cold.extend(dashboard(&api, &cluster, &round(n)).await?);
    }
    summary("cold (new plans)", cold);
    let mut cached = Vec::new();
    let repeated = round(1);
    for _ in 0..rounds {
        cached.extend(dashboard(&api, &cluster, &repeated).await?);
    }
    summary("result cache", cached);
    let mut base = Vec::new();
    for _ in 0..rounds {
        let floors = stream::iter((0..qs.len()).map(|_| api.floor())).buffer_unordered(CLIENTS);
        for d in floors.collect::<Vec<_>>().await {
            base.push(d?);
        }
    }
    summary("floor: 2 x GET /rest/projects/{id}", base);
    Ok(())
}

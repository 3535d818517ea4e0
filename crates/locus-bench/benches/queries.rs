//! Ten dashboard questions through Locus's query compiler, in process, over
//! a star schema loaded through the real CSV → Parquet path (issue 17).
//! `scripts/bench-queries.sh` runs this beside DuckDB on the same files.
//!
//! usage: cargo bench -p locus-bench --bench queries -- DIR RUNS [NAME [WHO]]
//! (DIR holds the CSVs of `scripts/bench-queries.py generate`). Prints one
//! JSON line per question and caller: the admin (no filter) and a viewer
//! filtered by a data permission on a dimension.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use locus_data::query::{Engine, Model, Snapshot};
use locus_data::{CsvOptions, DataStore, DatasetDef, StorePath};
use serde_json::{json, Value};

fn prop(name: &str, ty: &str, fk: Option<&str>) -> Value {
    let mut p = json!({"name": name, "column": name, "type": ty});
    if let Some(fk) = fk {
        p["foreignKey"] = json!(fk);
    }
    p
}

fn datasets() -> Vec<DatasetDef> {
    let def = |name: &str, properties: Value| {
        DatasetDef::from_metadata(
            name,
            &json!({"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": properties}),
        )
        .expect("a valid dataset")
    };
    vec![
        def(
            "cities",
            json!([
                prop("id", "integer", None),
                prop("name", "string", None),
                prop("region", "string", None)
            ]),
        ),
        def(
            "shops",
            json!([
                prop("id", "integer", None),
                prop("name", "string", None),
                prop("city_id", "integer", Some("cities")),
                prop("partner", "string", None)
            ]),
        ),
        def("products", json!([prop("id", "integer", None), prop("category", "string", None)])),
        def(
            "sales",
            json!([
                prop("id", "integer", None),
                prop("day", "date", None),
                prop("shop_id", "integer", Some("shops")),
                prop("product_id", "integer", Some("products")),
                prop("amount", "decimal", None),
                prop("qty", "integer", None)
            ]),
        ),
    ]
}

fn p(id: &str, value: &str) -> Value {
    json!({"id": id, "type": "property", "value": value})
}

fn metric(id: &str, name: &str) -> Value {
    json!({"id": id, "type": "metric", "metric": format!("/rest/projects/p/md/metrics?name={name}")})
}

fn questions() -> Vec<(&'static str, Value)> {
    let revenue = || metric("revenue", "revenue");
    vec![
        ("q01_by_region", json!({"properties": [p("region", "cities.region"), revenue()]})),
        (
            "q02_by_category",
            json!({"properties": [p("category", "products.category"), revenue()]}),
        ),
        (
            "q03_by_category_region",
            json!({"properties": [p("category", "products.category"), p("region", "cities.region"), revenue()]}),
        ),
        (
            "q04_dimension_filter",
            json!({"properties": [p("city", "cities.name"), revenue()],
            "filterBy": [{"property": "cities.region", "operator": "eq", "value": "region 3"}]}),
        ),
        (
            "q05_date_range",
            json!({"properties": [p("category", "products.category"), revenue()],
            "filterBy": [{"property": "sales.day", "operator": "gte", "value": "2025-04-01"}, {"property": "sales.day", "operator": "lt", "value": "2025-07-01"}]}),
        ),
        (
            "q06_ratio",
            json!({"properties": [p("region", "cities.region"), metric("ticket", "avg_ticket")]}),
        ),
        (
            "q07_percent_to_total",
            json!({"properties": [p("region", "cities.region"), metric("share", "revenue_share")]}),
        ),
        (
            "q08_top10_shops",
            json!({"properties": [p("shop", "shops.name"), revenue()], "orderBy": [{"propertyId": "revenue", "direction": "desc"}], "limit": 10}),
        ),
        (
            "q09_having",
            json!({"properties": [p("city", "cities.name"), revenue()], "having": [{"propertyId": "revenue", "operator": "gt", "value": 2_000_000}]}),
        ),
        (
            "q10_metric_filter",
            json!({"properties": [p("region", "cities.region"), metric("partner", "partner_revenue")]}),
        ),
    ]
}

fn model() -> Model {
    let mut model = Model::new(datasets());
    let sum = json!({"type": "function_sum", "content": [{"type": "property", "value": "sales.amount"}]});
    let count = json!({"type": "function_count", "content": [{"type": "property", "value": "sales.id"}]});
    let metrics = [
        ("revenue", sum.clone()),
        ("avg_ticket", json!({"type": "function_divide", "content": [sum.clone(), count]})),
        (
            "revenue_share",
            json!({"type": "function_percent_to_total", "content": [sum.clone()]}),
        ),
        (
            "partner_revenue",
            json!({"type": "function_sum", "content": [{"type": "property", "value": "sales.amount"}],
            "options": {"filterBy": [{"property": "shops.partner", "operator": "eq", "value": "yes"}]}}),
        ),
    ];
    for (i, (name, content)) in metrics.into_iter().enumerate() {
        model.add_metric(&format!("m{i}"), name, content);
    }
    model
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| "target/bench-queries".to_owned());
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    // Only the questions whose name contains NAME, asked by WHO (admin or
    // viewer), as for a profile; all without them.
    let only = args.get(3).cloned().unwrap_or_default();
    let only_who = args.get(4).cloned().unwrap_or_default();
    let data = DataStore::open(&format!("{dir}/store")).expect("a store");
    let mut versions = HashMap::new();
    for def in datasets() {
        let path = format!("datasets/{}/v1.parquet", def.name);
        let store_path = StorePath::from(path.as_str());
        if locus_data::transfer::file_size(&data.store, &store_path).await.is_err() {
            let file = std::fs::File::open(format!("{dir}/{}.csv", def.name)).expect("the CSV: run bench-queries.py generate");
            let start = Instant::now();
            let out = locus_data::load_csv(
                file,
                &def,
                &CsvOptions::default(),
                data.store.clone(),
                &store_path,
                Default::default(),
                |_| {},
            )
            .await
            .expect("a load");
            eprintln!("loaded {} ({} rows) in {:?}", def.name, out.rows, start.elapsed());
        }
        versions.insert(def.name.clone(), store_path);
    }
    let snapshot = Snapshot { model: model(), versions };
    let engine = Engine::new(4 << 30, 4 << 30, Duration::from_secs(600), 2);
    let viewer = vec![json!([{"property": "cities.region", "operator": "ne", "value": "region 13"}])];
    for (name, body) in questions().into_iter().filter(|(name, _)| name.contains(&only)) {
        for (who, permissions) in [("admin", Vec::new()), ("viewer", viewer.clone())] {
            if !who.contains(&only_who) {
                continue;
            }
            let (request, perms) = Engine::parse(&snapshot.model, &body, &permissions).expect("a valid question");
            // Warm: loads the tables into memory (as a server would keep
            // them), and for the viewer filters the fact's rows once.
            let start = Instant::now();
            let out = engine.query(&data, &snapshot, &request, &perms).await.expect("an answer");
            let first = start.elapsed().as_secs_f64() * 1000.0;
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let start = Instant::now();
                engine.query(&data, &snapshot, &request, &perms).await.expect("an answer");
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "{}",
                json!({"name": name, "who": who, "median_ms": (median * 100.0).round() / 100.0,
                    "first_ms": (first * 100.0).round() / 100.0, "rows": out.rows.len()})
            );
        }
    }
}

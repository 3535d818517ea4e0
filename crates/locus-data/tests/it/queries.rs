//! The query correctness suite: every case in `tests/queries/cases` is a DWH
//! query (with, optionally, the caller's data-permission filters) over the
//! CSV files of `tests/queries/data`, loaded through the real CSV → Parquet
//! path. Its `expected` rows were computed by DuckDB from the same files
//! (`scripts/query-expectations.py`); an `error` case names the JSON path and
//! the words its 400 must carry.
//!
//! Rows are compared as multisets unless the case says `ordered`; numbers
//! agree to a relative 1e-9 (sums in another order round differently).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use locus_data::query::{Engine, Model, QueryError, Snapshot};
use locus_data::{CsvOptions, DataStore, DatasetDef, StorePath};
use serde_json::{Map, Value};

use crate::load::load;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/queries")
}

async fn snapshot(data: &DataStore) -> Snapshot {
    let model_json: Value = serde_json::from_str(&std::fs::read_to_string(root().join("model.json")).unwrap()).unwrap();
    let mut defs = Vec::new();
    let mut versions = HashMap::new();
    for (name, reference) in model_json["datasets"].as_object().unwrap() {
        let def = DatasetDef::from_metadata(name, reference).unwrap();
        let csv = std::fs::read_to_string(root().join("data").join(format!("{name}.csv"))).unwrap();
        let path = format!("projects/p/datasets/{name}/v1.parquet");
        load(&data.store, &def, &CsvOptions::default(), &csv, &path).await.unwrap();
        versions.insert(name.clone(), StorePath::from(path.as_str()));
        defs.push(def);
    }
    let mut model = Model::new(defs);
    for (i, (name, content)) in model_json["metrics"].as_object().unwrap().iter().enumerate() {
        model.add_metric(&format!("m{i:015}"), name, content.clone());
    }
    Snapshot { model, versions }
}

/// Loads `csv` as version 2 of `dataset` and makes it current in `snapshot`.
async fn load_v2(data: &DataStore, snapshot: &mut Snapshot, dataset: &str, csv: &str) {
    let path = format!("projects/p/datasets/{dataset}/v2.parquet");
    let def = &snapshot.model.datasets[dataset];
    load(&data.store, def, &CsvOptions::default(), csv, &path).await.unwrap();
    snapshot.versions.insert(dataset.to_owned(), StorePath::from(path.as_str()));
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => a == b,
    }
}

fn same_row(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
}

/// Compares rows; `None` when they agree, else what differs.
fn compare(got: &[Map<String, Value>], want: &[Map<String, Value>], ordered: bool) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} rows, expected {}", got.len(), want.len()));
    }
    if ordered {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            if !same_row(g, w) {
                return Some(format!("row {i}: {g:?}, expected {w:?}"));
            }
        }
        return None;
    }
    let mut unmatched: Vec<&Map<String, Value>> = want.iter().collect();
    for g in got {
        match unmatched.iter().position(|w| same_row(g, w)) {
            Some(i) => {
                unmatched.swap_remove(i);
            }
            None => return Some(format!("unexpected row {g:?}")),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_case_matches_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let snapshot = snapshot(&data).await;
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 60, "the suite has {} cases", cases.len());
    let mut failures = Vec::new();
    // Tables held in memory (a filtered caller's fact rows are filtered once
    // and kept), and none held (each plan filters the fact itself).
    for (engine, held) in [
        (Engine::new(256 << 20, 64 << 20, Duration::from_secs(30), 2), ""),
        (Engine::new(256 << 20, 0, Duration::from_secs(30), 2), " (no table held)"),
    ] {
        for path in &cases {
            let name = format!("{}{held}", path.file_stem().unwrap().to_string_lossy());
            let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let permissions: Vec<Value> = case.get("permissions").and_then(Value::as_array).cloned().unwrap_or_default();
            let result = match Engine::parse(&snapshot.model, &case["query"], &permissions) {
                Ok((request, perms)) => engine.query(&data, &snapshot, &request, &perms).await,
                Err(e) => Err(e),
            };
            match (case.get("error"), result) {
                (Some(want), Err(QueryError::Invalid { path, message })) => {
                    let want_path = want["path"].as_str().unwrap();
                    let words = want["contains"].as_str().unwrap();
                    if !path.starts_with(want_path) && !path.contains(want_path) || !message.contains(words) {
                        failures.push(format!(
                            "{name}: error at {path:?}: {message:?}; expected {want_path:?} containing {words:?}"
                        ));
                    }
                }
                (Some(_), Ok(out)) => failures.push(format!("{name}: expected an error, got {} rows", out.rows.len())),
                (_, Err(e)) => failures.push(format!("{name}: {e}")),
                (None, Ok(out)) => {
                    let want: Vec<Map<String, Value>> = case["expected"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{name}: no expected rows; run scripts/query-expectations.py"))
                        .iter()
                        .map(|r| r.as_object().unwrap().clone())
                        .collect();
                    let ordered = case["ordered"].as_bool().unwrap_or(false);
                    if let Some(diff) = compare(&out.rows, &want, ordered) {
                        failures.push(format!("{name}: {diff}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        2 * cases.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_is_aggregated_before_any_join_by_its_key_or_by_its_keys_numbered_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let snapshot = snapshot(&data).await;
    let engine = Engine::new(256 << 20, 64 << 20, Duration::from_secs(30), 2);
    let plan = |body: Value, permissions: Vec<Value>| {
        let (request, perms) = Engine::parse(&snapshot.model, &body, &permissions).unwrap();
        let engine = &engine;
        let data = &data;
        let snapshot = &snapshot;
        async move { engine.explain(data, snapshot, &request, &perms).await.unwrap() }
    };
    let revenue = serde_json::json!({"id": "r", "type": "metric", "metric": "revenue"});
    // Region is reached through shops only: its values are numbered, and
    // the fact is aggregated by that number, by index (no hash table).
    let region = serde_json::json!({"id": "x", "type": "property", "value": "cities.region"});
    let one = plan(serde_json::json!({"properties": [region.clone(), revenue.clone()]}), vec![]).await;
    assert_eq!(one.matches("Aggregate:").count(), 2, "{one}");
    assert!(one.contains("groupBy=[[branch_code_0(sales.shop_id)"), "{one}");
    assert!(one.contains("DenseAggregateExec: "), "{one}");
    // A filter that a missing shop satisfies cannot be a key set: the fact
    // is aggregated by its key first, then joined and filtered.
    let missing = serde_json::json!([{"property": "shops.name", "operator": "isNull"}]);
    let eager = plan(
        serde_json::json!({"properties": [region.clone(), revenue.clone()], "filterBy": missing}),
        vec![],
    )
    .await;
    assert_eq!(eager.matches("Aggregate:").count(), 2, "{eager}");
    assert!(eager.contains("groupBy=[[sales.shop_id"), "{eager}");
    assert!(!eager.contains("DenseAggregateExec"), "{eager}");
    // Region and category come through two keys: the fact is aggregated by
    // one number combining both keys' numbered dimension values, no join.
    let category = serde_json::json!({"id": "y", "type": "property", "value": "products.category"});
    let both = serde_json::json!({"properties": [region, category.clone(), revenue.clone()]});
    let coded = plan(both.clone(), vec![]).await;
    assert_eq!(coded.matches("Aggregate:").count(), 2, "{coded}");
    assert!(
        coded.contains("groupBy=[[branch_code_0(sales.product_id, sales.shop_id)"),
        "{coded}"
    );
    assert!(coded.contains("DenseAggregateExec: "), "{coded}");
    // A filter on a dimension is a key set (computed first) folded into the
    // numbers of its key: no semi-join, no filter of the fact, no FILTER
    // clause; the rows it drops have a null code, dropped by an inner join
    // once aggregated. So is the key of a filter that nothing is grouped by
    // behind (the shop, when grouping by category).
    let brno = serde_json::json!([{"property": "cities.name", "operator": "ne", "value": "Brno"}]);
    for body in [serde_json::json!({"properties": [category.clone(), revenue.clone()]}), both.clone()] {
        let mut body = body;
        body["filterBy"] = brno.clone();
        let filtered = plan(body, vec![]).await;
        assert!(
            filtered.contains("groupBy=[[branch_code_1(sales.product_id, sales.shop_id)"),
            "{filtered}"
        );
        assert!(filtered.contains("Inner Join"), "{filtered}");
        assert!(filtered.contains("DenseAggregateExec: "), "{filtered}");
        assert!(
            !filtered.contains("Semi") && !filtered.contains("Filter: key_set") && !filtered.contains("FILTER (WHERE"),
            "{filtered}"
        );
    }
    // A viewer's permission is not in the plan at all: the fact's rows it
    // leaves were filtered once, and the viewer's plan over them is the
    // admin's over the whole fact.
    let by_category = serde_json::json!({"properties": [category, revenue]});
    for (body, grouped) in [
        (by_category, "groupBy=[[branch_code_0(sales.product_id)"),
        (both, "groupBy=[[branch_code_0(sales.product_id, sales.shop_id)"),
    ] {
        let admin = plan(body.clone(), vec![]).await;
        let viewer = plan(body, vec![brno.clone()]).await;
        let logical = |p: &str| p.split("Physical plan:").next().unwrap_or_default().to_owned();
        assert_eq!(logical(&viewer), logical(&admin));
        assert!(viewer.contains(grouped) && viewer.contains("DenseAggregateExec: "), "{viewer}");
        assert!(!viewer.contains("key_set") && !viewer.contains("Inner Join"), "{viewer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_made_current_replaces_the_rows_kept_of_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let mut snapshot = snapshot(&data).await;
    let engine = Engine::new(256 << 20, 64 << 20, Duration::from_secs(30), 2);
    engine.warm_table(&data, &snapshot, "sales").await.unwrap();
    let sales = engine.held_bytes();
    engine.warm_table(&data, &snapshot, "shops").await.unwrap();
    let both = engine.held_bytes();
    assert!(sales > 0 && both > sales, "{sales} then {both}");
    // A second load of the same rows, made current.
    let csv = std::fs::read_to_string(root().join("data/sales.csv")).unwrap();
    load_v2(&data, &mut snapshot, "sales", &csv).await;
    engine.warm_table(&data, &snapshot, "sales").await.unwrap();
    assert_eq!(engine.held_bytes(), both, "v1 of sales was dropped, shops kept");
}

/// A filtered viewer's fact rows are filtered once and kept by the engine
/// (`plan.rs`, `Permitted`). Whatever was kept, each answer must be the one
/// an engine that keeps nothing gives: under another permission, after a
/// new version of the dimension the permission reads, after a new version
/// of the fact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_permitted_rows_never_answer_for_other_permissions_or_versions() {
    let dir = tempfile::tempdir().unwrap();
    let data = DataStore::open(dir.path().to_str().unwrap()).unwrap();
    let mut snapshot = snapshot(&data).await;
    let engine = Engine::new(256 << 20, 64 << 20, Duration::from_secs(30), 2);
    let query = serde_json::json!({"properties": [
        {"type": "property", "value": "products.category", "id": "category"},
        {"id": "revenue", "type": "metric", "metric": "/rest/projects/$projectId/md/metrics?name=revenue"}]});
    let region = |name: &str| vec![serde_json::json!([{"property": "cities.region", "operator": "eq", "value": name}])];
    async fn ask(engine: &Engine, data: &DataStore, snapshot: &Snapshot, query: &Value, permissions: &[Value]) -> Vec<Map<String, Value>> {
        let (request, perms) = Engine::parse(&snapshot.model, query, permissions).unwrap();
        engine.query(data, snapshot, &request, &perms).await.unwrap().rows
    }
    // Each answer of the engine that keeps rows, checked against a new engine's.
    let mut answers = Vec::new();
    let mut step = async |snapshot: &Snapshot, permissions: Vec<Value>, what: &str| {
        let kept = ask(&engine, &data, snapshot, &query, &permissions).await;
        let fresh = Engine::new(256 << 20, 64 << 20, Duration::from_secs(30), 2);
        let want = ask(&fresh, &data, snapshot, &query, &permissions).await;
        if let Some(diff) = compare(&kept, &want, false) {
            panic!("{what}: {diff}");
        }
        answers.push(kept);
    };
    step(&snapshot, region("South Moravia"), "first permission").await;
    step(&snapshot, region("Prague"), "another permission").await;
    step(&snapshot, region("South Moravia"), "the first again").await;
    // Praha moves to South Moravia in a new version of cities.
    let cities = std::fs::read_to_string(root().join("data/cities.csv"))
        .unwrap()
        .replace("2,Praha,Prague", "2,Praha,South Moravia");
    load_v2(&data, &mut snapshot, "cities", &cities).await;
    step(&snapshot, region("South Moravia"), "a new version of the dimension").await;
    // Half the sales in a new version of the fact.
    let sales: String = std::fs::read_to_string(root().join("data/sales.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    load_v2(&data, &mut snapshot, "sales", &sales).await;
    step(&snapshot, region("South Moravia"), "a new version of the fact").await;
    // The steps were different questions: a stale answer would have shown.
    for (i, j) in [(0, 1), (0, 3), (3, 4)] {
        assert!(
            compare(&answers[i], &answers[j], false).is_some(),
            "answers {i} and {j} are the same"
        );
    }
    assert!(compare(&answers[0], &answers[2], false).is_none());
}

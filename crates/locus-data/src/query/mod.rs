//! DWH queries (api-contract.md §10): the JSON query language compiled to
//! DataFusion plans over the current versions of a project's datasets, each
//! read filtered by the caller's data permissions.
//!
//! - [`ast`]: JSON → typed nodes and filters, metrics expanded, with paths.
//! - [`model`]: datasets, foreign keys, join paths, metrics.
//! - [`plan`]: nodes → a DataFrame (grain per fact, joins, filters, windows).
//! - `precompute`: key sets and branch codes, read from small tables before
//!   a plan runs, so the fact is read with lookups instead of hash joins.
//! - [`tables`]: versions held in memory as Arrow, least recently used out.
//!
//! The server builds a [`Snapshot`] (the model and the current version file
//! of each dataset, read from the control store) and calls [`Engine`].

pub mod ast;
mod dense;
pub mod model;
pub mod overlaps;
pub mod plan;
pub mod points;
mod precompute;
pub mod profile;
pub mod search;
pub mod tables;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::Array;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::path::Path;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use self::ast::{Filter, Node, Parser};
pub use self::model::Model;
use self::plan::{Permitted, Planner, Tables};
use self::precompute::Precomputed;
use self::tables::TableCache;
use crate::{DataError, DataStore};

/// The most rows one query may return (results are kept in memory, as JSON).
pub const MAX_RESULT_ROWS: usize = 1_000_000;

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query is wrong: `path` is the JSON path of the offending node.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A dataset the query reads has no loaded data yet.
    #[error("dataset {0} has no data yet: load it first")]
    NoData(String),
    #[error("the query ran longer than {0:?} and was cancelled")]
    Timeout(Duration),
    #[error("the query needs more memory than a query may use: {0}")]
    Resources(String),
    #[error("{0}")]
    Internal(String),
}

impl QueryError {
    pub fn new(path: &str, message: impl Into<String>) -> Self {
        QueryError::Invalid {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// An error DataFusion found while planning: the query's own fault
    /// (types that do not fit), so answered as invalid.
    pub(crate) fn plan(e: datafusion::error::DataFusionError) -> Self {
        QueryError::new("", e.strip_backtrace())
    }

    fn execution(e: datafusion::error::DataFusionError) -> Self {
        match e.find_root() {
            datafusion::error::DataFusionError::ResourcesExhausted(m) => QueryError::Resources(m.clone()),
            root => QueryError::Internal(root.strip_backtrace()),
        }
    }
}

impl From<DataError> for QueryError {
    fn from(e: DataError) -> Self {
        QueryError::Internal(e.to_string())
    }
}

/// What a query reads: the model and each dataset's current version file.
pub struct Snapshot {
    pub model: Model,
    pub versions: HashMap<String, Path>,
}

/// The rows of a query: each a JSON object keyed by output id.
#[derive(Debug, Clone, Default)]
pub struct QueryOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
    /// Output ids whose values are measures (for metric ranges).
    pub measures: Vec<String>,
}

/// What a map layer draws: a dataset's rows, with their `title` property and
/// the `value` of a node (typically a metric) under `filter_by`.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    pub dataset: &'a str,
    pub title: Option<&'a str>,
    pub value: Option<&'a Value>,
    pub filter_by: &'a Value,
    /// The map's zoom: geometries come simplified to what it can show
    /// ([`crate::simplify`]); `None` sends them whole.
    pub zoom: Option<u8>,
    /// What identifies everything the layer's rows depend on besides the
    /// layer itself (the model, the data versions, the caller's
    /// permissions): when given, the rows and tiles are kept under it.
    pub fingerprint: Option<&'a str>,
}

impl Layer<'_> {
    /// The layer with its fingerprint, as a key of what is kept for it.
    fn key(&self) -> Option<String> {
        self.fingerprint
            .map(|f| format!("{f}#{}#{:?}#{:?}#{}", self.dataset, self.title, self.value, self.filter_by))
    }
}

/// A version's shapes at one tolerance: GeoJSON geometry text by key (as
/// JSON text), and the same indexed for tiles when a tile first asks.
struct Shapes {
    text: HashMap<String, Box<RawValue>>,
    tiles: std::sync::OnceLock<crate::tiles::TileIndex>,
}

impl Shapes {
    fn tiles(&self) -> &crate::tiles::TileIndex {
        self.tiles
            .get_or_init(|| crate::tiles::TileIndex::new(self.text.iter().map(|(k, t)| (k.as_str(), t.get()))))
    }
}

/// A layer's rows the caller may see, in the query's order: key (as JSON
/// text), attributes and, for a point dataset, the point (lng, lat).
struct LayerRows {
    order: Vec<(String, Option<[f64; 2]>)>,
    by_key: HashMap<String, crate::tiles::Attributes>,
}

/// How many layers' rows (in all), and how many tiles' bytes, an engine keeps.
const KEPT_LAYER_ROWS: usize = 2_000_000;
const KEPT_TILE_BYTES: usize = 64 << 20;

/// Limits and shared state of query execution.
pub struct Engine {
    tables: TableCache,
    /// Point datasets' versions indexed for nearest-row lookups, by version path.
    point_indexes: Mutex<HashMap<String, Arc<points::PointIndex>>>,
    /// Titles of versions indexed for full-text search, by version path and title.
    title_indexes: Mutex<HashMap<String, Arc<search::TitleIndex>>>,
    /// The rows of a title index a set of data permissions leaves, by
    /// dataset, title, permissions and the versions they were read from.
    allowed_rows: Mutex<HashMap<String, Arc<Vec<bool>>>>,
    /// Polygon and line datasets' versions as GeoJSON text per zoom, by
    /// version path, geometry and tolerance.
    shapes: Mutex<HashMap<String, Arc<Shapes>>>,
    /// Held while shapes are made: one maker at a time.
    shape_maker: tokio::sync::Mutex<()>,
    /// Held while a fact's permitted rows are made: a dashboard's questions
    /// arrive together, and each would otherwise filter the same rows.
    permitted_maker: tokio::sync::Mutex<()>,
    /// Map layers' rows and values, by layer and fingerprint; with their rows in all.
    layer_rows: Mutex<(HashMap<String, Arc<LayerRows>>, usize)>,
    /// Vector tiles made, by layer, fingerprint and tile; with their bytes in all.
    tiles: Mutex<(HashMap<String, bytes::Bytes>, usize)>,
    memory_per_query: usize,
    timeout: Duration,
    partitions: usize,
}

/// Drops the entries of a cache keyed by version path (and more after `#`)
/// that belong to another version of `current`'s dataset.
fn forget_superseded<V>(cache: &Mutex<HashMap<String, V>>, current: &str) {
    if let Ok(mut cache) = cache.lock() {
        cache.retain(|key, _| !tables::superseded(key, current));
    }
}

/// Hands the planner tables already loaded, and records what it asked for.
struct Loaded<'a> {
    tables: &'a HashMap<String, Arc<dyn TableProvider>>,
    snapshot: &'a Snapshot,
    asked: Mutex<BTreeSet<String>>,
}

impl Tables for Loaded<'_> {
    fn table(&self, dataset: &str) -> Result<Arc<dyn TableProvider>, QueryError> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(dataset.to_owned());
        }
        if let Some(t) = self.tables.get(dataset) {
            return Ok(t.clone());
        }
        if !self.snapshot.versions.contains_key(dataset) {
            return Err(QueryError::NoData(dataset.to_owned()));
        }
        // First pass: an empty table of the right shape.
        let def = &self.snapshot.model.datasets[dataset];
        let empty = MemTable::try_new(def.arrow_schema(), vec![vec![]]).map_err(QueryError::plan)?;
        Ok(Arc::new(empty))
    }
}

impl Engine {
    /// `memory_per_query` bounds each query's operators (a DataFusion memory
    /// pool); `table_budget` bounds the versions kept in memory.
    pub fn new(memory_per_query: usize, table_budget: usize, timeout: Duration, partitions: usize) -> Self {
        Engine {
            tables: TableCache::new(table_budget, partitions),
            point_indexes: Mutex::new(HashMap::new()),
            title_indexes: Mutex::new(HashMap::new()),
            allowed_rows: Mutex::new(HashMap::new()),
            shapes: Mutex::new(HashMap::new()),
            shape_maker: tokio::sync::Mutex::new(()),
            permitted_maker: tokio::sync::Mutex::new(()),
            layer_rows: Mutex::new((HashMap::new(), 0)),
            tiles: Mutex::new((HashMap::new(), 0)),
            memory_per_query,
            timeout,
            partitions: partitions.max(1),
        }
    }

    fn context(&self) -> Result<SessionContext, QueryError> {
        self.context_with_batches(SessionConfig::new().batch_size())
    }

    /// A context whose operators aim at batches of `rows` rows.
    fn context_with_batches(&self, rows: usize) -> Result<SessionContext, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.memory_per_query, 1.0)
            .build_arc()
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        let config = SessionConfig::new().with_target_partitions(self.partitions).with_batch_size(rows);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(dense::DenseGroups))
            .build();
        Ok(SessionContext::new_with_state(state))
    }

    /// Parses a request and the permissions against the model.
    pub fn parse(model: &Model, body: &Value, permissions: &[Value]) -> Result<(ast::Request, Vec<Filter>), QueryError> {
        Ok((Self::parse_request(model, body)?, parse_permissions(model, permissions)?))
    }

    /// Parses a DwhQueryRequest against the model.
    pub fn parse_request(model: &Model, body: &Value) -> Result<ast::Request, QueryError> {
        Parser::new(model).request(body, "")
    }

    /// Plans twice: over empty tables to learn which datasets the plan
    /// reads, then over those datasets' rows. What the plan precomputes is
    /// to be computed before it runs.
    async fn prepare(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        request: &ast::Request,
        perms: &[Filter],
        overrides: &HashMap<String, Arc<dyn TableProvider>>,
    ) -> Result<(datafusion::dataframe::DataFrame, Precomputed), QueryError> {
        let ctx = self.context()?;
        let none = HashMap::new();
        let probe = Loaded {
            tables: &none,
            snapshot,
            asked: Mutex::new(BTreeSet::new()),
        };
        let probed = Permitted::default();
        Planner {
            ctx: &ctx,
            model: &snapshot.model,
            tables: &probe,
            permissions: perms,
            precomputed: &Precomputed::default(),
            permitted: &probed,
        }
        .plan(request)?;
        let asked = probe.asked.into_inner().unwrap_or_default();
        let mut tables: HashMap<String, Arc<dyn TableProvider>> = overrides.clone();
        for dataset in asked.into_iter().filter(|d| !overrides.contains_key(d)) {
            let path = snapshot.versions.get(&dataset).ok_or_else(|| QueryError::NoData(dataset.clone()))?;
            let def = &snapshot.model.datasets[&dataset];
            let table = self.tables.table(data, path, def).await?;
            tables.insert(dataset, table);
        }
        let loaded = Loaded {
            tables: &tables,
            snapshot,
            asked: Mutex::new(BTreeSet::new()),
        };
        let mut permitted = Permitted::default();
        for fact in probed.wanted.into_inner().unwrap_or_default() {
            if overrides.contains_key(&fact) {
                continue;
            }
            if let Some(rows) = self.permitted_rows(snapshot, &loaded, perms, &fact).await? {
                permitted.tables.insert(fact, rows);
            }
        }
        let precomputed = Precomputed::default();
        let df = Planner {
            ctx: &ctx,
            model: &snapshot.model,
            tables: &loaded,
            permissions: perms,
            precomputed: &precomputed,
            permitted: &permitted,
        }
        .plan(request)?;
        Ok((df, precomputed))
    }

    /// `fact`'s rows that `perms` leave (see [`Permitted`]), kept in the
    /// table cache under the fact's version path, the permissions, the
    /// versions of every dataset (a permission may filter through a
    /// dimension) and the filtering plan's text (its joins, which the
    /// metadata decides): a new version of any dataset, a changed
    /// permission or a changed foreign key is a new entry. `None` (the plan
    /// then filters the fact itself) when the fact's version is not held in
    /// memory or holds more than half the cache's budget: its permitted rows
    /// would not be kept, and making them for one question costs more than
    /// filtering in it.
    async fn permitted_rows(
        &self,
        snapshot: &Snapshot,
        loaded: &Loaded<'_>,
        perms: &[Filter],
        fact: &str,
    ) -> Result<Option<Arc<dyn TableProvider>>, QueryError> {
        let path = snapshot.versions.get(fact).ok_or_else(|| QueryError::NoData(fact.to_owned()))?;
        let small = |bytes: usize| bytes <= self.tables.budget() / 2;
        if !self.tables.held(path.as_ref()).is_some_and(small) {
            return Ok(None);
        }
        // In batches as large as a stored version's (a query's operators
        // would cut them to 8,192 rows, and every batch costs each later
        // question a little).
        let ctx = self.context_with_batches(crate::parquet_io::BATCH_ROWS)?;
        let precomputed = Precomputed::default();
        let (df, plan) = Planner {
            ctx: &ctx,
            model: &snapshot.model,
            tables: loaded,
            permissions: perms,
            precomputed: &precomputed,
            permitted: &Permitted::default(),
        }
        .permitted_rows(fact)?;
        let mut versions: Vec<String> = snapshot.versions.iter().map(|(d, v)| format!("{d}={v}")).collect();
        versions.sort_unstable();
        let key = format!("{path}#permitted#{perms:?}#{versions:?}#{plan}");
        if let Some(rows) = self.tables.lookup(&key) {
            return Ok(Some(rows));
        }
        let _making = self.permitted_maker.lock().await;
        if let Some(rows) = self.tables.lookup(&key) {
            return Ok(Some(rows)); // made while this one waited
        }
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = self
            .within_limit(async move {
                precomputed.compute().await?;
                df.collect().await
            })
            .await?;
        Ok(Some(self.tables.keep(key, schema, batches)?))
    }

    /// Runs a query to its rows.
    pub async fn query(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        request: &ast::Request,
        perms: &[Filter],
    ) -> Result<QueryOutput, QueryError> {
        self.query_with(data, snapshot, request, perms, &HashMap::new()).await
    }

    /// Runs a query with some datasets' rows given (`overrides`) instead of
    /// read from their current versions.
    pub(crate) async fn query_with(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        request: &ast::Request,
        perms: &[Filter],
        overrides: &HashMap<String, Arc<dyn TableProvider>>,
    ) -> Result<QueryOutput, QueryError> {
        let (schema, batches) = self.query_batches(data, snapshot, request, perms, overrides).await?;
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        if total > MAX_RESULT_ROWS {
            return Err(QueryError::new(
                "limit",
                format!("the result has {total} rows, more than the {MAX_RESULT_ROWS} a query may return; add filters or a limit"),
            ));
        }
        let mut rows = Vec::with_capacity(total);
        for batch in &batches {
            for r in 0..batch.num_rows() {
                let mut row = Map::with_capacity(columns.len());
                for (i, name) in columns.iter().enumerate() {
                    row.insert(name.clone(), json_value(batch.column(i).as_ref(), r));
                }
                rows.push(row);
            }
        }
        let measures = request
            .outputs
            .iter()
            .filter(|o| o.node.has_aggregate())
            .map(|o| o.id.clone())
            .collect();
        Ok(QueryOutput { columns, rows, measures })
    }

    /// Runs a query to its Arrow batches, with no limit on their rows (for
    /// this crate's own reads of many rows; a caller's query goes through
    /// [`Engine::query`], which bounds its result).
    pub(crate) async fn query_batches(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        request: &ast::Request,
        perms: &[Filter],
        overrides: &HashMap<String, Arc<dyn TableProvider>>,
    ) -> Result<(Schema, Vec<RecordBatch>), QueryError> {
        let (df, precomputed) = self.prepare(data, snapshot, request, perms, overrides).await?;
        let schema: Schema = df.schema().as_arrow().clone();
        let batches = self
            .within_limit(async move {
                precomputed.compute().await?;
                df.collect().await
            })
            .await?;
        Ok((schema, batches))
    }

    /// Runs `work` (precomputing, then executing) within the query time limit.
    async fn within_limit<T>(&self, work: impl std::future::Future<Output = datafusion::error::Result<T>>) -> Result<T, QueryError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| QueryError::Timeout(self.timeout))?
            .map_err(QueryError::execution)
    }

    /// The optimized logical plan and the physical plan, as text (`/explain`).
    pub async fn explain(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        request: &ast::Request,
        perms: &[Filter],
    ) -> Result<String, QueryError> {
        let (df, precomputed) = self.prepare(data, snapshot, request, perms, &HashMap::new()).await?;
        let logical = df.clone().into_optimized_plan().map_err(QueryError::plan)?;
        // The physical plan depends on what is precomputed (how many codes
        // a dense group-by has), so that runs first.
        let physical = self
            .within_limit(async move {
                precomputed.compute().await?;
                df.create_physical_plan().await
            })
            .await?;
        Ok(format!(
            "{}\n\nPhysical plan:\n{}",
            logical.display_indent(),
            datafusion::physical_plan::displayable(physical.as_ref()).indent(true)
        ))
    }

    /// The distinct non-null values of one property, ascending (or
    /// descending), containing `filter` case-insensitively.
    pub async fn property_values(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        property: &str,
        filter: Option<&str>,
        descending: bool,
        perms: &[Filter],
    ) -> Result<Vec<Value>, QueryError> {
        let mut body = serde_json::json!({
            "properties": [{"id": "value", "type": "property", "value": property}],
            "filterBy": [{"property": property, "operator": "isNotNull"}],
        });
        if descending {
            body["orderBy"] = serde_json::json!([{"propertyId": "value", "direction": "desc"}]);
        }
        let request = Parser::new(&snapshot.model).request(&body, "").map_err(|e| match e {
            QueryError::Invalid { message, .. } => QueryError::new("property", message),
            other => other,
        })?;
        let out = self.query(data, snapshot, &request, perms).await?;
        let needle = filter.map(str::to_lowercase).filter(|n| !n.is_empty());
        Ok(out
            .rows
            .into_iter()
            .filter_map(|mut r| r.remove("value"))
            .filter(|v| match (&needle, v) {
                (None, _) => true,
                (Some(n), Value::String(s)) => s.to_lowercase().contains(n.as_str()),
                (Some(n), other) => other.to_string().to_lowercase().contains(n.as_str()),
            })
            .collect())
    }

    /// The datasets at which every aggregate of `metric` can be computed:
    /// those reachable along foreign keys from each of its fact datasets,
    /// within its acceptAggregateBy / dontAggregateBy.
    pub fn available_datasets(model: &Model, metric: &Value, path: &str) -> Result<Vec<String>, QueryError> {
        let node = Parser::new(model).node(metric, path, &ast::AggScope::default())?;
        let mut facts = BTreeSet::new();
        let mut scopes = Vec::new();
        node.walk(&mut |n| {
            if let Node::Aggregate { arg, scope, .. } = n {
                facts.extend(arg.properties().iter().map(|p| p.dataset.clone()));
                scopes.push(scope.clone());
            }
        });
        let mut out: Option<BTreeSet<String>> = None;
        for fact in &facts {
            let reach: BTreeSet<String> = model.reach(fact).into_keys().collect();
            out = Some(match out {
                None => reach,
                Some(prev) => prev.intersection(&reach).cloned().collect(),
            });
        }
        Ok(out
            .unwrap_or_default()
            .into_iter()
            .filter(|d| {
                scopes.iter().all(|s| {
                    (s.accept.is_empty() || s.accept.iter().any(|p| model::matches_pattern(p, d)))
                        && !s.dont.iter().any(|p| model::matches_pattern(p, d))
                })
            })
            .collect())
    }

    /// The features of a dataset as a GeoJSON FeatureCollection for a map:
    /// each visible row (data permissions apply) with its geometry (a
    /// polygon or line, or the point of its latitude and longitude), its
    /// `title` (the `title` property, when given) and, when `value` (a node,
    /// typically a metric) is given, its `value` at this dataset's grain
    /// under `filter_by`. Rows the filters leave out keep a null value.
    pub async fn features(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        layer: &Layer<'_>,
        perms: &[Filter],
    ) -> Result<Box<RawValue>, QueryError> {
        // Points are drawn from their row's coordinates; shapes come from
        // the version's shapes, prepared once per zoom (`shapes`).
        let shapes = match self.geometry_of(snapshot, layer.dataset)? {
            Some(geometry) => {
                let tolerance = layer
                    .zoom
                    .filter(|z| *z < crate::simplify::FULL_DETAIL_ZOOM)
                    .map(crate::simplify::tolerance_at_zoom);
                Some(self.shapes(data, snapshot, layer.dataset, &geometry, tolerance).await?)
            }
            None => None,
        };
        let rows = self.layer_rows(data, snapshot, layer, perms).await?;
        // Written out as text: the shapes are JSON text already.
        let mut out = String::from(r#"{"type":"FeatureCollection","features":["#);
        let mut first = true;
        for (key, point) in &rows.order {
            let text;
            let geometry = match (&shapes, point) {
                (Some(shapes), _) => match shapes.text.get(key) {
                    Some(shape) => shape.get(),
                    None => continue,
                },
                (None, Some([lng, lat])) => {
                    text = serde_json::json!({"type": "Point", "coordinates": [lng, lat]}).to_string();
                    text.as_str()
                }
                (None, None) => continue,
            };
            let Some(row) = rows.by_key.get(key) else { continue };
            let properties = serde_json::json!({"id": row.id, "title": row.title, "value": row.value});
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(r#"{"type":"Feature","geometry":"#);
            out.push_str(geometry);
            out.push_str(r#","properties":"#);
            out.push_str(&properties.to_string());
            out.push('}');
        }
        out.push_str("]}");
        RawValue::from_string(out).map_err(|e| QueryError::Internal(format!("the features: {e}")))
    }

    /// A polygon or line layer's tile `z/x/y` as MVT bytes
    /// ([`crate::tiles`]): the rows [`Engine::features`] would send, with
    /// their shapes simplified for the tile's zoom. Kept per fingerprint.
    pub async fn tile(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        layer: &Layer<'_>,
        (z, x, y): (u8, u32, u32),
        perms: &[Filter],
    ) -> Result<bytes::Bytes, QueryError> {
        if z > crate::tiles::MAX_TILE_ZOOM {
            return Err(QueryError::new(
                "z",
                format!("tiles go from zoom 0 to {}", crate::tiles::MAX_TILE_ZOOM),
            ));
        }
        if x >= 1 << z || y >= 1 << z {
            return Err(QueryError::new(
                "x",
                format!("zoom {z} has tiles 0 to {} across and down", (1u32 << z) - 1),
            ));
        }
        let key = layer.key().map(|k| format!("{k}#{z}/{x}/{y}"));
        if let Some(kept) = key.as_ref().and_then(|k| self.tiles.lock().ok()?.0.get(k).cloned()) {
            return Ok(kept);
        }
        let geometry = self.tiled_geometry(snapshot, layer.dataset)?;
        // The shapes of the even zoom at or past the tile's: those the
        // load prepared, a quarter of a pixel or finer at the tile's zoom.
        let detail = (z + z % 2).max(2);
        let shapes = self
            .shapes(
                data,
                snapshot,
                layer.dataset,
                &geometry,
                Some(crate::simplify::tolerance_at_zoom(detail)),
            )
            .await?;
        let rows = self.layer_rows(data, snapshot, layer, perms).await?;
        let made = tokio::task::spawn_blocking(move || shapes.tiles().tile(z, x, y, &rows.by_key))
            .await
            .map_err(|e| QueryError::Internal(format!("the tile: {e}")))?;
        let made = bytes::Bytes::from(made);
        if let (Some(key), Ok(mut kept)) = (key, self.tiles.lock()) {
            if kept.1 + made.len() > KEPT_TILE_BYTES {
                *kept = (HashMap::new(), 0);
            }
            kept.1 += made.len();
            kept.0.insert(key, made.clone());
        }
        Ok(made)
    }

    /// What a map shows before its tiles: how many features a polygon or
    /// line layer has for the caller, their values (for the legend's
    /// classes) and the box around them (to fit the map to), in degrees.
    pub async fn layer_summary(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        layer: &Layer<'_>,
        perms: &[Filter],
    ) -> Result<Value, QueryError> {
        let geometry = self.tiled_geometry(snapshot, layer.dataset)?;
        // The box comes from the coarsest shapes the load prepared.
        let tolerance = crate::simplify::tolerance_at_zoom(2);
        let shapes = self.shapes(data, snapshot, layer.dataset, &geometry, Some(tolerance)).await?;
        let rows = self.layer_rows(data, snapshot, layer, perms).await?;
        let values: Vec<Value> = rows
            .order
            .iter()
            .filter(|(key, _)| shapes.text.contains_key(key))
            .filter_map(|(key, _)| rows.by_key.get(key).map(|a| a.value.clone()))
            .collect();
        let bounds = tokio::task::spawn_blocking(move || shapes.tiles().bounds(&rows.by_key))
            .await
            .map_err(|e| QueryError::Internal(format!("the bounds: {e}")))?;
        Ok(serde_json::json!({"count": values.len(), "values": values, "bounds": bounds}))
    }

    /// The geometry property of a dataset drawn as tiles (polygons or
    /// lines); a point dataset is a 400 naming the dataset.
    fn tiled_geometry(&self, snapshot: &Snapshot, dataset: &str) -> Result<String, QueryError> {
        self.geometry_of(snapshot, dataset)?.ok_or_else(|| {
            QueryError::new(
                "dataset",
                format!("dataset {dataset} has points: they are drawn from its features, not tiles"),
            )
        })
    }

    /// The geometry property of a polygon or line dataset; `None` for a
    /// point dataset; an error for a dataset with neither.
    fn geometry_of(&self, snapshot: &Snapshot, dataset: &str) -> Result<Option<String>, QueryError> {
        let model = &snapshot.model;
        let def = model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?;
        if let Some(g) = def.properties.iter().find(|p| p.ty == crate::PropertyType::Geometry) {
            return Ok(Some(g.name.clone()));
        }
        match model.lat_lng(dataset) {
            Ok(_) => Ok(None),
            Err(_) => Err(QueryError::new(
                "dataset",
                format!("dataset {dataset} has no geometry, latitude or longitude to draw"),
            )),
        }
    }

    /// The rows of a layer the caller may see, with their titles and
    /// values (and points, for a point dataset): one query for the rows,
    /// one for the values. Kept under the layer's fingerprint, when given,
    /// so a map's tiles and redraws reuse them.
    async fn layer_rows(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        layer: &Layer<'_>,
        perms: &[Filter],
    ) -> Result<Arc<LayerRows>, QueryError> {
        let key = layer.key();
        if let Some(kept) = key.as_ref().and_then(|k| self.layer_rows.lock().ok()?.0.get(k).cloned()) {
            return Ok(kept);
        }
        let Layer {
            dataset,
            title,
            value,
            filter_by,
            ..
        } = *layer;
        let model = &snapshot.model;
        let def = model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?;
        let pk = format!("{dataset}.{}", def.primary_key);
        let mut columns = vec![serde_json::json!({"id": "id", "type": "property", "value": pk})];
        if self.geometry_of(snapshot, dataset)?.is_none() {
            let (lat, lng) = model.lat_lng(dataset).map_err(|m| QueryError::new("dataset", m))?;
            columns.push(serde_json::json!({"id": "lat", "type": "property", "value": lat.column()}));
            columns.push(serde_json::json!({"id": "lng", "type": "property", "value": lng.column()}));
        }
        if let Some(t) = title {
            model.property(&format!("{dataset}.{t}")).map_err(|m| QueryError::new("title", m))?;
            columns.push(serde_json::json!({"id": "title", "type": "property", "value": format!("{dataset}.{t}")}));
        }
        // Without a value, the filters choose the rows (markers); with one,
        // every visible row is drawn and the filters shape the values.
        let shape_filters = if value.is_none() {
            filter_by.clone()
        } else {
            Value::Array(Vec::new())
        };
        let request = Parser::new(model).request(&serde_json::json!({"properties": columns, "filterBy": shape_filters}), "")?;
        let rows = self.query(data, snapshot, &request, perms).await?;
        let mut values: HashMap<String, Value> = HashMap::new();
        if let Some(node) = value {
            let mut node = node.clone();
            node["id"] = Value::from("value");
            let body = serde_json::json!({"properties": [{"id": "id", "type": "property", "value": pk}, node], "filterBy": filter_by});
            let request = Parser::new(model).request(&body, "")?;
            for mut row in self.query(data, snapshot, &request, perms).await?.rows {
                if let Some(id) = row.remove("id") {
                    values.insert(id.to_string(), row.remove("value").unwrap_or(Value::Null));
                }
            }
        }
        let mut out = LayerRows {
            order: Vec::with_capacity(rows.rows.len()),
            by_key: HashMap::with_capacity(rows.rows.len()),
        };
        for mut row in rows.rows {
            let id = row.remove("id").unwrap_or(Value::Null);
            let key = id.to_string();
            let point = match (row.get("lng").and_then(Value::as_f64), row.get("lat").and_then(Value::as_f64)) {
                (Some(lng), Some(lat)) => Some([lng, lat]),
                _ => None,
            };
            let attributes = crate::tiles::Attributes {
                value: values.remove(&key).unwrap_or(Value::Null),
                title: row.remove("title").unwrap_or(Value::Null),
                id,
            };
            out.order.push((key.clone(), point));
            out.by_key.insert(key, attributes);
        }
        let out = Arc::new(out);
        if let (Some(key), Ok(mut kept)) = (key, self.layer_rows.lock()) {
            if kept.1 + out.order.len() > KEPT_LAYER_ROWS {
                *kept = (HashMap::new(), 0);
            }
            kept.1 += out.order.len();
            kept.0.insert(key, out.clone());
        }
        Ok(out)
    }

    /// The shapes of a dataset version by key (`id` as JSON text), as
    /// GeoJSON text simplified to `tolerance` degrees (whole without one):
    /// made from every row and kept (prepared after a load for the zooms a
    /// map asks at, [`Engine::prepare_shapes`]); the rows a caller may see
    /// are chosen by the query that asks. When one of the prepared zooms is
    /// asked for and not kept (after a restart), all of them are made from
    /// the one read of the rows.
    async fn shapes(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        dataset: &str,
        geometry: &str,
        tolerance: Option<f64>,
    ) -> Result<Arc<Shapes>, QueryError> {
        let prepared = prepared_tolerances();
        let asked = if prepared.contains(&tolerance) { prepared } else { vec![tolerance] };
        let made = self.make_shapes(data, snapshot, dataset, geometry, &asked).await?;
        asked
            .iter()
            .position(|t| *t == tolerance)
            .and_then(|i| made.into_iter().nth(i))
            .ok_or_else(|| QueryError::Internal("the shapes were not made".into()))
    }

    /// Reads a dataset version's rows into memory (within the tables'
    /// budget), so that the first query after a load does not wait for them,
    /// and drops the rows and indexes kept of the version it replaced.
    pub async fn warm_table(&self, data: &DataStore, snapshot: &Snapshot, dataset: &str) -> Result<(), QueryError> {
        let def = snapshot.model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?;
        let path = snapshot
            .versions
            .get(dataset)
            .ok_or_else(|| QueryError::NoData(dataset.to_owned()))?;
        // What was kept of the version it replaced goes first, so that the
        // two are not held at once.
        let current = path.to_string();
        self.tables.forget_superseded(path);
        forget_superseded(&self.point_indexes, &current);
        forget_superseded(&self.title_indexes, &current);
        forget_superseded(&self.shapes, &current);
        self.tables.table(data, path, def).await?;
        Ok(())
    }

    /// Prepares a polygon or line dataset version's shapes for the zooms
    /// the map asks at (even zooms up to 12; closer ones are made when
    /// first asked), from one read of its rows, and indexes them for tiles.
    pub async fn prepare_shapes(&self, data: &DataStore, snapshot: &Snapshot, dataset: &str) -> Result<(), QueryError> {
        let def = snapshot.model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?;
        let Some(geometry) = def.properties.iter().find(|p| p.ty == crate::PropertyType::Geometry) else {
            return Ok(());
        };
        let made = self
            .make_shapes(data, snapshot, dataset, &geometry.name, &prepared_tolerances())
            .await?;
        // And indexed for tiles, so that the first map's tiles need not wait.
        tokio::task::spawn_blocking(move || {
            made.iter().for_each(|shapes| {
                shapes.tiles();
            })
        })
        .await
        .map_err(|e| QueryError::Internal(format!("the tile indexes: {e}")))
    }

    /// The shapes at each tolerance, those not kept yet made from one query
    /// over the version's rows, then kept (16 at most).
    async fn make_shapes(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        dataset: &str,
        geometry: &str,
        tolerances: &[Option<f64>],
    ) -> Result<Vec<Arc<Shapes>>, QueryError> {
        let path = snapshot
            .versions
            .get(dataset)
            .ok_or_else(|| QueryError::NoData(dataset.to_owned()))?;
        let key = |tolerance: &Option<f64>| format!("{path}#{geometry}#{tolerance:?}");
        let kept = || -> Result<Vec<Option<Arc<Shapes>>>, QueryError> {
            let cache = self.shapes.lock().map_err(|_| QueryError::Internal("the shapes' lock".into()))?;
            Ok(tolerances.iter().map(|t| cache.get(&key(t)).cloned()).collect())
        };
        if let Some(all) = kept()?.into_iter().collect::<Option<Vec<_>>>() {
            return Ok(all);
        }
        // One maker at a time: a map opened while the shapes are being
        // prepared after a load waits for them instead of making them too.
        let _making = self.shape_maker.lock().await;
        let kept = kept()?;
        let missing: Vec<Option<f64>> = tolerances.iter().zip(&kept).filter(|(_, k)| k.is_none()).map(|(t, _)| *t).collect();
        if missing.is_empty() {
            return Ok(kept.into_iter().flatten().collect());
        }
        let model = &snapshot.model;
        let pk = model
            .dataset(dataset)
            .map_err(|m| QueryError::new("dataset", m))?
            .primary_key
            .clone();
        let body = serde_json::json!({"properties": [{"id": "id", "type": "property", "value": format!("{dataset}.{pk}")},
            {"id": "geometry", "type": "property", "value": format!("{dataset}.{geometry}")}]});
        let request = Parser::new(model).request(&body, "")?;
        let rows = self.query(data, snapshot, &request, &[]).await?.rows;
        let to_make = missing.clone();
        let made: Vec<Shapes> = tokio::task::spawn_blocking(move || {
            let rows: Vec<(String, Value)> = rows
                .into_iter()
                .filter_map(|mut row| match (row.remove("id"), row.remove("geometry")) {
                    (Some(id), Some(g @ Value::Object(_))) => Some((id.to_string(), g)),
                    _ => None,
                })
                .collect();
            to_make
                .iter()
                .map(|tolerance| {
                    let mut shapes = Shapes {
                        text: HashMap::with_capacity(rows.len()),
                        tiles: std::sync::OnceLock::new(),
                    };
                    for (id, g) in &rows {
                        let text = match tolerance {
                            Some(t) => serde_json::value::to_raw_value(&crate::simplify::simplify_geojson(g, *t)),
                            None => serde_json::value::to_raw_value(g),
                        };
                        if let Ok(text) = text {
                            shapes.text.insert(id.clone(), text);
                        }
                    }
                    shapes
                })
                .collect()
        })
        .await
        .map_err(|e| QueryError::Internal(format!("the shapes: {e}")))?;
        let mut made: HashMap<String, Arc<Shapes>> = missing.iter().map(key).zip(made.into_iter().map(Arc::new)).collect();
        if let Ok(mut cache) = self.shapes.lock() {
            if cache.len() + made.len() > 16 {
                cache.clear();
            }
            cache.extend(made.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(tolerances
            .iter()
            .zip(kept)
            .filter_map(|(t, k)| k.or_else(|| made.remove(&key(t))))
            .collect())
    }

    /// A point dataset (the layer's) drawn as H3 hexagons of `resolution`:
    /// one feature per cell holding rows (the filters and the caller's
    /// permissions apply), its value the layer's `value` node computed over
    /// the cell's rows (the number of rows without one). Cells come from the
    /// same `function_h3_grid` as queries; their outlines from h3o.
    pub async fn grid(
        &self,
        data: &DataStore,
        snapshot: &Snapshot,
        layer: &Layer<'_>,
        resolution: u8,
        perms: &[Filter],
    ) -> Result<Value, QueryError> {
        let Layer {
            dataset, value, filter_by, ..
        } = *layer;
        let model = &snapshot.model;
        let def = model.dataset(dataset).map_err(|m| QueryError::new("dataset", m))?;
        let mut node = match value {
            Some(node) => node.clone(),
            None => serde_json::json!({"type": "function_count", "content": [
                {"type": "property", "value": format!("{dataset}.{}", def.primary_key)}]}),
        };
        node["id"] = Value::from("value");
        let cell = serde_json::json!({"id": "cell", "type": "function_h3_grid",
            "options": {"dataset": dataset, "resolution": resolution}});
        let body = serde_json::json!({"properties": [cell, node], "filterBy": filter_by});
        let request = Parser::new(model).request(&body, "")?;
        let mut features = Vec::new();
        for row in self.query(data, snapshot, &request, perms).await?.rows {
            let Some(index) = row.get("cell").and_then(Value::as_str) else {
                continue;
            };
            let Ok(cell) = index.parse::<h3o::CellIndex>() else { continue };
            let mut ring: Vec<Value> = cell.boundary().iter().map(|p| serde_json::json!([p.lng(), p.lat()])).collect();
            if let Some(first) = ring.first().cloned() {
                ring.push(first);
            }
            features.push(serde_json::json!({"type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"id": index, "title": index, "value": row.get("value").cloned().unwrap_or(Value::Null)}}));
        }
        Ok(serde_json::json!({"type": "FeatureCollection", "features": features}))
    }

    pub fn held_bytes(&self) -> usize {
        self.tables.held_bytes()
    }
}

/// The tolerances of the zooms a version's shapes are prepared for: the
/// even ones from 2 to 12.
fn prepared_tolerances() -> Vec<Option<f64>> {
    (1..=6u8).map(|z| Some(crate::simplify::tolerance_at_zoom(2 * z))).collect()
}

/// The filters of the dataPermissions objects targeting the caller (each
/// object's `content.filters`), all combined with AND.
pub fn parse_permissions(model: &Model, permissions: &[Value]) -> Result<Vec<Filter>, QueryError> {
    let mut parser = Parser::new(model);
    let mut out = Vec::new();
    for (i, filters) in permissions.iter().enumerate() {
        let filters = filters.as_array().map(Vec::as_slice).unwrap_or_default();
        for (k, f) in filters.iter().enumerate() {
            let filter = parser.filter(f, &format!("dataPermissions[{i}].filters[{k}]")).map_err(|e| {
                QueryError::new(
                    "dataPermissions",
                    format!("a data permission on your account cannot be applied ({e}); ask a project admin to fix it"),
                )
            })?;
            out.push(filter);
        }
    }
    Ok(out)
}

/// A query's rows as RFC 4180 CSV: a header of the column ids (when
/// `header`), then one line per row; nulls are empty fields.
pub fn to_csv(out: &QueryOutput, separator: u8, header: bool) -> Vec<u8> {
    let mut csv = Vec::new();
    let mut line = |cells: &mut dyn Iterator<Item = Option<&Value>>| {
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                csv.push(separator);
            }
            match cell {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => crate::dump::push_field(&mut csv, text, separator),
                Some(other) => csv.extend_from_slice(other.to_string().as_bytes()),
            }
        }
        csv.extend_from_slice(b"\r\n");
    };
    if header {
        let names: Vec<Value> = out.columns.iter().map(|c| Value::from(c.as_str())).collect();
        line(&mut names.iter().map(Some));
    }
    for row in &out.rows {
        line(&mut out.columns.iter().map(|c| row.get(c)));
    }
    csv
}

/// A query's rows as an xlsx workbook: one sheet, a header row of the column
/// ids (when `header`), numbers as numbers, everything else as text.
pub fn to_xlsx(out: &QueryOutput, header: bool) -> Result<Vec<u8>, QueryError> {
    let fail = |e: rust_xlsxwriter::XlsxError| QueryError::Internal(format!("xlsx: {e}"));
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    let mut row: u32 = 0;
    if header {
        for (col, name) in out.columns.iter().enumerate() {
            sheet.write_string(0, u16::try_from(col).unwrap_or(u16::MAX), name).map_err(fail)?;
        }
        row = 1;
    }
    for values in &out.rows {
        for (col, name) in out.columns.iter().enumerate() {
            let col = u16::try_from(col).unwrap_or(u16::MAX);
            match values.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => {
                    sheet.write_number(row, col, n.as_f64().unwrap_or(f64::NAN)).map_err(fail)?;
                }
                Some(Value::Bool(b)) => {
                    sheet.write_boolean(row, col, *b).map_err(fail)?;
                }
                Some(Value::String(text)) => {
                    sheet.write_string(row, col, text).map_err(fail)?;
                }
                Some(other) => {
                    sheet.write_string(row, col, other.to_string()).map_err(fail)?;
                }
            }
        }
        row = row.saturating_add(1);
    }
    workbook.save_to_buffer().map_err(fail)
}

/// One cell as JSON: numbers, strings, booleans, dates as `YYYY-MM-DD`.
fn json_value(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let Ok(scalar) = ScalarValue::try_from_array(array, row) else {
        return Value::Null;
    };
    match scalar {
        ScalarValue::Int8(Some(v)) => v.into(),
        ScalarValue::Int16(Some(v)) => v.into(),
        ScalarValue::Int32(Some(v)) => v.into(),
        ScalarValue::Int64(Some(v)) => v.into(),
        ScalarValue::UInt8(Some(v)) => v.into(),
        ScalarValue::UInt16(Some(v)) => v.into(),
        ScalarValue::UInt32(Some(v)) => v.into(),
        ScalarValue::UInt64(Some(v)) => v.into(),
        ScalarValue::Float32(Some(v)) => number(f64::from(v)),
        ScalarValue::Float64(Some(v)) => number(v),
        ScalarValue::Boolean(Some(v)) => v.into(),
        ScalarValue::Utf8(Some(v)) | ScalarValue::LargeUtf8(Some(v)) | ScalarValue::Utf8View(Some(v)) => v.into(),
        ScalarValue::Date32(Some(d)) => crate::load::format_date(d).into(),
        // Geometries (stored as WKB) come out as GeoJSON geometry objects.
        ScalarValue::Binary(Some(wkb)) | ScalarValue::LargeBinary(Some(wkb)) | ScalarValue::BinaryView(Some(wkb)) => {
            crate::geometry::wkb_to_geojson(&wkb).unwrap_or(Value::Null)
        }
        other if other.data_type() == DataType::Null => Value::Null,
        other => other.to_string().into(),
    }
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

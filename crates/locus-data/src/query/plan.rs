//! A parsed query → a DataFusion DataFrame, through the expression API only
//! (no SQL text, so nothing a user sends is ever parsed as SQL).
//!
//! The shape of every plan:
//! 1. Each aggregate belongs to a *fact* dataset, the one its property comes
//!    from. Aggregates are grouped by fact; each group starts from its fact
//!    table, left-joins along foreign keys (many-to-one, so no fact row is
//!    ever repeated) the datasets that the dimensions and filters need, and
//!    aggregates by the dimensions. Data-permission filters and the query's
//!    filters go into WHERE; a metric's own filters, and query filters that a
//!    metric's `withoutFilters` excludes for other metrics, become the
//!    aggregate's FILTER clause.
//! 2. The groups are full-outer-joined on the dimension values (nulls equal).
//! 3. A projection computes each output column from the aggregates (ratios,
//!    rounding, percent-to-total and rank windows), then come `having`,
//!    `resultSetFilter`, the order and the limit.
//!
//! A query with no aggregate is a distinct list of its dimensions, read from
//! the one dataset from which every dimension and filter can be reached.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::{DataType, IntervalMonthDayNano};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableProvider;
use datafusion::functions::expr_fn as f;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::functions_window::expr_fn as win;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    cast, in_subquery, lit, not_in_subquery, when, Expr, ExprFunctionExt, JoinType, LogicalPlanBuilder, Operator, SortExpr,
    WindowFunctionDefinition,
};
use datafusion::prelude::SessionContext;

use super::ast::{AggFunc, AggScope, ArithOp, CompareOp, Filter, Node, Request, WindowFunc};
use super::model::{matches_pattern, Model, Reach};
use super::precompute::{is_key_set, key_set_of, supported_key, BranchSpec, Precomputed};
use super::QueryError;
use crate::PropertyType;

/// Earth's mean radius in metres (data-plane.md §3).
pub(crate) const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Where the planner gets a dataset's rows.
pub trait Tables {
    fn table(&self, dataset: &str) -> Result<Arc<dyn TableProvider>, QueryError>;
}

/// A column of a frame, named exactly (never parsed for a qualifier).
pub(crate) fn c(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn dim_col(i: usize) -> String {
    format!("__d{i}")
}

fn agg_col(j: usize) -> String {
    format!("__a{j}")
}

/// The datasets the dimension columns read.
fn dim_datasets(dims: &[(usize, &Node)]) -> BTreeSet<String> {
    dims.iter()
        .flat_map(|(_, n)| n.bare_properties())
        .map(|p| p.dataset.clone())
        .collect()
}

/// An aggregate with a FILTER clause, when there is one.
fn filtered(aggregate: Expr, predicate: Option<&Expr>) -> Result<Expr, QueryError> {
    match predicate {
        Some(p) => aggregate.filter(p.clone()).build().map_err(QueryError::plan),
        None => Ok(aggregate),
    }
}

/// The conjunction of the predicates that `keep` selects.
fn all_of<'a>(preds: impl IntoIterator<Item = &'a (Expr, BTreeSet<String>)>, keep: impl Fn(&BTreeSet<String>) -> bool) -> Option<Expr> {
    preds
        .into_iter()
        .filter(|(_, sets)| keep(sets))
        .map(|(e, _)| e.clone())
        .reduce(Expr::and)
}

/// One aggregate of the query, with what it needs.
struct AggSpec<'q> {
    func: AggFunc,
    arg: &'q Node,
    scope: &'q AggScope,
    fact: String,
}

pub struct Planner<'a> {
    pub ctx: &'a SessionContext,
    pub model: &'a Model,
    pub tables: &'a dyn Tables,
    /// The caller's data permission filters, all applied (AND).
    pub permissions: &'a [Filter],
    /// What the plan computes from small tables before it runs.
    pub precomputed: &'a Precomputed,
    /// Facts whose rows under the permissions are given.
    pub permitted: &'a Permitted,
}

/// A fact's rows that the caller's data permissions leave, made once and
/// kept by the engine (per fact version, permissions and the versions of
/// every dataset they read), read by the plan in place of the fact and its
/// permission filters.
///
/// Why: a permission on a dimension reaches the fact as a test of a foreign
/// key on every row, a second key column read beside the one grouped by, and
/// that made a filtered viewer's dashboard questions 1.3 to 1.6 times the
/// admin's. A viewer asks question after question under the same
/// permissions, so their rows are filtered once, and each question then
/// reads only them, as the admin reads the whole fact.
///
/// Only where the fact is the root of a measure's frame (`fact_group`),
/// where the permission filters would otherwise be applied to the same rows
/// with the same joins: reading the permitted rows as a joined dimension
/// would turn a dropped row into a null that a filter like `isNull` lets
/// through.
#[derive(Default)]
pub struct Permitted {
    pub tables: HashMap<String, Arc<dyn TableProvider>>,
    /// The facts a plan read under permissions (given or not).
    pub wanted: std::sync::Mutex<BTreeSet<String>>,
}

impl Permitted {
    /// Whether `fact`'s permitted rows are given; records that they are wanted.
    fn given(&self, fact: &str) -> bool {
        if let Ok(mut wanted) = self.wanted.lock() {
            wanted.insert(fact.to_owned());
        }
        self.tables.contains_key(fact)
    }
}

impl Planner<'_> {
    /// Plans a whole request; the frame's columns are the output ids.
    pub fn plan(&self, req: &Request) -> Result<DataFrame, QueryError> {
        // Classify the outputs.
        let mut dims: Vec<(usize, &Node)> = Vec::new(); // (output index, node)
        for (i, out) in req.outputs.iter().enumerate() {
            let bare = out.node.bare_properties();
            match (out.node.has_aggregate(), bare.is_empty()) {
                (false, false) => dims.push((i, &out.node)),
                (true, false) => {
                    return Err(QueryError::new(
                        &out.path,
                        format!(
                            "mixes an aggregate with the bare property {}: aggregate it, or make it a column of its own",
                            bare[0].column()
                        ),
                    ))
                }
                _ => {}
            }
        }
        let mut specs: Vec<AggSpec<'_>> = Vec::new();
        for out in &req.outputs {
            self.collect_aggs(&out.node, &mut specs)?;
        }
        // Acceptable granularities of each metric.
        for spec in &specs {
            for d in &dim_datasets(&dims) {
                let s = spec.scope;
                let refused = (!s.accept.is_empty() && !s.accept.iter().any(|p| matches_pattern(p, d)))
                    || s.dont.iter().any(|p| matches_pattern(p, d));
                if refused {
                    let what = s
                        .metric
                        .as_deref()
                        .map_or_else(|| "an aggregate".to_owned(), |m| format!("metric {m}"));
                    return Err(QueryError::new("properties", format!("{what} cannot be aggregated by dataset {d}")));
                }
            }
        }

        let combined = if specs.is_empty() {
            self.dimensions_only(req, &dims)?
        } else {
            let mut facts: Vec<String> = specs.iter().map(|s| s.fact.clone()).collect();
            facts.dedup();
            let facts: BTreeSet<String> = facts.into_iter().collect();
            let mut frames = Vec::new();
            for fact in &facts {
                frames.push(self.fact_group(req, &dims, &specs, fact)?);
            }
            self.combine(frames, dims.len())?
        };

        // The output columns.
        let mut counter = 0usize;
        let mut select = Vec::with_capacity(req.outputs.len());
        for (i, out) in req.outputs.iter().enumerate() {
            let expr = if let Some(d) = dims.iter().position(|(o, _)| *o == i) {
                c(&dim_col(d))
            } else {
                self.measure_expr(&out.node, &mut counter, req, &dims)?
            };
            select.push(expr.alias(&out.id));
        }
        let mut df = combined.select(select).map_err(QueryError::plan)?;
        for cf in req.having.iter().chain(&req.result_filters) {
            let pred = self.filter_expr_on(&cf.filter, &c(&cf.column))?;
            df = df.filter(pred).map_err(QueryError::plan)?;
        }
        let mut sort: Vec<SortExpr> = req
            .order_by
            .iter()
            .map(|o| c(&o.column).sort(!o.descending, o.nulls_first.unwrap_or(false)))
            .collect();
        // A stable order for paging: then by every dimension.
        for (i, _) in &dims {
            let id = &req.outputs[*i].id;
            if !req.order_by.iter().any(|o| &o.column == id) {
                sort.push(c(id).sort(true, false));
            }
        }
        if !sort.is_empty() {
            df = df.sort(sort).map_err(QueryError::plan)?;
        }
        if let Some(limit) = req.limit {
            df = df.limit(0, Some(limit)).map_err(QueryError::plan)?;
        }
        Ok(df)
    }

    fn collect_aggs<'q>(&self, node: &'q Node, specs: &mut Vec<AggSpec<'q>>) -> Result<(), QueryError> {
        let mut found = Vec::new();
        node.walk(&mut |n| {
            if let Node::Aggregate { func, arg, scope, path } = n {
                found.push((*func, &**arg, &**scope, path.as_str()));
            }
        });
        for (func, arg, scope, path) in found {
            let datasets: BTreeSet<String> = arg.properties().iter().map(|p| p.dataset.clone()).collect();
            let fact = self
                .base_of(&datasets)
                .ok_or_else(|| QueryError::new(path, format!("no dataset links to all of {}", join(&datasets))))?;
            if func == AggFunc::Sum || func == AggFunc::Avg {
                for p in arg.properties() {
                    if matches!(
                        self.model.property_type(p),
                        Some(PropertyType::String | PropertyType::Date | PropertyType::Boolean | PropertyType::Geometry)
                    ) && matches!(arg, Node::Property(_))
                    {
                        return Err(QueryError::new(
                            &format!("{path}.content[0]"),
                            format!(
                                "{} is a {}, which cannot be summed or averaged",
                                p.column(),
                                self.model.property_type(p).map_or("?", PropertyType::name)
                            ),
                        ));
                    }
                }
            }
            specs.push(AggSpec { func, arg, scope, fact });
        }
        Ok(())
    }

    /// The dataset, among `datasets` first and then any, from which all of
    /// them are reachable.
    fn base_of(&self, datasets: &BTreeSet<String>) -> Option<String> {
        let candidates = datasets.iter().chain(self.model.datasets.keys().filter(|d| !datasets.contains(*d)));
        for candidate in candidates {
            let reach = self.model.reach(candidate);
            if datasets.iter().all(|d| reach.contains_key(d)) {
                return Some(candidate.clone());
            }
        }
        None
    }

    /// A frame of `root` joined to every dataset of `needed`, along the
    /// shortest foreign-key paths; columns are named `dataset.property`.
    fn joined(&self, root: &str, needed: &BTreeSet<String>, reach: &HashMap<String, Reach>, path: &str) -> Result<DataFrame, QueryError> {
        let df = self.frame(root)?;
        self.joined_from(df, root, needed, reach, path)
    }

    /// Joins `df` (rows of `root`, or of its aggregate by foreign key) to the needed datasets.
    fn joined_from(
        &self,
        df: DataFrame,
        root: &str,
        needed: &BTreeSet<String>,
        reach: &HashMap<String, Reach>,
        path: &str,
    ) -> Result<DataFrame, QueryError> {
        let mut steps = Vec::new();
        for d in needed {
            let r = reach.get(d).ok_or_else(|| {
                QueryError::new(
                    path,
                    format!("dataset {d} cannot be reached from dataset {root} along foreign keys"),
                )
            })?;
            if r.paths > 1 {
                return Err(QueryError::new(
                    path,
                    format!(
                        "dataset {d} is reached from dataset {root} by {} equally short foreign-key paths; the join is ambiguous",
                        r.paths
                    ),
                ));
            }
            for step in Model::path(reach, d) {
                if let Some(rs) = reach.get(&step.to).filter(|rs| rs.paths > 1) {
                    return Err(QueryError::new(
                        path,
                        format!(
                            "dataset {} is reached from dataset {root} by {} equally short foreign-key paths; the join is ambiguous",
                            step.to, rs.paths
                        ),
                    ));
                }
                if !steps.contains(&step) {
                    steps.push(step);
                }
            }
        }
        let mut df = df;
        for step in steps {
            let right = self.frame(&step.to)?;
            let (pk, pk_type) = self.primary_key(&step.to);
            let fk = format!("{}.{}", step.from, step.property);
            let fk_type = self.model.datasets[&step.from].property(&step.property).map(|p| p.ty.data_type());
            let left_key = match (fk_type, pk_type) {
                (Some(a), Some(b)) if a != b => cast(c(&fk), b),
                _ => c(&fk),
            };
            df = df.join_on(right, JoinType::Left, [left_key.eq(c(&pk))]).map_err(QueryError::plan)?;
        }
        Ok(df)
    }

    /// The dimension columns as group keys `__d{i}`.
    fn group_keys(&self, dims: &[(usize, &Node)]) -> Result<Vec<Expr>, QueryError> {
        dims.iter()
            .enumerate()
            .map(|(d, (_, n))| Ok(self.row_expr(n)?.alias(dim_col(d))))
            .collect()
    }

    /// The column of `dataset`'s primary key (`dataset.property`) and its type.
    fn primary_key(&self, dataset: &str) -> (String, Option<DataType>) {
        let def = &self.model.datasets[dataset];
        let ty = def.property(&def.primary_key).map(|p| p.ty.data_type());
        (format!("{dataset}.{}", def.primary_key), ty)
    }

    /// `from.property`, cast to the type of `to`'s primary key when they differ.
    fn foreign_key(&self, from: &str, property: &str, to: &str) -> Expr {
        let fk = c(&format!("{from}.{property}"));
        let (_, pk_type) = self.primary_key(to);
        let fk_type = self.model.datasets[from].property(property).map(|p| p.ty.data_type());
        match (fk_type, pk_type) {
            (Some(a), Some(b)) if a != b => cast(fk, b),
            _ => fk,
        }
    }

    /// A dataset's rows with columns renamed `dataset.property`.
    fn frame(&self, dataset: &str) -> Result<DataFrame, QueryError> {
        self.frame_of(dataset, self.tables.table(dataset)?)
    }

    /// A fact's rows as the root of a measure's frame: its permitted rows
    /// when given (see [`Permitted`]).
    fn fact_frame(&self, fact: &str) -> Result<DataFrame, QueryError> {
        match self.permitted.tables.get(fact) {
            Some(rows) => self.frame_of(fact, rows.clone()),
            None => self.frame(fact),
        }
    }

    /// The rows of `provider`, which holds `dataset`'s stored columns.
    fn frame_of(&self, dataset: &str, provider: Arc<dyn TableProvider>) -> Result<DataFrame, QueryError> {
        let schema = provider.schema();
        let def = &self.model.datasets[dataset];
        let df = self.ctx.read_table(provider).map_err(QueryError::plan)?;
        let mut select = Vec::new();
        for p in &def.properties {
            if schema.field_with_name(&p.name).is_err() {
                // Added to the metadata after the data was loaded: null until a reload.
                select.push(cast(lit(ScalarValue::Null), p.ty.data_type()).alias(format!("{dataset}.{}", p.name)));
            } else {
                select.push(c(&p.name).alias(format!("{dataset}.{}", p.name)));
            }
        }
        df.select(select).map_err(QueryError::plan)
    }

    /// The data-permission filters of a frame rooted where `reach` says, each
    /// with the datasets it reads (a permission that cannot reach the root
    /// lets nothing through: `false`, reading none).
    fn permission_predicates(&self, reach: &HashMap<String, Reach>) -> Result<Vec<(Expr, BTreeSet<String>)>, QueryError> {
        let mut preds = Vec::new();
        for perm in self.permissions {
            let datasets: BTreeSet<String> = perm.properties().iter().map(|p| p.dataset.clone()).collect();
            if datasets.iter().all(|d| reach.get(d).is_some_and(|r| r.paths == 1)) {
                preds.push((self.filter_expr(perm)?, datasets));
            } else {
                preds.push((lit(false), BTreeSet::new()));
            }
        }
        Ok(preds)
    }

    /// `fact`'s rows that the permissions leave, under its stored column
    /// names (what [`Planner::fact_frame`] then reads), and the text of the
    /// plan that filters them, which names the joins and filters they
    /// depend on besides the datasets' versions.
    pub fn permitted_rows(&self, fact: &str) -> Result<(DataFrame, String), QueryError> {
        let reach = self.model.reach(fact);
        let preds = self.permission_predicates(&reach)?;
        let filtered = |preds: &[(Expr, BTreeSet<String>)]| -> Result<DataFrame, QueryError> {
            let needed = preds
                .iter()
                .flat_map(|(_, sets)| sets.iter().filter(|d| *d != fact).cloned())
                .collect();
            let df = self.joined(fact, &needed, &reach, "dataPermissions")?;
            df.filter(all_of(preds, |_| true).unwrap_or(lit(true))).map_err(QueryError::plan)
        };
        // The text before key sets, whose plan shows only `key_set_N(…)`
        // (the keys are a subquery run later), so every filter is in it.
        let text = filtered(&preds)?.logical_plan().display_indent().to_string();
        // Filters on dimensions as key sets, as for a query.
        let df = filtered(&self.key_sets(fact, &reach, preds)?)?;
        let stored = self.tables.table(fact)?.schema();
        let select: Vec<Expr> = self.model.datasets[fact]
            .properties
            .iter()
            .filter(|p| stored.field_with_name(&p.name).is_ok())
            .map(|p| c(&format!("{fact}.{}", p.name)).alias(&p.name))
            .collect();
        Ok((df.select(select).map_err(QueryError::plan)?, text))
    }

    fn dimensions_only(&self, req: &Request, dims: &[(usize, &Node)]) -> Result<DataFrame, QueryError> {
        let mut needed = dim_datasets(dims);
        for (f, _) in &req.filters {
            needed.extend(f.properties().iter().map(|p| p.dataset.clone()));
        }
        // Permissions are joined from the filtered dataset to the data read:
        // a dimension is seen through the rows of the permission's dataset
        // when one links to both (else the permission lets nothing through).
        let mut with_permissions = needed.clone();
        for perm in self.permissions {
            with_permissions.extend(perm.properties().iter().map(|p| p.dataset.clone()));
        }
        let root = match self.base_of(&with_permissions) {
            Some(root) => root,
            None => self.base_of(&needed).ok_or_else(|| {
                QueryError::new(
                    "properties",
                    format!("no dataset links to all of {}: the query has no join path", join(&needed)),
                )
            })?,
        };
        let reach = self.model.reach(&root);
        let perms = self.permission_predicates(&reach)?;
        needed.extend(perms.iter().flat_map(|(_, sets)| sets.iter().cloned()));
        let mut df = self.joined(&root, &needed, &reach, "properties")?;
        let mut preds: Vec<Expr> = perms.into_iter().map(|(e, _)| e).collect();
        for (f, _) in &req.filters {
            preds.push(self.filter_expr(f)?);
        }
        if let Some(p) = preds.into_iter().reduce(Expr::and) {
            df = df.filter(p).map_err(QueryError::plan)?;
        }
        let keys = self.group_keys(dims)?;
        if keys.is_empty() {
            // Only constants: one row.
            let plan = LogicalPlanBuilder::empty(true).build().map_err(QueryError::plan)?;
            return Ok(DataFrame::new(self.ctx.state(), plan));
        }
        df.aggregate(keys, vec![]).map_err(QueryError::plan)
    }

    fn fact_group(&self, req: &Request, dims: &[(usize, &Node)], specs: &[AggSpec<'_>], fact: &str) -> Result<DataFrame, QueryError> {
        let mine: Vec<(usize, &AggSpec<'_>)> = specs.iter().enumerate().filter(|(_, s)| s.fact == fact).collect();
        let reach = self.model.reach(fact);
        // A metric's own filters go into its aggregate's FILTER clause.
        let mut agg_preds: Vec<Vec<(Expr, BTreeSet<String>)>> = Vec::with_capacity(mine.len());
        for (_, s) in &mine {
            let mut preds = Vec::new();
            for f in &s.scope.filters {
                preds.push((self.filter_expr(f)?, f.properties().iter().map(|p| p.dataset.clone()).collect()));
            }
            agg_preds.push(preds);
        }
        // Query filters: into WHERE when every aggregate here takes them,
        // else into the FILTER clause of those that do.
        let mut where_preds: Vec<(Expr, BTreeSet<String>)> = Vec::new();
        for (f, path) in &req.filters {
            let props = f.properties();
            let takes: Vec<bool> = mine
                .iter()
                .map(|(_, s)| {
                    !props
                        .iter()
                        .any(|p| s.scope.without.iter().any(|w| *w == p.column() || *w == p.dataset))
                })
                .collect();
            if takes.iter().all(|t| !t) {
                continue;
            }
            let datasets: BTreeSet<String> = props.iter().map(|p| p.dataset.clone()).collect();
            if let Some(d) = datasets.iter().find(|d| !reach.contains_key(*d)) {
                let metric = mine
                    .iter()
                    .find_map(|(_, s)| s.scope.metric.clone())
                    .unwrap_or_else(|| fact.to_owned());
                return Err(QueryError::new(
                    path,
                    format!("the filter on dataset {d} has no join path to dataset {fact} (of {metric}); list its property in the metric's withoutFilters to ignore it"),
                ));
            }
            let pred = self.filter_expr(f)?;
            if takes.iter().all(|t| *t) {
                where_preds.push((pred, datasets));
            } else {
                for (k, t) in takes.iter().enumerate() {
                    if *t {
                        agg_preds[k].push((pred.clone(), datasets.clone()));
                    }
                }
            }
        }
        // The datasets the frame must hold besides the fact.
        let needed_by = |where_preds: &[(Expr, BTreeSet<String>)]| {
            let mut needed = dim_datasets(dims);
            for (_, s) in &mine {
                needed.extend(s.arg.properties().iter().map(|p| p.dataset.clone()));
            }
            needed.extend(
                agg_preds
                    .iter()
                    .flatten()
                    .chain(where_preds)
                    .flat_map(|(_, sets)| sets.iter().cloned()),
            );
            needed.remove(fact);
            needed
        };
        if let Some(d) = needed_by(&where_preds).into_iter().find(|d| !reach.contains_key(d)) {
            return Err(QueryError::new(
                "properties",
                format!("dataset {d} cannot be reached from dataset {fact} along foreign keys, so its properties cannot group or filter a measure of {fact}"),
            ));
        }
        let permissions = self.permission_predicates(&reach)?;
        if !permissions.is_empty() && !self.permitted.given(fact) {
            where_preds.extend(permissions);
        }
        // First choice: filters on dimensions become key sets on the fact,
        // the values grouped by behind each key are numbered first, and the
        // fact is aggregated by one code, by index (`dense.rs`).
        // Any other outcome (a shape codes do not cover, or an error the
        // plans below may not meet) falls back to those plans.
        let mark = self.precomputed.len();
        let coded = self
            .key_sets(fact, &reach, where_preds.clone())
            .and_then(|sets| self.coded(fact, &needed_by(&sets), &reach, dims, &mine, &sets, &agg_preds));
        if let Ok(Some(df)) = coded {
            return Ok(df);
        }
        self.precomputed.truncate(mark);
        // Else aggregate the fact by the one key that reaches every
        // dimension and filter, then join the few rows that remain.
        let needed = needed_by(&where_preds);
        if let Some(df) = self.eager(fact, &needed, &reach, dims, &mine, &where_preds, &agg_preds)? {
            return Ok(df);
        }
        // Else filters on dimensions become key sets on the fact, so that
        // the dimensions are joined only where a column of theirs is shown,
        // and the fact is aggregated by its one key, key sets in the FILTER
        // clauses.
        let where_preds = self.key_sets(fact, &reach, where_preds)?;
        let needed = needed_by(&where_preds);
        if let Some(df) = self.eager(fact, &needed, &reach, dims, &mine, &where_preds, &agg_preds)? {
            return Ok(df);
        }
        let mut df = self.joined_from(self.fact_frame(fact)?, fact, &needed, &reach, "properties")?;
        if let Some(p) = where_preds.into_iter().map(|(e, _)| e).reduce(Expr::and) {
            df = df.filter(p).map_err(QueryError::plan)?;
        }
        let keys = self.group_keys(dims)?;
        let mut aggs = Vec::with_capacity(mine.len());
        for (k, (j, s)) in mine.iter().enumerate() {
            let arg = self.row_expr(s.arg)?;
            let e = match s.func {
                AggFunc::Sum => agg::sum(arg),
                AggFunc::Count => agg::count(arg),
                AggFunc::CountDistinct => agg::count_distinct(arg),
                AggFunc::Avg => agg::avg(arg),
                AggFunc::Min => agg::min(arg),
                AggFunc::Max => agg::max(arg),
                AggFunc::StddevSamp => agg::stddev(cast(arg, DataType::Float64)),
                AggFunc::StddevPop => agg::stddev_pop(cast(arg, DataType::Float64)),
                AggFunc::VarSamp => agg::var_sample(cast(arg, DataType::Float64)),
                AggFunc::VarPop => agg::var_pop(cast(arg, DataType::Float64)),
            };
            let e = filtered(e, all_of(&agg_preds[k], |_| true).as_ref())?;
            aggs.push(e.alias(agg_col(*j)));
        }
        df.aggregate(keys, aggs).map_err(QueryError::plan)
    }

    /// Rewrites each filter that reads only datasets behind one foreign key
    /// `k` of the fact (and none of the fact's own columns) into
    /// `fact.k IN (keys of the rows the filter keeps)`: a key set computed
    /// before the query runs (`precompute.rs`; a semi-join for keys of other
    /// types than integer and string) instead of a join of every fact row.
    /// Only filters that no null can satisfy are rewritten (a fact row with
    /// no dimension row fails them either way); `isNull`, `ifnull` and the
    /// like stay as they are.
    fn key_sets(
        &self,
        fact: &str,
        reach: &HashMap<String, Reach>,
        preds: Vec<(Expr, BTreeSet<String>)>,
    ) -> Result<Vec<(Expr, BTreeSet<String>)>, QueryError> {
        let mut out = Vec::with_capacity(preds.len());
        for (pred, sets) in preds {
            let first_hops: BTreeSet<_> = sets.iter().filter_map(|d| Model::path(reach, d).first().cloned()).collect();
            let rewritable = !sets.is_empty() && !sets.contains(fact) && first_hops.len() == 1 && null_rejecting(&pred);
            let Some(step) = first_hops.into_iter().next().filter(|_| rewritable) else {
                out.push((pred, sets));
                continue;
            };
            let target = &step.to;
            let sub_reach = self.model.reach(target);
            if sets.iter().any(|d| sub_reach.get(d).is_none_or(|r| r.paths != 1)) {
                out.push((pred, sets));
                continue;
            }
            let mut sub_needed = sets.clone();
            sub_needed.remove(target);
            let (pk, pk_type) = self.primary_key(target);
            let sub = self
                .joined(target, &sub_needed, &sub_reach, "filterBy")?
                .filter(pred)
                .and_then(|df| df.select(vec![c(&pk)]))
                .map_err(QueryError::plan)?;
            let key = self.foreign_key(fact, &step.property, target);
            let pred = match pk_type {
                Some(ty) if supported_key(&ty) => self.precomputed.key_set(key, &ty, sub),
                _ => in_subquery(key, Arc::new(sub.into_unoptimized_plan())),
            };
            out.push((pred, BTreeSet::from([fact.to_owned()])));
        }
        Ok(out)
    }

    /// Eager aggregation: when every dimension and dimension filter is reached
    /// through one foreign key of the fact, the fact is first aggregated by
    /// that key (millions of rows to as many as there are keys), then the
    /// small result is joined to the dimensions, filtered and aggregated
    /// again. A filter on a dimension gives the same answer on the
    /// pre-aggregated rows, as each holds rows of one key. `None` when the
    /// query does not have that shape (then the rows are joined first).
    #[allow(clippy::too_many_arguments)]
    fn eager(
        &self,
        fact: &str,
        needed: &BTreeSet<String>,
        reach: &HashMap<String, Reach>,
        dims: &[(usize, &Node)],
        mine: &[(usize, &AggSpec<'_>)],
        where_preds: &[(Expr, BTreeSet<String>)],
        agg_preds: &[Vec<(Expr, BTreeSet<String>)>],
    ) -> Result<Option<DataFrame>, QueryError> {
        let joins: Vec<&String> = needed.iter().filter(|d| *d != fact).collect();
        if joins.is_empty() {
            return Ok(None);
        }
        let mut first_hops = BTreeSet::new();
        for d in &joins {
            match Model::path(reach, d).first() {
                Some(step) => first_hops.insert(step.property.clone()),
                None => return Ok(None),
            };
        }
        if first_hops.len() != 1 {
            return Ok(None);
        }
        let Some(fk) = first_hops.into_iter().next() else { return Ok(None) };
        let on_fact = |sets: &BTreeSet<String>| sets.contains(fact);
        let only_fact = |sets: &BTreeSet<String>| sets.iter().all(|d| d == fact);
        if !self.decomposable(fact, dims, mine) {
            return Ok(None);
        }
        let all_preds = where_preds.iter().chain(agg_preds.iter().flatten());
        if all_preds.clone().any(|(_, sets)| on_fact(sets) && !only_fact(sets)) {
            return Ok(None);
        }
        let fk_col = format!("{fact}.{fk}");
        // 1. The fact, filtered on its own columns, aggregated by the key.
        let own: Vec<Expr> = where_preds.iter().filter(|(_, s)| on_fact(s)).map(|(e, _)| e.clone()).collect();
        let df = self.partially_aggregated(fact, own, c(&fk_col).alias(&fk_col), mine, agg_preds, on_fact)?;
        // 2. Joined to the dimensions and filtered on them.
        let mut df = self.joined_from(df, fact, needed, reach, "properties")?;
        if let Some(p) = all_of(where_preds, |s| !on_fact(s)) {
            df = df.filter(p).map_err(QueryError::plan)?;
        }
        // 3. Aggregated by the query's dimensions.
        Ok(Some(self.recombine(df, dims, mine, agg_preds, on_fact)?))
    }

    /// Branch codes: when every dimension is reached through a foreign key of the
    /// fact and every filter reads only the fact's columns (key sets make such
    /// filters of those on dimensions), the distinct values grouped by behind
    /// each key are numbered before the query runs (`precompute.rs`). The fact is
    /// aggregated by one integer combining its keys' numbers, and the few rows
    /// that remain are joined to each key's table of values. Key sets fold into
    /// the branch of their key (one of its own when nothing is grouped by behind
    /// it): a row they drop has a null code, dropped by the branch's inner join
    /// after the aggregation, so the fact's rows are neither filtered nor
    /// aggregated with a FILTER clause. The codes are few and dense, so the
    /// fact's group-by finds a row's group by index, not by hashing (`dense.rs`):
    /// one lookup a key and a row. `None` when the query does not have that
    /// shape.
    #[allow(clippy::too_many_arguments)]
    fn coded(
        &self,
        fact: &str,
        needed: &BTreeSet<String>,
        reach: &HashMap<String, Reach>,
        dims: &[(usize, &Node)],
        mine: &[(usize, &AggSpec<'_>)],
        where_preds: &[(Expr, BTreeSet<String>)],
        agg_preds: &[Vec<(Expr, BTreeSet<String>)>],
    ) -> Result<Option<DataFrame>, QueryError> {
        let only_fact = |sets: &BTreeSet<String>| sets.iter().all(|d| d == fact);
        if !self.decomposable(fact, dims, mine)
            || !where_preds
                .iter()
                .chain(agg_preds.iter().flatten())
                .all(|(_, sets)| only_fact(sets))
        {
            return Ok(None);
        }
        // The datasets behind each foreign key of the fact.
        let mut branches: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
        for d in needed.iter().filter(|d| *d != fact) {
            let Some(step) = Model::path(reach, d).first().cloned() else {
                return Ok(None);
            };
            branches
                .entry(step.property)
                .or_insert_with(|| (step.to, BTreeSet::new()))
                .1
                .insert(d.clone());
        }
        // Key sets by the foreign key they test, and the other filters.
        let mut sets: Vec<(String, String, usize)> = Vec::new();
        let mut own: Vec<Expr> = Vec::new();
        let fks: Vec<(&str, &str)> = self.model.datasets[fact]
            .properties
            .iter()
            .filter_map(|p| Some((p.name.as_str(), p.foreign_key.as_deref()?)))
            .filter(|(_, to)| self.model.datasets.contains_key(*to))
            .collect();
        for (e, _) in where_preds {
            let set = key_set_of(e).and_then(|(n, key)| {
                let (property, to) = fks.iter().find(|(p, to)| self.foreign_key(fact, p, to) == *key)?;
                Some(((*property).to_owned(), (*to).to_owned(), n))
            });
            match set {
                Some(set) => sets.push(set),
                None => own.push(e.clone()),
            }
        }
        let filter_only: BTreeSet<(&String, &String)> = sets
            .iter()
            .filter(|(property, _, _)| !branches.contains_key(property))
            .map(|(property, to, _)| (property, to))
            .collect();
        if branches.is_empty() {
            return Ok(None);
        }
        // Each dimension's columns, from one branch.
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); branches.len()];
        for (_, n) in dims {
            let props = n.bare_properties();
            let of = |d: &str| branches.values().position(|(_, set)| set.contains(d));
            let Some(b) = props.first().and_then(|p| of(&p.dataset)) else {
                return Ok(None);
            };
            if props.iter().any(|p| of(&p.dataset) != Some(b)) {
                return Ok(None);
            }
            for p in props {
                if !columns[b].contains(&p.column()) {
                    columns[b].push(p.column());
                }
            }
        }
        let folded = |property: &str| sets.iter().filter(|s| s.0 == property).map(|s| s.2).collect::<Vec<_>>();
        let mut specs = Vec::with_capacity(branches.len() + filter_only.len());
        for ((property, (target, set)), columns) in branches.iter().zip(columns) {
            let (pk, ty) = self.primary_key(target);
            let Some(ty) = ty.filter(supported_key) else {
                return Ok(None);
            };
            // The branch read from its root joins as the fact's path does.
            let sub_reach = self.model.reach(target);
            let same = |d: &String| {
                sub_reach.get(d).is_some_and(|r| r.paths == 1) && Model::path(reach, d).get(1..) == Some(&Model::path(&sub_reach, d)[..])
            };
            if columns.is_empty() || !set.iter().all(same) {
                return Ok(None);
            }
            let mut sub_needed = set.clone();
            sub_needed.remove(target);
            // The key under a name of its own: it may be grouped by too.
            let select = std::iter::once(c(&pk).alias("__branch_key")).chain(columns.iter().map(|n| c(n)));
            let sub = self
                .joined(target, &sub_needed, &sub_reach, "properties")?
                .select(select.collect::<Vec<_>>())
                .map_err(QueryError::plan)?;
            let key = self.foreign_key(fact, property, target);
            specs.push(BranchSpec {
                key,
                ty,
                sub,
                folded: folded(property),
            });
        }
        // A branch of its own for key sets on a key nothing is grouped by
        // behind: its rows are the target's keys (key sets are only made
        // on keys of a supported type).
        for (property, target) in filter_only {
            let (pk, ty) = self.primary_key(target);
            let Some(ty) = ty.filter(supported_key) else {
                return Ok(None);
            };
            let sub = self.frame(target)?.select(vec![c(&pk)]).map_err(QueryError::plan)?;
            specs.push(BranchSpec {
                key: self.foreign_key(fact, property, target),
                ty,
                sub,
                folded: folded(property),
            });
        }
        let codes = self.precomputed.branch_codes(specs).map_err(QueryError::plan)?;
        // 1. The fact, filtered, aggregated by the combined code.
        let df = self.partially_aggregated(fact, own, codes.combined.alias("__code"), mine, agg_preds, |_| true)?;
        // 2. Each key's number taken out and joined to its values (inner
        // when the branch drops rows without one).
        let mut select: Vec<Expr> = df.schema().fields().iter().map(|f| c(f.name())).collect();
        select.extend(
            codes
                .parts
                .iter()
                .enumerate()
                .map(|(b, part)| part.call(vec![c("__code")]).alias(format!("__code{b}"))),
        );
        let mut df = df.select(select).map_err(QueryError::plan)?;
        for (b, (table, required)) in codes.tables.into_iter().zip(codes.required).enumerate() {
            let values = self.ctx.read_table(table).map_err(QueryError::plan)?;
            let renamed: Vec<Expr> = values
                .schema()
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "__code" => c("__code").alias(format!("__key{b}")),
                    name => c(name).alias(name),
                })
                .collect();
            let values = values.select(renamed).map_err(QueryError::plan)?;
            let how = if required { JoinType::Inner } else { JoinType::Left };
            df = df
                .join(values, how, &[&format!("__code{b}")], &[&format!("__key{b}")], None)
                .map_err(QueryError::plan)?;
        }
        // 3. Aggregated by the query's dimensions.
        Ok(Some(self.recombine(df, dims, mine, agg_preds, |_| true)?))
    }

    /// Whether the aggregates can be computed in two steps (first by a key,
    /// then by the dimensions): all sums, counts, minima, maxima or averages
    /// of the fact's columns, and no dimension on the fact's own columns.
    fn decomposable(&self, fact: &str, dims: &[(usize, &Node)], mine: &[(usize, &AggSpec<'_>)]) -> bool {
        !dims.iter().any(|(_, n)| n.bare_properties().iter().any(|p| p.dataset == fact))
            && mine.iter().all(|(_, s)| {
                matches!(s.func, AggFunc::Sum | AggFunc::Count | AggFunc::Min | AggFunc::Max | AggFunc::Avg)
                    && s.arg.properties().iter().all(|p| p.dataset == fact)
            })
    }

    /// The first step of a two-step aggregation: the fact's rows that
    /// `preds` keep, aggregated by `key` into each aggregate's partial
    /// (`__p{k}`, and `__p{k}n` for an average's count), filtered by its
    /// predicates that `before` selects.
    ///
    /// Key sets that did not fold into branch codes (the query does not
    /// have `coded`'s shape) go into the partials' FILTER clauses, after the
    /// other filters: they are looked up only for the rows those keep (a
    /// date range's viewer went from 64 to 35 ms in session 16, when both
    /// were one filter), and the rows they keep are not copied. A key none
    /// of whose rows they keep is then dropped (`__kept`), as a filter would
    /// have.
    fn partially_aggregated(
        &self,
        fact: &str,
        preds: Vec<Expr>,
        key: Expr,
        mine: &[(usize, &AggSpec<'_>)],
        agg_preds: &[Vec<(Expr, BTreeSet<String>)>],
        before: impl Fn(&BTreeSet<String>) -> bool,
    ) -> Result<DataFrame, QueryError> {
        let (sets, others): (Vec<Expr>, Vec<Expr>) = preds.into_iter().partition(is_key_set);
        let mut df = self.fact_frame(fact)?;
        if let Some(p) = others.into_iter().reduce(Expr::and) {
            df = df.filter(p).map_err(QueryError::plan)?;
        }
        // Evaluated once a row, as a column each FILTER clause reads.
        let kept = match sets.into_iter().reduce(Expr::and) {
            Some(sets) => {
                df = df.with_column("__keep", sets).map_err(QueryError::plan)?;
                Some(c("__keep"))
            }
            None => None,
        };
        let mut partial = Vec::new();
        for (k, (_, s)) in mine.iter().enumerate() {
            let arg = self.row_expr(s.arg)?;
            let pre = all_of(&agg_preds[k], &before);
            let pre = match (pre, &kept) {
                (Some(p), Some(keep)) => Some(p.and(keep.clone())),
                (p, keep) => p.or_else(|| keep.clone()),
            };
            let with = |e: Expr| filtered(e, pre.as_ref());
            match s.func {
                AggFunc::Sum => partial.push(with(agg::sum(arg))?.alias(format!("__p{k}"))),
                AggFunc::Count => partial.push(with(agg::count(arg))?.alias(format!("__p{k}"))),
                AggFunc::Min => partial.push(with(agg::min(arg))?.alias(format!("__p{k}"))),
                AggFunc::Max => partial.push(with(agg::max(arg))?.alias(format!("__p{k}"))),
                _ => {
                    partial.push(with(agg::sum(arg.clone()))?.alias(format!("__p{k}")));
                    partial.push(with(agg::count(arg))?.alias(format!("__p{k}n")));
                }
            }
        }
        let Some(kept) = kept else {
            return df.aggregate(vec![key], partial).map_err(QueryError::plan);
        };
        partial.push(filtered(agg::count(lit(1i64)), Some(&kept))?.alias("__kept"));
        df.aggregate(vec![key], partial)
            .and_then(|df| df.filter(c("__kept").gt(lit(0i64))))
            .map_err(QueryError::plan)
    }

    /// The second step: the partials of `df` aggregated by the query's
    /// dimensions, filtered by the aggregates' predicates that `before` did
    /// not select, as the aggregates' columns.
    fn recombine(
        &self,
        df: DataFrame,
        dims: &[(usize, &Node)],
        mine: &[(usize, &AggSpec<'_>)],
        agg_preds: &[Vec<(Expr, BTreeSet<String>)>],
        before: impl Fn(&BTreeSet<String>) -> bool,
    ) -> Result<DataFrame, QueryError> {
        let keys = self.group_keys(dims)?;
        let mut finals = Vec::new();
        for (k, (_, s)) in mine.iter().enumerate() {
            let post = all_of(&agg_preds[k], |s| !before(s));
            let with = |e: Expr| filtered(e, post.as_ref());
            let part = c(&format!("__p{k}"));
            match s.func {
                AggFunc::Min => finals.push(with(agg::min(part))?.alias(format!("__f{k}"))),
                AggFunc::Max => finals.push(with(agg::max(part))?.alias(format!("__f{k}"))),
                AggFunc::Sum | AggFunc::Count => finals.push(with(agg::sum(part))?.alias(format!("__f{k}"))),
                _ => {
                    finals.push(with(agg::sum(part))?.alias(format!("__f{k}")));
                    finals.push(with(agg::sum(c(&format!("__p{k}n"))))?.alias(format!("__f{k}n")));
                }
            }
        }
        let df = df.aggregate(keys, finals).map_err(QueryError::plan)?;
        let mut select: Vec<Expr> = (0..dims.len()).map(|d| c(&dim_col(d))).collect();
        for (k, (j, s)) in mine.iter().enumerate() {
            let f = c(&format!("__f{k}"));
            let e = match s.func {
                AggFunc::Count => f::coalesce(vec![f, lit(0i64)]),
                AggFunc::Avg => safe_divide(cast(f, DataType::Float64), cast(c(&format!("__f{k}n")), DataType::Float64)),
                _ => f,
            };
            select.push(e.alias(agg_col(*j)));
        }
        df.select(select).map_err(QueryError::plan)
    }

    /// Joins the fact groups on their dimension values.
    fn combine(&self, frames: Vec<DataFrame>, ndims: usize) -> Result<DataFrame, QueryError> {
        let mut frames = frames.into_iter();
        let Some(mut df) = frames.next() else {
            return Err(QueryError::new("properties", "nothing to compute"));
        };
        for (g, right) in frames.enumerate() {
            let renamed = |d: usize| format!("__d{d}__g{g}");
            let right_cols: Vec<String> = right.schema().fields().iter().map(|f| f.name().clone()).collect();
            let select: Vec<Expr> = right_cols
                .iter()
                .map(|name| match name.strip_prefix("__d").and_then(|n| n.parse::<usize>().ok()) {
                    Some(d) => c(name).alias(renamed(d)),
                    None => c(name),
                })
                .collect();
            let right = right.select(select).map_err(QueryError::plan)?;
            let on: Vec<Expr> = (0..ndims)
                .map(|d| {
                    Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
                        Box::new(c(&dim_col(d))),
                        Operator::IsNotDistinctFrom,
                        Box::new(c(&renamed(d))),
                    ))
                })
                .collect();
            let joined = if on.is_empty() {
                df.join(right, JoinType::Inner, &[], &[], None)
            } else {
                df.join_on(right, JoinType::Full, on)
            }
            .map_err(QueryError::plan)?;
            let cols: Vec<String> = joined.schema().fields().iter().map(|f| f.name().clone()).collect();
            let mut select = Vec::new();
            for name in &cols {
                if name.contains("__g") {
                    continue;
                }
                match name.strip_prefix("__d").and_then(|n| n.parse::<usize>().ok()) {
                    Some(d) => select.push(f::coalesce(vec![c(name), c(&renamed(d))]).alias(name)),
                    None => select.push(c(name)),
                }
            }
            df = joined.select(select).map_err(QueryError::plan)?;
        }
        Ok(df)
    }

    /// An output column computed from the aggregates (`__a{j}` in order).
    fn measure_expr(&self, node: &Node, counter: &mut usize, req: &Request, dims: &[(usize, &Node)]) -> Result<Expr, QueryError> {
        Ok(match node {
            Node::Aggregate { .. } => {
                let e = c(&agg_col(*counter));
                *counter += 1;
                e
            }
            Node::Arith { op, args } => {
                let exprs = args
                    .iter()
                    .map(|a| self.measure_expr(a, counter, req, dims))
                    .collect::<Result<Vec<_>, _>>()?;
                arith(*op, exprs)
            }
            Node::IfNull(a, b) => {
                let a = self.measure_expr(a, counter, req, dims)?;
                let b = self.measure_expr(b, counter, req, dims)?;
                f::coalesce(vec![a, b])
            }
            Node::Round(a, digits) => f::round(vec![
                cast(self.measure_expr(a, counter, req, dims)?, DataType::Float64),
                lit(*digits),
            ]),
            Node::PercentToTotal(a) => {
                let a = cast(self.measure_expr(a, counter, req, dims)?, DataType::Float64);
                let total = Expr::from(WindowFunction::new(
                    WindowFunctionDefinition::AggregateUDF(datafusion::functions_aggregate::sum::sum_udaf()),
                    vec![a.clone()],
                ));
                safe_divide(a, total)
            }
            Node::Window {
                func,
                args,
                descending,
                partition_by,
            } => {
                let mut order = Vec::new();
                for a in args {
                    order.push(self.measure_expr(a, counter, req, dims)?.sort(!descending, false));
                }
                let mut partition = Vec::new();
                for id in partition_by {
                    let d = dims.iter().position(|(o, _)| req.outputs[*o].id == *id).ok_or_else(|| {
                        QueryError::new("properties", format!("partitionBy {id:?} is not a dimension column of the query"))
                    })?;
                    partition.push(c(&dim_col(d)));
                }
                let base = match func {
                    WindowFunc::Ntile(b) => win::ntile(lit(*b)),
                    WindowFunc::Rank => win::rank(),
                    WindowFunc::Percentile => win::percent_rank(),
                    WindowFunc::RowNumber => win::row_number(),
                };
                let e = base.partition_by(partition).order_by(order).build().map_err(QueryError::plan)?;
                if *func == WindowFunc::Percentile {
                    e * lit(100.0)
                } else {
                    e
                }
            }
            other => self.row_expr(other)?,
        })
    }

    /// A row-level expression over a joined frame.
    fn row_expr(&self, node: &Node) -> Result<Expr, QueryError> {
        Ok(match node {
            Node::Int(i) => lit(*i),
            Node::Float(x) => lit(*x),
            Node::Property(p) => c(&p.column()),
            Node::Arith { op, args } => arith(*op, args.iter().map(|a| self.row_expr(a)).collect::<Result<_, _>>()?),
            Node::IfNull(a, b) => f::coalesce(vec![self.row_expr(a)?, self.row_expr(b)?]),
            Node::Round(a, digits) => f::round(vec![cast(self.row_expr(a)?, DataType::Float64), lit(*digits)]),
            Node::Today => f::current_date(),
            Node::DateTrunc(a, unit) => cast(f::date_trunc(lit(unit.as_str()), self.row_expr(a)?), DataType::Date32),
            Node::Interval { months, days } => lit(ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                *months, *days, 0,
            )))),
            Node::Distance { lat, lng, center } => {
                let (lat0, lng0) = (center.0.to_radians(), center.1.to_radians());
                let lat1 = f::radians(c(&lat.column()));
                let lng1 = f::radians(c(&lng.column()));
                let half_dlat = f::sin((lat1.clone() - lit(lat0)) / lit(2.0));
                let half_dlng = f::sin((lng1 - lit(lng0)) / lit(2.0));
                let a = half_dlat.clone() * half_dlat + lit(lat0.cos()) * f::cos(lat1) * half_dlng.clone() * half_dlng;
                lit(2.0 * EARTH_RADIUS_M) * f::asin(f::sqrt(a))
            }
            Node::H3Cell { lat, lng, resolution } => Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
                Arc::new(h3_cell_udf(*resolution)),
                vec![cast(c(&lat.column()), DataType::Float64), cast(c(&lng.column()), DataType::Float64)],
            )),
            Node::Aggregate { path, .. } => return Err(QueryError::new(path, "an aggregate cannot be used here")),
            Node::PercentToTotal(_) | Node::Window { .. } => {
                return Err(QueryError::new("properties", "a window function needs a measure, not row values"))
            }
        })
    }

    /// A row filter.
    fn filter_expr(&self, filter: &Filter) -> Result<Expr, QueryError> {
        match filter {
            Filter::Compare { target, .. }
            | Filter::In { target, .. }
            | Filter::IsNull { target, .. }
            | Filter::InAttribute { target, .. } => {
                let t = self.row_expr(target)?;
                let ty = match target {
                    Node::Property(p) => self.model.property_type(p),
                    _ => None,
                };
                self.leaf(filter, t, ty)
            }
            Filter::And(parts) => Ok(parts
                .iter()
                .map(|p| self.filter_expr(p))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .reduce(Expr::and)
                .unwrap_or(lit(true))),
            Filter::Or(parts) => Ok(parts
                .iter()
                .map(|p| self.filter_expr(p))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .reduce(Expr::or)
                .unwrap_or(lit(false))),
            Filter::Not(inner) => Ok(!self.filter_expr(inner)?),
        }
    }

    /// A filter on an output column (`having`, `resultSetFilter`).
    fn filter_expr_on(&self, filter: &Filter, column: &Expr) -> Result<Expr, QueryError> {
        match filter {
            Filter::And(parts) => Ok(parts
                .iter()
                .map(|p| self.filter_expr_on(p, column))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .reduce(Expr::and)
                .unwrap_or(lit(true))),
            Filter::Or(parts) => Ok(parts
                .iter()
                .map(|p| self.filter_expr_on(p, column))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .reduce(Expr::or)
                .unwrap_or(lit(false))),
            Filter::Not(inner) => Ok(!self.filter_expr_on(inner, column)?),
            leaf => self.leaf(leaf, column.clone(), None),
        }
    }

    fn leaf(&self, filter: &Filter, target: Expr, ty: Option<PropertyType>) -> Result<Expr, QueryError> {
        Ok(match filter {
            Filter::Compare { op, value, path, .. } => {
                let v = literal(value, ty, path)?;
                match op {
                    CompareOp::Eq => target.eq(v),
                    CompareOp::Ne => target.not_eq(v),
                    CompareOp::Lt => target.lt(v),
                    CompareOp::Lte => target.lt_eq(v),
                    CompareOp::Gt => target.gt(v),
                    CompareOp::Gte => target.gt_eq(v),
                }
            }
            Filter::In { values, path, .. } => {
                if values.is_empty() {
                    return Ok(lit(false));
                }
                let list = values.iter().map(|v| literal(v, ty, path)).collect::<Result<Vec<_>, _>>()?;
                target.in_list(list, false)
            }
            Filter::IsNull { negated, .. } => {
                if *negated {
                    target.is_not_null()
                } else {
                    target.is_null()
                }
            }
            Filter::InAttribute { query, negated, .. } => {
                let sub = self.plan(query)?;
                let plan = Arc::new(sub.into_unoptimized_plan());
                if *negated {
                    not_in_subquery(target, plan)
                } else {
                    in_subquery(target, plan)
                }
            }
            Filter::And(_) | Filter::Or(_) | Filter::Not(_) => self.filter_expr_on(filter, &target)?,
        })
    }
}

/// Whether no row whose columns are all null passes `e`: comparisons, `IN`,
/// `IS NOT NULL`, `AND`/`OR` of such; anything else (`IS NULL`, `NOT`,
/// functions like coalesce) is assumed to let nulls through.
fn null_rejecting(e: &Expr) -> bool {
    use datafusion::logical_expr::{BinaryExpr, Like};
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => null_rejecting(left) || null_rejecting(right),
            Operator::Or => null_rejecting(left) && null_rejecting(right),
            Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => plain(left) && plain(right),
            _ => false,
        },
        Expr::InList(list) => !list.negated && plain(&list.expr),
        Expr::IsNotNull(inner) => plain(inner),
        Expr::Like(Like { expr, .. }) => plain(expr),
        _ => false,
    }
}

/// A column, a literal or a cast of one: null in, null out.
fn plain(e: &Expr) -> bool {
    match e {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::Cast(cast) => plain(&cast.expr),
        Expr::TryCast(cast) => plain(&cast.expr),
        _ => false,
    }
}

/// `h3_cell_{resolution}(lat, lng)`: the H3 cell of a point as its hex
/// index (null for a null or invalid coordinate), with h3o.
fn h3_cell_udf(resolution: u8) -> datafusion::logical_expr::ScalarUDF {
    use arrow::array::{Array, AsArray, StringBuilder};
    use arrow::datatypes::Float64Type;
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    let res = h3o::Resolution::try_from(resolution).unwrap_or(h3o::Resolution::Fifteen);
    let fun = move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let (lat, lng) = (arrays[0].as_primitive::<Float64Type>(), arrays[1].as_primitive::<Float64Type>());
        let mut out = StringBuilder::with_capacity(lat.len(), lat.len() * 15);
        for i in 0..lat.len() {
            let cell = (!lat.is_null(i) && !lng.is_null(i))
                .then(|| h3o::LatLng::new(lat.value(i), lng.value(i)).ok())
                .flatten()
                .map(|p| p.to_cell(res).to_string());
            out.append_option(cell);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    };
    create_udf(
        &format!("h3_cell_{resolution}"),
        vec![DataType::Float64, DataType::Float64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(fun),
    )
}

/// A JSON filter value as a literal of the compared property's type.
fn literal(value: &serde_json::Value, ty: Option<PropertyType>, path: &str) -> Result<Expr, QueryError> {
    use serde_json::Value as V;
    Ok(match (value, ty) {
        (V::String(s), Some(PropertyType::Date)) => {
            let days = crate::load::parse_date(s).ok_or_else(|| QueryError::new(path, format!("{s:?} is not a date YYYY-MM-DD")))?;
            lit(ScalarValue::Date32(Some(days)))
        }
        (V::Number(n), Some(PropertyType::String)) => lit(n.to_string()),
        (V::Number(n), _) => match n.as_i64() {
            Some(i) if !matches!(ty, Some(PropertyType::Decimal | PropertyType::Latitude | PropertyType::Longitude)) => lit(i),
            _ => lit(n.as_f64().unwrap_or(f64::NAN)),
        },
        (V::String(s), _) => lit(s.clone()),
        (V::Bool(b), _) => lit(*b),
        (V::Null, _) => lit(ScalarValue::Null),
        _ => return Err(QueryError::new(path, "a number, a string or a boolean")),
    })
}

fn arith(op: ArithOp, exprs: Vec<Expr>) -> Expr {
    let mut it = exprs.into_iter();
    let first = it.next().unwrap_or(lit(ScalarValue::Null));
    it.fold(first, |acc, e| match op {
        ArithOp::Plus => acc + e,
        ArithOp::Minus => acc - e,
        ArithOp::Multiply => acc * e,
        ArithOp::Divide => safe_divide(cast(acc, DataType::Float64), cast(e, DataType::Float64)),
        ArithOp::Modulo => when(e.clone().eq(lit(0)), lit(ScalarValue::Null))
            .otherwise(acc % e)
            .unwrap_or(lit(ScalarValue::Null)),
    })
}

/// `a / b`, null when `b` is zero (data-plane.md §3).
fn safe_divide(a: Expr, b: Expr) -> Expr {
    when(b.clone().eq(lit(0.0)), lit(ScalarValue::Float64(None)))
        .otherwise(a / b)
        .unwrap_or(lit(ScalarValue::Float64(None)))
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

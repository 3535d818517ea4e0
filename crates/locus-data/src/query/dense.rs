//! A group-by over branch codes by index instead of by hashing.
//!
//! Why: DataFusion's group-by finds each row's group by hashing its key
//! (`GroupValuesPrimitive::intern`), and that was half of a filtered
//! viewer's time, and 62% of the admin's, in session 17's profiles of a
//! dimension query over 10 M fact rows. A combined branch code
//! (`precompute.rs`) is already a number below a span known before the
//! query runs, so it can be its own group's index.
//!
//! [`DenseGroups`], a physical optimizer rule, replaces each aggregate that
//! reads raw rows and groups by one `branch_code_N(…)` with a
//! [`DenseAggregateExec`]. That hands the codes as group indices to the
//! very accumulators DataFusion would have used (same states, same
//! results, same filters), so the stages above it (the final aggregate,
//! the joins to each branch's values) do not change. Only groups that some
//! row reached are emitted, as a hash group-by would. One difference: rows
//! with a null code (rows a key set folded into a branch drops) go to
//! groups past the span that are not emitted, where the hash group-by
//! makes a group of them that the branch's inner join then drops. They go
//! to [`DROPPED_SLOTS`] groups in turn, not one: adding most of a viewer's
//! rows into one slot is a chain of dependent additions, which made a
//! dimension filter's query 10% slower than the hash group-by. (Keeping
//! them out of the accumulators with a filter cost more: the viewer's
//! queries took 1.4x the admin's.)

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, ScalarUDF};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{aggregate_expressions, evaluate_many, AggregateExec, AggregateInputMode, AggregateOutputMode};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties, ReplaceChildrenOptions};
use futures::{StreamExt, TryStreamExt};

use super::precompute::{CombinedCode, DROPPED_SLOTS};

/// Codes spanning more than this are left to the hash group-by: each
/// aggregate keeps a slot a code (8 to 16 bytes), a partition each.
pub(crate) const MAX_SPAN: usize = 1 << 20;

/// The rule: see the module's doc.
#[derive(Debug, Default)]
pub(crate) struct DenseGroups;

impl PhysicalOptimizerRule for DenseGroups {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match DenseAggregateExec::try_new(&node) {
                Some(dense) => Transformed::yes(Arc::new(dense) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "dense_groups"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// An [`AggregateExec`] over raw rows grouped by one combined branch code,
/// run with the codes as group indices.
#[derive(Debug)]
pub(crate) struct DenseAggregateExec {
    /// The aggregate it replaces: its schema, properties and display.
    agg: Arc<dyn ExecutionPlan>,
    input: Arc<dyn ExecutionPlan>,
    /// The `branch_code_N` function and its arguments (the fact's keys).
    code: ScalarUDF,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Every code is below it; a null code is a group past it.
    span: usize,
    aggregates: Vec<Arc<AggregateFunctionExpr>>,
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// Whether it emits the aggregates' results (else their states).
    finals: bool,
}

impl DenseAggregateExec {
    /// The dense form of `node`, when it is an aggregate of that shape and
    /// its codes are computed and few enough.
    fn try_new(node: &Arc<dyn ExecutionPlan>) -> Option<DenseAggregateExec> {
        let agg = node.downcast_ref::<AggregateExec>()?;
        let group_by = agg.group_expr();
        if agg.mode().input_mode() != AggregateInputMode::Raw
            || group_by.has_grouping_set()
            || group_by.expr().len() != 1
            || agg.limit_options().is_some()
            || !node.dynamic_expressions_produced().is_empty()
            || *agg.input_order_mode() != InputOrderMode::Linear
            || !agg
                .aggr_expr()
                .iter()
                .all(|a| a.groups_accumulator_supported() && !a.is_distinct() && a.order_bys().is_empty())
        {
            return None;
        }
        let call = group_by.expr()[0].0.downcast_ref::<ScalarFunctionExpr>()?;
        let span = call
            .fun()
            .inner()
            .downcast_ref::<CombinedCode>()?
            .span()
            .filter(|span| *span <= MAX_SPAN)?;
        let arguments = aggregate_expressions(agg.aggr_expr(), agg.mode(), 1).ok()?;
        Some(DenseAggregateExec {
            agg: Arc::clone(node),
            input: Arc::clone(agg.input()),
            code: call.fun().clone(),
            keys: call.args().to_vec(),
            span,
            aggregates: agg.aggr_expr().to_vec(),
            arguments,
            filters: agg.filter_expr().to_vec(),
            finals: agg.mode().output_mode() == AggregateOutputMode::Final,
        })
    }
}

/// `agg` (the aggregate over a new input), dense again when it still can be.
fn dense_or_not(agg: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    match DenseAggregateExec::try_new(&agg) {
        Some(dense) => Arc::new(dense),
        None => agg,
    }
}

impl DisplayAs for DenseAggregateExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "DenseAggregateExec: {} codes by index, for ", self.span)?;
        self.agg.fmt_as(t, f)
    }
}

impl ExecutionPlan for DenseAggregateExec {
    fn name(&self) -> &'static str {
        "DenseAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.agg.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        self.agg.apply_expressions(f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(dense_or_not(Arc::clone(&self.agg).replace_children(children, options)?))
    }

    #[allow(deprecated)]
    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(dense_or_not(Arc::clone(&self.agg).with_new_children(children)?))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let reservation = MemoryConsumer::new(format!("DenseAggregateExec[{partition}]")).register(context.memory_pool());
        let accumulators = self
            .aggregates
            .iter()
            .map(|a| a.create_groups_accumulator())
            .collect::<Result<Vec<_>>>()?;
        let run = Run {
            code: self.code.clone(),
            keys: self.keys.clone(),
            span: self.span,
            arguments: self.arguments.clone(),
            filters: self.filters.clone(),
            finals: self.finals,
            accumulators,
            seen: vec![false; self.span + DROPPED_SLOTS],
            reservation,
        };
        let schema = self.schema();
        let out =
            futures::stream::once(run.aggregate(input, Arc::clone(&schema))).try_filter(|batch| std::future::ready(batch.num_rows() > 0));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, out)))
    }
}

/// One partition's aggregation.
struct Run {
    code: ScalarUDF,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    span: usize,
    arguments: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    finals: bool,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Per group, whether a row reached it.
    seen: Vec<bool>,
    reservation: MemoryReservation,
}

impl Run {
    async fn aggregate(mut self, mut input: SendableRecordBatchStream, schema: arrow::datatypes::SchemaRef) -> Result<RecordBatch> {
        let groups = self.span + DROPPED_SLOTS;
        let mut indices: Vec<usize> = Vec::new();
        while let Some(batch) = input.next().await {
            let batch = batch?;
            self.group_indices(&batch, &mut indices)?;
            let values = evaluate_many(&self.arguments, &batch)?;
            for ((acc, values), filter) in self.accumulators.iter_mut().zip(&values).zip(&self.filters) {
                let filter = match filter {
                    Some(f) => Some(f.evaluate(&batch)?.into_array(batch.num_rows())?),
                    None => None,
                };
                acc.update_batch(values, &indices, filter.as_ref().map(|f| f.as_boolean()), groups)?;
            }
            let size = self.seen.len() + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
            self.reservation.try_resize(size)?;
        }
        self.seen.truncate(self.span);
        if !self.seen.contains(&true) {
            // No rows, or none kept.
            return Ok(RecordBatch::new_empty(schema));
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(0..self.span as i64))];
        for acc in &mut self.accumulators {
            if self.finals {
                columns.push(acc.evaluate(EmitTo::First(self.span))?);
            } else {
                columns.extend(acc.state(EmitTo::First(self.span))?);
            }
        }
        let all = RecordBatch::try_new(schema, columns)?;
        Ok(filter_record_batch(&all, &BooleanArray::from(self.seen))?)
    }

    /// Each row's group: its code, or one past the span for a null one (straight from
    /// the keys, without the codes' array in between).
    fn group_indices(&mut self, batch: &RecordBatch, indices: &mut Vec<usize>) -> Result<()> {
        let keys = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())))
            .collect::<Result<Vec<_>>>()?;
        let code = self
            .code
            .inner()
            .downcast_ref::<CombinedCode>()
            .ok_or_else(|| DataFusionError::Internal(format!("{} is not a branch code", self.code.name())))?;
        let span = self.span;
        code.group_indices(&keys, span, indices)?;
        if let Some(max) = indices.iter().copied().max().filter(|max| *max >= span + DROPPED_SLOTS) {
            return Err(DataFusionError::Internal(format!("branch code {max} is past its span {span}")));
        }
        for i in indices.iter() {
            self.seen[*i] = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::precompute::{BranchSpec, Precomputed};
    use arrow::array::{Array, Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::functions_aggregate::expr_fn as agg;
    use datafusion::logical_expr::ExprFunctionExt;
    use datafusion::prelude::{col, lit, SessionConfig, SessionContext};

    fn context(dense: bool) -> SessionContext {
        let mut state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(2).with_batch_size(1000))
            .with_default_features();
        if dense {
            state = state.with_physical_optimizer_rule(Arc::new(DenseGroups));
        }
        SessionContext::new_with_state(state.build())
    }

    /// Sales over three partitions (one empty) with null and unknown
    /// product keys, null amounts, and a shop key a key set folds into.
    fn tables(ctx: &SessionContext) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("product_id", DataType::Int64, true),
            Field::new("shop_id", DataType::Int64, true),
            Field::new("amount", DataType::Float64, true),
        ]));
        let batch = |from: i64, n: i64| {
            let rows = from..from + n;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter(rows.clone().map(|i| (i % 13 != 0).then_some(i * 7 % 23)))),
                    Arc::new(Int64Array::from_iter(rows.clone().map(|i| Some(i % 5)))),
                    Arc::new(Float64Array::from_iter(
                        rows.map(|i| (i % 11 != 0).then_some((i % 97) as f64 / 4.0)),
                    )),
                ],
            )
            .unwrap()
        };
        let partitions = vec![vec![batch(0, 2500), batch(2500, 1700)], vec![], vec![batch(4200, 3000)]];
        ctx.register_table("sales", Arc::new(MemTable::try_new(schema.clone(), partitions).unwrap()))
            .unwrap();
        // Products 0..20 (keys 20..22 are unknown), in 7 categories.
        let products = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("category", DataType::Utf8, true),
        ]));
        let rows = RecordBatch::try_new(
            products.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..20)),
                Arc::new(StringArray::from_iter((0..20).map(|i| (i % 8 != 7).then(|| format!("c{}", i % 8))))),
            ],
        )
        .unwrap();
        ctx.register_table("products", Arc::new(MemTable::try_new(products, vec![vec![rows]]).unwrap()))
            .unwrap();
        let shops = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let rows = RecordBatch::try_new(shops.clone(), vec![Arc::new(Int64Array::from_iter_values(0..5))]).unwrap();
        ctx.register_table("shops", Arc::new(MemTable::try_new(shops, vec![vec![rows]]).unwrap()))
            .unwrap();
    }

    /// The rows of the fact aggregated by its combined codes, sorted, and
    /// the physical plan.
    async fn aggregated(dense: bool, keep_shops: bool) -> (Vec<String>, String) {
        let ctx = context(dense);
        tables(&ctx);
        let pre = Precomputed::default();
        let mut specs = vec![BranchSpec {
            key: col("product_id"),
            ty: DataType::Int64,
            sub: ctx.table("products").await.unwrap().select_columns(&["id", "category"]).unwrap(),
            folded: vec![],
        }];
        if keep_shops {
            // A permission keeping shops 1 and 3: rows of other shops get a
            // null code.
            let kept = ctx
                .table("shops")
                .await
                .unwrap()
                .filter(col("id").in_list(vec![lit(1i64), lit(3i64)], false))
                .unwrap();
            let set = pre.key_set(col("shop_id"), &DataType::Int64, kept);
            let (n, _) = super::super::precompute::key_set_of(&set).unwrap();
            specs.push(BranchSpec {
                key: col("shop_id"),
                ty: DataType::Int64,
                sub: ctx.table("shops").await.unwrap(),
                folded: vec![n],
            });
        }
        let codes = pre.branch_codes(specs).unwrap();
        let amount = || col("amount");
        let df = ctx
            .table("sales")
            .await
            .unwrap()
            .aggregate(
                vec![codes.combined.alias("code")],
                vec![
                    agg::sum(amount()).alias("sum"),
                    agg::count(amount()).alias("count"),
                    agg::count(lit(1i64)).alias("rows"),
                    agg::min(amount()).alias("min"),
                    agg::max(amount()).alias("max"),
                    agg::avg(amount()).alias("avg"),
                    // A FILTER clause, as a metric's own filter makes.
                    agg::sum(amount()).filter(amount().gt(lit(10.0))).build().unwrap().alias("big"),
                ],
            )
            .unwrap();
        pre.compute().await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        let batches = df.collect().await.unwrap();
        let mut rows: Vec<String> = Vec::new();
        for batch in &batches {
            for r in 0..batch.num_rows() {
                let cells = batch.columns().iter().map(|a| {
                    if a.is_null(r) {
                        "null".to_owned()
                    } else {
                        arrow::util::display::array_value_to_string(a, r).unwrap()
                    }
                });
                rows.push(cells.collect::<Vec<_>>().join(" | "));
            }
        }
        rows.sort();
        (rows, text)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dense_group_by_gives_the_hash_group_by_s_rows() {
        for keep_shops in [false, true] {
            let (dense, plan) = aggregated(true, keep_shops).await;
            let (hashed, hash_plan) = aggregated(false, keep_shops).await;
            assert!(plan.contains("DenseAggregateExec"), "{plan}");
            assert!(!hash_plan.contains("DenseAggregateExec"), "{hash_plan}");
            // Seven categories and a null one, and the group of unknown
            // and null keys; the hash group-by has one more with shops
            // kept: the null code's, which the dense one drops.
            assert_eq!(dense.len(), 9, "{dense:#?}");
            let null_code = |row: &String| row.starts_with("null |");
            assert_eq!(
                hashed.iter().filter(|r| null_code(r)).count(),
                usize::from(keep_shops),
                "{hashed:#?}"
            );
            let hashed: Vec<String> = hashed.into_iter().filter(|r| !null_code(r)).collect();
            assert_eq!(dense, hashed);
        }
    }
}

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
//! the joins to each branch's values) do not change. A null code (a row a
//! folded key set drops) is one more index past the span. Only groups that
//! some row reached are emitted, as a hash group-by would.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{aggregate_expressions, evaluate_many, AggregateExec, AggregateInputMode, AggregateOutputMode};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties, ReplaceChildrenOptions};
use futures::{StreamExt, TryStreamExt};

use super::precompute::CombinedCode;

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
    code: Arc<dyn PhysicalExpr>,
    /// Every code is below it; a null code is group `span`.
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
        let code = Arc::clone(&group_by.expr()[0].0);
        let span = code
            .downcast_ref::<ScalarFunctionExpr>()?
            .fun()
            .inner()
            .downcast_ref::<CombinedCode>()?
            .span()
            .filter(|span| *span <= MAX_SPAN)?;
        let arguments = aggregate_expressions(agg.aggr_expr(), agg.mode(), 1).ok()?;
        Some(DenseAggregateExec {
            agg: Arc::clone(node),
            input: Arc::clone(agg.input()),
            code,
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
            code: Arc::clone(&self.code),
            span: self.span,
            arguments: self.arguments.clone(),
            filters: self.filters.clone(),
            finals: self.finals,
            accumulators,
            seen: vec![false; self.span + 1],
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
    code: Arc<dyn PhysicalExpr>,
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
        let groups = self.span + 1;
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
        if !self.seen.contains(&true) {
            // No rows (the accumulators never grew to the groups).
            return Ok(RecordBatch::new_empty(schema));
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter(
            (0..groups).map(|g| (g < self.span).then_some(g as i64)),
        ))];
        for acc in &mut self.accumulators {
            if self.finals {
                columns.push(acc.evaluate(EmitTo::All)?);
            } else {
                columns.extend(acc.state(EmitTo::All)?);
            }
        }
        let all = RecordBatch::try_new(schema, columns)?;
        Ok(filter_record_batch(&all, &BooleanArray::from(self.seen))?)
    }

    /// Each row's group: its code, or `span` for a null one.
    fn group_indices(&mut self, batch: &RecordBatch, indices: &mut Vec<usize>) -> Result<()> {
        let codes = self.code.evaluate(batch)?.into_array(batch.num_rows())?;
        let codes = codes
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| DataFusionError::Internal(format!("branch codes of type {}", codes.data_type())))?;
        let span = self.span;
        // A negative code wraps past the span and fails the check below.
        let index = |c: &i64| usize::try_from(*c).unwrap_or(usize::MAX);
        indices.clear();
        match codes.nulls().filter(|n| n.null_count() > 0) {
            None => indices.extend(codes.values().iter().map(index)),
            Some(nulls) => indices.extend(
                codes
                    .values()
                    .iter()
                    .zip(nulls.iter())
                    .map(|(c, valid)| if valid { index(c) } else { span }),
            ),
        }
        for i in indices.iter() {
            *self
                .seen
                .get_mut(*i)
                .ok_or_else(|| DataFusionError::Internal(format!("branch code {i} is past its span {span}")))? = true;
        }
        Ok(())
    }
}

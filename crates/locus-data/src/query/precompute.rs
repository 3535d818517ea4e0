//! What a plan computes from small tables before it runs, so that the big
//! one (the fact) is read with array lookups instead of hash joins.
//!
//! Why: DataFusion joins by hashing. A join of a 10 M-row fact to a
//! dimension of 10,000 rows hashes and probes 10 M keys, and a filter on a
//! dimension written as `fact.k IN (subquery)` is such a join (a semi-join):
//! it made a filtered viewer's query 4x the admin's, and grouping by
//! dimensions behind two keys (three joins) 5x DuckDB. The dimension side is
//! small, so it is read first, and each fact row then costs an array lookup:
//!
//! - **Key sets** ([`Precomputed::key_set`]): the keys a filter on a
//!   dimension keeps; `key_set_N(fact.k)` is true for those.
//! - **Branch codes** ([`Precomputed::branch_codes`]): for each foreign key
//!   of the fact, the distinct values of the dimension columns a query groups
//!   by (behind that key), numbered; `branch_code_N(k1, k2, …)` is one
//!   integer naming the combination of a fact row's values, so the fact is
//!   aggregated by one integer column (by index, `dense.rs`), and
//!   `branch_part_N_i(code)` takes the number of key `i` back out, to join
//!   the small result to a table of the values ([`Decoded`]). A key set on a branch's key folds into it
//!   ([`BranchSpec::folded`]): its map holds only the keys the sets keep,
//!   and a row with another key has a null code (no per-row filter).
//!
//! The planner registers each with its subqueries; [`Precomputed::compute`]
//! runs them in the order they were planned, before the query runs (the
//! functions fail if called earlier).

use hashbrown::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::{concat_batches, filter_record_batch, take};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::catalog::Session;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{create_udf, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::physical_plan::ExecutionPlan;

/// Integer keys spanning at most this many values are looked up by index
/// (4 bytes per value in the span); wider spans are hashed.
const DENSE_SPAN: i64 = 1 << 24;

/// How many group indices a dense group-by spreads the rows with a null
/// code over ([`CombinedCode::group_indices`]).
pub(crate) const DROPPED_SLOTS: usize = 8;

/// No code: the key is not in the map.
const ABSENT: u32 = u32::MAX;

/// What a row that a required branch drops adds to its combined code: so
/// negative that the sum stays negative ([`MAX_CODES`], [`MAX_BRANCHES`]).
const DROPPED: i64 = -(1 << 58);

/// Combined codes stay below this, and a plan has at most this many
/// branches, so that a sum with a [`DROPPED`] share is negative and no sum
/// overflows.
const MAX_CODES: i64 = 1 << 58;
const MAX_BRANCHES: usize = 31;

/// Keys (the first column of a subquery's rows) → a number each.
enum KeyMap {
    /// Integer keys by index from `min`; [`ABSENT`] where there is none.
    Dense {
        min: i64,
        codes: Vec<u32>,
    },
    Ints(HashMap<i64, u32>),
    Strings(HashMap<String, u32>),
}

impl KeyMap {
    /// The map of `keys[i]` → `codes[i]` (nulls skipped).
    fn new(keys: &dyn Array, codes: &[u32]) -> Result<KeyMap> {
        if let Some(strings) = keys.as_string_opt::<i32>() {
            let map = strings.iter().zip(codes).filter_map(|(k, c)| Some((k?.to_owned(), *c)));
            return Ok(KeyMap::Strings(map.collect()));
        }
        let ints = int_keys(keys)?;
        let pairs = || ints.iter().zip(codes).filter_map(|(k, c)| Some((k?, *c)));
        let (Some(min), Some(max)) = (pairs().map(|p| p.0).min(), pairs().map(|p| p.0).max()) else {
            return Ok(KeyMap::Ints(HashMap::new()));
        };
        let span = max.saturating_sub(min).saturating_add(1);
        // By index when the span is small in itself, or at most 8 slots a key.
        if span > DENSE_SPAN || (span > 1 << 16 && span / 8 > codes.len() as i64) {
            return Ok(KeyMap::Ints(pairs().collect()));
        }
        let mut dense = vec![ABSENT; span as usize];
        for (k, c) in pairs() {
            dense[(k - min) as usize] = c;
        }
        Ok(KeyMap::Dense { min, codes: dense })
    }

    /// The code of each of `values` (of the type of the map's keys),
    /// [`ABSENT`] for a null or an unknown key. One tight loop a map kind
    /// (no per-row closure or null test: nulls are patched after), as it
    /// runs for every row of the fact.
    fn codes(&self, values: &dyn Array) -> Result<Vec<u32>> {
        let mut out: Vec<u32> = match self {
            KeyMap::Dense { min, codes } => int_keys(values)?
                .values()
                .iter()
                .map(|k| codes.get(dense_index(*k, *min)).copied().unwrap_or(ABSENT))
                .collect(),
            KeyMap::Ints(map) => int_keys(values)?
                .values()
                .iter()
                .map(|k| map.get(k).copied().unwrap_or(ABSENT))
                .collect(),
            KeyMap::Strings(map) => {
                let strings = values.as_string_opt::<i32>().ok_or_else(|| wrong_type(values.data_type()))?;
                (0..strings.len())
                    .map(|i| map.get(strings.value(i)).copied().unwrap_or(ABSENT))
                    .collect()
            }
        };
        if let Some(nulls) = values.logical_nulls().filter(|n| n.null_count() > 0) {
            for (code, valid) in out.iter_mut().zip(nulls.iter()) {
                if !valid {
                    *code = ABSENT;
                }
            }
        }
        Ok(out)
    }

    /// Whether each of `values` is a key of the map (false for a null): one
    /// pass straight into bits for the index array.
    fn found(&self, values: &dyn Array) -> Result<BooleanBuffer> {
        let found = match self {
            KeyMap::Dense { min, codes } => {
                let keys = int_keys(values)?.values();
                BooleanBuffer::collect_bool(keys.len(), |i| codes.get(dense_index(keys[i], *min)).is_some_and(|c| *c != ABSENT))
            }
            _ => {
                let codes = self.codes(values)?;
                return Ok(BooleanBuffer::collect_bool(codes.len(), |i| codes[i] != ABSENT));
            }
        };
        Ok(match values.logical_nulls() {
            Some(nulls) => &found & nulls.inner(),
            None => found,
        })
    }
}

/// Where key `k` is in an index array starting at `min` (past its end when
/// outside it).
fn dense_index(k: i64, min: i64) -> usize {
    usize::try_from(k.wrapping_sub(min) as u64).unwrap_or(usize::MAX)
}

/// Integer keys, or an error (the planner gives keys of a [`supported_key`]
/// type only).
fn int_keys(keys: &dyn Array) -> Result<&Int64Array> {
    keys.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong_type(keys.data_type()))
}

fn wrong_type(ty: &DataType) -> DataFusionError {
    DataFusionError::Internal(format!("keys of type {ty} cannot be looked up"))
}

/// What a row with no number in a branch adds to its code: the branch's
/// "none" number (its count) times its stride, or [`DROPPED`] when such a
/// row is dropped.
fn absent_share(required: bool, count: u32, stride: i64) -> i64 {
    if required {
        DROPPED
    } else {
        i64::from(count) * stride
    }
}

/// The numbers of one plan's branches, once computed.
struct Codes {
    maps: Vec<KeyMap>,
    /// Per branch: its number of distinct values, which is also the number
    /// of a fact row with none (a null or unknown key).
    counts: Vec<u32>,
    /// Per branch: what its number is multiplied by in the combined code
    /// (the product of the earlier branches' counts plus one).
    strides: Vec<i64>,
    /// Every combined code is below it.
    span: i64,
    /// Per branch: whether a fact row with none is dropped (its combined
    /// code null), as a key set folded into the branch drops it.
    required: Vec<bool>,
    /// Per branch with an index array: each key's share of the combined
    /// code (its number times the stride), so a row costs one load; one
    /// more slot at the end, for keys outside the array, makes the load
    /// branch-free.
    weights: Vec<Option<(i64, Vec<i64>)>>,
}

impl Codes {
    /// The codes of branches with these maps and counts of values; an
    /// error when their combinations are too many to number.
    fn new(maps: Vec<KeyMap>, counts: Vec<u32>, required: Vec<bool>) -> Result<Codes> {
        let too_many = || DataFusionError::ResourcesExhausted("the dimensions grouped by have too many combinations of values".into());
        if maps.len() > MAX_BRANCHES {
            return Err(too_many());
        }
        let mut strides = Vec::with_capacity(counts.len());
        let mut span: i64 = 1;
        for count in &counts {
            strides.push(span);
            span = span
                .checked_mul(i64::from(*count) + 1)
                .filter(|span| *span < MAX_CODES)
                .ok_or_else(too_many)?;
        }
        let weights = maps
            .iter()
            .zip(counts.iter().zip(&strides).zip(&required))
            .map(|(map, ((count, stride), required))| match map {
                KeyMap::Dense { min, codes } => {
                    let absent = absent_share(*required, *count, *stride);
                    let weight = |c: &u32| if *c == ABSENT { absent } else { i64::from(*c) * stride };
                    Some((*min, codes.iter().map(weight).chain([absent]).collect()))
                }
                _ => None,
            })
            .collect();
        Ok(Codes {
            maps,
            counts,
            strides,
            span,
            required,
            weights,
        })
    }

    /// Each row's combined code, negative for a row a required branch
    /// drops, handed to `emit` a chunk of rows at a time, in order. Each
    /// branch adds its share to a chunk that stays in the first-level
    /// cache (one load a row where the branch has an index array and its
    /// keys no null), instead of a pass over all the rows a branch.
    fn each_chunk(&self, keys: &[ArrayRef], mut emit: impl FnMut(&[i64])) -> Result<()> {
        const CHUNK: usize = 2048;
        let len = keys.first().map_or(0, |k| k.len());
        let mut lookups = Vec::with_capacity(keys.len());
        for (b, key) in keys.iter().enumerate() {
            let ints = key.as_primitive_opt::<Int64Type>().filter(|k| k.null_count() == 0);
            if let (Some((min, weights)), Some(ints)) = (&self.weights[b], ints) {
                lookups.push(Lookup::Index {
                    keys: ints.values().as_ref(),
                    min: *min,
                    weights: weights.as_slice(),
                });
                continue;
            }
            // Else each row's share, looked up first.
            let stride = self.strides[b];
            let absent = absent_share(self.required[b], self.counts[b], stride);
            let codes = self.maps[b].codes(key.as_ref())?;
            let share = |code: u32| if code == ABSENT { absent } else { i64::from(code) * stride };
            lookups.push(Lookup::Shares(codes.into_iter().map(share).collect()));
        }
        let mut buf = vec![0i64; CHUNK];
        for start in (0..len).step_by(CHUNK) {
            let n = CHUNK.min(len - start);
            let out = &mut buf[..n];
            out.fill(0);
            for lookup in &lookups {
                match lookup {
                    Lookup::Index { keys, min, weights } => {
                        let last = weights.len() - 1;
                        for (o, k) in out.iter_mut().zip(&keys[start..start + n]) {
                            *o += weights[dense_index(*k, *min).min(last)];
                        }
                    }
                    Lookup::Shares(shares) => {
                        for (o, s) in out.iter_mut().zip(&shares[start..start + n]) {
                            *o += s;
                        }
                    }
                }
            }
            emit(out);
        }
        Ok(())
    }

    /// The combined codes, null for a row a required branch drops.
    fn combined(&self, keys: &[ArrayRef]) -> Result<Int64Array> {
        let mut sums = Vec::with_capacity(keys.first().map_or(0, |k| k.len()));
        self.each_chunk(keys, |chunk| sums.extend_from_slice(chunk))?;
        if !self.required.contains(&true) {
            return Ok(Int64Array::from(sums));
        }
        let kept = BooleanBuffer::collect_bool(sums.len(), |i| sums[i] >= 0);
        for v in &mut sums {
            *v = (*v).max(0);
        }
        Ok(Int64Array::new(sums.into(), Some(NullBuffer::new(kept))))
    }

    /// Each row's combined code as a group index, and for a row a required
    /// branch drops one of the [`DROPPED_SLOTS`] indices from `dropped`, in
    /// turn: what a dense group-by needs, without the codes' array and null
    /// bits in between.
    fn indices(&self, keys: &[ArrayRef], dropped: usize, out: &mut Vec<usize>) -> Result<()> {
        out.clear();
        self.each_chunk(keys, |chunk| {
            let slot = |j: usize| dropped + j % DROPPED_SLOTS;
            out.extend(chunk.iter().enumerate().map(|(j, v)| if *v < 0 { slot(j) } else { *v as usize }));
        })
    }

    /// Branch `b`'s number in each combined code; null for none (and for a
    /// null code).
    fn part(&self, b: usize, combined: &dyn Array) -> Result<Int64Array> {
        let (count, stride) = (i64::from(self.counts[b]), self.strides[b]);
        let combined = int_keys(combined)?;
        let parts: Vec<i64> = combined.values().iter().map(|v| v / stride % (count + 1)).collect();
        let some = BooleanBuffer::collect_bool(parts.len(), |i| parts[i] != count);
        let nulls = NullBuffer::union(Some(&NullBuffer::new(some)), combined.nulls());
        Ok(Int64Array::new(parts.into(), nulls))
    }
}

/// `branch_code_N(keys…)`, the combined code of a fact row: a type of its
/// own so that [`super::dense`] can read how many codes there are.
pub(crate) struct CombinedCode {
    name: String,
    signature: Signature,
    codes: Arc<OnceLock<Codes>>,
}

impl CombinedCode {
    /// Each row's code as a group index for `keys` (the function's
    /// arguments); a null code is one of the [`DROPPED_SLOTS`] indices
    /// from `dropped`.
    pub(crate) fn group_indices(&self, keys: &[ArrayRef], dropped: usize, out: &mut Vec<usize>) -> Result<()> {
        self.codes.get().ok_or_else(not_yet)?.indices(keys, dropped, out)
    }

    /// Every code is below this number, once the codes are computed.
    pub(crate) fn span(&self) -> Option<usize> {
        usize::try_from(self.codes.get()?.span).ok()
    }
}

impl std::fmt::Debug for CombinedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombinedCode").field("name", &self.name).finish_non_exhaustive()
    }
}

// One plan's function is equal only to itself (another plan's
// `branch_code_N` numbers other values).
impl PartialEq for CombinedCode {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.codes, &other.codes)
    }
}

impl Eq for CombinedCode {}

impl std::hash::Hash for CombinedCode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for CombinedCode {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let codes = self.codes.get().ok_or_else(not_yet)?;
        Ok(ColumnarValue::Array(Arc::new(
            codes.combined(&ColumnarValue::values_to_arrays(&args.args)?)?,
        )))
    }
}

/// How one branch's share of each row's code is found (`Codes::each_chunk`).
enum Lookup<'a> {
    /// Keys as stored, by index into the branch's weights.
    Index { keys: &'a [i64], min: i64, weights: &'a [i64] },
    /// Every row's share, looked up before.
    Shares(Vec<i64>),
}

/// One branch's rows: the first column the key, the others its values.
struct Branch {
    sub: DataFrame,
    /// Where its table of values goes: a `__code` number and the values.
    decoded: Arc<Decoded>,
    /// The key sets folded into it: only the keys in all of them are kept.
    folded: Vec<Arc<OnceLock<KeyMap>>>,
}

enum Task {
    KeySet {
        sub: DataFrame,
        keys: Arc<OnceLock<KeyMap>>,
    },
    BranchCodes {
        branches: Vec<Branch>,
        codes: Arc<OnceLock<Codes>>,
    },
}

/// The work one plan needs done before it runs.
#[derive(Default)]
pub struct Precomputed(Mutex<Vec<Task>>);

/// Key types a key set or branch can have (else the planner joins).
pub(crate) fn supported_key(ty: &DataType) -> bool {
    matches!(ty, DataType::Int64 | DataType::Utf8)
}

/// Whether `e` is a call of a key set ([`Precomputed::key_set`]).
pub(crate) fn is_key_set(e: &Expr) -> bool {
    matches!(e, Expr::ScalarFunction(f) if f.name().starts_with(KEY_SET))
}

/// The name of key set functions, before their number.
const KEY_SET: &str = "key_set_";

/// The number and the key of a key set's call `key_set_N(key)`.
pub(crate) fn key_set_of(e: &Expr) -> Option<(usize, &Expr)> {
    let Expr::ScalarFunction(f) = e else { return None };
    let n = f.name().strip_prefix(KEY_SET)?.parse().ok()?;
    Some((n, f.args.first()?))
}

/// One branch of [`Precomputed::branch_codes`].
pub(crate) struct BranchSpec {
    /// The fact's foreign key, of a [`supported_key`] type `ty`.
    pub key: Expr,
    pub ty: DataType,
    /// The branch's rows: its primary key first, then the values to number
    /// (none for a branch that only filters).
    pub sub: DataFrame,
    /// Key sets on `key` ([`key_set_of`]) folded into the branch: a fact
    /// row whose key is not in all of them has a null combined code, which
    /// the branch's inner join drops.
    pub folded: Vec<usize>,
}

/// The functions and tables of one plan's branch codes.
pub(crate) struct BranchCodes {
    /// `branch_code_N(keys…)`: the combined code of a fact row.
    pub combined: Expr,
    /// `branch_part_N_i(code)`: branch `i`'s number, null for none.
    pub parts: Vec<ScalarUDF>,
    /// Per branch, its distinct values with their number (`__code`).
    pub tables: Vec<Arc<dyn TableProvider>>,
    /// Per branch, whether a row with none is dropped (join it inner).
    pub required: Vec<bool>,
}

fn not_yet() -> DataFusionError {
    DataFusionError::Internal("a precomputed set was read before it was computed".into())
}

impl Precomputed {
    fn push(&self, task: Task) -> usize {
        let mut tasks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(task);
        tasks.len() - 1
    }

    /// How many tasks there are: a mark to [`Precomputed::truncate`] to.
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets the tasks planned since `mark`, for a plan that gave up the
    /// expressions that read them.
    pub(crate) fn truncate(&self, mark: usize) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).truncate(mark);
    }

    /// `key_set_N(key)`: true where `key` is one of the values in the first
    /// column of `sub`'s rows. Both have type `ty`, a [`supported_key`].
    pub(crate) fn key_set(&self, key: Expr, ty: &DataType, sub: DataFrame) -> Expr {
        let keys: Arc<OnceLock<KeyMap>> = Arc::default();
        let n = self.push(Task::KeySet { sub, keys: keys.clone() });
        let fun = move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
            let keys = keys.get().ok_or_else(not_yet)?;
            let arrays = ColumnarValue::values_to_arrays(args)?;
            Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
                keys.found(arrays[0].as_ref())?,
                None,
            ))))
        };
        // A name of its own: the optimizer compares calls by name, and two
        // sets on one column are different functions.
        create_udf(
            &format!("{KEY_SET}{n}"),
            vec![ty.clone()],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(fun),
        )
        .call(vec![key])
    }

    /// The key map cell of key set `n`, if `n` is one.
    fn key_set_cell(&self, n: usize) -> Option<Arc<OnceLock<KeyMap>>> {
        let tasks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match tasks.get(n)? {
            Task::KeySet { keys, .. } => Some(keys.clone()),
            Task::BranchCodes { .. } => None,
        }
    }

    /// The codes of `branches`: for each, the fact's key and the subquery
    /// of the branch's rows (see [`BranchSpec`]).
    pub(crate) fn branch_codes(&self, branches: Vec<BranchSpec>) -> Result<BranchCodes> {
        let codes: Arc<OnceLock<Codes>> = Arc::default();
        let mut keys = Vec::new();
        let mut types = Vec::new();
        let mut pending = Vec::new();
        let mut tables: Vec<Arc<dyn TableProvider>> = Vec::new();
        let mut required = Vec::new();
        for BranchSpec { key, ty, sub, folded } in branches {
            let folded = folded
                .into_iter()
                .map(|n| {
                    self.key_set_cell(n)
                        .ok_or_else(|| DataFusionError::Internal(format!("{n} is not a key set")))
                })
                .collect::<Result<Vec<_>>>()?;
            required.push(!folded.is_empty());
            let mut fields = vec![Field::new("__code", DataType::Int64, false)];
            fields.extend(sub.schema().fields().iter().skip(1).map(|f| f.as_ref().clone().with_nullable(true)));
            let decoded = Arc::new(Decoded {
                schema: Arc::new(Schema::new(fields)),
                batches: OnceLock::new(),
            });
            tables.push(decoded.clone());
            pending.push(Branch { sub, decoded, folded });
            keys.push(key);
            types.push(ty);
        }
        let nbranches = keys.len();
        let n = self.push(Task::BranchCodes {
            branches: pending,
            codes: codes.clone(),
        });
        let combined = ScalarUDF::new_from_impl(CombinedCode {
            name: format!("branch_code_{n}"),
            signature: Signature::exact(types, Volatility::Immutable),
            codes: codes.clone(),
        });
        let parts = (0..nbranches)
            .map(|b| {
                let codes = codes.clone();
                let part = move |args: &[ColumnarValue]| -> Result<ColumnarValue> {
                    let codes = codes.get().ok_or_else(not_yet)?;
                    let arrays = ColumnarValue::values_to_arrays(args)?;
                    Ok(ColumnarValue::Array(Arc::new(codes.part(b, arrays[0].as_ref())?)))
                };
                create_udf(
                    &format!("branch_part_{n}_{b}"),
                    vec![DataType::Int64],
                    DataType::Int64,
                    Volatility::Immutable,
                    Arc::new(part),
                )
            })
            .collect();
        Ok(BranchCodes {
            combined: combined.call(keys),
            parts,
            tables,
            required,
        })
    }

    /// Runs every subquery, in the order they were planned.
    pub(crate) async fn compute(self) -> Result<()> {
        let tasks = self.0.into_inner().unwrap_or_else(|e| e.into_inner());
        // Each cell is set once, here: ignoring `set`'s Err is safe.
        for task in tasks {
            match task {
                Task::KeySet { sub, keys } => {
                    let rows = collect(sub).await?;
                    let _ = keys.set(KeyMap::new(rows.column(0), &vec![0; rows.num_rows()])?);
                }
                Task::BranchCodes { branches, codes } => {
                    let required = branches.iter().map(|b| !b.folded.is_empty()).collect();
                    let (mut maps, mut counts) = (Vec::new(), Vec::new());
                    for branch in branches {
                        let mut rows = collect(branch.sub).await?;
                        for set in &branch.folded {
                            let found = set.get().ok_or_else(not_yet)?.found(rows.column(0).as_ref())?;
                            rows = filter_record_batch(&rows, &BooleanArray::new(found, None))?;
                        }
                        let (numbers, decoded) = number(&rows, branch.decoded.schema.clone())?;
                        maps.push(KeyMap::new(rows.column(0), &numbers)?);
                        counts.push(decoded.num_rows() as u32);
                        let _ = branch.decoded.batches.set(vec![decoded]);
                    }
                    let _ = codes.set(Codes::new(maps, counts, required)?);
                }
            }
        }
        Ok(())
    }
}

/// A subquery's rows as one batch.
async fn collect(sub: DataFrame) -> Result<RecordBatch> {
    let schema = Arc::new(sub.schema().as_arrow().clone());
    let batches = sub.collect().await?;
    Ok(concat_batches(&schema, &batches)?)
}

/// Numbers the distinct values (all columns but the first) of `rows` in
/// order of appearance: each row's number, and a batch of the distinct
/// values with `schema` (`__code` first). Without values (a branch that
/// only filters), every row is number 0, the one row of the batch.
fn number(rows: &RecordBatch, schema: SchemaRef) -> Result<(Vec<u32>, RecordBatch)> {
    let values: Vec<ArrayRef> = rows.columns()[1..].to_vec();
    if values.is_empty() {
        let zero: ArrayRef = Arc::new(Int64Array::from(vec![0]));
        return Ok((vec![0; rows.num_rows()], RecordBatch::try_new(schema, vec![zero])?));
    }
    let converter = RowConverter::new(values.iter().map(|v| SortField::new(v.data_type().clone())).collect())?;
    let encoded = converter.convert_columns(&values)?;
    let mut seen = HashMap::new();
    let mut first: Vec<u32> = Vec::new();
    let numbers = (0..rows.num_rows())
        .map(|i| {
            *seen.entry(encoded.row(i)).or_insert_with(|| {
                first.push(i as u32);
                first.len() as u32 - 1
            })
        })
        .collect();
    let first = UInt32Array::from(first);
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(0..first.len() as i64))];
    for v in &values {
        columns.push(take(v.as_ref(), &first, None)?);
    }
    Ok((numbers, RecordBatch::try_new(schema, columns)?))
}

/// A branch's distinct values, known only once computed (read by the
/// plan's join when it runs).
#[derive(Debug)]
struct Decoded {
    schema: SchemaRef,
    batches: OnceLock<Vec<RecordBatch>>,
}

#[async_trait::async_trait]
impl TableProvider for Decoded {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self.batches.get().ok_or_else(not_yet)?;
        let table = MemTable::try_new(self.schema.clone(), vec![batches.clone()])?;
        table.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn found(map: &KeyMap, values: &dyn Array) -> Vec<u32> {
        map.codes(values).unwrap()
    }

    #[test]
    fn integer_and_string_keys_find_their_numbers_and_never_a_null() {
        let probe = Int64Array::from(vec![Some(-5), Some(3), None, Some(4), Some(1 << 40), Some(i64::MIN)]);
        let dense = KeyMap::new(&Int64Array::from(vec![Some(3), None, Some(-5)]), &[7, 8, 9]).unwrap();
        assert!(matches!(dense, KeyMap::Dense { .. }));
        assert_eq!(found(&dense, &probe), [9, 7, ABSENT, ABSENT, ABSENT, ABSENT]);
        let sparse = KeyMap::new(&Int64Array::from(vec![3, 1 << 40]), &[1, 2]).unwrap();
        assert!(matches!(sparse, KeyMap::Ints(_)));
        assert_eq!(found(&sparse, &probe), [ABSENT, 1, ABSENT, ABSENT, 2, ABSENT]);
        let empty = KeyMap::new(&Int64Array::from(Vec::<i64>::new()), &[]).unwrap();
        assert_eq!(found(&empty, &probe), [ABSENT; 6]);
        let strings = KeyMap::new(&StringArray::from(vec![Some("a"), None]), &[4, 5]).unwrap();
        assert_eq!(
            found(&strings, &StringArray::from(vec![Some("a"), Some("b"), None])),
            [4, ABSENT, ABSENT]
        );
        // Keys of another type are an error, not a panic.
        assert!(KeyMap::new(&arrow::array::Float64Array::from(vec![1.0]), &[0]).is_err());
        assert!(dense.codes(&StringArray::from(vec!["a"])).is_err());
    }

    #[test]
    fn combined_codes_split_back_into_each_branch_with_none_as_null() {
        let rows = |keys: Vec<i64>, values: Vec<Option<&str>>| {
            let schema = Schema::new(vec![Field::new("k", DataType::Int64, true), Field::new("v", DataType::Utf8, true)]);
            RecordBatch::try_new(
                Arc::new(schema),
                vec![Arc::new(Int64Array::from(keys)), Arc::new(StringArray::from(values))],
            )
            .unwrap()
        };
        // Branch 0: keys 1..=3 with values a, b, a; branch 1: keys 10, 20 with x, null.
        let decoded = Arc::new(Schema::new(vec![
            Field::new("__code", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        let (n0, d0) = number(&rows(vec![1, 2, 3], vec![Some("a"), Some("b"), Some("a")]), decoded.clone()).unwrap();
        assert_eq!(n0, [0, 1, 0]);
        assert_eq!(d0.num_rows(), 2);
        let (n1, d1) = number(&rows(vec![10, 20], vec![Some("x"), None]), decoded).unwrap();
        assert_eq!(n1, [0, 1]);
        assert_eq!(d1.column(1).null_count(), 1);
        let maps = || {
            vec![
                KeyMap::new(&Int64Array::from(vec![1, 2, 3]), &n0).unwrap(),
                KeyMap::new(&Int64Array::from(vec![10, 20]), &n1).unwrap(),
            ]
        };
        let codes = Codes::new(maps(), vec![2, 2], vec![false, false]).unwrap();
        let fact0: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), Some(2), None, Some(9)]));
        let fact1: ArrayRef = Arc::new(Int64Array::from(vec![Some(20), None, Some(10), Some(10)]));
        let combined = codes.combined(&[fact0.clone(), fact1.clone()]).unwrap();
        assert_eq!(combined.null_count(), 0);
        let part = |b, combined: &Int64Array| codes.part(b, combined).unwrap().iter().collect::<Vec<_>>();
        assert_eq!(part(0, &combined), [Some(0), Some(1), None, None]);
        assert_eq!(part(1, &combined), [Some(1), None, Some(0), Some(0)]);
        // Branch 1 required (a key set folded in): a row without one of its
        // keys has a null code, and every part of it is null.
        let codes = Codes::new(maps(), vec![2, 2], vec![false, true]).unwrap();
        let combined = codes.combined(&[fact0, fact1]).unwrap();
        assert_eq!(combined.iter().map(|c| c.is_some()).collect::<Vec<_>>(), [true, false, true, true]);
        let part = |b| codes.part(b, &combined).unwrap().iter().collect::<Vec<_>>();
        assert_eq!(part(0), [Some(0), None, None, None]);
        assert_eq!(part(1), [Some(1), None, Some(0), Some(0)]);
        // Keys without nulls take the index arrays' weights: the same codes.
        let (fact0, fact1): (ArrayRef, ArrayRef) = (
            Arc::new(Int64Array::from(vec![3, 2, 0, 9])),
            Arc::new(Int64Array::from(vec![20, 30, 10, 10])),
        );
        let combined = codes.combined(&[fact0.clone(), fact1.clone()]).unwrap();
        assert_eq!(combined.iter().collect::<Vec<_>>(), [Some(3), None, Some(2), Some(2)]);
        // A branch that only filters (one value, required): keys 10 and 20 kept.
        let filter = KeyMap::new(&Int64Array::from(vec![10, 20]), &[0, 0]).unwrap();
        let map0 = KeyMap::new(&Int64Array::from(vec![1, 2, 3]), &n0).unwrap();
        let codes = Codes::new(vec![map0, filter], vec![2, 1], vec![false, true]).unwrap();
        let combined = codes.combined(&[fact0, fact1]).unwrap();
        assert_eq!(combined.iter().collect::<Vec<_>>(), [Some(0), None, Some(2), Some(2)]);
    }

    #[test]
    fn a_branch_without_values_numbers_every_row_zero() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let rows = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![4, 5]))]).unwrap();
        let decoded = Arc::new(Schema::new(vec![Field::new("__code", DataType::Int64, false)]));
        let (numbers, values) = number(&rows, decoded).unwrap();
        assert_eq!(numbers, [0, 0]);
        assert_eq!(values.num_rows(), 1);
    }
}

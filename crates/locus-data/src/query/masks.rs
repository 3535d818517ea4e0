//! Which rows of a resident table a key set keeps, remembered between
//! queries: one bit a row.
//!
//! Why: a data permission on a dimension reaches the fact as a key set on
//! one of its foreign keys (`precompute.rs`). Testing it reads that key
//! column (8 bytes a row) and looks each key up, for every fact row, on top
//! of what the same query costs the admin; on the cheapest questions that
//! made a filtered viewer 1.3–1.45x the admin. A viewer asks the same
//! permission of the same table version query after query, so the answer is
//! kept: the next query reads 1.25 MB of bits for 10 M rows instead of 80 MB
//! of keys and their lookups.
//!
//! Identity. A mask belongs to one held key array and one key set (by its
//! content, [`SetId`]). Arrays are found by address: the arrays a query
//! sees are slices of the held ones (DataFusion's scan cuts batches to its
//! batch size), found by the address of their first value and checked to
//! share the held array's null bits. An address names an array only while
//! its buffer lives, so the table cache registers the arrays of the tables
//! it holds ([`hold`]; the registry keeps a clone, so they stay alive) and
//! lets go with [`release`], which drops their masks: an address freed and
//! reused can never meet an old mask, and a new data version (new arrays)
//! or a changed permission (another key set) never reads one made for
//! something else.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, AsArray, Int64Array};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;

/// Bits kept at most, over all masks (32 MiB): a 10 M-row fact for a
/// hundred and twenty-odd permissions. Past it every mask is dropped (they
/// are rebuilt by the next query that needs them).
const BUDGET_BITS: usize = 256 << 20;

/// Key sets numbered at most; past it the numbers and masks start over.
const MAX_SETS: usize = 4096;

/// A key set's number, the same for sets of the same content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SetId(u64);

/// A key set's content: the keys from `min` whose bit is set.
#[derive(PartialEq, Eq, Hash)]
struct SetKey {
    min: i64,
    kept: Vec<u64>,
}

#[derive(Default)]
struct Registry {
    /// Int64 arrays of held tables by the address of their first value, with
    /// how many holds each has. The registry keeps a clone (its buffers stay
    /// alive while it is here, so no other array can have these addresses).
    resident: BTreeMap<usize, (Int64Array, u32)>,
    sets: HashMap<Arc<SetKey>, SetId>,
    next: u64,
    /// Masks over whole held arrays (by their first value's address).
    masks: HashMap<(usize, SetId), BooleanBuffer>,
    bits: usize,
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner())
}

fn address(keys: &Int64Array) -> usize {
    keys.values().as_ptr() as usize
}

/// The same array: the same values and null bits in memory (not merely
/// equal ones).
fn same(a: &Int64Array, b: &Int64Array) -> bool {
    let nulls = |k: &Int64Array| k.nulls().map(|n| (n.validity().as_ptr(), n.offset()));
    address(a) == address(b) && a.len() == b.len() && nulls(a) == nulls(b)
}

fn int_columns(batches: &[RecordBatch]) -> impl Iterator<Item = &Int64Array> + '_ {
    batches.iter().flat_map(|b| {
        b.columns()
            .iter()
            // Empty arrays all have the same (dangling) address.
            .filter(|c| c.data_type() == &DataType::Int64 && !c.is_empty())
            .map(|c| c.as_primitive::<Int64Type>())
    })
}

impl Registry {
    /// The held array `keys` is a slice of (DataFusion's scan hands a held
    /// table's batches on in slices of its batch size): its address and
    /// where the slice starts in it. The slice's null bits must be the held
    /// array's, at the same place.
    fn locate(&self, keys: &Int64Array) -> Option<(usize, usize)> {
        if keys.is_empty() {
            return None;
        }
        let at = address(keys);
        let (&start, (held, _)) = self.resident.range(..=at).next_back()?;
        let bytes = at - start;
        let offset = bytes / std::mem::size_of::<i64>();
        if bytes % std::mem::size_of::<i64>() != 0 || offset + keys.len() > held.len() {
            return None;
        }
        let same_nulls = match (held.nulls(), keys.nulls()) {
            (None, None) => true,
            (Some(h), Some(k)) => h.validity().as_ptr() == k.validity().as_ptr() && k.offset() == h.offset() + offset,
            _ => false,
        };
        same_nulls.then_some((start, offset))
    }
}

/// Registers the Int64 columns of `batches` (a table the caller holds).
pub(crate) fn hold(batches: &[RecordBatch]) {
    let mut r = registry();
    for keys in int_columns(batches) {
        match r.resident.get_mut(&address(keys)) {
            // The same array again (an array of another length or other
            // nulls at the same address is left out).
            Some((held, holds)) if same(held, keys) => *holds += 1,
            Some(_) => {}
            None => {
                r.resident.insert(address(keys), (keys.clone(), 1));
            }
        }
    }
}

/// Ends a [`hold`]: arrays no longer held are forgotten with their masks.
pub(crate) fn release(batches: &[RecordBatch]) {
    let mut r = registry();
    let mut gone = Vec::new();
    for keys in int_columns(batches) {
        let at = address(keys);
        if let Some((held, holds)) = r.resident.get_mut(&at) {
            if same(held, keys) {
                *holds -= 1;
                if *holds == 0 {
                    r.resident.remove(&at);
                    gone.push(at);
                }
            }
        }
    }
    if !gone.is_empty() {
        let mut freed = 0;
        r.masks.retain(|(array, _), mask| {
            let keep = !gone.contains(array);
            freed += if keep { 0 } else { mask.len() };
            keep
        });
        r.bits -= freed;
    }
}

/// The number of the set of keys `min + i` for each `i` where `kept(i)`,
/// `i` below `span`.
pub(crate) fn set_id(min: i64, span: usize, kept: impl Fn(usize) -> bool) -> SetId {
    let mut words: Vec<u64> = BooleanBuffer::collect_bool(span, kept).values().chunks(8).map(word).collect();
    while words.last() == Some(&0) {
        words.pop();
    }
    let key = SetKey { min, kept: words };
    let mut r = registry();
    if let Some(id) = r.sets.get(&key) {
        return *id;
    }
    if r.sets.len() >= MAX_SETS {
        r.sets.clear();
        r.masks.clear();
        r.bits = 0;
    }
    let id = SetId(r.next);
    r.next += 1;
    r.sets.insert(Arc::new(key), id);
    id
}

fn word(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |w, b| (w << 8) | u64::from(*b))
}

/// Whether `keys` is (a slice of) a column of a held table, whose masks are
/// kept.
pub(crate) fn held(keys: &Int64Array) -> bool {
    registry().locate(keys).is_some()
}

/// The mask of set `set` over `keys`, as `found` computes it over an array:
/// kept for the whole held array that `keys` is a slice of, and computed
/// over `keys` alone when it is none.
pub(crate) fn mask(keys: &Int64Array, set: SetId, found: impl FnOnce(&Int64Array) -> BooleanBuffer) -> BooleanBuffer {
    let (start, offset, whole) = {
        let r = registry();
        let Some((start, offset)) = r.locate(keys) else {
            drop(r);
            return found(keys);
        };
        if let Some(mask) = r.masks.get(&(start, set)) {
            return mask.slice(offset, keys.len());
        }
        (start, offset, r.resident[&start].0.clone())
    };
    let made = found(&whole);
    let mut r = registry();
    // Held still (a release in between dropped the array's masks and its
    // registration together).
    if r.resident.get(&start).is_some_and(|(held, _)| same(held, &whole)) {
        if r.bits + made.len() > BUDGET_BITS {
            r.masks.clear();
            r.bits = 0;
        }
        r.bits += made.len();
        r.masks.insert((start, set), made.clone());
    }
    made.slice(offset, keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    fn batch(keys: Int64Array) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(keys)]).unwrap()
    }

    fn keys(b: &RecordBatch) -> Int64Array {
        b.column(0).as_primitive::<Int64Type>().clone()
    }

    fn odd(keys: &Int64Array) -> BooleanBuffer {
        BooleanBuffer::collect_bool(keys.len(), |i| keys.value(i) % 2 == 1)
    }

    #[test]
    fn sets_are_numbered_by_content() {
        let a = set_id(10, 100, |i| i % 3 == 0);
        assert_eq!(a, set_id(10, 100, |i| i % 3 == 0));
        assert_ne!(a, set_id(11, 100, |i| i % 3 == 0));
        assert_ne!(a, set_id(10, 100, |i| i % 3 == 0 && i != 99));
        // The same keys over a longer span: the same set.
        assert_eq!(a, set_id(10, 300, |i| i % 3 == 0 && i < 100));
    }

    #[test]
    fn masks_are_kept_for_held_arrays_and_their_slices_until_released() {
        let held = batch(Int64Array::from_iter_values(0..1000));
        let other = batch(Int64Array::from_iter_values(0..1000));
        let set = set_id(-7, 3, |_| true);
        let never = |_: &Int64Array| -> BooleanBuffer { panic!("computed again") };
        hold(std::slice::from_ref(&held));
        let whole = mask(&keys(&held), set, odd);
        assert_eq!(whole, odd(&keys(&held)));
        // Kept: neither the array nor a slice of it is computed again.
        assert_eq!(mask(&keys(&held), set, never), whole);
        let slice = keys(&held).slice(100, 250);
        assert!(held(&slice));
        assert_eq!(mask(&slice, set, never), whole.slice(100, 250));
        // Another array with the same values; the held values with null
        // bits of their own; another set: computed each time.
        let mut computed = 0;
        let mut count = |k: &Int64Array| {
            computed += 1;
            odd(k)
        };
        mask(&keys(&other), set, &mut count);
        mask(&keys(&other), set, &mut count);
        let with_nulls = Int64Array::new(keys(&held).values().clone(), Some(vec![true; 1000].into()));
        mask(&with_nulls, set, &mut count);
        mask(&keys(&held), set_id(-7, 3, |i| i == 0), &mut count);
        assert_eq!(computed, 4);
        // Released: computed again, and not kept.
        release(std::slice::from_ref(&held));
        assert!(!held(&slice));
        assert_eq!(mask(&slice, set, odd), whole.slice(100, 250));
    }
}

//! The set of primary-key values seen in one file, to refuse duplicates.
//!
//! Keys are copied into one arena and the table holds only their offsets, so
//! 10 M keys cost their bytes plus about 20 bytes each, with no allocation
//! per key (a `HashSet<String>` would cost three times that).
//!
//! Integer keys take a shorter way: files are often written in key order, and
//! a key above every key so far is new without any lookup. Such keys are
//! kept in order ([`Ascending`]); only keys that arrive out of order are
//! looked up there (by binary search) and kept in a hash set. A file in key
//! order is checked with no hashing at all (hashing was a quarter of a 10
//! M-row load's CPU), and a file numbered 1, 2, 3… keeps no memory per key
//! (a vector of them was 80 MB at 10 M rows, 190 MB while it grew, and made
//! the server's peak memory grow with the file).

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Default)]
pub(crate) struct KeySet {
    arena: Vec<u8>,
    table: HashTable<(u64, u32)>,
    hasher: DefaultHashBuilder,
    /// Integer keys that were each above every earlier one.
    ascending: Ascending,
    /// Integer keys that came out of order.
    scattered: hashbrown::HashSet<i64>,
}

impl KeySet {
    /// Adds an integer key; `false` when it was already there.
    pub(crate) fn insert_int(&mut self, key: i64) -> bool {
        match self.ascending.last() {
            Some(last) if key <= last => !self.ascending.contains(key) && self.scattered.insert(key),
            _ => {
                self.ascending.push(key);
                true
            }
        }
    }

    /// Adds a key; `false` when it was already there.
    pub(crate) fn insert(&mut self, key: &[u8]) -> bool {
        let Ok(len) = u32::try_from(key.len()) else {
            // Records are at most 64 MiB, so this cannot happen; refusing the
            // key is the safe answer if it ever does.
            return false;
        };
        let (arena, hasher) = (&self.arena, &self.hasher);
        let slice = |&(offset, len): &(u64, u32)| &arena[offset as usize..offset as usize + len as usize];
        let hash = hasher.hash_one(key);
        match self.table.entry(hash, |e| slice(e) == key, |e| hasher.hash_one(slice(e))) {
            Entry::Occupied(_) => false,
            Entry::Vacant(slot) => {
                slot.insert((arena.len() as u64, len));
                self.arena.extend_from_slice(key);
                true
            }
        }
    }
}

/// Keys listed at most in one chunk of [`Ascending`]: 512 KiB, so that no
/// vector of keys is copied as it grows past that.
const CHUNK_KEYS: usize = 64 * 1024;

/// A run of consecutive keys shorter than this is listed key by key when a
/// gap ends it (a chunk of its own would cost more than its keys).
const MIN_RUN: i64 = 64;

/// Ascending integer keys, in chunks: each a run of consecutive keys (two
/// numbers, whatever its length) or up to [`CHUNK_KEYS`] keys listed.
#[derive(Default)]
struct Ascending {
    chunks: Vec<Chunk>,
}

/// Keys from `first` to `last`: every one of them when `listed` is empty (a
/// run), else exactly those listed (in order, `first` and `last` included).
struct Chunk {
    first: i64,
    last: i64,
    listed: Vec<i64>,
}

impl Ascending {
    fn last(&self) -> Option<i64> {
        self.chunks.last().map(|c| c.last)
    }

    /// Adds `key`, above every key so far.
    fn push(&mut self, key: i64) {
        let run = |key| Chunk {
            first: key,
            last: key,
            listed: Vec::new(),
        };
        let Some(c) = self.chunks.last_mut() else {
            self.chunks.push(run(key));
            return;
        };
        if c.listed.is_empty() {
            if key - 1 == c.last {
                c.last = key;
                return;
            }
            if c.last - c.first + 1 < MIN_RUN {
                c.listed = (c.first..=c.last).collect();
            }
        }
        if !c.listed.is_empty() && c.listed.len() < CHUNK_KEYS {
            c.listed.push(key);
            c.last = key;
        } else {
            self.chunks.push(run(key));
        }
    }

    fn contains(&self, key: i64) -> bool {
        let i = self.chunks.partition_point(|c| c.last < key);
        self.chunks
            .get(i)
            .is_some_and(|c| c.first <= key && (c.listed.is_empty() || c.listed.binary_search(&key).is_ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_keys_in_and_out_of_order() {
        let mut keys = KeySet::default();
        for k in 0..1000 {
            assert!(keys.insert_int(k * 2));
        }
        assert!(!keys.insert_int(0) && !keys.insert_int(998) && !keys.insert_int(1998));
        for k in (1..1000).rev().map(|k| k * 2 - 1) {
            assert!(keys.insert_int(k), "{k}");
        }
        assert!(!keys.insert_int(1) && !keys.insert_int(1997));
        assert!(keys.insert_int(-5) && !keys.insert_int(-5));
        assert!(keys.insert_int(5000) && !keys.insert_int(5000));
    }

    #[test]
    fn ascending_keys_in_runs_and_lists_answer_as_a_sorted_vector() {
        // Runs long and short, gaps of one and more, a full chunk, the ends
        // of the integers.
        let mut all = vec![i64::MIN, i64::MIN + 1];
        all.extend(-10..200);
        all.extend((300..400).step_by(2));
        all.extend(1000..1010);
        all.extend((2000..).step_by(3).take(CHUNK_KEYS + 5));
        all.extend(1_000_000..1_000_100);
        all.extend([i64::MAX - 1, i64::MAX]);
        let mut ascending = Ascending::default();
        for &k in &all {
            ascending.push(k);
        }
        assert!(ascending.chunks.len() < 12, "{} chunks", ascending.chunks.len());
        let probes = all.iter().flat_map(|&k| [k.saturating_sub(1), k, k.saturating_add(1)]);
        for k in probes.chain([0, 250, 301, 1010, 999_999, 2_000_000]) {
            assert_eq!(ascending.contains(k), all.binary_search(&k).is_ok(), "{k}");
        }
    }

    #[test]
    fn finds_repeats_across_growth() {
        let mut keys = KeySet::default();
        for i in 0..10_000u32 {
            assert!(keys.insert(i.to_string().as_bytes()));
        }
        assert!(keys.insert(b""));
        assert!(!keys.insert(b""));
        for i in (0..10_000u32).step_by(7) {
            assert!(!keys.insert(i.to_string().as_bytes()), "{i}");
        }
    }
}

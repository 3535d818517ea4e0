//! The set of primary-key values seen in one file, to refuse duplicates.
//!
//! Keys are copied into one arena and the table holds only their offsets, so
//! 10 M keys cost their bytes plus about 20 bytes each, with no allocation
//! per key (a `HashSet<String>` would cost three times that).
//!
//! Integer keys take a shorter way: files are often written in key order, and
//! a key above every key so far is new without any lookup. Such keys go to a
//! sorted vector; only keys that arrive out of order are looked up there (by
//! binary search) and kept in a hash set. A file in key order is checked with
//! no hashing at all (hashing was a quarter of a 10 M-row load's CPU).

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Default)]
pub(crate) struct KeySet {
    arena: Vec<u8>,
    table: HashTable<(u64, u32)>,
    hasher: DefaultHashBuilder,
    /// Integer keys that were each above every earlier one: ascending.
    ascending: Vec<i64>,
    /// Integer keys that came out of order.
    scattered: hashbrown::HashSet<i64>,
}

impl KeySet {
    /// Adds an integer key; `false` when it was already there.
    pub(crate) fn insert_int(&mut self, key: i64) -> bool {
        match self.ascending.last() {
            Some(&last) if key <= last => self.ascending.binary_search(&key).is_err() && self.scattered.insert(key),
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

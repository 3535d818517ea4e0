//! The set of primary-key values seen in one file, to refuse duplicates.
//!
//! Keys are copied into one arena and the table holds only their offsets, so
//! 10 M keys cost their bytes plus about 20 bytes each, with no allocation
//! per key (a `HashSet<String>` would cost three times that).

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Default)]
pub(crate) struct KeySet {
    arena: Vec<u8>,
    table: HashTable<(u64, u32)>,
    hasher: DefaultHashBuilder,
}

impl KeySet {
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

//! Current dataset versions held in memory as Arrow, within a byte budget,
//! least recently used out first. Versions are immutable files, so a cached
//! table keyed by its file path can never be stale: a new load is a new path.
//! Tables made from versions (a fact's rows under a caller's data
//! permissions, `plan.rs`) share the budget, keyed by the version's path and
//! everything else they were made of.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use object_store::path::Path;

use crate::{DataError, DataStore, DatasetDef};

struct Entry {
    table: Arc<MemTable>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    bytes: usize,
    tick: u64,
}

/// Tables by version path (and what else made them).
pub struct TableCache {
    budget: usize,
    partitions: usize,
    lru: Mutex<Lru>,
}

impl TableCache {
    pub fn new(budget: usize, partitions: usize) -> Self {
        TableCache {
            budget,
            partitions: partitions.max(1),
            lru: Mutex::new(Lru::default()),
        }
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> usize {
        self.lru.lock().map_or(0, |l| l.bytes)
    }

    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    /// The bytes of the table held under `key`, if one is.
    pub(crate) fn held(&self, key: &str) -> Option<usize> {
        self.lru.lock().ok()?.entries.get(key).map(|e| e.bytes)
    }

    pub(crate) fn lookup(&self, key: &str) -> Option<Arc<MemTable>> {
        let mut lru = self.lru.lock().ok()?;
        lru.tick += 1;
        let tick = lru.tick;
        let entry = lru.entries.get_mut(key)?;
        entry.used = tick;
        Some(entry.table.clone())
    }

    /// Drops the versions of `current`'s dataset other than `current`: once
    /// a load or a restore has made a version current, the one it replaced
    /// is read only by queries already running (which hold it themselves).
    pub fn forget_superseded(&self, current: &Path) {
        if let Ok(mut lru) = self.lru.lock() {
            let current = current.to_string();
            let mut freed = 0;
            lru.entries.retain(|key, e| {
                let gone = superseded(key, &current);
                freed += if gone { e.bytes } else { 0 };
                !gone
            });
            lru.bytes -= freed;
        }
    }

    /// The rows of one stored version, from memory or read from the store.
    pub async fn table(&self, data: &DataStore, path: &Path, def: &DatasetDef) -> Result<Arc<MemTable>, DataError> {
        let key = path.to_string();
        if let Some(t) = self.lookup(&key) {
            return Ok(t);
        }
        let batches = crate::read_all(data.store.clone(), path).await?;
        let schema = batches.first().map_or_else(|| def.arrow_schema(), |b| b.schema());
        self.keep(key, schema, batches)
    }

    /// Holds `batches` under `key` (within the budget, least recently used
    /// out first) as a table of the engine's partitions. A key is a
    /// version's path, or a path, `#` and what the table was made of from
    /// that version, so that [`TableCache::forget_superseded`] drops it too.
    pub(crate) fn keep(&self, key: String, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Arc<MemTable>, DataError> {
        let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
        let mut partitions = vec![Vec::new(); self.partitions];
        for (i, b) in batches.into_iter().enumerate() {
            partitions[i % self.partitions].push(b);
        }
        let table = Arc::new(MemTable::try_new(schema, partitions)?);
        if bytes <= self.budget {
            if let Ok(mut lru) = self.lru.lock() {
                while lru.bytes + bytes > self.budget {
                    let Some(oldest) = lru.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else {
                        break;
                    };
                    if let Some(e) = lru.entries.remove(&oldest) {
                        lru.bytes -= e.bytes;
                    }
                }
                lru.tick += 1;
                let used = lru.tick;
                lru.bytes += bytes;
                if let Some(old) = lru.entries.insert(
                    key,
                    Entry {
                        table: table.clone(),
                        bytes,
                        used,
                    },
                ) {
                    lru.bytes -= old.bytes;
                }
            }
        }
        Ok(table)
    }
}

/// Whether a cache key (a version's path, maybe followed by `#` and more)
/// names another version of the dataset whose current version is `current`.
pub(crate) fn superseded(key: &str, current: &str) -> bool {
    let version = key.split('#').next().unwrap_or(key);
    match (version.rsplit_once('/'), current.rsplit_once('/')) {
        (Some((dir, _)), Some((current_dir, _))) => dir == current_dir && version != current,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::superseded;

    #[test]
    fn only_other_versions_of_the_same_dataset_are_superseded() {
        let current = "projects/p/datasets/sales/v2.parquet";
        assert!(superseded("projects/p/datasets/sales/v1.parquet", current));
        assert!(superseded("projects/p/datasets/sales/v1.parquet#title", current));
        assert!(!superseded(current, current));
        assert!(!superseded("projects/p/datasets/sales/v2.parquet#title#Some(1.0)", current));
        assert!(!superseded("projects/p/datasets/shops/v1.parquet", current));
        assert!(!superseded("projects/q/datasets/sales/v1.parquet", current));
    }
}

//! Loading a CSV upload into one Parquet file (data-plane.md §2).
//!
//! Streaming end to end: parser threads (see `parse.rs`) turn blocks of the
//! input into record batches and hand them, in file order, through a channel
//! of two to the async writer, which uploads the Parquet file in parts.
//! Memory is bounded by a few blocks and batches and one row group, plus the
//! primary-key set (nothing per integer key in a run of consecutive keys in
//! file order, 8 bytes per other key in file order, about 20 bytes and the
//! key's own bytes per other key; see `keys.rs`). A load is all or nothing: with any
//! problem the upload is aborted and nothing appears in the store.

mod columns;
mod keys;
mod parse;

use std::io::Read;
use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;
use tokio::sync::mpsc;

use crate::area::AreaMapper;
use crate::csv::CsvOptions;
use crate::parquet_io::ParquetSink;
use crate::schema::DatasetDef;
use crate::DataError;

pub(crate) use columns::{format_date, parse_date};

/// How far a load has come; reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub rows: u64,
    /// Input bytes read.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOutcome {
    pub rows: u64,
    /// Input (CSV) bytes.
    pub bytes: u64,
    /// The size of the Parquet file written.
    pub parquet_bytes: u64,
}

/// Parses `input` as CSV for `def` and writes its rows to `path` as one
/// Parquet file with [`DatasetDef::arrow_schema`].
///
/// Columns map to [`DatasetDef::load_columns`] by position. Calculated
/// properties are filled by `areas` (the automatic area mapper), or stored as
/// NULL when it maps nothing.
///
/// Fails with [`DataError::Invalid`] when a value does not parse, a record has
/// the wrong number of fields or is not UTF-8, a quote is left open, or the
/// primary key is null or repeats. The whole input is scanned so that `total`
/// counts every problem; `problems` holds the first 100. Nothing is left at
/// `path` then.
pub async fn load_csv(
    input: impl Read + Send + 'static,
    def: &DatasetDef,
    opts: &CsvOptions,
    store: Arc<dyn ObjectStore>,
    path: &Path,
    areas: Arc<AreaMapper>,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<LoadOutcome, DataError> {
    let parser = parse::Parser::new(def, opts, areas)?;
    let mut sink = ParquetSink::create(store, path, def.arrow_schema(), &def.primary_key);
    let (tx, mut rx) = mpsc::channel(2);
    let parsing = tokio::task::spawn_blocking(move || parser.run(input, tx));

    let mut write_error = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            parse::Msg::Batch(batch, p) => {
                if let Err(e) = sink.write(&batch).await {
                    write_error = Some(e);
                    break;
                }
                progress(p);
            }
            parse::Msg::Progress(p) => progress(p),
        }
    }
    drop(rx); // stops the parser if writing failed
    let parsed = parsing
        .await
        .map_err(|e| DataError::Io(std::io::Error::other(format!("parser thread: {e}"))));
    let summary = match (write_error, parsed) {
        (Some(e), _) | (None, Err(e)) | (None, Ok(Err(e))) => {
            sink.abort().await;
            return Err(e);
        }
        (None, Ok(Ok(summary))) => summary,
    };
    if summary.total > 0 {
        sink.abort().await;
        return Err(DataError::Invalid {
            problems: summary.problems,
            total: summary.total,
        });
    }
    let parquet_bytes = sink.close().await?;
    Ok(LoadOutcome {
        rows: summary.rows,
        bytes: summary.bytes,
        parquet_bytes,
    })
}

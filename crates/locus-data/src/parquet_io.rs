//! Parquet files on the object store: one writer setup for every file this
//! crate writes, streaming reads, and abandoning a file half written.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use futures::{Stream, TryStreamExt};
use object_store::path::Path;
use object_store::ObjectStore;
// ParquetObjectReader is deprecated in parquet 59 in favour of a hand-written
// AsyncFileReader; it still works, and replacing it is left for later.
use object_store::buffered::BufWriter;
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{WriterProperties, DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT};
use parquet::schema::types::ColumnPath;

use crate::DataError;

/// Rows per row group: small enough that the writer's buffer stays modest
/// (it holds one encoded row group), large enough for good compression.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Rows per batch when reading back.
pub(crate) const BATCH_ROWS: usize = 64 * 1024;

/// Rows of a file's first batch that [`properties`] looks at, and the
/// fewest values it judges a column by.
const SAMPLE_ROWS: usize = 16 * 1024;
const MIN_SAMPLE: usize = 1024;

/// The writer's settings for a file of `schema` whose primary key is column
/// `key` and whose first rows are `sample`.
fn properties(schema: &Schema, key: &str, sample: Option<&RecordBatch>) -> Result<WriterProperties, DataError> {
    // ZSTD comes with DataFusion's parquet anyway (see Cargo.toml); level 1
    // writes about as fast as snappy and makes smaller files.
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // A dictionary of unique values only costs: the writer interns each
        // value until the dictionary's page is full, then falls back to
        // plain values anyway.
        .set_column_dictionary_enabled(ColumnPath::from(key), false);
    for (i, field) in schema.fields().iter().enumerate() {
        let column = ColumnPath::from(field.name().as_str());
        // Integers and dates as deltas, bit-packed, rather than through a
        // dictionary: interning every value was about a quarter of the
        // writer's time. On 10 M generated sales rows this writes in 0.9 to
        // 1.1 s instead of 1.3 to 1.4 s and reads back in 0.14 s instead of
        // 0.19 s, for a file of 80 MB instead of 84 MB (a key numbered in
        // order takes almost nothing; a foreign key of a few thousand values
        // a few bits more than its dictionary's indices would).
        if matches!(field.data_type(), DataType::Int64 | DataType::Int32 | DataType::Date32) {
            builder = builder
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
        } else if sample.is_some_and(|batch| dictionary_overflows(batch.column(i))) {
            // Names, addresses, coordinates: for the same reason as the key;
            // a category or a price list keeps its dictionary. On 10 M rows
            // of the shape of issue 16's target (8 columns, 905 MB), a load
            // took 4.27 s instead of 5.0 s (6.6 CPU seconds instead of 7.7),
            // and the file is 270 MB instead of 321 MB.
            builder = builder.set_column_dictionary_enabled(column, false);
        }
    }
    Ok(builder.build())
}

/// Whether the dictionary of a text, decimal or binary column would
/// outgrow its page within a row group, judging by the first
/// [`SAMPLE_ROWS`] values. Among n values drawn evenly from N, about n²/2N
/// pairs repeat, which estimates N; a row group of R rows then holds about
/// N(1 - e^(-R/N)) of them, each the size of the sample's average.
fn dictionary_overflows(column: &ArrayRef) -> bool {
    let column = column.slice(0, column.len().min(SAMPLE_ROWS));
    fn measure<T: Eq + std::hash::Hash>(values: impl Iterator<Item = T>, size: impl Fn(&T) -> usize) -> (usize, usize, usize) {
        let mut seen = HashSet::new();
        let (mut count, mut bytes) = (0, 0);
        for value in values {
            count += 1;
            let value_size = size(&value);
            if seen.insert(value) {
                bytes += value_size;
            }
        }
        (count, seen.len(), bytes)
    }
    // Plain byte arrays take their length's 4 bytes too.
    let (count, distinct, bytes) = match column.data_type() {
        DataType::Utf8 => measure(column.as_string::<i32>().iter().flatten(), |v| v.len() + 4),
        DataType::Binary => measure(column.as_binary::<i32>().iter().flatten(), |v| v.len() + 4),
        DataType::Float64 => measure(column.as_primitive::<Float64Type>().iter().flatten().map(f64::to_bits), |_| 8),
        _ => return false,
    };
    // Too few values to judge by (a small file, or the first batch of a
    // merge): the writer's own fallback decides.
    if count < MIN_SAMPLE {
        return false;
    }
    let rows = ROW_GROUP_ROWS as f64;
    let in_group = match count - distinct {
        0 => rows,
        repeats => {
            let values = (count * count) as f64 / (2 * repeats) as f64;
            values * (1.0 - (-rows / values).exp())
        }
    };
    in_group * (bytes as f64 / distinct as f64) > DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT as f64
}

/// A Parquet file being written to the store, in multipart uploads once it
/// outgrows a buffer; nothing is visible at `path` before [`Self::close`].
pub(crate) struct ParquetSink {
    store: Arc<dyn ObjectStore>,
    path: Path,
    schema: SchemaRef,
    key: String,
    /// Opened with the first batch, which chooses the columns' encodings.
    writer: Option<AsyncArrowWriter<BufWriter>>,
}

impl ParquetSink {
    /// A file of `schema`'s columns, whose primary key is column `key`
    /// (written without a dictionary; see `properties`).
    pub(crate) fn create(store: Arc<dyn ObjectStore>, path: &Path, schema: SchemaRef, key: &str) -> Self {
        ParquetSink {
            store,
            path: path.clone(),
            schema,
            key: key.to_owned(),
            writer: None,
        }
    }

    /// The writer, opened with `sample` as the first rows if not yet open.
    fn writer(&mut self, sample: Option<&RecordBatch>) -> Result<&mut AsyncArrowWriter<BufWriter>, DataError> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let target = BufWriter::new(self.store.clone(), self.path.clone());
                let props = properties(&self.schema, &self.key, sample)?;
                AsyncArrowWriter::try_new(target, self.schema.clone(), Some(props))?
            }
        };
        Ok(self.writer.insert(writer))
    }

    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        Ok(self.writer(Some(batch))?.write(batch).await?)
    }

    /// Finishes the file; returns its size in bytes.
    pub(crate) async fn close(mut self) -> Result<u64, DataError> {
        let writer = self.writer(None)?;
        writer.finish().await?;
        Ok(writer.bytes_written() as u64)
    }

    /// Abandons the file: a multipart upload in progress is aborted, so the
    /// object never appears.
    pub(crate) async fn abort(self) {
        let Some(writer) = self.writer else { return };
        let mut target = writer.into_inner();
        // An error here leaves at most invisible parts behind (S3 lifecycle
        // rules remove incomplete uploads); the load's own error matters more.
        let _ = target.abort().await;
    }
}

/// The batches of a Parquet file, streamed.
pub(crate) async fn stream(
    store: Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<impl Stream<Item = Result<RecordBatch, DataError>>, DataError> {
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store, path.clone());
    let stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    Ok(stream.map_err(DataError::from))
}

/// Every row of a Parquet file, in memory: for tests and small files only.
pub async fn read_all(store: Arc<dyn ObjectStore>, path: &Path) -> Result<Vec<RecordBatch>, DataError> {
    stream(store, path).await?.try_collect().await
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::Field;
    use object_store::memory::InMemory;

    use super::*;

    /// A column with more values than a dictionary page holds in a row
    /// group is written without a dictionary; one of fewer values, even if
    /// most of its first values differ, with one. The rows read back the same.
    #[tokio::test]
    async fn only_columns_of_few_values_get_a_dictionary() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("category", DataType::Utf8, true),
            Field::new("revenue", DataType::Float64, true),
            Field::new("price", DataType::Float64, true),
            Field::new("amount", DataType::Float64, true),
        ]));
        let n = 20_000;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("place {i}")))),
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("category {}", i % 40)))),
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64 * 1.25))),
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| (i % 7) as f64 + 0.99))),
                // Drawn from 50,000 cents (a dictionary of 400 kB), most of
                // the first 16,384 different.
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| {
                    // splitmix64's finalizer: draws that look independent.
                    let mut z = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    ((z ^ (z >> 31)) % 50_000) as f64 / 100.0
                }))),
            ],
        )
        .unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let dictionaries = |path: &'static str| {
            let store = store.clone();
            async move {
                #[allow(deprecated)]
                let reader = ParquetObjectReader::new(store, Path::from(path));
                let builder = ParquetRecordBatchStreamBuilder::new(reader).await.unwrap();
                let group = builder.metadata().row_group(0);
                let with: Vec<bool> = group.columns().iter().map(|c| c.dictionary_page_offset().is_some()).collect();
                with
            }
        };
        let mut sink = ParquetSink::create(store.clone(), &Path::from("rows.parquet"), schema.clone(), "id");
        sink.write(&batch).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(dictionaries("rows.parquet").await, [false, false, true, false, true, true]);
        assert_eq!(
            read_all(store.clone(), &Path::from("rows.parquet")).await.unwrap(),
            std::slice::from_ref(&batch)
        );

        // A first batch too small to judge by leaves the dictionaries on
        // (each of these columns fits its page in this file).
        let mut sink = ParquetSink::create(store.clone(), &Path::from("small.parquet"), schema.clone(), "id");
        sink.write(&batch.slice(0, 10)).await.unwrap();
        sink.write(&batch.slice(10, batch.num_rows() - 10)).await.unwrap();
        sink.close().await.unwrap();
        assert_eq!(dictionaries("small.parquet").await, [false, true, true, true, true, true]);

        // A file without a batch to sample is still a file, with no rows.
        let sink = ParquetSink::create(store.clone(), &Path::from("empty.parquet"), schema, "id");
        sink.close().await.unwrap();
        let empty = read_all(store.clone(), &Path::from("empty.parquet")).await.unwrap();
        assert!(empty.iter().all(|b| b.num_rows() == 0));
    }
}

//! Incremental loads: a new version made of the previous rows whose key is
//! not in the new file, plus every new row.
//!
//! The plan is built with DataFusion's DataFrame API (an anti join and a
//! union), never from SQL text, and its output is streamed into the same
//! Parquet writer as a load, so the result has the dataset's exact schema.

use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{cast, ident, lit, JoinType, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

use arrow::record_batch::RecordBatch;

use crate::parquet_io::ParquetSink;
use crate::schema::DatasetDef;
use crate::DataError;

/// The scheme under which the store is registered with DataFusion.
const STORE_URL: &str = "locus-data://store";

/// The new file's keys, renamed to a name no property can have (property
/// names are identifiers, without spaces).
const NEW_KEY: &str = "new key";

/// Writes to `out` the rows of `previous` (when there is one) whose primary
/// key is not in `new_rows`, and all rows of `new_rows`; returns the number
/// of rows written. Both inputs are read as `def` describes them now: a
/// property missing from an older file reads as NULL, and changed types are
/// cast.
pub async fn upsert(
    store: Arc<dyn ObjectStore>,
    def: &DatasetDef,
    previous: Option<&Path>,
    new_rows: &Path,
    out: &Path,
) -> Result<u64, DataError> {
    let ctx = session(store.clone())?;
    let new = conform(read(&ctx, new_rows).await?, def)?;
    let merged = match previous {
        None => new,
        Some(previous) => {
            let kept = conform(read(&ctx, previous).await?, def)?;
            let keys = new.clone().select(vec![ident(&def.primary_key).alias(NEW_KEY)])?;
            kept.join_on(keys, JoinType::LeftAnti, [ident(&def.primary_key).eq(ident(NEW_KEY))])?
                .union(new)?
        }
    };

    let schema = def.arrow_schema();
    let mut sink = ParquetSink::create(store, out, schema.clone(), &def.primary_key);
    let mut rows = 0u64;
    let mut stream = merged.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let written = async {
            // Same columns in the same order; only the nullability of the
            // schema differs from what the plan infers.
            let batch = RecordBatch::try_new(schema.clone(), batch?.columns().to_vec())?;
            sink.write(&batch).await?;
            Ok::<_, DataError>(batch.num_rows() as u64)
        }
        .await;
        match written {
            Ok(n) => rows += n,
            Err(e) => {
                sink.abort().await;
                return Err(e);
            }
        }
    }
    sink.close().await?;
    Ok(rows)
}

/// A DataFusion session that reads files of `store` (for jobs that rewrite or
/// check whole versions; queries have their own engine).
pub(crate) fn session(store: Arc<dyn ObjectStore>) -> Result<SessionContext, DataError> {
    let ctx = SessionContext::new();
    let url = Url::parse(STORE_URL).map_err(|e| DataError::Location(e.to_string()))?;
    ctx.register_object_store(&url, store);
    Ok(ctx)
}

/// One version file as a DataFrame, with the types it was written with.
pub(crate) async fn read(ctx: &SessionContext, path: &Path) -> Result<DataFrame, DataError> {
    // Any path is one file, whatever its extension.
    let options = ParquetReadOptions {
        file_extension: "",
        ..Default::default()
    };
    Ok(ctx.read_parquet(format!("{STORE_URL}/{path}"), options).await?)
}

/// The dataset's columns in its order and types, NULL where the file has none.
fn conform(df: DataFrame, def: &DatasetDef) -> Result<DataFrame, DataError> {
    let present: Vec<String> = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let columns = def
        .properties
        .iter()
        .map(|p| {
            let ty = p.ty.data_type();
            let value = if present.contains(&p.name) {
                cast(ident(&p.name), ty)
            } else {
                lit(ScalarValue::try_from(&ty)?)
            };
            Ok(value.alias(&p.name))
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    Ok(df.select(columns)?)
}

//! Dumping a stored version as CSV (the dataDump job).
//!
//! RFC 4180: a header of property names, `,` between fields, `\n` after each
//! record; a field is quoted when it holds `,`, `"`, a line break or nothing
//! (an empty string is `""`, NULL is an empty field, as the loader reads
//! them), and quotes inside are doubled. Dates are `YYYY-MM-DD`, geometries
//! WKT. The loader's default escape character `\` can misread a dumped value
//! that has `\"` or `\\` inside quotes; load such dumps with `escape` `"`.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::load::format_date;
use crate::schema::{DatasetDef, PropertyType};
use crate::{geometry, parquet_io, DataError};

/// Writes every row of the Parquet file at `path` to `writer` as CSV, batch
/// by batch, after a header line; returns the number of rows. Without a file
/// (a dataset never loaded) only the header is written.
pub async fn dump_csv(
    store: Arc<dyn ObjectStore>,
    def: &DatasetDef,
    path: Option<&Path>,
    mut writer: impl AsyncWrite + Unpin,
) -> Result<u64, DataError> {
    let mut out = Vec::with_capacity(1 << 20);
    for (i, p) in def.properties.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_text(&mut out, &p.name);
    }
    out.push(b'\n');
    let mut rows = 0u64;
    let Some(path) = path else {
        writer.write_all(&out).await?;
        writer.flush().await?;
        return Ok(0);
    };
    let mut batches = std::pin::pin!(parquet_io::stream(store, path).await?);
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        format_batch(def, &batch, &mut out)?;
        rows += batch.num_rows() as u64;
        writer.write_all(&out).await?;
        out.clear();
    }
    writer.write_all(&out).await?;
    writer.flush().await?;
    Ok(rows)
}

fn format_batch(def: &DatasetDef, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), DataError> {
    let columns = def
        .properties
        .iter()
        .map(|p| {
            let column = batch.column_by_name(&p.name);
            column
                .map(|c| (p.ty, c.as_ref()))
                .ok_or_else(|| DataError::Corrupt(format!("no column {}", p.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        for (i, &(ty, column)) in columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if !column.is_null(row) {
                push_value(out, ty, column, row)?;
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

fn push_value(out: &mut Vec<u8>, ty: PropertyType, column: &dyn Array, row: usize) -> Result<(), DataError> {
    let wrong = || DataError::Corrupt(format!("a {} column holds {}", ty.name(), column.data_type()));
    match ty {
        PropertyType::Integer | PropertyType::Bigint => {
            let v = column.as_primitive_opt::<Int64Type>().ok_or_else(wrong)?.value(row);
            out.extend_from_slice(v.to_string().as_bytes());
        }
        PropertyType::Decimal | PropertyType::Latitude | PropertyType::Longitude => {
            let v = column.as_primitive_opt::<Float64Type>().ok_or_else(wrong)?.value(row);
            out.extend_from_slice(v.to_string().as_bytes());
        }
        PropertyType::Boolean => {
            let v = column.as_boolean_opt().ok_or_else(wrong)?.value(row);
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        PropertyType::Date => {
            let v = column.as_primitive_opt::<Date32Type>().ok_or_else(wrong)?.value(row);
            out.extend_from_slice(format_date(v).as_bytes());
        }
        PropertyType::String => push_text(out, column.as_string_opt::<i32>().ok_or_else(wrong)?.value(row)),
        PropertyType::Geometry => {
            let wkb = column.as_binary_opt::<i32>().ok_or_else(wrong)?.value(row);
            push_text(out, &geometry::wkb_to_wkt(wkb)?);
        }
    }
    Ok(())
}

/// A text field, quoted when RFC 4180 needs it or when it is empty.
fn push_text(out: &mut Vec<u8>, text: &str) {
    push_field(out, text, b',');
}

/// A text field of a CSV with this separator, quoted when RFC 4180 needs it
/// or when it is empty (an unquoted empty field is NULL).
pub(crate) fn push_field(out: &mut Vec<u8>, text: &str, separator: u8) {
    let needs_quotes = text.is_empty() || text.bytes().any(|b| b == separator || matches!(b, b'"' | b'\n' | b'\r'));
    if !needs_quotes {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for part in text.split('"').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
    out.push(b'"');
}

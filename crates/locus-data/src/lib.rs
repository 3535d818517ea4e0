//! The data plane of Locus: datasets' rows, stored as Parquet files on an
//! object store and computed on with DataFusion.
//!
//! This is the only crate that knows DataFusion, Arrow and Parquet, so that
//! their (frequent, breaking) upgrades touch one crate, and so that the
//! server maps HTTP onto plain functions here. Nothing here knows HTTP, SQL
//! databases or the control store; the current version of a dataset is kept
//! by the control store, and this crate only writes, reads and deletes
//! immutable version files.
//!
//! - [`schema`]: dataset metadata → definitions and Arrow schemas.
//! - [`area`]: the automatic area mapper (points to the polygons holding them).
//! - [`csv`]: the wire CSV options and a streaming CSV reader.
//! - [`load`]: CSV → typed record batches → one Parquet file, all or nothing.
//! - [`incremental`]: upserts by primary key into a new version.
//! - [`dump`]: a version back to CSV.
//! - [`versions`]: the object-store layout of versions.
//! - [`transfer`]: files streamed in (uploads) and out (loads, downloads).
//! - [`validate`]: the checks of a validate job.
//! - [`query`]: DWH queries compiled to DataFusion plans, with data permissions.

pub mod area;
pub mod csv;
pub mod dump;
mod error;
pub mod generate;
pub mod geometry;
pub mod incremental;
pub mod load;
mod parquet_io;
pub mod query;
pub mod schema;
pub mod simplify;
pub mod tiles;
pub mod transfer;
pub mod validate;
pub mod versions;

pub use area::{AreaIndex, AreaMapper};
pub use csv::CsvOptions;
pub use dump::dump_csv;
pub use error::{DataError, Problem, MAX_PROBLEMS};
pub use incremental::upsert;
pub use load::{load_csv, LoadOutcome, Progress};
pub use parquet_io::read_all;
pub use schema::{DatasetDef, PropertyDef, PropertyType, Subtype};
pub use versions::{DataStore, RowsFile};

/// Arrow and object_store types that appear in this crate's API, re-exported
/// so that callers need no dependency of their own (and cannot pick another
/// version).
pub use arrow::record_batch::RecordBatch;
pub use object_store::{path::Path as StorePath, ObjectStore};

//! Reading CSV uploads (data-plane.md §2): the wire options and a streaming
//! reader that keeps the difference between `""` and an empty field.

mod options;
mod reader;
mod record;

pub use options::CsvOptions;
pub use reader::{CsvReader, BOM, MAX_RECORD_BYTES};
pub use record::{Field, NotUtf8, Record};

//! Reading CSV uploads (data-plane.md §2): the wire options and a streaming
//! reader that keeps the difference between `""` and an empty field.

mod options;
mod reader;

pub use options::CsvOptions;
pub use reader::{CsvReader, Field, NotUtf8, Record, MAX_RECORD_BYTES};

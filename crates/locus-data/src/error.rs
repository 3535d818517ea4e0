//! The one error type of the crate.
//!
//! Callers need to tell three things apart: the user's input is wrong
//! ([`DataError::Invalid`], [`DataError::Definition`], [`DataError::CsvOption`]:
//! answered as a failed job with the reasons), the store is unreachable or
//! misconfigured ([`DataError::Location`], [`DataError::Store`]), and
//! everything else, which is a bug or an I/O failure to log.

use std::fmt;

/// How many problems a failed load keeps; the rest are only counted.
pub const MAX_PROBLEMS: usize = 100;

/// The longest value a [`Problem`] quotes, in characters.
const MAX_VALUE_CHARS: usize = 100;

/// One reason why input rows cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based physical line of the file where the record starts (the
    /// header, when there is one, is line 1).
    pub line: u64,
    /// The property the value was meant for; empty when the problem is about
    /// the whole record (its number of fields, an unterminated quote).
    pub column: String,
    /// The offending value, cut to 100 characters.
    pub value: String,
    /// What was expected instead, e.g. `integer` or `5 fields`.
    pub expected: String,
}

impl Problem {
    pub(crate) fn new(line: u64, column: &str, value: &str, expected: impl Into<String>) -> Self {
        let value = match value.char_indices().nth(MAX_VALUE_CHARS) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_owned(),
        };
        Problem {
            line,
            column: column.to_owned(),
            value,
            expected: expected.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if !self.column.is_empty() {
            write!(f, ", property {}", self.column)?;
        }
        write!(f, ": {:?} is not {}", self.value, self.expected)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The rows do not fit the dataset; nothing was stored.
    #[error("{total} problem(s) in the data, the first: {}", first(.problems))]
    Invalid { problems: Vec<Problem>, total: u64 },
    /// The dataset's metadata cannot describe stored rows.
    #[error("dataset {dataset}: {message}")]
    Definition { dataset: String, message: String },
    /// A `csvOptions` value is wrong; `field` is its wire name.
    #[error("csvOptions.{field}: {message}")]
    CsvOption { field: &'static str, message: String },
    /// A sample to generate a dataset definition from is wrong; `field` is
    /// the request's parameter (`body` for the CSV itself).
    #[error("{field}: {message}")]
    Sample { field: &'static str, message: String },
    /// A sample longer than a definition is generated from.
    #[error("a sample has at most {lines} lines, the header included")]
    SampleTooLong { lines: usize },
    /// The data store location (a directory or an `s3://` URL) is unusable.
    #[error("data store location: {0}")]
    Location(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("datafusion: {0}")]
    DataFusion(Box<datafusion::error::DataFusionError>),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A file that this crate wrote does not hold what it should.
    #[error("corrupt data file: {0}")]
    Corrupt(String),
}

impl From<datafusion::error::DataFusionError> for DataError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        DataError::DataFusion(Box::new(e))
    }
}

impl DataError {
    pub(crate) fn definition(dataset: &str, message: impl Into<String>) -> Self {
        DataError::Definition {
            dataset: dataset.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(problem: Problem) -> Self {
        DataError::Invalid {
            problems: vec![problem],
            total: 1,
        }
    }
}

fn first(problems: &[Problem]) -> String {
    problems.first().map_or_else(String::new, Problem::to_string)
}

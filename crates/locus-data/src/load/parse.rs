//! The blocking half of a load: CSV records to typed record batches, with
//! every problem collected on the way.

use std::io::Read;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use super::columns::{key_bytes, parse_int, ColumnBuilder};
use super::keys::KeySet;
use super::Progress;
use crate::area::AreaMapper;
use crate::csv::{CsvOptions, CsvReader, Field, Record};
use crate::schema::{DatasetDef, PropertyType};
use crate::{DataError, Problem, MAX_PROBLEMS};

/// Rows per record batch sent to the writer.
const BATCH_ROWS: usize = 64 * 1024;

pub(super) enum Msg {
    Batch(RecordBatch, Progress),
    /// Once there is a problem no batch is sent; scanning goes on to count.
    Progress(Progress),
}

pub(super) struct Summary {
    pub rows: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
    pub total: u64,
}

/// One CSV column: where it is stored and how its NULLs are spelled.
struct Target {
    name: String,
    ty: PropertyType,
    stored: usize,
    null_text_applies: bool,
}

pub(super) struct Parser {
    schema: SchemaRef,
    header: bool,
    opts: CsvOptions,
    targets: Vec<Target>,
    calculated: Vec<usize>,
    areas: Arc<AreaMapper>,
    key: usize,
    null_text: Option<String>,
    builders: Vec<ColumnBuilder>,
    keys: KeySet,
    problems: Vec<Problem>,
    total: u64,
}

impl Parser {
    /// Checks the options against the dataset before anything is read.
    pub(super) fn new(def: &DatasetDef, opts: &CsvOptions, areas: Arc<AreaMapper>) -> Result<Self, DataError> {
        opts.check()?;
        if let Some(names) = &opts.force_null {
            if let Some(unknown) = names.iter().find(|n| !def.load_columns().any(|p| &p.name == *n || &p.column == *n)) {
                return Err(DataError::CsvOption {
                    field: "forceNull",
                    message: format!("{unknown} is not a loaded column of dataset {}", def.name),
                });
            }
        }
        let applies = |name: &str, column: &str| {
            opts.force_null
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == name || n == column))
        };
        let targets: Vec<Target> = def
            .properties
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.calculated)
            .map(|(stored, p)| Target {
                name: p.name.clone(),
                ty: p.ty,
                stored,
                null_text_applies: applies(&p.name, &p.column),
            })
            .collect();
        let key_stored = def.primary_key_index();
        Ok(Parser {
            schema: def.arrow_schema(),
            header: opts.header,
            opts: opts.clone(),
            key: targets.iter().position(|t| t.stored == key_stored).unwrap_or(0),
            targets,
            calculated: def
                .properties
                .iter()
                .enumerate()
                .filter(|(_, p)| p.calculated)
                .map(|(i, _)| i)
                .collect(),
            areas,
            // forceNull alone makes a quoted empty field NULL in its columns.
            null_text: opts.null.clone().or_else(|| opts.force_null.as_ref().map(|_| String::new())),
            builders: def.properties.iter().map(|p| ColumnBuilder::new(p.ty, BATCH_ROWS)).collect(),
            keys: KeySet::default(),
            problems: Vec::new(),
            total: 0,
        })
    }

    /// Reads the whole input; batches go to `tx` while there is no problem.
    pub(super) fn run(mut self, input: impl Read, tx: mpsc::Sender<Msg>) -> Result<Summary, DataError> {
        let mut reader = CsvReader::new(input, &self.opts);
        let mut rec = Record::new();
        let (mut rows, mut in_batch) = (0u64, 0usize);
        if self.header {
            self.read(&mut reader, &mut rec)?;
        }
        while self.read(&mut reader, &mut rec)? {
            if self.record(&rec) {
                rows += 1;
                in_batch += 1;
            }
            if in_batch == BATCH_ROWS {
                self.send(&tx, rows, reader.position())?;
                in_batch = 0;
            }
        }
        if in_batch > 0 || rows == 0 {
            self.send(&tx, rows, reader.position())?;
        }
        Ok(Summary {
            rows,
            bytes: reader.position(),
            problems: self.problems,
            total: self.total,
        })
    }

    /// The next record; a fatal problem (an open quote at the end) ends the
    /// input after being recorded.
    fn read(&mut self, reader: &mut CsvReader<impl Read>, rec: &mut Record) -> Result<bool, DataError> {
        match reader.read_record(rec) {
            Err(DataError::Invalid { problems, .. }) => {
                problems.into_iter().for_each(|p| self.problem(p));
                Ok(false)
            }
            other => other,
        }
    }

    /// Appends one record's values; `false` when the record was skipped.
    fn record(&mut self, rec: &Record) -> bool {
        let line = rec.line();
        if rec.len() != self.targets.len() {
            let expected = count_fields(self.targets.len());
            self.problem(Problem::new(line, "", &count_fields(rec.len()), expected));
            return false;
        }
        let fields = match rec.fields() {
            Ok(fields) => fields,
            Err(e) => {
                let column = self.targets.get(e.field).map_or("", |t| t.name.as_str());
                self.problem(Problem::new(line, column, &e.lossy, "UTF-8 text"));
                return false;
            }
        };
        let mut found = Vec::new();
        for (i, field) in fields.enumerate() {
            let target = &self.targets[i];
            let value = value(target, field, self.null_text.as_deref());
            let builder = &mut self.builders[target.stored];
            let Some(text) = value else {
                builder.push_null();
                if i == self.key {
                    found.push(Problem::new(line, &target.name, "", "a value (the primary key cannot be null)"));
                }
                continue;
            };
            if let Err(expected) = builder.push(text) {
                found.push(Problem::new(line, &target.name, text, expected));
            } else if i == self.key {
                let fresh = match target.ty {
                    PropertyType::Integer | PropertyType::Bigint => parse_int(text).is_some_and(|k| self.keys.insert_int(k)),
                    _ => {
                        let mut scratch = [0; 8];
                        self.keys.insert(key_bytes(target.ty, text, &mut scratch).unwrap_or_default())
                    }
                };
                if !fresh {
                    found.push(Problem::new(line, &target.name, text, "a unique value (the primary key repeats)"));
                }
            }
        }
        for &c in &self.calculated {
            self.builders[c].push_null();
        }
        found.into_iter().for_each(|p| self.problem(p));
        true
    }

    fn problem(&mut self, p: Problem) {
        self.total += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// Hands the rows built so far to the writer (or, after a problem, drops
    /// them and reports progress only).
    fn send(&mut self, tx: &mpsc::Sender<Msg>, rows: u64, bytes: u64) -> Result<(), DataError> {
        let columns = self.builders.iter_mut().map(ColumnBuilder::finish).collect();
        let progress = Progress { rows, bytes };
        let msg = if self.total == 0 {
            let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
            Msg::Batch(self.areas.apply(batch)?, progress)
        } else {
            Msg::Progress(progress)
        };
        // The receiver is gone only when writing failed; that error is the
        // one the load reports.
        tx.blocking_send(msg)
            .map_err(|_| DataError::Io(std::io::Error::other("the writer stopped")))
    }
}

/// The field's text, or `None` for NULL (data-plane.md §2).
fn value<'a>(target: &Target, field: Field<'a>, null_text: Option<&str>) -> Option<&'a str> {
    if field.text.is_empty() && (!field.quoted || target.ty != PropertyType::String) {
        return None;
    }
    if target.null_text_applies && null_text == Some(field.text) {
        return None;
    }
    Some(field.text)
}

fn count_fields(n: usize) -> String {
    if n == 1 {
        "1 field".to_owned()
    } else {
        format!("{n} fields")
    }
}

//! The blocking half of a load: CSV records to typed record batches, with
//! every problem collected on the way.
//!
//! Parsing is most of a load's work, so it runs on several threads. A reader
//! thread cuts the input into blocks of a few MiB at line breaks; workers
//! parse blocks in parallel, each as if it began with a record; the caller's
//! thread (the merger) takes the results in input order, checks primary keys
//! across them (uniqueness is a property of the whole file), puts problems in
//! file order and hands batches to the writer. A line break inside quotes can
//! make a block end inside a record: its worker then stops before that record
//! and the merger parses the next block again itself, joined to that record
//! (always correct; a file with many line breaks inside quotes loads at about
//! one thread's speed). The outcome is the same whatever the block size; a test
//! checks that against one-block parses.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use arrow::array::AsArray;
use arrow::datatypes::{Date32Type, Float64Type, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use super::columns::{format_date, ColumnBuilder};
use super::keys::KeySet;
use super::Progress;
use crate::area::AreaMapper;
use crate::csv::{CsvOptions, CsvReader, Field, Record, BOM, MAX_RECORD_BYTES};
use crate::schema::{DatasetDef, PropertyType};
use crate::{DataError, Problem, MAX_PROBLEMS};

/// Input bytes per block: a few batches' worth, so that workers stay busy
/// and memory stays a few blocks.
const BLOCK_BYTES: usize = 4 << 20;

/// Blocks parsed at once.
const WORKERS: usize = 2;

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

/// What parsing needs of the dataset and the options; shared by the workers.
pub(super) struct Parser {
    schema: SchemaRef,
    /// `schema` with every column nullable: a block's batch may hold a NULL
    /// key (a problem), and its keys are still checked.
    parse_schema: SchemaRef,
    header: bool,
    opts: CsvOptions,
    targets: Vec<Target>,
    calculated: Vec<usize>,
    areas: Arc<AreaMapper>,
    /// The primary key's position among `targets`.
    key: usize,
    null_text: Option<String>,
    /// Each stored property's type, in schema order.
    types: Vec<PropertyType>,
    block_bytes: usize,
}

/// A block of input to parse.
struct Block {
    /// Its place in the input; block 0 starts the file (a byte-order mark
    /// may open it).
    index: u64,
    bytes: Vec<u8>,
    /// The first record is the header, to skip.
    header: bool,
    /// Ends the file: a record open at its end is an error, not carried over.
    last: bool,
}

/// A problem with its CSV column, so that problems sort into file order by
/// (line, column). Lines are relative to the block until merged.
type Placed = (usize, Problem);

/// A parsed block.
struct Parsed {
    index: u64,
    /// The block's bytes, back, in case it has to be parsed again.
    bytes: Vec<u8>,
    batch: RecordBatch,
    /// Each row's line, relative to the block.
    row_lines: Vec<u32>,
    /// Each row's offset in the block (for the text of a repeated key).
    row_offsets: Vec<u32>,
    /// Line breaks read (the block's lines, when it has no unfinished record).
    lines: u64,
    problems: Vec<Placed>,
    total: u64,
    /// A record the block ended inside: its offset and relative line.
    unfinished: Option<(usize, u64)>,
    /// The header was still to skip when the block ended.
    header_left: bool,
    /// A problem ended the input (an open quote at its end, an overlong record).
    stopped: bool,
    /// The block ended the input.
    last: bool,
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
        let schema = def.arrow_schema();
        let nullable: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        Ok(Parser {
            parse_schema: Arc::new(Schema::new_with_metadata(nullable, schema.metadata().clone())),
            schema,
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
            types: def.properties.iter().map(|p| p.ty).collect(),
            block_bytes: BLOCK_BYTES,
        })
    }

    /// Reads the whole input; batches go to `tx` while there is no problem.
    pub(super) fn run(self, input: impl Read + Send, tx: mpsc::Sender<Msg>) -> Result<Summary, DataError> {
        let parser = &self;
        let (block_tx, block_rx) = std_mpsc::sync_channel::<Block>(WORKERS);
        // Shared by the workers; dropped by the first that finds the merger
        // gone, so that the reader stops too.
        let block_rx = Mutex::new(Some(block_rx));
        let (parsed_tx, parsed_rx) = std_mpsc::sync_channel::<Result<Parsed, DataError>>(WORKERS);
        std::thread::scope(|scope| {
            let reading = scope.spawn(move || parser.cut(input, block_tx));
            for _ in 0..WORKERS {
                let (block_rx, parsed_tx) = (&block_rx, parsed_tx.clone());
                scope.spawn(move || loop {
                    let block = match block_rx.lock() {
                        Ok(rx) => rx.as_ref().and_then(|rx| rx.recv().ok()),
                        Err(_) => None,
                    };
                    let Some(block) = block else { return };
                    if parsed_tx.send(parser.parse(block)).is_err() {
                        if let Ok(mut rx) = block_rx.lock() {
                            rx.take();
                        }
                        return;
                    }
                });
            }
            drop(parsed_tx);
            let merged = Merger::new(parser, tx).run(parsed_rx);
            // The reader's error (the input failing) explains best whatever
            // else went wrong.
            let read = reading
                .join()
                .unwrap_or_else(|_| Err(DataError::Io(std::io::Error::other("the reader thread failed"))));
            read.and(merged)
        })
    }

    /// The reader: the input in blocks that end at a line break. Each holds
    /// at least one line (so a byte-order mark stays with the first), read
    /// on past `block_bytes` when needed, up to a record's limit; the last
    /// ends where the input does.
    fn cut(&self, mut input: impl Read, tx: std_mpsc::SyncSender<Block>) -> Result<(), DataError> {
        let mut carry = Vec::new();
        for index in 0.. {
            let mut bytes = std::mem::take(&mut carry);
            bytes.reserve(self.block_bytes);
            let mut searched = 0;
            let ended = loop {
                let want = (self.block_bytes.max(bytes.len() + 1) - bytes.len()) as u64;
                let n = (&mut input).take(want).read_to_end(&mut bytes)? as u64;
                if n < want {
                    break true;
                }
                if let Some(cut) = memchr::memrchr(b'\n', &bytes[searched..]) {
                    carry = bytes.split_off(searched + cut + 1);
                    break false;
                }
                searched = bytes.len();
                if bytes.len() > MAX_RECORD_BYTES {
                    break false; // the parser refuses the record
                }
            };
            let block = Block {
                index,
                bytes,
                header: index == 0 && self.header,
                last: ended,
            };
            // The merger stopped early (writing failed): nothing more to do.
            if tx.send(block).is_err() || ended {
                break;
            }
        }
        Ok(())
    }

    /// Parses one block into a batch; problems are placed relative to it.
    fn parse(&self, block: Block) -> Result<Parsed, DataError> {
        match self.parse_in_place(block) {
            Ok(parsed) => Ok(parsed),
            Err(block) => self.parse_records(block),
        }
    }

    /// The common case, fast: a block whose records are its lines, in UTF-8,
    /// that ends at a line break or ends the input. Its fields are what lies
    /// between separators, or between a field's opening quote and the quote
    /// that closes it, so they are cut from the block in place (not copied)
    /// in one scan for separators, quotes and line breaks, and UTF-8 is
    /// checked once for the whole block. The rare quoted field that is not
    /// a slice of its line (a doubled quote or the escape character inside,
    /// bytes after its closing quote) is copied by [`unquote`]. A block with
    /// a line break inside quotes or a quote left open is handed back for
    /// [`Self::parse_records`], whose outcome this is (tests compare the two).
    fn parse_in_place(&self, block: Block) -> Result<Parsed, Block> {
        let (sep, quote, esc) = (self.opts.separator, self.opts.quote, self.opts.escape);
        let bytes = &block.bytes;
        let start = if block.index == 0 && bytes.starts_with(BOM) { BOM.len() } else { 0 };
        let special = |b: u8| !b.is_ascii() || b == b'\n' || b == b'\r';
        if special(sep)
            || special(quote)
            || special(esc)
            || sep == quote
            || bytes.len() > MAX_RECORD_BYTES
            || !(block.last || bytes.last() == Some(&b'\n'))
        {
            return Err(block);
        }
        // Separators, quotes and line breaks are ASCII: in valid UTF-8 they
        // are always a character's boundary, so every field is text too.
        let Ok(text) = std::str::from_utf8(&bytes[start..]) else {
            return Err(block);
        };
        let body = text.as_bytes();
        let mut builders = self.builders(body);
        let mut out = BlockOut::default();
        let mut header_left = block.header;
        // The fields of the line being cut, and the texts of those copied.
        let mut fields: Vec<Cut> = Vec::with_capacity(self.targets.len());
        let mut copies: Vec<String> = Vec::new();
        // Where the field being cut starts; how it ended, once its quotes
        // closed; whether a quote opened it and is still open.
        let (mut field_start, mut closed, mut in_quotes) = (0, None, false);
        // Matches before this offset were inside a copied field.
        let mut resume = 0;
        // Where the line being cut began.
        let mut line_start = 0;
        // Where the last record (or the header) ended: the offset the reader
        // gives a record includes the blank lines before it.
        let mut after_record = 0;
        // The line being cut, 1-based.
        let mut line: u64 = 1;
        // A last line without a line break ends at the input's end.
        let tail = (body.last().is_some_and(|&b| b != b'\n')).then_some(body.len());
        for at in memchr::memchr3_iter(sep, b'\n', quote, body).chain(tail) {
            if at < resume {
                continue;
            }
            let byte = body.get(at).copied();
            if in_quotes {
                if byte == Some(sep) {
                    continue; // data
                }
                if byte != Some(quote) {
                    return Err(block); // a line break inside quotes, or a quote left open
                }
                // The closing quote must end the field (`\r` only before `\n`),
                // and nothing inside may need unescaping; else the field is copied.
                let ends_field = match body.get(at + 1) {
                    None => true,
                    Some(&b'\r') => body.get(at + 2) == Some(&b'\n'),
                    Some(&b) => b == sep || b == b'\n',
                };
                let escaped = esc != quote && memchr::memchr(esc, &body[field_start + 1..at]).is_some();
                in_quotes = false;
                if ends_field && !escaped {
                    closed = Some(Cut::Slice(field_start + 1, at, true));
                } else {
                    let Some((copy, end)) = unquote(body, field_start, sep, quote, esc) else {
                        return Err(block);
                    };
                    closed = Some(Cut::Copied(copies.len()));
                    copies.push(copy);
                    resume = end;
                }
                continue;
            }
            if byte == Some(quote) {
                // A quote opens a quoted field only at the field's start;
                // elsewhere it is data.
                in_quotes = at == field_start;
                continue;
            }
            let mut field = closed.take().unwrap_or(Cut::Slice(field_start, at, false));
            field_start = at + 1;
            if byte == Some(sep) {
                fields.push(field);
                continue;
            }
            let (from, this_line) = (line_start, line);
            line_start = at + 1;
            line += 1;
            // `\r\n` ends a line too (the `\r` cannot be a separator).
            if let Cut::Slice(_, end, false) = &mut field {
                if at > from && body[at - 1] == b'\r' {
                    *end = at - 1;
                }
            }
            if fields.is_empty() && matches!(field, Cut::Slice(_, end, false) if end == from) {
                continue; // a blank line
            }
            fields.push(field);
            let offset = start + after_record;
            after_record = at + 1;
            if header_left {
                header_left = false;
            } else {
                let cut = fields.iter().map(|field| match *field {
                    Cut::Slice(from, to, quoted) => Field {
                        text: text.get(from..to).unwrap_or_default(),
                        quoted,
                    },
                    Cut::Copied(i) => Field {
                        text: &copies[i],
                        quoted: true,
                    },
                });
                if self.values(this_line, fields.len(), cut, &mut builders, &mut out) {
                    out.row_lines.push(u32::try_from(this_line).unwrap_or(u32::MAX));
                    out.row_offsets.push(u32::try_from(offset).unwrap_or(u32::MAX));
                }
            }
            fields.clear();
            copies.clear();
        }
        let columns = builders.iter_mut().map(ColumnBuilder::finish).collect();
        // (Should the batch not build, the slower path says why.)
        let Ok(batch) = RecordBatch::try_new(self.parse_schema.clone(), columns) else {
            return Err(block);
        };
        Ok(Parsed {
            index: block.index,
            lines: line - 1 - u64::from(tail.is_some()),
            bytes: block.bytes,
            batch,
            row_lines: out.row_lines,
            row_offsets: out.row_offsets,
            problems: out.problems,
            total: out.total,
            unfinished: None,
            header_left,
            stopped: false,
            last: block.last,
        })
    }

    /// Parses one block record by record with the CSV reader: any block.
    fn parse_records(&self, block: Block) -> Result<Parsed, DataError> {
        let last = block.last;
        let mut builders = self.builders(&block.bytes);
        let mut reader = CsvReader::<std::io::Empty>::from_block(block.bytes, &self.opts, block.index == 0, !last);
        let mut out = BlockOut::default();
        let mut rec = Record::new();
        let mut header_left = block.header;
        loop {
            let more = match reader.read_record(&mut rec) {
                Ok(more) => more,
                Err(DataError::Invalid { problems, .. }) => {
                    problems.into_iter().for_each(|p| out.problem(0, p));
                    out.stopped = true;
                    false
                }
                Err(e) => return Err(e),
            };
            if !more {
                break;
            }
            if header_left {
                header_left = false;
                continue;
            }
            if self.record(&rec, &mut builders, &mut out) {
                out.row_lines.push(u32::try_from(rec.line()).unwrap_or(u32::MAX));
                out.row_offsets.push(u32::try_from(reader.record_offset()).unwrap_or(u32::MAX));
            }
        }
        let columns = builders.iter_mut().map(ColumnBuilder::finish).collect();
        let batch = RecordBatch::try_new(self.parse_schema.clone(), columns)?;
        let unfinished = reader.unfinished();
        Ok(Parsed {
            index: block.index,
            lines: reader.line() - 1,
            bytes: reader.into_block(),
            batch,
            row_lines: out.row_lines,
            row_offsets: out.row_offsets,
            problems: out.problems,
            total: out.total,
            unfinished,
            header_left,
            stopped: out.stopped,
            last,
        })
    }

    /// Empty columns for the rows of `block`, with room for a row per line
    /// (a record ends at a line break or at the end) and for text as long
    /// as the block, so that they never grow: their memory is what the
    /// block needs and is touched once (room never written to is never
    /// touched).
    fn builders(&self, block: &[u8]) -> Vec<ColumnBuilder> {
        let rows = memchr::memchr_iter(b'\n', block).count() + 1;
        self.types.iter().map(|&ty| ColumnBuilder::new(ty, rows, block.len())).collect()
    }

    /// Appends one record's values; `false` when the record was skipped.
    fn record(&self, rec: &Record, builders: &mut [ColumnBuilder], out: &mut BlockOut) -> bool {
        let line = rec.line();
        match rec.fields() {
            Err(e) if rec.len() == self.targets.len() => {
                let column = self.targets.get(e.field).map_or("", |t| t.name.as_str());
                out.problem(0, Problem::new(line, column, &e.lossy, "UTF-8 text"));
                false
            }
            // A wrong number of fields is the problem to report first, so
            // `values` sees the count before any field.
            fields => self.values(line, rec.len(), fields.into_iter().flatten(), builders, out),
        }
    }

    /// Appends the values of the `count` fields of the record on `line`;
    /// `false` when the record was skipped (it has the wrong number of them).
    fn values<'f>(
        &self,
        line: u64,
        count: usize,
        fields: impl Iterator<Item = Field<'f>>,
        builders: &mut [ColumnBuilder],
        out: &mut BlockOut,
    ) -> bool {
        if count != self.targets.len() {
            let expected = count_fields(self.targets.len());
            out.problem(0, Problem::new(line, "", &count_fields(count), expected));
            return false;
        }
        for (i, field) in fields.enumerate() {
            let target = &self.targets[i];
            let builder = &mut builders[target.stored];
            match value(target, field, self.null_text.as_deref()) {
                None => {
                    builder.push_null();
                    if i == self.key {
                        out.problem(i, Problem::new(line, &target.name, "", "a value (the primary key cannot be null)"));
                    }
                }
                Some(text) => {
                    if let Err(expected) = builder.push(text) {
                        out.problem(i, Problem::new(line, &target.name, text, expected));
                    }
                }
            }
        }
        for &c in &self.calculated {
            builders[c].push_null();
        }
        true
    }
}

/// What parsing a block found besides its rows.
#[derive(Default)]
struct BlockOut {
    row_lines: Vec<u32>,
    row_offsets: Vec<u32>,
    problems: Vec<Placed>,
    total: u64,
    stopped: bool,
}

impl BlockOut {
    fn problem(&mut self, column: usize, p: Problem) {
        self.total += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push((column, p));
        }
    }
}

/// A field of a line cut in place: a slice of the block (its start, its
/// end, whether it was quoted) or a quoted field's copied text.
#[derive(Clone, Copy)]
enum Cut {
    Slice(usize, usize, bool),
    Copied(usize),
}

/// The text of the quoted field whose opening quote is at `open` in
/// `body`, by the reader's rules (`csv/reader.rs`): inside quotes a doubled
/// quote is one quote, the escape character before a quote or itself is
/// that character and before anything else itself; bytes after the closing
/// quote up to the separator or line break are data, but for a `\r` before
/// the line break. Also where the field ends (its separator, its line
/// break, or the end of `body`). `None` when a line break inside quotes
/// makes the record span lines, or the quote never closes.
fn unquote(body: &[u8], open: usize, sep: u8, quote: u8, esc: u8) -> Option<(String, usize)> {
    let mut copy = Vec::new();
    let mut at = open + 1;
    loop {
        let rest = &body[at..];
        let found = if quote == esc {
            memchr::memchr2(quote, b'\n', rest)
        } else {
            memchr::memchr3(quote, esc, b'\n', rest)
        }?;
        copy.extend_from_slice(&rest[..found]);
        at += found;
        let (byte, next) = (body[at], body.get(at + 1).copied());
        if byte == b'\n' {
            return None;
        }
        if byte == quote {
            if next != Some(quote) {
                break; // the closing quote
            }
            copy.push(quote);
            at += 2;
        } else if let Some(escaped) = next.filter(|&b| b == quote || b == esc) {
            copy.push(escaped);
            at += 2;
        } else {
            copy.push(esc);
            at += 1;
        }
    }
    let after = at + 1;
    let end = memchr::memchr2(sep, b'\n', &body[after..]).map_or(body.len(), |i| after + i);
    let mut data = &body[after..end];
    if body.get(end) == Some(&b'\n') {
        data = data.strip_suffix(b"\r").unwrap_or(data);
    }
    copy.extend_from_slice(data);
    String::from_utf8(copy).ok().map(|text| (text, end))
}

/// The merger: parsed blocks in input order, primary keys checked across
/// them, problems in file order, batches to the writer.
struct Merger<'a> {
    parser: &'a Parser,
    tx: mpsc::Sender<Msg>,
    keys: KeySet,
    rows: u64,
    bytes: u64,
    /// The line the next block starts on.
    line: u64,
    problems: Vec<Problem>,
    total: u64,
    sent: bool,
}

impl<'a> Merger<'a> {
    fn new(parser: &'a Parser, tx: mpsc::Sender<Msg>) -> Self {
        Merger {
            parser,
            tx,
            keys: KeySet::default(),
            rows: 0,
            bytes: 0,
            line: 1,
            problems: Vec::new(),
            total: 0,
            sent: false,
        }
    }

    fn run(mut self, parsed: std_mpsc::Receiver<Result<Parsed, DataError>>) -> Result<Summary, DataError> {
        let mut waiting = BTreeMap::new();
        let mut next = 0;
        // A record the previous block ended inside: its bytes, its line, and
        // whether it is the header.
        let mut carried: Option<(Vec<u8>, u64, bool)> = None;
        let mut header_pending = false;
        for got in parsed {
            let got = got?;
            waiting.insert(got.index, got);
            while let Some(mut block) = waiting.remove(&next) {
                next += 1;
                if carried.is_some() || header_pending {
                    // The worker took this block to begin with a record and
                    // to hold no header. Either a record was left open before
                    // it, or the header is still ahead: parse it again, joined
                    // to that record. (A quote never closed makes the record
                    // grow until the reader refuses it at `MAX_RECORD_BYTES`.)
                    let (bytes, line, header) = match carried.take() {
                        Some((mut bytes, line, header)) => {
                            bytes.extend_from_slice(&block.bytes);
                            (bytes, line, header)
                        }
                        None => (std::mem::take(&mut block.bytes), self.line, true),
                    };
                    self.line = line;
                    let last = block.last;
                    block = self.parser.parse(Block {
                        index: block.index,
                        bytes,
                        header,
                        last,
                    })?;
                }
                // Blank lines before the header: it is in a later block.
                header_pending = block.header_left && block.unfinished.is_none();
                let mut consumed = block.bytes.len();
                let start_line = self.line;
                if let Some((offset, line)) = block.unfinished {
                    consumed = offset;
                    carried = Some((block.bytes[offset..].to_vec(), start_line + line - 1, block.header_left));
                }
                self.line = start_line + block.lines;
                let stopped = block.stopped;
                self.take(block, start_line - 1, consumed as u64)?;
                if stopped {
                    return Ok(self.finish());
                }
            }
        }
        Ok(self.finish())
    }

    /// Takes a block's rows and problems (its lines are `base` + relative).
    fn take(&mut self, block: Parsed, base: u64, consumed: u64) -> Result<(), DataError> {
        // With the row of a repeated key, whose text is looked up if kept.
        let mut placed: Vec<(usize, Problem, Option<usize>)> = block
            .problems
            .into_iter()
            .map(|(column, mut p)| {
                p.line += base;
                (column, p, None)
            })
            .collect();
        let mut total = block.total;
        let key = &self.parser.targets[self.parser.key];
        for (row, value) in self.repeated_keys(&block.batch) {
            total += 1;
            let line = base + u64::from(block.row_lines[row]);
            let p = Problem::new(line, &key.name, &value, "a unique value (the primary key repeats)");
            if placed.len() < 2 * MAX_PROBLEMS {
                placed.push((self.parser.key, p, Some(row)));
            }
        }
        // Stable: a line's problems stay in column order.
        placed.sort_by_key(|(column, p, _)| (p.line, *column));
        self.total += total;
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        for (_, mut p, row) in placed.into_iter().take(room) {
            // The key as the file writes it (`01`, not `1`).
            if let Some(text) = row.and_then(|row| self.key_text(&block.bytes, block.row_offsets[row] as usize)) {
                p = Problem::new(p.line, &p.column, &text, p.expected);
            }
            self.problems.push(p);
        }
        self.rows += block.batch.num_rows() as u64;
        self.bytes += consumed;
        let progress = Progress {
            rows: self.rows,
            bytes: self.bytes,
        };
        let msg = if self.total == 0 {
            self.sent = true;
            // Without problems the key has no NULL; calculated columns are
            // filled only now, once per row (a block may be parsed twice).
            let batch = RecordBatch::try_new(self.parser.schema.clone(), block.batch.columns().to_vec())?;
            Msg::Batch(self.parser.areas.apply(batch)?, progress)
        } else {
            Msg::Progress(progress)
        };
        // The receiver is gone only when writing failed; that error is the
        // one the load reports.
        self.tx
            .blocking_send(msg)
            .map_err(|_| DataError::Io(std::io::Error::other("the writer stopped")))
    }

    /// The primary key's text in the record at `offset` of a block.
    fn key_text(&self, block: &[u8], offset: usize) -> Option<String> {
        let mut reader = CsvReader::new(block.get(offset..)?, &self.parser.opts);
        let mut rec = Record::new();
        reader.read_record(&mut rec).ok()?;
        let field = rec.fields().ok()?.nth(self.parser.key)?;
        Some(field.text.to_owned())
    }

    /// The rows of `batch` whose primary key an earlier row has, with the
    /// key as text. (Rows whose key is NULL or did not parse have their own
    /// problem already.)
    fn repeated_keys(&mut self, batch: &RecordBatch) -> Vec<(usize, String)> {
        let target = &self.parser.targets[self.parser.key];
        let column = batch.column(target.stored);
        let keys = &mut self.keys;
        let mut repeated = Vec::new();
        let mut check = |row: usize, fresh: bool, text: &dyn Fn() -> String| {
            if !fresh {
                repeated.push((row, text()));
            }
        };
        match target.ty {
            PropertyType::Integer | PropertyType::Bigint => {
                for (row, v) in column.as_primitive::<Int64Type>().iter().enumerate() {
                    if let Some(v) = v {
                        check(row, keys.insert_int(v), &|| v.to_string());
                    }
                }
            }
            PropertyType::Decimal | PropertyType::Latitude | PropertyType::Longitude => {
                for (row, v) in column.as_primitive::<Float64Type>().iter().enumerate() {
                    if let Some(v) = v {
                        // -0.0 and 0.0 are one key.
                        check(row, keys.insert(&(v + 0.0).to_bits().to_le_bytes()), &|| v.to_string());
                    }
                }
            }
            PropertyType::Date => {
                for (row, v) in column.as_primitive::<Date32Type>().iter().enumerate() {
                    if let Some(v) = v {
                        check(row, keys.insert(&i64::from(v).to_le_bytes()), &|| format_date(v));
                    }
                }
            }
            PropertyType::Boolean => {
                for (row, v) in column.as_boolean().iter().enumerate() {
                    if let Some(v) = v {
                        check(row, keys.insert(&u64::from(v).to_le_bytes()), &|| v.to_string());
                    }
                }
            }
            PropertyType::String => {
                for (row, v) in column.as_string::<i32>().iter().enumerate() {
                    if let Some(v) = v {
                        check(row, keys.insert(v.as_bytes()), &|| v.to_owned());
                    }
                }
            }
            PropertyType::Geometry => {
                for (row, v) in column.as_binary::<i32>().iter().enumerate() {
                    if let Some(v) = v {
                        check(row, keys.insert(v), &|| crate::geometry::wkb_to_wkt(v).unwrap_or_default());
                    }
                }
            }
        }
        repeated
    }

    fn finish(mut self) -> Summary {
        if !self.sent && self.total == 0 {
            // An input without rows still makes a file, with the schema.
            let empty = RecordBatch::new_empty(self.parser.schema.clone());
            let progress = Progress {
                rows: 0,
                bytes: self.bytes,
            };
            self.sent = self.tx.blocking_send(Msg::Batch(empty, progress)).is_ok();
        }
        Summary {
            rows: self.rows,
            bytes: self.bytes,
            problems: self.problems,
            total: self.total,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::compute::concat_batches;
    use serde_json::json;

    /// Parses `csv` in blocks of `block_bytes`: the rows as one batch, and
    /// the summary's problems and count.
    fn parse(def: &DatasetDef, opts: &CsvOptions, csv: &[u8], block_bytes: usize) -> (RecordBatch, Vec<Problem>, u64, u64) {
        let mut parser = Parser::new(def, opts, Arc::default()).unwrap();
        parser.block_bytes = block_bytes;
        let (tx, mut rx) = mpsc::channel(1);
        let batches = std::thread::spawn(move || {
            let mut batches = Vec::new();
            while let Some(msg) = rx.blocking_recv() {
                if let Msg::Batch(b, _) = msg {
                    batches.push(b);
                }
            }
            batches
        });
        let summary = parser.run(csv, tx).unwrap();
        let batches = batches.join().unwrap();
        let batch = concat_batches(&def.arrow_schema(), &batches).unwrap();
        (batch, summary.problems, summary.total, summary.rows)
    }

    /// A dataset of four loaded columns of four types and a calculated one.
    fn notes() -> DatasetDef {
        DatasetDef::from_metadata(
            "t",
            &json!({"type": "dwh", "subtype": "basic", "primaryKey": "id", "properties": [
                {"name": "id", "column": "id", "type": "integer"},
                {"name": "note", "column": "note", "type": "string"},
                {"name": "price", "column": "price", "type": "decimal"},
                {"name": "day", "column": "day", "type": "date"},
                {"name": "zone", "column": "zone", "type": "string", "foreignKey": "zones", "calculated": true}
            ]}),
        )
        .unwrap()
    }

    /// What a parsed block holds, to compare the two ways of parsing it.
    fn parts(p: Parsed) -> impl std::fmt::Debug + PartialEq {
        let shape = (p.index, p.bytes, p.row_lines, p.row_offsets, p.lines, p.problems, p.total);
        (shape, p.batch, p.unfinished, p.header_left, p.stopped, p.last)
    }

    /// A block whose records are its lines is cut in place; whatever it
    /// holds (line endings, blank lines, a byte-order mark, fields too many
    /// or too few, values that do not parse, NULLs, quoted fields and values,
    /// doubled and escaped quotes, bytes after a closing quote, quotes inside
    /// unquoted fields, text beyond ASCII), the outcome is the reader's,
    /// record by record.
    #[test]
    fn blocks_cut_in_place_are_parsed_as_the_reader_parses_them() {
        let def = notes();
        let inputs: &[&[u8]] = &[
            b"id,note,price,day\n1,a,1.5,2024-01-01\n\n2,b,2,2024-01-02\n",
            b"\xEF\xBB\xBFid,note,price,day\r\n1,a,1,2024-01-01\r\n\r\n\r\n3,x,3,2024-01-03",
            b"\n\nid,note,price,day\n1,a,x,2024-01-01\n1,b,2,2024-02-30\n,c,3,2024-01-01\n4,d\n5,e,5,2024-01-01,6\n",
            b"7,\xC5\xBElu\xC5\xA5,1,2024-01-01\n8,a\rb,NA,\n9,,1,NA\r\n10,  ,1 , 2024-01-01\n11,a,1,",
            b",,,\n,\r\n\r\n",
            b"id,note,price,day\n1,\"a,b\",\"1.5\",\"2024-01-01\"\n2,\"\",\"\",2024-01-02\r\n3,\"x\"\r\n4,a\"b\",4,2024-01-04\n",
            b"\"id\",\"note\",\"price\",\"day\"\n\"5\",\" \xC5\xBE \",NA,\"NA\"\n\"\"\n\"6\",\"\",,\"\"",
            b"\"\"\n\"\",\"\"\r\n\"7\",a\\b,\"\",",
            b"1,\"a\"\"b\",1,2024-01-01\n2,\"a\\\"b\",\"\"\"\",2024-01-01\n3,\"a\\b\\\\\",1,\"2024\"-01-01\r\n",
            b"4,\"a\"b,1,2024-01-01\n5,\"a\"\rb,1\r\n6,\"a\\\",b\",\"1\"\r\r\n7,\"\"\"\"\"\"",
            b"id,note,price,day\n",
            b"id,note,price,day",
            b"\r\n\n",
            b"",
        ];
        let mut opts = CsvOptions::default();
        for null in [None, Some("NA".to_owned())] {
            opts.null = null;
            for header in [true, false] {
                opts.header = header;
                let parser = Parser::new(&def, &opts, Arc::default()).unwrap();
                for (csv, index, last) in inputs
                    .iter()
                    .flat_map(|csv| [(csv, 0, true), (csv, 0, false), (csv, 3, true), (csv, 3, false)])
                {
                    let block = || Block {
                        index,
                        bytes: csv.to_vec(),
                        header,
                        last,
                    };
                    let text = String::from_utf8_lossy(csv);
                    let cut = match parser.parse_in_place(block()) {
                        Ok(cut) => cut,
                        Err(_) => {
                            // Only a block that ends inside a line is refused.
                            assert!(!last && !csv.ends_with(b"\n"), "{text:?} refused");
                            continue;
                        }
                    };
                    let read = parser.parse_records(block()).unwrap();
                    assert_eq!(parts(cut), parts(read), "{text:?} block {index}, last {last}, header {header}");
                }
            }
        }
        // Line breaks inside quotes, quotes left open, and text that is not
        // UTF-8 are the reader's.
        let parser = Parser::new(&def, &CsvOptions::default(), Arc::default()).unwrap();
        let refused: &[&[u8]] = &[
            b"1,\"a\nb\",1,2024-01-01\n",
            b"1,\"a\\\"\nb\",1,2024-01-01\n",
            b"1,a,1,\"2024-01-01",
            b"1,a,1,\"2024-01-01\\",
            b"1,a\xFF,1,2024-01-01\n",
        ];
        for csv in refused {
            let block = Block {
                index: 1,
                bytes: csv.to_vec(),
                header: false,
                last: true,
            };
            assert!(parser.parse_in_place(block).is_err(), "{:?}", String::from_utf8_lossy(csv));
        }
    }

    /// Blocks drawn at random from the characters that matter (separators,
    /// quotes, the escape, line breaks, blanks, digits, letters, a point):
    /// whatever the in-place path accepts, it parses as the reader does.
    #[test]
    fn random_blocks_cut_in_place_are_parsed_as_the_reader_parses_them() {
        let def = notes();
        let alphabet = b",\"\\\n\r 1a.-";
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut accepted = 0;
        for round in 0..40_000 {
            let len = (next() % 48) as usize;
            let mut csv: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            if round % 2 == 0 {
                csv.push(b'\n');
            }
            let opts = CsvOptions {
                header: round % 3 == 0,
                null: (round % 5 == 0).then(|| "a".to_owned()),
                ..CsvOptions::default()
            };
            let parser = Parser::new(&def, &opts, Arc::default()).unwrap();
            let block = || Block {
                index: (round % 2) as u64,
                bytes: csv.clone(),
                header: opts.header,
                last: round % 4 < 2,
            };
            if let Ok(cut) = parser.parse_in_place(block()) {
                accepted += 1;
                let read = parser.parse_records(block()).unwrap();
                assert_eq!(parts(cut), parts(read), "{:?}", String::from_utf8_lossy(&csv));
            }
        }
        // Most of them are, so the comparison is not empty.
        assert!(accepted > 10_000, "{accepted} accepted");
    }

    /// Blocks are parsed apart and merged: whatever their size (down to a
    /// byte, which cuts inside every record and quote), the rows, problems
    /// (lines, order, values) and counts are those of one block.
    #[test]
    fn any_block_size_gives_the_outcome_of_one_block() {
        let def = notes();
        let inputs: &[&[u8]] = &[
            b"id,note,price,day\n1,a,1.5,2024-01-01\n2,\"b\nc\",2,2024-01-02\n\n3,\"\"\"q\"\"\",3,2024-01-03\n",
            b"\xEF\xBB\xBFid,note,price,day\r\n1,a,1,2024-01-01\r\n2,\"multi\r\nline\r\n\",2,2024-01-02\r\n3,x,3,2024-01-03",
            b"id,note,price,day\n1,a,x,2024-01-01\n1,b,2,2024-02-30\n,c,3,2024-01-01\n4,d\n5,\"e\nf\",5,2024-01-01\n05,g,6,2024-01-01\n",
            b"id,note,price,day\n1,a,1,2024-01-01\n2,\"never closed\n3,b,2,2024-01-01\n",
            b"\"id\nx\",note,price,day\n7,a,1,2024-01-01\n7,\"a\",1,2024-01-01\n",
            b"id,note,price,day\n",
            b"",
        ];
        let opts = CsvOptions::default();
        for csv in inputs {
            let (whole, problems, total, rows) = parse(&def, &opts, csv, 1 << 20);
            for block_bytes in [1, 2, 3, 5, 8, 13, 21, 34] {
                let (batch, p, t, r) = parse(&def, &opts, csv, block_bytes);
                let text = String::from_utf8_lossy(csv);
                if total == 0 {
                    // (With a problem, rows sent before it are thrown away.)
                    assert_eq!(batch, whole, "{text:?} in blocks of {block_bytes}");
                }
                assert_eq!(
                    (p.clone(), t, r),
                    (problems.clone(), total, rows),
                    "{text:?} in blocks of {block_bytes}"
                );
            }
        }
        // The third input's problems, in file order, with their lines.
        let (_, problems, total, rows) = parse(&def, &opts, inputs[2], 5);
        let got: Vec<_> = problems.iter().map(|p| (p.line, p.column.as_str(), p.value.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "price", "x"),
                (3, "id", "1"),
                (3, "day", "2024-02-30"),
                (4, "id", ""),
                (5, "", "2 fields"),
                (8, "id", "05")
            ]
        );
        assert_eq!((total, rows), (6, 5));
        let (_, problems, _, _) = parse(&def, &opts, inputs[3], 7);
        assert_eq!((problems.len(), problems[0].line), (1, 3), "{problems:?}");
    }
}

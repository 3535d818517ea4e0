//! The CSV reader: a byte-level state machine over any `io::Read`, in chunks.
//!
//! Hand-written because the `csv` crate cannot tell a quoted empty field
//! (`""`, an empty string) from an unquoted one (NULL). It is on the hot path
//! of every load, so a record's fields are appended to one reusable buffer
//! with their end offsets, and unquoted and quoted runs are found with
//! `memchr` rather than byte by byte.
//!
//! Rules (data-plane.md §2): lines end with `\n` or `\r\n`; a quote opens a
//! quoted field only at the start of a field (elsewhere it is data); inside
//! quotes a doubled quote is one quote, the escape character before a quote
//! or itself yields that character and before anything else is literal, and
//! line breaks are data; bytes after a closing quote up to the next separator
//! are appended as data. Blank lines are skipped. A leading UTF-8 byte-order
//! mark is ignored. UTF-8 is checked per record by [`Record::fields`].

use std::io::{ErrorKind, Read};

use memchr::{memchr2, memchr3};

use super::{CsvOptions, Record};
use crate::{DataError, Problem};

/// Bytes read from the input at a time.
const CHUNK: usize = 256 * 1024;

/// The UTF-8 byte-order mark, skipped at the start of the input.
pub const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// The longest record accepted, so that an unterminated quote cannot make the
/// reader hold the rest of a huge file.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

#[derive(Clone, Copy)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside quotes: the closing one, or the first of a doubled one.
    QuoteInQuoted,
    EscapeInQuoted,
}

pub struct CsvReader<R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    started: bool,
    separator: u8,
    quote: u8,
    escape: u8,
    /// The physical line at `pos`, 1-based.
    line: u64,
    consumed: u64,
    /// The input is one block of a larger one and may end inside a record,
    /// whose rest comes with the next block (see [`CsvReader::from_block`]).
    partial: bool,
    /// Where the record being read started: its offset in `buf` and its line.
    record_start: (usize, u64),
    /// Set when a partial input ended inside a record: that record's start.
    unfinished: Option<(usize, u64)>,
}

impl<R: Read> CsvReader<R> {
    /// A reader with the options' separator, quote and escape; `header` is
    /// the caller's business (the first record is the header).
    pub fn new(input: R, opts: &CsvOptions) -> Self {
        Self::with_buffer(input, vec![0; CHUNK].into_boxed_slice(), 0, opts)
    }

    /// A reader whose buffer holds `end` bytes of input already.
    fn with_buffer(input: R, buf: Box<[u8]>, end: usize, opts: &CsvOptions) -> Self {
        CsvReader {
            input,
            buf,
            pos: 0,
            end,
            started: false,
            separator: opts.separator,
            quote: opts.quote,
            escape: opts.escape,
            line: 1,
            consumed: end as u64,
            partial: false,
            record_start: (0, 1),
            unfinished: None,
        }
    }

    /// A reader of one block of a file held in memory, for parsing blocks
    /// in parallel. `first`: the block starts the file (a byte-order mark is
    /// skipped). `partial`: more blocks follow, so the block may end inside
    /// a record; reading then stops before that record and
    /// [`CsvReader::unfinished`] tells where it began.
    pub fn from_block(block: Vec<u8>, opts: &CsvOptions, first: bool, partial: bool) -> CsvReader<std::io::Empty> {
        let end = block.len();
        let mut reader = CsvReader::with_buffer(std::io::empty(), block.into_boxed_slice(), end, opts);
        reader.started = !first;
        reader.partial = partial;
        reader
    }

    /// For a partial block that ended inside a record: the offset in the
    /// block where that record starts, and its line (relative to the block).
    pub fn unfinished(&self) -> Option<(usize, u64)> {
        self.unfinished
    }

    /// The block a reader of [`CsvReader::from_block`] read, back.
    pub fn into_block(self) -> Vec<u8> {
        self.buf.into_vec()
    }

    /// Where the last record read began (its offset in a block, or at or
    /// before it: blank lines before it may be included).
    pub fn record_offset(&self) -> usize {
        self.record_start.0
    }

    /// Physical lines begun so far, 1-based.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Input bytes parsed so far.
    pub fn position(&self) -> u64 {
        self.consumed - (self.end - self.pos) as u64
    }

    /// Reads the next record into `rec`; `false` at the end of the input.
    /// An unterminated quote or an overlong record is an `Invalid` error.
    pub fn read_record(&mut self, rec: &mut Record) -> Result<bool, DataError> {
        if !self.started {
            self.start()?;
        }
        rec.clear(self.line);
        self.record_start = (self.pos, self.line);
        let (sep, quote, esc) = (self.separator, self.quote, self.escape);
        let mut state = State::FieldStart;
        let mut quoted = false;
        // Where the current field's bytes stop coming from inside quotes: a
        // `\r` before the line break is stripped only after this.
        let mut protected = 0;
        loop {
            if self.pos == self.end && !self.fill()? {
                return self.at_eof(rec, state, quoted, protected);
            }
            let chunk = &self.buf[self.pos..self.end];
            match state {
                State::FieldStart => {
                    protected = rec.data.len();
                    quoted = chunk[0] == quote;
                    if quoted {
                        self.pos += 1;
                        state = State::Quoted;
                    } else {
                        state = State::Unquoted;
                    }
                }
                State::Unquoted => match memchr2(sep, b'\n', chunk) {
                    None => {
                        rec.data.extend_from_slice(chunk);
                        self.pos = self.end;
                        check_size(rec)?;
                    }
                    Some(i) => {
                        rec.data.extend_from_slice(&chunk[..i]);
                        let byte = chunk[i];
                        self.pos += i + 1;
                        if byte == sep {
                            rec.end_field(quoted);
                            state = State::FieldStart;
                            continue;
                        }
                        self.line += 1;
                        if rec.data.len() > protected && rec.data.last() == Some(&b'\r') {
                            rec.data.pop();
                        }
                        if rec.ends.is_empty() && rec.data.is_empty() && !quoted {
                            rec.line = self.line; // a blank line
                            state = State::FieldStart;
                            continue;
                        }
                        rec.end_field(quoted);
                        return Ok(true);
                    }
                },
                State::Quoted => {
                    let found = if quote == esc {
                        memchr2(quote, b'\n', chunk)
                    } else {
                        memchr3(quote, esc, b'\n', chunk)
                    };
                    match found {
                        None => {
                            rec.data.extend_from_slice(chunk);
                            self.pos = self.end;
                        }
                        Some(i) => {
                            rec.data.extend_from_slice(&chunk[..i]);
                            let byte = chunk[i];
                            self.pos += i + 1;
                            if byte == b'\n' {
                                self.line += 1;
                                rec.data.push(b'\n');
                            } else if byte == quote {
                                state = State::QuoteInQuoted;
                            } else {
                                state = State::EscapeInQuoted;
                            }
                        }
                    }
                    check_size(rec)?;
                }
                State::QuoteInQuoted => {
                    if chunk[0] == quote {
                        rec.data.push(quote);
                        self.pos += 1;
                        state = State::Quoted;
                    } else {
                        protected = rec.data.len();
                        state = State::Unquoted;
                    }
                }
                State::EscapeInQuoted => {
                    let byte = chunk[0];
                    if byte == quote || byte == esc {
                        rec.data.push(byte);
                        self.pos += 1;
                    } else {
                        rec.data.push(esc);
                    }
                    state = State::Quoted;
                }
            }
        }
    }

    fn at_eof(&mut self, rec: &mut Record, state: State, quoted: bool, protected: usize) -> Result<bool, DataError> {
        if self.partial {
            let blank = matches!(state, State::FieldStart | State::Unquoted) && rec.ends.is_empty() && rec.data.is_empty() && !quoted;
            if !blank {
                self.unfinished = Some(self.record_start);
            }
            return Ok(false);
        }
        match state {
            State::FieldStart if rec.ends.is_empty() => Ok(false),
            State::FieldStart => {
                rec.end_field(false);
                Ok(true)
            }
            State::Unquoted => {
                if rec.data.len() > protected && rec.data.last() == Some(&b'\r') {
                    rec.data.pop();
                }
                if rec.ends.is_empty() && rec.data.is_empty() && !quoted {
                    return Ok(false);
                }
                rec.end_field(quoted);
                Ok(true)
            }
            State::QuoteInQuoted => {
                rec.end_field(true);
                Ok(true)
            }
            State::Quoted | State::EscapeInQuoted => Err(DataError::invalid(Problem::new(
                rec.line,
                "",
                "",
                "a record whose quotes are closed (a quote is still open at the end of the file)",
            ))),
        }
    }

    /// Reads the first bytes and skips a byte-order mark.
    fn start(&mut self) -> Result<(), DataError> {
        self.started = true;
        while self.end < 3 {
            let n = read_retrying(&mut self.input, &mut self.buf[self.end..])?;
            if n == 0 {
                break;
            }
            self.end += n;
            self.consumed += n as u64;
        }
        if self.buf[..self.end].starts_with(BOM) {
            self.pos = 3;
        }
        Ok(())
    }

    /// Refills the buffer once it is used up; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool, DataError> {
        let n = read_retrying(&mut self.input, &mut self.buf)?;
        self.pos = 0;
        self.end = n;
        self.consumed += n as u64;
        Ok(n > 0)
    }
}

fn read_retrying(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn check_size(rec: &Record) -> Result<(), DataError> {
    if rec.data.len() <= MAX_RECORD_BYTES {
        return Ok(());
    }
    Err(DataError::invalid(Problem::new(
        rec.line,
        "",
        "",
        format!("a record of at most {} MiB (is a quote left open?)", MAX_RECORD_BYTES >> 20),
    )))
}

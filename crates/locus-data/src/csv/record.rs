//! One CSV record: its fields' bytes in one buffer, reused from record to
//! record, so that reading allocates nothing per field.

/// One field of a record, as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub text: &'a str,
    /// The field was enclosed in quotes (so an empty one is `""`).
    pub quoted: bool,
}

/// One record: its fields' bytes, reused from record to record.
#[derive(Debug, Default)]
pub struct Record {
    // The reader appends to these directly (hot path).
    pub(super) data: Vec<u8>,
    pub(super) ends: Vec<usize>,
    quoted: Vec<bool>,
    pub(super) line: u64,
}

/// A record whose bytes are not UTF-8: which field, and its text with the bad
/// bytes replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUtf8 {
    pub field: usize,
    pub lossy: String,
}

impl Record {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The 1-based physical line where the record starts.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn range(&self, i: usize) -> (usize, usize) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (start, self.ends[i])
    }

    /// The fields as text, or the first field that is not UTF-8.
    pub fn fields(&self) -> Result<impl Iterator<Item = Field<'_>> + '_, NotUtf8> {
        let text = std::str::from_utf8(&self.data).map_err(|e| self.not_utf8(e.valid_up_to()))?;
        // Valid as a whole, but a multi-byte character could still straddle
        // two fields' boundary.
        if let Some(&end) = self.ends.iter().find(|&&e| !text.is_char_boundary(e)) {
            return Err(self.not_utf8(end));
        }
        Ok((0..self.len()).map(move |i| {
            let (start, end) = self.range(i);
            Field {
                text: text.get(start..end).unwrap_or_default(),
                quoted: self.quoted[i],
            }
        }))
    }

    fn not_utf8(&self, byte: usize) -> NotUtf8 {
        let field = self.ends.iter().position(|&e| e > byte).unwrap_or(self.len().saturating_sub(1));
        let (start, end) = if self.is_empty() { (0, 0) } else { self.range(field) };
        NotUtf8 {
            field,
            lossy: String::from_utf8_lossy(&self.data[start..end]).into_owned(),
        }
    }

    pub(super) fn clear(&mut self, line: u64) {
        self.data.clear();
        self.ends.clear();
        self.quoted.clear();
        self.line = line;
    }

    pub(super) fn end_field(&mut self, quoted: bool) {
        self.ends.push(self.data.len());
        self.quoted.push(quoted);
    }
}

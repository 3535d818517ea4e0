//! Typed Arrow columns built from CSV text, one builder per stored property.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder};

use crate::geometry;
use crate::schema::PropertyType;

/// A column under construction. `push` parses one value; on failure it
/// appends a NULL (so that columns stay aligned) and says what was expected.
pub(crate) enum ColumnBuilder {
    Int(Int64Builder),
    Float(Float64Builder, PropertyType),
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Geometry(BinaryBuilder),
}

impl ColumnBuilder {
    /// A column with room for `rows` values of, for text, `bytes` in all.
    pub(crate) fn new(ty: PropertyType, rows: usize, bytes: usize) -> Self {
        match ty {
            PropertyType::Integer | PropertyType::Bigint => Self::Int(Int64Builder::with_capacity(rows)),
            PropertyType::Decimal | PropertyType::Latitude | PropertyType::Longitude => {
                Self::Float(Float64Builder::with_capacity(rows), ty)
            }
            PropertyType::String => Self::Str(StringBuilder::with_capacity(rows, bytes)),
            PropertyType::Boolean => Self::Bool(BooleanBuilder::with_capacity(rows)),
            PropertyType::Date => Self::Date(Date32Builder::with_capacity(rows)),
            PropertyType::Geometry => Self::Geometry(BinaryBuilder::with_capacity(rows, rows * 64)),
        }
    }

    pub(crate) fn push_null(&mut self) {
        match self {
            Self::Int(b) => b.append_null(),
            Self::Float(b, _) => b.append_null(),
            Self::Str(b) => b.append_null(),
            Self::Bool(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Geometry(b) => b.append_null(),
        }
    }

    /// Appends the value `text` holds; `Err(expected)` when it holds none.
    pub(crate) fn push(&mut self, text: &str) -> Result<(), &'static str> {
        let outcome = match self {
            Self::Str(b) => {
                b.append_value(text);
                return Ok(());
            }
            Self::Int(b) => parse_int(text).map(|v| b.append_value(v)).ok_or("an integer"),
            Self::Float(b, ty) => parse_float(text, *ty).map(|v| b.append_value(v)).ok_or(match ty {
                PropertyType::Latitude => "a latitude (a number from -90 to 90)",
                PropertyType::Longitude => "a longitude (a number from -180 to 180)",
                _ => "a decimal number",
            }),
            Self::Bool(b) => parse_bool(text).map(|v| b.append_value(v)).ok_or("a boolean (true, false, 1 or 0)"),
            Self::Date(b) => parse_date(text).map(|v| b.append_value(v)).ok_or("a date (YYYY-MM-DD)"),
            Self::Geometry(b) => geometry::text_to_wkb(text).map(|v| b.append_value(v)).ok_or(geometry::EXPECTED),
        };
        if outcome.is_err() {
            self.push_null();
        }
        outcome
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Int(b) => Arc::new(b.finish()),
            Self::Float(b, _) => Arc::new(b.finish()),
            Self::Str(b) => Arc::new(b.finish()),
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Geometry(b) => Arc::new(b.finish()),
        }
    }
}

/// `text` without the white space around it. Values seldom have any, and
/// an ASCII character other than a space or a control at each end says so
/// without decoding characters (`str::trim` decodes from both ends).
fn trimmed(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

pub(crate) fn parse_int(text: &str) -> Option<i64> {
    trimmed(text).parse().ok()
}

/// `1.5`, `-3`, `1e3`; not `NaN` or infinities, and degrees within range.
pub(crate) fn parse_float(text: &str, ty: PropertyType) -> Option<f64> {
    let text = trimmed(text);
    let v: f64 = match short_decimal(text.as_bytes()) {
        Some(v) => v,
        None => text.parse().ok()?,
    };
    let limit = match ty {
        PropertyType::Latitude => 90.0,
        PropertyType::Longitude => 180.0,
        _ => f64::INFINITY,
    };
    (v.is_finite() && v.abs() <= limit).then_some(v)
}

/// Powers of ten that an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// The usual decimal (`-12.345`: a sign, at most 15 digits and a point)
/// without the general parser, which was a tenth of a load's CPU on a file
/// of amounts and coordinates. Its digits are an integer below 2^53 and
/// its scale a power of ten, both exact as `f64`, so their quotient is the
/// correctly rounded value, as the general parser gives it (Clinger's fast
/// path). `None` for anything else, which the general parser then reads.
fn short_decimal(text: &[u8]) -> Option<f64> {
    let (negative, body) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, text),
    };
    let (mut digits, mut mantissa, mut point) = (0usize, 0u64, None);
    for (i, &c) in body.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = point.map_or(0, |p| body.len() - p - 1);
    let v = mantissa as f64 / EXACT_POWERS_OF_TEN[scale];
    Some(if negative { -v } else { v })
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    let t = trimmed(text);
    if t == "1" || t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t == "0" || t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `YYYY-MM-DD` (a real calendar day) as days since 1970-01-01.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    let b = trimmed(text).as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &[u8]| -> Option<i64> {
        s.iter()
            .try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(&b[..4])?, num(&b[5..7])?, num(&b[8..])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
        return None;
    }
    i32::try_from(days_from_civil(y, m, d)).ok()
}

/// Howard Hinnant's `days_from_civil`: proleptic Gregorian date to days
/// since the Unix epoch.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since the Unix epoch to `YYYY-MM-DD` (Hinnant's `civil_from_days`).
pub(crate) fn format_date(days: i32) -> String {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_refuse_non_days() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        for days in [-719_528, -1, 0, 59, 60, 11_016, 19_782, 2_932_896] {
            assert_eq!(parse_date(&format_date(days)), Some(days), "{days}");
        }
        for bad in ["2023-02-29", "2023-13-01", "2023-1-01", "2023/01/01", "20230101", "", "2023-00-10"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
    }

    /// The short path gives what the general parser gives, bit for bit,
    /// and leaves it everything else.
    #[test]
    fn short_decimals_are_read_as_the_general_parser_reads_them() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "+0",
            "0.1",
            "0.3",
            "1.",
            ".5",
            "-.5",
            "123456789012345",
            "999999999999999",
            "0.000000000000001",
            "9007199254740993",
            "1234567890123456",
            "49.501504",
            "-179.999999",
            "1e3",
            "1.5E-3",
            ".",
            "-",
            "+",
            "",
            "1..2",
            "1.2.3",
            "--1",
            "1-",
            "0x10",
            " 1",
            "1_000",
            "١",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        // Decimals of every length and scale from a fixed pseudo-random walk.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 17) as usize + 1;
            let mut t: String = (0..digits).map(|i| char::from(b'0' + ((x >> (i * 3)) % 10) as u8)).collect();
            let point = (x >> 60) as usize % (digits + 2);
            if point <= digits {
                t.insert(point, '.');
            }
            if x & (1 << 59) != 0 {
                t.insert(0, '-');
            }
            texts.push(t);
        }
        for text in &texts {
            let general: Option<f64> = text.parse().ok();
            match short_decimal(text.as_bytes()) {
                Some(v) => assert_eq!(Some(v.to_bits()), general.map(f64::to_bits), "{text}"),
                None => assert!(
                    text.trim_start_matches(['-', '+']).chars().filter(char::is_ascii_digit).count() > 15
                        || general.is_none()
                        || text.contains(['e', 'E']),
                    "{text} left to the general parser"
                ),
            }
        }
    }

    #[test]
    fn numbers_and_booleans() {
        assert_eq!(parse_float("1e3", PropertyType::Decimal), Some(1000.0));
        assert_eq!(parse_float("NaN", PropertyType::Decimal), None);
        assert_eq!(parse_float("inf", PropertyType::Decimal), None);
        assert_eq!(parse_float("-90", PropertyType::Latitude), Some(-90.0));
        assert_eq!(parse_float("90.5", PropertyType::Latitude), None);
        assert_eq!(parse_float("180", PropertyType::Longitude), Some(180.0));
        assert_eq!(parse_int("1.0"), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        // White space around a value, ASCII or not, is not part of it.
        assert_eq!(parse_int(" 12\t"), Some(12));
        assert_eq!(parse_int("\u{a0}-7\u{2003}"), Some(-7));
        assert_eq!(parse_float("\u{a0}1.5", PropertyType::Decimal), Some(1.5));
        assert_eq!(parse_date(" 2024-02-29\r"), Some(19_782));
        assert_eq!(parse_bool("\u{3000}0"), Some(false));
        assert_eq!(parse_int("1 2"), None);
    }
}

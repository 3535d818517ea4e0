//! The CSV rules of data-plane.md §2, one by one, on the reader itself.

use std::io::Read;

use locus_data::csv::{CsvOptions, CsvReader, Record};
use locus_data::DataError;

/// (line, [(text, quoted)]) per record.
type Parsed = Vec<(u64, Vec<(String, bool)>)>;

fn parse_with(input: impl Read, opts: &CsvOptions) -> Result<Parsed, DataError> {
    let mut reader = CsvReader::new(input, opts);
    let mut rec = Record::new();
    let mut out = Vec::new();
    while reader.read_record(&mut rec)? {
        let fields = rec.fields().unwrap().map(|f| (f.text.to_owned(), f.quoted)).collect();
        out.push((rec.line(), fields));
    }
    Ok(out)
}

/// Parses twice, whole and one byte per read, and checks both agree, so that
/// every rule is also tested across chunk boundaries.
fn parse(input: &str, opts: &CsvOptions) -> Parsed {
    let whole = parse_with(input.as_bytes(), opts).unwrap();
    let trickled = parse_with(OneByte(input.as_bytes()), opts).unwrap();
    assert_eq!(whole, trickled, "{input:?}");
    whole
}

fn fields(input: &str) -> Vec<Vec<(String, bool)>> {
    parse(input, &CsvOptions::default()).into_iter().map(|(_, f)| f).collect()
}

fn f(text: &str, quoted: bool) -> (String, bool) {
    (text.to_owned(), quoted)
}

struct OneByte<'a>(&'a [u8]);

impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn quoted_empty_differs_from_unquoted_empty() {
    assert_eq!(fields("a,,\"\"\n"), [vec![f("a", false), f("", false), f("", true)]]);
    assert_eq!(fields("\"\",\n"), [vec![f("", true), f("", false)]]);
}

#[test]
fn doubled_quotes_and_the_escape_character() {
    assert_eq!(fields("\"say \"\"hi\"\"\",x\n"), [vec![f("say \"hi\"", true), f("x", false)]]);
    assert_eq!(
        fields("\"a\\\"b\",\"c\\\\d\",\"e\\nf\"\n"),
        [vec![f("a\"b", true), f("c\\d", true), f("e\\nf", true)]]
    );
    // Outside quotes the escape character and a quote are plain data.
    assert_eq!(fields("a\\b,c\"d\n"), [vec![f("a\\b", false), f("c\"d", false)]]);
    let same = CsvOptions {
        escape: b'"',
        ..CsvOptions::default()
    };
    assert_eq!(parse("\"x\"\"y\"\n", &same)[0].1, [f("x\"y", true)]);
}

#[test]
fn quoted_fields_keep_line_breaks_and_lines_are_counted() {
    let parsed = parse("h1,h2\n\"one\ntwo\",x\r\n\"3\r\n\",y\nlast,z", &CsvOptions::default());
    assert_eq!(
        parsed,
        [
            (1, vec![f("h1", false), f("h2", false)]),
            (2, vec![f("one\ntwo", true), f("x", false)]),
            (4, vec![f("3\r\n", true), f("y", false)]),
            (6, vec![f("last", false), f("z", false)]),
        ]
    );
}

#[test]
fn crlf_bom_and_blank_lines() {
    assert_eq!(
        fields("\u{feff}a,b\r\nc,\"d\"\r\n\r\n\ne,f\r\n"),
        [
            vec![f("a", false), f("b", false)],
            vec![f("c", false), f("d", true)],
            vec![f("e", false), f("f", false)],
        ]
    );
    // A BOM only counts at the very start.
    assert_eq!(fields("a\n\u{feff}b\n")[1], [f("\u{feff}b", false)]);
    // A trailing separator at the end of the file is one more empty field.
    assert_eq!(fields("a,"), [vec![f("a", false), f("", false)]]);
}

#[test]
fn custom_separator_and_quote() {
    let opts = CsvOptions {
        separator: b';',
        quote: b'\'',
        ..CsvOptions::default()
    };
    assert_eq!(
        parse("a;'b;c';\"d\"\n", &opts)[0].1,
        [f("a", false), f("b;c", true), f("\"d\"", false)]
    );
    let tabs = CsvOptions {
        separator: b'\t',
        ..CsvOptions::default()
    };
    assert_eq!(parse("a,b\tc\n", &tabs)[0].1, [f("a,b", false), f("c", false)]);
}

#[test]
fn an_unterminated_quote_names_the_record_line() {
    let input = "a,b\nc,\"open\nstill\nopen";
    for err in [
        parse_with(input.as_bytes(), &CsvOptions::default()).unwrap_err(),
        parse_with(OneByte(input.as_bytes()), &CsvOptions::default()).unwrap_err(),
    ] {
        match err {
            DataError::Invalid { problems, total: 1 } => {
                assert_eq!(problems[0].line, 2);
                assert!(problems[0].expected.contains("quote"), "{:?}", problems[0]);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn invalid_utf8_names_its_field() {
    let mut reader = CsvReader::new(&b"ok,fine\n\"x\ny\",ab\xffc\n"[..], &CsvOptions::default());
    let mut rec = Record::new();
    assert!(reader.read_record(&mut rec).unwrap());
    assert!(rec.fields().is_ok());
    assert!(reader.read_record(&mut rec).unwrap());
    assert_eq!(rec.line(), 2);
    let err = rec.fields().err().unwrap();
    assert_eq!((err.field, err.lossy.as_str()), (1, "ab\u{fffd}c"));
}

#[test]
fn long_fields_cross_chunks() {
    let long = "x".repeat(700_000);
    let input = format!("\"{long}\",\"{long}\"\"\"\n{long},end\n");
    let parsed = parse_with(input.as_bytes(), &CsvOptions::default()).unwrap();
    assert_eq!(parsed[0].1, [f(&long, true), f(&format!("{long}\""), true)]);
    assert_eq!(parsed[1], (2, vec![f(&long, false), f("end", false)]));
}

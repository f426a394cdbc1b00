//! JSON encoding of a [`Record`]: one object, keys and order from [`Record::FIELDS`], `null` for
//! absent values, `time` as RFC 3339 UTC. Written straight into a reusable byte buffer (no serde
//! on the hot path) by [`Record::write_json`], which the `schema!` macro unrolls per field over
//! constant [`Key`]s; [`Record::from_json`] reads it back with serde, and the tests check both
//! agree. Whether any string needs escaping is decided once per line ([`Escape`],
//! [`scan_line`]): usually none does, and values are copied as they are.
//! The same code, over a [`Counter`], gives a record's exact JSON length without writing it
//! ([`json_len`]), so a caller with a memory budget can size or refuse a record first.

use crate::schema::{Record, Value};
use crate::timestamp::{format_rfc3339, write_rfc3339, RFC3339_MAX};
use std::ops::{Div, Rem};

/// Where JSON bytes go: a `Vec<u8>` (the encoder) or a [`Counter`] (the exact length).
pub trait Sink {
    fn push(&mut self, b: u8);
    fn extend(&mut self, b: &[u8]);
    /// Appends a timestamp as RFC 3339 UTC.
    fn rfc3339(&mut self, t: crate::schema::Timestamp);
}

impl Sink for Vec<u8> {
    #[inline]
    fn push(&mut self, b: u8) {
        Vec::push(self, b)
    }
    #[inline]
    fn extend(&mut self, b: &[u8]) {
        self.extend_from_slice(b)
    }
    #[inline]
    fn rfc3339(&mut self, t: crate::schema::Timestamp) {
        write_rfc3339(t, self)
    }
}

/// Counts the bytes that would be written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter(pub usize);

impl Sink for Counter {
    fn push(&mut self, _: u8) {
        self.0 += 1;
    }
    fn extend(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
    fn rfc3339(&mut self, t: crate::schema::Timestamp) {
        self.0 += format_rfc3339(t, &mut [0; RFC3339_MAX]);
    }
}

/// Bytes that must be escaped inside a JSON string: control characters, `"` and `\`.
const fn needs_escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}
static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

/// True when no byte of `b` needs escaping. A branch-free fold the compiler vectorises; most
/// strings in a log are clean and are then copied in one go. (Fixed 16-byte blocks and 8-byte
/// SWAR words were both tried: more instructions per line, not fewer.)
fn is_clean(b: &[u8]) -> bool {
    !b.iter().fold(false, |dirty, &c| {
        dirty | (c < 0x20) | (c == b'"') | (c == b'\\')
    })
}

/// Whether the string values of a record may hold bytes that JSON escapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Escape {
    /// Check every string (always correct).
    #[default]
    Check,
    /// The text the values come from was checked as a whole ([`scan_line`]): no value holds
    /// a control byte, `"` or `\`, so each is copied as it is.
    Verbatim,
}

/// What one pass over a whole line found ([`scan_line`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineScan {
    /// The number of `"` in the line when it has no control byte and no backslash, else
    /// `None`: when the count equals the quotes the parser used as delimiters, no field of the
    /// line needs escaping ([`Escape::Verbatim`]).
    pub plain_quotes: Option<usize>,
    /// Every byte is ASCII, so the line is UTF-8 without further validation.
    pub ascii: bool,
}

/// One pass over a line, in blocks the compiler vectorises (a byte counter per block packs the
/// most lanes): counts its `"`, looks for control bytes and backslashes, and ORs its bytes
/// together (the high bit says whether a byte is not ASCII). Other shapes of this loop were
/// measured: per-lane counters across blocks (not vectorised, 8 instructions per byte), and a
/// separate pass for each question (more instructions).
pub fn scan_line(b: &[u8]) -> LineScan {
    let (mut quotes, mut special, mut any) = (0usize, false, 0u8);
    for block in b.chunks(128) {
        let (q, s, a) = block.iter().fold((0u8, false, 0u8), |(q, s, a), &c| {
            (
                q + u8::from(c == b'"'),
                s | (c < 0x20) | (c == b'\\'),
                a | c,
            )
        });
        quotes += usize::from(q);
        special |= s;
        any |= a;
    }
    LineScan {
        plain_quotes: (!special).then_some(quotes),
        ascii: any < 0x80,
    }
}

/// Appends `s` as a quoted JSON string.
pub fn write_str<S: Sink>(s: &str, out: &mut S) {
    out.push(b'"');
    let b = s.as_bytes();
    if is_clean(b) {
        out.extend(b);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if !NEEDS_ESCAPE[c as usize] {
            continue;
        }
        out.extend(&b[start..i]);
        match c {
            b'"' => out.extend(b"\\\""),
            b'\\' => out.extend(b"\\\\"),
            b'\n' => out.extend(b"\\n"),
            b'\r' => out.extend(b"\\r"),
            b'\t' => out.extend(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend(&b[start..]);
    out.push(b'"');
}

/// Writes the decimal digits of `n` at the end of `buf` and returns where they start.
fn decimal<T>(mut n: T, buf: &mut [u8; 20]) -> usize
where
    T: Copy + PartialEq + From<u8> + Div<Output = T> + Rem<Output = T> + TryInto<u8>,
{
    let (zero, ten) = (T::from(0), T::from(10));
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % ten).try_into().unwrap_or(0);
        n = n / ten;
        if n == zero {
            return i;
        }
    }
}

fn write_int<S: Sink>(v: i64, out: &mut S) {
    let mut buf = [0u8; 20];
    // Statuses and most sizes fit in 32 bits, whose division by 10 is a multiplication even in
    // wasm32 (which has no 64-bit multiply-high, so 64-bit division stays a division there).
    let start = match u32::try_from(v) {
        Ok(n) => decimal(n, &mut buf),
        Err(_) => {
            if v < 0 {
                out.push(b'-');
            }
            decimal(v.unsigned_abs(), &mut buf)
        }
    };
    out.extend(&buf[start..]);
}

/// Appends one value in JSON, its strings checked for bytes to escape.
#[inline(always)]
pub fn write_value<S: Sink>(v: Value<'_>, out: &mut S) {
    match v {
        Value::Timestamp(t) => {
            out.push(b'"');
            out.rfc3339(crate::schema::Timestamp(t));
            out.push(b'"');
        }
        Value::Str(Some(s)) => write_str(s, out),
        Value::Int(Some(i)) => write_int(i, out),
        Value::Float(Some(f)) if f.is_finite() => out.extend(format!("{f}").as_bytes()),
        Value::Bool(Some(b)) => out.extend(if b { b"true" } else { b"false" }),
        _ => out.extend(b"null"),
    }
}

/// What goes before a field's value, each a constant made by the `schema!` macro: the separator
/// (`{` or `,`) and the key, then (`quoted`) a string's opening quote, or (`null`) a null value.
/// A field then takes one, two or three appends.
pub struct Key {
    pub bare: &'static str,
    pub quoted: &'static str,
    pub null: &'static str,
}

/// Appends one field: its key and its value.
#[inline(always)]
pub fn write_field<S: Sink>(out: &mut S, key: &Key, v: Value<'_>, escape: Escape) {
    match v {
        Value::Str(Some(s)) if escape == Escape::Verbatim => {
            out.extend(key.quoted.as_bytes());
            out.extend(s.as_bytes());
            out.push(b'"');
        }
        Value::Timestamp(t) => {
            out.extend(key.quoted.as_bytes());
            out.rfc3339(crate::schema::Timestamp(t));
            out.push(b'"');
        }
        Value::Str(None) | Value::Int(None) | Value::Float(None) | Value::Bool(None) => {
            out.extend(key.null.as_bytes())
        }
        _ => {
            out.extend(key.bare.as_bytes());
            write_value(v, out);
        }
    }
}

/// Appends `record` as one JSON object (no trailing newline).
pub fn write_record<S: Sink>(record: &Record<'_>, out: &mut S) {
    record.write_json(Escape::Check, out);
}

/// The exact length of `record`'s JSON, without writing it.
pub fn json_len(record: &Record<'_>) -> usize {
    let mut n = Counter(0);
    write_record(record, &mut n);
    n.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\n\r\t",
            "\u{0}\u{1f}",
            "é😀",
            "\\x16\\x03",
        ] {
            let mut out = Vec::new();
            write_str(s, &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn a_line_scan_counts_quotes_and_finds_specials_and_non_ascii() {
        let scan = |b: &[u8]| {
            let s = scan_line(b);
            (s.plain_quotes, s.ascii)
        };
        assert_eq!(scan(b""), (Some(0), true));
        assert_eq!(scan(br#"a "b" "c""#), (Some(4), true));
        assert_eq!(scan(br#"a "b\" c"#), (None, true));
        assert_eq!(scan(b"a  b"), (None, true));
        assert_eq!(scan(b"a  b"), (Some(0), true));
        assert_eq!(scan("\"é\"".as_bytes()), (Some(2), false));
        assert_eq!(scan(b"\xff"), (Some(0), false));
        // Past the first 128-byte block, and 300 quotes (more than a block's u8 counter holds
        // when summed naively across blocks).
        let mut long = vec![b'"'; 300];
        long.push(0x80);
        assert_eq!(scan(&long), (Some(300), false));
        long.pop();
        long.push(b'\n');
        assert_eq!(scan(&long), (None, true));
    }

    #[test]
    fn ints_render_exactly() {
        let edges = [u32::MAX as i64, u32::MAX as i64 + 1, -(u32::MAX as i64)];
        for v in [0i64, 7, -7, 200, i64::MAX, i64::MIN, 1_000_000]
            .into_iter()
            .chain(edges)
        {
            let mut out = Vec::new();
            write_int(v, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}

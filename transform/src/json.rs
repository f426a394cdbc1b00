//! JSON encoding of a [`Record`]: one object, keys and order from [`Record::FIELDS`], `null` for
//! absent values, `time` as RFC 3339 UTC. Written straight into a reusable byte buffer (no serde
//! on the hot path); [`Record::from_json`] reads it back with serde, and the tests check both agree.

use crate::schema::{Record, Value};
use crate::timestamp::write_rfc3339;

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
/// strings in a log are clean and are then copied in one go.
fn is_clean(b: &[u8]) -> bool {
    !b.iter().fold(false, |dirty, &c| {
        dirty | (c < 0x20) | (c == b'"') | (c == b'\\')
    })
}

/// Appends `s` as a quoted JSON string.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let b = s.as_bytes();
    if is_clean(b) {
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if !NEEDS_ESCAPE[c as usize] {
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn write_int(v: i64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends one value in JSON.
pub fn write_value(v: Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Timestamp(t) => {
            out.push(b'"');
            write_rfc3339(crate::schema::Timestamp(t), out);
            out.push(b'"');
        }
        Value::Str(Some(s)) => write_str(s, out),
        Value::Int(Some(i)) => write_int(i, out),
        Value::Float(Some(f)) if f.is_finite() => out.extend_from_slice(format!("{f}").as_bytes()),
        Value::Bool(Some(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        _ => out.extend_from_slice(b"null"),
    }
}

/// Appends `record` as one JSON object (no trailing newline).
pub fn write_record(record: &Record<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (field, value)) in Record::FIELDS.iter().zip(record.values()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(field.name.as_bytes());
        out.extend_from_slice(b"\":");
        write_value(value, out);
    }
    out.push(b'}');
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
    fn ints_render_exactly() {
        for v in [0i64, 7, -7, 200, i64::MAX, i64::MIN, 1_000_000] {
            let mut out = Vec::new();
            write_int(v, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}

//! The dead letter: the one JSON shape of a line or record that did not become a row, written by
//! `ingest` and `run` into the lake's `_accesslake/rejected/` files and by `parse` on stderr. It
//! says where the input came from (a file and line, a line of standard input, or a topic,
//! partition and offset), why it was refused, and the input itself: `raw` is the bytes as text,
//! each byte of an invalid UTF-8 sequence written `\xHH` (the convention of Apache's and nginx's
//! own escaping), so nothing is lost for logs that do not themselves contain the text `\x`.

use accesslake_transform::text::utf8_or_hex;
use serde::Serialize;
use std::borrow::Cow;

/// The longest reason kept. A reason may quote the value it refuses (serde's `invalid type:
/// string "…"`), which `raw` holds already: a multi-megabyte record must not make a dead letter,
/// and a log line, three times its size.
pub const MAX_REASON_BYTES: usize = 1024;

/// `reason`, cut to [`MAX_REASON_BYTES`] (at a character boundary) with its full length said.
pub fn short_reason(reason: &str) -> Cow<'_, str> {
    if reason.len() <= MAX_REASON_BYTES {
        return Cow::Borrowed(reason);
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… (the reason is {} bytes long; `raw` holds the input)",
        &reason[..end],
        reason.len()
    ))
}

/// Where a dead letter's input came from.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum Origin<'a> {
    /// A record of a topic (`run`).
    Record {
        topic: &'a str,
        partition: i32,
        offset: i64,
    },
    /// A line of a log file, numbered from one (`ingest`).
    FileLine { file: &'a str, line: i64 },
    /// A line of the input, numbered from one (`parse`, which names no file).
    Line { line: u64 },
}

/// One dead letter, serialised as one JSON object: the origin's fields, `error`, `raw`.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    #[serde(flatten)]
    pub origin: Origin<'a>,
    /// Why the input was refused, at most [`MAX_REASON_BYTES`] of it.
    pub error: Cow<'a, str>,
    /// The input, as lossless text.
    pub raw: Cow<'a, str>,
}

impl<'a> DeadLetter<'a> {
    /// The dead letter of `raw`, refused from `origin` for `error`.
    pub fn new(origin: Origin<'a>, error: &'a str, raw: &'a [u8]) -> DeadLetter<'a> {
        DeadLetter {
            origin,
            error: short_reason(error),
            raw: utf8_or_hex(raw),
        }
    }

    /// Appends the JSON object (no newline) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("a dead letter serialises: strings and integers");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(d: &DeadLetter) -> String {
        let mut out = Vec::new();
        d.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character() {
        let long = format!("invalid type: string \"{}\"", "é".repeat(5_000));
        let d = DeadLetter::new(Origin::Line { line: 1 }, &long, b"x");
        assert!(d.error.len() < MAX_REASON_BYTES + 80, "{}", d.error.len());
        assert!(d.error.starts_with("invalid type: string \"éé"));
        assert!(d
            .error
            .ends_with("(the reason is 10023 bytes long; `raw` holds the input)"));
        assert_eq!(short_reason("short"), "short");
    }

    #[test]
    fn each_origin_reads_as_its_fields() {
        let raw = b"ok \xff\xfe end \"q\"";
        let record = Origin::Record {
            topic: "requests.parsed",
            partition: 2,
            offset: 7,
        };
        assert_eq!(
            json(&DeadLetter::new(record, "not JSON", raw)),
            r#"{"topic":"requests.parsed","partition":2,"offset":7,"error":"not JSON","raw":"ok \\xFF\\xFE end \"q\""}"#
        );
        let file = Origin::FileLine {
            file: "a.log",
            line: 3,
        };
        assert_eq!(
            json(&DeadLetter::new(file, "why", "é".as_bytes())),
            r#"{"file":"a.log","line":3,"error":"why","raw":"é"}"#
        );
        assert_eq!(
            json(&DeadLetter::new(Origin::Line { line: 1 }, "", b"")),
            r#"{"line":1,"error":"","raw":""}"#
        );
    }
}

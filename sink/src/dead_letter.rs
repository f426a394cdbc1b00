//! The dead letter: the one JSON shape of a line or record that did not become a row, written by
//! `ingest` and `run` into the lake's `_accesslake/rejected/` files and by `parse` on stderr. It
//! says where the input came from (a file and line, a line of standard input, or a topic,
//! partition and offset), why it was refused, and the input itself: `raw` is the bytes as text,
//! each byte of an invalid UTF-8 sequence written `\xHH` (the convention of Apache's and nginx's
//! own escaping), so nothing is lost for logs that do not themselves contain the text `\x`.
//! `report` reads them back ([`tally`]) to count a lake's dead letters by reason.

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

/// The lake's dead letters as `report` shows them ([`tally`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Committed dead-letter files read.
    pub files: usize,
    /// Dead letters in them.
    pub lines: u64,
    /// The most frequent reason classes ([`reason_class`]), most first (then by text); the
    /// rest of `lines` is [`Tally::other`] or `unreadable`.
    pub reasons: Vec<(String, u64)>,
    /// Lines that are not a dead letter's JSON, and files that could not be read (each named in
    /// a warning): a file damaged or edited by hand.
    pub unreadable: u64,
    pub unreadable_files: usize,
}

impl Tally {
    /// Dead letters of the classes past the `top` listed in `reasons`.
    pub fn other(&self) -> u64 {
        let listed: u64 = self.reasons.iter().map(|(_, n)| n).sum();
        self.lines - listed - self.unreadable
    }
}

/// A reason's class: each run of digits replaced by `N`, so that one cause is one line
/// (`no [timestamp] after client, ident and user (at byte N)`, `not JSON: expected value at line
/// N column N`) however many positions, sizes or counts its instances quote.
pub fn reason_class(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut in_digits = false;
    for c in reason.chars() {
        match (c.is_ascii_digit(), in_digits) {
            (true, true) => {}
            (true, false) => out.push('N'),
            (false, _) => out.push(c),
        }
        in_digits = c.is_ascii_digit();
    }
    out
}

/// Reads the dead letters of `files` (committed dead-letter files, see
/// [`crate::lake_files::dead_letter_files`]) on every core and counts them by
/// [`reason_class`], keeping the `top` most frequent classes. Only each line's `error` is
/// decoded.
pub fn tally(files: &[std::path::PathBuf], top: usize) -> Tally {
    let mut t = Tally::default();
    let mut classes = std::collections::HashMap::<String, u64>::new();
    for (path, counted) in files
        .iter()
        .zip(crate::summary_use::on_threads(files, 1, |p| tally_file(p)))
    {
        match counted {
            Ok((lines, unreadable, counts)) => {
                t.files += 1;
                t.lines += lines;
                t.unreadable += unreadable;
                for (class, n) in counts {
                    *classes.entry(class).or_default() += n;
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read a dead-letter file: its dead letters are not counted");
                t.unreadable_files += 1;
            }
        }
    }
    let mut classes: Vec<(String, u64)> = classes.into_iter().collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    classes.truncate(top);
    t.reasons = classes;
    t
}

/// One dead-letter file's lines, its lines that are not a dead letter's JSON, and its reason
/// classes with their counts.
pub(crate) type FileTally = (u64, u64, std::collections::HashMap<String, u64>);

/// Reads one dead-letter file (for [`tally`], and for `check`, which reports the lines that are
/// not a dead letter's JSON).
pub(crate) fn tally_file(path: &std::path::Path) -> std::io::Result<FileTally> {
    use std::io::BufRead;
    #[derive(serde::Deserialize)]
    struct Reason<'a> {
        #[serde(borrow)]
        error: Cow<'a, str>,
    }
    let (mut lines, mut unreadable) = (0, 0);
    let mut classes = std::collections::HashMap::new();
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok((lines, unreadable, classes));
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        lines += 1;
        match serde_json::from_slice::<Reason>(line.trim_ascii_end()) {
            Ok(r) => *classes.entry(reason_class(&r.error)).or_default() += 1,
            Err(_) => unreadable += 1,
        }
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

    #[test]
    fn reasons_are_classed_without_their_numbers_and_counted() {
        assert_eq!(
            reason_class("found 3 fields (at byte 120)"),
            "found N fields (at byte N)"
        );
        assert_eq!(reason_class("empty line"), "empty line");
        let dir = tempfile::tempdir().unwrap();
        let mut a = Vec::new();
        for (at, why) in [
            (5, "no [timestamp]"),
            (17, "no [timestamp]"),
            (0, "empty line"),
        ] {
            let why = format!("{why} (at byte {at})");
            DeadLetter::new(Origin::Line { line: 1 }, &why, b"x \xff").write_to(&mut a);
            a.push(b'\n');
        }
        a.extend_from_slice(b"{not a dead letter\n\n");
        std::fs::write(dir.path().join("a.jsonl"), &a).unwrap();
        let mut b = Vec::new();
        DeadLetter::new(Origin::Line { line: 9 }, "empty line (at byte 0)", b"").write_to(&mut b);
        std::fs::write(dir.path().join("b.jsonl"), &b).unwrap();
        let files = ["a.jsonl", "b.jsonl", "gone.jsonl"].map(|f| dir.path().join(f));
        let t = tally(&files, 1);
        assert_eq!(
            (t.files, t.lines, t.unreadable, t.unreadable_files),
            (2, 5, 1, 1)
        );
        // Two classes of two each: the first by text is kept.
        assert_eq!(t.reasons, vec![("empty line (at byte N)".to_string(), 2)]);
        assert_eq!(tally(&files, 5).reasons.len(), 2);
    }
}

//! What names and recognises a log file across runs: its id ([`file_id`], a hash of its first
//! line of content, where `ingest` looks for its source partition first), and [`Fingerprint`]s
//! of lines ([`LineMark`]s, stored in a partition's state) that tell a file whose id collides
//! with another's, and a file rewritten since, from the one the lake read. [`crate::identity`]
//! decides with them; [`crate::logfile`] opens the text they are taken from.

use serde::{Deserialize, Serialize};
use std::io::{self, Read};

/// Bytes of text that identify a file (its first line, or as much of it).
pub const ID_PREFIX: usize = 4096;

/// A file's identity ([`file_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId {
    /// FNV-1a (64-bit) of the text up to the end of the first line that is not blank (newline
    /// included; at most [`ID_PREFIX`] bytes), folded to a non-negative `i32`. Different files
    /// may share it: it is where the file's partition is looked for first (`crate::identity`).
    pub id: i32,
    /// Whether that line is finished: a newline follows it, or it runs past [`ID_PREFIX`]. The
    /// id and fingerprint of a file whose first line is not finished are those it would have
    /// with a newline (`\n`) after it, so a file whose only line is taken as finished (left
    /// unchanged long enough) keeps its partition when more lines are appended. (Should `\r\n`
    /// follow instead, [`FileId::earlier`] finds the partition.)
    pub finished: bool,
    /// Whether the file has a line that is not blank, or blank lines that fill the
    /// [`ID_PREFIX`] bytes the id reads. A file of blank lines only has no stable identity yet:
    /// the line that will follow them is part of it.
    pub content: bool,
    /// The same text's [`Fingerprint`]: files whose ids collide are told apart by it.
    pub first_line: Fingerprint,
    /// The ids and fingerprints this file had while its first line was not finished, if the
    /// line end that finished it differs from the one assumed: the text without its `\n` (what
    /// builds before 2026-11-29 hashed), and for a line ended by `\r\n`, the text without it,
    /// with and without a `\n`. A partition committed under one of them, and under none of the
    /// file's own, is still this file's (`crate::identity::open`). Empty when the first line is
    /// cut at [`ID_PREFIX`].
    pub earlier: Vec<(i32, Fingerprint)>,
}

/// Some text known by a 64-bit hash and its length: a hash other than the id's (a multiply-rotate
/// over the bytes, seeded with the length, finished by splitmix64's mixer), so two texts whose
/// ids collide still differ here. Stored in partition states, the hash as 16 hex digits (JSON
/// tools read numbers as doubles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    #[serde(with = "hex64")]
    pub hash: u64,
    pub len: u64,
}

impl Fingerprint {
    /// The fingerprint of `text`, all of it.
    pub fn of(text: &[u8]) -> Fingerprint {
        Fingerprint::of_head(text, text.len() as u64)
    }

    /// The fingerprint of a line (without its line end) that is `len` bytes long, from its first
    /// bytes `head`: the hash covers at most [`LINE_MARK_PREFIX`] of them, so a line read past
    /// without being held whole has one too (`head` must hold that many, or the whole line).
    pub fn of_line(head: &[u8], len: u64) -> Fingerprint {
        let n = head.len().min(LINE_MARK_PREFIX).min(len as usize);
        Fingerprint::of_head(&head[..n], len)
    }

    fn of_head(bytes: &[u8], len: u64) -> Fingerprint {
        let mut h = 0x9e37_79b9_7f4a_7c15_u64 ^ len;
        for &b in bytes {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        // splitmix64's finaliser.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Fingerprint {
            hash: h ^ (h >> 31),
            len,
        }
    }
}

/// Bytes of a line that its [`Fingerprint::of_line`] hashes (with its whole length).
pub const LINE_MARK_PREFIX: usize = 4096;

/// A line of a file by its number (from 1) and its [`Fingerprint::of_line`]: recorded in the
/// partition's state so that a later run can check the file still holds that line there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineMark {
    pub line: i64,
    pub text: Fingerprint,
    /// The line had no newline yet (the file's last, committed after it was left alone for
    /// [`crate::ingest::QUIET_FOR_LAST_LINE`]): a later run may find it finished, longer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
    /// The unfinished line was found grown and held back (still unfinished) by a later run,
    /// which warned that the lake keeps the part committed and recorded it as it was then:
    /// found longer again, it is accepted without a second warning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reported: bool,
}

impl LineMark {
    /// Whether a line of `len` bytes (without its line end) beginning with `head` (all of it, or
    /// at least [`LINE_MARK_PREFIX`] bytes) is this unfinished line, grown since: longer, and
    /// beginning with the text marked (which is not empty).
    pub fn finished_as(&self, head: &[u8], len: u64) -> bool {
        self.unfinished
            && self.text.len > 0
            && len > self.text.len
            && Fingerprint::of_line(head, self.text.len) == self.text
    }
}

/// A `u64` as 16 hex digits in JSON.
mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

/// The identity of a log file from its text (decompressed): `None` for an empty file. Blank
/// lines before the first line of content are part of the text hashed, so that files which start
/// with blank lines are still told apart by the line that follows.
pub fn file_id(text: impl Read) -> io::Result<Option<FileId>> {
    let mut head = Vec::with_capacity(ID_PREFIX);
    text.take(ID_PREFIX as u64).read_to_end(&mut head)?;
    if head.is_empty() {
        return Ok(None);
    }
    let mut end = None;
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &head[from..]) {
        let line = &head[from..from + i];
        from += i + 1;
        if !line.iter().all(u8::is_ascii_whitespace) {
            end = Some(from);
            break;
        }
    }
    let finished = end.is_some() || head.len() == ID_PREFIX;
    let content = finished || !head.iter().all(u8::is_ascii_whitespace);
    // The text identified: up to the end of the first line of content, newline included (one
    // added when the line has none yet).
    let mut text = head;
    text.truncate(end.unwrap_or(text.len()));
    if !finished {
        text.push(b'\n');
    }
    let form = |t: &[u8]| (fnv_id(t), Fingerprint::of(t));
    let mut earlier = Vec::new();
    if let Some(line) = text.strip_suffix(b"\n") {
        earlier.push(form(line));
        if let Some(line) = line.strip_suffix(b"\r") {
            earlier.push(form(&[line, b"\n"].concat()));
            earlier.push(form(line));
        }
    }
    let (id, first_line) = form(&text);
    Ok(Some(FileId {
        id,
        finished,
        content,
        first_line,
        earlier,
    }))
}

/// FNV-1a (64-bit) of `bytes`: a stable hash (the same on every build and machine), for ids and
/// digests stored in the lake.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// [`fnv1a64`] of `text`, folded to a non-negative `i32`.
fn fnv_id(text: &[u8]) -> i32 {
    let h = fnv1a64(text);
    ((h ^ (h >> 32)) as u32 & 0x7fff_ffff) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_by_their_first_line_of_content() {
        let id = |t: &[u8]| file_id(t).unwrap();
        let a = id(b"first line\nsecond\n").unwrap();
        assert!(a.finished);
        // The first line alone decides, and a file grown by appends keeps its id.
        assert_eq!(id(b"first line\nother\nmore\n"), Some(a.clone()));
        assert_ne!(id(b"first lime\nsecond\n").unwrap().id, a.id);
        // Blank lines first: the next line tells files apart.
        let b = id(b"\n  \r\nx\n").unwrap();
        assert_ne!(b.id, id(b"\n  \r\ny\n").unwrap().id);
        assert_ne!(b.id, id(b"x\n").unwrap().id);
        // An unfinished first line is flagged; a long one that fills the prefix is not.
        assert_eq!(id(b"first line").map(|f| f.finished), Some(false));
        assert_eq!(id(b"\n\n").map(|f| f.finished), Some(false));
        assert!(id(&[b'a'; ID_PREFIX + 10]).unwrap().finished);
        // It already has the id and fingerprint it will have once finished, and says what
        // earlier versions named it by.
        let partial = id(b"first line").unwrap();
        assert_eq!((partial.id, partial.first_line), (a.id, a.first_line));
        assert_eq!(partial.earlier, a.earlier);
        let form = |t: &[u8]| (fnv_id(t), Fingerprint::of(t));
        assert_eq!(a.earlier, vec![form(b"first line")]);
        assert!(id(&[b'a'; ID_PREFIX + 10]).unwrap().earlier.is_empty());
        // Ended by CRLF: the forms it had unfinished, with and without the newline assumed.
        let crlf = id(b"first line\r\nsecond\r\n").unwrap();
        assert_eq!(
            crlf.earlier,
            vec![
                form(b"first line\r"),
                (a.id, a.first_line),
                form(b"first line")
            ]
        );
        // Blank lines only: no content yet (unless they fill the prefix).
        assert!(a.content && partial.content && id(b"  x").unwrap().content);
        assert!(!id(b"\n\n").unwrap().content && !id(b"\n \r\n\t").unwrap().content);
        assert!(id(&[b'\n'; ID_PREFIX + 10]).unwrap().content);
        assert_eq!(id(b""), None);
    }

    #[test]
    fn files_whose_ids_collide_have_different_fingerprints() {
        // Two first lines with one id (FNV-1a folded to 31 bits).
        let a = b"10.0.110.213 - - [01/Jan/2019:00:52:53 +0000] \"GET /p28373 HTTP/1.1\" 200 1 \"-\" \"-\"\n";
        let b = b"10.0.219.183 - - [01/Jan/2019:00:49:43 +0000] \"GET /p121783 HTTP/1.1\" 200 1 \"-\" \"-\"\n";
        let (fa, fb) = (
            file_id(&[&a[..], b"more\n"].concat()[..]).unwrap().unwrap(),
            file_id(&[&b[..], b"other\n"].concat()[..])
                .unwrap()
                .unwrap(),
        );
        assert_eq!((fa.id, fb.id), (1_972_917_932, 1_972_917_932));
        assert_ne!(fa.first_line, fb.first_line);
        // The fingerprint covers what the id covers: the first line of content, nothing after.
        assert_eq!(fa.first_line, Fingerprint::of(a));
        assert_eq!(file_id(&a[..]).unwrap().unwrap(), fa);
        assert_ne!(Fingerprint::of(b"ab"), Fingerprint::of(b"ba"));
        assert_ne!(Fingerprint::of(b""), Fingerprint::of(b"\0"));
        // A line's covers its first bytes and its whole length.
        let long = vec![b'x'; 3 * LINE_MARK_PREFIX];
        assert_eq!(
            Fingerprint::of_line(&long, long.len() as u64),
            Fingerprint::of_line(&long[..LINE_MARK_PREFIX], long.len() as u64)
        );
        assert_ne!(
            Fingerprint::of_line(&long, long.len() as u64),
            Fingerprint::of_line(&long, long.len() as u64 - 1)
        );
        assert_eq!(Fingerprint::of_line(b"abc", 3), Fingerprint::of(b"abc"));
        // Stored as hex digits, read back the same.
        let mark = LineMark {
            line: 7,
            text: Fingerprint {
                hash: u64::MAX - 1,
                len: 80,
            },
            unfinished: false,
            reported: false,
        };
        let json = serde_json::to_string(&mark).unwrap();
        assert_eq!(
            json,
            r#"{"line":7,"text":{"hash":"fffffffffffffffe","len":80}}"#
        );
        assert_eq!(serde_json::from_str::<LineMark>(&json).unwrap(), mark);
    }
}

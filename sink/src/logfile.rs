//! Opening raw log files: plain text, or gzip-compressed (rotated logs such as
//! `access.log.2.gz`), told apart by the gzip magic bytes, not by the name. Every command that
//! reads log files (`ingest`, `parse`, `produce`) opens them here, so each reads both. A
//! compressed file is decompressed as it is read, all of its members as `zcat` does, never to
//! disk; zero bytes after the last member (the padding of tape and block writers) end it as
//! `zcat` lets them, while any other bytes there are an error. A file compressed otherwise (xz,
//! zstd, lz4, bzip2, by their magic bytes) is refused by name, not read as text.
//!
//! `ingest` names a file by its first line of text ([`file_id`]): a log and the same log
//! compressed after rotation are one source partition, so ingesting both adds each line once.

use flate2::bufread::GzDecoder;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The first two bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Bytes looked at to tell a compressed file: enough for every magic of [`other_compression`].
const HEAD: usize = 6;

/// The compression formats read as text would make every line a dead letter: refused by name.
/// (No access-log line starts with these bytes: they are not text.)
fn other_compression(head: &[u8]) -> Option<&'static str> {
    const KNOWN: [(&[u8], &str); 4] = [
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
        (&[0x04, 0x22, 0x4d, 0x18], "lz4"),
        (b"BZh", "bzip2"),
    ];
    KNOWN.iter().find_map(|(magic, name)| {
        let bzip2_level =
            *name != "bzip2" || head.get(3).is_some_and(|b| (b'1'..=b'9').contains(b));
        (head.starts_with(magic) && bzip2_level).then_some(*name)
    })
}

/// The error for a file compressed other than with gzip.
fn unsupported(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{name}-compressed: only plain and gzip-compressed logs are read; decompress it \
             first (`{name} -dc FILE > FILE.log`)"
        ),
    )
}

/// A log file's text, decompressed if the file is compressed.
pub type LogReader = Box<dyn Read + Send>;

/// A log file opened for its text.
pub struct LogFile {
    /// The text: the file itself, or its decompression as it is read.
    pub text: LogReader,
    /// Whether the file is gzip-compressed. Its bytes on disk are then not its text's, and are
    /// reported to `open`'s `on_read` as they are read; a plain file's bytes are its text's, which
    /// the caller counts as it reads them (so a plain file is read with no wrapper in between,
    /// and `read_to_end` fills spare capacity without zeroing it first).
    pub compressed: bool,
}

/// Opens a log file. For a compressed regular file, `on_read` is told how many bytes of the file
/// each read took (for a progress bar over the files' sizes). A pipe or other stream (`<(zcat
/// …)`, `/dev/stdin`) cannot be read again from the top, so its first bytes are looked at
/// through a buffer instead, and `on_read` is not called.
pub fn open(path: &Path, on_read: impl FnMut(u64) + Send + 'static) -> io::Result<LogFile> {
    open_file(File::open(path)?, on_read)
}

/// [`open`] for a file already open, read from its start (whatever its position).
pub fn open_file(mut file: File, on_read: impl FnMut(u64) + Send + 'static) -> io::Result<LogFile> {
    if !file.metadata()?.is_file() {
        return decode(BufReader::with_capacity(1 << 16, file));
    }
    // A regular file: its first bytes are looked at, then it is read from the top, with no
    // buffer in between for a plain one.
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::with_capacity(HEAD);
    (&mut file).take(HEAD as u64).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    if let Some(name) = other_compression(&head) {
        return Err(unsupported(name));
    }
    if !head.starts_with(&GZIP_MAGIC) {
        return Ok(LogFile {
            text: Box::new(file),
            compressed: false,
        });
    }
    let counted = Counted {
        inner: file,
        on_read,
    };
    Ok(LogFile {
        text: Box::new(Members::new(BufReader::with_capacity(1 << 16, counted))),
        compressed: true,
    })
}

/// The text of a stream that may be gzip-compressed (standard input, say): it is if its first
/// bytes are the gzip magic. They are read however the stream hands them over (a pipe may
/// deliver one byte, then the rest), then put back in front of it.
pub fn decode<R: BufRead + Send + 'static>(mut input: R) -> io::Result<LogFile> {
    let mut head = Vec::with_capacity(HEAD);
    while head.len() < HEAD {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(HEAD - head.len());
        head.extend_from_slice(&buf[..n]);
        input.consume(n);
    }
    if let Some(name) = other_compression(&head) {
        return Err(unsupported(name));
    }
    let gzip = head.starts_with(&GZIP_MAGIC);
    let input = io::Cursor::new(head).chain(input);
    Ok(LogFile {
        text: match gzip {
            true => Box::new(Members::new(input)),
            false => Box::new(input),
        },
        compressed: gzip,
    })
}

/// The text of gzip data: its members one after the other, as `zcat` reads them. After a
/// member, the input ends, or another member starts, or zero bytes follow up to the end of the
/// input (padding, which `gzip -t` and `zcat` accept too): they end the text like the end of the
/// input. Any other bytes after a member are an error, as in flate2's `MultiGzDecoder` (which
/// refuses the padding as well).
struct Members<R: BufRead> {
    /// The member being read; `None` once the text has ended.
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> Members<R> {
    fn new(input: R) -> Members<R> {
        Members {
            member: Some(GzDecoder::new(input)),
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member has ended, its trailer checked: what follows decides.
            let Some(member) = self.member.take() else {
                return Ok(0);
            };
            let mut input = member.into_inner();
            if another_member(&mut input)? {
                self.member = Some(GzDecoder::new(input));
            }
        }
    }
}

/// What follows a gzip member: `true` when more bytes follow that are not zero padding (they
/// must be another member), `false` at the end of the input, reached directly or through zero
/// bytes only. A non-zero byte after zero bytes is an error.
fn another_member(input: &mut impl BufRead) -> io::Result<bool> {
    let mut zeros = 0u64;
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(false);
        }
        let n = buf.iter().take_while(|&&b| b == 0).count();
        if n == 0 && zeros == 0 {
            return Ok(true);
        }
        if n < buf.len() {
            let why = format!(
                "trailing garbage after the gzip data: a byte other than zero after {} bytes of \
                 zero padding",
                zeros + n as u64
            );
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        zeros += n as u64;
        input.consume(n);
    }
}

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

/// FNV-1a (64-bit) of `text`, folded to a non-negative `i32`.
fn fnv_id(text: &[u8]) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((h ^ (h >> 32)) as u32 & 0x7fff_ffff) as i32
}

/// A reader that reports the bytes each read took.
struct Counted<R, F> {
    inner: R,
    on_read: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counted<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.on_read)(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// The text of a file, and the bytes counted: the file's own for a compressed file, the
    /// text's for a plain one (as the callers count them).
    fn read_all(path: &Path) -> (Vec<u8>, u64) {
        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        let mut file = open(path, move |n| {
            counter.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap();
        let mut text = Vec::new();
        file.text.read_to_end(&mut text).unwrap();
        if !file.compressed {
            seen.fetch_add(text.len() as u64, Ordering::Relaxed);
        }
        (text, seen.load(Ordering::Relaxed))
    }

    #[test]
    fn a_plain_stream_keeps_its_first_bytes() {
        for text in [&b""[..], b"a", b"\x1f", b"ab\n", b"\x1fx\nmore\n"] {
            let trickle = io::BufReader::with_capacity(1, io::Cursor::new(text.to_vec()));
            let mut piped = decode(trickle).unwrap();
            assert!(!piped.compressed);
            let mut got = Vec::new();
            piped.text.read_to_end(&mut got).unwrap();
            assert_eq!(got, text);
        }
    }

    #[test]
    fn other_compressions_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        // The first bytes of each format (`xz`, `zstd`, `lz4`, `bzip2 -9` of any text).
        let heads: [(&str, &[u8]); 4] = [
            ("xz", b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46"),
            ("zstd", b"\x28\xb5\x2f\xfd\x24\x05"),
            ("lz4", b"\x04\x22\x4d\x18\x64\x40"),
            ("bzip2", b"BZh91AY&SY"),
        ];
        for (name, head) in heads {
            let path = dir.path().join(name);
            std::fs::write(&path, head).unwrap();
            let e = open(&path, |_| {}).err().expect(name);
            assert!(
                e.to_string().starts_with(&format!("{name}-compressed")),
                "{e}"
            );
            let piped = io::BufReader::with_capacity(1, io::Cursor::new(head.to_vec()));
            let e = decode(piped).err().expect(name);
            assert!(
                e.to_string().starts_with(&format!("{name}-compressed")),
                "{e}"
            );
        }
        // Text that merely starts alike is text.
        for text in [&b"BZh hello\n"[..], b"BZhx", b"\xfd7z"] {
            let path = dir.path().join("text");
            std::fs::write(&path, text).unwrap();
            assert_eq!(read_all(&path).0, text);
        }
    }

    #[test]
    fn plain_gzip_and_multi_member_gzip_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let (a, b) = text.split_at(text.len() / 3);
        let files = [
            ("plain", text.clone()),
            ("one.gz", gzip(&text)),
            // `cat a.gz b.gz > c.gz` is a valid gzip file of both texts.
            ("two.gz", [gzip(a), gzip(b)].concat()),
            ("empty", Vec::new()),
            ("one byte", b"\x1f".to_vec()),
        ];
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let (got, counted) = read_all(&path);
            let want: &[u8] = match name {
                "empty" => b"",
                "one byte" => b"\x1f",
                _ => &text,
            };
            assert_eq!(got, want, "{name}");
            assert_eq!(counted, bytes.len() as u64, "{name}: the file's own bytes");
        }
    }

    #[test]
    fn a_pipe_is_read_once_plain_or_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"one line\nand another\n".repeat(5000);
        for (name, bytes) in [("plain", text.clone()), ("gz", gzip(&text))] {
            let fifo = dir.path().join(name);
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.unwrap().success(), "mkfifo");
            let writer = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::write(fifo, bytes).unwrap())
            };
            let mut file = open(&fifo, |_| {}).unwrap();
            let mut got = Vec::new();
            file.text.read_to_end(&mut got).unwrap();
            writer.join().unwrap();
            assert_eq!(got, text, "{name}");
            assert_eq!(file.compressed, name == "gz");
        }
    }

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
        // The same text compressed has the same id.
        let text = b"first line\nsecond\n";
        let gz = gzip(text);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gz");
        std::fs::write(&path, gz).unwrap();
        let file = File::open(&path).unwrap();
        let text = open_file(file, |_| {}).unwrap().text;
        assert_eq!(file_id(text).unwrap().unwrap(), a);
    }

    #[test]
    fn zero_padding_after_the_last_member_ends_the_text_and_other_bytes_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a line\nanother line\n".repeat(5000);
        let (a, b) = text.split_at(text.len() / 3);
        let one = gzip(&text);
        let two = [gzip(a), gzip(b)].concat();
        let zeros = |n: usize| vec![0u8; n];
        // As `{ cat e.gz; head -c N /dev/zero; } > pad.gz` leaves it: zcat reads the text.
        for (name, bytes) in [
            ("pad100", [one.clone(), zeros(100)].concat()),
            ("pad1", [one.clone(), zeros(1)].concat()),
            // More padding than a read buffer holds.
            ("pad200k", [one.clone(), zeros(200_000)].concat()),
            ("two members, padded", [two.clone(), zeros(512)].concat()),
        ] {
            let path = dir.path().join("padded.gz");
            std::fs::write(&path, &bytes).unwrap();
            let (got, counted) = read_all(&path);
            assert!(got == text, "{name}: the text, whole");
            assert_eq!(
                counted,
                bytes.len() as u64,
                "{name}: the padding is read too"
            );
            // A stream (standard input) the same, also one that hands over a byte at a time.
            let mut piped = decode(io::Cursor::new(bytes.clone())).unwrap().text;
            let mut got = Vec::new();
            piped.read_to_end(&mut got).unwrap();
            assert!(got == text, "{name}: from a stream");
            let trickle = io::BufReader::with_capacity(1, io::Cursor::new(bytes.clone()));
            let mut piped = decode(trickle).unwrap();
            assert!(piped.compressed, "{name}: told from its first two bytes");
            let mut got = Vec::new();
            piped.text.read_to_end(&mut got).unwrap();
            assert!(got == text, "{name}: from a byte-by-byte stream");
        }
        // Anything else after the data stays an error: garbage, garbage after zeros, zeros
        // between members.
        for (name, bytes) in [
            ("garbage", [one.clone(), b"garbage".to_vec()].concat()),
            (
                "zeros then garbage",
                [one.clone(), zeros(100), b"x".to_vec()].concat(),
            ),
            (
                "zeros then a member",
                [gzip(a), zeros(10), gzip(b)].concat(),
            ),
        ] {
            let path = dir.path().join("bad.gz");
            std::fs::write(&path, &bytes).unwrap();
            let mut file = open(&path, |_| {}).unwrap();
            let mut got = Vec::new();
            assert!(file.text.read_to_end(&mut got).is_err(), "{name}");
        }
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

    #[test]
    fn a_damaged_gzip_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = gzip(b"a line\n".repeat(1000).as_slice());
        bytes.truncate(bytes.len() / 2);
        let path = dir.path().join("cut.gz");
        std::fs::write(&path, &bytes).unwrap();
        let mut file = open(&path, |_| {}).unwrap();
        assert!(file.compressed);
        let mut text = Vec::new();
        assert!(file.text.read_to_end(&mut text).is_err());
    }
}

//! Opening raw log files: plain text, or gzip-compressed (rotated logs such as
//! `access.log.2.gz`), told apart by the gzip magic bytes, not by the name. Every command that
//! reads log files (`ingest`, `parse`, `produce`) opens them here, so each reads both. A
//! compressed file is decompressed as it is read, all of its members as `zcat` does, never to
//! disk; zero bytes after the last member (the padding of tape and block writers) end it as
//! `zcat` lets them, while any other bytes there are an error. A file compressed otherwise (xz,
//! zstd, lz4, bzip2, by their magic bytes) is refused by name, not read as text.
//!
//! `ingest` names a file by its first line of text ([`crate::fingerprint::file_id`]): a log and
//! the same log compressed after rotation are one source partition, so ingesting both adds each
//! line once.

use flate2::bufread::GzDecoder;
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
    fn a_compressed_file_has_its_texts_id() {
        let text = b"first line\nsecond\n";
        let text_plain = text;
        let gz = gzip(text);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gz");
        std::fs::write(&path, gz).unwrap();
        let file = File::open(&path).unwrap();
        let text = open_file(file, |_| {}).unwrap().text;
        let plain = crate::fingerprint::file_id(&text_plain[..]).unwrap();
        assert_eq!(crate::fingerprint::file_id(text).unwrap(), plain);
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

//! A log file read in chunks of whole lines, for `ingest`'s workers: about [`CHUNK_BYTES`] at a
//! time, cut after the last newline (the rest carried into the next chunk); a line longer than
//! the limit is handed over alone as its head and length, and read past in [`CHUNK_BYTES`] steps,
//! so memory stays bounded whatever the line's length. A live file's unfinished last line can be
//! held back.

use crate::fingerprint::LINE_MARK_PREFIX;
use std::io::Read;

/// Bytes of input handed to a worker at a time (whole lines; a longer line makes a bigger chunk).
pub const CHUNK_BYTES: usize = 1 << 20;

/// What the reader hands to a worker.
pub(crate) enum Piece {
    /// Whole lines (at least [`CHUNK_BYTES`] of them unless the file ends).
    Lines(Vec<u8>),
    /// One line longer than the limit: its first bytes (up to the limit, or
    /// [`LINE_MARK_PREFIX`] when that is more, for the line's fingerprint), its length without
    /// its line end, and whether a newline ended it (not: the file's last line). The rest of it
    /// was read past, never held.
    Long {
        head: Vec<u8>,
        len: u64,
        ended: bool,
    },
}

/// What [`read_chunk`] keeps from one call to the next: the bytes after the last newline read.
/// At the file's end, if `hold_last()` says so, that is the unfinished last line held back: whole, or,
/// for a line read past in steps (far over the limit), its head, with the line's length in
/// `long_len`.
#[derive(Debug, Default)]
pub(crate) struct Carry {
    pub(crate) bytes: Vec<u8>,
    pub(crate) long_len: Option<u64>,
    /// The file's end was reached with its unfinished last line handed out (not held back):
    /// nothing more is read, or what a writer appends next would be taken for a new line when
    /// it is the rest of that one.
    pub(crate) ended_unfinished: bool,
}

impl Carry {
    /// The line held back at the file's end, if any: its text without a trailing `\r` (or its
    /// head) and its length. A held line of a lone `\r` is a line, of length 0.
    pub(crate) fn held(&self) -> Option<(&[u8], u64)> {
        if self.bytes.is_empty() {
            return None;
        }
        Some(match self.long_len {
            Some(len) => (&self.bytes, len),
            None => {
                let line = crate::parse_cmd::trim_line_end(&self.bytes);
                (line, line.len() as u64)
            }
        })
    }
}

/// The lines of a chunk, each with its `\n` (the last one may lack it: the end of the file).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// Appends up to [`CHUNK_BYTES`] from `file` to `buf`, into spare capacity (no zero-filling of
/// the megabyte first); `read_to_end` retries interrupted reads. Returns the bytes read: fewer
/// than asked only at the end of the file.
fn read_more(file: &mut dyn Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.reserve(CHUNK_BYTES);
    (&mut *file).take(CHUNK_BYTES as u64).read_to_end(buf)
}

/// Reads the next piece: whole lines (at least [`CHUNK_BYTES`] unless the file ends), the bytes
/// after the last newline kept in `carry` for the next call; or, when the line at the start is
/// longer than `max_line` bytes, that line alone as [`Piece::Long`], read past to its end in
/// [`CHUNK_BYTES`] steps so that memory stays bounded whatever its length. When the file ends
/// in a line without a newline and `hold_last()` says so, asked then (a writer may have
/// appended half a line while the file was read), that line is not returned: it stays in
/// `carry` (a live file caught mid-line), and the file's end is reached with it there.
pub(crate) fn read_chunk(
    file: &mut dyn Read,
    carry: &mut Carry,
    max_line: usize,
    hold_last: &dyn Fn() -> bool,
) -> std::io::Result<Option<Piece>> {
    if carry.ended_unfinished {
        return Ok(None);
    }
    let mut buf = std::mem::take(&mut carry.bytes);
    let (mut eof, mut want) = (false, CHUNK_BYTES);
    // How many bytes at the start of `buf` are known to hold no newline: a long line is searched
    // once, not again from its start after every read (quadratic in its length; memchr's speed
    // kept it small: a 100 MiB line took 0.69-0.81 s before, 0.62-0.79 s after).
    let mut searched = 0;
    loop {
        while buf.len() < want && !eof {
            eof = read_more(file, &mut buf)? < CHUNK_BYTES;
        }
        if eof {
            if buf.last().is_some_and(|&b| b != b'\n') {
                if hold_last() {
                    let cut = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                    carry.bytes.extend_from_slice(&buf[cut..]);
                    buf.truncate(cut);
                } else {
                    carry.ended_unfinished = true;
                }
            }
            // Bounded already (a too-long last line is refused by the worker, from memory).
            return Ok((!buf.is_empty()).then_some(Piece::Lines(buf)));
        }
        match memchr::memrchr(b'\n', &buf[searched..]).map(|i| searched + i) {
            Some(i) => {
                carry.bytes.extend_from_slice(&buf[i + 1..]);
                buf.truncate(i + 1);
                return Ok(Some(Piece::Lines(buf)));
            }
            // The first line goes past the limit (a line end of `\n` or `\r\n` aside).
            None if buf.len() > max_line.saturating_add(2) => {
                return read_past_long_line(file, buf, carry, max_line, hold_last);
            }
            // One line longer than the buffer: read on.
            None => {
                searched = buf.len();
                want = buf.len() + CHUNK_BYTES;
            }
        }
    }
}

/// The rest of [`read_chunk`] for a line longer than the limit, whose first bytes are `buf` (no
/// newline among them): keeps its head, reads on to its newline counting its length, and leaves
/// what follows the newline in `carry`. A line the file ends in, without a newline, is held
/// back when `hold_last()` says so, as a shorter one is: its head and length are left in
/// `carry` and nothing returned; otherwise it is returned as not `ended`.
fn read_past_long_line(
    file: &mut dyn Read,
    mut buf: Vec<u8>,
    carry: &mut Carry,
    max_line: usize,
    hold_last: &dyn Fn() -> bool,
) -> std::io::Result<Option<Piece>> {
    // The length as `trim_line_end` would leave it: a `\r` just before the end is not counted.
    let mut len = buf.len() as u64;
    let mut cr = buf.last() == Some(&b'\r');
    // `buf` holds at least a chunk of the line, so the fingerprint's prefix is all there.
    buf.truncate(max_line.max(LINE_MARK_PREFIX));
    let (mut tail, mut eof) = (Vec::new(), false);
    while !eof {
        tail.clear();
        let n = read_more(file, &mut tail)?;
        eof = n < CHUNK_BYTES;
        if let Some(i) = memchr::memchr(b'\n', &tail) {
            carry.bytes.extend_from_slice(&tail[i + 1..]);
            cr = if i == 0 { cr } else { tail[i - 1] == b'\r' };
            len += i as u64;
            return Ok(Some(Piece::Long {
                head: buf,
                len: len - u64::from(cr),
                ended: true,
            }));
        }
        len += n as u64;
        if n > 0 {
            cr = tail[n - 1] == b'\r';
        }
    }
    let len = len - u64::from(cr);
    if hold_last() {
        carry.bytes.extend_from_slice(&buf);
        carry.long_len = Some(len);
        return Ok(None);
    }
    carry.ended_unfinished = true;
    Ok(Some(Piece::Long {
        head: buf,
        len,
        ended: false,
    }))
}

/// Lines in a chunk (the last may lack its newline), as [`lines`] splits it: memchr's vectorised
/// count of newlines, not one search per line.
pub(crate) fn count_lines(data: &[u8]) -> i64 {
    let unterminated = data.last().is_some_and(|&b| b != b'\n');
    (memchr::memchr_iter(b'\n', data).count() + usize::from(unterminated)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_cmd::trim_line_end;
    use std::fs::File;
    use std::io::Write;

    #[test]
    fn chunks_hold_whole_lines_in_order() {
        let long = "x".repeat(3 * CHUNK_BYTES + 17);
        let mut text = Vec::new();
        for i in 0..50_000 {
            writeln!(text, "line {i}").unwrap();
        }
        text.extend_from_slice(long.as_bytes());
        text.extend_from_slice(b"\n\r\n\nlast line without newline");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, &text).unwrap();
        let mut file = File::open(&path).unwrap();
        let (mut carry, mut got, mut counted) = (Carry::default(), Vec::new(), 0);
        while let Some(piece) = read_chunk(&mut file, &mut carry, 1 << 30, &|| false).unwrap() {
            let Piece::Lines(chunk) = piece else {
                panic!("no line is over the limit");
            };
            assert!(chunk.ends_with(b"\n") || chunk.ends_with(b"newline"));
            counted += count_lines(&chunk);
            got.extend(lines(&chunk).map(<[u8]>::to_vec));
        }
        let want: Vec<Vec<u8>> = text
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        assert_eq!(got.len(), 50_000 + 4);
        assert_eq!(counted as usize, got.len());
        assert_eq!(got, want);
        assert_eq!(got[50_000].len(), long.len() + 1);
        for edge in [&b""[..], b"\n", b"a", b"a\n", b"\n\n", b"a\nb"] {
            assert_eq!(count_lines(edge), lines(edge).count() as i64, "{edge:?}");
        }
    }

    #[test]
    fn an_unfinished_last_line_can_be_held_back() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(CHUNK_BYTES);
        for (text, taken, held) in [
            (
                "a\nb\nunfinished".to_string(),
                "a\nb\n".to_string(),
                "unfinished",
            ),
            ("only".into(), String::new(), "only"),
            ("a\nb\n".into(), "a\nb\n".into(), ""),
            (format!("{big}\n{big}"), format!("{big}\n"), big.as_str()),
        ] {
            let path = dir.path().join("log");
            std::fs::write(&path, &text).unwrap();
            let mut file = File::open(&path).unwrap();
            let (mut carry, mut got) = (Carry::default(), Vec::new());
            while let Some(piece) = read_chunk(&mut file, &mut carry, 1 << 30, &|| true).unwrap() {
                let Piece::Lines(chunk) = piece else {
                    panic!("no line is over the limit");
                };
                got.extend_from_slice(&chunk);
            }
            assert_eq!(got, taken.as_bytes(), "{}", &text[..text.len().min(20)]);
            assert_eq!(carry.bytes, held.as_bytes());
            let expected = (!held.is_empty()).then_some((held.as_bytes(), held.len() as u64));
            assert_eq!(carry.held(), expected);
        }
        // An unfinished last line over the limit, read past in steps: held back too (its head
        // in `carry`), not handed over as a long line; finished, it is one.
        for (tail, held) in [("", true), ("\n", false)] {
            let path = dir.path().join("long");
            std::fs::write(
                &path,
                format!("a\n{}{big}{tail}", "y".repeat(3 * CHUNK_BYTES)),
            )
            .unwrap();
            let mut file = File::open(&path).unwrap();
            let (mut carry, mut pieces) = (Carry::default(), Vec::new());
            while let Some(piece) = read_chunk(&mut file, &mut carry, 1000, &|| true).unwrap() {
                pieces.push(match piece {
                    Piece::Lines(l) => Seen::Line(l),
                    Piece::Long { head, len, ended } => {
                        assert!(ended, "a long line not held back has its newline here");
                        Seen::Long(head[..4].to_vec(), len)
                    }
                });
            }
            let long = Seen::Long(b"yyyy".to_vec(), 4 * CHUNK_BYTES as u64);
            match held {
                true => {
                    assert_eq!(pieces, vec![Seen::Line(b"a\n".to_vec())]);
                    assert!(
                        carry.bytes.starts_with(b"yyyy")
                            && carry.bytes.len() <= LINE_MARK_PREFIX.max(1000)
                    );
                    assert_eq!(
                        carry.held().map(|h| h.1),
                        Some(4 * CHUNK_BYTES as u64),
                        "the whole length"
                    );
                }
                false => {
                    assert_eq!(pieces, vec![Seen::Line(b"a\n".to_vec()), long]);
                    assert!(carry.bytes.is_empty());
                }
            }
        }
    }

    /// Once an unfinished last line is handed out (the file was quiet), nothing more is read:
    /// the rest of that line, appended before the next call, must not come as a new line.
    #[test]
    fn after_an_unfinished_last_line_is_taken_nothing_more_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = "y".repeat(3 * CHUNK_BYTES);
        for (text, max) in [
            ("a\nhalf a li".to_string(), 1 << 30),
            (format!("a\n{big}"), 1000),
        ] {
            let path = dir.path().join("log");
            std::fs::write(&path, &text).unwrap();
            let mut file = File::open(&path).unwrap();
            let mut carry = Carry::default();
            let mut pieces = 0;
            while let Some(piece) = read_chunk(&mut file, &mut carry, max, &|| false).unwrap() {
                pieces += 1;
                if let Piece::Long { ended, .. } = piece {
                    assert!(!ended);
                }
            }
            assert!(carry.ended_unfinished);
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap()
                .write_all(b"ne\nnext\n")
                .unwrap();
            assert!(read_chunk(&mut file, &mut carry, max, &|| false)
                .unwrap()
                .is_none());
            assert!(pieces >= 1);
        }
    }

    /// A line as the workers see it: its text, or its head and length when over `max`.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Line(Vec<u8>),
        Long(Vec<u8>, u64),
    }

    fn seen(line: &[u8], max: usize) -> Seen {
        let raw = trim_line_end(line);
        match raw.len() > max {
            true => Seen::Long(raw[..max].to_vec(), raw.len() as u64),
            false => Seen::Line(line.to_vec()),
        }
    }

    #[test]
    fn a_line_over_the_limit_is_read_past_not_held() {
        let max = 100;
        let mut text = Vec::new();
        let huge = |n: usize, c: u8| vec![c; n];
        for i in 0..20_000 {
            writeln!(text, "line {i}").unwrap();
            match i {
                // Over the limit inside an ordinary chunk: refused by the worker, from memory.
                7 => text.extend_from_slice(&[huge(150, b'a'), b"\n".to_vec()].concat()),
                // Exactly at the limit, with and without `\r`: parsed.
                8 => text.extend_from_slice(&[huge(max, b'b'), b"\r\n".to_vec()].concat()),
                9 => text.extend_from_slice(&[huge(max, b'c'), b"\n".to_vec()].concat()),
                // Far over it, across chunk boundaries, a `\r\n` split over two reads too.
                10_000 => {
                    text.extend_from_slice(&huge(3 * CHUNK_BYTES + 17, b'd'));
                    text.extend_from_slice(b"\r\n");
                }
                15_000 => {
                    let n = 4 * CHUNK_BYTES - text.len() % CHUNK_BYTES - 1;
                    text.extend_from_slice(&huge(n, b'e'));
                    text.extend_from_slice(b"\r\n");
                }
                _ => {}
            }
        }
        // A last line without newline, far over the limit.
        text.extend_from_slice(&huge(2 * CHUNK_BYTES + 5, b'f'));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, &text).unwrap();
        let mut file = File::open(&path).unwrap();
        let (mut carry, mut got, mut longs) = (Carry::default(), Vec::new(), 0);
        while let Some(piece) = read_chunk(&mut file, &mut carry, max, &|| false).unwrap() {
            match piece {
                Piece::Lines(chunk) => {
                    assert!(chunk.len() <= 3 * CHUNK_BYTES + max, "{}", chunk.len());
                    got.extend(lines(&chunk).map(|l| seen(l, max)));
                }
                Piece::Long { head, len, ended } => {
                    longs += 1;
                    // Only the file's last line has no newline.
                    assert_eq!(ended, head[0] != b'f', "{}", head[0] as char);
                    // At least the limit, and enough for the line's fingerprint.
                    assert_eq!(head.len(), max.max(LINE_MARK_PREFIX));
                    got.push(Seen::Long(head[..max].to_vec(), len));
                }
            }
        }
        let want: Vec<Seen> = text
            .split_inclusive(|&b| b == b'\n')
            .map(|l| seen(l, max))
            .collect();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "line {}", i + 1);
        }
        assert_eq!(
            longs, 3,
            "the lines far over the limit are read past, the last one too"
        );
        assert!(want.contains(&Seen::Long(vec![b'd'; max], 3 * CHUNK_BYTES as u64 + 17)));
    }
}

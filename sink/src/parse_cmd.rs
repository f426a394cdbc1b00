//! `accesslake parse [FILE]`: raw log lines in, one JSON record per line on stdout, and for each
//! rejected line a [`crate::dead_letter`] `{"line": N, "error": "...", "raw": "..."}` on stderr.
//!
//! It streams with one reusable line buffer ([`read_line_bounded`]), so memory stays flat on any
//! file size, even one whose lines never end: a line longer than `--max-line-bytes` is rejected
//! with its length and its first bytes, and the rest of it is read past. Lines are numbered
//! from one. `raw` is the line without its line ending; invalid UTF-8 bytes in it are written as
//! `\xHH`.

use crate::config::ParseConfig;
use crate::dead_letter::{DeadLetter, Origin};
use crate::error::{Error, Result};
use crate::logfile;
use accesslake_transform::transform_value;
use std::cell::Cell;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::rc::Rc;

/// Runs the command. Exit 0 when the whole input was read (rejected lines included).
pub fn run(cfg: &ParseConfig) -> Result<ExitCode> {
    let stdout = io::stdout().lock();
    let stderr = io::stderr().lock();
    let opts = cfg.layout.format.parse_options();
    let max = cfg.lines.bytes();
    // Plain or gzip-compressed, from a file or from standard input.
    let (input, name) = match cfg.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => {
            let text = logfile::open(p, |_| {}).map_err(|e| Error::file(p, e))?;
            (text.text, p.to_path_buf())
        }
        _ => {
            let stdin = BufReader::with_capacity(1 << 16, io::stdin());
            (logfile::decode(stdin)?.text, "standard input".into())
        }
    };
    let failed = Rc::new(Cell::new(false));
    let input = Input {
        inner: input,
        failed: Rc::clone(&failed),
    };
    let res = parse_stream(
        BufReader::with_capacity(1 << 16, input),
        stdout,
        stderr,
        &opts,
        max,
    );
    match res {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A damaged or truncated gzip file, say: the message names the input.
        Err(e) if failed.get() => Err(Error::file(name, e)),
        // A closed pipe downstream (`| head`) is a normal way to stop.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        // Only output is left: stdout, or stderr for the rejected lines.
        Err(e) => Err(Error::file("<standard output or error>", e)),
    }
}

/// The input, noting whether a read failed: [`parse_stream`] returns read and write errors
/// alike, and only a read error is the input's to name.
struct Input<R> {
    inner: R,
    failed: Rc<Cell<bool>>,
}

impl<R: io::Read> io::Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf);
        if read
            .as_ref()
            .is_err_and(|e| e.kind() != io::ErrorKind::Interrupted)
        {
            self.failed.set(true);
        }
        read
    }
}

/// Counts of one run of [`parse_stream`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ParseCounts {
    pub lines: u64,
    pub records: u64,
    pub rejected: u64,
}

/// The reason given for a line longer than `max` bytes.
pub fn too_long_error(len: u64, max: usize) -> String {
    format!(
        "line is {len} bytes, longer than the limit of {max} (--max-line-bytes): not parsed; \"raw\" holds its first {max} bytes"
    )
}

/// Reads the next line into `line` (cleared first) without its `\n`, keeping at most `keep`
/// bytes of it and reading past the rest. Returns the line's length as [`trim_line_end`] would
/// leave it (a `\r` before the end not counted), or `None` at the end of the input.
pub fn read_line_bounded(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    keep: usize,
) -> io::Result<Option<u64>> {
    line.clear();
    let (mut len, mut last, mut any) = (0u64, None, false);
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        any = true;
        let (n, newline) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        let room = keep.saturating_sub(line.len());
        line.extend_from_slice(&buf[..n.min(room)]);
        if n > 0 {
            last = Some(buf[n - 1]);
        }
        len += n as u64;
        input.consume(n + usize::from(newline));
        if newline {
            break;
        }
    }
    Ok(any.then(|| len - u64::from(last == Some(b'\r'))))
}

/// Parses every line of `input`, writing records to `out` and rejections to `err`. A line longer
/// than `max_line` bytes is rejected without being held whole.
pub fn parse_stream(
    mut input: impl BufRead,
    out: impl Write,
    err: impl Write,
    opts: &accesslake_transform::ParseOptions,
    max_line: usize,
) -> io::Result<ParseCounts> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut err = BufWriter::new(err);
    let mut line = Vec::with_capacity(4096);
    let mut json = Vec::with_capacity(4096);
    let mut dead = Vec::with_capacity(4096);
    let mut counts = ParseCounts::default();
    // One byte more than the limit: a line exactly at it may still end in `\r`.
    while let Some(len) = read_line_bounded(&mut input, &mut line, max_line.saturating_add(1))? {
        counts.lines += 1;
        // A rejected line: one JSON object on `err`.
        let mut reject = |error: String, raw: &[u8]| -> io::Result<()> {
            counts.rejected += 1;
            dead.clear();
            let origin = Origin::Line { line: counts.lines };
            DeadLetter::new(origin, &error, raw).write_to(&mut dead);
            dead.push(b'\n');
            err.write_all(&dead)
        };
        if len > max_line as u64 {
            reject(
                too_long_error(len, max_line),
                &line[..max_line.min(line.len())],
            )?;
            continue;
        }
        let raw = trim_line_end(&line);
        match transform_value(raw, opts, &mut json) {
            Ok(()) => {
                counts.records += 1;
                out.write_all(&json)?;
                out.write_all(b"\n")?;
            }
            Err(e) => reject(e.to_string(), raw)?,
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(counts)
}

/// The line without its trailing `\n` or `\r\n`.
pub fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines_match_whole_lines_across_buffer_edges() {
        let mut text = Vec::new();
        for (i, n) in [0usize, 1, 5, 6, 7, 8, 13, 40, 3, 200].iter().enumerate() {
            text.extend(std::iter::repeat_n(b'a' + i as u8, *n));
            text.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        }
        text.extend_from_slice(b"no newline at the end\r");
        for capacity in [1, 2, 3, 7, 64, 1 << 16] {
            for keep in [0, 1, 6, 7, 100, 1000] {
                let mut input = io::BufReader::with_capacity(capacity, &text[..]);
                let (mut line, mut got) = (Vec::new(), Vec::new());
                while let Some(len) = read_line_bounded(&mut input, &mut line, keep).unwrap() {
                    got.push((line.clone(), len));
                }
                let want: Vec<(Vec<u8>, u64)> = text
                    .split_inclusive(|&b| b == b'\n')
                    .map(|l| {
                        let body = l.strip_suffix(b"\n").unwrap_or(l);
                        (
                            body[..body.len().min(keep)].to_vec(),
                            trim_line_end(l).len() as u64,
                        )
                    })
                    .collect();
                assert_eq!(got, want, "capacity {capacity}, keep {keep}");
            }
        }
    }

    #[test]
    fn a_line_over_the_limit_is_rejected_and_the_next_parsed() {
        let good = b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"";
        let long = [&good[..50], &vec![b'x'; 10_000][..]].concat();
        let input = [&good[..], b"\n", &long, b"\r\n", good, b"\r\n", good].concat();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = accesslake_transform::ParseOptions::default();
        let counts = parse_stream(&input[..], &mut out, &mut err, &opts, good.len()).unwrap();
        assert_eq!(
            counts,
            ParseCounts {
                lines: 4,
                records: 3,
                rejected: 1
            }
        );
        assert_eq!(
            out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(),
            3
        );
        let dead: serde_json::Value = serde_json::from_slice(&err).unwrap();
        assert_eq!(dead["line"], 2);
        assert_eq!(dead["error"], too_long_error(long.len() as u64, good.len()));
        assert_eq!(
            dead["raw"].as_str().unwrap().as_bytes(),
            &long[..good.len()]
        );
        // At the limit exactly, with a `\r\n` ending, the line is parsed.
        let mut err = Vec::new();
        let counts = parse_stream(&input[..], io::sink(), &mut err, &opts, long.len()).unwrap();
        assert_eq!(counts.rejected, 1);
        let dead: serde_json::Value = serde_json::from_slice(&err).unwrap();
        // The long line is no log line: refused by the parser, not by its length.
        assert_eq!(dead["error"], "unterminated \"request\" (at byte 41)");
        assert_eq!(dead["raw"].as_str().unwrap().as_bytes(), &long[..]);
    }

    #[test]
    fn line_endings_are_trimmed() {
        assert_eq!(trim_line_end(b"a\r\n"), b"a");
        assert_eq!(trim_line_end(b"a\n"), b"a");
        assert_eq!(trim_line_end(b"a"), b"a");
    }
}

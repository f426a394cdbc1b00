//! `accesslake parse [FILE]`: raw log lines in, one JSON record per line on stdout, and for each
//! rejected line a JSON object `{"line": N, "error": "...", "raw": "..."}` on stderr.
//!
//! It streams with one reusable line buffer (`BufRead::read_until`), so memory stays flat on any
//! file size. Lines are numbered from 1. `raw` is the line without its line ending; invalid UTF-8
//! bytes in it are written as `\xHH` (see [`lossless_text`]).

use crate::config::ParseConfig;
use crate::error::{Error, Result};
use accesslake_transform::transform_value;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

/// Runs the command. Exit 0 when the whole input was read (rejected lines included).
pub fn run(cfg: &ParseConfig) -> Result<ExitCode> {
    let stdout = io::stdout().lock();
    let stderr = io::stderr().lock();
    let opts = cfg.format.parse_options();
    let res = match cfg.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => {
            let f = File::open(p).map_err(|e| Error::file(p, e))?;
            parse_stream(BufReader::with_capacity(1 << 16, f), stdout, stderr, &opts)
        }
        _ => parse_stream(io::stdin().lock(), stdout, stderr, &opts),
    };
    match res {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A closed pipe downstream (`| head`) is a normal way to stop.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

/// Counts of one run of [`parse_stream`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ParseCounts {
    pub lines: u64,
    pub records: u64,
    pub rejected: u64,
}

/// Parses every line of `input`, writing records to `out` and rejections to `err`.
pub fn parse_stream(
    mut input: impl BufRead,
    out: impl Write,
    err: impl Write,
    opts: &accesslake_transform::ParseOptions,
) -> io::Result<ParseCounts> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut err = BufWriter::new(err);
    let mut line = Vec::with_capacity(4096);
    let mut json = Vec::with_capacity(4096);
    let mut counts = ParseCounts::default();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        counts.lines += 1;
        let raw = trim_line_end(&line);
        match transform_value(raw, opts, &mut json) {
            Ok(()) => {
                counts.records += 1;
                out.write_all(&json)?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                counts.rejected += 1;
                let obj = serde_json::json!({
                    "line": counts.lines,
                    "error": e.to_string(),
                    "raw": lossless_text(raw),
                });
                serde_json::to_writer(&mut err, &obj)?;
                err.write_all(b"\n")?;
            }
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

/// Text for bytes that may not be UTF-8: valid UTF-8 is kept as is, each invalid byte becomes
/// the four characters `\xHH` (the convention of Apache's own log escaping), so nothing is lost
/// for logs that do not themselves contain the text `\x`.
pub fn lossless_text(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_escaped() {
        assert_eq!(lossless_text(b"ok \xff\xfe end"), "ok \\xFF\\xFE end");
        assert_eq!(lossless_text("é".as_bytes()), "é");
    }

    #[test]
    fn line_endings_are_trimmed() {
        assert_eq!(trim_line_end(b"a\r\n"), b"a");
        assert_eq!(trim_line_end(b"a\n"), b"a");
        assert_eq!(trim_line_end(b"a"), b"a");
    }
}

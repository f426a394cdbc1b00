//! `accesslake ingest --lake DIR FILE...`: raw log files → parse (natively) → enrich → windows →
//! the lake, through the same [`PartitionPipeline`] as the Kafka sink, with no broker.
//!
//! Each file is one source partition of source [`SOURCE`]: its id ([`logfile::file_id`]) is
//! derived from its first line, so the same file, or the same file grown by appends, maps to the
//! same partition wherever it lives; the offset of a line is its line number (from 1). Re-running
//! therefore skips what is already committed and adds no duplicates. A last line without a
//! newline in a file changed within [`QUIET_FOR_LAST_LINE`] is held back, not committed half. Rejected lines go to the
//! partition's dead-letter files (`LAKE/_accesslake/rejected/ingest/...jsonl`, one JSON object
//! per line: `file`, `line`, `error`, `raw`), committed with the data. A progress bar is drawn
//! only when stderr is a terminal.

use crate::config::IngestConfig;
use crate::enrich::Enricher;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::logfile;
use crate::parse_cmd::{lossless_text, too_long_error, trim_line_end};
use crate::pipeline::{PartitionPipeline, PipelineError, PipelineStats};
use crate::rows::{Provenance, Rows, TextSizes};
use accesslake_transform::{parse_line_with, ParseOptions};
use arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// The source name of ingested files.
pub const SOURCE: &str = "ingest";

/// How long a plain file must have been left unchanged for a last line without a newline to be
/// taken as finished. A file written to more recently may be a live log caught mid-line: that
/// line is held back (not committed), and a later run reads it whole.
pub const QUIET_FOR_LAST_LINE: Duration = Duration::from_secs(60);

/// What one file's ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub file_id: i32,
    /// Lines read (all of them, including those already in the lake).
    pub lines: u64,
    /// Lines before the resume point, not even parsed.
    pub already: u64,
    /// An unfinished last line (no newline, the file changed within [`QUIET_FOR_LAST_LINE`])
    /// held back for a later run: 0 or 1.
    pub held: u64,
    pub pipeline: PipelineStats,
}

/// Bytes of input handed to a worker at a time (whole lines; a longer line makes a bigger chunk).
pub const CHUNK_BYTES: usize = 1 << 20;

/// What a worker made of one chunk of lines: the parsed rows (lake schema, in line order) and
/// the dead letters `(line number, JSON line)`.
struct Chunk {
    batch: RecordBatch,
    rejected: Vec<(i64, Vec<u8>)>,
    /// Lines in the chunk, and those before the resume point (not parsed).
    lines: u64,
    already: u64,
}

/// A worker's view of the file being ingested.
struct Work<'a> {
    file_id: i32,
    resume: i64,
    opts: &'a ParseOptions,
    display: &'a str,
    /// Lines longer than this many bytes are not parsed (see [`crate::config::LineLimit`]).
    max_line: usize,
}

impl Work<'_> {
    /// A dead letter: one JSON object with the file, the line number, the reason and the line.
    fn dead_letter(&self, offset: i64, error: String, raw: &[u8]) -> Vec<u8> {
        let obj = serde_json::json!({
            "file": self.display,
            "line": offset,
            "error": error,
            "raw": lossless_text(raw),
        });
        serde_json::to_vec(&obj).expect("JSON to a Vec")
    }

    /// The dead letter of a line longer than the limit: its length and its first bytes.
    fn too_long(&self, offset: i64, head: &[u8], len: u64) -> Vec<u8> {
        let head = &head[..head.len().min(self.max_line)];
        self.dead_letter(offset, too_long_error(len, self.max_line), head)
    }
}

/// What the reader hands to a worker.
enum Piece {
    /// Whole lines (at least [`CHUNK_BYTES`] of them unless the file ends).
    Lines(Vec<u8>),
    /// One line longer than the limit: its first bytes (up to the limit) and its length without
    /// its line end. The rest of it was read past, never held.
    Long { head: Vec<u8>, len: u64 },
}

/// The lines of a chunk, each with its `\n` (the last one may lack it: the end of the file).
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
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

/// Parses and enriches one chunk whose first line has number `first`. `sizes` is how much text
/// the worker's previous chunk held (its columns are sized from it), and is updated.
fn parse_chunk(
    work: &Work<'_>,
    first: i64,
    data: &[u8],
    enricher: &mut Enricher,
    sizes: &mut Option<TextSizes>,
) -> Chunk {
    let mut rows = Rows::with_capacity_like(data.len() / 200 + 16, sizes.as_ref());
    let (mut rejected, mut lines_seen, mut already) = (Vec::new(), 0, 0);
    for (i, line) in lines(data).enumerate() {
        let offset = first + i as i64;
        lines_seen += 1;
        if offset < work.resume {
            already += 1;
            continue;
        }
        let raw = trim_line_end(line);
        if raw.len() > work.max_line {
            rejected.push((offset, work.too_long(offset, raw, raw.len() as u64)));
            continue;
        }
        match parse_line_with(raw, work.opts) {
            Ok(record) => {
                let e = enricher.enrich(&record.client_ip, record.user_agent.as_deref());
                let prov = Provenance {
                    src_partition: work.file_id,
                    src_offset: offset,
                };
                rows.push(&record, &e, prov);
            }
            Err(err) => rejected.push((offset, work.dead_letter(offset, err.to_string(), raw))),
        }
    }
    *sizes = Some(rows.text_sizes());
    Chunk {
        batch: rows.finish(),
        rejected,
        lines: lines_seen,
        already,
    }
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
/// [`CHUNK_BYTES`] steps so that memory stays bounded whatever its length. With `hold_last`, a
/// last line without a newline is not returned: it stays in `carry` (a live file caught
/// mid-line), and the file's end is reached with it there.
fn read_chunk(
    file: &mut dyn Read,
    carry: &mut Vec<u8>,
    max_line: usize,
    hold_last: bool,
) -> std::io::Result<Option<Piece>> {
    let mut buf = std::mem::take(carry);
    let (mut eof, mut want) = (false, CHUNK_BYTES);
    loop {
        while buf.len() < want && !eof {
            eof = read_more(file, &mut buf)? < CHUNK_BYTES;
        }
        if eof {
            if hold_last && buf.last().is_some_and(|&b| b != b'\n') {
                let cut = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                carry.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
            }
            // Bounded already (a too-long last line is refused by the worker, from memory).
            return Ok((!buf.is_empty()).then_some(Piece::Lines(buf)));
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(i) => {
                carry.extend_from_slice(&buf[i + 1..]);
                buf.truncate(i + 1);
                return Ok(Some(Piece::Lines(buf)));
            }
            // The first line goes past the limit (a line end of `\n` or `\r\n` aside).
            None if buf.len() > max_line.saturating_add(2) => {
                return read_past_long_line(file, buf, carry, max_line).map(Some);
            }
            // One line longer than the buffer: read on.
            None => want = buf.len() + CHUNK_BYTES,
        }
    }
}

/// The rest of [`read_chunk`] for a line longer than the limit, whose first bytes are `buf` (no
/// newline among them): keeps its head, reads on to its newline counting its length, and leaves
/// what follows the newline in `carry`.
fn read_past_long_line(
    file: &mut dyn Read,
    mut buf: Vec<u8>,
    carry: &mut Vec<u8>,
    max_line: usize,
) -> std::io::Result<Piece> {
    // The length as `trim_line_end` would leave it: a `\r` just before the end is not counted.
    let mut len = buf.len() as u64;
    let mut cr = buf.last() == Some(&b'\r');
    buf.truncate(max_line);
    let (mut tail, mut eof) = (Vec::new(), false);
    while !eof {
        tail.clear();
        let n = read_more(file, &mut tail)?;
        eof = n < CHUNK_BYTES;
        if let Some(i) = memchr::memchr(b'\n', &tail) {
            carry.extend_from_slice(&tail[i + 1..]);
            cr = if i == 0 { cr } else { tail[i - 1] == b'\r' };
            len += i as u64;
            return Ok(Piece::Long {
                head: buf,
                len: len - u64::from(cr),
            });
        }
        len += n as u64;
        if n > 0 {
            cr = tail[n - 1] == b'\r';
        }
    }
    Ok(Piece::Long {
        head: buf,
        len: len - u64::from(cr),
    })
}

/// Lines in a chunk (the last may lack its newline), as [`lines`] splits it: memchr's vectorised
/// count of newlines, not one search per line.
fn count_lines(data: &[u8]) -> i64 {
    let unterminated = data.last().is_some_and(|&b| b != b'\n');
    (memchr::memchr_iter(b'\n', data).count() + usize::from(unterminated)) as i64
}

/// Runs `work` over the jobs `next_job` yields on one thread per element of `states` (each thread
/// owning its state), and hands the results to `consume` in job order. A thread takes the next
/// job from one shared queue whenever it is free, so a thread on a slower (or busier) core takes
/// fewer jobs instead of holding the others up; at most two jobs per thread are in flight, and
/// a result that comes back before an earlier one waits, by sequence number. The first error,
/// from `next_job` or `consume`, stops everything and is returned; a panic in `work` is
/// re-raised here (never a hang waiting for its result).
fn in_order<J: Send, R: Send, S: Send>(
    states: Vec<S>,
    mut next_job: impl FnMut() -> Result<Option<J>>,
    work: impl Fn(&mut S, J) -> R + Sync,
    mut consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let workers = states.len().max(1);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, J)>(workers);
    // `None`: the worker panicked on that job (it then unwinds, and the scope re-raises it).
    let (res_tx, res_rx) = std::sync::mpsc::channel::<(usize, Option<R>)>();
    let job_rx = std::sync::Mutex::new(job_rx);
    let work = &work;
    std::thread::scope(|scope| -> Result<()> {
        // Owned by this closure, so an early return closes the queues and the workers stop.
        let (job_tx, res_tx) = (job_tx, res_tx);
        for (w, mut state) in states.into_iter().enumerate() {
            let (jobs, results) = (&job_rx, res_tx.clone());
            std::thread::Builder::new()
                .name(format!("ingest-{w}"))
                .spawn_scoped(scope, move || {
                    // The lock is held only while taking a job (a poisoned one stops the worker).
                    while let Some((seq, job)) = jobs.lock().ok().and_then(|rx| rx.recv().ok()) {
                        let sent = match catch_unwind(AssertUnwindSafe(|| work(&mut state, job))) {
                            Ok(r) => results.send((seq, Some(r))),
                            Err(panic) => {
                                // Report the result missing (or the reader would wait for it
                                // for ever); the scope then re-raises the panic.
                                let _ = results.send((seq, None));
                                resume_unwind(panic);
                            }
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                })
                .map_err(PipelineError::Spawn)?;
        }
        drop(res_tx);
        let (mut sent, mut next, mut eof) = (0usize, 0usize, false);
        let mut early = std::collections::BTreeMap::new();
        loop {
            while !eof && sent - next < 2 * workers {
                match next_job()? {
                    Some(job) => {
                        job_tx
                            .send((sent, job))
                            .map_err(|_| PipelineError::WorkerGone)?;
                        sent += 1;
                    }
                    None => eof = true,
                }
            }
            if next == sent {
                return Ok(());
            }
            let result = loop {
                if let Some(r) = early.remove(&next) {
                    break r;
                }
                let (seq, r) = res_rx.recv().map_err(|_| PipelineError::WorkerGone)?;
                early.insert(seq, r.ok_or(PipelineError::WorkerGone)?);
            };
            next += 1;
            consume(result)?;
        }
    })
}

/// Ingests one file into an open lake. Chunks of lines are parsed and enriched by `workers`
/// threads (each with its own enricher caches over the shared databases), each taking the next
/// chunk when it is free; the rows are put back in line order and go through the partition's
/// pipeline on this thread, and its commits run on a thread of their own.
///
/// [`run`] has checked the file ([`check_input`]) before the lake was opened.
fn ingest_file(
    lake: &Lake,
    path: &Path,
    cfg: &IngestConfig,
    opts: &ParseOptions,
    enricher: &Enricher,
    progress: &ProgressBar,
) -> Result<FileSummary> {
    let ioe = |e| Error::file(path, e);
    // One open file for the id and the lines: a rotation between two opens by name would read
    // one file's lines under another's id.
    let mut handle = std::fs::File::open(path).map_err(ioe)?;
    let modified = handle.metadata().and_then(|m| m.modified()).map_err(ioe)?;
    let head = logfile::open_file(handle.try_clone().map_err(ioe)?, |_| {}).map_err(ioe)?;
    let compressed = head.compressed;
    let Some(logfile::FileId { id, finished }) = logfile::file_id(head.text).map_err(ioe)? else {
        tracing::info!(file = %path.display(), "empty file: nothing to ingest");
        return Ok(FileSummary::default());
    };
    // A rotated (compressed) file is complete; a plain one changed a moment ago may be written
    // to still, its last line unfinished.
    let quiet = SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age >= QUIET_FOR_LAST_LINE);
    let hold_last = !compressed && !quiet;
    if hold_last && !finished {
        tracing::info!(file = %path.display(), "its only line is unfinished: held back");
        return Ok(FileSummary {
            held: 1,
            ..FileSummary::default()
        });
    }
    let mut pipe =
        PartitionPipeline::open(lake, SOURCE, id, cfg.window())?.with_background_writer()?;
    let resume = pipe.resume_offset().unwrap_or(1);
    let workers = cfg.workers().max(1);
    tracing::info!(file = %path.display(), file_id = id, resume_line = resume, workers, "ingesting");
    let bar = progress.clone();
    handle.seek(SeekFrom::Start(0)).map_err(ioe)?;
    let mut file = logfile::open_file(handle, move |n| bar.inc(n))
        .map_err(ioe)?
        .text;
    let display = path.display().to_string();
    let work = Work {
        file_id: id,
        resume,
        opts,
        display: &display,
        max_line: cfg.lines.bytes(),
    };
    let mut summary = FileSummary {
        file_id: id,
        ..FileSummary::default()
    };
    let mut next_line = 1i64;
    let mut carry = Vec::new();
    let next_chunk = || -> Result<Option<(i64, Piece)>> {
        let piece = read_chunk(&mut file, &mut carry, work.max_line, hold_last);
        let Some(piece) = piece.map_err(|e| Error::file(path, e))? else {
            return Ok(None);
        };
        let first = next_line;
        let (lines, bytes) = match &piece {
            Piece::Lines(data) => (count_lines(data), data.len() as u64),
            Piece::Long { len, .. } => (1, len + 1),
        };
        next_line += lines;
        // A compressed file's progress is counted as the file is read.
        if !compressed {
            progress.inc(bytes);
        }
        Ok(Some((first, piece)))
    };
    let states = (0..workers).map(|_| (enricher.fork(), None)).collect();
    let parse = |(enricher, sizes): &mut (Enricher, Option<TextSizes>),
                 (first, piece): (i64, Piece)| match piece {
        Piece::Lines(data) => parse_chunk(&work, first, &data, enricher, sizes),
        Piece::Long { head, len } => {
            let already = first < work.resume;
            let rejected = match already {
                true => Vec::new(),
                false => vec![(first, work.too_long(first, &head, len))],
            };
            Chunk {
                batch: Rows::with_capacity_like(0, None).finish(),
                rejected,
                lines: 1,
                already: u64::from(already),
            }
        }
    };
    in_order(states, next_chunk, parse, |chunk: Chunk| {
        summary.lines += chunk.lines;
        summary.already += chunk.already;
        pipe.push_batch(&chunk.batch, &chunk.rejected).map(drop)
    })?;
    pipe.flush_all()?;
    summary.pipeline = pipe.stats().clone();
    if !carry.is_empty() {
        summary.held = 1;
        tracing::info!(file = %path.display(), line = next_line, "unfinished last line held back");
    }
    Ok(summary)
}

/// An input `ingest` can read: it exists and is a regular file. The file is read twice (its id
/// from its first line, then from the top again): a pipe cannot be rewound, and opening one would
/// wait for a writer.
fn check_input(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::file(path, e))?;
    if !meta.is_file() {
        let why = "not a regular file: ingest reads a file twice (its first line names it); \
                   save the stream to a file first, or load it with `produce`";
        return Err(Error::file(path, std::io::Error::other(why)));
    }
    Ok(())
}

/// Runs the command: every file in turn, then a summary on stdout.
pub fn run(cfg: &IngestConfig) -> Result<ExitCode> {
    let started = Instant::now();
    // Every input and database is checked before the lake is touched: a typo in the last name
    // must not leave the first files ingested and the command failed half-way.
    for path in &cfg.files {
        check_input(path)?;
    }
    let enricher = Enricher::open(
        cfg.geoip.geoip_city.as_deref(),
        cfg.geoip.geoip_asn.as_deref(),
        cfg.geoip.geoip_cache_size,
    )?;
    let lake = Lake::open(&cfg.lake)?;
    let opts = cfg.format.parse_options();
    let total: u64 = cfg
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let progress = if !cfg.no_progress && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut all = Vec::new();
    for path in &cfg.files {
        all.push(ingest_file(&lake, path, cfg, &opts, &enricher, &progress)?);
    }
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let sum = |f: fn(&FileSummary) -> u64| all.iter().map(f).sum::<u64>();
    let lines = sum(|s| s.lines);
    println!(
        "ingested {} file(s): {} lines, {} rows written, {} rejected, {} already in the lake, {} late, {} lake files written (data and dead letters, {} bytes), {:.2} s, {:.0} lines/s{}",
        all.len(),
        lines,
        sum(|s| s.pipeline.rows_written),
        sum(|s| s.pipeline.rejected),
        sum(|s| s.already + s.pipeline.skipped),
        sum(|s| s.pipeline.late),
        sum(|s| s.pipeline.files),
        sum(|s| s.pipeline.bytes),
        secs,
        lines as f64 / secs.max(1e-9),
        match sum(|s| s.held) {
            0 => String::new(),
            n => format!(
                "; {n} unfinished last line(s) held back (no newline yet, the file changed in \
                 the last {} s): a later run reads them whole",
                QUIET_FOR_LAST_LINE.as_secs()
            ),
        },
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let (mut carry, mut got, mut counted) = (Vec::new(), Vec::new(), 0);
        while let Some(piece) = read_chunk(&mut file, &mut carry, 1 << 30, false).unwrap() {
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
            let (mut carry, mut got) = (Vec::new(), Vec::new());
            while let Some(piece) = read_chunk(&mut file, &mut carry, 1 << 30, true).unwrap() {
                let Piece::Lines(chunk) = piece else {
                    panic!("no line is over the limit");
                };
                got.extend_from_slice(&chunk);
            }
            assert_eq!(got, taken.as_bytes(), "{}", &text[..text.len().min(20)]);
            assert_eq!(carry, held.as_bytes());
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
        let (mut carry, mut got, mut longs) = (Vec::new(), Vec::new(), 0);
        while let Some(piece) = read_chunk(&mut file, &mut carry, max, false).unwrap() {
            match piece {
                Piece::Lines(chunk) => {
                    assert!(chunk.len() <= 3 * CHUNK_BYTES + max, "{}", chunk.len());
                    got.extend(lines(&chunk).map(|l| seen(l, max)));
                }
                Piece::Long { head, len } => {
                    longs += 1;
                    assert_eq!(head.len(), max);
                    got.push(Seen::Long(head, len));
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

    /// `in_order` over jobs `0..n`: the results in the order `consume` saw them.
    fn run_in_order(
        states: Vec<u64>,
        n: usize,
        work: impl Fn(&mut u64, usize) -> (usize, u64) + Sync,
    ) -> Result<Vec<(usize, u64)>> {
        let mut jobs = 0..n;
        let mut seen = Vec::new();
        in_order(
            states,
            || Ok(jobs.next()),
            work,
            |r| {
                seen.push(r);
                Ok(())
            },
        )?;
        Ok(seen)
    }

    #[test]
    fn results_come_back_in_job_order_and_a_free_worker_takes_more() {
        // Worker 0 is slow on every job; the others are fast but uneven.
        let seen = run_in_order(vec![0, 1, 2], 300, |id, job| {
            let micros = if *id == 0 {
                3_000
            } else {
                (job as u64 * 7919) % 400
            };
            std::thread::sleep(std::time::Duration::from_micros(micros));
            (job, *id)
        })
        .unwrap();
        assert_eq!(
            seen.iter().map(|&(job, _)| job).collect::<Vec<_>>(),
            (0..300).collect::<Vec<_>>()
        );
        let by = |w| seen.iter().filter(|&&(_, id)| id == w).count();
        assert!(
            by(0) < by(1) + by(2),
            "the slow worker took {} of 300",
            by(0)
        );
    }

    #[test]
    fn errors_stop_everything_and_are_returned() {
        let mut jobs = 0..1_000;
        let mut consumed = 0;
        let r = in_order(
            vec![(); 2],
            || Ok(jobs.next()),
            |_, j| j,
            |j| {
                consumed += 1;
                match j {
                    5 => Err(PipelineError::WorkerGone.into()),
                    _ => Ok(()),
                }
            },
        );
        assert!(r.is_err());
        assert_eq!(consumed, 6);
        let mut n = 0;
        let r = in_order(
            vec![(); 2],
            || {
                n += 1;
                match n {
                    10 => Err(PipelineError::WorkerGone.into()),
                    _ => Ok(Some(n)),
                }
            },
            |_, j| j,
            |_| Ok(()),
        );
        assert!(r.is_err());
    }

    #[test]
    fn a_panicking_worker_is_re_raised_not_waited_for() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| {
                run_in_order(vec![0, 1], 50, |_, job| {
                    assert!(job != 7, "job 7 fails");
                    (job, 0)
                })
            });
            let _ = tx.send(r.is_err());
        });
        let panicked = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("in_order hung after a worker panicked");
        assert!(panicked);
    }
}

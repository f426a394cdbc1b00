//! `accesslake ingest --lake DIR FILE...`: raw log files → parse (natively) → enrich → windows →
//! the lake, through the same [`PartitionPipeline`](crate::pipeline::PartitionPipeline) as the
//! Kafka sink, with no broker.
//!
//! Each file is one source partition of source [`SOURCE`]: its id ([`fingerprint::file_id`]) is
//! derived from its first line, so the same file, or the same file grown by appends, maps to the
//! same partition wherever it lives (the partition of that id, or the next free one when another
//! file has it: [`crate::identity`]); the offset of a line is its line number (from 1).
//! Re-running therefore skips what is already committed and adds no duplicates; a file that is
//! no longer an append of what was committed (rewritten, truncated) is stopped before anything of
//! it is written; and a run while another holds the same file's partition stops at once
//! ([`crate::lock`]). A last line without a newline in a file changed within
//! [`QUIET_FOR_LAST_LINE`] is held back, not committed half. Rejected lines go to the
//! partition's dead-letter files
//! (`LAKE/_accesslake/rejected/ingest/...jsonl`, one JSON object per line: `file`, `line`,
//! `error`, `raw`), committed with the data. The file is read in chunks of whole lines
//! ([`crate::chunk`]), parsed and enriched on worker threads ([`crate::workers`]). A progress bar
//! is drawn only when stderr is a terminal.

use crate::chunk::{count_lines, lines, read_chunk, Carry, Piece};
use crate::config::{IngestConfig, LineLimit, LogFormat};
use crate::continuity::Continuity;
use crate::dead_letter::{DeadLetter, Origin};
use crate::enrich::Enricher;
use crate::error::{Error, Result};
use crate::identity;
pub use crate::ingest_summary::FileSummary;
use crate::ingest_summary::{summary_line, Ending};
use crate::lake::Lake;
use crate::lock::LockError;
use crate::parse_cmd::{too_long_error, trim_line_end};
use crate::pipeline::PipelineError;
use crate::rows::{Provenance, Rows, TextSizes};
use crate::workers::in_order;
use crate::{fingerprint, logfile};
use accesslake_transform::{parse_line_with, ParseOptions, Record};
use arrow::record_batch::RecordBatch;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::io::{IsTerminal, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The source name of ingested files.
pub const SOURCE: &str = "ingest";

/// How long a plain file must have been left unchanged for a last line without a newline to be
/// taken as finished. A file written to more recently may be a live log caught mid-line: that
/// line is held back (not committed), and a later run reads it whole.
pub const QUIET_FOR_LAST_LINE: Duration = Duration::from_secs(60);

/// What a worker made of one chunk of lines: the parsed rows (lake schema, in line order) and
/// the dead letters `(line number, JSON line)`.
struct Chunk {
    batch: RecordBatch,
    rejected: Vec<(i64, Vec<u8>)>,
    /// Lines in the chunk, and those before the resume point (not parsed).
    lines: u64,
    already: u64,
}

/// What decides whether a line becomes a row or a dead letter: the log format and the line
/// limit. Each commit records them in the partition's state, as text
/// (`format=combined max_line_bytes=1048576`), and a run that resumes after an unfinished one
/// keeps the committed ones ([`crate::pipeline::PartitionPipeline::parse_settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ParseSettings {
    format: LogFormat,
    max_line: usize,
}

impl ParseSettings {
    fn text(&self) -> String {
        let format = self
            .format
            .to_possible_value()
            .map(|v| v.get_name().to_string());
        let format = format.unwrap_or_else(|| format!("{:?}", self.format));
        format!("format={format} max_line_bytes={}", self.max_line)
    }

    fn from_text(text: &str) -> Option<ParseSettings> {
        let (mut format, mut max_line) = (None, None);
        for item in text.split_whitespace() {
            match item.split_once('=')? {
                ("format", f) => format = Some(LogFormat::from_str(f, false).ok()?),
                ("max_line_bytes", n) => {
                    let n: u32 = n.parse().ok()?;
                    // The range the flag had when the state was written (up to 1 GiB before
                    // 2026-11-29, so that such a run can be finished): a hand-edited state must
                    // not lift the bound on memory.
                    max_line =
                        Some(n as usize).filter(|_| (1..=LineLimit::RECORDED_MAX).contains(&n));
                }
                _ => return None,
            }
        }
        Some(ParseSettings {
            format: format?,
            max_line: max_line?,
        })
    }
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
        let origin = Origin::FileLine {
            file: self.display,
            line: offset,
        };
        let mut out = Vec::new();
        DeadLetter::new(origin, &error, raw).write_to(&mut out);
        out
    }

    /// The dead letter of a line longer than the limit: its length and its first bytes.
    fn too_long(&self, offset: i64, head: &[u8], len: u64) -> Vec<u8> {
        let head = &head[..head.len().min(self.max_line)];
        self.dead_letter(offset, too_long_error(len, self.max_line), head)
    }
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
    let mut rows = Rows::with_capacity_like(data.len() / 200 + 16, data.len(), sizes.as_ref());
    let (mut rejected, mut lines_seen, mut already) = (Vec::new(), 0, 0);
    let mut group = Vec::with_capacity(GROUP);
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
                group.push((offset, record));
                if group.len() == GROUP {
                    enrich_group(work, &mut group, enricher, &mut rows);
                }
            }
            Err(err) => rejected.push((offset, work.dead_letter(offset, err.to_string(), raw))),
        }
    }
    enrich_group(work, &mut group, enricher, &mut rows);
    *sizes = Some(rows.text_sizes());
    Chunk {
        batch: rows.finish(),
        rejected,
        lines: lines_seen,
        already,
    }
}

/// Lines parsed before they are enriched together (see [`Enricher::enrich_group`]).
const GROUP: usize = 64;

/// Enriches a group of parsed lines (by line number) and appends them to `rows`, emptying it.
fn enrich_group(
    work: &Work<'_>,
    group: &mut Vec<(i64, Record<'_>)>,
    enricher: &mut Enricher,
    rows: &mut Rows,
) {
    let keys: Vec<_> = group
        .iter()
        .map(|(_, r)| (&*r.client_ip, r.user_agent.as_deref()))
        .collect();
    enricher.enrich_group(&keys, |i, e| {
        let (offset, record) = &group[i];
        let prov = Provenance {
            src_partition: work.file_id,
            src_offset: *offset,
        };
        rows.push(record, &e, prov);
    });
    group.clear();
}

/// Reads a compressed file through to its end, checking every gzip member's CRC and length,
/// before any of it is committed: those checks come only at a member's end, so a damaged or cut
/// archive would otherwise commit its lines up to the damage, the garbled ones among them. The
/// cost is a second decompression of compressed files (plain ones are read once).
fn verify_compressed(handle: &std::fs::File) -> std::io::Result<()> {
    let mut file = handle.try_clone()?;
    file.seek(SeekFrom::Start(0))?;
    let mut text = logfile::open_file(file, |_| {})?.text;
    std::io::copy(&mut text, &mut std::io::sink()).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("damaged compressed file, nothing of it ingested: {e}"),
        )
    })?;
    Ok(())
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
    enricher: &Enricher,
    progress: &ProgressBar,
    stop: &AtomicBool,
) -> Result<FileSummary> {
    let ioe = |e| Error::file(path, e);
    // One open file for the id and the lines: a rotation between two opens by name would read
    // one file's lines under another's id.
    let mut handle = std::fs::File::open(path).map_err(ioe)?;
    let modified = handle.metadata().and_then(|m| m.modified()).map_err(ioe)?;
    let head = logfile::open_file(handle.try_clone().map_err(ioe)?, |_| {}).map_err(ioe)?;
    let compressed = head.compressed;
    let Some(fingerprint::FileId {
        id,
        finished,
        content,
        first_line,
        earlier,
    }) = fingerprint::file_id(head.text).map_err(ioe)?
    else {
        tracing::info!(file = %path.display(), "empty file: nothing to ingest");
        return Ok(FileSummary::default());
    };
    // A rotated (compressed) file is complete; a plain one changed a moment ago may be written
    // to still, its last line unfinished. Asked again when the reading reaches the file's end:
    // a writer may append half a line to a file that was quiet when the run began.
    let hold_last = !compressed && !quiet(Ok(modified));
    let stat = handle.try_clone().map_err(ioe)?;
    let hold_last_at_end =
        move || !compressed && !quiet(stat.metadata().and_then(|m| m.modified()));
    if !compressed && !content {
        tracing::info!(
            file = %path.display(),
            "only blank lines so far: held back until a line of content follows them"
        );
        return Ok(FileSummary {
            blank_only: true,
            ..FileSummary::default()
        });
    }
    if hold_last && !finished {
        tracing::info!(file = %path.display(), "its only line is unfinished: held back");
        return Ok(FileSummary {
            held: 1,
            ..FileSummary::default()
        });
    }
    if compressed {
        verify_compressed(&handle).map_err(ioe)?;
    }
    // The file's partition: its id's, or the next free one if another file has that id.
    let pipe = identity::open(lake, SOURCE, id, first_line, &earlier, cfg.window()).map_err(
        |e| match e {
            // Name the input: the lock's path alone does not say which file is in use.
            Error::Lock(held @ LockError::Held { .. }) => Error::file(
                path,
                std::io::Error::other(format!(
                    "another process is ingesting this file (or another file with its id): {held}"
                )),
            ),
            e => e,
        },
    )?;
    let mut pipe = pipe.with_background_writer()?;
    let partition = pipe.partition();
    // The file must still be an append of what its partition holds.
    let mut continuity = Continuity::new(lake, SOURCE, &pipe, path);
    let configured = ParseSettings {
        format: cfg.layout.format,
        max_line: cfg.lines.bytes(),
    };
    let chosen = pipe.parse_settings(&configured.text());
    // Only committed settings can be unreadable (a state written by another version): parsing
    // with others could write a committed line again, so the file waits for that version.
    let settings = ParseSettings::from_text(&chosen).ok_or_else(|| {
        let why = format!(
            "the lake's state for this file records parse settings this build cannot read \
             ({chosen}), with lines past its resume point committed: finish this file with the \
             build that wrote them"
        );
        Error::file(path, std::io::Error::other(why))
    })?;
    let opts = settings.format.parse_options();
    let resume = pipe.resume_offset().unwrap_or(1);
    let workers = cfg.workers().max(1);
    tracing::info!(file = %path.display(), file_id = id, partition, resume_line = resume, workers, "ingesting");
    // The partition was found for the file's first line as read a moment ago; a writer may have
    // finished its only line since, or a `copytruncate` rotation refilled it: its lines would
    // go under another file's partition. Nothing is written then.
    if !starts_with(&handle, id, first_line).map_err(ioe)? {
        return Err(Error::file(
            path,
            std::io::Error::other(
                "its first line changed while the file was being opened (a writer finished it, \
                 or the file was rotated in place): nothing of it was written; run again",
            ),
        ));
    }
    let bar = progress.clone();
    handle.seek(SeekFrom::Start(0)).map_err(ioe)?;
    let mut file = logfile::open_file(handle, move |n| bar.inc(n))
        .map_err(ioe)?
        .text;
    // The name dead letters give: bytes that are not UTF-8 as `\xHH`, as in lines.
    let display = {
        use std::os::unix::ffi::OsStrExt;
        accesslake_transform::text::utf8_or_hex(path.as_os_str().as_bytes()).into_owned()
    };
    let work = Work {
        file_id: partition,
        resume,
        opts: &opts,
        display: &display,
        max_line: settings.max_line,
    };
    let mut summary = FileSummary {
        file_id: partition,
        ..FileSummary::default()
    };
    let mut next_line = 1i64;
    let mut carry = Carry::default();
    let mut at_end = false;
    let next_chunk = || -> Result<Option<(i64, Piece)>> {
        // Asked to stop: no more is read, and what was read is committed below.
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let piece = read_chunk(&mut file, &mut carry, work.max_line, &hold_last_at_end);
        let Some(piece) = piece.map_err(|e| Error::file(path, e))? else {
            continuity.end(next_line, carry.held())?;
            at_end = true;
            return Ok(None);
        };
        let first = next_line;
        // Before the piece is parsed: nothing of a rewritten file is written.
        continuity.piece(first, &piece)?;
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
        Piece::Long { head, len, .. } => {
            let already = first < work.resume;
            let rejected = match already {
                true => Vec::new(),
                false => vec![(first, work.too_long(first, &head, len))],
            };
            Chunk {
                batch: Rows::with_capacity(0).finish(),
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
    // The end of the file was reached (or a signal stopped the reading): the last line read is
    // recorded with the last commit. The fingerprint the partition records stays the one
    // `identity::open` found it by.
    summary.interrupted = !at_end;
    pipe.record_last_line(continuity.last());
    if let Some(line) = continuity.finished_late() {
        summary.finished_late = 1;
        tracing::warn!(
            file = %path.display(),
            line,
            "this line was committed unfinished (no newline after the file was left alone {} s) \
             and has grown since: the lake keeps the part committed, the rest of the line is \
             not ingested",
            QUIET_FOR_LAST_LINE.as_secs()
        );
    }
    pipe.flush_all()?;
    summary.pipeline = pipe.stats().clone();
    // A held line that is the one committed unfinished (unchanged, or grown since: the warning
    // above says what the lake keeps of it) is not held for a later run.
    if at_end && carry.held().is_some() && !continuity.is_committed_last(next_line) {
        summary.held = 1;
        tracing::info!(file = %path.display(), line = next_line, "unfinished last line held back");
    }
    Ok(summary)
}

/// Whether a file last modified at `modified` has been left alone for [`QUIET_FOR_LAST_LINE`]
/// (not when its time cannot be read: its last line is then held back).
fn quiet(modified: std::io::Result<SystemTime>) -> bool {
    modified.is_ok_and(|m| {
        SystemTime::now()
            .duration_since(m)
            .is_ok_and(|age| age >= QUIET_FOR_LAST_LINE)
    })
}

/// An input `ingest` can read: it exists, is a regular file, opens, and is plain or gzip text
/// ([`logfile::open_file`] refuses other compressions). The file is read twice (its id from its
/// first line, then from the top again): a pipe cannot be rewound, and opening one would wait
/// for a writer.
fn check_input(path: &Path) -> Result<()> {
    let why = "not a regular file: ingest reads a file twice (its first line names it); \
               save the stream to a file first, or load it with `produce`";
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        // `-`, standard input for most tools, is no file here: said so, not "not found".
        std::io::ErrorKind::NotFound if path == Path::new("-") => Error::file(
            path,
            std::io::Error::other(format!("standard input is {why}")),
        ),
        _ => Error::file(path, e),
    })?;
    if !meta.is_file() {
        return Err(Error::file(path, std::io::Error::other(why)));
    }
    std::fs::File::open(path)
        .and_then(|f| logfile::open_file(f, |_| {}))
        .map_err(|e| Error::file(path, e))?;
    Ok(())
}

/// Runs the command: every file in turn, then a summary on stdout.
pub fn run(cfg: &IngestConfig) -> Result<ExitCode> {
    let started = Instant::now();
    // The settings, every input and every database are checked before the lake is touched: a
    // typo in the last name must not leave the first files ingested and the command failed
    // half-way, nor a bad setting a lock file behind.
    cfg.window().validate().map_err(PipelineError::Settings)?;
    for path in &cfg.files {
        check_input(path)?;
    }
    let enricher = Enricher::open(
        cfg.geoip.geoip_city.as_deref(),
        cfg.geoip.geoip_asn.as_deref(),
        cfg.geoip.geoip_cache_size,
    )?;
    let lake = Lake::open(&cfg.lake)?;
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
    // SIGTERM/SIGINT stop the reading; what was read is committed, and the summary says so. A
    // second signal ends the process at once, saying so, with the same exit code (exactly-once
    // holds either way: a run resumes from what the lake holds).
    let (stop, term) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    for sig in [SIGTERM, SIGINT] {
        let stopping = Arc::clone(&stop);
        // SAFETY: the action only loads an atomic and calls write(2), both async-signal-safe.
        // Actions run in the order registered: this one before the shutdown below.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                if stopping.load(Ordering::SeqCst) {
                    let msg = SECOND_SIGNAL.as_bytes();
                    libc::write(2, msg.as_ptr().cast(), msg.len());
                }
            })?;
        }
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&stop))?;
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    signal_hook::flag::register(SIGTERM, Arc::clone(&term))?;
    let mut all = Vec::new();
    for path in &cfg.files {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match ingest_file(&lake, path, cfg, &enricher, &progress, &stop) {
            Ok(summary) => all.push(summary),
            // What the files before it did is committed: said before the error is.
            Err(e) => {
                progress.finish_and_clear();
                if !all.is_empty() {
                    let secs = started.elapsed().as_secs_f64();
                    say(&summary_line(&all, cfg.files.len(), secs, Ending::Failed));
                }
                return Err(e);
            }
        }
    }
    progress.finish_and_clear();
    let interrupted = all.len() < cfg.files.len() || all.iter().any(|s| s.interrupted);
    let signalled = stop.load(Ordering::Relaxed);
    let ending = match (signalled, interrupted) {
        (_, true) => Ending::Interrupted,
        (signalled, false) => Ending::Done { signalled },
    };
    let secs = started.elapsed().as_secs_f64();
    say(&summary_line(&all, cfg.files.len(), secs, ending));
    // Signalled: the conventional 128 + the signal's number, whether or not it cut the reading.
    Ok(match (signalled, term.load(Ordering::Relaxed)) {
        (false, _) => ExitCode::SUCCESS,
        (true, true) => ExitCode::from(128 + SIGTERM as u8),
        (true, false) => ExitCode::from(128 + SIGINT as u8),
    })
}

/// Prints the summary line on stdout. What it says is committed whether or not it is read: a
/// closed pipe (`ingest … | tee log`, Ctrl-C stopping both) is not an error, and a stdout that
/// refuses it otherwise is told on stderr; neither changes the exit status (`println!` panicked).
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            tracing::warn!(error = %e, "cannot print the summary on stdout: {line}")
        }
        _ => {}
    }
}

/// What a second SIGTERM/SIGINT prints before the process ends at once.
const SECOND_SIGNAL: &str = "accesslake: a second signal: stopping at once; what is committed \
                             stays, and the same command goes on from there\n";

/// Whether the file of `handle` starts with the first line of `id` and `first_line` still
/// ([`fingerprint::file_id`]), read again through a clone of `handle` (which shares its
/// position: the caller seeks back).
fn starts_with(
    handle: &std::fs::File,
    id: i32,
    first_line: fingerprint::Fingerprint,
) -> std::io::Result<bool> {
    let text = logfile::open_file(handle.try_clone()?, |_| {})?.text;
    Ok(fingerprint::file_id(text)?.is_some_and(|f| f.id == id && f.first_line == first_line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_settings_read_back_as_written() {
        for format in LogFormat::value_variants() {
            let s = ParseSettings {
                format: *format,
                max_line: 65_536,
            };
            assert_eq!(ParseSettings::from_text(&s.text()), Some(s), "{}", s.text());
        }
        let text = ParseSettings {
            format: LogFormat::VhostCombined,
            max_line: 1 << 20,
        }
        .text();
        assert_eq!(text, "format=vhost-combined max_line_bytes=1048576");
        // A limit over today's flag range, recorded by an earlier build (up to 1 GiB), is kept
        // so that the run it belongs to can be finished.
        let legacy = ParseSettings::from_text("format=combined max_line_bytes=536870912");
        assert_eq!(legacy.map(|s| s.max_line), Some(1 << 29));
        for bad in [
            "",
            "format=combined",
            "format=nope max_line_bytes=1",
            "x=1",
            "format=combined max_line_bytes=0",
            "format=combined max_line_bytes=1073741825",
            "format=combined max_line_bytes=18446744073709551615",
        ] {
            assert_eq!(ParseSettings::from_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_file_whose_first_line_changed_since_its_id_was_read_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, "abc").unwrap();
        let handle = std::fs::File::open(&path).unwrap();
        let head = logfile::open_file(handle.try_clone().unwrap(), |_| {}).unwrap();
        let was = fingerprint::file_id(head.text).unwrap().unwrap();
        assert!(starts_with(&handle, was.id, was.first_line).unwrap());
        // Finished as it was: the same line.
        std::fs::write(&path, "abc\nmore\n").unwrap();
        assert!(starts_with(&handle, was.id, was.first_line).unwrap());
        // Grown before its newline came: another line.
        std::fs::write(&path, "abcdef\nmore\n").unwrap();
        assert!(!starts_with(&handle, was.id, was.first_line).unwrap());
        // Emptied (rotated in place): no first line.
        std::fs::write(&path, "").unwrap();
        assert!(!starts_with(&handle, was.id, was.first_line).unwrap());
    }
}

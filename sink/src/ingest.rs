//! `accesslake ingest --lake DIR FILE...`: raw log files → parse (natively) → enrich → windows →
//! the lake, through the same [`PartitionPipeline`] as the Kafka sink, with no broker.
//!
//! Each file is one source partition of source [`SOURCE`]: its id ([`file_id`]) is derived from
//! its first line, so the same file, or the same file grown by appends, maps to the same
//! partition wherever it lives; the offset of a line is its line number (from 1). Re-running
//! therefore skips what is already committed and adds no duplicates. Rejected lines go to the
//! partition's dead-letter files (`LAKE/_accesslake/rejected/ingest/...jsonl`, one JSON object
//! per line: `file`, `line`, `error`, `raw`), committed with the data. A progress bar is drawn
//! only when stderr is a terminal.

use crate::config::IngestConfig;
use crate::enrich::Enricher;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::parse_cmd::{lossless_text, trim_line_end};
use crate::pipeline::{PartitionPipeline, PipelineStats};
use accesslake_transform::{parse_line_with, ParseOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// The source name of ingested files.
pub const SOURCE: &str = "ingest";

/// Bytes of the first line that identify a file.
pub const ID_PREFIX: usize = 4096;

/// What one file's ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub file_id: i32,
    /// Lines read (all of them, including those already in the lake).
    pub lines: u64,
    /// Lines before the resume point, not even parsed.
    pub already: u64,
    pub pipeline: PipelineStats,
}

/// The id of a file: FNV-1a (64-bit) of its first line (at most [`ID_PREFIX`] bytes, newline
/// included), folded to a non-negative `i32`. `None` for an empty file.
pub fn file_id(path: &Path) -> std::io::Result<Option<i32>> {
    let mut head = Vec::with_capacity(ID_PREFIX);
    File::open(path)?
        .take(ID_PREFIX as u64)
        .read_to_end(&mut head)?;
    if head.is_empty() {
        return Ok(None);
    }
    let line = match memchr::memchr(b'\n', &head) {
        Some(i) => &head[..=i],
        None => &head[..],
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in line {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(Some(((h ^ (h >> 32)) as u32 & 0x7fff_ffff) as i32))
}

/// Ingests one file into an open lake.
pub fn ingest_file(
    lake: &Lake,
    path: &Path,
    cfg: &IngestConfig,
    opts: &ParseOptions,
    enricher: &mut Enricher,
    progress: &ProgressBar,
) -> Result<FileSummary> {
    let Some(id) = file_id(path).map_err(|e| Error::file(path, e))? else {
        tracing::info!(file = %path.display(), "empty file: nothing to ingest");
        return Ok(FileSummary::default());
    };
    let mut pipe =
        PartitionPipeline::open(lake, SOURCE, id, cfg.window())?.with_background_writer();
    let resume = pipe.resume_offset().unwrap_or(1);
    tracing::info!(file = %path.display(), file_id = id, resume_line = resume, "ingesting");
    let file = File::open(path).map_err(|e| Error::file(path, e))?;
    let mut input = BufReader::with_capacity(1 << 18, file);
    let mut line = Vec::with_capacity(4096);
    let mut dead = Vec::with_capacity(1024);
    let display = path.display().to_string();
    let mut summary = FileSummary {
        file_id: id,
        ..FileSummary::default()
    };
    let mut unreported = 0u64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::file(path, e))?;
        if n == 0 {
            break;
        }
        unreported += n as u64;
        if unreported >= 1 << 20 {
            progress.inc(unreported);
            unreported = 0;
        }
        summary.lines += 1;
        let offset = summary.lines as i64;
        if offset < resume {
            summary.already += 1;
            continue;
        }
        let raw = trim_line_end(&line);
        match parse_line_with(raw, opts) {
            Ok(record) => {
                let e = enricher.enrich(&record.client_ip, record.user_agent.as_deref());
                pipe.push(offset, &record, &e)?;
            }
            Err(err) => {
                dead.clear();
                let obj = serde_json::json!({
                    "file": display,
                    "line": offset,
                    "error": err.to_string(),
                    "raw": lossless_text(raw),
                });
                serde_json::to_writer(&mut dead, &obj).expect("JSON to a Vec");
                pipe.push_rejected(offset, &dead)?;
            }
        }
    }
    progress.inc(unreported);
    pipe.flush_all()?;
    summary.pipeline = pipe.stats().clone();
    Ok(summary)
}

/// Runs the command: every file in turn, then a summary on stdout.
pub fn run(cfg: &IngestConfig) -> Result<ExitCode> {
    let started = Instant::now();
    let lake = Lake::open(&cfg.lake)?;
    let mut enricher = Enricher::open(
        cfg.geoip.geoip_city.as_deref(),
        cfg.geoip.geoip_asn.as_deref(),
        cfg.geoip.geoip_cache_size,
    )?;
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
        all.push(ingest_file(
            &lake,
            path,
            cfg,
            &opts,
            &mut enricher,
            &progress,
        )?);
    }
    progress.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let sum = |f: fn(&FileSummary) -> u64| all.iter().map(f).sum::<u64>();
    let lines = sum(|s| s.lines);
    println!(
        "ingested {} file(s): {} lines, {} rows written, {} rejected, {} already in the lake, {} late, {} files ({} bytes), {:.2} s, {:.0} lines/s",
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
    );
    let (lookups, misses) = enricher.cache_stats();
    tracing::debug!(lookups, misses, "GeoIP cache");
    Ok(ExitCode::SUCCESS)
}

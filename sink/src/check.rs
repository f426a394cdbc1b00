//! The `check` command: every committed file of a lake read back in full ([`check`]).
//!
//! `query` and `report` read only what a statement needs, and `report` trusts a summary whose
//! data file keeps the length and footer it was committed with, so damage inside a page can lie
//! unread for months. After a disk incident, a restore from backup or a copy between machines,
//! `check` reads every data file and every summary of a range in full with the parquet crate,
//! on every core, and lists what is wrong:
//! - a file that cannot be read in full, with the reason (see [`crate::damage`]);
//! - a data file that is not the one its summary describes (its length or footer changed), and a
//!   summary that is not a summary (see [`crate::summary_use`]);
//! - a summary whose requests do not add up to its data file's rows;
//! - a summary left without its data file (the file's committed rows are gone);
//! - a Parquet file the lake's writers did not write: a name of another form, or other columns;
//! - committed files not in place yet (a commit interrupted after its commit point);
//! - a merge of `compact` interrupted after its commit point (see [`crate::compact`]), and a
//!   merge's input (a data or dead-letter file) beside its merged file with no merge under way;
//! - a partition's resume state that `ingest` and `run` would refuse (see [`crate::offsets`]),
//!   or that is missing while the partition has data files;
//! - a dead-letter file that cannot be read, or with lines that are not a dead letter's JSON (cut
//!   short, damaged or edited), whatever the range: a dead letter has no time of its own.
//!
//! It changes nothing, and fails when it finds anything. A change inside a page that still
//! decodes (a flipped bit in a plain value) is beyond it: Parquet pages carry no checksum here.

use crate::config::CheckConfig;
use crate::lake_files::Listing;
use crate::query::{QueryError, TimeRange};
use crate::report::ReportError;
use crate::summary::Section;
use crate::summary_use::BYTES_DIFFER;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Errors of the check command.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Range(#[from] ReportError),
    #[error("cannot write the findings: {0}")]
    Output(#[source] io::Error),
    #[error("{found} problem(s) in the lake at {}: listed on standard output", .lake.display())]
    Found { found: usize, lake: PathBuf },
}

/// One thing wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub path: PathBuf,
    pub problem: String,
}

/// What [`check`] read, and what it found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub data_files: usize,
    /// Rows of the data files that read in full.
    pub rows: u64,
    pub summaries: usize,
    /// Resume states read (every partition's, whatever the range).
    pub states: usize,
    /// Dead-letter files read, and the dead letters in them (all of them, whatever the range).
    pub dead_letter_files: usize,
    pub dead_letters: u64,
    pub findings: Vec<Finding>,
}

/// Reads every committed data file of `lake` whose hour overlaps `range`, and every summary of
/// those hours, in full, and says what is wrong with them.
pub fn check(lake: &Path, range: TimeRange) -> Result<Checked, QueryError> {
    let listing = Listing::new(lake, &range, true)?;
    let mut covered = listing.covered.clone();
    let partitions: std::collections::BTreeSet<(String, i32)> = listing
        .all
        .iter()
        .filter_map(|f| crate::lake_files::name_parts(&f.path))
        .map(|(source, partition, _)| (source, partition))
        .collect();
    let pairs: Vec<(PathBuf, Option<PathBuf>)> = listing
        .in_range
        .into_iter()
        .map(|(f, summary)| (f.path, summary))
        .collect();
    let mut out = Checked {
        data_files: pairs.len(),
        summaries: pairs.iter().filter(|(_, s)| s.is_some()).count(),
        ..Checked::default()
    };
    for (rows, findings) in crate::summary_use::on_threads(&pairs, 1, |(d, s)| pair(d, s)) {
        out.rows += rows.unwrap_or(0);
        out.findings.extend(findings);
    }
    for path in listing.foreign {
        out.findings.push(Finding {
            path,
            problem: "not a file of this lake (its writers name files \
                      `<source>-p<partition>-o<offset>.parquet`, and `compact` adds \
                      `-o<offset>` for the last input of a merge): `query` and `report` skip it, \
                      but DuckDB's own `read_parquet('LAKE/**/*.parquet')` reads it; move it \
                      out of the lake"
                .into(),
        });
    }
    for orphan in listing.orphans {
        out.findings.push(Finding {
            path: orphan,
            problem: "a summary without its data file: the file's committed rows are missing \
                      from the lake (removed by hand or by another tool?)"
                .into(),
        });
    }
    out.states = states(lake, &mut out.findings);
    let crate::lake_files::DeadLetters {
        files: dead,
        covered: dead_covered,
    } = crate::lake_files::dead_letters(lake)?;
    out.dead_letter_files = dead.len();
    let read = crate::summary_use::on_threads(&dead, 1, |p| crate::dead_letter::tally_file(p));
    for (path, read) in dead.into_iter().zip(read) {
        let problem = match read {
            Ok((lines, 0, _)) => {
                out.dead_letters += lines;
                continue;
            }
            Ok((lines, bad, _)) => {
                out.dead_letters += lines;
                format!(
                    "{bad} of its {lines} line(s) are not a dead letter's JSON: the file was cut \
                     short, damaged or edited (`report` counts them apart)"
                )
            }
            Err(e) => format!("a dead-letter file that cannot be read: {e}"),
        };
        out.findings.push(Finding { path, problem });
    }
    for (source, partition) in partitions {
        let state = crate::lake::Lake::state_path_in(lake, &source, partition);
        if !state.exists() {
            out.findings.push(Finding {
                path: state,
                problem: format!(
                    "missing: the lake holds data files of source {source}, partition \
                     {partition} (`{source}-p{partition}-o*`), but not their resume state, so \
                     `ingest` and `run` refuse to write that partition (README, \"Rewritten \
                     files\")"
                ),
            });
        }
    }
    let settle = std::time::Duration::from_secs(1);
    for (source, partition, files) in crate::lake::unpublished(lake, settle) {
        out.findings.push(Finding {
            path: crate::lake::Lake::state_path_in(lake, &source, partition),
            problem: format!(
                "{files} committed file(s) of source {source}, partition {partition}, not in \
                 place yet: `accesslake ingest` of that file again, or `accesslake run`, \
                 publishes them"
            ),
        });
    }
    covered.extend(dead_covered);
    match crate::compact::unfinished(lake, settle) {
        Some(u) => out.findings.push(Finding {
            path: u.journal,
            problem: match u.earlier_version {
                true => {
                    "an interrupted merge of an earlier version's `accesslake compact`: rows \
                         of the files it merged may be read twice until `accesslake compact` (or \
                         `expire`) finishes it"
                }
                false => {
                    "an interrupted merge of `accesslake compact`: `query` and `report` skip \
                          its inputs, but DuckDB's own read_parquet('LAKE/**/*.parquet') reads \
                          their rows twice until `accesslake compact` (or `expire`) finishes it"
                }
            }
            .into(),
        }),
        None => {
            for path in covered {
                let twice = match path.extension().is_some_and(|x| x == "jsonl") {
                    true => "`report` and `check` skip its dead letters; delete it",
                    false => {
                        "`query` and `report` skip it, but DuckDB's own \
                              read_parquet('LAKE/**/*.parquet') reads its rows twice; delete it"
                    }
                };
                out.findings.push(Finding {
                    path,
                    problem: format!(
                        "merged already into a file beside it (named after this file's partition \
                         and a span of first offsets that holds its own), with no merge under \
                         way: {twice}"
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Loads every partition's resume state (`_accesslake/state/<source>/<partition>.json`) as a
/// writer would, adding a finding for each it refuses; returns how many it read.
fn states(lake: &Path, findings: &mut Vec<Finding>) -> usize {
    let states = crate::offsets::state_files(lake);
    for (source, partition, path) in &states {
        if let Err(e) = crate::offsets::load(path, source, *partition) {
            findings.push(Finding {
                path: path.clone(),
                problem: format!("a resume state `ingest` and `run` refuse: {e}"),
            });
        }
    }
    states.len()
}

/// The rows of data file `data` if it reads in full, and what is wrong with it and its summary.
fn pair(data: &Path, summary: &Option<PathBuf>) -> (Option<u64>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut found = |path: &Path, problem: String| {
        findings.push(Finding {
            path: path.to_path_buf(),
            problem,
        })
    };
    let rows = crate::damage::read_in_full(data)
        .map_err(|e| found(data, format!("cannot be read in full: {e}")))
        .ok();
    if let Some(columns) = rows.and_then(|_| other_columns(data)) {
        found(
            data,
            format!(
                "its columns are not the lake's ({columns}): `query` and `report` fail on it \
                 (DuckDB takes the columns of one file for all); move it out of the lake"
            ),
        );
    }
    let Some(summary) = summary else {
        return (rows, findings);
    };
    let (verdict, _) =
        crate::summary_use::check(&data.to_string_lossy(), &summary.to_string_lossy(), true);
    match verdict {
        Err(reason) => found(summary, format!("not a summary of this build: {reason}")),
        // Said already: the file does not decode.
        Ok(Some(what)) if rows.is_none() && what.starts_with(BYTES_DIFFER) => {}
        Ok(Some(what)) => found(
            data,
            format!("not the file its summary describes ({what}): `report` reads its rows"),
        ),
        Ok(None) => match (requests(summary), rows) {
            (Err(e), _) => found(summary, format!("cannot be read in full: {e}")),
            (Ok(n), Some(rows)) if n != rows => found(
                summary,
                format!("counts {n} requests, and its data file holds {rows} rows"),
            ),
            _ => {}
        },
    }
    (rows, findings)
}

/// The names of a data file's columns when they are not the lake's (names and types), which
/// `compact` leaves alone too; `None` when they are, or when its footer does not read.
fn other_columns(data: &Path) -> Option<String> {
    let file = std::fs::File::open(data).ok()?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file);
    let schema = builder.ok()?.schema().clone();
    let lake = crate::rows::lake_schema();
    if schema.fields() == lake.fields() {
        return None;
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut text = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        text.push_str(&format!(", … {} columns", names.len()));
    }
    Some(text)
}

/// The requests a summary counts (its `traffic` rows), read in full.
fn requests(summary: &Path) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut add = |batch: &RecordBatch| -> Result<(), String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column {name}"))
        };
        let kinds = column("kind")?
            .as_string_opt::<i32>()
            .ok_or("`kind` is not text")?;
        let requests = column("requests")?
            .as_primitive_opt::<Int64Type>()
            .ok_or("`requests` is not BIGINT")?;
        for (kind, n) in kinds.iter().zip(requests) {
            if kind == Some(Section::Traffic.name()) {
                total = total.saturating_add(n.unwrap_or(0).max(0) as u64);
            }
        }
        Ok(())
    };
    crate::damage::read_each(summary, &mut add)?;
    Ok(total)
}

/// The `check` command: the findings on standard output, one line each, then what was read.
pub fn run(cfg: &CheckConfig) -> Result<(), CheckError> {
    let range = crate::report::range(&cfg.range)?;
    let started = std::time::Instant::now();
    let checked = check(&cfg.range.lake, range)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut write = || -> io::Result<()> {
        for f in &checked.findings {
            writeln!(out, "{}: {}", f.path.display(), f.problem)?;
        }
        writeln!(
            out,
            "read {} data file(s) ({} rows), {} summary file(s), {} resume state(s) and {} \
             dead-letter file(s) ({} dead letters) in {:.1} s: {}",
            checked.data_files,
            checked.rows,
            checked.summaries,
            checked.states,
            checked.dead_letter_files,
            checked.dead_letters,
            started.elapsed().as_secs_f64(),
            match checked.findings.len() {
                0 => "no problem found".to_string(),
                n => format!("{n} problem(s)"),
            }
        )?;
        out.flush()
    };
    match write() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(CheckError::Output(e)),
        _ => {}
    }
    match checked.findings.len() {
        0 => Ok(()),
        found => Err(CheckError::Found {
            found,
            lake: cfg.range.lake.clone(),
        }),
    }
}

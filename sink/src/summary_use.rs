//! Which per-file summaries a lake session reads in place of the files' rows ([`select`]).
//!
//! A file's summary ([`crate::summary`]) stands in for the file when its whole hour lies in the
//! range, the summary is there, and the file is still the one it was committed with. For that
//! last point a summary records the length in bytes of its data file as committed (key-value
//! metadata [`DATA_BYTES_KEY`]). A data file of another length (cut short, appended to, or
//! replaced by hand) is aggregated from its rows instead, with a warning that names it, so that
//! `report` counts what `query` reads, or fails naming the file where DuckDB cannot read it, as
//! `query` does. A file changed in place without a change of length is not noticed. Summaries
//! written before 2026-11-30 record no length and are read as before. A summary left without
//! its data file (the writer publishes the data file first, so only a removal by hand or by
//! another tool leaves one) is not read, and [`warn_orphans`] says that rows are missing.

use crate::summary::DATA_BYTES_KEY;
use parquet::file::metadata::ParquetMetaDataReader;
use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;

/// One data file of a session: its name as DuckDB reads it (absolute, UTF-8), and its summary's
/// name where that summary may stand in for it.
pub(crate) struct Candidate {
    pub data: String,
    pub summary: Option<String>,
}

/// The split of a session's files: summaries to read, and data files to aggregate.
#[derive(Debug, Default)]
pub(crate) struct Selected {
    pub summaries: Vec<String>,
    pub aggregated: Vec<String>,
}

/// Splits `candidates`: a file whose summary is given and whose length is the one its summary
/// recorded (or which recorded none) is read by its summary; every other file is aggregated.
pub(crate) fn select(candidates: Vec<Candidate>) -> Selected {
    let summaries: Vec<&str> = candidates
        .iter()
        .filter_map(|c| c.summary.as_deref())
        .collect();
    let mut recorded = recorded_lengths(&summaries).into_iter();
    let mut out = Selected::default();
    for Candidate { data, summary } in candidates {
        let Some(summary) = summary else {
            out.aggregated.push(data);
            continue;
        };
        let Some(want) = recorded.next().flatten() else {
            out.summaries.push(summary);
            continue;
        };
        match std::fs::metadata(&data).map(|m| m.len()) {
            Ok(len) if len == want => out.summaries.push(summary),
            found => {
                let found = match found {
                    Ok(len) => format!("{len} bytes"),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(
                    file = data.as_str(),
                    committed_bytes = want,
                    found = found.as_str(),
                    "a lake file is not the one its summary describes (its length changed \
                     since its commit): its rows are read instead"
                );
                out.aggregated.push(data);
            }
        }
    }
    out
}

/// The data file length `summary` recorded: `None` when it recorded none (written before the
/// lengths were) or when its footer cannot be read (DuckDB then names it as it reads it), and
/// `u64::MAX`, which no file matches, for a value that is not a length (edited by hand).
fn recorded_length(summary: &str) -> Option<u64> {
    let file = File::open(summary).ok()?;
    let meta = ParquetMetaDataReader::new().parse_and_finish(&file).ok()?;
    let kv = meta.file_metadata().key_value_metadata()?;
    let value = kv
        .iter()
        .find(|kv| kv.key == DATA_BYTES_KEY)?
        .value
        .as_deref();
    Some(
        value
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(u64::MAX),
    )
}

/// [`recorded_length`] of each of `summaries`, read on as many threads as there are cores (a
/// footer takes tens of microseconds, and a lake of short windows has thousands of files).
fn recorded_lengths(summaries: &[&str]) -> Vec<Option<u64>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = summaries.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let parts: Vec<_> = summaries
            .chunks(per_thread)
            .map(|part| scope.spawn(|| part.iter().map(|s| recorded_length(s)).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Warns, once, of summaries whose data file is not in the lake: the rows of a committed file
/// are gone, and neither `query` nor `report` counts them.
pub(crate) fn warn_orphans(orphans: HashSet<PathBuf>) {
    let Some(first) = orphans.iter().min() else {
        return;
    };
    tracing::warn!(
        summaries = orphans.len(),
        first = %first.display(),
        "committed data files are missing from the lake (removed by hand or by another tool?): \
         their summaries are there, their rows are not, and they are not counted"
    );
}

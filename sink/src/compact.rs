//! The `compact` command: the small files of finished hours merged ([`compact`]).
//!
//! Each window of each source partition is a file of its own, so at `run`'s 60-second windows an
//! hour of one partition is 60 files or more, and every reader pays per file. `compact --before
//! T` merges, in every hour that ended at or before T, each source partition's data files into
//! as few files as `--max-rows` allows (consecutive by first offset), each with a summary, and
//! deletes the files it merged. A merged file is named after the first offsets of its first and
//! last inputs, `<source>-p<partition>-o<first>-o<through>` ([`DataName`]), a name no writer
//! writes: once it is in place, any file of its hour and partition whose first offset lies in
//! that span is one of its inputs ([`crate::lake_files::covered`]), and every reader of this
//! program skips those, so it reads each row once at every instant of a merge. Left alone: the
//! files of a partition's last commit while a writer holds it or one of them is still staged (its
//! writer's recovery looks for them; otherwise its state forgets them first, see
//! [`crate::pipeline::settle_last_commit`]), files that start at or past the partition's resume
//! offset (a replay from there, or a window still open, may yet write a file whose first offset
//! is below theirs, which a span reaching them would take for an input), files of another schema
//! and files that cannot be read (a merge's inputs never span one of them, so that the span
//! names its inputs exactly).
//!
//! Each source partition's dead-letter files are merged too, by the same rules
//! ([`crate::compact_dead_letters`]). Each merge is one transaction with its own commit point, a
//! journal ([`crate::compact_journal`]).
//!
//! One `compact` or `expire` at a time works on a lake: both take `_accesslake/maintenance.lock`.
//! Writers may run meanwhile: they only add files, under new names.

use crate::compact_journal::{compact_dir, journal_path, Journal};
pub use crate::compact_journal::{lock_and_recover, unfinished, MergeStep, Unfinished};
use crate::config::CompactConfig;
use crate::expire::ExpireError;
use crate::lake::{create_dir_synced, sync_dir};
use crate::lake_files::{covered, lake_files, DataName, LakeFile};
use crate::lock::LockError;
use crate::pipeline::LastCommit;
use crate::query::{QueryError, TimeRange};
use crate::report::{parse_time, rfc3339, ReportError};
use crate::writer::{FileMeta, WriterError};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors of the compact command.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Time(#[from] ReportError),
    #[error(
        "--before {before} is in the future (now {now}): compact merges only hours that are over"
    )]
    Future { before: String, now: String },
    #[error("--max-rows must be at least 1")]
    MaxRows,
    #[error(
        "another `compact` or `expire` is working on this lake ({holder}){waited}: run it \
         afterwards, or let it wait longer (--lock-wait-secs)"
    )]
    Busy {
        holder: String,
        /// `, waited N s` when the lock was waited for.
        waited: String,
    },
    #[error(transparent)]
    Lock(LockError),
    #[error(transparent)]
    Remove(#[from] ExpireError),
    #[error(transparent)]
    Writer(#[from] WriterError),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the compaction journal {} is not one this program writes ({reason}): move it aside and \
         check the hour it names (`accesslake check`)",
        .path.display()
    )]
    Journal { path: PathBuf, reason: String },
    #[error(
        "the merge that {} records cannot be finished: its merged file {dest} is neither staged \
         nor in place (its staging directory emptied by hand?), so its inputs are all kept: move \
         the journal aside and check the hour (`accesslake check`)",
        .journal.display()
    )]
    MergedFileGone { journal: PathBuf, dest: String },
    #[error("cannot write the summary: {0}")]
    Output(#[source] io::Error),
    #[error("stopped after step {0:?} of a merge (a test's crash)")]
    Stopped(MergeStep),
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CompactError + '_ {
    move |source| CompactError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`compact`] merged, or in a dry run would merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Hour partitions with a merge.
    pub hours: usize,
    /// Data files merged, and the files they became.
    pub inputs: usize,
    pub outputs: usize,
    /// The merged files' rows, and their bytes before and (unless a dry run) after.
    pub rows: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Files left alone: of a partition's last commit, of another schema, unreadable (their
    /// footer, or in full: then the files they would be merged with are left too, not counted).
    pub last_commits: usize,
    /// Files left alone because they start at or past their partition's resume offset: a
    /// writer's replay, or a window still open, may still write a file below them.
    pub unsettled: usize,
    pub other_schema: usize,
    pub unreadable: usize,
    /// Dead-letter files merged, the files they became, and their bytes
    /// ([`crate::compact_dead_letters`]).
    pub dead_letter_inputs: usize,
    pub dead_letter_outputs: usize,
    pub dead_letter_bytes: u64,
    /// A merge's inputs still beside their merged file (put back by hand: a merge that is
    /// interrupted is finished first): never merged again, not deleted.
    pub covered: usize,
    /// An interrupted merge was finished first.
    pub resumed: bool,
}

/// One input of a merge.
struct Input {
    path: PathBuf,
    /// Its name's span of first offsets ([`DataName::span`]).
    span: (i64, i64),
    rows: u64,
    bytes: u64,
}

/// A data file's rows and bytes when its footer reads and its schema is the lake's; `Err(true)`
/// for another schema, `Err(false)` for an unreadable footer.
fn footer(path: &Path) -> Result<(u64, u64), bool> {
    let file = File::open(path).map_err(|_| false)?;
    let bytes = file.metadata().map_err(|_| false)?.len();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|_| false)?;
    let lake = crate::rows::lake_schema();
    if builder.schema().fields() != lake.fields() {
        return Err(true);
    }
    let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).map_err(|_| false)?;
    Ok((rows, bytes))
}

/// The files of a partition's last commit, absolute, unless no writer holds it and they are all
/// in place, and its resume offset ([`crate::pipeline::settle_last_commit`]); the files of a
/// partition whose state cannot be read are all left alone (`None` for it).
fn last_commits(lake: &Path, source: &str, partition: i32, dry_run: bool) -> Option<LastCommit> {
    match crate::pipeline::settle_last_commit(lake, source, partition, dry_run) {
        Ok(files) => Some(files),
        Err(e) => {
            tracing::warn!(source, partition, error = %e, "the partition's files are left alone");
            None
        }
    }
}

/// Each source partition's last commit, as [`last_commits`] finds it, looked up once a run.
pub(crate) type LastCommits = BTreeMap<(String, i32), Option<LastCommit>>;

/// [`last_commits`] of a partition, from `pending` when it was looked up already.
pub(crate) fn last_commit_of<'a>(
    pending: &'a mut LastCommits,
    lake: &Path,
    source: &str,
    partition: i32,
    dry_run: bool,
) -> Option<&'a LastCommit> {
    pending
        .entry((source.to_string(), partition))
        .or_insert_with(|| last_commits(lake, source, partition, dry_run))
        .as_ref()
}

/// Merges the data files of each source partition in every hour that ends at or before `before`
/// (µs since the epoch, UTC) into files of at most `max_rows` rows; with `dry_run`, only counts
/// what it would merge. A time after now is refused. Waits up to `lock_wait` for another
/// `compact` or `expire` of the lake to finish.
pub fn compact(
    lake: &Path,
    before: i64,
    max_rows: usize,
    dry_run: bool,
    lock_wait: Duration,
) -> Result<Compacted, CompactError> {
    compact_until(lake, before, max_rows, dry_run, lock_wait, None)
}

/// [`compact`], stopping the first merge after `stop` (for tests: a crash there).
pub fn compact_until(
    lake: &Path,
    before: i64,
    max_rows: usize,
    dry_run: bool,
    lock_wait: Duration,
    stop: Option<MergeStep>,
) -> Result<Compacted, CompactError> {
    let now = crate::window::now_micros();
    if before > now {
        return Err(CompactError::Future {
            before: rfc3339(before),
            now: rfc3339(now),
        });
    }
    if max_rows == 0 {
        return Err(CompactError::MaxRows);
    }
    let mut out = Compacted::default();
    let _lock = match dry_run {
        true => None,
        false => {
            let (lock, resumed) = lock_and_recover(lake, lock_wait)?;
            out.resumed = resumed;
            Some(lock)
        }
    };
    let range = TimeRange {
        from: None,
        to: Some(before),
    };
    let files = lake_files(lake)?;
    // A merge's inputs still beside its merged file (none once [`recover`] has run, unless put
    // back by hand) are never merged again: their rows are in it.
    let inputs_left = covered(&files);
    out.covered = inputs_left.len();
    let mut groups: BTreeMap<(i64, String, i32), Vec<(LakeFile, DataName)>> = BTreeMap::new();
    for f in files
        .into_iter()
        .filter(|f| range.covers_hour(f.hour_start) && !inputs_left.contains(&f.path))
    {
        if let Some(name) = DataName::parse(&f.path) {
            groups
                .entry((f.hour_start, name.source.clone(), name.partition))
                .or_default()
                .push((f, name));
        }
    }
    let mut pending = LastCommits::new();
    let mut hours = BTreeSet::new();
    for ((hour, source, partition), mut files) in groups.into_iter().filter(|(_, f)| f.len() > 1) {
        let Some(last) = last_commit_of(&mut pending, lake, &source, partition, dry_run) else {
            continue;
        };
        // In order of first offset, each file that can be merged, and `None` for one that
        // cannot: merges never span it.
        files.sort_by_key(|(_, name)| name.span());
        let mut inputs = Vec::new();
        for (f, name) in files {
            if last.files.contains(&f.path) {
                out.last_commits += 1;
                inputs.push(None);
                continue;
            }
            // A file at or past where the partition's writer resumes may yet be followed by one
            // of a lower first offset (a replay, or a window still open): a merged span that
            // reached it could take that file for one of its inputs.
            if last.resume_offset.is_some_and(|r| name.span().1 >= r) {
                out.unsettled += 1;
                inputs.push(None);
                continue;
            }
            inputs.push(match footer(&f.path) {
                Ok((rows, bytes)) => Some(Input {
                    path: f.path,
                    span: name.span(),
                    rows,
                    bytes,
                }),
                Err(other_schema) => {
                    match other_schema {
                        true => out.other_schema += 1,
                        false => out.unreadable += 1,
                    }
                    None
                }
            });
        }
        for bin in bins(inputs, max_rows as u64, |i| i.rows) {
            if !dry_run {
                let meta = FileMeta {
                    source: source.clone(),
                    partition,
                    first_offset: bin[0].span.0,
                    last_offset: bin[0].span.0,
                    window_start: hour.div_euclid(1_000_000),
                };
                let through = bin.iter().map(|i| i.span.1).max().unwrap_or(bin[0].span.1);
                match merge(lake, &bin, meta, through, stop)? {
                    Some(bytes) => out.bytes_after += bytes,
                    None => {
                        out.unreadable += 1;
                        continue;
                    }
                }
            }
            hours.insert(hour);
            out.inputs += bin.len();
            out.outputs += 1;
            out.rows += bin.iter().map(|i| i.rows).sum::<u64>();
            out.bytes_before += bin.iter().map(|i| i.bytes).sum::<u64>();
        }
    }
    out.hours = hours.len();
    crate::compact_dead_letters::merge_dead_letters(
        lake,
        before,
        dry_run,
        stop,
        &mut pending,
        &mut out,
    )?;
    Ok(out)
}

/// Runs of consecutive `inputs` (in order of first offset, `None` for a file that cannot be
/// merged, which no run spans) weighing at most `max` together (a file over it stays alone),
/// those of two files or more.
pub(crate) fn bins<T>(inputs: Vec<Option<T>>, max: u64, weight: impl Fn(&T) -> u64) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let mut total = 0u64;
    for i in inputs {
        let Some(i) = i else {
            out.push(std::mem::take(&mut cur));
            total = 0;
            continue;
        };
        let w = weight(&i);
        if !cur.is_empty() && total.saturating_add(w) > max {
            out.push(std::mem::take(&mut cur));
            total = 0;
        }
        total = total.saturating_add(w);
        cur.push(i);
    }
    out.push(cur);
    out.retain(|b| b.len() > 1);
    out
}

/// Merges `bin` (one partition's files of one hour, by first offset, the last one's span ending
/// at `through`) into one file with its summary, through the journal; returns the merged file's bytes, or `None` when an input
/// cannot be read in full (a damaged page): the bin is then left as it is, with a warning.
fn merge(
    lake: &Path,
    bin: &[Input],
    mut meta: FileMeta,
    through: i64,
    stop: Option<MergeStep>,
) -> Result<Option<u64>, CompactError> {
    let mut batches = Vec::new();
    for i in bin {
        let read = |p: &Path| -> Result<Vec<RecordBatch>, String> {
            let file = File::open(p).map_err(|e| e.to_string())?;
            ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.with_batch_size(8192).build())
                .map_err(|e| e.to_string())?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
        };
        match read(&i.path) {
            Ok(got) => batches.extend(got),
            Err(reason) => {
                tracing::warn!(
                    path = %i.path.display(),
                    reason,
                    files = bin.len(),
                    "a file cannot be read in full: it and the files it would be merged with \
                     are left as they are (see `accesslake check`)"
                );
                return Ok(None);
            }
        }
    }
    for b in &batches {
        let offsets = b
            .column_by_name("src_offset")
            .map(|c| c.as_primitive::<Int64Type>());
        if let Some(max) = offsets.and_then(arrow::compute::max) {
            meta.last_offset = meta.last_offset.max(max);
        }
    }
    let paths: Vec<&Path> = bin.iter().map(|i| i.path.as_path()).collect();
    let mut journal = Journal::new(lake, &paths, String::new());
    journal.into = Some(DataName::merged(
        journal.target_dir(),
        &meta.source,
        meta.partition,
        meta.first_offset,
        through,
    ));
    let dir = compact_dir(lake);
    create_dir_synced(&dir).map_err(io_at(&dir))?;
    let (data_path, summary_path) = (journal.staged(lake), journal.staged_summary(lake));
    let (data, summary) =
        crate::summary::write_file_and_summary(&data_path, &summary_path, &batches, &meta)?;
    drop(batches);
    let bytes = data.metadata().map_err(io_at(&data_path))?.len();
    data.sync_all().map_err(io_at(&data_path))?;
    summary.sync_all().map_err(io_at(&summary_path))?;
    sync_dir(&dir).map_err(io_at(&dir))?;
    journal.commit(lake, stop)?;
    tracing::debug!(into = %journal.dest(), inputs = bin.len(), "merged");
    Ok(Some(bytes))
}

/// The `compact` command: one line saying what was merged.
pub fn run(cfg: &CompactConfig) -> Result<(), CompactError> {
    let before = match &cfg.before {
        Some(t) => parse_time(t)?,
        None => crate::window::now_micros() - 3_600_000_000,
    };
    let wait = Duration::from_secs(cfg.lock_wait_secs);
    let c = compact(&cfg.lake, before, cfg.max_rows, cfg.dry_run, wait)?;
    if c.resumed {
        tracing::warn!("an interrupted merge was finished first");
    } else if cfg.dry_run && journal_path(&cfg.lake).exists() {
        tracing::warn!(
            "a merge was interrupted (or one is under way): a run without --dry-run finishes it \
             first, and these counts do not include it"
        );
    }
    let mut left = Vec::new();
    for (n, what) in [
        (c.last_commits, "of their partition's last commit"),
        (
            c.covered,
            "merged already, beside the file they were merged into (see `accesslake check`)",
        ),
        (c.other_schema, "of another schema"),
        (
            c.unreadable,
            "that could not be read (see `accesslake check`)",
        ),
    ] {
        if n > 0 {
            left.push(format!("{n} {what}"));
        }
    }
    let line = format!(
        "{} {} hour(s) ended by {}: {} data file(s) into {} ({} rows; {} bytes{}){}{}{}",
        if cfg.dry_run {
            "would compact"
        } else {
            "compacted"
        },
        c.hours,
        rfc3339(before),
        c.inputs,
        c.outputs,
        c.rows,
        c.bytes_before,
        match cfg.dry_run {
            true => String::new(),
            false => format!(" → {} bytes", c.bytes_after),
        },
        match c.dead_letter_inputs {
            0 => String::new(),
            n => format!(
                "; {n} dead-letter file(s) into {} ({} bytes)",
                c.dead_letter_outputs, c.dead_letter_bytes
            ),
        },
        match left.is_empty() {
            true => String::new(),
            false => format!("; files left alone: {}", left.join(", ")),
        },
        if cfg.dry_run {
            "; nothing changed (--dry-run)"
        } else {
            ""
        },
    );
    crate::query_format::print_line(&line).map_err(CompactError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_consecutive_bounded_of_two_files_or_more_and_never_span_a_file_left_alone() {
        // `None` rows: a file left alone.
        let inputs = |rows: &[Option<u64>]| -> Vec<Option<Input>> {
            rows.iter()
                .enumerate()
                .map(|(i, r)| {
                    r.map(|r| Input {
                        path: PathBuf::from(i.to_string()),
                        span: (i as i64, i as i64),
                        rows: r,
                        bytes: 0,
                    })
                })
                .collect()
        };
        let firsts = |b: Vec<Vec<Input>>| -> Vec<Vec<i64>> {
            b.iter()
                .map(|b| b.iter().map(|i| i.span.0).collect())
                .collect()
        };
        let bins_of = |i, max: u64| bins(i, max, |i: &Input| i.rows);
        let all = |rows: &[u64]| inputs(&rows.iter().map(|r| Some(*r)).collect::<Vec<_>>());
        assert_eq!(
            firsts(bins_of(all(&[5, 5, 5, 5]), 10)),
            vec![vec![0, 1], vec![2, 3]]
        );
        assert_eq!(firsts(bins_of(all(&[5, 20, 5, 5]), 10)), vec![vec![2, 3]]);
        assert_eq!(firsts(bins_of(all(&[3, 3, 3]), 100)), vec![vec![0, 1, 2]]);
        assert_eq!(firsts(bins_of(all(&[1]), 100)), Vec::<Vec<i64>>::new());
        assert_eq!(firsts(bins_of(all(&[]), 100)), Vec::<Vec<i64>>::new());
        let some = Some(3);
        assert_eq!(
            firsts(bins_of(
                inputs(&[some, some, None, some, None, some, some, some]),
                100
            )),
            vec![vec![0, 1], vec![5, 6, 7]]
        );
        assert_eq!(
            firsts(bins_of(inputs(&[None, some, None, some]), 100)),
            Vec::<Vec<i64>>::new()
        );
    }
}

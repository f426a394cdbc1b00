//! The `compact` command: the small files of finished hours merged ([`compact`]).
//!
//! Each window of each source partition is a file of its own, so at `run`'s 60-second windows an
//! hour of one partition is 60 files or more, and every reader pays per file. `compact --before
//! T` merges, in every hour that ended at or before T, each source partition's data files into
//! as few files as `--max-rows` allows (consecutive by first offset), each with a summary, and
//! deletes the files it merged. A merged file takes the name of its first input, so names stay
//! `<source>-p<partition>-o<first_offset>` and no writer ever writes that name again (it names a
//! file after its first offset, and those records are committed). Left alone: the files of a
//! partition's last commit while a writer holds it or one of them is still staged (its writer's
//! recovery looks for them; otherwise its state forgets them first, see
//! [`crate::pipeline::settle_last_commit`]), files of another schema and files that cannot be
//! read (with the files they would be merged with).
//!
//! A merge is made crash-safe by a journal, `_accesslake/compact/journal.json`, written (and
//! fsynced) once the merged file and its summary are staged and fsynced beside it: its rename is
//! the merge's commit point. Then the inputs' summaries are deleted, the merged file is renamed
//! over its first input, the other inputs are deleted, the summary is moved into place and the
//! journal removed, each step made durable before the next. A crash before the commit point
//! leaves staged orphans (deleted by the next `compact`); after it, the next `compact` or
//! `expire` finishes the journal first (every step can be done again). Until then the merged
//! inputs' rows may be read twice: `query`, `report` and `check` say so. Readers running during a
//! merge see either its inputs or its result, except for the moment between the rename and the
//! deletions, when the rows of the inputs after the first are there twice; a reader that lists
//! a file and opens it after its deletion fails as DuckDB does for any file gone.
//!
//! One `compact` or `expire` at a time works on a lake: both take `_accesslake/maintenance.lock`.
//! Writers may run meanwhile: they only add files, under new names.

use crate::config::CompactConfig;
use crate::expire::{remove_all, ExpireError};
use crate::lake::{create_dir_synced, sync_dir, Lake, META_DIR};
use crate::lake_files::{lake_files, name_parts, LakeFile};
use crate::lock::{LockError, PartitionLock};
use crate::query::{QueryError, TimeRange};
use crate::report::{parse_time, rfc3339, ReportError};
use crate::writer::{FileMeta, WriterError};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
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
    #[error("cannot write the summary: {0}")]
    Output(#[source] io::Error),
    #[error("stopped after step {0:?} of a merge (a test's crash)")]
    Stopped(MergeStep),
}

/// The steps of a merge, in order; a test can stop one after any of them, as a crash would
/// ([`compact_until`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStep {
    /// The merged file and its summary staged and fsynced; no journal.
    Staged,
    /// The journal written: the commit point.
    Journaled,
    /// The inputs' summaries deleted.
    SummariesRemoved,
    /// The merged file renamed over the first input.
    DataMoved,
    /// The other inputs deleted.
    InputsRemoved,
    /// The merged file's summary moved into place; the journal still there.
    SummaryMoved,
}

/// `Err(Stopped)` when `step` is where a test stops.
fn stop_at(stop: Option<MergeStep>, step: MergeStep) -> Result<(), CompactError> {
    match stop == Some(step) {
        true => Err(CompactError::Stopped(step)),
        false => Ok(()),
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CompactError + '_ {
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
    pub other_schema: usize,
    pub unreadable: usize,
    /// An interrupted merge was finished first.
    pub resumed: bool,
}

/// `LAKE/_accesslake/compact`: a merge's staged files and its journal.
fn compact_dir(lake: &Path) -> PathBuf {
    lake.join(META_DIR).join("compact")
}

/// The journal of the merge under way, at most one (merges are done one at a time).
fn journal_path(lake: &Path) -> PathBuf {
    compact_dir(lake).join("journal.json")
}

/// Takes the lock `compact` and `expire` take (one of them at a time works on a lake), waiting up
/// to `wait` for its holder, then finishes an interrupted merge ([`recover`]); returns the lock
/// and whether there was one.
pub fn lock_and_recover(
    lake: &Path,
    wait: Duration,
) -> Result<(PartitionLock, bool), CompactError> {
    crate::lake_files::lake_dir(lake)?;
    let path = lake.join(META_DIR).join("maintenance.lock");
    let lock = PartitionLock::acquire(&path, wait).map_err(|e| match e {
        LockError::Held { holder, waited, .. } => CompactError::Busy { holder, waited },
        e => CompactError::Lock(e),
    })?;
    let resumed = recover(lake)?;
    Ok((lock, resumed))
}

/// A merge, as its journal records it: lake-relative paths of its inputs, the first of which is
/// also the merged file's place. Its staged files are named after those places
/// ([`Lake::staged_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Journal {
    /// The first input's path: the merged file is renamed over it.
    target: String,
    /// The other inputs, deleted once the merged file is in place.
    merged: Vec<String>,
}

impl Journal {
    fn staged(&self, lake: &Path) -> (PathBuf, PathBuf) {
        let dir = compact_dir(lake);
        let summary = Lake::summary_target(&self.target);
        (
            dir.join(Lake::staged_name(&self.target)),
            dir.join(Lake::staged_name(&summary)),
        )
    }

    fn load(path: &Path) -> Result<Option<Journal>, CompactError> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_at(path)(source)),
        };
        let bad = |reason: String| CompactError::Journal {
            path: path.to_path_buf(),
            reason,
        };
        let j: Journal = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let inside = |p: &String| {
            crate::offsets::stays_inside(p) && p.ends_with(".parquet") && !p.starts_with(META_DIR)
        };
        if !std::iter::once(&j.target).chain(&j.merged).all(inside) {
            return Err(bad("a path outside the lake's data files".into()));
        }
        if j.merged.is_empty() || j.merged.contains(&j.target) {
            return Err(bad(
                "not two inputs or more, or the first one among the others".into(),
            ));
        }
        Ok(Some(j))
    }

    /// Does every step of the merge that is not done yet, each made durable before the next.
    fn finish(&self, lake: &Path, stop: Option<MergeStep>) -> Result<(), CompactError> {
        let abs = |rel: &String| lake.join(rel);
        let summaries: Vec<PathBuf> = std::iter::once(&self.target)
            .chain(&self.merged)
            .map(|t| lake.join(Lake::summary_target(t)))
            .collect();
        // Summaries first: an input without one is read from its rows, never twice. Once the
        // merged file's summary has left the staging directory (the last move), they are gone,
        // and the first input's place holds the merged file's own.
        let (data, summary) = self.staged(lake);
        if summary.is_file() {
            remove_all(&summaries)?;
        }
        stop_at(stop, MergeStep::SummariesRemoved)?;
        move_if_staged(&data, &abs(&self.target))?;
        stop_at(stop, MergeStep::DataMoved)?;
        remove_all(&self.merged.iter().map(abs).collect::<Vec<_>>())?;
        stop_at(stop, MergeStep::InputsRemoved)?;
        move_if_staged(&summary, &lake.join(Lake::summary_target(&self.target)))?;
        stop_at(stop, MergeStep::SummaryMoved)?;
        let journal = journal_path(lake);
        fs::remove_file(&journal).map_err(io_at(&journal))?;
        sync_dir(&compact_dir(lake)).map_err(io_at(&compact_dir(lake)))
    }
}

/// Renames a staged file to `to` (creating its directory) and makes it durable; nothing when it
/// is no longer staged (moved by an earlier try).
fn move_if_staged(staged: &Path, to: &Path) -> Result<(), CompactError> {
    if !staged.is_file() {
        return Ok(());
    }
    let dir = to.parent().unwrap_or(Path::new("."));
    create_dir_synced(dir).map_err(io_at(dir))?;
    fs::rename(staged, to).map_err(io_at(to))?;
    sync_dir(dir).map_err(io_at(dir))?;
    let from = staged.parent().unwrap_or(Path::new("."));
    sync_dir(from).map_err(io_at(from))
}

/// Finishes an interrupted merge (its journal) and deletes staged files no journal names.
/// Returns whether there was one to finish. The caller holds the maintenance lock.
fn recover(lake: &Path) -> Result<bool, CompactError> {
    let dir = compact_dir(lake);
    let journal = Journal::load(&journal_path(lake))?;
    if let Some(j) = &journal {
        let inputs = j.merged.len() + 1;
        tracing::info!(target = %j.target, inputs, "finishing an interrupted merge");
        j.finish(lake, None)?;
    }
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(journal.is_some()),
        Err(source) => return Err(io_at(&dir)(source)),
    };
    let orphans: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    remove_all(&orphans)?;
    Ok(journal.is_some())
}

/// The journal of a merge interrupted (there for `settle` without a change): until a `compact`
/// or `expire` finishes it, the rows of its inputs after the first may be read twice.
pub fn unfinished(lake: &Path, settle: Duration) -> Option<PathBuf> {
    let path = journal_path(lake);
    let seen = |p: &Path| fs::read(p).ok();
    let first = seen(&path)?;
    let started = std::time::Instant::now();
    while started.elapsed() < settle {
        std::thread::sleep(Duration::from_millis(50).min(settle));
        if seen(&path).as_ref() != Some(&first) {
            return None;
        }
    }
    Some(path)
}

/// One input of a merge.
struct Input {
    path: PathBuf,
    first: i64,
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
/// in place ([`crate::pipeline::settle_last_commit`]); the files of a partition whose state cannot
/// be read are all left alone (`None` for it).
fn last_commits(
    lake: &Path,
    source: &str,
    partition: i32,
    dry_run: bool,
) -> Option<HashSet<PathBuf>> {
    match crate::pipeline::settle_last_commit(lake, source, partition, dry_run) {
        Ok(files) => Some(files),
        Err(e) => {
            tracing::warn!(source, partition, error = %e, "the partition's files are left alone");
            None
        }
    }
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
    let mut groups: BTreeMap<(i64, String, i32), Vec<(LakeFile, i64)>> = BTreeMap::new();
    for f in files
        .into_iter()
        .filter(|f| range.covers_hour(f.hour_start))
    {
        if let Some((source, partition, first)) = name_parts(&f.path) {
            groups
                .entry((f.hour_start, source, partition))
                .or_default()
                .push((f, first));
        }
    }
    let mut pending: BTreeMap<(String, i32), Option<HashSet<PathBuf>>> = BTreeMap::new();
    let mut hours = BTreeSet::new();
    for ((hour, source, partition), files) in groups.into_iter().filter(|(_, f)| f.len() > 1) {
        let last = pending
            .entry((source.clone(), partition))
            .or_insert_with(|| last_commits(lake, &source, partition, dry_run));
        let Some(last) = last else { continue };
        let mut inputs = Vec::new();
        for (f, first) in files {
            if last.contains(&f.path) {
                out.last_commits += 1;
                continue;
            }
            match footer(&f.path) {
                Ok((rows, bytes)) => inputs.push(Input {
                    path: f.path,
                    first,
                    rows,
                    bytes,
                }),
                Err(true) => out.other_schema += 1,
                Err(false) => out.unreadable += 1,
            }
        }
        inputs.sort_by_key(|i| i.first);
        for bin in bins(inputs, max_rows) {
            if !dry_run {
                let meta = FileMeta {
                    source: source.clone(),
                    partition,
                    first_offset: bin[0].first,
                    last_offset: bin[0].first,
                    window_start: hour.div_euclid(1_000_000),
                };
                match merge(lake, &bin, meta, stop)? {
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
    Ok(out)
}

/// Consecutive runs of `inputs` of at most `max_rows` rows together, those of two files or more.
fn bins(inputs: Vec<Input>, max_rows: usize) -> Vec<Vec<Input>> {
    let mut out: Vec<Vec<Input>> = Vec::new();
    let mut cur: Vec<Input> = Vec::new();
    let mut rows = 0u64;
    for i in inputs {
        if !cur.is_empty() && rows + i.rows > max_rows as u64 {
            out.push(std::mem::take(&mut cur));
            rows = 0;
        }
        rows += i.rows;
        cur.push(i);
    }
    out.push(cur);
    out.retain(|b| b.len() > 1);
    out
}

/// Merges `bin` (one partition's files of one hour, by first offset) into one file with its
/// summary, through the journal; returns the merged file's bytes, or `None` when an input
/// cannot be read in full (a damaged page): the bin is then left as it is, with a warning.
fn merge(
    lake: &Path,
    bin: &[Input],
    mut meta: FileMeta,
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
    let rel = |p: &Path| -> String {
        let rel = p.strip_prefix(lake).unwrap_or(p);
        rel.to_string_lossy().into_owned()
    };
    let journal = Journal {
        target: rel(&bin[0].path),
        merged: bin[1..].iter().map(|i| rel(&i.path)).collect(),
    };
    let dir = compact_dir(lake);
    create_dir_synced(&dir).map_err(io_at(&dir))?;
    let (data_path, summary_path) = journal.staged(lake);
    let (data, summary) =
        crate::summary::write_file_and_summary(&data_path, &summary_path, &batches, &meta)?;
    drop(batches);
    let bytes = data.metadata().map_err(io_at(&data_path))?.len();
    data.sync_all().map_err(io_at(&data_path))?;
    summary.sync_all().map_err(io_at(&summary_path))?;
    sync_dir(&dir).map_err(io_at(&dir))?;
    stop_at(stop, MergeStep::Staged)?;
    // The commit point: the journal, durable.
    let text = serde_json::to_vec_pretty(&journal).expect("a journal serialises");
    crate::offsets::replace_synced(&journal_path(lake), &text)
        .map_err(io_at(&journal_path(lake)))?;
    stop_at(stop, MergeStep::Journaled)?;
    journal.finish(lake, stop)?;
    tracing::debug!(target = %journal.target, inputs = bin.len(), "merged");
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
        "{} {} hour(s) ended by {}: {} data file(s) into {} ({} rows; {} bytes{}){}{}",
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
    fn names_give_source_partition_and_first_offset() {
        let p = |s: &str| name_parts(Path::new(s));
        assert_eq!(
            p("a/requests.parsed-p2-o17.parquet"),
            Some(("requests.parsed".into(), 2, 17))
        );
        assert_eq!(p("x-p1-o2-p3-o4.parquet"), Some(("x-p1-o2".into(), 3, 4)));
        assert_eq!(p("ingest-p-1-o2.parquet"), None);
        assert_eq!(p("other.parquet"), None);
        assert_eq!(p("x-p1-o2.summary"), None);
    }

    #[test]
    fn bins_are_consecutive_bounded_and_of_two_files_or_more() {
        let inputs = |rows: &[u64]| -> Vec<Input> {
            rows.iter()
                .enumerate()
                .map(|(i, &r)| Input {
                    path: PathBuf::from(i.to_string()),
                    first: i as i64,
                    rows: r,
                    bytes: 0,
                })
                .collect()
        };
        let firsts = |b: Vec<Vec<Input>>| -> Vec<Vec<i64>> {
            b.iter()
                .map(|b| b.iter().map(|i| i.first).collect())
                .collect()
        };
        assert_eq!(
            firsts(bins(inputs(&[5, 5, 5, 5]), 10)),
            vec![vec![0, 1], vec![2, 3]]
        );
        assert_eq!(firsts(bins(inputs(&[5, 20, 5, 5]), 10)), vec![vec![2, 3]]);
        assert_eq!(firsts(bins(inputs(&[3, 3, 3]), 100)), vec![vec![0, 1, 2]]);
        assert_eq!(firsts(bins(inputs(&[1]), 100)), Vec::<Vec<i64>>::new());
        assert_eq!(firsts(bins(inputs(&[]), 100)), Vec::<Vec<i64>>::new());
    }
}

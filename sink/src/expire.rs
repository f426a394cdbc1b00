//! The `expire` command: retention by event time ([`expire`]).
//!
//! Access logs hold client addresses, which privacy rules and most policies keep for a limited
//! time, and a lake only grows. `expire --before T` deletes every hour partition that ends at or
//! before T (an hour T cuts is kept whole): each data file's summary first, then the data files,
//! each group made durable before the next starts, so a crash never leaves a summary without its
//! data file (which `report` and `check` would take for lost rows). Dead letters have no event
//! time: a dead-letter file goes once it was committed (its modification time) before T. The
//! directories this leaves empty are removed, in the lake and under `_accesslake/summary`.
//!
//! The resume states are left as they are, so expired rows do not come back: `ingest` of the
//! same file again, or `run` after a restart, skips what was committed. Writers may run
//! meanwhile: a late record for an expired hour is written as usual, into a directory created
//! again if this removed it ([`crate::lake::Lake::publish`] makes it again and retries). A
//! commit stopped after its commit point with files still staged is named in a warning:
//! publishing them later brings back the rows of theirs that are in expired hours.
//! One `expire` or `compact` works on a lake at a time (both take its maintenance lock), and an
//! interrupted merge of `compact` is finished first (see [`crate::compact`]).

use crate::config::ExpireConfig;
use crate::lake::{sync_dir, META_DIR};
use crate::lake_files::{lake_files, summary_files, LakeFile};
use crate::query::{QueryError, TimeRange};
use crate::report::{parse_time, rfc3339, ReportError};
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Errors of the expire command.
#[derive(Debug, thiserror::Error)]
pub enum ExpireError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Time(#[from] ReportError),
    #[error(
        "--before {before} is in the future (now {now}): expire deletes only hours that are over"
    )]
    Future { before: String, now: String },
    #[error("cannot delete {}: {source}", .path.display())]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot sync {} after deleting in it: {source}", .path.display())]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Maintenance(#[from] Box<crate::compact::CompactError>),
    #[error("cannot write the summary: {0}")]
    Output(#[source] io::Error),
}

/// What [`expire`] deleted, or in a dry run would delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// Hour partitions with a file deleted.
    pub hours: usize,
    pub data_files: usize,
    /// The data files' rows, from their footers (those of `unreadable` files not counted).
    pub rows: u64,
    /// Data files whose footer could not be read (damaged): deleted all the same.
    pub unreadable: usize,
    /// The data files' bytes.
    pub bytes: u64,
    pub summaries: usize,
    pub dead_letters: usize,
    /// Directories left empty, removed.
    pub directories: usize,
    /// Committed files still staged (see the module's documentation), lake-wide.
    pub unpublished: usize,
}

/// Deletes what `lake` holds of the hours that end at or before `before` (µs since the epoch,
/// UTC) and the dead-letter files committed before it; with `dry_run`, only counts it. A time
/// after now is refused: the hours being written are not over. Waits up to `lock_wait` for
/// another `compact` or `expire` of the lake to finish.
pub fn expire(
    lake: &Path,
    before: i64,
    dry_run: bool,
    lock_wait: Duration,
) -> Result<Expired, ExpireError> {
    let now = crate::window::now_micros();
    if before > now {
        return Err(ExpireError::Future {
            before: rfc3339(before),
            now: rfc3339(now),
        });
    }
    // One `expire` or `compact` at a time, and an interrupted merge finished first: its staged
    // file, moved into place later, would bring expired rows back.
    let _lock = match dry_run {
        true => None,
        false => Some(
            crate::compact::lock_and_recover(lake, lock_wait)
                .map_err(Box::new)?
                .0,
        ),
    };
    let range = TimeRange {
        from: None,
        to: Some(before),
    };
    let expired = |files: Vec<LakeFile>| -> Vec<LakeFile> {
        files
            .into_iter()
            .filter(|f| range.covers_hour(f.hour_start))
            .collect()
    };
    // Data files are listed before summaries. A writer publishes a data file before its
    // summary, so of a file published meanwhile in an expired hour, only the summary can be
    // listed (and deleted): a data file without a summary, never the reverse. (`lake_files`
    // also checks that the lake is a directory.)
    let data = expired(lake_files(lake)?);
    let summaries = expired(summary_files(lake)?);
    let dead_letters = dead_letters_before(lake, before)?;
    let mut out = Expired {
        hours: data
            .iter()
            .chain(&summaries)
            .map(|f| f.hour_start)
            .collect::<BTreeSet<_>>()
            .len(),
        data_files: data.len(),
        summaries: summaries.len(),
        dead_letters: dead_letters.len(),
        unpublished: crate::lake::unpublished(lake, Duration::from_secs(1))
            .iter()
            .map(|(_, _, files)| files)
            .sum(),
        ..Expired::default()
    };
    for f in &data {
        match rows_of(&f.path) {
            Some(rows) => out.rows += rows,
            None => out.unreadable += 1,
        }
        out.bytes += fs::metadata(&f.path).map_or(0, |m| m.len());
    }
    if dry_run {
        return Ok(out);
    }
    let doomed: HashSet<PathBuf> = data
        .iter()
        .chain(&summaries)
        .map(|f| f.path.clone())
        .chain(dead_letters.iter().cloned())
        .collect();
    settle_last_commits(lake, &doomed);
    // Summaries first, durably: then a crash leaves data files without a summary (their rows
    // are aggregated instead), never a summary without its data file.
    let paths = |files: &[LakeFile]| files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    let mut emptied = remove_all(&paths(&summaries))?;
    emptied.extend(remove_all(&paths(&data))?);
    remove_all(&dead_letters)?;
    let summary_root = lake.join(META_DIR).join("summary");
    for dir in emptied.iter().rev() {
        let root = match dir.starts_with(&summary_root) {
            true => summary_root.as_path(),
            false => lake,
        };
        out.directories += remove_empty(dir, root);
    }
    Ok(out)
}

/// Lets each partition's state forget its last commit when it is about to be deleted, all of it
/// in place and no writer holding the partition ([`crate::pipeline::settle_last_commit`]): its
/// next writer's recovery would otherwise look for those files and warn that they are missing.
fn settle_last_commits(lake: &Path, doomed: &HashSet<PathBuf>) {
    for (source, partition, path) in crate::offsets::state_files(lake) {
        let Ok(Some(state)) = crate::offsets::load(&path, &source, partition) else {
            continue;
        };
        let dooms = |p: &crate::offsets::PendingFile| doomed.contains(&lake.join(&p.target));
        if !state.pending.iter().any(dooms) {
            continue;
        }
        if let Err(e) = crate::pipeline::settle_last_commit(lake, &source, partition, false) {
            tracing::warn!(source, partition, error = %e, "its last commit is kept");
        }
    }
}

/// The dead-letter files of every source last modified before `before` (µs), sorted. Those a
/// merged file stands for (put back beside it: readers skip them) are judged by their own time
/// too, as the data files of an hour go with it whether a merged file stands for them or not:
/// else they would outlive their merged file and be read again once it had gone.
fn dead_letters_before(lake: &Path, before: i64) -> Result<Vec<PathBuf>, ExpireError> {
    let cutoff = SystemTime::UNIX_EPOCH + Duration::from_micros(before.max(0) as u64);
    let listed = crate::lake_files::dead_letters(lake)?;
    let mut all: Vec<PathBuf> = listed.files.into_iter().chain(listed.covered).collect();
    all.sort();
    Ok(all
        .into_iter()
        .filter(|f| {
            fs::metadata(f)
                .and_then(|m| m.modified())
                .is_ok_and(|m| m < cutoff)
        })
        .collect())
}

/// A data file's rows, from its footer (`None` when it cannot be read).
fn rows_of(path: &Path) -> Option<u64> {
    let file = fs::File::open(path).ok()?;
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .ok()?;
    u64::try_from(meta.file_metadata().num_rows()).ok()
}

/// Deletes `paths` (one already gone is no error), then fsyncs the directories they were in;
/// returns those directories, sorted.
pub(crate) fn remove_all(paths: &[PathBuf]) -> Result<BTreeSet<PathBuf>, ExpireError> {
    let mut dirs = BTreeSet::new();
    for path in paths {
        tracing::debug!(path = %path.display(), "expired");
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ExpireError::Remove {
                    path: path.clone(),
                    source,
                })
            }
        }
        dirs.extend(path.parent().map(Path::to_path_buf));
    }
    for dir in &dirs {
        // Gone already (another `expire`): nothing in it to make durable.
        match sync_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ExpireError::Sync {
                    path: dir.clone(),
                    source: e,
                })
            }
            _ => {}
        }
    }
    Ok(dirs)
}

/// Removes `dir` and then each parent below `root` while they are empty; returns how many were
/// removed. A directory that is not empty (or cannot be removed) ends the climb: it is left.
fn remove_empty(dir: &Path, root: &Path) -> usize {
    let mut removed = 0;
    let mut cur = dir;
    while cur.starts_with(root) && cur != root {
        match fs::remove_dir(cur) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => break,
        }
        match cur.parent() {
            Some(parent) => cur = parent,
            None => break,
        }
    }
    removed
}

/// The `expire` command: one line saying what was deleted.
pub fn run(cfg: &ExpireConfig) -> Result<(), ExpireError> {
    let before = parse_time(&cfg.before)?;
    let wait = Duration::from_secs(cfg.lock_wait_secs);
    let e = expire(&cfg.lake, before, cfg.dry_run, wait)?;
    if e.unpublished > 0 {
        tracing::warn!(
            files = e.unpublished,
            "committed files are still staged (a commit stopped after its commit point): the \
             partition's next `ingest` or `run` publishes them, and with them any rows of theirs \
             in expired hours; run `expire` again after it"
        );
    }
    let rows = match e.unreadable {
        0 => format!("{} rows", e.rows),
        n => format!(
            "{} rows, and {n} file(s) whose footer could not be read",
            e.rows
        ),
    };
    let line = format!(
        "{} {} hour(s) before {}: {} data file(s) ({rows}; {} bytes), {} summary file(s), {} \
         dead-letter file(s){}",
        if cfg.dry_run {
            "would expire"
        } else {
            "expired"
        },
        e.hours,
        rfc3339(before),
        e.data_files,
        e.bytes,
        e.summaries,
        e.dead_letters,
        match cfg.dry_run {
            true => "; nothing deleted (--dry-run)".to_string(),
            false => format!("; {} empty directories removed", e.directories),
        }
    );
    crate::query_format::print_line(&line).map_err(ExpireError::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptied_directories_go_up_to_the_first_one_in_use_and_never_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        let hour = root.join("year=2020/month=03/day=01/hour=09");
        let other = root.join("year=2020/month=03/day=02/hour=00");
        fs::create_dir_all(&hour).unwrap();
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("a.parquet"), b"").unwrap();
        // hour=09 and day=01 go; month=03 still holds day=02.
        assert_eq!(remove_empty(&hour, &root), 2);
        assert!(!root.join("year=2020/month=03/day=01").exists());
        assert_eq!(remove_empty(&other, &root), 0, "a directory in use stays");
        fs::remove_file(other.join("a.parquet")).unwrap();
        assert_eq!(remove_empty(&other, &root), 4);
        assert!(root.is_dir(), "the root stays");
        assert_eq!(remove_empty(&hour, &root), 0, "gone already");
    }
}

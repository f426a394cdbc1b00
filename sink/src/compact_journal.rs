//! A merge's journal: its commit point, its steps, and its recovery.
//!
//! A merge of [`crate::compact`] is made crash-safe by a journal,
//! `_accesslake/compact/journal.json`, written (and fsynced) once the merged file and its summary
//! are staged and fsynced beside it: its rename is the merge's commit point. Then the inputs'
//! summaries are deleted, the merged file is moved into place, the inputs are deleted, the
//! summary is moved into place and the journal removed, each step made durable before the next
//! ([`MergeStep`]). A crash before the commit point leaves staged orphans (deleted by the next
//! `compact`); after it, the next `compact` or `expire` finishes the journal first
//! ([`lock_and_recover`]: every step can be done again; a journal of an earlier version, whose
//! merged file took its first input's name, is finished the same way). Meanwhile this program's
//! readers skip the inputs by name, but DuckDB's own `read_parquet('LAKE/**/*.parquet')` reads
//! their rows twice once the merged file is in place: [`unfinished`] tells `query` and `check`.

use crate::compact::{io_at, CompactError};
use crate::expire::remove_all;
use crate::lake::{create_dir_synced, sync_dir, Lake, META_DIR};
use crate::lock::{LockError, PartitionLock};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The steps of a merge, in order; a test can stop one after any of them, as a crash would
/// ([`crate::compact::compact_until`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStep {
    /// The merged file and its summary staged and fsynced; no journal.
    Staged,
    /// The journal written: the commit point.
    Journaled,
    /// The inputs' summaries deleted.
    SummariesRemoved,
    /// The merged file moved into place.
    DataMoved,
    /// The inputs deleted.
    InputsRemoved,
    /// The merged file's summary moved into place; the journal still there.
    SummaryMoved,
}

/// `Err(Stopped)` when `step` is where a test stops.
pub(crate) fn stop_at(stop: Option<MergeStep>, step: MergeStep) -> Result<(), CompactError> {
    match stop == Some(step) {
        true => Err(CompactError::Stopped(step)),
        false => Ok(()),
    }
}

/// `LAKE/_accesslake/compact`: a merge's staged files and its journal.
pub(crate) fn compact_dir(lake: &Path) -> PathBuf {
    lake.join(META_DIR).join("compact")
}

/// The journal of the merge under way, at most one (merges are done one at a time).
pub(crate) fn journal_path(lake: &Path) -> PathBuf {
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

/// Where dead-letter files are, lake-relative (as [`Lake::rejected_target`] names them).
const DEAD_LETTERS: &str = "_accesslake/rejected/";

/// A merge, as its journal records it: lake-relative paths of its inputs and of the merged file.
/// Its staged files are named after the merged file's place ([`Lake::staged_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// The first input's path.
    pub(crate) target: String,
    /// The other inputs.
    pub(crate) merged: Vec<String>,
    /// The merged file's path ([`DataName::merged`]). Absent from the journals of an earlier
    /// version, whose merged file took the first input's place (`target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) into: Option<String>,
}

impl Journal {
    /// The journal of a merge of `inputs` (absolute, in order; two or more) into `into`
    /// (lake-relative).
    pub(crate) fn new(lake: &Path, inputs: &[&Path], into: String) -> Journal {
        let rel = |p: &&Path| {
            p.strip_prefix(lake)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        Journal {
            target: inputs.first().map(rel).unwrap_or_default(),
            merged: inputs.iter().skip(1).map(rel).collect(),
            into: Some(into),
        }
    }

    /// The lake-relative directory of the first input.
    pub(crate) fn target_dir(&self) -> &str {
        self.target.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// Where the merged file goes.
    pub(crate) fn dest(&self) -> &String {
        self.into.as_ref().unwrap_or(&self.target)
    }

    /// The inputs that are deleted once the merged file is in place: all of them, or for an
    /// earlier version's journal all but the first, whose place the merged file took.
    fn removed(&self) -> impl Iterator<Item = &String> {
        let first = self.into.as_ref().map(|_| &self.target);
        first.into_iter().chain(&self.merged)
    }

    /// Whether it merges dead-letter files (which have no summaries), not data files.
    fn dead_letters(&self) -> bool {
        self.target.starts_with(DEAD_LETTERS)
    }

    /// The merged file, staged.
    pub(crate) fn staged(&self, lake: &Path) -> PathBuf {
        compact_dir(lake).join(Lake::staged_name(self.dest()))
    }

    /// The merged data file's summary, staged.
    pub(crate) fn staged_summary(&self, lake: &Path) -> PathBuf {
        compact_dir(lake).join(Lake::staged_name(&Lake::summary_target(self.dest())))
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
        // All data files, or all dead-letter files.
        let dead_letters = j.dead_letters();
        let inside = |p: &String| {
            crate::offsets::stays_inside(p)
                && match dead_letters {
                    true => p.ends_with(".jsonl") && p.starts_with(DEAD_LETTERS),
                    false => p.ends_with(".parquet") && !p.starts_with(META_DIR),
                }
        };
        if !std::iter::once(&j.target)
            .chain(&j.merged)
            .chain(&j.into)
            .all(inside)
        {
            return Err(bad(
                "a path outside the lake's data files (or its dead-letter files)".into(),
            ));
        }
        if j.merged.is_empty() || j.merged.contains(&j.target) {
            return Err(bad(
                "not two inputs or more, or the first one among the others".into(),
            ));
        }
        if j.into
            .as_ref()
            .is_some_and(|d| *d == j.target || j.merged.contains(d))
        {
            return Err(bad("the merged file named as one of its inputs".into()));
        }
        Ok(Some(j))
    }

    /// Commits a merge whose file (and summary) are staged and fsynced: writes the journal, made
    /// durable (the commit point), then [`Journal::finish`]es it.
    pub(crate) fn commit(&self, lake: &Path, stop: Option<MergeStep>) -> Result<(), CompactError> {
        stop_at(stop, MergeStep::Staged)?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| CompactError::Journal {
            path: journal_path(lake),
            reason: e.to_string(),
        })?;
        crate::offsets::replace_synced(&journal_path(lake), &text)
            .map_err(io_at(&journal_path(lake)))?;
        stop_at(stop, MergeStep::Journaled)?;
        self.finish(lake, stop)
    }

    /// Does every step of the merge that is not done yet, each made durable before the next.
    pub(crate) fn finish(&self, lake: &Path, stop: Option<MergeStep>) -> Result<(), CompactError> {
        let abs = |rel: &String| lake.join(rel);
        let summaries: Vec<PathBuf> = std::iter::once(&self.target)
            .chain(&self.merged)
            .map(|t| lake.join(Lake::summary_target(t)))
            .collect();
        // Summaries first: an input without one is read from its rows. Once the merged file's
        // summary has left the staging directory (the last move), they are gone (and for an
        // earlier version's journal, the first input's place holds the merged file's own).
        let (data, summary) = (
            self.staged(lake),
            (!self.dead_letters()).then(|| self.staged_summary(lake)),
        );
        if summary.as_deref().is_some_and(Path::is_file) {
            remove_all(&summaries)?;
        }
        stop_at(stop, MergeStep::SummariesRemoved)?;
        // Readers list the lake under this lock held shared: none sees the move without the
        // deletions, or the reverse (`crate::listing_lock`).
        let listing = crate::listing_lock::lock_path(lake);
        let guard = crate::listing_lock::exclusive(lake).map_err(io_at(&listing))?;
        move_if_staged(&data, &abs(self.dest()))?;
        // The inputs go only once their rows are in place: a merged file neither staged nor
        // there (its staging directory cleaned by hand, say) keeps them.
        if !abs(self.dest()).is_file() {
            return Err(CompactError::MergedFileGone {
                journal: journal_path(lake),
                dest: self.dest().clone(),
            });
        }
        stop_at(stop, MergeStep::DataMoved)?;
        remove_all(&self.removed().map(abs).collect::<Vec<_>>())?;
        drop(guard);
        stop_at(stop, MergeStep::InputsRemoved)?;
        if let Some(summary) = &summary {
            move_if_staged(summary, &lake.join(Lake::summary_target(self.dest())))?;
        }
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

/// A merge's journal still there after `settle` without a change: the merge was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub journal: PathBuf,
    /// Whether an earlier version wrote it: its merged file takes its first input's name, so
    /// once that is in place, the rows of the other inputs are read twice by every reader until
    /// the merge is finished (after a merge of this version only DuckDB's own glob reads them
    /// twice: this program's readers skip the inputs by name).
    pub earlier_version: bool,
}

/// The merge interrupted, if any (its journal unchanged for `settle`), until a `compact` or
/// `expire` finishes it. A journal that cannot be read counts as one of an earlier version.
pub fn unfinished(lake: &Path, settle: Duration) -> Option<Unfinished> {
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
    let earlier_version = Journal::load(&path)
        .ok()
        .flatten()
        .is_none_or(|j| j.into.is_none());
    Some(Unfinished {
        journal: path,
        earlier_version,
    })
}

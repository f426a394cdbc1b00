//! Opening a partition's pipeline: take its writer lock, load and check its state, refuse a lake
//! that lost a state while keeping its files, keep a committed window length until the replay is
//! past it, and recover the last commit (finish its renames, delete orphan staged files). See
//! `doc/DESIGN.md`, "Recovery". Also, for `compact`, [`settle_last_commit`]: a last commit
//! whose files are all in place, forgotten while no writer holds the partition.

use super::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What `compact` must leave alone of a partition ([`settle_last_commit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastCommit {
    /// The files of its last commit that its next writer's recovery looks for, as paths under
    /// the lake's root.
    pub files: HashSet<PathBuf>,
    /// Where its writer (re)starts reading: its state's resume offset, `None` without a state
    /// (then no writer starts on it: see [`crate::lake::Lake::has_files_of`]). Every file written
    /// from now on starts at or past it: a replay after a crash, or a window still open, may
    /// write a file whose first offset is below those of files already committed after it
    /// (late records flushed first), but never below this.
    pub resume_offset: Option<i64>,
}

/// For `compact` and `expire`: the files of a partition's last commit (its state's `pending`,
/// which its next writer's recovery looks for), as paths under `root`, to be left alone, and its
/// resume offset as read without its lock (it only grows, so an older one is a lower bound). Unless
/// no writer holds the partition now and every one of them is in place (none still staged):
/// then the directories of their renames are fsynced (a writer killed between its renames and
/// their fsyncs left them undurable) and the state forgets them, since a commit whose files are
/// all published has nothing left to recover, and none is returned. The partition's lock is
/// taken only for this, not waited for, and let go before returning; a lock file this process
/// cannot open leaves the files alone. With `dry_run` nothing is written, the lock file
/// included: it is tried through a read-only descriptor, and the answer is the same.
pub fn settle_last_commit(
    root: &Path,
    source: &str,
    partition: i32,
    dry_run: bool,
) -> Result<LastCommit> {
    let state_path = Lake::state_path_in(root, source, partition);
    let Some(unlocked) = offsets::load(&state_path, source, partition)? else {
        return Ok(LastCommit::default());
    };
    let resume_offset = Some(unlocked.resume_offset);
    let targets = |s: &PartitionState| LastCommit {
        files: s.pending.iter().map(|p| root.join(&p.target)).collect(),
        resume_offset,
    };
    let none = LastCommit {
        files: HashSet::new(),
        resume_offset,
    };
    if unlocked.pending.is_empty() {
        return Ok(none);
    }
    let lock_path = state_path.with_extension("lock");
    let locked = match dry_run {
        true => try_lock_read_only(&lock_path),
        false => match PartitionLock::acquire(&lock_path, std::time::Duration::ZERO) {
            Ok(lock) => Ok(Some(Held::Writer { _lock: lock })),
            Err(crate::lock::LockError::Held { .. }) => Ok(None),
            Err(crate::lock::LockError::Io { source, .. }) => Err(source),
            Err(e) => return Err(e.into()),
        },
    };
    let _lock = match locked {
        Ok(Some(lock)) => lock,
        // A writer holds it: its last commit stays its own, as read without the lock (a newer
        // commit only ever names newer files).
        Ok(None) => return Ok(targets(&unlocked)),
        Err(e) => {
            tracing::debug!(source, partition, error = %e, "its lock cannot be tried");
            return Ok(targets(&unlocked));
        }
    };
    // Under the lock, the state as its last writer left it.
    let Some(state) = offsets::load(&state_path, source, partition)? else {
        return Ok(none);
    };
    let staging = Lake::staging_dir_in(root, source, partition);
    let staged = state.pending.iter().any(|p| {
        !matches!(
            fs_err_kind(&staging.join(&p.staged)),
            Some(std::io::ErrorKind::NotFound)
        )
    });
    if staged {
        return Ok(targets(&state));
    }
    if !dry_run && !state.pending.is_empty() {
        // Nothing to move: this fsyncs the renames' directories, as a writer's recovery does.
        Lake::open(root)?.publish(source, partition, &state.pending)?;
        offsets::clear_pending(&state_path)?;
        tracing::debug!(
            source,
            partition,
            "its last commit is published: may be merged"
        );
    }
    Ok(none)
}

/// A partition lock held for [`settle_last_commit`]: a writer's, or (for a dry run) a read-only
/// descriptor's, which writes nothing, or none for a partition without a lock file.
enum Held {
    Writer { _lock: PartitionLock },
    ReadOnly { _file: std::fs::File },
    NoLockFile,
}

/// Tries the lock at `path` through a read-only descriptor: `None` when another process holds it.
fn try_lock_read_only(path: &Path) -> std::io::Result<Option<Held>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Held::NoLockFile)),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(Held::ReadOnly { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// The error kind of looking at `path`, `None` when it is there.
fn fs_err_kind(path: &Path) -> Option<std::io::ErrorKind> {
    std::fs::symlink_metadata(path).err().map(|e| e.kind())
}

impl PartitionPipeline {
    /// Recovers and opens a partition, taking its writer lock ([`crate::lock`]); another writer
    /// holding it is an error at once.
    pub fn open(
        lake: &Lake,
        source: &str,
        partition: i32,
        settings: WindowSettings,
    ) -> Result<PartitionPipeline> {
        let lock = lake.lock_partition(source, partition, std::time::Duration::ZERO)?;
        PartitionPipeline::open_locked(lake, source, partition, settings, lock)
    }

    /// [`PartitionPipeline::open`] with the partition's lock already taken
    /// ([`Lake::lock_partition`]): the state is read only now, after any previous writer has let
    /// go. The pipeline holds the lock until it is dropped.
    pub fn open_locked(
        lake: &Lake,
        source: &str,
        partition: i32,
        settings: WindowSettings,
        lock: PartitionLock,
    ) -> Result<PartitionPipeline> {
        Lake::check_source(source)?;
        settings.validate().map_err(PipelineError::Settings)?;
        let want = lake.lock_path(source, partition);
        if lock.path() != want {
            return Err(PipelineError::WrongLock {
                held: lock.path().display().to_string(),
                want: want.display().to_string(),
            }
            .into());
        }
        let state_path = lake.state_path(source, partition);
        let state = offsets::load(&state_path, source, partition)?;
        if state.is_none() && lock.may_have_lost_state() && lake.has_files_of(source, partition)? {
            return Err(PipelineError::StateMissing {
                source_name: source.to_string(),
                partition,
                state: state_path.display().to_string(),
            }
            .into());
        }
        // Windows committed past the resume offset (a run that stopped without flushing) are
        // recognised by their keys, which depend on the window length: with another length their
        // records would not be known and would be written twice. So the committed length stays
        // until the replay is past them (`switch_window_once_past`), then the configured one
        // applies.
        let mut settings = settings;
        let mut configured_window = None;
        if let Some(s) = &state {
            if let Some(w) = s
                .window_secs
                .filter(|&w| w != settings.window_secs && s.has_flushed_windows(REJECTED_KEY))
            {
                tracing::warn!(
                    source,
                    partition,
                    committed = w,
                    configured = settings.window_secs,
                    "windows of {w} s are committed past the resume offset: keeping {w} s until \
                     the replay is past them, so that no record is written twice"
                );
                configured_window = Some(settings.window_secs);
                settings.window_secs = w;
            }
        }
        if let Some(s) = &state {
            let moved = lake.publish(source, partition, &s.pending)?;
            if moved > 0 {
                tracing::info!(
                    source,
                    partition,
                    moved,
                    "recovery: finished publishing the last commit"
                );
            }
        }
        let removed = lake.remove_orphans(source, partition, &[])?;
        if removed > 0 {
            tracing::info!(
                source,
                partition,
                removed,
                "recovery: removed staged files of an uncommitted flush"
            );
        }
        Ok(PartitionPipeline {
            lake: lake.clone(),
            source: source.to_string(),
            partition,
            windows: Windows::new(
                settings,
                state.as_ref().and_then(|s| s.watermark),
                now_micros(),
            ),
            rejected: Vec::new(),
            rejected_first: None,
            rejected_count: 0,
            state,
            next_offset: None,
            stats: PipelineStats::default(),
            fault: None,
            configured_window,
            background: None,
            in_flight: 0,
            parse: None,
            first_line: None,
            last_line: None,
            on_commit: None,
            _lock: lock,
        })
    }
}

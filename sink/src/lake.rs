//! The lake's directory layout and atomic publishing of files.
//!
//! Layout (`LAKE` = the root):
//! - data: `LAKE/year=YYYY/month=MM/day=DD/hour=HH/<source>-p<partition>-o<first_offset>.parquet`
//!   (UTC hour of the rows' event time). A file holds rows of one source partition and is named
//!   by its first offset, so a replayed flush overwrites rather than duplicates;
//! - `LAKE/_accesslake/summary/year=YYYY/…/<name>.summary`: each data file's summary
//!   (`crate::summary`, Parquet inside), committed with it;
//! - `LAKE/_accesslake/state/<source>/<partition>.json`: resume state (`crate::offsets`), and
//!   `<partition>.lock` beside it, the writer's lock (`crate::lock`);
//! - `LAKE/_accesslake/staging/<source>/<partition>/.<name>.tmp`: files being committed;
//! - `LAKE/_accesslake/rejected/<source>/p<partition>-o<first_offset>.jsonl`: dead letters.
//!
//! Files are written into the partition's staging directory and fsynced, then (after the state
//! file names them as pending) renamed into place and the directories fsynced: no reader of
//! `LAKE/**/*.parquet` ever sees a partial file. [`Lake::publish`] finishes pending renames and is
//! idempotent, so recovery calls it again; [`Lake::remove_orphans`] deletes staged files of an
//! uncommitted attempt.

use crate::lock::PartitionLock;
use crate::offsets::PendingFile;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The lake's metadata directory name (ignored by `**/*.parquet` readers: nothing in it ends in `.parquet`).
pub const META_DIR: &str = "_accesslake";

/// Errors on lake paths.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lake {path}: not a directory (--lake names the lake's root directory)")]
    NotADirectory { path: PathBuf },
    #[error("lake {path}: cannot be created under {file}, which is not a directory")]
    UnderAFile { path: PathBuf, file: PathBuf },
    #[error("invalid source name {0:?}: use letters, digits, '.', '_' and '-'")]
    SourceName(String),
    #[error(
        "the file {target} just committed is neither staged nor in the lake: another process \
         removed it (a second writer on this partition?)"
    )]
    Vanished { target: String },
    #[error(
        "cannot move {from} into place as {to}: {source}. The commit is past its commit point: \
         the partition's next writer moves it (run the same command again once the lake's \
         directories take writes), and readers do not see those rows until then"
    )]
    Publish {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.into(),
        source,
    }
}

/// Fsyncs a directory so renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing ancestors, fsyncing the parent of each directory it creates:
/// files synced inside a new directory are then not lost with its entry on a power failure.
pub fn create_dir_synced(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    create_dir_synced(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its missing ancestors (those inside `root`), one level at a time; returns
/// the directories whose entries changed: the parent of each directory created (or found
/// created by a concurrent writer between the check and the `mkdir`).
fn create_missing(dir: &Path, root: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.is_dir() && cur.starts_with(root) && cur != root {
        missing.push(cur);
        match cur.parent() {
            Some(parent) => cur = parent,
            None => break,
        }
    }
    let mut changed = Vec::new();
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(io(d)(e)),
        }
        changed.extend(d.parent().map(Path::to_path_buf));
    }
    Ok(changed)
}

/// Committed files not in place yet, per partition `(source, partition, files)`: the pending
/// files of each partition's state still in its staging directory. A commit interrupted after
/// its commit point (a disk that filled up while renaming) leaves them, and the partition's next
/// writer publishes them; until then readers do not see their rows, so `query` and `report` warn.
/// A hint, not a check: an unreadable state is skipped. A commit under way shows for the moment
/// between its commit point and its renames, so files are reported only once they have stayed
/// staged for `settle` (looked at every 50 ms: a live writer moves them within milliseconds).
pub fn unpublished(root: &Path, settle: std::time::Duration) -> Vec<(String, i32, usize)> {
    let started = std::time::Instant::now();
    let mut left = staged_pending(root);
    while !left.is_empty() && started.elapsed() < settle {
        std::thread::sleep(std::time::Duration::from_millis(50).min(settle));
        let now = staged_pending(root);
        // What is still staged of what was: a file moved and staged again is a later commit.
        for (source, partition, files) in &mut left {
            let still = now.iter().find(|(s, p, _)| s == source && p == partition);
            files.retain(|x| still.is_some_and(|(_, _, f)| f.contains(x)));
        }
        left.retain(|(_, _, files)| !files.is_empty());
    }
    left.into_iter()
        .map(|(source, partition, files)| (source, partition, files.len()))
        .collect()
}

/// The pending files of each partition's state still in its staging directory.
fn staged_pending(root: &Path) -> Vec<(String, i32, Vec<PathBuf>)> {
    let lake = Lake {
        root: root.to_path_buf(),
    };
    let mut out = Vec::new();
    // Only partitions with something staged: theirs are the only states read.
    let Ok(sources) = fs::read_dir(root.join(META_DIR).join("staging")) else {
        return out;
    };
    for source in sources.flatten() {
        let name = source.file_name().to_string_lossy().into_owned();
        let Ok(partitions) = fs::read_dir(source.path()) else {
            continue;
        };
        for staging in partitions.flatten().map(|e| e.path()) {
            let partition = staging
                .file_name()
                .and_then(|f| f.to_str()?.parse::<i32>().ok());
            let staged = |_: &i32| fs::read_dir(&staging).is_ok_and(|mut e| e.next().is_some());
            let Some(partition) = partition.filter(staged) else {
                continue;
            };
            let Ok(Some(state)) =
                crate::offsets::load(&lake.state_path(&name, partition), &name, partition)
            else {
                continue;
            };
            let files: Vec<PathBuf> = state
                .pending
                .iter()
                .map(|p| staging.join(&p.staged))
                .filter(|f| f.is_file())
                .collect();
            if !files.is_empty() {
                out.push((name.clone(), partition, files));
            }
        }
    }
    out
}

/// A lake rooted at a directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    /// Opens (creating if needed) the lake at `root`; something else than a directory there is
    /// an error that says so.
    pub fn open(root: impl Into<PathBuf>) -> Result<Lake, LakeError> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(m) if !m.is_dir() => return Err(LakeError::NotADirectory { path: root }),
            Ok(_) => {}
            // A file above a new lake: named, not an `EEXIST` from deep inside the creation.
            Err(_) => {
                let nearest = root
                    .ancestors()
                    .skip(1)
                    .find_map(|a| Some((a, fs::metadata(a).ok()?)));
                if let Some((file, _)) = nearest.filter(|(_, m)| !m.is_dir()) {
                    let file = file.to_path_buf();
                    return Err(LakeError::UnderAFile { path: root, file });
                }
            }
        }
        let meta = root.join(META_DIR);
        create_dir_synced(&meta).map_err(io(&meta))?;
        Ok(Lake { root })
    }

    /// Whether the lake holds data files of `source`'s `partition` (named
    /// `<source>-p<partition>-o<offset>.parquet` in an hour's directory, or
    /// `…-o<first>-o<through>.parquet` once merged by `compact`). A partition without a
    /// state has none, since files are moved into place only after the state naming them: unless
    /// its state was removed by hand, and then writing it anew could duplicate rows. This lists
    /// the lake's hour directories (names only, not cached: a partition's files may be removed
    /// by hand meanwhile), so it is asked only when a state may have been lost
    /// ([`PartitionLock::may_have_lost_state`]).
    pub fn has_files_of(&self, source: &str, partition: i32) -> Result<bool, LakeError> {
        const LEVELS: [&str; 4] = ["year=", "month=", "day=", "hour="];
        let mut dirs = vec![(self.root.clone(), 0)];
        while let Some((dir, depth)) = dirs.pop() {
            for entry in fs::read_dir(&dir).map_err(io(&dir))? {
                let entry = entry.map_err(io(&dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if depth < LEVELS.len() {
                    if name.starts_with(LEVELS[depth])
                        && entry.file_type().map_err(io(&dir))?.is_dir()
                    {
                        dirs.push((entry.path(), depth + 1));
                    }
                    continue;
                }
                // A writer's name or a merged file's (`compact`).
                let named = crate::lake_files::DataName::parse(Path::new(name));
                if named.is_some_and(|n| n.source == source && n.partition == partition) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Checks a source name is safe as a path component.
    pub fn check_source(source: &str) -> Result<(), LakeError> {
        let ok = !source.is_empty()
            && !source.starts_with('.')
            && source
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(LakeError::SourceName(source.into()))
        }
    }

    /// `LAKE/_accesslake/state/<source>/<partition>.json`.
    pub fn state_path(&self, source: &str, partition: i32) -> PathBuf {
        Self::state_path_in(&self.root, source, partition)
    }

    /// [`Lake::state_path`] of the lake at `root`, without opening it.
    pub fn state_path_in(root: &Path, source: &str, partition: i32) -> PathBuf {
        root.join(META_DIR)
            .join("state")
            .join(source)
            .join(format!("{partition}.json"))
    }

    /// `LAKE/_accesslake/state/<source>/<partition>.lock`: see [`crate::lock`].
    pub fn lock_path(&self, source: &str, partition: i32) -> PathBuf {
        self.state_path(source, partition).with_extension("lock")
    }

    /// Takes the partition's writer lock, waiting up to `wait` for another writer to let go.
    pub fn lock_partition(
        &self,
        source: &str,
        partition: i32,
        wait: std::time::Duration,
    ) -> Result<PartitionLock, crate::Error> {
        self.lock_partition_unless(source, partition, wait, &|| false)
    }

    /// [`Lake::lock_partition`], giving up when `stop` says so while waiting.
    pub fn lock_partition_unless(
        &self,
        source: &str,
        partition: i32,
        wait: std::time::Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<PartitionLock, crate::Error> {
        Lake::check_source(source)?;
        let path = self.lock_path(source, partition);
        Ok(PartitionLock::acquire_unless(&path, wait, stop)?)
    }

    /// `LAKE/_accesslake/staging/<source>/<partition>`.
    pub fn staging_dir(&self, source: &str, partition: i32) -> PathBuf {
        Self::staging_dir_in(&self.root, source, partition)
    }

    /// [`Lake::staging_dir`] of the lake at `root`, without opening it.
    pub fn staging_dir_in(root: &Path, source: &str, partition: i32) -> PathBuf {
        root.join(META_DIR)
            .join("staging")
            .join(source)
            .join(partition.to_string())
    }

    /// The hour partition of an instant (seconds since the epoch, UTC), e.g.
    /// `year=2019/month=01/day=22/hour=03`.
    pub fn hour_partition(epoch_secs: i64) -> String {
        let t = chrono::DateTime::from_timestamp(epoch_secs, 0).unwrap_or_default();
        t.format("year=%Y/month=%m/day=%d/hour=%H").to_string()
    }

    /// Lake-relative path of a data file.
    pub fn data_target(source: &str, partition: i32, window_start: i64, first: i64) -> String {
        format!(
            "{}/{source}-p{partition}-o{first}.parquet",
            Lake::hour_partition(window_start)
        )
    }

    /// Lake-relative path of a data file's summary: `_accesslake/summary/<data path>` with
    /// `.summary` for `.parquet` (so `**/*.parquet` readers never pick it up).
    pub fn summary_target(data_target: &str) -> String {
        let stem = data_target.strip_suffix(".parquet").unwrap_or(data_target);
        format!("{META_DIR}/summary/{stem}.summary")
    }

    /// `LAKE/_accesslake/rejected`: the committed dead-letter files, in one directory per source.
    pub fn rejected_dir(root: &Path) -> PathBuf {
        root.join(META_DIR).join("rejected")
    }

    /// Lake-relative path of a dead-letter file.
    pub fn rejected_target(source: &str, partition: i32, first: i64) -> String {
        format!("{META_DIR}/rejected/{source}/p{partition}-o{first}.jsonl")
    }

    /// Lake-relative path of a dead-letter file `compact` merged from a partition's files of
    /// first offsets `first` through `through` ([`crate::lake_files::DataName::parse_dead_letters`]).
    pub fn rejected_merged_target(
        source: &str,
        partition: i32,
        first: i64,
        through: i64,
    ) -> String {
        format!("{META_DIR}/rejected/{source}/p{partition}-o{first}-o{through}.jsonl")
    }

    /// The staged name of a target: `.<file name>.tmp`.
    pub fn staged_name(target: &str) -> String {
        let name = target.rsplit('/').next().unwrap_or(target);
        format!(".{name}.tmp")
    }

    /// Moves each pending file from the staging directory to its target (creating directories),
    /// then fsyncs every directory whose entries changed: the staging directory, each target's
    /// directory, and the parent of each directory created (an existing ancestor is not synced).
    /// Idempotent: a file already moved is left alone. This is recovery's form: a file that is
    /// neither staged nor in place was deleted by hand since, and is only warned about.
    /// Returns the number of files moved.
    pub fn publish(
        &self,
        source: &str,
        partition: i32,
        pending: &[PendingFile],
    ) -> Result<usize, LakeError> {
        self.publish_files(source, partition, pending, false)
    }

    /// [`Lake::publish`] right after a commit point, by the process that staged the files: one
    /// that is neither staged nor in place is an error, not a warning (something else removed
    /// it, and the commit would otherwise count rows the lake does not hold).
    pub fn publish_committed(
        &self,
        source: &str,
        partition: i32,
        pending: &[PendingFile],
    ) -> Result<usize, LakeError> {
        self.publish_files(source, partition, pending, true)
    }

    fn publish_files(
        &self,
        source: &str,
        partition: i32,
        pending: &[PendingFile],
        strict: bool,
    ) -> Result<usize, LakeError> {
        let staging = self.staging_dir(source, partition);
        let mut dirs = BTreeSet::new();
        let mut moved = 0;
        for p in pending {
            let from = staging.join(&p.staged);
            let to = self.root.join(&p.target);
            let staged = match fs::symlink_metadata(&from) {
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(io(&from)(e)),
            };
            if staged {
                self.move_into_place(&from, &to, &mut dirs)?;
                moved += 1;
            } else if to.exists() {
                // In place already: renamed by a writer that may have stopped before it fsynced
                // the directories, which are fsynced here then (the lake's levels above too),
                // before a later commit forgets this one.
                let mut dir = to.clone();
                while dir.pop() && dir.starts_with(&self.root) {
                    dirs.insert(dir.clone());
                }
                dirs.insert(staging.clone());
            } else {
                if strict {
                    return Err(LakeError::Vanished {
                        target: p.target.clone(),
                    });
                }
                tracing::warn!(target = %p.target, "committed file is missing from the lake (deleted by hand, or by `expire` while a writer held its partition?)");
            }
        }
        if moved > 0 {
            dirs.insert(staging);
        }
        for d in &dirs {
            match sync_dir(d) {
                // Removed since by `expire`, which removes only empty directories: the file
                // moved there was deleted with its hour, and nothing is left to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                r => r.map_err(io(d))?,
            }
        }
        Ok(moved)
    }

    /// Moves a staged file into place, creating its directory; adds to `dirs` the directories
    /// to fsync (the target's, and the parent of each one created). `expire` removes the
    /// directories it empties, maybe one of these between their creation and the rename: a try
    /// that finds a directory gone is made again (five times at most), and every ancestor of the
    /// target's directory is then synced, since an unfinished try may have created some.
    fn move_into_place(
        &self,
        from: &Path,
        to: &Path,
        dirs: &mut BTreeSet<PathBuf>,
    ) -> Result<(), LakeError> {
        let dir = to.parent().unwrap_or(&self.root);
        let mut tries = 0;
        loop {
            let attempt = create_missing(dir, &self.root).and_then(|created| {
                dirs.extend(created);
                fs::rename(from, to).map_err(|source| LakeError::Publish {
                    from: from.to_path_buf(),
                    to: to.to_path_buf(),
                    source,
                })
            });
            match attempt {
                Ok(()) => break,
                Err(LakeError::Io { ref source, .. } | LakeError::Publish { ref source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound
                        && tries < 5
                        && from.exists() =>
                {
                    tries += 1
                }
                Err(e) => return Err(e),
            }
        }
        if tries > 0 {
            let below_root = dir.ancestors().take_while(|a| a.starts_with(&self.root));
            dirs.extend(below_root.map(Path::to_path_buf));
        }
        dirs.insert(dir.to_path_buf());
        Ok(())
    }

    /// Deletes staged files not listed in `keep` (leftovers of a commit that never reached its
    /// commit point). Returns how many were deleted.
    pub fn remove_orphans(
        &self,
        source: &str,
        partition: i32,
        keep: &[PendingFile],
    ) -> Result<usize, LakeError> {
        let staging = self.staging_dir(source, partition);
        let entries = match fs::read_dir(&staging) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&staging)(e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(io(&staging))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.iter().any(|p| p.staged == name) {
                continue;
            }
            let path = entry.path();
            fs::remove_file(&path).map_err(io(&path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&staging).map_err(io(&staging))?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_partition_is_utc() {
        // 2019-01-22T00:26:14Z
        assert_eq!(
            Lake::hour_partition(1_548_116_774),
            "year=2019/month=01/day=22/hour=00"
        );
        assert_eq!(
            Lake::data_target("requests.parsed", 2, 1_548_116_774, 77),
            "year=2019/month=01/day=22/hour=00/requests.parsed-p2-o77.parquet"
        );
        assert_eq!(Lake::staged_name("a/b/c.parquet"), ".c.parquet.tmp");
        assert_eq!(
            Lake::summary_target("year=2019/month=01/day=22/hour=00/s-p2-o77.parquet"),
            "_accesslake/summary/year=2019/month=01/day=22/hour=00/s-p2-o77.summary"
        );
    }

    #[test]
    fn a_partitions_files_are_found_by_a_writers_name_or_a_merged_one() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let hour = dir.path().join("year=2019/month=01/day=22/hour=00");
        fs::create_dir_all(&hour).unwrap();
        assert!(!lake.has_files_of("s", 0).unwrap());
        fs::write(hour.join("s-p0-o10-o30.parquet"), b"").unwrap();
        assert!(lake.has_files_of("s", 0).unwrap());
        assert!(!lake.has_files_of("s", 1).unwrap());
        assert!(!lake.has_files_of("t", 0).unwrap());
        fs::write(hour.join("s-p12-o40.parquet"), b"").unwrap();
        assert!(lake.has_files_of("s", 12).unwrap());
        assert!(!lake.has_files_of("s", 1).unwrap());
    }

    #[test]
    fn source_names() {
        assert!(Lake::check_source("requests.parsed").is_ok());
        assert!(Lake::check_source("../x").is_err());
        assert!(Lake::check_source("").is_err());
    }

    #[test]
    fn only_new_directories_change_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("year=2020/month=01")).unwrap();
        let hour = root.join("year=2020/month=01/day=01/hour=00");
        assert_eq!(
            create_missing(&hour, root).unwrap(),
            vec![
                root.join("year=2020/month=01"),
                root.join("year=2020/month=01/day=01")
            ]
        );
        assert!(hour.is_dir());
        assert!(create_missing(&hour, root).unwrap().is_empty());
        // A file in the way is an error, not a directory.
        fs::write(root.join("year=2021"), b"").unwrap();
        assert!(create_missing(&root.join("year=2021/month=01"), root).is_err());
    }

    #[test]
    fn publish_is_idempotent_and_orphans_go() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let staging = lake.staging_dir("s", 1);
        fs::create_dir_all(&staging).unwrap();
        let p = PendingFile {
            staged: ".x.parquet.tmp".into(),
            target: "year=2020/month=01/day=01/hour=00/x.parquet".into(),
        };
        fs::write(staging.join(&p.staged), b"data").unwrap();
        fs::write(staging.join(".orphan.parquet.tmp"), b"junk").unwrap();
        assert_eq!(lake.publish("s", 1, std::slice::from_ref(&p)).unwrap(), 1);
        assert_eq!(lake.publish("s", 1, std::slice::from_ref(&p)).unwrap(), 0);
        assert_eq!(fs::read(dir.path().join(&p.target)).unwrap(), b"data");
        assert_eq!(lake.remove_orphans("s", 1, &[]).unwrap(), 1);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
        // Published, then removed by someone else: recovery warns, a commit's publish fails.
        assert_eq!(
            lake.publish_committed("s", 1, std::slice::from_ref(&p))
                .unwrap(),
            0
        );
        fs::remove_file(dir.path().join(&p.target)).unwrap();
        assert_eq!(lake.publish("s", 1, std::slice::from_ref(&p)).unwrap(), 0);
        let err = lake.publish_committed("s", 1, std::slice::from_ref(&p));
        assert!(matches!(err, Err(LakeError::Vanished { .. })), "{err:?}");
    }

    #[test]
    fn a_lake_path_that_is_a_file_is_refused_as_not_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lake");
        fs::write(&file, b"not a lake").unwrap();
        let err = Lake::open(&file).unwrap_err();
        assert!(matches!(err, LakeError::NotADirectory { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&file.display().to_string()) && msg.contains("not a directory"),
            "{msg}"
        );
        assert_eq!(fs::read(&file).unwrap(), b"not a lake");
        // Nor can a lake be made under a file.
        let under = file.join("sub").join("deeper");
        let err = Lake::open(&under).unwrap_err();
        assert!(
            matches!(&err, LakeError::UnderAFile { file: f, .. } if *f == file),
            "{err:?}"
        );
        // A directory, and a missing one (created), are lakes.
        Lake::open(dir.path().join("new")).unwrap();
        assert!(dir.path().join("new").join(META_DIR).is_dir());
    }

    #[test]
    fn new_directories_are_made_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_synced(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_synced(&deep).unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(create_dir_synced(&file.join("d")).is_err());
    }
}

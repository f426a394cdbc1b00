//! Which source partition an input file of `ingest` is, and whether it is still the file that
//! partition holds.
//!
//! A file's id ([`crate::fingerprint::file_id`]) is a 31-bit hash of its first line, so two
//! different files may share one. Each commit records in the partition's state the fingerprint of the first
//! line of its file (another, 64-bit hash, and the line's length), and [`open`] looks for a
//! file's partition from its id on, one id after the other: the first whose state has the
//! file's fingerprint (or none: a state written before fingerprints, taken as the file's), or
//! else the first with no state, which the file then takes. A partition whose state, lock file
//! or both were never written ends the search: no file that started from an id before it went
//! past it. So a file keeps its partition on every run, and a file that is a log and its copy
//! compressed after rotation (the same text) is one partition.
//!
//! The search reads states without their locks: a state's fingerprint never changes once it is
//! written, so a partition seen to be another file's stays another file's. The partition chosen
//! is then taken as any writer takes one (its lock, waited for [`LOCK_WAIT`], or an error naming
//! the holder), and its state read again under the lock; if another file took it
//! in between, the search starts again. Two processes never write one partition: the second
//! one's lock fails. A process that meets a partition held by another before anything was
//! committed to it stops with that error, whatever file the other one reads: it cannot tell
//! whether that partition will be its own.
//!
//! Once the partition is found, [`crate::continuity::Continuity`] checks, as the file is read
//! again, that it is still an append of what the partition holds.

use crate::error::Result;
use crate::fingerprint::Fingerprint;
use crate::lake::Lake;
use crate::offsets::{self, PartitionState};
use crate::pipeline::{PartitionPipeline, WindowSettings};
use std::path::PathBuf;
use std::time::Duration;

/// The most partitions looked at from a file's id on. Ids are 31-bit hashes, so in any real
/// lake a handful at most are.
pub const MAX_PROBE: u32 = 4096;

/// The most times the search starts again because another process took the partition found.
const MAX_SEARCHES: u32 = 16;

/// How long a partition's lock is waited for. Another `ingest` of the file holds it for its whole
/// run, and is reported after this wait; `compact` holds it for a moment when it finds the
/// partition's last commit published ([`crate::pipeline::settle_last_commit`]).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes a partition as any writer does: its lock, then its state read and recovered under it.
fn open_partition(
    lake: &Lake,
    source: &str,
    partition: i32,
    settings: WindowSettings,
) -> Result<PartitionPipeline> {
    let lock = lake.lock_partition(source, partition, LOCK_WAIT)?;
    PartitionPipeline::open_locked(lake, source, partition, settings, lock)
}

/// Errors finding a file's partition, or of a file that is no longer what its partition holds.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "no partition for the file with id {id}: the {MAX_PROBE} partitions from it on are other \
         files'"
    )]
    Full { id: i32 },
    #[error(
        "no partition for the file with id {id}: other processes kept taking the one found \
         ({MAX_SEARCHES} times)"
    )]
    Contended { id: i32 },
    #[error(
        "{path}: not an append of what the lake holds for this file (partition {partition} of \
         {source_name}, state {state}): {detail}; it was rewritten or cut short since, or it is \
         another file that starts with the same line. Nothing of it was written. To read it anew \
         from its first line, remove partition {partition} from the lake first, as README.md \
         says under \"Rewritten files\""
    )]
    NotAnAppend {
        path: PathBuf,
        partition: i32,
        source_name: String,
        state: PathBuf,
        detail: String,
    },
}

/// Whether a partition's state may be the file's with first line `first_line`: it records that
/// fingerprint, or none (a state written before fingerprints).
fn is_for(state: &PartitionState, first_line: &Fingerprint) -> bool {
    state.first_line.is_none_or(|f| f == *first_line)
}

/// The `k`-th partition from `id` on, in `0..=i32::MAX` (wrapping).
fn nth_from(id: i32, k: u32) -> i32 {
    ((i64::from(id) + i64::from(k)) % (1_i64 << 31)) as i32
}

/// What a search from an id on found.
#[derive(Clone, Copy)]
enum Found {
    /// A partition whose state is the file's.
    Mine(i32),
    /// None is: the first partition without a state.
    Free(i32),
    /// Neither, in [`MAX_PROBE`] partitions.
    Full,
}

/// Looks at the partitions from `id` on, one after the other, as states stand (read without
/// locks), for the first whose state `is_mine`. It ends at a partition never opened (no state,
/// no lock file): no file whose search passed there went further.
fn search(
    lake: &Lake,
    source: &str,
    id: i32,
    is_mine: impl Fn(&PartitionState) -> bool,
) -> Result<Found> {
    let mut free = None;
    for k in 0..MAX_PROBE {
        let p = nth_from(id, k);
        match offsets::load(&lake.state_path(source, p), source, p)? {
            Some(state) if is_mine(&state) => return Ok(Found::Mine(p)),
            Some(_) => {}
            None => {
                let free = *free.get_or_insert(p);
                if !lake.lock_path(source, p).exists() {
                    return Ok(Found::Free(free));
                }
            }
        }
    }
    Ok(Found::Full)
}

/// Opens the partition of the file with id `id` and first line `first_line` (its own, or the
/// one it takes), holding its lock, and makes every commit record the fingerprint. A partition
/// held by another process is that lock's error, as [`PartitionPipeline::open`] gives it.
///
/// `earlier` are the ids and fingerprints the file had while its first line was not finished
/// ([`crate::fingerprint::FileId::earlier`]): when no partition is the file's own, a partition
/// committed under one of them stays the file's, and its commits keep recording that
/// fingerprint. (Its own comes first: a lake may hold both, the file having been read again
/// whole under its own by a build before 2026-11-29.)
pub fn open(
    lake: &Lake,
    source: &str,
    id: i32,
    first_line: Fingerprint,
    earlier: &[(i32, Fingerprint)],
    settings: WindowSettings,
) -> Result<PartitionPipeline> {
    let mine = |s: &PartitionState| is_for(s, &first_line);
    let mut found = search(lake, source, id, mine)?;
    for &(earlier_id, earlier_line) in earlier {
        if matches!(found, Found::Mine(_)) {
            break;
        }
        let exact = |s: &PartitionState| s.first_line == Some(earlier_line);
        if let Found::Mine(partition) = search(lake, source, earlier_id, exact)? {
            let mut pipe = open_partition(lake, source, partition, settings)?;
            // Fingerprints never change once written: still that file's under the lock.
            if pipe
                .state()
                .is_some_and(|s| s.first_line == Some(earlier_line))
            {
                tracing::info!(
                    source,
                    id,
                    partition,
                    "the file was committed while its first line had no newline: it keeps that \
                     partition"
                );
                pipe.record_file(earlier_line, None);
                return Ok(pipe);
            }
        }
    }
    for attempt in 0..MAX_SEARCHES {
        if attempt > 0 {
            found = search(lake, source, id, mine)?;
        }
        let partition = match found {
            Found::Mine(p) | Found::Free(p) => p,
            Found::Full => return Err(IdentityError::Full { id }.into()),
        };
        let mut pipe = open_partition(lake, source, partition, settings)?;
        // Under the lock now: the state as it is.
        if pipe.state().is_some_and(|s| !is_for(s, &first_line)) {
            tracing::info!(
                source,
                id,
                partition,
                "another file took the partition found: looking again"
            );
            continue;
        }
        if partition != id {
            tracing::info!(
                source,
                id,
                partition,
                "the file's id is another file's partition: it is partition {partition}"
            );
        }
        pipe.record_file(first_line, None);
        return Ok(pipe);
    }
    Err(IdentityError::Contended { id }.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::SOURCE;

    fn settings() -> WindowSettings {
        WindowSettings::default()
    }

    /// A state for partition `p` written by the file with first line `fp` (or by an older
    /// version, with `None`), as a commit leaves it (not synced: thousands are written).
    fn commit_state(lake: &Lake, p: i32, fp: Option<Fingerprint>) {
        let mut s = PartitionState::new(SOURCE, p, 5);
        s.first_line = fp;
        let path = lake.state_path(SOURCE, p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
    }

    fn open_for(lake: &Lake, id: i32, fp: Fingerprint) -> Result<PartitionPipeline> {
        open(lake, SOURCE, id, fp, &[], settings())
    }

    #[test]
    fn a_partition_committed_under_the_unfinished_first_line_stays_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let (earlier, now) = (Fingerprint::of(b"a"), Fingerprint::of(b"a\n"));
        // An earlier version committed the file, then one line without a newline, under id 7.
        commit_state(&lake, 7, Some(earlier));
        let other = (30, Fingerprint::of(b"a\r"));
        let mut pipe = open(&lake, SOURCE, 1000, now, &[other, (7, earlier)], settings()).unwrap();
        assert_eq!(pipe.partition(), 7);
        pipe.flush_all().unwrap();
        drop(pipe);
        // Nothing there: the file's own id, as ever.
        let pipe = open(&lake, SOURCE, 1000, now, &[(8, earlier)], settings()).unwrap();
        assert_eq!(pipe.partition(), 1000);
        drop(pipe);
        // Another file's state at that id is not taken for it.
        commit_state(&lake, 20, Some(Fingerprint::of(b"b")));
        let pipe = open(&lake, SOURCE, 1000, now, &[(20, earlier)], settings()).unwrap();
        assert_eq!(pipe.partition(), 1000);
        drop(pipe);
        // A partition with the file's own fingerprint comes first (an earlier build read the
        // file again whole under it).
        commit_state(&lake, 1000, Some(now));
        let pipe = open(&lake, SOURCE, 1000, now, &[(7, earlier)], settings()).unwrap();
        assert_eq!(pipe.partition(), 1000);
    }

    #[test]
    fn a_file_whose_id_is_taken_gets_the_next_free_partition_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let (a, b, c) = (
            Fingerprint::of(b"a\n"),
            Fingerprint::of(b"b\n"),
            Fingerprint::of(b"c\n"),
        );
        let id = 1_000;
        commit_state(&lake, id, Some(a));
        assert_eq!(open_for(&lake, id, a).unwrap().partition(), id);
        assert_eq!(open_for(&lake, id, b).unwrap().partition(), id + 1);
        commit_state(&lake, id + 1, Some(b));
        // Another file of the same id goes past both; each file finds its own again.
        assert_eq!(open_for(&lake, id, c).unwrap().partition(), id + 2);
        assert_eq!(open_for(&lake, id, b).unwrap().partition(), id + 1);
        assert_eq!(open_for(&lake, id, a).unwrap().partition(), id);
        // The file of id + 1 itself (its own id) goes past b's partition too.
        assert_eq!(open_for(&lake, id + 1, c).unwrap().partition(), id + 2);
        // Ids wrap at the top of the range.
        commit_state(&lake, i32::MAX, Some(a));
        assert_eq!(open_for(&lake, i32::MAX, b).unwrap().partition(), 0);
    }

    #[test]
    fn the_first_commit_records_the_files_fingerprint_and_an_old_state_is_any_files() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let (a, b) = (Fingerprint::of(b"a\n"), Fingerprint::of(b"b\n"));
        let id = 77;
        // A state without a fingerprint (written before them) is taken as the file's.
        commit_state(&lake, id, None);
        let mut pipe = open_for(&lake, id, a).unwrap();
        assert_eq!(pipe.partition(), id);
        // A commit records it, and from then on the partition is a's only.
        pipe.push_rejected(10, b"{}").unwrap();
        pipe.flush_all().unwrap();
        drop(pipe);
        let state = offsets::load(&lake.state_path(SOURCE, id), SOURCE, id)
            .unwrap()
            .unwrap();
        assert_eq!(state.first_line, Some(a));
        assert_eq!(open_for(&lake, id, b).unwrap().partition(), id + 1);
    }

    #[test]
    fn a_partition_left_without_its_state_does_not_hide_the_ones_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let (a, b, c) = (
            Fingerprint::of(b"a\n"),
            Fingerprint::of(b"b\n"),
            Fingerprint::of(b"c\n"),
        );
        let id = 5;
        for (p, fp) in [(id, a), (id + 1, b)] {
            drop(
                lake.lock_partition(SOURCE, p, std::time::Duration::ZERO)
                    .unwrap(),
            );
            commit_state(&lake, p, Some(fp));
        }
        // a's state is moved aside (to read its file anew): b still finds its own, past it.
        let state = lake.state_path(SOURCE, id);
        std::fs::rename(&state, state.with_extension("old")).unwrap();
        assert_eq!(open_for(&lake, id, b).unwrap().partition(), id + 1);
        // A new file takes the free one.
        assert_eq!(open_for(&lake, id, c).unwrap().partition(), id);
    }

    #[test]
    fn a_partition_held_before_its_first_commit_stops_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let (a, b) = (Fingerprint::of(b"a\n"), Fingerprint::of(b"b\n"));
        let id = 9;
        // Another process ingests a (no state yet): b cannot know whether id is its own.
        let held = open_for(&lake, id, a).unwrap();
        let err = open_for(&lake, id, b).err().expect("held");
        assert!(
            matches!(err, crate::Error::Lock(crate::lock::LockError::Held { .. })),
            "{err}"
        );
        drop(held);
        // Held once a has committed: b goes past it without taking its lock.
        commit_state(&lake, id, Some(a));
        let _held = lake
            .lock_partition(SOURCE, id, std::time::Duration::ZERO)
            .unwrap();
        assert_eq!(open_for(&lake, id, b).unwrap().partition(), id + 1);
    }

    #[test]
    fn the_search_gives_up_past_max_probe() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        for k in 0..MAX_PROBE {
            let fp = Fingerprint::of(format!("{k}\n").as_bytes());
            commit_state(&lake, nth_from(0, k), Some(fp));
        }
        let err = open_for(&lake, 0, Fingerprint::of(b"new\n"))
            .err()
            .expect("full");
        assert!(matches!(
            err,
            crate::Error::Identity(IdentityError::Full { id: 0 })
        ));
    }
}

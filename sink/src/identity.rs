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
//! is then taken as any writer takes one ([`PartitionPipeline::open`]: its lock at once, or an
//! error naming the holder), and its state read again under the lock; if another file took it
//! in between, the search starts again. Two processes never write one partition: the second
//! one's lock fails. A process that meets a partition held by another before anything was
//! committed to it stops with that error, whatever file the other one reads: it cannot tell
//! whether that partition will be its own.
//!
//! [`Continuity`] checks, as the file is read again, that it is still an append of what its
//! partition holds: it has at least the lines committed, and the last line read by the last run
//! that reached its end ([`PartitionState::last_line`]) is unchanged. A file rewritten since (or
//! another file that starts with the same line) is stopped before anything of it is written.

use crate::chunk::{lines, Piece};
use crate::error::Result;
use crate::fingerprint::{Fingerprint, LineMark};
use crate::lake::Lake;
use crate::offsets::{self, PartitionState};
use crate::parse_cmd::trim_line_end;
use crate::pipeline::{PartitionPipeline, WindowSettings};
use std::path::{Path, PathBuf};

/// The most partitions looked at from a file's id on. Ids are 31-bit hashes, so in any real
/// lake a handful at most are.
pub const MAX_PROBE: u32 = 4096;

/// The most times the search starts again because another process took the partition found.
const MAX_SEARCHES: u32 = 16;

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
            let mut pipe = PartitionPipeline::open(lake, source, partition, settings)?;
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
        let mut pipe = PartitionPipeline::open(lake, source, partition, settings)?;
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

/// Checks, as a file is read from its first line, that it is still an append of what its
/// partition holds, and notes its last line for the next commit to record.
#[derive(Debug)]
pub struct Continuity {
    /// Lines committed (one below the resume offset): the file must have at least as many.
    committed: i64,
    /// The line to find unchanged.
    mark: Option<LineMark>,
    /// The last line read so far.
    last: Option<LineMark>,
    /// The marked line, committed unfinished, found finished since (see [`Self::finished_late`]).
    finished_late: Option<i64>,
    /// The marked line, held back at the file's end: as found (see [`Self::last`]).
    held: Option<LineMark>,
    /// For the error: the file, its partition and its state file.
    path: PathBuf,
    source: String,
    partition: i32,
    state: PathBuf,
}

impl Continuity {
    /// The checks for `path`, read into the partition `pipe` has open.
    pub fn new(lake: &Lake, source: &str, pipe: &PartitionPipeline, path: &Path) -> Continuity {
        let state = pipe.state();
        Continuity {
            committed: state.map_or(0, |s| s.resume_offset - 1).max(0),
            mark: state.and_then(|s| s.last_line),
            last: None,
            finished_late: None,
            held: None,
            path: path.to_path_buf(),
            source: source.to_string(),
            partition: pipe.partition(),
            state: lake.state_path(source, pipe.partition()),
        }
    }

    fn broken(&self, detail: String) -> IdentityError {
        IdentityError::NotAnAppend {
            path: self.path.clone(),
            partition: self.partition,
            source_name: self.source.clone(),
            state: self.state.clone(),
            detail,
        }
    }

    /// The next piece of the file, whose first line is number `first`: an error if it holds the
    /// marked line changed. Call it before the piece is parsed.
    pub(crate) fn piece(&mut self, first: i64, piece: &Piece) -> Result<(), IdentityError> {
        let (n, last, unfinished) = match piece {
            Piece::Lines(data) => {
                let n = crate::chunk::count_lines(data);
                if n == 0 {
                    return Ok(());
                }
                // The last line starts after the newline before its own end.
                let body = &data[..data.len() - 1];
                let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
                (n, line_mark(&data[start..]), !data.ends_with(b"\n"))
            }
            Piece::Long { head, len, ended } => (1, Fingerprint::of_line(head, *len), !ended),
        };
        if let Some(mark) = self.mark.filter(|m| (first..first + n).contains(&m.line)) {
            let (seen, len) = match piece {
                Piece::Lines(data) => {
                    let seen = lines(data).nth((mark.line - first) as usize);
                    let seen = seen.map(trim_line_end).unwrap_or_default();
                    (seen, seen.len() as u64)
                }
                Piece::Long { head, len, .. } => (&head[..], *len),
            };
            let same = Fingerprint::of_line(seen, len) == mark.text;
            self.check_mark(mark, same, seen, len)?;
        }
        // The committed unfinished line, still unfinished at the piece's end: reported once it
        // was found grown, by this run or an earlier one.
        let line = first + n - 1;
        let reported = unfinished
            && self.mark.is_some_and(|m| {
                m.line == line && (m.reported || self.finished_late == Some(line))
            });
        self.last = Some(LineMark {
            line,
            text: last,
            unfinished,
            reported,
        });
        Ok(())
    }

    /// The marked line as found (`seen`, or its head, and its length): the same, or the
    /// unfinished line committed, finished since.
    fn check_mark(
        &mut self,
        mark: LineMark,
        same: bool,
        seen: &[u8],
        len: u64,
    ) -> Result<(), IdentityError> {
        if same {
            return Ok(());
        }
        if mark.finished_as(seen, len) {
            if !mark.reported {
                self.finished_late = Some(mark.line);
            }
            return Ok(());
        }
        Err(self.broken(format!(
            "line {} differs from the line committed there",
            mark.line
        )))
    }

    /// The line committed unfinished (no newline, the file left alone for
    /// [`crate::ingest::QUIET_FOR_LAST_LINE`]) that this run found finished, longer: the lake
    /// keeps what was committed of it, and the file goes on from the line after it.
    pub fn finished_late(&self) -> Option<i64> {
        self.finished_late
    }

    /// The end of the file, `next` the number of the line after the last one read, `held` the
    /// unfinished last line held back, if any (its text, or its head if read past) with its
    /// length: an error if the file has fewer lines than were committed, or if the marked line
    /// is the held one and has changed.
    pub fn end(&mut self, next: i64, held: Option<(&[u8], u64)>) -> Result<(), IdentityError> {
        let present = next - 1 + i64::from(held.is_some());
        if present < self.committed {
            return Err(self.broken(format!(
                "it has {present} lines, fewer than the {} already committed",
                self.committed
            )));
        }
        if let (Some(mark), Some((held, len))) = (self.mark.filter(|m| m.line == next), held) {
            let text = Fingerprint::of_line(held, len);
            self.check_mark(mark, text == mark.text, held, len)?;
            // Grown, it is recorded as it is now, reported: the warning is not given twice.
            let reported = mark.reported || self.finished_late == Some(mark.line);
            self.held = Some(LineMark {
                text,
                reported,
                ..mark
            });
        }
        Ok(())
    }

    /// Whether line `line` is the one committed last (the marked line): held back at the
    /// file's end, it is in the lake already, not waiting for a later run.
    pub fn is_committed_last(&self, line: i64) -> bool {
        self.mark.is_some_and(|m| m.line == line)
    }

    /// The line for the commit at the file's end to record: the last line read, unless the run
    /// stopped before the line committed last (a signal), whose mark then stays, or held that
    /// line back unfinished, which is then recorded as found (grown or not), so that a later run
    /// still checks it.
    pub fn last(&self) -> Option<LineMark> {
        if self.held.is_some() {
            return self.held;
        }
        match (self.last, self.mark) {
            (Some(last), Some(mark)) if mark.line > last.line => Some(mark),
            (None, mark) => mark,
            (last, _) => last,
        }
    }
}

/// A whole line's fingerprint (its line end trimmed).
fn line_mark(line: &[u8]) -> Fingerprint {
    let line = trim_line_end(line);
    Fingerprint::of_line(line, line.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::LINE_MARK_PREFIX;
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

    /// Checks with `committed` lines committed and line `mark` marked as `text`.
    fn continuity(committed: i64, mark: Option<(i64, &[u8])>) -> Continuity {
        Continuity {
            committed,
            mark: mark.map(|(line, text)| LineMark {
                line,
                text: line_mark(text),
                unfinished: false,
                reported: false,
            }),
            last: None,
            finished_late: None,
            held: None,
            path: "f.log".into(),
            source: SOURCE.into(),
            partition: 3,
            state: "3.json".into(),
        }
    }

    fn lines_of(text: &str) -> Piece {
        Piece::Lines(text.as_bytes().to_vec())
    }

    #[test]
    fn continuity_finds_the_marked_line_wherever_the_reader_cuts() {
        // The marked line in the middle, at the end, or at the start of a piece.
        for cut in ["", "a\n", "a\nb\n", "a\nb\nc\r\n"] {
            let mut c = continuity(4, Some((3, b"c")));
            let rest = "a\nb\nc\r\nd\ne\n".strip_prefix(cut).unwrap();
            c.piece(1, &lines_of(cut)).unwrap();
            let first = 1 + cut.matches('\n').count() as i64;
            c.piece(first, &lines_of(rest)).unwrap();
            c.end(6, None).unwrap();
            let last = c.last().unwrap();
            assert_eq!((last.line, last.text), (5, line_mark(b"e\n")), "{cut:?}");
        }
        // Changed: refused in the piece that holds it.
        let mut c = continuity(4, Some((3, b"c")));
        c.piece(1, &lines_of("a\nb\n")).unwrap();
        let err = c.piece(3, &lines_of("C\nd\n")).unwrap_err().to_string();
        assert!(
            err.contains("line 3 differs from the line committed there"),
            "{err}"
        );
        assert!(
            err.starts_with("f.log: not an append") && err.contains("3.json"),
            "{err}"
        );
        // A line over the limit is known by its first bytes and its length, however it comes:
        // whole in a piece of lines, or read past (its head and its length).
        let long = vec![b'x'; 2 * LINE_MARK_PREFIX + 7];
        let whole = [&long[..], b"\n"].concat();
        let read_past = |len: u64| Piece::Long {
            head: long[..LINE_MARK_PREFIX].to_vec(),
            len,
            ended: true,
        };
        let mut c = continuity(2, Some((2, &whole)));
        c.piece(1, &lines_of("a\n")).unwrap();
        c.piece(2, &read_past(long.len() as u64)).unwrap();
        let mut c = continuity(2, Some((2, &whole)));
        c.piece(1, &Piece::Lines([&b"a\n"[..], &whole].concat()))
            .unwrap();
        let mut c = continuity(2, Some((2, &whole)));
        assert!(c.piece(2, &read_past(long.len() as u64 + 1)).is_err());
    }

    #[test]
    fn continuity_wants_the_lines_committed_at_the_end() {
        let mut c = continuity(5, Some((5, b"e")));
        // Fewer lines than committed.
        let err = c.end(5, None).unwrap_err().to_string();
        assert!(
            err.contains("it has 4 lines, fewer than the 5 already committed"),
            "{err}"
        );
        // The fifth held back (no newline yet, in a live file): there, and unchanged.
        c.end(5, Some((b"e", 1))).unwrap();
        assert!(c.end(5, Some((b"E", 1))).is_err());
        c.end(6, None).unwrap();
        // Nothing committed: any file will do.
        continuity(0, None).end(1, None).unwrap();
    }

    #[test]
    fn an_unfinished_line_committed_may_be_found_finished_and_only_so() {
        // `ab` was committed as the file's last line, without a newline.
        let unfinished = |c: &mut Continuity| {
            c.mark = c.mark.map(|m| LineMark {
                unfinished: true,
                ..m
            })
        };
        let mut c = continuity(2, Some((2, b"ab")));
        unfinished(&mut c);
        c.piece(1, &lines_of("x\nabc d\ny\n")).unwrap();
        assert_eq!(c.finished_late(), Some(2));
        assert_eq!(c.last().map(|m| (m.line, m.unfinished)), Some((3, false)));
        // Still unfinished, longer: held back, and accepted the same way.
        let mut c = continuity(2, Some((2, b"ab")));
        unfinished(&mut c);
        c.piece(1, &lines_of("x\n")).unwrap();
        c.end(2, Some((b"abc", 3))).unwrap();
        assert_eq!(c.finished_late(), Some(2));
        // Not an extension of it, or no longer than it: rewritten.
        for line in ["aXc\n", "a\n", "\n", "b\n"] {
            let mut c = continuity(2, Some((2, b"ab")));
            unfinished(&mut c);
            let text = format!("x\n{line}");
            assert!(c.piece(1, &lines_of(&text)).is_err(), "{line:?}");
        }
        // A line committed with its newline cannot grow.
        let mut c = continuity(2, Some((2, b"ab")));
        assert!(c.piece(1, &lines_of("x\nabc\n")).is_err());
        // A line over the limit, committed unfinished (its head and length), found grown: read
        // past again with its newline, or held back still unfinished; not if it changed.
        let long = vec![b'z'; 3 * LINE_MARK_PREFIX];
        let head = long[..LINE_MARK_PREFIX].to_vec();
        let committed = |c: &mut Continuity| {
            c.mark = Some(LineMark {
                line: 2,
                text: Fingerprint::of_line(&head, 2 * LINE_MARK_PREFIX as u64),
                unfinished: true,
                reported: false,
            })
        };
        for ended in [true, false] {
            let mut c = continuity(2, None);
            committed(&mut c);
            c.piece(1, &lines_of("x\n")).unwrap();
            let grown = Piece::Long {
                head: head.clone(),
                len: long.len() as u64,
                ended,
            };
            c.piece(2, &grown).unwrap();
            assert_eq!(c.finished_late(), Some(2));
            assert_eq!(c.last().map(|m| m.unfinished), Some(!ended));
        }
        let mut c = continuity(2, None);
        committed(&mut c);
        c.piece(1, &lines_of("x\n")).unwrap();
        c.end(2, Some((&head, long.len() as u64))).unwrap();
        assert_eq!(c.finished_late(), Some(2));
        let mut changed = head.clone();
        changed[7] = b'Z';
        let mut c = continuity(2, None);
        committed(&mut c);
        assert!(c.end(2, Some((&changed, long.len() as u64))).is_err());
        // The last line read is marked unfinished when it has no newline.
        let mut c = continuity(0, None);
        c.piece(1, &lines_of("x\nab")).unwrap();
        let last = c.last().unwrap();
        assert_eq!(
            (last.line, last.text, last.unfinished),
            (2, line_mark(b"ab"), true)
        );
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

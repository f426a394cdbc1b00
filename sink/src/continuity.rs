//! Whether an input file of `ingest` is still an append of what its partition holds, checked as
//! the file is read again from its first line: it has at least the lines committed, and the last
//! line read by the last run that reached its end
//! ([`crate::offsets::PartitionState::last_line`]) is unchanged. A file rewritten since (or
//! another file that starts with the same line) is stopped before anything of it is written.
//! [`Continuity`] also notes the file's last line for the next commit to record. Which partition
//! a file is: [`crate::identity`].

use crate::chunk::{lines, Piece};
use crate::fingerprint::{Fingerprint, LineMark};
use crate::identity::IdentityError;
use crate::lake::Lake;
use crate::parse_cmd::trim_line_end;
use crate::pipeline::PartitionPipeline;
use std::path::{Path, PathBuf};

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
}

//! What `ingest` says when it is done: each file's [`FileSummary`], and the one summary line
//! on standard output that adds them up (rows, dead letters, lines already in the lake, late
//! rows, files written, speed, and the lines held back or cut short, with why).

use crate::ingest::QUIET_FOR_LAST_LINE;
use crate::pipeline::PipelineStats;

/// What one file's ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub file_id: i32,
    /// Lines read (all of them, including those already in the lake).
    pub lines: u64,
    /// Lines before the resume point, not even parsed.
    pub already: u64,
    /// An unfinished last line (no newline, the file changed within [`QUIET_FOR_LAST_LINE`])
    /// held back for a later run: 0 or 1.
    pub held: u64,
    /// A plain file of blank lines only, held back whole: a file is known by its first line of
    /// content, and these lines are read with it once one follows.
    pub blank_only: bool,
    /// The last line committed unfinished by an earlier run (after [`QUIET_FOR_LAST_LINE`]),
    /// found finished by this one: 0 or 1. The lake keeps what was committed of it.
    pub finished_late: u64,
    /// Stopped by SIGTERM/SIGINT before the end of the file: what was read is committed.
    pub interrupted: bool,
    pub pipeline: PipelineStats,
}

/// How a run ended, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every file read (a signal may have come once they were).
    Done { signalled: bool },
    /// A signal stopped the reading: some files not read whole.
    Interrupted,
    /// An error stopped the run in the file after the ones summed (it is reported below).
    Failed,
}

/// The summary line of a run over `files` input files, `all` the summaries of those read (whole
/// or in part), in `secs` seconds.
pub fn summary_line(all: &[FileSummary], files: usize, secs: f64, ending: Ending) -> String {
    let sum = |f: fn(&FileSummary) -> u64| all.iter().map(f).sum::<u64>();
    let lines = sum(|s| s.lines);
    let line = format!(
        "ingested {} file(s): {} lines, {} rows written, {} rejected, {} already in the lake, {} late{}, {} lake files written (data and dead letters, {} bytes), {:.2} s, {:.0} lines/s{}{}{}{}",
        all.len(),
        lines,
        sum(|s| s.pipeline.rows_written),
        sum(|s| s.pipeline.rejected),
        sum(|s| s.already + s.pipeline.skipped),
        sum(|s| s.pipeline.late),
        match sum(|s| s.pipeline.early) {
            0 => String::new(),
            n => format!(
                ", {n} early (timed over {} s ahead of the clock: written, not windowed)",
                crate::window::WindowSettings::default().max_future_secs
            ),
        },
        sum(|s| s.pipeline.files),
        sum(|s| s.pipeline.bytes),
        secs,
        lines as f64 / secs.max(1e-9),
        match sum(|s| s.held) {
            0 => String::new(),
            n => format!(
                "; {n} unfinished last line(s) held back (no newline yet, the file changed in \
                 the last {} s): a later run reads them whole",
                QUIET_FOR_LAST_LINE.as_secs()
            ),
        },
        match sum(|s| s.finished_late) {
            0 => String::new(),
            n => format!(
                "; {n} line(s) committed unfinished by an earlier run found finished: the lake \
                 keeps the part committed (see the warning)"
            ),
        },
        match all.iter().filter(|s| s.blank_only).count() {
            0 => String::new(),
            n => format!(
                "; {n} file(s) of blank lines only held back: a file is known by its first line \
                 of content, and a later run reads them with it"
            ),
        },
        match ending {
            Ending::Done { signalled: false } => String::new(),
            Ending::Done { signalled: true } => {
                "; a signal arrived once every file was read: what was read is committed".to_string()
            }
            Ending::Interrupted => format!(
                "; stopped by a signal with {} of {files} file(s) read whole: what was read is \
                 committed, and the same command goes on from there",
                all.iter().filter(|s| !s.interrupted).count(),
            ),
            Ending::Failed => {
                "; then an error stopped the run (below): what it committed stays, and the same \
                 command goes on from there"
                    .to_string()
            }
        },
    );
    line
}

//! One source partition's path into the lake: skip what is already committed, window, and commit
//! flushed windows exactly once. Shared by `ingest` (partition = file id, offset = line number)
//! and the Kafka consumer (partition = topic partition, offset = Kafka offset).
//!
//! API, for a caller that owns a partition:
//! 1. [`PartitionPipeline::open`]`(&lake, source, partition, settings)` takes the partition's
//!    writer lock ([`crate::lock`]; or [`PartitionPipeline::open_locked`] with one already
//!    waited for), recovers the partition (finishes renames of a commit that passed its commit
//!    point, deletes orphan staged files) and loads its state; [`PartitionPipeline::resume_offset`] is where to (re)start reading
//!    (`None`: never committed — start wherever the source starts).
//! 2. For each record, in offset order: [`PartitionPipeline::push`]`(offset, &record,
//!    &enrichment)` or, for a record that cannot be used, [`PartitionPipeline::push_rejected`]`
//!    (offset, dead_letter_json_line)`, or for a whole chunk of rows built elsewhere
//!    [`PartitionPipeline::push_batch`]. Records already in the lake (replays) are skipped.
//!    Either may commit (a window closed, or a size bound was hit) and then returns
//!    `Some(Committed)`, whose `resume_offset` is now durable: a Kafka consumer commits it to
//!    the broker only then.
//! 3. On idle and on shutdown (or on a rebalance revoking the partition):
//!    [`PartitionPipeline::flush_all`].
//!
//! After any error the pipeline must be dropped and reopened: reopening is recovery, and
//! replaying from `resume_offset` yields each record exactly once in the lake.
//! This module decides what a commit holds and its new state; [`crate::commit`] executes it:
//! write each flushed window to a staged file and fsync it (and the staging dir), write and
//! rename the state file naming those files as pending (the commit point), then rename them into
//! place. See `doc/DESIGN.md`.

use crate::commit::{Background, CommitJob};
pub use crate::commit::{CommitStep, Committed};
use crate::enrich::Enrichment;
use crate::error::Result;
use crate::fingerprint::{Fingerprint, LineMark};
use crate::lake::Lake;
use crate::lock::PartitionLock;
use crate::offsets::{self, PartitionState, PendingFile};
use crate::window::{now_micros, state_key, Arrival, Windows};
use crate::writer::FileMeta;
use accesslake_transform::Record;
use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;

/// The most dead-letter text buffered before it is committed: 64 MiB (a rejected line of 1 MiB
/// may take several as escaped JSON).
pub const DEAD_LETTER_BYTES: usize = 64 << 20;

pub use crate::window::WindowSettings;

mod plan;
mod recovery;
pub use recovery::{settle_last_commit, LastCommit};

/// The state key of the dead-letter buffer.
pub const REJECTED_KEY: &str = "rejected";

/// Errors of the pipeline's own rules.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid window settings: {0}")]
    Settings(String),
    #[error("{source_name}/{partition}: offset {offset} arrived after {next}: records must come in offset order")]
    OutOfOrder {
        source_name: String,
        partition: i32,
        offset: i64,
        next: i64,
    },
    #[error("fault injected at {0:?} (crash testing)")]
    Fault(CommitStep),
    #[error("the commit thread has stopped")]
    WriterGone,
    #[error("a parse worker has stopped")]
    WorkerGone,
    #[error("cannot start a parse worker: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the lock held ({held}) is not this partition's ({want})")]
    WrongLock { held: String, want: String },
    #[error(
        "{source_name}/{partition}: the lake holds data files of this partition, but not its \
         state {state} (removed by hand?): writing it anew could put its rows in the lake \
         twice. Nothing was written. Restore the state, or remove the partition's files as \
         README.md says under \"Rewritten files\" (`{source_name}-p{partition}-o*`)"
    )]
    StateMissing {
        source_name: String,
        partition: i32,
        state: String,
    },
    /// A broken invariant of the pipeline itself: stop before committing anything of it.
    #[error("internal error, nothing of it committed (please report): {0}")]
    Internal(String),
}

/// Counters of this pipeline since it was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Records pushed that were already in the lake.
    pub skipped: u64,
    /// Rows and dead letters committed.
    pub rows_written: u64,
    pub rejected: u64,
    /// Rows that arrived after their window closed (still written).
    pub late: u64,
    /// Rows timed too far ahead of the clock to move the watermark (still written).
    pub early: u64,
    /// Data files and dead-letter files committed, and their bytes.
    pub files: u64,
    pub bytes: u64,
    pub commits: u64,
}

/// What [`PartitionPipeline::on_commit`] calls.
type OnCommit = Box<dyn FnMut(&Committed) + Send>;

/// One source partition's windows and commits.
pub struct PartitionPipeline {
    lake: Lake,
    source: String,
    partition: i32,
    windows: Windows,
    rejected: Vec<u8>,
    rejected_first: Option<i64>,
    rejected_count: u64,
    state: Option<PartitionState>,
    next_offset: Option<i64>,
    stats: PipelineStats,
    fault: Option<CommitStep>,
    background: Option<Background>,
    in_flight: usize,
    /// The configured window length, while the state's windows of another length are still
    /// flushed past the resume offset (see [`PartitionPipeline::open`]).
    configured_window: Option<u32>,
    /// The parse settings each commit records (see [`PartitionPipeline::parse_settings`]).
    parse: Option<String>,
    /// What each commit records about `ingest`'s file (see [`PartitionPipeline::record_file`]).
    first_line: Option<Fingerprint>,
    last_line: Option<LineMark>,
    /// Told of every commit once it is durable (see [`PartitionPipeline::on_commit`]).
    on_commit: Option<OnCommit>,
    /// The partition's writer lock. Last, so it is released after the fields above are dropped
    /// (the background commit threads are joined first).
    _lock: PartitionLock,
}

impl PartitionPipeline {
    /// Settles the parse settings of this run (for `ingest`: its log format and line limit, as
    /// text) and records them in every commit from now on. They are the configured ones, unless
    /// records past the resume offset were committed with others (a run that stopped before its
    /// end): with other settings one of those lines could turn from a committed row into a dead
    /// letter, or the reverse, and be in the lake twice. Then the committed ones stay for this
    /// run (whose end flushes everything), and the configured ones apply from the next.
    pub fn parse_settings(&mut self, configured: &str) -> String {
        let committed = self
            .state
            .as_ref()
            .filter(|s| !s.flushed.is_empty())
            .and_then(|s| s.parse.clone());
        let chosen = match committed {
            Some(c) if c != configured => {
                tracing::warn!(
                    source = %self.source,
                    partition = self.partition,
                    committed = %c,
                    configured,
                    "records past the resume offset were committed with other parse settings: \
                     keeping them for this run, so that no line is written twice"
                );
                c
            }
            _ => configured.to_string(),
        };
        self.parse = Some(chosen.clone());
        chosen
    }

    /// For `ingest`: records the fingerprint of the file's first line with every commit from now
    /// on, and `last_line` (the file's last line read, once its end is reached) with the next:
    /// see [`PartitionState::first_line`] and [`PartitionState::last_line`].
    pub fn record_file(&mut self, first_line: Fingerprint, last_line: Option<LineMark>) {
        self.first_line = Some(first_line);
        self.last_line = last_line;
    }

    /// For `ingest`: records `last_line` with the next commit, beside the first line's
    /// fingerprint already recorded ([`PartitionPipeline::record_file`]).
    pub fn record_last_line(&mut self, last_line: Option<LineMark>) {
        self.last_line = last_line;
    }

    /// Where reading must (re)start; `None` when the partition never committed.
    pub fn resume_offset(&self) -> Option<i64> {
        self.state.as_ref().map(|s| s.resume_offset)
    }

    /// The last committed state.
    pub fn state(&self) -> Option<&PartitionState> {
        self.state.as_ref()
    }

    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    /// Calls `f` with each commit of this pipeline once its files are published, in commit
    /// order, whichever call made it (a push that closed a window, a flush, an idle flush): for
    /// the streaming sink's commit-duration histogram. It replaces any earlier `f`.
    pub fn on_commit(&mut self, f: impl FnMut(&Committed) + Send + 'static) {
        self.on_commit = Some(Box::new(f));
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Rows currently buffered.
    pub fn buffered(&self) -> usize {
        self.windows.buffered_rows() + self.rejected_count as usize
    }

    /// Makes the next commit stop at `step` with an error (crash testing).
    pub fn inject_fault(&mut self, step: Option<CommitStep>) {
        self.fault = step;
    }

    fn accept_offset(&mut self, offset: i64) -> Result<()> {
        if let Some(next) = self.next_offset {
            if offset < next {
                return Err(PipelineError::OutOfOrder {
                    source_name: self.source.clone(),
                    partition: self.partition,
                    offset,
                    next,
                }
                .into());
            }
        }
        self.next_offset = Some(offset + 1);
        Ok(())
    }

    fn committed(&self, offset: i64, key: &str) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.is_committed(offset, key))
    }

    /// [`Self::committed`] for a data record of window `start`, without building the window's
    /// key unless some flushed window could hold the offset (only on a replay).
    fn committed_in(&self, offset: i64, start: i64) -> bool {
        let Some(s) = &self.state else { return false };
        offset < s.resume_offset
            || (s.flushed.values().any(|&f| offset < f)
                && s.is_committed(offset, &state_key(start)))
    }

    /// Buffers one record; commits when a window closes or fills.
    pub fn push(
        &mut self,
        offset: i64,
        record: &Record<'_>,
        enrichment: &Enrichment<'_>,
    ) -> Result<Option<Committed>> {
        self.windows.set_clock(now_micros());
        let switched = self.switch_window_once_past(offset)?;
        let Some(start) = self.admit(offset, record.time.0)? else {
            return Ok(switched);
        };
        self.windows
            .append(start, offset, record, enrichment, self.partition);
        match self.to_flush(start) {
            Some(flush) => Ok(self.commit(flush)?.or(switched)),
            None => Ok(switched),
        }
    }

    /// Whether a configured window length is held back and `offset` is past every window
    /// committed ahead of the resume offset ([`Self::switch_window_once_past`]).
    fn window_switch_due(&self, offset: i64) -> bool {
        let past = |s: &PartitionState| {
            s.flushed
                .iter()
                .filter(|(k, _)| k.as_str() != REJECTED_KEY)
                .all(|(_, &f)| offset >= f)
        };
        self.configured_window.is_some() && self.state.as_ref().is_none_or(past)
    }

    /// Applies the configured window length held back at open (see [`Self::open_locked`]) as
    /// soon as the replay reaches `offset` past every window committed ahead of the resume
    /// offset: records from there on are never looked up by a window key, so their window
    /// length is free. What is buffered (with the committed length) is committed first. Before,
    /// the committed length held until the run's end: after a crash with 5 s windows, a rerun
    /// of a whole log with 900 s ones wrote 33,539 files for 36,735 rows.
    fn switch_window_once_past(&mut self, offset: i64) -> Result<Option<Committed>> {
        if !self.window_switch_due(offset) {
            return Ok(None);
        }
        let done = self.flush_all()?;
        if let Some(w) = self.configured_window.take() {
            self.windows.set_window_secs(w);
            tracing::info!(
                source = self.source,
                partition = self.partition,
                window_secs = w,
                offset,
                "the configured window length applies from here"
            );
        }
        Ok(done)
    }

    /// The rules every data record goes through, whichever way its data comes: offset order,
    /// skip if already in the lake, then window and lateness (the row is counted in its window).
    /// Returns the window's start, or `None` for a skipped record.
    fn admit(&mut self, offset: i64, time: i64) -> Result<Option<i64>> {
        self.accept_offset(offset)?;
        if self.committed_in(offset, self.windows.window_of(time)) {
            self.stats.skipped += 1;
            return Ok(None);
        }
        let (start, arrival) = self.windows.observe(time);
        self.windows.count(start, offset, arrival);
        self.stats.late += u64::from(arrival == Arrival::Late);
        self.stats.early += u64::from(arrival == Arrival::Early);
        Ok(Some(start))
    }

    /// The windows to flush after a row of window `start` was buffered, if any.
    fn to_flush(&self, start: i64) -> Option<Vec<i64>> {
        let full = self.windows.full(start);
        if !full && !self.windows.any_closable() {
            return None;
        }
        let mut flush = self.windows.closable();
        if full && !flush.contains(&start) {
            flush.push(start);
        }
        Some(flush)
    }

    /// Buffers a batch of lake rows built elsewhere (by `ingest`'s workers), in offset order,
    /// and the dead letters `(offset, JSON line)` of the same stretch of offsets. Every row goes
    /// through the same rules as [`Self::push`] (skip if committed, window, lateness, flush), in
    /// offset order with the dead letters; the rows' data is kept as slices of `batch`, not
    /// copied. The batch has the lake schema, its provenance columns filled for this partition.
    pub fn push_batch(
        &mut self,
        batch: &RecordBatch,
        rejected: &[(i64, Vec<u8>)],
    ) -> Result<Option<Committed>> {
        let times = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        let offsets = batch
            .column(batch.num_columns() - 1)
            .as_primitive::<Int64Type>();
        self.windows.set_clock(now_micros());
        let mut last = None;
        let mut rejected = rejected.iter().peekable();
        // The current run of consecutive rows of one window: (window start, first row); and the
        // runs ended since rows were last attached: (window start, first row, end).
        let mut run: Option<(i64, usize)> = None;
        let mut runs: Vec<(i64, usize, usize)> = Vec::new();
        let end_run = |runs: &mut Vec<_>, run: Option<(i64, usize)>, end: usize| {
            if let Some((start, first)) = run.filter(|&(_, first)| end > first) {
                runs.push((start, first, end));
            }
        };
        for i in 0..batch.num_rows() {
            let offset = offsets.value(i);
            if rejected.peek().is_some_and(|(o, _)| *o < offset) {
                end_run(&mut runs, run.take(), i);
                self.attach(batch, &mut runs)?;
                while let Some((o, line)) = rejected.next_if(|(o, _)| *o < offset) {
                    last = self.push_rejected(*o, line)?.or(last);
                }
            }
            if self.window_switch_due(offset) {
                end_run(&mut runs, run.take(), i);
                self.attach(batch, &mut runs)?;
                last = self.switch_window_once_past(offset)?.or(last);
            }
            let Some(start) = self.admit(offset, times.value(i))? else {
                end_run(&mut runs, run.take(), i);
                continue;
            };
            if run.is_some_and(|(w, _)| w != start) {
                end_run(&mut runs, run.take(), i);
            }
            run.get_or_insert((start, i));
            if let Some(flush) = self.to_flush(start) {
                end_run(&mut runs, run.take(), i + 1);
                self.attach(batch, &mut runs)?;
                last = self.commit(flush)?.or(last);
            }
        }
        end_run(&mut runs, run.take(), batch.num_rows());
        self.attach(batch, &mut runs)?;
        for (o, line) in rejected {
            last = self.push_rejected(*o, line)?.or(last);
        }
        Ok(last)
    }

    /// Gives the rows of `runs` (window start, first row, end) of `batch` to their windows, one
    /// batch per window: a window's only run as a slice of `batch` (no copy), several gathered
    /// into one (a copy). Out-of-order input switches window from row to row, and a slice per run
    /// cost about 12 KB a row (a shuffled 1 M-line log took 2.9 GB).
    fn attach(&mut self, batch: &RecordBatch, runs: &mut Vec<(i64, usize, usize)>) -> Result<()> {
        runs.sort_unstable_by_key(|&(start, first, _)| (start, first));
        for group in runs.chunk_by(|a, b| a.0 == b.0) {
            let rows = match group {
                [(_, first, end)] => batch.slice(*first, end - first),
                _ => {
                    let indices: arrow::array::UInt32Array = group
                        .iter()
                        .flat_map(|&(_, first, end)| first as u32..end as u32)
                        .collect();
                    arrow::compute::take_record_batch(batch, &indices)
                        .expect("the indices are rows of the batch")
                }
            };
            if !self.windows.attach(group[0].0, rows) {
                return Err(PipelineError::Internal(format!(
                    "rows for window {} which is not open",
                    group[0].0
                ))
                .into());
            }
        }
        runs.clear();
        Ok(())
    }

    /// Buffers a dead letter (one JSON line, without newline) for the record at `offset`; the
    /// buffer is committed at `max_rows` letters or [`DEAD_LETTER_BYTES`] (or `max_text_bytes`,
    /// when smaller), so a run of large rejected records never piles up in memory.
    pub fn push_rejected(&mut self, offset: i64, dead_letter: &[u8]) -> Result<Option<Committed>> {
        self.accept_offset(offset)?;
        if self.committed(offset, REJECTED_KEY) {
            self.stats.skipped += 1;
            return Ok(None);
        }
        self.rejected_first.get_or_insert(offset);
        self.rejected.extend_from_slice(dead_letter);
        self.rejected.push(b'\n');
        self.rejected_count += 1;
        let settings = self.windows.settings();
        let bytes = DEAD_LETTER_BYTES.min(settings.max_text_bytes);
        if self.rejected_count as usize >= settings.max_rows || self.rejected.len() >= bytes {
            return self.commit(Vec::new());
        }
        Ok(None)
    }

    /// Commits every buffered window and dead letter (idle, shutdown, revocation).
    pub fn flush_all(&mut self) -> Result<Option<Committed>> {
        let all = self.windows.all();
        let now = self.commit(all)?;
        let done = self.drain(true)?.or(now);
        // Every window is flushed: a configured window length held back at open now applies.
        let flushed = |s: &PartitionState| s.has_flushed_windows(REJECTED_KEY);
        if let Some(w) = self.configured_window {
            if self.windows.all().is_empty() && !self.state.as_ref().is_some_and(flushed) {
                self.windows.set_window_secs(w);
                self.configured_window = None;
                tracing::info!(
                    source = self.source,
                    partition = self.partition,
                    window_secs = w,
                    "the configured window length applies from here"
                );
            }
        }
        Ok(done)
    }

    /// The window length in use (the committed one, until the configured one can apply).
    pub fn window_secs(&self) -> u32 {
        self.windows.settings().window_secs
    }

    /// Moves commits to threads of their own, so parsing and enrichment go on meanwhile (used
    /// by `ingest`; see [`Background`]). Commits still reach their commit point in order, and a
    /// returned [`Committed`] still means durable; [`Self::flush_all`] waits for all of them.
    /// Dropping the pipeline waits for the commits already handed over.
    pub fn with_background_writer(mut self) -> Result<PartitionPipeline> {
        self.background = Some(Background::spawn(self.partition)?);
        Ok(self)
    }
}

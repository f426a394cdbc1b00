//! Tumbling event-time windows for one source partition.
//!
//! A record with event time t belongs to the window starting at `t - t mod window_secs` (UTC;
//! the length divides an hour, so a window lies inside one hour partition). The watermark is the
//! newest event time seen. A window is *closable* once the watermark has passed its end by the
//! allowed lateness. A record whose window is already closable when it arrives is *late*: it is
//! still buffered (into its own window, hence its own hour partition) and counted, and goes out
//! with the next flush. Buffers are columnar ([`Rows`], or slices of batches built elsewhere);
//! each keeps its first and last offset.
//!
//! API: [`Windows::observe`] a record's time and [`Windows::count`] it in its window, give its
//! data ([`Windows::append`] one row, or [`Windows::attach`] a batch of counted rows), then ask
//! [`Windows::closable`] / [`Windows::full`] which windows to flush and [`Windows::take`] them; [`Windows::min_offset`] is the oldest offset still
//! buffered (what a restart must replay from).

use crate::enrich::Enrichment;
use crate::rows::{Provenance, Rows};
use accesslake_transform::Record;
use arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;

/// Window parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// Window length in seconds; must divide 3600.
    pub window_secs: u32,
    /// Allowed lateness in seconds.
    pub lateness_secs: u32,
    /// Rows at which a window is flushed regardless of time (the max rows per file).
    pub max_rows: usize,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            window_secs: 60,
            lateness_secs: 10,
            max_rows: 250_000,
        }
    }
}

impl WindowSettings {
    /// Checks the settings; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.window_secs == 0 || 3600 % self.window_secs != 0 {
            return Err(format!(
                "window length {} s must divide 3600 (e.g. 60, 300, 900, 3600)",
                self.window_secs
            ));
        }
        if self.max_rows == 0 {
            return Err("max rows per file must be at least 1".into());
        }
        Ok(())
    }
}

/// The rows buffered for one window: rows pushed one at a time go into a columnar builder;
/// ready-made batches (slices of a chunk built elsewhere, see [`Windows::count`]) are kept as
/// they are, so a chunk's rows are never copied before the file is written.
pub struct WindowBuf {
    /// Window start, seconds since the epoch.
    pub start: i64,
    rows: Option<Rows>,
    batches: Vec<RecordBatch>,
    /// Rows in this window, counted as they arrive (a counted row's batch may be attached later).
    len: usize,
    pub first_offset: i64,
    pub last_offset: i64,
    /// Late rows in this buffer.
    pub late: u64,
}

impl WindowBuf {
    /// Rows counted in this window.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The window's rows as batches, in arrival order.
    pub fn into_batches(mut self) -> Vec<RecordBatch> {
        if let Some(mut rows) = self.rows.take() {
            if !rows.is_empty() {
                self.batches.push(rows.finish());
            }
        }
        self.batches
    }
}

/// The key under which a window's flush position is kept in the partition state.
pub fn state_key(window_start: i64) -> String {
    format!("t{window_start}")
}

/// The open windows of one partition.
pub struct Windows {
    settings: WindowSettings,
    open: BTreeMap<i64, WindowBuf>,
    watermark: Option<i64>,
}

impl Windows {
    pub fn new(settings: WindowSettings, watermark: Option<i64>) -> Windows {
        Windows {
            settings,
            open: BTreeMap::new(),
            watermark,
        }
    }

    pub fn settings(&self) -> &WindowSettings {
        &self.settings
    }

    /// The window start (seconds) of an event time (microseconds).
    pub fn window_of(&self, time_micros: i64) -> i64 {
        let secs = time_micros.div_euclid(1_000_000);
        secs - secs.rem_euclid(i64::from(self.settings.window_secs))
    }

    /// Whether the window starting at `start` has closed for the current watermark.
    fn is_closed(&self, start: i64) -> bool {
        let end =
            start + i64::from(self.settings.window_secs) + i64::from(self.settings.lateness_secs);
        self.watermark
            .is_some_and(|w| w.div_euclid(1_000_000) >= end)
    }

    /// Takes a record's event time (microseconds) into account: returns its window's start and
    /// whether it is late (its window had closed), and advances the watermark.
    pub fn observe(&mut self, t: i64) -> (i64, bool) {
        let start = self.window_of(t);
        let late = self.is_closed(start);
        self.watermark = Some(self.watermark.map_or(t, |w| w.max(t)));
        (start, late)
    }

    fn entry(&mut self, start: i64, offset: i64) -> &mut WindowBuf {
        self.open.entry(start).or_insert_with(|| WindowBuf {
            start,
            rows: None,
            batches: Vec::new(),
            len: 0,
            first_offset: offset,
            last_offset: offset,
            late: 0,
        })
    }

    /// Appends the data of one row already [`Self::count`]ed in window `start`.
    pub fn append(
        &mut self,
        start: i64,
        offset: i64,
        record: &Record<'_>,
        enrichment: &Enrichment<'_>,
        partition: i32,
    ) {
        let cap = self.settings.max_rows.min(16_384);
        let buf = self.entry(start, offset);
        buf.rows
            .get_or_insert_with(|| Rows::with_capacity(cap))
            .push(
                record,
                enrichment,
                Provenance {
                    src_partition: partition,
                    src_offset: offset,
                },
            );
    }

    /// Counts one row of window `start` (from [`Self::observe`]); its data comes with
    /// [`Self::append`], or in a batch given to [`Self::attach`] before the window is taken.
    pub fn count(&mut self, start: i64, offset: i64, late: bool) {
        let buf = self.entry(start, offset);
        buf.len += 1;
        buf.last_offset = offset;
        buf.late += u64::from(late);
    }

    /// Adds the data of rows already [`Self::count`]ed in window `start`, as one batch.
    pub fn attach(&mut self, start: i64, batch: RecordBatch) {
        if let Some(buf) = self.open.get_mut(&start) {
            buf.batches.push(batch);
        }
    }

    /// The newest event time seen (microseconds).
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    /// Whether some buffered window has closed (cheap: looks at the oldest one).
    pub fn any_closable(&self) -> bool {
        self.open
            .first_key_value()
            .is_some_and(|(&s, _)| self.is_closed(s))
    }

    /// Starts of the windows that have closed (oldest first).
    pub fn closable(&self) -> Vec<i64> {
        self.open
            .keys()
            .copied()
            .take_while(|&s| self.is_closed(s))
            .collect()
    }

    /// Whether the window at `start` holds `max_rows` rows.
    pub fn full(&self, start: i64) -> bool {
        self.open
            .get(&start)
            .is_some_and(|b| b.len >= self.settings.max_rows)
    }

    /// Starts of every buffered window.
    pub fn all(&self) -> Vec<i64> {
        self.open.keys().copied().collect()
    }

    /// Removes and returns a window's buffer.
    pub fn take(&mut self, start: i64) -> Option<WindowBuf> {
        self.open.remove(&start)
    }

    /// The oldest offset still buffered.
    pub fn min_offset(&self) -> Option<i64> {
        self.open.values().map(|b| b.first_offset).min()
    }

    /// Rows buffered in all windows.
    pub fn buffered_rows(&self) -> usize {
        self.open.values().map(|b| b.len).sum()
    }
}

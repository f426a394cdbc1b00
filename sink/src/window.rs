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
use std::collections::{BTreeMap, BTreeSet};

/// Window parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// Window length in seconds; must divide 3600.
    pub window_secs: u32,
    /// Allowed lateness in seconds.
    pub lateness_secs: u32,
    /// Rows at which a window is flushed regardless of time (the max rows per file).
    pub max_rows: usize,
    /// Bytes of text in any one column at which a window of rows pushed one at a time is
    /// flushed regardless of time. An Arrow `Utf8` column holds under 2 GiB; this keeps a
    /// window of very long values (8 KiB user agents, say, 250,000 times) from reaching it, and
    /// bounds the memory a window holds.
    pub max_text_bytes: usize,
}

/// The default [`WindowSettings::max_text_bytes`]: 512 MiB, so one more record of up to 1 GiB
/// (beyond what a Kafka record can carry by default) still fits under the 2 GiB limit.
pub const MAX_TEXT_BYTES: usize = 512 << 20;

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            window_secs: 60,
            lateness_secs: 10,
            max_rows: 250_000,
            max_text_bytes: MAX_TEXT_BYTES,
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
        if self.max_text_bytes == 0 || self.max_text_bytes > MAX_TEXT_BYTES {
            return Err(format!(
                "text bytes per window column must be between 1 and {MAX_TEXT_BYTES}"
            ));
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

/// The open windows of one partition. A window that receives rows in time closes when the
/// watermark passes its end plus the lateness; the rows of a window that had closed already
/// (late rows) wait in a window of their own until the next window closes in time, or until
/// `max_rows` late rows are buffered: a stream of stragglers makes a few commits, not one each.
pub struct Windows {
    settings: WindowSettings,
    open: BTreeMap<i64, WindowBuf>,
    /// Starts of the open windows holding rows that came in time.
    in_time: BTreeSet<i64>,
    /// Late rows buffered, over all windows.
    late_rows: usize,
    watermark: Option<i64>,
}

impl Windows {
    pub fn new(settings: WindowSettings, watermark: Option<i64>) -> Windows {
        Windows {
            settings,
            open: BTreeMap::new(),
            in_time: BTreeSet::new(),
            late_rows: 0,
            watermark,
        }
    }

    pub fn settings(&self) -> &WindowSettings {
        &self.settings
    }

    /// Changes the window length; only while no window is open.
    pub fn set_window_secs(&mut self, window_secs: u32) {
        debug_assert!(self.open.is_empty());
        self.settings.window_secs = window_secs;
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
        if late {
            self.late_rows += 1;
        } else if self.in_time.last() != Some(&start) {
            self.in_time.insert(start);
        }
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

    /// Whether it is time to flush closed windows: a window of rows in time has closed, or
    /// `max_rows` late rows are waiting (cheap: looks at the oldest window in time).
    pub fn any_closable(&self) -> bool {
        self.in_time.first().is_some_and(|&s| self.is_closed(s))
            || self.late_rows >= self.settings.max_rows
    }

    /// Starts of the windows that have closed (oldest first), late rows' windows included.
    pub fn closable(&self) -> Vec<i64> {
        self.open
            .keys()
            .copied()
            .take_while(|&s| self.is_closed(s))
            .collect()
    }

    /// Whether the window at `start` holds `max_rows` rows, or `max_text_bytes` of text in one
    /// column of its pushed rows. (Attached batches were built and bounded elsewhere.)
    pub fn full(&self, start: i64) -> bool {
        self.open.get(&start).is_some_and(|b| {
            b.len >= self.settings.max_rows
                || b.rows
                    .as_ref()
                    .is_some_and(|r| r.largest_text() >= self.settings.max_text_bytes)
        })
    }

    /// Starts of every buffered window.
    pub fn all(&self) -> Vec<i64> {
        self.open.keys().copied().collect()
    }

    /// Removes and returns a window's buffer.
    pub fn take(&mut self, start: i64) -> Option<WindowBuf> {
        let buf = self.open.remove(&start)?;
        self.in_time.remove(&start);
        self.late_rows -= buf.late as usize;
        Some(buf)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_full_at_its_row_or_text_bound() {
        let settings = WindowSettings {
            max_rows: 10,
            max_text_bytes: 200,
            ..WindowSettings::default()
        };
        settings.validate().unwrap();
        let agent = "A".repeat(60);
        let line = format!(
            r#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 3 "-" "{agent}""#
        );
        let record = accesslake_transform::parse_line(line.as_bytes()).unwrap();
        let mut w = Windows::new(settings, None);
        let start = w.window_of(record.time.0);
        // 60 bytes of agent per row: the fourth row brings the column to 240 >= 200.
        for offset in 0..4 {
            assert!(!w.full(start), "full after {offset} rows");
            w.count(start, offset, false);
            w.append(start, offset, &record, &Enrichment::default(), 0);
        }
        assert!(w.full(start));

        // The row bound alone, with short values.
        let mut w = Windows::new(settings, None);
        let short = accesslake_transform::parse_line(
            br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 3 "-" "ua""#,
        )
        .unwrap();
        for offset in 0..10 {
            assert!(!w.full(start));
            w.count(start, offset, false);
            w.append(start, offset, &short, &Enrichment::default(), 0);
        }
        assert!(w.full(start));
    }

    #[test]
    fn text_bound_is_checked() {
        let with = |max_text_bytes| WindowSettings {
            max_text_bytes,
            ..WindowSettings::default()
        };
        assert!(with(0).validate().is_err());
        assert!(with(MAX_TEXT_BYTES + 1).validate().is_err());
        assert!(with(MAX_TEXT_BYTES).validate().is_ok());
    }

    #[test]
    fn late_rows_wait_for_a_window_closing_in_time_or_max_rows() {
        let settings = WindowSettings {
            window_secs: 60,
            lateness_secs: 0,
            max_rows: 5,
            ..WindowSettings::default()
        };
        let mut w = Windows::new(settings, None);
        let mut offset = 0;
        let mut row = |w: &mut Windows, secs: i64| {
            let (start, late) = w.observe(secs * 1_000_000);
            w.count(start, offset, late);
            offset += 1;
            late
        };
        let flush = |w: &mut Windows| {
            let starts = w.closable();
            for &s in &starts {
                w.take(s);
            }
            starts
        };
        assert!(!row(&mut w, 600));
        assert!(!row(&mut w, 700));
        assert!(w.any_closable(), "window 600 closed in time");
        assert_eq!(flush(&mut w), [600]);
        // Stragglers for the closed window 600 and for 480: they wait, below max_rows.
        for secs in [610, 620, 490] {
            assert!(row(&mut w, secs));
            assert!(!w.any_closable(), "late rows alone do not flush");
        }
        // Window 660 closes in time: the late rows go with it.
        assert!(!row(&mut w, 800));
        assert!(w.any_closable());
        assert_eq!(flush(&mut w), [480, 600, 660]);
        // Or max_rows late rows are waiting.
        for (i, secs) in [100, 200, 300, 400].into_iter().enumerate() {
            assert!(row(&mut w, secs));
            assert!(!w.any_closable(), "{} late rows", i + 1);
        }
        assert!(row(&mut w, 500));
        assert!(w.any_closable());
        assert_eq!(flush(&mut w), [60, 180, 300, 360, 480]);
        assert!(!w.any_closable());
        assert_eq!(w.all(), [780]);
    }
}

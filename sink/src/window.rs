//! Tumbling event-time windows for one source partition.
//!
//! A record with event time t belongs to the window starting at `t - t mod window_secs` (UTC;
//! the length divides an hour, so a window lies inside one hour partition). The watermark is the
//! newest event time seen. A window is *closable* once the watermark has passed its end by the
//! allowed lateness. A record whose window is already closable when it arrives is *late*: it is
//! still buffered (into its own window, hence its own hour partition) and counted, and goes out
//! with the next flush. A record timed more than [`WindowSettings::max_future_secs`] ahead of the
//! clock is *early* (a skewed clock or a mistyped date): it does not move the watermark, which
//! would make every later record late and hold the stream's windows open for as long, and goes
//! out with the next flush like a late one. Buffers are columnar ([`Rows`], or slices of batches built elsewhere);
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
    /// How far ahead of the clock (seconds) an event time may be and still move the watermark.
    pub max_future_secs: u32,
}

/// The default [`WindowSettings::max_text_bytes`]: 512 MiB, so one more record of up to 1 GiB
/// (beyond what a Kafka record can carry by default) still fits under the 2 GiB limit.
pub const MAX_TEXT_BYTES: usize = 512 << 20;

/// The defaults of `run`'s windows (and of [`WindowSettings::default`]): one-minute windows,
/// ten seconds of lateness, files of at most 250,000 rows, event times up to five minutes ahead
/// (NTP keeps servers within a second; a record timed ahead within the limit makes the records
/// after it late, and delays their commit, until the clock catches up with it).
pub const DEFAULT_WINDOW_SECS: u32 = 60;
pub const DEFAULT_LATENESS_SECS: u32 = 10;
pub const DEFAULT_MAX_ROWS: usize = 250_000;
pub const DEFAULT_MAX_FUTURE_SECS: u32 = 300;

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            window_secs: DEFAULT_WINDOW_SECS,
            lateness_secs: DEFAULT_LATENESS_SECS,
            max_rows: DEFAULT_MAX_ROWS,
            max_text_bytes: MAX_TEXT_BYTES,
            max_future_secs: DEFAULT_MAX_FUTURE_SECS,
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

/// How a record's event time stands to its window and the clock ([`Windows::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Its window is open: it may move the watermark.
    InTime,
    /// Its window had closed (past the allowed lateness).
    Late,
    /// More than `max_future_secs` ahead of the clock: it leaves the watermark alone.
    Early,
}

/// Now, in microseconds since the epoch (0 for a clock before 1970).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
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
    /// Early rows in this buffer.
    pub early: u64,
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
/// (late rows), and early rows, wait in a window of their own until the next window closes in
/// time, or until `max_rows` such rows are buffered: a stream of stragglers makes a few commits,
/// not one each.
pub struct Windows {
    settings: WindowSettings,
    open: BTreeMap<i64, WindowBuf>,
    /// Starts of the open windows holding rows that came in time.
    in_time: BTreeSet<i64>,
    /// Starts of the open windows holding early rows.
    early: BTreeSet<i64>,
    /// Late and early rows buffered, over all windows.
    late_rows: usize,
    watermark: Option<i64>,
    /// The newest event time (µs) that moves the watermark: the clock plus `max_future_secs`, as
    /// of the last [`Windows::set_clock`].
    limit: i64,
}

impl Windows {
    /// Windows resuming at `watermark` (from the partition's state), with the clock at
    /// `now_micros`. A watermark already beyond the clock's limit (saved before that limit
    /// existed) is brought back to it.
    pub fn new(settings: WindowSettings, watermark: Option<i64>, now_micros: i64) -> Windows {
        let mut w = Windows {
            settings,
            open: BTreeMap::new(),
            in_time: BTreeSet::new(),
            early: BTreeSet::new(),
            late_rows: 0,
            watermark,
            limit: i64::MAX,
        };
        w.set_clock(now_micros);
        w.watermark = watermark.map(|m| m.min(w.limit));
        w
    }

    /// Sets the clock (µs since the epoch) that early records are judged by.
    pub fn set_clock(&mut self, now_micros: i64) {
        let ahead = i64::from(self.settings.max_future_secs) * 1_000_000;
        self.limit = now_micros.saturating_add(ahead);
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
    /// how it arrived, and advances the watermark (unless it is late or early).
    pub fn observe(&mut self, t: i64) -> (i64, Arrival) {
        let start = self.window_of(t);
        if self.is_closed(start) {
            return (start, Arrival::Late);
        }
        if t > self.limit {
            return (start, Arrival::Early);
        }
        self.watermark = Some(self.watermark.map_or(t, |w| w.max(t)));
        (start, Arrival::InTime)
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
            early: 0,
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
        let buf = self.entry(start, offset);
        // Room for a few rows only: the columns grow by doubling as rows come, so a window of
        // one late record costs a few kilobytes, not a full window's buffers (thousands of open
        // windows are possible: one per minute of a day of replayed logs).
        buf.rows
            .get_or_insert_with(|| Rows::with_capacity(16))
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
    pub fn count(&mut self, start: i64, offset: i64, arrival: Arrival) {
        let buf = self.entry(start, offset);
        buf.len += 1;
        buf.last_offset = offset;
        match arrival {
            Arrival::InTime => {
                if self.in_time.last() != Some(&start) {
                    self.in_time.insert(start);
                }
            }
            Arrival::Late => {
                buf.late += 1;
                self.late_rows += 1;
            }
            Arrival::Early => {
                buf.early += 1;
                self.late_rows += 1;
                self.early.insert(start);
            }
        }
    }

    /// Adds the data of rows already [`Self::count`]ed in window `start`, as one batch; `false`
    /// (and the batch dropped) when that window is not open, which is the caller's bug.
    #[must_use]
    pub fn attach(&mut self, start: i64, batch: RecordBatch) -> bool {
        match self.open.get_mut(&start) {
            Some(buf) => {
                buf.batches.push(batch);
                true
            }
            None => false,
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

    /// Starts of the windows that have closed (oldest first), late rows' windows included, then
    /// those holding early rows.
    pub fn closable(&self) -> Vec<i64> {
        let mut starts: Vec<i64> = self
            .open
            .keys()
            .copied()
            .take_while(|&s| self.is_closed(s))
            .collect();
        let early: Vec<i64> = self
            .early
            .iter()
            .copied()
            .filter(|s| !starts.contains(s))
            .collect();
        starts.extend(early);
        starts
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
        self.early.remove(&start);
        self.late_rows -= (buf.late + buf.early) as usize;
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
        let mut w = Windows::new(settings, None, now_micros());
        let start = w.window_of(record.time.0);
        // 60 bytes of agent per row: the fourth row brings the column to 240 >= 200.
        for offset in 0..4 {
            assert!(!w.full(start), "full after {offset} rows");
            w.count(start, offset, Arrival::InTime);
            w.append(start, offset, &record, &Enrichment::default(), 0);
        }
        assert!(w.full(start));

        // The row bound alone, with short values.
        let mut w = Windows::new(settings, None, now_micros());
        let short = accesslake_transform::parse_line(
            br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET / HTTP/1.1" 200 3 "-" "ua""#,
        )
        .unwrap();
        for offset in 0..10 {
            assert!(!w.full(start));
            w.count(start, offset, Arrival::InTime);
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
        let mut w = Windows::new(settings, None, now_micros());
        let mut offset = 0;
        let mut row = |w: &mut Windows, secs: i64| {
            let (start, arrival) = w.observe(secs * 1_000_000);
            w.count(start, offset, arrival);
            offset += 1;
            arrival == Arrival::Late
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

    #[test]
    fn early_rows_leave_the_watermark_alone_and_go_with_the_next_flush() {
        let settings = WindowSettings {
            window_secs: 60,
            lateness_secs: 0,
            max_rows: 100,
            max_future_secs: 3600,
            ..WindowSettings::default()
        };
        let now = 1_000_000 * 1_000_000; // the clock: 10^6 s
        let mut w = Windows::new(settings, None, now);
        let mut offset = 0;
        let mut row = |w: &mut Windows, secs: i64| {
            let (start, arrival) = w.observe(secs * 1_000_000);
            w.count(start, offset, arrival);
            offset += 1;
            arrival
        };
        assert_eq!(row(&mut w, 999_990), Arrival::InTime);
        // A record from 2099, and one just past the limit: early, the watermark stays.
        assert_eq!(row(&mut w, 4_102_444_800), Arrival::Early);
        assert_eq!(row(&mut w, 1_003_601), Arrival::Early);
        assert_eq!(w.watermark(), Some(999_990 * 1_000_000));
        // One at the limit still counts in time.
        assert_eq!(row(&mut w, 1_003_600), Arrival::InTime);
        assert_eq!(w.watermark(), Some(1_003_600 * 1_000_000));
        // Records of the clock's time are in time, not late: the stream goes on.
        let mut w = Windows::new(settings, None, now);
        assert_eq!(row(&mut w, 4_102_444_800), Arrival::Early);
        for secs in [1_000_000, 1_000_030, 1_000_061] {
            assert_eq!(row(&mut w, secs), Arrival::InTime);
        }
        // The next window closing in time takes the early rows along.
        assert!(w.any_closable());
        assert_eq!(w.closable(), [999_960, 4_102_444_800]);
        for s in w.closable() {
            w.take(s);
        }
        assert!(!w.any_closable());
        assert_eq!(w.all(), [1_000_020]);
        // A watermark saved beyond the limit (before there was one) is brought back to it.
        let w = Windows::new(settings, Some(4_102_444_800 * 1_000_000), now);
        assert_eq!(w.watermark(), Some(now + 3600 * 1_000_000));
    }
}

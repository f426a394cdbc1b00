//! What this consumer-group member owns and how it changes hands: the partitions it owns (each an
//! open [`PartitionPipeline`] holding the lake's lock on it), the state the poll loop shares with
//! librdkafka's callbacks, and those callbacks: logs and errors ([`crate::client_log`]),
//! statistics (lag), and rebalances. On assignment each partition waits for its lake lock
//! (`--lock-wait-secs`), is recovered from the lake and sought to the lake's resume offset,
//! after a check that the broker still has it; on revocation it is flushed and committed before
//! it is given up; when the assignment was lost (or the rebalance failed) its buffers are dropped
//! without a commit.

use crate::client_log::ClientLog;
use crate::consumer::{behind, ConsumerError};
use crate::lake::Lake;
use crate::lock::LockError;
use crate::metrics::Metrics;
use crate::pipeline::{PartitionPipeline, PipelineStats, WindowSettings};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One partition this member owns.
pub(crate) struct Owned {
    pub(crate) pipe: PartitionPipeline,
    pub(crate) last_record: Instant,
    /// Pipeline counters already added to the metrics.
    pub(crate) reported: PipelineStats,
    /// The resume offset the partition was sought to, until its first record is seen: a first
    /// record below it means the broker reset the offset (the first-record check of
    /// [`crate::consumer`]).
    pub(crate) expect_from: Option<i64>,
}

/// State shared by the poll loop and the rebalance / statistics callbacks (which librdkafka
/// runs inside `poll`, on the polling thread, while the loop holds no lock).
pub(crate) struct Shared {
    pub(crate) lake: Lake,
    pub(crate) topic: String,
    pub(crate) settings: WindowSettings,
    /// How long an assignment waits for its partitions' lake locks ([`crate::lock`]), all of
    /// them together: a member paused past its session still holds them until it wakes and
    /// learns of the lost assignment.
    pub(crate) lock_wait: Duration,
    /// Set by SIGTERM/SIGINT: a lock wait ends at once.
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) metrics: Metrics,
    pub(crate) parts: Mutex<BTreeMap<i32, Owned>>,
    /// The first fatal error raised inside a callback; the loop stops on it.
    pub(crate) fatal: Mutex<Option<crate::Error>>,
    /// librdkafka's logs and errors, and the poll loop's: each logged once, repeats held back.
    pub(crate) client_log: ClientLog,
}

impl Shared {
    pub(crate) fn parts(&self) -> MutexGuard<'_, BTreeMap<i32, Owned>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn fail(&self, e: crate::Error) {
        tracing::error!(error = %e, "fatal");
        self.metrics.set_healthy(false);
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(e);
    }

    pub(crate) fn take_fatal(&self) -> Option<crate::Error> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Adds what the pipeline did since the last report to the metrics.
    pub(crate) fn report(&self, o: &mut Owned) {
        let s = o.pipe.stats().clone();
        let m = &self.metrics;
        m.records_written
            .inc_by(s.rows_written.saturating_sub(o.reported.rows_written));
        m.late_records
            .inc_by(s.late.saturating_sub(o.reported.late));
        m.early_records
            .inc_by(s.early.saturating_sub(o.reported.early));
        m.files_committed
            .inc_by(s.files.saturating_sub(o.reported.files));
        m.bytes_written
            .inc_by(s.bytes.saturating_sub(o.reported.bytes));
        o.reported = s;
    }

    /// Flushes and commits every open window of `o`; returns the new resume offset, if any.
    pub(crate) fn flush(&self, p: i32, o: &mut Owned) -> crate::Result<Option<i64>> {
        let c = o.pipe.flush_all()?;
        self.report(o);
        if let Some(c) = &c {
            tracing::debug!(
                partition = p,
                files = c.files,
                rows = c.rows,
                rejected = c.rejected,
                resume_offset = c.resume_offset,
                "flushed"
            );
        }
        Ok(c.map(|c| c.resume_offset))
    }

    /// Opens a partition just assigned, waiting until `deadline` for a previous writer to let
    /// go of it (see [`crate::lock`]).
    pub(crate) fn open(&self, p: i32, deadline: Instant) -> crate::Result<Owned> {
        let stop = || self.stop.load(Ordering::Relaxed);
        let wait = deadline.saturating_duration_since(Instant::now());
        let lock = self
            .lake
            .lock_partition_unless(&self.topic, p, wait, &stop)?;
        let mut pipe =
            PartitionPipeline::open_locked(&self.lake, &self.topic, p, self.settings, lock)?;
        let histogram = self.metrics.commit_duration.clone();
        pipe.on_commit(move |c| histogram.observe(c.duration.as_secs_f64()));
        Ok(Owned {
            expect_from: pipe.resume_offset(),
            pipe,
            last_record: Instant::now(),
            reported: PipelineStats::default(),
        })
    }
}

pub(crate) struct SinkContext(pub(crate) Arc<Shared>);

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0.client_log.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.client_log.error(&error, reason);
    }

    fn stats(&self, stats: Statistics) {
        // Learned brokers only: a bootstrap address (node id -1) is not one broker more.
        let up = stats
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0 && b.state == "UP")
            .count();
        self.0.metrics.brokers_up.set(up as i64);
        let Some(t) = stats.topics.get(&self.0.topic) else {
            return;
        };
        let parts = self.0.parts();
        for (p, o) in parts.iter() {
            let Some(sp) = t.partitions.get(p) else {
                continue;
            };
            if sp.hi_offset < 0 {
                continue;
            }
            let mut pos = o.pipe.resume_offset().unwrap_or(0);
            // Offsets librdkafka steps over without delivering them (transaction markers; aborted
            // records under `read_committed`) end no commit: with nothing buffered, everything
            // before the application's position is in the lake, so the lag is counted from there
            // (else a partition ending in a marker shows a lag of 1 for good).
            if o.pipe.buffered() == 0 && sp.app_offset > pos {
                pos = sp.app_offset;
            }
            self.0
                .metrics
                .consumer_lag
                .with_label_values(&[self.0.topic.as_str(), p.to_string().as_str()])
                .set((sp.hi_offset - pos).max(0));
        }
    }
}

impl ConsumerContext for SinkContext {
    /// The result of an asynchronous offset commit (every broker commit is one: the lake holds
    /// the offsets, and a synchronous commit waited without a deadline while the broker was
    /// unreachable, past any shutdown grace period).
    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _: &TopicPartitionList) {
        if let Err(e) = result {
            let msg = format!("broker offset commit failed (the lake holds the offsets): {e}");
            self.0.client_log.warn(&msg);
        }
    }

    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let taken = match self.assign(consumer, tpl) {
                    Ok(taken) => taken,
                    Err(e) => {
                        self.0.fail(e);
                        return;
                    }
                };
                // `tpl` is librdkafka's own list: a narrower one is a list of ours.
                let list = taken.as_ref().unwrap_or(tpl);
                let r = if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                };
                if let Err(e) = r {
                    self.0.fail(ConsumerError::Kafka(e).into());
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoke(consumer, tpl);
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = r {
                    tracing::warn!(error = %e, "unassign failed");
                }
            }
            other => {
                // Which partitions are still ours is unknown: drop every buffer without a commit
                // (what was committed stays; the next owner resumes from the lake's offsets).
                tracing::error!(error = ?other, "rebalance error: dropping uncommitted buffers");
                self.drop_all();
                let _ = consumer.unassign();
            }
        }
    }
}

impl SinkContext {
    /// Recovers each assigned partition from the lake and sets its start offset in `tpl`. A
    /// partition whose log ends below the lake's resume offset was recreated or truncated: an
    /// error (a broker would reset the offset to its start, and the skip rule would take the new
    /// records for written ones; some brokers, tansu among them, would just wait). Returns the
    /// list to assign instead of `tpl` when a shutdown cut the assignment short (only the
    /// partitions opened).
    fn assign(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> crate::Result<Option<TopicPartitionList>> {
        let shared = &self.0;
        // `/readyz` says why while this lasts (the statistics that feed it stop meanwhile).
        struct Assigning<'a>(&'a Metrics);
        impl Drop for Assigning<'_> {
            fn drop(&mut self) {
                self.0.set_assigning(false);
            }
        }
        shared.metrics.set_assigning(true);
        let _assigning = Assigning(&shared.metrics);
        let mut starts = Vec::new();
        // One wait for the whole assignment, however many partitions are held elsewhere: all of
        // it happens inside this callback, which must return within `max.poll.interval.ms`.
        let deadline = Instant::now() + shared.lock_wait;
        // Asking the broker for partitions' ends takes at most 20 s of the 30 s the assignment
        // has besides its lock wait, however many partitions there are
        // ([`crate::consumer_settings::ASSIGN_MARGIN_MS`]).
        let ends_deadline = deadline + Duration::from_secs(20);
        let mut stopped = false;
        {
            let mut parts = shared.parts();
            for el in tpl.elements() {
                if el.topic() != shared.topic {
                    continue;
                }
                let p = el.partition();
                // Already ours (not expected: an assignment follows a revocation): its buffers
                // go, and it is recovered from the lake again, after its lock is let go.
                if parts.remove(&p).is_some() {
                    tracing::warn!(
                        partition = p,
                        "assigned again while owned: reopening it from the lake"
                    );
                }
                let o = match shared.open(p, deadline) {
                    Ok(o) => o,
                    // Shutting down while waiting for a partition's lock: the partitions not
                    // opened are left out of the assignment; nothing is lost.
                    Err(crate::Error::Lock(LockError::Stopped { .. })) => {
                        tracing::info!(partition = p, "stopping: partition not taken");
                        stopped = true;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                let resume = o.pipe.resume_offset();
                // A broker that cannot say now is not a reason to stop: the first record's check
                // (`first_offset`) still catches a reset.
                let left = ends_deadline.saturating_duration_since(Instant::now());
                let end = (!left.is_zero()).then_some(()).and_then(|_| {
                    consumer
                        .fetch_watermarks(&shared.topic, p, left.min(Duration::from_secs(10)))
                        .inspect_err(|e| {
                            tracing::warn!(partition = p, error = %e, "cannot read the partition's end offset");
                        })
                        .ok()
                });
                if let (Some(r), Some((_, high))) = (resume, end) {
                    if high < r {
                        let state = shared.lake.state_path(&shared.topic, p);
                        return Err(behind(p, format!("holds offsets up to {high}"), r, &state));
                    }
                }
                // The lag from the start, not from the first statistics 5 s later.
                if let Some((low, high)) = end {
                    shared
                        .metrics
                        .consumer_lag
                        .with_label_values(&[shared.topic.as_str(), p.to_string().as_str()])
                        .set((high - resume.unwrap_or(low)).max(0));
                }
                tracing::info!(partition = p, resume_offset = ?resume, "assigned");
                starts.push((p, resume.map_or(Offset::Beginning, Offset::Offset)));
                parts.insert(p, o);
            }
            shared.metrics.assigned_partitions.set(parts.len() as i64);
        }
        if stopped {
            // Only what was opened is assigned.
            let mut taken = TopicPartitionList::new();
            for &(p, start) in &starts {
                taken
                    .add_partition_offset(&shared.topic, p, start)
                    .map_err(ConsumerError::Kafka)?;
            }
            return Ok(Some(taken));
        }
        for (p, start) in starts {
            tpl.set_partition_offset(&shared.topic, p, start)
                .map_err(ConsumerError::Kafka)?;
        }
        Ok(None)
    }

    /// Drops every partition's buffers without committing them.
    fn drop_all(&self) {
        let shared = &self.0;
        let mut parts = shared.parts();
        for (p, _) in std::mem::take(&mut *parts) {
            shared
                .metrics
                .consumer_lag
                .remove_label_values(&[shared.topic.as_str(), p.to_string().as_str()])
                .ok();
        }
        shared.metrics.assigned_partitions.set(0);
    }

    /// Flushes and commits each revoked partition, then gives it up. When the assignment was
    /// lost (the session timed out: another member may own the partitions already), nothing is
    /// committed: the buffers are dropped, and the new owner reads those records again from the
    /// lake's offsets, so a commit of ours cannot race its recovery.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let shared = &self.0;
        if consumer.assignment_lost() {
            tracing::warn!("assignment lost: dropping uncommitted buffers instead of committing");
            self.drop_all();
            return;
        }
        let mut parts = shared.parts();
        let mut offsets = TopicPartitionList::new();
        for el in tpl.elements() {
            let p = el.partition();
            let Some(mut o) = parts.remove(&p) else {
                continue;
            };
            match shared.flush(p, &mut o) {
                Ok(resume) => {
                    let r = resume.or(o.pipe.resume_offset());
                    if let Some(r) = r {
                        let _ = offsets.add_partition_offset(&shared.topic, p, Offset::Offset(r));
                    }
                    tracing::info!(partition = p, resume_offset = ?r, "revoked after commit");
                }
                Err(e) => shared.fail(e),
            }
            shared
                .metrics
                .consumer_lag
                .remove_label_values(&[shared.topic.as_str(), p.to_string().as_str()])
                .ok();
        }
        shared.metrics.assigned_partitions.set(parts.len() as i64);
        if offsets.count() > 0 {
            shared.metrics.mark_commit();
            if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
                tracing::warn!(error = %e, "broker offset commit on revoke failed (the lake holds the offsets)");
            }
        }
    }
}

//! `accesslake run`: the streaming sink, a Kafka consumer-group member that drives one
//! [`PartitionPipeline`] per assigned partition, exactly once.
//!
//! The lake is the source of truth for positions. On assignment each partition is recovered from
//! its state in the lake and the consumer starts it at the lake's resume offset (the offset in the
//! assignment itself, so no record before it is ever fetched); a partition the lake has never seen
//! starts at the beginning. On revocation (and on SIGTERM/SIGINT) each partition's open windows
//! are flushed and committed to the lake before the partition is given up. Every record value is
//! decoded with [`Record::from_json`]: a record that is empty, not JSON, or not schema v1 becomes
//! a dead letter (topic, partition, offset, reason, raw value) committed with the partition's data,
//! and the stream goes on. Broker offsets (`enable.auto.commit=false`) are committed only after the
//! lake's commit, as a hint for tools and lag monitoring. A failed lake commit stops the process
//! with an error: the next start recovers the partition from the lake and replays.

use crate::config::RunConfig;
use crate::enrich::Enricher;
use crate::lake::Lake;
use crate::metrics::{Metrics, MetricsServer};
use crate::parse_cmd::lossless_text;
use crate::pipeline::{Committed, PartitionPipeline, PipelineStats, WindowSettings};
use accesslake_transform::Record;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Errors of the consumer loop.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("kafka consumer: {0}")]
    Kafka(#[from] KafkaError),
    #[error("installing the signal handler: {0}")]
    Signal(std::io::Error),
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("partition {partition}: {message}")]
    Partition { partition: i32, message: String },
    #[error(
        "partition {partition}: the broker {found}, below the lake's resume offset {resume}: \
         the topic was recreated or truncated since this lake read it, and its records would be \
         taken for ones already written. Stopping; to read it again from the start, move the \
         partition's state file aside ({state})"
    )]
    OffsetsBehind {
        partition: i32,
        /// What the broker showed: `delivered offset N` or `holds offsets up to N`.
        found: String,
        resume: i64,
        state: String,
    },
}

/// One partition this member owns.
struct Owned {
    pipe: PartitionPipeline,
    last_record: Instant,
    /// Pipeline counters already added to the metrics.
    reported: PipelineStats,
    /// The resume offset the partition was sought to, until its first record is seen: a first
    /// record below it means the broker reset the offset (see [`first_offset`]).
    expect_from: Option<i64>,
}

/// State shared by the poll loop and the rebalance / statistics callbacks (which librdkafka
/// runs inside `poll`, on the polling thread, while the loop holds no lock).
struct Shared {
    lake: Lake,
    topic: String,
    settings: WindowSettings,
    metrics: Metrics,
    parts: Mutex<BTreeMap<i32, Owned>>,
    /// The first fatal error raised inside a callback; the loop stops on it.
    fatal: Mutex<Option<crate::Error>>,
    /// librdkafka's error callback, and the poll loop's errors: repeats held back.
    client_errors: LogThrottle,
    poll_errors: LogThrottle,
}

/// Logs a message that repeats (a broker that is down fails every poll, 10 times a second) once
/// per [`LogThrottle::EVERY`], saying how many identical ones were held back in between.
#[derive(Default)]
struct LogThrottle(Mutex<Option<(String, Instant, u64)>>);

impl LogThrottle {
    const EVERY: Duration = Duration::from_secs(30);

    /// `Some(held back)` when `msg` is to be logged now.
    fn admit(&self, msg: &str) -> Option<u64> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *last {
            Some((m, at, held)) if m == msg && at.elapsed() < Self::EVERY => {
                *held += 1;
                None
            }
            Some((m, at, held)) if m == msg => {
                let n = std::mem::take(held);
                *at = Instant::now();
                Some(n)
            }
            slot => {
                *slot = Some((msg.to_owned(), Instant::now(), 0));
                Some(0)
            }
        }
    }
}

impl Shared {
    fn parts(&self) -> MutexGuard<'_, BTreeMap<i32, Owned>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, e: crate::Error) {
        tracing::error!(error = %e, "fatal");
        self.metrics.set_healthy(false);
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(e);
    }

    fn take_fatal(&self) -> Option<crate::Error> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Adds what the pipeline did since the last report to the metrics.
    fn report(&self, o: &mut Owned) {
        let s = o.pipe.stats().clone();
        let m = &self.metrics;
        m.records_written
            .inc_by(s.rows_written.saturating_sub(o.reported.rows_written));
        m.late_records
            .inc_by(s.late.saturating_sub(o.reported.late));
        m.files_committed
            .inc_by(s.files.saturating_sub(o.reported.files));
        m.bytes_written
            .inc_by(s.bytes.saturating_sub(o.reported.bytes));
        o.reported = s;
    }

    /// Flushes and commits every open window of `o`; returns the new resume offset, if any.
    fn flush(&self, p: i32, o: &mut Owned) -> crate::Result<Option<i64>> {
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

    fn open(&self, p: i32) -> crate::Result<Owned> {
        let pipe = PartitionPipeline::open(&self.lake, &self.topic, p, self.settings)?;
        Ok(Owned {
            expect_from: pipe.resume_offset(),
            pipe,
            last_record: Instant::now(),
            reported: PipelineStats::default(),
        })
    }
}

struct SinkContext(Arc<Shared>);

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let msg = format!("{error}: {reason}");
        if let Some(held_back) = self.0.client_errors.admit(&msg) {
            tracing::error!(held_back, "librdkafka: {msg}");
        }
    }

    fn stats(&self, stats: Statistics) {
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
            let pos = o.pipe.resume_offset().unwrap_or(0);
            self.0
                .metrics
                .consumer_lag
                .with_label_values(&[self.0.topic.as_str(), p.to_string().as_str()])
                .set((sp.hi_offset - pos).max(0));
        }
    }
}

impl ConsumerContext for SinkContext {
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
                if let Err(e) = self.assign(consumer, tpl) {
                    self.0.fail(e);
                    return;
                }
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
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
    /// records for written ones; some brokers, tansu among them, would just wait).
    fn assign(
        &self,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> crate::Result<()> {
        let shared = &self.0;
        let mut starts = Vec::new();
        {
            let mut parts = shared.parts();
            for el in tpl.elements() {
                if el.topic() != shared.topic {
                    continue;
                }
                let p = el.partition();
                let o = shared.open(p)?;
                let resume = o.pipe.resume_offset();
                // A broker that cannot say now is not a reason to stop: the first record's check
                // (`first_offset`) still catches a reset.
                let end = resume.and_then(|_| {
                    consumer
                        .fetch_watermarks(&shared.topic, p, Duration::from_secs(10))
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
                tracing::info!(partition = p, resume_offset = ?resume, "assigned");
                starts.push((p, resume.map_or(Offset::Beginning, Offset::Offset)));
                parts.insert(p, o);
            }
        }
        for (p, start) in starts {
            tpl.set_partition_offset(&shared.topic, p, start)
                .map_err(ConsumerError::Kafka)?;
        }
        Ok(())
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
        if offsets.count() > 0 {
            if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
                tracing::warn!(error = %e, "broker offset commit on revoke failed (the lake holds the offsets)");
            } else {
                shared.metrics.mark_commit();
            }
        }
    }
}

/// The consumer's librdkafka configuration: our required settings, then the user's `-X`.
pub fn consumer_config(cfg: &RunConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.kafka.brokers)
        .set("group.id", &cfg.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .set("statistics.interval.ms", "5000");
    for (k, v) in &cfg.kafka.settings {
        c.set(k, v);
    }
    // Our correctness rests on these: a user setting cannot turn them off.
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    c
}

/// Checks a partition's first record after it was sought to the lake's resume offset. A broker
/// that no longer has that offset (`auto.offset.reset=earliest`) starts at its log's start: above
/// it, records were deleted by retention before they were read (or the offsets skip control
/// records and compacted ones: not told apart, so not reported); below it, the topic was
/// recreated or truncated, and the skip rule would silently drop its records as written already.
fn first_offset(partition: i32, offset: i64, resume: i64, state: &Path) -> crate::Result<()> {
    if offset >= resume {
        return Ok(());
    }
    Err(behind(
        partition,
        format!("delivered offset {offset}"),
        resume,
        state,
    ))
}

/// [`ConsumerError::OffsetsBehind`]: the broker showed `found` below the lake's `resume`.
fn behind(partition: i32, found: String, resume: i64, state: &Path) -> crate::Error {
    ConsumerError::OffsetsBehind {
        partition,
        found,
        resume,
        state: state.display().to_string(),
    }
    .into()
}

/// Why a record value is not a usable record.
fn reject_reason(value: Option<&[u8]>) -> Result<Record<'_>, (&'static str, String)> {
    let bytes = match value {
        Some(b) if !b.is_empty() => b,
        _ => return Err(("empty", "empty record: no value".into())),
    };
    Record::from_json(bytes).map_err(|e| {
        let class = match e.classify() {
            serde_json::error::Category::Data => "schema",
            _ => "json",
        };
        let what = if class == "schema" {
            "not a schema-v1 record"
        } else {
            "not JSON"
        };
        (class, format!("{what}: {e}"))
    })
}

/// Commits `resume` for partition `p` to the broker (asynchronously: a hint only).
fn commit_offset(shared: &Shared, consumer: &BaseConsumer<SinkContext>, p: i32, resume: i64) {
    let mut tpl = TopicPartitionList::new();
    if tpl
        .add_partition_offset(&shared.topic, p, Offset::Offset(resume))
        .is_ok()
    {
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(partition = p, error = %e, "broker offset commit failed (the lake holds the offsets)");
        }
    }
    shared.metrics.mark_commit();
}

/// Handles one record: decode, enrich, push (or dead-letter it); commits offsets after a commit.
fn handle(
    shared: &Shared,
    consumer: &BaseConsumer<SinkContext>,
    enricher: &mut Enricher,
    dead: &mut Vec<u8>,
    p: i32,
    offset: i64,
    value: Option<&[u8]>,
) -> crate::Result<()> {
    shared.metrics.records_consumed.inc();
    let mut parts = shared.parts();
    let Some(o) = parts.get_mut(&p) else {
        tracing::debug!(
            partition = p,
            offset,
            "record of a partition not owned: ignored"
        );
        return Ok(());
    };
    o.last_record = Instant::now();
    if let Some(resume) = o.expect_from.take() {
        let state = shared.lake.state_path(&shared.topic, p);
        first_offset(p, offset, resume, &state)?;
    }
    let committed: Option<Committed> = match reject_reason(value) {
        Ok(record) => {
            let e = enricher.enrich(&record.client_ip, record.user_agent.as_deref());
            o.pipe.push(offset, &record, &e)?
        }
        Err((class, reason)) => {
            shared
                .metrics
                .records_rejected
                .with_label_values(&[class])
                .inc();
            tracing::warn!(partition = p, offset, %reason, "dead letter");
            dead.clear();
            let obj = serde_json::json!({
                "topic": shared.topic,
                "partition": p,
                "offset": offset,
                "error": reason,
                "raw": lossless_text(value.unwrap_or_default()),
            });
            serde_json::to_writer(&mut *dead, &obj).expect("JSON to a Vec");
            o.pipe.push_rejected(offset, dead)?
        }
    };
    if let Some(c) = committed {
        shared.report(o);
        drop(parts);
        commit_offset(shared, consumer, p, c.resume_offset);
    }
    Ok(())
}

/// The sink's poll loop; owns the consumer and the enricher.
struct Sink {
    shared: Arc<Shared>,
    consumer: BaseConsumer<SinkContext>,
    enricher: Enricher,
    idle: Duration,
    dead: Vec<u8>,
}

impl Sink {
    /// Commits `resume` for partition `p` to the broker (asynchronously: a hint only).
    fn commit_offset(&self, p: i32, resume: i64) {
        commit_offset(&self.shared, &self.consumer, p, resume);
    }

    /// Flushes partitions idle for longer than the idle timeout.
    fn flush_idle(&self) -> crate::Result<()> {
        let mut done = Vec::new();
        {
            let mut parts = self.shared.parts();
            for (p, o) in parts.iter_mut() {
                if o.pipe.buffered() > 0 && o.last_record.elapsed() >= self.idle {
                    if let Some(r) = self.shared.flush(*p, o)? {
                        done.push((*p, r));
                    }
                }
            }
        }
        for (p, r) in done {
            tracing::debug!(partition = p, resume_offset = r, "idle flush");
            self.commit_offset(p, r);
        }
        Ok(())
    }

    /// Flushes everything and commits offsets synchronously (shutdown).
    fn flush_all(&self) -> crate::Result<()> {
        let mut tpl = TopicPartitionList::new();
        {
            let mut parts = self.shared.parts();
            for (p, o) in parts.iter_mut() {
                if let Some(r) = self.shared.flush(*p, o)?.or(o.pipe.resume_offset()) {
                    let _ = tpl.add_partition_offset(&self.shared.topic, *p, Offset::Offset(r));
                }
            }
        }
        if tpl.count() > 0 {
            match self.consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => self.shared.metrics.mark_commit(),
                Err(e) => {
                    tracing::warn!(error = %e, "broker offset commit failed (the lake holds the offsets)")
                }
            }
        }
        Ok(())
    }

    /// Polls until `stop` is set or a fatal error happens.
    fn run(&mut self, stop: &AtomicBool) -> crate::Result<()> {
        let mut last_tick = Instant::now();
        let tick = Duration::from_millis(200).min(self.idle.max(Duration::from_millis(10)));
        while !stop.load(Ordering::Relaxed) {
            let polled = self.consumer.poll(Duration::from_millis(100));
            if let Some(e) = self.shared.take_fatal() {
                return Err(e);
            }
            match polled {
                Some(Ok(m)) => handle(
                    &self.shared,
                    &self.consumer,
                    &mut self.enricher,
                    &mut self.dead,
                    m.partition(),
                    m.offset(),
                    m.payload(),
                )?,
                Some(Err(e)) => {
                    let msg = e.to_string();
                    if let Some(held_back) = self.shared.poll_errors.admit(&msg) {
                        tracing::warn!(error = %msg, held_back, "consumer error");
                    }
                }
                None => {}
            }
            if last_tick.elapsed() >= tick {
                last_tick = Instant::now();
                self.flush_idle()?;
            }
        }
        Ok(())
    }
}

/// Runs the command until SIGTERM/SIGINT: then flushes, commits and returns success.
pub fn run(cfg: &RunConfig) -> crate::Result<ExitCode> {
    let settings = cfg.window();
    settings.validate().map_err(ConsumerError::Settings)?;
    if !(cfg.idle_flush_secs > 0.0 && cfg.idle_flush_secs.is_finite()) {
        return Err(ConsumerError::Settings(
            "idle flush must be a positive number of seconds".into(),
        )
        .into());
    }
    Lake::check_source(&cfg.topic)?;
    let lake = Lake::open(&cfg.lake)?;
    let enricher = Enricher::open(
        cfg.geoip.geoip_city.as_deref(),
        cfg.geoip.geoip_asn.as_deref(),
        cfg.geoip.geoip_cache_size,
    )?;
    let metrics = Metrics::new()?;
    let _server: Option<MetricsServer> = match cfg.metrics_addr {
        Some(addr) => Some(metrics.serve(addr)?),
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(ConsumerError::Signal)?;
    }

    let shared = Arc::new(Shared {
        lake,
        topic: cfg.topic.clone(),
        settings,
        metrics,
        parts: Mutex::new(BTreeMap::new()),
        fatal: Mutex::new(None),
        client_errors: LogThrottle::default(),
        poll_errors: LogThrottle::default(),
    });
    let consumer: BaseConsumer<SinkContext> = consumer_config(cfg)
        .create_with_context(SinkContext(Arc::clone(&shared)))
        .map_err(ConsumerError::Kafka)?;
    consumer
        .subscribe(&[&cfg.topic])
        .map_err(ConsumerError::Kafka)?;
    tracing::info!(brokers = %cfg.kafka.brokers, topic = %cfg.topic, group = %cfg.group, lake = %cfg.lake.display(), "sink running");

    let mut sink = Sink {
        shared: Arc::clone(&shared),
        consumer,
        enricher,
        idle: Duration::from_secs_f64(cfg.idle_flush_secs),
        dead: Vec::with_capacity(1024),
    };
    let outcome = sink.run(&stop);
    if let Err(e) = outcome {
        // Nothing more is written (a failed pipeline must not be flushed, and closing the
        // consumer revokes): the next start recovers every partition from the lake.
        shared.metrics.set_healthy(false);
        shared.parts().clear();
        return Err(e);
    }
    tracing::info!("shutting down: flushing open windows");
    sink.flush_all()?;
    // Leave the group now (the revoke callback finds nothing left to flush).
    sink.consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && !sink.shared.parts().is_empty() {
        let _ = sink.consumer.poll(Duration::from_millis(50));
    }
    if let Some(e) = shared.take_fatal() {
        return Err(e);
    }
    let m = &shared.metrics;
    tracing::info!(
        consumed = m.records_consumed.get(),
        written = m.records_written.get(),
        files = m.files_committed.get(),
        "stopped cleanly"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_offset_below_the_resume_offset_stops_the_sink() {
        let state = Path::new("lake/_accesslake/state/t/3.json");
        assert!(first_offset(3, 100, 100, state).is_ok());
        assert!(
            first_offset(3, 250, 100, state).is_ok(),
            "retention or control records"
        );
        let e = first_offset(3, 0, 100, state).unwrap_err().to_string();
        assert!(
            e.contains("offset 0, below the lake's resume offset 100"),
            "{e}"
        );
        assert!(e.contains("3.json"), "{e}");
    }

    #[test]
    fn repeated_errors_are_held_back_and_counted() {
        let t = LogThrottle::default();
        assert_eq!(t.admit("down"), Some(0));
        assert_eq!(t.admit("down"), None);
        assert_eq!(t.admit("down"), None);
        // A different message is logged at once.
        assert_eq!(t.admit("other"), Some(0));
        assert_eq!(t.admit("other"), None);
        // Once the interval has passed, the next repeat is logged with the count held back.
        {
            let mut last = t.0.lock().unwrap();
            let at = &mut last.as_mut().unwrap().1;
            *at = at.checked_sub(LogThrottle::EVERY).unwrap_or(*at);
        }
        assert_eq!(t.admit("other"), Some(1));
        assert_eq!(t.admit("other"), None);
    }
}

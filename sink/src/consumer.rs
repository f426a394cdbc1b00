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
//! with an error: the next start recovers the partition from the lake and replays. What happens
//! when partitions change hands is in [`crate::rebalance`].

use crate::client_log::ClientLog;
use crate::config::RunConfig;
use crate::consumer_settings::consumer_config;
use crate::dead_letter::{DeadLetter, Origin};
use crate::enrich::Enricher;
use crate::lake::Lake;
use crate::metrics::{Metrics, MetricsServer};
use crate::pipeline::Committed;
use crate::rebalance::{Shared, SinkContext};
use accesslake_transform::Record;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Errors of the consumer loop.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("kafka consumer: {0}")]
    Kafka(#[from] KafkaError),
    #[error(
        "the Kafka client stopped on a fatal error: {0} (logged above); the lake holds the \
         offsets, and a restart resumes from them"
    )]
    Fatal(rdkafka::types::RDKafkaErrorCode),
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

/// Checks a partition's first record after it was sought to the lake's resume offset. A broker
/// that no longer has that offset (`auto.offset.reset=earliest`) starts at its log's start: above
/// it, records were deleted by retention before they were read, or the offsets between are
/// transaction markers or were compacted away (the broker does not tell these apart): a
/// warning; below it, the topic was recreated or truncated, and the skip rule would silently
/// drop its records as written already: an error.
fn first_offset(partition: i32, offset: i64, resume: i64, state: &Path) -> crate::Result<()> {
    if offset > resume {
        tracing::warn!(
            partition,
            offset,
            resume_offset = resume,
            missing = offset - resume,
            "the first record is past the lake's resume offset: the offsets between were deleted \
             by retention before the lake read them, or are transaction markers or compacted away"
        );
    }
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
pub(crate) fn behind(partition: i32, found: String, resume: i64, state: &Path) -> crate::Error {
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
        // A schema error can come before a syntax error further on (an unknown first field of
        // a cut-off object): what is not JSON at all is told as such.
        let json = serde_json::from_slice::<serde::de::IgnoredAny>(bytes);
        match (e.classify(), json) {
            (serde_json::error::Category::Data, Ok(_)) => {
                ("schema", format!("not a schema-v1 record: {e}"))
            }
            (serde_json::error::Category::Data, Err(j)) => ("json", format!("not JSON: {j}")),
            _ => ("json", format!("not JSON: {e}")),
        }
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
            let logged = crate::dead_letter::short_reason(&reason);
            tracing::warn!(partition = p, offset, reason = %logged, "dead letter");
            dead.clear();
            let origin = Origin::Record {
                topic: &shared.topic,
                partition: p,
                offset,
            };
            DeadLetter::new(origin, &reason, value.unwrap_or_default()).write_to(dead);
            let skipped = o.pipe.stats().skipped;
            let committed = o.pipe.push_rejected(offset, dead)?;
            // A replayed dead letter already in the lake is skipped, not counted again.
            if o.pipe.stats().skipped == skipped {
                shared
                    .metrics
                    .records_rejected
                    .with_label_values(&[class])
                    .inc();
            }
            committed
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

    /// Flushes everything and commits the offsets to the broker (asynchronously, as every broker
    /// commit: the poll that follows on shutdown delivers its result).
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
            self.shared.metrics.mark_commit();
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                tracing::warn!(error = %e, "broker offset commit failed (the lake holds the offsets)")
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
                // Only with `-X enable.partition.eof=true`: news, not an error.
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    tracing::debug!(partition = p, "reached the end of the partition");
                }
                // The client is unusable (e.g. fenced by another member with its
                // `group.instance.id`): stop, so that a supervisor restarts it. The lake holds
                // every offset: a restart replays what was buffered, exactly once.
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(ConsumerError::Fatal(code).into());
                }
                Some(Err(e)) if self.shared.client_log.is_echo(&e) => {
                    tracing::debug!(error = %e, "consumer error (logged as a client error)");
                }
                Some(Err(e)) => self.shared.client_log.warn(&format!("consumer error: {e}")),
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
    crate::consumer_settings::check_settings(cfg)?;
    let settings = cfg.window();
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
        lock_wait: Duration::from_secs(cfg.lock_wait_secs),
        stop: Arc::clone(&stop),
        metrics,
        parts: Mutex::new(BTreeMap::new()),
        fatal: Mutex::new(None),
        client_log: ClientLog::default(),
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
    // After an error nothing more is written: a failed pipeline holds a state that never reached
    // the disk, so it must not be flushed, nor its offset committed to the broker by the revoke
    // that closing the consumer triggers. The next start recovers every partition from the lake.
    let give_up = |e| {
        shared.metrics.set_healthy(false);
        shared.parts().clear();
        Err(e)
    };
    if let Err(e) = sink.run(&stop) {
        return give_up(e);
    }
    tracing::info!("shutting down: flushing open windows");
    if let Err(e) = sink.flush_all() {
        return give_up(e);
    }
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
    close_within(sink.consumer, CLOSE_WAIT);
    Ok(ExitCode::SUCCESS)
}

/// How long the consumer's close may take on shutdown, everything being in the lake already.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Closes the consumer (leaving the group, sending the offset commits still queued) on a thread
/// of its own, waiting at most `wait`: with the group coordinator unreachable, librdkafka's close
/// waits for it, about a session timeout (45 s), past a container's grace period. Everything is
/// in the lake by then, so the process may end without it; the group then sees this member leave
/// when its session times out.
fn close_within(consumer: BaseConsumer<SinkContext>, wait: Duration) {
    let (done, closed) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("consumer-close".into())
        .spawn(move || {
            drop(consumer);
            let _ = done.send(());
        });
    if spawned.is_ok() && closed.recv_timeout(wait).is_err() {
        tracing::warn!(
            secs = wait.as_secs(),
            "the consumer did not close in time (is the broker unreachable?): exiting without \
             it; every record consumed is in the lake"
        );
    }
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
    fn rejected_values_are_told_by_what_is_wrong_with_them() {
        let reason = |v: &[u8]| reject_reason(Some(v)).err().map(|(class, _)| class);
        assert_eq!(
            reason(b"{\"garbage\":\"GGG"),
            Some("json"),
            "cut off, unknown field"
        );
        assert_eq!(reason(b"not json"), Some("json"));
        assert_eq!(reason(b"{\"garbage\":1}"), Some("schema"));
        assert_eq!(reason(b"[1,2]"), Some("schema"));
        assert_eq!(reject_reason(Some(b"")).err().map(|r| r.0), Some("empty"));
        let (_, why) = reject_reason(Some(b"{\"garbage\":\"GGG")).err().unwrap();
        assert!(why.starts_with("not JSON: EOF while parsing"), "{why}");
    }
}

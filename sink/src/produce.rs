//! `accesslake produce`: loads raw log files into a Kafka topic, one line per record.
//!
//! Each line of each file becomes one record whose value is the line without its line ending
//! (`\n` or `\r\n`) and without a key. The producer is idempotent (`enable.idempotence=true`,
//! so retries never duplicate a record), compresses batches (lz4 by default; snappy is avoided
//! because some Kafka-API brokers mis-handle it), shows a progress bar on a terminal, waits for
//! every delivery report, and fails if any record was not delivered. Extra librdkafka settings
//! (`-X key=value`: SASL, TLS, batching) pass straight through and override the defaults.
//!
//! A line too large for one record (over the producer's `message.max.bytes`, 1,000,000 bytes by
//! default) is not lost and does not stop the load: it goes to the dead-letter topic as the
//! transform sends a line it cannot parse, its first [`DEAD_LETTER_HEAD`] bytes as the value,
//! the reason in the `accesslake-error` header and its length in `accesslake-truncated`. So does
//! a line over `--max-line-bytes`, which is read past rather than held whole (memory stays
//! bounded on a file with no newline at all).

use crate::client_log::ClientLog;
use crate::parse_cmd::{read_line_bounded, trim_line_end};
use accesslake_transform::{ERROR_HEADER, TRUNCATED_HEADER};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Errors of `produce`.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kafka producer: {0}")]
    Kafka(#[from] KafkaError),
    #[error(
        "{failed} of {sent} records were not delivered ({by_topic}); first error: {first}. The \
         others were delivered: a rerun sends them again"
    )]
    Delivery {
        failed: u64,
        sent: u64,
        /// `N to TOPIC`, for each topic with failures.
        by_topic: String,
        first: String,
    },
    #[error("timed out after {0:?} waiting for {1} outstanding deliveries")]
    FlushTimeout(Duration, i32),
}

/// What to produce, and where.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Destination topic.
    pub topic: String,
    /// Where a line too large for one record goes (see the module doc).
    pub dlq_topic: String,
    /// Lines longer than this many bytes are not read whole: they go to `dlq_topic` as a line
    /// too large for one record does.
    pub max_line: usize,
    /// Files to read, in order.
    pub files: Vec<PathBuf>,
    /// Batch compression codec (`lz4`, `zstd`, `gzip`, `none`).
    pub compression: String,
    /// Extra librdkafka settings, applied last.
    pub settings: Vec<(String, String)>,
    /// How long to wait for outstanding deliveries at the end.
    pub flush_timeout: Duration,
    /// Draw a progress bar (only shown when stderr is a terminal).
    pub progress: bool,
}

/// What a run produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceStats {
    /// Records acknowledged by the broker.
    pub delivered: u64,
    /// Bytes of record values delivered.
    pub bytes: u64,
    /// Lines too large for one record, sent (cut) to the dead-letter topic instead; included in
    /// `delivered`.
    pub dead_lettered: u64,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

/// Counts delivery reports; keeps the failures per topic (the records of a line too long go to
/// the dead-letter topic, which may be the one missing) and the first one's reason.
#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_topic: std::collections::BTreeMap<String, u64>,
    first: Option<String>,
}

struct Context(Arc<Deliveries>, ClientLog);

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.1.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.1.error(&error, reason);
    }
}

impl ProducerContext for Context {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, m)) => {
                let mut f = self.0.failed.lock().unwrap_or_else(|p| p.into_inner());
                *f.by_topic.entry(m.topic().to_owned()).or_default() += 1;
                if f.first.is_none() {
                    f.first = Some(format!("topic {}: {e}", m.topic()));
                }
            }
        }
    }
}

/// Builds the producer's librdkafka configuration: safe defaults, then the user's `-X` settings.
pub fn producer_config(opts: &ProduceOptions) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &opts.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", &opts.compression)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("queue.buffering.max.kbytes", "262144");
    for (k, v) in &opts.settings {
        cfg.set(k, v);
    }
    cfg
}

/// Checks that every input exists, and that each regular file opens as a log, before anything is
/// sent: a mistyped name among the files must not leave the topic half loaded (a rerun of the
/// fixed command would send the first files again).
fn check_inputs(files: &[PathBuf]) -> Result<(), ProduceError> {
    for path in files {
        let read = |source| ProduceError::Read {
            path: path.clone(),
            source,
        };
        // A pipe (`<(zcat …)`) is only checked to exist: opening it twice would not rewind it.
        // A file is opened as a log (a compression other than gzip is refused here).
        if std::fs::metadata(path).map_err(read)?.is_file() {
            crate::logfile::open(path, |_| {}).map_err(read)?;
        }
    }
    Ok(())
}

/// Produces every line of every file; returns once all are acknowledged (or fails).
pub fn produce(opts: &ProduceOptions) -> Result<ProduceStats, ProduceError> {
    check_inputs(&opts.files)?;
    let start = Instant::now();
    let deliveries = Arc::new(Deliveries::default());
    let producer: ThreadedProducer<Context> = producer_config(opts)
        .create_with_context(Context(Arc::clone(&deliveries), ClientLog::default()))?;

    let total: u64 = opts
        .files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = if opts.progress {
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {per_sec} {msg} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut sent = Sent::default();
    for path in &opts.files {
        bar.set_message(path.display().to_string());
        produce_file(&producer, opts, path, &bar, &mut sent)?;
    }
    let Sent {
        records: sent,
        bytes,
        dead_lettered,
    } = sent;

    // No deadline for a timeout beyond what a clock can count to (`--flush-timeout-secs` huge).
    let deadline = Instant::now().checked_add(opts.flush_timeout);
    while producer.in_flight_count() > 0 {
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Err(ProduceError::FlushTimeout(
                opts.flush_timeout,
                producer.in_flight_count(),
            ));
        }
        match producer.flush(left.min(Duration::from_secs(1))) {
            Ok(()) | Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    bar.finish_and_clear();

    let delivered = deliveries.ok.load(Ordering::Relaxed);
    if delivered != sent {
        let f = deliveries.failed.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_topic: Vec<String> = f
            .by_topic
            .iter()
            .map(|(t, n)| format!("{n} to {t}"))
            .collect();
        let reported = delivered + f.by_topic.values().sum::<u64>();
        if reported < sent {
            by_topic.push(format!("{} without a delivery report", sent - reported));
        }
        let first = f
            .first
            .clone()
            .unwrap_or_else(|| format!("{} delivery reports missing", sent - delivered));
        return Err(ProduceError::Delivery {
            failed: sent - delivered,
            sent,
            by_topic: by_topic.join(", "),
            first,
        });
    }
    Ok(ProduceStats {
        delivered,
        bytes,
        dead_lettered,
        elapsed: start.elapsed(),
    })
}

/// Bytes of a too-large line kept in its dead letter.
pub const DEAD_LETTER_HEAD: usize = 64 * 1024;

/// What has been handed to the producer so far.
#[derive(Debug, Default)]
struct Sent {
    /// Records of both topics (each gets a delivery report).
    records: u64,
    /// Value bytes of the lines sent whole.
    bytes: u64,
    dead_lettered: u64,
}

/// Sends one file's lines, counting them into `sent`.
fn produce_file(
    producer: &ThreadedProducer<Context>,
    opts: &ProduceOptions,
    path: &Path,
    bar: &ProgressBar,
    sent: &mut Sent,
) -> Result<(), ProduceError> {
    let read_err = |source| ProduceError::Read {
        path: path.to_path_buf(),
        source,
    };
    let progress = bar.clone();
    let log = crate::logfile::open(path, move |n| progress.inc(n)).map_err(read_err)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, log.text);
    let mut line = Vec::with_capacity(4096);
    let mut number = 0u64;
    // One byte more than the limit: a line exactly at it may still end in `\r`.
    let keep = opts.max_line.saturating_add(1);
    while let Some(len) = read_line_bounded(&mut reader, &mut line, keep).map_err(read_err)? {
        number += 1;
        // A compressed file's progress is counted as the file is read.
        if !log.compressed {
            bar.inc(len + 1);
        }
        let value = trim_line_end(&line);
        sent.records += 1;
        let too_large = |limit: &str| {
            format!(
                "line {number} of {} is {len} bytes, too large for one record ({limit}): the \
                 value holds its first {} bytes",
                path.display(),
                DEAD_LETTER_HEAD.min(value.len())
            )
        };
        let result = match len > opts.max_line as u64 {
            true => Err(too_large("over --max-line-bytes")),
            false => match send(producer, &opts.topic, value, None) {
                Ok(()) => Ok(()),
                Err(ProduceError::Kafka(KafkaError::MessageProduction(
                    RDKafkaErrorCode::MessageSizeTooLarge,
                ))) => Err(too_large("over the producer's message.max.bytes")),
                Err(e) => return Err(e),
            },
        };
        match result {
            Ok(()) => sent.bytes += value.len() as u64,
            Err(reason) => {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: ERROR_HEADER,
                        value: Some(&reason),
                    })
                    .insert(Header {
                        key: TRUNCATED_HEADER,
                        value: Some(&len.to_string()),
                    });
                let head = &value[..DEAD_LETTER_HEAD.min(value.len())];
                send(producer, &opts.dlq_topic, head, Some(headers))?;
                tracing::warn!(file = %path.display(), line = number, bytes = len, topic = %opts.dlq_topic, "line too large for one record: dead-lettered");
                sent.dead_lettered += 1;
            }
        }
    }
    Ok(())
}

/// Enqueues one record, waiting while librdkafka's local queue is full.
fn send(
    producer: &ThreadedProducer<Context>,
    topic: &str,
    value: &[u8],
    headers: Option<OwnedHeaders>,
) -> Result<(), ProduceError> {
    let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).payload(value);
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Runs the command: produce, then a one-line summary on stdout.
pub fn run(cfg: &crate::config::ProduceConfig) -> crate::Result<std::process::ExitCode> {
    use std::io::IsTerminal;
    let opts = ProduceOptions {
        brokers: cfg.kafka.brokers.clone(),
        topic: cfg.topic.clone(),
        dlq_topic: cfg.dlq_topic.clone(),
        max_line: cfg.lines.bytes(),
        files: cfg.files.clone(),
        compression: cfg.compression.clone(),
        settings: cfg.kafka.settings.clone(),
        flush_timeout: Duration::from_secs(cfg.flush_timeout_secs),
        progress: !cfg.no_progress && std::io::stderr().is_terminal(),
    };
    let stats = produce(&opts)?;
    let secs = stats.elapsed.as_secs_f64();
    let whole = stats.delivered - stats.dead_lettered;
    let mut line = format!(
        "produced {whole} records ({} bytes) to {} in {secs:.2} s, {:.0} records/s",
        stats.bytes,
        opts.topic,
        whole as f64 / secs.max(1e-9)
    );
    if stats.dead_lettered > 0 {
        line += &format!(
            "; {} line(s) too large for one record went to {}",
            stats.dead_lettered, opts.dlq_topic
        );
    }
    crate::ingest::say(&line);
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_input_stops_produce_before_anything_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, "line\n").unwrap();
        let missing = dir.path().join("missing.log");
        assert!(check_inputs(std::slice::from_ref(&log)).is_ok());
        // No broker listens on port 1: the check fails before a producer is made or a line sent.
        let opts = ProduceOptions {
            brokers: "127.0.0.1:1".into(),
            topic: "t".into(),
            dlq_topic: "t.dlq".into(),
            max_line: 1024,
            files: vec![log, missing.clone()],
            compression: "none".into(),
            settings: Vec::new(),
            flush_timeout: Duration::from_secs(1),
            progress: false,
        };
        let e = produce(&opts).unwrap_err().to_string();
        assert!(e.contains("missing.log"), "{e}");
    }
}

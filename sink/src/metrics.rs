//! The sink's operational metrics, named in this one place, and the HTTP endpoint that serves them.
//!
//! [`Metrics`] owns a private Prometheus [`Registry`] with every series a Kafka operator expects
//! from the streaming sink (records consumed / written / rejected, late records, files
//! committed, bytes written, consumer lag per partition, last commit time, each commit's
//! duration). [`MetricsServer`] serves it in the Prometheus text format on `/metrics`, plus a
//! `/healthz` liveness probe and a `/readyz` readiness probe (connected to a broker), over
//! `tiny_http` on a background thread; it stops when dropped.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Errors of the metrics registry and its HTTP endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics registry: {0}")]
    Prometheus(#[from] prometheus::Error),
    #[error("cannot listen for metrics on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
}

/// The upper bounds (seconds) of [`Metrics::commit_duration`]'s buckets: a commit of a few rows
/// on a fast disk takes milliseconds, one of a large window on a slow or busy disk seconds.
const COMMIT_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Every metric of the sink. Cheap to clone (the series are shared handles).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Records read from the broker (valid or not).
    pub records_consumed: IntCounter,
    /// Rows written to committed Parquet files.
    pub records_written: IntCounter,
    /// Records that went to the dead-letter file, by reason class (`json`, `schema`, ...).
    pub records_rejected: IntCounterVec,
    /// Records that arrived after their window closed (beyond the allowed lateness); still written.
    pub late_records: IntCounter,
    /// Records timed too far ahead of the clock to move the watermark; still written.
    pub early_records: IntCounter,
    /// Parquet files committed to the lake.
    pub files_committed: IntCounter,
    /// Bytes of committed Parquet files.
    pub bytes_written: IntCounter,
    /// High watermark minus the next offset to consume, per topic partition.
    pub consumer_lag: IntGaugeVec,
    /// Unix time (seconds) of the last commit to the lake (the broker's offset commit, a hint,
    /// follows it asynchronously).
    pub last_commit: Gauge,
    /// Seconds from a commit's start (a window closed, a flush) to its files being published.
    pub commit_duration: Histogram,
    /// Brokers the consumer is connected to, from librdkafka's statistics (every 5 s).
    pub brokers_up: IntGauge,
    /// Partitions of the topic this member owns.
    pub assigned_partitions: IntGauge,
    healthy: Arc<AtomicBool>,
    /// Inside an assignment: partitions being recovered from the lake, or their locks waited
    /// for (librdkafka's statistics, and so `brokers_up`, stop meanwhile).
    assigning: Arc<AtomicBool>,
}

impl Metrics {
    /// Creates the registry and registers every series.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new_custom(Some("accesslake".into()), None)?;
        let records_consumed = IntCounter::new(
            "records_consumed_total",
            "Records read from the broker, valid or not",
        )?;
        let records_written = IntCounter::new(
            "records_written_total",
            "Rows written to committed Parquet files",
        )?;
        let records_rejected = IntCounterVec::new(
            Opts::new(
                "records_rejected_total",
                "Records dead-lettered instead of written to the lake, by reason (counted when buffered; \
                 committed with their partition's next commit)",
            ),
            &["reason"],
        )?;
        let late_records = IntCounter::new(
            "late_records_total",
            "Records later than their window's allowed lateness (written to their own partition)",
        )?;
        let early_records = IntCounter::new(
            "early_records_total",
            "Records timed more than --max-future-secs ahead of the clock (written with the next \
             flush; they do not move the watermark)",
        )?;
        let files_committed = IntCounter::new(
            "files_committed_total",
            "Files committed to the lake: Parquet data files and dead-letter files",
        )?;
        let bytes_written = IntCounter::new(
            "bytes_written_total",
            "Bytes of the files committed to the lake (data and dead letters)",
        )?;
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "High watermark minus the lake's resume offset, per partition this member owns: \
                 records not yet committed to the lake, buffered ones included. Set at assignment \
                 from the partition's end, then from librdkafka's statistics (every 5 s). A \
                 partition no member owns has no series here: compare the sum of \
                 assigned_partitions over the group with the topic's partitions",
            ),
            &["topic", "partition"],
        )?;
        let last_commit = Gauge::new(
            "last_commit_timestamp_seconds",
            "Unix time of the last commit to the lake (the broker's offset commit follows it, \
             asynchronously)",
        )?;
        registry.register(Box::new(records_consumed.clone()))?;
        registry.register(Box::new(records_written.clone()))?;
        registry.register(Box::new(records_rejected.clone()))?;
        registry.register(Box::new(late_records.clone()))?;
        registry.register(Box::new(early_records.clone()))?;
        registry.register(Box::new(files_committed.clone()))?;
        registry.register(Box::new(bytes_written.clone()))?;
        registry.register(Box::new(consumer_lag.clone()))?;
        let brokers_up = IntGauge::new(
            "brokers_up",
            "Brokers the consumer is connected to (state UP in librdkafka's statistics, every \
             5 s; 0 until the first): /readyz answers 503 while it is 0",
        )?;
        let commit_duration = Histogram::with_opts(
            HistogramOpts::new(
                "commit_duration_seconds",
                "Lake commits, by seconds from the commit's start (a window closed, a flush) to \
                 its files being published: encoding, fsyncs, the commit point and the renames",
            )
            .buckets(COMMIT_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(last_commit.clone()))?;
        registry.register(Box::new(commit_duration.clone()))?;
        registry.register(Box::new(brokers_up.clone()))?;
        let assigned_partitions = IntGauge::new(
            "assigned_partitions",
            "Partitions of the topic this member owns (0 for a member with none: more members \
             than partitions, or a group still forming)",
        )?;
        registry.register(Box::new(assigned_partitions.clone()))?;
        Ok(Metrics {
            registry,
            records_consumed,
            records_written,
            records_rejected,
            late_records,
            early_records,
            files_committed,
            bytes_written,
            consumer_lag,
            last_commit,
            commit_duration,
            brokers_up,
            assigned_partitions,
            healthy: Arc::new(AtomicBool::new(true)),
            assigning: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Marks the process healthy or not; `/healthz` answers 503 when not.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Marks the start or the end of an assignment's recovery (see [`Metrics::readiness`]).
    pub fn set_assigning(&self, assigning: bool) {
        self.assigning.store(assigning, Ordering::Relaxed);
    }

    /// Whether the sink is ready to work: alive, not inside an assignment, and connected to at
    /// least one broker (in librdkafka's last statistics). The reason when not.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if !self.healthy.load(Ordering::Relaxed) {
            Err("unhealthy")
        } else if self.assigning.load(Ordering::Relaxed) {
            Err(
                "taking assigned partitions: recovering them from the lake, or waiting for a \
                 partition lock another writer holds",
            )
        } else if self.brokers_up.get() == 0 {
            Err("not connected to any broker")
        } else {
            Ok(())
        }
    }

    /// Records "now" as the last commit time.
    pub fn mark_commit(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.last_commit.set(now);
    }

    /// The registry's content in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding our own well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Starts serving `/metrics` and `/healthz` on `addr` in a background thread.
    pub fn serve(&self, addr: SocketAddr) -> Result<MetricsServer, MetricsError> {
        let server = tiny_http::Server::http(addr).map_err(|e| MetricsError::Listen {
            addr,
            reason: e.to_string(),
        })?;
        let server = Arc::new(server);
        let local = server.server_addr().to_ip().unwrap_or(addr);
        let metrics = self.clone();
        let srv = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                for request in srv.incoming_requests() {
                    let path = request.url().split('?').next().unwrap_or("");
                    let response = match path {
                        "/metrics" => tiny_http::Response::from_string(metrics.render())
                            .with_header(header(
                                "Content-Type",
                                "text/plain; version=0.0.4; charset=utf-8",
                            )),
                        "/healthz" if metrics.healthy.load(Ordering::Relaxed) => {
                            tiny_http::Response::from_string("ok\n")
                        }
                        "/healthz" => {
                            tiny_http::Response::from_string("unhealthy\n").with_status_code(503)
                        }
                        "/readyz" => match metrics.readiness() {
                            Ok(()) => tiny_http::Response::from_string("ready\n"),
                            Err(why) => tiny_http::Response::from_string(format!("{why}\n"))
                                .with_status_code(503),
                        },
                        _ => tiny_http::Response::from_string("not found\n").with_status_code(404),
                    };
                    if let Err(e) = request.respond(response) {
                        tracing::debug!(error = %e, "metrics response failed");
                    }
                }
            })
            .map_err(|e| MetricsError::Listen {
                addr,
                reason: e.to_string(),
            })?;
        tracing::info!(addr = %local, "serving /metrics, /healthz and /readyz");
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: local,
        })
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("static header is valid")
}

/// The running HTTP endpoint; dropping it stops the server thread.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_and_health() {
        let m = Metrics::new().unwrap();
        m.records_consumed.inc_by(7);
        m.consumer_lag
            .with_label_values(&["requests.parsed", "2"])
            .set(42);
        let server = m.serve("127.0.0.1:0".parse().unwrap()).unwrap();
        let body = get(server.addr(), "/metrics");
        assert!(body.starts_with("HTTP/1.1 200") || body.starts_with("HTTP/1.0 200"));
        assert!(
            body.contains("accesslake_records_consumed_total 7"),
            "{body}"
        );
        assert!(
            body.contains(r#"accesslake_consumer_lag{partition="2",topic="requests.parsed"} 42"#),
            "{body}"
        );
        assert!(get(server.addr(), "/healthz").contains("ok"));
        // Ready once connected to a broker, not before nor after.
        assert!(get(server.addr(), "/readyz").contains(" 503 "));
        m.brokers_up.set(1);
        assert!(get(server.addr(), "/readyz").contains(" 200 "));
        m.brokers_up.set(0);
        let body = get(server.addr(), "/readyz");
        assert!(
            body.contains(" 503 ") && body.contains("not connected"),
            "{body}"
        );
        m.brokers_up.set(3);
        m.set_assigning(true);
        let body = get(server.addr(), "/readyz");
        assert!(body.contains(" 503 ") && body.contains("lock"), "{body}");
        m.set_assigning(false);
        assert!(get(server.addr(), "/readyz").contains(" 200 "));
        m.set_healthy(false);
        assert!(get(server.addr(), "/healthz").contains(" 503 "));
        assert!(get(server.addr(), "/readyz").contains(" 503 "));
        assert!(get(server.addr(), "/nope").contains(" 404 "));
    }
}

//! The configuration of the commands that talk to Kafka: `run` (the streaming sink) and `produce`
//! (log files into a topic), their shared connection flags ([`KafkaConfig`]), and the checks of
//! a broker list and of a `-X` librdkafka setting. Re-exported by [`crate::config`].

use crate::config::{GeoIpConfig, LineLimit};
use crate::pipeline::WindowSettings;
use crate::window::{
    DEFAULT_LATENESS_SECS, DEFAULT_MAX_FUTURE_SECS, DEFAULT_MAX_ROWS, DEFAULT_WINDOW_SECS,
};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The librdkafka settings a flag sets, refused as `-X`: `(key, the flag)`. Applied over the
/// flag, a `-X` would win while the log and the metrics name the flag's value.
const FLAG_SETTINGS: &[(&str, &str)] = &[
    ("bootstrap.servers", "--brokers (KAFKA_BROKERS)"),
    ("metadata.broker.list", "--brokers (KAFKA_BROKERS)"),
    ("group.id", "run's --group (KAFKA_GROUP)"),
];

/// Parses a `-X key=value` librdkafka setting (not one a flag sets: [`FLAG_SETTINGS`]).
pub fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => {
            let k = k.trim();
            if let Some((_, flag)) = FLAG_SETTINGS.iter().find(|(key, _)| *key == k) {
                return Err(format!("{k} is set with {flag}, not -X"));
            }
            Ok((k.to_string(), v.to_string()))
        }
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// Checks a bootstrap server list as librdkafka reads it: `host[:port]` entries separated by
/// commas, each perhaps with a `protocol://` prefix, an IPv6 host in brackets. An empty list
/// would make the client wait forever without a word, and librdkafka takes a port over 65535
/// modulo 65536, which may be another, live service.
pub fn parse_brokers(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("no bootstrap server given: expected host:port[,host:port...]".into());
    }
    for entry in s.split(',').map(str::trim) {
        let bad = |why: &str| Err(format!("{entry:?}: {why} (expected host:port)"));
        let addr = entry.split_once("://").map_or(entry, |(_, a)| a);
        let (host, port) = match addr.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((host, rest)) => (host, rest.strip_prefix(':')),
                None => return bad("an unclosed [ in the host"),
            },
            None => match addr.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (addr, None),
            },
        };
        if host.is_empty() {
            return bad("no host");
        }
        if let Some(port) = port {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => return bad("the port must be a number from 1 to 65535"),
            }
        }
    }
    Ok(s.to_string())
}

/// A value that must not be empty (a topic, a group id).
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

/// Kafka connection flags shared by `run` and `produce`.
#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092", value_parser = parse_brokers)]
    pub brokers: String,
    /// Extra librdkafka setting `key=value` (repeatable), applied over the defaults: SASL, TLS,
    /// timeouts, e.g. `-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-256`.
    /// `bootstrap.servers` (set by `--brokers`) and `group.id` (by `run --group`) are refused
    /// here; `run` also refuses other values for the settings its exactly-once rests on
    /// (`enable.auto.commit`, `enable.auto.offset.store`, `auto.offset.reset`,
    /// `isolation.level`).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            settings: Vec::new(),
        }
    }
}

/// `accesslake run --lake DIR`: the streaming sink.
#[derive(Debug, Clone, Args)]
pub struct RunConfig {
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// The topic of parsed records (the transform's first output).
    #[arg(long, env = "KAFKA_TOPIC", default_value = "requests.parsed", value_parser = non_empty)]
    pub topic: String,
    /// Consumer group: sink replicas in one group share the topic's partitions.
    #[arg(long, env = "KAFKA_GROUP", default_value = "accesslake-sink", value_parser = non_empty)]
    pub group: String,
    /// The lake's root directory (created if missing); it holds the offsets too.
    #[arg(long, env = "ACCESSLAKE_LAKE")]
    pub lake: PathBuf,
    #[command(flatten)]
    pub geoip: GeoIpConfig,
    /// Tumbling window length in seconds (must divide 3600).
    #[arg(long, env = "ACCESSLAKE_WINDOW_SECS", default_value_t = DEFAULT_WINDOW_SECS)]
    pub window_secs: u32,
    /// Allowed lateness in seconds: a window is flushed once the newest event time seen in its
    /// partition passes its end by this much. Later records are still written (counted as late).
    #[arg(long, env = "ACCESSLAKE_LATENESS_SECS", default_value_t = DEFAULT_LATENESS_SECS)]
    pub lateness_secs: u32,
    /// Maximum rows per Parquet file: a window holding this many rows, or 512 MiB of text in one
    /// column, is flushed at once.
    #[arg(long, env = "ACCESSLAKE_MAX_ROWS", default_value_t = DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
    /// Seconds ahead of this machine's clock an event time may be and still move the watermark.
    /// A record timed further ahead (a skewed clock, a mistyped date) is written with the next
    /// flush and counted as early, so it cannot make every later record late; one within the
    /// limit delays the commit of the records after it by up to this long.
    #[arg(long, env = "ACCESSLAKE_MAX_FUTURE_SECS", default_value_t = DEFAULT_MAX_FUTURE_SECS)]
    pub max_future_secs: u32,
    /// Flush a partition's open windows after this many seconds without a new record.
    #[arg(long, env = "ACCESSLAKE_IDLE_FLUSH_SECS", default_value_t = 5.0)]
    pub idle_flush_secs: f64,
    /// Seconds an assignment waits for its partitions' previous writers to let go of the lake's
    /// locks on them (a member paused past its session, or another consumer group writing this
    /// lake); then the sink stops with an error naming a holder. The wait happens inside the
    /// consumer's poll, so it must stay 30 s below `max.poll.interval.ms` (300 s by default).
    #[arg(long, env = "ACCESSLAKE_LOCK_WAIT_SECS", default_value_t = 120)]
    pub lock_wait_secs: u64,
    /// Serve Prometheus `/metrics`, `/healthz` (alive) and `/readyz` (connected to a broker,
    /// not inside an assignment) on this address (e.g. `0.0.0.0:9100`).
    #[arg(long, env = "ACCESSLAKE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            kafka: KafkaConfig::default(),
            topic: "requests.parsed".into(),
            group: "accesslake-sink".into(),
            lake: PathBuf::from("lake"),
            geoip: GeoIpConfig::default(),
            window_secs: DEFAULT_WINDOW_SECS,
            lateness_secs: DEFAULT_LATENESS_SECS,
            max_rows: DEFAULT_MAX_ROWS,
            max_future_secs: DEFAULT_MAX_FUTURE_SECS,
            idle_flush_secs: 5.0,
            lock_wait_secs: 120,
            metrics_addr: None,
        }
    }
}

impl RunConfig {
    /// The window settings these flags ask for.
    pub fn window(&self) -> WindowSettings {
        WindowSettings {
            window_secs: self.window_secs,
            lateness_secs: self.lateness_secs,
            max_rows: self.max_rows,
            max_future_secs: self.max_future_secs,
            ..WindowSettings::default()
        }
    }
}

/// `accesslake produce --topic requests FILE...`.
#[derive(Debug, Clone, Args)]
pub struct ProduceConfig {
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// Destination topic (the transform's input).
    #[arg(long, env = "ACCESSLAKE_PRODUCE_TOPIC", default_value = "requests", value_parser = non_empty)]
    pub topic: String,
    /// Where a line too large for one record goes, cut, with the reason in a header (the
    /// transform's dead-letter topic).
    #[arg(long, env = "ACCESSLAKE_DLQ_TOPIC", default_value = "requests.dlq", value_parser = non_empty)]
    pub dlq_topic: String,
    #[command(flatten)]
    pub lines: LineLimit,
    /// Batch compression (snappy is left out: some Kafka-API brokers mis-handle it).
    #[arg(long, env = "ACCESSLAKE_PRODUCE_COMPRESSION", default_value = "lz4", value_parser = ["lz4", "zstd", "gzip", "none"])]
    pub compression: String,
    /// Seconds to wait for the last deliveries before failing.
    #[arg(long, env = "ACCESSLAKE_FLUSH_TIMEOUT_SECS", default_value_t = 120)]
    pub flush_timeout_secs: u64,
    /// Never show a progress bar (it is shown only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// The log files to load, in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

impl Default for ProduceConfig {
    fn default() -> Self {
        ProduceConfig {
            kafka: KafkaConfig::default(),
            topic: "requests".into(),
            dlq_topic: "requests.dlq".into(),
            lines: LineLimit::default(),
            compression: "lz4".into(),
            flush_timeout_secs: 120,
            no_progress: false,
            files: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parsed;
    use crate::config::{Cli, Command};
    use clap::Parser;

    #[test]
    fn broker_lists_are_checked() {
        for good in [
            "localhost:9092",
            "a:1,b:65535",
            "a:9092, b:9093",
            "broker",
            "SASL_SSL://kafka.example.com:9094",
            "[::1]:9092",
            "[fe80::1]",
        ] {
            assert_eq!(parse_brokers(good).as_deref(), Ok(good), "{good}");
        }
        for (bad, why) in [
            ("", "no bootstrap server"),
            ("  ", "no bootstrap server"),
            ("127.0.0.1:84953", "1 to 65535"),
            ("127.0.0.1:0", "1 to 65535"),
            ("a:9092,", "no host"),
            (":9092", "no host"),
            ("host:port", "1 to 65535"),
            ("[::1:9092", "unclosed"),
        ] {
            let e = parse_brokers(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(Cli::try_parse_from(["accesslake", "run", "--lake", "l", "--group", ""]).is_err());
        assert!(
            Cli::try_parse_from(["accesslake", "run", "--lake", "l", "--brokers", ""]).is_err()
        );
    }

    #[test]
    fn a_setting_a_flag_sets_is_refused_as_x() {
        for (key, flag) in [
            ("bootstrap.servers", "--brokers"),
            ("metadata.broker.list", "--brokers"),
            ("group.id", "run's --group"),
        ] {
            let x = format!("{key}=somewhere");
            for args in [&["run", "--lake", "l"][..], &["produce", "f"][..]] {
                let all = [&["accesslake"][..], args, &["-X", &x][..]].concat();
                let e = Cli::try_parse_from(all).unwrap_err().to_string();
                assert!(e.contains(&format!("{key} is set with {flag}")), "{e}");
            }
        }
        let Command::Run(run) = parsed(&["accesslake", "run", "--lake", "l", "-X", " a.b =c"])
        else {
            panic!("run")
        };
        assert_eq!(run.kafka.settings, [("a.b".to_string(), "c".to_string())]);
    }
}

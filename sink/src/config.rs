//! Command-line configuration: one [`Command`] enum, one config struct per command, each field
//! documented, with its environment variable where it has one. Library code receives these
//! structs (or plain settings built from them) and never reads the environment itself.
//!
//! To add a command: add a variant to [`Command`] with its own `XxxConfig` struct (derive
//! `clap::Args`, implement `Default`), and a match arm in `main.rs`.

use crate::pipeline::WindowSettings;
use crate::window::{
    DEFAULT_LATENESS_SECS, DEFAULT_MAX_FUTURE_SECS, DEFAULT_MAX_ROWS, DEFAULT_WINDOW_SECS,
};
use accesslake_transform::{Format, ParseOptions};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// `ingest`'s windows: hour-long (one file per hour of a log), with five minutes of lateness.
const INGEST_WINDOW_SECS: u32 = 3600;
const INGEST_LATENESS_SECS: u32 = 300;

/// accesslake: web-server access logs → GeoIP-enriched, Hive-partitioned Parquet; DuckDB answers.
#[derive(Debug, Parser)]
#[command(name = "accesslake", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogConfig,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse raw log lines to JSON records (stdout); rejected lines as JSON on stderr.
    Parse(ParseConfig),
    /// Parse, enrich and write log files into the lake (no broker), exactly once per file.
    Ingest(IngestConfig),
    /// Consume parsed records from Kafka into the lake, exactly once (the streaming sink).
    Run(RunConfig),
    /// Load raw log files into a Kafka topic, one line per record (idempotent producer).
    Produce(ProduceConfig),
    /// Run one read-only SQL statement over the lake (view `logs`); print a table, CSV or JSON.
    Query(QueryConfig),
    /// The standing questions answered from the lake, for a terminal or as an HTML page.
    Report(ReportConfig),
    /// Read every committed file of the lake back in full, and list what is damaged, changed
    /// or missing.
    Check(CheckConfig),
}

/// Logging flags, global to every command.
#[derive(Debug, Clone, Args)]
pub struct LogConfig {
    /// Log filter: a level (`info`, `debug`…) or a tracing `EnvFilter` directive.
    #[arg(
        long,
        global = true,
        env = "ACCESSLAKE_LOG_LEVEL",
        default_value = "info",
        value_parser = parse_log_filter
    )]
    pub log_level: String,
    /// Log as JSON lines instead of human-readable text (the variable takes true/false,
    /// yes/no, on/off, 1/0).
    #[arg(
        long,
        global = true,
        env = "ACCESSLAKE_LOG_JSON",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub log_json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            log_level: "info".into(),
            log_json: false,
        }
    }
}

impl LogConfig {
    /// Installs the global tracing subscriber (logs go to stderr).
    pub fn init(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            // A log line stderr refuses (a closed pipe, a full disk) is dropped: the fallback
            // would print to that same stderr, and panic when it fails too.
            .log_internal_errors(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        if self.log_json {
            builder.json().init();
        } else {
            builder.init();
        }
    }
}

/// The levels a log filter may name alone (as `EnvFilter` reads them: also `0` to `5`).
const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Checks a log filter: a level, or `EnvFilter` directives. A lone word that is no level (a
/// typo such as `debugg`) is refused: `EnvFilter` would read it as a target name, enable only
/// that target, and hide every other line, warnings included. A target is written with its
/// level (`accesslake::ingest=debug`).
fn parse_log_filter(s: &str) -> Result<String, String> {
    let word = s.trim();
    let lone = !word.contains(['=', ',', '[']);
    let level = LOG_LEVELS.contains(&word.to_ascii_lowercase().as_str())
        || matches!(word, "0" | "1" | "2" | "3" | "4" | "5");
    if lone && !level {
        return Err(format!(
            "{word:?} is not a level ({}); a target's level is written target=level",
            LOG_LEVELS.join(", ")
        ));
    }
    tracing_subscriber::EnvFilter::try_new(word)
        .map(|_| word.to_string())
        .map_err(|e| e.to_string())
}

/// Which log layout to expect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Detect per line (common, combined, vhost_combined, nginx extras).
    #[default]
    Auto,
    /// NCSA common.
    #[value(alias = "clf")]
    Common,
    /// NCSA combined (plus trailing extra fields).
    Combined,
    /// Apache `vhost_combined`.
    #[value(alias = "vhost_combined")]
    VhostCombined,
}

impl LogFormat {
    /// The parser options for this layout.
    pub fn parse_options(self) -> ParseOptions {
        let format = match self {
            LogFormat::Auto => Format::Auto,
            LogFormat::Common => Format::Common,
            LogFormat::Combined => Format::Combined,
            LogFormat::VhostCombined => Format::VhostCombined,
        };
        ParseOptions { format }
    }
}

/// The log layout flag, shared by `ingest` and `parse`.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Layout {
    /// The log layout.
    #[arg(
        long,
        env = "ACCESSLAKE_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value_t
    )]
    pub format: LogFormat,
}

/// `accesslake parse [FILE]`.
#[derive(Debug, Clone, Default, Args)]
pub struct ParseConfig {
    /// The log file to read; standard input when absent or `-`.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub layout: Layout,
    #[command(flatten)]
    pub lines: LineLimit,
}

/// How long a raw log line may be, shared by `ingest`, `parse` and `produce`.
#[derive(Debug, Clone, Copy, Args)]
pub struct LineLimit {
    /// The longest line read whole, in bytes (at most 256 MiB). A longer line is rejected (a
    /// dead letter) with its length and its first bytes; the rest of it is read past, never held
    /// in memory.
    #[arg(long, env = "ACCESSLAKE_MAX_LINE_BYTES", default_value_t = LineLimit::DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(LineLimit::MAX)))]
    pub max_line_bytes: u32,
}

impl LineLimit {
    /// 1 MiB: Redpanda's and Kafka's default largest message, so the streaming path has the
    /// same limit.
    pub const DEFAULT: u32 = 1 << 20;

    /// 256 MiB: a line's bytes that are not UTF-8 are written as `\xHH`, four bytes each, so one
    /// field of a chunk with such a line stays under the 2 GiB an Arrow text column holds.
    pub const MAX: u32 = 1 << 28;

    /// The largest limit a state may record: 1 GiB, the flag's maximum in builds before
    /// 2026-11-29, whose interrupted runs keep their limit until they are finished.
    pub const RECORDED_MAX: u32 = 1 << 30;

    /// The limit in bytes.
    pub fn bytes(&self) -> usize {
        self.max_line_bytes as usize
    }
}

impl Default for LineLimit {
    fn default() -> Self {
        LineLimit {
            max_line_bytes: LineLimit::DEFAULT,
        }
    }
}

/// GeoIP database paths, shared by `ingest` and `run`.
#[derive(Debug, Clone, Args)]
pub struct GeoIpConfig {
    /// A city database: GeoIP2/GeoLite2 City, or the flat DB-IP City Lite layout (detected).
    #[arg(long, env = "GEOIP_CITY")]
    pub geoip_city: Option<PathBuf>,
    /// A GeoLite2/GeoIP2 ASN database.
    #[arg(long, env = "GEOIP_ASN")]
    pub geoip_asn: Option<PathBuf>,
    /// GeoIP results memoised (per worker for `ingest`, one memo for `run`): IPv4 addresses in
    /// a table of this many slots (rounded up to a power of two, at most 2^18, 8 bytes each),
    /// IPv6 addresses, and decoded database records, this many of each (a value under 2 acts
    /// as 2).
    #[arg(long, env = "GEOIP_CACHE_SIZE", default_value_t = GeoIpConfig::CACHE_SIZE)]
    pub geoip_cache_size: usize,
}

impl GeoIpConfig {
    /// The default memo size: 512 KiB of address slots, which stay in a core's cache; a bigger
    /// memo hardly changes `ingest`'s time on the benchmark's log (95 k distinct addresses in
    /// 1 M lines).
    pub const CACHE_SIZE: usize = 65_536;
}

impl Default for GeoIpConfig {
    fn default() -> Self {
        GeoIpConfig {
            geoip_city: None,
            geoip_asn: None,
            geoip_cache_size: GeoIpConfig::CACHE_SIZE,
        }
    }
}

/// `accesslake ingest --lake DIR FILE...`.
#[derive(Debug, Clone, Args)]
pub struct IngestConfig {
    /// The lake's root directory (created if missing).
    #[arg(long, env = "ACCESSLAKE_LAKE")]
    pub lake: PathBuf,
    #[command(flatten)]
    pub geoip: GeoIpConfig,
    /// Tumbling window length in seconds (must divide 3600). Ingest reads history, so the
    /// default is one hour: one file per hour partition per input file.
    #[arg(long, env = "ACCESSLAKE_WINDOW_SECS", default_value_t = INGEST_WINDOW_SECS)]
    pub window_secs: u32,
    /// Allowed lateness in seconds: a window is flushed once the newest event time seen passes
    /// its end by this much. Later records are still written (and counted as late).
    #[arg(long, env = "ACCESSLAKE_LATENESS_SECS", default_value_t = INGEST_LATENESS_SECS)]
    pub lateness_secs: u32,
    /// Maximum rows per Parquet file: a window holding this many rows is flushed at once.
    #[arg(long, env = "ACCESSLAKE_MAX_ROWS", default_value_t = DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
    #[command(flatten)]
    pub layout: Layout,
    /// Threads that parse and enrich (0: one per core; at most 256). Whatever this is, windows
    /// stay on one thread, in line order, and commits on two more (encoding, then publishing).
    #[arg(long, env = "ACCESSLAKE_THREADS", default_value_t = 0, value_parser = thread_count)]
    pub threads: usize,
    #[command(flatten)]
    pub lines: LineLimit,
    /// Never show a progress bar (it is shown only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// The log files to ingest.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            lake: PathBuf::from("lake"),
            geoip: GeoIpConfig::default(),
            window_secs: INGEST_WINDOW_SECS,
            lateness_secs: INGEST_LATENESS_SECS,
            max_rows: DEFAULT_MAX_ROWS,
            layout: Layout::default(),
            threads: 0,
            lines: LineLimit::default(),
            no_progress: false,
            files: Vec::new(),
        }
    }
}

impl IngestConfig {
    /// Parse-and-enrich threads: `threads`, or one per core when 0.
    pub fn workers(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// The window settings these flags ask for.
    pub fn window(&self) -> WindowSettings {
        WindowSettings {
            window_secs: self.window_secs,
            lateness_secs: self.lateness_secs,
            max_rows: self.max_rows,
            ..WindowSettings::default()
        }
    }
}

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
/// A thread count: 0 (one per core) to 256.
fn thread_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= 256 => Ok(n),
        Ok(_) => Err("at most 256".into()),
        Err(e) => Err(e.to_string()),
    }
}

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

/// Output format of `accesslake query`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// An aligned table for a terminal (long cells cut, control characters escaped).
    #[default]
    Table,
    /// RFC 4180 CSV with a header row: NULL is an empty field, the empty string is `""`.
    Csv,
    /// A JSON array with one object per row; numbers exact, NULL as null.
    Json,
}

/// `accesslake query --lake DIR "SQL"`.
#[derive(Debug, Clone, Args)]
pub struct QueryConfig {
    /// The lake's root directory (read only).
    #[arg(long, env = "ACCESSLAKE_LAKE")]
    pub lake: PathBuf,
    /// Output format.
    #[arg(long, env = "ACCESSLAKE_QUERY_FORMAT", value_enum, default_value_t)]
    pub format: QueryFormat,
    /// Most rows `--format table` prints (0: all); csv and json always print every row.
    #[arg(long, env = "ACCESSLAKE_QUERY_MAX_ROWS", default_value_t = 1000)]
    pub max_rows: usize,
    /// DuckDB's memory, threads and spill directory.
    #[command(flatten)]
    pub duckdb: DuckDbConfig,
    /// One SQL statement, SELECT or EXPLAIN, over the view `logs`.
    pub sql: String,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            lake: PathBuf::from("lake"),
            format: QueryFormat::Table,
            max_rows: 1000,
            duckdb: DuckDbConfig::default(),
            sql: String::new(),
        }
    }
}

/// What the embedded DuckDB of `query` and `report` may use. DuckDB's defaults otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct DuckDbConfig {
    /// Most memory DuckDB may use, in its units (`500MB`, `4GiB`; default: 80 % of RAM). Beyond
    /// it, large intermediate results spill to `--temp-dir`; what cannot spill fails with
    /// DuckDB's out-of-memory error.
    #[arg(long, env = "ACCESSLAKE_DUCKDB_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,
    /// DuckDB's threads (0: one per core).
    #[arg(long, env = "ACCESSLAKE_DUCKDB_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Where DuckDB spills (default: `.tmp` in the working directory, made only when needed and
    /// removed after).
    #[arg(long, env = "ACCESSLAKE_DUCKDB_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,
}

/// The lake a read-only command reads (`report`, `check`), and the UTC time range of it: the
/// files of the hours the range overlaps.
#[derive(Debug, Clone, Args)]
pub struct LakeRange {
    /// The lake's root directory (read only).
    #[arg(long, env = "ACCESSLAKE_LAKE")]
    pub lake: PathBuf,
    /// Start of the UTC time range, inclusive: RFC 3339 (any offset), `YYYY-MM-DD HH:MM[:SS]`
    /// (UTC) or `YYYY-MM-DD`.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range, exclusive (same forms as `--from`).
    #[arg(long)]
    pub to: Option<String>,
}

impl Default for LakeRange {
    fn default() -> Self {
        LakeRange {
            lake: PathBuf::from("lake"),
            from: None,
            to: None,
        }
    }
}

/// `accesslake report --lake DIR [--from T] [--to T] [--html FILE]`.
#[derive(Debug, Clone, Args)]
pub struct ReportConfig {
    /// The lake, and the range reported.
    #[command(flatten)]
    pub range: LakeRange,
    /// Write the report as one self-contained HTML file (inline SVG charts) instead of text;
    /// `-` writes it to standard output.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// With `--html FILE`, print the text report too (not with `--html -`: both would go to
    /// standard output).
    #[arg(long, requires = "html")]
    pub print: bool,
    /// Rows in each ranking (countries, client addresses, paths, referrers).
    #[arg(long, env = "ACCESSLAKE_REPORT_TOP", default_value_t = 10, value_parser = top_value())]
    pub top: usize,
    /// Countries broken down by city, and cities shown for each.
    #[arg(long, env = "ACCESSLAKE_REPORT_TOP_CITIES", default_value_t = 5, value_parser = top_value())]
    pub top_cities: usize,
    /// Ignore the per-file summaries and aggregate every row (same numbers, slower; for
    /// checking).
    #[arg(long)]
    pub no_summaries: bool,
    /// DuckDB's memory, threads and spill directory.
    #[command(flatten)]
    pub duckdb: DuckDbConfig,
}

/// `accesslake check --lake DIR [--from T] [--to T]`.
#[derive(Debug, Clone, Default, Args)]
pub struct CheckConfig {
    /// The lake, and the range whose files are read (every resume state is, whatever the range).
    #[command(flatten)]
    pub range: LakeRange,
}

/// A ranking's length: at most SQL's `LIMIT`, a `BIGINT`.
fn top_value() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(0..=i64::MAX as u64)
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            range: LakeRange::default(),
            html: None,
            print: false,
            top: 10,
            top_cities: 5,
            no_summaries: false,
            duckdb: DuckDbConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The command's configuration from a command line, with the environment's settings off.
    fn parsed(args: &[&str]) -> Command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        // Defaults, not this machine's environment: every `env` fallback is ignored.
        cmd = cmd.mut_subcommands(|c| c.mut_args(|a| a.env(None::<&'static str>)));
        let matches = cmd.try_get_matches_from(args).unwrap();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap()
            .command
    }

    #[test]
    fn defaults_are_the_flags_defaults() {
        let Command::Run(run) = parsed(&["accesslake", "run", "--lake", "lake"]) else {
            panic!("run")
        };
        assert_eq!(format!("{run:?}"), format!("{:?}", RunConfig::default()));
        let Command::Ingest(ingest) = parsed(&["accesslake", "ingest", "--lake", "lake", "f"])
        else {
            panic!("ingest")
        };
        let want = IngestConfig {
            files: vec!["f".into()],
            ..IngestConfig::default()
        };
        assert_eq!(format!("{ingest:?}"), format!("{want:?}"));
        let Command::Report(report) = parsed(&["accesslake", "report", "--lake", "lake"]) else {
            panic!("report")
        };
        assert_eq!(
            format!("{report:?}"),
            format!("{:?}", ReportConfig::default())
        );
        let Command::Produce(produce) = parsed(&["accesslake", "produce", "f"]) else {
            panic!("produce")
        };
        let want = ProduceConfig {
            files: vec!["f".into()],
            ..ProduceConfig::default()
        };
        assert_eq!(format!("{produce:?}"), format!("{want:?}"));
        let Command::Query(query) = parsed(&["accesslake", "query", "--lake", "lake", "SELECT 1"])
        else {
            panic!("query")
        };
        let want = QueryConfig {
            sql: "SELECT 1".into(),
            ..QueryConfig::default()
        };
        assert_eq!(format!("{query:?}"), format!("{want:?}"));
        let Command::Parse(parse) = parsed(&["accesslake", "parse"]) else {
            panic!("parse")
        };
        assert_eq!(
            format!("{parse:?}"),
            format!("{:?}", ParseConfig::default())
        );
        let _ = Cli::try_parse_from(["accesslake", "run"]).expect_err("--lake is required");
    }

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
    fn log_filters_and_flags_are_checked() {
        for good in [
            "info",
            "WARN",
            "off",
            "4",
            "accesslake=debug",
            "warn,accesslake::ingest=trace",
        ] {
            assert_eq!(parse_log_filter(good).as_deref(), Ok(good), "{good}");
        }
        for bad in ["debugg", "garbage", "accesslake::ingest", "accesslake=loud"] {
            assert!(parse_log_filter(bad).is_err(), "{bad}");
        }
        let top =
            |v: &str| Cli::try_parse_from(["accesslake", "report", "--lake", "l", "--top", v]);
        assert!(top("9223372036854775807").is_ok());
        assert!(top("9223372036854775808").is_err());
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

    /// `ACCESSLAKE_LOG_FORMAT` means the same to the sink as to the transform, which reads it
    /// case-insensitively: every spelling the transform takes gives the same layout here.
    #[test]
    fn the_format_is_read_as_the_transform_reads_it() {
        for name in [
            "auto",
            "common",
            "clf",
            "combined",
            "vhost_combined",
            "vhost-combined",
        ] {
            for spelled in [name.to_string(), name.to_uppercase()] {
                let want: accesslake_transform::Format = spelled.parse().unwrap();
                let Command::Parse(p) = parsed(&["accesslake", "parse", "--format", &spelled])
                else {
                    panic!("parse")
                };
                assert_eq!(p.layout.format.parse_options().format, want, "{spelled}");
            }
        }
    }
}

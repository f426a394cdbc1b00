//! Command-line configuration: one [`Command`] enum, one config struct per command, each field
//! documented, with its environment variable where it has one. Library code receives these
//! structs (or plain settings built from them) and never reads the environment itself.
//!
//! The commands that talk to Kafka keep theirs in [`crate::config_kafka`], those that read the
//! lake in [`crate::config_read`]; both are re-exported here.
//!
//! To add a command: add a variant to [`Command`] with its own `XxxConfig` struct (derive
//! `clap::Args`, implement `Default`), and a match arm in `main.rs`.

use crate::pipeline::WindowSettings;
use crate::window::DEFAULT_MAX_ROWS;
use accesslake_transform::{Format, ParseOptions};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub use crate::config_kafka::{
    parse_brokers, parse_setting, KafkaConfig, ProduceConfig, RunConfig,
};
pub use crate::config_read::{
    CheckConfig, DuckDbConfig, LakeRange, QueryConfig, QueryFormat, ReportConfig,
};

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
    /// Delete the hours of the lake before a time (retention): their data files, summaries, and
    /// the dead letters committed before it.
    Expire(ExpireConfig),
    /// Merge the small data files of each finished hour, per source partition, into few large
    /// ones (with their summaries), and each partition's dead-letter files.
    Compact(CompactConfig),
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

/// `accesslake expire --lake DIR --before T`.
#[derive(Debug, Clone, Args)]
pub struct ExpireConfig {
    /// The lake's root directory.
    #[arg(long, env = "ACCESSLAKE_LAKE")]
    pub lake: PathBuf,
    /// Delete every hour partition that ends at or before this time, and the dead-letter files
    /// committed before it: RFC 3339 (any offset), `YYYY-MM-DD HH:MM[:SS]` (UTC) or
    /// `YYYY-MM-DD`. An hour it cuts is kept whole; a time in the future is refused.
    #[arg(long)]
    pub before: String,
    /// Count what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for another `compact` or `expire` working on this lake (they take one
    /// lock) before stopping with an error naming it; 0 stops at once.
    #[arg(long, env = "ACCESSLAKE_MAINTENANCE_WAIT_SECS", default_value_t = 0)]
    pub lock_wait_secs: u64,
}

impl Default for ExpireConfig {
    fn default() -> Self {
        ExpireConfig {
            lake: PathBuf::from("lake"),
            before: String::new(),
            dry_run: false,
            lock_wait_secs: 0,
        }
    }
}

/// `accesslake compact --lake DIR [--before T]`.
#[derive(Debug, Clone, Args)]
pub struct CompactConfig {
    /// The lake's root directory.
    #[arg(long, env = "ACCESSLAKE_LAKE")]
    pub lake: PathBuf,
    /// Merge the files of every hour that ends at or before this time (by default an hour ago,
    /// so an hour is merged once it has been over for an hour), and the dead-letter files last
    /// modified before it: RFC 3339 (any offset), `YYYY-MM-DD HH:MM[:SS]` (UTC) or `YYYY-MM-DD`.
    /// A time in the future is refused.
    #[arg(long)]
    pub before: Option<String>,
    /// Rows per merged file at most: a source partition's files of an hour become as few files
    /// as this allows (a file already over it is left as it is). Merging holds one merged
    /// file's rows in memory.
    #[arg(long, env = "ACCESSLAKE_MAX_ROWS", default_value_t = DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
    /// Count what would be merged, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for another `compact` or `expire` working on this lake (they take one
    /// lock) before stopping with an error naming it; 0 stops at once.
    #[arg(long, env = "ACCESSLAKE_MAINTENANCE_WAIT_SECS", default_value_t = 0)]
    pub lock_wait_secs: u64,
}

impl Default for CompactConfig {
    fn default() -> Self {
        CompactConfig {
            lake: PathBuf::from("lake"),
            before: None,
            max_rows: DEFAULT_MAX_ROWS,
            dry_run: false,
            lock_wait_secs: 0,
        }
    }
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

/// A thread count: 0 (one per core) to 256.
pub(crate) fn thread_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= 256 => Ok(n),
        Ok(_) => Err("at most 256".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    /// The command's configuration from a command line, with the environment's settings off.
    pub(crate) fn parsed(args: &[&str]) -> Command {
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
        let args = [
            "accesslake",
            "expire",
            "--lake",
            "lake",
            "--before",
            "2020-01-01",
        ];
        let Command::Expire(expire) = parsed(&args) else {
            panic!("expire")
        };
        let want = ExpireConfig {
            before: "2020-01-01".into(),
            ..ExpireConfig::default()
        };
        assert_eq!(format!("{expire:?}"), format!("{want:?}"));
        let _ = Cli::try_parse_from(["accesslake", "expire", "--lake", "lake"])
            .expect_err("--before is required");
        let Command::Compact(compact) = parsed(&["accesslake", "compact", "--lake", "lake"]) else {
            panic!("compact")
        };
        assert_eq!(
            format!("{compact:?}"),
            format!("{:?}", CompactConfig::default())
        );
        let _ = Cli::try_parse_from(["accesslake", "run"]).expect_err("--lake is required");
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

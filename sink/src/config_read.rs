//! The configuration of the commands that read the lake: `query`, `report` and `check`, the
//! lake and time range they read ([`LakeRange`]), and what their embedded DuckDB may use
//! ([`DuckDbConfig`]). Re-exported by [`crate::config`].

use clap::{Args, ValueEnum};
use std::path::PathBuf;

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
    /// DuckDB's threads (0: one per core; at most 256).
    #[arg(
        long,
        env = "ACCESSLAKE_DUCKDB_THREADS",
        default_value_t = 0,
        value_parser = crate::config::thread_count
    )]
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

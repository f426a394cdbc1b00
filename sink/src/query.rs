//! `accesslake query`: one SQL statement run against a read-only DuckDB session over the lake
//! ([`crate::lake_db::LakeDb`], with its view `logs`), its result printed as an aligned table, CSV
//! or JSON ([`crate::query_format`]); and what the lake's readers share: the error type, time
//! ranges and SQL quoting.

use crate::config::QueryConfig;
pub use crate::lake_db::{LakeDb, Summaries};
pub use crate::lake_files::{lake_files, summary_files, LakeFile, Listing};
use crate::query_format::ResultWriter;
use std::io::{self, Write};
use std::path::PathBuf;

/// Errors of the read-only lake session.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no lake at {}: the directory does not exist (write one with `accesslake ingest --lake {} FILE...`)", .0.display(), .0.display())]
    Missing(PathBuf),
    #[error("no lake at {}: it is not a directory (a lake is the directory `accesslake ingest --lake DIR` writes)", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "{}: DuckDB reads only file names that are UTF-8, and this one is not: move the lake to \
         such a path", .0.display()
    )]
    NotUtf8(PathBuf),
    #[error(
        "{}: DuckDB cannot read a lake whose path holds both a `\\` and one of `[`, `*`, `?` \
         (it takes the name as a pattern, and `\\` as a separator there): move the lake to \
         another path", .0.display()
    )]
    GlobAndBackslash(PathBuf),
    #[error("the lake at {} is empty: it holds no committed Parquet files yet", .0.display())]
    Empty(PathBuf),
    #[error(
        "the lake at {} holds no committed Parquet files yet, only {count} committed dead-letter \
         file(s) of rejected lines (each with its reason) under {}/",
        .lake.display(), .dir.display()
    )]
    OnlyRejected {
        lake: PathBuf,
        count: usize,
        dir: PathBuf,
    },
    #[error("cannot read the lake directory {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// DuckDB's own message, unchanged.
    #[error("{0}")]
    Sql(String),
    #[error("{0}")]
    DuckDb(#[from] duckdb::Error),
    #[error(
        "the lake is read-only through `query`: only SELECT and EXPLAIN statements run (got {0})"
    )]
    NotReadOnly(&'static str),
    #[error(
        "EXPLAIN options may hold only names, values and commas (no comment, no quote): \
         `EXPLAIN (FORMAT json) SELECT …`"
    )]
    ExplainOptions,
    #[error("`query` runs exactly one SQL statement ({count} given){hint}")]
    StatementCount {
        count: usize,
        /// `; …` when the text looks like one statement that DuckDB makes several of.
        hint: &'static str,
    },
    #[error("cannot write the result: {0}")]
    Output(#[source] io::Error),
    #[error("{}: not a summary of this build ({reason})", .path.display())]
    NotASummary { path: PathBuf, reason: String },
    #[error("{flag} {value}: DuckDB refuses it: {message}")]
    Setting {
        flag: &'static str,
        value: String,
        message: String,
    },
    /// DuckDB's error, naming no file, with what [`crate::damage`] found.
    #[error("{0}")]
    Damaged(String),
}

/// A half-open UTC time range `[from, to)` in microseconds since the epoch; either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

const HOUR: i64 = 3_600_000_000;

impl TimeRange {
    /// Whether an hour partition starting at `hour_start` (µs) can hold rows in the range.
    pub fn overlaps_hour(&self, hour_start: i64) -> bool {
        self.from.is_none_or(|f| hour_start + HOUR > f) && self.to.is_none_or(|t| hour_start < t)
    }

    /// Whether the whole hour starting at `hour_start` (µs) lies in the range.
    pub fn covers_hour(&self, hour_start: i64) -> bool {
        self.from.is_none_or(|f| hour_start >= f) && self.to.is_none_or(|t| hour_start + HOUR <= t)
    }

    /// The range as SQL conditions on `time` (none when unbounded).
    pub fn conditions(&self) -> Vec<String> {
        let at = |us: i64| sql_str(&accesslake_transform::Timestamp(us).to_rfc3339());
        let from = self.from.map(|f| format!("time >= TIMESTAMPTZ {}", at(f)));
        let to = self.to.map(|t| format!("time < TIMESTAMPTZ {}", at(t)));
        from.into_iter().chain(to).collect()
    }
}

/// Quotes a string as a SQL literal.
pub fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A file name as a DuckDB glob pattern that matches only that name (for a name without `\`,
/// which DuckDB's glob takes for a separator: [`LakeDb::open`] refuses those with a glob
/// character).
pub fn glob_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '[' | '*' | '?' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// DuckDB's message, with a hint where one helps: a table that does not exist (the lake is the
/// view `logs`), and the ICU extension, which the bundled DuckDB is built without and which date
/// functions on a `TIMESTAMP WITH TIME ZONE` such as `time` need.
pub(crate) fn sql_error(msg: String) -> QueryError {
    let hint = if msg.contains("extension 'icu") {
        "this DuckDB has no ICU extension, which date functions on `time` (a TIMESTAMP WITH TIME \
         ZONE) need: cast it first, e.g. hour(time::TIMESTAMP) or date_trunc('day', \
         time::TIMESTAMP) (`time` is UTC); `logs` also has year, month, day and hour columns"
    } else if msg.starts_with("Catalog Error: Table with name") {
        "the lake is the view `logs`: SELECT … FROM logs"
    } else {
        return QueryError::Sql(msg);
    };
    QueryError::Sql(format!("{msg}\nhint: {hint}"))
}

/// The `query` command: prints the result on stdout, or DuckDB's error on stderr and exits 1.
pub fn run(cfg: &QueryConfig) -> Result<(), QueryError> {
    let range = TimeRange::default();
    let db = LakeDb::open_with(&cfg.lake, range, Summaries::None, &cfg.duckdb)?;
    let out = io::BufWriter::new(io::stdout().lock());
    let written = db
        .stream(
            &cfg.sql,
            cfg.format,
            |schema| ResultWriter::begin(out, cfg.format, schema, cfg.max_rows),
            |w, chunk| w.batch(chunk),
        )
        .and_then(|w| {
            w.end()
                .and_then(|mut out| out.flush())
                .map_err(QueryError::Output)
        });
    match written {
        // A closed pipe downstream (`| head`) is a normal way to stop, as for `parse`.
        Err(QueryError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_in_a_range() {
        let h = 1_548_115_200_000_000; // 2019-01-22T00:00:00Z
        let r = TimeRange {
            from: Some(h + HOUR / 2),
            to: Some(h + 3 * HOUR),
        };
        // The first hour is cut, the next two are whole, the fourth is outside.
        let hours = [h, h + HOUR, h + 2 * HOUR, h + 3 * HOUR];
        let overlaps = hours.map(|s| r.overlaps_hour(s));
        let covers = hours.map(|s| r.covers_hour(s));
        assert_eq!(overlaps, [true, true, true, false]);
        assert_eq!(covers, [false, true, true, false]);
        assert!(TimeRange::default().covers_hour(h));
        assert!(TimeRange::default().conditions().is_empty());
        assert_eq!(
            r.conditions(),
            [
                "time >= TIMESTAMPTZ '2019-01-22T00:30:00Z'",
                "time < TIMESTAMPTZ '2019-01-22T03:00:00Z'"
            ]
        );
    }
}

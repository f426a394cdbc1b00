//! The lake's read-only session: an in-memory DuckDB over the lake's committed Parquet files,
//! with a view `logs` (and, for `report`, `summary`), used by `query`, `report` and `check`.
//!
//! [`LakeDb::open`] lists the committed files itself (`year=*/month=*/day=*/hour=*/*.parquet`;
//! writers' hidden `.name.parquet.tmp` files and `_accesslake/` bookkeeping never match), creates
//! `logs` as `read_parquet([files], filename = true)` with the partition columns `year`, `month`,
//! `day` and `hour` (`INTEGER`, not columns of the files) read from the last four directories of
//! each file's path, so no directory above the lake becomes a column. It then locks the session
//! down: the files (and their names as glob patterns that match only them) are the only
//! `allowed_paths` (a lake path holding `[`, `*` or `?` is then also a pattern to DuckDB's
//! `glob()`, which may list a sibling file of the same name: listed, never opened), external
//! access is switched off and the
//! configuration locked, so no statement can read or write any other path. On top of that, only
//! `SELECT` and `EXPLAIN` statements are accepted (checked on the prepared statement's type, by
//! [`crate::query_guard`]), so `COPY … TO` a lake file, `CREATE`, `ATTACH`, `SET`, … are refused
//! before they run.
//!
//! Filters on the partition columns (`year`, `month`, `day`, `hour`) skip whole files; filters on
//! `time` skip row groups by their statistics (EXPLAIN ANALYZE shows both).

use crate::config::{DuckDbConfig, QueryFormat};
use crate::lake_files::Listing;
use crate::query::{glob_literal, sql_str, QueryError, TimeRange};
use crate::summary_use::{Candidate, Selected};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use duckdb::{ffi, Connection};
use std::io;
use std::path::Path;

/// Sets what DuckDB may use (`cfg`), before the session's configuration is locked; a value
/// DuckDB refuses is named with its flag.
fn resources(conn: &Connection, cfg: &DuckDbConfig) -> Result<(), QueryError> {
    let refused = |flag, value: &str, message: String| QueryError::Setting {
        flag,
        value: value.to_owned(),
        message,
    };
    let temp_dir = match &cfg.temp_dir {
        Some(p) => match p.to_str() {
            Some(p) => Some(p.to_owned()),
            None => {
                let shown = p.display().to_string();
                return Err(refused("--temp-dir", &shown, "not UTF-8".into()));
            }
        },
        None => None,
    };
    let settings = [
        ("--memory-limit", "memory_limit", cfg.memory_limit.clone()),
        (
            "--threads",
            "threads",
            (cfg.threads > 0).then(|| cfg.threads.to_string()),
        ),
        ("--temp-dir", "temp_directory", temp_dir),
    ];
    for (flag, name, value) in settings {
        let Some(value) = value else { continue };
        conn.execute_batch(&format!("SET {name} = {}", sql_str(&value)))
            .map_err(|e| refused(flag, &value, e.to_string()))?;
    }
    Ok(())
}

/// With the ICU extension, DuckDB shows a `TIMESTAMP WITH TIME ZONE` such as `time`, and computes
/// `hour(time)` or `date_trunc('day', time)`, in the session's time zone, which is the machine's
/// unless set: this sets it to UTC, the lake's. (A DuckDB linked from DuckDB's own release build
/// has ICU built in; the bundled one has none, and [`crate::query::sql_error`] hints at a cast
/// instead.)
fn utc(conn: &Connection) -> Result<(), QueryError> {
    let icu: bool = conn.query_row(
        "SELECT count(*) > 0 FROM duckdb_extensions() WHERE extension_name = 'icu' AND loaded",
        [],
        |row| row.get(0),
    )?;
    if icu {
        conn.execute_batch("SET TimeZone = 'UTC'")?;
    }
    Ok(())
}

/// The lake's own partition levels, from the end of a data file's path.
const PARTITION_TAIL: &str = "/year=([^/]*)/month=([^/]*)/day=([^/]*)/hour=([^/]*)/[^/]*$";

/// The view's `year`, `month`, `day` and `hour` columns (`INTEGER`), taken from the last four
/// directories of each file's path (`filename`), i.e. the lake's own levels only. DuckDB's
/// `hive_partitioning` would read every `key=value` directory of the absolute path, those above
/// the lake included (a lake under `year=1999/` got year 1999, one under `env=prod/` a column
/// `env`), and relative paths do not help: DuckDB resolves them (`file_search_path`) before it
/// reads the partitions. Pruning still works: DuckDB folds a filter on these columns into a
/// constant for each file's name and skips the files it rules out (EXPLAIN ANALYZE: "Scanning
/// Files: 1/N").
fn partition_columns() -> String {
    ["year", "month", "day", "hour"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                "CAST(regexp_extract(filename, {}, {}) AS INTEGER) AS {name}",
                sql_str(PARTITION_TAIL),
                i + 1
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error for a lake without data files: it names the committed dead-letter files, if any
/// (a lake whose every line so far was rejected holds only those).
fn empty_lake(lake: &Path) -> QueryError {
    let dir = crate::lake::Lake::rejected_dir(lake);
    // Unreadable directories are not counted: this is already an error's message.
    let count = crate::lake_files::dead_letter_files(lake).map_or(0, |f| f.len());
    match count {
        0 => QueryError::Empty(lake.to_path_buf()),
        count => QueryError::OnlyRejected {
            lake: lake.to_path_buf(),
            count,
            dir,
        },
    }
}

/// The raw database and a second, raw connection used only to classify statements.
struct RawDb {
    db: ffi::duckdb_database,
    con: ffi::duckdb_connection,
}

impl Drop for RawDb {
    fn drop(&mut self) {
        // SAFETY: both handles were opened by `LakeDb::open` and are closed exactly once, after
        // the safe `Connection` (declared before this field) is dropped.
        unsafe {
            if !self.con.is_null() {
                ffi::duckdb_disconnect(&mut self.con);
            }
            if !self.db.is_null() {
                ffi::duckdb_close(&mut self.db);
            }
        }
    }
}

/// A locked-down in-memory DuckDB session whose view `logs` reads the lake.
pub struct LakeDb {
    conn: Connection,
    raw: RawDb,
    /// Every file the views read (data files and summaries), as DuckDB is given them.
    read: Vec<String>,
    files: usize,
    summarised: usize,
    combined: bool,
}

/// Which views [`LakeDb::open_with`] creates besides `logs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Summaries {
    /// Only `logs`.
    #[default]
    None,
    /// Also `summary`: the [`crate::summary`] rows of the range, read from each file's summary
    /// where the file's whole hour is in the range and it has one, computed from the rows
    /// (filtered on `time`) for the other files. Where the summaries are many and small
    /// ([`crate::summary_use::combine_pays`]), `summary` is a table of them combined once
    /// ([`crate::summary::combine_sql`]), so that each of a report's queries does not read every
    /// file again; otherwise a view.
    Use,
    /// [`Summaries::Use`], as a view whatever the files (for checks).
    UseView,
    /// [`Summaries::Use`], combined whatever the files (for checks).
    UseCombined,
    /// `summary` computed from the rows of every file (the summaries are not read).
    Recompute,
}

impl Summaries {
    /// Whether the files' summaries are read.
    fn read(self) -> bool {
        matches!(
            self,
            Summaries::Use | Summaries::UseView | Summaries::UseCombined
        )
    }
}

impl LakeDb {
    /// Opens a session over the lake's files whose hour overlaps `range` (all when default).
    pub fn open(lake: &Path, range: TimeRange) -> Result<LakeDb, QueryError> {
        Self::open_with(lake, range, Summaries::None, &DuckDbConfig::default())
    }

    /// [`LakeDb::open`], with the view `summary` when asked for, and DuckDB's resources set.
    pub fn open_with(
        lake: &Path,
        range: TimeRange,
        summaries: Summaries,
        duckdb: &DuckDbConfig,
    ) -> Result<LakeDb, QueryError> {
        // The summaries of the range's hours are listed, not one `stat` per data file.
        let Listing {
            all,
            foreign,
            in_range,
            orphans,
            ..
        } = Listing::new(lake, &range, summaries.read())?;
        if let Some(first) = foreign.first() {
            tracing::warn!(
                files = foreign.len(),
                first = %first.display(),
                "Parquet files in the lake's hour directories that its writers did not write (a \
                 name of another form) are not read: `accesslake check` lists them"
            );
        }
        let settle = std::time::Duration::from_secs(1);
        for (source, partition, files) in crate::lake::unpublished(lake, settle) {
            tracing::warn!(
                source,
                partition,
                files,
                "committed files not in place yet (a commit was interrupted after its commit \
                 point, or is stalled): their rows are not read until the partition's writer \
                 publishes them (`accesslake ingest` of that file again, or `accesslake run`)"
            );
        }
        match crate::compact::unfinished(lake, settle) {
            Some(u) if u.earlier_version => tracing::warn!(
                journal = %u.journal.display(),
                "a merge of an earlier version's `accesslake compact` was interrupted: rows of \
                 the files it merged may be read twice until `accesslake compact` (or `expire`) \
                 finishes it"
            ),
            Some(u) => tracing::warn!(
                journal = %u.journal.display(),
                "a merge of `accesslake compact` was interrupted: its inputs are skipped here, \
                 but DuckDB's own read_parquet('LAKE/**/*.parquet') reads their rows twice \
                 until `accesslake compact` (or `expire`) finishes it"
            ),
            None => {}
        }
        if all.is_empty() {
            return Err(empty_lake(lake));
        }
        // Every name starts with the lake's own path, resolved once: DuckDB's glob resolves a
        // `..` by its text, not through a symbolic link before it.
        let root = std::fs::canonicalize(lake)
            .or_else(|_| std::path::absolute(lake))
            .unwrap_or_else(|_| lake.to_path_buf());
        // DuckDB takes file names as UTF-8 text.
        let absolute = |p: &Path| -> Result<String, QueryError> {
            let p = match p.strip_prefix(lake) {
                Ok(rel) => root.join(rel),
                Err(_) => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
            };
            let name = p.to_str().ok_or_else(|| QueryError::NotUtf8(p.clone()))?;
            if name.contains('\\') && name.contains(['[', '*', '?']) {
                return Err(QueryError::GlobAndBackslash(root.clone()));
            }
            Ok(name.to_owned())
        };
        let files: Vec<String> = in_range
            .iter()
            .map(|(f, _)| absolute(&f.path))
            .collect::<Result<_, _>>()?;
        // A range that holds no file still gets its views, typed by one file of the lake and
        // holding none of its rows: a quiet day's report is a report of zeros, not an error.
        let (read, no_rows) = match files.is_empty() {
            true => {
                tracing::warn!(
                    files_outside = all.len(),
                    "no lake files in the requested time range"
                );
                // The newest file: the one most likely to have this build's schema.
                let newest = all.iter().max_by_key(|f| f.hour_start).unwrap_or(&all[0]);
                (vec![absolute(&newest.path)?], " WHERE false")
            }
            false => (files.clone(), ""),
        };
        // Each file's summary, where it is to be read instead of the file: the range covers
        // the file's whole hour.
        let mut candidates = Vec::new();
        if summaries != Summaries::None {
            for ((f, summary), data) in in_range.iter().zip(&files) {
                let summary = summary
                    .as_deref()
                    .filter(|_| range.covers_hour(f.hour_start));
                candidates.push(Candidate {
                    data: data.clone(),
                    summary: summary.map(absolute).transpose()?,
                });
            }
        }
        // Summaries without a data file.
        crate::summary_use::warn_orphans(orphans);
        let Selected {
            summaries: summarised,
            aggregated: unsummarised,
            rows: summary_rows,
        } = crate::summary_use::select(candidates)?;
        let combined = match summaries {
            Summaries::UseCombined => true,
            Summaries::Use => crate::summary_use::combine_pays(summarised.len(), summary_rows),
            _ => false,
        };
        let mut raw = RawDb {
            db: std::ptr::null_mut(),
            con: std::ptr::null_mut(),
        };
        // SAFETY: plain C API calls on handles we own; failures are checked.
        let conn = unsafe {
            if ffi::duckdb_open(std::ptr::null(), &mut raw.db) != ffi::DuckDBSuccess {
                return Err(QueryError::Sql(
                    "cannot open an in-memory DuckDB database".into(),
                ));
            }
            if ffi::duckdb_connect(raw.db, &mut raw.con) != ffi::DuckDBSuccess {
                return Err(QueryError::Sql("cannot connect to DuckDB".into()));
            }
            Connection::open_from_raw(raw.db)?
        };
        resources(&conn, duckdb)?;
        utc(&conn)?;
        // `read_parquet` takes each name as a glob pattern: `[`, `*` and `?` in the lake's path
        // are written as one-character classes, so the name matches only itself.
        let list = |files: &[String]| {
            files
                .iter()
                .map(|f| sql_str(&glob_literal(f)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut views = format!(
            "CREATE VIEW logs AS SELECT * EXCLUDE (filename), {}
                 FROM read_parquet([{}], hive_partitioning = false, filename = true){no_rows};",
            partition_columns(),
            list(&read)
        );
        if summaries != Summaries::None {
            let mut parts = Vec::new();
            if files.is_empty() {
                parts.push(crate::summary::sql(&format!(
                    "(SELECT * FROM read_parquet([{}], hive_partitioning = false){no_rows})",
                    list(&read)
                )));
            }
            if !summarised.is_empty() {
                parts.push(format!(
                    "SELECT * FROM read_parquet([{}], hive_partitioning = false)",
                    list(&summarised)
                ));
            }
            if !unsummarised.is_empty() {
                let conds = range.conditions();
                let filter = match conds.is_empty() {
                    true => String::new(),
                    false => format!(" WHERE {}", conds.join(" AND ")),
                };
                parts.push(crate::summary::sql(&format!(
                    "(SELECT * FROM read_parquet([{}], hive_partitioning = false){filter})",
                    list(&unsummarised)
                )));
            }
            views.push_str(&format!(
                "CREATE VIEW summary_scan AS {};",
                parts.join("\nUNION ALL ")
            ));
        }
        // Combined once the session is locked: the table is in memory, its sources allowed.
        let summary = match (summaries, combined) {
            (Summaries::None, _) => String::new(),
            (_, true) => format!(
                "CREATE TEMP TABLE summary AS {};",
                crate::summary::combine_sql("summary_scan")
            ),
            (_, false) => "CREATE VIEW summary AS SELECT * FROM summary_scan;".into(),
        };
        let allowed: Vec<String> = read.iter().chain(&summarised).cloned().collect();
        let created = conn.execute_batch(&format!(
            "SET autoinstall_known_extensions = false;
             SET autoload_known_extensions = false;
             SET parquet_metadata_cache = true;
             {views}
             SET allowed_paths = [{}];
             SET enable_external_access = false;
             SET lock_configuration = true;
             {summary}",
            // Each name, and its pattern where that differs: DuckDB checks both.
            allowed
                .iter()
                .flat_map(|f| {
                    let pattern = glob_literal(f);
                    let differs = pattern != *f;
                    std::iter::once(sql_str(f)).chain(differs.then(|| sql_str(&pattern)))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
        // Combining the summaries reads them all.
        created.map_err(|e| explained(e, &allowed))?;
        Ok(LakeDb {
            conn,
            raw,
            read: allowed,
            files: files.len(),
            summarised: summarised.len(),
            combined,
        })
    }

    /// `e`, DuckDB's error from a statement of this session, as [`QueryError::Damaged`] naming
    /// the damaged files when it is a read error naming none (see [`crate::damage`]).
    pub fn explain(&self, e: duckdb::Error) -> QueryError {
        explained(e, &self.read)
    }

    /// Whether `summary` is a table of the summaries combined once (see [`Summaries::Use`]).
    pub fn summaries_combined(&self) -> bool {
        self.combined
    }

    /// How many files the view `summary` reads the summary of (the rest are aggregated).
    pub fn summarised_count(&self) -> usize {
        self.summarised
    }

    /// How many lake files the view `logs` reads.
    pub fn file_count(&self) -> usize {
        self.files
    }

    /// The session's connection (for trusted, internal queries such as the report's).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Refuses anything but exactly one `SELECT`, or `EXPLAIN [ANALYZE]` of one; bad SQL gives
    /// DuckDB's message.
    /// Returns the SQL to run (see [`crate::query_guard`]).
    pub fn check_read_only(&self, sql: &str) -> Result<String, QueryError> {
        // SAFETY: our own connection, open for the session's life; `&self` is not shared
        // across threads while this runs (`LakeDb` is not `Sync`).
        unsafe { crate::query_guard::check(self.raw.con, sql, true) }
    }

    /// Runs one read-only statement and hands its result over as DuckDB streams it: `begin`
    /// with the schema, then `each` chunk, so memory stays bounded whatever the result's size.
    /// An error found part-way through comes after the chunks before it.
    pub fn stream<T>(
        &self,
        sql: &str,
        format: QueryFormat,
        begin: impl FnOnce(SchemaRef) -> io::Result<T>,
        mut each: impl FnMut(&mut T, RecordBatch) -> io::Result<()>,
    ) -> Result<T, QueryError> {
        let sql = self.check_read_only(sql)?;
        // Columns Arrow cannot carry exactly are cast to text in DuckDB.
        // SAFETY: as in `check_read_only`.
        let (sql, digits, wrapped) =
            match unsafe { crate::query_render::rendered(self.raw.con, &sql, format)? } {
                Some((wrapped, digits)) => (wrapped, digits, true),
                None => (sql, Vec::new(), false),
            };
        // An error in the wrapped statement quotes the statement, not the wrapper.
        let err = |e: duckdb::Error| match self.explain(e) {
            QueryError::DuckDb(e) if wrapped => {
                QueryError::Sql(crate::query_render::unwrapped_message(&e.to_string()))
            }
            e => e,
        };
        // Exactly one statement (checked): `prepare` would run all but the last of several.
        let mut stmt = self.conn.prepare(&sql).map_err(err)?;
        let schema = stmt.stream_arrow([]).map_err(err)?.get_schema();
        let schema = crate::query_render::mark_digits(schema, &digits);
        let mut state = begin(schema).map_err(QueryError::Output)?;
        // `step`, not the stream's iterator: that one panics when DuckDB fails mid-result (a
        // damaged file found late in a scan); `step` returns the error.
        while let Some(chunk) = stmt.step().map_err(err)? {
            let chunk = arrow::record_batch::RecordBatch::from(&chunk);
            each(&mut state, chunk).map_err(QueryError::Output)?;
        }
        Ok(state)
    }
}

/// `e` as [`QueryError::Damaged`] when it is a read error naming none of `files`, which a search
/// of them explains; as it is otherwise.
fn explained(e: duckdb::Error, files: &[String]) -> QueryError {
    let message = e.to_string();
    match crate::damage::worth_a_search(&message, files) {
        true => QueryError::Damaged(crate::damage::explain(&message, files)),
        false => QueryError::DuckDb(e),
    }
}

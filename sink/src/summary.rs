//! Per-file summaries: the pre-aggregated rows `report` reads instead of scanning every row.
//!
//! Each data file is committed with a summary beside it in `_accesslake/summary/` (same relative
//! path, `.summary` instead of `.parquet`, Parquet inside; see [`crate::lake`]), published in the
//! same commit, so a summary always describes exactly the rows of its file. A summary holds one
//! row per group of each [`Section`]: requests, bytes, first and last instant per hour × status ×
//! `is_bot`; requests and bytes per country × region × city, per path and per referrer; and the
//! non-200 responses per client address × status with the address's ASN, organisation and
//! country. Summing summaries gives exactly what scanning the rows gives, at a fraction of the
//! rows: a 10 M-row lake of 73 hourly files has about 1 M summary rows.
//!
//! The columns are listed once ([`COLUMNS`]); the same aggregation exists twice, in Rust for the
//! writer ([`SummaryWriter`], which sees the rows as Arrow batches before they are encoded) and in
//! SQL for the reader ([`sql`], applied to files without a summary and to hours cut by
//! `--from`/`--to`). A test checks both give the same summary.

pub use crate::summary_sql::{combine_sql, sql, CLAMPED_SUM_OF_BYTES};
use crate::summary_use::DataDigest;
use crate::writer::WriterError;
use arrow::array::{
    ArrayBuilder, ArrayRef, AsArray, BooleanBuilder, Int32Builder, Int64Builder, StringArray,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rustc_hash::FxHashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// One hour in µs.
const HOUR_US: i64 = 3_600_000_000;

/// What one summary row aggregates (its `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Per UTC hour × status × `is_bot`: requests, bytes, first and last `time`.
    Traffic,
    /// Per country code × country × region × city: requests, bytes.
    Geo,
    /// Per path: requests, bytes.
    Path,
    /// Per referrer: requests, bytes.
    Referrer,
    /// Non-200 responses (status not 200, or none) per client address × status: requests and
    /// the smallest ASN, organisation, country code and country seen with the address.
    Client,
}

impl Section {
    pub const ALL: [Section; 5] = [
        Section::Traffic,
        Section::Geo,
        Section::Path,
        Section::Referrer,
        Section::Client,
    ];

    /// The `kind` value.
    pub fn name(self) -> &'static str {
        match self {
            Section::Traffic => "traffic",
            Section::Geo => "geo",
            Section::Path => "path",
            Section::Referrer => "referrer",
            Section::Client => "client",
        }
    }
}

/// A byte total held to the `BIGINT` range, as [`CLAMPED_SUM_OF_BYTES`] holds it.
fn clamp(total: i128) -> i64 {
    total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A summary column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Str,
    Int32,
    Int64,
    Bool,
    Time,
}

impl Type {
    fn arrow(self) -> DataType {
        match self {
            Type::Str => DataType::Utf8,
            Type::Int32 => DataType::Int32,
            Type::Int64 => DataType::Int64,
            Type::Bool => DataType::Boolean,
            Type::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    pub(crate) fn sql(self) -> &'static str {
        match self {
            Type::Str => "VARCHAR",
            Type::Int32 => "INTEGER",
            Type::Int64 => "BIGINT",
            Type::Bool => "BOOLEAN",
            Type::Time => "TIMESTAMPTZ",
        }
    }
}

/// The summary's columns, in order. Key columns carry their lake column's name and type.
pub const COLUMNS: [(&str, Type); 17] = [
    ("kind", Type::Str),
    ("hour", Type::Time),
    ("status", Type::Int32),
    ("is_bot", Type::Bool),
    ("country_code", Type::Str),
    ("country", Type::Str),
    ("region", Type::Str),
    ("city", Type::Str),
    ("path", Type::Str),
    ("referrer", Type::Str),
    ("client_ip", Type::Str),
    ("asn", Type::Int64),
    ("as_org", Type::Str),
    ("requests", Type::Int64),
    ("bytes", Type::Int64),
    ("first", Type::Time),
    ("last", Type::Time),
];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|(name, t)| Field::new(*name, t.arrow(), *name != "kind"))
            .collect::<Vec<_>>(),
    ))
});

/// Columns written with dictionary encoding: those with few distinct values. The others are
/// distinct within their section (paths, referrers, addresses, counts), or too few to repay a
/// dictionary's hashing (place names), and zstd compresses them anyway.
const DICTIONARY_COLUMNS: &[&str] = &["kind", "hour", "status", "is_bot", "country_code", "asn"];

/// Columns with min/max statistics: the ones a reader filters summaries on (`kind`, and `hour`
/// for `--from`/`--to`). Min/max of the other columns would prune nothing in a file this small.
const STATISTICS_COLUMNS: &[&str] = &["kind", "hour"];

/// The summary's Arrow schema.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Byte totals are kept as `i128` (no row count can overflow one) and clamped to `i64` when the
/// summary is built, as SQL clamps its `HUGEINT` sum.
#[derive(Debug, Clone, Copy)]
struct Traffic {
    requests: i64,
    bytes: i128,
    first: i64,
    last: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    requests: i64,
    bytes: i128,
}

/// The address details of a client group: SQL `min` of each (nulls ignored).
#[derive(Debug, Clone, Copy, Default)]
struct Client<'a> {
    requests: i64,
    country_code: Option<&'a str>,
    country: Option<&'a str>,
    asn: Option<i64>,
    as_org: Option<&'a str>,
}

/// Combines two nullable values as SQL aggregates do: `f` of both, a null losing to any value
/// (`combine(a, b, Ord::min)` is SQL `min`).
pub(crate) fn combine<T>(a: Option<T>, b: Option<T>, f: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

type Place<'a> = [Option<&'a str>; 4];

/// Aggregates lake rows into a summary and writes it as one Parquet file, shaped like
/// `ArrowWriter`: [`SummaryWriter::try_new`] → [`SummaryWriter::write`] (borrowing each batch
/// until [`SummaryWriter::finish`], which writes the file and hands it back for the caller to
/// fsync).
pub struct SummaryWriter<'a> {
    file: File,
    path: PathBuf,
    traffic: FxHashMap<(i64, Option<i32>, Option<bool>), Traffic>,
    geo: FxHashMap<Place<'a>, Sum>,
    paths: FxHashMap<Option<&'a str>, Sum>,
    referrers: FxHashMap<Option<&'a str>, Sum>,
    clients: FxHashMap<(Option<&'a str>, Option<i32>), Client<'a>>,
}

/// The column `name` of `batch`, downcast by `cast` (an `as_*_opt` of [`AsArray`]).
fn typed<'b, T: ?Sized>(
    batch: &'b RecordBatch,
    name: &str,
    cast: impl FnOnce(&'b ArrayRef) -> Option<&'b T>,
) -> Result<&'b T, WriterError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| WriterError::Summary(format!("the batch has no column {name:?}")))?;
    cast(column).ok_or_else(|| WriterError::Summary(format!("column {name:?} has the wrong type")))
}

fn strings<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b StringArray, WriterError> {
    typed(batch, name, |a| a.as_string_opt::<i32>())
}

impl<'a> SummaryWriter<'a> {
    /// Starts a summary to be written to `file` (`path` is only used in error messages).
    pub fn try_new(file: File, path: impl Into<PathBuf>) -> Result<Self, WriterError> {
        Ok(SummaryWriter {
            file,
            path: path.into(),
            traffic: FxHashMap::default(),
            geo: FxHashMap::default(),
            paths: FxHashMap::default(),
            referrers: FxHashMap::default(),
            clients: FxHashMap::default(),
        })
    }

    /// Adds a batch of lake rows (any schema holding the lake's columns).
    pub fn write(&mut self, batch: &'a RecordBatch) -> Result<(), WriterError> {
        let time = typed(batch, "time", |a| {
            a.as_primitive_opt::<TimestampMicrosecondType>()
        })?;
        let status = typed(batch, "status", |a| a.as_primitive_opt::<Int32Type>())?;
        let bytes = typed(batch, "bytes", |a| a.as_primitive_opt::<Int64Type>())?;
        let asn = typed(batch, "asn", |a| a.as_primitive_opt::<Int64Type>())?;
        let is_bot = typed(batch, "is_bot", |a| a.as_boolean_opt())?;
        let [cc, country, region, city, path, referrer, ip, as_org] = [
            "country_code",
            "country",
            "region",
            "city",
            "path",
            "referrer",
            "client_ip",
            "as_org",
        ]
        .map(|c| strings(batch, c));
        let (cc, country, region, city) = (cc?, country?, region?, city?);
        let (path, referrer, ip, as_org) = (path?, referrer?, ip?, as_org?);
        // One pass per section, so each pass keeps one map and its columns in cache.
        let bytes = || bytes.iter().map(|b| i128::from(b.unwrap_or(0)));
        for (((t, st), bot), b) in time.iter().zip(status).zip(is_bot).zip(bytes()) {
            // Rows always have a time; a null one would be a bug upstream, summarised at 0.
            let t = t.unwrap_or(0);
            let hour = t.div_euclid(HOUR_US) * HOUR_US;
            let e = self.traffic.entry((hour, st, bot)).or_insert(Traffic {
                requests: 0,
                bytes: 0,
                first: t,
                last: t,
            });
            e.requests += 1;
            e.bytes += b;
            e.first = e.first.min(t);
            e.last = e.last.max(t);
        }
        let places = cc.iter().zip(country).zip(region).zip(city);
        for ((((cc, country), region), city), b) in places.zip(bytes()) {
            let g = self.geo.entry([cc, country, region, city]).or_default();
            g.requests += 1;
            g.bytes += b;
        }
        for (map, column) in [(&mut self.paths, path), (&mut self.referrers, referrer)] {
            for (key, b) in column.iter().zip(bytes()) {
                let s = map.entry(key).or_default();
                s.requests += 1;
                s.bytes += b;
            }
        }
        let clients = status
            .iter()
            .zip(ip)
            .zip(cc)
            .zip(country)
            .zip(asn)
            .zip(as_org);
        for (((((st, ip), cc), country), asn), as_org) in clients {
            if st != Some(200) {
                let c = self.clients.entry((ip, st)).or_default();
                c.requests += 1;
                c.country_code = combine(c.country_code, cc, Ord::min);
                c.country = combine(c.country, country, Ord::min);
                c.asn = combine(c.asn, asn, Ord::min);
                c.as_org = combine(c.as_org, as_org, Ord::min);
            }
        }
        Ok(())
    }

    /// The summary as one batch: sections in [`Section::ALL`] order, traffic rows sorted, the
    /// others in the maps' order (deterministic: the hasher has no random seed).
    pub fn to_batch(&self) -> Result<RecordBatch, WriterError> {
        let mut b = Builder::default();
        let mut traffic: Vec<_> = self.traffic.iter().collect();
        traffic.sort_unstable_by_key(|(k, _)| **k);
        for (&(hour, status, is_bot), t) in traffic {
            b.row(Section::Traffic, Some(t.requests), Some(clamp(t.bytes)));
            b.hour.append_value(hour);
            b.status.append_option(status);
            b.is_bot.append_option(is_bot);
            b.first.append_value(t.first);
            b.last.append_value(t.last);
        }
        b.pad();
        for (place, s) in &self.geo {
            b.row(Section::Geo, Some(s.requests), Some(clamp(s.bytes)));
            b.country_code.append_option(place[0]);
            b.country.append_option(place[1]);
            b.region.append_option(place[2]);
            b.city.append_option(place[3]);
        }
        b.pad();
        for (section, map) in [
            (Section::Path, &self.paths),
            (Section::Referrer, &self.referrers),
        ] {
            for (key, s) in map {
                b.row(section, Some(s.requests), Some(clamp(s.bytes)));
                match section {
                    Section::Path => b.path.append_option(*key),
                    _ => b.referrer.append_option(*key),
                }
            }
            b.pad();
        }
        for (&(ip, status), c) in &self.clients {
            b.row(Section::Client, Some(c.requests), None);
            b.status.append_option(status);
            b.country_code.append_option(c.country_code);
            b.country.append_option(c.country);
            b.client_ip.append_option(ip);
            b.asn.append_option(c.asn);
            b.as_org.append_option(c.as_org);
        }
        b.pad();
        b.finish()
            .map_err(|e| WriterError::Summary(format!("building the summary batch: {e}")))
    }

    /// Writes the summary without fsyncing it: returns the open file, which the caller syncs
    /// (`File::sync_all`) before relying on it (a commit syncs all its files at once). The rows
    /// are encoded first; only then is `data` asked for the digest of the data file the summary
    /// describes, recorded in the footer (nothing when it gives `None`; see
    /// [`crate::summary_use`]), so that a caller encoding that file meanwhile is waited for only
    /// at the footer.
    pub fn finish(self, data: impl FnOnce() -> Option<DataDigest>) -> Result<File, WriterError> {
        let batch = self.to_batch()?;
        let perr = |source| WriterError::Parquet {
            path: self.path.clone(),
            source,
        };
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(crate::writer::ZSTD_LEVEL).unwrap_or_default(),
            ))
            .set_created_by(format!("accesslake {}", env!("CARGO_PKG_VERSION")));
        for (c, _) in COLUMNS {
            let dictionary = DICTIONARY_COLUMNS.contains(&c);
            let stats = if STATISTICS_COLUMNS.contains(&c) {
                EnabledStatistics::Chunk
            } else {
                EnabledStatistics::None
            };
            props = props
                .set_column_dictionary_enabled(ColumnPath::from(c), dictionary)
                .set_column_statistics_enabled(ColumnPath::from(c), stats);
        }
        let props = props.build();
        let mut w = ArrowWriter::try_new(&self.file, schema(), Some(props)).map_err(perr)?;
        w.write(&batch).map_err(perr)?;
        w.flush().map_err(perr)?;
        for kv in data().iter().flat_map(DataDigest::key_values) {
            w.append_key_value_metadata(kv);
        }
        w.close().map_err(perr)?;
        Ok(self.file)
    }
}

/// Arrow builders in [`COLUMNS`] order. A section appends its rows' values to the columns it
/// fills, then [`Builder::pad`] fills the columns it left out with one run of nulls.
#[derive(Default)]
struct Builder {
    kind: StringBuilder,
    hour: TimestampMicrosecondBuilder,
    status: Int32Builder,
    is_bot: BooleanBuilder,
    country_code: StringBuilder,
    country: StringBuilder,
    region: StringBuilder,
    city: StringBuilder,
    path: StringBuilder,
    referrer: StringBuilder,
    client_ip: StringBuilder,
    asn: Int64Builder,
    as_org: StringBuilder,
    requests: Int64Builder,
    bytes: Int64Builder,
    first: TimestampMicrosecondBuilder,
    last: TimestampMicrosecondBuilder,
}

impl Builder {
    fn row(&mut self, s: Section, requests: Option<i64>, bytes: Option<i64>) {
        self.kind.append_value(s.name());
        self.requests.append_option(requests);
        self.bytes.append_option(bytes);
    }

    /// Fills every column shorter than `kind` with nulls, up to its length.
    fn pad(&mut self) {
        let n = self.kind.len();
        for b in [&mut self.hour, &mut self.first, &mut self.last] {
            b.append_nulls(n - b.len());
        }
        for b in [&mut self.asn, &mut self.requests, &mut self.bytes] {
            b.append_nulls(n - b.len());
        }
        self.status.append_nulls(n - self.status.len());
        self.is_bot.append_nulls(n - self.is_bot.len());
        for b in [
            &mut self.country_code,
            &mut self.country,
            &mut self.region,
            &mut self.city,
            &mut self.path,
            &mut self.referrer,
            &mut self.client_ip,
            &mut self.as_org,
        ] {
            b.append_nulls(n - b.len());
        }
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        fn time(b: &mut TimestampMicrosecondBuilder) -> ArrayRef {
            Arc::new(b.finish().with_timezone("UTC"))
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.kind.finish()),
            time(&mut self.hour),
            Arc::new(self.status.finish()),
            Arc::new(self.is_bot.finish()),
            Arc::new(self.country_code.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.region.finish()),
            Arc::new(self.city.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.referrer.finish()),
            Arc::new(self.client_ip.finish()),
            Arc::new(self.asn.finish()),
            Arc::new(self.as_org.finish()),
            Arc::new(self.requests.finish()),
            Arc::new(self.bytes.finish()),
            time(&mut self.first),
            time(&mut self.last),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}

/// Writes the summary of `batches` (the rows of one data file) to `path` and returns the open,
/// complete file, not yet fsynced: a commit syncs all its staged files at once before its
/// commit point. `data` gives the data file's digest once its rows are encoded
/// ([`SummaryWriter::finish`]).
pub fn write_summary(
    path: &Path,
    batches: &[RecordBatch],
    data: impl FnOnce() -> Option<DataDigest>,
) -> Result<File, WriterError> {
    let file = File::create(path).map_err(|source| WriterError::Sync {
        path: path.into(),
        source,
    })?;
    let mut w = SummaryWriter::try_new(file, path)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish(data)
}

/// Writes `batches` as the data file at `path` and their summary at `summary_path`, the summary
/// on a thread of its own while the data file is encoded; returns both open, complete files, not
/// yet fsynced (the caller syncs them). The summary's footer records the data file's digest, read
/// back once it is written; it records none if that file cannot be read back (that summary is
/// then not checked), and when the data file fails, so does this.
pub fn write_file_and_summary(
    path: &Path,
    summary_path: &Path,
    batches: &[RecordBatch],
    meta: &crate::writer::FileMeta,
) -> Result<(File, File), WriterError> {
    std::thread::scope(|scope| {
        let (digest, digest_of_data) = std::sync::mpsc::channel();
        let summary = scope
            .spawn(|| write_summary(summary_path, batches, move || digest_of_data.recv().ok()));
        let data = crate::writer::write_file_unsynced(path, batches, meta);
        // Read back through a handle of its own: the writer's is write-only.
        let read_back = || DataDigest::of_whole(&File::open(path).ok()?).ok();
        if let Some(d) = data.as_ref().ok().and_then(|_| read_back()) {
            let _ = digest.send(d);
        }
        drop(digest);
        let summary = summary
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        Ok((data?, summary?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_column_settings_name_real_columns() {
        for c in DICTIONARY_COLUMNS.iter().chain(STATISTICS_COLUMNS) {
            assert!(
                COLUMNS.iter().any(|(name, _)| name == c),
                "{c} is not a summary column"
            );
        }
    }
}

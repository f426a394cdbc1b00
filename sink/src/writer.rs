//! One Parquet file of lake rows, shaped like arrow-rs's `ArrowWriter`:
//! [`LakeWriter::try_new`]`(file, &FileMeta)` → [`LakeWriter::write`]`(&batch)` (any number of
//! times) → [`LakeWriter::close`] → the file's Parquet metadata, after the data is fsynced
//! ([`LakeWriter::finish`] leaves the fsync to a caller that syncs several files at once, as a
//! commit does; [`write_file`] and [`write_file_unsynced`] do either in one call).
//!
//! Files are zstd-compressed with dictionary encoding and row groups of up to
//! [`ROW_GROUP_ROWS`] rows (a file's of equal size), and carry key-value metadata: the schema version, the source, the
//! source partition and the offset range they hold ([`FileMeta`]), so a file explains itself.

use accesslake_transform::Kind;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::PathBuf;

/// Maximum rows per row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The zstd level: fast, still several times smaller than uncompressed.
pub const ZSTD_LEVEL: i32 = 1;

/// Errors writing a Parquet file.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("writing Parquet {path}: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("syncing {path}: {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("summarising rows: {0}")]
    Summary(String),
}

/// What a lake file holds, recorded in its key-value metadata (keys `accesslake.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The source: a Kafka topic, or `ingest`.
    pub source: String,
    /// The source partition (Kafka partition or file id).
    pub partition: i32,
    /// The first and last source offset in the file.
    pub first_offset: i64,
    pub last_offset: i64,
    /// The event-time window the rows belong to (start, seconds since the epoch).
    pub window_start: i64,
}

impl FileMeta {
    fn key_values(&self) -> Vec<KeyValue> {
        let kv = |k: &str, v: String| KeyValue::new(format!("accesslake.{k}"), v);
        vec![
            kv(
                "schema_version",
                accesslake_transform::SCHEMA_VERSION.to_string(),
            ),
            kv("source", self.source.clone()),
            kv("partition", self.partition.to_string()),
            kv("first_offset", self.first_offset.to_string()),
            kv("last_offset", self.last_offset.to_string()),
            kv("window_start", self.window_start.to_string()),
        ]
    }
}

/// Integer columns whose values are mostly distinct but close to the previous row's (rows come in
/// log order): dictionary encoding would hash every value only to overflow its page, and plain
/// 8-byte values would be a quarter of what zstd has to read. `DELTA_BINARY_PACKED` stores the
/// differences in a few bits each (`src_offset`'s steps of 1, and `src_partition`, constant in a
/// file, in none).
pub const DELTA_COLUMNS: &[&str] = &["time", "src_partition", "src_offset"];

/// The only string columns with min/max statistics: short codes a filter may prune row groups
/// on. Other strings (paths, agents, addresses, names) never prune an hour's row group, and
/// comparing every value twice was a fifth of the write cost. Numbers and `time` keep theirs.
pub const STRING_STATS_COLUMNS: &[&str] = &["method", "protocol", "country_code"];

/// The writer properties every lake file uses.
pub fn writer_properties(meta: &FileMeta) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
        ))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(meta.key_values()))
        .set_created_by(format!("accesslake {}", env!("CARGO_PKG_VERSION")));
    for c in DELTA_COLUMNS {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(*c), false)
            .set_column_encoding(ColumnPath::from(*c), Encoding::DELTA_BINARY_PACKED);
    }
    let no_stats = crate::rows::lake_fields()
        .filter(|f| f.kind == Kind::Str && !STRING_STATS_COLUMNS.contains(&f.name));
    for f in no_stats {
        b = b.set_column_statistics_enabled(ColumnPath::from(f.name), EnabledStatistics::None);
    }
    b.build()
}

/// A Parquet writer for lake rows.
pub struct LakeWriter {
    inner: ArrowWriter<File>,
    path: PathBuf,
}

impl LakeWriter {
    /// Starts a file (`path` is only used in error messages).
    pub fn try_new(
        file: File,
        path: impl Into<PathBuf>,
        meta: &FileMeta,
    ) -> Result<LakeWriter, WriterError> {
        let path = path.into();
        let props = writer_properties(meta);
        let inner = ArrowWriter::try_new(file, crate::rows::lake_schema(), Some(props)).map_err(
            |source| WriterError::Parquet {
                path: path.clone(),
                source,
            },
        )?;
        Ok(LakeWriter { inner, path })
    }

    /// Appends rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WriterError> {
        self.inner
            .write(batch)
            .map_err(|source| WriterError::Parquet {
                path: self.path.clone(),
                source,
            })
    }

    /// Ends the current row group (the next rows start another); nothing when it is empty.
    pub fn flush(&mut self) -> Result<(), WriterError> {
        self.inner.flush().map_err(|source| WriterError::Parquet {
            path: self.path.clone(),
            source,
        })
    }

    /// Finishes the file and fsyncs it; returns its metadata.
    pub fn close(self) -> Result<ParquetMetaData, WriterError> {
        let path = self.path.clone();
        let (meta, file) = self.finish()?;
        file.sync_all()
            .map_err(|source| WriterError::Sync { path, source })?;
        Ok(meta)
    }

    /// Finishes the file (footer written) without fsyncing it: returns its metadata and the
    /// open file, which the caller syncs (`File::sync_all`) before relying on it.
    pub fn finish(mut self) -> Result<(ParquetMetaData, File), WriterError> {
        let meta = self.inner.finish().map_err(|source| WriterError::Parquet {
            path: self.path.clone(),
            source,
        })?;
        // `finish` wrote the footer; `into_inner` would try to flush a finished writer.
        let file = self
            .inner
            .inner()
            .try_clone()
            .map_err(|source| WriterError::Sync {
                path: self.path.clone(),
                source,
            })?;
        Ok((meta, file))
    }
}

/// Writes `batches`, in order, as one complete, fsynced file at `path` (created or truncated).
pub fn write_file(
    path: &std::path::Path,
    batches: &[RecordBatch],
    meta: &FileMeta,
) -> Result<ParquetMetaData, WriterError> {
    write_all(path, batches, meta)?.close()
}

/// As [`write_file`], but leaves the fsync to the caller: returns the open, complete file. A
/// commit syncs all its staged files at once, on a thread of its own, before its commit point.
pub fn write_file_unsynced(
    path: &std::path::Path,
    batches: &[RecordBatch],
    meta: &FileMeta,
) -> Result<File, WriterError> {
    Ok(write_all(path, batches, meta)?.finish()?.1)
}

fn write_all(
    path: &std::path::Path,
    batches: &[RecordBatch],
    meta: &FileMeta,
) -> Result<LakeWriter, WriterError> {
    let file = File::create(path).map_err(|source| WriterError::Sync {
        path: path.into(),
        source,
    })?;
    let mut w = LakeWriter::try_new(file, path, meta)?;
    // Row groups of equal size, none over `ROW_GROUP_ROWS`: 131,073 rows make two of 65,537 and
    // 65,536, not one full and one of a single row.
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let per_group = total.div_ceil(total.div_ceil(ROW_GROUP_ROWS).max(1)).max(1);
    let mut in_group = 0;
    for batch in batches {
        let mut at = 0;
        while at < batch.num_rows() {
            let take = (per_group - in_group).min(batch.num_rows() - at);
            w.write(&batch.slice(at, take))?;
            (at, in_group) = (at + take, in_group + take);
            if in_group == per_group {
                w.flush()?;
                in_group = 0;
            }
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_column_settings_name_real_columns() {
        let schema = crate::rows::lake_schema();
        for c in DELTA_COLUMNS.iter().chain(STRING_STATS_COLUMNS) {
            assert!(
                schema.field_with_name(c).is_ok(),
                "{c} is not a lake column"
            );
        }
        for c in STRING_STATS_COLUMNS {
            let f = schema.field_with_name(c).unwrap();
            assert_eq!(f.data_type(), &arrow::datatypes::DataType::Utf8, "{c}");
        }
    }
}

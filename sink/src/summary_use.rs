//! Which per-file summaries a lake session reads in place of the files' rows ([`select`]).
//!
//! A file's summary ([`crate::summary`]) stands in for the file when its whole hour lies in the
//! range, the summary is there, and the file is still the one it was committed with. For that
//! last point a summary records its data file's [`DataDigest`] as committed: its length in bytes
//! and a hash of its Parquet footer (key-value metadata [`DATA_BYTES_KEY`] and
//! [`DATA_FOOTER_KEY`]). The footer holds the file's row count, every column chunk's offset, size
//! and statistics, and the key-value metadata naming its source, partition and offsets, so two
//! lake files of one length still differ there. A data file whose digest is not the recorded one
//! (cut short, appended to, replaced by hand or by another tool) is aggregated from its rows
//! instead, with a warning that names it, so that `report` counts what `query` reads (or fails
//! where DuckDB cannot read the file). A change inside the data pages that keeps the length and
//! the footer is not seen there: for that the summary also records a CRC-32 of the whole file
//! ([`DATA_CRC_KEY`]), which `accesslake check` compares, reading every byte
//! ([`DataDigest::of_whole`]). Summaries written by builds before this check record no digest and
//! are read as before (those of its first commits, 3bdbb20 to 707b2a1, the length only, which
//! is then all that is compared). A summary left without its data file (the writer publishes the
//! data file first, so only a removal by hand or by another tool leaves one) is not read, and
//! [`warn_orphans`] says that rows are missing.

use crate::fingerprint::fnv1a64;
use crate::query::QueryError;
use crate::summary::COLUMNS;
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// The key-value metadata key under which a summary records its data file's length in bytes.
pub const DATA_BYTES_KEY: &str = "accesslake.data_file_bytes";

/// The key-value metadata key under which a summary records the hash of its data file's footer
/// (16 hex digits of FNV-1a 64 over the file's last 8 + footer-length bytes).
pub const DATA_FOOTER_KEY: &str = "accesslake.data_file_footer";

/// The key-value metadata key under which a summary records the CRC-32 (IEEE) of its data
/// file's every byte (8 hex digits).
pub const DATA_CRC_KEY: &str = "accesslake.data_file_crc32";

/// At most this many files are named one by one in the warnings of one session.
const NAMED: usize = 10;

/// What a summary records of its data file, and what is compared with the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataDigest {
    pub bytes: u64,
    /// `None` in a summary that recorded only the length.
    pub footer: Option<u64>,
    /// The CRC-32 of the whole file: `None` when not computed ([`DataDigest::of`]), or in a
    /// summary written before it was recorded.
    pub crc: Option<u32>,
}

impl DataDigest {
    /// The digest of an open Parquet file: its length, and the hash of its footer (the file's
    /// last 8 + footer-length bytes; of its last 8 bytes, or fewer, when those do not end in a
    /// footer).
    pub fn of(mut file: &File) -> std::io::Result<DataDigest> {
        let bytes = file.metadata()?.len();
        let mut tail = [0u8; 8];
        let tail_len = bytes.min(8);
        file.seek(SeekFrom::Start(bytes - tail_len))?;
        file.read_exact(&mut tail[..tail_len as usize])?;
        let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        let hashed = match &tail[4..] == b"PAR1" && footer_len + 8 <= bytes {
            true => footer_len + 8,
            false => tail_len,
        };
        let mut footer = vec![0u8; hashed as usize];
        file.seek(SeekFrom::Start(bytes - hashed))?;
        file.read_exact(&mut footer)?;
        Ok(DataDigest {
            bytes,
            footer: Some(fnv1a64(&footer)),
            crc: None,
        })
    }

    /// [`DataDigest::of`], and the CRC-32 of every byte of the file, read from its start.
    pub fn of_whole(mut file: &File) -> std::io::Result<DataDigest> {
        let (mut crc, mut buf) = (crc32fast::Hasher::new(), vec![0u8; 64 << 10]);
        file.seek(SeekFrom::Start(0))?;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => crc.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(DataDigest {
            crc: Some(crc.finalize()),
            ..Self::of(file)?
        })
    }

    /// The key-value metadata that records the digest in a summary.
    pub fn key_values(&self) -> Vec<KeyValue> {
        let footer = self.footer.map(|f| format!("{f:016x}"));
        let crc = self.crc.map(|c| format!("{c:08x}"));
        std::iter::once(KeyValue::new(DATA_BYTES_KEY.into(), self.bytes.to_string()))
            .chain(footer.map(|f| KeyValue::new(DATA_FOOTER_KEY.into(), f)))
            .chain(crc.map(|c| KeyValue::new(DATA_CRC_KEY.into(), c)))
            .collect()
    }

    /// The digest recorded in `kv`: `None` without either key. A value that does not parse, or a
    /// footer hash without a length (edited by hand), gives a length of `u64::MAX`, which no
    /// file matches.
    pub fn recorded(kv: &[KeyValue]) -> Option<DataDigest> {
        let value = |key: &str| {
            kv.iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.as_deref().unwrap_or("").trim())
        };
        let footer = value(DATA_FOOTER_KEY).map(|f| u64::from_str_radix(f, 16).ok());
        let crc = value(DATA_CRC_KEY).map(|c| u32::from_str_radix(c, 16).ok());
        // A footer hash or CRC without a length is a record edited by hand too.
        let bytes = match value(DATA_BYTES_KEY) {
            Some(b) => b.parse().ok(),
            None => {
                footer.or(crc.map(|c| c.map(u64::from)))?;
                None
            }
        };
        let valid = footer != Some(None) && crc != Some(None);
        Some(DataDigest {
            bytes: bytes.filter(|_| valid).unwrap_or(u64::MAX),
            footer: footer.flatten(),
            crc: crc.flatten(),
        })
    }

    /// Whether `found`, a file's digest now, is the one recorded (a recorded digest without a
    /// footer hash compares the length only; the CRCs are compared where both are known).
    fn matches(&self, found: &DataDigest) -> bool {
        self.bytes == found.bytes
            && self.footer.is_none_or(|f| found.footer == Some(f))
            && self.crc.is_none_or(|c| found.crc.is_none_or(|fc| fc == c))
    }
}

/// One data file of a session: its name as DuckDB reads it (absolute, UTF-8), and its summary's
/// name where that summary may stand in for it.
pub(crate) struct Candidate {
    pub data: String,
    pub summary: Option<String>,
}

/// The split of a session's files: summaries to read, and data files to aggregate.
#[derive(Debug, Default)]
pub(crate) struct Selected {
    pub summaries: Vec<String>,
    pub aggregated: Vec<String>,
    /// The rows of the summaries to read, as their footers give them.
    pub rows: u64,
}

/// Below this many summary rows per file on average, summaries are combined first.
const COMBINE_BELOW_ROWS_PER_FILE: u64 = 2_500;

/// From this many summaries on, combining them first may pay.
const COMBINE_FROM_FILES: usize = 64;

/// Whether a session reading `files` summaries of `rows` rows in all combines them into one
/// table first (one scan of every file, then a larger aggregation) rather than having each of
/// a report's five queries read every file. Each query pays per file (opening it, reading each
/// column's pages), the combining per row. Measured with this build on the benchmark log
/// (`doc/PERFORMANCE.md`): 1 M lines in 4,321 files of 334 rows, 3.93 s read file by file
/// against 1.61 s combined; in 73 files of 4,700 rows, 0.16 s against 0.14 s; 10 M lines in 73
/// files of about 14,000 rows, 0.23 s (81 MB) against 0.33 s (170 MB). Combining also holds
/// every section's groups in memory at once: on a lake of 1 M distinct paths in 4,321 files, a
/// reviewer measured 716 MB at the peak against 381 MB file by file.
pub(crate) fn combine_pays(files: usize, rows: u64) -> bool {
    files >= COMBINE_FROM_FILES && rows < files as u64 * COMBINE_BELOW_ROWS_PER_FILE
}

/// Splits `candidates`: a file whose summary is given and whose digest is the one its summary
/// recorded (or which recorded none) is read by its summary; every other file is aggregated.
pub(crate) fn select(candidates: Vec<Candidate>) -> Result<Selected, QueryError> {
    let pairs: Vec<(&str, &str)> = candidates
        .iter()
        .filter_map(|c| Some((c.data.as_str(), c.summary.as_deref()?)))
        .collect();
    let mut checked =
        on_threads(&pairs, 64, |&(data, summary)| check(data, summary, false)).into_iter();
    let (mut out, mut changed) = (Selected::default(), 0);
    for Candidate { data, summary } in candidates {
        let Some(summary) = summary else {
            out.aggregated.push(data);
            continue;
        };
        let (verdict, rows) = checked.next().unwrap_or((Ok(None), 0));
        match verdict.map_err(|reason| QueryError::NotASummary {
            path: summary.clone().into(),
            reason,
        })? {
            None => {
                out.summaries.push(summary);
                out.rows += rows;
            }
            Some(found) => {
                changed += 1;
                if changed <= NAMED {
                    tracing::warn!(
                        file = data.as_str(),
                        found = found.as_str(),
                        "a lake file is not the one its summary describes (its length or \
                         footer is not the commit's, the summary's record of it is not valid, or \
                         the file cannot be read): its rows are read instead"
                    );
                }
                out.aggregated.push(data);
            }
        }
    }
    if changed > NAMED {
        tracing::warn!(
            files = changed,
            "lake files not the ones their summaries describe, in all (the first {NAMED} named \
             above): their rows are read instead"
        );
    }
    Ok(out)
}

/// Why the data file `data` is not the one `summary` describes (what was found instead), or
/// `None` when it is, or when the summary recorded no digest, or its footer cannot be read
/// (DuckDB then names it as it reads it); and the summary's row count (0 when unknown). An
/// error when the footer reads but its columns are not a summary's (DuckDB would take the
/// first file's columns for all, and fail without naming it).
pub(crate) fn check(
    data: &str,
    summary: &str,
    whole: bool,
) -> (Result<Option<String>, String>, u64) {
    let Some(meta) = File::open(summary)
        .ok()
        .and_then(|f| ParquetMetaDataReader::new().parse_and_finish(&f).ok())
    else {
        return (Ok(None), 0);
    };
    let columns: Vec<&str> = (meta.file_metadata().schema_descr().columns().iter())
        .map(|c| c.name())
        .collect();
    let expected: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    if columns != expected {
        let reason = format!("its columns are {}", columns.join(", "));
        return (Err(reason), 0);
    }
    let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    let recorded = meta.file_metadata().key_value_metadata();
    match recorded.and_then(|kv| DataDigest::recorded(kv)) {
        None => (Ok(None), rows),
        Some(want) => (Ok(mismatch(data, want, whole)), rows),
    }
}

/// How [`mismatch`] begins when only the CRC differs (the length and footer are the committed
/// ones).
pub(crate) const BYTES_DIFFER: &str = "its bytes differ from the committed file's";

/// What differs between the data file `data` and the digest `want` recorded of it, if anything;
/// with `whole`, the file's every byte is read and its CRC compared too.
fn mismatch(data: &str, want: DataDigest, whole: bool) -> Option<String> {
    let found = File::open(data).and_then(|f| match whole {
        true => DataDigest::of_whole(&f),
        false => DataDigest::of(&f),
    });
    match found {
        Ok(found) if want.matches(&found) => None,
        Ok(_) if want.bytes == u64::MAX => Some("the summary's record of it is not valid".into()),
        Ok(found) if found.bytes != want.bytes => Some(format!(
            "{} bytes, committed with {}",
            found.bytes, want.bytes
        )),
        Ok(found) if found.footer != want.footer && want.footer.is_some() => {
            Some("another footer than the committed file's, of the same length".into())
        }
        Ok(found) => Some(format!(
            "{BYTES_DIFFER}: CRC-32 {:08x}, committed with {:08x}, same length and footer",
            found.crc.unwrap_or(0),
            want.crc.unwrap_or(0)
        )),
        Err(e) => Some(format!("cannot read it: {e}")),
    }
}

/// `f` of each item, on up to one thread per core, in order, each thread taking at least
/// `min_per_thread` items (a footer check takes tens of microseconds, and a lake of short windows
/// has thousands of files: up to 64 of them, one thread).
pub(crate) fn on_threads<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(min_per_thread.max(1));
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Warns, once, of summaries whose data file is not in the lake: the rows of a committed file
/// are gone, and neither `query` nor `report` counts them.
pub(crate) fn warn_orphans(orphans: Vec<PathBuf>) {
    let Some(first) = orphans.first() else {
        return;
    };
    tracing::warn!(
        summaries = orphans.len(),
        first = %first.display(),
        "committed data files are missing from the lake (removed by hand or by another tool?): \
         their summaries are there, their rows are not, and they are not counted"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_round_trips_and_a_hand_edited_one_matches_nothing() {
        let d = DataDigest {
            bytes: 56_108,
            footer: Some(0x3be4_6ecd_2c1c_9856),
            crc: None,
        };
        assert_eq!(DataDigest::recorded(&d.key_values()), Some(d));
        assert!(d.matches(&d));
        assert!(!d.matches(&DataDigest {
            footer: Some(1),
            ..d
        }));
        assert!(!d.matches(&DataDigest { bytes: 1, ..d }));
        // A length alone (no footer hash recorded) compares the length only.
        let length_only = DataDigest::recorded(&d.key_values()[..1]).unwrap();
        assert_eq!(length_only.footer, None);
        assert!(length_only.matches(&DataDigest {
            footer: Some(1),
            ..d
        }));
        assert_eq!(DataDigest::recorded(&[]), None);
        let edited = |bytes: &str, footer: &str| {
            DataDigest::recorded(&[
                KeyValue::new(DATA_BYTES_KEY.into(), bytes.to_string()),
                KeyValue::new(DATA_FOOTER_KEY.into(), footer.to_string()),
            ])
            .unwrap()
        };
        assert!(edited("56108", "3be46ecd2c1c9856").matches(&d));
        assert!(!edited("abc", "3be46ecd2c1c9856").matches(&d));
        assert!(!edited("56108", "xyz").matches(&d));
        let footer_only = [KeyValue::new(
            DATA_FOOTER_KEY.into(),
            "3be46ecd2c1c9856".to_string(),
        )];
        assert!(!DataDigest::recorded(&footer_only).unwrap().matches(&d));
    }

    #[test]
    fn a_crc_is_recorded_and_compared_only_where_both_sides_know_it() {
        let d = DataDigest {
            bytes: 56_108,
            footer: Some(0x3be4_6ecd_2c1c_9856),
            crc: Some(0x0bad_cafe),
        };
        assert_eq!(DataDigest::recorded(&d.key_values()), Some(d));
        assert!(d.matches(&d));
        let other = DataDigest {
            crc: Some(0x0bad_caff),
            ..d
        };
        assert!(!d.matches(&other), "a read of every byte tells them apart");
        let footer_read = DataDigest { crc: None, ..d };
        assert!(
            d.matches(&footer_read),
            "a footer check does not read the bytes"
        );
        assert!(footer_read.matches(&d), "an older summary records no CRC");
        // Edited by hand: a CRC that does not parse, or one without a length.
        let mut kv = d.key_values();
        kv[2] = KeyValue::new(DATA_CRC_KEY.into(), "not hex".to_string());
        assert!(!DataDigest::recorded(&kv).unwrap().matches(&d));
        let crc_only = [KeyValue::new(DATA_CRC_KEY.into(), "0badcafe".to_string())];
        assert!(!DataDigest::recorded(&crc_only).unwrap().matches(&d));
    }

    #[test]
    fn the_digest_hashes_the_footer_and_survives_files_too_short_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let digest = |bytes: &[u8]| {
            let p = dir.path().join("f");
            std::fs::write(&p, bytes).unwrap();
            DataDigest::of(&File::open(&p).unwrap()).unwrap()
        };
        // Footer length 3, then the magic: the last 3 + 8 bytes are hashed, not what precedes.
        let file = |head: &[u8], footer: &[u8]| [head, footer, &[3, 0, 0, 0], b"PAR1"].concat();
        let a = digest(&file(b"PAR1 rows", b"xyz"));
        assert_eq!(a.bytes, 20);
        assert_eq!(a, digest(&file(b"PAR1 ROWS", b"xyz")));
        assert_ne!(a, digest(&file(b"PAR1 rows", b"xyZ")));
        // Not a Parquet tail, or shorter than one: the last bytes, whatever there are.
        assert_eq!(digest(b"").bytes, 0);
        assert_ne!(digest(b"abc"), digest(b"abd"));
        assert_ne!(digest(&[9, 0, 0, 0, b'P', b'A', b'R', b'1']).footer, None);
        // The whole file's CRC: any byte, not only the footer's.
        let whole = |bytes: &[u8]| {
            let p = dir.path().join("w");
            std::fs::write(&p, bytes).unwrap();
            DataDigest::of_whole(&File::open(&p).unwrap()).unwrap()
        };
        let (a, b) = (file(b"PAR1 rows", b"xyz"), file(b"PAR1 ROWS", b"xyz"));
        assert_eq!(whole(&a).crc, Some(crc32fast::hash(&a)));
        assert_eq!(
            (whole(&a).bytes, whole(&a).footer),
            (digest(&a).bytes, digest(&a).footer)
        );
        assert_ne!(whole(&a), whole(&b));
        assert_eq!(digest(&a), digest(&b));
    }
}

//! The committed files of a lake, listed by walking its `year=/month=/day=/hour=` directories:
//! the data files ([`lake_files`]) and their summaries ([`summary_files`]), each with the UTC
//! hour its directory names, and the data files of a time range paired with their summaries
//! ([`Listing`]). Hidden files (a writer's `.name.tmp`) and anything outside the four levels never
//! match; `_accesslake/` holds no `year=` directory at the top.

use crate::query::{QueryError, TimeRange};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// One committed lake file and the UTC hour its partition holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LakeFile {
    /// Start of the partition's hour, µs since the epoch.
    pub hour_start: i64,
    pub path: PathBuf,
}

/// Lists the committed Parquet files of a lake, sorted by hour then path.
pub fn lake_files(lake: &Path) -> Result<Vec<LakeFile>, QueryError> {
    lake_dir(lake)?;
    let mut out = Vec::new();
    walk(lake, 0, [0; 4], ".parquet", &mut out)?;
    out.sort();
    Ok(out)
}

/// Checks that `lake` is a directory: an error says it is missing or not one.
pub fn lake_dir(lake: &Path) -> Result<(), QueryError> {
    match std::fs::metadata(lake) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(QueryError::NotADirectory(lake.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(QueryError::Missing(lake.to_path_buf()))
        }
        Err(source) => {
            return Err(QueryError::Io {
                path: lake.to_path_buf(),
                source,
            })
        }
    }
    Ok(())
}

/// Lists the lake's summary files (`_accesslake/summary/year=…/…/hour=…/*.summary`), sorted;
/// none when the lake has no summary directory.
pub fn summary_files(lake: &Path) -> Result<Vec<LakeFile>, QueryError> {
    let dir = lake.join(crate::lake::META_DIR).join("summary");
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(&dir, 0, [0; 4], ".summary", &mut out)?;
    }
    out.sort();
    Ok(out)
}

/// The lake's committed dead-letter files (`_accesslake/rejected/<source>/*.jsonl`, not a
/// writer's staged `.name.tmp`), sorted; none when the lake has no dead-letter directory.
pub fn dead_letter_files(lake: &Path) -> Result<Vec<PathBuf>, QueryError> {
    let list = |dir: &Path| -> Result<Vec<std::fs::DirEntry>, QueryError> {
        match std::fs::read_dir(dir) {
            Ok(entries) => entries.collect::<io::Result<_>>(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
        .map_err(|source| QueryError::Io {
            path: dir.to_path_buf(),
            source,
        })
    };
    let mut out = Vec::new();
    for source in list(&crate::lake::Lake::rejected_dir(lake))? {
        if !source.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for file in list(&source.path())? {
            let name = file.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".jsonl")
                && !name.starts_with('.')
                && file.file_type().is_ok_and(|t| t.is_file())
            {
                out.push(file.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A lake's committed data files, those of a time range paired with their summaries.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every committed data file of the lake, sorted by hour then path.
    pub all: Vec<LakeFile>,
    /// Parquet files in the range's hour directories with names of another form
    /// ([`name_parts`]): not the lake's, so not in `all` or `in_range` (sorted).
    pub foreign: Vec<PathBuf>,
    /// The data files whose hour overlaps the range, in that order, each with its summary's path
    /// when one was listed.
    pub in_range: Vec<(LakeFile, Option<PathBuf>)>,
    /// Listed summaries of the range's hours whose data file was not listed: the file's rows are
    /// missing from the lake (sorted).
    pub orphans: Vec<PathBuf>,
}

impl Listing {
    /// Lists `lake`'s data files and, when `summaries`, pairs those of `range` with their
    /// summaries. Summaries are listed first: a commit publishes a data file before its summary,
    /// so a summary listed without its data file listed after it was removed, not still being
    /// published.
    pub fn new(lake: &Path, range: &TimeRange, summaries: bool) -> Result<Listing, QueryError> {
        let mut listed: BTreeSet<PathBuf> = match summaries {
            true => summary_files(lake)?
                .into_iter()
                .filter(|f| range.overlaps_hour(f.hour_start))
                .map(|f| f.path)
                .collect(),
            false => BTreeSet::new(),
        };
        let (all, foreign): (Vec<LakeFile>, Vec<LakeFile>) = lake_files(lake)?
            .into_iter()
            .partition(|f| name_parts(&f.path).is_some());
        let foreign = foreign
            .into_iter()
            .filter(|f| range.overlaps_hour(f.hour_start))
            .map(|f| f.path)
            .collect();
        let in_range = all
            .iter()
            .filter(|f| range.overlaps_hour(f.hour_start))
            .map(|f| {
                let summary = f
                    .path
                    .strip_prefix(lake)
                    .ok()
                    .and_then(|rel| rel.to_str())
                    .map(|rel| lake.join(crate::lake::Lake::summary_target(rel)))
                    .filter(|s| listed.remove(s));
                (f.clone(), summary)
            })
            .collect();
        Ok(Listing {
            all,
            foreign,
            in_range,
            orphans: listed.into_iter().collect(),
        })
    }
}

/// A data file's source, partition and first offset, from its name
/// (`<source>-p<partition>-o<first>.parquet`, [`crate::lake::Lake::data_target`]); `None` for a
/// name of another form: not a file this lake's writers wrote.
pub fn name_parts(path: &Path) -> Option<(String, i32, i64)> {
    let stem = path.file_name()?.to_str()?.strip_suffix(".parquet")?;
    let (rest, first) = stem.rsplit_once("-o")?;
    let (source, partition) = rest.rsplit_once("-p")?;
    let partition: i32 = partition.parse().ok().filter(|p| *p >= 0)?;
    Some((source.to_string(), partition, first.parse().ok()?))
}

const PARTS: [&str; 4] = ["year=", "month=", "day=", "hour="];

fn walk(
    dir: &Path,
    depth: usize,
    key: [u32; 4],
    extension: &str,
    out: &mut Vec<LakeFile>,
) -> Result<(), QueryError> {
    let io_err = |source| QueryError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_dir = entry.file_type().map_err(io_err)?.is_dir();
        if depth < 4 {
            let value = name
                .strip_prefix(PARTS[depth])
                .and_then(|v| v.parse::<u32>().ok());
            if let (true, Some(v)) = (is_dir, value) {
                let mut key = key;
                key[depth] = v;
                walk(&entry.path(), depth + 1, key, extension, out)?;
            }
        } else if !is_dir && name.ends_with(extension) && !name.starts_with('.') {
            let hour = i32::try_from(key[0])
                .ok()
                .and_then(|year| chrono::NaiveDate::from_ymd_opt(year, key[1], key[2]))
                .and_then(|d| d.and_hms_opt(key[3], 0, 0));
            if let Some(hour) = hour {
                out.push(LakeFile {
                    hour_start: hour.and_utc().timestamp_micros(),
                    path: entry.path(),
                });
            }
        }
    }
    Ok(())
}

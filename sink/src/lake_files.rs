//! The committed files of a lake, listed by walking its `year=/month=/day=/hour=` directories:
//! the data files ([`lake_files`]) and their summaries ([`summary_files`]), each with the UTC
//! hour its directory names, and the data files of a time range paired with their summaries
//! ([`Listing`]). Hidden files (a writer's `.name.tmp`) and anything outside the four levels never
//! match; `_accesslake/` holds no `year=` directory at the top.

use crate::query::{QueryError, TimeRange};
use std::collections::{BTreeMap, BTreeSet};
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
/// writer's staged `.name.tmp`), sorted, but for those a merged one stands for
/// ([`dead_letters`]); none when the lake has no dead-letter directory.
pub fn dead_letter_files(lake: &Path) -> Result<Vec<PathBuf>, QueryError> {
    dead_letters(lake).map(|d| d.files)
}

/// A lake's committed dead-letter files.
#[derive(Debug, Default)]
pub struct DeadLetters {
    /// Those to read, sorted.
    pub files: Vec<PathBuf>,
    /// Those a merged file of the same source and partition stands for (its name's span of
    /// first offsets holds theirs, as for data files: [`covered`]): a merge's inputs not deleted
    /// yet, skipped by every reader (sorted).
    pub covered: Vec<PathBuf>,
}

/// Lists the lake's committed dead-letter files, and which of them a merged one stands for,
/// under [`crate::listing_lock`].
pub fn dead_letters(lake: &Path) -> Result<DeadLetters, QueryError> {
    crate::listing_lock::listed(lake, || list_dead_letters(lake))
}

fn list_dead_letters(lake: &Path) -> Result<DeadLetters, QueryError> {
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
    let mut all = Vec::new();
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
                all.push(file.path());
            }
        }
    }
    let covered = covered_in_groups(all.iter().filter_map(|path| {
        let name = DataName::parse_dead_letters(path)?;
        let key = (path.parent()?.to_path_buf(), name.partition);
        Some((key, name.span(), name.through.is_some(), path.clone()))
    }));
    all.retain(|p| !covered.contains(p));
    all.sort();
    Ok(DeadLetters {
        files: all,
        covered: covered.into_iter().collect(),
    })
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
    /// missing from the lake (sorted). Not those of a merge's inputs ([`covered`]).
    pub orphans: Vec<PathBuf>,
    /// Data files of the range's hours that a merged file stands for ([`covered`]), not in `all`
    /// or `in_range`: left by a merge that is under way or was interrupted (sorted).
    pub covered: Vec<PathBuf>,
}

impl Listing {
    /// Lists `lake`'s data files and, when `summaries`, pairs those of `range` with their
    /// summaries. Summaries are listed first: a commit publishes a data file before its summary,
    /// so a summary listed without its data file listed after it was removed, not still being
    /// published. A merge's inputs ([`covered`]) are left out with their summaries, whether
    /// their summary or data file went first.
    /// The listing is taken under [`crate::listing_lock`], so a merge's move and deletions are
    /// wholly before or after it.
    pub fn new(lake: &Path, range: &TimeRange, summaries: bool) -> Result<Listing, QueryError> {
        crate::listing_lock::listed(lake, || Self::list(lake, range, summaries))
    }

    fn list(lake: &Path, range: &TimeRange, summaries: bool) -> Result<Listing, QueryError> {
        let mut listed: BTreeSet<PathBuf> = match summaries {
            true => summary_files(lake)?
                .into_iter()
                .filter(|f| range.overlaps_hour(f.hour_start))
                .map(|f| f.path)
                .collect(),
            false => BTreeSet::new(),
        };
        let (mut all, foreign): (Vec<LakeFile>, Vec<LakeFile>) = lake_files(lake)?
            .into_iter()
            .partition(|f| name_parts(&f.path).is_some());
        let inputs = covered(&all);
        let covered_in_range = all
            .iter()
            .filter(|f| inputs.contains(&f.path) && range.overlaps_hour(f.hour_start))
            .map(|f| f.path.clone())
            .collect();
        all.retain(|f| !inputs.contains(&f.path));
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
        // A summary whose data file is gone, of a name that a listed merged file stands for: the
        // merge deleted its input after this listing read the summaries.
        let data_of = |summary: &Path| -> Option<LakeFile> {
            let rel = summary.strip_prefix(lake).ok()?.to_str()?;
            let data = rel
                .strip_prefix(crate::lake::META_DIR)?
                .strip_prefix("/summary/")?
                .strip_suffix(".summary")?;
            Some(LakeFile {
                hour_start: 0, // not looked at by `covered`
                path: lake.join(format!("{data}.parquet")),
            })
        };
        let orphans = listed
            .into_iter()
            .filter(|s| {
                let Some(data) = data_of(s) else { return true };
                let mut candidates: Vec<LakeFile> = all
                    .iter()
                    .filter(|f| f.path.parent() == data.path.parent())
                    .cloned()
                    .collect();
                candidates.push(data.clone());
                !covered(&candidates).contains(&data.path)
            })
            .collect();
        Ok(Listing {
            all,
            foreign,
            in_range,
            orphans,
            covered: covered_in_range,
        })
    }
}

/// A data file's name, parsed: `<source>-p<partition>-o<first>.parquet` as a writer names it
/// ([`crate::lake::Lake::data_target`]), or `<source>-p<partition>-o<first>-o<through>.parquet`
/// for a file `compact` merged ([`DataName::merged`]): it holds the rows of the partition's files
/// of its hour whose first offsets lie from `first` through `through`, and once it is in place
/// any such file still there is one of its inputs, not yet deleted ([`covered`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataName {
    pub source: String,
    pub partition: i32,
    /// The first offset of the file's rows.
    pub first: i64,
    /// For a merged file, its last input's own `through` (its first offset, for a file a writer
    /// wrote); `None` for a file a writer wrote.
    pub through: Option<i64>,
}

impl DataName {
    /// The name of `path`; `None` for a name of another form: not a file this lake's writers or
    /// `compact` wrote.
    pub fn parse(path: &Path) -> Option<DataName> {
        Self::parse_stem(path.file_name()?.to_str()?.strip_suffix(".parquet")?)
    }

    fn parse_stem(stem: &str) -> Option<DataName> {
        let plain = |stem: &str| -> Option<(String, i32, i64)> {
            let (rest, first) = stem.rsplit_once("-o")?;
            let (source, partition) = rest.rsplit_once("-p")?;
            let partition: i32 = partition.parse().ok().filter(|p| *p >= 0)?;
            Some((source.to_string(), partition, digits(first)?))
        };
        // A plain name's last `-p` is followed by digits only, so no plain name parses as a
        // merged one too.
        let (source, partition, first, through) = match plain(stem) {
            Some((s, p, f)) => (s, p, f, None),
            None => {
                let (rest, through) = stem.rsplit_once("-o")?;
                let (s, p, f) = plain(rest)?;
                (s, p, f, Some(digits(through).filter(|t| *t >= f)?))
            }
        };
        Some(DataName {
            source,
            partition,
            first,
            through,
        })
    }

    /// The partition and first offsets of a dead-letter file's name
    /// (`p<partition>-o<first>.jsonl`, [`crate::lake::Lake::rejected_target`], or
    /// `p<partition>-o<first>-o<through>.jsonl` for one `compact` merged; the source is its
    /// directory's name), as a [`DataName`] with an empty source.
    pub fn parse_dead_letters(path: &Path) -> Option<DataName> {
        let stem = path.file_name()?.to_str()?.strip_suffix(".jsonl")?;
        // `p<partition>-o<first>…` is a data file's name with an empty source.
        stem.starts_with('p').then_some(())?;
        Self::parse_stem(&format!("-{stem}")).map(|n| DataName {
            source: String::new(),
            ..n
        })
    }

    /// The name of a file merged from a partition's files of `hour_dir` (lake-relative) whose
    /// first offsets run from `first` through `through`.
    pub fn merged(
        hour_dir: &str,
        source: &str,
        partition: i32,
        first: i64,
        through: i64,
    ) -> String {
        format!("{hour_dir}/{source}-p{partition}-o{first}-o{through}.parquet")
    }

    /// The first offsets of the files this one stands for: `first` through `through` (`first`
    /// alone for a file a writer wrote).
    pub fn span(&self) -> (i64, i64) {
        (self.first, self.through.unwrap_or(self.first))
    }
}

/// A decimal offset: ASCII digits only (no sign, no `+`), as the writers print them.
fn digits(s: &str) -> Option<i64> {
    match !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        true => s.parse().ok(),
        false => None,
    }
}

/// A data file's source, partition and first offset, from its name ([`DataName`]); `None` for a
/// name of another form: not a file this lake's writers wrote.
pub fn name_parts(path: &Path) -> Option<(String, i32, i64)> {
    DataName::parse(path).map(|n| (n.source, n.partition, n.first))
}

/// The data files among `files` that a merged file of the same hour directory, source and
/// partition stands for (their span lies within its own): a merge's inputs still there after the
/// merged file took their place, because its deletions were interrupted or are under way. Every
/// reader of this program skips them; `compact` and `expire` delete them.
pub fn covered(files: &[LakeFile]) -> BTreeSet<PathBuf> {
    covered_in_groups(files.iter().filter_map(|f| {
        let name = DataName::parse(&f.path)?;
        let key = (
            f.path.parent()?.to_path_buf(),
            name.source.clone(),
            name.partition,
        );
        Some((key, name.span(), name.through.is_some(), f.path.clone()))
    }))
}

/// The paths among `entries` (a group, a span of first offsets, whether a merge made it, the
/// path) whose span lies within that of a merged entry of their group, other than itself.
fn covered_in_groups<K: Ord>(
    entries: impl Iterator<Item = (K, (i64, i64), bool, PathBuf)>,
) -> BTreeSet<PathBuf> {
    type Entry = ((i64, i64), bool, PathBuf);
    let mut groups: BTreeMap<K, Vec<Entry>> = BTreeMap::new();
    for (key, span, merged, path) in entries {
        groups.entry(key).or_default().push((span, merged, path));
    }
    let mut out = BTreeSet::new();
    for group in groups.values().filter(|g| g.len() > 1) {
        for ((first, through), _, merged) in group.iter().filter(|g| g.1) {
            for ((f, t), _, path) in group {
                if path != merged && first <= f && t <= through {
                    out.insert(path.clone());
                }
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_written_and_merged_files() {
        let p = |s: &str| DataName::parse(Path::new(s));
        let name = |source: &str, partition, first, through| DataName {
            source: source.into(),
            partition,
            first,
            through,
        };
        assert_eq!(
            p("a/requests.parsed-p2-o17.parquet"),
            Some(name("requests.parsed", 2, 17, None))
        );
        assert_eq!(
            p("a/requests.parsed-p2-o17-o40.parquet"),
            Some(name("requests.parsed", 2, 17, Some(40)))
        );
        // A source may hold `-p` and `-o` itself: a written name is read first.
        assert_eq!(
            p("x-p1-o2-p3-o4.parquet"),
            Some(name("x-p1-o2", 3, 4, None))
        );
        assert_eq!(
            p("x-o5-p3-o4-o9.parquet"),
            Some(name("x-o5", 3, 4, Some(9)))
        );
        assert_eq!(p("x-p3-o4-o4.parquet"), Some(name("x", 3, 4, Some(4))));
        for other in [
            "ingest-p-1-o2.parquet",
            "x-p3-o9-o4.parquet",
            "x-p3-o4-o.parquet",
            "x-p3-o+4.parquet",
            "x-p3-o4-o4-o5.parquet",
            "other.parquet",
            "x-p1-o2.summary",
        ] {
            assert_eq!(p(other), None, "{other}");
        }
        let d =
            |s: &str| DataName::parse_dead_letters(Path::new(s)).map(|n| (n.partition, n.span()));
        assert_eq!(d("r/ingest/p7-o12.jsonl"), Some((7, (12, 12))));
        assert_eq!(d("r/ingest/p7-o12-o40.jsonl"), Some((7, (12, 40))));
        for other in [
            "p7-o12.json",
            "q7-o12.jsonl",
            "p-7-o12.jsonl",
            "p7-o40-o12.jsonl",
            ".p7-o1.jsonl.tmp",
        ] {
            assert_eq!(d(other), None, "{other}");
        }
        let merged = DataName::merged("year=2020/month=01/day=01/hour=10", "s", 1, 5, 9);
        assert_eq!(
            merged,
            "year=2020/month=01/day=01/hour=10/s-p1-o5-o9.parquet"
        );
        assert_eq!(p(&merged).unwrap().span(), (5, 9));
        assert_eq!(p("s-p1-o5.parquet").unwrap().span(), (5, 5));
    }

    #[test]
    fn a_merged_file_covers_the_files_of_its_hour_and_partition_in_its_span() {
        let files: Vec<LakeFile> = [
            "h1/s-p0-o10-o30.parquet",
            "h1/s-p0-o10.parquet",
            "h1/s-p0-o20.parquet",
            "h1/s-p0-o30.parquet",
            "h1/s-p0-o31.parquet",     // after the span
            "h1/s-p0-o5.parquet",      // before it
            "h1/s-p1-o20.parquet",     // another partition
            "h1/t-p0-o20.parquet",     // another source
            "h2/s-p0-o20.parquet",     // another hour
            "h1/s-p0-o10-o20.parquet", // an earlier merge, merged again
            "h1/other.parquet",
        ]
        .iter()
        .map(|p| LakeFile {
            hour_start: 0,
            path: PathBuf::from(p),
        })
        .collect();
        let covered: Vec<String> = covered(&files)
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            covered,
            [
                "h1/s-p0-o10-o20.parquet",
                "h1/s-p0-o10.parquet",
                "h1/s-p0-o20.parquet",
                "h1/s-p0-o30.parquet"
            ]
        );
        // Files a writer wrote cover nothing.
        assert!(super::covered(&files[1..4]).is_empty());
    }
}

//! `compact`'s merge of dead-letter files ([`merge_dead_letters`]).
//!
//! Every commit that rejects a line or a record writes a dead-letter file of its own
//! (`_accesslake/rejected/<source>/p<partition>-o<first>.jsonl`), so a stream with a trickle of
//! bad records leaves one per commit, and `report` and `check` read every one. `compact --before
//! T` also concatenates, per source partition, the committed dead-letter files last modified
//! before T, in order of first offset, into files of at most [`MAX_BYTES`], named
//! `p<partition>-o<first>-o<through>.jsonl` after the first offsets of the first and last of
//! them, through the same journal as data files ([`crate::compact_journal`]): until their
//! deletion, readers skip the inputs by name ([`crate::lake_files::dead_letters`]). A merged file
//! keeps the newest modification time of its inputs, which is what `expire` judges dead letters
//! by, and merges never span two UTC days of those times ([`by_day`]). Left alone, and never spanned by a merge: the files of a partition's last commit (as for
//! data files) and a file that does not end with a newline (cut short or damaged: `check` names
//! it). A dead letter is one line of JSON, so the concatenation is the same dead letters.

use crate::compact::{
    bins, io_at, last_commit_of, CompactError, Compacted, LastCommits, MergeStep,
};
use crate::compact_journal::{compact_dir, Journal};
use crate::lake::{create_dir_synced, sync_dir, Lake};
use crate::lake_files::DataName;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The largest merged dead-letter file (a larger input stays as it is).
pub const MAX_BYTES: u64 = 256 << 20;

/// One dead-letter file to merge.
struct Input {
    path: PathBuf,
    span: (i64, i64),
    bytes: u64,
    modified: SystemTime,
}

/// The file's size and modification time when it can be merged: not empty, ending with a
/// newline, last modified before `cutoff`.
fn mergeable(path: &Path, cutoff: SystemTime) -> io::Result<Option<(u64, SystemTime)>> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let modified = meta.modified()?;
    if meta.len() == 0 || modified >= cutoff {
        return Ok(None);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok((last[0] == b'\n').then_some((meta.len(), modified)))
}

/// The UTC day (since the epoch) a file was last modified in.
fn day(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() / 86_400) as i64,
        Err(e) => -(e.duration().as_secs().div_ceil(86_400) as i64),
    }
}

/// `inputs` (in order of first offset) with a break (`None`, which no merge spans) wherever the
/// UTC day of their modification times changes: a merged file takes its newest input's time,
/// which `expire` judges it by, so merging only within a day keeps its letters at most a day
/// past their own cutoff. Without it, each `compact` would merge the last merged file with the
/// letters since, and move its time on, and `expire` would never reach it.
fn by_day(inputs: Vec<Option<Input>>) -> Vec<Option<Input>> {
    let mut out = Vec::with_capacity(inputs.len());
    let mut last = None;
    for input in inputs {
        if let Some(i) = &input {
            let d = day(i.modified);
            if last.is_some_and(|l| l != d) {
                out.push(None);
            }
            last = Some(d);
        }
        out.push(input);
    }
    out
}

/// Merges each source partition's dead-letter files last modified before `before` (µs since the
/// epoch), adding to `out`; with `dry_run`, only counts. `pending` holds each partition's last
/// commit as [`crate::compact`] found it (looked up here for partitions it has not seen).
pub(crate) fn merge_dead_letters(
    lake: &Path,
    before: i64,
    dry_run: bool,
    stop: Option<MergeStep>,
    pending: &mut LastCommits,
    out: &mut Compacted,
) -> Result<(), CompactError> {
    let listed = crate::lake_files::dead_letters(lake)?;
    out.covered += listed.covered.len();
    let cutoff = SystemTime::UNIX_EPOCH + Duration::from_micros(before.max(0) as u64);
    let mut groups: BTreeMap<(String, i32), Vec<(DataName, PathBuf)>> = BTreeMap::new();
    for path in listed.files {
        let source = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str());
        if let (Some(name), Some(source)) = (DataName::parse_dead_letters(&path), source) {
            groups
                .entry((source.to_string(), name.partition))
                .or_default()
                .push((name, path));
        }
    }
    for ((source, partition), mut files) in groups.into_iter().filter(|(_, f)| f.len() > 1) {
        let Some(last) = last_commit_of(pending, lake, &source, partition, dry_run) else {
            continue;
        };
        files.sort_by_key(|(name, _)| name.span());
        let mut inputs = Vec::new();
        for (name, path) in files {
            if last.files.contains(&path) {
                inputs.push(None);
                continue;
            }
            inputs.push(match mergeable(&path, cutoff) {
                Ok(Some((bytes, modified))) => Some(Input {
                    path,
                    span: name.span(),
                    bytes,
                    modified,
                }),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "a dead-letter file cannot be read: left alone");
                    None
                }
            });
        }
        for bin in bins(by_day(inputs), MAX_BYTES, |i| i.bytes) {
            if !dry_run {
                merge(lake, &source, partition, &bin, stop)?;
            }
            out.dead_letter_inputs += bin.len();
            out.dead_letter_outputs += 1;
            out.dead_letter_bytes += bin.iter().map(|i| i.bytes).sum::<u64>();
        }
    }
    Ok(())
}

/// Concatenates `bin` (one partition's dead-letter files, by first offset) into one file, with
/// the newest modification time of them, through the journal.
fn merge(
    lake: &Path,
    source: &str,
    partition: i32,
    bin: &[Input],
    stop: Option<MergeStep>,
) -> Result<(), CompactError> {
    let through = bin.iter().map(|i| i.span.1).max().unwrap_or(bin[0].span.1);
    let paths: Vec<&Path> = bin.iter().map(|i| i.path.as_path()).collect();
    let into = Lake::rejected_merged_target(source, partition, bin[0].span.0, through);
    let journal = Journal::new(lake, &paths, into);
    let dir = compact_dir(lake);
    create_dir_synced(&dir).map_err(io_at(&dir))?;
    let staged = journal.staged(lake);
    let mut file = File::create(&staged).map_err(io_at(&staged))?;
    for i in bin {
        let mut input = File::open(&i.path).map_err(io_at(&i.path))?;
        io::copy(&mut input, &mut file).map_err(io_at(&i.path))?;
    }
    let newest = bin
        .iter()
        .map(|i| i.modified)
        .max()
        .unwrap_or(bin[0].modified);
    file.set_modified(newest).map_err(io_at(&staged))?;
    file.sync_all().map_err(io_at(&staged))?;
    sync_dir(&dir).map_err(io_at(&dir))?;
    journal.commit(lake, stop)?;
    tracing::debug!(into = %journal.dest(), inputs = bin.len(), "dead letters merged");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(secs: i64) -> Option<Input> {
        let at = Duration::from_secs(secs.unsigned_abs());
        Some(Input {
            path: PathBuf::new(),
            span: (0, 0),
            bytes: 1,
            modified: match secs < 0 {
                true => SystemTime::UNIX_EPOCH - at,
                false => SystemTime::UNIX_EPOCH + at,
            },
        })
    }

    #[test]
    fn merges_never_span_two_utc_days_of_modification_times() {
        const DAY: i64 = 86_400;
        assert_eq!(day(input(-1).unwrap().modified), -1);
        assert_eq!(day(input(DAY - 1).unwrap().modified), 0);
        assert_eq!(day(input(DAY).unwrap().modified), 1);
        let inputs = vec![
            input(-5),
            input(10),
            input(DAY - 1),
            input(DAY),
            input(DAY + 5),
            None,
            input(DAY + 6),
            input(3 * DAY),
        ];
        let days: Vec<Vec<i64>> = bins(by_day(inputs), MAX_BYTES, |i| i.bytes)
            .iter()
            .map(|bin| bin.iter().map(|i| day(i.modified)).collect())
            .collect();
        assert_eq!(days, [vec![0, 0], vec![1, 1]]);
    }
}

//! Per-partition resume state, stored with the data in the lake: the exactly-once commit point.
//!
//! One JSON file per source partition, `LAKE/_accesslake/state/<source>/<partition>.json`,
//! replaced atomically (written to `.<partition>.json.tmp`, fsynced, renamed, directory fsynced).
//! Renaming it is the commit: a [`PartitionState`] says
//! - `resume_offset` R: every record with an offset below R is in the lake; a restart replays
//!   from R (for Kafka, R is also what is committed to the broker, after this file);
//! - `flushed`: for each window flushed while older records were still buffered, the position
//!   F_w (one past the last offset consumed) at its last flush: every record of window w with
//!   offset below F_w is in the lake. A replayed record (o, w) is skipped iff o < R or o < F_w;
//! - `pending`: the files of the last commit, staged aside and not yet (or not all) renamed into
//!   place; recovery finishes their renames (see `crate::lake`).
//!
//! "Partition" is a Kafka partition or, for `ingest`, a file's partition (its id, or the next free
//! one when another file has that id: `crate::identity`); "offset" a Kafka offset or a line
//! number. For `ingest` the state also records what the file was (its first line's fingerprint)
//! and the last line read, so that a later run can tell another file, or a rewritten one, from
//! it. See `doc/DESIGN.md` for the crash analysis.

use crate::fingerprint::{Fingerprint, LineMark};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state file format written by this version.
pub const STATE_FORMAT: u32 = 1;

/// Errors reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("state file {path} has format {found}, this build reads {STATE_FORMAT}")]
    Format { path: PathBuf, found: u32 },
    #[error("state file {path} is not valid: {reason} (was it edited by hand?)")]
    Invalid { path: PathBuf, reason: String },
}

/// A file of a commit: its name in the partition's staging directory and its place in the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFile {
    /// File name inside the staging directory.
    pub staged: String,
    /// Path relative to the lake root.
    pub target: String,
}

/// The committed state of one source partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    pub format: u32,
    pub source: String,
    pub partition: i32,
    /// R: every offset below this is in the lake.
    pub resume_offset: i64,
    /// Window key → F_w, kept only while F_w > R.
    pub flushed: BTreeMap<String, i64>,
    /// The window length (seconds) the window keys of `flushed` were computed with (`None` in
    /// states written before it was recorded): a record's key depends on it.
    #[serde(default)]
    pub window_secs: Option<u32>,
    /// The parse settings its rows and dead letters were made with (`ingest`: the log format
    /// and the line limit, as text; `None` for Kafka, whose records come parsed, and in states
    /// written before it was recorded): whether a line is a row or a dead letter depends on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse: Option<String>,
    /// `ingest`: the fingerprint of the first line of the file this partition is (the text its
    /// id is hashed from), which tells apart files whose ids collide (`crate::identity`). `None`
    /// for Kafka, and in states written before it was recorded (such a state is taken as any
    /// file's with its id, and the next commit records the file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_line: Option<Fingerprint>,
    /// `ingest`: the last line read by the last run that reached the file's end (its number and
    /// fingerprint), which a later run checks is still there: the file must be an append of what
    /// the lake holds. `None` for Kafka and before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_line: Option<LineMark>,
    /// The newest event time seen (microseconds), so lateness survives restarts.
    pub watermark: Option<i64>,
    /// The last commit's files (renames to finish on recovery).
    pub pending: Vec<PendingFile>,
    /// Commits so far.
    pub commits: u64,
    /// Rows, rejected records and late records committed so far.
    pub rows: u64,
    pub rejected: u64,
    pub late: u64,
}

impl PartitionState {
    /// The state before any commit.
    pub fn new(source: &str, partition: i32, resume_offset: i64) -> PartitionState {
        PartitionState {
            format: STATE_FORMAT,
            source: source.to_string(),
            partition,
            resume_offset,
            flushed: BTreeMap::new(),
            window_secs: None,
            parse: None,
            first_line: None,
            last_line: None,
            watermark: None,
            pending: Vec::new(),
            commits: 0,
            rows: 0,
            rejected: 0,
            late: 0,
        }
    }

    /// Checks what a run relies on: that this is `source`'s `partition`, that its window length
    /// is one a run accepts, that its staged files are plain names and its targets stay inside
    /// the lake, and that its offsets are not negative.
    fn check(&self, source: &str, partition: i32) -> Result<(), String> {
        if (self.source.as_str(), self.partition) != (source, partition) {
            return Err(format!(
                "it names source {:?} partition {}, not {source:?} partition {partition}",
                self.source, self.partition
            ));
        }
        if let Some(w) = self.window_secs.filter(|&w| w == 0 || 3600 % w != 0) {
            return Err(format!("window_secs {w} does not divide an hour"));
        }
        if let Some(f) = self.pending.iter().find(|f| {
            !stays_inside(&f.target) || !stays_inside(&f.staged) || f.staged.contains('/')
        }) {
            return Err(format!(
                "pending file {:?} → {:?} leaves its directory",
                f.staged, f.target
            ));
        }
        if self.resume_offset < 0 || self.flushed.values().any(|&f| f < 0) {
            return Err("negative offsets".into());
        }
        Ok(())
    }

    /// Whether `flushed` holds a window's key (not only the dead letters').
    pub fn has_flushed_windows(&self, rejected_key: &str) -> bool {
        self.flushed.keys().any(|k| k != rejected_key)
    }

    /// Whether the record at `offset` belonging to window `key` is already in the lake.
    pub fn is_committed(&self, offset: i64, key: &str) -> bool {
        offset < self.resume_offset || self.flushed.get(key).is_some_and(|&f| offset < f)
    }
}

/// Reads the state of `source`'s `partition`, stored at `path`; `None` when it has never
/// committed. A state that is not one this program writes for that partition (another
/// partition's, a window length no run accepts, a file outside the lake) is an error: its paths
/// are renamed into place and its settings applied, so nothing in it is taken on trust.
pub fn load(
    path: &Path,
    source: &str,
    partition: i32,
) -> Result<Option<PartitionState>, OffsetsError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(OffsetsError::Io {
                path: path.into(),
                source,
            })
        }
    };
    let state: PartitionState =
        serde_json::from_slice(&bytes).map_err(|source| OffsetsError::Corrupt {
            path: path.into(),
            source,
        })?;
    if state.format != STATE_FORMAT {
        return Err(OffsetsError::Format {
            path: path.into(),
            found: state.format,
        });
    }
    state
        .check(source, partition)
        .map_err(|reason| OffsetsError::Invalid {
            path: path.into(),
            reason,
        })?;
    Ok(Some(state))
}

/// Whether `path` is relative and goes only down (no `..`, no root, no prefix): a staged or
/// target path must stay inside its directory.
pub(crate) fn stays_inside(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Empties the `pending` list of the state at `path`, every other field kept as written, even one
/// this build does not know (the caller holds the partition's lock and has loaded the state).
pub fn clear_pending(path: &Path) -> Result<(), OffsetsError> {
    let bytes = fs::read(path).map_err(|source| OffsetsError::Io {
        path: path.into(),
        source,
    })?;
    let corrupt = |source| OffsetsError::Corrupt {
        path: path.into(),
        source,
    };
    let mut state: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
    let Some(fields) = state.as_object_mut() else {
        return Err(OffsetsError::Invalid {
            path: path.into(),
            reason: "not a JSON object".into(),
        });
    };
    fields.insert("pending".into(), serde_json::Value::Array(Vec::new()));
    let mut bytes = serde_json::to_vec_pretty(&state).map_err(corrupt)?;
    bytes.push(b'\n');
    replace_synced(path, &bytes).map_err(|source| OffsetsError::Io {
        path: path.into(),
        source,
    })
}

/// Every resume state file of the lake at `root` (`_accesslake/state/<source>/<partition>.json`)
/// with its source and partition, sorted; a writer's hidden `.N.json.tmp` and other names are
/// not states. None when the lake has no state directory.
pub fn state_files(root: &Path) -> Vec<(String, i32, PathBuf)> {
    let dir = root.join(crate::lake::META_DIR).join("state");
    let Ok(sources) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, i32, PathBuf)> = Vec::new();
    for source in sources.flatten() {
        let Some(name) = source.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(files) = fs::read_dir(source.path()) else {
            continue;
        };
        for path in files.flatten().map(|f| f.path()) {
            let partition = match path.extension().is_some_and(|x| x == "json") {
                true => path
                    .file_stem()
                    .and_then(|f| f.to_str()?.parse::<i32>().ok()),
                false => None,
            };
            if let Some(partition) = partition {
                out.push((name.clone(), partition, path));
            }
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// Atomically replaces the state file at `path`: this is the commit point.
pub fn store(path: &Path, state: &PartitionState) -> Result<(), OffsetsError> {
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serialises");
    bytes.push(b'\n');
    replace_synced(path, &bytes).map_err(|source| OffsetsError::Io {
        path: path.into(),
        source,
    })
}

/// Atomically and durably replaces the file at `path` with `bytes`: written to `.<name>.tmp`
/// beside it, fsynced, renamed over it, and the directory (created if missing) fsynced.
pub fn replace_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::lake::create_dir_synced(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    crate::lake::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_pending_keeps_every_other_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("3.json");
        let mut s = PartitionState::new("t", 3, 10);
        s.pending.push(PendingFile {
            staged: ".a.parquet.tmp".into(),
            target: "year=2019/a.parquet".into(),
        });
        store(&p, &s).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        v["from_a_newer_build"] = serde_json::json!({"kept": true});
        fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        clear_pending(&p).unwrap();
        let after: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        v["pending"] = serde_json::json!([]);
        assert_eq!(after, v);
        s.pending.clear();
        assert_eq!(load(&p, "t", 3).unwrap(), Some(s));
    }

    #[test]
    fn skip_rule() {
        let mut s = PartitionState::new("t", 0, 10);
        s.flushed.insert("w1".into(), 15);
        assert!(s.is_committed(9, "w2"));
        assert!(!s.is_committed(10, "w2"));
        assert!(s.is_committed(14, "w1"));
        assert!(!s.is_committed(15, "w1"));
    }

    #[test]
    fn store_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state/t/3.json");
        assert_eq!(load(&p, "t", 3).unwrap(), None);
        let mut s = PartitionState::new("t", 3, 42);
        s.pending.push(PendingFile {
            staged: ".a.parquet.tmp".into(),
            target: "year=2019/a.parquet".into(),
        });
        store(&p, &s).unwrap();
        assert_eq!(load(&p, "t", 3).unwrap(), Some(s.clone()));
        // An `ingest` state with the file's fingerprints; one written before them reads as None.
        let mut with = s.clone();
        with.first_line = Some(crate::fingerprint::Fingerprint::of(b"first\n"));
        with.last_line = Some(LineMark {
            line: 41,
            text: crate::fingerprint::Fingerprint::of(b"last"),
            unfinished: true,
            reported: false,
        });
        store(&p, &with).unwrap();
        assert_eq!(load(&p, "t", 3).unwrap(), Some(with));
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"first_line\""), "{text}");
        store(&p, &s).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains("first_line") && !text.contains("last_line"),
            "{text}"
        );
        // Another partition's state, or one whose paths or settings no run writes.
        assert!(matches!(
            load(&p, "t", 4),
            Err(OffsetsError::Invalid { .. })
        ));
        assert!(matches!(
            load(&p, "u", 3),
            Err(OffsetsError::Invalid { .. })
        ));
        let bad = |edit: fn(&mut PartitionState)| {
            let mut b = s.clone();
            edit(&mut b);
            store(&p, &b).unwrap();
            load(&p, "t", 3)
        };
        let invalid = |r: Result<_, OffsetsError>| matches!(r, Err(OffsetsError::Invalid { .. }));
        assert!(invalid(bad(|b| b.window_secs = Some(0))));
        assert!(invalid(bad(|b| b.window_secs = Some(86_400))));
        assert!(invalid(
            bad(|b| b.pending[0].target = "../../victim".into())
        ));
        assert!(invalid(bad(|b| b.pending[0].target = "/etc/passwd".into())));
        assert!(invalid(bad(|b| b.pending[0].staged = "../x".into())));
        assert!(invalid(bad(|b| b.pending[0].staged = "a/b".into())));
        assert!(invalid(bad(|b| b.resume_offset = -1)));
        assert!(bad(|b| b.window_secs = Some(900)).unwrap().is_some());
        fs::write(&p, b"{not json").unwrap();
        assert!(matches!(
            load(&p, "t", 3),
            Err(OffsetsError::Corrupt { .. })
        ));
    }
}

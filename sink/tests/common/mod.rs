//! Helpers shared by the sink's integration tests: paths to `../shared`, the built binary, and an
//! independent read of a lake's Parquet files (parquet's own reader, not the sink's code).

#![allow(dead_code)]

use accesslake_transform::{Record, Timestamp, UtcOffset};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared` from the repository root.
pub fn shared() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("../../shared")
}

pub fn shared_log(name: &str) -> PathBuf {
    shared().join("data").join(name)
}

pub fn geoip(name: &str) -> PathBuf {
    shared().join("geoip").join(name)
}

/// Runs the `accesslake` binary.
pub fn accesslake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accesslake"))
        .args(args)
        .output()
        .expect("run accesslake")
}

/// The stdout of a run that must have succeeded (its stderr shown when it did not).
pub fn stdout_of(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `accesslake ingest --no-progress --lake LAKE EXTRA... FILES...`, to run or spawn.
pub fn ingest_command(lake: &Path, files: &[&Path], extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accesslake"));
    cmd.args(["ingest", "--no-progress", "--lake"])
        .arg(lake)
        .args(extra)
        .args(files);
    cmd
}

/// Runs [`ingest_command`] to its end.
pub fn run_ingest(lake: &Path, files: &[&Path], extra: &[&str]) -> Output {
    ingest_command(lake, files, extra)
        .output()
        .expect("run accesslake")
}

/// The read position of process `pid`'s open description of `path`, if it has one (from
/// `/proc`: how far a running `ingest` has read its file).
pub fn read_position(pid: u32, path: &Path) -> Option<u64> {
    let target = path.canonicalize().ok()?;
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let fd = fd.ok()?;
        if std::fs::read_link(fd.path()).ok().as_deref() == Some(target.as_path()) {
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .ok()?;
            return info
                .lines()
                .find_map(|l| l.strip_prefix("pos:"))?
                .trim()
                .parse()
                .ok();
        }
    }
    None
}

/// Lines in a file as `wc -l` would count them, plus a last line without newline.
pub fn count_lines(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let nl = bytes.iter().filter(|&&b| b == b'\n').count();
    nl + usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

/// Every `*.parquet` file under `dir` (recursively), skipping `_accesslake`.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("_accesslake") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// All batches of one Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// `(src_partition, src_offset)` of every row in the lake.
pub fn lake_provenance(dir: &Path) -> Vec<(i32, i64)> {
    parquet_files(dir)
        .iter()
        .flat_map(|f| lake_provenance_of(f))
        .collect()
}

/// `(src_partition, src_offset)` of every row of one data file.
pub fn lake_provenance_of(file: &Path) -> Vec<(i32, i64)> {
    let mut out = Vec::new();
    for b in read_parquet(file) {
        let p = b
            .column_by_name("src_partition")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>()
            .clone();
        let o = b
            .column_by_name("src_offset")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        for i in 0..b.num_rows() {
            assert!(!p.is_null(i) && !o.is_null(i));
            out.push((p.value(i), o.value(i)));
        }
    }
    out
}

/// Every JSON line of every dead-letter file under the lake.
pub fn dead_letters(dir: &Path) -> Vec<serde_json::Value> {
    let root = dir.join("_accesslake/rejected");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    out.push(serde_json::from_str(line).unwrap());
                }
            }
        }
    }
    out
}

/// Whether `python3 -c 'import duckdb, pyarrow'` works (installs them with pip if not).
pub fn python_readers() -> bool {
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    if ok(Command::new("python3").args(["-c", "import duckdb, pyarrow"])) {
        return true;
    }
    ok(Command::new("python3").args(["-m", "pip", "install", "-q", "duckdb", "pyarrow"]))
}

/// A request record at `t` (seconds since the epoch) for offset `o`: its size is the offset, its
/// address one of 200 (for tests that drive the pipeline's own API).
pub fn record(t: i64, o: i64) -> Record<'static> {
    Record {
        time: Timestamp(t * 1_000_000),
        utc_offset: UtcOffset::from_minutes(210),
        client_ip: Cow::Owned(format!("81.2.69.{}", o % 200)),
        vhost: None,
        ident: None,
        user: None,
        request: Some(Cow::Borrowed("GET / HTTP/1.1")),
        method: Some(Cow::Borrowed("GET")),
        path: Some(Cow::Borrowed("/")),
        query: None,
        protocol: Some(Cow::Borrowed("HTTP/1.1")),
        status: Some(200),
        bytes: Some(o),
        referrer: None,
        user_agent: None,
        forwarded_for: None,
    }
}

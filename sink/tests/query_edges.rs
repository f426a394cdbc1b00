//! `accesslake query` and `report` on unusual lakes: the errors for a path that is a file and
//! for a lake that holds only dead letters.

mod query_support;

use query_support::accesslake;
use std::path::Path;

/// A combined-format line of 2015-05-17 at `hh:mm` UTC.
fn line(hh: u32, mm: u32, path: &str, status: u16, size: &str) -> String {
    format!(
        "1.2.3.4 - - [17/May/2015:{hh:02}:{mm:02}:00 +0000] \"GET {path} HTTP/1.1\" {status} {size} \"-\" \"curl/8\"\n"
    )
}

/// Writes `log` to `dir/<name>.log` and ingests it into the lake `lake` (no GeoIP).
fn ingest(dir: &Path, name: &str, log: &str, lake: &Path) {
    let file = dir.join(format!("{name}.log"));
    std::fs::write(&file, log).unwrap();
    let out = accesslake(&[
        "ingest",
        "--lake",
        lake.to_str().unwrap(),
        "--no-progress",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "ingest: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `accesslake ARGS…` and returns (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = accesslake(args);
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_file_is_not_a_lake() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    std::fs::write(&file, line(10, 0, "/", 200, "1")).unwrap();
    let file = file.to_str().unwrap();
    for args in [
        vec!["query", "--lake", file, "SELECT 1"],
        vec!["report", "--lake", file],
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok);
        assert!(
            err.contains(&format!("no lake at {file}: it is not a directory")),
            "{err}"
        );
        assert!(!err.contains("does not exist"), "{err}");
    }
}

#[test]
fn a_lake_of_dead_letters_says_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(dir.path(), "bad", "garbage\n", &lake);
    ingest(dir.path(), "worse", "more garbage\n", &lake);
    let path = lake.to_str().unwrap();
    let rejected = lake.join("_accesslake/rejected");
    for args in [
        vec!["query", "--lake", path, "SELECT 1"],
        vec!["report", "--lake", path],
    ] {
        let (ok, _, err) = run(&args);
        assert!(!ok);
        assert!(
            err.contains("no committed Parquet files yet")
                && err.contains("2 committed dead-letter file(s)")
                && err.contains(&format!("under {}/", rejected.display())),
            "{err}"
        );
    }
}

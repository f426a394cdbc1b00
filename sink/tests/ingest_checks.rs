//! What `ingest` refuses before the lake is touched: a missing input, a missing or unusable
//! GeoIP database, invalid settings, a lake path that is not a directory. Each stops the command
//! with one line that says what is wrong, and leaves no lake (or lake skeleton, or lock file)
//! behind.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A log of two good lines.
fn good_log(dir: &Path) -> PathBuf {
    let p = dir.join("good.log");
    std::fs::write(
        &p,
        "81.2.69.142 - - [22/Jan/2019:03:56:14 +0330] \"GET /a HTTP/1.1\" 200 100 \"-\" \"-\"\n\
         216.160.83.56 - - [22/Jan/2019:03:57:14 +0330] \"GET /b HTTP/1.1\" 404 200 \"-\" \"-\"\n",
    )
    .unwrap();
    p
}

/// Runs `ingest --no-progress --lake LAKE ARGS...`, which must fail; returns its stderr.
fn refused(lake: &Path, args: &[&str]) -> String {
    let mut all = vec!["ingest", "--no-progress", "--lake", lake.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = accesslake(&all);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?}: {err}");
    assert!(err.starts_with("accesslake: error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn a_bad_input_or_database_stops_ingest_before_the_lake_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_log(dir.path());
    let lake = dir.path().join("lake");
    let missing = dir.path().join("missing.log");
    let out = accesslake(&[
        "ingest",
        "--no-progress",
        "--lake",
        lake.to_str().unwrap(),
        good.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("missing.log"), "{err}");
    assert!(
        !lake.exists(),
        "the good file before the missing one was ingested"
    );

    let out = accesslake(&[
        "ingest",
        "--no-progress",
        "--lake",
        lake.to_str().unwrap(),
        "--geoip-city",
        dir.path().join("nope.mmdb").to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.starts_with("accesslake: error: "), "{err}");
    assert!(err.contains("nope.mmdb"), "{err}");
    assert!(!lake.exists(), "a lake skeleton was left behind");

    // A file compressed otherwise than with gzip, after a good one.
    let xz = dir.path().join("access.log.xz");
    std::fs::write(&xz, b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46").unwrap();
    let err = refused(&lake, &[good.to_str().unwrap(), xz.to_str().unwrap()]);
    assert!(err.contains("access.log.xz: xz-compressed"), "{err}");
    assert!(
        !lake.exists(),
        "the good file before the xz one was ingested"
    );
}

#[test]
fn invalid_settings_stop_ingest_before_the_lake_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_log(dir.path());
    let lake = dir.path().join("lake");
    let good = good.to_str().unwrap();
    for (args, says) in [
        (["--window-secs", "7"], "must divide 3600"),
        (["--window-secs", "0"], "must divide 3600"),
        (["--max-rows", "0"], "max rows per file must be at least 1"),
    ] {
        let err = refused(&lake, &[args[0], args[1], good]);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!lake.exists(), "{args:?}: the lake was touched");
    }
    // An existing lake is left as it was: no lock file of the file's partition.
    std::fs::create_dir(&lake).unwrap();
    refused(&lake, &["--window-secs", "7", good]);
    let entries: Vec<_> = std::fs::read_dir(&lake).unwrap().collect();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn a_lake_path_that_is_a_file_or_a_database_that_is_a_directory_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_log(dir.path());
    let good = good.to_str().unwrap();
    let file = dir.path().join("somefile");
    std::fs::write(&file, b"not a lake").unwrap();
    let err = refused(&file, &[good]);
    assert!(
        err.contains(&format!("{}: not a directory", file.display())),
        "{err}"
    );
    assert!(!err.contains("File exists"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a lake");

    let lake = dir.path().join("lake");
    let db_dir = dir.path().join("geoip");
    std::fs::create_dir(&db_dir).unwrap();
    for flag in ["--geoip-city", "--geoip-asn"] {
        let err = refused(&lake, &[flag, db_dir.to_str().unwrap(), good]);
        assert!(
            err.contains(&format!(
                "{}: it is a directory, not a database file",
                db_dir.display()
            )),
            "{flag}: {err}"
        );
        assert!(!lake.exists(), "{flag}: the lake was touched");
    }
}

//! The per-file summaries `report` reads: each equals the SQL summary of its data file (hours
//! before 1970 included), and a data file changed, removed or whose summary is damaged since its
//! commit is noticed, named, and read from its rows (or reported missing) instead.

mod common;
mod query_support;

use accesslake::query::{Summaries, TimeRange};
use accesslake::report::{build, Limits};
use query_support::{
    accesslake, build_lake, copied_lake, ingest_with, open, report_text_of, TestLake,
};
use std::sync::OnceLock;

const LIMITS: Limits = Limits { top: 7, cities: 3 };

fn lake() -> &'static TestLake {
    static LAKE: OnceLock<TestLake> = OnceLock::new();
    LAKE.get_or_init(build_lake)
}

#[test]
fn each_summary_equals_the_sql_summary_of_its_file() {
    assert_summaries_match_sql(&lake().lake);
}

#[test]
fn hours_before_1970_are_summarised_alike() {
    // DuckDB's integer division truncates toward zero: 23:30 on the last day of 1969 must fall
    // in the hour from 23:00, not in 1970's first.
    let dir = tempfile::tempdir().unwrap();
    let line = |t: &str| format!("192.0.2.1 - - [{t} +0000] \"GET /a HTTP/1.1\" 404 5\n");
    let text = [
        "31/Dec/1969:23:30:00",
        "01/Jan/1970:00:10:00",
        "31/Dec/1969:22:59:59",
    ]
    .map(line);
    let lake = dir.path().join("lake");
    ingest_with(dir.path(), &lake, "old.log", &text.concat(), None);
    assert_summaries_match_sql(&lake);
    // The report read without summaries (the SQL path) is the same.
    let summarised = report_text_of(&lake, &[]);
    assert_eq!(summarised, report_text_of(&lake, &["--no-summaries"]));
    assert!(summarised.contains("1969-12-31 23:00"), "{summarised}");
}

/// Each data file's stored summary equals the SQL summary of its rows.
fn assert_summaries_match_sql(lake_dir: &std::path::Path) {
    let files = accesslake::query::lake_files(lake_dir).unwrap();
    assert!(!files.is_empty());
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for f in &files {
        let rel = f.path.strip_prefix(lake_dir).unwrap().to_str().unwrap();
        let summary = lake_dir.join(accesslake::lake::Lake::summary_target(rel));
        assert!(summary.is_file(), "{} has no summary", f.path.display());
        let (data, summary) = (f.path.display(), summary.display());
        let sql = accesslake::summary::sql(&format!(
            "read_parquet('{data}', hive_partitioning = false)"
        ));
        let stored = format!("SELECT * FROM read_parquet('{summary}', hive_partitioning = false)");
        // Equal as multisets, both ways; and not trivially (the file has rows).
        let differ: i64 = conn
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM (({sql}) EXCEPT ALL ({stored})))
                          + (SELECT count(*) FROM (({stored}) EXCEPT ALL ({sql})))"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            differ, 0,
            "{summary} differs from the SQL summary of {data}"
        );
        let kinds: i64 = conn
            .query_row(
                &format!("SELECT count(DISTINCT kind) FROM ({stored})"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(kinds >= 4, "{summary}: only {kinds} sections");
    }
}

#[test]
fn a_data_file_changed_since_its_commit_is_read_by_its_rows_not_its_summary() {
    let (_dir, copied) = copied_lake(lake());
    let path = copied.to_str().unwrap();
    let files = accesslake::query::lake_files(&copied).unwrap();
    let len = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
    // A file replaced by another of the lake's files (another length, other rows).
    let (a, b) = files
        .iter()
        .flat_map(|a| files.iter().map(move |b| (a, b)))
        .find(|(a, b)| len(&a.path) != len(&b.path))
        .expect("two files of different lengths");
    std::fs::copy(&b.path, &a.path).unwrap();
    let db = open(&copied, TimeRange::default(), Summaries::Use);
    assert_eq!(db.summarised_count(), db.file_count() - 1);
    let summarised = build(&db, TimeRange::default(), LIMITS).unwrap();
    let db = open(&copied, TimeRange::default(), Summaries::Recompute);
    let from_rows = build(&db, TimeRange::default(), LIMITS).unwrap();
    assert_eq!(
        summarised, from_rows,
        "the summary of the replaced file was read"
    );
    let whole = build(
        &open(&lake().lake, TimeRange::default(), Summaries::Use),
        TimeRange::default(),
        LIMITS,
    )
    .unwrap();
    assert_ne!(
        summarised.totals, whole.totals,
        "the replacement changed nothing"
    );
    // The command says which file it read by its rows, and why.
    let name = a.path.file_name().unwrap().to_str().unwrap();
    let out = accesslake(&["report", "--lake", path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(name) && err.contains("committed with"),
        "{err}"
    );
    // Its own rows under a footer changed in place, at its length (as another lake file of
    // the same length would be): read by its rows, with the whole lake's totals.
    let rel = a.path.strip_prefix(&copied).unwrap();
    let mut bytes = std::fs::read(lake().lake.join(rel)).unwrap();
    let at = bytes
        .windows(11)
        .rposition(|w| w == b"accesslake ")
        .expect("the footer names its writer");
    bytes[at] = b'A';
    std::fs::write(&a.path, &bytes).unwrap();
    let db = open(&copied, TimeRange::default(), Summaries::Use);
    assert_eq!(db.summarised_count(), db.file_count() - 1);
    assert_eq!(build(&db, TimeRange::default(), LIMITS).unwrap(), whole);
    let out = accesslake(&["report", "--lake", path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(name) && err.contains("another footer"),
        "{err}"
    );
    // A file cut short: `report` fails and names it, as `query` does.
    let bytes = std::fs::read(&a.path).unwrap();
    std::fs::write(&a.path, &bytes[..bytes.len() / 2]).unwrap();
    for args in [
        &["report", "--lake", path][..],
        &["query", "--lake", path, "SELECT count(*) FROM logs"],
    ] {
        let out = accesslake(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(name),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_data_file_removed_by_hand_is_reported_missing_and_not_counted() {
    let (_dir, copied) = copied_lake(lake());
    let path = copied.to_str().unwrap();
    let files = accesslake::query::lake_files(&copied).unwrap();
    std::fs::remove_file(&files[0].path).unwrap();
    let out = accesslake(&["report", "--lake", path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let name = files[0].path.file_stem().unwrap().to_str().unwrap();
    assert!(
        err.contains("data files are missing") && err.contains(&format!("{name}.summary")),
        "{err}"
    );
    // Its summary is not read: the report counts what `query` reads.
    let db = open(&copied, TimeRange::default(), Summaries::Use);
    assert_eq!(db.file_count(), files.len() - 1);
    let report = build(&db, TimeRange::default(), LIMITS).unwrap();
    let out = accesslake(&[
        "query",
        "--lake",
        path,
        "--format",
        "csv",
        "SELECT count(*) FROM logs",
    ]);
    let rows: u64 = common::stdout_of(out)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(report.totals.requests, rows);
    // A lake without a missing file says nothing of the kind.
    let out = accesslake(&["report", "--lake", lake().lake_str()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn a_damaged_summary_is_named_and_can_be_bypassed() {
    let (_dir, copied) = copied_lake(lake());
    let files = accesslake::query::lake_files(&copied).unwrap();
    let rel = files[0]
        .path
        .strip_prefix(&copied)
        .unwrap()
        .to_str()
        .unwrap();
    let summary = copied.join(accesslake::lake::Lake::summary_target(rel));
    let path = copied.to_str().unwrap();
    // Not Parquet, and Parquet of another schema (DuckDB quotes the name otherwise then).
    for damage in [
        b"not parquet".to_vec(),
        std::fs::read(&files[0].path).unwrap(),
    ] {
        std::fs::write(&summary, damage).unwrap();
        let out = accesslake(&["report", "--lake", path]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(summary.to_str().unwrap()) && err.contains("--no-summaries"),
            "{err}"
        );
    }
    let out = accesslake(&["report", "--lake", path, "--no-summaries"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the damaged summary, its file's rows are aggregated: the full report again.
    std::fs::remove_file(&summary).unwrap();
    let out = accesslake(&["report", "--lake", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whole = accesslake(&["report", "--lake", lake().lake_str()]);
    assert_eq!(out.stdout, whole.stdout);
}

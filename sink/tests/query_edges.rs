//! `accesslake query` and `report` on unusual lakes: a lake under directories that look like
//! Hive partitions (`year=1999/lake`, `env=prod/lake`), byte totals past `i64::MAX`, and the
//! errors for a path that is a file and for a lake that holds only dead letters.

mod common;
mod query_support;

use accesslake::query::{Summaries, TimeRange};
use accesslake::report::{build, Limits, Report};
use query_support::{accesslake, open, query_csv};
use std::path::{Path, PathBuf};

const LIMITS: Limits = Limits { top: 10, cities: 5 };

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

fn query(lake: &Path, sql: &str) -> String {
    query_csv(lake, sql).replace("\r\n", "\n")
}

/// The report built from the summaries, checked equal to the one built from every row.
fn report(lake: &Path) -> Report {
    let db = open(lake, TimeRange::default(), Summaries::Use);
    assert_eq!(db.summarised_count(), db.file_count());
    let summarised = build(&db, TimeRange::default(), LIMITS).unwrap();
    let db = open(lake, TimeRange::default(), Summaries::Recompute);
    let recomputed = build(&db, TimeRange::default(), LIMITS).unwrap();
    assert_eq!(summarised, recomputed, "summaries and rows disagree");
    summarised
}

#[test]
fn partition_columns_come_from_the_lake_only() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..30)
        .map(|i| line(10 + i / 10, i % 10, "/a", 200, "100"))
        .collect();
    let lakes: Vec<PathBuf> = ["plain/lake", "year=1999/month=07/lake", "env=prod/lake"]
        .iter()
        .map(|p| dir.path().join(p))
        .collect();
    for (i, lake) in lakes.iter().enumerate() {
        ingest(dir.path(), &format!("log{i}"), &log, lake);
    }
    let per_hour =
        "SELECT year, month, day, hour, count(*) AS n FROM logs GROUP BY ALL ORDER BY ALL";
    let describe = "SELECT column_name, column_type FROM (DESCRIBE logs)";
    let want = "year,month,day,hour,n\n2015,5,17,10,10\n2015,5,17,11,10\n2015,5,17,12,10\n";
    let columns = query(&lakes[0], describe);
    assert!(
        columns.ends_with("year,INTEGER\nmonth,INTEGER\nday,INTEGER\nhour,INTEGER\n"),
        "{columns}"
    );
    let report_text = |lake: &Path| run(&["report", "--lake", lake.to_str().unwrap()]).1;
    for lake in &lakes {
        assert_eq!(query(lake, per_hour), want, "{}", lake.display());
        assert_eq!(query(lake, describe), columns, "{}", lake.display());
        let n = query(
            lake,
            "SELECT count(*) FROM logs WHERE year = 2015 AND month = 5",
        );
        assert_eq!(n, "count_star()\n30\n", "{}", lake.display());
        // `report` agrees with `query`, hour by hour, and with the plain lake's report.
        let hours: Vec<(String, u64)> = report(lake)
            .hourly
            .iter()
            .map(|h| {
                (
                    accesslake::report_text::hour_label(h.hour_start),
                    h.requests,
                )
            })
            .collect();
        let want_hours: Vec<(String, u64)> = (10..13)
            .map(|h| (format!("2015-05-17 {h}:00"), 10))
            .collect();
        assert_eq!(hours, want_hours, "{}", lake.display());
        assert_eq!(report_text(lake), report_text(&lakes[0]));
        // A filter on a partition column still skips files.
        let plan = query(
            lake,
            "EXPLAIN ANALYZE SELECT sum(bytes) FROM logs WHERE hour = 11",
        );
        assert!(plan.contains("Scanning Files: 1/3"), "{plan}");
    }
}

#[test]
fn byte_totals_saturate_and_agree_with_and_without_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let max = i64::MAX.to_string();
    // Hour 10: three sizes of i64::MAX over two statuses and two paths; hour 11: one more.
    let log = [
        line(10, 1, "/a", 200, &max),
        line(10, 2, "/a", 200, &max),
        line(10, 3, "/b", 404, &max),
        line(10, 4, "/b", 200, "5"),
        line(11, 1, "/a", 200, &max),
        line(11, 2, "/a", 200, "-"),
    ]
    .concat();
    let lake = dir.path().join("lake");
    ingest(dir.path(), "big", &log, &lake);
    let r = report(&lake);
    let max = i64::MAX as u64;
    assert_eq!(r.totals.requests, 6);
    assert_eq!(r.totals.bytes, max);
    assert!(r.hourly.iter().all(|h| h.bytes == max), "{:?}", r.hourly);
    assert!(r.traffic.iter().all(|t| t.bytes == max), "{:?}", r.traffic);
    assert!(
        r.countries.iter().all(|c| c.bytes == max),
        "{:?}",
        r.countries
    );
    assert!(
        r.top_paths.iter().all(|p| p.bytes == max),
        "{:?}",
        r.top_paths
    );
    assert_eq!(r.busiest_hours[10].bytes, max);
    // Each stored summary holds the same clamped sums as the SQL summary of its file.
    let conn = duckdb::Connection::open_in_memory().unwrap();
    for f in accesslake::query::lake_files(&lake).unwrap() {
        let rel = f.path.strip_prefix(&lake).unwrap().to_str().unwrap();
        let summary = lake.join(accesslake::lake::Lake::summary_target(rel));
        let sql = accesslake::summary::sql(&format!(
            "read_parquet('{}', hive_partitioning = false)",
            f.path.display()
        ));
        let stored = format!(
            "SELECT * FROM read_parquet('{}', hive_partitioning = false)",
            summary.display()
        );
        let (differ, largest): (i64, i64) = conn
            .query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM (({sql}) EXCEPT ALL ({stored})))
                          + (SELECT count(*) FROM (({stored}) EXCEPT ALL ({sql}))),
                        (SELECT max(bytes) FROM ({stored}))"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((differ, largest), (0, i64::MAX), "{}", summary.display());
    }
    // The command, both ways.
    let path = lake.to_str().unwrap();
    let (ok, with, err) = run(&["report", "--lake", path]);
    assert!(ok, "{err}");
    let (ok, without, err) = run(&["report", "--lake", path, "--no-summaries"]);
    assert!(ok, "{err}");
    assert_eq!(with, without);
    assert!(
        with.contains("6 requests, ≥ 9223.4 PB (9223372036854775807 bytes)"),
        "{with}"
    );
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

/// An untyped `NULL` (Arrow's `Null` type, which has no validity bitmap) is NULL in every format,
/// and a column name that comes again gets a key of its own in JSON.
#[test]
fn untyped_nulls_and_repeated_names() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(dir.path(), "a", &line(1, 0, "/a", 200, "5"), &lake);
    let lake = lake.to_str().unwrap();
    let sql = "SELECT NULL AS n, '' AS e, {'k': NULL} AS s, 1 AS a, 2 AS a, 3 AS a_1";
    let out = |format: &str| {
        let (ok, out, err) = run(&["query", "--lake", lake, "--format", format, sql]);
        assert!(ok, "{format}: {err}");
        out
    };
    let json: serde_json::Value = serde_json::from_str(&out("json")).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"n": null, "e": "", "s": {"k": null}, "a": 1, "a_2": 2, "a_1": 3}])
    );
    assert_eq!(
        out("csv").replace("\r\n", "\n"),
        "n,e,s,a,a,a_1\n,\"\",{'k': NULL},1,2,3\n"
    );
    // Non-finite floats: one spelling, whatever the type.
    let (ok, text, err) = run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "json",
        "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, '-inf'::FLOAT AS c, 'nan'::FLOAT AS d",
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": "NaN"}])
    );
    let table = out("table");
    let row = table.lines().nth(2).unwrap();
    assert!(row.trim_start().starts_with("NULL"), "{table}");
}

#[test]
fn glob_characters_in_the_lake_path_match_only_the_lake() {
    // `read_parquet` takes names as glob patterns: `lake[1]` would match a sibling `lake1`.
    let dir = tempfile::tempdir().unwrap();
    let log = [line(10, 1, "/a", 200, "5"), line(11, 1, "/b", 404, "5")].concat();
    for (name, sibling) in [("lake[1]", "lake1"), ("lake*", "lakeX"), ("lake?", "lakeY")] {
        let lake = dir.path().join(name);
        ingest(dir.path(), "a", &log, &lake);
        // A sibling the pattern would match, with other rows.
        let other = dir.path().join(sibling);
        let more = [line(10, 2, "/c", 500, "5"), line(10, 3, "/c", 500, "5")].concat();
        ingest(dir.path(), "b", &more, &other);
        assert_eq!(
            query(&lake, "SELECT count(*) AS n FROM logs"),
            "n\n2\n",
            "{name}"
        );
        let r = report(&lake);
        assert_eq!(r.totals.requests, 2, "{name}");
        let (ok, out, err) = run(&["report", "--lake", lake.to_str().unwrap()]);
        assert!(ok && out.contains("2 requests"), "{name}: {err}");
    }
}

#[test]
fn a_lake_path_is_resolved_before_duckdb_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = line(10, 1, "/a", 200, "5");
    // `..` after a symbolic link: DuckDB's glob would resolve it by its text.
    let lake = dir.path().join("deep/d[1]/lake");
    ingest(dir.path(), "a", &log, &lake);
    std::fs::create_dir_all(dir.path().join("deep/sub")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("deep/sub"), dir.path().join("link")).unwrap();
    let via_link = dir.path().join("link/../d[1]/lake");
    assert_eq!(query(&via_link, "SELECT count(*) AS n FROM logs"), "n\n1\n");
    // A `\` with a glob character cannot be read: said so.
    let lake = dir.path().join("b\\x[1]/lake");
    ingest(dir.path(), "a", &log, &lake);
    let (ok, _, err) = run(&["query", "--lake", lake.to_str().unwrap(), "SELECT 1"]);
    assert!(!ok && err.contains("both a `\\` and one of"), "{err}");
    // A `\` alone is read.
    let lake = dir.path().join("b\\y/lake");
    ingest(dir.path(), "a", &log, &lake);
    assert_eq!(query(&lake, "SELECT count(*) AS n FROM logs"), "n\n1\n");
}

#[test]
fn a_lake_path_that_is_not_utf8_is_named_in_the_error() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join(std::ffi::OsStr::from_bytes(b"lake\xff"));
    let file = dir.path().join("a.log");
    std::fs::write(&file, line(10, 1, "/a", 200, "5")).unwrap();
    let bin = query_support::bin();
    let out = common::run_ingest(&lake, &[&file], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for cmd in [&["query", "SELECT 1"][..], &["report"][..]] {
        let out = std::process::Command::new(&bin)
            .arg(cmd[0])
            .arg("--lake")
            .arg(&lake)
            .args(&cmd[1..])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            err.contains("DuckDB reads only file names that are UTF-8"),
            "{err}"
        );
    }
}

/// Values Arrow cannot carry exactly (DuckDB hands `query` its result as Arrow) print as DuckDB
/// prints them, in every format: a `UHUGEINT` from 2^127 up came out negative, a `TIMETZ`
/// without its offset, `BIGNUM` and `BIT` as their bytes in hex, an infinite date as an error
/// message in the cell with exit 0; in CSV, a list did not quote its strings, so `['x, y']` and
/// `['x', 'y']` printed alike; in JSON a map was a string.
#[test]
fn values_arrow_cannot_carry_print_as_duckdb_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(dir.path(), "a", &line(1, 0, "/a", 200, "5"), &lake);
    let lake = lake.to_str().unwrap();
    let out = |format: &str, sql: &str| {
        let (ok, out, err) = run(&["query", "--lake", lake, "--format", format, sql]);
        assert!(ok, "{format} {sql}: {err}");
        out.replace("\r\n", "\n")
    };
    let big = "SELECT 340282366920938463463374607431768211455::UHUGEINT AS u, \
               TIMETZ '10:00:00+05:30' AS t, 123456789012345678901234567890::BIGNUM AS g, \
               '101'::BITSTRING AS b, 'infinity'::DATE AS d, '-infinity'::TIMESTAMP AS ts, \
               TIME '24:00:00' AS h";
    let text = out("json", big);
    assert!(
        text.contains(r#"{"u":340282366920938463463374607431768211455,"#)
            && text.contains(r#","g":123456789012345678901234567890,"#),
        "numbers, all their digits: {text}"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let row = &json[0];
    assert_eq!(
        (&row["t"], &row["b"], &row["d"], &row["ts"], &row["h"]),
        (
            &serde_json::json!("10:00:00+05:30"),
            &serde_json::json!("101"),
            &serde_json::json!("infinity"),
            &serde_json::json!("-infinity"),
            &serde_json::json!("24:00:00")
        )
    );
    assert_eq!(
        out("csv", big),
        "u,t,g,b,d,ts,h\n340282366920938463463374607431768211455,10:00:00+05:30,\
         123456789012345678901234567890,101,infinity,-infinity,24:00:00\n"
    );
    let table = out("table", big);
    assert!(
        table.contains("340282366920938463463374607431768211455 │ 10:00:00+05:30"),
        "{table}"
    );

    let nested = "SELECT ['x, y', NULL, 'NULL'] AS l, ['x', 'y'] AS m, \
                  MAP {'a': [1], 'b': NULL} AS p, union_value(s := 'v') AS w";
    assert_eq!(
        out("csv", nested),
        "l,m,p,w\n\"['x, y', NULL, 'NULL']\",\"[x, y]\",\"{a=[1], b=NULL}\",v\n"
    );
    let json: serde_json::Value = serde_json::from_str(&out("json", nested)).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"l": ["x, y", null, "NULL"], "m": ["x", "y"],
                            "p": {"a": [1], "b": null}, "w": {"s": "v"}}])
    );

    let more = "SELECT 'POINT(1 2)'::GEOMETRY AS g, 42::VARIANT AS v, \
                NULL::UNION(num INT, s VARCHAR) AS u";
    let json: serde_json::Value = serde_json::from_str(&out("json", more)).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"g": "POINT (1 2)", "v": "42", "u": null}])
    );
    // A PRAGMA that DuckDB runs as a query, with a list column: `query()` would refuse it
    // wrapped, so it runs as it is.
    assert!(out("csv", "PRAGMA functions").starts_with("name,type,parameters,"));
    // An error quotes the statement, not the wrapper around it.
    let (ok, _, err) = run(&[
        "query",
        "--lake",
        lake,
        "SELECT 1::UHUGEINT AS u, CAST(request AS INT) FROM logs",
    ]);
    assert!(!ok && err.contains("Could not convert string"), "{err}");
    assert!(!err.contains("query("), "{err}");

    // A value nothing can print is an error, not a message where the value goes.
    let (ok, _, err) = run(&[
        "query",
        "--lake",
        lake,
        "--format",
        "csv",
        "SELECT TIMESTAMP '294247-01-01' AS far",
    ]);
    assert!(!ok, "{err}");
    assert!(err.contains("cannot be printed"), "{err}");
}

#[test]
fn duckdb_resources_are_set_and_a_refused_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(dir.path(), "a", &line(10, 0, "/", 200, "1"), &lake);
    let path = lake.to_str().unwrap();
    let spill = dir.path().join("spill");
    let settings = "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t, \
                    current_setting('temp_directory') AS d";
    let (ok, out, err) = run(&[
        "query",
        "--lake",
        path,
        "--format",
        "csv",
        "--memory-limit",
        "123MB",
        "--threads",
        "1",
        "--temp-dir",
        spill.to_str().unwrap(),
        settings,
    ]);
    assert!(ok, "{err}");
    let want = format!("117.3 MiB,1,{}", spill.display());
    assert_eq!(
        out.replace("\r\n", "\n").lines().nth(1),
        Some(want.as_str())
    );
    // Without the flags, DuckDB's own defaults (not the values above).
    let defaults = query(&lake, settings);
    assert!(!defaults.contains("117.3 MiB"), "{defaults}");

    // `report` takes the same flags, and gives the same report with them.
    let (ok, plain, err) = run(&["report", "--lake", path]);
    assert!(ok, "{err}");
    let (ok, limited, err) = run(&[
        "report",
        "--lake",
        path,
        "--memory-limit",
        "100MB",
        "--threads",
        "1",
    ]);
    assert!(ok, "{err}");
    assert_eq!(plain, limited);

    // A value DuckDB refuses fails the command, named with its flag and DuckDB's reason.
    for command in ["query", "report"] {
        let mut args = vec![command, "--lake", path, "--memory-limit", "lots"];
        if command == "query" {
            args.push("SELECT 1");
        }
        let (ok, _, err) = run(&args);
        assert!(!ok, "{command}");
        assert!(
            err.contains("--memory-limit lots: DuckDB refuses it")
                && err.contains("Memory must have a number"),
            "{command}: {err}"
        );
        // Threads are bounded as `ingest`'s are: DuckDB would start every one asked for.
        let mut args = vec![command, "--lake", path, "--threads", "100000"];
        if command == "query" {
            args.push("SELECT 1");
        }
        let (ok, _, err) = run(&args);
        assert!(!ok, "{command}");
        assert!(err.contains("at most 256"), "{command}: {err}");
    }
}
